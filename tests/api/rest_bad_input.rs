//! Bad input to every operation of the vendor API: the test walks the served OpenAPI document
//! and sends each operation a missing or invalid bearer key, garbage and wrong-kind ids in its
//! path parameters, invalid and unknown query values, and (where it takes a body) malformed JSON,
//! the wrong content type, JSON of the wrong shape, a body over the 1 MiB limit and a bad or
//! reused `Idempotency-Key`. Every answer must be a status the document declares for that
//! operation, with the error envelope, and never a 5xx.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt as _;

use crate::helpers::{Dialect, TestApp};

/// A well-formed id body (26 Crockford base32 characters) that no object has.
const UNKNOWN_ULID: &str = "01JDZQ8V6M3W9X4N5P7R2S0T1A";

/// One operation of the document.
struct Op {
    method: Method,
    /// The path template, e.g. `/api/v1/directories/{id}/users`.
    path: String,
    /// (name, id prefix from the description such as `dir_`, or empty) of each path parameter.
    path_params: Vec<(String, String)>,
    /// (name, schema type) of each query parameter, and whether it is required.
    query_params: Vec<(String, String, bool)>,
    has_body: bool,
    declared: BTreeSet<u16>,
}

impl Op {
    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

fn operations(doc: &Value) -> Vec<Op> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().unwrap() {
            let Ok(m) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let path_params = params
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| {
                    let prefix = p["description"]
                        .as_str()
                        .and_then(|d| d.strip_suffix('…'))
                        .filter(|d| d.ends_with('_'))
                        .unwrap_or_default();
                    (p["name"].as_str().unwrap().to_owned(), prefix.to_owned())
                })
                .collect();
            let query_params = params
                .iter()
                .filter(|p| p["in"] == "query")
                .map(|p| {
                    (
                        p["name"].as_str().unwrap().to_owned(),
                        p["schema"]["type"].as_str().unwrap_or("string").to_owned(),
                        p["required"] == true,
                    )
                })
                .collect();
            let declared = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(|s| s.parse().unwrap())
                .collect();
            out.push(Op {
                method: m,
                path: path.clone(),
                path_params,
                query_params,
                has_body: op.get("requestBody").is_some(),
                declared,
            });
        }
    }
    out
}

/// One request; `bearer` is the whole `Authorization` value.
struct Call<'a> {
    method: Method,
    uri: String,
    bearer: Option<String>,
    content_type: Option<&'a str>,
    body: Vec<u8>,
    headers: Vec<(&'a str, String)>,
}

impl<'a> Call<'a> {
    fn new(app: &TestApp, method: &Method, uri: String) -> Self {
        Call {
            method: method.clone(),
            uri,
            bearer: Some(format!("Bearer {}", app.key)),
            content_type: None,
            body: Vec::new(),
            headers: Vec::new(),
        }
    }

    fn json(mut self, body: &str) -> Self {
        self.content_type = Some("application/json");
        self.body = body.as_bytes().to_vec();
        self
    }
}

/// Sends requests and records every answer that breaks the rule.
struct Prober<'a> {
    app: &'a TestApp,
    failures: Vec<String>,
    sent: usize,
}

impl Prober<'_> {
    /// Sends `call` to `op`; the status must be declared, below 500, carry the error envelope
    /// and, when `exact` says so, be that status.
    async fn check(&mut self, op: &Op, case: &str, call: Call<'_>, exact: Option<StatusCode>) {
        let mut b = Request::builder().method(call.method).uri(&call.uri);
        if let Some(v) = &call.bearer {
            b = b.header(header::AUTHORIZATION, v);
        }
        if let Some(ct) = call.content_type {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        for (k, v) in &call.headers {
            b = b.header(*k, v);
        }
        let resp = self
            .app
            .router
            .clone()
            .oneshot(b.body(Body::from(call.body)).unwrap())
            .await
            .expect("infallible");
        self.sent += 1;
        let status = resp.status();
        let what = format!("{} [{case}] {} → {status}", op.name(), call.uri);
        // A streamed body that breaks off is an error the status does not show.
        let body = match axum::body::to_bytes(resp.into_body(), usize::MAX).await {
            Ok(b) => b,
            Err(e) => {
                self.failures
                    .push(format!("{what}: the body broke off: {e}"));
                return;
            }
        };
        let excerpt: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        if status.is_server_error() {
            self.failures.push(format!("{what}: 5xx: {excerpt}"));
        } else if !op.declared.contains(&status.as_u16()) {
            self.failures.push(format!(
                "{what}: not declared (declared {:?}): {excerpt}",
                op.declared
            ));
        } else if let Some(want) = exact.filter(|w| *w != status) {
            self.failures
                .push(format!("{what}: expected {want}: {excerpt}"));
        } else if status.is_client_error() {
            let code = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["error"]["code"].as_str().map(str::to_owned));
            if code.is_none() {
                self.failures
                    .push(format!("{what}: no error envelope: {excerpt}"));
            }
        }
    }
}

