//! Runs every folder of tests/vectors/saml/cases through the SAML validator with the case's
//! pinned clock: good responses from two signers (xmlsec1, xml-crypto) pass with the expected
//! NameID and attributes; every attack is refused with its specific code.

use std::path::{Path, PathBuf};

use lanyard::server::protocol::saml::metadata::decode_certificate;
use lanyard::server::protocol::saml::parse_instant;
use lanyard::server::protocol::saml::response::{validate, Trust, Validation};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/saml")
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn trust_for(case: &serde_json::Value) -> Trust {
    let sp = json(&root().join("sp.json"));
    let certs = case
        .get("certificates")
        .unwrap_or(&sp["certificates"])
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            decode_certificate(&std::fs::read_to_string(root().join(p.as_str().unwrap())).unwrap())
                .unwrap()
        })
        .collect();
    Trust {
        sp_entity_id: sp["sp_entity_id"].as_str().unwrap().into(),
        acs_url: sp["acs_url"].as_str().unwrap().into(),
        idp_entity_id: sp["idp_entity_id"].as_str().unwrap().into(),
        certificates: certs,
        skew_ms: sp["skew_seconds"].as_i64().unwrap() * 1000,
        allow_idp_initiated: case["allow_idp_initiated"].as_bool().unwrap_or(false),
    }
}

/// Runs one case folder; returns the code the validator produced (`ok` on success).
pub fn run_case(dir: &Path) -> (String, serde_json::Value) {
    let case = json(&dir.join("case.json"));
    let xml = std::fs::read_to_string(dir.join("response.xml")).unwrap();
    let trust = trust_for(&case);
    let v = Validation {
        trust: &trust,
        now_ms: parse_instant(case["now"].as_str().unwrap()).unwrap(),
        expected_request_id: case["in_response_to"].as_str(),
    };
    match validate(&xml, &v) {
        Ok(a) => {
            if let Some(n) = case["name_id"].as_str() {
                assert_eq!(a.name_id, n, "{}: NameID read", dir.display());
            }
            if let Some(attrs) = case["attributes"].as_object() {
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
            ("ok".into(), case)
        }
        Err(f) => {
            assert!(!f.message.is_empty());
            (f.code.to_owned(), case)
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
    let dir = root().join("cases/xmlsec1_sp_initiated");
    let case = json(&dir.join("case.json"));
    let mut trust = trust_for(&case);
    trust.certificates.clear();
    let xml = std::fs::read_to_string(dir.join("response.xml")).unwrap();
    let v = Validation {
        trust: &trust,
        now_ms: parse_instant(case["now"].as_str().unwrap()).unwrap(),
        expected_request_id: case["in_response_to"].as_str(),
    };
    assert_eq!(validate(&xml, &v).unwrap_err().code, "no_certificate");
}
