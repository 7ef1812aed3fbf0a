//! Account & Security: the view, real-name verification of the phone and of
//! the WeChat, sessions.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use shiming_domain::Person;

use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::flows::security::{self, SecurityView};
use crate::flows::{accounts, realname};
use crate::session::{self, Authenticated};
use crate::state::{rfc3339, AppState};

pub async fn security_view(State(state): State<AppState>, who: Authenticated) -> ApiResult<Json<SecurityView>> {
    let view = state
        .store
        .account_view(&who.account_id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    let sessions = session::live_sessions(&state, &who.account_id).await?.len();
    let wechat_realname = state.config.wechat.realname_mode();
    Ok(Json(security::build(&state.vault, &view, sessions, wechat_realname)?))
}

#[derive(Deserialize)]
pub struct RealNameBody {
    name: String,
    id_number: String,
    #[serde(default)]
    consent: bool,
}

pub async fn real_name_phone(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<RealNameBody>,
) -> ApiResult<Json<serde_json::Value>> {
    if !body.consent {
        return Err(ApiError::ConsentRequired);
    }
    let person = realname::parse_person(&state, &body.name, &body.id_number)?;
    let outcome = realname::verify_phone(&state, &who, person).await?;
    verified(&state, &who, outcome).await
}

/// A WeChat real-name check's request: the person, the consent, and the
/// mini program's two codes.
#[derive(Deserialize)]
pub struct WechatRealNameBody {
    #[serde(flatten)]
    person: RealNameBody,
    login_code: String,
    consent_code: String,
}

impl WechatRealNameBody {
    /// Validated: consent first, then the person, then the codes.
    pub fn parse(self, state: &AppState) -> ApiResult<(Person, realname::WechatProof)> {
        if !self.person.consent {
            return Err(ApiError::ConsentRequired);
        }
        let person = realname::parse_person(state, &self.person.name, &self.person.id_number)?;
        let code = |c: String, field: &str| {
            let c = c.trim().to_owned();
            if c.is_empty() || c.len() > 128 {
                return Err(ApiError::InvalidRequest(format!(
                    "{field}: the code the mini program got from WeChat (1 to 128 characters)"
                )));
            }
            Ok(c)
        };
        let proof = realname::WechatProof {
            login_code: code(self.login_code, "login_code")?,
            consent_code: code(self.consent_code, "consent_code")?,
        };
        Ok((person, proof))
    }
}

pub async fn real_name_wechat(
    State(state): State<AppState>,
    who: Authenticated,
    ApiJson(body): ApiJson<WechatRealNameBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let (person, proof) = body.parse(&state)?;
    let outcome = realname::verify_wechat(&state, &who, person, proof).await?;
    verified(&state, &who, outcome).await
}

/// The answer to a real-name verification: the outcome and the account's real name now.
async fn verified(
    state: &AppState,
    who: &Authenticated,
    outcome: realname::Outcome,
) -> ApiResult<Json<serde_json::Value>> {
    let view = state
        .store
        .account_view(&who.account_id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    let real_name = security::real_name_view(&state.vault, &view)?;
    Ok(Json(json!({ "outcome": outcome, "real_name": real_name })))
}

pub async fn sessions(State(state): State<AppState>, who: Authenticated) -> ApiResult<Json<serde_json::Value>> {
    let list: Vec<_> = session::live_sessions(&state, &who.account_id)
        .await?
        .into_iter()
        .map(|s| {
            json!({
                "id": s.id,
                "created_at": rfc3339(s.created_at),
                "last_seen_at": rfc3339(s.last_seen_at),
                "expires_at": rfc3339(s.expires_at),
                "user_agent": s.user_agent,
                "current": s.id == who.session_id,
            })
        })
        .collect();
    Ok(Json(json!({ "sessions": list })))
}

pub async fn revoke_session(
    State(state): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    if !accounts::revoke_session(&state, &who, &id).await? {
        return Err(ApiError::NotFound("session"));
    }
    Ok(Json(json!({ "revoked": 1, "current": id == who.session_id })))
}

pub async fn revoke_other_sessions(
    State(state): State<AppState>,
    who: Authenticated,
) -> ApiResult<Json<serde_json::Value>> {
    let revoked = accounts::revoke_other_sessions(&state, &who).await?;
    Ok(Json(json!({ "revoked": revoked })))
}

/// The account's notices, newest first: every bind, rebind and unbind, and
/// every first sign-in by a credential new to the account.
pub async fn notices(State(state): State<AppState>, who: Authenticated) -> ApiResult<Json<serde_json::Value>> {
    let list = state
        .store
        .account_notices(&who.account_id, 200)
        .await?
        .into_iter()
        .map(|n| security::account_notice_view(&state.vault, n))
        .collect::<ApiResult<Vec<_>>>()?;
    let unread = list.iter().filter(|n| !n.read).count();
    Ok(Json(json!({ "notices": list, "unread": unread })))
}

pub async fn read_notices(State(state): State<AppState>, who: Authenticated) -> ApiResult<Json<serde_json::Value>> {
    let read = state.store.read_notices(&who.account_id, state.now()).await?;
    Ok(Json(json!({ "read": read })))
}