/// The path with every parameter filled: `org` for organization ids, an unknown well-formed id
/// of the right kind otherwise, and `bad` (raw, already percent-encoded) for `bad_param`.
fn fill(op: &Op, org: &str, bad_param: Option<(&str, &str)>) -> String {
    let mut path = op.path.clone();
    for (name, prefix) in &op.path_params {
        let value = match bad_param {
            Some((n, v)) if n == name => v.to_owned(),
            _ if prefix == "org_" => org.to_owned(),
            _ if prefix.is_empty() => "no-such-thing".to_owned(),
            _ => format!("{prefix}{UNKNOWN_ULID}"),
        };
        path = path.replace(&format!("{{{name}}}"), &value);
    }
    path
}

/// The query string with required parameters and `organization_id` filled with good values,
/// then `extra` (raw `name=value` pairs), leaving out parameters `extra` names.
fn query(op: &Op, org: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs: Vec<String> = Vec::new();
    for (name, _, required) in &op.query_params {
        if extra.iter().any(|(n, _)| n == name) {
            continue;
        }
        if name == "organization_id" {
            pairs.push(format!("organization_id={org}"));
        } else if *required {
            pairs.push(format!("{name}=https%3A%2F%2Fapp.example.com%2Fcallback"));
        }
    }
    pairs.extend(extra.iter().map(|(n, v)| format!("{n}={v}")));
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

async fn every_operation_answers_bad_input_with_a_declared_status(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let doc = app
        .api(Method::GET, "/api/v1/openapi.json", None)
        .await
        .json();
    let ops = operations(&doc);
    assert!(
        ops.len() >= 56,
        "only {} operations in the document",
        ops.len()
    );
    let mut p = Prober {
        app: &app,
        failures: Vec::new(),
        sent: 0,
    };
    let oversized = format!("{{\"x\":\"{}\"}}", "a".repeat(1024 * 1024 + 1));

    for op in &ops {
        let good_path = fill(op, &org, None);
        let good_uri = format!("{good_path}{}", query(op, &org, &[]));
        let base_body = if op.has_body { "{}" } else { "" };

        // Credentials.
        let mut c = Call::new(&app, &op.method, good_uri.clone());
        c.bearer = None;
        p.check(op, "no bearer", c, Some(StatusCode::UNAUTHORIZED))
            .await;
        for bearer in [
            "Bearer lanyard_sk_not_a_key",
            "Bearer ",
            "Basic dXNlcjpwYXNz",
            "lanyard_sk_without_scheme",
        ] {
            let mut c = Call::new(&app, &op.method, good_uri.clone()).json(base_body);
            c.bearer = Some(bearer.to_owned());
            p.check(op, "invalid bearer", c, None).await;
        }

        // Path parameters: garbage, another kind's id, not UTF-8, very long, an encoded slash.
        for (name, prefix) in &op.path_params {
            let wrong_kind = if prefix == "org_" {
                format!("dir_{UNKNOWN_ULID}")
            } else {
                org.clone()
            };
            for bad in [
                "garbage".to_owned(),
                wrong_kind,
                format!("{prefix}{}", UNKNOWN_ULID.to_lowercase()),
                "%FF%FE".to_owned(),
                "x".repeat(2000),
                "a%2Fb".to_owned(),
                "%00".to_owned(),
            ] {
                let path = fill(op, &org, Some((name, &bad)));
                let uri = format!("{path}{}", query(op, &org, &[]));
                let exact = bad.starts_with("%FF").then_some(StatusCode::BAD_REQUEST);
                let c = Call::new(&app, &op.method, uri).json(base_body);
                p.check(op, "bad path parameter", c, exact).await;
            }
        }

        // Query parameters: every declared one with values of the wrong type or out of range, a
        // missing required one, and one the operation does not know.
        for (name, ty, _) in &op.query_params {
            let values: &[&str] = if ty == "integer" {
                &["ten", "-1", "0", "99999999999999999999", "1.5", ""]
            } else {
                &["garbage", "%FF", "", "org_", "2026-13-45", "%00"]
            };
            for v in values {
                let uri = format!("{good_path}{}", query(op, &org, &[(name, v)]));
                let c = Call::new(&app, &op.method, uri).json(base_body);
                p.check(op, "bad query value", c, None).await;
            }
        }
        if !op.query_params.is_empty() {
            let c = Call::new(&app, &op.method, good_path.clone()).json(base_body);
            p.check(op, "no query", c, None).await;
        }
        let uri = format!(
            "{good_path}{}",
            query(op, &org, &[("bogus", "1"), ("limit", "ten")])
        );
        let c = Call::new(&app, &op.method, uri).json(base_body);
        p.check(op, "unknown query parameter", c, None).await;

        // Bodies.
        if op.has_body {
            for bad in ["{", "{,}", "not json", "'single'", ""] {
                let c = Call::new(&app, &op.method, good_uri.clone()).json(bad);
                p.check(op, "malformed JSON", c, Some(StatusCode::BAD_REQUEST))
                    .await;
            }
            for shape in [
                "[]",
                "null",
                "\"text\"",
                "42",
                "{\"bogus_field\":true}",
                "{\"name\":[],\"id\":{}}",
                "{\"organization_id\":\"garbage\"}",
                // NUL characters, which PostgreSQL cannot store.
                "{\"name\":\"a\\u0000b\"}",
                "{\"uri\":\"https://app.example.com/\\u0000\"}",
                "{\"domain\":\"a\\u0000.example.com\"}",
                "{\"code\":\"\\u0000\"}",
                "{\"url\":\"https://hooks.example.com/\\u0000\",\"events\":[\"a\\u0000\"]}",
                "{\"\\u0000\":1}",
            ] {
                let c = Call::new(&app, &op.method, good_uri.clone()).json(shape);
                p.check(op, "JSON of the wrong shape", c, None).await;
            }
            for ct in [
                Some("text/plain"),
                Some("application/x-www-form-urlencoded"),
                Some("application/jsonx"),
                None,
            ] {
                let mut c = Call::new(&app, &op.method, good_uri.clone()).json("{}");
                c.content_type = ct;
                p.check(
                    op,
                    "wrong content type",
                    c,
                    Some(StatusCode::UNSUPPORTED_MEDIA_TYPE),
                )
                .await;
            }
            let c = Call::new(&app, &op.method, good_uri.clone()).json(&oversized);
            p.check(op, "oversized body", c, Some(StatusCode::PAYLOAD_TOO_LARGE))
                .await;
        }

        // POST: the Idempotency-Key layer reads the body whatever the operation takes.
        if op.method == Method::POST {
            for key in ["x".repeat(256), String::new()] {
                let mut c = Call::new(&app, &op.method, good_uri.clone()).json(base_body);
                c.headers.push(("idempotency-key", key));
                p.check(
                    op,
                    "invalid Idempotency-Key",
                    c,
                    Some(StatusCode::BAD_REQUEST),
                )
                .await;
            }
            let mut c = Call::new(&app, &op.method, good_uri.clone()).json(&oversized);
            c.headers.push(("idempotency-key", "oversized".into()));
            p.check(
                op,
                "oversized body with an Idempotency-Key",
                c,
                Some(StatusCode::PAYLOAD_TOO_LARGE),
            )
            .await;
            let key = format!("reuse-{}", op.path);
            let mut c = Call::new(&app, &op.method, good_uri.clone()).json("{\"bogus\":1}");
            c.headers.push(("idempotency-key", key.clone()));
            p.check(op, "Idempotency-Key, first use", c, None).await;
            let mut c = Call::new(&app, &op.method, good_uri.clone()).json("{\"bogus\":2}");
            c.headers.push(("idempotency-key", key));
            p.check(
                op,
                "Idempotency-Key reused with another body",
                c,
                Some(StatusCode::UNPROCESSABLE_ENTITY),
            )
            .await;
        }
    }

    assert!(
        p.failures.is_empty(),
        "{} of {} bad requests broke the rule:\n{}",
        p.failures.len(),
        p.sent,
        p.failures.join("\n")
    );
}

crate::both_databases!(every_operation_answers_bad_input_with_a_declared_status);
