//! Validation of a SAML Response posted to the ACS.
//!
//! Order of checks (each failure has a stable code, see [`Failure`]):
//! DTD → well-formed Response → exactly one Assertion anywhere → Status → a signature on the
//! Response or the Assertion → signature algorithms → every signature verified against the
//! pinned certificates only ([`dsig`]), one of them covering the Assertion → Issuer →
//! Destination → Audience → time window → bearer SubjectConfirmation and Recipient →
//! InResponseTo / IdP-initiated. The document is parsed once; the identity is read from the very
//! Assertion element whose digest was checked.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Serialize;
use serde_json::json;

use super::dsig::{self, PinnedCertificate};
use super::{child, children, full_text, is, parse_instant, refuse_deep_nesting, refuse_dtd};
use super::{NS_ASSERTION as A, NS_DSIG as DS, NS_PROTOCOL as P};

/// Largest decoded Response accepted.
pub const MAX_RESPONSE_BYTES: usize = 512 * 1024;

const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

const SIGNATURE_ALGORITHMS: [&str; 6] = [
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
];

/// What the SP trusts about one connection, pinned at configuration time.
#[derive(Debug, Clone)]
pub struct Trust {
    pub sp_entity_id: String,
    pub acs_url: String,
    pub idp_entity_id: String,
    /// The pinned certificates, decoded; a signature must verify with one of them. Never empty
    /// at validation.
    pub certificates: Vec<PinnedCertificate>,
    /// Allowed clock difference with the IdP.
    pub skew_ms: i64,
    pub allow_idp_initiated: bool,
    /// Lanyard's SP encryption keys of the connection (an EncryptedAssertion must open with one).
    pub decryption_keys: Vec<super::xmlenc::DecryptionKey>,
    /// Refuse a plain (unencrypted) Assertion.
    pub require_encrypted: bool,
    /// Refuse an Assertion that does not carry its own signature (WantAssertionsSigned).
    pub require_assertion_signed: bool,
}

/// One validation: the trusted configuration, the clock and the pending request, if any.
#[derive(Debug, Clone)]
pub struct Validation<'a> {
    pub trust: &'a Trust,
    pub now_ms: i64,
    /// The AuthnRequest ID the SP is waiting for (SP-initiated), `None` for IdP-initiated.
    pub expected_request_id: Option<&'a str>,
}

/// A validated assertion: only values from signed bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assertion {
    pub id: String,
    pub issuer: String,
    pub name_id: String,
    pub name_id_format: Option<String>,
    pub session_index: Option<String>,
    pub in_response_to: Option<String>,
    /// Attribute name → values, in document order of values.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// Until when the assertion id must be remembered against replay.
    pub replay_until_ms: i64,
    /// `response`, `assertion` or `both`.
    pub signed: String,
    /// The SP key (`spkey_…`) that decrypted an EncryptedAssertion; `None` when it came plain.
    pub decrypted_with: Option<String>,
}

/// Why a Response was refused, with evidence an admin can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// Stable code: `dtd_forbidden`, `malformed`, `assertion_count`, `status_not_success`,
    /// `encrypted_assertion`, `unsigned`, `signature_algorithm`, `xml_comment`, `no_certificate`,
    /// `signature_invalid`, `issuer_mismatch`, `destination_mismatch`, `audience_mismatch`,
    /// `not_yet_valid`, `expired`, `subject_confirmation`, `recipient_mismatch`,
    /// `in_response_to_mismatch`, `unsolicited`, `no_name_id`, `decryption_failed`,
    /// `encryption_algorithm`, `unencrypted`.
    pub code: &'static str,
    pub message: String,
    /// Expected and received values where there are some.
    pub evidence: serde_json::Value,
}

fn fail(code: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
        evidence: json!({}),
    }
}

fn mismatch(code: &'static str, what: &str, expected: &str, received: &str) -> Failure {
    Failure {
        code,
        message: format!("{what}: expected {expected}, the IdP sent {received}"),
        evidence: json!({ "expected": expected, "received": received }),
    }
}

