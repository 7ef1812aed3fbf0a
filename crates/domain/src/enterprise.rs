//! Enterprises: their names, the roles of their members, and what a role
//! may do.

use serde::{Deserialize, Serialize};

use crate::account::word_enum;
use crate::realname::RealNameStatus;

/// An enterprise's name, as shown to its members: trimmed, 1 to 64
/// characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnterpriseName(String);

/// What is wrong with a name given to an enterprise or to a member.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnterpriseNameError {
    #[error("a name has 1 to 64 characters")]
    Length,
    #[error("a name holds no control characters")]
    Control,
}

impl EnterpriseName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, EnterpriseNameError> {
        short_text(raw, Self::MAX_CHARS).map(EnterpriseName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name an enterprise knows a member by (企业内姓名), given by the admin
/// who provisions the account: the same rules as an enterprise's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, EnterpriseNameError> {
        short_text(raw, EnterpriseName::MAX_CHARS).map(DisplayName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why an admin froze a member: trimmed, 1 to 200 characters, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason(String);

impl Reason {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, EnterpriseNameError> {
        short_text(raw, Self::MAX_CHARS).map(Reason)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Trimmed, 1 to `max` characters, no control characters.
fn short_text(raw: &str, max: usize) -> Result<String, EnterpriseNameError> {
    let text = raw.trim();
    let chars = text.chars().count();
    if chars == 0 || chars > max {
        return Err(EnterpriseNameError::Length);
    }
    if text.chars().any(char::is_control) {
        return Err(EnterpriseNameError::Control);
    }
    Ok(text.to_owned())
}

/// A member's role in an enterprise. There is one owner, who cannot leave
/// before handing the ownership on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

word_enum!(Role { Owner => "owner", Admin => "admin", Member => "member" });

impl Role {
    /// Whether the role administers the enterprise (renames it, sets its
    /// policy, invites, removes and freezes members).
    pub fn administers(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

impl Role {
    /// Whether a member of role `self` may invite someone to join as
    /// `role`: admins invite members, and only the owner invites admins (as
    /// only the owner gives the admin role).
    pub fn may_invite(self, role: Role) -> Result<(), ChangeRefused> {
        match (self, role) {
            (_, Role::Owner) => Err(ChangeRefused::OwnerByTransferOnly),
            (Role::Member, _) => Err(ChangeRefused::AdminRequired),
            (Role::Admin, Role::Admin) => Err(ChangeRefused::OwnerRequired),
            _ => Ok(()),
        }
    }
}

/// A flag of a membership, as the members list shows it and filters by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberFlag {
    /// The enterprise manages the account (it provisioned it).
    Managed,
    PersonChanged,
    Suspended,
    Frozen,
}

word_enum!(MemberFlag {
    Managed => "managed",
    PersonChanged => "person_changed",
    Suspended => "suspended",
    Frozen => "frozen",
});

/// Where an admin's approval of a member's rebind stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalState {
    Pending,
    Approved,
    Denied,
}

word_enum!(ApprovalState {
    Pending => "pending",
    Approved => "approved",
    Denied => "denied",
});

/// Where an invitation stands. One that is still `Pending` past its expiry
/// is shown, and treated, as expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvitationState {
    Pending,
    Accepted,
    Declined,
    Revoked,
    Expired,
}

word_enum!(InvitationState {
    Pending => "pending",
    Accepted => "accepted",
    Declined => "declined",
    Revoked => "revoked",
    Expired => "expired",
});

impl InvitationState {
    /// The state as of `now` of an invitation stored as `self`, expiring at
    /// `expires_at`.
    pub fn at(self, expires_at: i64, now: i64) -> InvitationState {
        match self {
            InvitationState::Pending if now >= expires_at => InvitationState::Expired,
            other => other,
        }
    }
}

/// What an enterprise asks of its members. Every field has a default, so a
/// policy stored by an earlier build reads as that build meant it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// Whether members may leave by themselves (退出企业); when not, only an
    /// admin ends a membership.
    pub members_may_leave: bool,
    /// Whether members must be real-name verified to join, and to act in
    /// the enterprise while members (the owner excepted: an owner kept out
    /// could not lift the policy).
    pub realname_required: bool,
    /// Whether a rebind (a phone or a WeChat replaced) of an account this
    /// enterprise manages waits for an admin's approval before it commits.
    pub rebind_approval: bool,
    /// Whether the owner and admins are told (in their notices) when a
    /// member's real-name person or status changes.
    pub notify_realname_changes: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            members_may_leave: true,
            realname_required: false,
            rebind_approval: false,
            notify_realname_changes: true,
        }
    }
}

impl Policy {
    /// Whether an account of real-name status `real_name` may join.
    pub fn admits(&self, real_name: RealNameStatus) -> Result<(), ChangeRefused> {
        match self.realname_required && real_name != RealNameStatus::Verified {
            true => Err(ChangeRefused::RealNameRequired),
            false => Ok(()),
        }
    }
}

/// The fields of a policy to change; the others stay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members_may_leave: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realname_required: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebind_approval: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_realname_changes: Option<bool>,
}

