//! Runs every folder of tests/vectors/saml/cases through the SAML validator with the case's
//! pinned clock: good responses from two signers (xmlsec1, xml-crypto) pass with the expected
//! NameID and attributes; every attack is refused with its specific code.

use std::path::{Path, PathBuf};

use lanyard::server::protocol::saml::response::{validate, Validation};

#[path = "../support/saml_vectors.rs"]
pub(crate) mod vectors;
use vectors::{json, load, root};

/// Runs one case folder; returns the code the validator produced (`ok` on success).
fn run_case(dir: &Path) -> (String, serde_json::Value) {
    let c = load(dir);
    let v = Validation {
        trust: &c.trust,
        now_ms: c.now_ms,
        expected_request_id: c.in_response_to.as_deref(),
    };
    match validate(&c.xml, &v) {
        Ok(a) => {
            assert_eq!(
                a.decrypted_with.as_deref(),
                c.spec["decrypted_with"].as_str(),
                "{}: the key that decrypted",
                dir.display()
            );
            if let Some(n) = c.spec["name_id"].as_str() {
                assert_eq!(a.name_id, n, "{}: NameID read", dir.display());
            }
            if let Some(attrs) = c.spec["attributes"].as_object() {
                for (k, vals) in attrs {
                    let want: Vec<String> = vals
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap().to_owned())
                        .collect();
                    assert_eq!(
                        a.attributes.get(k),
                        Some(&want),
                        "{}: attribute {k}",
                        dir.display()
                    );
                }
            }
            ("ok".into(), c.spec)
        }
        Err(f) => {
            assert!(!f.message.is_empty());
            (f.code.to_owned(), c.spec)
        }
    }
}

#[test]
fn every_vector_gives_its_expected_result() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("case.json").exists())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 40,
        "expected the full vector set, found {}",
        dirs.len()
    );
    let mut wrong = Vec::new();
    let (mut good, mut bad) = (0, 0);
    for d in &dirs {
        let (got, case) = run_case(d);
        let want = case["expect"].as_str().unwrap();
        if want == "ok" {
            good += 1
        } else {
            bad += 1
        }
        if got != want {
            wrong.push(format!(
                "{}: expected {want}, got {got}",
                d.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "vectors with the wrong result:\n{}",
        wrong.join("\n")
    );
    eprintln!("SAML vectors: {good} accepted, {bad} attacks refused");
}

#[test]
fn both_signing_implementations_are_represented() {
    let signers: std::collections::BTreeSet<String> = std::fs::read_dir(root().join("cases"))
        .unwrap()
        .map(|e| json(&e.unwrap().path().join("case.json")))
        .filter(|c| c["expect"] == "ok")
        .map(|c| c["signer"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        signers.contains("xmlsec1") && signers.contains("xml-crypto"),
        "{signers:?}"
    );
}

#[test]
fn an_empty_pinned_certificate_set_never_authenticates() {
    // samael skips verification when it has no certificate; Lanyard refuses before asking it.
    let mut c = load(&root().join("cases/xmlsec1_sp_initiated"));
    c.trust.certificates.clear();
    let v = Validation {
        trust: &c.trust,
        now_ms: c.now_ms,
        expected_request_id: c.in_response_to.as_deref(),
    };
    assert_eq!(validate(&c.xml, &v).unwrap_err().code, "no_certificate");
}

#[test]
fn a_deeply_nested_response_is_refused_before_parsing() {
    // The XML parser recurses once per level: 70,000 levels (under the ACS's 512 KiB limit)
    // would overflow the validating thread's stack and abort the whole process.
    let c = load(&root().join("cases/xmlsec1_sp_initiated"));
    let depth = 70_000;
    let xml = c.xml.replacen(
        "</samlp:Response>",
        &format!(
            "{}{}</samlp:Response>",
            "<x>".repeat(depth),
            "</x>".repeat(depth)
        ),
        1,
    );
    let v = Validation {
        trust: &c.trust,
        now_ms: c.now_ms,
        expected_request_id: c.in_response_to.as_deref(),
    };
    let f = validate(&xml, &v).unwrap_err();
    assert_eq!(f.code, "malformed", "{}", f.message);
    assert!(f.message.contains("deep"), "{}", f.message);
}
