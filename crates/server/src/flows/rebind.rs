//! Step-up and changing the bound phone (更换绑定手机号): the procedure by
//! which the real name of an account changes. Every step needs a live
//! step-up; the pending change is bound to the account and the session that
//! started it and is looked up through them only; the commit is one
//! transaction.

use serde::Serialize;
use serde_json::json;
use shiming_domain::rebind::{self, Change};
use shiming_domain::{AccountState, CodePurpose, CredentialKind, Nature, Person, Phone, RealNameStatus, SmsCode};
use shiming_providers::realname::Verdict;
use shiming_store::{
    AccountView, AuditDraft, NewAttestation, NewCredential, NewNotice, NewPendingChange, NewPerson, RebindCommit,
    StoreError,
};

use super::codes::{self, Sent};
use super::security::{self, open_person, open_phone, PERSON_ID_NUMBER, PERSON_NAME, PHONE_VALUE};
use crate::error::{ApiError, ApiResult};
use crate::session::{self, Authenticated};
use crate::state::{now, rfc3339, AppState};

const YEAR: i64 = 365 * 86_400;

/// Refuses unless the session stepped up within the window.
pub fn require_step_up(who: &Authenticated) -> ApiResult<()> {
    match who.step_up_until {
        Some(until) if until > now() => Ok(()),
        _ => Err(ApiError::StepUpRequired),
    }
}

