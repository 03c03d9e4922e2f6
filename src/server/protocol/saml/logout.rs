//! Single logout (SAML Profiles §4.4): the LogoutRequest and LogoutResponse Lanyard sends by
//! HTTP-Redirect, always signed with the connection's SP signing key, and the validation of the
//! ones an IdP sends by HTTP-Redirect (signature over the query bytes) or HTTP-POST (enveloped
//! signature on the message). An unsigned logout message is never believed: anyone could
//! otherwise sign every user of a tenant out.

use std::io::Read as _;

use base64::Engine as _;

use super::dsig::{self, PinnedCertificate};
use super::{
    child, children, format_instant, full_text, is, parse_instant, refuse_deep_nesting, refuse_dtd,
    trim_xml_space, xml_escape, NS_ASSERTION as A, NS_DSIG as DS, NS_PROTOCOL as P,
};

/// The status of a LogoutResponse that reports success.
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
/// The status Lanyard answers when the request itself is at fault.
pub const STATUS_REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";

/// Largest decoded (and inflated) logout message accepted.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// How far in the past a message's IssueInstant may be (besides the clock skew).
pub const MAX_AGE_MS: i64 = 5 * 60_000;

/// A LogoutRequest Lanyard sends: the subject exactly as the IdP asserted it at sign-in.
pub fn logout_request(
    id: &str,
    now_ms: i64,
    issuer: &str,
    destination: &str,
    name_id: &str,
    name_id_format: Option<&str>,
    session_index: Option<&str>,
) -> String {
    let format = name_id_format
        .map(|f| format!(r#" Format="{}""#, xml_escape(f)))
        .unwrap_or_default();
    let index = session_index
        .map(|s| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", xml_escape(s)))
        .unwrap_or_default();
    format!(
        r#"<samlp:LogoutRequest xmlns:samlp="{P}" xmlns:saml="{A}" ID="{id}" Version="2.0" IssueInstant="{at}" Destination="{dest}" NotOnOrAfter="{until}"><saml:Issuer>{issuer}</saml:Issuer><saml:NameID{format}>{name_id}</saml:NameID>{index}</samlp:LogoutRequest>"#,
        id = xml_escape(id),
        at = format_instant(now_ms),
        until = format_instant(now_ms + MAX_AGE_MS),
        dest = xml_escape(destination),
        issuer = xml_escape(issuer),
        name_id = xml_escape(name_id),
    )
}

/// The LogoutResponse Lanyard answers an IdP's LogoutRequest with.
pub fn logout_response(
    id: &str,
    now_ms: i64,
    issuer: &str,
    destination: &str,
    in_response_to: &str,
    status: &str,
) -> String {
    format!(
        r#"<samlp:LogoutResponse xmlns:samlp="{P}" xmlns:saml="{A}" ID="{id}" Version="2.0" IssueInstant="{at}" Destination="{dest}" InResponseTo="{irt}"><saml:Issuer>{issuer}</saml:Issuer><samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status></samlp:LogoutResponse>"#,
        id = xml_escape(id),
        at = format_instant(now_ms),
        dest = xml_escape(destination),
        irt = xml_escape(in_response_to),
        issuer = xml_escape(issuer),
        status = xml_escape(status),
    )
}

/// What is trusted when an IdP's logout message arrives.
pub struct Trust<'a> {
    pub idp_entity_id: &'a str,
    /// Lanyard's SLO URL of the connection: the message's Destination.
    pub slo_url: &'a str,
    pub certificates: &'a [PinnedCertificate],
    /// The connection's SP encryption keys (an IdP may encrypt the NameID: EncryptedID).
    pub decryption_keys: &'a [super::xmlenc::DecryptionKey],
    pub skew_ms: i64,
    pub now_ms: i64,
}

/// How the message came.
pub enum Binding<'a> {
    /// The raw query string of a GET, as sent (the signature covers its bytes).
    Redirect(&'a str),
    /// The form of a POST: `SAMLRequest` or `SAMLResponse` (plain base64) and `RelayState`.
    Post {
        request: Option<&'a str>,
        response: Option<&'a str>,
        relay_state: Option<&'a str>,
    },
}

/// A verified LogoutRequest from the IdP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    pub id: String,
    pub name_id: String,
    pub name_id_format: Option<String>,
    /// Empty: every session of the subject.
    pub session_indexes: Vec<String>,
    /// Until when the request id is remembered against replay.
    pub replay_until_ms: i64,
}

/// A verified LogoutResponse from the IdP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutResponse {
    pub in_response_to: String,
    pub status: String,
}

