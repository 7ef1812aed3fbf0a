//! Cryptography of shiming at rest: authenticated encryption of personal data,
//! keyed hashes for looking it up without decrypting, and random tokens.
//!
//! Everything sealed carries a key id byte in front, so that keys can be
//! rotated later by adding a key rather than re-encrypting in one go.

mod keys;
mod seal;
mod token;

pub use keys::{AuditKey, KeyError, Keys};
pub use seal::{Vault, VaultError};
pub use token::{ct_eq, ordered_hex, random_hex, sha256, SessionToken};
