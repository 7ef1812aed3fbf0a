//! Real-name verification of a bound credential: the phone by the carrier's
//! three-element check, the WeChat identity by WeChat city services' check.

use serde::Serialize;
use shiming_domain::{CredentialKind, IdNumber, Person, PersonName, Phone, RealNameStatus};
use shiming_providers::realname::Verdict;
use shiming_providers::wechat::{CityService, RealNameCheck, RealNameClaim};
use shiming_store::{AccountView, AuditDraft, CredentialRecord, RateLimit, StoreError};

use super::security;
use crate::error::{ApiError, ApiResult};
use crate::session::Authenticated;
use crate::state::AppState;

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Verified,
}

/// Verifies `person` as the holder of the account's bound phone.
///
/// Every request counts against the account's daily cap of checks, whether
/// the carrier is asked or not, and an account that has a real name answers
/// every request alike: otherwise the answers would tell, guess by guess,
/// whose name and ID number the account carries.
pub async fn verify_phone(state: &AppState, who: &Authenticated, person: Person) -> ApiResult<Outcome> {
    let view = super::accounts::active_view(state, who).await?;
    let phone_cred = view.credential(CredentialKind::Phone).ok_or(ApiError::NoPhoneBound)?;
    take_check(state, &who.account_id).await?;
    // Real-name is never edited: it changes only by rebinding.
    if security::real_name(&view).status != RealNameStatus::Unverified {
        return Err(ApiError::RealnameNotEditable);
    }
    let phone = security::open_phone(&state.vault, &phone_cred.value_sealed)?;
    if ask_carrier(state, &phone, &person).await? == Verdict::Mismatch {
        return Err(ApiError::RealnameMismatch);
    }
    // Nor after an unbind left nothing attested: the person the real name last
    // named stays its person until a rebind says otherwise. (Asked only after
    // the carrier, so that this answer is no cheaper oracle than the check.)
    attest(state, who, &view, phone_cred, &person, "carrier").await
}

/// What the mini program gives for WeChat's real-name check.
pub struct WechatProof {
    /// The mini program's `wx.login` code: whose WeChat this is.
    pub login_code: String,
    /// The code WeChat's consent page returned to the mini program.
    pub consent_code: String,
}

/// Verifies `person` as the real name of the account's bound WeChat, by
/// WeChat city services' check (`wechat.realname = "city_service"`).
///
/// Every request past the checks that need no data counts against the
/// account's daily cap, as for the phone. The bound WeChat may attest only
/// the person the account already names, if it names one: any other person
/// comes only by a rebind.
pub async fn verify_wechat(
    state: &AppState,
    who: &Authenticated,
    person: Person,
    proof: WechatProof,
) -> ApiResult<Outcome> {
    city_service(state)?;
    let view = super::accounts::active_view(state, who).await?;
    let wechat_cred = view.credential(CredentialKind::Wechat).ok_or(ApiError::NoWechatBound)?;
    take_check(state, &who.account_id).await?;
    if wechat_cred.attestation.is_some() {
        return Err(ApiError::RealnameNotEditable);
    }
    ask_wechat(state, &wechat_cred.value_sealed, &person, proof).await?;
    attest(state, who, &view, wechat_cred, &person, "wechat").await
}

/// The city service configured, else `wechat_realname_not_configured`.
pub fn city_service(state: &AppState) -> ApiResult<&dyn CityService> {
    state.city.as_deref().ok_or(ApiError::WechatRealnameOff)
}

/// Has WeChat check that `person` is the real name of the WeChat identity
/// sealed in `value_sealed` (its unionid), with the mini program's codes.
/// The caller has counted the check against the account's daily cap.
pub async fn ask_wechat(state: &AppState, value_sealed: &[u8], person: &Person, proof: WechatProof) -> ApiResult<()> {
    let city = city_service(state)?;
    // The mini program's user must be this identity: WeChat's unionid is the
    // same under every app of one Open Platform account.
    let session = city.session(&proof.login_code).await?;
    let identity = state.vault.open_string(security::WECHAT_VALUE, value_sealed)?;
    if session.unionid.as_deref() != Some(identity.as_str()) {
        return Err(ApiError::WrongIdentity);
    }
    let claim = RealNameClaim {
        name: person.name.as_str().to_owned(),
        id_number: person.id_number.as_str().to_owned(),
    };
    let verdict = city
        .check_real_name(&session.openid, &claim, &proof.consent_code)
        .await?;
    let (word, refusal) = match verdict {
        RealNameCheck::Match => ("match", None),
        RealNameCheck::NotRealNamed => ("not_realnamed", Some(ApiError::WechatNotRealnamed)),
        RealNameCheck::NameMismatch | RealNameCheck::IdMismatch => ("mismatch", Some(ApiError::RealnameMismatch)),
    };
    metrics::counter!("shiming_wechat_realname_checks_total", "verdict" => word).increment(1);
    refusal.map_or(Ok(()), Err)
}

/// Records that the credential attests `person`, unless the account names
/// someone else (its real name now, or the person it last named).
async fn attest(
    state: &AppState,
    who: &Authenticated,
    view: &AccountView,
    credential: &CredentialRecord,
    person: &Person,
    source: &'static str,
) -> ApiResult<Outcome> {
    let sealed = security::seal_person(&state.vault, person);
    if view
        .realname_person_hash
        .as_ref()
        .is_some_and(|last| *last != sealed.person_hash)
    {
        return Err(ApiError::RealnameNotEditable);
    }
    let now = state.now();
    let audit = AuditDraft::new(
        "realname.verified",
        &who.account_id,
        now,
        serde_json::json!({ "credential": credential.kind.as_str(), "source": source, "person_hash": hex::encode(&sealed.person_hash) }),
    );
    match state
        .store
        .attest(&who.account_id, credential.id, sealed, source, now, audit)
        .await
    {
        Ok(()) => Ok(Outcome::Verified),
        // The credential changed, was attested, or another person came in meanwhile.
        Err(StoreError::Conflict(_)) => Err(ApiError::RealnameNotEditable),
        Err(e) => Err(e.into()),
    }
}

/// The account's daily cap of real-name checks: checks cost money, and
/// would let someone probe whose ID number goes with a phone.
pub fn checks_cap(state: &AppState, account_id: &str) -> RateLimit {
    RateLimit {
        bucket: "realname_check".into(),
        key: account_id.as_bytes().to_vec(),
        window: 86_400,
        limit: state.config.realname.checks_per_account_per_day,
        now: state.now(),
    }
}

/// Counts one real-name check against the account's daily cap.
pub async fn take_check(state: &AppState, account_id: &str) -> ApiResult<()> {
    Ok(state.store.take(&[checks_cap(state, account_id)]).await?)
}

/// Asks the carrier whether `phone` is registered to `person`; the caller
/// has counted the check against the account's daily cap.
pub async fn ask_carrier(state: &AppState, phone: &Phone, person: &Person) -> ApiResult<Verdict> {
    let verdict = state.verifier.check_phone(phone, person).await?;
    let word = if verdict == Verdict::Match { "match" } else { "mismatch" };
    metrics::counter!("shiming_realname_checks_total", "verdict" => word).increment(1);
    Ok(verdict)
}

/// Parses a person given to the service (by a request, or WeChat's claim),
/// with typed errors: an ID number born after today is no one's.
pub fn parse_person(state: &AppState, name: &str, id_number: &str) -> ApiResult<Person> {
    Ok(Person {
        name: PersonName::parse(name)?,
        id_number: IdNumber::parse_at(id_number, state.clock.today_in_china())?,
    })
}
