//! A whole SSO sign-in finished by the official WorkOS SDKs: the sign-in starts at
//! `/sso/authorize` with WorkOS's parameters and goes through the certified npm `oidc-provider`;
//! the vendor's code then calls `getProfileAndToken` and `getProfile` (npm `@workos-inc/node`
//! 12.x and 8.x, PyPI `workos` 10.x) against Lanyard served on a real socket, through the proxy
//! that checks every answer against WorkOS's OpenAPI document.

use serde_json::{json, Value};

use crate::helpers::oidc::{org_with_connection, sign_in};
use crate::helpers::{param, spawn_node, Dialect, TestApp, VENDOR_CB};
use crate::op::TestOp;

async fn run(program: &str, args: &[&str], envs: &[(&str, String)]) -> Vec<Value> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .await
        .expect("the SDK script runs");
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

async fn sdks_finish_an_oidc_sign_in(d: Dialect) {
    let app = TestApp::spawn_with(
        d,
        &[
            ("LANYARD_ALLOW_PRIVATE_NETWORK", "true"),
            ("LANYARD_REDIRECT_URIS", VENDOR_CB),
            ("LANYARD_WORKOS_COMPAT", "true"),
        ],
    )
    .await;
    let op = TestOp::start();
    let (org, conn) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    // Three sign-ins as WorkOS's getAuthorizationUrl writes them (client_id, response_type),
    // then the same three people again (codes 3..6, redeemed below without an SDK).
    let mut codes = Vec::new();
    for i in [0, 1, 2, 0, 1, 2, 0] {
        op.next_account(json!({"sub": format!("okta-{i}"), "email": format!("user{i}@acme.test"), "given_name": "Dana", "family_name": "Lee", "groups": ["Engineering"]}))
            .await;
        let back = sign_in(
            &app,
            &op,
            &format!("client_id=client_123&response_type=code&organization={org}"),
        )
        .await;
        codes.push(param(&back, "code").expect("code"));
    }
    let (mut proxy, proxy_port, _dir, report) = serve_behind_proxy(&app).await;

    let node = finish_with_node_sdks(&app, &proxy_port, &codes[0], &codes[1]).await;
    assert_eq!(node.len(), 2);
    for (i, r) in node.iter().enumerate() {
        let p = &r["profile"];
        assert_eq!(p["email"], format!("user{i}@acme.test"), "{r}");
        assert_eq!(p["organizationId"], org);
        assert_eq!(p["connectionId"], conn);
        assert_eq!(p["connectionType"], "GenericOIDC");
        assert_eq!(p["idpId"], format!("okta-{i}"));
        assert_eq!(p["firstName"], "Dana");
        assert_eq!(p["groups"], json!(["Engineering"]));
        assert_eq!(
            r["again"], r["profile"],
            "getProfile shows what the exchange showed"
        );
        assert!(r["accessToken"]
            .as_str()
            .unwrap()
            .starts_with("lanyard_sat_"));
        assert_eq!(r["reused"], "OauthException", "a code is single use: {r}");
        assert_eq!(r["badToken"], "UnauthorizedException");
    }

    // Python redeems with a second API key, revoked further down.
    let (second, second_key) = app.second_key("python").await;
    let py = run(
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/workos-venv/bin/python"),
        &["tests/workos/sso_python.py"],
        &[
            ("WORKOS_BASE_URL", format!("http://127.0.0.1:{proxy_port}")),
            ("WORKOS_API_KEY", second_key.clone()),
            ("WORKOS_CLIENT_ID", "client_123".into()),
            ("CODE", codes[2].clone()),
            ("LOGOUT", "1".into()),
        ],
    )
    .await;
    let r_py = &py[0];
    let r = r_py;
    assert_eq!(r["profile"]["email"], "user2@acme.test", "{r}");
    // The SDK's logout: its URL (built from the token) and Lanyard's are the same path; the
    // browser goes through the OP's end_session_endpoint and back to the vendor.
    let sdk_url = url::Url::parse(r["logout"]["sdk_url"].as_str().unwrap()).unwrap();
    let ours = url::Url::parse(r["logout"]["url"].as_str().unwrap()).unwrap();
    assert_eq!(sdk_url.path(), "/sso/logout", "{r}");
    assert_eq!(
        (sdk_url.path(), sdk_url.query()),
        (ours.path(), ours.query()),
        "{r}"
    );
    let out = app
        .browser_get(&format!("/sso/logout?{}", ours.query().unwrap()), None)
        .await;
    assert_eq!(out.status, axum::http::StatusCode::FOUND, "{}", out.text());
    let end = out.header("location").unwrap();
    assert!(
        end.starts_with(&format!("{}/session/end?", op.issuer)),
        "{end}"
    );
    let back = op.browse_logout(&end).await;
    let home = app.browser_get(&back, None).await;
    assert_eq!(home.header("location").as_deref(), Some(VENDOR_CB));
    assert_eq!(r["profile"]["role"]["slug"], "member");
    assert_eq!(r["profile"]["name"], "Dana Lee");
    assert_eq!(r["again"], r["profile"]);
    assert_eq!(r["expires_in"], 600);
    assert_eq!(r["reused"], "BadRequestError");
    assert_eq!(r["bad_token"], "AuthenticationError");

    // Each SDK presented its code a second time: the token that code gave is revoked
    // (RFC 6749 §4.1.2).
    let read = |token: String| {
        let app = &app;
        async move {
            app.send(
                axum::http::Request::get("/sso/profile")
                    .header("authorization", format!("bearer {token}"))
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .status
        }
    };
    let token = |v: &Value, k: &str| v[k].as_str().unwrap().to_owned();
    use axum::http::StatusCode as S;
    for t in [
        token(&node[0], "accessToken"),
        token(&node[1], "accessToken"),
        token(r_py, "access_token"),
    ] {
        assert_eq!(read(t).await, S::UNAUTHORIZED, "revoked by the reuse");
    }
    // Fresh tokens for the same three people, redeemed once each (the third with the second key).
    let redeem = |code: String, key: String| {
        let app = &app;
        async move {
            let r = app
                .send(
                    axum::http::Request::post("/sso/token")
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(axum::body::Body::from(format!(
                            "grant_type=authorization_code&client_id=client_123&client_secret={key}&code={code}"
                        )))
                        .unwrap(),
                )
                .await;
            assert_eq!(r.status, S::OK, "{}", r.text());
            r.json()["access_token"].as_str().unwrap().to_owned()
        }
    };
    let t0 = redeem(codes[3].clone(), app.key.clone()).await;
    let t1 = redeem(codes[4].clone(), app.key.clone()).await;
    let t2 = redeem(codes[5].clone(), second_key.clone()).await;
    // A used code presented again without a live key still revokes what it gave.
    let t3 = redeem(codes[6].clone(), app.key.clone()).await;
    assert_eq!(read(t3.clone()).await, S::OK);
    let r = app
        .send(
            axum::http::Request::post("/sso/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(axum::body::Body::from(format!(
                    "grant_type=authorization_code&client_secret=lanyard_sk_wrong&code={}",
                    codes[6]
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(r.json()["error"], "invalid_client", "{}", r.text());
    assert_eq!(
        read(t3).await,
        S::UNAUTHORIZED,
        "revoked by a keyless reuse"
    );
    // A member suspended after the sign-in: the access token reads nothing any more.
    let members = app
        .api(
            axum::http::Method::GET,
            &format!("/api/v1/organizations/{org}/memberships"),
            None,
        )
        .await
        .json();
    let dana = members["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "user0@acme.test")
        .expect("the member")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .api(
            axum::http::Method::PATCH,
            &format!("/api/v1/memberships/{dana}"),
            Some(json!({"state": "suspended"})),
        )
        .await;
    assert_eq!(r.status, axum::http::StatusCode::OK, "{}", r.text());
    assert_eq!(read(t0.clone()).await, S::UNAUTHORIZED);
    // Re-activated, the member does not get the old token back.
    let r = app
        .api(
            axum::http::Method::PATCH,
            &format!("/api/v1/memberships/{dana}"),
            Some(json!({"state": "active"})),
        )
        .await;
    assert_eq!(r.status, S::OK, "{}", r.text());
    assert_eq!(read(t0.clone()).await, S::UNAUTHORIZED);
    // The others' tokens still read their profiles, until the API key that redeemed the code
    // is revoked, or the connection is switched off.
    assert_eq!(read(t1.clone()).await, S::OK);
    assert_eq!(read(t2.clone()).await, S::OK);
    app.revoke_key(&second).await;
    assert_eq!(read(t2.clone()).await, S::UNAUTHORIZED);
    assert_eq!(read(t1.clone()).await, S::OK);
    let r = app
        .api(
            axum::http::Method::PATCH,
            &format!("/api/v1/connections/{conn}"),
            Some(json!({"state": "inactive"})),
        )
        .await;
    assert_eq!(r.status, S::OK, "{}", r.text());
    assert_eq!(read(t1).await, S::UNAUTHORIZED);

    // The connection's events as each SDK reads them (deserialized by its own event code).
    let r = app
        .api(
            axum::http::Method::DELETE,
            &format!("/api/v1/connections/{conn}"),
            None,
        )
        .await;
    assert_eq!(r.status, S::NO_CONTENT, "{}", r.text());
    let names = "connection.activated,connection.deactivated,connection.deleted";
    let listed = list_events_with_sdks(&app, &proxy_port, names).await;
    assert_eq!(listed.len(), 3);
    for l in &listed {
        let got: Vec<&str> = l["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].as_str().unwrap())
            .collect();
        assert_eq!(
            got,
            [
                "connection.activated",
                "connection.deactivated",
                "connection.deleted"
            ],
            "{l}"
        );
        assert!(l["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["id"] == conn.as_str()));
    }
    assert_eq!(listed[0]["events"][1]["state"], "inactive");

    let _ = proxy.kill();
    assert_schemas_held(&report, 3);
}

/// Node SDK 12 and 8 each redeem one code (`getProfileAndToken`, then `getProfile`, a reuse and
/// a bad token): one JSON line per SDK.
async fn finish_with_node_sdks(app: &TestApp, proxy_port: &str, c12: &str, c8: &str) -> Vec<Value> {
    run(
        "node",
        &["tests/workos/sso_sdks.mjs"],
        &[
            ("WORKOS_HOST", "127.0.0.1".into()),
            ("WORKOS_PORT", proxy_port.to_owned()),
            ("WORKOS_KEY", app.key.clone()),
            ("CODES", format!("{c12},{c8}")),
            ("CLIENT_ID", "client_123".into()),
        ],
    )
    .await
}

/// The events of `names` (WorkOS names, comma-joined) as Node SDK 12 and 8 and the Python SDK
/// read them: one JSON line per SDK.
async fn list_events_with_sdks(app: &TestApp, proxy_port: &str, names: &str) -> Vec<Value> {
    let mut listed = run(
        "node",
        &["tests/workos/events_sdks.mjs"],
        &[
            ("WORKOS_HOST", "127.0.0.1".into()),
            ("WORKOS_PORT", proxy_port.to_owned()),
            ("WORKOS_KEY", app.key.clone()),
            ("EVENTS", names.into()),
        ],
    )
    .await;
    listed.extend(
        run(
            concat!(env!("CARGO_MANIFEST_DIR"), "/target/workos-venv/bin/python"),
            &["tests/workos/events_python.py"],
            &[
                ("WORKOS_BASE_URL", format!("http://127.0.0.1:{proxy_port}")),
                ("WORKOS_API_KEY", app.key.clone()),
                ("EVENTS", names.into()),
            ],
        )
        .await,
    );
    listed
}

/// Lanyard on a real socket with the proxy that checks every answer against WorkOS's OpenAPI
/// document in front of it: (proxy, its port, the directory holding the report, the report).
async fn serve_behind_proxy(
    app: &TestApp,
) -> (
    std::process::Child,
    String,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = app.router.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("exchanges.jsonl");
    let (proxy, proxy_port) = spawn_node(
        "../workos/proxy.mjs",
        &[
            ("PROXY_TARGET", format!("http://127.0.0.1:{port}")),
            ("PROXY_PORT", "0".into()),
            ("PROXY_REPORT", report.display().to_string()),
        ],
    );
    (proxy, proxy_port, dir, report)
}

/// Every answer the proxy saw held to WorkOS's schemas, and at least `at_least` answers of each
/// of `/sso/token` and `/sso/profile` were checked.
fn assert_schemas_held(report: &std::path::Path, at_least: usize) {
    let rows: Vec<Value> = std::fs::read_to_string(report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let problems: Vec<&Value> = rows.iter().filter(|r| r.get("problem").is_some()).collect();
    assert!(
        problems.is_empty(),
        "answers outside WorkOS's schemas: {problems:?}"
    );
    for path in ["/sso/token", "/sso/profile"] {
        let checked = rows
            .iter()
            .filter(|r| r["path"] == path && r["schema"] == "checked")
            .count();
        assert!(
            checked >= at_least,
            "{path}: {checked} answers checked; {rows:?}"
        );
    }
}

/// A SAML sign-in (the samlify IdP signs the response with xml-crypto) started with
/// `getAuthorizationUrl`'s parameters and finished by Node SDK 12 and 8 and the Python SDK.
async fn sdks_finish_a_saml_sign_in(d: Dialect) {
    let app = TestApp::spawn_with(
        d,
        &[
            ("LANYARD_ALLOW_PRIVATE_NETWORK", "true"),
            ("LANYARD_REDIRECT_URIS", VENDOR_CB),
            ("LANYARD_WORKOS_COMPAT", "true"),
        ],
    )
    .await;
    let idp = crate::saml_idp::TestIdp::start();
    let (org, conn) = crate::saml::org_with_saml(&app, &idp, json!({})).await;
    let conn = conn["id"].as_str().unwrap().to_owned();
    let mut codes = Vec::new();
    for i in 0..3 {
        idp.set_user(json!({"name_id": format!("saml-{i}@acme.test"), "email": format!("saml-{i}@acme.test"), "first_name": "Sam", "last_name": "Lee"}))
            .await;
        let r = app
            .browser_get(
                &format!("/sso/authorize?client_id=client_123&response_type=code&organization={org}&redirect_uri={VENDOR_CB}&state=s{i}"),
                None,
            )
            .await;
        let post = idp.login(&r.header("location").expect("to the IdP")).await;
        let back = crate::saml::location(&idp.post_to(&app, &post).await);
        assert_eq!(
            param(&back, "state").as_deref(),
            Some(format!("s{i}").as_str())
        );
        codes.push(param(&back, "code").expect("code"));
        if i == 2 {
            // The same response again: a replay, refused and recorded as a failed sign-in.
            let again = crate::saml::location(&idp.post_to(&app, &post).await);
            assert!(param(&again, "code").is_none(), "{again}");
        }
    }
    let (mut proxy, proxy_port, _dir, report) = serve_behind_proxy(&app).await;
    let node = finish_with_node_sdks(&app, &proxy_port, &codes[0], &codes[1]).await;
    assert_eq!(node.len(), 2);
    for (i, r) in node.iter().enumerate() {
        let p = &r["profile"];
        assert_eq!(p["email"], format!("saml-{i}@acme.test"), "{r}");
        assert_eq!(p["organizationId"], org);
        assert_eq!(p["connectionId"], conn);
        assert_eq!(p["firstName"], "Sam");
        assert_eq!(r["again"], r["profile"]);
        assert!(r["accessToken"]
            .as_str()
            .unwrap()
            .starts_with("lanyard_sat_"));
        assert_eq!(r["reused"], "OauthException");
    }
    let py = run(
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/workos-venv/bin/python"),
        &["tests/workos/sso_python.py"],
        &[
            ("WORKOS_BASE_URL", format!("http://127.0.0.1:{proxy_port}")),
            ("WORKOS_API_KEY", app.key.clone()),
            ("WORKOS_CLIENT_ID", "client_123".into()),
            ("CODE", codes[2].clone()),
        ],
    )
    .await;
    assert_eq!(py[0]["profile"]["email"], "saml-2@acme.test", "{}", py[0]);
    assert_eq!(py[0]["profile"]["connection_id"], conn.as_str());
    assert_eq!(py[0]["again"], py[0]["profile"]);
    // The three sign-ins as WorkOS's authentication.sso_succeeded, read by each SDK.
    let names = "authentication.sso_succeeded,authentication.sso_failed";
    let listed = list_events_with_sdks(&app, &proxy_port, names).await;
    assert_eq!(listed.len(), 3);
    for l in &listed {
        let got: Vec<(&str, &str, &str)> = l["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["event"].as_str().unwrap(),
                    e["email"].as_str().unwrap_or("-"),
                    e["status"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "authentication.sso_succeeded",
                    "saml-0@acme.test",
                    "succeeded"
                ),
                (
                    "authentication.sso_succeeded",
                    "saml-1@acme.test",
                    "succeeded"
                ),
                (
                    "authentication.sso_succeeded",
                    "saml-2@acme.test",
                    "succeeded"
                ),
                ("authentication.sso_failed", "-", "failed"),
            ],
            "{l}"
        );
    }
    let _ = proxy.kill();
    assert_schemas_held(&report, 3);
}

crate::both_databases!(sdks_finish_an_oidc_sign_in, sdks_finish_a_saml_sign_in);
