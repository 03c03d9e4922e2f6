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
    let key = PKey::from_rsa(Rsa::generate(RSA_BITS).map_err(err)?).map_err(err)?;
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
}
