//! The AuthnRequest Lanyard sends (HTTP-Redirect binding). Unsigned by default (the ACS is pinned
//! in the IdP's app and the response is checked against the pending request id); signed with the
//! connection's SP key when the IdP wants signed requests (SAML bindings §3.4.4.1: the signature
//! covers `SAMLRequest=…&RelayState=…&SigAlg=…` exactly as the query string carries them).

use std::io::Write as _;

use base64::Engine as _;

use super::{format_instant, xml_escape, NAME_ID_EMAIL, NS_ASSERTION, NS_PROTOCOL};

/// Builds the AuthnRequest XML.
pub fn authn_request(
    id: &str,
    now_ms: i64,
    sp_entity_id: &str,
    acs_url: &str,
    destination: &str,
    force_authn: bool,
) -> String {
    let force = if force_authn {
        r#" ForceAuthn="true""#
    } else {
        ""
    };
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="{NS_PROTOCOL}" xmlns:saml="{NS_ASSERTION}" ID="{id}" Version="2.0" IssueInstant="{at}" Destination="{dest}" AssertionConsumerServiceURL="{acs}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"{force}><saml:Issuer>{issuer}</saml:Issuer><samlp:NameIDPolicy Format="{NAME_ID_EMAIL}" AllowCreate="true"/></samlp:AuthnRequest>"#,
        id = xml_escape(id),
        at = format_instant(now_ms),
        dest = xml_escape(destination),
        acs = xml_escape(acs_url),
        issuer = xml_escape(sp_entity_id),
    )
}

/// RSA-SHA256, the one signature algorithm Lanyard signs requests with.
pub const SIG_ALG_RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/// The IdP URL with `SAMLRequest` (raw DEFLATE, base64) and `RelayState`.
pub fn redirect_url(sso_url: &str, request_xml: &str, relay_state: &str) -> Result<String, String> {
    message_url(sso_url, SAML_REQUEST, request_xml, Some(relay_state), None)
}

/// The same, signed with `key` (RSA-SHA256): `SigAlg` and `Signature` follow `RelayState`.
pub fn signed_redirect_url(
    sso_url: &str,
    request_xml: &str,
    relay_state: &str,
    key: &openssl::pkey::PKeyRef<openssl::pkey::Private>,
) -> Result<String, String> {
    message_url(
        sso_url,
        SAML_REQUEST,
        request_xml,
        Some(relay_state),
        Some(key),
    )
}

/// Signs a SAML message Lanyard wrote (its root carries `ID` and a `saml:Issuer` first child)
/// with an enveloped XML signature, for the HTTP-POST binding: exclusive canonicalization,
/// RSA-SHA256 over SHA-256, the Signature right after the Issuer (where the schema puts it) and
/// the signing certificate in KeyInfo (IdPs verify with the one they pinned from Lanyard's SP
/// metadata).
pub fn sign_enveloped(
    xml: &str,
    key: &openssl::pkey::PKeyRef<openssl::pkey::Private>,
    certificate_b64: &str,
) -> Result<String, String> {
    use super::c14n::{canonicalize, Canonicalization, EXC_C14N};
    use super::NS_DSIG;
    const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
    const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let exc = Canonicalization::from_uri(EXC_C14N, None).ok_or("exclusive c14n")?;
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("cannot sign: {e}"))?;
    let root = doc.root_element();
    let id = root
        .attribute("ID")
        .ok_or("cannot sign: the message has no ID")?;
    let mut canonical = Vec::with_capacity(xml.len());
    canonicalize(root, None, &exc, &mut canonical)?;
    let digest = openssl::hash::hash(openssl::hash::MessageDigest::sha256(), &canonical)
        .map_err(|e| e.to_string())?;
    let signed_info = format!(
        r##"<ds:SignedInfo xmlns:ds="{NS_DSIG}"><ds:CanonicalizationMethod Algorithm="{EXC_C14N}"></ds:CanonicalizationMethod><ds:SignatureMethod Algorithm="{SIG_ALG_RSA_SHA256}"></ds:SignatureMethod><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="{ENVELOPED}"></ds:Transform><ds:Transform Algorithm="{EXC_C14N}"></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm="{SHA256}"></ds:DigestMethod><ds:DigestValue>{digest}</ds:DigestValue></ds:Reference></ds:SignedInfo>"##,
        id = super::xml_escape(id),
        digest = b64(&digest),
    );
    // In place, SignedInfo's exclusive canonical form is the same as on its own: `ds` is the
    // only namespace it uses, declared on it either way.
    let si_doc = roxmltree::Document::parse(&signed_info).map_err(|e| e.to_string())?;
    canonical.clear();
    canonicalize(si_doc.root_element(), None, &exc, &mut canonical)?;
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), key)
        .map_err(|e| format!("cannot sign: {e}"))?;
    let value = signer
        .sign_oneshot_to_vec(&canonical)
        .map_err(|e| format!("cannot sign: {e}"))?;
    let signed_info = signed_info.replacen(&format!(r#" xmlns:ds="{NS_DSIG}""#), "", 1);
    let signature = format!(
        r#"<ds:Signature xmlns:ds="{NS_DSIG}">{signed_info}<ds:SignatureValue>{value}</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{certificate_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"#,
        value = b64(&value),
    );
    let issuer_end = xml
        .find("</saml:Issuer>")
        .ok_or("cannot sign: the message has no saml:Issuer")?
        + "</saml:Issuer>".len();
    Ok(format!(
        "{}{signature}{}",
        &xml[..issuer_end],
        &xml[issuer_end..]
    ))
}

/// The HTTP-POST binding's `SAMLRequest` value: the message base64-encoded (no compression).
pub fn post_value(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml.as_bytes())
}

