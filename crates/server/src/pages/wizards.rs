//! The rebinding wizards: changing (or binding) the phone, rebinding (or
//! binding) WeChat, and unbinding it. Each is one page whose step follows
//! from the service's own state: the session's step-up, its open change and
//! that change's proof. A reload, the language switch or the way back from
//! WeChat therefore shows the step the person is at, and no URL carries
//! personal data. Every step is the API's flow, with the API's checks; the
//! preview is the one the API answers for the same change.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, MethodRouter};
use axum::Form;
use serde::Deserialize;
use shiming_domain::{CredentialKind, RealNameStatus};

use super::csrf::Binding;
use super::i18n::{self, Lang, Text};
use super::{checked_post, page, typed_phone, Frame};
use crate::error::ApiError;
use crate::extract::ClientIp;
use crate::flows::accounts::active_view;
use crate::flows::realname::parse_person;
use crate::flows::rebind::{self, Confirmed, Pending, PreviewView, StartPhoneChange};
use crate::flows::security;
use crate::session::Authenticated;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wizard {
    Phone,
    Wechat,
    Unbind,
}

impl Wizard {
    pub fn path(self) -> &'static str {
        match self {
            Wizard::Phone => "/account/phone/change",
            Wizard::Wechat => "/account/wechat/rebind",
            Wizard::Unbind => "/account/wechat/unbind",
        }
    }

    /// The page of the finished change (its language switch comes back to it).
    pub fn done_path(self) -> &'static str {
        match self {
            Wizard::Phone => "/account/phone/change?done=1",
            Wizard::Wechat => "/account/wechat/rebind?done=1",
            Wizard::Unbind => "/account/wechat/unbind?done=1",
        }
    }

    /// Its name in the WeChat step-up's path and in the return cookie.
    pub fn tag(self) -> &'static str {
        match self {
            Wizard::Phone => "phone",
            Wizard::Wechat => "wechat",
            Wizard::Unbind => "unbind",
        }
    }

    pub fn parse(tag: &str) -> Option<Wizard> {
        [Wizard::Phone, Wizard::Wechat, Wizard::Unbind]
            .into_iter()
            .find(|w| w.tag() == tag)
    }

    /// How many steps it has, the done page included.
    fn steps(self) -> u8 {
        match self {
            Wizard::Phone => 5,
            Wizard::Wechat => 4,
            Wizard::Unbind => 3,
        }
    }
}

pub struct StepUpShown {
    /// The bound phone, masked, when a code can go to it.
    phone: Option<String>,
    /// Whether the bound WeChat can confirm it instead.
    wechat: bool,
    resend_after: i64,
}

/// The API's preview, in the page's language; `*_api` are the API's values.
pub struct PreviewShown {
    person_changes: bool,
    name: String,
    id_number: String,
    source: &'static str,
    source_api: &'static str,
    status: &'static str,
    status_api: &'static str,
    nature: &'static str,
    nature_api: &'static str,
    /// (the API's words, the page's)
    stops: Vec<(String, String)>,
    sessions_revoked: usize,
    expires_at: Option<String>,
    /// The enterprises whose membership the change suspends (names).
    suspended_in: Vec<String>,
}

pub struct DoneShown {
    status: &'static str,
    status_class: &'static str,
    name: Option<String>,
    sessions_ended: Option<u64>,
}

pub enum Stage {
    StepUp(StepUpShown),
    /// The new phone and its holder (the name typed so far).
    NewPhone(String),
    /// The code sent to the new phone (masked).
    NewCode(String),
    /// To WeChat: binding a first one (`true`) or a new one.
    Authorize(bool),
    Preview(PreviewShown),
    /// Nothing can be done here; the status says why. (Its step number is 0: none is shown.)
    Blocked,
    Done(DoneShown),
}

#[derive(Template)]
#[template(path = "wizard.html")]
struct WizardPage {
    lang: Lang,
    t: &'static Text,
    here: &'static str,
    signed_in: Option<String>,
    title: &'static str,
    wizard: &'static str,
    action: &'static str,
    csrf: String,
    step_no: u8,
    steps: u8,
    error: Option<&'static str>,
    note: Option<&'static str>,
    unbinding: bool,
    step: Stage,
}

