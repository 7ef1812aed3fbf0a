//! The rules of a change to a membership and of invitations, apart from any
//! database: the change's transaction reads the enterprise's policy and the
//! roles of the actor and the member, and [`plan`] decides from them alone
//! what it writes; an invitation's transaction reads the actor's role and
//! the invitation's state, and the `refuse_…` functions say whether it goes
//! on. Each backend holds only the SQL of those reads and writes.

use serde_json::json;
use shiming_domain::{
    ApprovalState, ChangeRefused, InvitationState, MemberChange, Nature, Policy, RealNameStatus, Role, Seat,
};

use crate::error::word;
use crate::{AuditDraft, Changed, Decided, InvitationOutcome, MemberChangeRequest, RebindCommit, Result, StoreError};

/// What a change to a membership writes, in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Writes {
    /// Ends this account's membership.
    Delete(String),
    /// Lifts the suspension of this account's membership, and its flag.
    Approve(String),
    /// Freezes this account's membership with the reason (sealed), or
    /// lifts the freeze (`None`).
    Freeze(String, Option<Vec<u8>>),
    /// Gives these accounts these roles, one after the other (the owner is
    /// demoted before another is made owner, for the one-owner index).
    Roles(Vec<(String, Role)>),
}

/// A member's seat and the enterprise's policy, as a transaction read them.
pub(crate) struct Standing {
    pub seat: Seat,
    pub policy: Policy,
}

/// What the transaction read: the standings of the actor and the member
/// (`None`: no member, as when there is no such enterprise).
pub(crate) struct Read {
    pub actor: Option<Standing>,
    pub target: Option<Standing>,
}

/// The writes of the change, or why it makes none.
pub(crate) fn plan(request: &MemberChangeRequest, read: Read) -> Result<std::result::Result<Writes, Changed>> {
    let Some(Standing { seat: actor, policy }) = read.actor else {
        return Ok(Err(Changed::ActorNotMember));
    };
    let change = request.change;
    // Frozen, suspended or short of the policy's real name, a member may
    // still leave, and do nothing else: decided here, on the seat as this
    // transaction read it.
    let actor = match change {
        MemberChange::Leave => actor.role,
        _ => match actor.acts(&policy) {
            Ok(role) => role,
            Err(refused) => return Ok(Err(Changed::Refused(refused))),
        },
    };
    let Some(target) = read.target else {
        // Whether someone is a member is told only to who could act on a
        // member: the least a target can be.
        return Ok(Err(match change.allowed(actor, Role::Member, &policy) {
            Ok(()) => Changed::TargetNotMember,
            Err(refused) => Changed::Refused(refused),
        }));
    };
    let target = target.seat.role;
    if let Err(refused) = change.allowed(actor, target, &policy) {
        return Ok(Err(Changed::Refused(refused)));
    }
    Ok(Ok(match change {
        MemberChange::Leave | MemberChange::Remove => Writes::Delete(request.target.clone()),
        MemberChange::Approve => Writes::Approve(request.target.clone()),
        MemberChange::Freeze => Writes::Freeze(request.target.clone(), request.reason_sealed.clone()),
        MemberChange::Unfreeze => Writes::Freeze(request.target.clone(), None),
        MemberChange::SetRole(_) | MemberChange::TransferOwnership => {
            let (actor_after, target_after) = change.roles_after(actor, target);
            // The actor first: an owner hands on by being demoted first.
            let roles = [
                (&request.actor, actor, actor_after),
                (&request.target, target, target_after),
            ];
            Writes::Roles(
                roles
                    .into_iter()
                    .filter(|(_, before, after)| before != after)
                    .map(|(account, _, after)| (account.clone(), after))
                    .collect(),
            )
        }
    }))
}

/// A stored policy (JSON; fields it lacks take their defaults).
pub(crate) fn read_policy(stored: &str) -> Result<Policy> {
    serde_json::from_str(stored).map_err(|e| StoreError::Damaged(format!("enterprise policy: {e}")))
}

/// A policy as stored.
pub(crate) fn stored_policy(policy: &Policy) -> String {
    serde_json::to_string(policy).expect("a policy serializes")
}