/// Decodes the `SAMLResponse` form field (base64; line breaks tolerated).
pub fn decode_post(value: &str) -> Result<String, Failure> {
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.len() > MAX_RESPONSE_BYTES * 4 / 3 + 4 {
        return Err(fail("malformed", "the SAMLResponse is larger than 512 KiB"));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| fail("malformed", "the SAMLResponse is not valid base64"))?;
    String::from_utf8(bytes).map_err(|_| fail("malformed", "the SAMLResponse is not UTF-8 XML"))
}

/// Validates a decoded Response against the pinned trust. Never authenticates on any doubt.
pub fn validate(xml: &str, v: &Validation) -> Result<Assertion, Failure> {
    validate_doc(xml, v, None)
}

/// What decryption established about the Response whose EncryptedAssertion was replaced by its
/// plaintext before the document was validated again.
struct Opened {
    key_id: String,
    /// The Response's enveloped signature verified over the original document (it covered the
    /// ciphertext; it was taken out of the rewritten one).
    response_signed: bool,
    /// Nothing authenticated the ciphertext (AES-CBC and no verified Response signature): every
    /// failure until the Assertion's own signature has verified answers `decryption_failed`, so
    /// that no answer tells about the decrypted bytes (no padding or parsing oracle).
    uniform: bool,
}

fn decryption_failed() -> Failure {
    fail(
        "decryption_failed",
        "the encrypted assertion could not be decrypted and verified with this connection's SP encryption keys; check that the IdP encrypts to the certificate in Lanyard's SP metadata",
    )
}

