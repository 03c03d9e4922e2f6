//! XML-DSig verification of SAML signatures, restricted to the profile SAML itself defines
//! (SAML Core §5.4): one `ds:Reference` per signature, to the `ID` of an element of the same
//! document, with only the enveloped-signature and canonicalization transforms. Keys come only
//! from the connection's pinned certificates, decoded once ([`PinnedCertificate`]); `KeyInfo`
//! is never read.
//!
//! It works on the parsed document the validator reads the identity from, and returns the very
//! element the signature covers, so there is no second parse and no mapping between two trees.
//! See docs/decisions/0002-saml-validation-speed.md.

use std::collections::HashMap;

use base64::Engine as _;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Public};
use openssl::sign::Verifier;
use roxmltree::{Document, Node};
use sha2::Digest as _;

use super::c14n::{canonicalize, Canonicalization, EXC_C14N};
use super::{child, children, full_text, is, NS_DSIG as DS};

const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// A pinned IdP signing certificate, decoded once: its public key and SHA-256 fingerprint.
#[derive(Clone)]
pub struct PinnedCertificate {
    key: PKey<Public>,
    /// SHA-256 of the DER certificate.
    pub fingerprint: [u8; 32],
}

impl std::fmt::Debug for PinnedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinnedCertificate")
            .field("fingerprint", &hex_colons(&self.fingerprint))
            .field("key", &self.key.id())
            .finish()
    }
}

impl PinnedCertificate {
    /// Decodes a DER X.509 certificate; only RSA and EC keys are accepted.
    pub fn from_der(der: &[u8]) -> Result<PinnedCertificate, String> {
        let x = openssl::x509::X509::from_der(der)
            .map_err(|_| "the certificate is not a valid X.509 certificate".to_owned())?;
        let key = x
            .public_key()
            .map_err(|_| "the certificate's public key cannot be read".to_owned())?;
        if !matches!(key.id(), Id::RSA | Id::EC) {
            return Err("the certificate's key is neither RSA nor EC".into());
        }
        Ok(PinnedCertificate {
            key,
            fingerprint: sha2::Sha256::digest(der).into(),
        })
    }
}

fn hex_colons(b: &[u8]) -> String {
    b.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The elements of a document by their `ID` attribute; an ID carried twice maps to `None`.
pub struct Ids<'a, 'i> {
    by_id: HashMap<&'a str, Option<Node<'a, 'i>>>,
}

impl<'a, 'i> Ids<'a, 'i> {
    /// Indexes every element's unqualified `ID` attribute (the SAML ID attribute).
    pub fn of(doc: &'a Document<'i>) -> Ids<'a, 'i> {
        let mut by_id: HashMap<&'a str, Option<Node<'a, 'i>>> = HashMap::new();
        for n in doc.descendants().filter(|n| n.is_element()) {
            if let Some(id) = n.attribute("ID") {
                by_id.entry(id).and_modify(|e| *e = None).or_insert(Some(n));
            }
        }
        Ids { by_id }
    }

    fn get(&self, id: &str) -> Result<Node<'a, 'i>, String> {
        match self.by_id.get(id) {
            Some(Some(n)) => Ok(*n),
            Some(None) => Err(format!("the ID {id} is carried by several elements")),
            None => Err(format!("no element has the ID {id}")),
        }
    }
}

/// The signature and digest algorithms SAML signatures may use here.
fn signature_method(uri: &str) -> Option<(MessageDigest, Id)> {
    Some(match uri {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => (MessageDigest::sha256(), Id::RSA),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => (MessageDigest::sha384(), Id::RSA),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => (MessageDigest::sha512(), Id::RSA),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => (MessageDigest::sha256(), Id::EC),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" => (MessageDigest::sha384(), Id::EC),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512" => (MessageDigest::sha512(), Id::EC),
        _ => return None,
    })
}

fn digest_method(uri: &str) -> Option<MessageDigest> {
    Some(match uri {
        "http://www.w3.org/2001/04/xmlenc#sha256" => MessageDigest::sha256(),
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => MessageDigest::sha384(),
        "http://www.w3.org/2001/04/xmlenc#sha512" => MessageDigest::sha512(),
        _ => return None,
    })
}

/// The only child `name` of `n`; none or several is an error.
fn only_child<'a, 'i>(n: Node<'a, 'i>, name: &'static str) -> Result<Node<'a, 'i>, String> {
    let mut it = children(n, DS, name);
    match (it.next(), it.next()) {
        (Some(c), None) => Ok(c),
        (None, _) => Err(format!("the signature has no {name}")),
        _ => Err(format!("the signature has several {name} elements")),
    }
}

fn algorithm<'a>(n: Node<'a, '_>) -> &'a str {
    n.attribute("Algorithm").unwrap_or("")
}

/// Refuses any element child of `n` other than `allowed` names in namespace `ns`.
fn profile_only(n: Node, ns: &str, allowed: &[&str]) -> Result<(), String> {
    match n.children().find(|c| {
        c.is_element()
            && !(c.tag_name().namespace() == Some(ns) && allowed.contains(&c.tag_name().name()))
    }) {
        None => Ok(()),
        Some(c) => Err(format!(
            "the signature's {} holds a {} element, which SAML signatures never carry",
            n.tag_name().name(),
            c.tag_name().name()
        )),
    }
}

/// Most prefixes an `InclusiveNamespaces PrefixList` may name (IdPs name a few, like `xs`).
const MAX_PREFIX_LIST: usize = 32;

/// A canonicalization element (`CanonicalizationMethod` or `Transform`) read with its
/// `ec:InclusiveNamespaces PrefixList`.
fn canonicalization_of(n: Node) -> Option<Canonicalization> {
    let prefix_list = n
        .children()
        .find(|c| is(c, EXC_C14N, "InclusiveNamespaces"))
        .and_then(|c| c.attribute("PrefixList"));
    if prefix_list.is_some_and(|l| l.split_ascii_whitespace().count() > MAX_PREFIX_LIST) {
        return None;
    }
    Canonicalization::from_uri(algorithm(n), prefix_list)
}

fn base64_text(n: Node) -> Result<Vec<u8>, String> {
    let compact: String = full_text(n)
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| format!("the {} is not valid base64", n.tag_name().name()))
}

