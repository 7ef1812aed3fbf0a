//! Resident identity card numbers (居民身份证号码), GB 11643-1999.
//!
//! 18 characters: a 6-digit region code, an 8-digit birth date, a 3-digit
//! sequence and the MOD 11-2 check character (`0`–`9` or `X`).

use std::fmt;

use thiserror::Error;
use time::{Date, Month};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum IdNumberError {
    #[error("a resident ID number has 18 characters: 17 digits and a check digit or X")]
    Format,
    #[error("the ID number's birth date is not a real date")]
    BirthDate,
    #[error("the ID number's birth date is in the future")]
    FutureBirthDate,
    #[error("the ID number's check character does not match (GB 11643-1999 MOD 11-2)")]
    Checksum,
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS: &[u8; 11] = b"10X98765432";

/// The GB 11643-1999 MOD 11-2 check character of 17 digits.
pub fn check_char(first17: &[u8; 17]) -> char {
    let sum: u32 = first17.iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    CHECK_CHARS[(sum % 11) as usize] as char
}

/// A validated resident ID number, uppercase `X`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdNumber(String);

impl IdNumber {
    /// The `n`th of a sequence of valid, made-up numbers (region 110101,
    /// born 1950-01-01 to 1999-12-28, the sequence number and the check),
    /// distinct for every `n` below 16 800 000: identities for the
    /// development carrier in benchmarks and tests.
    pub fn sample(n: u64) -> IdNumber {
        let seq = n % 1000;
        let day = (n / 1000) % 28 + 1;
        let month = (n / 28_000) % 12 + 1;
        let year = 1950 + (n / 336_000) % 50;
        let body = format!("110101{year:04}{month:02}{day:02}{seq:03}");
        let first17: &[u8; 17] = body.as_bytes().try_into().expect("17 digits");
        IdNumber(format!("{body}{}", check_char(first17)))
    }
}

impl IdNumber {
    /// Parses a new ID number as of `today` (the date in China, UTC+8, where
    /// birth dates on resident ID cards are written): nobody holds a number
    /// whose birth date is still to come.
    pub fn parse_at(input: &str, today: Date) -> Result<Self, IdNumberError> {
        let number = Self::parse(input)?;
        if number.birth_date() > today {
            return Err(IdNumberError::FutureBirthDate);
        }
        Ok(number)
    }

    /// Parses an ID number's form, date and check character, whatever the
    /// date today (a number stored earlier stays valid).
    pub fn parse(input: &str) -> Result<Self, IdNumberError> {
        let s = input.trim().to_ascii_uppercase();
        let b = s.as_bytes();
        if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) || !(b[17].is_ascii_digit() || b[17] == b'X') {
            return Err(IdNumberError::Format);
        }
        let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().map_err(|_| IdNumberError::Format);
        let (year, month, day) = (num(6..10)?, num(10..12)?, num(12..14)?);
        let month = u8::try_from(month)
            .ok()
            .and_then(|m| Month::try_from(m).ok())
            .ok_or(IdNumberError::BirthDate)?;
        let year = i32::try_from(year).map_err(|_| IdNumberError::BirthDate)?;
        // Cards were first issued to people born after 1900.
        if year < 1900 {
            return Err(IdNumberError::BirthDate);
        }
        Date::from_calendar_date(year, month, day as u8).map_err(|_| IdNumberError::BirthDate)?;
        let first17: &[u8; 17] = b[..17].try_into().map_err(|_| IdNumberError::Format)?;
        if check_char(first17) as u8 != b[17] {
            return Err(IdNumberError::Checksum);
        }
        Ok(IdNumber(s))
    }

    fn birth_date(&self) -> Date {
        let num = |r: std::ops::Range<usize>| self.0[r].parse::<u32>().unwrap_or_default();
        Month::try_from(num(10..12) as u8)
            .ok()
            .and_then(|m| Date::from_calendar_date(num(6..10) as i32, m, num(12..14) as u8).ok())
            .expect("parse checked the birth date")
    }

    /// The full number, for the verifier and keyed hashes. Never for logs or responses.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Only the first and last characters shown: `1****************X`.
    pub fn masked(&self) -> String {
        format!("{}{}{}", &self.0[..1], "*".repeat(16), &self.0[17..])
    }
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn complete(first17: &str) -> String {
        let b: &[u8; 17] = first17.as_bytes().try_into().unwrap();
        format!("{first17}{}", check_char(b))
    }

    #[test]
    fn samples_are_valid_and_distinct() {
        let first = IdNumber::sample(0);
        assert_eq!(first.as_str(), "110101195001010009");
        for n in [1, 999, 1000, 27_999, 28_000, 335_999, 336_000, 16_799_999] {
            let s = IdNumber::sample(n);
            assert_eq!(IdNumber::parse(s.as_str()).as_ref(), Ok(&s), "{n}");
        }
        assert_ne!(IdNumber::sample(1), IdNumber::sample(1001));
        assert_ne!(IdNumber::sample(0), IdNumber::sample(16_800_000 - 1));
    }

    #[test]
    fn known_numbers() {
        // The example number of the standard's own documentation.
        assert_eq!(
            IdNumber::parse("11010519491231002X").unwrap().as_str(),
            "11010519491231002X"
        );
        assert_eq!(
            IdNumber::parse("11010519491231002x").unwrap().as_str(),
            "11010519491231002X"
        );
        assert_eq!(IdNumber::parse("110105194912310021"), Err(IdNumberError::Checksum));
        assert_eq!(IdNumber::parse("11010519491231002"), Err(IdNumberError::Format));
        assert_eq!(IdNumber::parse("1101051949123100XX"), Err(IdNumberError::Format));
        assert_eq!(
            IdNumber::parse(&complete("11010519490231002")),
            Err(IdNumberError::BirthDate)
        );
        assert_eq!(
            IdNumber::parse(&complete("11010518991231002")),
            Err(IdNumberError::BirthDate)
        );
        assert_eq!(
            IdNumber::parse(&complete("11010519491331002")),
            Err(IdNumberError::BirthDate)
        );
        assert!(IdNumber::parse(&complete("11010520000229002")).is_ok(), "leap day");
        assert_eq!(
            IdNumber::parse(&complete("11010519000229002")),
            Err(IdNumberError::BirthDate)
        );
    }

    #[test]
    fn masking_shows_first_and_last() {
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.masked(), "1****************X");
        assert_eq!(format!("{id:?}"), "IdNumber(1****************X)");
    }

    #[test]
    fn a_birth_date_after_today_is_refused() {
        let today = time::macros::date!(2026 - 03 - 15);
        let born = |date: &str| complete(&format!("110105{date}002"));
        assert!(IdNumber::parse_at(&born("20260315"), today).is_ok(), "born today");
        assert_eq!(
            IdNumber::parse_at(&born("20260316"), today),
            Err(IdNumberError::FutureBirthDate)
        );
        assert!(
            IdNumber::parse(&born("29991231")).is_ok(),
            "parse reads no clock: the domain is pure, and the caller brings today"
        );
    }

    proptest! {
        #[test]
        fn every_completed_number_with_a_real_date_parses(
            region in "[1-9][0-9]{5}", y in 1900u32..2025, m in 1u32..=12, d in 1u32..=28, seq in "[0-9]{3}"
        ) {
            let n = complete(&format!("{region}{y:04}{m:02}{d:02}{seq}"));
            let parsed = IdNumber::parse_at(&n, time::macros::date!(2025 - 01 - 01)).unwrap();
            prop_assert_eq!(parsed.as_str(), n.as_str());
        }

        #[test]
        fn a_birth_date_parses_exactly_when_it_is_not_after_today(
            born in 0i32..73_000, today in 0i32..73_000, seq in "[0-9]{3}"
        ) {
            let day = |n: i32| Date::from_calendar_date(1900, Month::January, 1).unwrap() + time::Duration::days(n.into());
            let (born, today) = (day(born), day(today));
            let n = complete(&format!(
                "110105{:04}{:02}{:02}{seq}",
                born.year(),
                u8::from(born.month()),
                born.day()
            ));
            let parsed = IdNumber::parse_at(&n, today);
            if born <= today {
                prop_assert!(parsed.is_ok());
            } else {
                prop_assert_eq!(parsed, Err(IdNumberError::FutureBirthDate));
            }
        }

        #[test]
        fn any_single_digit_change_breaks_the_checksum(
            region in "[1-9][0-9]{5}", y in 1950u32..2000, seq in "[0-9]{3}", pos in 14usize..17, delta in 1u8..10
        ) {
            // Changing one sequence digit keeps the date valid, so only the checksum can catch it.
            let n = complete(&format!("{region}{y:04}0101{seq}"));
            let mut b = n.into_bytes();
            b[pos] = b'0' + (b[pos] - b'0' + delta) % 10;
            prop_assert_eq!(IdNumber::parse(std::str::from_utf8(&b).unwrap()), Err(IdNumberError::Checksum));
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,20}") {
            let _ = IdNumber::parse(&s);
        }
    }
}
