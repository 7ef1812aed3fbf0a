//! The pages people use, rendered by the service (askama templates in
//! `crates/server/templates`, a stylesheet and a little script in
//! `crates/server/static`, all compiled into the binary). They drive the
//! same flows as the API, with the same checks; what they add is the two
//! languages ([`i18n`]), CSRF tokens on every form ([`csrf`]) and the
//! headers a page needs (no inline script, no framing, no referrer, no
//! caching of personal pages).

mod audit;
mod csrf;
mod enterprises;
mod i18n;
mod invitations;
mod settings;
mod wechat;
mod wizards;

pub(crate) use wechat::landing as wechat_landing;
use wizards::Wizard;

use askama::Template;
use axum::extract::{Path, Query, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use shiming_domain::{CodePurpose, CredentialKind, Phone, RealNameStatus, SmsCode};

use crate::error::ApiError;
use crate::extract::ClientIp;
use crate::flows::{accounts, codes, security};
use crate::session::{self, Authenticated};
use crate::state::AppState;
use csrf::Binding;
use i18n::{Lang, Text, LANG_COOKIE};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/login", get(login_page).post(login_post))
        .route("/account", get(account_page))
        .route(
            "/account/real-name",
            get(settings::real_name_page).post(settings::real_name_post),
        )
        .route("/account/sessions", get(settings::sessions_page))
        .route("/account/sessions/{id}/sign-out", post(settings::sign_out_device))
        .route("/account/sessions/sign-out-others", post(settings::sign_out_others))
        .route("/account/audit", get(settings::audit_page))
        .route(Wizard::Phone.path(), wizards::routes(Wizard::Phone))
        .route(Wizard::Wechat.path(), wizards::routes(Wizard::Wechat))
        .route(Wizard::Unbind.path(), wizards::routes(Wizard::Unbind))
        .route("/account/wechat/rebind/authorize", get(wechat::authorize))
        .route("/account/step-up/wechat/{wizard}", get(wechat::step_up))
        .route("/login/wechat", get(wechat::login))
        .route("/enterprises", get(enterprises::list_page))
        .route("/enterprises/{id}", get(enterprises::enterprise_page))
        .route(
            "/enterprises/{id}/members/{account_id}",
            post(enterprises::act_on_member),
        )
        .route(
            "/enterprises/{id}/rebind-approvals/{approval_id}",
            post(enterprises::decide),
        )
        .route("/enterprises/{id}/audit", get(enterprises::audit_page))
        .route(
            "/invitations/{code}",
            get(invitations::invitation_page).post(invitations::answer),
        )
        .route("/logout", post(logout))
        .route("/lang/{tag}", get(switch_language))
        .route(
            "/static/app.css",
            get(|| asset("text/css", include_str!("../../static/app.css"))),
        )
        .route(
            "/static/app.js",
            get(|| asset("text/javascript", include_str!("../../static/app.js"))),
        )
        .route_layer(middleware::from_fn(page_headers))
}

/// No inline script or style, no framing, no referrer (a URL never carries
/// personal data, but the pages leak nothing of where a person was), and no
/// cache of any page (the assets say otherwise for themselves).
async fn page_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    h.entry(CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    resp
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "public, max-age=3600")],
        body,
    )
        .into_response()
}

/// A rendered page with its status.
pub(super) fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => ApiError::Internal(format!("template: {e}")).into_response(),
    }
}

/// What every page's frame shows: the language, its switch back to this
/// page, and (signed in) the sign-out form's token.
pub(super) struct Frame {
    lang: Lang,
    t: &'static Text,
    here: &'static str,
    signed_in: Option<String>,
}

