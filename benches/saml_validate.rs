//! How long one SAML Response takes to validate (DTD scan, parse, assertion count, libxmlsec1
//! signature verification and reduction, conditions), on the committed test vectors.
//! Run: `cargo bench --features ssr --bench saml_validate`.

use criterion::{criterion_group, criterion_main, Criterion};
use lanyard::server::protocol::saml::response::{validate, Validation};

#[path = "../tests/support/saml_vectors.rs"]
#[expect(dead_code, reason = "the benchmark uses only load and root")]
mod vectors;

fn bench(c: &mut Criterion) {
    for case in [
        "xmlsec1_sp_initiated",
        "xmlcrypto_both_signed",
        "okta_shape",
        "xsw3",
        "signed_by_attacker",
    ] {
        let v = vectors::load(&vectors::root().join("cases").join(case));
        c.bench_function(&format!("validate {case}"), |b| {
            b.iter(|| {
                let val = Validation {
                    trust: &v.trust,
                    now_ms: v.now_ms,
                    expected_request_id: v.in_response_to.as_deref(),
                };
                std::hint::black_box(validate(&v.xml, &val).is_ok())
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
