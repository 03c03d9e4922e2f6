//! XML Encryption of assertions (`EncryptedAssertion`): the content key comes by RSA-OAEP key
//! transport (`rsa-oaep-mgf1p`, or xmlenc 1.1 `rsa-oaep` with its digest and MGF1) to one of the
//! connection's SP encryption keys; the Assertion itself is AES-GCM or AES-CBC. RSA PKCS#1 v1.5
//! key transport and Triple DES are refused whatever the IdP sends. Every failure after the
//! algorithms were accepted is the same [`Refusal::Failed`]: a wrong key, a tampered ciphertext
//! and a bad padding look alike, so no answer tells an attacker about the plaintext.

use base64::Engine as _;
use openssl::encrypt::Decrypter;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Padding;
use openssl::symm::{decrypt_aead, Cipher, Crypter, Mode};

use super::{child, children, full_text, NS_DSIG as DS};

/// XML Encryption 1.0 namespace.
pub const XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
/// XML Encryption 1.1 namespace.
pub const XENC11: &str = "http://www.w3.org/2009/xmlenc11#";

/// The content algorithms Lanyard decrypts, strongest first (also what SP metadata offers).
pub const CONTENT_ALGORITHMS: [&str; 4] = [
    "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
];
/// The key transport algorithms Lanyard accepts.
pub const KEY_TRANSPORT_ALGORITHMS: [&str; 2] = [
    "http://www.w3.org/2009/xmlenc11#rsa-oaep",
    "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
];

/// Most EncryptedKeys accepted for one EncryptedData (IdPs send one; a few recipients at most).
pub const MAX_ENCRYPTED_KEYS: usize = 4;

/// One of the connection's SP decryption keys.
#[derive(Clone)]
pub struct DecryptionKey {
    /// `spkey_…`, reported with a decrypted assertion.
    pub id: String,
    pub key: PKey<Private>,
}

impl std::fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptionKey")
            .field("id", &self.id)
            .finish()
    }
}

/// Why an EncryptedAssertion was not decrypted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// An algorithm Lanyard refuses, named (decided from the document, before any key is used).
    Algorithm(String),
    /// Anything else: one answer for every failure.
    Failed,
}

/// A decrypted assertion.
#[derive(Debug)]
pub struct Decrypted {
    /// The Assertion element's XML.
    pub xml: String,
    /// The SP key that opened it.
    pub key_id: String,
    /// Whether the content algorithm authenticates the ciphertext (GCM).
    pub authenticated: bool,
}

#[derive(Clone, Copy)]
enum Content {
    Gcm(usize),
    Cbc(usize),
}

impl Content {
    fn parse(alg: &str) -> Result<Content, Refusal> {
        match alg {
            "http://www.w3.org/2009/xmlenc11#aes256-gcm" => Ok(Content::Gcm(32)),
            "http://www.w3.org/2009/xmlenc11#aes128-gcm" => Ok(Content::Gcm(16)),
            "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => Ok(Content::Cbc(32)),
            "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => Ok(Content::Cbc(16)),
            other => Err(Refusal::Algorithm(format!(
                "the IdP encrypted the assertion with {}; Lanyard accepts AES-256-GCM, AES-128-GCM, AES-256-CBC or AES-128-CBC. Choose one of those in the IdP's encryption settings; an IdP that offers only this algorithm cannot encrypt for Lanyard: turn off \"Require encrypted assertions\" and its assertion encryption until it offers AES",
                if other.is_empty() { "no named algorithm" } else { other }
            ))),
        }
    }

    fn key_len(self) -> usize {
        match self {
            Content::Gcm(n) | Content::Cbc(n) => n,
        }
    }

