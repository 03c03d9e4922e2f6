//! Outside attack review of the in-tree XML-DSig verifier (issue 17; docs/decisions/0002):
//! attack documents run through `response::validate` with the vectors' trust and clock.
//!
//! - `attack_survey` runs every attack of the review list and checks the code each one gets;
//!   it prints a table (`-- --nocapture`).
//! - The `finding_*` tests reproduce the review's findings and assert the secure behaviour;
//!   each failed before its fix (1: an Assertion inside another signed element's signature was
//!   accepted; 2: `<!-->` hid nesting from the depth guard and the parser overflowed the stack;
//!   3: an unsigned response with many namespaces cost seconds of CPU before any key was used).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lanyard::server::protocol::saml::response::{validate, Assertion, Failure, Validation};

use crate::saml_vectors::vectors::{load, root, Case};

const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const EXC: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

fn case(name: &str) -> Case {
    load(&root().join("cases").join(name))
}

fn run(c: &Case, xml: &str) -> Result<Assertion, Failure> {
    let v = Validation {
        trust: &c.trust,
        now_ms: c.now_ms,
        expected_request_id: c.in_response_to.as_deref(),
    };
    validate(xml, &v)
}

fn code(r: &Result<Assertion, Failure>) -> String {
    match r {
        Ok(a) => format!("ok:{}", a.name_id),
        Err(f) => f.code.to_owned(),
    }
}

/// `s` between the first `from` and the next `to` (both included).
fn span<'a>(s: &'a str, from: &str, to: &str) -> &'a str {
    let a = s.find(from).unwrap_or_else(|| panic!("{from} not found"));
    let b = a + s[a..].find(to).unwrap_or_else(|| panic!("{to} not found")) + to.len();
    &s[a..b]
}

fn keys() -> PathBuf {
    root().join("keys")
}

/// Signs the (first) `ds:Signature` template of `xml` with the vectors' trusted IdP key, as
/// an IdP would, with the xmlsec1 command.
fn idp_sign(xml: &str, extra_id_attrs: &[&str]) -> String {
    xmlsec_sign(
        xml,
        &keys().join("idp.key"),
        &keys().join("idp.crt"),
        extra_id_attrs,
    )
}

fn xmlsec_sign(xml: &str, key: &Path, crt: &Path, extra_id_attrs: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.xml");
    let output = dir.path().join("out.xml");
    std::fs::write(&input, xml).unwrap();
    let mut cmd = std::process::Command::new("xmlsec1");
    cmd.arg("--sign")
        .arg("--privkey-pem")
        .arg(format!("{},{}", key.display(), crt.display()))
        .args(["--id-attr:ID", &format!("{SAML}:Assertion")])
        .args(["--id-attr:ID", &format!("{SAMLP}:Response")]);
    for e in extra_id_attrs {
        cmd.args(["--id-attr:ID", e]);
    }
    let out = cmd
        .args([
            "--node-xpath",
            &format!("(//*[local-name()='Signature' and namespace-uri()='{DS}'])[1]"),
            "--output",
        ])
        .arg(&output)
        .arg(&input)
        .output()
        .expect("xmlsec1");
    assert!(
        out.status.success(),
        "xmlsec1 --sign: {}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(output).unwrap()
}

/// A signature template: `uri` is the whole Reference URI attribute value, `transforms` the
/// content of ds:Transforms.
fn template(uri: &str, transforms: &str, references: usize) -> String {
    let reference = format!(
        "<ds:Reference URI=\"{uri}\"><ds:Transforms>{transforms}</ds:Transforms><ds:DigestMethod Algorithm=\"{SHA256}\"/><ds:DigestValue/></ds:Reference>"
    );
    format!(
        "<ds:Signature xmlns:ds=\"{DS}\"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"{EXC}\"/><ds:SignatureMethod Algorithm=\"{RSA_SHA256}\"/>{}</ds:SignedInfo><ds:SignatureValue/></ds:Signature>",
        reference.repeat(references)
    )
}

fn std_transforms() -> String {
    format!("<ds:Transform Algorithm=\"{ENVELOPED}\"/><ds:Transform Algorithm=\"{EXC}\"/>")
}

/// The baseline good response (Assertion signed by xmlsec1) and its case.
fn baseline() -> (Case, String) {
    let c = case("xmlsec1_sp_initiated");
    let xml = c.xml.clone();
    (c, xml)
}

const ASSERTION_ID: &str = "_assert_772216c8421a4de97cf3d0ab7d4dbbdc";

/// The baseline with its Assertion's signature replaced by `sig` (a template to sign).
fn baseline_with(sig: &str) -> String {
    let (_, xml) = baseline();
    let old = span(&xml, "<ds:Signature", "</ds:Signature>").to_owned();
    xml.replacen(&old, sig, 1)
}

// ---------------------------------------------------------------------------------------------
// Finding 1: an unsigned Assertion hidden inside the enveloped ds:Signature of an IdP-signed
// element that contains no Assertion is taken as signed.
// ---------------------------------------------------------------------------------------------

/// Built only from two committed vectors, i.e. from material an attacker gets without any
/// key: two IdP-signed error Responses (no Assertion; e.g. IsPassive/NoPassive answers).
/// - `wrap_detached_reference`: its root carries a valid ds:Signature that references a
///   nested signed error Response `_resp_7f24…` (detached: the signature sits outside it).
/// - `wrap_signed_error_response`: a second signed error Response `_resp_795b…` with its
///   enveloped signature.
///
/// The evil Assertion is moved into a ds:Object of the second error Response's own
/// ds:Signature. That signature's enveloped transform leaves its whole subtree out of the
/// digest, so it verifies; the element it covers is an ancestor of the evil Assertion, so
/// `response.rs` counts the Assertion as covered. The root's detached signature satisfies the
/// "Response or Assertion carries a ds:Signature" pre-check.
pub fn forged_response_via_enveloped_signature_subtree(name_id: &str) -> (Case, String) {
    let c = case("wrap_detached_reference");
    let d = c.xml.clone();
    let e = std::fs::read_to_string(root().join("cases/wrap_signed_error_response/response.xml"))
        .unwrap();
    // The second signed error Response, untouched.
    let t = span(&e, "<samlp:Extensions>", "</samlp:Extensions>");
    let t = &t["<samlp:Extensions>".len()..t.len() - "</samlp:Extensions>".len()];
    assert!(t.contains("ID=\"_resp_795ba3180d44d0c1ffe477547bb566c2\""));
    let evil = span(&d, "<saml:Assertion ", "</saml:Assertion>").to_owned();
    let evil_named = evil.replace("attacker@evil.test", name_id);
    let t_with_evil = t.replacen(
        "</ds:Signature>",
        &format!("<ds:Object>{evil_named}</ds:Object></ds:Signature>"),
        1,
    );
    let forged = d.replacen(&evil, "", 1).replacen(
        "</samlp:Extensions>",
        &format!("{t_with_evil}</samlp:Extensions>"),
        1,
    );
    (c, forged)
}

#[test]
fn finding_1_assertion_inside_an_enveloped_signature_is_refused() {
    let (c, forged) = forged_response_via_enveloped_signature_subtree("ceo@acme.test");
    let r = run(&c, &forged);
    assert!(
        r.is_err(),
        "forged response accepted as {:?}\n{forged}",
        r.as_ref().map(|a| (&a.name_id, &a.attributes))
    );
}

/// Every signature of the forgery verifies with the IdP's key (no `signature_invalid`): what
/// refuses it is the rule that only the Response's or the Assertion's own enveloped signature
/// vouches for the Assertion.
#[test]
fn finding_1_the_forgery_is_refused_by_the_covering_rule() {
    let (c, forged) = forged_response_via_enveloped_signature_subtree("ceo@acme.test");
    let r = run(&c, &forged);
    eprintln!("finding 1 forged response → {}", code(&r));
    assert_eq!(code(&r), "unsigned");
}

// ---------------------------------------------------------------------------------------------
// Finding 2: the nesting limit is bypassed with `<!-->`, so a 512 KiB response overflows the
// validating thread's stack (process abort).
// ---------------------------------------------------------------------------------------------

/// Deep nesting that `refuse_deep_nesting` does not see: after every `levels_per_chunk`
/// opened elements comes a comment written `<!-->…-->`. The scanner looks for `-->` from the
/// `<` of `<!--`, so it ends the comment at `<!-->` and then reads the comment's content
/// (`</` × n) as end tags; the XML parser (correctly) reads one comment.
fn nesting_bypass(levels: usize) -> String {
    let (_, xml) = baseline();
    let k = 120;
    let mut junk = String::with_capacity(levels * 10);
    let mut open = 0;
    while open < levels {
        let n = k.min(levels - open);
        junk.push_str(&"<a>".repeat(n));
        junk.push_str("<!-->");
        junk.push_str(&"</".repeat(n));
        junk.push_str("-->");
        open += n;
    }
    junk.push_str(&"</a>".repeat(levels));
    xml.replacen("</samlp:Response>", &format!("{junk}</samlp:Response>"), 1)
}

#[test]
fn finding_2_the_depth_scanner_misreads_a_comment_opened_with_arrow() {
    let (c, _) = baseline();
    // 1,000 levels (the limit is 128), on a thread with a stack large enough for the parser:
    // not refused as too deep.
    let xml = nesting_bypass(1_000);
    let r = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || code(&run(&c, &xml)))
        .unwrap()
        .join()
        .unwrap();
    eprintln!("finding 2: 1,000 levels behind <!--> → {r}");
    assert_eq!(
        r, "malformed",
        "the depth guard must see nesting behind `<!-->`"
    );
}

