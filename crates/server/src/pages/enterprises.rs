//! The enterprise pages: `/enterprises`, the caller's enterprises, and
//! `/enterprises/{id}`, one of them. Members see its members; the owner and
//! admins also see each member's masked real name, nature, state and flags,
//! filter by them, freeze, unfreeze and approve members again, decide the
//! rebinds waiting for their approval, and read the enterprise's own log
//! (`/enterprises/{id}/audit`). Every check and change is the API's
//! (`flows::enterprises`, `flows::approvals`): an enterprise the caller is
//! no member of is not found, exactly as one that does not exist.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use shiming_domain::{AccountState, MemberFlag, Policy, Role};
use shiming_store::ApprovalRecord;

use super::audit::{audit_list, AuditShown, EventRow};
use super::csrf::Binding;
use super::i18n::{self, Lang, Text};
use super::{checked_post, page, Frame, MessagePage};
use crate::error::ApiError;
use crate::flows::approvals;
use crate::flows::enterprises::{self, PageAsked};
use crate::flows::members::{self, MemberShown};
use crate::session::Authenticated;
use crate::state::{rfc3339, AppState};

#[derive(Template)]
#[template(path = "enterprises.html")]
struct EnterprisesPage {
    lang: Lang,
    t: &'static Text,
    here: &'static str,
    signed_in: Option<String>,
    /// (id, name, the caller's role there).
    enterprises: Vec<(String, String, &'static str)>,
}

/// `GET /enterprises`.
pub(super) async fn list_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: Option<Authenticated>,
) -> Response {
    let Some(who) = who else {
        return Redirect::to("/login?next=/enterprises").into_response();
    };
    let all = match state.store.memberships_of(&who.account_id).await {
        Ok(all) => all,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let frame = Frame::new(&state, &headers, "/enterprises", Some(&who));
    page(
        StatusCode::OK,
        &EnterprisesPage {
            enterprises: all
                .into_iter()
                .map(|m| (m.enterprise_id, m.name, frame.t.role_word(m.role)))
                .collect(),
            lang: frame.lang,
            t: frame.t,
            here: frame.here,
            signed_in: frame.signed_in,
        },
    )
}

/// A member as the page shows them.
struct Row {
    account_id: String,
    name: String,
    role: &'static str,
    joined_at: String,
    /// What admins see; `None` to a plain member.
    admin: Option<AdminRow>,
}

struct AdminRow {
    real_name: String,
    nature: &'static str,
    state: &'static str,
    flags: Vec<&'static str>,
    frozen: bool,
    frozen_reason: Option<String>,
    /// Suspended by a change of person: an admin may approve them again.
    suspended: bool,
    /// Anyone but the owner and the caller may be acted on (the store
    /// decides who may act on whom).
    actionable: bool,
}

fn row(t: &Text, caller: &str, m: MemberShown) -> Row {
    let admin = m.admin.map(|a| AdminRow {
        real_name: {
            let status = t.status_word(a.real_name.status);
            match a.real_name.name_masked {
                Some(name) => format!("{status} · {name}"),
                None => status.to_owned(),
            }
        },
        nature: t.nature_word(a.nature),
        state: match a.state {
            AccountState::Active => t.state_active,
            AccountState::Frozen => t.state_frozen,
            AccountState::Banned => t.state_banned,
            AccountState::Deleted => t.state_deleted,
        },
        frozen: a.flags.contains(&MemberFlag::Frozen),
        suspended: a.flags.contains(&MemberFlag::Suspended),
        flags: a.flags.iter().map(|f| flag_word(t, *f)).collect(),
        frozen_reason: a.frozen_reason,
        actionable: m.role != Role::Owner && m.account_id != caller,
    });
    Row {
        name: m.display_name.unwrap_or_else(|| m.account_id.clone()),
        role: t.role_word(m.role),
        joined_at: m.joined_at,
        account_id: m.account_id,
        admin,
    }
}

fn flag_word(t: &Text, flag: MemberFlag) -> &'static str {
    match flag {
        MemberFlag::Managed => t.flag_managed,
        MemberFlag::PersonChanged => t.flag_person_changed,
        MemberFlag::Suspended => t.flag_suspended,
        MemberFlag::Frozen => t.flag_frozen,
    }
}

/// A rebind waiting for the enterprise's approval, as the page shows it.
struct ApprovalRow {
    id: String,
    /// The name the enterprise knows the member by, else the account id.
    member: String,
    credential: &'static str,
    requested_at: String,
    expires_at: String,
}

