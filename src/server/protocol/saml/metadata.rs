//! IdP metadata (what the admin uploads or links) and SP metadata (what Lanyard offers).

use base64::Engine as _;
use serde::Serialize;
use sha2::Digest as _;

use super::{
    child, children, full_text, is, refuse_deep_nesting, refuse_dtd, xml_escape, NS_DSIG as DS,
    NS_METADATA as MD,
};

const REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// What Lanyard takes from an IdP's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    pub entity_id: String,
    /// The HTTP-Redirect SingleSignOnService, or the HTTP-POST one when that is all there is.
    pub sso_url: String,
    /// DER signing certificates (KeyDescriptor use="signing" or without use).
    pub certificates: Vec<Vec<u8>>,
    /// The HTTP-Redirect SingleLogoutService, when the IdP has one.
    pub slo_url: Option<String>,
    /// The HTTP-POST SingleSignOnService, when the IdP has one.
    pub sso_post_url: Option<String>,
    /// Whether `sso_url` is an HTTP-Redirect service (otherwise the IdP takes only HTTP-POST).
    pub sso_redirect: bool,
}

/// Parses IdP metadata XML. Errors are sentences for the admin.
pub fn parse_idp_metadata(xml: &str) -> Result<IdpMetadata, String> {
    refuse_dtd(xml)?;
    refuse_deep_nesting(xml)?;
    let doc = roxmltree::Document::parse(xml)
        .map_err(|e| format!("the metadata is not well-formed XML ({e})"))?;
    let entities: Vec<_> = doc
        .descendants()
        .filter(|n| is(n, MD, "EntityDescriptor"))
        .filter(|n| child(*n, MD, "IDPSSODescriptor").is_some())
        .collect();
    let entity = match entities.as_slice() {
        [one] => *one,
        [] => return Err("the metadata has no EntityDescriptor with an IDPSSODescriptor; download the IdP metadata (not the SP metadata) from your IdP".into()),
        many => return Err(format!("the metadata describes {} identity providers; paste the metadata of the one app you set up for this connection", many.len())),
    };
    let entity_id = entity.attribute("entityID").unwrap_or("").trim().to_owned();
    if entity_id.is_empty() {
        return Err("the EntityDescriptor has no entityID".into());
    }
    let idp = child(entity, MD, "IDPSSODescriptor").expect("filtered above");
    let services: Vec<_> = children(idp, MD, "SingleSignOnService").collect();
    let by_binding = |b: &str| {
        services
            .iter()
            .find(|s| s.attribute("Binding") == Some(b))
            .and_then(|s| s.attribute("Location"))
    };
    let sso_url = by_binding(REDIRECT)
        .or_else(|| by_binding(POST))
        .ok_or("the IDPSSODescriptor has no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding")?
        .trim()
        .to_owned();
    let mut certificates = Vec::new();
    for kd in children(idp, MD, "KeyDescriptor") {
        if !matches!(kd.attribute("use"), None | Some("signing")) {
            continue;
        }
        for c in kd.descendants().filter(|n| is(n, DS, "X509Certificate")) {
            let der = decode_certificate(&full_text(c))?;
            if !certificates.contains(&der) {
                certificates.push(der);
            }
        }
    }
    if certificates.is_empty() {
        return Err("the metadata has no signing certificate (KeyDescriptor use=\"signing\"); Lanyard never accepts unsigned assertions".into());
    }
    let slo_url = children(idp, MD, "SingleLogoutService")
        .find(|s| s.attribute("Binding") == Some(REDIRECT))
        .and_then(|s| s.attribute("Location"))
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty());
    let sso_post_url = by_binding(POST).map(|u| u.trim().to_owned());
    Ok(IdpMetadata {
        entity_id,
        sso_url,
        certificates,
        slo_url,
        sso_redirect: by_binding(REDIRECT).is_some(),
        sso_post_url,
    })
}

/// A certificate as PEM, or as the bare base64 of its DER (as in metadata).
pub fn decode_certificate(text: &str) -> Result<Vec<u8>, String> {
    let body: String = text
        .lines()
        .filter(|l| !l.contains("-----"))
        .collect::<String>()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|_| "the certificate is not PEM or base64".to_owned())?;
    openssl::x509::X509::from_der(&der)
        .map_err(|_| "the certificate is not a valid X.509 certificate".to_owned())?;
    Ok(der)
}

/// What the portal shows about a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateInfo {
    /// SHA-256 of the DER, hex with colons.
    pub fingerprint: String,
    pub subject: String,
    pub not_before_ms: i64,
    pub not_after_ms: i64,
}