/// The same bypass reaches the metadata parser (admin-supplied XML, or fetched from the
/// metadata URL an admin enters).
#[test]
fn finding_2_metadata_depth_guard_is_bypassed_too() {
    let md = nesting_bypass(1_000).replacen("<samlp:Response ", "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"x\" ", 1).replacen("</samlp:Response>", "</md:EntityDescriptor>", 1);
    let r = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || lanyard::server::protocol::saml::metadata::parse_idp_metadata(&md).err())
        .unwrap()
        .join()
        .unwrap();
    eprintln!("finding 2, metadata: {r:?}");
    assert!(r.unwrap_or_default().contains("deep"));
}

/// Child half of the crash test: validates a bypassing document of `SAML_ATTACK_DEPTH` levels
/// on a 16 MiB thread, like the ACS does (src/main.rs gives every runtime thread, the
/// spawn_blocking pool included, `thread_stack_size(16 MiB)`).
#[test]
#[ignore = "helper of finding_2_deep_nesting_does_not_abort_the_process (run in a child process)"]
fn finding_2_child() {
    let Ok(depth) = std::env::var("SAML_ATTACK_DEPTH") else {
        return;
    };
    let depth: usize = depth.parse().unwrap();
    let (c, _) = baseline();
    let xml = nesting_bypass(depth);
    assert!(xml.len() <= 512 * 1024, "{} bytes", xml.len());
    let r = std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(move || code(&run(&c, &xml)))
        .unwrap()
        .join()
        .unwrap();
    eprintln!("child: {r}");
}

