use std::sync::LazyLock;

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::enterprises::standing_of;
use super::notices::insert_account_notice;
use super::worker::Tx;
use super::{append_audit, SqliteStore};
use crate::members::{
    approval_needed, may_wait, refuse_approver, refuse_decided, refuse_unless_admin, APPROVAL_STILL_HOLDS,
    APPROVE_REBIND, MANAGES,
};
use crate::plan::MANAGING;
use crate::rows::{self, APPROVAL_COLUMNS, OPEN_APPROVALS};
use crate::{ApprovalRecord, ApprovalStore, Decided, Denial, Liveness, NewApproval, RebindCommit, Result, StoreError};

static ONE: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {APPROVAL_COLUMNS} WHERE r.enterprise_id = ? AND r.id = ?"));

#[async_trait]
impl ApprovalStore for SqliteStore {
    async fn request_approval(&self, a: NewApproval) -> Result<ApprovalRecord> {
        self.db
            .write(move |tx| {
                let open: bool = tx
                    .conn
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM pending_changes WHERE id = ? AND account_id = ? \
                         AND session_id = ? AND consumed_at IS NULL AND proven_at IS NOT NULL AND expires_at > ?)",
                    )?
                    .query_row(params![a.pending_id, a.account_id, a.session_id, a.at], |r| r.get(0))?;
                if !open {
                    return Err(StoreError::Conflict("the pending change is used, expired or gone"));
                }
                let asked = tx
                    .conn
                    .prepare_cached(
                        "INSERT INTO rebind_approvals (id, enterprise_id, account_id, session_id, pending_id, kind, \
                         state, requested_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?) \
                         ON CONFLICT (pending_id) DO NOTHING",
                    )?
                    .execute(params![
                        a.id,
                        a.enterprise_id,
                        a.account_id,
                        a.session_id,
                        a.pending_id,
                        a.kind.as_str(),
                        a.at,
                        a.expires_at
                    ])?;
                // The first request keeps the change open for the approval;
                // asking again keeps it no longer.
                if asked == 1 {
                    tx.conn
                        .prepare_cached("UPDATE pending_changes SET expires_at = ? WHERE id = ?")?
                        .execute(params![a.expires_at, a.pending_id])?;
                    append_audit(tx, &a.audit)?;
                }
                static OF_CHANGE: LazyLock<String> =
                    LazyLock::new(|| format!("SELECT {APPROVAL_COLUMNS} WHERE r.pending_id = ?"));
                tx.conn
                    .prepare_cached(OF_CHANGE.as_str())?
                    .query_row([a.pending_id], |r| Ok(rows::approval(r)))?
            })
            .await
    }

    async fn approval(&self, enterprise_id: &str, approval_id: &str) -> Result<Option<ApprovalRecord>> {
        self.db.read(|conn| {
            conn.prepare_cached(ONE.as_str())?
                .query_row([enterprise_id, approval_id], |r| Ok(rows::approval(r)))
                .optional()?
                .transpose()
        })
    }

    async fn open_approvals(&self, enterprise_id: &str, live: Liveness, limit: u32) -> Result<Vec<ApprovalRecord>> {
        self.db.read(|conn| {
            let mut stmt = conn.prepare_cached(OPEN_APPROVALS.as_str())?;
            let found = stmt.query_map(params![enterprise_id, live.now, live.seen_since, limit], |r| {
                Ok(rows::approval(r))
            })?;
            found.map(|r| r?).collect()
        })
    }

    async fn approvals_of(&self, account_id: &str, limit: u32) -> Result<Vec<ApprovalRecord>> {
        static OF: LazyLock<String> = LazyLock::new(|| {
            format!("SELECT {APPROVAL_COLUMNS} WHERE r.account_id = ? ORDER BY r.requested_at DESC, r.id LIMIT ?")
        });
        self.db.read(|conn| {
            let mut stmt = conn.prepare_cached(OF.as_str())?;
            let found = stmt.query_map(params![account_id, limit], |r| Ok(rows::approval(r)))?;
            found.map(|r| r?).collect()
        })
    }

    async fn deny_approval(&self, d: Denial) -> Result<Decided> {
        self.db
            .write(move |tx| {
                let actor = standing_of(tx, &d.enterprise_id, &d.actor)?;
                if let Some(refused) = refuse_unless_admin(actor.as_ref(), Decided::ActorNotMember, Decided::Refused) {
                    return Ok(refused);
                }
                let found: Option<(String, Option<i64>, String)> = tx
                    .conn
                    .prepare_cached(
                        "SELECT state, pending_id, account_id FROM rebind_approvals WHERE id = ? AND enterprise_id = ?",
                    )?
                    .query_row([&d.approval_id, &d.enterprise_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()?;
                let (state, pending_id, account_id) = match found {
                    Some((state, pending_id, account_id)) => (Some(state), pending_id, account_id),
                    None => (None, None, String::new()),
                };
                if let Some(refused) = refuse_decided(state)? {
                    return Ok(refused);
                }
                // An enterprise that no longer manages the account no longer
                // decides its changes, nor ends them.
                let managed: bool = tx
                    .conn
                    .prepare_cached(MANAGES)?
                    .query_row([&d.enterprise_id, &account_id], |r| r.get(0))?;
                if !managed {
                    return Ok(Decided::Gone);
                }
                // The change it waited on ends, as a commit would use it up:
                // one that is gone already is denied no more.
                let ended = tx
                    .conn
                    .prepare_cached(
                        "UPDATE pending_changes SET consumed_at = ?1 WHERE id = ?2 AND consumed_at IS NULL \
                         AND expires_at > ?1",
                    )?
                    .execute(params![d.at, pending_id])?;
                if ended != 1 {
                    return Ok(Decided::Gone);
                }
                tx.conn
                    .prepare_cached(
                        "UPDATE rebind_approvals SET state = 'denied', decided_by = ?, decided_at = ?, reason_sealed = ? \
                         WHERE id = ?",
                    )?
                    .execute(params![d.actor, d.at, d.reason_sealed, d.approval_id])?;
                insert_account_notice(tx, &account_id, &d.notice, d.at)?;
                append_audit(tx, &d.audit)?;
                Ok(Decided::Done)
            })
            .await
    }
}

/// In a commit's transaction: carries out its approval (the approver
/// administers the enterprise now, and the approval waits on the change the
/// commit uses up), or refuses a commit that waits for one.
pub(super) fn settle_approval(tx: &Tx<'_>, c: &RebindCommit) -> Result<()> {
    if let Some(a) = &c.approval {
        if let Some(refused) = refuse_approver(c, standing_of(tx, &a.enterprise_id, &a.approver)?.as_ref()) {
            return Err(refused);
        }
        let holds: bool = tx.conn.prepare_cached(APPROVAL_STILL_HOLDS)?.query_row(
            params![a.enterprise_id, c.account_id, c.keep_session, c.at, a.seen_since],
            |r| r.get(0),
        )?;
        let approved = holds
            && tx.conn.prepare_cached(APPROVE_REBIND)?.execute(params![
                a.approver,
                c.at,
                a.approval_id,
                a.enterprise_id,
                c.pending_id,
                c.keep_session
            ])? == 1;
        if !approved {
            return Err(StoreError::Conflict("the approval is decided or gone"));
        }
        return append_audit(tx, &a.audit);
    }
    if !may_wait(c) {
        return Ok(());
    }
    let mut stmt = tx.conn.prepare_cached(MANAGING)?;
    let managing = stmt
        .query_map([&c.account_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    match approval_needed(managing)? {
        Some(enterprise_id) => Err(StoreError::ApprovalRequired(enterprise_id)),
        None => Ok(()),
    }
}
