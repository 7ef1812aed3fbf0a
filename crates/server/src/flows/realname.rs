//! Real-name verification of the bound phone by the carrier three-element check.

use serde::Serialize;
use shiming_domain::{CredentialKind, IdNumber, Person, PersonName, Phone, RealNameStatus};
use shiming_providers::realname::Verdict;
use shiming_store::{AuditDraft, RateLimit, StoreError};

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
    let sealed = security::seal_person(&state.vault, &person);
    // Nor after an unbind left nothing attested: the person the real name last
    // named stays its person until a rebind says otherwise. (Asked only after
    // the carrier, so that this answer is no cheaper oracle than the check.)
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
        serde_json::json!({ "credential": "phone", "source": "carrier", "person_hash": hex::encode(&sealed.person_hash) }),
    );
    match state
        .store
        .attest(&who.account_id, phone_cred.id, sealed, "carrier", now, audit)
        .await
    {
        Ok(()) => Ok(Outcome::Verified),
        // The phone changed, was attested, or another person came in meanwhile.
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
async fn take_check(state: &AppState, account_id: &str) -> ApiResult<()> {
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
