//! `limit` on list endpoints: every endpoint the OpenAPI document lists with a `limit` parameter
//! documents its range ("1 to N"), answers a page at both ends of it, and refuses anything
//! outside with 422 naming `limit` instead of clamping it silently.

use axum::http::{Method, StatusCode};

use crate::helpers::{Dialect, TestApp};

/// (path, declared query parameters, documented maximum) of every GET that takes `limit`.
async fn list_endpoints(app: &TestApp) -> Vec<(String, Vec<String>, i64)> {
    let doc = app
        .api(Method::GET, "/api/v1/openapi.json", None)
        .await
        .json();
    let mut out = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let Some(get) = ops.get("get") else { continue };
        let params = get["parameters"].as_array().cloned().unwrap_or_default();
        let Some(limit) = params.iter().find(|p| p["name"] == "limit") else {
            continue;
        };
        let desc = limit["description"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: `limit` has no documented range"));
        let max: i64 = desc
            .strip_prefix("1 to ")
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{path}: `limit` says {desc:?}, not \"1 to N\""));
        let names = params
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        out.push((path.clone(), names, max));
    }
    out
}

async fn out_of_range_limits_are_refused_on_every_list_endpoint(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let endpoints = list_endpoints(&app).await;
    let paths: Vec<&str> = endpoints.iter().map(|(p, _, _)| p.as_str()).collect();
    for expected in [
        "/api/v1/organizations",
        "/api/v1/audit_events",
        "/api/v1/organizations/{id}/memberships",
        "/api/v1/events",
    ] {
        assert!(paths.contains(&expected), "{expected} not in {paths:?}");
    }
    for (path, query, max) in endpoints {
        let path = path.replace("{id}", &org);
        let base = if query.iter().any(|q| q == "organization_id") {
            format!("{path}?organization_id={org}&")
        } else {
            format!("{path}?")
        };
        for ok in [1, max] {
            let r = app
                .api(Method::GET, &format!("{base}limit={ok}"), None)
                .await;
            assert_eq!(r.status, StatusCode::OK, "{path} limit={ok}: {}", r.text());
        }
        for bad in [
            "0".to_owned(),
            "-1".to_owned(),
            (max + 1).to_string(),
            "1000000000".to_owned(),
        ] {
            let r = app
                .api(Method::GET, &format!("{base}limit={bad}"), None)
                .await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path} limit={bad}: {}",
                r.text()
            );
            let e = &r.json()["error"];
            assert_eq!(e["code"], "invalid_field", "{path}: {e}");
            assert_eq!(e["field"], "limit", "{path}: {e}");
            assert!(
                e["message"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("1 to {max}")),
                "{path}: {e}"
            );
        }
        // Not a number at all is a malformed query (400), as documented.
        let r = app
            .api(Method::GET, &format!("{base}limit=ten"), None)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.text());
    }
}

crate::both_databases!(out_of_range_limits_are_refused_on_every_list_endpoint);
