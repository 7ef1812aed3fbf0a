use async_trait::async_trait;
use shiming_domain::{AccountState, CredentialKind, Nature};
use sqlx::{PgConnection, Row};

use super::{credential_conflict, write, PgStore, Tx};
use crate::error::word;
use crate::plan;
use crate::rows;
use crate::{
    AccountStore, AccountView, AuditDraft, NewAccount, NewAttestation, NewCredential, NewPerson, Result, StoreError,
};

#[async_trait]
impl AccountStore for PgStore {
    async fn create_account(&self, account: NewAccount, credential: NewCredential, at: i64) -> Result<()> {
        let (account, credential) = (&account, &credential);
        write!(self, |tx| create_account(tx, account, credential, at).await?)
    }

    async fn account_by_credential(&self, kind: CredentialKind, lookup_hash: &[u8]) -> Result<Option<String>> {
        let mut conn = self.pool.acquire().await?;
        account_by_credential(&mut conn, kind, lookup_hash).await
    }

    async fn account_view(&self, account_id: &str) -> Result<Option<AccountView>> {
        // One statement, so the account and its credentials are one snapshot.
        let rows = sqlx::query(
            "SELECT a.nature, a.state, a.created_at, a.realname_person_hash, \
             c.id, c.kind, c.value_sealed, c.display_sealed, c.bound_at, t.source, t.verified_at, \
             p.id AS person_id, p.person_hash, p.name_sealed, p.id_number_sealed \
             FROM accounts a LEFT JOIN credentials c ON c.account_id = a.id \
             LEFT JOIN attestations t ON t.credential_id = c.id LEFT JOIN persons p ON p.id = t.person_id \
             WHERE a.id = $1 ORDER BY c.id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        let Some(first) = rows.first() else { return Ok(None) };
        let mut credentials = Vec::new();
        for r in &rows {
            if r.try_get::<Option<i64>, _>("id")?.is_some() {
                credentials.push(rows::credential(r)?);
            }
        }
        Ok(Some(AccountView {
            id: account_id.to_owned(),
            nature: word(Nature::parse, first.try_get("nature")?)?,
            state: word(AccountState::parse, first.try_get("state")?)?,
            created_at: first.try_get("created_at")?,
            realname_person_hash: first.try_get("realname_person_hash")?,
            credentials,
        }))
    }

    async fn set_account_state(&self, account_id: &str, state: AccountState, audit: AuditDraft) -> Result<bool> {
        let audit = &audit;
        let found = write!(self, |tx| {
            let found = sqlx::query("UPDATE accounts SET state = $1 WHERE id = $2")
                .bind(state.as_str())
                .bind(account_id)
                .execute(&mut *tx.conn)
                .await?
                .rows_affected();
            if found == 1 {
                tx.audit(audit);
            }
            found == 1
        })?;
        if found {
            self.settle(Some(account_id)).await;
        }
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
        let (person, audit) = (&person, &audit);
        write!(self, |tx| {
            // The account's row lock: a bind or a rebind of the account on
            // another node waits until this is decided and written.
            lock_account(tx.conn, account_id).await?;
            let still_bound: Option<i64> = sqlx::query_scalar(
                "SELECT c.id FROM credentials c LEFT JOIN attestations a ON a.credential_id = c.id \
                 WHERE c.id = $1 AND c.account_id = $2 AND a.credential_id IS NULL",
            )
            .bind(credential_id)
            .bind(account_id)
            .fetch_optional(&mut *tx.conn)
            .await?;
            if still_bound.is_none() {
                return Err(StoreError::Conflict("the credential changed or was attested meanwhile"));
            }
            // Decided outside on "no other person is named": re-checked here, so that
            // a bind committed meanwhile cannot turn this into an unaudited person change.
            let other_person: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1 AND realname_person_hash <> $2) \
                 OR EXISTS (SELECT 1 FROM credentials c JOIN attestations a ON a.credential_id = c.id \
                            JOIN persons p ON p.id = a.person_id WHERE c.account_id = $1 AND p.person_hash <> $2)",
            )
            .bind(account_id)
            .bind(&person.person_hash)
            .fetch_one(&mut *tx.conn)
            .await?;
            if other_person {
                return Err(StoreError::Conflict("another person is named meanwhile"));
            }
            let attestation = NewAttestation {
                person: person.clone(),
                source,
            };
            insert_attestation(tx, credential_id, &attestation, at).await?;
            tx.audit(audit);
        })
    }
}

