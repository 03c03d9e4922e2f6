use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};

use crate::helpers::{Dialect, TestApp, ORIGIN};

async fn cross_site_posts_are_refused_and_consume_nothing(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let link = app.create_link(&org, &["sso"]).await;
    let cases: [&[(&str, &str)]; 4] = [
        &[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        &[("origin", "https://evil.example")],
        &[
            ("sec-fetch-site", "same-site"),
            ("origin", "http://sub.127.0.0.1:3000"),
        ],
        &[],
    ];
    for headers in cases {
        let mut b = Request::builder().method(Method::POST).uri(&link);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let r = app.send(b.body(Body::empty()).unwrap()).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert!(r.session_cookie().is_none());
    }
    // The link still works from the right origin.
    app.redeem(&link).await;
    let mut b = Request::builder()
        .method(Method::POST)
        .uri("/portal/api/overview")
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site");
    b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    assert_eq!(
        app.send(b.body(Body::empty()).unwrap()).await.status,
        StatusCode::FORBIDDEN
    );
}

async fn session_cookie_flags(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let r = app
        .browser_post(&app.create_link(&org, &["sso"]).await, "", None)
        .await;
    let set = r.header("set-cookie").unwrap();
    assert!(set.contains("HttpOnly"));
    assert!(set.contains("SameSite=Lax"));
    assert!(!set.contains("Secure"), "plain-http loopback public URL");

    let app = TestApp::spawn_with(d, &[("LANYARD_PUBLIC_URL", "https://id.example.com")]).await;
    let org = app.create_org("Acme").await;
    let link = app.create_link(&org, &["sso"]).await;
    let req = Request::builder()
        .method(Method::POST)
        .uri(&link)
        .header("origin", "https://id.example.com")
        .header("sec-fetch-site", "same-origin")
        .body(Body::empty())
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert!(r.header("set-cookie").unwrap().contains("Secure"));
}

async fn security_headers_on_pages(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let r = app.browser_get("/", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline"));
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    let html = r.text();
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "scripts carry the CSP nonce"
    );
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(r.header("referrer-policy").as_deref(), Some("same-origin"));
    assert!(r.header("x-request-id").unwrap().starts_with("req_"));
    let r2 = app.browser_get("/", None).await;
    assert_ne!(
        r2.header("content-security-policy"),
        Some(csp),
        "fresh nonce per response"
    );
}

async fn internal_errors_are_opaque_with_a_request_id(d: Dialect) {
    let app = TestApp::spawn(d).await;
    sqlx::query("DROP TABLE event_entity_seqs")
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let r = app
        .api(
            Method::POST,
            "/api/v1/organizations",
            Some(serde_json::json!({"name": "Acme"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    let msg = r.json()["error"]["message"].as_str().unwrap().to_owned();
    let rid = r.header("x-request-id").unwrap();
    assert!(msg.contains(&rid), "{msg}");
    assert!(
        !msg.to_lowercase().contains("event_entity_seqs") && !msg.contains("sql"),
        "{msg}"
    );
    // Nothing was half-written.
    let list = app
        .api(Method::GET, "/api/v1/organizations", None)
        .await
        .json();
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
}

async fn healthz_answers_when_the_database_does(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let r = app.browser_get("/healthz", None).await;
    assert_eq!(r.status, StatusCode::OK);
    app.state.db.pool.close().await;
    let r = app.browser_get("/healthz", None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
}

async fn unknown_pages_are_404(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let r = app.browser_get("/no/such/page", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let _ = ORIGIN;
}

crate::both_databases!(
    cross_site_posts_are_refused_and_consume_nothing,
    session_cookie_flags,
    security_headers_on_pages,
    internal_errors_are_opaque_with_a_request_id,
    healthz_answers_when_the_database_does,
    unknown_pages_are_404,
);
