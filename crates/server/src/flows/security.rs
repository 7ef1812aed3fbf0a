//! The Account & Security view: bindings and the real-name derived from them,
//! masked everywhere.

use serde::Serialize;
use shiming_domain::{
    derive_real_name, AccountState, CredentialKind, IdNumber, Nature, Person, PersonName, Phone, RealName,
    RealNameStatus,
};
use shiming_store::{AccountNotice, AccountView, Attestation, NewAccountNotice, NewCredential, NewPerson};
use shiming_vault::Vault;

use crate::config::WechatRealName;
use crate::error::{ApiError, ApiResult};
use crate::state::rfc3339;

/// Seal contexts of the values the flows store.
pub const PHONE_VALUE: &str = "credential.phone";
pub const WECHAT_VALUE: &str = "credential.wechat";
pub const WECHAT_NICKNAME: &str = "credential.wechat.nickname";
pub const WECHAT_OPENID: &str = "credential.wechat.openid";
pub const PERSON_NAME: &str = "person.name";
pub const PERSON_ID_NUMBER: &str = "person.id_number";
pub const ACCOUNT_NOTICE: &str = "notice.account.credential";
pub const INVITED_PHONE: &str = "invitation.phone";
/// A member's name in an enterprise (企业内姓名).
pub const DISPLAY_NAME: &str = "membership.display_name";
/// Why an admin froze a member.
pub const FROZEN_REASON: &str = "membership.frozen_reason";
/// Why an admin denied a member's rebind.
pub const APPROVAL_REASON: &str = "approval.reason";