    fn decrypt(self, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
        match self {
            Content::Gcm(n) => {
                let cipher = if n == 32 {
                    Cipher::aes_256_gcm()
                } else {
                    Cipher::aes_128_gcm()
                };
                if data.len() < 12 + 16 {
                    return None;
                }
                let (iv, rest) = data.split_at(12);
                let (ct, tag) = rest.split_at(rest.len() - 16);
                decrypt_aead(cipher, key, Some(iv), &[], ct, tag).ok()
            }
            Content::Cbc(n) => {
                let cipher = if n == 32 {
                    Cipher::aes_256_cbc()
                } else {
                    Cipher::aes_128_cbc()
                };
                if data.len() < 32 || !data.len().is_multiple_of(16) {
                    return None;
                }
                let (iv, ct) = data.split_at(16);
                let mut c = Crypter::new(cipher, Mode::Decrypt, key, Some(iv)).ok()?;
                c.pad(false);
                let mut out = vec![0; ct.len() + 16];
                let mut n = c.update(ct, &mut out).ok()?;
                n += c.finalize(&mut out[n..]).ok()?;
                out.truncate(n);
                // XML Encryption padding: the last byte says how many bytes to drop (1–16); the
                // others are arbitrary, so PKCS#7's check would refuse valid documents.
                let pad = usize::from(*out.last()?);
                if pad == 0 || pad > 16 || pad > out.len() {
                    return None;
                }
                out.truncate(out.len() - pad);
                Some(out)
            }
        }
    }
}

/// RSA-OAEP parameters of one EncryptedKey.
struct Transport {
    cipher: Vec<u8>,
    digest: MessageDigest,
    mgf1: MessageDigest,
}

fn digest_of(alg: Option<&str>) -> Result<MessageDigest, Refusal> {
    match alg {
        None | Some("http://www.w3.org/2000/09/xmldsig#sha1") => Ok(MessageDigest::sha1()),
        Some("http://www.w3.org/2001/04/xmlenc#sha256") => Ok(MessageDigest::sha256()),
        Some("http://www.w3.org/2001/04/xmldsig-more#sha384") => Ok(MessageDigest::sha384()),
        Some("http://www.w3.org/2001/04/xmlenc#sha512") => Ok(MessageDigest::sha512()),
        Some(other) => Err(Refusal::Algorithm(format!(
            "the IdP's RSA-OAEP key transport uses the digest {other}, which Lanyard does not know"
        ))),
    }
}

fn mgf1_of(alg: Option<&str>) -> Result<MessageDigest, Refusal> {
    match alg {
        None | Some("http://www.w3.org/2009/xmlenc11#mgf1sha1") => Ok(MessageDigest::sha1()),
        Some("http://www.w3.org/2009/xmlenc11#mgf1sha256") => Ok(MessageDigest::sha256()),
        Some("http://www.w3.org/2009/xmlenc11#mgf1sha384") => Ok(MessageDigest::sha384()),
        Some("http://www.w3.org/2009/xmlenc11#mgf1sha512") => Ok(MessageDigest::sha512()),
        Some(other) => Err(Refusal::Algorithm(format!(
            "the IdP's RSA-OAEP key transport uses the mask function {other}, which Lanyard does not know"
        ))),
    }
}

fn transport(ek: roxmltree::Node) -> Result<Transport, Refusal> {
    let method = child(ek, XENC, "EncryptionMethod");
    let alg = method.and_then(|m| m.attribute("Algorithm")).unwrap_or("");
    let digest = method
        .and_then(|m| child(m, DS, "DigestMethod"))
        .and_then(|d| d.attribute("Algorithm"));
    let (digest, mgf1) = match alg {
        "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p" => (digest_of(digest)?, MessageDigest::sha1()),
        "http://www.w3.org/2009/xmlenc11#rsa-oaep" => (
            digest_of(digest)?,
            mgf1_of(
                method
                    .and_then(|m| child(m, XENC11, "MGF"))
                    .and_then(|g| g.attribute("Algorithm")),
            )?,
        ),
        "http://www.w3.org/2001/04/xmlenc#rsa-1_5" => {
            return Err(Refusal::Algorithm(
                "the IdP wrapped the assertion's key with RSA PKCS#1 v1.5, which is open to padding-oracle attacks and refused; choose RSA-OAEP in the IdP's encryption settings".into(),
            ))
        }
        other => {
            return Err(Refusal::Algorithm(format!(
                "the IdP wrapped the assertion's key with {}; Lanyard accepts RSA-OAEP",
                if other.is_empty() { "no named algorithm" } else { other }
            )))
        }
    };
    Ok(Transport {
        cipher: cipher_value(ek).ok_or(Refusal::Failed)?,
        digest,
        mgf1,
    })
}