/// The query parameter of a request message.
pub const SAML_REQUEST: &str = "SAMLRequest";
/// The query parameter of a response message.
pub const SAML_RESPONSE: &str = "SAMLResponse";

/// Any SAML message by HTTP-Redirect (`param` is [`SAML_REQUEST`] or [`SAML_RESPONSE`]): the
/// message deflated and base64-encoded, `RelayState` when there is one, and with `key` the
/// RSA-SHA256 `SigAlg` and `Signature` over exactly those query bytes.
pub fn message_url(
    url: &str,
    param: &str,
    xml: &str,
    relay_state: Option<&str>,
    key: Option<&openssl::pkey::PKeyRef<openssl::pkey::Private>>,
) -> Result<String, String> {
    let mut query = message_query(param, xml, relay_state)?;
    if let Some(key) = key {
        query.push_str("&SigAlg=");
        query.push_str(&encode(SIG_ALG_RSA_SHA256));
        let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), key)
            .map_err(|e| format!("cannot sign the SAML message: {e}"))?;
        let signature = signer
            .sign_oneshot_to_vec(query.as_bytes())
            .map_err(|e| format!("cannot sign the SAML message: {e}"))?;
        query.push_str("&Signature=");
        query.push_str(&encode(
            &base64::engine::general_purpose::STANDARD.encode(signature),
        ));
    }
    append_query(url, &query)
}

fn encode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// `SAMLRequest=…&RelayState=…`, each value form-encoded: the exact bytes a signature covers.
fn message_query(param: &str, xml: &str, relay_state: Option<&str>) -> Result<String, String> {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(xml.as_bytes()).map_err(|e| e.to_string())?;
    let deflated = enc.finish().map_err(|e| e.to_string())?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(deflated);
    let mut q = format!("{param}={}", encode(&b64));
    if let Some(rs) = relay_state {
        q.push_str("&RelayState=");
        q.push_str(&encode(rs));
    }
    Ok(q)
}

