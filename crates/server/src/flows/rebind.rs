//! Rebinding (the product's design, §1): the real name of an account changes only by
//! changing the credentials that carry it. Every step needs a live step-up;
//! a pending change is bound to the account and the session that started it
//! and is looked up through them only; the commit is one transaction that
//! swaps the credential, re-derives the real name, applies the nature,
//! revokes every other session, ends every other open change and code, and
//! queues the notices.

use serde::Serialize;
use serde_json::json;
use shiming_domain::rebind::{self, Change};
use shiming_domain::{CodePurpose, CredentialKind, Nature, Person, Phone, RealNameStatus, SmsCode};
use shiming_providers::realname::Verdict;
use shiming_store::{
    AccountView, AuditDraft, NewAttestation, NewCredential, NewNotice, NewPendingChange, NewPerson, PendingChange,
    RebindCommit, StoreError,
};

use super::accounts::active_view;
use super::codes::{self, Sent};
use super::security::{self, open_person, open_phone, PHONE_VALUE, WECHAT_VALUE};
use crate::error::{ApiError, ApiResult};
use crate::session::{self, Authenticated};
use crate::state::{now, rfc3339, AppState};

const YEAR: i64 = 365 * 86_400;
pub const NOTICE_PHONE: &str = "notice.phone";
pub const NOTICE_TEXT: &str = "notice.text";

/// Refuses unless the session stepped up within the window.
pub fn require_step_up(who: &Authenticated) -> ApiResult<()> {
    match who.step_up_until {
        Some(until) if until > now() => Ok(()),
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
    codes::send(state, &phone, CodePurpose::StepUp, Some(&who.account_id), client_ip).await
}

pub async fn step_up_verify(state: &AppState, who: &Authenticated, code: &str) -> ApiResult<i64> {
    let code = SmsCode::parse(code)?;
    let view = active_view(state, who).await?;
    let phone = bound_phone(state, &view)?;
    codes::check(state, &phone, CodePurpose::StepUp, Some(&who.account_id), &code).await?;
    grant_step_up(state, who, "sms").await
}

/// Privileges the session for the step-up window.
pub async fn grant_step_up(state: &AppState, who: &Authenticated, method: &str) -> ApiResult<i64> {
    let now = now();
    let until = now + state.config.rebind.step_up_secs;
    let audit = AuditDraft::new(
        "session.stepped_up",
        &who.account_id,
        now,
        json!({ "session_id": who.session_id, "method": method }),
    );
    state.store.step_up(&who.session_id, until, audit).await?;
    Ok(until)
}

// ---- limits and previews ----

/// Refuses a rebind inside the cool-down, and a person change past the yearly cap.
async fn check_limits(state: &AppState, account_id: &str, person_changes: bool) -> ApiResult<()> {
    let cfg = &state.config.rebind;
    let now = now();
    let history = state.store.rebinds_since(account_id, now - YEAR).await?;
    if let Some(last) = history.iter().map(|(at, _)| *at).max() {
        if now - last < cfg.cooldown_secs {
            return Err(ApiError::RebindLimit(
                "rebinds of one account need a pause between them; try again later".into(),
                last + cfg.cooldown_secs - now,
            ));
        }
    }
    let changes: Vec<i64> = history
        .iter()
        .filter(|(_, changed)| *changed)
        .map(|(at, _)| *at)
        .collect();
    if person_changes && changes.len() >= cfg.max_person_changes_per_year as usize {
        let frees_at = changes.iter().min().map_or(now + YEAR, |first| first + YEAR);
        return Err(ApiError::RebindLimit(
            format!(
                "the real-name person of an account changes at most {} times in 365 days",
                cfg.max_person_changes_per_year
            ),
            frees_at - now,
        ));
    }
    Ok(())
}

/// The person hash a credential of the account attests now.
fn attested(view: &AccountView, kind: CredentialKind) -> Option<Vec<u8>> {
    view.credential(kind)
        .and_then(|c| c.attestation.as_ref())
        .map(|a| a.person.person_hash.clone())
}

/// What the commit will do, shown before it is confirmed.
#[derive(Debug, Serialize)]
pub struct PreviewView {
    pub credential: CredentialKind,
    pub person_changes: bool,
    pub real_name_after: MaskedPerson,
    pub status_after: RealNameStatus,
    pub nature_after: Nature,
    pub stops_signing_in: Vec<String>,
    pub sessions_revoked: usize,
    pub expires_at: Option<String>,
}

#[derive(Debug, Serialize)]
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
    Ok(Some(match kind {
        CredentialKind::Phone => format!("phone {}", open_phone(&state.vault, &c.value_sealed)?.masked()),
        CredentialKind::Wechat => {
            format!(
                "WeChat {}",
                security::mask_unionid(&state.vault.open_string(WECHAT_VALUE, &c.value_sealed)?)
            )
        }
    }))
}

