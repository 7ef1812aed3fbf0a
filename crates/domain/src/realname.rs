//! The real-name status of an account, derived from what its credentials
//! attest. It is never stored as editable data: every read derives it again.

use serde::{Deserialize, Serialize};

use crate::account::word_enum;

/// The kinds of credential an account can hold, one of each at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialKind {
    Phone,
    Wechat,
}

word_enum!(CredentialKind { Phone => "phone", Wechat => "wechat" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RealNameStatus {
    /// The credentials attest one person.
    Verified,
    /// No credential attests anyone.
    Unverified,
    /// The credentials attest different persons.
    Inconsistent,
}

word_enum!(RealNameStatus { Verified => "verified", Unverified => "unverified", Inconsistent => "inconsistent" });

/// The outcome of the derivation: the status, which credential the shown
/// person comes from, and that person (whatever identifies one: an id, a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealName<P> {
    pub status: RealNameStatus,
    pub source: Option<CredentialKind>,
    pub person: Option<P>,
}

/// Derives the real-name of an account from the persons its phone and WeChat
/// credentials attest (`None` for a credential that is absent or attests no one).
/// WeChat is the primary source where both attest someone.
pub fn derive_real_name<P: PartialEq>(phone: Option<P>, wechat: Option<P>) -> RealName<P> {
    match (phone, wechat) {
        (None, None) => RealName {
            status: RealNameStatus::Unverified,
            source: None,
            person: None,
        },
        (Some(p), None) => RealName {
            status: RealNameStatus::Verified,
            source: Some(CredentialKind::Phone),
            person: Some(p),
        },
        (phone, Some(w)) => {
            let status = match phone {
                Some(p) if p != w => RealNameStatus::Inconsistent,
                _ => RealNameStatus::Verified,
            };
            RealName {
                status,
                source: Some(CredentialKind::Wechat),
                person: Some(w),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_four_cases() {
        assert_eq!(derive_real_name::<u8>(None, None).status, RealNameStatus::Unverified);
        let phone_only = derive_real_name(Some(1), None);
        assert_eq!(
            (phone_only.status, phone_only.source),
            (RealNameStatus::Verified, Some(CredentialKind::Phone))
        );
        let both_same = derive_real_name(Some(1), Some(1));
        assert_eq!(
            (both_same.status, both_same.source),
            (RealNameStatus::Verified, Some(CredentialKind::Wechat))
        );
        let differ = derive_real_name(Some(1), Some(2));
        assert_eq!((differ.status, differ.person), (RealNameStatus::Inconsistent, Some(2)));
    }

    proptest! {
        #[test]
        fn verified_exactly_when_all_attested_persons_agree(p in proptest::option::of(0u8..4), w in proptest::option::of(0u8..4)) {
            let r = derive_real_name(p, w);
            let attested: Vec<u8> = [p, w].into_iter().flatten().collect();
            let expected = match attested.as_slice() {
                [] => RealNameStatus::Unverified,
                [a, b] if a != b => RealNameStatus::Inconsistent,
                _ => RealNameStatus::Verified,
            };
            prop_assert_eq!(r.status, expected);
            // The shown person is WeChat's wherever WeChat attests one.
            prop_assert_eq!(r.person, w.or(p));
            prop_assert_eq!(r.source.is_some(), r.person.is_some());
        }
    }
}
