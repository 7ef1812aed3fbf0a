use async_trait::async_trait;
use shiming_domain::rebind::YEAR_SECS;
use shiming_domain::{AccountState, CredentialKind, Nature};
use sqlx::Row;

use super::accounts::{insert_credential, lock_account};
use super::approvals::settle_approval;
use super::notices::insert_account_notice;
use super::{write, PgStore, Tx};
use crate::error::word;
use crate::members::notified;
use crate::plan::{self, HeldCredential, Snapshot};
use crate::rows;
use crate::{
    NewNotice, NewPendingChange, NewPerson, Notice, NoticeDelivery, PendingChange, Proof, RebindCommit, RebindStore,
    Result, StoreError,
};

/// What the commit transaction reads of the account before it decides,
/// with the account's row locked until the commit ends.
async fn snapshot(tx: &mut Tx<'_>, account_id: &str, now: i64) -> Result<Snapshot> {
    let (state, nature, realname_person_hash): (String, String, Option<Vec<u8>>) =
        sqlx::query_as("SELECT state, nature, realname_person_hash FROM accounts WHERE id = $1 FOR UPDATE")
            .bind(account_id)
            .fetch_optional(&mut *tx.conn)
            .await?
            .ok_or(StoreError::Conflict("the account is gone"))?;
    let rows = sqlx::query(
        "SELECT c.id, c.kind, c.lookup_hash, p.person_hash FROM credentials c \
         LEFT JOIN attestations a ON a.credential_id = c.id LEFT JOIN persons p ON p.id = a.person_id \
         WHERE c.account_id = $1",
    )
    .bind(account_id)
    .fetch_all(&mut *tx.conn)
    .await?;
    let mut credentials = Vec::new();
    for r in &rows {
        credentials.push(HeldCredential {
            id: r.try_get(0)?,
            kind: word(CredentialKind::parse, r.try_get(1)?)?,
            lookup_hash: r.try_get(2)?,
            person_hash: r.try_get(3)?,
        });
    }
    let rebinds = rebinds_since(&mut *tx.conn, account_id, now - YEAR_SECS).await?;
    Ok(Snapshot {
        state: word(AccountState::parse, state)?,
        nature: word(Nature::parse, nature)?,
        realname_person_hash,
        credentials,
        rebinds,
    })
}

async fn rebinds_since(conn: impl sqlx::PgExecutor<'_>, account_id: &str, since: i64) -> Result<Vec<(i64, bool)>> {
    Ok(
        sqlx::query_as("SELECT at, person_changed FROM rebinds WHERE account_id = $1 AND at > $2 ORDER BY at")
            .bind(account_id)
            .bind(since)
            .fetch_all(conn)
            .await?,
    )
}

#[async_trait]
impl RebindStore for PgStore {
    async fn open_change(&self, c: NewPendingChange) -> Result<i64> {
        let c = &c;
        write!(self, |tx| open(tx, c).await?)
    }

