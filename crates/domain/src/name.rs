//! Names of people as their ID documents write them: Chinese names (with the
//! middle dot `·` of transliterated and minority names) and Latin names.

use std::fmt;

use thiserror::Error;
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum NameError {
    #[error("a name has 1 to 50 characters")]
    Length,
    #[error(
        "a name holds Chinese characters (with · between parts) or Latin letters, spaces, hyphens and apostrophes"
    )]
    Characters,
}

const MIDDLE_DOT: char = '·';
/// Look-alikes of the middle dot that people type; normalised to U+00B7.
/// Replaced before NFKC, which would turn the fullwidth full stop into `.`
/// and the halfwidth katakana middle dot into `・`.
const DOT_LOOKALIKES: [char; 4] = ['•', '・', '．', '･'];

fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2A6DF | 0x2A700..=0x2EBEF | 0x30000..=0x3134F)
}

/// A validated name, normalised: dot look-alikes replaced by `·`, NFKC
/// (fullwidth Latin letters and spaces, CJK compatibility ideographs and
/// ligatures become the characters they stand for), trimmed, inner spaces
/// collapsed. Letter case is kept as typed; [`PersonName::comparable`] is
/// the form in which names are compared.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let nfkc: String = input
            .chars()
            .map(|c| if DOT_LOOKALIKES.contains(&c) { MIDDLE_DOT } else { c })
            .nfkc()
            .collect();
        let normal = nfkc.split_whitespace().collect::<Vec<_>>().join(" ");
        let len = normal.chars().count();
        if len == 0 || len > 50 {
            return Err(NameError::Length);
        }
        let chinese = normal.chars().any(is_han);
        let valid = if chinese {
            // Han characters, parts joined by single middle dots.
            normal
                .split(MIDDLE_DOT)
                .all(|part| !part.is_empty() && part.chars().all(is_han))
        } else {
            normal.chars().next().is_some_and(|c| c.is_alphabetic())
                && normal
                    .chars()
                    .all(|c| c.is_alphabetic() && !is_han(c) || matches!(c, ' ' | '-' | '\'' | '.' | MIDDLE_DOT))
        };
        if valid {
            Ok(PersonName(normal))
        } else {
            Err(NameError::Characters)
        }
    }

    /// The full name, for the verifier and keyed hashes. Never for logs or responses.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form in which two spellings of one person's name are equal, for
    /// keyed hashes and comparison; never shown. Latin letters are
    /// case-folded (`Li Lei`, `LI LEI`); Han characters have no case. Upper
    /// then lower case, so that full case mappings fold alike (`ß`, `SS`).
    pub fn comparable(&self) -> String {
        self.0.to_uppercase().to_lowercase()
    }

    /// Only the last character shown: `*明`, `**明`.
    pub fn masked(&self) -> String {
        let n = self.0.chars().count();
        let last = self.0.chars().last().unwrap_or('*');
        format!("{}{last}", "*".repeat(n.saturating_sub(1)))
    }
}

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonName({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn chinese_names() {
        assert_eq!(PersonName::parse(" 欧阳明 ").unwrap().as_str(), "欧阳明");
        assert_eq!(PersonName::parse("欧阳明").unwrap().masked(), "**明");
        assert_eq!(PersonName::parse("王明").unwrap().masked(), "*明");
        assert_eq!(
            PersonName::parse("阿依古丽·买买提").unwrap().as_str(),
            "阿依古丽·买买提"
        );
        assert_eq!(
            PersonName::parse("阿依古丽•买买提").unwrap().as_str(),
            "阿依古丽·买买提"
        );
        assert_eq!(PersonName::parse("·明"), Err(NameError::Characters));
        assert_eq!(PersonName::parse("明·"), Err(NameError::Characters));
        assert_eq!(PersonName::parse("王··明"), Err(NameError::Characters));
        assert_eq!(PersonName::parse("王明2"), Err(NameError::Characters));
        assert_eq!(PersonName::parse("王 明"), Err(NameError::Characters));
    }

    #[test]
    fn latin_names() {
        assert_eq!(
            PersonName::parse("  Anna   O'Neil-Smith ").unwrap().as_str(),
            "Anna O'Neil-Smith"
        );
        assert_eq!(PersonName::parse("José Álvarez").unwrap().masked(), "***********z");
        assert_eq!(PersonName::parse("-Anna"), Err(NameError::Characters));
        assert_eq!(PersonName::parse("Robert'); DROP TABLE"), Err(NameError::Characters));
    }

    #[test]
    fn compatibility_forms_are_normalised() {
        assert_eq!(PersonName::parse("Ｌｉ　Ｌｅｉ").unwrap().as_str(), "Li Lei");
        // U+F900, a CJK compatibility ideograph, is U+8C48 豈.
        assert_eq!(PersonName::parse("王\u{F900}").unwrap().as_str(), "王\u{8C48}");
        assert_eq!(
            PersonName::parse("阿依古丽･买买提").unwrap().as_str(),
            "阿依古丽·买买提"
        );
        assert_eq!(PersonName::parse("Jose\u{301}").unwrap().as_str(), "José");
        assert_eq!(PersonName::parse("王明²"), Err(NameError::Characters));
    }

    #[test]
    fn latin_names_compare_without_case_and_keep_it() {
        let typed = PersonName::parse("Li Lei").unwrap();
        assert_eq!(typed.as_str(), "Li Lei");
        for other in ["LI LEI", "li lei", "ｌｉ ＬＥＩ", " Li  Lei "] {
            assert_eq!(
                PersonName::parse(other).unwrap().comparable(),
                typed.comparable(),
                "{other}"
            );
        }
        assert_eq!(
            PersonName::parse("Strauß").unwrap().comparable(),
            PersonName::parse("STRAUSS").unwrap().comparable()
        );
        assert_ne!(
            PersonName::parse("Li Lei").unwrap().comparable(),
            PersonName::parse("Li Le").unwrap().comparable()
        );
        assert_eq!(PersonName::parse("欧阳明").unwrap().comparable(), "欧阳明");
    }

    #[test]
    fn length_limits() {
        assert_eq!(PersonName::parse(""), Err(NameError::Length));
        assert_eq!(PersonName::parse("   "), Err(NameError::Length));
        assert!(PersonName::parse(&"明".repeat(50)).is_ok());
        assert_eq!(PersonName::parse(&"明".repeat(51)), Err(NameError::Length));
    }

    proptest! {
        #[test]
        fn han_names_of_1_to_50_parse_and_mask_to_their_last(s in "[\u{4e00}-\u{9fa5}]{1,50}") {
            let n = PersonName::parse(&s).unwrap();
            let m = n.masked();
            prop_assert_eq!(m.chars().count(), s.chars().count());
            prop_assert_eq!(m.chars().last(), s.chars().last());
            prop_assert!(m.chars().rev().skip(1).all(|c| c == '*'));
        }

        #[test]
        fn case_never_tells_latin_names_apart(s in "[A-Za-z]{1,12}( [A-Za-z'-]{1,12}){0,2}") {
            let n = PersonName::parse(&s).unwrap();
            prop_assert_eq!(n.as_str(), s.as_str());
            for variant in [s.to_uppercase(), s.to_lowercase()] {
                prop_assert_eq!(PersonName::parse(&variant).unwrap().comparable(), n.comparable());
            }
        }

        #[test]
        fn fullwidth_latin_parses_as_its_ascii_form(s in "[A-Za-z]{1,12}( [A-Za-z]{1,12}){0,2}") {
            // U+FF21.. and U+FF41.. are A.. and a.. at full width; U+3000 the ideographic space.
            let wide: String = s
                .chars()
                .map(|c| match c {
                    ' ' => '\u{3000}',
                    c => char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap(),
                })
                .collect();
            let parsed = PersonName::parse(&wide).unwrap();
            prop_assert_eq!(parsed.as_str(), s.as_str());
        }

        #[test]
        fn parsing_is_idempotent(s in "\\PC{0,60}") {
            if let Ok(n) = PersonName::parse(&s) {
                prop_assert_eq!(PersonName::parse(n.as_str()).unwrap(), n);
            }
        }
    }
}
