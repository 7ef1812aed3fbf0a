//! The secrets: the encryption key, the pepper of keyed hashes, and the key
//! of the audit chain's links.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
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

    /// The audit chain's key when none is configured: HKDF-SHA256 of the
    /// pepper under a label of its own, so it is independent of every keyed
    /// hash. Derived from the pepper rather than the encryption key because
    /// the encryption key is meant to rotate (sealed data names its key),
    /// while the chain's key must stay the same for the chain's whole life.
    pub fn derive_audit_key(&self) -> AuditKey {
        let mut key = AuditKey([0; 32]);
        Hkdf::<Sha256>::new(None, &self.pepper)
            .expand(AUDIT_KEY_LABEL, &mut key.0)
            .expect("HKDF-SHA256 yields 32 bytes");
        key
    }
}

const AUDIT_KEY_LABEL: &[u8] = b"shiming audit chain v1";

/// The HMAC-SHA256 key of the audit chain's links: without it an event can be
/// neither forged nor rewritten with a link that verifies. Zeroed on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AuditKey([u8; 32]);

impl AuditKey {
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        Ok(AuditKey(decode32(text, "the audit key")?))
    }

    /// A fresh HMAC-SHA256 under this key, to feed a link's fields into.
    pub fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }

    /// The HMAC-SHA256 of `data` under this key.
    pub fn tag(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
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

    #[test]
    fn the_audit_key_is_derived_from_the_pepper_alone() {
        let k = Keys::generate();
        let (e, p) = k.to_base64();
        let derived = k.derive_audit_key();
        assert_ne!(derived.0, k.pepper, "a key of its own, not the pepper itself");
        assert_ne!(derived.0, k.encryption);
        let other_encryption = Keys::from_base64(&Keys::generate().to_base64().0, &p).unwrap();
        assert_eq!(other_encryption.derive_audit_key().0, derived.0);
        let other_pepper = Keys::from_base64(&e, &Keys::generate().to_base64().1).unwrap();
        assert_ne!(other_pepper.derive_audit_key().0, derived.0);
        assert_eq!(
            AuditKey::from_base64("AAAA").unwrap_err(),
            KeyError::Length("the audit key")
        );
        assert_eq!(format!("{derived:?}"), "AuditKey(..)");
    }
}