impl PolicyPatch {
    pub fn is_empty(&self) -> bool {
        *self == PolicyPatch::default()
    }

    pub fn apply(self, policy: Policy) -> Policy {
        Policy {
            members_may_leave: self.members_may_leave.unwrap_or(policy.members_may_leave),
            realname_required: self.realname_required.unwrap_or(policy.realname_required),
            rebind_approval: self.rebind_approval.unwrap_or(policy.rebind_approval),
            notify_realname_changes: self.notify_realname_changes.unwrap_or(policy.notify_realname_changes),
        }
    }
}

/// A change to one membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    /// The member ends their own membership.
    Leave,
    /// An admin ends another's membership.
    Remove,
    /// The owner makes a member an admin, or an admin a member.
    SetRole(Role),
    /// The owner hands the ownership to another member and becomes an admin.
    TransferOwnership,
    /// An admin approves again a member whose membership a change of their
    /// real-name person suspended.
    Approve,
    /// An admin freezes a member within the enterprise (with a reason), or
    /// lifts the freeze: as removal, admins act on members and the owner on
    /// admins too; no one on the owner.
    Freeze,
    Unfreeze,
}

/// Why a change to a membership is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeRefused {
    /// Only the owner and admins do this.
    AdminRequired,
    /// Only the owner does this.
    OwnerRequired,
    /// The owner's membership ends only after handing the ownership on.
    OwnerMustTransfer,
    /// The enterprise's policy forbids leaving by oneself.
    LeaveForbidden,
    /// Ownership is handed on by a transfer, never given as a role.
    OwnerByTransferOnly,
    /// An admin froze the actor's membership: they may leave, nothing more.
    ActorFrozen,
    /// A change of the actor's real-name person suspended their membership
    /// until an admin approves them again: they may leave, nothing more.
    ActorSuspended,
    /// The enterprise's policy asks members to be real-name verified, to
    /// join or to act there.
    RealNameRequired,
    /// An admin does not approve their own rebind: another admin, or the
    /// owner, does.
    OwnApproval,
}

/// A member's place in an enterprise: the role, whether an admin froze it
/// or a change of the member's real-name person suspended it, and the
/// member's real-name status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seat {
    pub role: Role,
    pub frozen: bool,
    pub suspended: bool,
    pub real_name: RealNameStatus,
}

impl Seat {
    /// The role this seat acts with in the enterprise under `policy`, or why
    /// it may not act there (leaving is always open to it, under the policy).
    pub fn acts(self, policy: &Policy) -> Result<Role, ChangeRefused> {
        if self.frozen {
            Err(ChangeRefused::ActorFrozen)
        } else if self.suspended {
            Err(ChangeRefused::ActorSuspended)
        } else if self.role != Role::Owner {
            policy.admits(self.real_name).map(|()| self.role)
        } else {
            Ok(self.role)
        }
    }

