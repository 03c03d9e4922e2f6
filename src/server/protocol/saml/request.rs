//! The AuthnRequest Lanyard sends (HTTP-Redirect binding, unsigned: the ACS is pinned in the
//! IdP's app and the response is checked against the pending request id).

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

/// The IdP URL with `SAMLRequest` (raw DEFLATE, base64) and `RelayState`.
pub fn redirect_url(sso_url: &str, request_xml: &str, relay_state: &str) -> Result<String, String> {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(request_xml.as_bytes())
        .map_err(|e| e.to_string())?;
    let deflated = enc.finish().map_err(|e| e.to_string())?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(deflated);
    let mut url =
        url::Url::parse(sso_url).map_err(|_| format!("the IdP SSO URL {sso_url} is not a URL"))?;
    url.query_pairs_mut()
        .append_pair("SAMLRequest", &b64)
        .append_pair("RelayState", relay_state);
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
}
