//! The rules of a credential commit, apart from any database. The commit
//! transaction reads a [`Snapshot`] of the account, and [`plan`] decides from
//! it alone whether the commit may go ahead and what it writes. Every decision
//! is so taken inside the transaction that acts on it, and each backend holds
//! only the SQL that reads the snapshot and applies the plan.

use serde_json::json;
use shiming_domain::rebind::{self, Change, CommitEvent};
use shiming_domain::{derive_real_name, AccountState, CredentialKind, Nature};

use crate::{AuditDraft, ExpectedOutcome, RebindCommit, StoreError};

/// What the commit transaction read of the account.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub state: AccountState,
    pub nature: Nature,
    /// The person the real name last named, kept through unbinds.
    pub realname_person_hash: Option<Vec<u8>>,
    pub credentials: Vec<HeldCredential>,
    /// The account's committed rebinds of the last year: (time, whether it
    /// changed the person).
    pub rebinds: Vec<(i64, bool)>,
}

#[derive(Debug, Clone)]
pub struct HeldCredential {
    pub id: i64,
    pub kind: CredentialKind,
    pub lookup_hash: Vec<u8>,
    /// The person it attests.
    pub person_hash: Option<Vec<u8>>,
}

impl Snapshot {
    fn credential(&self, kind: CredentialKind) -> Option<&HeldCredential> {
        self.credentials.iter().find(|c| c.kind == kind)
    }

    fn attested(&self, kind: CredentialKind) -> Option<Vec<u8>> {
        self.credential(kind).and_then(|c| c.person_hash.clone())
    }
}

/// What a commit writes besides the credential itself.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The credential that goes.
    pub remove: Option<i64>,
    /// A rebind revokes the other sessions and is recorded for the limits.
    pub rebind: bool,
    pub person_changed: bool,
    pub nature_after: Nature,
    /// The account was managed by an enterprise and the person changed: it
    /// leaves that enterprise's management, and its membership there is
    /// flagged and suspended ([`PERSON_CHANGED`], [`person_changed_event`]).
    pub leaves_management: bool,
    /// The real-name person or status changes: the admins of the account's
    /// enterprises are told, where their policy asks for it
    /// ([`MEMBER_OF`], [`crate::members::notified`]).
    pub realname_changed: bool,
    /// The real-name person after the commit; `None` keeps the one recorded.
    pub realname_after: Option<Vec<u8>>,
    pub audits: Vec<AuditDraft>,
}

/// Decides a commit on what the transaction read: refuses when the account
/// is not active, when the outcome differs from the one previewed, when an
/// unbind would leave no credential, or when a rebind has no room in the
/// limits.
pub fn plan(snapshot: &Snapshot, c: &RebindCommit) -> Result<Plan, StoreError> {
    if snapshot.state != AccountState::Active {
        return Err(StoreError::AccountRestricted(snapshot.state));
    }
    let current = snapshot.credential(c.kind);
    let incoming = c
        .new
        .as_ref()
        .and_then(|n| n.attestation.as_ref())
        .map(|a| a.person.person_hash.clone());
    let change = match &c.new {
        Some(_) => Change::Replace {
            kind: c.kind,
            person: incoming,
        },
        None => Change::Unbind { kind: c.kind },
    };
    let phone = snapshot.attested(CredentialKind::Phone);
    let wechat = snapshot.attested(CredentialKind::Wechat);
    let p = rebind::preview(
        snapshot.nature,
        phone.clone(),
        wechat.clone(),
        snapshot.realname_person_hash.clone(),
        &change,
    );
    let derived = ExpectedOutcome {
        replaces: current.map(|h| h.id),
        person_changes: p.person_changes,
        status_after: p.after.status,
        nature_after: p.nature_after,
    };
    if derived != c.expected {
        return Err(StoreError::PreviewChanged);
    }
    if c.new.is_none() {
        if current.is_none() {
            return Err(StoreError::Conflict("there is no credential of that kind to unbind"));
        }
        if snapshot.credentials.len() <= 1 {
            return Err(StoreError::LastCredential);
        }
    }
    let rebind = rebind::is_rebind(current.is_some(), p.person_changes);
    if rebind {
        rebind::check_limits(&snapshot.rebinds, c.at, p.person_changes, c.limits).map_err(StoreError::RebindLimit)?;
    }

    let event = CommitEvent::of(current.is_some(), c.new.is_some());
    let mut audits = vec![AuditDraft::new(
        event.as_str(),
        &c.account_id,
        c.at,
        json!({
            "credential": c.kind,
            "old_lookup_hash": current.map(|h| hex::encode(&h.lookup_hash)),
            "new_lookup_hash": c.new.as_ref().map(|n| hex::encode(&n.lookup_hash)),
            "attested": c.new.as_ref().map(|n| n.attestation.is_some()),
            "person_changes": p.person_changes,
            "nature_before": snapshot.nature,
            "nature_after": p.nature_after,
        }),
    )];
    let before = derive_real_name(phone, wechat);
    let realname_changed = before.person != p.after.person || before.status != p.after.status;
    if realname_changed {
        audits.push(AuditDraft::new(
            "realname.changed",
            &c.account_id,
            c.at,
            json!({
                "person_hash_before": before.person.as_ref().map(hex::encode),
                "person_hash_after": p.after.person.as_ref().map(hex::encode),
                "status_before": before.status,
                "status_after": p.after.status,
                "via": c.kind,
            }),
        ));
    }
    Ok(Plan {
        remove: current.map(|h| h.id),
        rebind,
        person_changed: p.person_changes,
        nature_after: p.nature_after,
        leaves_management: snapshot.nature == Nature::Enterprise && p.nature_after == Nature::Personal,
        realname_changed,
        realname_after: p.after.person,
        audits,
    })
}

