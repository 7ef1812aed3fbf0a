//! WeChat sign-in and binding over HTTP. A browser ends on a page
//! (`/wechat/done`); a client sending `Accept: application/json` reads the
//! outcome as JSON.

use axum::extract::{Query, State};
use axum::http::header::{ACCEPT, LOCATION, SET_COOKIE, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::extract::ClientIp;
use crate::flows::accounts;
use crate::flows::wechat::{self, CallbackQuery, Finished, Purpose, BROWSER_COOKIE};
use crate::session::{self, Authenticated};
use crate::state::{rfc3339, AppState};

const DONE_PAGE: &str = "/wechat/done";

/// Starts a round trip: the redirect to WeChat, with the browser's cookie.
pub(crate) async fn start(
    state: &AppState,
    purpose: Purpose,
    who: Option<&Authenticated>,
    headers: &HeaderMap,
    ip: &str,
) -> ApiResult<Response> {
    let browser = session::cookie_value(state, headers, BROWSER_COOKIE);
    let started = wechat::start(state, purpose, who, browser, ip).await?;
    let cookie = session::set_cookie(
        state,
        BROWSER_COOKIE,
        &started.browser,
        state.config.wechat.flow_ttl_secs,
    );
    let location = HeaderValue::from_str(&started.location).map_err(|_| ApiError::Internal("authorize URL".into()))?;
    Ok((StatusCode::FOUND, [(LOCATION, location), (SET_COOKIE, cookie)]).into_response())
}

pub async fn login_start(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> ApiResult<Response> {
    start(&state, Purpose::Login, None, &headers, &ip.to_string()).await
}

pub async fn rebind_start(
    State(state): State<AppState>,
    who: Authenticated,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> ApiResult<Response> {
    start(&state, Purpose::Rebind, Some(&who), &headers, &ip.to_string()).await
}

pub async fn step_up_start(
    State(state): State<AppState>,
    who: Authenticated,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> ApiResult<Response> {
    start(&state, Purpose::StepUp, Some(&who), &headers, &ip.to_string()).await
}

pub async fn bind_start(
    State(state): State<AppState>,
    who: Authenticated,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> ApiResult<Response> {
    start(&state, Purpose::Bind, Some(&who), &headers, &ip.to_string()).await
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"))
}

/// Where a browser lands: the page that started the round trip, if one
/// did, or `/wechat/done` with the outcome (`Ok`) or the refusal's code.
fn to_page(state: &AppState, headers: &HeaderMap, outcome: Result<&str, &str>) -> Response {
    if let Some(page) = crate::pages::wechat_landing(state, headers, outcome) {
        return page;
    }
    let query = match outcome {
        Ok(o) => format!("outcome={o}"),
        Err(code) => format!("error={code}"),
    };
    (StatusCode::SEE_OTHER, [(LOCATION, format!("{DONE_PAGE}?{query}"))]).into_response()
}

pub async fn callback(
    State(state): State<AppState>,
    who: Option<Authenticated>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let json = wants_json(&headers);
    let browser = session::cookie_value(&state, &headers, BROWSER_COOKIE);
    let finished = match wechat::finish(&state, &q, browser.as_deref(), who.as_ref()).await {
        Ok(f) => f,
        Err(e) if json => return e.into_response(),
        Err(e) => return to_page(&state, &headers, Err(e.code())),
    };
    match finished {
        Finished::SignIn(credential) => {
            let user_agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
            match accounts::sign_in(&state, credential, accounts::Proof::Wechat, user_agent).await {
                Ok(resp) if json => resp,
                Ok(resp) => {
                    let mut page = to_page(&state, &headers, Ok("signed_in"));
                    if let Some(cookie) = resp.headers().get(SET_COOKIE) {
                        page.headers_mut().append(SET_COOKIE, cookie.clone());
                    }
                    page
                }
                Err(e) if json => e.into_response(),
                Err(e) => to_page(&state, &headers, Err(e.code())),
            }
        }
        Finished::Bound if json => Json(json!({ "outcome": "bound", "bound": "wechat" })).into_response(),
        Finished::Bound => to_page(&state, &headers, Ok("bound")),
        Finished::RebindReady(preview) if json => {
            let mut body = serde_json::to_value(preview).unwrap_or_default();
            body["outcome"] = json!("rebind_ready");
            Json(body).into_response()
        }
        Finished::RebindReady(_) => to_page(&state, &headers, Ok("rebind_ready")),
        Finished::SteppedUp(until) if json => Json(json!({ "step_up_until": rfc3339(until) })).into_response(),
        Finished::SteppedUp(_) => to_page(&state, &headers, Ok("stepped_up")),
    }
}

#[derive(Deserialize)]
pub struct DoneQuery {
    outcome: Option<String>,
    error: Option<String>,
}

/// Where a browser lands after the round trip.
pub async fn done(Query(q): Query<DoneQuery>) -> Html<String> {
    let (zh, en) = match (q.outcome.as_deref(), q.error.as_deref()) {
        (Some("signed_in"), _) => ("已使用微信登录。", "Signed in with WeChat."),
        (Some("bound"), _) => ("微信已绑定到您的账号。", "WeChat is now bound to your account."),
        (Some("rebind_ready"), _) => (
            "新微信已验证，请确认换绑。",
            "The new WeChat is verified: confirm the rebind to apply it.",
        ),
        (Some("stepped_up"), _) => ("身份已验证。", "You confirmed it is you."),
        (_, Some("credential_in_use")) => ("该微信已绑定其他账号。", "This WeChat is bound to another account."),
        (_, Some("already_bound")) => (
            "您的账号已绑定微信；换绑需单独验证。",
            "Your account has WeChat already; rebinding is a separate procedure.",
        ),
        (_, Some("wechat_denied")) => ("您拒绝了微信授权。", "You declined the WeChat authorization."),
        (_, Some("wechat_not_bound")) => (
            "该微信未绑定账号：请先用手机号登录，再在账号与安全中绑定微信。",
            "This WeChat is bound to no account: sign in by phone first, then bind WeChat.",
        ),
        (_, Some(_)) => (
            "微信登录未完成，请重试。",
            "WeChat sign-in did not complete; please try again.",
        ),
        _ => ("", ""),
    };
    let code = q
        .error
        .as_deref()
        .map(|c| {
            format!(
                "<p><code>{}</code></p>",
                c.replace(|ch: char| !ch.is_ascii_alphanumeric() && ch != '_', "")
            )
        })
        .unwrap_or_default();
    Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>shiming · 微信</title></head>\
         <body><p>{zh}</p><p lang=\"en\">{en}</p>{code}<p><a href=\"/account\">账号与安全 / Account &amp; Security</a></p></body></html>"
    ))
}