fn validate_doc(xml: &str, v: &Validation, opened: Option<&Opened>) -> Result<Assertion, Failure> {
    // Until the Assertion's signature has verified, a decrypted but unauthenticated document
    // answers one failure whatever went wrong.
    let u = |e: Failure| match opened {
        Some(o) if o.uniform => decryption_failed(),
        _ => e,
    };
    refuse_dtd(xml).map_err(|m| u(fail("dtd_forbidden", m)))?;
    refuse_deep_nesting(xml).map_err(|m| u(fail("malformed", m)))?;
    let doc = roxmltree::Document::parse(xml).map_err(|e| {
        u(fail(
            "malformed",
            format!("the SAMLResponse is not well-formed XML: {e}"),
        ))
    })?;
    let root = doc.root_element();
    if !is(&root, P, "Response") {
        return Err(u(fail(
            "malformed",
            format!(
                "expected a samlp:Response, received <{}>",
                root.tag_name().name()
            ),
        )));
    }
    // Signature wrapping hides a second Assertion somewhere (Extensions, ds:Object, inside
    // another Assertion). Counting every one at any depth closes all of those doors at once.
    let assertions: Vec<_> = doc
        .descendants()
        .filter(|n| is(n, A, "Assertion") || is(n, A, "EncryptedAssertion"))
        .collect();
    let status = status_of(root);
    if assertions.is_empty() && status.0 != STATUS_SUCCESS {
        return Err(u(status_failure(&status)));
    }
    if assertions.len() != 1 {
        return Err(u(Failure {
            code: "assertion_count",
            message: format!(
                "a Response must carry exactly one Assertion; this one has {}",
                assertions.len()
            ),
            evidence: json!({ "expected": 1, "received": assertions.len() }),
        }));
    }
    if status.0 != STATUS_SUCCESS {
        return Err(u(status_failure(&status)));
    }
    let assertion = assertions[0];
    if is(&assertion, A, "EncryptedAssertion") {
        if opened.is_some() {
            // An EncryptedAssertion inside the decrypted one: never unwrapped twice.
            return Err(u(fail(
                "malformed",
                "the decrypted assertion holds another encrypted assertion",
            )));
        }
        return open_and_validate(xml, &doc, assertion, v);
    }
    if v.trust.require_encrypted && opened.is_none() {
        return Err(fail(
            "unencrypted",
            "this connection requires encrypted assertions and the IdP sent a plain one; turn on assertion encryption in the IdP with the certificate from Lanyard's SP metadata",
        ));
    }
    let pre_signed = opened.is_some_and(|o| o.response_signed);
    let response_signed = pre_signed || child(root, DS, "Signature").is_some();
    let assertion_signed = child(assertion, DS, "Signature").is_some();
    if !response_signed && !assertion_signed {
        return Err(u(fail(
            "unsigned",
            "neither the Response nor the Assertion is signed; turn on assertion signing in the IdP",
        )));
    }
    for sig in doc.descendants().filter(|n| is(n, DS, "Signature")) {
        check_algorithms(sig).map_err(u)?;
    }
    // Canonicalization drops comments, so a comment inside signed text ("dana@acme.test<!---->
    // .evil.test") leaves the signature valid while naive readers see a shorter value. IdPs
    // never emit comments in assertions: refuse, and read text whole anyway (full_text).
    if assertion.descendants().any(|n| n.is_comment()) {
        return Err(u(fail("xml_comment", "the assertion contains an XML comment; identity providers never send one, so this response was changed after signing")));
    }
    if v.trust.certificates.is_empty() {
        return Err(fail(
            "no_certificate",
            "the connection has no IdP signing certificate; add one before signing in",
        ));
    }
    let (by_response, by_assertion) = verify_signatures(xml, &doc, assertion, v).map_err(u)?;
    // The Response's signature verified over the document before decryption (it covered the
    // ciphertext of this Assertion, which sits where the EncryptedAssertion was).
    let by_response = by_response || (pre_signed && assertion.parent() == Some(root));
    let signed_by = match (by_response, by_assertion) {
        (true, true) => "both",
        (true, false) => "response",
        (false, true) => "assertion",
        (false, false) => {
            return Err(u(fail(
                "unsigned",
                "the signature covers neither the Response nor its Assertion",
            )))
        }
    };
    if v.trust.require_assertion_signed && !by_assertion {
        return Err(u(fail(
            "unsigned",
            "this connection wants signed assertions (WantAssertionsSigned) and only the Response is signed; turn on assertion signing in the IdP (Okta: Assertion Signature: Signed; Entra: Sign SAML assertion)",
        )));
    }
    let mut a = read_assertion(root, assertion, v, signed_by)?;
    a.decrypted_with = opened.map(|o| o.key_id.clone());
    Ok(a)
}

/// Verifies every signature of `doc` with a pinned key (never a key from KeyInfo); each names the
/// one element it covers, in this same tree. Answers whether the Response's and the Assertion's
/// enveloped signatures are among them.
fn verify_signatures(
    xml: &str,
    doc: &roxmltree::Document,
    assertion: roxmltree::Node,
    v: &Validation,
) -> Result<(bool, bool), Failure> {
    let root = doc.root_element();
    let ids = dsig::Ids::of(doc);
    let mut scratch = Vec::with_capacity(xml.len());
    let (mut by_response, mut by_assertion) = (false, false);
    for sig in doc.descendants().filter(|n| is(n, DS, "Signature")) {
        let covered = dsig::verify(sig, &ids, &v.trust.certificates, &mut scratch).map_err(|detail| Failure {
            code: "signature_invalid",
            message: "the signature does not verify with the connection's IdP certificate(s); the response was changed after signing or signed by another key".into(),
            evidence: json!({ "detail": detail, "pinned_certificates": v.trust.certificates.len() }),
        })?;
        // A signature vouches for the Assertion only as the enveloped signature of the Response
        // or of the Assertion itself: a direct child of the element it covers, that element being
        // the root Response (with the Assertion its direct child) or the Assertion, and the
        // Assertion not inside the signature (whose subtree the digest leaves out). Any other
        // IdP-signed element (an error Response, metadata) moved into this document vouches for
        // nothing, even when the Assertion sits inside it.
        let enveloped = sig.parent() == Some(covered) && !assertion.ancestors().any(|n| n == sig);
        if enveloped && covered == root && assertion.parent() == Some(root) {
            by_response = true;
        } else if enveloped && covered == assertion {
            by_assertion = true;
        }
    }
    Ok((by_response, by_assertion))
}