/// Whether an invitation as `role` may be made by the member standing as `actor`
/// (`None`: no member) to a phone that is (`already_member`) or is not a
/// member's already; `None` when it may.
pub(crate) fn refuse_invite(actor: Option<Standing>, role: Role, already_member: bool) -> Option<InvitationOutcome> {
    let Some(actor) = actor else {
        return Some(InvitationOutcome::ActorNotMember);
    };
    if let Err(refused) = actor.seat.acts(&actor.policy).and_then(|actor| actor.may_invite(role)) {
        return Some(InvitationOutcome::Refused(refused));
    }
    already_member.then_some(InvitationOutcome::AlreadyMember)
}

/// Whether an invitation stored as `state`, expiring at `expires_at`, is
/// still open at `now`; `None` when it is.
pub(crate) fn refuse_closed(state: &str, expires_at: i64, now: i64) -> Result<Option<InvitationOutcome>> {
    Ok(
        match word(InvitationState::parse, state.to_owned())?.at(expires_at, now) {
            InvitationState::Pending => None,
            InvitationState::Expired => Some(InvitationOutcome::Expired),
            closed => Some(InvitationOutcome::Closed(closed)),
        },
    )
}

/// Whether an invitation stored as `state`, expiring at `expires_at`, may
/// be answered at `now`, and, when accepted (`joining`: its enterprise's
/// policy and the answerer's real-name status), joined; `None` when it may.
pub(crate) fn refuse_answer(
    state: &str,
    expires_at: i64,
    now: i64,
    joining: Option<(Policy, RealNameStatus)>,
) -> Result<Option<InvitationOutcome>> {
    if let Some(closed) = refuse_closed(state, expires_at, now)? {
        return Ok(Some(closed));
    }
    Ok(joining.and_then(|(policy, real_name)| policy.admits(real_name).err().map(InvitationOutcome::Refused)))
}

/// Whether the commit `c`, carrying no approval, may need one: it replaces
/// a credential, changes the real-name person, or unbinds (which would
/// let a WeChat be replaced by unbinding, then binding another). A first
/// bind of the same person waits for no one. Only then is [`crate::plan::MANAGING`]
/// read, so other commits pay nothing.
pub(crate) fn may_wait(c: &RebindCommit) -> bool {
    c.approval.is_none()
        && (c.expected.replaces.is_some() && c.new.is_some() || c.expected.person_changes || c.new.is_none())
}

/// The enterprise whose approval a commit that [`may_wait`] waits for: one
/// that manages the account (`managing`, as [`crate::plan::MANAGING`] read them) and
/// asks for it.
pub(crate) fn approval_needed(managing: Vec<(String, String)>) -> Result<Option<String>> {
    for (enterprise_id, policy) in managing {
        if read_policy(&policy)?.rebind_approval {
            return Ok(Some(enterprise_id));
        }
    }
    Ok(None)
}

/// Of the enterprises an account is a member of (`member_of`, as
/// [`crate::plan::MEMBER_OF`] read them), those whose admins are told of
/// its real-name changes.
pub(crate) fn notified(member_of: Vec<(String, String)>) -> Result<Vec<String>> {
    let mut notified = Vec::new();
    for (enterprise_id, policy) in member_of {
        if read_policy(&policy)?.notify_realname_changes {
            notified.push(enterprise_id);
        }
    }
    Ok(notified)
}

/// Marks a waiting approval approved ($1 the approver, $2 when, $3 the
/// approval, $4 its enterprise, $5 the pending change the commit uses up,
/// $6 the session the commit keeps: the one that asked).
pub(crate) const APPROVE_REBIND: &str = "UPDATE rebind_approvals SET state = 'approved', decided_by = $1, \
     decided_at = $2 WHERE id = $3 AND enterprise_id = $4 AND pending_id = $5 AND session_id = $6 \
     AND state = 'pending'";

/// Why the approver of a commit of `c`'s account, standing as `approver`,
/// may not approve: no admin of the enterprise now, or the account itself.
pub(crate) fn refuse_approver(c: &RebindCommit, approver: Option<&Standing>) -> Option<StoreError> {
    if c.approval.as_ref().is_some_and(|a| a.approver == c.account_id) {
        return Some(StoreError::Refused(ChangeRefused::OwnApproval));
    }
    refuse_unless_admin(
        approver,
        StoreError::Conflict("the approver is no member of the enterprise"),
        StoreError::Refused,
    )
}

