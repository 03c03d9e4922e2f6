//! How long one SAML Response takes to validate, on the committed test vectors, and where the
//! time goes: parsing, canonicalization, digest, the RSA check and decoding a certificate (which
//! validation no longer does: keys are decoded once per certificate, see
//! docs/decisions/0002-saml-validation-speed.md).
//!
//! Run: `cargo bench --features ssr --bench saml_validate`. Criterion prints each figure; a
//! summary with the one-assertion figure (median µs per validation, one thread) is printed last.

use std::time::{Duration, Instant};

use criterion::Criterion;
use lanyard::server::protocol::saml::c14n::{canonicalize, Canonicalization};
use lanyard::server::protocol::saml::dsig::{self, Ids, PinnedCertificate};
use lanyard::server::protocol::saml::metadata::decode_certificate;
use lanyard::server::protocol::saml::response::{validate, Validation};
use lanyard::server::protocol::saml::{NS_ASSERTION, NS_DSIG};

#[path = "../tests/support/saml_vectors.rs"]
#[expect(dead_code, reason = "the benchmark uses only load and root")]
mod vectors;

/// The one-assertion signed response of the target: the baseline vector, its Assertion
/// signed (RSA-SHA256, exclusive c14n), SP-initiated.
const ONE_ASSERTION: &str = "xmlsec1_sp_initiated";

const CASES: [&str; 8] = [
    ONE_ASSERTION,
    // The same assertion encrypted to the SP (RSA-OAEP 2048 + AES-256-GCM, signature inside),
    // and encrypted with AES-256-CBC under a Response signature.
    "encrypted_oaep_gcm_xmlsec1",
    "encrypted_signature_outside",
    "xmlcrypto_both_signed",
    "okta_shape",
    "entra_shape",
    "xsw3",
    "signed_by_attacker",
];

fn validate_case(v: &vectors::Case) -> bool {
    let val = Validation {
        trust: &v.trust,
        now_ms: v.now_ms,
        expected_request_id: v.in_response_to.as_deref(),
    };
    validate(&v.xml, &val).is_ok()
}

fn bench_cases(c: &mut Criterion) {
    for case in CASES {
        let v = vectors::load(&vectors::root().join("cases").join(case));
        c.bench_function(&format!("validate {case}"), |b| {
            b.iter(|| std::hint::black_box(validate_case(&v)))
        });
    }
}

/// Each step of validating the one-assertion response on its own.
fn bench_steps(c: &mut Criterion) {
    let v = vectors::load(&vectors::root().join("cases").join(ONE_ASSERTION));
    let xml = v.xml.as_str();
    c.bench_function("step: parse (roxmltree)", |b| {
        b.iter(|| std::hint::black_box(roxmltree::Document::parse(xml).unwrap().root().id()))
    });
    let doc = roxmltree::Document::parse(xml).unwrap();
    let assertion = doc
        .descendants()
        .find(|n| n.is_element() && n.tag_name() == (NS_ASSERTION, "Assertion").into())
        .unwrap();
    let sig = assertion
        .children()
        .find(|n| n.tag_name() == (NS_DSIG, "Signature").into())
        .unwrap();
    let exc =
        Canonicalization::from_uri(lanyard::server::protocol::saml::c14n::EXC_C14N, None).unwrap();
    let mut out = Vec::with_capacity(xml.len());
    c.bench_function("step: exclusive c14n of the Assertion", |b| {
        b.iter(|| {
            out.clear();
            canonicalize(assertion, Some(sig), &exc, &mut out).unwrap();
            std::hint::black_box(out.len())
        })
    });
    c.bench_function("step: sha256 of the canonical Assertion", |b| {
        b.iter(|| {
            std::hint::black_box(
                openssl::hash::hash(openssl::hash::MessageDigest::sha256(), &out).unwrap(),
            )
        })
    });
    c.bench_function(
        "step: verify the one Signature (c14n x2, digest, RSA)",
        |b| {
            let ids = Ids::of(&doc);
            let mut scratch = Vec::new();
            b.iter(|| {
                std::hint::black_box(
                    dsig::verify(sig, &ids, &v.trust.certificates, &mut scratch)
                        .unwrap()
                        .id(),
                )
            })
        },
    );
    let pem = std::fs::read_to_string(vectors::root().join("keys/idp.crt")).unwrap();
    let der = decode_certificate(&pem).unwrap();
    c.bench_function(
        "step: decode a certificate (now once per certificate)",
        |b| b.iter(|| std::hint::black_box(PinnedCertificate::from_der(&der).unwrap().fingerprint)),
    );
}

/// Median µs per validation of `case`, over `rounds` rounds of 200 on this thread.
fn median_us(case: &str, rounds: usize) -> f64 {
    let v = vectors::load(&vectors::root().join("cases").join(case));
    let mut per: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..200 {
                std::hint::black_box(validate_case(&v));
            }
            t.elapsed().as_secs_f64() * 1e6 / 200.0
        })
        .collect();
    per.sort_by(|a, b| a.total_cmp(b));
    per[per.len() / 2]
}

fn main() {
    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench_cases(&mut c);
    bench_steps(&mut c);
    c.final_summary();
    println!("\nSAML validation, median per response on one thread (50 rounds of 200):");
    for case in CASES {
        let label = if case == ONE_ASSERTION {
            format!("{case} (one-assertion signed response)")
        } else {
            case.to_owned()
        };
        println!("  {label:<55} {:>8.1} µs", median_us(case, 50));
    }
}