/// An EncryptedAssertion: the signatures outside it are verified over these bytes (a Response
/// signature covers the ciphertext), it is decrypted with the connection's SP keys, and the
/// Response is validated again with the Assertion in its place and the verified Response
/// signature taken out, so every rule (one assertion, signature, issuer, audience, time,
/// replay…) applies to what was decrypted.
fn open_and_validate(
    xml: &str,
    doc: &roxmltree::Document,
    enc: roxmltree::Node,
    v: &Validation,
) -> Result<Assertion, Failure> {
    let root = doc.root_element();
    if enc.parent() != Some(root) {
        return Err(fail(
            "malformed",
            "the EncryptedAssertion is not a direct child of the Response, where SAML puts it",
        ));
    }
    if v.trust.decryption_keys.is_empty() {
        return Err(fail("encrypted_assertion", "the IdP encrypted the assertion, but this connection has no encryption key yet; turn on encrypted assertions for the connection in Lanyard and give the IdP the encryption certificate from Lanyard's SP metadata (or turn encryption off in the IdP)"));
    }
    for sig in doc.descendants().filter(|n| is(n, DS, "Signature")) {
        check_algorithms(sig)?;
    }
    if v.trust.certificates.is_empty() {
        return Err(fail(
            "no_certificate",
            "the connection has no IdP signing certificate; add one before signing in",
        ));
    }
    let (response_signed, _) = verify_signatures(xml, doc, enc, v)?;
    let plain = super::xmlenc::decrypt(enc, &v.trust.decryption_keys).map_err(|r| match r {
        super::xmlenc::Refusal::Algorithm(m) => fail("encryption_algorithm", m),
        super::xmlenc::Refusal::Failed => decryption_failed(),
    })?;
    // The Assertion where the EncryptedAssertion was; the Response's enveloped signature (verified
    // above) out, since the bytes it covered are gone.
    let mut cuts: Vec<(std::ops::Range<usize>, &str)> = vec![(enc.range(), plain.xml.as_str())];
    if response_signed {
        if let Some(sig) = child(root, DS, "Signature") {
            cuts.push((sig.range(), ""));
        }
    }
    cuts.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut text = xml.to_owned();
    for (r, with) in cuts {
        text.replace_range(r, with);
    }
    let opened = Opened {
        key_id: plain.key_id,
        response_signed,
        uniform: !(response_signed || plain.authenticated),
    };
    validate_doc(&text, v, Some(&opened))
}

fn status_of(root: roxmltree::Node) -> (String, Option<String>, Option<String>) {
    let status = child(root, P, "Status");
    let code = status
        .and_then(|s| child(s, P, "StatusCode"))
        .and_then(|c| c.attribute("Value"))
        .unwrap_or("")
        .to_owned();
    let sub = status
        .and_then(|s| child(s, P, "StatusCode"))
        .and_then(|c| child(c, P, "StatusCode"))
        .and_then(|c| c.attribute("Value"))
        .map(str::to_owned);
    let msg = status
        .and_then(|s| child(s, P, "StatusMessage"))
        .map(full_text);
    (code, sub, msg)
}

fn status_failure(status: &(String, Option<String>, Option<String>)) -> Failure {
    let short = |s: &str| s.rsplit(':').next().unwrap_or(s).to_owned();
    Failure {
        code: "status_not_success",
        message: format!(
            "the IdP refused the sign-in with status {}{}{}",
            short(&status.0),
            status
                .1
                .as_deref()
                .map(|s| format!(" / {}", short(s)))
                .unwrap_or_default(),
            status
                .2
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ),
        evidence: json!({ "status": status.0, "sub_status": status.1, "message": status.2 }),
    }
}

