use async_trait::async_trait;
use shiming_domain::rebind::YEAR_SECS;
use shiming_domain::{AccountState, CredentialKind, Nature, RealNameStatus};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::accounts::{insert_credential, word};
use super::notices::insert_account_notice;
use super::{append_audit, credential_conflict, SqliteStore};
use crate::plan::{self, HeldCredential, Snapshot};
use crate::{
    AppOpenid, ExpectedOutcome, NewAttestation, NewCredential, NewPendingChange, NewPerson, Notice, NoticeDelivery,
    PendingChange, Proof, RebindCommit, RebindStore, Result, StoreError,
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
        proof: proof(r)?,
        expires_at: r.try_get("expires_at")?,
    })
}

fn proof(r: &SqliteRow) -> Result<Option<Proof>> {
    let (Some(at), Some(preview_sealed)) = (
        r.try_get::<Option<i64>, _>("proven_at")?,
        r.try_get::<Option<Vec<u8>>, _>("preview_sealed")?,
    ) else {
        return Ok(None);
    };
    Ok(Some(Proof {
        preview_sealed,
        expected: ExpectedOutcome {
            replaces: r.try_get("expect_replaces")?,
            person_changes: r.try_get("expect_person_changes")?,
            status_after: word(RealNameStatus::parse, r.try_get("expect_status")?)?,
            nature_after: word(Nature::parse, r.try_get("expect_nature")?)?,
        },
        at,
    }))
}

/// What the commit transaction reads of the account before it decides.
async fn snapshot(conn: &mut SqliteConnection, account_id: &str, now: i64) -> Result<Snapshot> {
    let (state, nature, realname_person_hash): (String, String, Option<Vec<u8>>) =
        sqlx::query_as("SELECT state, nature, realname_person_hash FROM accounts WHERE id = ?")
            .bind(account_id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(StoreError::Conflict("the account is gone"))?;
    let rows = sqlx::query(
        "SELECT c.id, c.kind, c.lookup_hash, p.person_hash FROM credentials c \
         LEFT JOIN attestations a ON a.credential_id = c.id LEFT JOIN persons p ON p.id = a.person_id \
         WHERE c.account_id = ?",
    )
    .bind(account_id)
    .fetch_all(&mut *conn)
    .await?;
    let credentials = rows
        .iter()
        .map(|r| {
            Ok(HeldCredential {
                id: r.try_get("id")?,
                kind: word(CredentialKind::parse, r.try_get("kind")?)?,
                lookup_hash: r.try_get("lookup_hash")?,
                person_hash: r.try_get("person_hash")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let rebinds = sqlx::query_as("SELECT at, person_changed FROM rebinds WHERE account_id = ? AND at > ?")
        .bind(account_id)
        .bind(now - YEAR_SECS)
        .fetch_all(&mut *conn)
        .await?;
    Ok(Snapshot {
        state: word(AccountState::parse, state)?,
        nature: word(Nature::parse, nature)?,
        realname_person_hash,
        credentials,
        rebinds,
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
        .fetch_optional(&self.reads)
        .await?;
        row.as_ref().map(pending).transpose()
    }

    async fn prove_change(&self, id: i64, proof: &Proof) -> Result<bool> {
        let e = &proof.expected;
        let done = sqlx::query(
            "UPDATE pending_changes SET proven_at = ?, preview_sealed = ?, expect_replaces = ?, \
             expect_person_changes = ?, expect_status = ?, expect_nature = ? \
             WHERE id = ? AND consumed_at IS NULL AND expires_at > ?",
        )
        .bind(proof.at)
        .bind(&proof.preview_sealed)
        .bind(e.replaces)
        .bind(e.person_changes)
        .bind(e.status_after.as_str())
        .bind(e.nature_after.as_str())
        .bind(id)
        .bind(proof.at)
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    async fn rebinds_since(&self, account_id: &str, since: i64) -> Result<Vec<(i64, bool)>> {
        Ok(
            sqlx::query_as("SELECT at, person_changed FROM rebinds WHERE account_id = ? AND at > ? ORDER BY at")
                .bind(account_id)
                .bind(since)
                .fetch_all(&self.reads)
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
        let plan = plan::plan(&snapshot(&mut tx, &c.account_id, c.at).await?, &c)?;
        if let Some(old) = plan.remove {
            sqlx::query("DELETE FROM credentials WHERE id = ?")
                .bind(old)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(new) = &c.new {
            insert_credential(&mut tx, &c.account_id, new, c.at)
                .await
                .map_err(|e| match e {
                    StoreError::Database(db) => credential_conflict(db),
                    other => other,
                })?;
        }
        sqlx::query(
            "UPDATE accounts SET nature = ?, realname_person_hash = COALESCE(?, realname_person_hash) WHERE id = ?",
        )
        .bind(plan.nature_after.as_str())
        .bind(&plan.realname_after)
        .bind(&c.account_id)
        .execute(&mut *tx)
        .await?;
        let revoked = if plan.rebind {
            sqlx::query("DELETE FROM sessions WHERE account_id = ? AND id <> ?")
                .bind(&c.account_id)
                .bind(&c.keep_session)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        } else {
            0
        };
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
        if plan.rebind {
            sqlx::query("INSERT INTO rebinds (account_id, kind, person_changed, at) VALUES (?, ?, ?, ?)")
                .bind(&c.account_id)
                .bind(c.kind.as_str())
                .bind(plan.person_changed)
                .bind(c.at)
                .execute(&mut *tx)
                .await?;
        }
        for audit in &plan.audits {
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
        insert_account_notice(&mut tx, &c.account_id, &c.account_notice, c.at).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    async fn claim_notices(&self, now: i64, lease: i64, limit: u32) -> Result<Vec<Notice>> {
        let mut tx = self.write().await?;
        let rows: Vec<(i64, Vec<u8>, Vec<u8>, i64)> = sqlx::query_as(
            "UPDATE notices SET claimed_until = ?1 + ?2 WHERE id IN (SELECT id FROM notices \
             WHERE sent_at IS NULL AND attempts < 5 AND (claimed_until IS NULL OR claimed_until <= ?1) ORDER BY id LIMIT ?3) \
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

    async fn finish_notice(&self, id: i64, delivery: NoticeDelivery) -> Result<()> {
        let query = match delivery {
            NoticeDelivery::Sent { at } => {
                sqlx::query("UPDATE notices SET sent_at = ?, claimed_until = NULL WHERE id = ?").bind(at)
            }
            // Held back by a claim that runs out at the retry time.
            NoticeDelivery::Failed { retry_at } => {
                sqlx::query("UPDATE notices SET attempts = attempts + 1, claimed_until = ? WHERE id = ?").bind(retry_at)
            }
        };
        query.bind(id).execute(&self.writer).await?;
        Ok(())
    }
}