/// Whether the enterprise ($1) manages the account ($2): only then may it
/// decide the account's rebinds.
pub(crate) const MANAGES: &str =
    "SELECT EXISTS (SELECT 1 FROM memberships WHERE enterprise_id = $1 AND account_id = $2 AND manages)";

/// Whether an approved commit may go on: the enterprise ($1) still manages
/// the account ($2), and the session that asked ($3) is still live at $4,
/// unexpired and seen since $5, as the server's session check has it (else
/// a change asked for by a session since revoked, a stolen one say, or
/// left idle, would still commit).
pub(crate) const APPROVAL_STILL_HOLDS: &str = "SELECT EXISTS (SELECT 1 FROM memberships \
     WHERE enterprise_id = $1 AND account_id = $2 AND manages) \
     AND EXISTS (SELECT 1 FROM sessions WHERE id = $3 AND account_id = $2 AND expires_at > $4 \
     AND last_seen_at >= $5)";

/// Whether the approval stored as `state` (`None`: no such approval of the
/// enterprise) may be decided; `None` when it may.
pub(crate) fn refuse_decided(state: Option<String>) -> Result<Option<Decided>> {
    let Some(state) = state else {
        return Ok(Some(Decided::NotFound));
    };
    Ok(match word(ApprovalState::parse, state)? {
        ApprovalState::Pending => None,
        closed => Some(Decided::Closed(closed)),
    })
}

/// Whether the member standing as `actor` (`None`: no member) administers the
/// enterprise now: `None` when it does, else why not, as `refused` gives it
/// (updating the enterprise, revoking an invitation, provisioning a member).
pub(crate) fn refuse_unless_admin<T>(
    actor: Option<&Standing>,
    not_member: T,
    refused: impl FnOnce(ChangeRefused) -> T,
) -> Option<T> {
    admin(actor, not_member, refused).err()
}

/// The standing of `actor` when it administers the enterprise now, else
/// why not ([`refuse_unless_admin`]).
pub(crate) fn admin<T>(
    actor: Option<&Standing>,
    not_member: T,
    refused: impl FnOnce(ChangeRefused) -> T,
) -> std::result::Result<&Standing, T> {
    let actor = actor.ok_or(not_member)?;
    actor.seat.administers(&actor.policy).map_err(refused)?;
    Ok(actor)
}

/// After a membership ends: an account of nature `enterprise` that no
/// enterprise manages any more (its managing membership ended) becomes
/// personal, and goes on working. Binds the account id twice.
pub(crate) const TURN_PERSONAL: &str = "UPDATE accounts SET nature = 'personal' WHERE id = $1 \
     AND nature = 'enterprise' AND NOT EXISTS (SELECT 1 FROM memberships WHERE account_id = $1 AND manages)";

/// The event of an account turned personal by the end of its managing
/// membership (`request`'s).
pub(crate) fn turned_personal(request: &MemberChangeRequest) -> AuditDraft {
    let how = match request.change {
        MemberChange::Leave => "left",
        _ => "removed",
    };
    AuditDraft::new(
        "account.nature_changed",
        &request.target,
        request.audit.at,
        json!({
            "enterprise_id": request.enterprise_id,
            "nature_before": Nature::Enterprise,
            "nature_after": Nature::Personal,
            "membership": how,
        }),
    )
}

/// Lifts a membership's suspension and its flag ($1 the enterprise, $2 the
/// account).
pub(crate) const APPROVE: &str =
    "UPDATE memberships SET suspended = FALSE, person_changed = FALSE WHERE enterprise_id = $1 AND account_id = $2";

/// Freezes a membership with its reason ($1 whether frozen, $2 the sealed
/// reason, $3 the enterprise, $4 the account).
pub(crate) const FREEZE: &str =
    "UPDATE memberships SET frozen = $1, frozen_reason_sealed = $2 WHERE enterprise_id = $3 AND account_id = $4";