fn check_algorithms(sig: roxmltree::Node) -> Result<(), Failure> {
    let info = child(sig, DS, "SignedInfo");
    let method = info
        .and_then(|i| child(i, DS, "SignatureMethod"))
        .and_then(|m| m.attribute("Algorithm"))
        .unwrap_or("");
    if !SIGNATURE_ALGORITHMS.contains(&method) {
        return Err(Failure {
            code: "signature_algorithm",
            message: format!("the IdP signed with {method}; Lanyard accepts RSA or ECDSA with SHA-256 or stronger. Choose SHA-256 in the IdP's signing settings"),
            evidence: json!({ "received": method, "expected": "rsa-sha256 or stronger" }),
        });
    }
    let digests: Vec<&str> = info
        .into_iter()
        .flat_map(|i| children(i, DS, "Reference"))
        .map(|r| {
            child(r, DS, "DigestMethod")
                .and_then(|d| d.attribute("Algorithm"))
                .unwrap_or("")
        })
        .collect();
    let strong = [
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2001/04/xmldsig-more#sha384",
        "http://www.w3.org/2001/04/xmlenc#sha512",
    ];
    if digests.is_empty() {
        return Err(fail(
            "signature_invalid",
            "the signature references nothing",
        ));
    }
    if let Some(weak) = digests.iter().find(|d| !strong.contains(d)) {
        return Err(Failure {
            code: "signature_algorithm",
            message: format!("the IdP digested the signed content with {weak}; Lanyard accepts SHA-256 or stronger"),
            evidence: json!({ "received": weak, "expected": "sha256 or stronger" }),
        });
    }
    Ok(())
}

/// Checks the signed assertion `a` of the Response `root` (Issuer → Destination → Audience →
/// time window → bearer confirmation → InResponseTo) and reads the identity from it.
fn read_assertion(
    root: roxmltree::Node,
    a: roxmltree::Node,
    v: &Validation,
    signed_by: &str,
) -> Result<Assertion, Failure> {
    let t = v.trust;
    let clock = Clock {
        now: v.now_ms,
        skew: t.skew_ms,
    };
    let issuer = check_issuers(root, a, t)?;
    check_destination(root, t)?;
    let conditions = child(a, A, "Conditions");
    check_audience(conditions, t)?;
    let not_after = check_conditions_window(conditions, &clock)?;
    let subject = child(a, A, "Subject")
        .ok_or_else(|| fail("subject_confirmation", "the assertion has no Subject"))?;
    let bearer = confirm_bearer(subject, t, &clock)?;
    check_in_response_to(root, v, bearer.in_response_to.as_deref())?;
    // The NameID, or an EncryptedID the verified signature covered (opened with the SP keys).
    let (name_id, name_id_format) = match child(subject, A, "NameID") {
        Some(n) => (full_text(n), n.attribute("Format").map(str::to_owned)),
        None => match child(subject, A, "EncryptedID") {
            Some(enc) => open_element(enc, "NameID", &t.decryption_keys, |n| {
                (full_text(n), n.attribute("Format").map(str::to_owned))
            })?,
            None => return Err(fail("no_name_id", "the Subject has no NameID")),
        },
    };
    if name_id.is_empty() {
        return Err(fail("no_name_id", "the NameID is empty"));
    }
    let id = a.attribute("ID").unwrap_or("").to_owned();
    if id.is_empty() {
        return Err(fail("malformed", "the assertion has no ID"));
    }
    let session_index = child(a, A, "AuthnStatement")
        .and_then(|s| s.attribute("SessionIndex"))
        .map(str::to_owned);
    let until = [not_after, bearer.until]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(clock.now + 10 * 60 * 1000);
    Ok(Assertion {
        id,
        issuer,
        name_id,
        name_id_format,
        session_index,
        in_response_to: bearer.in_response_to,
        attributes: read_attributes(a, &t.decryption_keys)?,
        replay_until_ms: until + clock.skew,
        signed: signed_by.to_owned(),
        decrypted_with: None,
    })
}