/// What a rendering shows besides the state's step.
#[derive(Default)]
struct Shown {
    /// A refusal: its status and API code.
    refusal: Option<(StatusCode, String)>,
    note: Option<&'static str>,
    resend_after: i64,
    /// The holder's name as typed (never the ID number).
    name: String,
    done: bool,
    ended: Option<u64>,
    /// Ask for a new phone although a change is open.
    restart: bool,
}

impl Shown {
    fn refused(e: &ApiError) -> Shown {
        if e.status().is_server_error() {
            tracing::warn!(error = %e, "rebinding page");
        }
        Shown {
            refusal: Some((e.status(), e.code().to_owned())),
            resend_after: match e {
                ApiError::RateLimited { retry_after } => *retry_after,
                _ => 0,
            },
            ..Shown::default()
        }
    }
}

/// A real-name status as the page says it, and as the API's word.
fn status_words(t: &'static Text, s: RealNameStatus) -> (&'static str, &'static str) {
    (t.status_word(s), s.as_str())
}

fn preview_shown(t: &'static Text, p: PreviewView) -> PreviewShown {
    let (status, status_api) = status_words(t, p.status_after);
    let (nature, nature_api) = (t.nature_word(p.nature_after), p.nature_after.as_str());
    let (source, source_api) = match p.real_name_after.source {
        Some(CredentialKind::Phone) => (t.source_phone, "phone"),
        Some(CredentialKind::Wechat) => (t.source_wechat, "wechat"),
        None => ("", ""),
    };
    // The API names a credential "phone 138****0000" or "WeChat o6_b…": the
    // page says the kind in its own language.
    let stops = p
        .stops_signing_in
        .into_iter()
        .map(|s| {
            let local = match s.split_once(' ') {
                Some(("phone", masked)) => format!("{} {masked}", t.phone),
                Some(("WeChat", masked)) => format!("{} {masked}", t.wechat),
                _ => s.clone(),
            };
            (s, local)
        })
        .collect();
    PreviewShown {
        person_changes: p.person_changes,
        name: p.real_name_after.name_masked.unwrap_or_else(|| t.nothing.to_owned()),
        id_number: p.real_name_after.id_number_masked.unwrap_or_default(),
        source,
        source_api,
        status,
        status_api,
        nature,
        nature_api,
        stops,
        sessions_revoked: p.sessions_revoked,
        expires_at: p.expires_at,
        suspended_in: p.enterprise_effects.into_iter().map(|e| e.enterprise_name).collect(),
    }
}

/// Where the session is in a wizard.
struct At {
    stage: Stage,
    /// The stage's number (0: none is shown).
    no: u8,
    title: &'static str,
}

/// Where the session is in `wizard`, from one read of the account (and,
/// stepped up, one of its pending change).
async fn step_of(
    state: &AppState,
    who: &Authenticated,
    wizard: Wizard,
    t: &'static Text,
    shown: &mut Shown,
) -> Result<At, ApiError> {
    let view = active_view(state, who).await?;
    let has_phone = view.credential(CredentialKind::Phone).is_some();
    let has_wechat = view.credential(CredentialKind::Wechat).is_some();
    let title = title(t, wizard, shown.done, has_phone, has_wechat);
    let at = |stage, no| At { stage, no, title };
    if shown.done {
        let sec = security::real_name_view(&state.vault, &view)?;
        let (status, status_class) = status_words(t, sec.status);
        let done = DoneShown {
            status,
            status_class,
            name: sec.name_masked,
            sessions_ended: shown.ended,
        };
        return Ok(at(Stage::Done(done), wizard.steps()));
    }
    // Unbinding is refused before any step-up where it cannot be done.
    if wizard == Wizard::Unbind && (!has_wechat || !has_phone) {
        let e = if has_wechat {
            ApiError::LastCredential
        } else {
            ApiError::NoWechatBound
        };
        shown.refusal = Some((e.status(), e.code().to_owned()));
        return Ok(at(Stage::Blocked, 0));
    }
    if rebind::require_step_up(state, who).is_err() {
        let phone = view
            .credential(CredentialKind::Phone)
            .map(|c| security::open_phone(&state.vault, &c.value_sealed).map(|p| p.masked()))
            .transpose()?;
        let wechat = has_wechat && state.wechat.is_some();
        if phone.is_none() && !wechat {
            shown.refusal = Some((StatusCode::CONFLICT, "step_up_unavailable".into()));
            return Ok(at(Stage::Blocked, 0));
        }
        let s = StepUpShown {
            phone,
            wechat,
            resend_after: shown.resend_after,
        };
        return Ok(at(Stage::StepUp(s), 1));
    }
    let (stage, no) = match wizard {
        Wizard::Phone if shown.restart => (Stage::NewPhone(std::mem::take(&mut shown.name)), 2),
        Wizard::Phone => match rebind::pending(state, who, CredentialKind::Phone).await? {
            Pending::Proven(p) => (Stage::Preview(preview_shown(t, p)), 4),
            Pending::Unproven(masked) => (Stage::NewCode(masked), 3),
            Pending::None => (Stage::NewPhone(std::mem::take(&mut shown.name)), 2),
        },
        Wizard::Wechat => match rebind::pending(state, who, CredentialKind::Wechat).await? {
            Pending::Proven(p) => (Stage::Preview(preview_shown(t, p)), 3),
            _ => (Stage::Authorize(!has_wechat), 2),
        },
        Wizard::Unbind => (
            Stage::Preview(preview_shown(t, rebind::unbind_preview(state, who).await?)),
            2,
        ),
    };
    Ok(at(stage, no))
}

