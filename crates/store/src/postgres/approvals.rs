use std::sync::LazyLock;

use async_trait::async_trait;

use super::enterprises::{lock_enterprise, standing_of};
use super::notices::insert_account_notice;
use super::{write, PgStore, Tx};
use crate::members::{
    approval_needed, may_wait, refuse_approver, refuse_decided, refuse_unless_admin, APPROVAL_STILL_HOLDS,
    APPROVE_REBIND, MANAGES,
};
use crate::plan::MANAGING;
use crate::rows::{self, APPROVAL_COLUMNS, OPEN_APPROVALS};
use crate::{ApprovalRecord, ApprovalStore, Decided, Denial, Liveness, NewApproval, RebindCommit, Result, StoreError};

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

    async fn open_approvals(&self, enterprise_id: &str, live: Liveness, limit: u32) -> Result<Vec<ApprovalRecord>> {
        let found = sqlx::query(OPEN_APPROVALS.as_str())
            .bind(enterprise_id)
            .bind(live.now)
            .bind(live.seen_since)
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
    // Locked: a commit of the change waits for the request, or the other way round.
    let open: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM pending_changes WHERE id = $1 AND account_id = $2 AND session_id = $3 \
         AND consumed_at IS NULL AND proven_at IS NOT NULL AND expires_at > $4 FOR UPDATE",
    )
    .bind(a.pending_id)
    .bind(&a.account_id)
    .bind(&a.session_id)
    .bind(a.at)
    .fetch_optional(&mut *tx.conn)
    .await?;
    if open.is_none() {
        return Err(StoreError::Conflict("the pending change is used, expired or gone"));
    }
    let asked = sqlx::query(
        "INSERT INTO rebind_approvals (id, enterprise_id, account_id, session_id, pending_id, kind, state, \
         requested_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8) ON CONFLICT (pending_id) DO NOTHING",
    )
    .bind(&a.id)
    .bind(&a.enterprise_id)
    .bind(&a.account_id)
    .bind(&a.session_id)
    .bind(a.pending_id)
    .bind(a.kind.as_str())
    .bind(a.at)
    .bind(a.expires_at)
    .execute(&mut *tx.conn)
    .await?
    .rows_affected();
    // The first request keeps the change open for the approval; asking
    // again keeps it no longer.
    if asked == 1 {
        sqlx::query("UPDATE pending_changes SET expires_at = $1 WHERE id = $2")
            .bind(a.expires_at)
            .bind(a.pending_id)
            .execute(&mut *tx.conn)
            .await?;
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
    let found: Option<(String, Option<i64>, String)> = sqlx::query_as(
        "SELECT state, pending_id, account_id FROM rebind_approvals WHERE id = $1 AND enterprise_id = $2",
    )
    .bind(&d.approval_id)
    .bind(&d.enterprise_id)
    .fetch_optional(&mut *tx.conn)
    .await?;
    let (state, pending_id, account_id) = match found {
        Some((state, pending_id, account_id)) => (Some(state), pending_id, account_id),
        None => (None, None, String::new()),
    };
    if let Some(refused) = refuse_decided(state)? {
        return Ok(refused);
    }
    // An enterprise that no longer manages the account no longer decides
    // its changes, nor ends them.
    let managed: bool = sqlx::query_scalar(MANAGES)
        .bind(&d.enterprise_id)
        .bind(&account_id)
        .fetch_one(&mut *tx.conn)
        .await?;
    if !managed {
        return Ok(Decided::Gone);
    }
    // The change first, then the approval: the order a commit takes them
    // in. One that is gone already is denied no more.
    let ended = sqlx::query(
        "UPDATE pending_changes SET consumed_at = $1 WHERE id = $2 AND consumed_at IS NULL AND expires_at > $1",
    )
    .bind(d.at)
    .bind(pending_id)
    .execute(&mut *tx.conn)
    .await?
    .rows_affected();
    if ended != 1 {
        return Ok(Decided::Gone);
    }
    let denied = sqlx::query(
        "UPDATE rebind_approvals SET state = 'denied', decided_by = $1, decided_at = $2, reason_sealed = $3 \
         WHERE id = $4 AND state = 'pending'",
    )
    .bind(&d.actor)
    .bind(d.at)
    .bind(&d.reason_sealed)
    .bind(&d.approval_id)
    .execute(&mut *tx.conn)
    .await?
    .rows_affected();
    if denied != 1 {
        // Unreachable while the change is taken first (an approval commits
        // by using the change up); kept so a lost race rolls the end of the
        // change back. The server answers it `approval_closed`.
        return Err(StoreError::Conflict("the approval was decided meanwhile"));
    }
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
        let approver = standing_of(tx, &a.enterprise_id, &a.approver).await?;
        if let Some(refused) = refuse_approver(c, approver.as_ref()) {
            return Err(refused);
        }
        let holds: bool = sqlx::query_scalar(APPROVAL_STILL_HOLDS)
            .bind(&a.enterprise_id)
            .bind(&c.account_id)
            .bind(&c.keep_session)
            .bind(c.at)
            .bind(a.seen_since)
            .fetch_one(&mut *tx.conn)
            .await?;
        let approved = holds
            && sqlx::query(APPROVE_REBIND)
                .bind(&a.approver)
                .bind(c.at)
                .bind(&a.approval_id)
                .bind(&a.enterprise_id)
                .bind(c.pending_id)
                .bind(&c.keep_session)
                .execute(&mut *tx.conn)
                .await?
                .rows_affected()
                == 1;
        if !approved {
            return Err(StoreError::Conflict("the approval is decided or gone"));
        }
        tx.audit(&a.audit);
        return Ok(());
    }
    if !may_wait(c) {
        return Ok(());
    }
    let managing: Vec<(String, String)> = sqlx::query_as(MANAGING)
        .bind(&c.account_id)
        .fetch_all(&mut *tx.conn)
        .await?;
    match approval_needed(managing)? {
        Some(enterprise_id) => Err(StoreError::ApprovalRequired(enterprise_id)),
        None => Ok(()),
    }
}