fn asn1_ms(t: &openssl::asn1::Asn1TimeRef) -> i64 {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).expect("epoch");
    match epoch.diff(t) {
        Ok(d) => (d.days as i64 * 86_400 + d.secs as i64) * 1000,
        Err(_) => 0,
    }
}

/// Reads the fingerprint, subject and validity of a DER certificate.
pub fn certificate_info(der: &[u8]) -> Result<CertificateInfo, String> {
    let x = openssl::x509::X509::from_der(der)
        .map_err(|_| "the certificate is not a valid X.509 certificate".to_owned())?;
    let fp = sha2::Sha256::digest(der);
    let subject = x
        .subject_name()
        .entries()
        .filter_map(|e| e.data().to_string().ok())
        .collect::<Vec<_>>()
        .join(", ");
    Ok(CertificateInfo {
        fingerprint: fp
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":"),
        subject,
        not_before_ms: asn1_ms(x.not_before()),
        not_after_ms: asn1_ms(x.not_after()),
    })
}

/// PEM text of a DER certificate.
pub fn to_pem(der: &[u8]) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// Lanyard's SP metadata for one connection: its ACS, its published SP certificates (base64
/// DER) for signing and for encryption, whether it signs its AuthnRequests, and its
/// SingleLogoutService (HTTP-Redirect and HTTP-POST) when single logout is on.
pub fn sp_metadata(
    entity_id: &str,
    acs_url: &str,
    signing_certificates: &[String],
    encryption_certificates: &[String],
    authn_requests_signed: bool,
    want_assertions_signed: bool,
    slo_url: Option<&str>,
) -> String {
    let slo: String = slo_url
        .map(|u| {
            [REDIRECT, POST]
                .iter()
                .map(|b| {
                    format!(
                        r#"
    <md:SingleLogoutService Binding="{b}" Location="{}"/>"#,
                        xml_escape(u)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let key = |key_use: &str, der_b64: &String, methods: &str| {
        format!(
            r#"
    <md:KeyDescriptor use="{key_use}">
      <ds:KeyInfo xmlns:ds="{ds}"><ds:X509Data><ds:X509Certificate>{c}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>{methods}
    </md:KeyDescriptor>"#,
            ds = super::NS_DSIG,
            c = xml_escape(der_b64),
        )
    };
    let methods: String = super::xmlenc::CONTENT_ALGORITHMS
        .iter()
        .chain(super::xmlenc::KEY_TRANSPORT_ALGORITHMS.iter())
        .map(|a| {
            format!(
                r#"
      <md:EncryptionMethod Algorithm="{a}"/>"#
            )
        })
        .collect();
    let keys: String = signing_certificates
        .iter()
        .map(|c| key("signing", c, ""))
        .chain(
            encryption_certificates
                .iter()
                .map(|c| key("encryption", c, &methods)),
        )
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="{MD}" entityID="{eid}">
  <md:SPSSODescriptor AuthnRequestsSigned="{signed}" WantAssertionsSigned="{want_assertions_signed}" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{keys}{slo}
    <md:NameIDFormat>{fmt}</md:NameIDFormat>
    <md:AssertionConsumerService Binding="{POST}" Location="{acs}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#,
        eid = xml_escape(entity_id),
        acs = xml_escape(acs_url),
        fmt = super::NAME_ID_EMAIL,
        signed = authn_requests_signed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sp_metadata_parses_as_xml_and_names_the_acs() {
        let xml = sp_metadata(
            "https://l.test/sso/saml/conn_1/metadata",
            "https://l.test/sso/saml/conn_1/acs?a=1&b=2",
            &[],
            &[],
            false,
            false,
            None,
        );
        let doc = roxmltree::Document::parse(&xml).unwrap();
        assert_eq!(
            doc.root_element().attribute("entityID"),
            Some("https://l.test/sso/saml/conn_1/metadata")
        );
        assert!(xml.contains("acs?a=1&amp;b=2"));
    }

    #[test]
    fn metadata_without_a_signing_certificate_is_refused() {
        let xml = format!(
            r#"<md:EntityDescriptor xmlns:md="{MD}" entityID="https://idp.test"><md:IDPSSODescriptor><md:SingleSignOnService Binding="{REDIRECT}" Location="https://idp.test/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
        );
        let e = parse_idp_metadata(&xml).unwrap_err();
        assert!(e.contains("no signing certificate"), "{e}");
    }

    #[test]
    fn sp_metadata_is_not_mistaken_for_idp_metadata() {
        let e = parse_idp_metadata(&sp_metadata(
            "a",
            "b",
            &["MIIB".into()],
            &["MIIC".into()],
            true,
            true,
            Some("https://l.test/slo"),
        ))
        .unwrap_err();
        assert!(e.contains("IDPSSODescriptor"), "{e}");
    }
}
