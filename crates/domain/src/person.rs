//! A person as a real-name attestation names them: name and resident ID number.

use crate::{IdNumber, PersonName};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: PersonName,
    pub id_number: IdNumber,
}

impl Person {
    /// The normalised pair that identifies a person, input to the keyed hash
    /// by which persons are compared and looked up. The separator cannot occur
    /// in either part, so no two different pairs share a canonical form.
    pub fn canonical(&self) -> String {
        format!("{}\u{1f}{}", self.id_number.as_str(), self.name.as_str())
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
}