/// The base64 CipherValue of an EncryptedData or EncryptedKey (a CipherReference is not followed).
fn cipher_value(n: roxmltree::Node) -> Option<Vec<u8>> {
    let v = child(n, XENC, "CipherData").and_then(|d| child(d, XENC, "CipherValue"))?;
    let text: String = full_text(v)
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .ok()
}

fn unwrap_key(t: &Transport, key: &PKey<Private>) -> Option<Vec<u8>> {
    let mut d = Decrypter::new(key).ok()?;
    d.set_rsa_padding(Padding::PKCS1_OAEP).ok()?;
    d.set_rsa_oaep_md(t.digest).ok()?;
    d.set_rsa_mgf1_md(t.mgf1).ok()?;
    let mut out = vec![0; d.decrypt_len(&t.cipher).ok()?];
    let n = d.decrypt(&t.cipher, &mut out).ok()?;
    out.truncate(n);
    Some(out)
}

/// Decrypts the EncryptedAssertion `enc` with the first of `keys` that opens it. The algorithms
/// are checked first (a refused one is named); any later failure is [`Refusal::Failed`].
pub fn decrypt(enc: roxmltree::Node, keys: &[DecryptionKey]) -> Result<Decrypted, Refusal> {
    let mut data = children(enc, XENC, "EncryptedData");
    let (Some(data), None) = (data.next(), data.next()) else {
        return Err(Refusal::Failed);
    };
    if data
        .attribute("Type")
        .is_some_and(|t| t != "http://www.w3.org/2001/04/xmlenc#Element")
    {
        return Err(Refusal::Failed);
    }
    let content = Content::parse(
        child(data, XENC, "EncryptionMethod")
            .and_then(|m| m.attribute("Algorithm"))
            .unwrap_or(""),
    )?;
    // The content key: in the EncryptedData's KeyInfo, or beside the EncryptedData (then named by
    // a RetrievalMethod, which is not needed to find it: the EncryptedAssertion holds only these).
    let in_key_info = child(data, DS, "KeyInfo")
        .into_iter()
        .flat_map(|k| children(k, XENC, "EncryptedKey"));
    let beside = children(enc, XENC, "EncryptedKey");
    // Before any RSA operation: an IdP sends one EncryptedKey per recipient, and nothing has
    // authenticated this document yet, so a pile of junk keys must not buy an RSA decryption
    // each (times every SP key of the connection).
    let encrypted_keys: Vec<_> = in_key_info.chain(beside).collect();
    if encrypted_keys.len() > MAX_ENCRYPTED_KEYS {
        return Err(Refusal::Failed);
    }
    let transports: Vec<Transport> = encrypted_keys
        .into_iter()
        .map(transport)
        .collect::<Result<_, _>>()?;
    let ciphertext = cipher_value(data).ok_or(Refusal::Failed)?;
    for t in &transports {
        for k in keys {
            let Some(cek) = unwrap_key(t, &k.key) else {
                continue;
            };
            if cek.len() != content.key_len() {
                continue;
            }
            let plain = content
                .decrypt(&cek, &ciphertext)
                .and_then(|p| String::from_utf8(p).ok())
                .ok_or(Refusal::Failed)?;
            return Ok(Decrypted {
                xml: plain,
                key_id: k.id.clone(),
                authenticated: matches!(content, Content::Gcm(_)),
            });
        }
    }
    Err(Refusal::Failed)
}
