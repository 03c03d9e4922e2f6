use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::json;

use crate::helpers::{Dialect, TestApp};

async fn create_get_update_delete(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let r = app
        .api(Method::POST, "/api/v1/organizations", Some(json!({"name": "  Acme Corp ", "external_id": "cus_1", "metadata": {"plan": "pro"}})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let org = r.json();
    let id = org["id"].as_str().unwrap();
    assert!(id.starts_with("org_") && id.len() == 30, "{id}");
    assert_eq!(org["name"], "Acme Corp");
    assert_eq!(org["metadata"]["plan"], "pro");

    let r = app
        .api(Method::GET, &format!("/api/v1/organizations/{id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["external_id"], "cus_1");

    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/organizations/{id}"),
            Some(json!({"name": "Acme Inc", "external_id": null})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["name"], "Acme Inc");
    assert!(r.json()["external_id"].is_null());

    let r = app
        .api(Method::DELETE, &format!("/api/v1/organizations/{id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app
        .api(Method::GET, &format!("/api/v1/organizations/{id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"]["code"], "not_found");
    let r = app
        .api(Method::DELETE, &format!("/api/v1/organizations/{id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn unknown_and_malformed_ids_are_404(d: Dialect) {
    let app = TestApp::spawn(d).await;
    for id in [
        "org_01JDZQ8V6M3W9X4N5P7R2S0T1A",
        "nope",
        "org_%27%20OR%201=1",
    ] {
        for m in [Method::GET, Method::DELETE] {
            let r = app
                .api(m.clone(), &format!("/api/v1/organizations/{id}"), None)
                .await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{m} {id}");
            assert_eq!(r.json()["error"]["code"], "not_found");
        }
        let r = app
            .api(
                Method::PATCH,
                &format!("/api/v1/organizations/{id}"),
                Some(json!({"name": "x"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
}

async fn bad_json_is_400(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/organizations")
        .header(header::AUTHORIZATION, format!("Bearer {}", app.key))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"name\": \"Acme\""))
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["code"], "invalid_json");
}

async fn unknown_fields_are_refused_by_name(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let r = app
        .api(
            Method::POST,
            "/api/v1/organizations",
            Some(json!({"name": "Acme", "nmae": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "nmae");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nmae"));
}

async fn wrong_types_name_the_field(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let r = app
        .api(
            Method::POST,
            "/api/v1/organizations",
            Some(json!({"name": 42})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "name");
    let r = app
        .api(
            Method::POST,
            "/api/v1/organizations",
            Some(json!({"name": "A", "metadata": {"n": 1}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "metadata");
    let r = app
        .api(
            Method::POST,
            "/api/v1/organizations",
            Some(json!({"external_id": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "name");
    let r = app
        .api(
            Method::POST,
            "/api/v1/organizations",
            Some(json!({"name": "   "})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "name");
}

async fn oversized_body_is_413(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let big = "x".repeat(2 * 1024 * 1024);
    let r = app
        .api(
            Method::POST,
            "/api/v1/organizations",
            Some(json!({"name": big})),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json()["error"]["code"], "payload_too_large");
    let r = app.api(Method::GET, "/api/v1/organizations", None).await;
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 0);
}

async fn non_json_content_type_is_415(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/organizations")
        .header(header::AUTHORIZATION, format!("Bearer {}", app.key))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("{\"name\":\"A\"}"))
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.json()["error"]["code"], "unsupported_media_type");
}

async fn duplicate_external_id_is_409(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let body = json!({"name": "A", "external_id": "same"});
    assert_eq!(
        app.api(Method::POST, "/api/v1/organizations", Some(body.clone()))
            .await
            .status,
        StatusCode::CREATED
    );
    let r = app
        .api(Method::POST, "/api/v1/organizations", Some(body))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["error"]["field"], "external_id");
}

async fn unknown_routes_and_methods_use_the_envelope(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let r = app.api(Method::GET, "/api/v1/nothing", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"]["code"], "not_found");
    let r = app.api(Method::PUT, "/api/v1/organizations", None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.json()["error"]["code"], "method_not_allowed");
}

async fn pagination_walks_every_org_once(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(app.create_org(&format!("Org {i}")).await);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/organizations?limit=2&after={c}"),
            None => "/api/v1/organizations?limit=2".to_owned(),
        };
        let r = app.api(Method::GET, &path, None).await;
        assert_eq!(r.status, StatusCode::OK);
        let j = r.json();
        let data = j["data"].as_array().unwrap();
        assert!(data.len() <= 2);
        seen.extend(data.iter().map(|o| o["id"].as_str().unwrap().to_owned()));
        pages += 1;
        match j["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created, "oldest first, each once");
    let r = app
        .api(Method::GET, "/api/v1/organizations?limit=abc", None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["code"], "invalid_query");
}

async fn idempotent_retry_returns_the_first_response(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let body = json!({"name": "Once"});
    let h = [("idempotency-key", "8d9f4a4e-retry")];
    let a = app
        .api_with(
            Method::POST,
            "/api/v1/organizations",
            Some(body.clone()),
            &h,
        )
        .await;
    let b = app
        .api_with(Method::POST, "/api/v1/organizations", Some(body), &h)
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(b.status, StatusCode::CREATED);
    assert_eq!(a.json()["id"], b.json()["id"]);
    assert_eq!(b.header("idempotent-replayed").as_deref(), Some("true"));
    let list = app
        .api(Method::GET, "/api/v1/organizations", None)
        .await
        .json();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    let c = app
        .api_with(
            Method::POST,
            "/api/v1/organizations",
            Some(json!({"name": "Other"})),
            &h,
        )
        .await;
    assert_eq!(c.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(c.json()["error"]["code"], "idempotency_key_reused");

    // Without the header, each POST creates.
    app.api(
        Method::POST,
        "/api/v1/organizations",
        Some(json!({"name": "Once"})),
    )
    .await;
    let list = app
        .api(Method::GET, "/api/v1/organizations", None)
        .await
        .json();
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
}

crate::both_databases!(
    create_get_update_delete,
    unknown_and_malformed_ids_are_404,
    bad_json_is_400,
    unknown_fields_are_refused_by_name,
    wrong_types_name_the_field,
    oversized_body_is_413,
    non_json_content_type_is_415,
    duplicate_external_id_is_409,
    unknown_routes_and_methods_use_the_envelope,
    pagination_walks_every_org_once,
    idempotent_retry_returns_the_first_response,
);
