//! Secrets: generation, hashing for storage, constant-time comparison.

use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

/// Prefix of vendor API keys.
pub const API_KEY_PREFIX: &str = "lanyard_sk_";
/// Prefix of setup-link tokens.
pub const SETUP_TOKEN_PREFIX: &str = "lanyard_setup_";

/// A new random 256-bit secret, URL-safe base64 without padding, behind `prefix`.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The stored form of a secret: hex SHA-256. Secrets are 256-bit random values, so a fast hash is
/// enough (no dictionary to attack).
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Constant-time equality of two strings.
pub fn ct_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Hex SHA-256 of arbitrary bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_and_hashed() {
        let a = new_secret(API_KEY_PREFIX);
        let b = new_secret(API_KEY_PREFIX);
        assert!(a.starts_with("lanyard_sk_"));
        assert_eq!(a.len(), "lanyard_sk_".len() + 43);
        assert_ne!(a, b);
        assert_eq!(hash_secret(&a).len(), 64);
        assert!(ct_eq(&hash_secret(&a), &hash_secret(&a)));
        assert!(!ct_eq(&hash_secret(&a), &hash_secret(&b)));
    }
}