/// Verifies one `ds:Signature` against the pinned certificates and returns the element its
/// Reference covers. Every failure is a reason the signature does not hold.
pub fn verify<'a, 'i>(
    sig: Node<'a, 'i>,
    ids: &Ids<'a, 'i>,
    pinned: &[PinnedCertificate],
    scratch: &mut Vec<u8>,
) -> Result<Node<'a, 'i>, String> {
    let signed_info = only_child(sig, "SignedInfo")?;
    let signature_value = only_child(sig, "SignatureValue")?;
    // Nothing outside SAML's profile inside what is canonicalized before a key is used: extra
    // elements there would be work an unsigned document could make us do.
    profile_only(
        signed_info,
        DS,
        &["CanonicalizationMethod", "SignatureMethod", "Reference"],
    )?;
    for r in signed_info.children().filter(|c| c.is_element()) {
        match r.tag_name().name() {
            "Reference" => {
                profile_only(r, DS, &["Transforms", "DigestMethod", "DigestValue"])?;
                for ts in children(r, DS, "Transforms") {
                    profile_only(ts, DS, &["Transform"])?;
                    for t in children(ts, DS, "Transform") {
                        profile_only(t, EXC_C14N, &["InclusiveNamespaces"])?;
                    }
                }
            }
            "CanonicalizationMethod" => profile_only(r, EXC_C14N, &["InclusiveNamespaces"])?,
            _ => profile_only(r, DS, &[])?,
        }
    }
    let c14n_method = only_child(signed_info, "CanonicalizationMethod")?;
    let signed_info_c14n = canonicalization_of(c14n_method).ok_or_else(|| {
        format!(
            "the SignedInfo canonicalization {} is not supported",
            algorithm(c14n_method)
        )
    })?;
    let method = only_child(signed_info, "SignatureMethod")?;
    let (md, key_type) = signature_method(algorithm(method))
        .ok_or_else(|| format!("the signature method {} is not accepted", algorithm(method)))?;

    // SAML Core §5.4.2: exactly one Reference, to the ID of the signed element.
    let reference = only_child(signed_info, "Reference")?;
    let uri = reference.attribute("URI").unwrap_or("");
    let id = uri
        .strip_prefix('#')
        .filter(|id| !id.is_empty() && !id.starts_with("xpointer("))
        .ok_or_else(|| {
            format!("the Reference URI \"{uri}\" is not a same-document ID reference")
        })?;
    let target = ids.get(id)?;
    if target.ancestors().any(|a| a == sig) {
        return Err("the signature references an element inside itself".into());
    }

    // SAML Core §5.4.4: the enveloped-signature transform and a canonicalization, nothing else.
    let mut enveloped = false;
    let mut reference_c14n: Option<Canonicalization> = None;
    if let Some(transforms) = child(reference, DS, "Transforms") {
        for t in children(transforms, DS, "Transform") {
            if reference_c14n.is_some() {
                return Err("a transform follows the canonicalization".into());
            }
            if algorithm(t) == ENVELOPED && !enveloped {
                enveloped = true;
            } else if let Some(c) = canonicalization_of(t) {
                reference_c14n = Some(c);
            } else {
                return Err(format!("the transform {} is not accepted", algorithm(t)));
            }
        }
    }
    let mut c = reference_c14n.unwrap_or_else(Canonicalization::inclusive);
    // A bare-name reference (`#id`) selects its element without comments, whatever the
    // canonicalization says (XML-DSig §4.3.3.3).
    c.with_comments = false;
    let exclude = (enveloped && sig.ancestors().any(|a| a == target)).then_some(sig);

    let digest_node = only_child(reference, "DigestMethod")?;
    let digest_md = digest_method(algorithm(digest_node)).ok_or_else(|| {
        format!(
            "the digest method {} is not accepted",
            algorithm(digest_node)
        )
    })?;
    let expected = base64_text(only_child(reference, "DigestValue")?)?;

    // The signature over SignedInfo (small) first: canonicalizing the referenced element can
    // cost far more, and only a document a pinned key signed gets that far.
    scratch.clear();
    canonicalize(signed_info, None, &signed_info_c14n, scratch)?;
    let value = base64_text(signature_value)?;
    let value = match key_type {
        Id::EC => ecdsa_der(&value)?,
        _ => value,
    };
    let mut verified = false;
    for p in pinned.iter().filter(|p| p.key.id() == key_type) {
        let mut v = Verifier::new(md, &p.key).map_err(|e| e.to_string())?;
        if v.verify_oneshot(&value, scratch).unwrap_or(false) {
            verified = true;
            break;
        }
    }
    if !verified {
        return Err("the SignatureValue does not verify with any pinned certificate".into());
    }

    scratch.clear();
    canonicalize(target, exclude, &c, scratch)?;
    let digest = openssl::hash::hash(digest_md, scratch).map_err(|e| e.to_string())?;
    if digest.len() != expected.len() || !openssl::memcmp::eq(&digest, &expected) {
        return Err(format!(
            "the digest of {uri} does not match: the signed content was changed"
        ));
    }
    Ok(target)
}

