//! Signing in with a proven credential: finding its account or creating a
//! personal one, and opening a session on it, in one store transaction.

use axum::http::header::{SET_COOKIE, USER_AGENT};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use shiming_domain::{AccountState, CodePurpose, Nature, Phone, SmsCode};
use shiming_store::{
    AccountView, AuditDraft, CodeTry, NewAccount, NewCredential, SignIn, SignInAccount, SignedIn, SignedInWith,
};
use shiming_vault::ordered_hex;

use super::security;
use crate::error::{ApiError, ApiResult};
use crate::session::{self, Authenticated};
use crate::state::AppState;

/// How a sign-in proved its credential.
pub enum Proof {
    /// A code sent to the phone, tried and used up by the sign-in's commit.
    Phone(CodeTry),
    /// A WeChat round trip, finished already.
    Wechat,
}

/// Signs in with a proven credential, in one store transaction: the code is
/// used up, the credential's account is found (or a personal one created
/// holding it, where registration is open) and, when it is active, a
/// session opened. Answers the token, the account, whether it was created
/// and the count of unread account notices, with the session cookie.
pub async fn sign_in(
    state: &AppState,
    credential: NewCredential,
    proof: Proof,
    user_agent: Option<&str>,
) -> ApiResult<Response> {
    let open = state.config.registration.open;
    let (via, code, create, no_account) = match proof {
        Proof::Phone(code) => ("phone", Some(code), open, ApiError::RegistrationClosed),
        Proof::Wechat if state.config.wechat.create_accounts => ("wechat", None, open, ApiError::RegistrationClosed),
        Proof::Wechat => ("wechat", None, false, ApiError::WechatNotBound),
    };
    let kind = credential.kind;
    let masked = security::masked_credential(&state.vault, kind, &credential.value_sealed)?;
    let signed_in_with = SignedInWith {
        notice: security::account_notice(&state.vault, "sign_in.new_credential", kind, &masked),
        lookup_hash: credential.lookup_hash.clone(),
    };
    let now = state.now();
    let create = create.then(|| new_account(&credential, via, Nature::Personal, now));
    let (token, session) = session::new(state, user_agent, signed_in_with);
    let signed_in = state
        .store
        .sign_in(SignIn {
            code,
            account: SignInAccount::ByCredential {
                credential: Box::new(credential),
                create,
            },
            session,
            via,
        })
        .await?;
    let (account_id, created, unread) = match signed_in {
        SignedIn::Opened {
            account_id,
            created,
            unread,
        } => (account_id, created, unread),
        SignedIn::CodeRefused(tried) => return Err(super::codes::refusal(state, None, tried)),
        SignedIn::NoAccount => return Err(no_account),
        SignedIn::Restricted(s) => return Err(ApiError::AccountRestricted(s.as_str())),
    };
    metrics::counter!("shiming_logins_total", "via" => via).increment(1);
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

/// A new account of `nature` to be created holding `credential`, with its
/// `account.created` audit event (`via`: how it came: `phone`, `wechat`,
/// `seed`, or the enterprise that provisioned it).
pub fn new_account(credential: &NewCredential, via: &str, nature: Nature, now: i64) -> NewAccount {
    let id = format!("acc_{}", ordered_hex(now));
    let details = json!({
        "via": via,
        "credential": credential.kind.as_str(),
        "lookup_hash": hex::encode(&credential.lookup_hash),
        "attested": credential.attestation.is_some(),
        "nature": nature.as_str(),
    });
    NewAccount {
        audit: AuditDraft::new("account.created", &id, now, details),
        id,
        nature,
    }
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

/// Ends the caller's own session, audited as revoked `by` (`logout`).
pub async fn sign_out(state: &AppState, who: &Authenticated, by: &str) -> ApiResult<()> {
    let audit = AuditDraft::new(
        "session.revoked",
        &who.account_id,
        state.now(),
        json!({ "session_id": who.session_id, "by": by }),
    );
    state
        .store
        .revoke_session(&who.account_id, &who.session_id, audit)
        .await?;
    Ok(())
}

/// Signs in with a phone and the code texted to it (from `client_ip`): the
/// code is tried in the sign-in's own commit. The answer carries the token
/// and sets the session cookie.
pub async fn sign_in_by_phone(
    state: &AppState,
    phone: &Phone,
    code: &SmsCode,
    client_ip: &str,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let code = super::codes::code_try(state, phone, CodePurpose::Login, None, code, client_ip, Vec::new());
    let credential = security::phone_credential(&state.vault, phone);
    let user_agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
    sign_in(state, credential, Proof::Phone(code), user_agent).await
}

/// Ends one of the account's sessions (`by` the account itself); false when
/// the id is no live session of the account.
pub async fn revoke_session(state: &AppState, who: &Authenticated, id: &str) -> ApiResult<bool> {
    let audit = AuditDraft::new(
        "session.revoked",
        &who.account_id,
        state.now(),
        json!({ "session_id": id, "by": "account" }),
    );
    Ok(state.store.revoke_session(&who.account_id, id, audit).await?)
}

/// Ends every session of the account but the caller's; how many ended.
pub async fn revoke_other_sessions(state: &AppState, who: &Authenticated) -> ApiResult<u64> {
    let audit = AuditDraft::new(
        "sessions.revoked_others",
        &who.account_id,
        state.now(),
        json!({ "kept": who.session_id }),
    );
    Ok(state
        .store
        .revoke_other_sessions(&who.account_id, &who.session_id, audit)
        .await?)
}
