//! One-time SMS codes: six digits, and the purpose each is issued for.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::account::word_enum;

/// What a code proves possession for. A code issued for one purpose never
/// works for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodePurpose {
    Login,
    /// Re-proving possession of the bound phone before a sensitive change.
    StepUp,
    /// Proving possession of the phone an account changes to.
    PhoneChange,
}

word_enum!(CodePurpose { Login => "login", StepUp => "step_up", PhoneChange => "phone_change" });

#[derive(Debug, Error, PartialEq, Eq)]
#[error("a code is exactly 6 digits")]
pub struct CodeFormatError;

/// A six-digit code, as issued or as typed by the user.
#[derive(Clone, PartialEq, Eq)]
pub struct SmsCode(String);

impl SmsCode {
    pub const LEN: usize = 6;

    /// Makes a code from a uniformly random `u32` the caller drew from a CSPRNG.
    /// Rejection sampling keeps the six digits uniform.
    pub fn from_random(draw: impl FnMut() -> u32) -> Self {
        let mut draw = draw;
        // The largest multiple of 10^6 below 2^32: draws at or above it are biased.
        const LIMIT: u32 = u32::MAX - (u32::MAX % 1_000_000);
        loop {
            let n = draw();
            if n < LIMIT {
                return SmsCode(format!("{:06}", n % 1_000_000));
            }
        }
    }

    pub fn parse(input: &str) -> Result<Self, CodeFormatError> {
        let s = input.trim();
        if s.len() == Self::LEN && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(SmsCode(s.to_owned()))
        } else {
            Err(CodeFormatError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SmsCode {
    // A code is a secret: debug output never shows it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmsCode(******)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn generated_codes_are_six_digits_and_parse(n in any::<u32>()) {
            let code = SmsCode::from_random(|| n % 4_000_000_000);
            prop_assert_eq!(code.as_str().len(), 6);
            prop_assert!(SmsCode::parse(code.as_str()).is_ok());
        }

        #[test]
        fn anything_but_six_digits_is_refused(s in "\\PC{0,10}") {
            let ok = s.trim().len() == 6 && s.trim().bytes().all(|b| b.is_ascii_digit());
            prop_assert_eq!(SmsCode::parse(&s).is_ok(), ok);
        }
    }

    #[test]
    fn biased_draws_are_rejected() {
        let mut draws = vec![u32::MAX, 1_234_567].into_iter();
        assert_eq!(SmsCode::from_random(|| draws.next().unwrap()).as_str(), "234567");
    }

    #[test]
    fn debug_hides_the_code() {
        assert!(!format!("{:?}", SmsCode::parse("123456").unwrap()).contains("123"));
    }
}
