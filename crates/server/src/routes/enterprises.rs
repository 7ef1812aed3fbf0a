//! Enterprises: creating one, renaming it and setting its policy, listing
//! one's enterprises and an enterprise's members, leaving, removing,
//! freezing and approving members, giving roles, handing the ownership on,
//! and the enterprise's own log. An enterprise the caller is no member of
//! answers 404, exactly as one that does not exist; a member frozen or
//! suspended there may see it and leave, and nothing more.
//!
//! The rules of who may act, and the changes to members, are
//! `flows::enterprises`, which the pages share.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shiming_domain::{ChangeRefused, EnterpriseName, MemberChange, PolicyPatch, Role};
use shiming_store::{EnterpriseUpdate, NewEnterprise, RateLimit};
use shiming_vault::random_hex;

use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::flows::enterprises::{
    self, act_on_member, active, admin_of, audit, change, changed, member_of, membership, someone_else, Act, PageAsked,
};
use crate::flows::members;
use crate::flows::rebind::require_step_up;
use crate::session::Authenticated;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct NameBody {
    name: String,
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
    let asked = PageAsked {
        limit: q.limit.as_deref(),
        after: q.after.as_deref(),
        words: [q.role.as_deref(), q.real_name.as_deref(), q.flag.as_deref()],
    };
    let (caller, page, limit) = enterprises::members_page(&state, &who, &id, asked).await?;
    Ok(Json(members::members(
        &state.vault,
        caller.role.administers(),
        &page,
        limit,
    )?))
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
    enterprises::approve(&state, &who, &id, &account_id).await?;
    Ok(Json(json!({ "approved": true })))
}

/// `{"reason"}`: why an admin freezes a member, or denies a rebind.
#[derive(Deserialize)]
pub struct ReasonBody {
    pub(super) reason: String,
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
    enterprises::freeze(&state, &who, &id, &account_id, &body.reason).await?;
    Ok(Json(json!({ "frozen": true })))
}

/// `POST /api/v1/enterprises/{id}/members/{account_id}/unfreeze`.
pub async fn unfreeze(
    State(state): State<AppState>,
    who: Authenticated,
    Path((id, account_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    enterprises::unfreeze(&state, &who, &id, &account_id).await?;
    Ok(Json(json!({ "frozen": false })))
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
    let (page, limit) = enterprises::audit_page(&state, &who, &id, q.limit.as_deref(), q.before.as_deref()).await?;
    Ok(Json(members::events(&page, limit)))
}
