//! A person as a real-name attestation names them: name and resident ID number.

use crate::{IdNumber, PersonName};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: PersonName,
    pub id_number: IdNumber,
}

impl Person {
    /// The normalised pair that identifies a person, input to the keyed hash
    /// by which persons are compared and looked up: the ID number and the
    /// name's [comparable](PersonName::comparable) form. The separator cannot
    /// occur in either part, so no two different pairs share a canonical form.
    pub fn canonical(&self) -> String {
        format!("{}\u{1f}{}", self.id_number.as_str(), self.name.comparable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_normalises_both_parts() {
        let a = Person {
            name: PersonName::parse(" 阿依古丽•买买提").unwrap(),
            id_number: IdNumber::parse("11010519491231002x").unwrap(),
        };
        let b = Person {
            name: PersonName::parse("阿依古丽·买买提").unwrap(),
            id_number: IdNumber::parse("11010519491231002X").unwrap(),
        };
        assert_eq!(a.canonical(), b.canonical());
    }

    #[test]
    fn one_person_whatever_the_case_or_width_of_a_latin_name() {
        let person = |name: &str| Person {
            name: PersonName::parse(name).unwrap(),
            id_number: IdNumber::parse("11010519491231002X").unwrap(),
        };
        let typed = person("Li Lei");
        assert_eq!(typed.canonical(), person("LI LEI").canonical());
        assert_eq!(typed.canonical(), person("ｌｉ ｌｅｉ").canonical());
        assert_eq!(typed.name.as_str(), "Li Lei", "kept as typed");
        assert_ne!(typed.canonical(), person("Li Leo").canonical());
    }
}