    async fn pending_change(
        &self,
        account_id: &str,
        session_id: &str,
        kind: CredentialKind,
        now: i64,
    ) -> Result<Option<PendingChange>> {
        let row = sqlx::query(
            "SELECT * FROM pending_changes WHERE account_id = $1 AND session_id = $2 AND kind = $3 \
             AND consumed_at IS NULL AND expires_at > $4 ORDER BY id DESC LIMIT 1",
        )
        .bind(account_id)
        .bind(session_id)
        .bind(kind.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(rows::pending_change).transpose()
    }

    async fn prove_change(&self, id: i64, person: Option<NewPerson>, proof: &Proof) -> Result<bool> {
        let e = &proof.expected;
        let p = person.as_ref();
        // No person given keeps the one the change holds (or none).
        let done = sqlx::query(
            "UPDATE pending_changes SET proven_at = $1, preview_sealed = $2, expect_replaces = $3, \
             expect_person_changes = $4, expect_status = $5, expect_nature = $6, \
             person_hash = COALESCE($7, person_hash), person_name_sealed = COALESCE($8, person_name_sealed), \
             person_id_sealed = COALESCE($9, person_id_sealed) \
             WHERE id = $10 AND consumed_at IS NULL AND expires_at > $1",
        )
        .bind(proof.at)
        .bind(&proof.preview_sealed)
        .bind(e.replaces)
        .bind(e.person_changes)
        .bind(e.status_after.as_str())
        .bind(e.nature_after.as_str())
        .bind(p.map(|p| &p.person_hash))
        .bind(p.map(|p| &p.name_sealed))
        .bind(p.map(|p| &p.id_number_sealed))
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    async fn rebinds_since(&self, account_id: &str, since: i64) -> Result<Vec<(i64, bool)>> {
        rebinds_since(&self.pool, account_id, since).await
    }

    async fn commit_rebind(&self, c: RebindCommit) -> Result<u64> {
        let c = &c;
        let revoked = write!(self, |tx| commit(tx, c).await?)?;
        // Sessions revoked, the nature changed: seen by the next check on any node.
        self.settle(Some(&c.account_id)).await;
        Ok(revoked)
    }

    async fn claim_notices(&self, now: i64, lease: i64, limit: u32) -> Result<Vec<Notice>> {
        // SKIP LOCKED: nodes claiming at once take different notices, so none
        // is sent twice; a claim whose node died runs out with its lease.
        let rows: Vec<(i64, Vec<u8>, Vec<u8>, i32)> = sqlx::query_as(
            "UPDATE notices SET claimed_until = $1 + $2 WHERE id IN (SELECT id FROM notices \
             WHERE sent_at IS NULL AND attempts < 5 AND (claimed_until IS NULL OR claimed_until <= $1) \
             ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING id, phone_sealed, text_sealed, attempts",
        )
        .bind(now)
        .bind(lease)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut notices: Vec<Notice> = rows
            .into_iter()
            .map(|(id, phone_sealed, text_sealed, attempts)| Notice {
                id,
                phone_sealed,
                text_sealed,
                attempts: attempts as u32,
            })
            .collect();
        notices.sort_by_key(|n| n.id);
        Ok(notices)
    }

    async fn finish_notice(&self, id: i64, delivery: NoticeDelivery) -> Result<()> {
        match delivery {
            NoticeDelivery::Sent { at } => {
                sqlx::query("UPDATE notices SET sent_at = $1, claimed_until = NULL WHERE id = $2")
                    .bind(at)
                    .bind(id)
                    .execute(&self.pool)
                    .await?
            }
            // Held back by a claim that runs out at the retry time.
            NoticeDelivery::Failed { retry_at } => {
                sqlx::query("UPDATE notices SET attempts = attempts + 1, claimed_until = $1 WHERE id = $2")
                    .bind(retry_at)
                    .bind(id)
                    .execute(&self.pool)
                    .await?
            }
        };
        Ok(())
    }
}

/// The commit of a bind, rebind or unbind, in one transaction.
async fn commit(tx: &mut Tx<'_>, c: &RebindCommit) -> Result<u64> {
    // The account first: every commit, attestation and start of a change of
    // the account waits here for the one before it, on any node.
    if !lock_account(tx.conn, &c.account_id).await? {
        return Err(StoreError::Conflict("the account is gone"));
    }
    if let Some(pending_id) = c.pending_id {
        // Used up here, in the commit: a double-submitted confirm commits once.
        let taken = sqlx::query(
            "UPDATE pending_changes SET consumed_at = $1 \
             WHERE id = $2 AND account_id = $3 AND consumed_at IS NULL AND proven_at IS NOT NULL AND expires_at > $1",
        )
        .bind(c.at)
        .bind(pending_id)
        .bind(&c.account_id)
        .execute(&mut *tx.conn)
        .await?
        .rows_affected();
        if taken != 1 {
            return Err(StoreError::Conflict("the pending change is used, expired or gone"));
        }
    }
    let plan = plan::plan(&snapshot(tx, &c.account_id, c.at).await?, c)?;
    // After the plan: a change whose preview no longer holds is refused as
    // such, before it asks for (or carries out) an approval.
    settle_approval(tx, c).await?;
    if let Some(old) = plan.remove {
        sqlx::query("DELETE FROM credentials WHERE id = $1")
            .bind(old)
            .execute(&mut *tx.conn)
            .await?;
    }
    if let Some(new) = &c.new {
        insert_credential(tx, &c.account_id, new, c.at).await?;
    }
    sqlx::query(
        "UPDATE accounts SET nature = $1, realname_person_hash = COALESCE($2, realname_person_hash) WHERE id = $3",
    )
    .bind(plan.nature_after.as_str())
    .bind(&plan.realname_after)
    .bind(&c.account_id)
    .execute(&mut *tx.conn)
    .await?;
    if plan.leaves_management {
        let managed: Vec<String> = sqlx::query_scalar(plan::PERSON_CHANGED)
            .bind(&c.account_id)
            .fetch_all(&mut *tx.conn)
            .await?;
        for enterprise_id in managed {
            tx.audit(&plan::person_changed_event(&c.account_id, &enterprise_id, c.at));
        }
    }
    let revoked = if plan.rebind {
        sqlx::query("DELETE FROM sessions WHERE account_id = $1 AND id <> $2")
            .bind(&c.account_id)
            .bind(&c.keep_session)
            .execute(&mut *tx.conn)
            .await?
            .rows_affected()
    } else {
        0
    };
    // Every other open change, OAuth flow and code of the account ends here.
    for end_open in [
        "UPDATE pending_changes SET consumed_at = $1 WHERE account_id = $2 AND consumed_at IS NULL",
        "UPDATE oauth_flows SET consumed_at = $1 WHERE account_id = $2 AND consumed_at IS NULL",
        "UPDATE sms_codes SET consumed_at = $1 WHERE account_id = $2 AND consumed_at IS NULL",
    ] {
        sqlx::query(end_open)
            .bind(c.at)
            .bind(&c.account_id)
            .execute(&mut *tx.conn)
            .await?;
    }
    if plan.rebind {
        sqlx::query("INSERT INTO rebinds (account_id, kind, person_changed, at) VALUES ($1, $2, $3, $4)")
            .bind(&c.account_id)
            .bind(c.kind.as_str())
            .bind(plan.person_changed)
            .bind(c.at)
            .execute(&mut *tx.conn)
            .await?;
    }
    for n in &c.notices {
        insert_notice(tx, n, c.at).await?;
    }
    insert_account_notice(tx, &c.account_id, &c.account_notice, c.at).await?;
    if plan.realname_changed {
        let member_of: Vec<(String, String)> = sqlx::query_as(plan::MEMBER_OF)
            .bind(&c.account_id)
            .fetch_all(&mut *tx.conn)
            .await?;
        let n = &c.admin_notice;
        for enterprise_id in notified(member_of)? {
            sqlx::query(plan::NOTIFY_ADMINS)
                .bind(n.kind)
                .bind(n.credential.as_str())
                .bind(&n.masked_sealed)
                .bind(c.at)
                .bind(enterprise_id)
                .bind(&c.account_id)
                .execute(&mut *tx.conn)
                .await?;
        }
    }
    // Last: the audit head is held only for the end of the transaction.
    for audit in &plan.audits {
        tx.audit(audit);
    }
    Ok(revoked)
}

/// Queues a text message, in the caller's transaction.
pub(super) async fn insert_notice(tx: &mut Tx<'_>, n: &NewNotice, at: i64) -> Result<()> {
    sqlx::query("INSERT INTO notices (phone_sealed, text_sealed, created_at) VALUES ($1, $2, $3)")
        .bind(&n.phone_sealed)
        .bind(&n.text_sealed)
        .bind(at)
        .execute(&mut *tx.conn)
        .await?;
    Ok(())
}

/// Opens a pending change in the caller's transaction; returns its id.
pub(super) async fn open(tx: &mut Tx<'_>, c: &NewPendingChange) -> Result<i64> {
    // One change at a time per account: a new start ends the others.
    lock_account(tx.conn, &c.account_id).await?;
    sqlx::query("UPDATE pending_changes SET consumed_at = $1 WHERE account_id = $2 AND consumed_at IS NULL")
        .bind(c.created_at)
        .bind(&c.account_id)
        .execute(&mut *tx.conn)
        .await?;
    let cred = &c.credential;
    let person = cred.attestation.as_ref().map(|a| &a.person);
    let (appid, openid) = match &cred.app_openid {
        Some(o) => (Some(&o.appid), Some(&o.openid_sealed)),
        None => (None, None),
    };
    Ok(sqlx::query_scalar(
        "INSERT INTO pending_changes (account_id, session_id, kind, new_lookup_hash, new_value_sealed, new_display_sealed, \
         appid, new_openid_sealed, person_hash, person_name_sealed, person_id_sealed, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
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
    .fetch_one(&mut *tx.conn)
    .await?)
}
