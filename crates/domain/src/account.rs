//! The account's nature and state: closed sets, stored and sent as lowercase words.

use serde::{Deserialize, Serialize};

/// Whether an enterprise manages the account or its holder alone does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Nature {
    Enterprise,
    Personal,
}

/// Where the account stands; only `active` accounts may change their bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountState {
    Active,
    Frozen,
    Banned,
    Deleted,
}

macro_rules! word_enum {
    ($ty:ident { $($variant:ident => $word:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $word),+ }
            }

            /// Parses the stored word; `None` for anything else.
            pub fn parse(word: &str) -> Option<Self> {
                match word { $($word => Some($ty::$variant),)+ _ => None }
            }
        }
    };
}
pub(crate) use word_enum;

word_enum!(Nature { Enterprise => "enterprise", Personal => "personal" });
word_enum!(AccountState { Active => "active", Frozen => "frozen", Banned => "banned", Deleted => "deleted" });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for n in [Nature::Enterprise, Nature::Personal] {
            assert_eq!(Nature::parse(n.as_str()), Some(n));
        }
        for s in [
            AccountState::Active,
            AccountState::Frozen,
            AccountState::Banned,
            AccountState::Deleted,
        ] {
            assert_eq!(AccountState::parse(s.as_str()), Some(s));
        }
        assert_eq!(Nature::parse("Personal"), None);
    }
}
