//! Secrets: generation, hashing for storage, constant-time comparison.

use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

/// Prefix of vendor API keys.
pub const API_KEY_PREFIX: &str = "lanyard_sk_";
/// Prefix of setup-link tokens.
pub const SETUP_TOKEN_PREFIX: &str = "lanyard_setup_";
/// Prefix of invitation tokens.
pub const INVITE_TOKEN_PREFIX: &str = "lanyard_invite_";
/// Prefix of staff account setup tokens.
pub const STAFF_TOKEN_PREFIX: &str = "lanyard_staff_";

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

/// Encrypts secrets at rest (IdP client secrets) with XChaCha20-Poly1305 under
/// `LANYARD_SECRET_KEY`. The associated data binds a ciphertext to its row and column, so a
/// ciphertext copied onto another row does not decrypt.
#[derive(Clone)]
pub struct SecretBox {
    cipher: chacha20poly1305::XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(…)")
    }
}

impl SecretBox {
    /// A box for the 32-byte key.
    pub fn new(key: &[u8; 32]) -> SecretBox {
        use chacha20poly1305::KeyInit;
        SecretBox {
            cipher: chacha20poly1305::XChaCha20Poly1305::new(key.into()),
        }
    }

    /// `v1.<base64(nonce ‖ ciphertext)>`.
    pub fn seal(&self, plaintext: &str, context: &str) -> String {
        use chacha20poly1305::aead::{Aead, Payload};
        let nonce: [u8; 24] = rand::random();
        let ct = self
            .cipher
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!(
            "v1.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
        )
    }

    /// Decrypts what `seal` produced for the same context; `None` on any mismatch.
    pub fn open(&self, sealed: &str, context: &str) -> Option<String> {
        use chacha20poly1305::aead::{Aead, Payload};
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sealed.strip_prefix("v1.")?)
            .ok()?;
        if raw.len() < 24 {
            return None;
        }
        let (nonce, ct) = raw.split_at(24);
        let pt = self
            .cipher
            .decrypt(
                nonce.into(),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(pt).ok()
    }
}

#[cfg(test)]
mod secret_box_tests {
    use super::SecretBox;

    #[test]
    fn round_trips_and_binds_context_and_key() {
        let b = SecretBox::new(&[7; 32]);
        let sealed = b.seal("s3cret", "connections:conn_1:client_secret");
        assert!(!sealed.contains("s3cret"));
        assert_eq!(
            b.open(&sealed, "connections:conn_1:client_secret")
                .as_deref(),
            Some("s3cret")
        );
        assert_eq!(b.open(&sealed, "connections:conn_2:client_secret"), None);
        assert_eq!(
            SecretBox::new(&[8; 32]).open(&sealed, "connections:conn_1:client_secret"),
            None
        );
        assert_ne!(
            sealed,
            b.seal("s3cret", "connections:conn_1:client_secret"),
            "fresh nonce"
        );
    }
}