/// Previews replacing (with `incoming`) or unbinding the credential of `kind`.
async fn preview(
    state: &AppState,
    who: &Authenticated,
    view: &AccountView,
    kind: CredentialKind,
    incoming: Option<&NewCredential>,
    expires_at: Option<i64>,
) -> ApiResult<(PreviewView, rebind::Preview<Vec<u8>>)> {
    let incoming_person = incoming.and_then(|c| c.attestation.as_ref()).map(|a| &a.person);
    let change = match incoming {
        Some(_) => Change::Replace {
            kind,
            person: incoming_person.map(|p| p.person_hash.clone()),
        },
        None => Change::Unbind { kind },
    };
    let p = rebind::preview(
        view.nature,
        attested(view, CredentialKind::Phone),
        attested(view, CredentialKind::Wechat),
        view.realname_person_hash.clone(),
        &change,
    );
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
    let others = session::live_sessions(state, &who.account_id)
        .await?
        .iter()
        .filter(|s| s.id != who.session_id)
        .count();
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
        sessions_revoked: others,
        expires_at: expires_at.map(rfc3339),
    };
    Ok((shown_view, p))
}

/// Opens a pending change for a proven credential (WeChat: its proof is the
/// OAuth round trip itself) and answers its preview.
pub async fn open_proven_change(
    state: &AppState,
    who: &Authenticated,
    credential: NewCredential,
) -> ApiResult<PreviewView> {
    let view = active_view(state, who).await?;
    let kind = credential.kind;
    let now = now();
    let expires_at = now + state.config.rebind.flow_ttl_secs;
    let (shown, _) = preview(state, who, &view, kind, Some(&credential), Some(expires_at)).await?;
    let preview_json = serde_json::to_string(&shown).map_err(|e| ApiError::Internal(e.to_string()))?;
    let change = NewPendingChange {
        account_id: who.account_id.clone(),
        session_id: who.session_id.clone(),
        credential,
        created_at: now,
        expires_at,
    };
    let id = state.store.open_change(change).await?;
    if !state.store.prove_change(id, None, &preview_json, now).await? {
        return Err(ApiError::FlowExpired);
    }
    Ok(shown)
}

/// The preview of the session's proven, open change of `kind`.
pub async fn pending_preview(
    state: &AppState,
    who: &Authenticated,
    kind: CredentialKind,
) -> ApiResult<serde_json::Value> {
    require_step_up(who)?;
    let pending = proven_pending(state, who, kind).await?;
    let preview = pending.preview.ok_or(ApiError::FlowExpired)?;
    serde_json::from_str(&preview).map_err(|e| ApiError::Internal(e.to_string()))
}

async fn proven_pending(state: &AppState, who: &Authenticated, kind: CredentialKind) -> ApiResult<PendingChange> {
    let pending = state
        .store
        .pending_change(&who.account_id, &who.session_id, kind, now())
        .await?;
    pending.filter(|p| p.proven_at.is_some()).ok_or(ApiError::FlowExpired)
}

// ---- the commit ----

fn notice(state: &AppState, to: &Phone, text: &str) -> NewNotice {
    NewNotice {
        phone_sealed: state.vault.seal(NOTICE_PHONE, to.e164().as_bytes()),
        text_sealed: state.vault.seal(NOTICE_TEXT, text.as_bytes()),
    }
}

fn lookup_hex(view: &AccountView, kind: CredentialKind, state: &AppState) -> ApiResult<Option<String>> {
    let Some(c) = view.credential(kind) else {
        return Ok(None);
    };
    let value = state.vault.open_string(
        if kind == CredentialKind::Phone {
            PHONE_VALUE
        } else {
            WECHAT_VALUE
        },
        &c.value_sealed,
    )?;
    Ok(Some(hex::encode(state.vault.keyed_hash(kind.as_str(), &value))))
}

