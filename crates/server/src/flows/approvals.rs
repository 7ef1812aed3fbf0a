//! Rebinds that wait for an enterprise's approval. Where the enterprise
//! that manages an account asks for it (policy `rebind_approval`), the
//! account's confirm of a rebind commits nothing: it asks for an admin's
//! approval, once per change, and the change stays open until then. An
//! admin approves it, which commits it as the member previewed it (the
//! store derives the outcome again, and checks the approver, in the commit's
//! own transaction), or denies it with a reason, which ends the change; the
//! member sees where it stands, and is told in their notices.

use serde_json::{json, Value};
use shiming_domain::{ApprovalState, CredentialKind};
use shiming_store::{ApprovalRecord, Approving, AuditDraft, Decided, Denial, NewApproval, PendingChange};
use shiming_vault::random_hex;

use super::enterprises::{self, active, admin_of};
use super::rebind::{commit, Committer, CredentialChange};
use super::security::{self, APPROVAL_REASON, DISPLAY_NAME};
use crate::error::{ApiError, ApiResult};
use crate::session::Authenticated;
use crate::state::{rfc3339, AppState};

/// Approvals shown per list.
const LIST: u32 = 100;

/// An approval as its member and the enterprise's admins see it: one still
/// pending that can no longer be approved (its change expired or ended, the
/// session that asked is gone, or the enterprise no longer manages the
/// account) is shown `expired`.
pub fn shown(state: &AppState, a: &ApprovalRecord) -> ApiResult<Value> {
    let expired = a.state == ApprovalState::Pending && !a.waits(state.liveness());
    let reason = a
        .reason_sealed
        .as_deref()
        .map(|r| state.vault.open_string(APPROVAL_REASON, r))
        .transpose()?;
    Ok(json!({
        "id": a.id,
        "enterprise_id": a.enterprise_id,
        "account_id": a.account_id,
        "display_name": display_name(state, a)?,
        "credential": a.kind,
        "state": if expired { "expired" } else { a.state.as_str() },
        "requested_at": rfc3339(a.requested_at),
        "expires_at": rfc3339(a.expires_at),
        "decided_at": a.decided_at.map(rfc3339),
        "reason": reason,
    }))
}

/// The name the enterprise knows the approval's member by, while a member.
pub fn display_name(state: &AppState, a: &ApprovalRecord) -> ApiResult<Option<String>> {
    Ok(a.display_name_sealed
        .as_deref()
        .map(|sealed| state.vault.open_string(DISPLAY_NAME, sealed))
        .transpose()?)
}

/// Asks the enterprise `enterprise_id`, which manages the caller's account,
/// to approve the session's proven change `pending`; the change waits for
/// it. The answer of `202 pending_approval`.
pub async fn ask(
    state: &AppState,
    who: &Authenticated,
    pending: &PendingChange,
    kind: CredentialKind,
    enterprise_id: &str,
) -> ApiResult<Value> {
    let at = state.now();
    let id = format!("rba_{}", random_hex(16));
    let details = json!({ "enterprise_id": enterprise_id, "approval_id": id, "credential": kind });
    let approval = NewApproval {
        id,
        enterprise_id: enterprise_id.to_owned(),
        account_id: who.account_id.clone(),
        session_id: who.session_id.clone(),
        pending_id: pending.id,
        kind,
        at,
        expires_at: at + state.config.enterprises.approval_ttl_secs,
        audit: AuditDraft::new("enterprise.rebind_approval_requested", &who.account_id, at, details),
    };
    let asked = match state.store.request_approval(approval).await {
        Ok(asked) => asked,
        Err(shiming_store::StoreError::Conflict(_)) => return Err(ApiError::FlowExpired),
        Err(e) => return Err(e.into()),
    };
    Ok(json!({ "state": "pending_approval", "approval": shown(state, &asked)? }))
}

/// The caller's approvals, newest first.
pub async fn mine(state: &AppState, who: &Authenticated) -> ApiResult<Value> {
    let all = state.store.approvals_of(&who.account_id, LIST).await?;
    let shown: Vec<Value> = all.iter().map(|a| shown(state, a)).collect::<ApiResult<_>>()?;
    Ok(json!({ "approvals": shown }))
}

/// The enterprise's approvals that still wait.
pub async fn open(state: &AppState, enterprise_id: &str) -> ApiResult<Value> {
    let all = waiting_list(state, enterprise_id).await?;
    let shown: Vec<Value> = all.iter().map(|a| shown(state, a)).collect::<ApiResult<_>>()?;
    Ok(json!({ "approvals": shown }))
}

