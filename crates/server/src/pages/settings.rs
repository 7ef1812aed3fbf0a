//! The pages behind Account & Security: verifying the real name of the
//! bound phone, the signed-in devices, and the account's own security log.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use shiming_domain::CredentialKind;

use super::audit::{audit_list, AuditShown, EventRow};
use super::csrf::Binding;
use super::i18n::{self, Lang, Text};
use super::{checked_post, page, CsrfForm, Frame};
use crate::error::ApiError;
use crate::flows::{accounts, realname, security};
use crate::session::{self, Authenticated};
use crate::state::{rfc3339, AppState};

#[derive(Template)]
#[template(path = "real_name.html")]
struct RealNamePage {
    lang: Lang,
    t: &'static Text,
    here: &'static str,
    signed_in: Option<String>,
    csrf: String,
    phone: String,
    name: String,
    error: Option<&'static str>,
}

/// The form, with what was typed (never the ID number) and a refusal.
async fn real_name_form(
    state: &AppState,
    headers: &HeaderMap,
    who: &Authenticated,
    name: String,
    refusal: Option<ApiError>,
) -> Response {
    let frame = Frame::new(state, headers, "/account/real-name", Some(who));
    let phone = match state.store.account_view(&who.account_id).await {
        Ok(Some(view)) => match view.credential(CredentialKind::Phone) {
            Some(c) => match security::open_phone(&state.vault, &c.value_sealed) {
                Ok(p) => p.masked(),
                Err(e) => return e.into_response(),
            },
            None => frame.t.none_bound.to_owned(),
        },
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let status = refusal.as_ref().map_or(StatusCode::OK, ApiError::status);
    page(
        status,
        &RealNamePage {
            csrf: Binding::Session(who.session_id.clone()).token(state),
            phone,
            name,
            error: refusal.map(|e| i18n::error_message(frame.lang, e.code())),
            lang: frame.lang,
            t: frame.t,
            here: frame.here,
            signed_in: frame.signed_in,
        },
    )
}

pub async fn real_name_page(State(state): State<AppState>, headers: HeaderMap, who: Option<Authenticated>) -> Response {
    match who {
        Some(who) => real_name_form(&state, &headers, &who, String::new(), None).await,
        None => Redirect::to("/login").into_response(),
    }
}

#[derive(Deserialize)]
pub struct RealNameForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    id_number: String,
    #[serde(default)]
    consent: Option<String>,
}

/// `POST /api/v1/account/real-name/phone`'s flow, from the form.
pub async fn real_name_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: Option<Authenticated>,
    Form(form): Form<RealNameForm>,
) -> Response {
    let who = match checked_post(&state, &headers, who, &form.csrf, "/account/real-name") {
        Ok(who) => who,
        Err(answer) => return *answer,
    };
    let outcome = async {
        if form.consent.as_deref() != Some("true") {
            return Err(ApiError::ConsentRequired);
        }
        let person = realname::parse_person(&state, &form.name, &form.id_number)?;
        realname::verify_phone(&state, &who, person).await
    }
    .await;
    match outcome {
        Ok(_) => Redirect::to("/account").into_response(),
        Err(e) => real_name_form(&state, &headers, &who, form.name, Some(e)).await,
    }
}

/// A signed-in device as the list shows it.
struct Device {
    id: String,
    device: String,
    created: String,
    last_seen: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct SessionsPage {
    lang: Lang,
    t: &'static Text,
    here: &'static str,
    signed_in: Option<String>,
    csrf: String,
    sessions: Vec<Device>,
    notice: Option<String>,
}

#[derive(Deserialize)]
pub struct SessionsQuery {
    /// How many devices the last "sign out all others" ended.
    ended: Option<u64>,
}

pub async fn sessions_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: Option<Authenticated>,
    Query(q): Query<SessionsQuery>,
) -> Response {
    let Some(who) = who else {
        return Redirect::to("/login").into_response();
    };
    let live = match session::live_sessions(&state, &who.account_id).await {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let frame = Frame::new(&state, &headers, "/account/sessions", Some(&who));
    let mut sessions: Vec<Device> = live
        .into_iter()
        .map(|s| Device {
            current: s.id == who.session_id,
            device: s.user_agent.unwrap_or_else(|| frame.t.unknown_device.to_owned()),
            created: rfc3339(s.created_at),
            last_seen: rfc3339(s.last_seen_at),
            id: s.id,
        })
        .collect();
    // This device first, then the most recently used.
    sessions.sort_by(|a, b| b.current.cmp(&a.current).then(b.last_seen.cmp(&a.last_seen)));
    page(
        StatusCode::OK,
        &SessionsPage {
            csrf: Binding::Session(who.session_id.clone()).token(&state),
            sessions,
            notice: q.ended.map(|n| format!("{}{n}", frame.t.others_signed_out)),
            lang: frame.lang,
            t: frame.t,
            here: frame.here,
            signed_in: frame.signed_in,
        },
    )
}

/// Signs one device out (`DELETE /api/v1/account/sessions/{id}`'s flow).
pub async fn sign_out_device(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: Option<Authenticated>,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let who = match checked_post(&state, &headers, who, &form.csrf, "/account/sessions") {
        Ok(who) => who,
        Err(answer) => return *answer,
    };
    match accounts::revoke_session(&state, &who, &id).await {
        Ok(true) if id == who.session_id => Redirect::to("/login").into_response(),
        Ok(true) => Redirect::to("/account/sessions").into_response(),
        Ok(false) => ApiError::NotFound("session").into_response(),
        Err(e) => e.into_response(),
    }
}

/// Signs every other device out (`DELETE /api/v1/account/sessions/others`'s flow).
pub async fn sign_out_others(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: Option<Authenticated>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let who = match checked_post(&state, &headers, who, &form.csrf, "/account/sessions") {
        Ok(who) => who,
        Err(answer) => return *answer,
    };
    match accounts::revoke_other_sessions(&state, &who).await {
        Ok(n) => Redirect::to(&format!("/account/sessions?ended={n}")).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The account's own audit events, newest first.
pub async fn audit_page(State(state): State<AppState>, headers: HeaderMap, who: Option<Authenticated>) -> Response {
    let Some(who) = who else {
        return Redirect::to("/login").into_response();
    };
    let events = match state.store.audit_of(&who.account_id, 200).await {
        Ok(e) => e,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let frame = Frame::new(&state, &headers, "/account/audit", Some(&who));
    let events = events
        .into_iter()
        .map(|e| EventRow {
            at: rfc3339(e.at),
            what: i18n::event_name(frame.lang, &e.kind),
            detail: String::new(),
        })
        .collect();
    audit_list(
        &frame,
        AuditShown {
            here: "/account/audit".into(),
            heading: frame.t.audit_title,
            events,
            older: None,
            back: ("/account".into(), frame.t.back_to_account),
        },
    )
}
