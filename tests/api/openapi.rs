//! The OpenAPI document is generated from code; `docs/openapi.json` is its committed copy.
//! Run with `UPDATE_OPENAPI=1` to refresh the copy after an intended API change.

use axum::http::{Method, StatusCode};

use crate::helpers::{Dialect, TestApp};

#[test]
fn committed_openapi_matches_the_code() {
    let generated = lanyard::server::http::rest::openapi::document();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is out of date: run `UPDATE_OPENAPI=1 cargo test --features ssr --test api openapi` and commit it"
    );
}

#[tokio::test]
async fn openapi_is_served_and_lists_every_route() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let r = app.browser_get("/api/v1/openapi.json", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for (p, m) in [
        ("/api/v1/organizations", "post"),
        ("/api/v1/organizations", "get"),
        ("/api/v1/organizations/{id}", "get"),
        ("/api/v1/organizations/{id}", "patch"),
        ("/api/v1/organizations/{id}", "delete"),
        ("/api/v1/portal/links", "post"),
        ("/api/v1/audit_events", "get"),
    ] {
        assert!(paths[p][m].is_object(), "{m} {p} missing from OpenAPI");
        // And the route exists: without a key it is 401, not 404/405.
        let method = Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
        let path = p.replace("{id}", "org_01JDZQ8V6M3W9X4N5P7R2S0T1A");
        let req = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(
            app.send(req).await.status,
            StatusCode::UNAUTHORIZED,
            "{m} {p}"
        );
    }
}