#[derive(Debug, Serialize)]
pub struct SecurityView {
    pub account_id: String,
    pub nature: Nature,
    pub state: AccountState,
    pub real_name: RealNameView,
    pub phone: Option<PhoneView>,
    pub wechat: Option<WechatView>,
    /// How a WeChat identity gets a real name on this service: with `none`,
    /// never (the real name comes from the phone).
    pub wechat_realname: WechatRealName,
    pub sessions: usize,
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
    pub nickname: Option<String>,
    pub unionid_masked: String,
    pub bound_at: String,
    /// Whether this WeChat attests a person.
    pub real_name_verified: bool,
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

/// Opens a sealed value and parses it again: what the store holds must still
/// be valid, or it is damage worth an internal error, not a guess.
pub fn open_parsed<T, E: std::fmt::Display>(
    vault: &Vault,
    context: &str,
    sealed: &[u8],
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> ApiResult<T> {
    parse(&vault.open_string(context, sealed)?).map_err(|e| ApiError::Internal(format!("stored {context}: {e}")))
}

/// The bound phone number, opened.
pub fn open_phone(vault: &Vault, sealed: &[u8]) -> ApiResult<Phone> {
    open_parsed(vault, PHONE_VALUE, sealed, Phone::parse)
}

/// The keyed hash by which a phone number is looked up.
pub fn phone_hash(vault: &Vault, phone: &Phone) -> Vec<u8> {
    vault.keyed_hash("phone", phone.e164()).to_vec()
}

/// The bare credential of a phone a sign-in proved: its lookup hash and its
/// number sealed.
pub fn phone_credential(vault: &Vault, phone: &Phone) -> NewCredential {
    NewCredential::bare(
        CredentialKind::Phone,
        phone_hash(vault, phone),
        vault.seal(PHONE_VALUE, phone.e164().as_bytes()),
    )
}

/// A person sealed for storage, with the keyed hash persons are compared by.
pub fn seal_person(vault: &Vault, person: &Person) -> NewPerson {
    NewPerson {
        person_hash: vault.keyed_hash("person", &person.canonical()).to_vec(),
        name_sealed: vault.seal(PERSON_NAME, person.name.as_str().as_bytes()),
        id_number_sealed: vault.seal(PERSON_ID_NUMBER, person.id_number.as_str().as_bytes()),
    }
}

/// A sealed person, opened.
pub fn open_person(vault: &Vault, name_sealed: &[u8], id_number_sealed: &[u8]) -> ApiResult<Person> {
    Ok(Person {
        name: open_parsed(vault, PERSON_NAME, name_sealed, PersonName::parse)?,
        id_number: open_parsed(vault, PERSON_ID_NUMBER, id_number_sealed, IdNumber::parse)?,
    })
}

/// The real-name part of the view.
pub fn real_name_view(vault: &Vault, view: &AccountView) -> ApiResult<RealNameView> {
    let rn = real_name(view);
    let (name_masked, id_number_masked) = match rn.person {
        Some(a) => {
            let p = open_person(vault, &a.person.name_sealed, &a.person.id_number_sealed)?;
            (Some(p.name.masked()), Some(p.id_number.masked()))
        }
        None => (None, None),
    };
    Ok(RealNameView {
        status: rn.status,
        name_masked,
        id_number_masked,
        source: rn.source,
        verified_at: rn.person.map(|a| rfc3339(a.verified_at)),
    })
}

/// The whole Account & Security view; `sessions` counts the live sessions.
pub fn build(
    vault: &Vault,
    view: &AccountView,
    sessions: usize,
    wechat_realname: WechatRealName,
) -> ApiResult<SecurityView> {
    let phone = match view.credential(CredentialKind::Phone) {
        Some(c) => Some(PhoneView {
            number_masked: open_phone(vault, &c.value_sealed)?.masked(),
            bound_at: rfc3339(c.bound_at),
        }),
        None => None,
    };
    let wechat = match view.credential(CredentialKind::Wechat) {
        Some(c) => Some(WechatView {
            nickname: c
                .display_sealed
                .as_deref()
                .map(|n| vault.open_string(WECHAT_NICKNAME, n))
                .transpose()?,
            unionid_masked: mask_unionid(&vault.open_string(WECHAT_VALUE, &c.value_sealed)?),
            bound_at: rfc3339(c.bound_at),
            real_name_verified: c.attestation.is_some(),
        }),
        None => None,
    };
    Ok(SecurityView {
        account_id: view.id.clone(),
        nature: view.nature,
        state: view.state,
        real_name: real_name_view(vault, view)?,
        phone,
        wechat,
        wechat_realname,
        sessions,
    })
}

/// First and last four characters of a unionid.
pub fn mask_unionid(unionid: &str) -> String {
    let chars: Vec<char> = unionid.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 8))
}

/// A sealed credential value, opened and masked as Account & Security shows it.
pub fn masked_credential(vault: &Vault, kind: CredentialKind, sealed: &[u8]) -> ApiResult<String> {
    Ok(match kind {
        CredentialKind::Phone => open_phone(vault, sealed)?.masked(),
        CredentialKind::Wechat => mask_unionid(&vault.open_string(WECHAT_VALUE, sealed)?),
    })
}

/// A notice for the account's own list, its masked credential sealed.
pub fn account_notice(vault: &Vault, kind: &'static str, credential: CredentialKind, masked: &str) -> NewAccountNotice {
    NewAccountNotice {
        kind,
        credential,
        masked_sealed: vault.seal(ACCOUNT_NOTICE, masked.as_bytes()),
    }
}

#[derive(Debug, Serialize)]
pub struct AccountNoticeView {
    pub id: i64,
    pub kind: String,
    pub credential: CredentialKind,
    pub credential_masked: String,
    pub at: String,
    pub read: bool,
}

pub fn account_notice_view(vault: &Vault, n: AccountNotice) -> ApiResult<AccountNoticeView> {
    Ok(AccountNoticeView {
        credential_masked: vault.open_string(ACCOUNT_NOTICE, &n.masked_sealed)?,
        id: n.id,
        kind: n.kind,
        credential: n.credential,
        at: rfc3339(n.at),
        read: n.read,
    })
}
