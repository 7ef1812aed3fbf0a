//! Rebinding (the product's design, §1): the real name of an account changes only by
//! changing the credentials that carry it. Every step needs a live step-up;
//! a pending change is bound to the account and the session that started it
//! and is looked up through them only; the commit is one transaction that
//! swaps the credential, re-derives the real name, applies the nature,
//! revokes every other session, ends every other open change and code, and
//! queues the notices.

use serde::{Deserialize, Serialize};
use serde_json::json;
use shiming_domain::rebind::{self, Change, CommitEvent, RebindLimits, YEAR_SECS};
use shiming_domain::{CodePurpose, CredentialKind, Nature, Person, Phone, RealNameStatus, SmsCode};
use shiming_providers::realname::Verdict;
use shiming_store::{
    AccountView, Approving, AuditDraft, CodeTry, ExpectedOutcome, NewAttestation, NewCredential, NewNotice,
    NewPendingChange, NewPerson, PendingChange, Proof, RebindCommit, SteppedUp, StoreError,
};

use super::accounts::active_view;
use super::approvals;
use super::codes::{self, Sent};
use super::realname;
use super::security::{self, open_person, open_phone, PHONE_VALUE, WECHAT_VALUE};
use crate::config::WechatRealName;
use crate::error::{ApiError, ApiResult};
use crate::session::{self, Authenticated};
use crate::state::{rfc3339, AppState};

pub const NOTICE_PHONE: &str = "notice.phone";
pub const NOTICE_TEXT: &str = "notice.text";
/// Seal context of a pending change's preview.
const PENDING_PREVIEW: &str = "pending.preview";

/// Refuses unless the session stepped up within the window.
pub fn require_step_up(state: &AppState, who: &Authenticated) -> ApiResult<()> {
    match who.step_up_until {
        Some(until) if until > state.now() => Ok(()),
        _ => Err(ApiError::StepUpRequired),
    }
}

// ---- step-up ----

/// The bound phone, for step-up by SMS; an account without one is told what it can do.
fn bound_phone(state: &AppState, view: &AccountView) -> ApiResult<Phone> {
    match view.credential(CredentialKind::Phone) {
        Some(c) => open_phone(&state.vault, &c.value_sealed),
        None if view.credential(CredentialKind::Wechat).is_some() => Err(ApiError::StepUpUnavailable(
            "this account has no phone: step up by WeChat re-authorization (GET /api/v1/step-up/wechat/start)",
        )),
        None => Err(ApiError::StepUpUnavailable(
            "this account has no credential to step up with; ask your enterprise admin, or compliance, to verify you",
        )),
    }
}

pub async fn step_up_send(state: &AppState, who: &Authenticated, client_ip: &str) -> ApiResult<Sent> {
    let view = active_view(state, who).await?;
    let phone = bound_phone(state, &view)?;
    codes::send(state, &phone, CodePurpose::StepUp, Some(who), client_ip, None).await
}

pub async fn step_up_verify(state: &AppState, who: &Authenticated, code: &str, client_ip: &str) -> ApiResult<i64> {
    let code = SmsCode::parse(code)?;
    let view = active_view(state, who).await?;
    let phone = bound_phone(state, &view)?;
    let code = codes::code_try(
        state,
        &phone,
        CodePurpose::StepUp,
        Some(who),
        &code,
        client_ip,
        Vec::new(),
    );
    grant_step_up(state, who, "sms", Some(code)).await
}

/// Privileges the session for the step-up window; a code that proves the
/// step-up is tried and used up in the same transaction.
pub async fn grant_step_up(
    state: &AppState,
    who: &Authenticated,
    method: &str,
    code: Option<CodeTry>,
) -> ApiResult<i64> {
    let now = state.now();
    let until = now + state.config.rebind.step_up_secs;
    let audit = AuditDraft::new(
        "session.stepped_up",
        &who.account_id,
        now,
        json!({ "session_id": who.session_id, "method": method }),
    );
    match state.store.step_up(&who.session_id, until, code, audit).await? {
        SteppedUp::Granted => Ok(until),
        SteppedUp::CodeRefused(tried) => Err(codes::refusal(state, Some(who), tried)),
    }
}

