//! Enterprises: their names, the roles of their members, and what a role
//! may do.

use serde::{Deserialize, Serialize};

use crate::account::word_enum;

/// An enterprise's name, as shown to its members: trimmed, 1 to 64
/// characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnterpriseName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnterpriseNameError {
    #[error("an enterprise's name has 1 to 64 characters")]
    Length,
    #[error("an enterprise's name holds no control characters")]
    Control,
}

impl EnterpriseName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, EnterpriseNameError> {
        let name = raw.trim();
        let chars = name.chars().count();
        if chars == 0 || chars > Self::MAX_CHARS {
            return Err(EnterpriseNameError::Length);
        }
        if name.chars().any(char::is_control) {
            return Err(EnterpriseNameError::Control);
        }
        Ok(EnterpriseName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
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
    /// Whether the role administers the enterprise (renames it, invites,
    /// removes and freezes members).
    pub fn administers(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    /// Whether a member of this role may leave by themselves.
    pub fn may_leave(self) -> Result<(), LeaveRefused> {
        match self {
            Role::Owner => Err(LeaveRefused::OwnerMustTransfer),
            Role::Admin | Role::Member => Ok(()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveRefused {
    /// The owner hands the ownership on first.
    OwnerMustTransfer,
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
    }

    #[test]
    fn only_owners_and_admins_administer_and_the_owner_cannot_leave() {
        assert!(Role::Owner.administers() && Role::Admin.administers());
        assert!(!Role::Member.administers());
        assert_eq!(Role::Owner.may_leave(), Err(LeaveRefused::OwnerMustTransfer));
        assert_eq!(Role::Admin.may_leave(), Ok(()));
        assert_eq!(Role::Member.may_leave(), Ok(()));
        for r in [Role::Owner, Role::Admin, Role::Member] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
