//! WeChat round trips started from the pages: signing in, confirming it is
//! you (step-up), and authorizing a WeChat to bind or to rebind. They are the
//! API's round trips; a cookie remembers which page started one, so that
//! the callback lands back on that page instead of the API's `/wechat/done`.

use axum::extract::{Path, State};
use axum::http::header::SET_COOKIE;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use shiming_domain::CredentialKind;

use super::wizards::Wizard;
use crate::error::ApiError;
use crate::extract::ClientIp;
use crate::flows::accounts::active_view;
use crate::flows::wechat::Purpose;
use crate::session::{self, Authenticated, CookieName};
use crate::state::AppState;

/// Which page a round trip returns to: `login` or a [`Wizard`]'s tag.
const RETURN_COOKIE: CookieName = CookieName {
    plain: "shiming_return",
    host: "__Host-shiming_return",
};

const LOGIN: &str = "login";

/// Where a round trip that started on the page `tag` lands: an outcome
/// (`Ok`) or a refusal's code (`Err`). A first WeChat bound is a finished
/// change; every other outcome leaves the wizard at its next step.
fn destination(tag: &str, outcome: Result<&str, &str>) -> Option<String> {
    if tag == LOGIN {
        return Some(match outcome {
            Ok(_) => "/account".into(),
            Err(code) => format!("/login?error={code}"),
        });
    }
    let wizard = Wizard::parse(tag)?;
    Some(match outcome {
        Ok("bound") => wizard.done_path().into(),
        Ok(_) => wizard.path().into(),
        Err(code) => format!("{}?error={code}", wizard.path()),
    })
}

/// The callback's answer to a browser whose round trip a page started
/// (`None`: an API client's, which lands on `/wechat/done`).
pub fn landing(state: &AppState, headers: &HeaderMap, outcome: Result<&str, &str>) -> Option<Response> {
    let tag = session::cookie_value(state, headers, RETURN_COOKIE)?;
    let to = destination(&tag, outcome)?;
    let mut resp = Redirect::to(&to).into_response();
    resp.headers_mut()
        .append(SET_COOKIE, session::set_cookie(state, RETURN_COOKIE, "", 0));
    Some(resp)
}

/// Starts the API's round trip for `purpose`, to come back to the page `tag`;
/// a refusal goes back there at once.
async fn go(
    state: &AppState,
    headers: &HeaderMap,
    who: Option<&Authenticated>,
    purpose: Purpose,
    ip: &str,
    tag: &'static str,
) -> Response {
    match crate::routes::wechat_start(state, purpose, who, headers, ip).await {
        Ok(mut resp) => {
            let ttl = state.config.wechat.flow_ttl_secs;
            resp.headers_mut()
                .append(SET_COOKIE, session::set_cookie(state, RETURN_COOKIE, tag, ttl));
            resp
        }
        Err(e) => match destination(tag, Err(e.code())) {
            Some(to) => Redirect::to(&to).into_response(),
            None => e.into_response(),
        },
    }
}

/// `GET /login/wechat`: sign in with WeChat.
pub async fn login(State(state): State<AppState>, ClientIp(ip): ClientIp, headers: HeaderMap) -> Response {
    go(&state, &headers, None, Purpose::Login, &ip.to_string(), LOGIN).await
}

/// `GET /account/step-up/wechat/{wizard}`: confirm it is you with the bound
/// WeChat, then back to the wizard.
pub async fn step_up(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    who: Option<Authenticated>,
    Path(tag): Path<String>,
) -> Response {
    let Some(wizard) = Wizard::parse(&tag) else {
        return ApiError::NotFound("route").into_response();
    };
    let Some(who) = who else {
        return Redirect::to("/login").into_response();
    };
    go(
        &state,
        &headers,
        Some(&who),
        Purpose::StepUp,
        &ip.to_string(),
        wizard.tag(),
    )
    .await
}

/// `GET /account/wechat/rebind/authorize`: authorize the WeChat to bind
/// (the account has none) or to rebind to, then back to the wizard's preview.
pub async fn authorize(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    who: Option<Authenticated>,
) -> Response {
    let Some(who) = who else {
        return Redirect::to("/login").into_response();
    };
    let purpose = match active_view(&state, &who).await {
        Ok(view) if view.credential(CredentialKind::Wechat).is_some() => Purpose::Rebind,
        Ok(_) => Purpose::Bind,
        Err(e) => return e.into_response(),
    };
    let tag = Wizard::Wechat.tag();
    go(&state, &headers, Some(&who), purpose, &ip.to_string(), tag).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_trip_lands_on_the_page_that_started_it() {
        assert_eq!(destination("login", Ok("signed_in")).as_deref(), Some("/account"));
        assert_eq!(
            destination("login", Err("wechat_denied")).as_deref(),
            Some("/login?error=wechat_denied")
        );
        assert_eq!(
            destination("phone", Ok("stepped_up")).as_deref(),
            Some("/account/phone/change")
        );
        assert_eq!(
            destination("wechat", Ok("bound")).as_deref(),
            Some("/account/wechat/rebind?done=1")
        );
        assert_eq!(
            destination("wechat", Ok("rebind_ready")).as_deref(),
            Some("/account/wechat/rebind")
        );
        assert_eq!(
            destination("unbind", Err("wrong_identity")).as_deref(),
            Some("/account/wechat/unbind?error=wrong_identity")
        );
        // A cookie naming no page of ours leaves the API's landing.
        assert_eq!(destination("https://evil.example", Ok("signed_in")), None);
    }
}
