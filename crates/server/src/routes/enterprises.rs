//! Enterprises: creating one, renaming it and setting its policy, listing
//! one's enterprises and an enterprise's members, leaving, removing,
//! freezing and approving members, giving roles, handing the ownership on,
//! and the enterprise's own log. An enterprise the caller is no member of
//! answers 404, exactly as one that does not exist; a member frozen or
//! suspended there may see it and leave, and nothing more.
//!
//! Each change is decided again, on the roles and policy as they stand, in
//! the transaction that makes it (`EnterpriseStore::change_member`): what
//! the handler checks first only picks the error a caller sees.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shiming_domain::{AccountState, ChangeRefused, EnterpriseName, MemberChange, PolicyPatch, Reason, Role};
use shiming_store::{
    AuditDraft, Changed, EnterpriseUpdate, MemberChangeRequest, MemberFilter, Membership, NewEnterprise, RateLimit,
};
use shiming_vault::random_hex;

use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::flows::members;
use crate::flows::rebind::require_step_up;
use crate::flows::security::FROZEN_REASON;
use crate::session::Authenticated;
use crate::state::AppState;

/// Members per page when the caller names no `limit`, and at most.
const PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

#[derive(Deserialize)]
pub struct NameBody {
    name: String,
}

/// Only an active account creates or administers enterprises.
pub(super) fn active(who: &Authenticated) -> ApiResult<()> {
    match who.state {
        AccountState::Active => Ok(()),
        other => Err(ApiError::AccountRestricted(other.as_str())),
    }
}