impl Frame {
    pub(super) fn new(state: &AppState, headers: &HeaderMap, here: &'static str, who: Option<&Authenticated>) -> Frame {
        let lang = Lang::of(state, headers);
        Frame {
            lang,
            t: lang.text(),
            here,
            signed_in: who.map(|w| Binding::Session(w.session_id.clone()).token(state)),
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
pub(super) struct MessagePage {
    lang: Lang,
    t: &'static Text,
    here: &'static str,
    signed_in: Option<String>,
    heading: &'static str,
    message: &'static str,
    back: &'static str,
}

/// The answer to a form posted without its token: 403, nothing done.
fn forged(frame: Frame, back: &'static str) -> Response {
    page(
        StatusCode::FORBIDDEN,
        &MessagePage {
            heading: frame.t.product,
            message: i18n::error_message(frame.lang, "csrf_invalid"),
            back,
            lang: frame.lang,
            t: frame.t,
            here: frame.here,
            signed_in: frame.signed_in,
        },
    )
}

/// The signed-in session behind a form post, its token checked; otherwise
/// the answer: sign-in for a stranger, 403 (nothing done) for a wrong token.
pub(super) fn checked_post(
    state: &AppState,
    headers: &HeaderMap,
    who: Option<Authenticated>,
    csrf: &str,
    here: &'static str,
) -> Result<Authenticated, Box<Response>> {
    let Some(who) = who else {
        return Err(Box::new(Redirect::to("/login").into_response()));
    };
    if !Binding::Session(who.session_id.clone()).accepts(state, csrf) {
        return Err(Box::new(forged(Frame::new(state, headers, here, Some(&who)), here)));
    }
    Ok(who)
}

async fn root(who: Option<Authenticated>) -> Redirect {
    Redirect::to(if who.is_some() { "/account" } else { "/login" })
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    lang: Lang,
    t: &'static Text,
    here: &'static str,
    signed_in: Option<String>,
    csrf: String,
    phone: String,
    error: Option<&'static str>,
    sent: bool,
    resend_after: i64,
    wechat: bool,
    /// Registration is open: a code to an unknown number makes an account.
    registers: bool,
    /// Where signing in leads (a path of this service); empty: the account.
    next: String,
}

/// What the login form shows besides its frame.
#[derive(Default)]
struct LoginState {
    phone: String,
    error: Option<(StatusCode, &'static str)>,
    sent: bool,
    resend_after: i64,
    next: String,
}

fn login_form(state: &AppState, headers: &HeaderMap, shown: LoginState) -> Response {
    let frame = Frame::new(state, headers, "/login", None);
    let binding = Binding::of(state, headers, None);
    let status = shown.error.map_or(StatusCode::OK, |(s, _)| s);
    let mut resp = page(
        status,
        &LoginPage {
            csrf: binding.token(state),
            phone: shown.phone,
            error: shown.error.map(|(_, m)| m),
            sent: shown.sent,
            resend_after: shown.resend_after,
            wechat: state.wechat.is_some(),
            registers: state.config.registration.open,
            next: shown.next,
            lang: frame.lang,
            t: frame.t,
            here: frame.here,
            signed_in: None,
        },
    );
    if let Some(cookie) = binding.cookie(state) {
        resp.headers_mut().append(SET_COOKIE, cookie);
    }
    resp
}

#[derive(Deserialize)]
struct LoginQuery {
    /// A refusal's API code, from the way back from WeChat.
    error: Option<String>,
    /// Where to go once signed in (an invitation's page, say).
    next: Option<String>,
}

async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: Option<Authenticated>,
    Query(q): Query<LoginQuery>,
) -> Response {
    let next = local_path(q.next);
    if who.is_some() {
        return Redirect::to(next.as_deref().unwrap_or("/account")).into_response();
    }
    let lang = Lang::of(&state, &headers);
    let shown = LoginState {
        // Only ever shown as its message (an unknown code as the generic one).
        error: q.error.map(|code| (StatusCode::OK, i18n::error_message(lang, &code))),
        next: next.unwrap_or_default(),
        ..LoginState::default()
    };
    login_form(&state, &headers, shown)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    next: String,
}

/// The login form: `action=send` sends a sign-in code (the page then counts
/// down `resend_after`), `action=login` signs in with it. Both are the
/// API's flows (`POST /api/v1/sms/send`, `POST /api/v1/login/phone`).
async fn login_post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !Binding::of(&state, &headers, None).accepts(&state, &form.csrf) {
        return forged(Frame::new(&state, &headers, "/login", None), "/login");
    }
    let lang = Lang::of(&state, &headers);
    let next = local_path(Some(form.next)).unwrap_or_default();
    let refused = |e: ApiError, phone: String| {
        if e.status().is_server_error() {
            tracing::warn!(error = %e, "sign-in page");
        }
        let resend_after = match e {
            ApiError::RateLimited { retry_after } => retry_after,
            _ => 0,
        };
        LoginState {
            phone,
            error: Some((e.status(), i18n::error_message(lang, e.code()))),
            sent: false,
            resend_after,
            next: next.clone(),
        }
    };
    let phone_text = form.phone.trim().to_owned();
    let phone = match typed_phone(&phone_text) {
        Ok(p) => p,
        Err(e) => return login_form(&state, &headers, refused(e, phone_text)),
    };
    if form.action == "send" {
        return match codes::send(&state, &phone, CodePurpose::Login, None, &ip.to_string(), None).await {
            Ok(sent) => login_form(
                &state,
                &headers,
                LoginState {
                    phone: phone_text,
                    error: None,
                    sent: true,
                    resend_after: sent.resend_after,
                    next: next.clone(),
                },
            ),
            Err(e) => login_form(&state, &headers, refused(e, phone_text)),
        };
    }
    let code = match SmsCode::parse(form.code.trim()) {
        Ok(c) => c,
        Err(e) => return login_form(&state, &headers, refused(e.into(), phone_text)),
    };
    match accounts::sign_in_by_phone(&state, &phone, &code, &ip.to_string(), &headers).await {
        Ok(signed_in) => {
            let to = if next.is_empty() { "/account" } else { next.as_str() };
            let mut resp = Redirect::to(to).into_response();
            if let Some(cookie) = signed_in.headers().get(SET_COOKIE) {
                resp.headers_mut().append(SET_COOKIE, cookie.clone());
            }
            resp
        }
        Err(e) => login_form(&state, &headers, refused(e, phone_text)),
    }
}

/// A phone number as people type it: a mainland number without its
/// country code, or `+…`.
pub(super) fn typed_phone(typed: &str) -> Result<Phone, ApiError> {
    let typed = typed.trim();
    let e164 = if typed.starts_with('+') {
        typed.to_owned()
    } else {
        format!("+86{typed}")
    };
    Ok(Phone::parse(&e164)?)
}

/// Account & Security as people read it.
struct AccountShown {
    status: &'static str,
    status_class: &'static str,
    name: Option<String>,
    id_number: String,
    source: &'static str,
    wechat_attests_nobody: bool,
    /// Unverified with a phone to verify: the page offers the check.
    can_verify: bool,
    has_phone: bool,
    has_wechat: bool,
    /// WeChat is configured: it can be bound, rebound and unbound.
    wechat_on: bool,
    phone: String,
    wechat: String,
    nature: &'static str,
    sessions: usize,
    unread: usize,
    /// (when, what) of each notice, newest first.
    notices: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    lang: Lang,
    t: &'static Text,
    here: &'static str,
    signed_in: Option<String>,
    view: AccountShown,
}

async fn account_page(State(state): State<AppState>, headers: HeaderMap, who: Option<Authenticated>) -> Response {
    let Some(who) = who else {
        return Redirect::to("/login").into_response();
    };
    match account_shown(&state, &who, Lang::of(&state, &headers)).await {
        Ok(view) => {
            let frame = Frame::new(&state, &headers, "/account", Some(&who));
            page(
                StatusCode::OK,
                &AccountPage {
                    view,
                    lang: frame.lang,
                    t: frame.t,
                    here: frame.here,
                    signed_in: frame.signed_in,
                },
            )
        }
        Err(e) => e.into_response(),
    }
}

async fn account_shown(state: &AppState, who: &Authenticated, lang: Lang) -> Result<AccountShown, ApiError> {
    let t = lang.text();
    let view = state
        .store
        .account_view(&who.account_id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    let sessions = session::live_sessions(state, &who.account_id).await?.len();
    let mode = state.config.wechat.realname_mode();
    let sec = security::build(&state.vault, &view, sessions, mode)?;
    let (status, status_class) = (t.status_word(sec.real_name.status), sec.real_name.status.as_str());
    let verified = |yes: bool| {
        if yes {
            format!(" · {}", t.verified_mark)
        } else {
            String::new()
        }
    };
    let phone_attested = view
        .credential(CredentialKind::Phone)
        .is_some_and(|c| c.attestation.is_some());
    let notices = state
        .store
        .account_notices(&who.account_id, 20)
        .await?
        .into_iter()
        .map(|n| security::account_notice_view(&state.vault, n))
        .collect::<Result<Vec<_>, _>>()?;
    let unread = notices.iter().filter(|n| !n.read).count();
    let notices = notices
        .into_iter()
        .map(|n| {
            let what = match n.kind.as_str() {
                "credential.bound" => t.notice_bound,
                "credential.rebound" => t.notice_rebound,
                "credential.unbound" => t.notice_unbound,
                "rebind.denied" => t.notice_rebind_denied,
                "enterprise.member_realname_changed" => t.notice_member_realname,
                _ => t.notice_first_sign_in,
            };
            (
                n.at,
                format!("{what} {} {}", t.kind_word(n.credential), n.credential_masked),
            )
        })
        .collect();
    Ok(AccountShown {
        status,
        status_class,
        name: sec.real_name.name_masked,
        id_number: sec.real_name.id_number_masked.unwrap_or_default(),
        source: match sec.real_name.source {
            Some(CredentialKind::Phone) => t.source_phone,
            Some(CredentialKind::Wechat) => t.source_wechat,
            None => "",
        },
        wechat_attests_nobody: mode == crate::config::WechatRealName::None,
        can_verify: sec.real_name.status == RealNameStatus::Unverified && sec.phone.is_some(),
        has_phone: sec.phone.is_some(),
        has_wechat: sec.wechat.is_some(),
        wechat_on: state.wechat.is_some(),
        phone: sec.phone.map_or_else(
            || t.none_bound.to_owned(),
            |p| format!("{}{}", p.number_masked, verified(phone_attested)),
        ),
        wechat: sec.wechat.map_or_else(
            || t.none_bound.to_owned(),
            |w| {
                let name = w.nickname.unwrap_or_default();
                format!("{name} {}{}", w.unionid_masked, verified(w.real_name_verified))
            },
        ),
        nature: t.nature_word(sec.nature),
        sessions,
        unread,
        notices,
    })
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Sign-out: the session ends, as `POST /api/v1/logout`.
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: Option<Authenticated>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let who = match checked_post(&state, &headers, who, &form.csrf, "/account") {
        Ok(who) => who,
        Err(answer) => return *answer,
    };
    match accounts::sign_out(&state, &who, "logout").await {
        Ok(()) => {
            let mut resp = Redirect::to("/login").into_response();
            resp.headers_mut().append(SET_COOKIE, session::removal_cookie(&state));
            resp
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Where a `next` parameter may lead: a path of this service, in printable
/// ASCII only (a decoded CR/LF or a non-ASCII character is no header value,
/// and no path we link to), never another site.
fn local_path(next: Option<String>) -> Option<String> {
    next.filter(|n| {
        n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && n.bytes().all(|b| b.is_ascii_graphic())
    })
}

/// The language switch: remembered in a cookie for a year, then back to the
/// page it was used on (a path of this service only).
async fn switch_language(
    State(state): State<AppState>,
    Path(tag): Path<String>,
    Query(q): Query<NextQuery>,
) -> Response {
    let Some(lang) = Lang::parse(&tag) else {
        return ApiError::NotFound("route").into_response();
    };
    let next = local_path(q.next).unwrap_or_else(|| "/".into());
    let mut resp = Redirect::to(&next).into_response();
    resp.headers_mut().append(
        SET_COOKIE,
        session::set_cookie(&state, LANG_COOKIE, lang.tag(), 365 * 86_400),
    );
    resp
}
