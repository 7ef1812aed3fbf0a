//! What a rebind does to an account, computed before it is committed: the
//! preview a person confirms and the commit applies.

use crate::realname::{derive_real_name, CredentialKind, RealName};
use crate::Nature;

/// A change to one of the account's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<P> {
    /// The credential of `kind` is replaced by (or, where there was none,
    /// becomes) a new one attesting `person`.
    Replace { kind: CredentialKind, person: Option<P> },
    /// The credential of `kind` goes.
    Unbind { kind: CredentialKind },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview<P> {
    /// A person other than the account's current real-name person comes in.
    /// An account's first real-name person is no change.
    pub person_changes: bool,
    pub after: RealName<P>,
    pub nature_after: Nature,
}

/// Previews `change` on an account of `nature` whose phone and WeChat attest
/// `phone` and `wechat`, and whose real name last named `recorded`.
pub fn preview<P: PartialEq + Clone>(
    nature: Nature,
    phone: Option<P>,
    wechat: Option<P>,
    recorded: Option<P>,
    change: &Change<P>,
) -> Preview<P> {
    // The person the real name names now, or, where the credentials attest no
    // one any more (after an unbind), the one it last named.
    let before = derive_real_name(phone.clone(), wechat.clone()).person.or(recorded);
    let (mut phone_after, mut wechat_after) = (phone, wechat);
    let incoming = match change {
        Change::Replace { kind, person } => {
            match kind {
                CredentialKind::Phone => phone_after = person.clone(),
                CredentialKind::Wechat => wechat_after = person.clone(),
            }
            person.clone()
        }
        Change::Unbind { kind } => {
            match kind {
                CredentialKind::Phone => phone_after = None,
                CredentialKind::Wechat => wechat_after = None,
            }
            None
        }
    };
    let after = derive_real_name(phone_after, wechat_after);
    // A replacement brings in its own person; an unbind can bring in the
    // person of the credential that stays.
    let newcomer = match change {
        Change::Replace { .. } => incoming,
        Change::Unbind { .. } => after.person.clone(),
    };
    let person_changes = matches!((&before, &newcomer), (Some(b), Some(n)) if b != n);
    let nature_after = if nature == Nature::Enterprise && person_changes {
        Nature::Personal
    } else {
        nature
    };
    Preview {
        person_changes,
        after,
        nature_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RealNameStatus;
    use proptest::prelude::*;

    const PHONE: CredentialKind = CredentialKind::Phone;
    const WECHAT: CredentialKind = CredentialKind::Wechat;

    #[test]
    fn the_walkthrough() {
        // Phone and WeChat of A; the phone changes to B's: inconsistent, a new person.
        let p = preview(
            Nature::Enterprise,
            Some('A'),
            Some('A'),
            None,
            &Change::Replace {
                kind: PHONE,
                person: Some('B'),
            },
        );
        assert!(p.person_changes);
        assert_eq!(p.after.status, RealNameStatus::Inconsistent);
        assert_eq!(p.nature_after, Nature::Personal);
        // Then WeChat to B's: verified as B.
        let p = preview(
            Nature::Personal,
            Some('B'),
            Some('A'),
            None,
            &Change::Replace {
                kind: WECHAT,
                person: Some('B'),
            },
        );
        assert!(p.person_changes);
        assert_eq!((p.after.status, p.after.person), (RealNameStatus::Verified, Some('B')));
    }

    #[test]
    fn first_verification_and_same_person_are_no_change() {
        let p = preview(
            Nature::Enterprise,
            None::<char>,
            None,
            None,
            &Change::Replace {
                kind: PHONE,
                person: Some('A'),
            },
        );
        assert!(!p.person_changes);
        assert_eq!(p.nature_after, Nature::Enterprise);
        let p = preview(
            Nature::Enterprise,
            Some('A'),
            None,
            None,
            &Change::Replace {
                kind: PHONE,
                person: Some('A'),
            },
        );
        assert!(!p.person_changes);
        let p = preview(
            Nature::Enterprise,
            Some('A'),
            Some('A'),
            None,
            &Change::Unbind { kind: WECHAT },
        );
        assert_eq!((p.person_changes, p.after.status), (false, RealNameStatus::Verified));
    }

    #[test]
    fn a_person_after_an_unbind_is_measured_against_the_one_recorded() {
        // WeChat of A unbound earlier: nothing attests anyone, A is recorded.
        let p = preview(
            Nature::Enterprise,
            None,
            None,
            Some('A'),
            &Change::Replace {
                kind: PHONE,
                person: Some('B'),
            },
        );
        assert!(p.person_changes);
        assert_eq!(p.nature_after, Nature::Personal);
        let p = preview(
            Nature::Enterprise,
            None,
            None,
            Some('A'),
            &Change::Replace {
                kind: PHONE,
                person: Some('A'),
            },
        );
        assert!(!p.person_changes);
    }

    #[test]
    fn unbinding_wechat_lets_the_phone_person_in() {
        let p = preview(
            Nature::Enterprise,
            Some('B'),
            Some('A'),
            None,
            &Change::Unbind { kind: WECHAT },
        );
        assert!(p.person_changes);
        assert_eq!(
            (p.after.status, p.after.person, p.nature_after),
            (RealNameStatus::Verified, Some('B'), Nature::Personal)
        );
        let p = preview(
            Nature::Personal,
            None,
            Some('A'),
            None,
            &Change::Unbind { kind: WECHAT },
        );
        assert_eq!((p.person_changes, p.after.status), (false, RealNameStatus::Unverified));
    }

    proptest! {
        #[test]
        fn personal_accounts_stay_personal_and_enterprise_ones_leave_only_on_a_person_change(
            phone in proptest::option::of(0u8..3), wechat in proptest::option::of(0u8..3),
            new in proptest::option::of(0u8..3), on_phone: bool, unbind: bool,
        ) {
            let kind = if on_phone { PHONE } else { WECHAT };
            let change = if unbind { Change::Unbind { kind } } else { Change::Replace { kind, person: new } };
            prop_assert_eq!(preview(Nature::Personal, phone, wechat, None, &change).nature_after, Nature::Personal);
            let p = preview(Nature::Enterprise, phone, wechat, None, &change);
            prop_assert_eq!(p.nature_after == Nature::Personal, p.person_changes);
            // No one before: no change of person, whatever comes in.
            if phone.is_none() && wechat.is_none() {
                prop_assert!(!p.person_changes);
            }
        }
    }
}
