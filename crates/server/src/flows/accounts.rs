//! Signing in with a proven credential: finding its account or creating a
//! personal one, and opening a session on it.

use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use shiming_domain::{AccountState, CredentialKind, Nature};
use shiming_store::{AccountView, AuditDraft, NewAccount, NewCredential, SignedInWith, StoreError};
use shiming_vault::random_hex;

use super::security;
use crate::error::{ApiError, ApiResult};
use crate::session::{self, Authenticated};
use crate::state::AppState;

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
    let now = state.now();
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

/// The credential a sign-in proved: its first sign-in to an account it was
/// bound to later leaves the account a notice.
pub struct SignInProof {
    kind: CredentialKind,
    lookup_hash: Vec<u8>,
    masked: String,
}

impl SignInProof {
    pub fn of(state: &AppState, credential: &NewCredential) -> ApiResult<Self> {
        Ok(SignInProof {
            kind: credential.kind,
            lookup_hash: credential.lookup_hash.clone(),
            masked: security::masked_credential(&state.vault, credential.kind, &credential.value_sealed)?,
        })
    }
}

/// Opens a session on an active account: the JSON answer with the token and
/// the count of unread account notices, and the session cookie.
pub async fn sign_in(
    state: &AppState,
    account_id: &str,
    user_agent: Option<&str>,
    proof: SignInProof,
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
    let via = proof.kind.as_str();
    let signed_in_with = SignedInWith {
        notice: security::account_notice(&state.vault, "sign_in.new_credential", proof.kind, &proof.masked),
        lookup_hash: proof.lookup_hash,
    };
    let token = session::create(state, account_id, user_agent, via, signed_in_with).await?;
    metrics::counter!("shiming_logins_total", "via" => via).increment(1);
    let unread = state.store.unread_notices(account_id).await?;
    let mut resp = Json(json!({
        "token": token.as_str(),
        "account_id": account_id,
        "created": created,
        "notices_unread": unread,
    }))
    .into_response();
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
