//! Acting in an enterprise, for the API and the pages alike: who the caller
//! is there (an enterprise the caller is no member of is not found, exactly
//! as one that does not exist; a member frozen or suspended there may see it
//! and leave, and nothing more), and the changes admins make to members.
//!
//! Each change is decided again, on the roles and policy as they stand, in
//! the transaction that makes it (`EnterpriseStore::change_member`): what is
//! checked here first only picks the error a caller sees.

use serde_json::{json, Value};
use shiming_domain::{AccountState, MemberChange, Reason};
use shiming_store::{AuditDraft, AuditRecord, Changed, MemberChangeRequest, MemberFilter, MemberRecord, Membership};

use super::members;
use super::security::FROZEN_REASON;
use crate::error::{ApiError, ApiResult};
use crate::session::Authenticated;
use crate::state::AppState;

/// Members or events per page when the caller names no `limit`, and at most.
const PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

/// Only an active account creates or administers enterprises.
pub fn active(who: &Authenticated) -> ApiResult<()> {
    match who.state {
        AccountState::Active => Ok(()),
        other => Err(ApiError::AccountRestricted(other.as_str())),
    }
}

/// The caller's membership of the enterprise, suspended or not, or 404 as
/// for no enterprise: what a suspended member may still do is see it, and
/// leave.
pub async fn membership(state: &AppState, who: &Authenticated, id: &str) -> ApiResult<Membership> {
    state
        .store
        .membership(id, &who.account_id)
        .await?
        .ok_or(ApiError::NotFound("enterprise"))
}

/// The caller's membership of the enterprise, to act in it: 404 as for no
/// enterprise, 403 while frozen or suspended there, or short of the real
/// name its policy asks for (the store decides all this again when it
/// writes).
pub async fn member_of(state: &AppState, who: &Authenticated, id: &str) -> ApiResult<Membership> {
    let m = membership(state, who, id).await?;
    m.seat().acts(&m.policy)?;
    Ok(m)
}

/// The caller's membership of the enterprise, to administer it: as
/// [`member_of`], and 403 `enterprise_admin_required` to a plain member.
pub async fn admin_of(state: &AppState, who: &Authenticated, id: &str) -> ApiResult<Membership> {
    let m = member_of(state, who, id).await?;
    if !m.role.administers() {
        return Err(ApiError::EnterpriseAdminRequired);
    }
    Ok(m)
}

/// What the store decided of a change, as the caller's answer.
pub fn changed(outcome: Changed) -> ApiResult<()> {
    match outcome {
        Changed::Done => Ok(()),
        // Left or removed meanwhile.
        Changed::ActorNotMember => Err(ApiError::NotFound("enterprise")),
        Changed::TargetNotMember => Err(ApiError::NotFound("member")),
        Changed::Refused(refused) => Err(refused.into()),
    }
}

/// An event of the caller's, about the enterprise; `extra` adds to its
/// details (the member acted on, the role given).
pub fn audit(kind: &'static str, who: &Authenticated, at: i64, enterprise_id: &str, extra: Value) -> AuditDraft {
    let mut details = json!({ "enterprise_id": enterprise_id });
    if let (Some(details), Value::Object(extra)) = (details.as_object_mut(), extra) {
        details.extend(extra);
    }
    AuditDraft::new(kind, &who.account_id, at, details)
}

/// Makes `change` to `target`'s membership for the caller, or says why not.
pub async fn change(
    state: &AppState,
    who: &Authenticated,
    id: &str,
    target: &str,
    change: MemberChange,
    reason: Option<&Reason>,
    audit: AuditDraft,
) -> ApiResult<()> {
    let request = MemberChangeRequest {
        enterprise_id: id.to_owned(),
        actor: who.account_id.clone(),
        target: target.to_owned(),
        change,
        reason_sealed: reason.map(|r| state.vault.seal(FROZEN_REASON, r.as_str().as_bytes())),
        audit,
    };
    changed(state.store.change_member(request).await?)
}

/// A member acted on is someone else: one's own membership ends by leaving.
pub fn someone_else(who: &Authenticated, account_id: &str) -> ApiResult<()> {
    if who.account_id == account_id {
        return Err(ApiError::InvalidRequest(
            "that is your own membership: leave with POST /api/v1/enterprises/{id}/leave".into(),
        ));
    }
    Ok(())
}

/// A change to another member's membership, audited as `kind` with the
/// member (and `extra`) in its details.
pub struct Act<'a> {
    pub change: MemberChange,
    /// Why, as typed (a freeze's reason), read once the caller is known to
    /// be a member: an outsider learns nothing from a bad one.
    pub reason: Option<&'a str>,
    pub kind: &'static str,
    pub extra: Value,
}