/// The enterprise's approval `approval_id`, still waiting.
async fn waiting(state: &AppState, enterprise_id: &str, approval_id: &str) -> ApiResult<ApprovalRecord> {
    let a = state
        .store
        .approval(enterprise_id, approval_id)
        .await?
        .ok_or(ApiError::NotFound("approval"))?;
    match a.state {
        ApprovalState::Pending => Ok(a),
        closed => Err(ApiError::ApprovalClosed(closed.as_str())),
    }
}

/// The enterprise's approvals that still wait, oldest first.
pub async fn waiting_list(state: &AppState, enterprise_id: &str) -> ApiResult<Vec<ApprovalRecord>> {
    Ok(state
        .store
        .open_approvals(enterprise_id, state.liveness(), LIST)
        .await?)
}

/// The caller, active, administering the enterprise `enterprise_id`.
async fn deciding(state: &AppState, who: &Authenticated, enterprise_id: &str) -> ApiResult<()> {
    admin_of(state, who, enterprise_id).await?;
    active(who)
}

/// Approves the rebind `approval_id` of the enterprise: commits the
/// member's change as they previewed it. The caller must be active and
/// administer the enterprise (the commit's transaction checks it again).
pub async fn approve(
    state: &AppState,
    who: &Authenticated,
    enterprise_id: &str,
    approval_id: &str,
) -> ApiResult<Value> {
    deciding(state, who, enterprise_id).await?;
    let a = waiting(state, enterprise_id, approval_id).await?;
    if a.account_id == who.account_id {
        return Err(ApiError::OwnApproval);
    }
    let pending = state
        .store
        .pending_change(&a.account_id, &a.session_id, a.kind, state.now())
        .await?
        .filter(|p| Some(p.id) == a.pending_id)
        .ok_or(ApiError::FlowExpired)?;
    let proof = pending.proof.ok_or(ApiError::FlowExpired)?;
    let view = state
        .store
        .account_view(&a.account_id)
        .await?
        .ok_or(ApiError::FlowExpired)?;
    let live = state.liveness();
    let at = live.now;
    let details = json!({ "enterprise_id": a.enterprise_id, "approval_id": a.id, "member": a.account_id });
    let approving = Approving {
        approval_id: a.id.clone(),
        enterprise_id: a.enterprise_id.clone(),
        approver: who.account_id.clone(),
        seen_since: live.seen_since,
        audit: AuditDraft::new("enterprise.rebind_approved", &who.account_id, at, details),
    };
    let by = Committer {
        account_id: &a.account_id,
        keep_session: &a.session_id,
    };
    let change = CredentialChange {
        kind: a.kind,
        incoming: Some(pending.credential),
        pending_id: a.pending_id,
        expected: proof.expected,
    };
    commit(state, by, &view, change, Some(approving)).await?.done()?;
    Ok(json!({ "approved": true, "approval_id": a.id }))
}

/// Denies the rebind, for the reason `typed`: the member's change ends,
/// and they are told.
pub async fn deny(
    state: &AppState,
    who: &Authenticated,
    enterprise_id: &str,
    approval_id: &str,
    typed: &str,
) -> ApiResult<Value> {
    // Who may, before what: an outsider learns nothing from a bad reason.
    admin_of(state, who, enterprise_id).await?;
    let reason = enterprises::reason(typed)?;
    active(who)?;
    let a = waiting(state, enterprise_id, approval_id).await?;
    let at = state.now();
    let details = json!({ "enterprise_id": a.enterprise_id, "approval_id": a.id, "member": a.account_id });
    let named = match state
        .store
        .pending_change(&a.account_id, &a.session_id, a.kind, at)
        .await?
    {
        Some(p) => security::masked_credential(&state.vault, a.kind, &p.credential.value_sealed)?,
        None => String::new(),
    };
    let denial = Denial {
        approval_id: a.id.clone(),
        enterprise_id: a.enterprise_id.clone(),
        actor: who.account_id.clone(),
        reason_sealed: state.vault.seal(APPROVAL_REASON, reason.as_str().as_bytes()),
        at,
        audit: AuditDraft::new("enterprise.rebind_denied", &who.account_id, at, details),
        notice: security::account_notice(&state.vault, "rebind.denied", a.kind, &named),
    };
    let decided = match state.store.deny_approval(denial).await {
        // Decided by another meanwhile (the store rolled this one back).
        Err(shiming_store::StoreError::Conflict(_)) => return Err(ApiError::ApprovalClosed("decided")),
        decided => decided?,
    };
    match decided {
        Decided::Done => Ok(json!({ "denied": true, "approval_id": a.id })),
        Decided::ActorNotMember => Err(ApiError::NotFound("enterprise")),
        Decided::Refused(refused) => Err(refused.into()),
        Decided::NotFound => Err(ApiError::NotFound("approval")),
        Decided::Closed(closed) => Err(ApiError::ApprovalClosed(closed.as_str())),
        Decided::Gone => Err(ApiError::FlowExpired),
    }
}
