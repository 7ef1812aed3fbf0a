//! WeChat sign-in and binding: the OAuth round trip with a `state` that is
//! random, single use, short-lived and bound to the browser that started it
//! (a cookie), so there is no login CSRF and no replay.

use serde::Deserialize;
use shiming_domain::CredentialKind;
use shiming_providers::wechat::{AuthorizeMode, WechatProvider};
use shiming_store::{AppOpenid, NewAttestation, NewCredential, OAuthFlow, RateLimit};
use shiming_vault::{ct_eq, random_hex, sha256};

use super::security::{WECHAT_NICKNAME, WECHAT_OPENID, WECHAT_VALUE};
use crate::error::{ApiError, ApiResult};
use crate::session::{Authenticated, CookieName};
use crate::state::AppState;

/// The cookie binding a round trip to the browser that started it.
pub const BROWSER_COOKIE: CookieName = CookieName {
    plain: "shiming_oauth",
    host: "__Host-shiming_oauth",
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Sign in (or create an account) with WeChat.
    Login,
    /// Bind WeChat to the signed-in account, which has none.
    Bind,
    /// Prove a new WeChat identity to replace the bound one (after a step-up).
    Rebind,
    /// Re-authorize the bound WeChat identity: a step-up.
    StepUp,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Login => "login",
            Purpose::Bind => "bind",
            Purpose::Rebind => "rebind",
            Purpose::StepUp => "step_up",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        [Purpose::Login, Purpose::Bind, Purpose::Rebind, Purpose::StepUp]
            .into_iter()
            .find(|p| p.as_str() == word)
    }
}

pub struct Started {
    /// Where to send the browser.
    pub location: String,
    /// The browser id to keep in [`BROWSER_COOKIE`].
    pub browser: String,
}

fn provider(state: &AppState) -> ApiResult<&dyn WechatProvider> {
    state.wechat.as_deref().ok_or(ApiError::WechatNotConfigured)
}

/// A new browser id: random, with a keyed tag, so that only ids this service
/// issued are ever adopted.
fn new_browser_id(state: &AppState) -> String {
    let id = random_hex(32);
    let tag = hex::encode(state.vault.keyed_hash("oauth-browser", &id));
    format!("{id}.{tag}")
}

/// Whether this service issued the browser id. One planted by someone else
/// (a login-CSRF or fixation attempt) is replaced, never adopted.
fn issued_here(state: &AppState, browser: &str) -> bool {
    browser.split_once('.').is_some_and(|(id, tag)| {
        ct_eq(
            hex::encode(state.vault.keyed_hash("oauth-browser", id)).as_bytes(),
            tag.as_bytes(),
        )
    })
}

/// Starts a round trip. A `Bind` needs the signed-in account, which must not
/// have WeChat yet.
pub async fn start(
    state: &AppState,
    purpose: Purpose,
    who: Option<&Authenticated>,
    browser: Option<String>,
    client_ip: &str,
) -> ApiResult<Started> {
    let provider = provider(state)?;
    // Every purpose but sign-in serves the signed-in account, in this session.
    let who = match (purpose, who) {
        (Purpose::Login, _) => None,
        (_, None) => return Err(ApiError::Unauthenticated),
        (_, Some(who)) => Some(who),
    };
    if let Some(who) = who {
        let view = super::accounts::active_view(state, who).await?;
        let has_wechat = view.credential(CredentialKind::Wechat).is_some();
        match purpose {
            Purpose::Bind => {
                // A credential is a way in: binding one needs a step-up like rebinding.
                super::rebind::require_step_up(state, who)?;
                if has_wechat {
                    return Err(ApiError::AlreadyBound);
                }
            }
            Purpose::Rebind => {
                super::rebind::require_step_up(state, who)?;
                if !has_wechat {
                    return Err(ApiError::NoWechatBound);
                }
            }
            Purpose::StepUp if !has_wechat => {
                return Err(ApiError::StepUpUnavailable(
                    "this account has no WeChat: step up with a code to the bound phone; if that phone is lost, ask your enterprise admin or compliance to verify you",
                ))
            }
            _ => {}
        }
    }
    let account_id = who.map(|w| w.account_id.clone());
    let session_id = who.map(|w| w.session_id.clone());
    let browser = browser
        .filter(|b| issued_here(state, b))
        .unwrap_or_else(|| new_browser_id(state));
    let oauth_state = random_hex(32);
    let now = state.now();
    let cfg = &state.config.wechat;
    let flow = OAuthFlow {
        state_hash: sha256(oauth_state.as_bytes()).to_vec(),
        browser_hash: sha256(browser.as_bytes()).to_vec(),
        purpose: purpose.as_str().into(),
        account_id,
        session_id,
        created_at: now,
        expires_at: now + cfg.flow_ttl_secs,
    };
    let limit = RateLimit {
        bucket: "oauth_start_ip".into(),
        key: state.vault.keyed_hash("ip", client_ip).to_vec(),
        window: 3600,
        limit: cfg.starts_per_ip_per_hour,
        now,
    };
    state.store.create_oauth_flow(flow, &[limit]).await?;
    let redirect_uri = format!("{}/api/v1/wechat/callback", state.config.public_url());
    Ok(Started {
        location: provider.authorize_url(cfg.authorize_mode, &redirect_uri, &oauth_state),
        browser,
    })
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
}