/// A verified logout message and the RelayState that came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Request(LogoutRequest, Option<String>),
    Response(LogoutResponse, Option<String>),
}

/// Why a logout message was not believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `malformed`, `unsigned`, `signature_invalid`, `issuer_mismatch`,
    /// `destination_mismatch`, `expired`, `no_name_id`.
    pub code: &'static str,
    pub message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

/// The raw (still URL-encoded) value of each SAML parameter of a query; a parameter given twice
/// is refused, since which one a signature covers would be ambiguous.
fn raw_params(query: &str) -> Result<Vec<(&str, &str)>, Refusal> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        if matches!(
            k,
            "SAMLRequest" | "SAMLResponse" | "RelayState" | "SigAlg" | "Signature"
        ) {
            if out.iter().any(|(seen, _)| *seen == k) {
                return Err(refuse("malformed", format!("the query carries {k} twice")));
            }
            out.push((k, v));
        }
    }
    Ok(out)
}

fn url_decode(v: &str) -> String {
    url::form_urlencoded::parse(format!("v={v}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn base64_decode(v: &str) -> Result<Vec<u8>, Refusal> {
    let compact: String = v.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.len() > MAX_MESSAGE_BYTES * 4 / 3 + 4 {
        return Err(refuse("malformed", "the logout message is too large"));
    }
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| refuse("malformed", "the logout message is not valid base64"))
}

fn inflate(raw: &[u8]) -> Result<String, Refusal> {
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(raw)
        .take(MAX_MESSAGE_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| refuse("malformed", "the logout message is not DEFLATE-compressed"))?;
    if out.len() > MAX_MESSAGE_BYTES {
        return Err(refuse("malformed", "the logout message is too large"));
    }
    String::from_utf8(out).map_err(|_| refuse("malformed", "the logout message is not UTF-8"))
}

/// Verifies and reads an IdP's logout message. Every check passes or nothing is believed.
pub fn verify(binding: Binding, trust: &Trust) -> Result<Message, Refusal> {
    if trust.certificates.is_empty() {
        return Err(refuse(
            "signature_invalid",
            "the connection has no IdP signing certificate",
        ));
    }
    let (xml, is_request, relay_state, query_signed) = match binding {
        Binding::Redirect(query) => {
            let params = raw_params(query)?;
            let get = |k: &str| params.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
            let (param, value, is_request) = match (get("SAMLRequest"), get("SAMLResponse")) {
                (Some(v), None) => ("SAMLRequest", v, true),
                (None, Some(v)) => ("SAMLResponse", v, false),
                _ => {
                    return Err(refuse(
                        "malformed",
                        "exactly one of SAMLRequest and SAMLResponse is expected",
                    ))
                }
            };
            let (Some(sig_alg), Some(signature)) = (get("SigAlg"), get("Signature")) else {
                return Err(refuse(
                    "unsigned",
                    "the logout message carries no signature (SigAlg and Signature); Lanyard accepts only signed logout messages",
                ));
            };
            // SAML bindings §3.4.4.1: the signed octets are the parameters as sent, in this order.
            let mut signed = format!("{param}={value}");
            if let Some(rs) = get("RelayState") {
                signed.push_str("&RelayState=");
                signed.push_str(rs);
            }
            signed.push_str("&SigAlg=");
            signed.push_str(sig_alg);
            let signature = base64_decode(&url_decode(signature))?;
            dsig::verify_detached(
                trust.certificates,
                &url_decode(sig_alg),
                signed.as_bytes(),
                &signature,
            )
            .map_err(|m| refuse("signature_invalid", m))?;
            let xml = inflate(&base64_decode(&url_decode(value))?)?;
            (xml, is_request, get("RelayState").map(url_decode), true)
        }
        Binding::Post {
            request,
            response,
            relay_state,
        } => {
            let (value, is_request) = match (request, response) {
                (Some(v), None) => (v, true),
                (None, Some(v)) => (v, false),
                _ => {
                    return Err(refuse(
                        "malformed",
                        "exactly one of SAMLRequest and SAMLResponse is expected",
                    ))
                }
            };
            let xml = String::from_utf8(base64_decode(value)?)
                .map_err(|_| refuse("malformed", "the logout message is not UTF-8"))?;
            (xml, is_request, relay_state.map(str::to_owned), false)
        }
    };
    refuse_dtd(&xml).map_err(|m| refuse("malformed", m))?;
    refuse_deep_nesting(&xml).map_err(|m| refuse("malformed", m))?;
    let doc = roxmltree::Document::parse(&xml)
        .map_err(|e| refuse("malformed", format!("the logout message is not XML: {e}")))?;
    let root = doc.root_element();
    let expected = if is_request {
        "LogoutRequest"
    } else {
        "LogoutResponse"
    };
    if !is(&root, P, expected) {
        return Err(refuse(
            "malformed",
            format!(
                "expected a samlp:{expected}, received <{}>",
                root.tag_name().name()
            ),
        ));
    }
    if root.descendants().any(|n| n.is_comment()) {
        return Err(refuse(
            "malformed",
            "the logout message contains an XML comment, which IdPs never send",
        ));
    }
    let signatures: Vec<_> = doc
        .descendants()
        .filter(|n| is(n, DS, "Signature"))
        .collect();
    if !query_signed {
        // HTTP-POST: the message's own enveloped signature, and no other.
        let [sig] = signatures.as_slice() else {
            return Err(refuse(
                "unsigned",
                "the logout message must carry exactly one signature, on the message itself",
            ));
        };
        let ids = dsig::Ids::of(&doc);
        let mut scratch = Vec::with_capacity(xml.len());
        let covered = dsig::verify(*sig, &ids, trust.certificates, &mut scratch)
            .map_err(|m| refuse("signature_invalid", m))?;
        if covered != root || sig.parent() != Some(root) {
            return Err(refuse(
                "signature_invalid",
                "the signature does not cover the logout message itself",
            ));
        }
    } else if !signatures.is_empty() {
        return Err(refuse(
            "malformed",
            "a redirected logout message carries its signature in the query, not in the XML",
        ));
    }
    let issuer = child(root, A, "Issuer").map(full_text).unwrap_or_default();
    if issuer != trust.idp_entity_id {
        return Err(refuse(
            "issuer_mismatch",
            format!(
                "the logout message comes from {issuer:?}, not from this connection's IdP {}",
                trust.idp_entity_id
            ),
        ));
    }
    // SAML bindings §3.4.5.2 / §3.5.5.2: a signed message names where it was sent.
    let destination = root.attribute("Destination").unwrap_or("");
    if destination != trust.slo_url {
        return Err(refuse(
            "destination_mismatch",
            format!(
                "the logout message was sent to {destination:?}, not to this connection's logout URL {}",
                trust.slo_url
            ),
        ));
    }
    let issued = root
        .attribute("IssueInstant")
        .and_then(parse_instant)
        .ok_or_else(|| refuse("malformed", "the logout message has no valid IssueInstant"))?;
    if issued > trust.now_ms + trust.skew_ms || issued < trust.now_ms - trust.skew_ms - MAX_AGE_MS {
        return Err(refuse(
            "expired",
            "the logout message was issued too long ago (or in the future); check the IdP's clock",
        ));
    }
    if !is_request {
        let status = child(root, P, "Status")
            .and_then(|s| child(s, P, "StatusCode"))
            .and_then(|c| c.attribute("Value"))
            .unwrap_or("")
            .to_owned();
        return Ok(Message::Response(
            LogoutResponse {
                in_response_to: root.attribute("InResponseTo").unwrap_or("").to_owned(),
                status,
            },
            relay_state,
        ));
    }
    let id = root.attribute("ID").unwrap_or("").to_owned();
    if id.is_empty() || id.len() > 256 {
        return Err(refuse("malformed", "the LogoutRequest has no usable ID"));
    }
    if let Some(until) = root.attribute("NotOnOrAfter") {
        let until = parse_instant(until)
            .ok_or_else(|| refuse("malformed", "NotOnOrAfter is not a date-time"))?;
        if trust.now_ms - trust.skew_ms >= until {
            return Err(refuse(
                "expired",
                "the LogoutRequest has expired (NotOnOrAfter)",
            ));
        }
    }
    let read = |n: roxmltree::Node| {
        (
            trim_xml_space(&full_text(n)).to_owned(),
            n.attribute("Format").map(str::to_owned),
        )
    };
    let (subject, name_id_format) =
        match (child(root, A, "NameID"), child(root, A, "EncryptedID")) {
            (Some(n), None) => read(n),
            (None, Some(enc)) => {
                super::response::open_element(enc, "NameID", trust.decryption_keys, read).map_err(
                    |f| Refusal {
                        code: f.code,
                        message: f.message,
                    },
                )?
            }
            _ => return Err(refuse(
                "no_name_id",
                "the LogoutRequest must name its subject by one saml:NameID or saml:EncryptedID",
            )),
        };
    if subject.is_empty() {
        return Err(refuse("no_name_id", "the LogoutRequest's NameID is empty"));
    }
    Ok(Message::Request(
        LogoutRequest {
            id,
            name_id: subject,
            name_id_format,
            session_indexes: children(root, P, "SessionIndex")
                .map(|s| trim_xml_space(&full_text(s)).to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            replay_until_ms: issued + trust.skew_ms + MAX_AGE_MS,
        },
        relay_state,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::protocol::saml::request::{message_url, SAML_REQUEST};
    use openssl::pkey::PKey;

    const IDP: &str = "https://idp.test/metadata";
    const SLO: &str = "https://sp.test/sso/saml/conn_1/slo";

    fn keypair() -> (PKey<openssl::pkey::Private>, PinnedCertificate) {
        let k = super::super::sp_key::generate("idp", 1_700_000_000_000, 10).unwrap();
        (
            PKey::private_key_from_pem(k.private_pem.as_bytes()).unwrap(),
            PinnedCertificate::from_der(&k.certificate_der).unwrap(),
        )
    }

    fn request_xml(now: i64) -> String {
        logout_request("_lr1", now, IDP, SLO, "dana@acme.test", None, Some("_s1"))
    }

    fn query(url: &str) -> String {
        url::Url::parse(url).unwrap().query().unwrap().to_owned()
    }

    /// The trust of the tests' connection: `certs` pinned, no SP decryption key.
    fn trust(certs: &[PinnedCertificate], now: i64) -> Trust<'_> {
        Trust {
            idp_entity_id: IDP,
            slo_url: SLO,
            certificates: certs,
            decryption_keys: &[],
            skew_ms: 60_000,
            now_ms: now,
        }
    }

    #[test]
    fn a_signed_redirect_request_verifies_and_any_change_does_not() {
        let now = 1_800_000_000_000;
        let (key, cert) = keypair();
        let certs = [cert];
        let trust = trust(&certs, now);
        let url =
            message_url(SLO, SAML_REQUEST, &request_xml(now), Some("rs"), Some(&key)).unwrap();
        let q = query(&url);
        match verify(Binding::Redirect(&q), &trust).unwrap() {
            Message::Request(r, rs) => {
                assert_eq!(r.name_id, "dana@acme.test");
                assert_eq!(r.session_indexes, vec!["_s1".to_owned()]);
                assert_eq!(rs.as_deref(), Some("rs"));
            }
            m => panic!("{m:?}"),
        }
        // Another RelayState, no signature, another key, a second SAMLRequest: all refused.
        let tampered = q.replace("RelayState=rs", "RelayState=rt");
        assert_eq!(
            verify(Binding::Redirect(&tampered), &trust)
                .unwrap_err()
                .code,
            "signature_invalid"
        );
        let unsigned = &q[..q.find("&SigAlg=").unwrap()];
        assert_eq!(
            verify(Binding::Redirect(unsigned), &trust)
                .unwrap_err()
                .code,
            "unsigned"
        );
        let (_, other) = keypair();
        let others = [other];
        let t2 = Trust {
            certificates: &others,
            ..trust
        };
        assert_eq!(
            verify(Binding::Redirect(&q), &t2).unwrap_err().code,
            "signature_invalid"
        );
        let twice = format!("{q}&SAMLRequest=x");
        assert_eq!(
            verify(Binding::Redirect(&twice), &trust).unwrap_err().code,
            "malformed"
        );
    }

    #[test]
    fn issuer_destination_and_time_are_checked() {
        let now = 1_800_000_000_000;
        let (key, cert) = keypair();
        let certs = [cert];
        let trust = trust(&certs, now);
        let signed =
            |xml: &str| query(&message_url(SLO, SAML_REQUEST, xml, None, Some(&key)).unwrap());
        let other_issuer =
            logout_request("_a", now, "https://evil.test", SLO, "d@a.test", None, None);
        assert_eq!(
            verify(Binding::Redirect(&signed(&other_issuer)), &trust)
                .unwrap_err()
                .code,
            "issuer_mismatch"
        );
        let other_dest = logout_request(
            "_a",
            now,
            IDP,
            "https://sp.test/sso/saml/conn_2/slo",
            "d@a.test",
            None,
            None,
        );
        assert_eq!(
            verify(Binding::Redirect(&signed(&other_dest)), &trust)
                .unwrap_err()
                .code,
            "destination_mismatch"
        );
        let old = logout_request("_a", now - 10 * 60_000, IDP, SLO, "d@a.test", None, None);
        assert_eq!(
            verify(Binding::Redirect(&signed(&old)), &trust)
                .unwrap_err()
                .code,
            "expired"
        );
        let response = logout_response("_r", now, IDP, SLO, "_lr1", STATUS_SUCCESS);
        let q =
            query(&message_url(SLO, "SAMLResponse", &response, Some("st"), Some(&key)).unwrap());
        assert_eq!(
            verify(Binding::Redirect(&q), &trust).unwrap(),
            Message::Response(
                LogoutResponse {
                    in_response_to: "_lr1".into(),
                    status: STATUS_SUCCESS.into()
                },
                Some("st".into())
            )
        );
    }

    #[test]
    fn an_unsigned_post_is_refused() {
        let now = 1_800_000_000_000;
        let (_, cert) = keypair();
        let certs = [cert];
        let trust = trust(&certs, now);
        let b64 = base64::engine::general_purpose::STANDARD.encode(request_xml(now));
        let e = verify(
            Binding::Post {
                request: Some(&b64),
                response: None,
                relay_state: None,
            },
            &trust,
        )
        .unwrap_err();
        assert_eq!(e.code, "unsigned");
    }

    /// An IdP that encrypts the NameID (EncryptedID, by Debian's xmlsec1 to the vectors' SP
    /// encryption certificate): Lanyard opens it with the connection's key; without the key
    /// it is refused.
    #[test]
    fn an_encrypted_name_id_is_opened_with_the_sp_key() {
        use crate::server::protocol::saml::xmlenc::DecryptionKey;
        let now = 1_800_000_000_000;
        let (key, cert) = keypair();
        let certs = [cert];
        let vectors =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/saml/keys");
        let dir = std::env::temp_dir().join(format!("lanyard-slo-encid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plain = request_xml(now).replace(
            r#"<saml:NameID>dana@acme.test</saml:NameID>"#,
            r#"<saml:EncryptedID><saml:NameID>dana@acme.test</saml:NameID></saml:EncryptedID>"#,
        );
        assert!(plain.contains("EncryptedID"));
        std::fs::write(dir.join("data.xml"), &plain).unwrap();
        std::fs::write(
            dir.join("tmpl.xml"),
            r#"<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>"#,
        )
        .unwrap();
        let out = std::process::Command::new("xmlsec1")
            .arg("--encrypt")
            .arg("--pubkey-cert-pem")
            .arg(vectors.join("sp_enc.crt"))
            .args(["--session-key", "aes-256", "--xml-data"])
            .arg(dir.join("data.xml"))
            .args(["--node-xpath", "//*[local-name()='NameID']", "--output"])
            .arg(dir.join("out.xml"))
            .arg(dir.join("tmpl.xml"))
            .output()
            .expect("xmlsec1");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let encrypted = std::fs::read_to_string(dir.join("out.xml")).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        assert!(!encrypted.contains("dana@acme.test"), "{encrypted}");
        let q = query(&message_url(SLO, SAML_REQUEST, &encrypted, None, Some(&key)).unwrap());
        let sp_key = DecryptionKey {
            id: "spkey_1".into(),
            key: openssl::pkey::PKey::private_key_from_pem(
                &std::fs::read(vectors.join("sp_enc.key")).unwrap(),
            )
            .unwrap(),
        };
        let keys = [sp_key];
        let trust = Trust {
            decryption_keys: &keys,
            ..trust(&certs, now)
        };
        match verify(Binding::Redirect(&q), &trust).unwrap() {
            Message::Request(r, _) => assert_eq!(r.name_id, "dana@acme.test"),
            m => panic!("{m:?}"),
        }
        let without = Trust {
            decryption_keys: &[],
            ..trust
        };
        assert_eq!(
            verify(Binding::Redirect(&q), &without).unwrap_err().code,
            "encrypted_assertion"
        );
    }
}
