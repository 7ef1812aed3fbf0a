//! The two secrets: the encryption key and the pepper of keyed hashes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("{0} is not base64")]
    NotBase64(&'static str),
    #[error("{0} must be 32 bytes (44 base64 characters)")]
    Length(&'static str),
}

/// The encryption key and the keyed-hash pepper, 32 bytes each. Zeroed on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Keys {
    pub(crate) encryption: [u8; 32],
    pub(crate) pepper: [u8; 32],
}

impl Keys {
    /// Fresh random keys, for a development data folder's first start.
    pub fn generate() -> Self {
        let mut keys = Keys {
            encryption: [0; 32],
            pepper: [0; 32],
        };
        rand::rng().fill_bytes(&mut keys.encryption);
        rand::rng().fill_bytes(&mut keys.pepper);
        keys
    }

    pub fn from_base64(encryption: &str, pepper: &str) -> Result<Self, KeyError> {
        Ok(Keys {
            encryption: decode32(encryption, "the encryption key")?,
            pepper: decode32(pepper, "the pepper")?,
        })
    }

    /// Both keys in base64, for writing into a development secrets file.
    pub fn to_base64(&self) -> (String, String) {
        (STANDARD.encode(self.encryption), STANDARD.encode(self.pepper))
    }
}

fn decode32(text: &str, what: &'static str) -> Result<[u8; 32], KeyError> {
    let mut bytes = STANDARD.decode(text.trim()).map_err(|_| KeyError::NotBase64(what))?;
    let key = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| KeyError::Length(what));
    bytes.zeroize();
    key
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip_and_errors() {
        let k = Keys::generate();
        let (e, p) = k.to_base64();
        let back = Keys::from_base64(&e, &p).unwrap();
        assert_eq!(back.encryption, k.encryption);
        assert_eq!(back.pepper, k.pepper);
        assert_ne!(k.encryption, k.pepper);
        assert_eq!(
            Keys::from_base64("not base64!", &p).unwrap_err(),
            KeyError::NotBase64("the encryption key")
        );
        assert_eq!(
            Keys::from_base64(&e, "AAAA").unwrap_err(),
            KeyError::Length("the pepper")
        );
        assert_eq!(format!("{k:?}"), "Keys(..)");
    }
}
