//! Records built from a row by column name, written once for both backends:
//! each backend's row type answers [`Columns::col`], and the functions here
//! say which columns make which record.

use shiming_domain::{
    AccountState, ApprovalState, CredentialKind, InvitationState, Nature, Policy, RealNameStatus, Role, Seat,
};
use sqlx::postgres::{PgRow, Postgres};
use sqlx::Row as _;
use std::sync::LazyLock;

use crate::error::word;
use crate::members::{read_policy, Standing};
use crate::plan;
use crate::{
    AppOpenid, ApprovalRecord, Attestation, CredentialRecord, ExpectedOutcome, InvitationRecord, MemberRecord,
    Membership, NewAttestation, NewCredential, NewPerson, PendingChange, PersonRecord, Proof, Result, SessionRecord,
};

/// A column's value, readable from either backend's row.
pub(crate) trait Value:
    rusqlite::types::FromSql + for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>
{
}

impl<T> Value for T where T: rusqlite::types::FromSql + for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres> {}

/// A row read by column name.
pub(crate) trait Columns {
    fn col<T: Value>(&self, name: &str) -> Result<T>;
}

impl Columns for rusqlite::Row<'_> {
    fn col<T: Value>(&self, name: &str) -> Result<T> {
        Ok(self.get(name)?)
    }
}

impl Columns for PgRow {
    fn col<T: Value>(&self, name: &str) -> Result<T> {
        Ok(self.try_get(name)?)
    }
}

/// What [`session`] reads, and where from: each backend appends its
/// `WHERE` (with its own placeholders).
pub(crate) const SESSION_COLUMNS: &str =
    "s.id, s.account_id, a.state, a.nature, s.user_agent, s.created_at, s.last_seen_at, s.expires_at, s.step_up_until \
     FROM sessions s JOIN accounts a ON a.id = s.account_id";

/// A session with its account's state and nature ([`SESSION_COLUMNS`]).
pub(crate) fn session(r: &impl Columns) -> Result<SessionRecord> {
    Ok(SessionRecord {
        id: r.col("id")?,
        account_id: r.col("account_id")?,
        account_state: word(AccountState::parse, r.col("state")?)?,
        account_nature: word(Nature::parse, r.col("nature")?)?,
        user_agent: r.col("user_agent")?,
        created_at: r.col("created_at")?,
        last_seen_at: r.col("last_seen_at")?,
        expires_at: r.col("expires_at")?,
        step_up_until: r.col("step_up_until")?,
    })
}

/// The real-name status of the account whose id is the column `$account`,
/// in SQL: derived as
/// `derive_real_name` derives it (no attested credential: unverified; two
/// attesting different persons: inconsistent; else verified), so that a
/// page of members is read, and filtered, in one query. A store test holds
/// the two derivations together.
macro_rules! real_name_status {
    ($account:literal) => {
        concat!(
            "(SELECT CASE WHEN count(*) = 0 THEN 'unverified' \
             WHEN count(DISTINCT rn_t.person_id) > 1 THEN 'inconsistent' ELSE 'verified' END \
             FROM credentials rn_c JOIN attestations rn_t ON rn_t.credential_id = rn_c.id \
             WHERE rn_c.account_id = ",
            $account,
            ")"
        )
    };
}

/// What [`membership`] reads: each backend appends its `WHERE`.
pub(crate) const MEMBERSHIP_COLUMNS: &str = concat!(
    "e.id, e.name, e.created_at, e.policy, m.role, m.joined_at, m.manages, m.person_changed, m.suspended, \
     m.frozen, ",
    real_name_status!("m.account_id"),
    " AS real_name FROM memberships m JOIN enterprises e ON e.id = m.enterprise_id"
);

/// An account's membership with its enterprise ([`MEMBERSHIP_COLUMNS`]).
pub(crate) fn membership(r: &impl Columns) -> Result<Membership> {
    Ok(Membership {
        enterprise_id: r.col("id")?,
        name: r.col("name")?,
        created_at: r.col("created_at")?,
        policy: read_policy(&r.col::<String>("policy")?)?,
        role: word(Role::parse, r.col("role")?)?,
        joined_at: r.col("joined_at")?,
        manages: r.col("manages")?,
        person_changed: r.col("person_changed")?,
        suspended: r.col("suspended")?,
        frozen: r.col("frozen")?,
        real_name: word(RealNameStatus::parse, r.col("real_name")?)?,
    })
}

/// What [`standing`] reads: each backend appends its `WHERE`.
pub(crate) const STANDING_COLUMNS: &str = concat!(
    "m.role, m.frozen, m.suspended, e.policy, ",
    real_name_status!("m.account_id"),
    " AS real_name FROM memberships m JOIN enterprises e ON e.id = m.enterprise_id"
);

/// A member's seat and the enterprise's policy ([`STANDING_COLUMNS`]).
pub(crate) fn standing(r: &impl Columns) -> Result<Standing> {
    Ok(Standing {
        seat: Seat {
            role: word(Role::parse, r.col("role")?)?,
            frozen: r.col("frozen")?,
            suspended: r.col("suspended")?,
            real_name: word(RealNameStatus::parse, r.col("real_name")?)?,
        },
        policy: read_policy(&r.col::<String>("policy")?)?,
    })
}

