use std::sync::LazyLock;

use async_trait::async_trait;

use super::enterprises::{lock_enterprise, standing_of};
use super::notices::insert_account_notice;
use super::{write, PgStore, Tx};
use crate::members::{approval_needed, refuse_approver, refuse_decided, refuse_unless_admin, APPROVE_REBIND, MANAGING};
use crate::rows::{self, APPROVAL_COLUMNS};
use crate::{ApprovalRecord, ApprovalStore, Decided, Denial, NewApproval, RebindCommit, Result, StoreError};

#[async_trait]
impl ApprovalStore for PgStore {
    async fn request_approval(&self, a: NewApproval) -> Result<ApprovalRecord> {
        let a = &a;
        write!(self, |tx| request(tx, a).await?)
    }

    async fn approval(&self, enterprise_id: &str, approval_id: &str) -> Result<Option<ApprovalRecord>> {
        static ONE: LazyLock<String> =
            LazyLock::new(|| format!("SELECT {APPROVAL_COLUMNS} WHERE r.enterprise_id = $1 AND r.id = $2"));
        let row = sqlx::query(ONE.as_str())
            .bind(enterprise_id)
            .bind(approval_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::approval).transpose()
    }

    async fn open_approvals(&self, enterprise_id: &str, now: i64, limit: u32) -> Result<Vec<ApprovalRecord>> {
        static OPEN: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {APPROVAL_COLUMNS} WHERE r.enterprise_id = $1 AND r.state = 'pending' \
                 AND p.consumed_at IS NULL AND p.expires_at > $2 ORDER BY r.requested_at, r.id LIMIT $3"
            )
        });
        let found = sqlx::query(OPEN.as_str())
            .bind(enterprise_id)
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        found.iter().map(rows::approval).collect()
    }

    async fn approvals_of(&self, account_id: &str, limit: u32) -> Result<Vec<ApprovalRecord>> {
        static OF: LazyLock<String> = LazyLock::new(|| {
            format!("SELECT {APPROVAL_COLUMNS} WHERE r.account_id = $1 ORDER BY r.requested_at DESC, r.id LIMIT $2")
        });
        let found = sqlx::query(OF.as_str())
            .bind(account_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        found.iter().map(rows::approval).collect()
    }

    async fn deny_approval(&self, d: Denial) -> Result<Decided> {
        let d = &d;
        write!(self, |tx| deny(tx, d).await?)
    }
}

async fn request(tx: &mut Tx<'_>, a: &NewApproval) -> Result<ApprovalRecord> {
    // Kept open for the approval; a change already used or gone has none.
    let kept = sqlx::query(
        "UPDATE pending_changes SET expires_at = GREATEST(expires_at, $1) \
         WHERE id = $2 AND account_id = $3 AND consumed_at IS NULL AND proven_at IS NOT NULL AND expires_at > $4",
    )
    .bind(a.expires_at)
    .bind(a.pending_id)
    .bind(&a.account_id)
    .bind(a.at)
    .execute(&mut *tx.conn)
    .await?
    .rows_affected();
    if kept != 1 {
        return Err(StoreError::Conflict("the pending change is used, expired or gone"));
    }
    let asked = sqlx::query(
        "INSERT INTO rebind_approvals (id, enterprise_id, account_id, pending_id, kind, state, requested_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', $6) ON CONFLICT (pending_id) DO NOTHING",
    )
    .bind(&a.id)
    .bind(&a.enterprise_id)
    .bind(&a.account_id)
    .bind(a.pending_id)
    .bind(a.kind.as_str())
    .bind(a.at)
    .execute(&mut *tx.conn)
    .await?
    .rows_affected();
    if asked == 1 {
        tx.audit(&a.audit);
    }
    static OF_CHANGE: LazyLock<String> = LazyLock::new(|| format!("SELECT {APPROVAL_COLUMNS} WHERE r.pending_id = $1"));
    let row = sqlx::query(OF_CHANGE.as_str())
        .bind(a.pending_id)
        .fetch_one(&mut *tx.conn)
        .await?;
    rows::approval(&row)
}

async fn deny(tx: &mut Tx<'_>, d: &Denial) -> Result<Decided> {
    lock_enterprise(tx, &d.enterprise_id).await?;
    let actor = standing_of(tx, &d.enterprise_id, &d.actor).await?;
    if let Some(refused) = refuse_unless_admin(actor.as_ref(), Decided::ActorNotMember, Decided::Refused) {
        return Ok(refused);
    }
    let found: Option<(String, i64, String)> = sqlx::query_as(
        "SELECT state, pending_id, account_id FROM rebind_approvals WHERE id = $1 AND enterprise_id = $2 FOR UPDATE",
    )
    .bind(&d.approval_id)
    .bind(&d.enterprise_id)
    .fetch_optional(&mut *tx.conn)
    .await?;
    let (state, pending_id, account_id) = match found {
        Some((state, pending_id, account_id)) => (Some(state), pending_id, account_id),
        None => (None, 0, String::new()),
    };
    if let Some(refused) = refuse_decided(state)? {
        return Ok(refused);
    }
    sqlx::query(
        "UPDATE rebind_approvals SET state = 'denied', decided_by = $1, decided_at = $2, reason_sealed = $3 \
         WHERE id = $4",
    )
    .bind(&d.actor)
    .bind(d.at)
    .bind(&d.reason_sealed)
    .bind(&d.approval_id)
    .execute(&mut *tx.conn)
    .await?;
    // The change it waited on ends: the member starts again, or not.
    sqlx::query("UPDATE pending_changes SET consumed_at = $1 WHERE id = $2 AND consumed_at IS NULL")
        .bind(d.at)
        .bind(pending_id)
        .execute(&mut *tx.conn)
        .await?;
    insert_account_notice(tx, &account_id, &d.notice, d.at).await?;
    tx.audit(&d.audit);
    Ok(Decided::Done)
}

/// In a commit's transaction: carries out its approval (the approver
/// administers the enterprise now, and the approval waits on the change the
/// commit uses up), or refuses a commit that waits for one.
pub(super) async fn settle_approval(tx: &mut Tx<'_>, c: &RebindCommit) -> Result<()> {
    if let Some(a) = &c.approval {
        // Not the enterprise's lock: the commit holds the account's, and a
        // change of members takes the two the other way round.
        if let Some(refused) = refuse_approver(standing_of(tx, &a.enterprise_id, &a.approver).await?.as_ref()) {
            return Err(refused);
        }
        let approved = sqlx::query(APPROVE_REBIND)
            .bind(&a.approver)
            .bind(c.at)
            .bind(&a.approval_id)
            .bind(&a.enterprise_id)
            .bind(c.pending_id)
            .execute(&mut *tx.conn)
            .await?
            .rows_affected();
        if approved != 1 {
            return Err(StoreError::Conflict("the approval is decided or gone"));
        }
        tx.audit(&a.audit);
        return Ok(());
    }
    let managing: Vec<(String, String)> = sqlx::query_as(MANAGING)
        .bind(&c.account_id)
        .fetch_all(&mut *tx.conn)
        .await?;
    match approval_needed(c, managing)? {
        Some(enterprise_id) => Err(StoreError::ApprovalRequired(enterprise_id)),
        None => Ok(()),
    }
}