/// Lanyard's clock and the difference allowed with the IdP's, for the time-window checks.
struct Clock {
    now: i64,
    skew: i64,
}

impl Clock {
    fn skew_seconds(&self) -> i64 {
        self.skew / 1000
    }

    /// `NotBefore` still in the future, even allowing for the skew.
    fn refuse_not_yet_valid(&self, not_before: i64) -> Result<(), Failure> {
        if self.now + self.skew < not_before {
            let now_s = super::format_instant(self.now);
            return Err(Failure {
                code: "not_yet_valid",
                message: format!("the assertion is not valid before {} (NotBefore) and Lanyard's clock says {now_s}; check the IdP's clock", super::format_instant(not_before)),
                evidence: json!({ "not_before": super::format_instant(not_before), "now": now_s, "skew_seconds": self.skew_seconds() }),
            });
        }
        Ok(())
    }

    /// `limit` (a `NotOnOrAfter`, named by `what`) already past, even allowing for the skew.
    fn refuse_expired(&self, limit: i64, what: &str) -> Result<(), Failure> {
        if self.now - self.skew >= limit {
            let now_s = super::format_instant(self.now);
            return Err(Failure {
                code: "expired",
                message: format!(
                    "the assertion expired at {} ({what}); Lanyard's clock says {now_s}",
                    super::format_instant(limit)
                ),
                evidence: json!({ "not_on_or_after": super::format_instant(limit), "now": now_s, "skew_seconds": self.skew_seconds() }),
            });
        }
        Ok(())
    }
}

/// The time attribute `name` of `n`, if present; a malformed time is refused.
fn time_attr(n: Option<roxmltree::Node>, name: &str) -> Result<Option<i64>, Failure> {
    match n.and_then(|n| n.attribute(name)) {
        None => Ok(None),
        Some(s) => parse_instant(s)
            .map(Some)
            .ok_or_else(|| fail("malformed", format!("{name} is not a valid time: {s}"))),
    }
}

/// The assertion's Issuer (and the Response's, when present) must be the pinned IdP entity id.
/// Returns the assertion's Issuer.
fn check_issuers(root: roxmltree::Node, a: roxmltree::Node, t: &Trust) -> Result<String, Failure> {
    if t.idp_entity_id.trim().is_empty() {
        // Fail closed: a blank pinned value would equal a missing Issuer.
        return Err(fail(
            "issuer_mismatch",
            "this connection has no IdP entity id pinned, so no Issuer can be trusted; add the IdP's metadata first",
        ));
    }
    let issuer = child(a, A, "Issuer").map(full_text).unwrap_or_default();
    if issuer != t.idp_entity_id {
        return Err(mismatch(
            "issuer_mismatch",
            "Issuer",
            &t.idp_entity_id,
            &issuer,
        ));
    }
    if let Some(ri) = child(root, A, "Issuer").map(full_text) {
        if ri != t.idp_entity_id {
            return Err(mismatch(
                "issuer_mismatch",
                "Response Issuer",
                &t.idp_entity_id,
                &ri,
            ));
        }
    }
    Ok(issuer)
}

/// A Destination, when the Response names one, must be this connection's ACS URL.
fn check_destination(root: roxmltree::Node, t: &Trust) -> Result<(), Failure> {
    if let Some(dest) = root.attribute("Destination") {
        if dest != t.acs_url {
            return Err(mismatch(
                "destination_mismatch",
                "Destination",
                &t.acs_url,
                dest,
            ));
        }
    }
    Ok(())
}

