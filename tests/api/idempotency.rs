//! The `Idempotency-Key` replay cache keeps no secret in clear text: answers that carry a secret
//! shown once (a directory's SCIM token, a setup link, a webhook signing secret) are stored sealed
//! and still replayed byte for byte.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{Dialect, TestApp};

/// Every (table, column) of the database.
async fn columns(app: &TestApp, d: Dialect) -> Vec<(String, String)> {
    let pool = &app.state.db.pool;
    match d {
        Dialect::Sqlite => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            let mut out = Vec::new();
            for t in tables {
                let cols: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
                        .bind(&t)
                        .fetch_all(pool)
                        .await
                        .unwrap();
                out.extend(cols.into_iter().map(|c| (t.clone(), c)));
            }
            out
        }
        Dialect::Postgres => sqlx::query_as(
            "SELECT c.table_name::text, c.column_name::text FROM information_schema.columns c \
             JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
             WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
    }
}

/// The (table, column) pairs where any stored value, read as text, contains `needle`.
async fn find_everywhere(app: &TestApp, d: Dialect, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    for (t, c) in columns(app, d).await {
        let sql = match d {
            Dialect::Sqlite => {
                format!("SELECT COUNT(*) FROM \"{t}\" WHERE instr(CAST(\"{c}\" AS TEXT), $1) > 0")
            }
            Dialect::Postgres => {
                format!("SELECT COUNT(*) FROM \"{t}\" WHERE strpos(CAST(\"{c}\" AS TEXT), $1) > 0")
            }
        };
        let n: i64 = sqlx::query_scalar(&sql)
            .bind(needle)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap_or_else(|e| panic!("{t}.{c}: {e}"));
        if n > 0 {
            hits.push(format!("{t}.{c}"));
        }
    }
    hits
}

/// POSTs twice with the same key: the retry is a replay of the first answer.
async fn post_twice(app: &TestApp, path: &str, body: Value, key: &str) -> Value {
    let h = [("idempotency-key", key)];
    let first = app
        .api_with(Method::POST, path, Some(body.clone()), &h)
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    let again = app.api_with(Method::POST, path, Some(body), &h).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text());
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.body, first.body, "the replay is the first answer");
    first.json()
}

async fn idempotent_answers_keep_no_secret_in_clear_text(d: Dialect) {
    let app = TestApp::spawn_with(d, &[("LANYARD_ALLOW_PRIVATE_NETWORK", "true")]).await;
    let org = app.create_org("Acme").await;

    let dir = post_twice(
        &app,
        &format!("/api/v1/organizations/{org}/directories"),
        json!({"type": "okta", "name": "Okta"}),
        "idem-directory-7c1e",
    )
    .await;
    let scim_token = dir["bearer_token"].as_str().unwrap().to_owned();
    assert!(scim_token.starts_with("lanyard_scim_"), "{dir}");

    let link = post_twice(
        &app,
        "/api/v1/portal/links",
        json!({"organization_id": org, "intents": ["sso"]}),
        "idem-link-7c1e",
    )
    .await;
    let link_url = link["link"].as_str().unwrap().to_owned();
    let link_token = link_url.rsplit('/').next().unwrap().to_owned();
    assert!(link_token.starts_with("lanyard_"), "{link}");

    let hook = post_twice(
        &app,
        "/api/v1/webhook_endpoints",
        json!({"url": "https://hooks.example.test/lanyard"}),
        "idem-webhook-7c1e",
    )
    .await;
    let whsec = hook["secret"].as_str().unwrap().to_owned();
    assert!(whsec.starts_with("whsec_"), "{hook}");

    // The scan works: it finds what is stored in clear (the client's own key, the names).
    assert_eq!(
        find_everywhere(&app, d, "idem-directory-7c1e").await,
        ["idempotency_keys.idem_key"]
    );
    assert!(!find_everywhere(&app, d, "Okta").await.is_empty());

    // No secret, nor its distinctive tail, is in any column of any table.
    for secret in [&scim_token, &link_token, &whsec] {
        let tail = &secret[secret.len() - 16..];
        for needle in [secret.as_str(), tail] {
            let hits = find_everywhere(&app, d, needle).await;
            assert!(hits.is_empty(), "{needle} is stored in clear in {hits:?}");
        }
    }

    // The secrets still work: the replayed SCIM token authenticates, the link opens the portal.
    let r = app
        .send(
            axum::http::Request::builder()
                .uri(format!("/scim/v2/{}/Users", dir["id"].as_str().unwrap()))
                .header("authorization", format!("Bearer {scim_token}"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    app.redeem(&link_url[link_url.find("/portal/link/").unwrap()..])
        .await;
}

crate::both_databases!(idempotent_answers_keep_no_secret_in_clear_text);
