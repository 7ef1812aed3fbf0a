//! Step-up, changing the bound phone, and the account's own audit trail.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use shiming_domain::{CredentialKind, Phone};

use super::account::WechatRealNameBody;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientIp};
use crate::flows::approvals;
use crate::flows::codes::Sent;
use crate::flows::realname::parse_person;
use crate::flows::rebind::{self, Confirmed, PreviewView, StartPhoneChange};
use crate::session::Authenticated;
use crate::state::{rfc3339, AppState};

/// A confirm's answer: `200` committed, or `202` with `"state":
/// "pending_approval"` where the managing enterprise approves it first.
fn confirmed(c: Confirmed) -> (StatusCode, Json<serde_json::Value>) {
    match c {
        Confirmed::Committed(done) => (StatusCode::OK, Json(done)),
        Confirmed::PendingApproval(asked) => (StatusCode::ACCEPTED, Json(asked)),
    }
}

/// `GET /api/v1/account/rebind-approvals`: the caller's rebinds that
/// waited, or wait, for an enterprise's approval, newest first.
pub async fn approvals(State(state): State<AppState>, who: Authenticated) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(approvals::mine(&state, &who).await?))
}

fn accepted(sent: Sent) -> Response {
    (
        StatusCode::ACCEPTED,
        Json(json!({ "expires_in": sent.expires_in, "resend_after": sent.resend_after })),
    )
        .into_response()
}

pub async fn step_up_sms(
    State(state): State<AppState>,
    who: Authenticated,
    ClientIp(ip): ClientIp,
) -> ApiResult<Response> {
    Ok(accepted(rebind::step_up_send(&state, &who, &ip.to_string()).await?))
}

#[derive(Deserialize)]
pub struct CodeBody {
    code: String,
}

pub async fn step_up_verify(
    State(state): State<AppState>,
    who: Authenticated,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let until = rebind::step_up_verify(&state, &who, &body.code, &ip.to_string()).await?;
    Ok(Json(json!({ "step_up_until": rfc3339(until) })))
}

#[derive(Deserialize)]
pub struct PhoneChangeBody {
    new_phone: String,
    name: Option<String>,
    id_number: Option<String>,
    #[serde(default)]
    consent: bool,
}

pub async fn phone_change(
    State(state): State<AppState>,
    who: Authenticated,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<PhoneChangeBody>,
) -> ApiResult<Response> {
    // Permission first: nothing about the new phone is looked at without a step-up.
    rebind::require_step_up(&state, &who)?;
    if !body.consent {
        return Err(ApiError::ConsentRequired);
    }
    let new_phone = Phone::parse(&body.new_phone)?;
    let person = match (body.name.as_deref(), body.id_number.as_deref()) {
        (Some(name), Some(id)) => Some(parse_person(&state, name, id)?),
        (None, None) => None,
        _ => return Err(ApiError::PersonIncomplete),
    };
    let sent =
        rebind::phone_change_start(&state, &who, StartPhoneChange { new_phone, person }, &ip.to_string()).await?;
    Ok(accepted(sent))
}

pub async fn phone_change_verify(
    State(state): State<AppState>,
    who: Authenticated,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Json<PreviewView>> {
    Ok(Json(
        rebind::phone_change_verify(&state, &who, &body.code, &ip.to_string()).await?,
    ))
}

#[derive(Deserialize)]
pub struct ConfirmBody {
    #[serde(default)]
    accept_consequences: bool,
}

pub async fn phone_change_confirm(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<ConfirmBody>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    Ok(confirmed(
        rebind::confirm(&state, &who, CredentialKind::Phone, body.accept_consequences).await?,
    ))
}

/// The preview of the session's proven phone change: what its confirm commits.
pub async fn phone_change_preview(State(state): State<AppState>, who: Authenticated) -> ApiResult<Json<PreviewView>> {
    Ok(Json(
        rebind::pending_preview(&state, &who, CredentialKind::Phone).await?,
    ))
}

/// The preview of the session's proven WeChat rebind (or bind of another person).
pub async fn wechat_rebind_preview(State(state): State<AppState>, who: Authenticated) -> ApiResult<Json<PreviewView>> {
    Ok(Json(
        rebind::pending_preview(&state, &who, CredentialKind::Wechat).await?,
    ))
}

/// The new WeChat's real name, checked by WeChat (`city_service`): the
/// preview taken again.
pub async fn wechat_rebind_real_name(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<WechatRealNameBody>,
) -> ApiResult<Json<PreviewView>> {
    let (person, proof) = body.parse(&state)?;
    Ok(Json(
        rebind::wechat_rebind_real_name(&state, &who, person, proof).await?,
    ))
}

pub async fn wechat_rebind_confirm(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<ConfirmBody>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    Ok(confirmed(
        rebind::confirm(&state, &who, CredentialKind::Wechat, body.accept_consequences).await?,
    ))
}

/// What unbinding WeChat would do: the preview its confirm commits.
pub async fn wechat_unbind_preview(State(state): State<AppState>, who: Authenticated) -> ApiResult<Json<PreviewView>> {
    Ok(Json(rebind::unbind_preview(&state, &who).await?))
}

pub async fn wechat_unbind(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<ConfirmBody>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        rebind::unbind_wechat(&state, &who, body.accept_consequences).await?,
    ))
}

/// The account's own audit events, newest first: kinds, times and details
/// that hold ids and keyed hashes, never personal data.
pub async fn audit(State(state): State<AppState>, who: Authenticated) -> ApiResult<Json<serde_json::Value>> {
    let events: Vec<_> = state
        .store
        .audit_of(&who.account_id, 200)
        .await?
        .into_iter()
        .map(|e| json!({ "seq": e.seq, "type": e.kind, "at": rfc3339(e.at), "details": e.details }))
        .collect();
    Ok(Json(json!({ "events": events })))
}
