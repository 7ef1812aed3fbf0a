use async_trait::async_trait;
use shiming_domain::{AccountState, CredentialKind, Nature};
use sqlx::{Row, SqliteConnection};

use super::{append_audit, credential_conflict, SqliteStore};
use crate::{
    AccountStore, AccountView, Attestation, AuditDraft, CredentialRecord, NewAccount, NewAttestation, NewCredential,
    NewPerson, PersonRecord, Result, StoreError,
};

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_account(&self, account: NewAccount, credential: NewCredential, at: i64) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("INSERT INTO accounts (id, nature, state, created_at) VALUES (?, ?, 'active', ?)")
            .bind(&account.id)
            .bind(account.nature.as_str())
            .bind(at)
            .execute(&mut *tx)
            .await?;
        let id = insert_credential(&mut tx, &account.id, &credential, at).await?;
        // The credential that creates an account signs in with it: not new to it.
        sqlx::query("UPDATE credentials SET signed_in_at = ? WHERE id = ?")
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        append_audit(&mut tx, &account.audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn account_by_credential(&self, kind: CredentialKind, lookup_hash: &[u8]) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT account_id FROM credentials WHERE kind = ? AND lookup_hash = ?")
                .bind(kind.as_str())
                .bind(lookup_hash)
                .fetch_optional(&self.reads)
                .await?,
        )
    }

    async fn account_view(&self, account_id: &str) -> Result<Option<AccountView>> {
        // One read transaction, so the account and its credentials are one
        // consistent snapshot.
        let mut tx = self.reads.begin().await?;
        let Some(row) =
            sqlx::query("SELECT id, nature, state, created_at, realname_person_hash FROM accounts WHERE id = ?")
                .bind(account_id)
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Ok(None);
        };
        let rows = sqlx::query(
            "SELECT c.id, c.kind, c.value_sealed, c.display_sealed, c.bound_at, a.source, a.verified_at, p.id AS person_id, p.person_hash, p.name_sealed, p.id_number_sealed \
             FROM credentials c LEFT JOIN attestations a ON a.credential_id = c.id LEFT JOIN persons p ON p.id = a.person_id \
             WHERE c.account_id = ? ORDER BY c.id",
        )
        .bind(account_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let credentials = rows
            .iter()
            .map(|r| {
                let attestation = match r.try_get::<Option<i64>, _>("person_id")? {
                    Some(person_id) => Some(Attestation {
                        person: PersonRecord {
                            id: person_id,
                            person_hash: r.try_get("person_hash")?,
                            name_sealed: r.try_get("name_sealed")?,
                            id_number_sealed: r.try_get("id_number_sealed")?,
                        },
                        source: r.try_get("source")?,
                        verified_at: r.try_get("verified_at")?,
                    }),
                    None => None,
                };
                Ok(CredentialRecord {
                    id: r.try_get("id")?,
                    kind: word(CredentialKind::parse, r.try_get("kind")?)?,
                    value_sealed: r.try_get("value_sealed")?,
                    display_sealed: r.try_get("display_sealed")?,
                    bound_at: r.try_get("bound_at")?,
                    attestation,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(AccountView {
            id: row.try_get("id")?,
            nature: word(Nature::parse, row.try_get("nature")?)?,
            state: word(AccountState::parse, row.try_get("state")?)?,
            created_at: row.try_get("created_at")?,
            realname_person_hash: row.try_get("realname_person_hash")?,
            credentials,
        }))
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
        let mut tx = self.write().await?;
        let still_bound: Option<i64> = sqlx::query_scalar(
            "SELECT c.id FROM credentials c LEFT JOIN attestations a ON a.credential_id = c.id WHERE c.id = ? AND c.account_id = ? AND a.credential_id IS NULL",
        )
        .bind(credential_id)
        .bind(account_id)
        .fetch_optional(&mut *tx)
        .await?;
        if still_bound.is_none() {
            return Err(StoreError::Conflict("the credential changed or was attested meanwhile"));
        }
        // Decided outside on "no other person is named": re-checked here, so that
        // a bind committed meanwhile cannot turn this into an unaudited person change.
        let other_person: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM accounts WHERE id = ?1 AND realname_person_hash <> ?2) \
             OR EXISTS (SELECT 1 FROM credentials c JOIN attestations a ON a.credential_id = c.id \
                        JOIN persons p ON p.id = a.person_id WHERE c.account_id = ?1 AND p.person_hash <> ?2)",
        )
        .bind(account_id)
        .bind(&person.person_hash)
        .fetch_one(&mut *tx)
        .await?;
        if other_person {
            return Err(StoreError::Conflict("another person is named meanwhile"));
        }
        insert_attestation(&mut tx, credential_id, &NewAttestation { person, source }, at).await?;
        append_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Inserts a credential with its attestation and openid; a credential held
/// elsewhere fails on the unique constraint.
pub(super) async fn insert_credential(
    conn: &mut SqliteConnection,
    account_id: &str,
    c: &NewCredential,
    at: i64,
) -> Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO credentials (account_id, kind, lookup_hash, value_sealed, display_sealed, bound_at) \
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(account_id)
    .bind(c.kind.as_str())
    .bind(&c.lookup_hash)
    .bind(&c.value_sealed)
    .bind(&c.display_sealed)
    .bind(at)
    .fetch_one(&mut *conn)
    .await
    .map_err(credential_conflict)?;
    if let Some(a) = &c.attestation {
        insert_attestation(conn, id, a, at).await?;
    }
    if let Some(o) = &c.app_openid {
        sqlx::query("INSERT INTO credential_openids (credential_id, appid, openid_sealed) VALUES (?, ?, ?)")
            .bind(id)
            .bind(&o.appid)
            .bind(&o.openid_sealed)
            .execute(&mut *conn)
            .await?;
    }
    Ok(id)
}

async fn insert_attestation(
    conn: &mut SqliteConnection,
    credential_id: i64,
    a: &NewAttestation,
    at: i64,
) -> Result<()> {
    // A person seen before keeps its row (and its first sealed copy).
    sqlx::query(
        "INSERT INTO persons (person_hash, name_sealed, id_number_sealed, created_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (person_hash) DO NOTHING",
    )
    .bind(&a.person.person_hash)
    .bind(&a.person.name_sealed)
    .bind(&a.person.id_number_sealed)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    let person_id: i64 = sqlx::query_scalar("SELECT id FROM persons WHERE person_hash = ?")
        .bind(&a.person.person_hash)
        .fetch_one(&mut *conn)
        .await?;
    // The first person an account's real name names is kept from then on.
    sqlx::query(
        "UPDATE accounts SET realname_person_hash = ? \
         WHERE id = (SELECT account_id FROM credentials WHERE id = ?) AND realname_person_hash IS NULL",
    )
    .bind(&a.person.person_hash)
    .bind(credential_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO attestations (credential_id, person_id, source, verified_at) VALUES (?, ?, ?, ?)")
        .bind(credential_id)
        .bind(person_id)
        .bind(a.source)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Parses a stored enum word; a word the code does not know is a damaged row.
pub(super) fn word<T>(parse: fn(&str) -> Option<T>, stored: String) -> Result<T> {
    parse(&stored)
        .ok_or_else(|| StoreError::Database(sqlx::Error::Decode(format!("unknown stored value {stored:?}").into())))
}
