//! Phone sign-in ("验证码登录即注册"), sign-out and whoami.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use shiming_domain::{CodePurpose, Phone, SmsCode};

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientIp};
use crate::flows::{accounts, codes};
use crate::session::{self, Authenticated};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct SendBody {
    phone: String,
    purpose: CodePurpose,
}

pub async fn sms_send(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<SendBody>,
) -> ApiResult<Response> {
    // Codes for other purposes are sent by their own flows, to the phones they concern.
    if body.purpose != CodePurpose::Login {
        return Err(ApiError::InvalidRequest("purpose must be \"login\" here".into()));
    }
    let phone = Phone::parse(&body.phone)?;
    let sent = codes::send(&state, &phone, body.purpose, None, &ip.to_string(), None).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "expires_in": sent.expires_in, "resend_after": sent.resend_after })),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct LoginBody {
    phone: String,
    code: String,
}

pub async fn login_phone(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<Response> {
    let phone = Phone::parse(&body.phone)?;
    let code = SmsCode::parse(&body.code)?;
    accounts::sign_in_by_phone(&state, &phone, &code, &ip.to_string(), &headers).await
}

pub async fn logout(State(state): State<AppState>, who: Authenticated) -> ApiResult<Response> {
    accounts::sign_out(&state, &who, "logout").await?;
    let mut resp = Json(json!({ "signed_out": true })).into_response();
    resp.headers_mut().insert(SET_COOKIE, session::removal_cookie(&state));
    Ok(resp)
}

pub async fn whoami(who: Authenticated) -> Json<serde_json::Value> {
    Json(json!({ "account_id": who.account_id, "nature": who.nature, "state": who.state }))
}
