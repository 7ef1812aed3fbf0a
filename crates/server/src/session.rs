//! Sessions: creation, the session check every request makes, cookies, and
//! the batched recording of last-seen times.
//!
//! The check asks the store by the token's SHA-256: the store answers from
//! its cache of validated sessions, which every write that changes a
//! session's answer invalidates at once (`shiming_store::SessionCache`), or
//! with one indexed lookup. Last-seen is sent (at most once per
//! `touch_interval` per session) down a bounded channel to a task that
//! writes it in batches, so requests never wait on a write.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use cookie::{Cookie, SameSite};
use shiming_domain::{AccountState, Nature};
use shiming_store::{NewSession, SessionRecord, SignedInWith, Store};
use shiming_vault::{ordered_hex, SessionToken};
use tokio::sync::mpsc;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// A cookie's name, plain (development over HTTP) and with the `__Host-`
/// prefix it takes whenever cookies are `Secure`, so that browsers accept it
/// only from this host, over HTTPS, for every path, and no sibling domain can
/// plant one. Both are fixed here, so the session check builds no name.
#[derive(Debug, Clone, Copy)]
pub struct CookieName {
    pub plain: &'static str,
    pub host: &'static str,
}

impl CookieName {
    fn on_wire(self, state: &AppState) -> &'static str {
        if state.config.cookie_secure() {
            self.host
        } else {
            self.plain
        }
    }
}

pub const COOKIE_NAME: CookieName = CookieName {
    plain: "shiming_session",
    host: "__Host-shiming_session",
};

/// The signed-in caller, as the session check found it.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub session_id: String,
    pub account_id: String,
    pub nature: Nature,
    pub state: AccountState,
    /// Until when a step-up privileges this session.
    pub step_up_until: Option<i64>,
}

/// For handlers that serve signed-in and anonymous callers alike.
impl OptionalFromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, ApiError> {
        match presented_token(parts, state) {
            Some(token) => lookup(state, &token).await,
            None => Ok(None),
        }
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = presented_token(parts, state).ok_or(ApiError::Unauthenticated)?;
        lookup(state, &token).await?.ok_or(ApiError::Unauthenticated)
    }
}

/// The token from `Authorization: Bearer`, else from the session cookie.
fn presented_token(parts: &Parts, state: &AppState) -> Option<String> {
    if let Some(bearer) = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_owned());
    }
    cookie_value(state, &parts.headers, COOKIE_NAME)
}

/// The value of a request cookie.
pub fn cookie_value(state: &AppState, headers: &HeaderMap, name: CookieName) -> Option<String> {
    let name = name.on_wire(state);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// The session check.
pub async fn lookup(state: &AppState, token: &str) -> ApiResult<Option<Authenticated>> {
    let Some(s) = state.store.session_by_token(&SessionToken::hash_of(token)).await? else {
        return Ok(None);
    };
    let live = state.liveness();
    let now = live.now;
    if !live.holds(s.expires_at, s.last_seen_at)
        || matches!(s.account_state, AccountState::Banned | AccountState::Deleted)
    {
        return Ok(None);
    }
    if now - s.last_seen_at >= state.config.sessions.touch_interval_secs {
        state.seen.record(&s.id, now);
    }
    Ok(Some(Authenticated {
        session_id: s.id,
        account_id: s.account_id,
        nature: s.account_nature,
        state: s.account_state,
        step_up_until: s.step_up_until,
    }))
}

/// The account's sessions that still work, newest first.
pub async fn live_sessions(state: &AppState, account_id: &str) -> ApiResult<Vec<SessionRecord>> {
    let live = state.liveness();
    let mut all = state.store.sessions_of(account_id).await?;
    all.retain(|s| live.holds(s.expires_at, s.last_seen_at));
    Ok(all)
}

/// A new session to open (by the store's sign-in), and its token, shown once.
pub fn new(state: &AppState, user_agent: Option<&str>, signed_in_with: SignedInWith) -> (SessionToken, NewSession) {
    let token = SessionToken::generate();
    let now = state.now();
    let session = NewSession {
        id: format!("ses_{}", ordered_hex(now)),
        token_hash: SessionToken::hash_of(token.as_str()),
        user_agent: user_agent.map(|ua| ua.chars().take(256).collect()),
        created_at: now,
        expires_at: now + state.config.sessions.absolute_timeout_secs,
        signed_in_with: Some(signed_in_with),
    };
    (token, session)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, path `/`, and Secure (with
/// the `__Host-` prefix) outside dev.
pub fn set_cookie(state: &AppState, name: CookieName, value: &str, max_age_secs: i64) -> HeaderValue {
    let c = Cookie::build((name.on_wire(state), value.to_owned()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.cookie_secure())
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build();
    HeaderValue::from_str(&c.to_string()).expect("cookie values here are base64url or hex")
}

/// The `Set-Cookie` value carrying a new session.
pub fn cookie(state: &AppState, token: &SessionToken) -> HeaderValue {
    set_cookie(
        state,
        COOKIE_NAME,
        token.as_str(),
        state.config.sessions.absolute_timeout_secs,
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn removal_cookie(state: &AppState) -> HeaderValue {
    set_cookie(state, COOKIE_NAME, "", 0)
}

/// Hands last-seen times to the batch writer without waiting.
#[derive(Clone)]
pub struct SeenRecorder(mpsc::Sender<(String, i64)>);

impl SeenRecorder {
    fn record(&self, session_id: &str, at: i64) {
        // Full means the writer is behind: last-seen is advisory, so drop it
        // rather than slow the request.
        let _ = self.0.try_send((session_id.to_owned(), at));
    }
}

/// The recorder and the task that writes what it records every
/// `flush_every`, and once more when every recorder is gone.
pub fn seen_writer(
    store: std::sync::Arc<dyn Store>,
    flush_every: Duration,
) -> (SeenRecorder, impl std::future::Future<Output = ()>) {
    let (tx, mut rx) = mpsc::channel::<(String, i64)>(65_536);
    let task = async move {
        let mut pending: HashMap<String, i64> = HashMap::new();
        let mut tick = tokio::time::interval(flush_every);
        loop {
            tokio::select! {
                got = rx.recv() => match got {
                    Some((id, at)) => { pending.insert(id, at); }
                    None => break,
                },
                _ = tick.tick() => flush(&*store, &mut pending).await,
            }
        }
        flush(&*store, &mut pending).await;
    };
    (SeenRecorder(tx), task)
}

async fn flush(store: &dyn Store, pending: &mut HashMap<String, i64>) {
    if pending.is_empty() {
        return;
    }
    let batch: Vec<(String, i64)> = pending.drain().collect();
    if let Err(e) = store.touch_sessions(&batch).await {
        tracing::warn!(error = %e, sessions = batch.len(), "could not record last-seen times");
    }
}