/// Flags and suspends the membership of the enterprise that managed the
/// account ($1), and ends its management; answers that enterprise's id.
pub const PERSON_CHANGED: &str = "UPDATE memberships SET person_changed = TRUE, suspended = TRUE, manages = FALSE \
     WHERE account_id = $1 AND manages RETURNING enterprise_id";

/// [`MEMBER_OF`]'s text, which [`MANAGING`] narrows.
macro_rules! member_of {
    () => {
        "SELECT e.id, e.policy FROM memberships m JOIN enterprises e ON e.id = m.enterprise_id \
         WHERE m.account_id = $1"
    };
}
/// The enterprises the account ($1) is a member of: their ids and stored
/// policies.
pub const MEMBER_OF: &str = member_of!();

/// The enterprises that manage the account ($1): their ids and stored
/// policies.
pub const MANAGING: &str = concat!(member_of!(), " AND m.manages");

/// Tells the owner and admins of an enterprise ($5) of a member's ($6)
/// real-name change: a notice of kind $1 about credential $2, its text $3
/// (sealed), at $4.
pub const NOTIFY_ADMINS: &str =
    "INSERT INTO account_notices (account_id, kind, credential, masked_sealed, created_at) \
     SELECT m.account_id, $1, $2, $3, $4 FROM memberships m \
     WHERE m.enterprise_id = $5 AND m.role IN ('owner', 'admin') AND m.account_id <> $6";

/// The event of a member of `enterprise_id` whose real-name person changed
/// (the account's own, so its owner and the enterprise's log both show it).
pub fn person_changed_event(account_id: &str, enterprise_id: &str, at: i64) -> AuditDraft {
    AuditDraft::new(
        "enterprise.member_person_changed",
        account_id,
        at,
        json!({ "enterprise_id": enterprise_id, "suspended": true, "nature_after": Nature::Personal }),
    )
}

/// Who attests a credential of each kind: the carrier a phone, WeChat a WeChat.
pub fn attestation_source(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::Phone => "carrier",
        CredentialKind::Wechat => "wechat",
    }
}

