//! Records built from a row by column name, written once for both backends:
//! each backend's row type answers [`Columns::col`], and the functions here
//! say which columns make which record.

use shiming_domain::{AccountState, CredentialKind, InvitationState, Nature, RealNameStatus, Role};
use sqlx::postgres::{PgRow, Postgres};
use sqlx::Row as _;

use crate::error::word;
use crate::members::read_policy;
use crate::plan;
use crate::{
    AppOpenid, Attestation, CredentialRecord, ExpectedOutcome, InvitationRecord, MemberRecord, Membership,
    NewAttestation, NewCredential, NewPerson, PendingChange, PersonRecord, Proof, Result, SessionRecord,
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

/// What [`membership`] reads: each backend appends its `WHERE`.
pub(crate) const MEMBERSHIP_COLUMNS: &str = "e.id, e.name, e.created_at, e.policy, m.role, m.joined_at, m.manages, \
     m.person_changed, m.suspended, m.frozen \
     FROM memberships m JOIN enterprises e ON e.id = m.enterprise_id";

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
    })
}

/// What [`member`] reads, and its order: each backend appends its `WHERE`
/// between them (the enterprise, and the cursor).
pub(crate) const MEMBER_COLUMNS: &str = "m.account_id, m.role, m.joined_at, m.manages, m.display_name_sealed, \
     m.person_changed, m.suspended, m.frozen, m.frozen_reason_sealed, a.nature, a.state \
     FROM memberships m JOIN accounts a ON a.id = m.account_id";
pub(crate) const MEMBER_ORDER: &str = "ORDER BY m.joined_at, m.account_id";

/// A member with their account's nature and state ([`MEMBER_COLUMNS`]).
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