/// What [`member`] reads, its filters and its order: each backend adds its
/// `WHERE` (the enterprise, the cursor, and the filters on the columns
/// named here, `real_name` by [`MEMBER_REAL_NAME`]).
pub(crate) const MEMBER_COLUMNS: &str = concat!(
    "m.account_id, m.role, m.joined_at, m.manages, m.display_name_sealed, m.person_changed, m.suspended, \
     m.frozen, m.frozen_reason_sealed, a.nature, a.state, ",
    real_name_status!("m.account_id"),
    " AS real_name, \
     (SELECT p.name_sealed FROM credentials c JOIN attestations t ON t.credential_id = c.id \
      JOIN persons p ON p.id = t.person_id WHERE c.account_id = m.account_id \
      ORDER BY c.kind = 'wechat' DESC LIMIT 1) AS person_name_sealed \
     FROM memberships m JOIN accounts a ON a.id = m.account_id"
);
pub(crate) const MEMBER_REAL_NAME: &str = real_name_status!("m.account_id");
/// What [`joining`] reads of an invitation's enterprise and the account that
/// answers it (`c`, its phone credential): each backend adds its `FROM`.
pub(crate) const JOINING_COLUMNS: &str = concat!("e.policy, ", real_name_status!("c.account_id"), " AS real_name");

/// The policy of an invitation's enterprise, and the answerer's real-name
/// status ([`JOINING_COLUMNS`]).
pub(crate) fn joining(r: &impl Columns) -> Result<(Policy, RealNameStatus)> {
    Ok((
        read_policy(&r.col::<String>("policy")?)?,
        word(RealNameStatus::parse, r.col("real_name")?)?,
    ))
}
pub(crate) const MEMBER_ORDER: &str = "ORDER BY m.joined_at, m.account_id";
/// Whether a member has the flag named by the parameter `$6` (a
/// [`MemberFlag`](shiming_domain::MemberFlag) word).
pub(crate) const MEMBER_FLAG: &str =
    "CASE $6 WHEN 'managed' THEN m.manages WHEN 'person_changed' THEN m.person_changed \
     WHEN 'suspended' THEN m.suspended WHEN 'frozen' THEN m.frozen ELSE FALSE END";

/// A member with their account's nature, state and real name
/// ([`MEMBER_COLUMNS`]).
pub(crate) fn member(r: &impl Columns) -> Result<MemberRecord> {
    Ok(MemberRecord {
        account_id: r.col("account_id")?,
        role: word(Role::parse, r.col("role")?)?,
        joined_at: r.col("joined_at")?,
        account_nature: word(Nature::parse, r.col("nature")?)?,
        account_state: word(AccountState::parse, r.col("state")?)?,
        manages: r.col("manages")?,
        display_name_sealed: r.col("display_name_sealed")?,
        person_changed: r.col("person_changed")?,
        suspended: r.col("suspended")?,
        frozen: r.col("frozen")?,
        frozen_reason_sealed: r.col("frozen_reason_sealed")?,
        real_name: word(RealNameStatus::parse, r.col("real_name")?)?,
        person_name_sealed: r.col("person_name_sealed")?,
    })
}

/// What [`approval`] reads: each backend appends its `WHERE`. `mm` is the
/// member's membership of the enterprise, while there is one.
pub(crate) const APPROVAL_COLUMNS: &str = "r.id, r.enterprise_id, r.account_id, r.session_id, r.pending_id, \
     r.kind, r.state, r.requested_at, r.expires_at, r.decided_at, r.reason_sealed, \
     (p.id IS NOT NULL AND p.consumed_at IS NULL) AS change_open, \
     s.expires_at AS session_expires_at, s.last_seen_at AS session_seen_at, \
     COALESCE(mm.manages, FALSE) AS managed, mm.display_name_sealed \
     FROM rebind_approvals r LEFT JOIN pending_changes p ON p.id = r.pending_id \
     LEFT JOIN sessions s ON s.id = r.session_id AND s.account_id = r.account_id \
     LEFT JOIN memberships mm ON mm.enterprise_id = r.enterprise_id AND mm.account_id = r.account_id";

/// The enterprise's ($1) approvals that still wait, oldest first, as
/// [`crate::ApprovalRecord::waits`] decides it: at $2, sessions seen since $3
/// live; $4 at most.
pub(crate) static OPEN_APPROVALS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {APPROVAL_COLUMNS} WHERE r.enterprise_id = $1 AND r.state = 'pending' \
         AND p.id IS NOT NULL AND p.consumed_at IS NULL AND r.expires_at > $2 \
         AND s.expires_at > $2 AND s.last_seen_at >= $3 AND mm.manages ORDER BY r.requested_at, r.id LIMIT $4"
    )
});