fn title(t: &'static Text, wizard: Wizard, done: bool, has_phone: bool, has_wechat: bool) -> &'static str {
    match wizard {
        _ if done => t.done_title,
        Wizard::Phone if has_phone => t.phone_change_title,
        Wizard::Phone => t.phone_bind_title,
        Wizard::Wechat if has_wechat => t.wechat_rebind_title,
        Wizard::Wechat => t.wechat_bind_title,
        Wizard::Unbind => t.wechat_unbind_title,
    }
}

async fn render(
    state: &AppState,
    headers: &HeaderMap,
    who: &Authenticated,
    wizard: Wizard,
    mut shown: Shown,
) -> Response {
    let here = if shown.done { wizard.done_path() } else { wizard.path() };
    let frame = Frame::new(state, headers, here, Some(who));
    let at = match step_of(state, who, wizard, frame.t, &mut shown).await {
        Ok(at) => at,
        Err(ApiError::Unauthenticated) => return Redirect::to("/login").into_response(),
        Err(e) => {
            // A refusal of the state itself (an account restricted meanwhile):
            // said on the page, with nothing to do.
            shown = Shown::refused(&e);
            At {
                stage: Stage::Blocked,
                no: 0,
                title: title(frame.t, wizard, false, true, true),
            }
        }
    };
    let status = shown.refusal.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    page(
        status,
        &WizardPage {
            title: at.title,
            wizard: wizard.tag(),
            action: wizard.path(),
            csrf: Binding::Session(who.session_id.clone()).token(state),
            step_no: at.no,
            steps: wizard.steps(),
            error: shown
                .refusal
                .as_ref()
                .map(|(_, code)| i18n::error_message(frame.lang, code)),
            note: shown.note,
            unbinding: wizard == Wizard::Unbind,
            step: at.stage,
            lang: frame.lang,
            t: frame.t,
            here: frame.here,
            signed_in: frame.signed_in,
        },
    )
}

#[derive(Deserialize)]
pub struct WizardQuery {
    done: Option<String>,
    ended: Option<u64>,
    /// A refusal's API code, from the way back from WeChat.
    error: Option<String>,
    restart: Option<String>,
}

async fn show(
    state: AppState,
    headers: HeaderMap,
    who: Option<Authenticated>,
    wizard: Wizard,
    q: WizardQuery,
) -> Response {
    let Some(who) = who else {
        return Redirect::to("/login").into_response();
    };
    let shown = Shown {
        // Only ever shown as its message (an unknown code as the generic one).
        refusal: q.error.map(|c| (StatusCode::OK, c)),
        done: q.done.is_some(),
        ended: q.ended,
        restart: q.restart.is_some(),
        ..Shown::default()
    };
    render(&state, &headers, &who, wizard, shown).await
}

#[derive(Deserialize)]
pub struct WizardForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    new_phone: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    id_number: String,
    consent: Option<String>,
    accept: Option<String>,
}

/// What a step did, for the page that follows it.
enum Next {
    /// Show the step the state is at now (a redirect to the wizard).
    Reload,
    /// Show this step again, with this.
    Show(Shown),
    /// Committed: the done page, with how many other sessions ended.
    Done(u64),
}