/// `sso_url` with `query` after any query it already has.
pub(crate) fn append_query(sso_url: &str, query: &str) -> Result<String, String> {
    let mut url =
        url::Url::parse(sso_url).map_err(|_| format!("the IdP SSO URL {sso_url} is not a URL"))?;
    let joined = match url.query() {
        Some(q) if !q.is_empty() => format!("{q}&{query}"),
        _ => query.to_owned(),
    };
    url.set_query(Some(&joined));
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn force_authn_is_asked_only_when_wanted() {
        let args = (
            "_r1",
            0,
            "https://sp/metadata",
            "https://sp/acs",
            "https://idp/sso",
        );
        let plain = authn_request(args.0, args.1, args.2, args.3, args.4, false);
        let forced = authn_request(args.0, args.1, args.2, args.3, args.4, true);
        assert!(!plain.contains("ForceAuthn"));
        assert!(forced.contains(r#" ForceAuthn="true""#), "{forced}");
    }

    #[test]
    fn redirect_url_carries_a_deflated_request_and_the_relay_state() {
        let xml = authn_request(
            "_r1",
            0,
            "https://sp/metadata",
            "https://sp/acs",
            "https://idp/sso",
            false,
        );
        let url =
            url::Url::parse(&redirect_url("https://idp/sso?x=1", &xml, "st").unwrap()).unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["x"], "1");
        assert_eq!(q["RelayState"], "st");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&q["SAMLRequest"])
            .unwrap();
        let mut out = String::new();
        flate2::read::DeflateDecoder::new(&raw[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, xml);
        assert!(roxmltree::Document::parse(&out).is_ok());
    }

    #[test]
    fn a_signed_request_verifies_over_the_exact_query_bytes() {
        use openssl::{hash::MessageDigest, pkey::PKey, rsa::Rsa, sign::Verifier};
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let xml = authn_request(
            "_r1",
            0,
            "https://sp/m",
            "https://sp/acs",
            "https://idp/sso",
            false,
        );
        let url = signed_redirect_url("https://idp/sso?tenant=a b", &xml, "st+/=", &key).unwrap();
        let query = url::Url::parse(&url).unwrap().query().unwrap().to_owned();
        // The IdP's own parameter stays first and untouched by the signature.
        assert!(query.starts_with("tenant=a%20b&SAMLRequest="), "{query}");
        let signed =
            &query[query.find("SAMLRequest=").unwrap()..query.find("&Signature=").unwrap()];
        assert!(signed.contains("&RelayState=st%2B%2F%3D&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256"), "{signed}");
        let sig = url::Url::parse(&url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "Signature")
            .unwrap()
            .1
            .into_owned();
        let sig = base64::engine::general_purpose::STANDARD
            .decode(sig)
            .unwrap();
        let verify = |bytes: &[u8]| {
            let mut v = Verifier::new(MessageDigest::sha256(), &key).unwrap();
            v.verify_oneshot(&sig, bytes).unwrap()
        };
        assert!(verify(signed.as_bytes()));
        // Any other RelayState (or order) does not verify.
        assert!(!verify(signed.replace("st%2B", "su%2B").as_bytes()));
    }

    #[test]
    fn an_enveloped_signature_verifies_and_covers_the_whole_request() {
        use crate::server::protocol::saml::dsig::{self, PinnedCertificate};
        let k =
            crate::server::protocol::saml::sp_key::generate("sp", 1_700_000_000_000, 10).unwrap();
        let key = openssl::pkey::PKey::private_key_from_pem(k.private_pem.as_bytes()).unwrap();
        let cert_b64 = base64::engine::general_purpose::STANDARD.encode(&k.certificate_der);
        let xml = authn_request(
            "_r1",
            0,
            "https://sp/m",
            "https://sp/acs",
            "https://idp/sso",
            false,
        );
        let signed = sign_enveloped(&xml, &key, &cert_b64).unwrap();
        let pinned = [PinnedCertificate::from_der(&k.certificate_der).unwrap()];
        let check = |xml: &str| {
            let doc = roxmltree::Document::parse(xml).unwrap();
            let sig = doc
                .descendants()
                .find(|n| n.tag_name().name() == "Signature")
                .unwrap();
            let ids = dsig::Ids::of(&doc);
            let mut scratch = Vec::new();
            dsig::verify(sig, &ids, &pinned, &mut scratch)
                .map(|covered| covered == doc.root_element() && sig.parent() == Some(covered))
        };
        assert_eq!(check(&signed), Ok(true), "{signed}");
        // libxmlsec1 (Debian's xmlsec1, another implementation) verifies it too.
        let dir = std::env::temp_dir().join(format!("lanyard-sign-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("req.xml"), &signed).unwrap();
        std::fs::write(
            dir.join("cert.pem"),
            crate::server::protocol::saml::metadata::to_pem(&k.certificate_der),
        )
        .unwrap();
        let out = std::process::Command::new("xmlsec1")
            .args([
                "--verify",
                "--enabled-reference-uris",
                "same-doc",
                "--id-attr:ID",
            ])
            .arg("urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest")
            .arg("--pubkey-cert-pem")
            .arg(dir.join("cert.pem"))
            .arg(dir.join("req.xml"))
            .output()
            .expect("xmlsec1");
        std::fs::remove_dir_all(&dir).ok();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The Signature sits right after the Issuer, as the schema wants.
        assert!(signed.contains("</saml:Issuer><ds:Signature"), "{signed}");
        // Any change to the signed request breaks it.
        let changed = signed.replace("https://sp/acs", "https://evil/acs");
        assert!(check(&changed).is_err());
    }
}