// ---- limits and previews ----

pub fn limits(state: &AppState) -> RebindLimits {
    RebindLimits {
        cooldown_secs: state.config.rebind.cooldown_secs,
        max_person_changes_per_year: state.config.rebind.max_person_changes_per_year,
    }
}

/// Refuses early, before a proof is asked for, a rebind the limits would
/// refuse at its commit (where they are decided again, in the transaction).
async fn check_limits(state: &AppState, account_id: &str, person_changes: bool) -> ApiResult<()> {
    let now = state.now();
    let history = state.store.rebinds_since(account_id, now - YEAR_SECS).await?;
    Ok(rebind::check_limits(&history, now, person_changes, limits(state))?)
}

/// The person hash a credential of the account attests now.
fn attested(view: &AccountView, kind: CredentialKind) -> Option<Vec<u8>> {
    view.credential(kind)
        .and_then(|c| c.attestation.as_ref())
        .map(|a| a.person.person_hash.clone())
}

/// What the commit will do, shown before it is confirmed.
#[derive(Debug, Serialize, Deserialize)]
pub struct PreviewView {
    pub credential: CredentialKind,
    pub person_changes: bool,
    pub real_name_after: MaskedPerson,
    pub status_after: RealNameStatus,
    pub nature_after: Nature,
    pub stops_signing_in: Vec<String>,
    pub sessions_revoked: usize,
    pub expires_at: Option<String>,
    /// What the change does to the enterprise that manages the account
    /// (empty when none does, or the person stays the same).
    #[serde(default)]
    pub enterprise_effects: Vec<EnterpriseEffect>,
}

/// A person change of an enterprise-managed account: the account leaves
/// the enterprise's management (it turns personal), and its membership there
/// is flagged `person_changed` and suspended until an admin approves it
/// again or removes it.
#[derive(Debug, Serialize, Deserialize)]
pub struct EnterpriseEffect {
    pub enterprise_id: String,
    pub enterprise_name: String,
    pub person_changed: bool,
    pub suspended: bool,
    pub managed_after: bool,
}

