//! Phone numbers in E.164 form.
//!
//! Mainland China numbers are checked against the rule the product states
//! (`+86 1[3-9]` and nine more digits) because carriers hand out new prefixes
//! faster than metadata is updated; every other country code is checked
//! against libphonenumber's metadata.

use std::fmt;

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PhoneError {
    #[error("a phone number is written in E.164 form, starting with + and the country code")]
    NotE164,
    #[error("a mainland China mobile number is +86 followed by 11 digits starting 13 to 19")]
    BadMainland,
    #[error("not a valid phone number for its country code")]
    Invalid,
}

/// A validated phone number, kept in E.164 form (`+8613912345678`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Phone {
    e164: String,
    /// Length of the country code in digits, so the national part can be sliced.
    cc_len: usize,
}

impl Phone {
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        // People paste numbers with spaces and dashes; nothing else is forgiven.
        let compact: String = input.trim().chars().filter(|c| *c != ' ' && *c != '-').collect();
        let digits = compact.strip_prefix('+').ok_or(PhoneError::NotE164)?;
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::NotE164);
        }
        if let Some(national) = digits.strip_prefix("86") {
            let b = national.as_bytes();
            return if b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) {
                Ok(Phone {
                    e164: compact,
                    cc_len: 2,
                })
            } else {
                Err(PhoneError::BadMainland)
            };
        }
        let parsed = phonenumber::parse(None, &compact).map_err(|_| PhoneError::Invalid)?;
        if !phonenumber::is_valid(&parsed) {
            return Err(PhoneError::Invalid);
        }
        let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
        let cc_len = parsed.code().value().to_string().len();
        Ok(Phone { e164, cc_len })
    }

    /// The E.164 form, for providers and keyed hashes. Never for logs or responses.
    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// The national significant number, e.g. `13912345678`.
    pub fn national(&self) -> &str {
        &self.e164[1 + self.cc_len..]
    }

    /// The form shown to people: first 3 and last 4 digits of the national
    /// number, the rest starred (`139****5678`).
    pub fn masked(&self) -> String {
        let n = self.national();
        if n.len() <= 7 {
            // Too short to show 7 digits and still hide anything: show the last 2.
            return format!(
                "{}{}",
                "*".repeat(n.len().saturating_sub(2)),
                &n[n.len().saturating_sub(2)..]
            );
        }
        format!("{}{}{}", &n[..3], "*".repeat(n.len() - 7), &n[n.len() - 4..])
    }
}

impl fmt::Debug for Phone {
    // Debug output can reach logs: it shows only the masked form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mainland_numbers() {
        let p = Phone::parse("+86 139-1234-5678").unwrap();
        assert_eq!(p.e164(), "+8613912345678");
        assert_eq!(p.national(), "13912345678");
        assert_eq!(p.masked(), "139****5678");
        assert_eq!(Phone::parse("+8612912345678"), Err(PhoneError::BadMainland));
        assert_eq!(Phone::parse("+861391234567"), Err(PhoneError::BadMainland));
        assert_eq!(Phone::parse("+86139123456789"), Err(PhoneError::BadMainland));
        assert_eq!(Phone::parse("13912345678"), Err(PhoneError::NotE164));
        assert_eq!(Phone::parse("12"), Err(PhoneError::NotE164));
        assert_eq!(Phone::parse("+86l3912345678"), Err(PhoneError::NotE164));
        assert_eq!(Phone::parse(""), Err(PhoneError::NotE164));
    }

    #[test]
    fn other_country_codes_use_metadata() {
        let uk = Phone::parse("+447911123456").unwrap();
        assert_eq!(uk.national(), "7911123456");
        assert_eq!(uk.masked(), "791***3456");
        let us = Phone::parse("+1 650 253 0000").unwrap();
        assert_eq!(us.e164(), "+16502530000");
        let hk = Phone::parse("+85251234567").unwrap();
        assert_eq!(hk.national(), "51234567");
        assert_eq!(Phone::parse("+4479"), Err(PhoneError::Invalid));
        assert_eq!(Phone::parse("+999123456789"), Err(PhoneError::Invalid));
    }

    #[test]
    fn debug_is_masked() {
        let p = Phone::parse("+8613912345678").unwrap();
        assert_eq!(format!("{p:?}"), "Phone(139****5678)");
    }

    proptest! {
        #[test]
        fn every_mainland_mobile_is_accepted_and_masked(second in 3u8..=9, rest in "[0-9]{9}") {
            let input = format!("+861{second}{rest}");
            let p = Phone::parse(&input).unwrap();
            prop_assert_eq!(p.e164(), input.as_str());
            let m = p.masked();
            prop_assert_eq!(m.len(), 11);
            prop_assert_eq!(&m[3..7], "****");
            prop_assert!(m.starts_with(&input[3..6]));
            prop_assert!(m.ends_with(&input[input.len() - 4..]));
        }

        #[test]
        fn mainland_prefixes_other_than_13_to_19_are_refused(second in prop_oneof![Just(0u8), Just(1), Just(2)], rest in "[0-9]{9}") {
            prop_assert_eq!(Phone::parse(&format!("+861{second}{rest}")), Err(PhoneError::BadMainland));
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,20}") {
            let _ = Phone::parse(&s);
        }
    }
}