/// The caller's membership of the enterprise, suspended or not, or 404 as
/// for no enterprise: what a suspended member may still do is see it, and
/// leave.
async fn membership(state: &AppState, who: &Authenticated, id: &str) -> ApiResult<Membership> {
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
pub(super) async fn member_of(state: &AppState, who: &Authenticated, id: &str) -> ApiResult<Membership> {
    let m = membership(state, who, id).await?;
    m.seat().acts(&m.policy)?;
    Ok(m)
}

/// The caller's membership of the enterprise, to administer it: as
/// [`member_of`], and 403 `enterprise_admin_required` to a plain member.
pub(super) async fn admin_of(state: &AppState, who: &Authenticated, id: &str) -> ApiResult<Membership> {
    let m = member_of(state, who, id).await?;
    if !m.role.administers() {
        return Err(ApiError::EnterpriseAdminRequired);
    }
    Ok(m)
}

/// What the store decided of a change, as the caller's answer.
fn changed(outcome: Changed) -> ApiResult<()> {
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
pub(super) fn audit(kind: &'static str, who: &Authenticated, at: i64, enterprise_id: &str, extra: Value) -> AuditDraft {
    let mut details = json!({ "enterprise_id": enterprise_id });
    if let (Some(details), Value::Object(extra)) = (details.as_object_mut(), extra) {
        details.extend(extra);
    }
    AuditDraft::new(kind, &who.account_id, at, details)
}

/// The account's daily allowance of new enterprises.
fn creations(state: &AppState, who: &Authenticated, at: i64) -> RateLimit {
    RateLimit {
        bucket: "enterprise_create".into(),
        key: who.account_id.as_bytes().to_vec(),
        window: 86_400,
        limit: state.config.enterprises.creations_per_account_per_day,
        now: at,
    }
}

/// `POST /api/v1/enterprises` `{"name"}`: 201, the caller its owner.
pub async fn create(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<NameBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    active(&who)?;
    let name = EnterpriseName::parse(&body.name)?;
    let at = state.now();
    // Random, so that ids tell nothing of how many enterprises there are.
    let id = format!("ent_{}", random_hex(16));
    state
        .store
        .create_enterprise(NewEnterprise {
            id: id.clone(),
            name: name.as_str().to_owned(),
            owner: who.account_id.clone(),
            at,
            audit: audit("enterprise.created", &who, at, &id, Value::Null),
            limits: vec![creations(&state, &who, at)],
        })
        .await?;
    let created = member_of(&state, &who, &id).await?;
    Ok((StatusCode::CREATED, Json(members::membership(&created))))
}

/// `GET /api/v1/enterprises`: the caller's enterprises.
pub async fn list(State(state): State<AppState>, who: Authenticated) -> ApiResult<Json<Value>> {
    let all = state.store.memberships_of(&who.account_id).await?;
    Ok(Json(
        json!({ "enterprises": all.iter().map(members::membership).collect::<Vec<_>>() }),
    ))
}

/// `GET /api/v1/enterprises/{id}`.
pub async fn one(State(state): State<AppState>, who: Authenticated, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(members::membership(&membership(&state, &who, &id).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    name: Option<String>,
    #[serde(default)]
    policy: PolicyPatch,
}

/// `PATCH /api/v1/enterprises/{id}` `{"name"?, "policy"?}`: owner and
/// admins only.
pub async fn update(
    State(state): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateBody>,
) -> ApiResult<Json<Value>> {
    admin_of(&state, &who, &id).await?;
    active(&who)?;
    let name = body.name.as_deref().map(EnterpriseName::parse).transpose()?;
    if name.is_none() && body.policy.is_empty() {
        return Err(ApiError::InvalidRequest("give a name, a policy, or both".into()));
    }
    let at = state.now();
    let mut events = Vec::new();
    if name.is_some() {
        events.push(audit("enterprise.renamed", &who, at, &id, Value::Null));
    }
    if !body.policy.is_empty() {
        events.push(audit(
            "enterprise.policy_changed",
            &who,
            at,
            &id,
            json!({ "policy": body.policy }),
        ));
    }
    let update = EnterpriseUpdate {
        id: id.clone(),
        actor: who.account_id.clone(),
        name: name.map(|n| n.as_str().to_owned()),
        policy: body.policy,
        audit: events,
    };
    // The seat is checked again in the write's own transaction.
    changed(state.store.update_enterprise(update).await?)?;
    // Done: the membership as it now stands, whatever it now allows.
    Ok(Json(members::membership(&membership(&state, &who, &id).await?)))
}

/// Read as text, so that a bad value gets this service's typed error.
#[derive(Deserialize)]
pub struct PageQuery {
    limit: Option<String>,
    after: Option<String>,
    role: Option<String>,
    real_name: Option<String>,
    flag: Option<String>,
}

/// The members list's filters; those on what only admins see (real name,
/// flags) are theirs alone.
fn member_filter(q: &PageQuery, caller: &Membership) -> ApiResult<MemberFilter> {
    let filter = members::filter(q.role.as_deref(), q.real_name.as_deref(), q.flag.as_deref())?;
    if (filter.real_name.is_some() || filter.flag.is_some()) && !caller.role.administers() {
        return Err(ApiError::EnterpriseAdminRequired);
    }
    Ok(filter)
}

/// `GET /api/v1/enterprises/{id}/members?limit=&after=&role=&real_name=&flag=`:
/// members only; by the time they joined, a page at a time (`next` is the
/// `after` of the next page, or null on the last). Admins also see each
/// member's real-name status and name, masked, their account's nature and
/// state, and their flags, and filter by them.
pub async fn members(
    State(state): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let caller = member_of(&state, &who, &id).await?;
    let limit = page_limit(q.limit.as_deref())?;
    let after = q.after.as_deref().map(members::cursor).transpose()?;
    let filter = member_filter(&q, &caller)?;
    let page = state.store.members(&id, &filter, after.as_ref(), limit).await?;
    Ok(Json(members::members(
        &state.vault,
        caller.role.administers(),
        &page,
        limit,
    )?))
}

/// Makes `change` to `target`'s membership for the caller, or says why not.
async fn change(
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
fn someone_else(who: &Authenticated, account_id: &str) -> ApiResult<()> {
    if who.account_id == account_id {
        return Err(ApiError::InvalidRequest(
            "that is your own membership: leave with POST /api/v1/enterprises/{id}/leave".into(),
        ));
    }
    Ok(())
}

/// `POST /api/v1/enterprises/{id}/leave` (退出企业): refused to the owner,
/// and to everyone when the policy keeps members from leaving.
pub async fn leave(
    State(state): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    membership(&state, &who, &id).await?;
    let at = state.now();
    let event = audit("enterprise.left", &who, at, &id, Value::Null);
    change(&state, &who, &id, &who.account_id, MemberChange::Leave, None, event).await?;
    Ok(Json(json!({ "left": true })))
}

/// A change to another member's membership, audited as `kind` with the
/// member (and `extra`) in its details.
struct Act<'a> {
    change: MemberChange,
    reason: Option<&'a Reason>,
    kind: &'static str,
    extra: Value,
}

impl Act<'_> {
    fn plain(change: MemberChange, kind: &'static str) -> Act<'static> {
        Act {
            change,
            reason: None,
            kind,
            extra: Value::Null,
        }
    }
}

/// Makes the change `act` to another member's membership.
async fn act_on_member(
    state: &AppState,
    who: &Authenticated,
    id: &str,
    account_id: &str,
    act: Act<'_>,
) -> ApiResult<()> {
    member_of(state, who, id).await?;
    someone_else(who, account_id)?;
    active(who)?;
    let mut details = json!({ "member": account_id });
    if let (Some(d), Value::Object(extra)) = (details.as_object_mut(), act.extra) {
        d.extend(extra);
    }
    let event = audit(act.kind, who, state.now(), id, details);
    change(state, who, id, account_id, act.change, act.reason, event).await
}

/// `DELETE /api/v1/enterprises/{id}/members/{account_id}`: admins remove
/// members, the owner removes admins too.
pub async fn remove(
    State(state): State<AppState>,
    who: Authenticated,
    Path((id, account_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let act = Act::plain(MemberChange::Remove, "enterprise.member_removed");
    act_on_member(&state, &who, &id, &account_id, act).await?;
    Ok(Json(json!({ "removed": true })))
}

#[derive(Deserialize)]
pub struct RoleBody {
    role: String,
}

/// `PATCH /api/v1/enterprises/{id}/members/{account_id}` `{"role"}`: the
/// owner makes a member an admin or an admin a member.
pub async fn set_role(
    State(state): State<AppState>,
    who: Authenticated,
    Path((id, account_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<RoleBody>,
) -> ApiResult<Json<Value>> {
    // Who may, before what: an outsider learns nothing from a bad role.
    member_of(&state, &who, &id).await?;
    let role = match Role::parse(&body.role) {
        Some(role @ (Role::Admin | Role::Member)) => role,
        Some(Role::Owner) => return Err(ChangeRefused::OwnerByTransferOnly.into()),
        None => return Err(ApiError::InvalidRequest("role is admin or member".into())),
    };
    let act = Act {
        extra: json!({ "role": role }),
        ..Act::plain(MemberChange::SetRole(role), "enterprise.role_changed")
    };
    act_on_member(&state, &who, &id, &account_id, act).await?;
    Ok(Json(json!({ "account_id": account_id, "role": role })))
}

#[derive(Deserialize)]
pub struct TransferBody {
    account_id: String,
}

/// `POST /api/v1/enterprises/{id}/transfer` `{"account_id"}`: the owner
/// hands the ownership to another member and becomes an admin. It gives the
/// enterprise away, so it takes a step-up, as a rebind does.
pub async fn transfer(
    State(state): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TransferBody>,
) -> ApiResult<Json<Value>> {
    if member_of(&state, &who, &id).await?.role != Role::Owner {
        return Err(ApiError::EnterpriseOwnerRequired);
    }
    someone_else(&who, &body.account_id)?;
    active(&who)?;
    require_step_up(&state, &who)?;
    let at = state.now();
    let details = json!({ "member": body.account_id });
    let event = audit("enterprise.ownership_transferred", &who, at, &id, details);
    change(
        &state,
        &who,
        &id,
        &body.account_id,
        MemberChange::TransferOwnership,
        None,
        event,
    )
    .await?;
    // Done: the membership as it now stands, whatever it now allows.
    Ok(Json(members::membership(&membership(&state, &who, &id).await?)))
}

/// `POST /api/v1/enterprises/{id}/members/{account_id}/approve`: the owner
/// or an admin lifts the suspension a change of the member's real-name
/// person brought, and its flag.
pub async fn approve(
    State(state): State<AppState>,
    who: Authenticated,
    Path((id, account_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let act = Act::plain(MemberChange::Approve, "enterprise.member_approved");
    act_on_member(&state, &who, &id, &account_id, act).await?;
    Ok(Json(json!({ "approved": true })))
}

/// `{"reason"}`: why an admin freezes a member, or denies a rebind.
#[derive(Deserialize)]
pub struct ReasonBody {
    reason: String,
}

impl ReasonBody {
    pub(super) fn parse(&self) -> ApiResult<Reason> {
        Reason::parse(&self.reason).map_err(|e| ApiError::InvalidRequest(format!("reason: {e}")))
    }
}

/// `POST /api/v1/enterprises/{id}/members/{account_id}/freeze` `{"reason"}`:
/// the member keeps the account but loses access to the enterprise at once,
/// until unfrozen. As removal: admins freeze members, the owner admins too.
pub async fn freeze(
    State(state): State<AppState>,
    who: Authenticated,
    Path((id, account_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> ApiResult<Json<Value>> {
    member_of(&state, &who, &id).await?;
    let reason = body.parse()?;
    let act = Act {
        reason: Some(&reason),
        ..Act::plain(MemberChange::Freeze, "enterprise.member_frozen")
    };
    act_on_member(&state, &who, &id, &account_id, act).await?;
    Ok(Json(json!({ "frozen": true })))
}

/// `POST /api/v1/enterprises/{id}/members/{account_id}/unfreeze`.
pub async fn unfreeze(
    State(state): State<AppState>,
    who: Authenticated,
    Path((id, account_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let act = Act::plain(MemberChange::Unfreeze, "enterprise.member_unfrozen");
    act_on_member(&state, &who, &id, &account_id, act).await?;
    Ok(Json(json!({ "frozen": false })))
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

#[derive(Deserialize)]
pub struct AuditQuery {
    limit: Option<String>,
    before: Option<String>,
}

/// `GET /api/v1/enterprises/{id}/audit?limit=&before=`: the enterprise's own
/// events (every event whose details name it), newest first, a page at a
/// time; owner and admins only.
pub async fn audit_log(
    State(state): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Value>> {
    admin_of(&state, &who, &id).await?;
    let limit = page_limit(q.limit.as_deref())?;
    let before = q
        .before
        .as_deref()
        .map(|b| b.parse::<i64>())
        .transpose()
        .map_err(|_| ApiError::InvalidRequest("before is the `next` of an earlier page".into()))?;
    let page = state.store.enterprise_audit(&id, before, limit).await?;
    Ok(Json(members::events(&page, limit)))
}