/// The enterprise effects of a change whose nature goes from `before` to
/// `after`: those of the enterprise that manages the account.
async fn enterprise_effects(
    state: &AppState,
    account_id: &str,
    before: Nature,
    after: Nature,
) -> ApiResult<Vec<EnterpriseEffect>> {
    if !(before == Nature::Enterprise && after == Nature::Personal) {
        return Ok(Vec::new());
    }
    let all = state.store.memberships_of(account_id).await?;
    Ok(all
        .into_iter()
        .filter(|m| m.manages)
        .map(|m| EnterpriseEffect {
            enterprise_id: m.enterprise_id,
            enterprise_name: m.name,
            person_changed: true,
            suspended: true,
            managed_after: false,
        })
        .collect())
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MaskedPerson {
    pub name_masked: Option<String>,
    pub id_number_masked: Option<String>,
    pub source: Option<CredentialKind>,
}

/// How a credential is named where it stops signing in.
fn describe(state: &AppState, view: &AccountView, kind: CredentialKind) -> ApiResult<Option<String>> {
    let Some(c) = view.credential(kind) else {
        return Ok(None);
    };
    let masked = security::masked_credential(&state.vault, kind, &c.value_sealed)?;
    Ok(Some(match kind {
        CredentialKind::Phone => format!("phone {masked}"),
        CredentialKind::Wechat => format!("WeChat {masked}"),
    }))
}

/// What replacing (with `incoming`) or unbinding the credential of `kind`
/// does to the real name, by the domain's rules.
fn outcome(view: &AccountView, kind: CredentialKind, incoming: Option<&NewCredential>) -> rebind::Preview<Vec<u8>> {
    let change = match incoming {
        Some(c) => Change::Replace {
            kind,
            person: c.attestation.as_ref().map(|a| a.person.person_hash.clone()),
        },
        None => Change::Unbind { kind },
    };
    rebind::preview(
        view.nature,
        attested(view, CredentialKind::Phone),
        attested(view, CredentialKind::Wechat),
        view.realname_person_hash.clone(),
        &change,
    )
}

/// Previews replacing (with `incoming`) or unbinding the credential of
/// `kind`: what is shown, and the outcome the commit must find unchanged.
async fn preview(
    state: &AppState,
    who: &Authenticated,
    view: &AccountView,
    kind: CredentialKind,
    incoming: Option<&NewCredential>,
    expires_at: Option<i64>,
) -> ApiResult<(PreviewView, ExpectedOutcome)> {
    let incoming_person = incoming.and_then(|c| c.attestation.as_ref()).map(|a| &a.person);
    let p = outcome(view, kind, incoming);
    // The person shown after: the incoming one, or one an existing credential attests.
    let shown = match (&p.after.person, incoming_person) {
        (Some(hash), Some(new)) if *hash == new.person_hash => {
            Some(open_person(&state.vault, &new.name_sealed, &new.id_number_sealed)?)
        }
        (Some(hash), _) => {
            let a = view
                .credentials
                .iter()
                .filter_map(|c| c.attestation.as_ref())
                .find(|a| a.person.person_hash == *hash);
            a.map(|a| open_person(&state.vault, &a.person.name_sealed, &a.person.id_number_sealed))
                .transpose()?
        }
        (None, _) => None,
    };
    let replaces = view.credential(kind).map(|c| c.id);
    let sessions_revoked = if rebind::is_rebind(replaces.is_some(), p.person_changes) {
        session::live_sessions(state, &who.account_id)
            .await?
            .iter()
            .filter(|s| s.id != who.session_id)
            .count()
    } else {
        0
    };
    let shown_view = PreviewView {
        credential: kind,
        person_changes: p.person_changes,
        real_name_after: MaskedPerson {
            name_masked: shown.as_ref().map(|s| s.name.masked()),
            id_number_masked: shown.as_ref().map(|s| s.id_number.masked()),
            source: p.after.source,
        },
        status_after: p.after.status,
        nature_after: p.nature_after,
        stops_signing_in: describe(state, view, kind)?.into_iter().collect(),
        sessions_revoked,
        expires_at: expires_at.map(rfc3339),
        enterprise_effects: enterprise_effects(state, &who.account_id, view.nature, p.nature_after).await?,
    };
    let expected = ExpectedOutcome {
        replaces,
        person_changes: p.person_changes,
        status_after: p.after.status,
        nature_after: p.nature_after,
    };
    Ok((shown_view, expected))
}

/// Records the proof of a pending change with its preview, sealed, and the
/// outcome its confirm must find unchanged; answers the preview.
async fn prove(
    state: &AppState,
    who: &Authenticated,
    view: &AccountView,
    pending_id: i64,
    credential: &NewCredential,
    expires_at: i64,
) -> ApiResult<PreviewView> {
    let (shown, expected) = preview(state, who, view, credential.kind, Some(credential), Some(expires_at)).await?;
    let json = serde_json::to_vec(&shown).map_err(|e| ApiError::Internal(e.to_string()))?;
    let proof = Proof {
        preview_sealed: state.vault.seal(PENDING_PREVIEW, &json),
        expected,
        at: state.now(),
    };
    let person = credential.attestation.as_ref().map(|a| a.person.clone());
    if !state.store.prove_change(pending_id, person, &proof).await? {
        return Err(ApiError::FlowExpired);
    }
    Ok(shown)
}

/// Opens a pending change for a proven credential (WeChat: its proof is the
/// OAuth round trip itself) and answers its preview.
async fn open_proven_change(
    state: &AppState,
    who: &Authenticated,
    view: &AccountView,
    credential: NewCredential,
) -> ApiResult<PreviewView> {
    let now = state.now();
    let expires_at = now + state.config.rebind.flow_ttl_secs;
    let change = NewPendingChange {
        account_id: who.account_id.clone(),
        session_id: who.session_id.clone(),
        credential: credential.clone(),
        created_at: now,
        expires_at,
    };
    let id = state.store.open_change(change).await?;
    prove(state, who, view, id, &credential, expires_at).await
}

/// The preview a proof sealed: what the change's confirm commits.
fn sealed_preview(state: &AppState, proof: &Proof) -> ApiResult<PreviewView> {
    let json = state.vault.open(PENDING_PREVIEW, &proof.preview_sealed)?;
    serde_json::from_slice(&json).map_err(|e| ApiError::Internal(e.to_string()))
}

/// The preview of the session's proven, open change of `kind`: what its
/// confirm commits.
pub async fn pending_preview(state: &AppState, who: &Authenticated, kind: CredentialKind) -> ApiResult<PreviewView> {
    require_step_up(state, who)?;
    let (_, proof) = proven_pending(state, who, kind).await?;
    sealed_preview(state, &proof)
}

/// Where the session's change of `kind` stands.
pub enum Pending {
    /// Proven: its preview.
    Proven(PreviewView),
    /// Waiting for its code: the new credential, masked.
    Unproven(String),
    None,
}

/// Where the session's change of `kind` stands, in one read.
pub async fn pending(state: &AppState, who: &Authenticated, kind: CredentialKind) -> ApiResult<Pending> {
    require_step_up(state, who)?;
    let change = state
        .store
        .pending_change(&who.account_id, &who.session_id, kind, state.now())
        .await?;
    Ok(match change {
        Some(p) => match &p.proof {
            Some(proof) => Pending::Proven(sealed_preview(state, proof)?),
            None => Pending::Unproven(security::masked_credential(
                &state.vault,
                kind,
                &p.credential.value_sealed,
            )?),
        },
        None => Pending::None,
    })
}

async fn proven_pending(
    state: &AppState,
    who: &Authenticated,
    kind: CredentialKind,
) -> ApiResult<(PendingChange, Proof)> {
    let pending = state
        .store
        .pending_change(&who.account_id, &who.session_id, kind, state.now())
        .await?
        .ok_or(ApiError::FlowExpired)?;
    let proof = pending.proof.clone().ok_or(ApiError::FlowExpired)?;
    Ok((pending, proof))
}

// ---- the commit ----

/// A text message to `to`, sealed for the queue.
pub(crate) fn notice(state: &AppState, to: &Phone, text: &str) -> NewNotice {
    NewNotice {
        phone_sealed: state.vault.seal(NOTICE_PHONE, to.e164().as_bytes()),
        text_sealed: state.vault.seal(NOTICE_TEXT, text.as_bytes()),
    }
}

/// The text messages a commit queues: to the new phone and the old one (a
/// phone change), or to the bound phone (a WeChat change).
fn text_notices(
    state: &AppState,
    view: &AccountView,
    kind: CredentialKind,
    incoming: Option<&NewCredential>,
    event: CommitEvent,
) -> ApiResult<Vec<NewNotice>> {
    let account = &view.id;
    let bound_phone = view
        .credential(CredentialKind::Phone)
        .map(|c| open_phone(&state.vault, &c.value_sealed))
        .transpose()?;
    let mut notices = Vec::new();
    match (kind, incoming) {
        (CredentialKind::Phone, Some(new)) => {
            let new_phone = open_phone(&state.vault, &new.value_sealed)?;
            notices.push(notice(state, &new_phone, &format!("【shiming】本号码已绑定为账号 {account} 的手机号，如非本人操作请立即联系客服。This number is now bound to shiming account {account}.")));
            if let Some(old) = &bound_phone {
                notices.push(notice(state, old, &format!("【shiming】您的号码已与账号 {account} 解绑，如非本人操作请立即联系客服。Your number was unbound from shiming account {account}.")));
            }
        }
        (CredentialKind::Wechat, _) | (CredentialKind::Phone, None) => {
            if let Some(phone) = &bound_phone {
                let (zh, en) = match event {
                    CommitEvent::Bound => ("绑定了微信", "had a WeChat bound"),
                    CommitEvent::Rebound => ("换绑了微信", "had its WeChat changed"),
                    CommitEvent::Unbound => ("解绑了微信", "had its WeChat unbound"),
                };
                notices.push(notice(
                    state,
                    phone,
                    &format!(
                        "【shiming】账号 {account} {zh}，如非本人操作请立即联系客服。Shiming account {account} {en}."
                    ),
                ));
            }
        }
    }
    Ok(notices)
}

/// The account a commit changes, and the session it keeps (the one that
/// asked for the change).
pub(crate) struct Committer<'a> {
    pub account_id: &'a str,
    pub keep_session: &'a str,
}

