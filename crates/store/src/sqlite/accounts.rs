use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use shiming_domain::{AccountState, CredentialKind, Nature};

use super::worker::Tx;
use super::{append_audit, credential_conflict, SqliteStore};
use crate::error::word;
use crate::plan;
use crate::rows;
use crate::{
    AccountStore, AccountView, AuditDraft, NewAccount, NewAttestation, NewCredential, NewPerson, Result, StoreError,
};

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_account(&self, account: NewAccount, credential: NewCredential, at: i64) -> Result<()> {
        self.db
            .write(move |tx| create_account(tx, &account, &credential, at))
            .await
    }

    async fn account_by_credential(&self, kind: CredentialKind, lookup_hash: &[u8]) -> Result<Option<String>> {
        self.db.read(|conn| account_by_credential(conn, kind, lookup_hash))
    }

    async fn account_view(&self, account_id: &str) -> Result<Option<AccountView>> {
        self.db
            .read(|conn| {
                // One read transaction, so the account and its credentials are
                // one consistent snapshot.
                let tx = conn.transaction()?;
                let account = tx
                    .prepare_cached(
                        "SELECT id, nature, state, created_at, realname_person_hash FROM accounts WHERE id = ?",
                    )?
                    .query_row([account_id], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, Option<Vec<u8>>>(4)?,
                        ))
                    })
                    .optional()?;
                let Some((id, nature, state, created_at, realname_person_hash)) = account else {
                    return Ok(None);
                };
                let mut stmt = tx.prepare_cached(
                    "SELECT c.id, c.kind, c.value_sealed, c.display_sealed, c.bound_at, a.source, a.verified_at, p.id AS person_id, p.person_hash, p.name_sealed, p.id_number_sealed \
                     FROM credentials c LEFT JOIN attestations a ON a.credential_id = c.id LEFT JOIN persons p ON p.id = a.person_id \
                     WHERE c.account_id = ? ORDER BY c.id",
                )?;
                let mut rows = stmt.query([account_id])?;
                let mut credentials = Vec::new();
                while let Some(r) = rows.next()? {
                    credentials.push(rows::credential(r)?);
                }
                Ok(Some(AccountView {
                    id,
                    nature: word(Nature::parse, nature)?,
                    state: word(AccountState::parse, state)?,
                    created_at,
                    realname_person_hash,
                    credentials,
                }))
            })
    }

    async fn set_account_state(&self, account_id: &str, state: AccountState, audit: AuditDraft) -> Result<bool> {
        let account = account_id.to_owned();
        let found = self
            .db
            .write(move |tx| {
                let found = tx
                    .conn
                    .prepare_cached("UPDATE accounts SET state = ? WHERE id = ?")?
                    .execute(params![state.as_str(), account])?;
                if found == 0 {
                    return Ok(false);
                }
                append_audit(tx, &audit)?;
                Ok(true)
            })
            .await?;
        self.forget(Some(account_id));
        Ok(found)
    }

    async fn attest(
        &self,
        account_id: &str,
        credential_id: i64,
        person: NewPerson,
        source: &'static str,
        at: i64,
        audit: AuditDraft,
    ) -> Result<()> {
        let account_id = account_id.to_owned();
        self.db
            .write(move |tx| {
                let still_bound: Option<i64> = tx
                    .conn
                    .prepare_cached(
                        "SELECT c.id FROM credentials c LEFT JOIN attestations a ON a.credential_id = c.id WHERE c.id = ? AND c.account_id = ? AND a.credential_id IS NULL",
                    )?
                    .query_row(params![credential_id, account_id], |r| r.get(0))
                    .optional()?;
                if still_bound.is_none() {
                    return Err(StoreError::Conflict("the credential changed or was attested meanwhile"));
                }
                // Decided outside on "no other person is named": re-checked here, so that
                // a bind committed meanwhile cannot turn this into an unaudited person change.
                let other_person: bool = tx
                    .conn
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM accounts WHERE id = ?1 AND realname_person_hash <> ?2) \
                         OR EXISTS (SELECT 1 FROM credentials c JOIN attestations a ON a.credential_id = c.id \
                                    JOIN persons p ON p.id = a.person_id WHERE c.account_id = ?1 AND p.person_hash <> ?2)",
                    )?
                    .query_row(params![account_id, person.person_hash], |r| r.get(0))?;
                if other_person {
                    return Err(StoreError::Conflict("another person is named meanwhile"));
                }
                insert_attestation(tx, credential_id, &NewAttestation { person, source }, at)?;
                append_audit(tx, &audit)
            })
            .await
    }
}