async fn active_view(state: &AppState, who: &Authenticated) -> ApiResult<AccountView> {
    let view = state
        .store
        .account_view(&who.account_id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    if view.state != AccountState::Active {
        return Err(ApiError::AccountRestricted(view.state.as_str()));
    }
    Ok(view)
}

/// The bound phone, for step-up; an account without one is told what it can do.
fn bound_phone(state: &AppState, view: &AccountView) -> ApiResult<Phone> {
    match view.credential(CredentialKind::Phone) {
        Some(c) => open_phone(&state.vault, &c.value_sealed),
        None => Err(ApiError::StepUpUnavailable(
            "this account has no phone to step up with; ask your enterprise admin, or compliance, to verify you",
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
    codes::check(state, &phone, CodePurpose::StepUp, &code).await?;
    let now = now();
    let until = now + state.config.rebind.step_up_secs;
    let audit = AuditDraft::new(
        "session.stepped_up",
        &who.account_id,
        now,
        json!({ "session_id": who.session_id, "method": "sms" }),
    );
    state.store.step_up(&who.session_id, until, audit).await?;
    Ok(until)
}

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

fn seal_person(state: &AppState, person: &Person) -> NewPerson {
    NewPerson {
        person_hash: state.vault.keyed_hash("person", &person.canonical()).to_vec(),
        name_sealed: state.vault.seal(PERSON_NAME, person.name.as_str().as_bytes()),
        id_number_sealed: state.vault.seal(PERSON_ID_NUMBER, person.id_number.as_str().as_bytes()),
    }
}

/// The person hashes the account's phone and WeChat attest now.
fn attested(view: &AccountView, kind: CredentialKind) -> Option<Vec<u8>> {
    view.credential(kind)
        .and_then(|c| c.attestation.as_ref())
        .map(|a| a.person.person_hash.clone())
}

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
    let new_hash = state.vault.keyed_hash("phone", req.new_phone.e164()).to_vec();
    if view
        .credential(CredentialKind::Phone)
        .is_some_and(|c| open_phone(&state.vault, &c.value_sealed).is_ok_and(|p| p == req.new_phone))
    {
        return Err(ApiError::NoChange);
    }
    if state
        .store
        .account_by_credential(CredentialKind::Phone, &new_hash)
        .await?
        .is_some()
    {
        return Err(ApiError::CredentialInUse);
    }
    let person = match req.person {
        Some(p) => seal_person(state, &p),
        None => {
            let current = security::real_name(&view).person.ok_or(ApiError::PersonIncomplete)?;
            NewPerson {
                person_hash: current.person.person_hash.clone(),
                name_sealed: current.person.name_sealed.clone(),
                id_number_sealed: current.person.id_number_sealed.clone(),
            }
        }
    };
    let current_person = security::real_name(&view).person.map(|a| a.person.person_hash.clone());
    check_limits(
        state,
        &who.account_id,
        current_person.is_some_and(|c| c != person.person_hash),
    )
    .await?;
    let now = now();
    let change = NewPendingChange {
        account_id: who.account_id.clone(),
        session_id: who.session_id.clone(),
        kind: CredentialKind::Phone,
        new_lookup_hash: new_hash,
        new_value_sealed: state.vault.seal(PHONE_VALUE, req.new_phone.e164().as_bytes()),
        person: Some(person),
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

/// What the commit will do, shown before it is confirmed.
#[derive(Debug, Serialize)]
pub struct PreviewView {
    pub person_changes: bool,
    pub real_name_after: MaskedPerson,
    pub status_after: RealNameStatus,
    pub nature_after: Nature,
    pub stops_signing_in: Vec<String>,
    pub sessions_revoked: usize,
    pub expires_at: String,
}

#[derive(Debug, Serialize)]
pub struct MaskedPerson {
    pub name_masked: Option<String>,
    pub id_number_masked: Option<String>,
    pub source: Option<CredentialKind>,
}

/// Previews replacing the phone with one attesting `incoming`.
async fn preview_phone(
    state: &AppState,
    who: &Authenticated,
    view: &AccountView,
    incoming: &NewPerson,
    expires_at: i64,
) -> ApiResult<(PreviewView, rebind::Preview<Vec<u8>>)> {
    let change = Change::Replace {
        kind: CredentialKind::Phone,
        person: Some(incoming.person_hash.clone()),
    };
    let p = rebind::preview(
        view.nature,
        attested(view, CredentialKind::Phone),
        attested(view, CredentialKind::Wechat),
        &change,
    );
    // The person shown after: the incoming one, or one an existing credential attests.
    let shown = match &p.after.person {
        Some(hash) if *hash == incoming.person_hash => Some(open_person(
            &state.vault,
            &incoming.name_sealed,
            &incoming.id_number_sealed,
        )?),
        Some(hash) => {
            let a = view
                .credentials
                .iter()
                .filter_map(|c| c.attestation.as_ref())
                .find(|a| a.person.person_hash == *hash);
            a.map(|a| open_person(&state.vault, &a.person.name_sealed, &a.person.id_number_sealed))
                .transpose()?
        }
        None => None,
    };
    let stops = match view.credential(CredentialKind::Phone) {
        Some(c) => vec![format!("phone {}", open_phone(&state.vault, &c.value_sealed)?.masked())],
        None => vec![],
    };
    let others = session::live_sessions(state, &who.account_id)
        .await?
        .iter()
        .filter(|s| s.id != who.session_id)
        .count();
    let shown_view = PreviewView {
        person_changes: p.person_changes,
        real_name_after: MaskedPerson {
            name_masked: shown.as_ref().map(|s| s.name.masked()),
            id_number_masked: shown.as_ref().map(|s| s.id_number.masked()),
            source: p.after.source,
        },
        status_after: p.after.status,
        nature_after: p.nature_after,
        stops_signing_in: stops,
        sessions_revoked: others,
        expires_at: rfc3339(expires_at),
    };
    Ok((shown_view, p))
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
    let new_phone = open_phone(&state.vault, &pending.new_value_sealed)?;
    codes::check(state, &new_phone, CodePurpose::PhoneChange, &code).await?;
    let person_sealed = pending
        .person
        .clone()
        .ok_or_else(|| ApiError::Internal("a phone change without a person".into()))?;
    let person = open_person(
        &state.vault,
        &person_sealed.name_sealed,
        &person_sealed.id_number_sealed,
    )?;
    if state.verifier.check_phone(&new_phone, &person).await? == Verdict::Mismatch {
        return Err(ApiError::CredentialNotVerified);
    }
    let (shown, _) = preview_phone(state, who, &view, &person_sealed, pending.expires_at).await?;
    let preview_json = serde_json::to_string(&shown).map_err(|e| ApiError::Internal(e.to_string()))?;
    if !state.store.prove_change(pending.id, None, &preview_json, now()).await? {
        return Err(ApiError::FlowExpired);
    }
    Ok(shown)
}

/// Step 3: commits the change in one transaction.
pub async fn phone_change_confirm(state: &AppState, who: &Authenticated, accept: bool) -> ApiResult<serde_json::Value> {
    require_step_up(who)?;
    if !accept {
        return Err(ApiError::ConsequencesNotAccepted);
    }
    let view = active_view(state, who).await?;
    let now = now();
    let pending = state
        .store
        .pending_change(&who.account_id, &who.session_id, CredentialKind::Phone, now)
        .await?;
    let pending = pending.filter(|p| p.proven_at.is_some()).ok_or(ApiError::FlowExpired)?;
    let incoming = pending
        .person
        .clone()
        .ok_or_else(|| ApiError::Internal("a phone change without a person".into()))?;
    let (_, p) = preview_phone(state, who, &view, &incoming, pending.expires_at).await?;
    check_limits(state, &who.account_id, p.person_changes).await?;

    let old = view.credential(CredentialKind::Phone);
    let old_phone = old.map(|c| open_phone(&state.vault, &c.value_sealed)).transpose()?;
    let new_phone = open_phone(&state.vault, &pending.new_value_sealed)?;
    let before = security::real_name(&view);
    let mut audits = vec![AuditDraft::new(
        "credential.rebound",
        &who.account_id,
        now,
        json!({
            "credential": "phone",
            "old_lookup_hash": old_phone.as_ref().map(|p| hex::encode(state.vault.keyed_hash("phone", p.e164()))),
            "new_lookup_hash": hex::encode(&pending.new_lookup_hash),
            "person_changes": p.person_changes,
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
                "via": "phone",
            }),
        ));
    }
    let mut notices = vec![notice(
        state,
        &new_phone,
        &format!(
            "【shiming】本号码已绑定为账号 {} 的手机号。This number is now bound to shiming account {}.",
            who.account_id, who.account_id
        ),
    )];
    if let Some(old) = &old_phone {
        notices.push(notice(
            state,
            old,
            &format!("【shiming】您的号码已与账号 {} 解绑，如非本人操作请立即联系客服。Your number was unbound from shiming account {}.", who.account_id, who.account_id),
        ));
    }
    let commit = RebindCommit {
        pending_id: Some(pending.id),
        account_id: who.account_id.clone(),
        keep_session: who.session_id.clone(),
        kind: CredentialKind::Phone,
        expected_old: old.map(|c| c.id),
        new: Some(NewCredential {
            attestation: Some(NewAttestation {
                person: incoming,
                source: "carrier",
            }),
            ..NewCredential::bare(
                CredentialKind::Phone,
                pending.new_lookup_hash.clone(),
                pending.new_value_sealed.clone(),
            )
        }),
        nature_after: p.nature_after,
        person_changed: p.person_changes,
        audits,
        notices,
        at: now,
    };
    let revoked = match state.store.commit_rebind(commit).await {
        Ok(n) => n,
        Err(StoreError::Conflict(_)) => return Err(ApiError::FlowExpired),
        Err(e) => return Err(e.into()),
    };
    metrics::counter!("shiming_rebinds_total", "credential" => "phone").increment(1);
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

fn notice(state: &AppState, to: &Phone, text: &str) -> NewNotice {
    NewNotice {
        phone_sealed: state.vault.seal(NOTICE_PHONE, to.e164().as_bytes()),
        text_sealed: state.vault.seal(NOTICE_TEXT, text.as_bytes()),
    }
}

pub const NOTICE_PHONE: &str = "notice.phone";
pub const NOTICE_TEXT: &str = "notice.text";
