//! AES-256-GCM sealing of personal data, and HMAC-SHA256 keyed hashes.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use thiserror::Error;

use crate::Keys;

/// The id of the only key so far; sealed data starts with it.
const KEY_ID: u8 = 1;
const NONCE_LEN: usize = 12;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum VaultError {
    #[error("sealed data is sealed with key {0}, which this vault does not hold")]
    UnknownKey(u8),
    #[error("sealed data is damaged or was sealed for another purpose")]
    Damaged,
}

/// Seals and opens personal data and computes its keyed hashes.
pub struct Vault {
    cipher: Aes256Gcm,
    mac: Hmac<Sha256>,
}

impl Vault {
    pub fn new(keys: &Keys) -> Self {
        Vault {
            cipher: Aes256Gcm::new((&keys.encryption).into()),
            mac: <Hmac<Sha256> as Mac>::new_from_slice(&keys.pepper).expect("HMAC takes keys of any length"),
        }
    }

    /// Encrypts `plain`, bound to `context` (e.g. `"person.name"`) so that a
    /// sealed value moved to another column does not open there.
    pub fn seal(&self, context: &str, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encrypts any message under 64 GiB");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(KEY_ID);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        let (&key_id, rest) = sealed.split_first().ok_or(VaultError::Damaged)?;
        if key_id != KEY_ID {
            return Err(VaultError::UnknownKey(key_id));
        }
        if rest.len() < NONCE_LEN {
            return Err(VaultError::Damaged);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Damaged)
    }

    /// Opens a sealed UTF-8 string.
    pub fn open_string(&self, context: &str, sealed: &[u8]) -> Result<String, VaultError> {
        String::from_utf8(self.open(context, sealed)?).map_err(|_| VaultError::Damaged)
    }

    /// HMAC-SHA256 of `value` under the pepper, separated by `domain` (e.g.
    /// `"phone"`), so equal values of different kinds never hash alike.
    pub fn keyed_hash(&self, domain: &str, value: &str) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(&(domain.len() as u32).to_be_bytes());
        mac.update(domain.as_bytes());
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let v = Vault::new(&Keys::generate());
        let sealed = v.seal("person.name", "欧阳明".as_bytes());
        assert!(!sealed.windows(3).any(|w| w == &"欧".as_bytes()[..3]));
        assert_eq!(v.open_string("person.name", &sealed).unwrap(), "欧阳明");
        // Two seals of the same value differ (random nonce).
        assert_ne!(sealed, v.seal("person.name", "欧阳明".as_bytes()));
        assert_eq!(v.open("person.id_number", &sealed), Err(VaultError::Damaged));
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(v.open("person.name", &tampered), Err(VaultError::Damaged));
        let mut other_key = sealed.clone();
        other_key[0] = 9;
        assert_eq!(v.open("person.name", &other_key), Err(VaultError::UnknownKey(9)));
        assert_eq!(v.open("person.name", &[]), Err(VaultError::Damaged));
        assert_eq!(v.open("person.name", &[KEY_ID, 1, 2]), Err(VaultError::Damaged));
        // Another key does not open it.
        assert_eq!(
            Vault::new(&Keys::generate()).open("person.name", &sealed),
            Err(VaultError::Damaged)
        );
    }

    #[test]
    fn keyed_hashes_depend_on_pepper_and_domain() {
        let keys = Keys::generate();
        let v = Vault::new(&keys);
        assert_eq!(
            v.keyed_hash("phone", "+8613912345678"),
            Vault::new(&keys).keyed_hash("phone", "+8613912345678")
        );
        assert_ne!(
            v.keyed_hash("phone", "+8613912345678"),
            v.keyed_hash("ip", "+8613912345678")
        );
        assert_ne!(
            v.keyed_hash("phone", "x"),
            Vault::new(&Keys::generate()).keyed_hash("phone", "x")
        );
        // The domain length prefix keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(v.keyed_hash("ab", "c"), v.keyed_hash("a", "bc"));
    }
}