/// Commits a change of the credential of `kind`: to `incoming` (confirming
/// the pending change `pending_id`, where there is one), or, with `incoming`
/// `None`, its unbinding.
async fn commit(
    state: &AppState,
    who: &Authenticated,
    kind: CredentialKind,
    incoming: Option<NewCredential>,
    pending_id: Option<i64>,
) -> ApiResult<serde_json::Value> {
    let view = active_view(state, who).await?;
    let now = now();
    let (_, p) = preview(state, who, &view, kind, incoming.as_ref(), None).await?;
    check_limits(state, &who.account_id, p.person_changes).await?;

    let before = security::real_name(&view);
    let event = match (view.credential(kind), &incoming) {
        (_, None) => "credential.unbound",
        (Some(_), Some(_)) => "credential.rebound",
        (None, Some(_)) => "credential.bound",
    };
    let incoming_ref = incoming.as_ref();
    let mut audits = vec![AuditDraft::new(
        event,
        &who.account_id,
        now,
        json!({
            "credential": kind,
            "old_lookup_hash": lookup_hex(&view, kind, state)?,
            "new_lookup_hash": incoming_ref.map(|c| hex::encode(&c.lookup_hash)),
            "person_changes": p.person_changes,
            "nature_before": view.nature,
            "nature_after": p.nature_after,
        }),
    )];
    let person_before = before.person.map(|a| hex::encode(&a.person.person_hash));
    let person_after = p.after.person.as_ref().map(hex::encode);
    if person_before != person_after || before.status != p.after.status {
        audits.push(AuditDraft::new(
            "realname.changed",
            &who.account_id,
            now,
            json!({
                "person_hash_before": person_before,
                "person_hash_after": person_after,
                "status_before": before.status,
                "status_after": p.after.status,
                "via": kind,
            }),
        ));
    }

    // Notices: to the old phone and the new one (a phone change), or to the
    // bound phone (a WeChat change).
    let account = &who.account_id;
    let mut notices = Vec::new();
    let bound_phone = view
        .credential(CredentialKind::Phone)
        .map(|c| open_phone(&state.vault, &c.value_sealed))
        .transpose()?;
    match (kind, incoming_ref) {
        (CredentialKind::Phone, Some(new)) => {
            let new_phone = open_phone(&state.vault, &new.value_sealed)?;
            notices.push(notice(state, &new_phone, &format!("【shiming】本号码已绑定为账号 {account} 的手机号。This number is now bound to shiming account {account}.")));
            if let Some(old) = &bound_phone {
                notices.push(notice(state, old, &format!("【shiming】您的号码已与账号 {account} 解绑，如非本人操作请立即联系客服。Your number was unbound from shiming account {account}.")));
            }
        }
        (CredentialKind::Wechat, _) | (CredentialKind::Phone, None) => {
            if let Some(phone) = &bound_phone {
                let what = if incoming_ref.is_some() { "换绑" } else { "解绑" };
                notices.push(notice(state, phone, &format!("【shiming】账号 {account} 的微信已{what}，如非本人操作请立即联系客服。The WeChat of shiming account {account} was changed.")));
            }
        }
    }

    let commit = RebindCommit {
        pending_id,
        account_id: who.account_id.clone(),
        keep_session: who.session_id.clone(),
        kind,
        expected_old: view.credential(kind).map(|c| c.id),
        new: incoming,
        nature_after: p.nature_after,
        person_changed: p.person_changes,
        realname_after: p.after.person.clone(),
        audits,
        notices,
        at: now,
    };
    let revoked = match state.store.commit_rebind(commit).await {
        Ok(n) => n,
        Err(StoreError::LastCredential) => return Err(ApiError::LastCredential),
        Err(StoreError::Conflict(_)) => return Err(ApiError::FlowExpired),
        Err(e) => return Err(e.into()),
    };
    metrics::counter!("shiming_rebinds_total", "credential" => kind.as_str()).increment(1);
    let after = state
        .store
        .account_view(&who.account_id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    Ok(json!({
        "committed": true,
        "sessions_revoked": revoked,
        "nature": after.nature,
        "real_name": security::real_name_view(&state.vault, &after)?,
    }))
}

/// Confirms the session's proven change of `kind`.
pub async fn confirm(
    state: &AppState,
    who: &Authenticated,
    kind: CredentialKind,
    accept: bool,
) -> ApiResult<serde_json::Value> {
    require_step_up(who)?;
    if !accept {
        return Err(ApiError::ConsequencesNotAccepted);
    }
    let pending = proven_pending(state, who, kind).await?;
    commit(state, who, kind, Some(pending.credential), Some(pending.id)).await
}

/// Unbinds WeChat; the phone must stay.
pub async fn unbind_wechat(state: &AppState, who: &Authenticated, accept: bool) -> ApiResult<serde_json::Value> {
    require_step_up(who)?;
    if !accept {
        return Err(ApiError::ConsequencesNotAccepted);
    }
    let view = active_view(state, who).await?;
    if view.credential(CredentialKind::Wechat).is_none() {
        return Err(ApiError::NoWechatBound);
    }
    if view.credential(CredentialKind::Phone).is_none() {
        return Err(ApiError::LastCredential);
    }
    commit(state, who, CredentialKind::Wechat, None, None).await
}

/// Binds a first WeChat. One that attests a person other than the account's
/// real-name person changes the real name, so it is a rebind: step-up, limits,
/// the nature, the other sessions, the audit, all as in [`confirm`].
pub async fn bind_wechat(state: &AppState, who: &Authenticated, credential: NewCredential) -> ApiResult<()> {
    let view = active_view(state, who).await?;
    let incoming = credential.attestation.as_ref().map(|a| a.person.person_hash.clone());
    let changes_person = person_before(&view).is_some_and(|before| incoming.is_some_and(|i| i != before));
    if changes_person {
        require_step_up(who)?;
        commit(state, who, CredentialKind::Wechat, Some(credential), None).await?;
        return Ok(());
    }
    let audit = AuditDraft::new(
        "credential.bound",
        &who.account_id,
        now(),
        json!({
            "credential": "wechat",
            "lookup_hash": hex::encode(&credential.lookup_hash),
            "attested": credential.attestation.is_some(),
        }),
    );
    state.store.bind_credential(&who.account_id, credential, audit).await?;
    Ok(())
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
    require_step_up(who)?;
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
    check_limits(
        state,
        &who.account_id,
        person_before(&view).is_some_and(|b| b != person.person_hash),
    )
    .await?;
    let now = now();
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
    state.store.open_change(change).await?;
    codes::send(
        state,
        &req.new_phone,
        CodePurpose::PhoneChange,
        Some(&who.account_id),
        client_ip,
    )
    .await
}

/// Step 2: proves possession of the new phone and has the carrier confirm its
/// holder; answers the preview.
pub async fn phone_change_verify(state: &AppState, who: &Authenticated, code: &str) -> ApiResult<PreviewView> {
    require_step_up(who)?;
    let code = SmsCode::parse(code)?;
    let view = active_view(state, who).await?;
    let pending = state
        .store
        .pending_change(&who.account_id, &who.session_id, CredentialKind::Phone, now())
        .await?
        .ok_or(ApiError::FlowExpired)?;
    let new_phone = open_phone(&state.vault, &pending.credential.value_sealed)?;
    codes::check(
        state,
        &new_phone,
        CodePurpose::PhoneChange,
        Some(&who.account_id),
        &code,
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
    if super::realname::carrier_check(state, &who.account_id, &new_phone, &person).await? == Verdict::Mismatch {
        return Err(ApiError::CredentialNotVerified);
    }
    let (shown, _) = preview(
        state,
        who,
        &view,
        CredentialKind::Phone,
        Some(&pending.credential),
        Some(pending.expires_at),
    )
    .await?;
    let preview_json = serde_json::to_string(&shown).map_err(|e| ApiError::Internal(e.to_string()))?;
    if !state.store.prove_change(pending.id, None, &preview_json, now()).await? {
        return Err(ApiError::FlowExpired);
    }
    Ok(shown)
}

// ---- rebinding WeChat ----

/// Checks a WeChat identity proven for a rebind, then opens the change.
pub async fn wechat_proven(state: &AppState, who: &Authenticated, credential: NewCredential) -> ApiResult<PreviewView> {
    require_step_up(who)?;
    let view = active_view(state, who).await?;
    if view.credential(CredentialKind::Wechat).is_some_and(|c| {
        state
            .vault
            .open_string(WECHAT_VALUE, &c.value_sealed)
            .is_ok_and(|v| state.vault.keyed_hash("wechat", &v).to_vec() == credential.lookup_hash)
    }) {
        return Err(ApiError::NoChange);
    }
    if credential.attestation.is_none() {
        return Err(ApiError::CredentialNotVerified);
    }
    if state
        .store
        .account_by_credential(CredentialKind::Wechat, &credential.lookup_hash)
        .await?
        .is_some()
    {
        return Err(ApiError::CredentialInUse);
    }
    let current = person_before(&view);
    let incoming = credential.attestation.as_ref().map(|a| a.person.person_hash.clone());
    check_limits(state, &who.account_id, current.is_some_and(|c| Some(c) != incoming)).await?;
    open_proven_change(state, who, credential).await
}

/// The person the real name names now or, after an unbind left no attested
/// credential, last named: a different person is a person change.
pub fn person_before(view: &AccountView) -> Option<Vec<u8>> {
    security::real_name(view)
        .person
        .map(|a| a.person.person_hash.clone())
        .or_else(|| view.realname_person_hash.clone())
}