fn approval_row(state: &AppState, t: &Text, a: ApprovalRecord) -> Result<ApprovalRow, ApiError> {
    Ok(ApprovalRow {
        member: approvals::display_name(state, &a)?.unwrap_or_else(|| a.account_id.clone()),
        credential: t.kind_word(a.kind),
        requested_at: rfc3339(a.requested_at),
        expires_at: rfc3339(a.expires_at),
        id: a.id,
    })
}

/// A choice of a filter: (its word, its label, chosen).
type Choice = (&'static str, &'static str, bool);

#[derive(Template)]
#[template(path = "enterprise.html")]
struct EnterprisePage {
    lang: Lang,
    t: &'static Text,
    here: String,
    signed_in: Option<String>,
    csrf: String,
    id: String,
    name: String,
    role: &'static str,
    admin: bool,
    /// (what, whether it holds).
    policies: Vec<(&'static str, bool)>,
    filters: Vec<(&'static str, &'static str, Vec<Choice>)>,
    members: Vec<Row>,
    /// The next page's link, filters kept.
    next: Option<String>,
    approvals: Vec<ApprovalRow>,
    error: Option<&'static str>,
    done: Option<&'static str>,
}

/// The members list's query: its filters (empty: any) and page.
#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    #[serde(default)]
    role: String,
    #[serde(default)]
    real_name: String,
    #[serde(default)]
    flag: String,
    after: Option<String>,
    /// What a form just did (`?done=`, after its redirect).
    done: Option<String>,
}

impl ListQuery {
    fn word(w: &str) -> Option<&str> {
        Some(w).filter(|w| !w.is_empty())
    }

    fn asked(&self) -> PageAsked<'_> {
        PageAsked {
            limit: None,
            after: self.after.as_deref(),
            words: [
                Self::word(&self.role),
                Self::word(&self.real_name),
                Self::word(&self.flag),
            ],
        }
    }

    /// Whether it asks for anything but the first page, unfiltered.
    fn narrows(&self) -> bool {
        self.after.is_some() || !self.role.is_empty() || !self.real_name.is_empty() || !self.flag.is_empty()
    }

    /// The query of the page after `next`, these filters kept. Nothing
    /// needs escaping: the filters were read as words of their own, and a
    /// cursor is digits, a dot and an account id.
    fn next(&self, next: &str) -> String {
        let mut q: Vec<String> = [
            ("role", &self.role),
            ("real_name", &self.real_name),
            ("flag", &self.flag),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
        q.push(format!("after={next}"));
        q.join("&")
    }
}

fn filters(t: &Text, admin: bool, q: &ListQuery) -> Vec<(&'static str, &'static str, Vec<Choice>)> {
    let choices = |chosen: &str, words: &[(&'static str, &'static str)]| -> Vec<Choice> {
        std::iter::once(("", t.filter_any))
            .chain(words.iter().copied())
            .map(|(w, label)| (w, label, w == chosen))
            .collect()
    };
    let mut all = vec![(
        "role",
        t.role,
        choices(
            &q.role,
            &[
                ("owner", t.role_owner),
                ("admin", t.role_admin),
                ("member", t.role_member),
            ],
        ),
    )];
    if admin {
        all.push((
            "real_name",
            t.real_name,
            choices(
                &q.real_name,
                &[
                    ("verified", t.status_verified),
                    ("unverified", t.status_unverified),
                    ("inconsistent", t.status_inconsistent),
                ],
            ),
        ));
        all.push((
            "flag",
            t.flags,
            choices(
                &q.flag,
                &[
                    ("managed", t.flag_managed),
                    ("person_changed", t.flag_person_changed),
                    ("suspended", t.flag_suspended),
                    ("frozen", t.flag_frozen),
                ],
            ),
        ));
    }
    all
}

/// The policy as the page lists it: (what, whether it holds).
fn policies(t: &Text, p: &Policy) -> Vec<(&'static str, bool)> {
    vec![
        (t.policy_realname_required, p.realname_required),
        (t.policy_rebind_approval, p.rebind_approval),
        (t.policy_members_may_leave, p.members_may_leave),
        (t.policy_notify, p.notify_realname_changes),
    ]
}

/// What a form did, named in the redirect after it (`?done=<word>`), so
/// that reloading the page shows the note and posts nothing again.
#[derive(Clone, Copy)]
enum Done {
    Frozen,
    Unfrozen,
    MemberApproved,
    RebindApproved,
    RebindDenied,
}

impl Done {
    const ALL: [Done; 5] = [
        Done::Frozen,
        Done::Unfrozen,
        Done::MemberApproved,
        Done::RebindApproved,
        Done::RebindDenied,
    ];