/// Creates an account holding its first credential, and audits it.
pub(super) fn create_account(tx: &Tx<'_>, account: &NewAccount, credential: &NewCredential, at: i64) -> Result<()> {
    tx.conn
        .prepare_cached("INSERT INTO accounts (id, nature, state, created_at) VALUES (?, ?, 'active', ?)")?
        .execute(params![account.id, account.nature.as_str(), at])?;
    let id = insert_credential(tx, &account.id, credential, at)?;
    // The credential that creates an account signs in with it: not new to it.
    tx.conn
        .prepare_cached("UPDATE credentials SET signed_in_at = ? WHERE id = ?")?
        .execute(params![at, id])?;
    append_audit(tx, &account.audit)
}

pub(super) fn account_by_credential(
    conn: &Connection,
    kind: CredentialKind,
    lookup_hash: &[u8],
) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT account_id FROM credentials WHERE kind = ? AND lookup_hash = ?")?
        .query_row(params![kind.as_str(), lookup_hash], |r| r.get(0))
        .optional()?)
}

/// Inserts a credential with its attestation and openid; a credential held
/// elsewhere fails on the unique constraint.
pub(super) fn insert_credential(tx: &Tx<'_>, account_id: &str, c: &NewCredential, at: i64) -> Result<i64> {
    let id: i64 = tx
        .conn
        .prepare_cached(
            "INSERT INTO credentials (account_id, kind, lookup_hash, value_sealed, display_sealed, bound_at) \
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )?
        .query_row(
            params![
                account_id,
                c.kind.as_str(),
                c.lookup_hash,
                c.value_sealed,
                c.display_sealed,
                at
            ],
            |r| r.get(0),
        )
        .map_err(credential_conflict)?;
    if let Some(a) = &c.attestation {
        insert_attestation(tx, id, a, at)?;
    }
    if let Some(o) = &c.app_openid {
        tx.conn
            .prepare_cached("INSERT INTO credential_openids (credential_id, appid, openid_sealed) VALUES (?, ?, ?)")?
            .execute(params![id, o.appid, o.openid_sealed])?;
    }
    Ok(id)
}

fn insert_attestation(tx: &Tx<'_>, credential_id: i64, a: &NewAttestation, at: i64) -> Result<()> {
    // A person seen before keeps its row (and its first sealed copy).
    tx.conn
        .prepare_cached(
            "INSERT INTO persons (person_hash, name_sealed, id_number_sealed, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (person_hash) DO NOTHING",
        )?
        .execute(params![
            a.person.person_hash,
            a.person.name_sealed,
            a.person.id_number_sealed,
            at
        ])?;
    let person_id: i64 = tx
        .conn
        .prepare_cached("SELECT id FROM persons WHERE person_hash = ?")?
        .query_row([&a.person.person_hash], |r| r.get(0))?;
    let (account_id, recorded): (String, Option<Vec<u8>>) = tx
        .conn
        .prepare_cached(
            "SELECT a.id, a.realname_person_hash FROM accounts a JOIN credentials c ON c.account_id = a.id WHERE c.id = ?",
        )?
        .query_row([credential_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if let Some(person) = plan::first_person(recorded.as_deref(), &a.person.person_hash) {
        tx.conn
            .prepare_cached("UPDATE accounts SET realname_person_hash = ? WHERE id = ?")?
            .execute(params![person, account_id])?;
    }
    tx.conn
        .prepare_cached("INSERT INTO attestations (credential_id, person_id, source, verified_at) VALUES (?, ?, ?, ?)")?
        .execute(params![credential_id, person_id, a.source, at])?;
    Ok(())
}
