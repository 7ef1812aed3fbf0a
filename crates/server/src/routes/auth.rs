//! Phone sign-in ("验证码登录即注册"), sign-out and whoami.

use axum::extract::State;
use axum::http::header::{SET_COOKIE, USER_AGENT};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use shiming_domain::{AccountState, CodePurpose, CredentialKind, Nature, Phone, SmsCode};
use shiming_store::{AuditDraft, NewAccount, NewCredential, StoreError};
use shiming_vault::random_hex;

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ClientIp};
use crate::flows::codes;
use crate::flows::security::PHONE_VALUE;
use crate::session::{self, Authenticated};
use crate::state::{now, AppState};

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
    let phone = Phone::parse(&body.phone)?;
    let sent = codes::send(&state, &phone, body.purpose, &ip.to_string()).await?;
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
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<Response> {
    let phone = Phone::parse(&body.phone)?;
    let code = SmsCode::parse(&body.code)?;
    codes::check(&state, &phone, CodePurpose::Login, &code).await?;

    let account_id = account_for_phone(&state, &phone).await?;
    let view = state
        .store
        .account_view(&account_id)
        .await?
        .ok_or_else(|| ApiError::Internal("account vanished".into()))?;
    if view.state != AccountState::Active {
        return Err(ApiError::AccountRestricted(view.state.as_str()));
    }
    let user_agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
    let token = session::create(&state, &account_id, user_agent, "phone").await?;
    metrics::counter!("shiming_logins_total", "via" => "phone").increment(1);
    let mut resp = Json(json!({ "token": token.as_str(), "account_id": account_id })).into_response();
    resp.headers_mut().insert(SET_COOKIE, session::cookie(&state, &token));
    Ok(resp)
}

/// The account the phone is bound to, created (personal) when there is none
/// and registration is open.
async fn account_for_phone(state: &AppState, phone: &Phone) -> ApiResult<String> {
    let lookup_hash = state.vault.keyed_hash("phone", phone.e164()).to_vec();
    if let Some(id) = state
        .store
        .account_by_credential(CredentialKind::Phone, &lookup_hash)
        .await?
    {
        return Ok(id);
    }
    if !state.config.registration.open {
        return Err(ApiError::RegistrationClosed);
    }
    let id = format!("acc_{}", random_hex(16));
    let now = now();
    let account = NewAccount {
        id: id.clone(),
        nature: Nature::Personal,
        audit: AuditDraft::new(
            "account.created",
            &id,
            now,
            json!({ "via": "phone", "phone_hash": hex::encode(&lookup_hash), "nature": "personal" }),
        ),
    };
    let credential = NewCredential {
        kind: CredentialKind::Phone,
        lookup_hash: lookup_hash.clone(),
        value_sealed: state.vault.seal(PHONE_VALUE, phone.e164().as_bytes()),
    };
    match state.store.create_account(account, credential, now).await {
        Ok(()) => Ok(id),
        // A parallel first sign-in with the same number created it.
        Err(StoreError::CredentialInUse) => state
            .store
            .account_by_credential(CredentialKind::Phone, &lookup_hash)
            .await?
            .ok_or_else(|| ApiError::Internal("credential in use but unbound".into())),
        Err(e) => Err(e.into()),
    }
}

pub async fn logout(State(state): State<AppState>, who: Authenticated) -> ApiResult<Response> {
    let audit = AuditDraft::new(
        "session.revoked",
        &who.account_id,
        now(),
        json!({ "session_id": who.session_id, "by": "logout" }),
    );
    state
        .store
        .revoke_session(&who.account_id, &who.session_id, audit)
        .await?;
    let mut resp = Json(json!({ "signed_out": true })).into_response();
    resp.headers_mut().insert(SET_COOKIE, session::removal_cookie(&state));
    Ok(resp)
}

pub async fn whoami(who: Authenticated) -> Json<serde_json::Value> {
    Json(json!({ "account_id": who.account_id, "nature": who.nature, "state": who.state }))
}
