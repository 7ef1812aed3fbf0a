//! Enterprises: creating one, renaming it, listing one's enterprises and an
//! enterprise's members, and leaving. An enterprise the caller is no member
//! of answers 404, exactly as one that does not exist.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shiming_domain::{AccountState, EnterpriseName};
use shiming_store::{AuditDraft, Left, MemberCursor, Membership, NewEnterprise};
use shiming_vault::random_hex;

use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::session::Authenticated;
use crate::state::{rfc3339, AppState};

/// Members per page when the caller names no `limit`, and at most.
const PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

#[derive(Deserialize)]
pub struct NameBody {
    name: String,
}

fn shown(m: &Membership) -> Value {
    json!({
        "id": m.enterprise_id,
        "name": m.name,
        "role": m.role,
        "created_at": rfc3339(m.created_at),
        "joined_at": rfc3339(m.joined_at),
    })
}

/// Only an active account creates or administers enterprises.
fn active(who: &Authenticated) -> ApiResult<()> {
    match who.state {
        AccountState::Active => Ok(()),
        other => Err(ApiError::AccountRestricted(other.as_str())),
    }
}

/// The caller's membership of the enterprise, or 404 as for no enterprise.
async fn member_of(state: &AppState, who: &Authenticated, id: &str) -> ApiResult<Membership> {
    state
        .store
        .membership(id, &who.account_id)
        .await?
        .ok_or(ApiError::NotFound("enterprise"))
}

fn audit(kind: &'static str, who: &Authenticated, at: i64, enterprise_id: &str) -> AuditDraft {
    AuditDraft::new(kind, &who.account_id, at, json!({ "enterprise_id": enterprise_id }))
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
            audit: audit("enterprise.created", &who, at, &id),
        })
        .await?;
    let created = member_of(&state, &who, &id).await?;
    Ok((StatusCode::CREATED, Json(shown(&created))))
}

/// `GET /api/v1/enterprises`: the caller's enterprises.
pub async fn list(State(state): State<AppState>, who: Authenticated) -> ApiResult<Json<Value>> {
    let all = state.store.memberships_of(&who.account_id).await?;
    Ok(Json(
        json!({ "enterprises": all.iter().map(shown).collect::<Vec<_>>() }),
    ))
}

/// `GET /api/v1/enterprises/{id}`.
pub async fn one(State(state): State<AppState>, who: Authenticated, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(shown(&member_of(&state, &who, &id).await?)))
}

/// `PATCH /api/v1/enterprises/{id}` `{"name"}`: owner and admins only.
pub async fn rename(
    State(state): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NameBody>,
) -> ApiResult<Json<Value>> {
    let membership = member_of(&state, &who, &id).await?;
    if !membership.role.administers() {
        return Err(ApiError::EnterpriseAdminRequired);
    }
    active(&who)?;
    let name = EnterpriseName::parse(&body.name)?;
    let at = state.now();
    let audit = audit("enterprise.renamed", &who, at, &id);
    // The role is checked again in the write's own transaction.
    if !state
        .store
        .rename_enterprise(&id, &who.account_id, name.as_str(), audit)
        .await?
    {
        return Err(ApiError::EnterpriseAdminRequired);
    }
    Ok(Json(shown(&member_of(&state, &who, &id).await?)))
}

/// Read as text, so that a bad value gets this service's typed error.
#[derive(Deserialize)]
pub struct PageQuery {
    limit: Option<String>,
    after: Option<String>,
}

/// `GET /api/v1/enterprises/{id}/members?limit=&after=`: members only; by
/// the time they joined, a page at a time (`next` is the `after` of the next
/// page, or null on the last).
pub async fn members(
    State(state): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    member_of(&state, &who, &id).await?;
    let limit = match q.limit.as_deref() {
        None => PAGE,
        Some(text) => text
            .parse()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| ApiError::InvalidRequest(format!("limit is a number from 1 to {MAX_PAGE}")))?,
    };
    let after = q.after.as_deref().map(cursor).transpose()?;
    let page = state.store.members(&id, after.as_ref(), limit).await?;
    let next = (page.len() == limit as usize)
        .then(|| page.last().map(|m| format!("{}.{}", m.joined_at, m.account_id)))
        .flatten();
    let members: Vec<Value> = page
        .iter()
        .map(|m| {
            json!({
                "account_id": m.account_id,
                "role": m.role,
                "joined_at": rfc3339(m.joined_at),
                "nature": m.account_nature,
                "state": m.account_state,
            })
        })
        .collect();
    Ok(Json(json!({ "members": members, "next": next })))
}

/// A page cursor: `<joined_at>.<account_id>`, as `next` gave it.
fn cursor(text: &str) -> ApiResult<MemberCursor> {
    let bad = || ApiError::InvalidRequest("after is the `next` of an earlier page".into());
    let (joined_at, account_id) = text.split_once('.').ok_or_else(bad)?;
    Ok(MemberCursor {
        joined_at: joined_at.parse().map_err(|_| bad())?,
        account_id: account_id.to_owned(),
    })
}

/// `POST /api/v1/enterprises/{id}/leave` (退出企业).
pub async fn leave(
    State(state): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    member_of(&state, &who, &id).await?;
    let at = state.now();
    match state
        .store
        .leave_enterprise(&id, &who.account_id, audit("enterprise.left", &who, at, &id))
        .await?
    {
        Left::Left => Ok(Json(json!({ "left": true }))),
        // Left meanwhile (another request of the same account).
        Left::NotMember => Err(ApiError::NotFound("enterprise")),
        Left::OwnerMustTransfer => Err(ApiError::OwnerMustTransfer),
    }
}