/// The real-name person to record when a credential comes to attest
/// `incoming`: the first person an account's real name names is kept from
/// then on (only a commit's [`Plan`] moves it), so `incoming` when none is
/// recorded yet, and nothing to write otherwise.
pub fn first_person<'a>(recorded: Option<&[u8]>, incoming: &'a [u8]) -> Option<&'a [u8]> {
    match recorded {
        None => Some(incoming),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use shiming_domain::rebind::{LimitRefusal, RebindLimits};
    use shiming_domain::RealNameStatus;

    use super::*;

    #[test]
    fn each_kind_is_attested_by_its_own_source() {
        assert_eq!(attestation_source(CredentialKind::Phone), "carrier");
        assert_eq!(attestation_source(CredentialKind::Wechat), "wechat");
    }

    #[test]
    fn the_first_person_named_is_kept() {
        assert_eq!(first_person(None, b"p1"), Some(&b"p1"[..]));
        assert_eq!(first_person(Some(b"p1"), b"p2"), None);
        assert_eq!(first_person(Some(b"p1"), b"p1"), None);
    }
    use crate::{NewAccountNotice, NewAttestation, NewCredential, NewPerson};

    fn held(id: i64, kind: CredentialKind, person: Option<&[u8]>) -> HeldCredential {
        HeldCredential {
            id,
            kind,
            lookup_hash: vec![id as u8],
            person_hash: person.map(<[u8]>::to_vec),
        }
    }

    fn phone_of(person: &[u8]) -> NewCredential {
        NewCredential {
            attestation: Some(NewAttestation {
                person: NewPerson {
                    person_hash: person.to_vec(),
                    name_sealed: vec![],
                    id_number_sealed: vec![],
                },
                source: "carrier",
            }),
            ..NewCredential::bare(CredentialKind::Phone, b"new".to_vec(), vec![])
        }
    }

    fn commit(new: Option<NewCredential>, expected: ExpectedOutcome) -> RebindCommit {
        RebindCommit {
            pending_id: None,
            account_id: "acc".into(),
            keep_session: "ses".into(),
            kind: CredentialKind::Phone,
            new,
            expected,
            limits: RebindLimits {
                cooldown_secs: 100,
                max_person_changes_per_year: 1,
            },
            notices: vec![],
            admin_notice: NewAccountNotice {
                kind: "enterprise.member_realname_changed",
                credential: CredentialKind::Phone,
                masked_sealed: b"member".to_vec(),
            },
            approval: None,
            account_notice: NewAccountNotice {
                kind: "credential.rebound",
                credential: CredentialKind::Phone,
                masked_sealed: vec![],
            },
            at: 1_000,
        }
    }

    fn account(credentials: Vec<HeldCredential>) -> Snapshot {
        Snapshot {
            state: AccountState::Active,
            nature: Nature::Enterprise,
            realname_person_hash: None,
            credentials,
            rebinds: vec![],
        }
    }

    /// A phone of nobody changes to a phone of B: previewed as no person change.
    const PREVIEWED: ExpectedOutcome = ExpectedOutcome {
        replaces: Some(1),
        person_changes: false,
        status_after: RealNameStatus::Verified,
        nature_after: Nature::Enterprise,
    };

    #[test]
    fn the_previewed_outcome_commits_with_its_audits() {
        let s = account(vec![held(1, CredentialKind::Phone, None)]);
        let plan = plan(&s, &commit(Some(phone_of(b"B")), PREVIEWED)).unwrap();
        assert_eq!(plan.remove, Some(1));
        assert!(plan.rebind && !plan.person_changed);
        assert_eq!(plan.realname_after.as_deref(), Some(&b"B"[..]));
        let kinds: Vec<_> = plan.audits.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, ["credential.rebound", "realname.changed"]);
    }

    #[test]
    fn a_person_named_since_the_preview_refuses_the_commit() {
        // The old phone was verified as A after the preview: B is now a person change.
        let s = account(vec![held(1, CredentialKind::Phone, Some(b"A"))]);
        assert!(matches!(
            plan(&s, &commit(Some(phone_of(b"B")), PREVIEWED)),
            Err(StoreError::PreviewChanged)
        ));
        // So is a credential replaced meanwhile.
        let s = account(vec![held(7, CredentialKind::Phone, None)]);
        assert!(matches!(
            plan(&s, &commit(Some(phone_of(b"B")), PREVIEWED)),
            Err(StoreError::PreviewChanged)
        ));
    }

    #[test]
    fn state_limits_and_the_last_credential_are_decided_here() {
        let mut s = account(vec![held(1, CredentialKind::Phone, None)]);
        s.state = AccountState::Frozen;
        assert!(matches!(
            plan(&s, &commit(Some(phone_of(b"B")), PREVIEWED)),
            Err(StoreError::AccountRestricted(AccountState::Frozen))
        ));
        let mut s = account(vec![held(1, CredentialKind::Phone, None)]);
        s.rebinds = vec![(950, false)];
        assert!(matches!(
            plan(&s, &commit(Some(phone_of(b"B")), PREVIEWED)),
            Err(StoreError::RebindLimit(LimitRefusal::Cooldown { retry_after: 50 }))
        ));
        let s = account(vec![held(1, CredentialKind::Phone, None)]);
        let unbind = ExpectedOutcome {
            status_after: RealNameStatus::Unverified,
            ..PREVIEWED
        };
        assert!(matches!(
            plan(&s, &commit(None, unbind)),
            Err(StoreError::LastCredential)
        ));
    }

    #[test]
    fn a_first_credential_of_the_same_person_is_a_plain_bind() {
        let s = Snapshot {
            realname_person_hash: Some(b"B".to_vec()),
            rebinds: vec![(999, true)],
            ..account(vec![held(2, CredentialKind::Wechat, Some(b"B"))])
        };
        let bind = ExpectedOutcome {
            replaces: None,
            ..PREVIEWED
        };
        let plan = plan(&s, &commit(Some(phone_of(b"B")), bind)).expect("no limit applies to a bind");
        assert!(!plan.rebind && plan.remove.is_none());
        assert_eq!(plan.audits[0].kind, "credential.bound");
        assert_eq!(plan.audits.len(), 1, "the real name did not change");
    }
}
