//! Signing in with a proven credential: finding its account or creating a
//! personal one, and opening a session on it.

use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use shiming_domain::{AccountState, Nature};
use shiming_store::{AccountView, AuditDraft, NewAccount, NewCredential, StoreError};
use shiming_vault::random_hex;

use crate::error::{ApiError, ApiResult};
use crate::session::{self, Authenticated};
use crate::state::{now, AppState};

/// The account `credential` is bound to, or a new personal account holding it
/// when registration is open; the flag says whether it was created.
pub async fn find_or_create(
    state: &AppState,
    credential: NewCredential,
    via: &'static str,
) -> ApiResult<(String, bool)> {
    let kind = credential.kind;
    let lookup_hash = credential.lookup_hash.clone();
    if let Some(id) = state.store.account_by_credential(kind, &lookup_hash).await? {
        return Ok((id, false));
    }
    if !state.config.registration.open {
        return Err(ApiError::RegistrationClosed);
    }
    let id = format!("acc_{}", random_hex(16));
    let now = now();
    let details = json!({
        "via": via,
        "credential": kind.as_str(),
        "lookup_hash": hex::encode(&lookup_hash),
        "attested": credential.attestation.is_some(),
        "nature": Nature::Personal.as_str(),
    });
    let account = NewAccount {
        id: id.clone(),
        nature: Nature::Personal,
        audit: AuditDraft::new("account.created", &id, now, details),
    };
    match state.store.create_account(account, credential, now).await {
        Ok(()) => Ok((id, true)),
        // A parallel first sign-in with the same credential created it.
        Err(StoreError::CredentialInUse) => state
            .store
            .account_by_credential(kind, &lookup_hash)
            .await?
            .map(|id| (id, false))
            .ok_or_else(|| ApiError::Internal("credential in use but unbound".into())),
        Err(e) => Err(e.into()),
    }
}

/// Opens a session on an active account: the JSON answer with the token, and
/// the session cookie.
pub async fn sign_in(
    state: &AppState,
    account_id: &str,
    user_agent: Option<&str>,
    via: &'static str,
    created: bool,
) -> ApiResult<Response> {
    let view = state
        .store
        .account_view(account_id)
        .await?
        .ok_or_else(|| ApiError::Internal("account vanished".into()))?;
    if view.state != AccountState::Active {
        return Err(ApiError::AccountRestricted(view.state.as_str()));
    }
    let token = session::create(state, account_id, user_agent, via).await?;
    metrics::counter!("shiming_logins_total", "via" => via).increment(1);
    let mut resp =
        Json(json!({ "token": token.as_str(), "account_id": account_id, "created": created })).into_response();
    resp.headers_mut().insert(SET_COOKIE, session::cookie(state, &token));
    Ok(resp)
}

/// The signed-in account, which must be `active` to change anything.
pub async fn active_view(state: &AppState, who: &Authenticated) -> ApiResult<AccountView> {
    let view = state
        .store
        .account_view(&who.account_id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    if view.state != AccountState::Active {
        return Err(ApiError::AccountRestricted(view.state.as_str()));
    }
    Ok(view)
}
