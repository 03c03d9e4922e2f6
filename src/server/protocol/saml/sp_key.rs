//! Lanyard's own SP key pairs: an RSA key and a self-signed certificate that names the
//! connection. IdPs pin the certificate from the SP metadata; only its public key matters to them.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509Builder, X509NameBuilder};

/// RSA modulus size of generated SP keys.
pub const RSA_BITS: u32 = 2048;

/// A generated key pair.
pub struct NewSpKey {
    /// PKCS#8 PEM of the private key (to be sealed before it is stored).
    pub private_pem: String,
    /// The self-signed certificate, DER.
    pub certificate_der: Vec<u8>,
}

fn err(e: openssl::error::ErrorStack) -> String {
    format!("cannot make an SP key: {e}")
}

/// A new RSA key and a certificate for `common_name`, valid from `now_ms` for `valid_days`.
pub fn generate(common_name: &str, now_ms: i64, valid_days: i64) -> Result<NewSpKey, String> {
    generate_bits(common_name, now_ms, valid_days, RSA_BITS)
}

/// [`generate`] with another modulus size (tests of the upload limits).
fn generate_bits(
    common_name: &str,
    now_ms: i64,
    valid_days: i64,
    bits: u32,
) -> Result<NewSpKey, String> {
    let key = PKey::from_rsa(Rsa::generate(bits).map_err(err)?).map_err(err)?;
    let mut name = X509NameBuilder::new().map_err(err)?;
    name.append_entry_by_text("CN", common_name).map_err(err)?;
    name.append_entry_by_text("O", "Lanyard").map_err(err)?;
    let name = name.build();
    let mut serial = BigNum::new().map_err(err)?;
    serial
        .rand(127, MsbOption::MAYBE_ZERO, false)
        .map_err(err)?;
    let mut b = X509Builder::new().map_err(err)?;
    b.set_version(2).map_err(err)?;
    let serial = serial.to_asn1_integer().map_err(err)?;
    b.set_serial_number(&serial).map_err(err)?;
    b.set_subject_name(&name).map_err(err)?;
    b.set_issuer_name(&name).map_err(err)?;
    let from = now_ms.div_euclid(1000);
    let (not_before, not_after) = (
        Asn1Time::from_unix(from).map_err(err)?,
        Asn1Time::from_unix(from + valid_days * 86_400).map_err(err)?,
    );
    b.set_not_before(&not_before).map_err(err)?;
    b.set_not_after(&not_after).map_err(err)?;
    b.set_pubkey(&key).map_err(err)?;
    b.sign(&key, MessageDigest::sha256()).map_err(err)?;
    let private_pem = String::from_utf8(key.private_key_to_pem_pkcs8().map_err(err)?)
        .map_err(|e| format!("cannot make an SP key: {e}"))?;
    Ok(NewSpKey {
        private_pem,
        certificate_der: b.build().to_der().map_err(err)?,
    })
}

/// Largest customer RSA key accepted: every encrypted assertion costs one private-key operation
/// per SP key, about eight times more at 4096 bits than at 2048, and more is no safer in practice.
pub const MAX_UPLOADED_RSA_BITS: u32 = 4096;

/// A key pair a customer brings (from their own CA), checked.
pub struct UploadedKey {
    /// PKCS#8 PEM of the private key (to be sealed).
    pub private_pem: String,
    /// The key's certificate (the chain's first), DER: what the SP metadata publishes.
    pub certificate_der: Vec<u8>,
}

impl std::fmt::Debug for UploadedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UploadedKey { private_pem: [redacted], .. }")
    }
}

