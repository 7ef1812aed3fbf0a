//! Invitations over HTTP: admins send, list and revoke an enterprise's;
//! the invitee sees, accepts or declines one by its code
//! (`flows::invitations` holds the rules).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shiming_domain::{DisplayName, Nature, Phone, Role};
use shiming_store::InvitationRecord;

use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::flows::enterprises::{active, admin_of, member_of};
use crate::flows::invitations::{self, masked_phone, parse_role, Added, Sent};
use crate::flows::members;
use crate::session::Authenticated;
use crate::state::{rfc3339, AppState};

/// Open invitations listed at most.
const LISTED: u32 = 200;

fn shown(state: &AppState, i: &InvitationRecord) -> ApiResult<Value> {
    Ok(json!({
        "id": i.id,
        "enterprise": { "id": i.enterprise_id, "name": i.enterprise_name },
        "phone": masked_phone(state, i)?,
        "role": i.role,
        "invited_by": i.invited_by,
        "created_at": rfc3339(i.created_at),
        "expires_at": rfc3339(i.expires_at),
        "state": i.state.at(i.expires_at, state.now()),
    }))
}

#[derive(Deserialize)]
pub struct InviteBody {
    phone: String,
    role: Option<String>,
    display_name: Option<String>,
}

fn display_name(raw: &str) -> ApiResult<DisplayName> {
    DisplayName::parse(raw).map_err(ApiError::InvalidDisplayName)
}

/// `POST /api/v1/enterprises/{id}/invitations` `{"phone", "role"?}`: 201,
/// with the code and link (shown this once); the phone gets them by text.
pub async fn invite(
    State(state): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<InviteBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let membership = admin_of(&state, &who, &id).await?;
    active(&who)?;
    let role = parse_role(body.role.as_deref())?;
    let phone = Phone::parse(&body.phone)?;
    let name = body.display_name.as_deref().map(display_name).transpose()?;
    let sent = invitations::invite(&state, &who, &membership, &phone, role, name.as_ref()).await?;
    Ok((StatusCode::CREATED, Json(with_code(&state, &sent)?)))
}

/// A sent invitation with its code and link, shown to its sender once.
fn with_code(state: &AppState, sent: &Sent) -> ApiResult<Value> {
    let mut answer = shown(state, &sent.invitation)?;
    answer["code"] = json!(sent.code);
    answer["link"] = json!(sent.link);
    Ok(answer)
}

#[derive(Deserialize)]
pub struct MemberBody {
    phone: String,
    display_name: String,
}

/// `POST /api/v1/enterprises/{id}/members` `{"phone", "display_name"}`:
/// 201 `{"outcome": "provisioned", "account_id", …}` for a number with no
/// account (an account of nature `enterprise`, managed by the enterprise),
/// or `{"outcome": "invited", "invitation": …}` for one that has an account.
pub async fn add_member(
    State(state): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MemberBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let membership = admin_of(&state, &who, &id).await?;
    active(&who)?;
    let phone = Phone::parse(&body.phone)?;
    let name = display_name(&body.display_name)?;
    let answer = match invitations::add_member(&state, &who, &membership, &phone, &name).await? {
        Added::Provisioned { account_id } => json!({
            "outcome": "provisioned",
            "account_id": account_id,
            "display_name": name.as_str(),
            "phone": phone.masked(),
            "role": Role::Member,
            "nature": Nature::Enterprise,
            "managed": true,
        }),
        Added::Invited(sent) => json!({ "outcome": "invited", "invitation": with_code(&state, &sent)? }),
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

/// `GET /api/v1/enterprises/{id}/invitations`: the open ones, newest first;
/// owner and admins only.
pub async fn list(State(state): State<AppState>, who: Authenticated, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    admin_of(&state, &who, &id).await?;
    let open = state.store.open_invitations(&id, state.now(), LISTED).await?;
    let shown: Vec<Value> = open.iter().map(|i| shown(&state, i)).collect::<ApiResult<_>>()?;
    Ok(Json(json!({ "invitations": shown })))
}

/// `DELETE /api/v1/enterprises/{id}/invitations/{invitation_id}`.
pub async fn revoke(
    State(state): State<AppState>,
    who: Authenticated,
    Path((id, invitation_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    admin_of(&state, &who, &id).await?;
    active(&who)?;
    invitations::revoke(&state, &who, &id, &invitation_id).await?;
    Ok(Json(json!({ "revoked": true })))
}

/// `GET /api/v1/invitations/{code}`: the invitation, to the holder of the
/// phone it was sent to.
pub async fn one(
    State(state): State<AppState>,
    who: Authenticated,
    Path(code): Path<String>,
) -> ApiResult<Json<Value>> {
    let found = invitations::for_me(&state, &who, &code).await?;
    Ok(Json(shown(&state, &found)?))
}

/// `POST /api/v1/invitations/{code}/accept`: the caller joins; the
/// enterprise as they now see it.
pub async fn accept(
    State(state): State<AppState>,
    who: Authenticated,
    Path(code): Path<String>,
) -> ApiResult<Json<Value>> {
    active(&who)?;
    let accepted = invitations::answer(&state, &who, &code, true).await?;
    Ok(Json(members::membership(
        &member_of(&state, &who, &accepted.enterprise_id).await?,
    )))
}

/// `POST /api/v1/invitations/{code}/decline`.
pub async fn decline(
    State(state): State<AppState>,
    who: Authenticated,
    Path(code): Path<String>,
) -> ApiResult<Json<Value>> {
    invitations::answer(&state, &who, &code, false).await?;
    Ok(Json(json!({ "declined": true })))
}
