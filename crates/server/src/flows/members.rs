//! Enterprises and their members as the API and `shiming enterprise` show
//! them: one shape for both, and the rule of who sees what.

use serde::Serialize;
use serde_json::{json, Value};
use shiming_domain::{AccountState, MemberFlag, Nature, PersonName, RealNameStatus, Role};
use shiming_store::{AuditRecord, MemberCursor, MemberFilter, MemberRecord, Membership};
use shiming_vault::Vault;

use super::security::{open_parsed, DISPLAY_NAME, FROZEN_REASON, PERSON_NAME};
use crate::error::{ApiError, ApiResult};
use crate::state::rfc3339;

/// A membership with its enterprise, as its member sees it.
pub fn membership(m: &Membership) -> Value {
    json!({
        "id": m.enterprise_id,
        "name": m.name,
        "role": m.role,
        "created_at": rfc3339(m.created_at),
        "policy": m.policy,
        "joined_at": rfc3339(m.joined_at),
        "managed": m.manages,
        "suspended": m.suspended,
        "person_changed": m.person_changed,
        "frozen": m.frozen,
        "real_name_status": m.real_name,
        // Whether the member may act there now (not frozen, not suspended,
        // not short of the policy's real name).
        "active": m.seat().acts(&m.policy).is_ok(),
    })
}

/// A member as a member sees them, or, with `admin`, as the owner, the
/// admins and the platform's operators do.
#[derive(Serialize)]
pub struct MemberShown {
    pub account_id: String,
    pub display_name: Option<String>,
    pub role: Role,
    pub joined_at: String,
    #[serde(flatten)]
    pub admin: Option<AdminShown>,
}

/// What only admins see of a member: whether the account is frozen, how it
/// is managed and whose real name it holds (even they see the name masked).
#[derive(Serialize)]
pub struct AdminShown {
    pub real_name: RealNameShown,
    pub nature: Nature,
    pub state: AccountState,
    pub managed: bool,
    pub flags: Vec<MemberFlag>,
    pub frozen_reason: Option<String>,
}

#[derive(Serialize)]
pub struct RealNameShown {
    pub status: RealNameStatus,
    pub name_masked: Option<String>,
}

/// A member as a member sees them, or, `as_admin`, as admins do.
pub fn member(vault: &Vault, as_admin: bool, m: &MemberRecord) -> ApiResult<MemberShown> {
    let display_name = m
        .display_name_sealed
        .as_deref()
        .map(|sealed| vault.open_string(DISPLAY_NAME, sealed))
        .transpose()?;
    let admin = as_admin.then(|| admin_shown(vault, m)).transpose()?;
    Ok(MemberShown {
        account_id: m.account_id.clone(),
        display_name,
        role: m.role,
        joined_at: rfc3339(m.joined_at),
        admin,
    })
}

fn admin_shown(vault: &Vault, m: &MemberRecord) -> ApiResult<AdminShown> {
    let name_masked = m
        .person_name_sealed
        .as_deref()
        .map(|sealed| open_parsed(vault, PERSON_NAME, sealed, PersonName::parse).map(|n| n.masked()))
        .transpose()?;
    let flags = [
        (MemberFlag::Managed, m.manages),
        (MemberFlag::PersonChanged, m.person_changed),
        (MemberFlag::Suspended, m.suspended),
        (MemberFlag::Frozen, m.frozen),
    ];
    let frozen_reason = m
        .frozen_reason_sealed
        .as_deref()
        .map(|r| vault.open_string(FROZEN_REASON, r))
        .transpose()?;
    Ok(AdminShown {
        real_name: RealNameShown {
            status: m.real_name,
            name_masked,
        },
        nature: m.account_nature,
        state: m.account_state,
        managed: m.manages,
        flags: flags.iter().filter(|f| f.1).map(|f| f.0).collect(),
        frozen_reason,
    })
}

/// The cursor of the page after `page` (none after the last, a page
/// shorter than `limit`).
pub fn next_members(page: &[MemberRecord], limit: u32) -> Option<String> {
    (page.len() == limit as usize)
        .then(|| page.last().map(|m| format!("{}.{}", m.joined_at, m.account_id)))
        .flatten()
}

/// A page of members, with the cursor of the next page (none after the
/// last, a page shorter than `limit`).
pub fn members(vault: &Vault, as_admin: bool, page: &[MemberRecord], limit: u32) -> ApiResult<Value> {
    let members: Vec<MemberShown> = page
        .iter()
        .map(|m| member(vault, as_admin, m))
        .collect::<ApiResult<_>>()?;
    Ok(json!({ "members": members, "next": next_members(page, limit) }))
}

/// A page of an enterprise's events, with the cursor of the next page.
pub fn events(page: &[AuditRecord], limit: u32) -> Value {
    let next = next_events(page, limit);
    let events: Vec<Value> = page
        .iter()
        .map(|e| json!({ "seq": e.seq, "type": e.kind, "at": rfc3339(e.at), "account_id": e.account_id, "details": e.details }))
        .collect();
    json!({ "events": events, "next": next })
}

/// The cursor (`before`) of the page after `page`, of events newest first
/// (none after the last, a page shorter than `limit`).
pub fn next_events(page: &[AuditRecord], limit: u32) -> Option<i64> {
    (page.len() == limit as usize)
        .then(|| page.last().map(|e| e.seq))
        .flatten()
}

/// A page cursor: `<joined_at>.<account_id>`, as `next` gave it.
pub fn cursor(text: &str) -> ApiResult<MemberCursor> {
    let bad = || ApiError::InvalidRequest("after is the `next` of an earlier page".into());
    let (joined_at, account_id) = text.split_once('.').ok_or_else(bad)?;
    Ok(MemberCursor {
        joined_at: joined_at.parse().map_err(|_| bad())?,
        account_id: account_id.to_owned(),
    })
}

/// The filters of a members list, from their words: a word unknown is a
/// typed error naming the filter.
pub fn filter(role: Option<&str>, real_name: Option<&str>, flag: Option<&str>) -> ApiResult<MemberFilter> {
    fn word<T>(raw: Option<&str>, parse: fn(&str) -> Option<T>, what: &str) -> ApiResult<Option<T>> {
        raw.map(|w| parse(w).ok_or_else(|| ApiError::InvalidRequest(format!("unknown {what}: {w:?}"))))
            .transpose()
    }
    Ok(MemberFilter {
        role: word(role, Role::parse, "role (owner, admin, member)")?,
        real_name: word(
            real_name,
            RealNameStatus::parse,
            "real_name (verified, unverified, inconsistent)",
        )?,
        flag: word(
            flag,
            MemberFlag::parse,
            "flag (managed, person_changed, suspended, frozen)",
        )?,
    })
}