/// Checks a customer's key and certificate chain: an RSA key of at least 2048 bits, not
/// protected by a passphrase; the chain's first certificate is that key's, valid now, and each
/// certificate is signed by the next. Errors are (field, sentence for the admin).
pub fn check_uploaded(
    private_key_pem: &str,
    certificate_pem: &str,
    now_ms: i64,
) -> Result<UploadedKey, (&'static str, String)> {
    const KEY: &str = "saml.upload_sp_key.private_key_pem";
    const CERT: &str = "saml.upload_sp_key.certificate_pem";
    if private_key_pem.contains("ENCRYPTED") {
        return Err((KEY, "the private key is protected by a passphrase; export it without one (openssl pkey -in key.pem -out plain.pem)".into()));
    }
    let key = PKey::private_key_from_pem(private_key_pem.trim().as_bytes()).map_err(|_| {
        (
            KEY,
            "not a PEM private key; paste the whole -----BEGIN PRIVATE KEY----- (or RSA PRIVATE KEY) block".to_owned(),
        )
    })?;
    let bits = key.rsa().map(|r| r.size() * 8).map_err(|_| {
        (
            KEY,
            "the key is not an RSA key; SAML IdPs expect RSA for signing and encryption".to_owned(),
        )
    })?;
    if !(RSA_BITS..=MAX_UPLOADED_RSA_BITS).contains(&bits) {
        return Err((
            KEY,
            format!("the RSA key has {bits} bits; use 2048 to {MAX_UPLOADED_RSA_BITS} bits"),
        ));
    }
    let chain = openssl::x509::X509::stack_from_pem(certificate_pem.trim().as_bytes())
        .ok()
        .filter(|c| !c.is_empty())
        .ok_or((
            CERT,
            "not a PEM certificate chain; paste the key's certificate first, then its CA certificates, each a -----BEGIN CERTIFICATE----- block".to_owned(),
        ))?;
    let leaf = &chain[0];
    let matches = leaf
        .public_key()
        .map(|p| p.public_eq(&key))
        .unwrap_or(false);
    if !matches {
        return Err((CERT, "the first certificate is not the private key's certificate; put the key's own certificate first".into()));
    }
    let der = leaf.to_der().map_err(|e| (CERT, e.to_string()))?;
    let info = super::metadata::certificate_info(&der).map_err(|e| (CERT, e))?;
    if info.not_after_ms <= now_ms {
        return Err((
            CERT,
            "the certificate has expired; ask your CA for a new one".into(),
        ));
    }
    if info.not_before_ms > now_ms {
        return Err((
            CERT,
            "the certificate is not valid yet (its notBefore is in the future)".into(),
        ));
    }
    for (i, pair) in chain.windows(2).enumerate() {
        let signed = pair[1]
            .public_key()
            .and_then(|issuer| pair[0].verify(&issuer))
            .unwrap_or(false);
        if !signed {
            return Err((
                CERT,
                format!(
                    "certificate {} of the chain is not signed by certificate {}; give the chain in order, the key's certificate first",
                    i + 1,
                    i + 2
                ),
            ));
        }
    }
    let private_pem = String::from_utf8(
        key.private_key_to_pem_pkcs8()
            .map_err(|e| (KEY, e.to_string()))?,
    )
    .map_err(|e| (KEY, e.to_string()))?;
    Ok(UploadedKey {
        private_pem,
        certificate_der: der,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_carries_the_key_and_the_validity() {
        let k = generate("Lanyard SP conn_1", 1_700_000_000_000, 3650).unwrap();
        let info = super::super::metadata::certificate_info(&k.certificate_der).unwrap();
        assert_eq!(info.not_before_ms, 1_700_000_000_000);
        assert_eq!(info.not_after_ms, 1_700_000_000_000 + 3650 * 86_400_000);
        assert!(
            info.subject.contains("Lanyard SP conn_1"),
            "{}",
            info.subject
        );
        let cert = openssl::x509::X509::from_der(&k.certificate_der).unwrap();
        let key = PKey::private_key_from_pem(k.private_pem.as_bytes()).unwrap();
        assert!(cert.public_key().unwrap().public_eq(&key));
        assert!(cert.verify(&key).unwrap(), "self-signed");
    }

    #[test]
    fn an_uploaded_key_must_match_its_certificate_and_chain() {
        let now = 1_700_000_000_000;
        let ca = generate("Customer CA", now - 1000, 100).unwrap();
        let leaf = generate("Customer SP", now - 1000, 100).unwrap();
        let pem = |der: &[u8]| super::super::metadata::to_pem(der);
        // Self-signed leaf: fine alone.
        let ok = check_uploaded(&leaf.private_pem, &pem(&leaf.certificate_der), now).unwrap();
        assert_eq!(ok.certificate_der, leaf.certificate_der);
        // Another key's certificate first.
        let e = check_uploaded(&ca.private_pem, &pem(&leaf.certificate_der), now).unwrap_err();
        assert_eq!(e.0, "saml.upload_sp_key.certificate_pem");
        // A "chain" whose second certificate did not sign the first.
        let chain = format!("{}{}", pem(&leaf.certificate_der), pem(&ca.certificate_der));
        let e = check_uploaded(&leaf.private_pem, &chain, now).unwrap_err();
        assert!(e.1.contains("not signed by certificate 2"), "{}", e.1);
        // Expired, and a passphrase-protected key.
        let e = check_uploaded(
            &leaf.private_pem,
            &pem(&leaf.certificate_der),
            now + 200 * 86_400_000,
        )
        .unwrap_err();
        assert!(e.1.contains("expired"), "{}", e.1);
        let e = check_uploaded(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----",
            "",
            now,
        )
        .unwrap_err();
        assert_eq!(e.0, "saml.upload_sp_key.private_key_pem");
    }
}