    /// Whether this seat administers the enterprise now (renames it, sets
    /// its policy, provisions members, revokes invitations).
    pub fn administers(self, policy: &Policy) -> Result<(), ChangeRefused> {
        match self.acts(policy)?.administers() {
            true => Ok(()),
            false => Err(ChangeRefused::AdminRequired),
        }
    }
}

impl MemberChange {
    /// Whether a member of role `actor` may make this change to the
    /// membership of role `target` (their own, when leaving) under `policy`.
    pub fn allowed(self, actor: Role, target: Role, policy: &Policy) -> Result<(), ChangeRefused> {
        use ChangeRefused::*;
        match self {
            MemberChange::Leave if target == Role::Owner => Err(OwnerMustTransfer),
            MemberChange::Leave if !policy.members_may_leave => Err(LeaveForbidden),
            MemberChange::Leave => Ok(()),
            _ if actor == Role::Member => Err(AdminRequired),
            MemberChange::Approve => Ok(()),
            MemberChange::Remove | MemberChange::Freeze | MemberChange::Unfreeze => match target {
                Role::Owner => Err(OwnerMustTransfer),
                // An admin is removed by the owner alone.
                Role::Admin if actor != Role::Owner => Err(OwnerRequired),
                Role::Admin | Role::Member => Ok(()),
            },
            MemberChange::SetRole(Role::Owner) => Err(OwnerByTransferOnly),
            MemberChange::SetRole(_) | MemberChange::TransferOwnership if actor != Role::Owner => Err(OwnerRequired),
            // The owner's own role changes only by a transfer.
            MemberChange::SetRole(_) if target == Role::Owner => Err(OwnerByTransferOnly),
            MemberChange::SetRole(_) | MemberChange::TransferOwnership => Ok(()),
        }
    }