    fn word(self) -> &'static str {
        match self {
            Done::Frozen => "frozen",
            Done::Unfrozen => "unfrozen",
            Done::MemberApproved => "member_approved",
            Done::RebindApproved => "rebind_approved",
            Done::RebindDenied => "rebind_denied",
        }
    }

    fn parse(word: &str) -> Option<Done> {
        Done::ALL.into_iter().find(|d| d.word() == word)
    }

    fn note(self, t: &Text) -> &'static str {
        match self {
            Done::Frozen => t.member_frozen,
            Done::Unfrozen => t.member_unfrozen,
            Done::MemberApproved => t.member_approved,
            Done::RebindApproved => t.rebind_approved,
            Done::RebindDenied => t.rebind_denied,
        }
    }
}

/// What the page shows of a form: the note it left, or why it was refused.
type Outcome = Result<Option<&'static str>, ApiError>;

/// Where a signed-out visitor of `path` goes: the sign-in, which comes back
/// to it. A path with anything but the characters of our ids in it comes
/// back to the list instead (it would not be a header value, or would
/// change the query).
fn sign_in_first(path: String) -> Response {
    let safe = path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b));
    let back = if safe { path.as_str() } else { "/enterprises" };
    Redirect::to(&format!("/login?next={back}")).into_response()
}

/// A refusal as a page of its own: the enterprise is not there for the
/// caller, or not to be acted in by them.
fn refused_page(state: &AppState, headers: &HeaderMap, who: &Authenticated, e: ApiError) -> Response {
    let frame = Frame::new(state, headers, "/enterprises", Some(who));
    page(
        e.status(),
        &MessagePage {
            heading: frame.t.enterprises_title,
            message: i18n::error_message(frame.lang, e.code()),
            back: "/enterprises",
            lang: frame.lang,
            t: frame.t,
            here: frame.here,
            signed_in: frame.signed_in,
        },
    )
}

/// The enterprise's page as it now stands for the caller, with what a form
/// did. A caller who may not see it (or act in it) gets the refusal alone.
async fn render(
    state: &AppState,
    headers: &HeaderMap,
    who: &Authenticated,
    id: &str,
    q: &ListQuery,
    outcome: Outcome,
) -> Response {
    let (caller, page_of, limit) = match enterprises::members_page(state, who, id, q.asked()).await {
        Ok(found) => found,
        Err(e @ (ApiError::InvalidRequest(_) | ApiError::EnterpriseAdminRequired)) if q.narrows() => {
            // A filter or cursor refused: the first page, with the refusal.
            return Box::pin(render(state, headers, who, id, &ListQuery::default(), Err(e))).await;
        }
        Err(e) => return refused_page(state, headers, who, e),
    };
    let admin = caller.role.administers();
    let frame = Frame::new(state, headers, "/enterprises", Some(who));
    let t = frame.t;
    let shown = page_of
        .iter()
        .map(|m| members::member(&state.vault, admin, m).map(|m| row(t, &who.account_id, m)))
        .collect::<Result<Vec<_>, _>>();
    let rows = match shown {
        Ok(rows) => rows,
        Err(e) => return e.into_response(),
    };
    let approvals = if admin {
        match approvals::waiting_list(state, id).await {
            Ok(all) => match all.into_iter().map(|a| approval_row(state, t, a)).collect() {
                Ok(rows) => rows,
                Err(e) => return e.into_response(),
            },
            Err(e) => return e.into_response(),
        }
    } else {
        Vec::new()
    };
    let next = members::next_members(&page_of, limit).map(|n| format!("/enterprises/{id}?{}", q.next(&n)));
    let (status, error, done) = match outcome {
        Ok(done) => (StatusCode::OK, None, done),
        Err(e) => (e.status(), Some(i18n::error_message(frame.lang, e.code())), None),
    };
    page(
        status,
        &EnterprisePage {
            csrf: Binding::Session(who.session_id.clone()).token(state),
            here: format!("/enterprises/{id}"),
            id: id.to_owned(),
            name: caller.name.clone(),
            role: t.role_word(caller.role),
            admin,
            policies: policies(t, &caller.policy),
            filters: filters(t, admin, q),
            members: rows,
            next,
            approvals,
            error,
            done,
            lang: frame.lang,
            t,
            signed_in: frame.signed_in,
        },
    )
}

/// `GET /enterprises/{id}?role=&real_name=&flag=&after=`.
pub(super) async fn enterprise_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: Option<Authenticated>,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    let Some(who) = who else {
        return sign_in_first(format!("/enterprises/{id}"));
    };
    let t = Lang::of(&state, &headers).text();
    let done = q.done.as_deref().and_then(Done::parse).map(|d| d.note(t));
    render(&state, &headers, &who, &id, &q, Ok(done)).await
}

#[derive(Deserialize)]
pub(super) struct ActForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    reason: String,
}

