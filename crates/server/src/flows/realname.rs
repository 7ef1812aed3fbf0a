//! Real-name verification of the bound phone by the carrier three-element check.

use serde::Serialize;
use shiming_domain::{CredentialKind, IdNumber, Person, PersonName, Phone, RealNameStatus};
use shiming_providers::realname::Verdict;
use shiming_store::{AuditDraft, RateLimit, StoreError};

use super::security;
use crate::error::{ApiError, ApiResult};
use crate::session::Authenticated;
use crate::state::{now, AppState};

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Verified,
    AlreadyVerified,
}

/// Verifies `person` as the holder of the account's bound phone.
pub async fn verify_phone(state: &AppState, who: &Authenticated, person: Person) -> ApiResult<Outcome> {
    let view = super::accounts::active_view(state, who).await?;
    let phone_cred = view.credential(CredentialKind::Phone).ok_or(ApiError::NoPhoneBound)?;
    let person_hash = state.vault.keyed_hash("person", &person.canonical());

    // Real-name is never edited: a request for a person other than the one
    // the account already has is refused before any carrier call.
    if let Some(a) = &phone_cred.attestation {
        return if a.person.person_hash == person_hash {
            Ok(Outcome::AlreadyVerified)
        } else {
            Err(ApiError::RealnameNotEditable)
        };
    }
    let current = security::real_name(&view);
    let same_person = current.person.is_some_and(|a| a.person.person_hash == person_hash);
    if current.status != RealNameStatus::Unverified && !(current.status == RealNameStatus::Verified && same_person) {
        return Err(ApiError::RealnameNotEditable);
    }
    // Nor after an unbind left nothing attested: the person the real name last
    // named stays its person until a rebind says otherwise.
    if view
        .realname_person_hash
        .as_ref()
        .is_some_and(|last| *last != person_hash)
    {
        return Err(ApiError::RealnameNotEditable);
    }

    let now = now();
    let phone = security::open_phone(&state.vault, &phone_cred.value_sealed)?;
    if carrier_check(state, &who.account_id, &phone, &person).await? == Verdict::Mismatch {
        return Err(ApiError::RealnameMismatch);
    }

    let sealed = security::seal_person(&state.vault, &person);
    let audit = AuditDraft::new(
        "realname.verified",
        &who.account_id,
        now,
        serde_json::json!({ "credential": "phone", "source": "carrier", "person_hash": hex::encode(person_hash) }),
    );
    match state
        .store
        .attest(&who.account_id, phone_cred.id, sealed, "carrier", now, audit)
        .await
    {
        Ok(()) => Ok(Outcome::Verified),
        // Another request attested the phone or the phone changed meanwhile.
        Err(StoreError::Conflict(_)) => Err(ApiError::RealnameNotEditable),
        Err(e) => Err(e.into()),
    }
}

/// Asks the carrier whether `phone` is registered to `person`, counted against
/// the account's daily cap: checks cost money, and would let someone probe
/// whose ID number goes with a phone.
pub async fn carrier_check(state: &AppState, account_id: &str, phone: &Phone, person: &Person) -> ApiResult<Verdict> {
    let cap = RateLimit {
        bucket: "realname_check".into(),
        key: account_id.as_bytes().to_vec(),
        window: 86_400,
        limit: state.config.realname.checks_per_account_per_day,
        now: now(),
    };
    state.store.take(&[cap]).await?;
    let verdict = state.verifier.check_phone(phone, person).await?;
    let word = if verdict == Verdict::Match { "match" } else { "mismatch" };
    metrics::counter!("shiming_realname_checks_total", "verdict" => word).increment(1);
    Ok(verdict)
}

/// Parses the person of a request, with typed errors.
pub fn parse_person(name: &str, id_number: &str) -> ApiResult<Person> {
    Ok(Person {
        name: PersonName::parse(name)?,
        id_number: IdNumber::parse(id_number)?,
    })
}