/// Opens the phone change: the new number and its holder (none typed: the
/// account's real-name person), with the consent the carrier check needs.
async fn start_phone_change(
    state: &AppState,
    who: &Authenticated,
    form: &WizardForm,
    ip: &str,
) -> Result<Next, ApiError> {
    rebind::require_step_up(state, who)?;
    if form.consent.as_deref() != Some("true") {
        return Err(ApiError::ConsentRequired);
    }
    let new_phone = typed_phone(&form.new_phone)?;
    let (name, id) = (form.name.trim(), form.id_number.trim());
    let person = match (name.is_empty(), id.is_empty()) {
        (true, true) => None,
        (false, false) => Some(parse_person(state, name, id)?),
        _ => return Err(ApiError::PersonIncomplete),
    };
    rebind::phone_change_start(state, who, StartPhoneChange { new_phone, person }, ip).await?;
    Ok(Next::Reload)
}

async fn confirm(
    state: &AppState,
    who: &Authenticated,
    wizard: Wizard,
    accept: bool,
    lang: Lang,
) -> Result<Next, ApiError> {
    let confirmed = match wizard {
        Wizard::Phone => rebind::confirm(state, who, CredentialKind::Phone, accept).await?,
        Wizard::Wechat => rebind::confirm(state, who, CredentialKind::Wechat, accept).await?,
        Wizard::Unbind => Confirmed::Committed(rebind::unbind_wechat(state, who, accept).await?),
    };
    Ok(match confirmed {
        Confirmed::Committed(done) => Next::Done(done["sessions_revoked"].as_u64().unwrap_or(0)),
        Confirmed::PendingApproval(_) => Next::Show(Shown {
            note: Some(lang.text().pending_approval),
            ..Shown::default()
        }),
    })
}

async fn act(
    state: AppState,
    headers: HeaderMap,
    who: Option<Authenticated>,
    ip: String,
    wizard: Wizard,
    form: WizardForm,
) -> Response {
    let who = match checked_post(&state, &headers, who, &form.csrf, wizard.path()) {
        Ok(who) => who,
        Err(answer) => return *answer,
    };
    let lang = Lang::of(&state, &headers);
    let outcome = match (form.action.as_str(), wizard) {
        ("send_step_up", _) => rebind::step_up_send(&state, &who, &ip).await.map(|sent| {
            Next::Show(Shown {
                note: Some(lang.text().code_sent),
                resend_after: sent.resend_after,
                ..Shown::default()
            })
        }),
        ("step_up", _) => rebind::step_up_verify(&state, &who, form.code.trim(), &ip)
            .await
            .map(|_| Next::Reload),
        ("start", Wizard::Phone) => start_phone_change(&state, &who, &form, &ip).await,
        ("verify", Wizard::Phone) => rebind::phone_change_verify(&state, &who, form.code.trim(), &ip)
            .await
            .map(|_| Next::Reload),
        ("confirm", _) => confirm(&state, &who, wizard, form.accept.as_deref() == Some("true"), lang).await,
        _ => Err(ApiError::InvalidRequest("no such step".into())),
    };
    match outcome {
        Ok(Next::Reload) => Redirect::to(wizard.path()).into_response(),
        Ok(Next::Done(ended)) => Redirect::to(&format!("{}&ended={ended}", wizard.done_path())).into_response(),
        Ok(Next::Show(shown)) => render(&state, &headers, &who, wizard, shown).await,
        Err(e) => {
            let shown = Shown {
                // A refused new phone is asked for again, with the name typed.
                restart: form.action == "start",
                name: form.name.trim().to_owned(),
                ..Shown::refused(&e)
            };
            render(&state, &headers, &who, wizard, shown).await
        }
    }
}

/// The wizard's page and its form, at [`Wizard::path`].
pub fn routes(wizard: Wizard) -> MethodRouter<AppState> {
    get(
        move |State(state): State<AppState>,
              headers: HeaderMap,
              who: Option<Authenticated>,
              Query(q): Query<WizardQuery>| { show(state, headers, who, wizard, q) },
    )
    .post(
        move |State(state): State<AppState>,
              headers: HeaderMap,
              who: Option<Authenticated>,
              ClientIp(ip): ClientIp,
              Form(form): Form<WizardForm>| { act(state, headers, who, ip.to_string(), wizard, form) },
    )
}