/// What a finished round trip did.
pub enum Finished {
    /// Sign in with this WeChat credential (to its account, or a new one).
    SignIn(NewCredential),
    Bound,
    /// A rebind is ready to confirm: its preview.
    RebindReady(super::rebind::PreviewView),
    /// The session is stepped up until then.
    SteppedUp(i64),
}

/// Finishes a round trip. The state is checked (and used up) before WeChat is
/// asked anything, so a replayed or forged callback costs WeChat nothing.
pub async fn finish(
    state: &AppState,
    q: &CallbackQuery,
    browser: Option<&str>,
    who: Option<&Authenticated>,
) -> ApiResult<Finished> {
    let provider = provider(state)?;
    let (Some(oauth_state), Some(browser)) = (q.state.as_deref(), browser) else {
        return Err(ApiError::OAuthStateInvalid);
    };
    let flow = state
        .store
        .take_oauth_flow(
            &sha256(oauth_state.as_bytes()),
            &sha256(browser.as_bytes()),
            state.now(),
        )
        .await?
        .ok_or(ApiError::OAuthStateInvalid)?;
    let purpose = Purpose::parse(&flow.purpose).ok_or(ApiError::OAuthStateInvalid)?;
    // Every purpose but sign-in finishes only in the session (and account) that started it.
    let who = match purpose {
        Purpose::Login => None,
        _ => {
            let who = who.ok_or(ApiError::OAuthStateInvalid)?;
            let same_account = flow.account_id.as_deref() == Some(who.account_id.as_str());
            let same_session = flow.session_id.as_deref() == Some(who.session_id.as_str());
            if !same_account || !same_session {
                return Err(ApiError::OAuthStateInvalid);
            }
            Some(who)
        }
    };
    let code = q
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or(ApiError::WechatDenied)?;
    let credential = prove(state, provider, code).await?;
    match (purpose, who) {
        (Purpose::Login, _) => Ok(Finished::SignIn(credential)),
        (Purpose::Bind, Some(who)) => Ok(match super::rebind::bind_wechat(state, who, credential).await? {
            super::rebind::BindOutcome::Bound => Finished::Bound,
            super::rebind::BindOutcome::RebindReady(preview) => Finished::RebindReady(preview),
        }),
        (Purpose::Rebind, Some(who)) => Ok(Finished::RebindReady(
            super::rebind::wechat_proven(state, who, credential).await?,
        )),
        (Purpose::StepUp, Some(who)) => {
            super::accounts::active_view(state, who).await?;
            // Only the bound identity steps up; no other WeChat is linked to anything.
            let bound = state
                .store
                .account_by_credential(CredentialKind::Wechat, &credential.lookup_hash)
                .await?;
            if bound.as_deref() != Some(who.account_id.as_str()) {
                return Err(ApiError::WrongIdentity);
            }
            Ok(Finished::SteppedUp(
                super::rebind::grant_step_up(state, who, "wechat", None).await?,
            ))
        }
        (_, None) => Err(ApiError::OAuthStateInvalid),
    }
}

/// Exchanges the code and reads the identity and its real-name claim: the
/// credential to bind, sealed. Its key is the unionid (the openid only where
/// configured, for apps without one).
async fn prove(state: &AppState, provider: &dyn WechatProvider, code: &str) -> ApiResult<NewCredential> {
    let grant = provider.exchange_code(code).await?;
    let mut nickname = None;
    let mut unionid = grant.unionid.clone();
    if grant.scope != AuthorizeMode::InWechatBase.scope() {
        let info = provider.userinfo(&grant).await?;
        unionid = unionid.or(info.unionid);
        nickname = Some(info.nickname);
    }
    let key = match unionid {
        Some(u) => u,
        None if state.config.wechat.openid_fallback => grant.openid.clone(),
        None => {
            tracing::warn!("WeChat gave no unionid and openid_fallback is off");
            return Err(ApiError::WechatUnavailable);
        }
    };
    let claim = provider.real_name(&grant).await?;
    let attestation = match claim {
        Some(c) => {
            let person = match super::realname::parse_person(state, &c.name, &c.id_number) {
                Ok(person) => person,
                Err(_) => {
                    tracing::warn!("WeChat's real-name claim is not a valid name and ID number");
                    return Err(ApiError::WechatUnavailable);
                }
            };
            Some(NewAttestation {
                person: super::security::seal_person(&state.vault, &person),
                source: "wechat",
            })
        }
        None => None,
    };
    let appid = state.config.wechat.appid.clone().unwrap_or_default();
    Ok(NewCredential {
        kind: CredentialKind::Wechat,
        lookup_hash: state.vault.keyed_hash("wechat", &key).to_vec(),
        value_sealed: state.vault.seal(WECHAT_VALUE, key.as_bytes()),
        display_sealed: nickname.map(|n| state.vault.seal(WECHAT_NICKNAME, n.as_bytes())),
        attestation,
        app_openid: Some(AppOpenid {
            appid,
            openid_sealed: state.vault.seal(WECHAT_OPENID, grant.openid.as_bytes()),
        }),
    })
}