/// There is at least one AudienceRestriction, and every one names this SP.
fn check_audience(conditions: Option<roxmltree::Node>, t: &Trust) -> Result<(), Failure> {
    let restrictions: Vec<_> = conditions
        .into_iter()
        .flat_map(|c| children(c, A, "AudienceRestriction"))
        .collect();
    if restrictions.is_empty() {
        return Err(mismatch(
            "audience_mismatch",
            "Audience",
            &t.sp_entity_id,
            "no AudienceRestriction",
        ));
    }
    for r in &restrictions {
        let audiences: Vec<String> = children(*r, A, "Audience").map(full_text).collect();
        if !audiences.iter().any(|x| x == &t.sp_entity_id) {
            return Err(mismatch(
                "audience_mismatch",
                "Audience",
                &t.sp_entity_id,
                &audiences.join(", "),
            ));
        }
    }
    Ok(())
}

/// The Conditions' NotBefore / NotOnOrAfter window holds now (within the skew). Returns the
/// Conditions' NotOnOrAfter, if any.
fn check_conditions_window(
    conditions: Option<roxmltree::Node>,
    clock: &Clock,
) -> Result<Option<i64>, Failure> {
    let not_before = time_attr(conditions, "NotBefore")?;
    let not_after = time_attr(conditions, "NotOnOrAfter")?;
    if let Some(nb) = not_before {
        clock.refuse_not_yet_valid(nb)?;
    }
    if let Some(na) = not_after {
        clock.refuse_expired(na, "Conditions NotOnOrAfter")?;
    }
    Ok(not_after)
}

/// The bearer SubjectConfirmation that confirmed the subject.
struct Bearer {
    /// Its SubjectConfirmationData InResponseTo.
    in_response_to: Option<String>,
    /// Its SubjectConfirmationData NotOnOrAfter.
    until: Option<i64>,
}

/// Finds the first bearer SubjectConfirmation whose data has an unexpired NotOnOrAfter and this
/// connection's ACS URL as Recipient. An expired one refuses at once; with none confirming, the
/// last Recipient mismatch (or a missing-data failure) is the answer.
fn confirm_bearer(subject: roxmltree::Node, t: &Trust, clock: &Clock) -> Result<Bearer, Failure> {
    let bearers: Vec<_> = children(subject, A, "SubjectConfirmation")
        .filter(|c| c.attribute("Method") == Some(BEARER))
        .collect();
    if bearers.is_empty() {
        return Err(fail(
            "subject_confirmation",
            "the assertion has no bearer SubjectConfirmation",
        ));
    }
    let mut recipient_error: Option<Failure> = None;
    for b in &bearers {
        let Some(data) = child(*b, A, "SubjectConfirmationData") else {
            continue;
        };
        let until = time_attr(Some(data), "NotOnOrAfter")?;
        match until {
            Some(u) => clock.refuse_expired(u, "SubjectConfirmationData NotOnOrAfter")?,
            None => continue,
        }
        let recipient = data.attribute("Recipient").unwrap_or("");
        if recipient != t.acs_url {
            recipient_error = Some(mismatch(
                "recipient_mismatch",
                "Recipient",
                &t.acs_url,
                if recipient.is_empty() {
                    "none"
                } else {
                    recipient
                },
            ));
            continue;
        }
        return Ok(Bearer {
            in_response_to: data.attribute("InResponseTo").map(str::to_owned),
            until,
        });
    }
    Err(recipient_error.unwrap_or_else(|| {
        fail(
            "subject_confirmation",
            "the bearer SubjectConfirmation has no NotOnOrAfter or Recipient",
        )
    }))
}