impl<'a> From<&'a Authenticated> for Committer<'a> {
    fn from(who: &'a Authenticated) -> Self {
        Committer {
            account_id: &who.account_id,
            keep_session: &who.session_id,
        }
    }
}

/// What a commit came to.
pub enum Committed {
    /// Done: the answer (sessions revoked, the nature and real name now).
    Done(serde_json::Value),
    /// Nothing changed: the enterprise of this id, which manages the
    /// account, approves its rebinds first.
    WaitsFor(String),
}

impl Committed {
    /// The answer of a commit that waits for no approval: an approved one,
    /// or a first bind of the account's own person (the store asks for an
    /// approval only of a replacement, a change of person or an unbind).
    pub fn done(self) -> ApiResult<serde_json::Value> {
        match self {
            Committed::Done(done) => Ok(done),
            Committed::WaitsFor(_) => Err(ApiError::Internal("a commit that waits for no approval waited".into())),
        }
    }
}

/// A change of the credential of `kind` to commit: to `incoming`
/// (confirming the pending change `pending_id`, where there is one), or,
/// with `incoming` `None`, its unbinding; `expected` is the outcome its
/// preview showed.
pub(crate) struct CredentialChange {
    pub kind: CredentialKind,
    pub incoming: Option<NewCredential>,
    pub pending_id: Option<i64>,
    pub expected: ExpectedOutcome,
}

