//! The Account & Security view: bindings and the real-name derived from them,
//! masked everywhere.

use serde::Serialize;
use shiming_domain::{
    derive_real_name, AccountState, CredentialKind, IdNumber, Nature, PersonName, Phone, RealName,
    RealNameStatus,
};
use shiming_store::{AccountView, Attestation};
use shiming_vault::Vault;

use crate::error::{ApiError, ApiResult};
use crate::state::rfc3339;

/// Seal contexts of the values the flows store.
pub const PHONE_VALUE: &str = "credential.phone";
pub const WECHAT_VALUE: &str = "credential.wechat";
pub const PERSON_NAME: &str = "person.name";
pub const PERSON_ID_NUMBER: &str = "person.id_number";

#[derive(Debug, Serialize)]
pub struct SecurityView {
    pub account_id: String,
    pub nature: Nature,
    pub state: AccountState,
    pub real_name: RealNameView,
    pub phone: Option<PhoneView>,
    pub wechat: Option<WechatView>,
    pub sessions: i64,
}

#[derive(Debug, Serialize)]
pub struct RealNameView {
    pub status: RealNameStatus,
    pub name_masked: Option<String>,
    pub id_number_masked: Option<String>,
    pub source: Option<CredentialKind>,
    pub verified_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PhoneView {
    pub number_masked: String,
    pub bound_at: String,
}

#[derive(Debug, Serialize)]
pub struct WechatView {
    pub unionid_masked: String,
    pub bound_at: String,
}

/// The real-name of an account, derived from its credentials' attestations
/// (compared by person id): the status, and the attestation shown.
pub fn real_name(view: &AccountView) -> RealName<&Attestation> {
    let attested = |kind| view.credential(kind).and_then(|c| c.attestation.as_ref());
    let derived = derive_real_name(
        attested(CredentialKind::Phone).map(|a| a.person.id),
        attested(CredentialKind::Wechat).map(|a| a.person.id),
    );
    RealName {
        status: derived.status,
        source: derived.source,
        person: derived.source.and_then(attested),
    }
}

pub fn build(vault: &Vault, view: &AccountView) -> ApiResult<SecurityView> {
    let rn = real_name(view);
    let (name_masked, id_number_masked) = match rn.person {
        Some(a) => {
            let name = PersonName::parse(&vault.open_string(PERSON_NAME, &a.person.name_sealed)?)
                .map_err(|e| ApiError::Internal(format!("stored name: {e}")))?;
            let id =
                IdNumber::parse(&vault.open_string(PERSON_ID_NUMBER, &a.person.id_number_sealed)?)
                    .map_err(|e| ApiError::Internal(format!("stored ID number: {e}")))?;
            (Some(name.masked()), Some(id.masked()))
        }
        None => (None, None),
    };
    let phone = match view.credential(CredentialKind::Phone) {
        Some(c) => {
            let p = Phone::parse(&vault.open_string(PHONE_VALUE, &c.value_sealed)?)
                .map_err(|e| ApiError::Internal(format!("stored phone: {e}")))?;
            Some(PhoneView {
                number_masked: p.masked(),
                bound_at: rfc3339(c.bound_at),
            })
        }
        None => None,
    };
    let wechat = match view.credential(CredentialKind::Wechat) {
        Some(c) => Some(WechatView {
            unionid_masked: mask_unionid(&vault.open_string(WECHAT_VALUE, &c.value_sealed)?),
            bound_at: rfc3339(c.bound_at),
        }),
        None => None,
    };
    Ok(SecurityView {
        account_id: view.id.clone(),
        nature: view.nature,
        state: view.state,
        real_name: RealNameView {
            status: rn.status,
            name_masked,
            id_number_masked,
            source: rn.source,
            verified_at: rn.person.map(|a| rfc3339(a.verified_at)),
        },
        phone,
        wechat,
        sessions: view.session_count,
    })
}

/// First and last four characters of a unionid.
fn mask_unionid(unionid: &str) -> String {
    let chars: Vec<char> = unionid.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 8))
}
