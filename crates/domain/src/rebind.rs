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
    // A replacement brings in its own person. One that attests nobody (a
    // WeChat whose real name is not checked yet), like an unbind, can bring
    // in the person of the credential that stays.
    let newcomer = incoming.or_else(|| after.person.clone());
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

/// What a commit does to the account's credential of its kind: the name of
/// its audit event, its account notice and its metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitEvent {
    Bound,
    Rebound,
    Unbound,
}

crate::account::word_enum!(CommitEvent {
    Bound => "credential.bound",
    Rebound => "credential.rebound",
    Unbound => "credential.unbound",
});

impl CommitEvent {
    /// `replaces`: the account holds a credential of the kind; `brings`: a
    /// new one comes (none: an unbind).
    pub fn of(replaces: bool, brings: bool) -> Self {
        match (replaces, brings) {
            (_, false) => CommitEvent::Unbound,
            (true, true) => CommitEvent::Rebound,
            (false, true) => CommitEvent::Bound,
        }
    }
}

/// Whether a commit is a rebind: it replaces (or removes) a credential, or
/// brings in another person. A rebind revokes the account's other sessions
/// and counts against the [`RebindLimits`]; a first credential of its kind
/// that brings in no other person is a plain bind.
pub fn is_rebind(replaces: bool, person_changes: bool) -> bool {
    replaces || person_changes
}

/// The span the yearly cap counts over.
pub const YEAR_SECS: i64 = 365 * 86_400;

/// How often the credentials of one account may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebindLimits {
    /// The least time between two committed rebinds.
    pub cooldown_secs: i64,
    /// Real-name person changes in any 365 days.
    pub max_person_changes_per_year: u32,
}

/// Why a rebind may not commit now, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitRefusal {
    Cooldown { retry_after: i64 },
    YearlyCap { max: u32, retry_after: i64 },
}

impl LimitRefusal {
    pub fn retry_after(self) -> i64 {
        match self {
            LimitRefusal::Cooldown { retry_after } | LimitRefusal::YearlyCap { retry_after, .. } => retry_after,
        }
    }
}

/// Whether a rebind (one that changes the person or not) may commit at `now`,
/// given the account's committed rebinds of the last year as (time, whether
/// it changed the person).
pub fn check_limits(
    history: &[(i64, bool)],
    now: i64,
    person_changes: bool,
    limits: RebindLimits,
) -> Result<(), LimitRefusal> {
    let recent = history.iter().filter(|(at, _)| now - at < YEAR_SECS);
    if let Some(last) = recent.clone().map(|(at, _)| *at).max() {
        if now - last < limits.cooldown_secs {
            return Err(LimitRefusal::Cooldown {
                retry_after: last + limits.cooldown_secs - now,
            });
        }
    }
    let changes: Vec<i64> = recent.filter(|(_, changed)| *changed).map(|(at, _)| *at).collect();
    if person_changes && changes.len() >= limits.max_person_changes_per_year as usize {
        let frees_at = changes.iter().min().map_or(now + YEAR_SECS, |first| first + YEAR_SECS);
        return Err(LimitRefusal::YearlyCap {
            max: limits.max_person_changes_per_year,
            retry_after: frees_at - now,
        });
    }
    Ok(())
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

    #[test]
    fn a_wechat_that_attests_nobody_yet_is_measured_like_an_unbind() {
        // Phone B beside WeChat A (inconsistent; WeChat shown): a new WeChat
        // with no person leaves B, and B is a change of person.
        let unchecked = Change::Replace {
            kind: WECHAT,
            person: None,
        };
        let p = preview(Nature::Enterprise, Some('B'), Some('A'), None, &unchecked);
        assert!(p.person_changes);
        assert_eq!(
            (p.after.status, p.after.person, p.nature_after),
            (RealNameStatus::Verified, Some('B'), Nature::Personal)
        );
        // Phone and WeChat both A: A stays, no change of person.
        let p = preview(Nature::Enterprise, Some('A'), Some('A'), None, &unchecked);
        assert_eq!((p.person_changes, p.after.person), (false, Some('A')));
        // WeChat A alone: nobody after, and nobody came in.
        let p = preview(Nature::Enterprise, None, Some('A'), None, &unchecked);
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

    #[test]
    fn limits_cool_down_then_cap_person_changes_per_year() {
        let limits = RebindLimits {
            cooldown_secs: 100,
            max_person_changes_per_year: 2,
        };
        assert_eq!(check_limits(&[], 1_000, true, limits), Ok(()));
        assert_eq!(
            check_limits(&[(950, false)], 1_000, false, limits),
            Err(LimitRefusal::Cooldown { retry_after: 50 })
        );
        let two = [(10, true), (500, true)];
        assert_eq!(
            check_limits(&two, 1_000, false, limits),
            Ok(()),
            "a same-person rebind passes"
        );
        assert_eq!(
            check_limits(&two, 1_000, true, limits),
            Err(LimitRefusal::YearlyCap {
                max: 2,
                retry_after: 10 + YEAR_SECS - 1_000
            })
        );
        assert_eq!(
            check_limits(&two, 11 + YEAR_SECS, true, limits),
            Ok(()),
            "the first change left the window"
        );
        let none = RebindLimits {
            cooldown_secs: 0,
            max_person_changes_per_year: 0,
        };
        assert!(
            check_limits(&[], 1, true, none).is_err(),
            "a cap of 0 allows no person change"
        );
    }

    #[test]
    fn a_bind_is_a_rebind_only_when_it_replaces_or_changes_the_person() {
        assert!(!is_rebind(false, false));
        assert!(is_rebind(true, false));
        assert!(is_rebind(false, true));
    }
}