/// Verifies a signature carried beside the message (the HTTP-Redirect binding signs the query's
/// bytes, SAML bindings §3.4.4.1) with one of the pinned certificates. RSA only: the binding
/// leaves the ECDSA value's encoding open, and no IdP Lanyard meets signs redirects with EC.
pub fn verify_detached(
    pinned: &[PinnedCertificate],
    sig_alg: &str,
    data: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    let (md, key_type) = signature_method(sig_alg)
        .filter(|(_, k)| *k == Id::RSA)
        .ok_or_else(|| {
            format!("the signature algorithm {sig_alg} is not accepted (RSA-SHA256 or stronger)")
        })?;
    for p in pinned.iter().filter(|p| p.key.id() == key_type) {
        let mut v = Verifier::new(md, &p.key).map_err(|e| e.to_string())?;
        if v.verify_oneshot(signature, data).unwrap_or(false) {
            return Ok(());
        }
    }
    Err("the signature does not verify with any pinned certificate".into())
}

/// XML-DSig writes an ECDSA signature as r‖s; OpenSSL verifies DER.
fn ecdsa_der(raw: &[u8]) -> Result<Vec<u8>, String> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return Err("the ECDSA SignatureValue has an odd length".into());
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let r = openssl::bn::BigNum::from_slice(r).map_err(|e| e.to_string())?;
    let s = openssl::bn::BigNum::from_slice(s).map_err(|e| e.to_string())?;
    EcdsaSig::from_private_components(r, s)
        .and_then(|sig| sig.to_der())
        .map_err(|e| e.to_string())
}