impl Act<'_> {
    pub fn plain(change: MemberChange, kind: &'static str) -> Act<'static> {
        Act {
            change,
            reason: None,
            kind,
            extra: Value::Null,
        }
    }
}

/// Makes the change `act` to another member's membership.
pub async fn act_on_member(
    state: &AppState,
    who: &Authenticated,
    id: &str,
    account_id: &str,
    act: Act<'_>,
) -> ApiResult<()> {
    member_of(state, who, id).await?;
    let reason = act.reason.map(reason).transpose()?;
    someone_else(who, account_id)?;
    active(who)?;
    let mut details = json!({ "member": account_id });
    if let (Some(d), Value::Object(extra)) = (details.as_object_mut(), act.extra) {
        d.extend(extra);
    }
    let event = audit(act.kind, who, state.now(), id, details);
    change(state, who, id, account_id, act.change, reason.as_ref(), event).await
}

/// A page's `limit`: 1 to 200, 50 when not given.
fn page_limit(raw: Option<&str>) -> ApiResult<u32> {
    match raw {
        None => Ok(PAGE),
        Some(text) => text
            .parse()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| ApiError::InvalidRequest(format!("limit is a number from 1 to {MAX_PAGE}"))),
    }
}

/// The members list's filters, from their words (role, real name, flag);
/// those on what only admins see (real name, flags) are theirs alone.
fn member_filter(words: [Option<&str>; 3], caller: &Membership) -> ApiResult<MemberFilter> {
    let [role, real_name, flag] = words;
    let filter = members::filter(role, real_name, flag)?;
    if (filter.real_name.is_some() || filter.flag.is_some()) && !caller.role.administers() {
        return Err(ApiError::EnterpriseAdminRequired);
    }
    Ok(filter)
}

/// What a page of members asks for, as typed: its `limit` and `after`, and
/// the words of its filters (role, real name, flag).
pub struct PageAsked<'a> {
    pub limit: Option<&'a str>,
    pub after: Option<&'a str>,
    pub words: [Option<&'a str>; 3],
}

/// A page of the enterprise's members, for a member: the caller's
/// membership (whether they administer it says what they see), the page,
/// and its limit.
pub async fn members_page(
    state: &AppState,
    who: &Authenticated,
    id: &str,
    asked: PageAsked<'_>,
) -> ApiResult<(Membership, Vec<MemberRecord>, u32)> {
    let caller = member_of(state, who, id).await?;
    let limit = page_limit(asked.limit)?;
    let after = asked.after.map(members::cursor).transpose()?;
    let filter = member_filter(asked.words, &caller)?;
    let page = state.store.members(id, &filter, after.as_ref(), limit).await?;
    Ok((caller, page, limit))
}

/// A page of the enterprise's own events (every event whose details name
/// it), newest first, before the `before` of an earlier page; owner and
/// admins only. The page, and its limit.
pub async fn audit_page(
    state: &AppState,
    who: &Authenticated,
    id: &str,
    limit: Option<&str>,
    before: Option<&str>,
) -> ApiResult<(Vec<AuditRecord>, u32)> {
    admin_of(state, who, id).await?;
    let limit = page_limit(limit)?;
    let before = before
        .map(|b| b.parse::<i64>())
        .transpose()
        .map_err(|_| ApiError::InvalidRequest("before is the `next` of an earlier page".into()))?;
    Ok((state.store.enterprise_audit(id, before, limit).await?, limit))
}

/// Why an admin freezes a member, or denies a rebind, as typed.
pub fn reason(typed: &str) -> ApiResult<Reason> {
    Reason::parse(typed).map_err(|e| ApiError::InvalidRequest(format!("reason: {e}")))
}

/// Freezes another member, for the reason `typed`: they keep the account
/// but lose access to the enterprise at once, until unfrozen. Admins freeze
/// members, the owner admins too.
pub async fn freeze(state: &AppState, who: &Authenticated, id: &str, account_id: &str, typed: &str) -> ApiResult<()> {
    let act = Act {
        reason: Some(typed),
        ..Act::plain(MemberChange::Freeze, "enterprise.member_frozen")
    };
    act_on_member(state, who, id, account_id, act).await
}

/// Unfreezes another member.
pub async fn unfreeze(state: &AppState, who: &Authenticated, id: &str, account_id: &str) -> ApiResult<()> {
    let act = Act::plain(MemberChange::Unfreeze, "enterprise.member_unfrozen");
    act_on_member(state, who, id, account_id, act).await
}

/// Lifts the suspension a change of the member's real-name person brought,
/// and its flag.
pub async fn approve(state: &AppState, who: &Authenticated, id: &str, account_id: &str) -> ApiResult<()> {
    let act = Act::plain(MemberChange::Approve, "enterprise.member_approved");
    act_on_member(state, who, id, account_id, act).await
}