/// SP-initiated: the confirmed InResponseTo (and the Response's, if any) is the pending request.
/// IdP-initiated: no InResponseTo at all, and the connection must accept unsolicited sign-ins.
fn check_in_response_to(
    root: roxmltree::Node,
    v: &Validation,
    scd_irt: Option<&str>,
) -> Result<(), Failure> {
    let resp_irt = root.attribute("InResponseTo");
    match v.expected_request_id {
        Some(expected) => {
            let received = scd_irt.unwrap_or("none");
            if received != expected {
                return Err(mismatch(
                    "in_response_to_mismatch",
                    "InResponseTo",
                    expected,
                    received,
                ));
            }
            if let Some(g) = resp_irt.filter(|g| *g != expected) {
                return Err(mismatch(
                    "in_response_to_mismatch",
                    "Response InResponseTo",
                    expected,
                    g,
                ));
            }
        }
        None => {
            if let Some(g) = scd_irt.or(resp_irt) {
                return Err(mismatch(
                    "in_response_to_mismatch",
                    "InResponseTo",
                    "no pending request (unknown or used RelayState)",
                    g,
                ));
            }
            if !v.trust.allow_idp_initiated {
                return Err(fail("unsolicited", "this is an IdP-initiated sign-in and the connection accepts only sign-ins started from the application; enable IdP-initiated sign-in on the connection or start from the application"));
            }
        }
    }
    Ok(())
}

/// Attribute name → values, in document order of values, over every AttributeStatement;
/// EncryptedAttributes (covered by the verified signature) are opened with the SP keys.
fn read_attributes(
    a: roxmltree::Node,
    keys: &[super::xmlenc::DecryptionKey],
) -> Result<BTreeMap<String, Vec<String>>, Failure> {
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |at: roxmltree::Node| {
        let name = at.attribute("Name").unwrap_or("").to_owned();
        let values = attributes.entry(name).or_default();
        values.extend(children(at, A, "AttributeValue").map(full_text));
    };
    for st in children(a, A, "AttributeStatement") {
        for at in st.children().filter(|n| n.is_element()) {
            if is(&at, A, "Attribute") {
                add(at);
            } else if is(&at, A, "EncryptedAttribute") {
                open_element(at, "Attribute", keys, &mut add)?;
            }
        }
    }
    Ok(attributes)
}

/// Decrypts an EncryptedID or EncryptedAttribute (`enc`) with the SP keys and reads the one
/// `saml:{name}` element it holds with `read`. The plaintext is parsed inside the namespaces in
/// scope where it sits (an encrypted element leaves its ancestors' prefixes undeclared). Every
/// failure after the algorithms were accepted is the one `decryption_failed`.
pub(super) fn open_element<T>(
    enc: roxmltree::Node,
    name: &str,
    keys: &[super::xmlenc::DecryptionKey],
    read: impl FnOnce(roxmltree::Node) -> T,
) -> Result<T, Failure> {
    if keys.is_empty() {
        return Err(fail("encrypted_assertion", format!("the IdP encrypted the {name}, but this connection has no encryption key yet; turn on encrypted assertions for the connection in Lanyard and give the IdP the encryption certificate from Lanyard's SP metadata (or turn encryption off in the IdP)")));
    }
    let plain = super::xmlenc::decrypt(enc, keys).map_err(|r| match r {
        super::xmlenc::Refusal::Algorithm(m) => fail("encryption_algorithm", m),
        super::xmlenc::Refusal::Failed => decryption_failed(),
    })?;
    let declarations: String = enc
        .namespaces()
        .map(|ns| match ns.name() {
            Some(prefix) => format!(r#" xmlns:{prefix}="{}""#, super::xml_escape(ns.uri())),
            None => format!(r#" xmlns="{}""#, super::xml_escape(ns.uri())),
        })
        .collect();
    let wrapped = format!(
        "<lanyard-decrypted{declarations}>{}</lanyard-decrypted>",
        plain.xml
    );
    refuse_dtd(&wrapped).map_err(|_| decryption_failed())?;
    refuse_deep_nesting(&wrapped).map_err(|_| decryption_failed())?;
    let doc = roxmltree::Document::parse(&wrapped).map_err(|_| decryption_failed())?;
    let mut elements = doc.root_element().children().filter(|n| n.is_element());
    match (elements.next(), elements.next()) {
        (Some(n), None) if is(&n, A, name) && !n.descendants().any(|d| d.is_comment()) => {
            Ok(read(n))
        }
        _ => Err(decryption_failed()),
    }
}
