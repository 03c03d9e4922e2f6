//! Loads one folder of tests/vectors/saml/cases: the response, the trust it is checked against
//! (sp.json, overridden by the case) and the case's clock. Shared by the vector test and the
//! benchmark (included with `#[path]`).

use std::path::{Path, PathBuf};

use lanyard::server::protocol::saml::dsig::PinnedCertificate;
use lanyard::server::protocol::saml::metadata::decode_certificate;
use lanyard::server::protocol::saml::parse_instant;
use lanyard::server::protocol::saml::response::Trust;
use lanyard::server::protocol::saml::xmlenc::DecryptionKey;

/// `tests/vectors/saml`.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/saml")
}

pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// One case, ready to validate.
pub struct Case {
    pub xml: String,
    pub trust: Trust,
    pub now_ms: i64,
    pub in_response_to: Option<String>,
    pub spec: serde_json::Value,
}

pub fn load(dir: &Path) -> Case {
    let sp = json(&root().join("sp.json"));
    let spec = json(&dir.join("case.json"));
    let certificates = spec
        .get("certificates")
        .unwrap_or(&sp["certificates"])
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let pem = std::fs::read_to_string(root().join(p.as_str().unwrap())).unwrap();
            PinnedCertificate::from_der(&decode_certificate(&pem).unwrap()).unwrap()
        })
        .collect();
    Case {
        xml: std::fs::read_to_string(dir.join("response.xml")).unwrap(),
        trust: Trust {
            sp_entity_id: sp["sp_entity_id"].as_str().unwrap().into(),
            acs_url: sp["acs_url"].as_str().unwrap().into(),
            idp_entity_id: sp["idp_entity_id"].as_str().unwrap().into(),
            certificates,
            skew_ms: sp["skew_seconds"].as_i64().unwrap() * 1000,
            allow_idp_initiated: spec["allow_idp_initiated"].as_bool().unwrap_or(false),
            decryption_keys: spec["decryption_keys"]
                .as_array()
                .map(|keys| {
                    keys.iter()
                        .map(|p| {
                            let p = p.as_str().unwrap();
                            let pem = std::fs::read(root().join(p)).unwrap();
                            DecryptionKey {
                                id: p.to_owned(),
                                key: openssl::pkey::PKey::private_key_from_pem(&pem).unwrap(),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default(),
            require_encrypted: spec["require_encrypted"].as_bool().unwrap_or(false),
            require_assertion_signed: spec["require_assertion_signed"].as_bool().unwrap_or(false),
        },
        now_ms: parse_instant(spec["now"].as_str().unwrap()).unwrap(),
        in_response_to: spec["in_response_to"].as_str().map(str::to_owned),
        spec,
    }
}
