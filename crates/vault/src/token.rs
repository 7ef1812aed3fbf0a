//! Random tokens and constant-time comparison.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A session token: 256 random bits, handed to the client once. Only its
/// SHA-256 is stored; a fast hash suffices because the token has full entropy,
/// and keeps the session check to one indexed lookup.
pub struct SessionToken(String);

impl SessionToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        SessionToken(URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stored form of a token as presented by a client.
    pub fn hash_of(presented: &str) -> [u8; 32] {
        sha256(presented.as_bytes())
    }
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// `n` random bytes in hex: public ids that must not be guessable.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equality that takes the same time wherever the inputs differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A public id that sorts by creation: 16 bytes in hex, the first 4 the
/// second `now` (Unix, big-endian), the other 12 random. Rows keyed by such
/// ids are appended to their indexes instead of landing on a random page of
/// each (at a million accounts, a sign-in's commit wrote twice the bytes with
/// random ids); the price is that an id tells when it was made, to whoever
/// sees it. 96 random bits keep ids made in one second apart and unguessable.
pub fn ordered_hex(now: i64) -> String {
    let second = u32::try_from(now.max(0)).unwrap_or(u32::MAX);
    format!("{second:08x}{}", random_hex(12))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let a = SessionToken::generate();
        let b = SessionToken::generate();
        assert_eq!(a.as_str().len(), 43);
        assert_ne!(a.as_str(), b.as_str());
        assert_eq!(SessionToken::hash_of(a.as_str()), sha256(a.as_str().as_bytes()));
        assert_eq!(random_hex(16).len(), 32);
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    #[test]
    fn ordered_ids_sort_by_their_second_and_differ_within_it() {
        let (a, b, c) = (
            ordered_hex(1_700_000_000),
            ordered_hex(1_700_000_000),
            ordered_hex(1_700_000_001),
        );
        assert_eq!(a.len(), 32);
        assert_eq!(&a[..8], "6553f100");
        assert_ne!(a, b);
        assert!(a < c && b < c);
        assert!(a.bytes().all(|x| x.is_ascii_hexdigit()));
    }
}