fn run_child(depth: usize) -> std::process::ExitStatus {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "saml_attacks::finding_2_child",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env("SAML_ATTACK_DEPTH", depth.to_string())
        .output()
        .unwrap();
    eprintln!(
        "child depth {depth}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| l.contains("overflow") || l.contains("child:"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    out.status
}

#[test]
fn finding_2_deep_nesting_does_not_abort_the_process() {
    // ~50,000 levels fit in the ACS's 512 KiB limit.
    assert!(run_child(50_000).success());
}

// ---------------------------------------------------------------------------------------------
// Finding 3: canonicalization is quadratic in the namespaces in scope, and it runs on
// unauthenticated input (the digest is computed before any signature is checked).
// ---------------------------------------------------------------------------------------------

/// An unsigned response whose root carries `ns` namespace declarations and `elements` empty
/// children, and a ds:Signature (no valid value: the attacker has no key) whose Reference
/// asks for inclusive Canonical XML of the root. Everything before the digest check passes.
pub fn namespace_bomb(ns: usize, elements: usize) -> String {
    let (_, xml) = baseline();
    let decls: String = (0..ns).map(|i| format!(" xmlns:n{i}=\"urn:u\"")).collect();
    let sig = format!(
        "<ds:Signature xmlns:ds=\"{DS}\"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"{EXC}\"/><ds:SignatureMethod Algorithm=\"{RSA_SHA256}\"/><ds:Reference URI=\"#_resp_7d0af226cd0f41b3f42f8e6d157b388b\"><ds:Transforms><ds:Transform Algorithm=\"{ENVELOPED}\"/><ds:Transform Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/></ds:Transforms><ds:DigestMethod Algorithm=\"{SHA256}\"/><ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature>"
    );
    // Drop the Assertion's own signature (it would be checked first) and sign "the Response".
    let old = span(&xml, "<ds:Signature", "</ds:Signature>").to_owned();
    xml.replacen(&old, "", 1)
        .replacen("<samlp:Response ", &format!("<samlp:Response{decls} "), 1)
        .replacen(
            "</saml:Issuer>\n  <samlp:Status>",
            &format!("</saml:Issuer>{sig}<samlp:Status>"),
            1,
        )
        .replacen(
            "</samlp:Response>",
            &format!("{}</samlp:Response>", "<a/>".repeat(elements)),
            1,
        )
}

fn time_bomb(ns: usize, elements: usize) -> (Duration, String, usize) {
    let (c, _) = baseline();
    let xml = namespace_bomb(ns, elements);
    let t = Instant::now();
    let r = run(&c, &xml);
    (t.elapsed(), code(&r), xml.len())
}

#[test]
fn finding_3_canonicalization_cost_grows_with_namespaces_times_elements() {
    for (ns, el) in [(60, 2_000), (100, 1_000), (400, 2_000)] {
        let (d, code, len) = time_bomb(ns, el);
        eprintln!("finding 3: {ns} namespaces × {el} elements ({len} bytes) → {code} in {d:?}");
        // Past the bound on namespaces in scope (second review) the scan refuses it unparsed.
        let expected = if ns > lanyard::server::protocol::saml::MAX_NAMESPACES_IN_SCOPE {
            "malformed"
        } else {
            "signature_invalid"
        };
        assert_eq!(code, expected);
    }
}

#[test]
fn finding_3_a_small_unsigned_response_is_refused_quickly() {
    let (d, code, len) = time_bomb(1_000, 2_000);
    eprintln!("{len} bytes → {code} in {d:?}");
    assert!(d < Duration::from_secs(1), "{len} bytes took {d:?}");
}

// ---------------------------------------------------------------------------------------------
// Second review (after the fixes above): work an unsigned document could still cause, and
// values read differently from how they were signed.
// ---------------------------------------------------------------------------------------------

/// A Signature no key made, whose SignedInfo uses `c14n` and carries `filler` and an optional
/// PrefixList.
fn fake_signature(c14n: &str, filler: &str, prefix_list: Option<&str>) -> String {
    let pl = prefix_list
        .map(|l| format!("<ec:InclusiveNamespaces xmlns:ec=\"{EXC}\" PrefixList=\"{l}\"/>"))
        .unwrap_or_default();
    format!(
        "<ds:Signature xmlns:ds=\"{DS}\"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"{c14n}\">{pl}</ds:CanonicalizationMethod><ds:SignatureMethod Algorithm=\"{RSA_SHA256}\"/><ds:Reference URI=\"#{ASSERTION_ID}\"><ds:Transforms><ds:Transform Algorithm=\"{ENVELOPED}\"/><ds:Transform Algorithm=\"{EXC}\"/></ds:Transforms><ds:DigestMethod Algorithm=\"{SHA256}\"/><ds:DigestValue>AAAA</ds:DigestValue></ds:Reference>{filler}</ds:SignedInfo><ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature>"
    )
}

fn root_declarations(xml: &str, n: usize) -> String {
    let decls: String = (0..n).map(|i| format!(" xmlns:n{i}=\"urn:u\"")).collect();
    xml.replacen("<samlp:Response ", &format!("<samlp:Response{decls} "), 1)
}

#[test]
fn second_review_unsigned_documents_cost_little_before_a_key_is_used() {
    const C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
    let (c, good) = baseline();
    let sig = span(&good, "<ds:Signature", "</ds:Signature>").to_owned();
    let prefixes: String = (0..1_000).map(|i| format!("n{i} ")).collect();
    let filler = "<b xmlns:z=\"urn:z\"/>".repeat(2_000);
    let attrs: String = (0..45_000).map(|i| format!(" a{i}=\"\"")).collect();
    let cases = [
        // A: SignedInfo (canonicalized to check the SignatureValue) stuffed with elements under
        // 1,000 namespaces, inclusive c14n or a PrefixList naming them all.
        (
            "A1 SignedInfo bomb",
            root_declarations(
                &good.replacen(&sig, &fake_signature(C14N, &"<a/>".repeat(2_000), None), 1),
                1_000,
            ),
            "malformed",
        ),
        (
            "A3 PrefixList bomb",
            root_declarations(
                &good.replacen(
                    &sig,
                    &fake_signature(EXC, &"<a/>".repeat(2_000), Some(&prefixes)),
                    1,
                ),
                1_000,
            ),
            "malformed",
        ),
        // The same SignedInfo stuffing within the namespace bound: refused by the profile check.
        (
            "SignedInfo with extra elements",
            root_declarations(
                &good.replacen(&sig, &fake_signature(C14N, &"<a/>".repeat(50_000), None), 1),
                60,
            ),
            "signature_invalid",
        ),
        (
            "a PrefixList longer than any IdP's",
            good.replacen(&sig, &fake_signature(EXC, "", Some(&prefixes)), 1),
            "signature_invalid",
        ),
        // B: the parser's own quadratic paths.
        (
            "B1 namespaces copied into many elements",
            root_declarations(
                &good.replacen(
                    "</samlp:Response>",
                    &format!("{filler}</samlp:Response>"),
                    1,
                ),
                2_000,
            ),
            "malformed",
        ),
        (
            "B3 45,000 attributes on one element",
            good.replacen(
                "</samlp:Response>",
                &format!("<c{attrs}/></samlp:Response>"),
                1,
            ),
            "malformed",
        ),
    ];
    for (name, xml, expected) in cases {
        assert!(xml.len() <= 512 * 1024, "{name}: {} bytes", xml.len());
        let t = Instant::now();
        let r = run(&c, &xml);
        let d = t.elapsed();
        eprintln!(
            "second review: {name} ({} bytes) → {} in {d:?}",
            xml.len(),
            code(&r)
        );
        assert_eq!(code(&r), expected, "{name}");
        // Minutes before these bounds (debug build); a generous bound for a busy machine.
        assert!(d < Duration::from_secs(3), "{name} took {d:?}");
    }
}

/// Signed by the vectors' IdP key with xmlsec1 (an IdP whose users can shape their own NameID):
/// the NameID is `ceo@acme.test` plus a no-break space, or an ideographic space before it. The
/// value read must be the value signed — another subject than `ceo@acme.test` — not a trimmed
/// copy of the CEO's.
#[test]
fn second_review_only_xml_whitespace_is_trimmed_from_signed_values() {
    let (c, _) = baseline();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/saml/review");
    for (file, signed) in [
        ("nbsp_name_id.xml", "ceo@acme.test\u{a0}"),
        ("ideographic_space_name_id.xml", "\u{3000}ceo@acme.test"),
    ] {
        let xml = std::fs::read_to_string(dir.join(file)).unwrap();
        let a = run(&c, &xml).unwrap_or_else(|f| panic!("{file}: {}", f.code));
        assert_eq!(a.name_id, signed, "{file}");
        assert_ne!(a.name_id, "ceo@acme.test", "{file}");
    }
    // The Kelvin sign (U+212A) lowercases to `k` in Unicode; the signed value is read as sent
    // here, and admission folds only ASCII case (unit test in service/sso/admit.rs).
    let xml = std::fs::read_to_string(dir.join("kelvin_sign_email.xml")).unwrap();
    let a = run(&c, &xml).unwrap_or_else(|f| panic!("kelvin: {}", f.code));
    assert_eq!(a.name_id, "\u{212a}ate@acme.test");
}

// ---------------------------------------------------------------------------------------------
// The survey: every attack of the review list, with the code it gets on this branch.
// ---------------------------------------------------------------------------------------------

struct Attack {
    name: &'static str,
    case: Case,
    xml: String,
    /// What Lanyard answers (`ok:<NameID>` when accepted).
    expect: String,
}

fn attack(name: &'static str, case: Case, xml: String, expect: &str) -> Attack {
    Attack {
        name,
        case,
        xml,
        expect: expect.to_owned(),
    }
}

fn attacks() -> Vec<Attack> {
    let b = || baseline().1;
    let bc = || baseline().0;
    let mut v = Vec::new();

    // --- the forgery of finding 1 and its variants -------------------------------------------
    let (c, f) = forged_response_via_enveloped_signature_subtree("ceo@acme.test");
    v.push(attack(
        "F1 evil Assertion in ds:Object of a signed error Response",
        c,
        f,
        "unsigned",
    ));
    let (c, f) = forged_response_via_enveloped_signature_subtree("ceo@acme.test");
    let f =
        f.replacen("<ds:Object>", "<ds:KeyInfo>", 1)
            .replacen("</ds:Object>", "</ds:KeyInfo>", 1);
    v.push(attack(
        "F1 variant: evil Assertion in a second ds:KeyInfo",
        c,
        f,
        "unsigned",
    ));
    // Without the root's detached signature the pre-check stops it.
    let (c, f) = forged_response_via_enveloped_signature_subtree("ceo@acme.test");
    let root_sig = span(&f, "<ds:Signature", "</ds:Signature>").to_owned();
    let f = f.replacen(&root_sig, "", 1);
    v.push(attack(
        "F1 without a root-level signature",
        c,
        f,
        "unsigned",
    ));

    // --- signature wrapping on the baseline ---------------------------------------------------
    let good = b();
    let assertion = span(&good, "<saml:Assertion ", "</saml:Assertion>").to_owned();
    let evil = assertion
        .replace("dana@acme.test", "ceo@acme.test")
        .replace(ASSERTION_ID, "_evil");
    let evil_unsigned = {
        let s = span(&evil, "<ds:Signature", "</ds:Signature>").to_owned();
        evil.replacen(&s, "", 1)
    };
    // Signed assertion moved into the evil one's ds:Signature-less body (XSW-like, assertion
    // signature kept inside the original).
    v.push(attack(
        "evil Assertion before the signed one",
        bc(),
        good.replacen(&assertion, &format!("{evil_unsigned}{assertion}"), 1),
        "assertion_count",
    ));
    v.push(attack(
        "signed Assertion hidden in the evil one's ds:Object",
        bc(),
        good.replacen(
            &assertion,
            &evil_unsigned.replacen(
                "</saml:Issuer>",
                &format!("</saml:Issuer><ds:Signature xmlns:ds=\"{DS}\"><ds:Object>{assertion}</ds:Object></ds:Signature>"),
                1,
            ),
            1,
        ),
        "assertion_count",
    ));
    // The signed Assertion renamed out of the SAML namespace so it is not counted: the
    // namespace is part of the canonical form.
    let renamed = assertion
        .replacen(
            "<saml:Assertion ",
            "<x:Assertion xmlns:x=\"urn:not-saml\" ",
            1,
        )
        .replacen("</saml:Assertion>", "</x:Assertion>", 1);
    v.push(attack(
        "signed Assertion moved to another namespace, evil one unsigned",
        bc(),
        good.replacen(&assertion, &format!("{renamed}{evil_unsigned}"), 1),
        "unsigned",
    ));
    // Duplicate ID: the evil Assertion carries the signed one's ID too.
    v.push(attack(
        "duplicate ID (evil Subject carries the Assertion's ID)",
        bc(),
        good.replacen(
            "<saml:Subject>",
            &format!("<saml:Subject ID=\"{ASSERTION_ID}\">"),
            1,
        ),
        "signature_invalid",
    ));
    // Reference URI changed after signing.
    for (name, uri) in [
        (
            "Reference URI to the Response",
            "#_resp_7d0af226cd0f41b3f42f8e6d157b388b",
        ),
        ("Reference URI empty", ""),
        ("Reference URI xpointer", "#xpointer(/)"),
    ] {
        v.push(attack(
            name,
            bc(),
            good.replacen(
                &format!("URI=\"#{ASSERTION_ID}\""),
                &format!("URI=\"{uri}\""),
                1,
            ),
            "signature_invalid",
        ));
    }
    // Signed by the IdP, but the Reference covers only the Subject: not the Assertion.
    let subject_only = idp_sign(
        &baseline_with(&template("#_subj", &std_transforms(), 1)).replacen(
            "<saml:Subject>",
            "<saml:Subject ID=\"_subj\">",
            1,
        ),
        &[&format!("{SAML}:Subject")],
    );
    v.push(attack(
        "IdP signature covering only the Subject",
        bc(),
        subject_only,
        "unsigned",
    ));
    // Legit IdP signatures outside the profile.
    let two_refs = idp_sign(
        &baseline_with(&template(&format!("#{ASSERTION_ID}"), &std_transforms(), 2)),
        &[],
    );
    v.push(attack(
        "IdP signature with two References",
        bc(),
        two_refs,
        "signature_invalid",
    ));
    let empty_uri = idp_sign(&baseline_with(&template("", &std_transforms(), 1)), &[]);
    v.push(attack(
        "IdP signature with URI=\"\" (whole document)",
        bc(),
        empty_uri,
        "signature_invalid",
    ));
    let zero_refs = baseline_with(&template("x", "", 0));
    v.push(attack(
        "signature with no Reference",
        bc(),
        zero_refs,
        "signature_invalid",
    ));
    for (name, transforms, expect) in [
        (
            "IdP signature, inclusive c14n transform",
            format!("<ds:Transform Algorithm=\"{ENVELOPED}\"/><ds:Transform Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/>"),
            "ok:dana@acme.test",
        ),
        (
            "IdP signature, c14n 1.1 transform",
            format!("<ds:Transform Algorithm=\"{ENVELOPED}\"/><ds:Transform Algorithm=\"http://www.w3.org/2006/12/xml-c14n11\"/>"),
            "signature_invalid",
        ),
        (
            "IdP signature, XPath transform",
            format!("<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"><ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform><ds:Transform Algorithm=\"{EXC}\"/>"),
            "signature_invalid",
        ),
        (
            "IdP signature, exc-c14n WithComments transform",
            format!("<ds:Transform Algorithm=\"{ENVELOPED}\"/><ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#WithComments\"/>"),
            "ok:dana@acme.test",
        ),
        (
            "IdP signature, enveloped only (default: inclusive c14n)",
            format!("<ds:Transform Algorithm=\"{ENVELOPED}\"/>"),
            "ok:dana@acme.test",
        ),
    ] {
        let signed = idp_sign(
            &baseline_with(&template(&format!("#{ASSERTION_ID}"), &transforms, 1)),
            &[],
        );
        v.push(attack(name, bc(), signed, expect));
    }
    // Transforms swapped in after signing.
    for (name, alg) in [
        (
            "XSLT transform after signing",
            "http://www.w3.org/TR/1999/REC-xslt-19991116",
        ),
        (
            "base64 transform after signing",
            "http://www.w3.org/2000/09/xmldsig#base64",
        ),
        (
            "inclusive c14n after signing",
            "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        ),
    ] {
        v.push(attack(
            name,
            bc(),
            good.replacen(
                &format!("<ds:Transform Algorithm=\"{EXC}\"/>"),
                &format!("<ds:Transform Algorithm=\"{alg}\"/>"),
                1,
            ),
            "signature_invalid",
        ));
    }

    // --- comments, PIs, CDATA, entities -----------------------------------------------------
    v.push(attack(
        "comment in NameID",
        bc(),
        good.replacen(
            "dana@acme.test</saml:NameID>",
            "dana@acme.test<!---->.evil.test</saml:NameID>",
            1,
        ),
        "xml_comment",
    ));
    v.push(attack(
        "comment splitting NameID (same text)",
        bc(),
        good.replacen(
            "dana@acme.test</saml:NameID>",
            "dana@<!---->acme.test</saml:NameID>",
            1,
        ),
        "xml_comment",
    ));
    v.push(attack(
        "comment in AttributeValue",
        bc(),
        good.replacen(">Admins<", ">Admins<!---->.x<", 1),
        "xml_comment",
    ));
    v.push(attack(
        "comment in SignedInfo (exc-c14n drops it)",
        bc(),
        good.replacen("<ds:SignedInfo>", "<ds:SignedInfo><!-- x -->", 1),
        "xml_comment",
    ));
    v.push(attack(
        "comment inside DigestValue",
        bc(),
        good.replacen("KD3WB6KxZvr/", "KD3WB6KxZvr/<!-- x -->", 1),
        "xml_comment",
    ));
    v.push(attack(
        "comment outside the Assertion (Response Issuer)",
        bc(),
        good.replacen(
            "metadata</saml:Issuer>\n  <samlp:Status>",
            "metadata<!---->.evil</saml:Issuer>\n  <samlp:Status>",
            1,
        ),
        "issuer_mismatch",
    ));
    v.push(attack(
        "processing instruction in NameID",
        bc(),
        good.replacen(
            "dana@acme.test</saml:NameID>",
            "dana@acme.test<?x y?></saml:NameID>",
            1,
        ),
        "signature_invalid",
    ));
    v.push(attack(
        "processing instruction between Assertion children",
        bc(),
        good.replacen("<saml:Subject>", "<?x y?><saml:Subject>", 1),
        "signature_invalid",
    ));
    v.push(attack(
        "NameID as CDATA (same value)",
        bc(),
        good.replacen(
            ">dana@acme.test</saml:NameID>",
            "><![CDATA[dana@acme.test]]></saml:NameID>",
            1,
        ),
        "ok:dana@acme.test",
    ));
    v.push(attack(
        "NameID via character references (same value)",
        bc(),
        good.replacen(
            ">dana@acme.test</saml:NameID>",
            ">&#100;ana&#64;acme.test</saml:NameID>",
            1,
        ),
        "ok:dana@acme.test",
    ));
    v.push(attack(
        "NameID CDATA with markup-looking text",
        bc(),
        good.replacen(
            ">dana@acme.test</saml:NameID>",
            "><![CDATA[dana@acme.test<x/>]]></saml:NameID>",
            1,
        ),
        "signature_invalid",
    ));
    v.push(attack(
        "DOCTYPE with external entity",
        bc(),
        format!("<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{good}"),
        "dtd_forbidden",
    ));
    v.push(attack(
        "lower-case doctype",
        bc(),
        format!("<!doctype r>{good}"),
        "dtd_forbidden",
    ));
    v.push(attack(
        "billion laughs",
        bc(),
        format!("<!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>{}", good.replacen("dana@acme.test</saml:NameID>", "&c;</saml:NameID>", 1)),
        "dtd_forbidden",
    ));
    v.push(attack(
        "undeclared entity reference",
        bc(),
        good.replacen("dana@acme.test</saml:NameID>", "&evil;</saml:NameID>", 1),
        "malformed",
    ));
    v.push(attack(
        "XML declaration with another encoding",
        bc(),
        format!("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>{good}"),
        "ok:dana@acme.test",
    ));

    // --- namespaces -----------------------------------------------------------------------
    v.push(attack(
        "ds prefix bound to another namespace",
        bc(),
        good.replacen(&format!("xmlns:ds=\"{DS}\""), "xmlns:ds=\"urn:evil\"", 1),
        "unsigned",
    ));
    v.push(attack(
        "saml prefix rebound on NameID",
        bc(),
        good.replacen("<saml:NameID ", "<saml:NameID xmlns:saml=\"urn:evil\" ", 1),
        "signature_invalid",
    ));
    v.push(attack(
        "redundant re-declaration of saml on the Assertion",
        bc(),
        good.replacen(
            "<saml:Assertion ",
            &format!("<saml:Assertion xmlns:saml=\"{SAML}\" "),
            1,
        ),
        "ok:dana@acme.test",
    ));
    v.push(attack(
        "unused namespace declarations added",
        bc(),
        good.replacen(
            "<saml:Subject>",
            "<saml:Subject xmlns:zz=\"urn:zz\" xmlns=\"urn:default\">",
            1,
        ),
        "ok:dana@acme.test",
    ));
    v.push(attack(
        "Assertion rewritten with a default namespace (same names)",
        bc(),
        {
            let a2 = assertion
                .replace("<saml:", "<")
                .replace("</saml:", "</")
                .replacen("<Assertion ", &format!("<Assertion xmlns=\"{SAML}\" "), 1);
            good.replacen(&assertion, &a2, 1)
        },
        "signature_invalid",
    ));
    v.push(attack(
        "InclusiveNamespaces PrefixList added after signing",
        bc(),
        good.replacen(
            &format!("<ds:Transform Algorithm=\"{EXC}\"/>"),
            &format!("<ds:Transform Algorithm=\"{EXC}\"><ec:InclusiveNamespaces xmlns:ec=\"{EXC}\" PrefixList=\"samlp\"/></ds:Transform>"),
            1,
        ),
        "signature_invalid",
    ));
    v.push(attack(
        "xml:lang added on the Response (exc-c14n ignores ancestors)",
        bc(),
        good.replacen("<samlp:Response ", "<samlp:Response xml:lang=\"en\" ", 1),
        "ok:dana@acme.test",
    ));

    // --- canonical-form equivalences (must stay accepted, like xmlsec1) ----------------------
    v.push(attack(
        "attributes reordered, single quotes, whitespace in tags",
        bc(),
        good.replacen(
            "<saml:NameID Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress\">",
            "<saml:NameID\n\t Format = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'  >",
            1,
        )
        .replacen(
            "<saml:SubjectConfirmationData InResponseTo=\"_lanyard_req_1\" NotOnOrAfter=\"2026-11-28T12:05:00Z\" Recipient=",
            "<saml:SubjectConfirmationData Recipient=",
            1,
        )
        .replacen(
            "/acs\"/>\n      </saml:SubjectConfirmation>",
            "/acs\" NotOnOrAfter=\"2026-11-28T12:05:00Z\" InResponseTo=\"_lanyard_req_1\"></saml:SubjectConfirmationData>\n      </saml:SubjectConfirmation>",
            1,
        ),
        "ok:dana@acme.test",
    ));
    v.push(attack(
        "CRLF line ends in the signed Assertion",
        bc(),
        good.replace('\n', "\r\n"),
        "ok:dana@acme.test",
    ));
    // Literal CR LF and tab inside attribute values of an IdP-signed document: the parser must
    // normalize them as libxml2 does (CR LF → one space) or good responses are refused.
    let crlf = idp_sign(
        &baseline_with(&template(&format!("#{ASSERTION_ID}"), &std_transforms(), 1)).replacen(
            "<saml:NameID ",
            "<saml:NameID SPProvidedID=\"a\r\nb\tc\" ",
            1,
        ),
        &[],
    );
    v.push(attack(
        "IdP-signed literal CR LF and tab in an attribute value",
        bc(),
        crlf,
        "ok:dana@acme.test",
    ));
    let non_ascii = idp_sign(
        &baseline_with(&template(&format!("#{ASSERTION_ID}"), &std_transforms(), 1)).replacen(
            "dana@acme.test</saml:NameID>",
            "dänä@acme.test</saml:NameID>",
            1,
        ),
        &[],
    );
    v.push(attack(
        "IdP-signed non-ASCII NameID",
        bc(),
        non_ascii,
        "ok:dänä@acme.test",
    ));
    v.push(attack(
        "whitespace added inside the NameID text",
        bc(),
        good.replacen(">dana@acme.test<", "> dana@acme.test <", 1),
        "signature_invalid",
    ));

    // --- algorithms -------------------------------------------------------------------------
    for (name, from, to, expect) in [
        (
            "HMAC-SHA1 signature method",
            RSA_SHA256,
            "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
            "signature_algorithm",
        ),
        (
            "HMAC-SHA256 signature method",
            RSA_SHA256,
            "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
            "signature_algorithm",
        ),
        (
            "unknown signature method",
            RSA_SHA256,
            "urn:evil",
            "signature_algorithm",
        ),
        (
            "RSA-PSS signature method",
            RSA_SHA256,
            "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1",
            "signature_algorithm",
        ),
        (
            "ECDSA method with the RSA key",
            RSA_SHA256,
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
            "signature_invalid",
        ),
        (
            "RSA-SHA512 method label on an RSA-SHA256 value",
            RSA_SHA256,
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
            "signature_invalid",
        ),
        (
            "SHA-1 digest method",
            SHA256,
            "http://www.w3.org/2000/09/xmldsig#sha1",
            "signature_algorithm",
        ),
        (
            "unknown digest method",
            SHA256,
            "urn:evil",
            "signature_algorithm",
        ),
    ] {
        v.push(attack(name, bc(), good.replacen(from, to, 1), expect));
    }

    // --- keys and SignatureValue ---------------------------------------------------------------
    let attacker_signed = xmlsec_sign(
        &baseline_with(&template(&format!("#{ASSERTION_ID}"), &std_transforms(), 1))
            .replace("dana@acme.test", "ceo@acme.test"),
        &keys().join("attacker.key"),
        &keys().join("attacker.crt"),
        &[],
    );
    v.push(attack(
        "signed by an attacker key (no KeyInfo)",
        bc(),
        attacker_signed.clone(),
        "signature_invalid",
    ));
    v.push(attack(
        "signed by an attacker key, KeyInfo with the attacker certificate",
        bc(),
        attacker_signed.replacen(
            "</ds:SignatureValue>",
            &format!(
                "</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>",
                std::fs::read_to_string(keys().join("attacker.crt"))
                    .unwrap()
                    .lines()
                    .filter(|l| !l.starts_with("-----"))
                    .collect::<String>()
            ),
            1,
        ),
        "signature_invalid",
    ));
    v.push(attack(
        "KeyInfo swapped for the attacker certificate on a good response",
        bc(),
        good.replacen("MIIC5zCCAc+gAwIBAgICEAEw", "MIIC5zCCAc+gAwIBAgICEAEx", 1),
        "ok:dana@acme.test",
    ));
    let sv = span(&good, "<ds:SignatureValue>", "</ds:SignatureValue>").to_owned();
    v.push(attack(
        "SignatureValue with extra whitespace",
        bc(),
        good.replacen(
            &sv,
            &sv.replace('\n', " \r\n\t ").replacen(
                "<ds:SignatureValue>",
                "<ds:SignatureValue>\n  ",
                1,
            ),
            1,
        ),
        "ok:dana@acme.test",
    ));
    v.push(attack(
        "SignatureValue with a bad base64 character",
        bc(),
        good.replacen(&sv, &sv.replacen("vB/Upk8e", "vB/Upk8!", 1), 1),
        "signature_invalid",
    ));
    v.push(attack(
        "SignatureValue truncated",
        bc(),
        good.replacen(&sv, "<ds:SignatureValue>vB/Upk8e</ds:SignatureValue>", 1),
        "signature_invalid",
    ));
    v.push(attack(
        "SignatureValue with an element inside",
        bc(),
        good.replacen("vB/Upk8e", "vB/U<ds:x/>pk8e", 1),
        "ok:dana@acme.test",
    ));
    v.push(attack(
        "SignatureValue empty",
        bc(),
        good.replacen(&sv, "<ds:SignatureValue/>", 1),
        "signature_invalid",
    ));

    // --- where the identity is read from -------------------------------------------------------
    v.push(attack(
        "assertion-signed: Response Destination changed",
        bc(),
        good.replacen("/acs\" InResponseTo", "/evil\" InResponseTo", 1),
        "destination_mismatch",
    ));
    v.push(attack(
        "assertion-signed: Response Destination removed",
        bc(),
        good.replacen(
            " Destination=\"http://127.0.0.1:3000/sso/saml/conn_01JVECTORS000000000000000/acs\" InResponseTo",
            " InResponseTo",
            1,
        ),
        "ok:dana@acme.test",
    ));
    v.push(attack(
        "assertion-signed: Response InResponseTo changed",
        bc(),
        good.replacen(
            "InResponseTo=\"_lanyard_req_1\">",
            "InResponseTo=\"_other\">",
            1,
        ),
        "in_response_to_mismatch",
    ));
    v.push(attack(
        "assertion-signed: Response Issuer changed",
        bc(),
        good.replacen(
            "metadata</saml:Issuer>\n  <samlp:Status>",
            "metadata.evil</saml:Issuer>\n  <samlp:Status>",
            1,
        ),
        "issuer_mismatch",
    ));
    v.push(attack(
        "assertion-signed: Status changed to Responder",
        bc(),
        good.replacen("status:Success", "status:Responder", 1),
        "status_not_success",
    ));
    v.push(attack(
        "signed Assertion moved into samlp:Extensions (only Assertion)",
        bc(),
        good.replacen(&assertion, "", 1).replacen(
            "<samlp:Status>",
            &format!("<samlp:Extensions>{assertion}</samlp:Extensions><samlp:Status>"),
            1,
        ),
        "ok:dana@acme.test",
    ));
    let rs = case("xmlsec1_response_signed");
    let rs_xml = rs.xml.clone();
    v.push(attack(
        "response-signed: NameID changed",
        case("xmlsec1_response_signed"),
        rs_xml.replacen(
            "dana@acme.test</saml:NameID>",
            "ceo@acme.test</saml:NameID>",
            1,
        ),
        "signature_invalid",
    ));
    v.push(attack(
        "response-signed: Audience changed",
        case("xmlsec1_response_signed"),
        rs_xml.replacen("/metadata</saml:Audience>", "/x</saml:Audience>", 1),
        "signature_invalid",
    ));
    v.push(attack(
        "response-signed: unsigned evil Assertion in the Response signature's ds:Object, original removed",
        case("xmlsec1_response_signed"),
        {
            let a = span(&rs_xml, "<saml:Assertion ", "</saml:Assertion>").to_owned();
            let e = a.replace("dana@acme.test", "ceo@acme.test");
            rs_xml
                .replacen(&a, "", 1)
                .replacen("</ds:Signature>", &format!("<ds:Object>{e}</ds:Object></ds:Signature>"), 1)
        },
        "signature_invalid",
    ));
    v.push(attack(
        "EncryptedAssertion instead of the Assertion",
        bc(),
        good.replacen(
            &assertion,
            "<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\"/></saml:EncryptedAssertion>",
            1,
        ),
        "encrypted_assertion",
    ));
    v.push(attack(
        "EncryptedAssertion next to the signed Assertion",
        bc(),
        good.replacen(
            &assertion,
            &format!("{assertion}<saml:EncryptedAssertion/>"),
            1,
        ),
        "assertion_count",
    ));

    // --- size and depth ---------------------------------------------------------------------
    v.push(attack(
        "129 levels of nesting",
        bc(),
        good.replacen(
            "</samlp:Response>",
            &format!(
                "{}{}</samlp:Response>",
                "<a>".repeat(129),
                "</a>".repeat(129)
            ),
            1,
        ),
        "malformed",
    ));
    v.push(attack(
        "nesting limit bypass with <!--> (1,000 levels; finding 2)",
        bc(),
        nesting_bypass(1_000),
        "malformed",
    ));
    v.push(attack(
        "1 MiB of whitespace (validate has no size limit of its own)",
        bc(),
        good.replacen(
            "</samlp:Response>",
            &format!("{}</samlp:Response>", " ".repeat(1 << 20)),
            1,
        ),
        "ok:dana@acme.test",
    ));
    v.push(attack(
        "many signatures: 2,000 unsigned copies in the Response",
        bc(),
        good.replacen(
            "</samlp:Response>",
            &format!(
                "{}</samlp:Response>",
                template("#_x", &std_transforms(), 1).repeat(2_000)
            ),
            1,
        ),
        "signature_invalid",
    ));
    v
}

#[test]
fn attack_survey() {
    let attacks = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(|| {
            attacks()
                .into_iter()
                .map(|a| {
                    let t = Instant::now();
                    let got = code(&run(&a.case, &a.xml));
                    (a.name, a.expect, got, t.elapsed())
                })
                .collect::<Vec<_>>()
        })
        .unwrap()
        .join()
        .unwrap();
    let mut wrong = Vec::new();
    for (name, expect, got, t) in &attacks {
        eprintln!("{:<90} {:<24} {:?}", name, got, t);
        if got != expect {
            wrong.push(format!("{name}: expected {expect}, got {got}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Finding 1 end to end: through the real ACS, with a database, against the samlify test IdP.
// ---------------------------------------------------------------------------------------------

/// An error Response (no Assertion) signed with the test IdP's own key, as an IdP signs its
/// error answers (the samlify test IdP has no mode for them, so xmlsec1 plays that part).
fn idp_signed_error_response(id: &str, issuer: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/saml_idp");
    let xml = format!(
        "<samlp:Response xmlns:samlp=\"{SAMLP}\" xmlns:saml=\"{SAML}\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"2026-01-01T00:00:00Z\"><saml:Issuer>{issuer}</saml:Issuer>{}<samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Responder\"><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:NoPassive\"/></samlp:StatusCode></samlp:Status></samlp:Response>",
        template(&format!("#{id}"), &std_transforms(), 1)
    );
    xmlsec_sign(&xml, &dir.join("idp.key"), &dir.join("idp.crt"), &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_1_end_to_end_a_forged_response_signs_in_as_another_user() {
    use axum::http::{Method, StatusCode};
    use base64::Engine as _;
    use serde_json::json;

    use crate::helpers::{param, sign_in_app, verified_domain, Dialect, ORIGIN, VENDOR_CB};
    use crate::saml_idp::{Post, TestIdp};

    let (app, idp) = (sign_in_app(Dialect::Sqlite).await, TestIdp::start());
    let org = app.create_org("Acme").await;
    verified_domain(&app, &org, "acme.test").await;
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{org}/connections"),
            Some(json!({"type": "saml", "name": "Okta SAML", "idp": "okta", "saml": {"idp_metadata_url": idp.entity_id()}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    crate::helpers::activate_connection(&app, &id).await;
    async fn start(app: &crate::helpers::TestApp, org: &str) -> String {
        let r = app
            .browser_get(
                &format!("/sso/authorize?organization={org}&redirect_uri={VENDOR_CB}&state=s"),
                None,
            )
            .await;
        r.header("location").unwrap()
    }
    let code_of = |r: &crate::helpers::TestResponse| {
        r.header("location")
            .and_then(|l| url::Url::parse(&l).ok())
            .and_then(|u| param(&u, "code"))
    };
    // The victim exists: ceo@acme.test signed in once.
    idp.set_user(json!({"name_id": "ceo@acme.test", "email": "ceo@acme.test", "first_name": "C", "last_name": "Eo", "groups": ["Admins"]})).await;
    let post = idp.login(&start(&app, &org).await).await;
    let victim = crate::helpers::exchange(&app, &code_of(&idp.post_to(&app, &post).await).unwrap())
        .await
        .json();
    // The attacker, eve@acme.test, starts her own sign-in and keeps the IdP's answer.
    idp.set_user(json!({"name_id": "eve@acme.test", "email": "eve@acme.test", "first_name": "Eve", "last_name": "X", "groups": []})).await;
    let mine = idp.login(&start(&app, &org).await).await;
    let legit = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(mine.saml_response.as_bytes())
            .unwrap(),
    )
    .unwrap();
    // Her own (legit) Assertion, unsigned and renamed to the victim, every namespace it uses
    // declared on it.
    let doc = roxmltree::Document::parse(&legit).unwrap();
    let a = doc
        .descendants()
        .find(|n| n.tag_name().namespace() == Some(SAML) && n.tag_name().name() == "Assertion")
        .unwrap();
    let mut evil = legit[a.range()].to_owned();
    if let Some(s) = a
        .children()
        .find(|n| n.tag_name().namespace() == Some(DS) && n.tag_name().name() == "Signature")
    {
        evil = evil.replacen(&legit[s.range()], "", 1);
    }
    let own_decls = &legit[a.range().start..a.range().start + evil.find('>').unwrap()];
    let decls: String = a
        .namespaces()
        .filter(|ns| {
            let attr = match ns.name() {
                Some(p) => format!("xmlns:{p}="),
                None => "xmlns=".to_owned(),
            };
            !own_decls.contains(&attr)
        })
        .map(|ns| match ns.name() {
            Some(p) => format!(" xmlns:{p}=\"{}\"", ns.uri()),
            None => format!(" xmlns=\"{}\"", ns.uri()),
        })
        .collect();
    let qname_end = evil.find([' ', '>']).unwrap();
    evil.insert_str(qname_end, &decls);
    let evil = evil.replace("eve@acme.test", "ceo@acme.test");
    let root = doc.root_element();
    let irt = root.attribute("InResponseTo").unwrap();
    let acs = format!("{ORIGIN}/sso/saml/{id}/acs");
    // Two error Responses the IdP signed (T and U).
    let t = idp_signed_error_response("_err_t", &idp.entity_id());
    let u = idp_signed_error_response("_err_u", &idp.entity_id());
    let t = t[t.find("<samlp:Response").unwrap()..]
        .trim_end()
        .to_owned();
    let u = u[u.find("<samlp:Response").unwrap()..]
        .trim_end()
        .to_owned();
    let u_sig = span(&u, "<ds:Signature", "</ds:Signature>").to_owned();
    let u_bare = u.replacen(&u_sig, "", 1);
    let t_with_evil = t.replacen(
        "</ds:Signature>",
        &format!("<ds:Object>{evil}</ds:Object></ds:Signature>"),
        1,
    );
    let forged = format!(
        "<samlp:Response xmlns:samlp=\"{SAMLP}\" xmlns:saml=\"{SAML}\" ID=\"_forged\" Version=\"2.0\" IssueInstant=\"2026-01-01T00:00:00Z\" Destination=\"{acs}\" InResponseTo=\"{irt}\"><saml:Issuer>{}</saml:Issuer>{u_sig}<samlp:Extensions>{u_bare}{t_with_evil}</samlp:Extensions><samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></samlp:Status></samlp:Response>",
        idp.entity_id()
    );
    let post = Post {
        action: mine.action.clone(),
        saml_response: base64::engine::general_purpose::STANDARD.encode(forged.as_bytes()),
        relay_state: mine.relay_state.clone(),
    };
    let r = idp.post_to(&app, &post).await;
    let code = code_of(&r);
    if let Some(c) = &code {
        let j = crate::helpers::exchange(&app, c).await.json();
        eprintln!(
            "FORGED SIGN-IN: profile {} {} (victim's profile id {})",
            j["profile"]["id"], j["profile"]["email"], victim["profile"]["id"]
        );
    } else {
        eprintln!("forged response refused: {} {}", r.status, r.text());
    }
    assert!(
        code.is_none(),
        "the forged response signed eve in as ceo@acme.test"
    );
}

/// A connection with no pinned IdP entity id trusts nothing: an IdP-signed Response without any
/// Issuer (so the empty pinned value and the missing Issuer would compare equal) is refused.
#[test]
fn an_empty_pinned_entity_id_refuses_a_response_without_issuer() {
    let (mut c, _) = baseline();
    let issuer = "<saml:Issuer>http://idp.vectors.test/metadata</saml:Issuer>";
    let no_issuer = idp_sign(
        &baseline_with(&template(&format!("#{ASSERTION_ID}"), &std_transforms(), 1))
            .replace(issuer, ""),
        &[],
    );
    // With the entity id pinned, the same document is refused for its missing Issuer ...
    assert_eq!(code(&run(&c, &no_issuer)), "issuer_mismatch");
    // ... and with none pinned it is refused as well, never taken as a match of two blanks.
    c.trust.idp_entity_id = String::new();
    assert_eq!(code(&run(&c, &no_issuer)), "issuer_mismatch");
    // The IdP's signature on it is good: only the Issuer check stands in the way.
    c.trust.idp_entity_id = "http://idp.vectors.test/metadata".into();
    let signed = idp_sign(
        &baseline_with(&template(&format!("#{ASSERTION_ID}"), &std_transforms(), 1)),
        &[],
    );
    assert_eq!(code(&run(&c, &signed)), "ok:dana@acme.test");
}