/// Differential tests: the `xmlsec1` command (libxmlsec1 and libxml2's canonicalization, the
/// library Lanyard used before) signs documents full of canonicalization corner cases; this
/// verifier must accept exactly those signatures and refuse every one-change mutation of them.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::protocol::saml::c14n::{C14N, C14N_WITH_COMMENTS, EXC_C14N_WITH_COMMENTS};
    use crate::server::protocol::saml::metadata::decode_certificate;
    use std::path::{Path, PathBuf};

    const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
    const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
    const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
    const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

    fn keys() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/saml/keys")
    }

    fn pinned(name: &str) -> PinnedCertificate {
        let pem = std::fs::read_to_string(keys().join(format!("{name}.crt"))).unwrap();
        PinnedCertificate::from_der(&decode_certificate(&pem).unwrap()).unwrap()
    }

    /// A Signature template for xmlsec1 to fill.
    struct Template<'a> {
        reference: &'a str,
        prefix: &'a str,
        signed_info_c14n: &'a str,
        transform_c14n: Option<&'a str>,
        prefix_list: Option<&'a str>,
        signature_method: &'a str,
        digest_method: &'a str,
        /// Extra content at the start of SignedInfo (a comment, say).
        signed_info_extra: &'a str,
    }

    impl Default for Template<'_> {
        fn default() -> Self {
            Template {
                reference: "_a1",
                prefix: "ds",
                signed_info_c14n: EXC_C14N,
                transform_c14n: Some(EXC_C14N),
                prefix_list: None,
                signature_method: RSA_SHA256,
                digest_method: SHA256,
                signed_info_extra: "",
            }
        }
    }

    impl Template<'_> {
        fn xml(&self) -> String {
            let q = if self.prefix.is_empty() {
                String::new()
            } else {
                format!("{}:", self.prefix)
            };
            let xmlns = if self.prefix.is_empty() {
                "xmlns".to_owned()
            } else {
                format!("xmlns:{}", self.prefix)
            };
            let c14n_transform = match (self.transform_c14n, self.prefix_list) {
                (None, _) => String::new(),
                (Some(alg), None) => format!("<{q}Transform Algorithm=\"{alg}\"/>"),
                (Some(alg), Some(list)) => format!(
                    "<{q}Transform Algorithm=\"{alg}\"><ec:InclusiveNamespaces xmlns:ec=\"{EXC_C14N}\" PrefixList=\"{list}\"/></{q}Transform>"
                ),
            };
            format!(
                "<{q}Signature {xmlns}=\"{DS}\">\n  <{q}SignedInfo>{extra}\n    <{q}CanonicalizationMethod Algorithm=\"{sic}\"/>\n    <{q}SignatureMethod Algorithm=\"{sm}\"/>\n    <{q}Reference URI=\"#{r}\">\n      <{q}Transforms><{q}Transform Algorithm=\"{ENVELOPED}\"/>{c14n_transform}</{q}Transforms>\n      <{q}DigestMethod Algorithm=\"{dm}\"/>\n      <{q}DigestValue/>\n    </{q}Reference>\n  </{q}SignedInfo>\n  <{q}SignatureValue/>\n</{q}Signature>",
                extra = self.signed_info_extra,
                sic = self.signed_info_c14n,
                sm = self.signature_method,
                r = self.reference,
                dm = self.digest_method,
            )
        }
    }

    /// Signs the template whose Reference points at `#reference` with the xmlsec1 command.
    fn xmlsec_sign(xml: &str, key: &Path, crt: &Path, reference: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.xml");
        let output = dir.path().join("out.xml");
        std::fs::write(&input, xml).unwrap();
        let xpath = format!(
            "//*[local-name()='Signature' and namespace-uri()='{DS}'][*[local-name()='SignedInfo']/*[local-name()='Reference' and @URI='#{reference}']]"
        );
        let out = std::process::Command::new("xmlsec1")
            .arg("--sign")
            .arg("--privkey-pem")
            .arg(format!("{},{}", key.display(), crt.display()))
            .args(["--id-attr:ID", &format!("{SAML}:Assertion")])
            .args(["--id-attr:ID", &format!("{SAMLP}:Response")])
            .args(["--node-xpath", &xpath, "--output"])
            .arg(&output)
            .arg(&input)
            .output()
            .expect("the xmlsec1 command (Debian package xmlsec1; .ci/setup installs it)");
        assert!(
            out.status.success(),
            "xmlsec1 --sign: {}\n{xml}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(output).unwrap()
    }

    fn idp_sign(xml: &str, reference: &str) -> String {
        xmlsec_sign(
            xml,
            &keys().join("idp.key"),
            &keys().join("idp.crt"),
            reference,
        )
    }

    /// Verifies every Signature of `xml`; returns the IDs of the covered elements.
    fn verify_all(xml: &str, pinned: &[PinnedCertificate]) -> Result<Vec<String>, String> {
        let doc = Document::parse(xml).map_err(|e| e.to_string())?;
        let ids = Ids::of(&doc);
        let mut scratch = Vec::new();
        let mut covered = Vec::new();
        let sigs: Vec<_> = doc
            .descendants()
            .filter(|n| is(n, DS, "Signature"))
            .collect();
        assert!(!sigs.is_empty());
        for sig in sigs {
            let t = verify(sig, &ids, pinned, &mut scratch)?;
            covered.push(t.attribute("ID").unwrap_or("").to_owned());
        }
        Ok(covered)
    }

    /// A Response around one Assertion; `{sig}` marks where the Assertion's Signature goes and
    /// `{body}` the Assertion's content after it.
    fn response(root_attrs: &str, assertion_attrs: &str, sig: &str, body: &str) -> String {
        format!(
            "<samlp:Response xmlns:samlp=\"{SAMLP}\" ID=\"_r1\"{root_attrs}>\n  <saml:Issuer xmlns:saml=\"{SAML}\">idp</saml:Issuer>\n  <saml:Assertion xmlns:saml=\"{SAML}\" ID=\"_a1\"{assertion_attrs}>\n    <saml:Issuer>idp</saml:Issuer>\n    {sig}\n    {body}\n  </saml:Assertion>\n</samlp:Response>"
        )
    }

    const NAME_ID: &str = "<saml:Subject><saml:NameID>dana@acme.test</saml:NameID></saml:Subject>";

    /// Signs, checks the signature holds, and checks that each mutation breaks it.
    fn signs_and_breaks(unsigned: &str, reference: &str, mutations: &[(&str, &str)]) {
        let signed = idp_sign(unsigned, reference);
        let good = [pinned("idp")];
        assert_eq!(
            verify_all(&signed, &good),
            Ok(vec![reference.to_owned()]),
            "{signed}"
        );
        assert!(verify_all(&signed, &[pinned("idp2")]).is_err());
        for (from, to) in mutations {
            assert!(
                signed.contains(from),
                "mutation {from} not found in {signed}"
            );
            let bad = signed.replacen(from, to, 1);
            assert!(
                verify_all(&bad, &good).is_err(),
                "{from} → {to} still verifies:\n{bad}"
            );
        }
    }

    #[test]
    fn baseline_exclusive_c14n() {
        let t = Template::default().xml();
        signs_and_breaks(
            &response("", "", &t, NAME_ID),
            "_a1",
            &[
                ("dana@acme.test", "dana@acme.tesu"),
                ("<saml:Issuer>idp", "<saml:Issuer>idq"),
                (" ID=\"_a1\"", " ID=\"_a1\" Extra=\"1\""),
                ("<saml:Subject>", "<saml:Subject xmlns:saml=\"urn:evil\">"),
                (
                    "</saml:NameID>",
                    "</saml:NameID><saml:NameID>eve</saml:NameID>",
                ),
                ("dana@acme.test", "dana@acme.test<x/>"),
            ],
        );
    }

    #[test]
    fn default_namespaces_undeclarations_and_rebinding() {
        let t = Template {
            prefix: "",
            ..Template::default()
        }
        .xml();
        let xml = format!(
            "<samlp:Response xmlns:samlp=\"{SAMLP}\" xmlns:u=\"urn:unused\" ID=\"_r1\"><Assertion xmlns=\"{SAML}\" xmlns:x=\"urn:x\" ID=\"_a1\"><Issuer>idp</Issuer>{t}<Subject><NameID>dana@acme.test</NameID></Subject><Extra xmlns=\"\"><inner x:attr=\"1\"/></Extra><x:e xmlns:x=\"urn:x2\"><x:f xmlns:x=\"urn:x2\"/></x:e></Assertion></samlp:Response>"
        );
        signs_and_breaks(
            &xml,
            "_a1",
            &[
                ("<Extra xmlns=\"\">", "<Extra>"),
                ("xmlns:x=\"urn:x2\"><x:f", "xmlns:x=\"urn:x3\"><x:f"),
                ("x:attr=\"1\"", "x:attr=\"2\""),
                ("<NameID>dana", "<NameID xmlns=\"urn:evil\">dana"),
            ],
        );
    }

    #[test]
    fn escapes_character_references_and_cdata() {
        let t = Template::default().xml();
        let body = "<saml:Subject><saml:NameID Format=\"a&#9;b&#10;c&#13;d &quot;&lt;&amp;&gt;'\" Sp=\"x\ny\">dana&amp;&lt;&gt;&#13;\"'<![CDATA[<b>&]]>@acme.test</saml:NameID></saml:Subject><?target some data?>";
        signs_and_breaks(
            &response("", "", &t, body),
            "_a1",
            &[
                ("&#13;d", "&#10;d"),
                ("&#9;b", " b"),
                ("<![CDATA[<b>&]]>", "<b/>"),
                ("some data", "some date"),
            ],
        );
    }

    #[test]
    fn inclusive_namespaces_prefix_list() {
        let t = Template {
            prefix_list: Some("xs #default"),
            ..Template::default()
        }
        .xml();
        let body = "<saml:AttributeStatement><saml:Attribute Name=\"g\"><saml:AttributeValue xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"xs:string\">Admins</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>";
        let xml = response(
            " xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"",
            "",
            &t,
            body,
        )
        .replace("<samlp:Response ", "<samlp:Response xmlns=\"urn:default\" ");
        signs_and_breaks(
            &xml,
            "_a1",
            &[
                (
                    "xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"",
                    "xmlns:xs=\"urn:other\"",
                ),
                ("xmlns=\"urn:default\"", "xmlns=\"urn:default2\""),
                ("Admins", "Owners"),
            ],
        );
    }

    #[test]
    fn inclusive_c14n_with_inherited_namespaces_and_xml_attributes() {
        let t = Template {
            signed_info_c14n: C14N,
            transform_c14n: Some(C14N),
            ..Template::default()
        }
        .xml();
        let xml = response(
            " xmlns:extra=\"urn:extra\" xml:lang=\"en\"",
            " xml:space=\"preserve\"",
            &t,
            NAME_ID,
        );
        signs_and_breaks(
            &xml,
            "_a1",
            &[
                ("xmlns:extra=\"urn:extra\"", "xmlns:extra=\"urn:other\""),
                ("xml:lang=\"en\"", "xml:lang=\"de\""),
            ],
        );
        // No canonicalization transform at all means Canonical XML 1.0.
        let t = Template {
            transform_c14n: None,
            ..Template::default()
        }
        .xml();
        signs_and_breaks(
            &response(" xmlns:extra=\"urn:extra\"", "", &t, NAME_ID),
            "_a1",
            &[("xmlns:extra=\"urn:extra\"", "xmlns:extra=\"urn:other\"")],
        );
    }

    #[test]
    fn comments_count_in_signed_info_but_never_through_an_id_reference() {
        let t = Template {
            signed_info_c14n: EXC_C14N_WITH_COMMENTS,
            transform_c14n: Some(EXC_C14N_WITH_COMMENTS),
            signed_info_extra: "<!-- signed comment -->",
            ..Template::default()
        }
        .xml();
        let body = format!("<!-- dropped by the #id reference -->{NAME_ID}");
        signs_and_breaks(
            &response("", "", &t, &body),
            "_a1",
            &[("<!-- signed comment -->", "<!-- changed comment -->")],
        );
        let t = Template {
            signed_info_c14n: C14N_WITH_COMMENTS,
            transform_c14n: Some(C14N_WITH_COMMENTS),
            ..Template::default()
        }
        .xml();
        signs_and_breaks(&response("", "", &t, &body), "_a1", &[]);
    }

    #[test]
    fn response_and_assertion_both_signed_with_stronger_algorithms() {
        let inner = Template {
            signature_method: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
            digest_method: "http://www.w3.org/2001/04/xmldsig-more#sha384",
            ..Template::default()
        }
        .xml();
        let outer = Template {
            reference: "_r1",
            signature_method: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
            digest_method: "http://www.w3.org/2001/04/xmlenc#sha512",
            ..Template::default()
        }
        .xml();
        let xml = response("", "", &inner, NAME_ID).replace(
            "</saml:Issuer>\n  <saml:Assertion",
            &format!("</saml:Issuer>{outer}\n  <saml:Assertion"),
        );
        let once = idp_sign(&xml, "_a1");
        let twice = idp_sign(&once, "_r1");
        let good = [pinned("idp2"), pinned("idp")];
        let mut covered = verify_all(&twice, &good).unwrap();
        covered.sort();
        assert_eq!(covered, vec!["_a1".to_owned(), "_r1".to_owned()]);
        // Outside the Assertion, still inside the signed Response.
        let bad = twice.replacen(
            "<saml:Issuer xmlns:saml",
            "<saml:Issuer Format=\"x\" xmlns:saml",
            1,
        );
        assert!(verify_all(&bad, &good).is_err());
    }

    #[test]
    fn ecdsa_signatures_verify_with_an_ec_certificate() {
        use openssl::ec::{EcGroup, EcKey};
        use openssl::nid::Nid;
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "EC IdP").unwrap();
        let name = name.build();
        let mut b = openssl::x509::X509::builder().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(30).unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        let cert = b.build();
        let dir = tempfile::tempdir().unwrap();
        let (kp, cp) = (dir.path().join("ec.key"), dir.path().join("ec.crt"));
        std::fs::write(&kp, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
        std::fs::write(&cp, cert.to_pem().unwrap()).unwrap();
        let t = Template {
            signature_method: "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
            ..Template::default()
        }
        .xml();
        let signed = xmlsec_sign(&response("", "", &t, NAME_ID), &kp, &cp, "_a1");
        let ec = PinnedCertificate::from_der(&cert.to_der().unwrap()).unwrap();
        assert_eq!(
            verify_all(&signed, &[pinned("idp"), ec.clone()]),
            Ok(vec!["_a1".to_owned()])
        );
        assert!(verify_all(&signed, &[pinned("idp")]).is_err());
        let bad = signed.replacen("dana@", "dane@", 1);
        assert!(verify_all(&bad, &[ec]).is_err());
    }

    #[test]
    fn references_outside_the_profile_are_refused() {
        let signed = idp_sign(
            &response("", "", &Template::default().xml(), NAME_ID),
            "_a1",
        );
        let good = [pinned("idp")];
        // An ID carried twice cannot be resolved.
        let dup = signed.replacen("<saml:Subject>", "<saml:Subject ID=\"_a1\">", 1);
        assert!(verify_all(&dup, &good).unwrap_err().contains("several"));
        // Only the enveloped-signature and canonicalization transforms.
        let xslt = signed.replacen(ENVELOPED, "http://www.w3.org/TR/1999/REC-xslt-19991116", 1);
        assert!(verify_all(&xslt, &good).unwrap_err().contains("transform"));
        // A second Reference.
        let two = signed.replacen(
            "</ds:SignedInfo>",
            "<ds:Reference URI=\"#_r1\"/></ds:SignedInfo>",
            1,
        );
        assert!(verify_all(&two, &good).unwrap_err().contains("several"));
        // Not a bare-name same-document reference.
        let ext = signed.replacen("URI=\"#_a1\"", "URI=\"http://evil.test/a.xml\"", 1);
        assert!(verify_all(&ext, &good).is_err());
        let xp = signed.replacen("URI=\"#_a1\"", "URI=\"#xpointer(id('_a1'))\"", 1);
        assert!(verify_all(&xp, &good).is_err());
    }
}