/// Locks the account's row for the rest of the transaction; false when
/// there is no such account.
pub(super) async fn lock_account(conn: &mut PgConnection, account_id: &str) -> Result<bool> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE")
        .bind(account_id)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

/// Creates an account holding its first credential, and audits it.
pub(super) async fn create_account(
    tx: &mut Tx<'_>,
    account: &NewAccount,
    credential: &NewCredential,
    at: i64,
) -> Result<()> {
    sqlx::query("INSERT INTO accounts (id, nature, state, created_at) VALUES ($1, $2, 'active', $3)")
        .bind(&account.id)
        .bind(account.nature.as_str())
        .bind(at)
        .execute(&mut *tx.conn)
        .await?;
    let id = insert_credential(tx, &account.id, credential, at).await?;
    // The credential that creates an account signs in with it: not new to it.
    sqlx::query("UPDATE credentials SET signed_in_at = $1 WHERE id = $2")
        .bind(at)
        .bind(id)
        .execute(&mut *tx.conn)
        .await?;
    tx.audit(&account.audit);
    Ok(())
}

pub(super) async fn account_by_credential(
    conn: &mut PgConnection,
    kind: CredentialKind,
    lookup_hash: &[u8],
) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT account_id FROM credentials WHERE kind = $1 AND lookup_hash = $2")
            .bind(kind.as_str())
            .bind(lookup_hash)
            .fetch_optional(conn)
            .await?,
    )
}

/// Inserts a credential with its attestation and openid; a credential held
/// elsewhere (committed or not, on any node) fails on the unique constraint.
pub(super) async fn insert_credential(tx: &mut Tx<'_>, account_id: &str, c: &NewCredential, at: i64) -> Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO credentials (account_id, kind, lookup_hash, value_sealed, display_sealed, bound_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(account_id)
    .bind(c.kind.as_str())
    .bind(&c.lookup_hash)
    .bind(&c.value_sealed)
    .bind(&c.display_sealed)
    .bind(at)
    .fetch_one(&mut *tx.conn)
    .await
    .map_err(credential_conflict)?;
    if let Some(a) = &c.attestation {
        insert_attestation(tx, id, a, at).await?;
    }
    if let Some(o) = &c.app_openid {
        sqlx::query("INSERT INTO credential_openids (credential_id, appid, openid_sealed) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(&o.appid)
            .bind(&o.openid_sealed)
            .execute(&mut *tx.conn)
            .await?;
    }
    Ok(id)
}

async fn insert_attestation(tx: &mut Tx<'_>, credential_id: i64, a: &NewAttestation, at: i64) -> Result<()> {
    // A person seen before keeps its row (and its first sealed copy); the
    // no-op update returns its id, and waits for a node inserting it now.
    let person_id: i64 = sqlx::query_scalar(
        "INSERT INTO persons (person_hash, name_sealed, id_number_sealed, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (person_hash) DO UPDATE SET person_hash = EXCLUDED.person_hash RETURNING id",
    )
    .bind(&a.person.person_hash)
    .bind(&a.person.name_sealed)
    .bind(&a.person.id_number_sealed)
    .bind(at)
    .fetch_one(&mut *tx.conn)
    .await?;
    let (account_id, recorded): (String, Option<Vec<u8>>) = sqlx::query_as(
        "SELECT a.id, a.realname_person_hash FROM accounts a JOIN credentials c ON c.account_id = a.id WHERE c.id = $1",
    )
    .bind(credential_id)
    .fetch_one(&mut *tx.conn)
    .await?;
    if let Some(person) = plan::first_person(recorded.as_deref(), &a.person.person_hash) {
        sqlx::query("UPDATE accounts SET realname_person_hash = $1 WHERE id = $2")
            .bind(person)
            .bind(&account_id)
            .execute(&mut *tx.conn)
            .await?;
    }
    sqlx::query("INSERT INTO attestations (credential_id, person_id, source, verified_at) VALUES ($1, $2, $3, $4)")
        .bind(credential_id)
        .bind(person_id)
        .bind(a.source)
        .bind(at)
        .execute(&mut *tx.conn)
        .await?;
    Ok(())
}
