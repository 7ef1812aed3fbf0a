//! The page an invitation's text message links to, `/invitations/{code}`:
//! signed in with the invited phone, the invitee sees the invitation and
//! accepts or declines it; anyone else sees only that there is nothing for
//! them (the API's rule: `flows::invitations`).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use shiming_domain::{AccountState, InvitationState};
use shiming_store::InvitationRecord;

use super::csrf::Binding;
use super::i18n::{self, Lang, Text};
use super::{checked_post, page, Frame};
use crate::error::ApiError;
use crate::flows::invitations;
use crate::session::Authenticated;
use crate::state::{rfc3339, AppState};

/// An invitation as the page shows it.
struct Shown {
    enterprise: String,
    role: &'static str,
    expires_at: String,
    state: &'static str,
    /// Pending: the page offers the answers.
    open: bool,
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage {
    lang: Lang,
    t: &'static Text,
    here: String,
    signed_in: Option<String>,
    csrf: String,
    invitation: Option<Shown>,
    error: Option<&'static str>,
    done: Option<&'static str>,
}

fn shown(state: &AppState, t: &Text, i: &InvitationRecord) -> Shown {
    let now = i.state.at(i.expires_at, state.now());
    Shown {
        enterprise: i.enterprise_name.clone(),
        role: t.role_word(i.role),
        expires_at: rfc3339(i.expires_at),
        state: match now {
            InvitationState::Pending => t.invitation_pending,
            InvitationState::Accepted => t.invitation_accepted,
            InvitationState::Declined => t.invitation_declined,
            InvitationState::Revoked => t.invitation_revoked,
            InvitationState::Expired => t.invitation_expired,
        },
        open: now == InvitationState::Pending,
    }
}

/// The page: the invitation as it now stands (when it is the caller's),
/// with a refusal or what an answer did.
fn render(
    state: &AppState,
    headers: &HeaderMap,
    who: Option<&Authenticated>,
    code: &str,
    invitation: Option<InvitationRecord>,
    refusal: Option<ApiError>,
    done: Option<&'static str>,
) -> Response {
    let frame = Frame::new(state, headers, "/account", who);
    let status = refusal.as_ref().map_or(StatusCode::OK, ApiError::status);
    let error = refusal.map(|e| match e {
        ApiError::NotFound(_) => frame.t.invitation_not_found,
        other => i18n::error_message(frame.lang, other.code()),
    });
    page(
        status,
        &InvitationPage {
            csrf: who
                .map(|w| Binding::Session(w.session_id.clone()).token(state))
                .unwrap_or_default(),
            here: format!("/invitations/{code}"),
            invitation: invitation.map(|i| shown(state, frame.t, &i)),
            error,
            done,
            lang: frame.lang,
            t: frame.t,
            signed_in: frame.signed_in,
        },
    )
}

/// `GET /invitations/{code}`.
pub(super) async fn invitation_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: Option<Authenticated>,
    Path(code): Path<String>,
) -> Response {
    let Some(who) = who else {
        // Signed out, the page asks for the invited phone's sign-in first.
        return render(&state, &headers, None, &code, None, None, None);
    };
    match invitations::for_me(&state, &who, &code).await {
        Ok(found) => render(&state, &headers, Some(&who), &code, Some(found), None, None),
        Err(e) => render(&state, &headers, Some(&who), &code, None, Some(e), None),
    }
}

#[derive(Deserialize)]
pub(super) struct AnswerForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
}

/// `POST /invitations/{code}` `action=accept|decline`.
pub(super) async fn answer(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: Option<Authenticated>,
    Path(code): Path<String>,
    Form(form): Form<AnswerForm>,
) -> Response {
    let who = match checked_post(&state, &headers, who, &form.csrf, "/account") {
        Ok(who) => who,
        Err(answer) => return *answer,
    };
    let t = Lang::of(&state, &headers).text();
    let (accept, done) = match form.action.as_str() {
        "accept" => (true, t.joined),
        "decline" => (false, t.declined),
        _ => return ApiError::InvalidRequest("action is accept or decline".into()).into_response(),
    };
    let answered = if accept && who.state != AccountState::Active {
        Err(ApiError::AccountRestricted(who.state.as_str()))
    } else {
        invitations::answer(&state, &who, &code, accept).await
    };
    // The invitation as it now stands, when it is the caller's.
    let now = invitations::for_me(&state, &who, &code).await.ok();
    match answered {
        Ok(_) => render(&state, &headers, Some(&who), &code, now, None, Some(done)),
        Err(e) => render(&state, &headers, Some(&who), &code, now, Some(e), None),
    }
}