/// Commits `change` of the account `view` shows. The store derives the
/// outcome again in its transaction and commits only the expected one,
/// carrying out `approval` where an admin approves it.
pub(crate) async fn commit(
    state: &AppState,
    by: Committer<'_>,
    view: &AccountView,
    change: CredentialChange,
    approval: Option<Approving>,
) -> ApiResult<Committed> {
    let CredentialChange {
        kind,
        incoming,
        pending_id,
        expected,
    } = change;
    // The same event the store's plan records: it checks `replaces` again.
    let event = CommitEvent::of(expected.replaces.is_some(), incoming.is_some());
    // The account's own notice names the credential that came, or the one that went.
    let named = match &incoming {
        Some(new) => security::masked_credential(&state.vault, kind, &new.value_sealed)?,
        None => view
            .credential(kind)
            .map(|c| security::masked_credential(&state.vault, kind, &c.value_sealed))
            .transpose()?
            .ok_or(ApiError::NoWechatBound)?,
    };
    let commit = RebindCommit {
        pending_id,
        account_id: by.account_id.to_owned(),
        keep_session: by.keep_session.to_owned(),
        kind,
        notices: text_notices(state, view, kind, incoming.as_ref(), event)?,
        account_notice: security::account_notice(&state.vault, event.as_str(), kind, &named),
        // Names the member: admins know their members by account.
        admin_notice: security::account_notice(&state.vault, "enterprise.member_realname_changed", kind, by.account_id),
        new: incoming,
        expected,
        limits: limits(state),
        approval,
        at: state.now(),
    };
    let revoked = match state.store.commit_rebind(commit).await {
        Ok(n) => n,
        Err(StoreError::ApprovalRequired(enterprise_id)) => return Ok(Committed::WaitsFor(enterprise_id)),
        Err(StoreError::Conflict(_)) => return Err(ApiError::FlowExpired),
        Err(e) => return Err(e.into()),
    };
    metrics::counter!("shiming_credential_changes_total", "credential" => kind.as_str(), "event" => event.as_str())
        .increment(1);
    let after = state
        .store
        .account_view(by.account_id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    Ok(Committed::Done(json!({
        "committed": true,
        "sessions_revoked": revoked,
        "nature": after.nature,
        "real_name": security::real_name_view(&state.vault, &after)?,
    })))
}

/// What a confirm came to.
pub enum Confirmed {
    /// Committed: the answer.
    Committed(serde_json::Value),
    /// The managing enterprise approves it first: the approval asked for.
    PendingApproval(serde_json::Value),
}

/// Confirms the session's proven change of `kind`. When what its preview
/// showed no longer holds, nothing changes: the preview is taken again (the
/// client reads it and confirms again) and the answer is `preview_changed`.
/// When the enterprise that manages the account approves its rebinds,
/// nothing changes yet either: an admin's approval is asked for (once per
/// change) and the change waits for it.
pub async fn confirm(
    state: &AppState,
    who: &Authenticated,
    kind: CredentialKind,
    accept: bool,
) -> ApiResult<Confirmed> {
    require_step_up(state, who)?;
    if !accept {
        return Err(ApiError::ConsequencesNotAccepted);
    }
    let (pending, proof) = proven_pending(state, who, kind).await?;
    let view = active_view(state, who).await?;
    let credential = pending.credential.clone();
    let change = CredentialChange {
        kind,
        incoming: Some(credential),
        pending_id: Some(pending.id),
        expected: proof.expected,
    };
    match commit(state, who.into(), &view, change, None).await {
        Ok(Committed::Done(done)) => Ok(Confirmed::Committed(done)),
        Ok(Committed::WaitsFor(enterprise_id)) => Ok(Confirmed::PendingApproval(
            approvals::ask(state, who, &pending, kind, &enterprise_id).await?,
        )),
        Err(ApiError::PreviewChanged) => {
            let view = active_view(state, who).await?;
            prove(state, who, &view, pending.id, &pending.credential, pending.expires_at).await?;
            Err(ApiError::PreviewChanged)
        }
        Err(e) => Err(e),
    }
}

/// What unbinding WeChat would do, after the checks its commit makes: a
/// WeChat to unbind, and a phone that stays to sign in with.
async fn unbind_preview_of(
    state: &AppState,
    who: &Authenticated,
    view: &AccountView,
) -> ApiResult<(PreviewView, ExpectedOutcome)> {
    if view.credential(CredentialKind::Wechat).is_none() {
        return Err(ApiError::NoWechatBound);
    }
    if view.credential(CredentialKind::Phone).is_none() {
        return Err(ApiError::LastCredential);
    }
    preview(state, who, view, CredentialKind::Wechat, None, None).await
}

/// The consequences of unbinding WeChat, shown before it is confirmed.
pub async fn unbind_preview(state: &AppState, who: &Authenticated) -> ApiResult<PreviewView> {
    require_step_up(state, who)?;
    let view = active_view(state, who).await?;
    Ok(unbind_preview_of(state, who, &view).await?.0)
}

/// Unbinds WeChat; the phone must stay.
pub async fn unbind_wechat(state: &AppState, who: &Authenticated, accept: bool) -> ApiResult<serde_json::Value> {
    require_step_up(state, who)?;
    if !accept {
        return Err(ApiError::ConsequencesNotAccepted);
    }
    let view = active_view(state, who).await?;
    let (_, expected) = unbind_preview_of(state, who, &view).await?;
    let change = CredentialChange {
        kind: CredentialKind::Wechat,
        incoming: None,
        pending_id: None,
        expected,
    };
    match commit(state, who.into(), &view, change, None).await? {
        Committed::Done(done) => Ok(done),
        // Unbinding, then binding another, would be a rebind unapproved.
        Committed::WaitsFor(_) => Err(ApiError::UnbindNeedsApproval),
    }
}

/// Refuses a WeChat identity another account holds (the unique constraint
/// decides again at the commit).
async fn refuse_bound_elsewhere(state: &AppState, credential: &NewCredential) -> ApiResult<()> {
    match state
        .store
        .account_by_credential(CredentialKind::Wechat, &credential.lookup_hash)
        .await?
    {
        Some(_) => Err(ApiError::CredentialInUse),
        None => Ok(()),
    }
}

/// What binding a first WeChat did.
pub enum BindOutcome {
    Bound,
    /// It brings in another real-name person: a rebind in every respect,
    /// pending until confirmed at `/account/wechat/rebind/confirm`.
    RebindReady(PreviewView),
}

/// Binds a first WeChat, after a step-up like every change of a credential:
/// a credential is a way in. One that brings in a person other than the
/// account's real-name person opens a pending change and answers its preview.
pub async fn bind_wechat(state: &AppState, who: &Authenticated, credential: NewCredential) -> ApiResult<BindOutcome> {
    require_step_up(state, who)?;
    let view = active_view(state, who).await?;
    if view.credential(CredentialKind::Wechat).is_some() {
        return Err(ApiError::AlreadyBound);
    }
    refuse_bound_elsewhere(state, &credential).await?;
    let (_, expected) = preview(state, who, &view, CredentialKind::Wechat, Some(&credential), None).await?;
    if expected.person_changes {
        check_limits(state, &who.account_id, true).await?;
        return Ok(BindOutcome::RebindReady(
            open_proven_change(state, who, &view, credential).await?,
        ));
    }
    let change = CredentialChange {
        kind: CredentialKind::Wechat,
        incoming: Some(credential),
        pending_id: None,
        expected,
    };
    commit(state, who.into(), &view, change, None).await?.done()?;
    Ok(BindOutcome::Bound)
}

// ---- changing the phone ----

pub struct StartPhoneChange {
    pub new_phone: Phone,
    /// The new phone's holder; `None`: the account's current real-name person.
    pub person: Option<Person>,
}

/// Step 1: a code to the new phone, and a pending change bound to this session.
pub async fn phone_change_start(
    state: &AppState,
    who: &Authenticated,
    req: StartPhoneChange,
    client_ip: &str,
) -> ApiResult<Sent> {
    require_step_up(state, who)?;
    let view = active_view(state, who).await?;
    let new_hash = security::phone_hash(&state.vault, &req.new_phone);
    if view
        .credential(CredentialKind::Phone)
        .is_some_and(|c| open_phone(&state.vault, &c.value_sealed).is_ok_and(|p| p == req.new_phone))
    {
        return Err(ApiError::NoChange);
    }
    let current = security::real_name(&view).person.map(|a| a.person.clone());
    let person = match (req.person, &current) {
        (Some(p), _) => security::seal_person(&state.vault, &p),
        (None, Some(c)) => NewPerson {
            person_hash: c.person_hash.clone(),
            name_sealed: c.name_sealed.clone(),
            id_number_sealed: c.id_number_sealed.clone(),
        },
        (None, None) => return Err(ApiError::PersonIncomplete),
    };
    let person_changes = person_before(&view).is_some_and(|b| b != person.person_hash);
    let replaces = view.credential(CredentialKind::Phone).is_some();
    if rebind::is_rebind(replaces, person_changes) {
        check_limits(state, &who.account_id, person_changes).await?;
    }
    let now = state.now();
    let credential = NewCredential {
        attestation: Some(NewAttestation {
            person,
            source: "carrier",
        }),
        ..NewCredential::bare(
            CredentialKind::Phone,
            new_hash,
            state.vault.seal(PHONE_VALUE, req.new_phone.e164().as_bytes()),
        )
    };
    let change = NewPendingChange {
        account_id: who.account_id.clone(),
        session_id: who.session_id.clone(),
        credential,
        created_at: now,
        expires_at: now + state.config.rebind.flow_ttl_secs,
    };
    codes::send(
        state,
        &req.new_phone,
        CodePurpose::PhoneChange,
        Some(who),
        client_ip,
        Some(change),
    )
    .await
}

/// Step 2: proves possession of the new phone and has the carrier confirm its
/// holder; answers the preview.
pub async fn phone_change_verify(
    state: &AppState,
    who: &Authenticated,
    code: &str,
    client_ip: &str,
) -> ApiResult<PreviewView> {
    require_step_up(state, who)?;
    let code = SmsCode::parse(code)?;
    let view = active_view(state, who).await?;
    let pending = state
        .store
        .pending_change(&who.account_id, &who.session_id, CredentialKind::Phone, state.now())
        .await?
        .ok_or(ApiError::FlowExpired)?;
    let new_phone = open_phone(&state.vault, &pending.credential.value_sealed)?;
    // The code is the licence for one carrier check: it is used up, and the
    // check counted against the account's cap, in one transaction.
    let cap = vec![realname::checks_cap(state, &who.account_id)];
    codes::check(
        state,
        &new_phone,
        CodePurpose::PhoneChange,
        Some(who),
        &code,
        client_ip,
        cap,
    )
    .await?;
    // Whether the number is bound elsewhere is told only to whoever holds it,
    // so that a step-up is no licence to probe which numbers are registered.
    if state
        .store
        .account_by_credential(CredentialKind::Phone, &pending.credential.lookup_hash)
        .await?
        .is_some()
    {
        return Err(ApiError::CredentialInUse);
    }
    let sealed = &pending
        .credential
        .attestation
        .as_ref()
        .ok_or_else(|| ApiError::Internal("a phone change without a person".into()))?
        .person;
    let person = open_person(&state.vault, &sealed.name_sealed, &sealed.id_number_sealed)?;
    if realname::ask_carrier(state, &new_phone, &person).await? == Verdict::Mismatch {
        return Err(ApiError::CredentialNotVerified);
    }
    prove(state, who, &view, pending.id, &pending.credential, pending.expires_at).await
}

// ---- rebinding WeChat ----

/// Checks a WeChat identity proven for a rebind, then opens the change.
pub async fn wechat_proven(state: &AppState, who: &Authenticated, credential: NewCredential) -> ApiResult<PreviewView> {
    require_step_up(state, who)?;
    let view = active_view(state, who).await?;
    if view.credential(CredentialKind::Wechat).is_some_and(|c| {
        state
            .vault
            .open_string(WECHAT_VALUE, &c.value_sealed)
            .is_ok_and(|v| state.vault.keyed_hash("wechat", &v).to_vec() == credential.lookup_hash)
    }) {
        return Err(ApiError::NoChange);
    }
    // Only a claim endpoint can attest a WeChat at its round trip. Otherwise
    // the new WeChat comes unattested (city_service verifies it afterwards),
    // and the preview's status_after says what the real name becomes.
    if credential.attestation.is_none() && state.config.wechat.realname_mode() == WechatRealName::PlatformClaim {
        return Err(ApiError::CredentialNotVerified);
    }
    refuse_bound_elsewhere(state, &credential).await?;
    let person_changes = outcome(&view, CredentialKind::Wechat, Some(&credential)).person_changes;
    check_limits(state, &who.account_id, person_changes).await?;
    open_proven_change(state, who, &view, credential).await
}

/// Has WeChat check the person of the new WeChat of the session's proven
/// rebind (`wechat.realname = "city_service"`: the OAuth round trip proved
/// possession only). The change then attests that person, and its preview,
/// taken again, says what that does to the account.
pub async fn wechat_rebind_real_name(
    state: &AppState,
    who: &Authenticated,
    person: Person,
    proof: realname::WechatProof,
) -> ApiResult<PreviewView> {
    realname::city_service(state)?;
    require_step_up(state, who)?;
    let view = active_view(state, who).await?;
    let (pending, _) = proven_pending(state, who, CredentialKind::Wechat).await?;
    realname::take_check(state, &who.account_id).await?;
    if pending.credential.attestation.is_some() {
        return Err(ApiError::RealnameNotEditable);
    }
    realname::ask_wechat(state, &pending.credential.value_sealed, &person, proof).await?;
    let credential = NewCredential {
        attestation: Some(NewAttestation {
            person: security::seal_person(&state.vault, &person),
            source: "wechat",
        }),
        ..pending.credential
    };
    let person_changes = outcome(&view, CredentialKind::Wechat, Some(&credential)).person_changes;
    check_limits(state, &who.account_id, person_changes).await?;
    prove(state, who, &view, pending.id, &credential, pending.expires_at).await
}

/// The person the real name names now or, after an unbind left no attested
/// credential, last named: a different person is a person change.
pub fn person_before(view: &AccountView) -> Option<Vec<u8>> {
    security::real_name(view)
        .person
        .map(|a| a.person.person_hash.clone())
        .or_else(|| view.realname_person_hash.clone())
}
