use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use lanyard::server::audit::{Actor, RequestContext};
use lanyard::server::service::api_keys;

use crate::helpers::{Dialect, TestApp};

async fn get_orgs_with(app: &TestApp, auth: Option<&str>) -> crate::helpers::TestResponse {
    let mut b = Request::builder().uri("/api/v1/organizations");
    if let Some(a) = auth {
        b = b.header(header::AUTHORIZATION, a);
    }
    app.send(b.body(Body::empty()).unwrap()).await
}

async fn missing_key_is_401_with_envelope(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let r = get_orgs_with(&app, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"]["code"], "unauthorized");
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
}

async fn wrong_key_is_401(d: Dialect) {
    let app = TestApp::spawn(d).await;
    for bad in [
        "Bearer lanyard_sk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "Bearer nope",
        "Basic dXNlcjpwYXNz",
        &format!("Bearer {}x", app.key),
    ] {
        let r = get_orgs_with(&app, Some(bad)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(r.json()["error"]["code"], "unauthorized");
    }
    let ok = get_orgs_with(&app, Some(&format!("Bearer {}", app.key))).await;
    assert_eq!(ok.status, StatusCode::OK);
}

async fn revoked_key_is_401(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let now = app.state.clock.now();
    let (info, key) = api_keys::create(
        &app.state.db,
        &Actor::operator(),
        &RequestContext::default(),
        "second",
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        get_orgs_with(&app, Some(&format!("Bearer {key}")))
            .await
            .status,
        StatusCode::OK
    );
    api_keys::revoke(
        &app.state.db,
        &Actor::operator(),
        &RequestContext::default(),
        &info.id,
        now,
    )
    .await
    .unwrap();
    let r = get_orgs_with(&app, Some(&format!("Bearer {key}"))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // The other key still works.
    assert_eq!(
        app.api(Method::GET, "/api/v1/organizations", None)
            .await
            .status,
        StatusCode::OK
    );
}

async fn key_use_is_recorded(d: Dialect) {
    let app = TestApp::spawn(d).await;
    app.api(Method::GET, "/api/v1/organizations", None).await;
    let keys = api_keys::list(&app.state.db).await.unwrap();
    assert!(keys.iter().all(|k| k.last_used_at.is_some()));
}

crate::both_databases!(
    missing_key_is_401_with_envelope,
    wrong_key_is_401,
    revoked_key_is_401,
    key_use_is_recorded,
);