/// An approval, whether its change is still open, the session that asked
/// and whether the enterprise still manages the account ([`APPROVAL_COLUMNS`]).
pub(crate) fn approval(r: &impl Columns) -> Result<ApprovalRecord> {
    Ok(ApprovalRecord {
        id: r.col("id")?,
        enterprise_id: r.col("enterprise_id")?,
        account_id: r.col("account_id")?,
        session_id: r.col("session_id")?,
        pending_id: r.col("pending_id")?,
        kind: word(CredentialKind::parse, r.col("kind")?)?,
        state: word(ApprovalState::parse, r.col("state")?)?,
        requested_at: r.col("requested_at")?,
        expires_at: r.col("expires_at")?,
        decided_at: r.col("decided_at")?,
        reason_sealed: r.col("reason_sealed")?,
        change_open: r.col("change_open")?,
        session: match (r.col("session_expires_at")?, r.col("session_seen_at")?) {
            (Some(expires_at), Some(seen_at)) => Some((expires_at, seen_at)),
            _ => None,
        },
        managed: r.col("managed")?,
        display_name_sealed: r.col("display_name_sealed")?,
    })
}

/// A credential joined with its attestation and person (`person_id` and
/// the person's columns NULL when it attests no one).
pub(crate) fn credential(r: &impl Columns) -> Result<CredentialRecord> {
    let attestation = match r.col::<Option<i64>>("person_id")? {
        Some(person_id) => Some(Attestation {
            person: PersonRecord {
                id: person_id,
                person_hash: r.col("person_hash")?,
                name_sealed: r.col("name_sealed")?,
                id_number_sealed: r.col("id_number_sealed")?,
            },
            source: r.col("source")?,
            verified_at: r.col("verified_at")?,
        }),
        None => None,
    };
    Ok(CredentialRecord {
        id: r.col("id")?,
        kind: word(CredentialKind::parse, r.col("kind")?)?,
        value_sealed: r.col("value_sealed")?,
        display_sealed: r.col("display_sealed")?,
        bound_at: r.col("bound_at")?,
        attestation,
    })
}

/// A row of `pending_changes`.
pub(crate) fn pending_change(r: &impl Columns) -> Result<PendingChange> {
    let kind = word(CredentialKind::parse, r.col("kind")?)?;
    let attestation = match r.col::<Option<Vec<u8>>>("person_hash")? {
        Some(person_hash) => Some(NewAttestation {
            person: NewPerson {
                person_hash,
                name_sealed: r.col("person_name_sealed")?,
                id_number_sealed: r.col("person_id_sealed")?,
            },
            source: plan::attestation_source(kind),
        }),
        None => None,
    };
    let app_openid = match (
        r.col::<Option<String>>("appid")?,
        r.col::<Option<Vec<u8>>>("new_openid_sealed")?,
    ) {
        (Some(appid), Some(openid_sealed)) => Some(AppOpenid { appid, openid_sealed }),
        _ => None,
    };
    Ok(PendingChange {
        id: r.col("id")?,
        credential: NewCredential {
            kind,
            lookup_hash: r.col("new_lookup_hash")?,
            value_sealed: r.col("new_value_sealed")?,
            display_sealed: r.col("new_display_sealed")?,
            attestation,
            app_openid,
        },
        proof: proof(r)?,
        expires_at: r.col("expires_at")?,
    })
}

fn proof(r: &impl Columns) -> Result<Option<Proof>> {
    let (Some(at), Some(preview_sealed)) = (
        r.col::<Option<i64>>("proven_at")?,
        r.col::<Option<Vec<u8>>>("preview_sealed")?,
    ) else {
        return Ok(None);
    };
    Ok(Some(Proof {
        preview_sealed,
        expected: ExpectedOutcome {
            replaces: r.col("expect_replaces")?,
            person_changes: r.col("expect_person_changes")?,
            status_after: word(RealNameStatus::parse, r.col("expect_status")?)?,
            nature_after: word(Nature::parse, r.col("expect_nature")?)?,
        },
        at,
    }))
}

/// An invitation's columns, with its enterprise's name.
pub(crate) const INVITATION_COLUMNS: &str = "i.id, i.enterprise_id, e.name, i.phone_hash, i.phone_sealed, \
     i.display_name_sealed, i.role, \
     i.invited_by, i.created_at, i.expires_at, i.state, i.closed_at \
     FROM invitations i JOIN enterprises e ON e.id = i.enterprise_id";

/// An invitation ([`INVITATION_COLUMNS`]).
pub(crate) fn invitation(r: &impl Columns) -> Result<InvitationRecord> {
    Ok(InvitationRecord {
        id: r.col("id")?,
        enterprise_id: r.col("enterprise_id")?,
        enterprise_name: r.col("name")?,
        phone_hash: r.col("phone_hash")?,
        phone_sealed: r.col("phone_sealed")?,
        display_name_sealed: r.col("display_name_sealed")?,
        role: word(Role::parse, r.col("role")?)?,
        invited_by: r.col("invited_by")?,
        created_at: r.col("created_at")?,
        expires_at: r.col("expires_at")?,
        state: word(InvitationState::parse, r.col("state")?)?,
        closed_at: r.col("closed_at")?,
    })
}