/// What a form acts on.
enum Target {
    /// A member, by account id: `action=freeze|unfreeze|approve`.
    Member(String),
    /// A rebind waiting for approval, by its id: `action=approve|deny`.
    Approval(String),
}

/// Does what the form asks of `target` in the enterprise `id`, as the API
/// does: what it did, or the refusal.
async fn act(
    state: &AppState,
    who: &Authenticated,
    id: &str,
    target: Target,
    form: &ActForm,
) -> Result<Done, ApiError> {
    match (target, form.action.as_str()) {
        (Target::Member(account), "freeze") => enterprises::freeze(state, who, id, &account, &form.reason)
            .await
            .map(|()| Done::Frozen),
        (Target::Member(account), "unfreeze") => enterprises::unfreeze(state, who, id, &account)
            .await
            .map(|()| Done::Unfrozen),
        (Target::Member(account), "approve") => enterprises::approve(state, who, id, &account)
            .await
            .map(|()| Done::MemberApproved),
        (Target::Approval(approval), "approve") => approvals::approve(state, who, id, &approval)
            .await
            .map(|_| Done::RebindApproved),
        (Target::Approval(approval), "deny") => approvals::deny(state, who, id, &approval, &form.reason)
            .await
            .map(|_| Done::RebindDenied),
        (Target::Member(_), _) => Err(ApiError::InvalidRequest("action is freeze, unfreeze or approve".into())),
        (Target::Approval(_), _) => Err(ApiError::InvalidRequest("action is approve or deny".into())),
    }
}

/// A form of the enterprise's page, its token checked: done, `303` to the
/// page with its note (the id is a real enterprise's: the caller acted in
/// it); refused, the page again with why, and the refusal's status.
async fn posted(
    state: &AppState,
    headers: &HeaderMap,
    who: Option<Authenticated>,
    id: &str,
    target: Target,
    form: &ActForm,
) -> Response {
    let who = match checked_post(state, headers, who, &form.csrf, "/enterprises") {
        Ok(who) => who,
        Err(answer) => return *answer,
    };
    match act(state, &who, id, target, form).await {
        Ok(done) => Redirect::to(&format!("/enterprises/{id}?done={}", done.word())).into_response(),
        Err(e) => render(state, headers, &who, id, &ListQuery::default(), Err(e)).await,
    }
}

/// `POST /enterprises/{id}/members/{account_id}` `action=freeze|unfreeze|approve`
/// (`reason` to freeze).
pub(super) async fn act_on_member(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: Option<Authenticated>,
    Path((id, account_id)): Path<(String, String)>,
    Form(form): Form<ActForm>,
) -> Response {
    posted(&state, &headers, who, &id, Target::Member(account_id), &form).await
}

/// `POST /enterprises/{id}/rebind-approvals/{approval_id}` `action=approve|deny`
/// (`reason` to deny).
pub(super) async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: Option<Authenticated>,
    Path((id, approval_id)): Path<(String, String)>,
    Form(form): Form<ActForm>,
) -> Response {
    posted(&state, &headers, who, &id, Target::Approval(approval_id), &form).await
}

#[derive(Deserialize)]
pub(super) struct AuditQuery {
    before: Option<String>,
}

/// `GET /enterprises/{id}/audit?before=`: the enterprise's own events,
/// newest first, a page at a time; owner and admins only.
pub(super) async fn audit_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    who: Option<Authenticated>,
    Path(id): Path<String>,
    Query(q): Query<AuditQuery>,
) -> Response {
    let Some(who) = who else {
        return sign_in_first(format!("/enterprises/{id}/audit"));
    };
    let (events, limit) = match enterprises::audit_page(&state, &who, &id, None, q.before.as_deref()).await {
        Ok(found) => found,
        Err(e) => return refused_page(&state, &headers, &who, e),
    };
    let frame = Frame::new(&state, &headers, "/enterprises", Some(&who));
    let older = members::next_events(&events, limit).map(|seq| format!("/enterprises/{id}/audit?before={seq}"));
    let rows = events
        .iter()
        .map(|e| EventRow {
            at: rfc3339(e.at),
            what: i18n::event_name(frame.lang, &e.kind),
            // Who did it, and to whom: account ids, as admins know their
            // members (details hold nothing else people can read).
            detail: [
                e.account_id.as_deref().map(|a| format!("{} {a}", frame.t.actor)),
                e.details["member"].as_str().map(|m| format!("{} {m}", frame.t.member)),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · "),
        })
        .collect();
    audit_list(
        &frame,
        AuditShown {
            here: format!("/enterprises/{id}/audit"),
            heading: frame.t.enterprise_log,
            events: rows,
            older,
            back: (format!("/enterprises/{id}"), frame.t.back_to_enterprise),
        },
    )
}
