use async_trait::async_trait;
use shiming_domain::CredentialKind;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::accounts::{insert_credential, word};
use super::{append_audit, credential_conflict, SqliteStore};
use crate::{
    AppOpenid, NewAttestation, NewCredential, NewPendingChange, NewPerson, Notice, PendingChange, RebindCommit,
    RebindStore, Result, StoreError,
};

fn pending(r: &SqliteRow) -> Result<PendingChange> {
    let kind = word(CredentialKind::parse, r.try_get("kind")?)?;
    let attestation = match r.try_get::<Option<Vec<u8>>, _>("person_hash")? {
        Some(person_hash) => Some(NewAttestation {
            person: NewPerson {
                person_hash,
                name_sealed: r.try_get("person_name_sealed")?,
                id_number_sealed: r.try_get("person_id_sealed")?,
            },
            source: attestation_source(kind),
        }),
        None => None,
    };
    let app_openid = match (
        r.try_get::<Option<String>, _>("appid")?,
        r.try_get::<Option<Vec<u8>>, _>("new_openid_sealed")?,
    ) {
        (Some(appid), Some(openid_sealed)) => Some(AppOpenid { appid, openid_sealed }),
        _ => None,
    };
    Ok(PendingChange {
        id: r.try_get("id")?,
        credential: NewCredential {
            kind,
            lookup_hash: r.try_get("new_lookup_hash")?,
            value_sealed: r.try_get("new_value_sealed")?,
            display_sealed: r.try_get("new_display_sealed")?,
            attestation,
            app_openid,
        },
        preview: r.try_get("preview")?,
        proven_at: r.try_get("proven_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

/// Who attests a credential of each kind: the carrier a phone, WeChat a WeChat.
fn attestation_source(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::Phone => "carrier",
        CredentialKind::Wechat => "wechat",
    }
}

#[async_trait]
impl RebindStore for SqliteStore {
    async fn open_change(&self, c: NewPendingChange) -> Result<i64> {
        let mut tx = self.write().await?;
        // One change at a time per account: a new start ends the others.
        sqlx::query("UPDATE pending_changes SET consumed_at = ? WHERE account_id = ? AND consumed_at IS NULL")
            .bind(c.created_at)
            .bind(&c.account_id)
            .execute(&mut *tx)
            .await?;
        let cred = &c.credential;
        let person = cred.attestation.as_ref().map(|a| &a.person);
        let (appid, openid) = match &cred.app_openid {
            Some(o) => (Some(&o.appid), Some(&o.openid_sealed)),
            None => (None, None),
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO pending_changes (account_id, session_id, kind, new_lookup_hash, new_value_sealed, new_display_sealed, \
             appid, new_openid_sealed, person_hash, person_name_sealed, person_id_sealed, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&c.account_id)
        .bind(&c.session_id)
        .bind(cred.kind.as_str())
        .bind(&cred.lookup_hash)
        .bind(&cred.value_sealed)
        .bind(&cred.display_sealed)
        .bind(appid)
        .bind(openid)
        .bind(person.map(|p| &p.person_hash))
        .bind(person.map(|p| &p.name_sealed))
        .bind(person.map(|p| &p.id_number_sealed))
        .bind(c.created_at)
        .bind(c.expires_at)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn pending_change(
        &self,
        account_id: &str,
        session_id: &str,
        kind: CredentialKind,
        now: i64,
    ) -> Result<Option<PendingChange>> {
        let row = sqlx::query(
            "SELECT * FROM pending_changes WHERE account_id = ? AND session_id = ? AND kind = ? \
             AND consumed_at IS NULL AND expires_at > ? ORDER BY id DESC LIMIT 1",
        )
        .bind(account_id)
        .bind(session_id)
        .bind(kind.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(pending).transpose()
    }

    async fn prove_change(&self, id: i64, person: Option<NewPerson>, preview: &str, at: i64) -> Result<bool> {
        let (hash, name, sealed_id) = match &person {
            Some(p) => (Some(&p.person_hash), Some(&p.name_sealed), Some(&p.id_number_sealed)),
            None => (None, None, None),
        };
        let done = sqlx::query(
            "UPDATE pending_changes SET proven_at = ?, preview = ?, person_hash = COALESCE(?, person_hash), \
             person_name_sealed = COALESCE(?, person_name_sealed), person_id_sealed = COALESCE(?, person_id_sealed) \
             WHERE id = ? AND consumed_at IS NULL AND expires_at > ?",
        )
        .bind(at)
        .bind(preview)
        .bind(hash)
        .bind(name)
        .bind(sealed_id)
        .bind(id)
        .bind(at)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    async fn rebinds_since(&self, account_id: &str, since: i64) -> Result<Vec<(i64, bool)>> {
        Ok(
            sqlx::query_as("SELECT at, person_changed FROM rebinds WHERE account_id = ? AND at > ? ORDER BY at")
                .bind(account_id)
                .bind(since)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn commit_rebind(&self, c: RebindCommit) -> Result<u64> {
        let mut tx = self.write().await?;
        if let Some(pending_id) = c.pending_id {
            // Used up here, in the commit: a double-submitted confirm commits once.
            let taken = sqlx::query(
                "UPDATE pending_changes SET consumed_at = ? \
                 WHERE id = ? AND account_id = ? AND consumed_at IS NULL AND proven_at IS NOT NULL AND expires_at > ?",
            )
            .bind(c.at)
            .bind(pending_id)
            .bind(&c.account_id)
            .bind(c.at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if taken != 1 {
                return Err(StoreError::Conflict("the pending change is used, expired or gone"));
            }
        }
        let current: Option<i64> = sqlx::query_scalar("SELECT id FROM credentials WHERE account_id = ? AND kind = ?")
            .bind(&c.account_id)
            .bind(c.kind.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if current != c.expected_old {
            return Err(StoreError::Conflict("the credential changed since the preview"));
        }
        if let Some(old) = current {
            sqlx::query("DELETE FROM credentials WHERE id = ?")
                .bind(old)
                .execute(&mut *tx)
                .await?;
        }
        match &c.new {
            Some(new) => {
                insert_credential(&mut tx, &c.account_id, new, c.at)
                    .await
                    .map_err(|e| match e {
                        StoreError::Database(db) => credential_conflict(db),
                        other => other,
                    })?;
            }
            None => {
                let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM credentials WHERE account_id = ?")
                    .bind(&c.account_id)
                    .fetch_one(&mut *tx)
                    .await?;
                if left == 0 {
                    return Err(StoreError::LastCredential);
                }
            }
        }
        sqlx::query(
            "UPDATE accounts SET nature = ?, realname_person_hash = COALESCE(?, realname_person_hash) WHERE id = ?",
        )
        .bind(c.nature_after.as_str())
        .bind(&c.realname_after)
        .bind(&c.account_id)
        .execute(&mut *tx)
        .await?;
        let revoked = sqlx::query("DELETE FROM sessions WHERE account_id = ? AND id <> ?")
            .bind(&c.account_id)
            .bind(&c.keep_session)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("UPDATE pending_changes SET consumed_at = ? WHERE account_id = ? AND consumed_at IS NULL")
            .bind(c.at)
            .bind(&c.account_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE oauth_flows SET consumed_at = ? WHERE account_id = ? AND consumed_at IS NULL")
            .bind(c.at)
            .bind(&c.account_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE sms_codes SET consumed_at = ? WHERE account_id = ? AND consumed_at IS NULL")
            .bind(c.at)
            .bind(&c.account_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO rebinds (account_id, kind, person_changed, at) VALUES (?, ?, ?, ?)")
            .bind(&c.account_id)
            .bind(c.kind.as_str())
            .bind(c.person_changed)
            .bind(c.at)
            .execute(&mut *tx)
            .await?;
        for audit in &c.audits {
            append_audit(&mut tx, audit).await?;
        }
        for n in &c.notices {
            sqlx::query("INSERT INTO notices (phone_sealed, text_sealed, created_at) VALUES (?, ?, ?)")
                .bind(&n.phone_sealed)
                .bind(&n.text_sealed)
                .bind(c.at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(revoked)
    }

    async fn claim_notices(&self, now: i64, lease: i64, limit: u32) -> Result<Vec<Notice>> {
        let mut tx = self.write().await?;
        let rows: Vec<(i64, Vec<u8>, Vec<u8>, i64)> = sqlx::query_as(
            "UPDATE notices SET claimed_until = ?1 + ?2 WHERE id IN (SELECT id FROM notices \
             WHERE sent_at IS NULL AND attempts < 5 AND (claimed_until IS NULL OR claimed_until < ?1) ORDER BY id LIMIT ?3) \
             RETURNING id, phone_sealed, text_sealed, attempts",
        )
        .bind(now)
        .bind(lease)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|(id, phone_sealed, text_sealed, attempts)| Notice {
                id,
                phone_sealed,
                text_sealed,
                attempts: attempts as u32,
            })
            .collect())
    }

    async fn finish_notice(&self, id: i64, sent: bool, at: i64) -> Result<()> {
        let query = if sent {
            sqlx::query("UPDATE notices SET sent_at = ?, claimed_until = NULL WHERE id = ?").bind(at)
        } else {
            sqlx::query("UPDATE notices SET attempts = attempts + 1, claimed_until = NULL WHERE id = ?")
        };
        query.bind(id).execute(&self.pool).await?;
        Ok(())
    }
}