    /// The roles the actor and the target have after the change, when both
    /// stay members.
    pub fn roles_after(self, actor: Role, target: Role) -> (Role, Role) {
        match self {
            MemberChange::SetRole(role) => (actor, role),
            MemberChange::TransferOwnership => (Role::Admin, Role::Owner),
            MemberChange::Leave
            | MemberChange::Remove
            | MemberChange::Approve
            | MemberChange::Freeze
            | MemberChange::Unfreeze => (actor, target),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed_and_bounded() {
        assert_eq!(EnterpriseName::parse("  示例科技  ").unwrap().as_str(), "示例科技");
        assert_eq!(
            EnterpriseName::parse(&"企".repeat(64))
                .unwrap()
                .as_str()
                .chars()
                .count(),
            64
        );
        assert_eq!(
            EnterpriseName::parse(&"企".repeat(65)),
            Err(EnterpriseNameError::Length)
        );
        assert_eq!(EnterpriseName::parse("   "), Err(EnterpriseNameError::Length));
        assert_eq!(EnterpriseName::parse("a\u{0}b"), Err(EnterpriseNameError::Control));
        assert_eq!(EnterpriseName::parse("a\nb"), Err(EnterpriseNameError::Control));
        assert_eq!(DisplayName::parse(" 张三 ").unwrap().as_str(), "张三");
        assert_eq!(DisplayName::parse(""), Err(EnterpriseNameError::Length));
    }

    #[test]
    fn a_frozen_or_suspended_seat_does_not_act() {
        let seat = |frozen, suspended| Seat {
            role: Role::Owner,
            frozen,
            suspended,
            real_name: RealNameStatus::Verified,
        };
        assert_eq!(seat(false, false).acts(&OPEN), Ok(Role::Owner));
        assert_eq!(seat(true, false).acts(&OPEN), Err(ChangeRefused::ActorFrozen));
        assert_eq!(seat(false, true).acts(&OPEN), Err(ChangeRefused::ActorSuspended));
        assert_eq!(seat(true, true).acts(&OPEN), Err(ChangeRefused::ActorFrozen));
        assert_eq!(seat(false, true).administers(&OPEN), Err(ChangeRefused::ActorSuspended));
        let member = Seat {
            role: Role::Member,
            ..seat(false, false)
        };
        assert_eq!(member.administers(&OPEN), Err(ChangeRefused::AdminRequired));
        assert_eq!(seat(false, false).administers(&OPEN), Ok(()));
    }

    #[test]
    fn a_realname_policy_keeps_out_all_but_the_verified_and_the_owner() {
        let strict = Policy {
            realname_required: true,
            ..OPEN
        };
        let seat = |role, real_name| Seat {
            role,
            frozen: false,
            suspended: false,
            real_name,
        };
        for status in [RealNameStatus::Unverified, RealNameStatus::Inconsistent] {
            assert_eq!(strict.admits(status), Err(ChangeRefused::RealNameRequired));
            assert_eq!(OPEN.admits(status), Ok(()));
            for role in [Role::Admin, Role::Member] {
                assert_eq!(seat(role, status).acts(&strict), Err(ChangeRefused::RealNameRequired));
                assert_eq!(seat(role, status).acts(&OPEN), Ok(role));
            }
            assert_eq!(seat(Role::Owner, status).acts(&strict), Ok(Role::Owner));
        }
        assert_eq!(strict.admits(RealNameStatus::Verified), Ok(()));
        assert_eq!(seat(Role::Admin, RealNameStatus::Verified).administers(&strict), Ok(()));
        // A stored policy from before the field reads as without it.
        let old: Policy = serde_json::from_str(r#"{"members_may_leave":false}"#).unwrap();
        assert_eq!(old, CLOSED);
    }

    #[test]
    fn only_owners_and_admins_administer() {
        assert!(Role::Owner.administers() && Role::Admin.administers());
        assert!(!Role::Member.administers());
        for r in [Role::Owner, Role::Admin, Role::Member] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }

    const OPEN: Policy = Policy {
        members_may_leave: true,
        realname_required: false,
        rebind_approval: false,
        notify_realname_changes: true,
    };
    const CLOSED: Policy = Policy {
        members_may_leave: false,
        realname_required: false,
        rebind_approval: false,
        notify_realname_changes: true,
    };

    #[test]
    fn the_owner_cannot_leave_and_a_policy_can_keep_the_others() {
        use ChangeRefused::*;
        let leave = |role, policy| MemberChange::Leave.allowed(role, role, &policy);
        assert_eq!(leave(Role::Owner, OPEN), Err(OwnerMustTransfer));
        assert_eq!(leave(Role::Owner, CLOSED), Err(OwnerMustTransfer));
        assert_eq!(leave(Role::Admin, OPEN), Ok(()));
        assert_eq!(leave(Role::Member, OPEN), Ok(()));
        assert_eq!(leave(Role::Admin, CLOSED), Err(LeaveForbidden));
        assert_eq!(leave(Role::Member, CLOSED), Err(LeaveForbidden));
    }

    #[test]
    fn admins_remove_members_and_only_the_owner_removes_admins() {
        use ChangeRefused::*;
        let remove = |actor, target| MemberChange::Remove.allowed(actor, target, &CLOSED);
        assert_eq!(remove(Role::Owner, Role::Admin), Ok(()));
        assert_eq!(remove(Role::Owner, Role::Member), Ok(()));
        assert_eq!(remove(Role::Admin, Role::Member), Ok(()));
        assert_eq!(remove(Role::Admin, Role::Admin), Err(OwnerRequired));
        assert_eq!(remove(Role::Admin, Role::Owner), Err(OwnerMustTransfer));
        assert_eq!(remove(Role::Owner, Role::Owner), Err(OwnerMustTransfer));
        assert_eq!(remove(Role::Member, Role::Member), Err(AdminRequired));
        let freeze = |actor, target| MemberChange::Freeze.allowed(actor, target, &OPEN);
        assert_eq!(freeze(Role::Admin, Role::Member), Ok(()));
        assert_eq!(freeze(Role::Admin, Role::Admin), Err(OwnerRequired));
        assert_eq!(freeze(Role::Owner, Role::Owner), Err(OwnerMustTransfer));
        assert_eq!(freeze(Role::Member, Role::Member), Err(AdminRequired));
        let approve = |actor, target| MemberChange::Approve.allowed(actor, target, &OPEN);
        assert_eq!(approve(Role::Admin, Role::Admin), Ok(()));
        assert_eq!(approve(Role::Owner, Role::Member), Ok(()));
        assert_eq!(approve(Role::Member, Role::Member), Err(AdminRequired));
    }

    #[test]
    fn only_the_owner_gives_roles_and_hands_the_ownership_on() {
        use ChangeRefused::*;
        let set = |actor, target, role| MemberChange::SetRole(role).allowed(actor, target, &OPEN);
        assert_eq!(set(Role::Owner, Role::Member, Role::Admin), Ok(()));
        assert_eq!(set(Role::Owner, Role::Admin, Role::Member), Ok(()));
        assert_eq!(set(Role::Owner, Role::Member, Role::Owner), Err(OwnerByTransferOnly));
        assert_eq!(set(Role::Owner, Role::Owner, Role::Member), Err(OwnerByTransferOnly));
        assert_eq!(set(Role::Admin, Role::Member, Role::Admin), Err(OwnerRequired));
        assert_eq!(set(Role::Member, Role::Member, Role::Admin), Err(AdminRequired));
        let transfer = |actor, target| MemberChange::TransferOwnership.allowed(actor, target, &OPEN);
        assert_eq!(transfer(Role::Owner, Role::Member), Ok(()));
        assert_eq!(transfer(Role::Admin, Role::Member), Err(OwnerRequired));
        assert_eq!(transfer(Role::Member, Role::Admin), Err(AdminRequired));
        assert_eq!(
            MemberChange::TransferOwnership.roles_after(Role::Owner, Role::Member),
            (Role::Admin, Role::Owner)
        );
        assert_eq!(
            MemberChange::SetRole(Role::Admin).roles_after(Role::Owner, Role::Member),
            (Role::Owner, Role::Admin)
        );
    }

    #[test]
    fn admins_invite_members_and_only_the_owner_invites_admins() {
        use ChangeRefused::*;
        assert_eq!(Role::Owner.may_invite(Role::Admin), Ok(()));
        assert_eq!(Role::Owner.may_invite(Role::Member), Ok(()));
        assert_eq!(Role::Admin.may_invite(Role::Member), Ok(()));
        assert_eq!(Role::Admin.may_invite(Role::Admin), Err(OwnerRequired));
        assert_eq!(Role::Member.may_invite(Role::Member), Err(AdminRequired));
        assert_eq!(Role::Owner.may_invite(Role::Owner), Err(OwnerByTransferOnly));
    }

    #[test]
    fn a_pending_invitation_expires_at_its_time() {
        use InvitationState::*;
        assert_eq!(Pending.at(100, 99), Pending);
        assert_eq!(Pending.at(100, 100), Expired);
        assert_eq!(Accepted.at(100, 200), Accepted);
        assert_eq!(Revoked.at(100, 200), Revoked);
    }

    #[test]
    fn a_policy_reads_its_defaults_and_a_patch_changes_only_what_it_names() {
        let stored: Policy = serde_json::from_str("{}").unwrap();
        assert_eq!(stored, Policy::default());
        assert!(stored.members_may_leave);
        let patch: PolicyPatch = serde_json::from_str(r#"{"members_may_leave": false}"#).unwrap();
        assert_eq!(patch.apply(OPEN), CLOSED);
        assert_eq!(PolicyPatch::default().apply(CLOSED), CLOSED);
        assert!(serde_json::from_str::<PolicyPatch>(r#"{"leave": false}"#).is_err());
    }
}
