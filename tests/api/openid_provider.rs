//! Lanyard as an OpenID Provider, driven by independent client libraries (npm `openid-client`,
//! certified by the OpenID Foundation, and PyPI Authlib) through discovery, code + PKCE, ID token
//! validation and UserInfo, against real upstream IdPs (npm oidc-provider and the samlify SAML
//! IdP); and the refusals, each of which fails when its check is removed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::helpers::oidc::{org_with_connection, setup};
use crate::helpers::{param, patch_policy, verified_domain, Dialect, TestApp};
use crate::op::{TestOp, CLIENT_ID as OP_CLIENT_ID, CLIENT_SECRET as OP_CLIENT_SECRET};
use crate::saml_idp::TestIdp;
use lanyard::server::audit::{Actor, RequestContext};
use lanyard::server::service::oauth::keys;

pub(crate) const RP_CB: &str = "http://127.0.0.1:9/callback";

/// Lanyard served on a real port (client libraries talk HTTP), counting JWKS fetches.
struct Served {
    app: TestApp,
    base: String,
    jwks_fetches: Arc<AtomicUsize>,
}

async fn served(d: Dialect) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let app = TestApp::spawn_with(
        d,
        &[
            ("LANYARD_PUBLIC_URL", &base),
            ("LANYARD_ALLOW_PRIVATE_NETWORK", "true"),
            ("LANYARD_RATE_LIMITS", "off"),
        ],
    )
    .await;
    let jwks_fetches = Arc::new(AtomicUsize::new(0));
    let counter = jwks_fetches.clone();
    let router = app.router.clone().layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let counter = counter.clone();
            async move {
                if req.uri().path() == "/oauth2/jwks" {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                next.run(req).await
            }
        },
    ));
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    Served {
        app,
        base,
        jwks_fetches,
    }
}

/// Registers an OAuth client through the vendor API; answers (client_id, client_secret).
async fn client(app: &TestApp, redirect: &str, method: &str) -> (String, String) {
    let r = app
        .api(
            Method::POST,
            "/api/v1/oauth_clients",
            Some(json!({"name": "Acme web app", "redirect_uris": [redirect], "post_logout_redirect_uris": ["http://127.0.0.1:9/bye"], "token_endpoint_auth_method": method})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let j = r.json();
    (
        j["client_id"].as_str().unwrap().to_owned(),
        j["client_secret"].as_str().unwrap_or("").to_owned(),
    )
}

/// A client library process speaking the line protocol of `tests/support/op_client.*`.
struct Rp {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Rp {
    async fn start(program: &str, script: &str, env: &[(&str, &str)]) -> Rp {
        let mut child = tokio::process::Command::new(program)
            .arg(format!(
                "{}/tests/support/{script}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .envs(env.iter().copied())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{program} {script}: {e}"));
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut rp = Rp {
            _child: child,
            stdin,
            lines,
        };
        let meta: Value = serde_json::from_str(&rp.tagged("DISCOVERED").await).unwrap();
        assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
        rp
    }

    async fn node(env: &[(&str, &str)]) -> Rp {
        Rp::start("node", "op_client.mjs", env).await
    }

    async fn authlib(env: &[(&str, &str)]) -> Rp {
        let venv = format!(
            "{}/target/pytools-venv/bin/python",
            env!("CARGO_MANIFEST_DIR")
        );
        Rp::start(&venv, "op_client.py", env).await
    }

    async fn tagged(&mut self, tag: &str) -> String {
        loop {
            let line =
                tokio::time::timeout(std::time::Duration::from_secs(30), self.lines.next_line())
                    .await
                    .expect("client library answered in time")
                    .unwrap()
                    .unwrap_or_else(|| panic!("client library exited before {tag}"));
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                return rest.to_owned();
            }
            if let Some(rest) = line.strip_prefix("ERROR ") {
                panic!("client library: {rest}");
            }
        }
    }

    async fn send(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// The authorization URL the library builds for `extra` parameters.
    async fn authorize(&mut self, extra: Value) -> String {
        self.send(&format!("GO {extra}")).await;
        self.tagged("AUTHORIZE").await
    }

    /// Hands the library the callback; answers its result or its error.
    async fn finish(&mut self, callback: &str) -> Result<Value, String> {
        self.send(callback).await;
        loop {
            let line = self.lines.next_line().await.unwrap().expect("result");
            if let Some(r) = line.strip_prefix("RESULT ") {
                return Ok(serde_json::from_str(r).unwrap());
            }
            if let Some(e) = line.strip_prefix("ERROR ") {
                return Err(e.to_owned());
            }
        }
    }

    /// A whole sign-in through the browser.
    async fn sign_in(&mut self, extra: Value, idp: Option<&TestIdp>) -> Value {
        let url = self.authorize(extra).await;
        let back = browse(&url, idp).await;
        self.finish(&back).await.expect("signed in")
    }
}

/// A browser: follows redirects across Lanyard and the IdP (and the SAML IdP's auto-posted
/// form) until it would return to the client's redirect URI; answers that URL.
pub(crate) async fn browse(start: &str, idp: Option<&TestIdp>) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut cookies: Vec<(String, String)> = Vec::new();
    let mut url = url::Url::parse(start).unwrap();
    for _ in 0..15 {
        if url.as_str().starts_with(RP_CB) {
            return url.to_string();
        }
        let resp = if let Some(idp) = idp.filter(|i| url.as_str().starts_with(&i.base)) {
            let post = idp.login(url.as_str()).await;
            let mut form = vec![("SAMLResponse", post.saml_response.clone())];
            if let Some(r) = &post.relay_state {
                form.push(("RelayState", r.clone()));
            }
            http.post(&post.action)
                .header(header::ORIGIN, &idp.base)
                .header("sec-fetch-site", "cross-site")
                .form(&form)
                .send()
                .await
                .unwrap()
        } else {
            let cookie = cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            http.get(url.clone())
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
        };
        for c in resp.headers().get_all("set-cookie") {
            let pair = c.to_str().unwrap().split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                cookies.retain(|(n, _)| n != k);
                cookies.push((k.to_owned(), v.to_owned()));
            }
        }
        let status = resp.status();
        let Some(loc) = resp
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned())
        else {
            panic!(
                "the browser stopped at {url} with {status}: {}",
                resp.text().await.unwrap_or_default()
            );
        };
        url = url.join(&loc).unwrap();
    }
    panic!("too many redirects");
}

/// Two organizations: Acme behind an OIDC connection to oidc-provider, Globex behind a SAML
/// connection to the samlify IdP; answers their ids.
async fn two_organizations(s: &Served, op: &TestOp, idp: &TestIdp) -> (String, String) {
    let app = &s.app;
    let acme = app.create_org("Acme").await;
    verified_domain(app, &acme, "acme.test").await;
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{acme}/connections"),
            Some(json!({"type": "oidc", "name": "Okta", "oidc": {"issuer": op.issuer, "client_id": OP_CLIENT_ID, "client_secret": OP_CLIENT_SECRET}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    crate::helpers::activate_connection(app, r.json()["id"].as_str().unwrap()).await;
    let globex = app.create_org("Globex").await;
    verified_domain(app, &globex, "globex.test").await;
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{globex}/connections"),
            Some(json!({"type": "saml", "name": "Entra", "idp": "entra", "saml": {"idp_metadata_url": idp.entity_id()}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    crate::helpers::activate_connection(app, r.json()["id"].as_str().unwrap()).await;
    (acme, globex)
}

fn assert_person(r: &Value, org: &str, email: &str, connection_type: &str) {
    let c = &r["claims"];
    assert_eq!(c["org_id"], org, "{r}");
    assert_eq!(c["email"], email, "{r}");
    assert_eq!(c["email_verified"], true, "{r}");
    assert_eq!(c["role"], "member", "{r}");
    assert_eq!(c["connection_type"], connection_type, "{r}");
    assert!(c["sub"].as_str().unwrap().starts_with("om_"), "{r}");
    assert_eq!(r["userinfo"]["sub"], c["sub"], "{r}");
    assert_eq!(r["userinfo"]["org_id"], org, "{r}");
    assert_eq!(r["userinfo"]["email"], email, "{r}");
}

async fn openid_client_signs_in_through_oidc_and_saml_and_keeps_verifying_through_a_rotation(
    d: Dialect,
) {
    let s = served(d).await;
    let (op, idp) = (TestOp::start_for(&s.base), TestIdp::start());
    let (acme, globex) = two_organizations(&s, &op, &idp).await;
    let (id, secret) = client(&s.app, RP_CB, "client_secret_basic").await;
    let mut rp = Rp::node(&[
        ("ISSUER", &s.base),
        ("CLIENT_ID", &id),
        ("CLIENT_SECRET", &secret),
        ("AUTH", "basic"),
        ("REDIRECT_URI", RP_CB),
    ])
    .await;
    op.next_account(json!({"sub": "okta-1", "email": "dana@acme.test", "given_name": "Dana", "family_name": "Lee", "groups": ["Engineering"]})).await;
    let r = rp
        .sign_in(json!({"login_hint": "dana@acme.test"}), None)
        .await;
    assert_person(&r, &acme, "dana@acme.test", "oidc");
    assert_eq!(r["claims"]["name"], "Dana Lee");
    assert_eq!(r["claims"]["org_name"], "Acme");
    assert_eq!(r["claims"]["groups"], json!(["Engineering"]));
    assert_eq!(r["claims"]["iss"], s.base);
    assert_eq!(r["claims"]["aud"], id);
    // The same person signs in again: the same subject.
    let again = rp.sign_in(json!({"organization": acme}), None).await;
    assert_eq!(again["claims"]["sub"], r["claims"]["sub"]);

    idp.set_user(json!({"name_id": "sam@globex.test", "email": "sam@globex.test", "first_name": "Sam", "last_name": "Kim", "groups": ["Sales"]})).await;
    let r = rp
        .sign_in(json!({"domain_hint": "globex.test"}), Some(&idp))
        .await;
    assert_person(&r, &globex, "sam@globex.test", "saml");
    assert_eq!(r["claims"]["groups"], json!(["Sales"]));

    // A rotation: the key that signs next was already in the JWKS the library cached.
    let fetched = s.jwks_fetches.load(Ordering::SeqCst);
    assert_eq!(fetched, 1, "the library fetched the JWKS once");
    let rot = keys::rotate(
        &s.app.state,
        &Actor::operator(),
        &RequestContext::default(),
        false,
        keys::Alg::Rs256,
    )
    .await
    .unwrap();
    op.next_account(json!({"sub": "okta-1", "email": "dana@acme.test"}))
        .await;
    let r = rp.sign_in(json!({"organization": acme}), None).await;
    let header: Value = {
        use base64::Engine as _;
        let h = r["id_token"].as_str().unwrap().split('.').next().unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(header["kid"], rot.active, "signed by the promoted key");
    assert_eq!(
        s.jwks_fetches.load(Ordering::SeqCst),
        fetched,
        "verified from the cached JWKS: no refetch, no failure"
    );
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_events WHERE action = 'signing_key.rotated'")
            .fetch_all(&s.app.state.db.pool)
            .await
            .unwrap();
    assert!(!actions.is_empty());
    // Sign-ins through a client are recorded with its client id.
    let data: Vec<String> = sqlx::query_scalar(
        "SELECT metadata FROM audit_events WHERE action = 'authentication.succeeded' AND organization_id = $1",
    )
    .bind(&acme)
    .fetch_all(&s.app.state.db.pool)
    .await
    .unwrap();
    assert!(data.iter().all(|m| m.contains(&id)), "{data:?}");
}

async fn authlib_signs_in_through_oidc_and_saml(d: Dialect) {
    let s = served(d).await;
    let (op, idp) = (TestOp::start_for(&s.base), TestIdp::start());
    let (acme, globex) = two_organizations(&s, &op, &idp).await;
    let (id, secret) = client(&s.app, RP_CB, "client_secret_post").await;
    let mut rp = Rp::authlib(&[
        ("ISSUER", &s.base),
        ("CLIENT_ID", &id),
        ("CLIENT_SECRET", &secret),
        ("AUTH", "client_secret_post"),
        ("REDIRECT_URI", RP_CB),
    ])
    .await;
    op.next_account(json!({"sub": "okta-2", "email": "eve@acme.test", "given_name": "Eve"}))
        .await;
    let r = rp
        .sign_in(json!({"login_hint": "eve@acme.test"}), None)
        .await;
    assert_person(&r, &acme, "eve@acme.test", "oidc");
    idp.set_user(
        json!({"name_id": "kim@globex.test", "email": "kim@globex.test", "first_name": "Kim"}),
    )
    .await;
    let r = rp
        .sign_in(json!({"login_hint": "kim@globex.test"}), Some(&idp))
        .await;
    assert_person(&r, &globex, "kim@globex.test", "saml");
}

async fn a_public_client_signs_in_with_pkce_and_must_send_it(d: Dialect) {
    let s = served(d).await;
    let (op, idp) = (TestOp::start_for(&s.base), TestIdp::start());
    let (acme, _) = two_organizations(&s, &op, &idp).await;
    let (id, secret) = client(&s.app, RP_CB, "none").await;
    assert!(secret.is_empty(), "a public client has no secret");
    let mut rp = Rp::node(&[
        ("ISSUER", &s.base),
        ("CLIENT_ID", &id),
        ("AUTH", "none"),
        ("REDIRECT_URI", RP_CB),
    ])
    .await;
    op.next_account(json!({"sub": "okta-3", "email": "pat@acme.test"}))
        .await;
    let r = rp.sign_in(json!({"organization": acme}), None).await;
    assert_person(&r, &acme, "pat@acme.test", "oidc");
    // Without a challenge a public client is refused (back to it with an error).
    let r = s
        .app
        .browser_get(
            &format!("/oauth2/authorize?client_id={id}&redirect_uri={RP_CB}&response_type=code&scope=openid&state=s1&organization={acme}"),
            None,
        )
        .await;
    let to = url::Url::parse(&r.header("location").expect("redirect")).unwrap();
    assert_eq!(param(&to, "error").as_deref(), Some("invalid_request"));
    assert_eq!(param(&to, "state").as_deref(), Some("s1"));
}

// ---- Refusals, in process (the in-process app at helpers::ORIGIN and the certified OP) ----

const CB: &str = "https://app.example/callback";
const VERIFIER: &str = "verifier-0123456789-0123456789-0123456789-0123456789";

fn challenge(v: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(v.as_bytes()))
}

/// A sign-in up to the client's callback; answers the callback URL.
async fn code_for(app: &TestApp, op: &TestOp, client_id: &str, hint: &str) -> url::Url {
    code_with(app, op, &format!(
        "client_id={client_id}&redirect_uri={CB}&response_type=code&scope=openid%20email&state=st&nonce=n1&code_challenge={}&code_challenge_method=S256&{hint}",
        challenge(VERIFIER)
    ))
    .await
}

/// Runs `/oauth2/authorize?{query}` through the IdP and answers where Lanyard sends the browser.
async fn code_with(app: &TestApp, op: &TestOp, query: &str) -> url::Url {
    let r = app
        .browser_get(&format!("/oauth2/authorize?{query}"), None)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let to_op = r.header("location").unwrap();
    assert!(to_op.starts_with(&op.issuer), "{to_op}");
    let callback = op.browse_to_callback(&to_op).await;
    let r = app.browser_get(&callback, None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    url::Url::parse(&r.header("location").unwrap()).unwrap()
}

/// PATCHes the organization's one membership through the vendor API.
async fn patch_the_member(app: &TestApp, org: &str, body: Value) {
    let m: String = sqlx::query_scalar("SELECT id FROM memberships WHERE organization_id = $1")
        .bind(org)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/memberships/{m}"),
            Some(body),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

/// A JWT's claims (no verification: the tests that need it verify separately).
fn claims_of(jwt: &str) -> Value {
    use base64::Engine as _;
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// `POST /oauth2/token`, Basic-authenticated when `secret` is given.
async fn token(
    app: &TestApp,
    client_id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value, Option<String>) {
    use base64::Engine as _;
    let body = serde_urlencoded::to_string(form).unwrap();
    let mut b = Request::builder()
        .method(Method::POST)
        .uri("/oauth2/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if !secret.is_empty() {
        b = b.header(
            header::AUTHORIZATION,
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"))
            ),
        );
    }
    let r = app
        .send(b.body(axum::body::Body::from(body)).unwrap())
        .await;
    (
        r.status,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        r.header("www-authenticate"),
    )
}

async fn redeem(
    app: &TestApp,
    id: &str,
    secret: &str,
    code: &str,
) -> (StatusCode, Value, Option<String>) {
    token(
        app,
        id,
        secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

async fn userinfo(app: &TestApp, access_token: &str) -> StatusCode {
    userinfo_answer(app, access_token).await.0
}

/// `/oauth2/userinfo` with the access token: status and body.
async fn userinfo_answer(app: &TestApp, access_token: &str) -> (StatusCode, Value) {
    let r = app
        .send(
            Request::builder()
                .uri("/oauth2/userinfo")
                .header(header::AUTHORIZATION, format!("Bearer {access_token}"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    (r.status, r.json())
}

async fn in_process(d: Dialect) -> (TestApp, TestOp, String, (String, String), (String, String)) {
    let (app, op) = setup(d).await;
    let (org, _) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    let a = client(&app, CB, "client_secret_basic").await;
    let b = client(&app, CB, "client_secret_basic").await;
    (app, op, org, a, b)
}

async fn codes_are_single_use_bound_to_their_client_redirect_and_pkce(d: Dialect) {
    let (app, op, org, (a, a_secret), (b, b_secret)) = in_process(d).await;
    op.next_account(json!({"sub": "u1", "email": "ann@acme.test"}))
        .await;
    let back = code_for(&app, &op, &a, &format!("organization={org}")).await;
    assert_eq!(param(&back, "state").as_deref(), Some("st"));
    let code = param(&back, "code").unwrap();
    // Another client, with its own valid secret: refused, and the code is not burnt.
    let (st, j, _) = redeem(&app, &b, &b_secret, &code).await;
    assert_eq!(
        (st, j["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{j}"
    );
    // Client a with client b's secret: invalid_client, 401 with a challenge.
    let (st, j, www) = redeem(&app, &a, &b_secret, &code).await;
    assert_eq!(
        (st, j["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "{j}"
    );
    assert!(www.unwrap_or_default().starts_with("Basic"));
    // A wrong PKCE verifier, and another redirect URI: refused.
    let wrong = "wrong-verifier-0123456789-0123456789-0123456789-0123";
    let (st, j, _) = token(
        &app,
        &a,
        &a_secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", wrong),
        ],
    )
    .await;
    assert_eq!(
        (st, j["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{j}"
    );
    let (st, j, _) = token(
        &app,
        &a,
        &a_secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example/other"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(
        (st, j["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{j}"
    );
    // The vendor API's code exchange does not take a client's code.
    let r = crate::helpers::exchange(&app, &code).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    // The right client redeems it once.
    let (st, j, _) = redeem(&app, &a, &a_secret, &code).await;
    assert_eq!(st, StatusCode::OK, "{j}");
    assert!(j["id_token"].is_string() && j["access_token"].is_string());
    assert_eq!(
        userinfo(&app, j["access_token"].as_str().unwrap()).await,
        StatusCode::OK
    );
    let (st, j, _) = redeem(&app, &a, &a_secret, &code).await;
    assert_eq!(
        (st, j["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{j}"
    );
    assert!(
        j["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{j}"
    );
    // Codes expire after a minute.
    op.next_account(json!({"sub": "u1", "email": "ann@acme.test"}))
        .await;
    let back = code_for(&app, &op, &a, &format!("organization={org}")).await;
    app.state.clock.advance(61_000);
    let (st, j, _) = redeem(&app, &a, &a_secret, &param(&back, "code").unwrap()).await;
    assert_eq!(
        (st, j["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{j}"
    );
}

async fn unregistered_redirect_uris_get_an_error_page_not_a_redirect(d: Dialect) {
    let (app, _op, org, (a, _), _) = in_process(d).await;
    for uri in [
        "https://evil.example/cb",
        "https://app.example/callback/",
        "https://app.example/callback?x=1",
    ] {
        let r = app
            .browser_get(
                &format!("/oauth2/authorize?client_id={a}&redirect_uri={}&response_type=code&scope=openid&organization={org}", urlencode(uri)),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(r.header("location").is_none(), "{uri}");
        assert!(r.text().contains("has not registered"), "{}", r.text());
    }
    let r = app
        .browser_get(&format!("/oauth2/authorize?client_id=client_unknown&redirect_uri={CB}&response_type=code&scope=openid"), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.header("location").is_none());
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn the_discovery_page_routes_by_verified_domain_and_refuses_consumer_mail(d: Dialect) {
    let (app, op, _org, (a, _), _) = in_process(d).await;
    let base = format!("/oauth2/authorize?client_id={a}&redirect_uri={CB}&response_type=code&scope=openid&state=st&nonce=n&code_challenge={}&code_challenge_method=S256", challenge(VERIFIER));
    let r = app.browser_get(&base, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let page = r.text();
    assert!(
        page.contains("Sign in to Acme web app") && page.contains(r#"<label for="email""#),
        "{page}"
    );
    assert!(
        page.contains(&format!(r#"name="client_id" value="{a}""#)),
        "{page}"
    );
    for (email, says) in [
        ("someone@gmail.com", "personal email provider"),
        (
            "someone@nobody.test",
            "No organization has set up single sign-on",
        ),
        ("not-an-email", "work email address"),
    ] {
        let r = app
            .browser_get(&format!("{base}&login_hint={}", urlencode(email)), None)
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{email}");
        assert!(r.header("location").is_none());
        assert!(r.text().contains(says), "{email}: {}", r.text());
        assert!(r.text().contains(r#"role="alert""#));
    }
    let r = app
        .browser_get(&format!("{base}&login_hint=ann%40acme.test"), None)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.header("location").unwrap().starts_with(&op.issuer));
}

async fn suspended_members_and_jit_off_are_refused_like_the_simulator_says(d: Dialect) {
    let (app, op, org, (a, a_secret), _) = in_process(d).await;
    // A member signs in; their access token works until they are suspended.
    op.next_account(json!({"sub": "u1", "email": "ann@acme.test"}))
        .await;
    let back = code_for(&app, &op, &a, &format!("organization={org}")).await;
    let (st, j, _) = redeem(&app, &a, &a_secret, &param(&back, "code").unwrap()).await;
    assert_eq!(st, StatusCode::OK, "{j}");
    let access = j["access_token"].as_str().unwrap().to_owned();
    // A code issued, then the member is suspended before it is redeemed.
    op.next_account(json!({"sub": "u1", "email": "ann@acme.test"}))
        .await;
    let back = code_for(&app, &op, &a, &format!("organization={org}")).await;
    patch_the_member(&app, &org, json!({"state": "suspended"})).await;
    let (st, j, _) = redeem(&app, &a, &a_secret, &param(&back, "code").unwrap()).await;
    assert_eq!(
        (st, j["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{j}"
    );
    assert_eq!(userinfo(&app, &access).await, StatusCode::UNAUTHORIZED);
    // Signing in again: refused back at the client.
    op.next_account(json!({"sub": "u1", "email": "ann@acme.test"}))
        .await;
    let back = code_for(&app, &op, &a, &format!("organization={org}")).await;
    assert_eq!(
        param(&back, "error").as_deref(),
        Some("access_denied"),
        "{back}"
    );
    assert!(param(&back, "code").is_none());

    // JIT off: a newcomer is refused, as the simulator says, and the refusal names the client.
    patch_policy(&app, &org, json!({"jit_enabled": false})).await;
    let conn: String = sqlx::query_scalar("SELECT id FROM connections WHERE organization_id = $1")
        .bind(&org)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let sim = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{org}/policy/simulate"),
            Some(json!({"email": "cal@acme.test", "path": {"kind": "sso", "connection_id": conn}})),
        )
        .await
        .json();
    assert_eq!(sim["decision"], "deny", "{sim}");
    op.next_account(json!({"sub": "u2", "email": "cal@acme.test"}))
        .await;
    let back = code_for(&app, &op, &a, &format!("organization={org}")).await;
    assert_eq!(
        param(&back, "error").as_deref(),
        Some("access_denied"),
        "{back}"
    );
    let failed: Vec<String> = sqlx::query_scalar(
        "SELECT metadata FROM audit_events WHERE action = 'authentication.failed' AND organization_id = $1",
    )
    .bind(&org)
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    assert!(
        failed
            .iter()
            .any(|m| m.contains("jit_disabled") && m.contains(&a)),
        "{failed:?}"
    );
}

async fn a_member_the_directory_deprovisions_loses_tokens_and_sign_in(d: Dialect) {
    use crate::helpers::scim;
    let (app, op, org, (a, a_secret), _) = in_process(d).await;
    let dir = scim::create_dir(&app, &org, "okta").await;
    let user = scim::create_user(&app, &dir, "dee@acme.test").await;
    op.next_account(json!({"sub": "u9", "email": "dee@acme.test"}))
        .await;
    let back = code_for(&app, &op, &a, &format!("organization={org}")).await;
    let (st, j, _) = redeem(&app, &a, &a_secret, &param(&back, "code").unwrap()).await;
    assert_eq!(st, StatusCode::OK, "{j}");
    let access = j["access_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo(&app, &access).await, StatusCode::OK);
    // The leaver: deactivated in the directory.
    let r = scim::scim(
        &app,
        &dir,
        Method::PATCH,
        &format!("/Users/{user}"),
        Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {"active": false}}]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(userinfo(&app, &access).await, StatusCode::UNAUTHORIZED);
    op.next_account(json!({"sub": "u9", "email": "dee@acme.test"}))
        .await;
    let back = code_for(&app, &op, &a, &format!("organization={org}")).await;
    assert_eq!(
        param(&back, "error").as_deref(),
        Some("access_denied"),
        "{back}"
    );
}

async fn failed_client_authentications_are_limited_per_address(d: Dialect) {
    let (app, _op, _org, (a, a_secret), (b, b_secret)) = in_process(d).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "nope"),
        ("redirect_uri", CB),
    ];
    for _ in 0..60 {
        let (st, _, _) = token(&app, &a, "lanyard_cs_wrong", &form).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
    }
    // Past the limit even the right secret waits: guessing stops here.
    let (st, j, _) = token(&app, &a, &a_secret, &form).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{j}");
    // Another client from the same address is not locked out by the guesses at this one.
    let (st, j, _) = token(&app, &b, &b_secret, &form).await;
    assert_eq!(
        (st, j["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{j}"
    );
    app.state.clock.advance(61_000);
    let (st, j, _) = token(&app, &a, &a_secret, &form).await;
    assert_eq!(
        (st, j["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{j}"
    );
}

/// A JWT with the given header over the given claims and signature bytes.
fn forge(header: Value, claims: &Value, sig: &[u8]) -> String {
    use base64::Engine as _;
    let e = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    format!(
        "{}.{}.{}",
        e(header.to_string().as_bytes()),
        e(claims.to_string().as_bytes()),
        e(sig)
    )
}

async fn only_the_published_algorithm_and_keys_verify(d: Dialect) {
    use base64::Engine as _;
    let (app, op, org, (a, a_secret), _) = in_process(d).await;
    op.next_account(json!({"sub": "u1", "email": "ann@acme.test"}))
        .await;
    let back = code_for(&app, &op, &a, &format!("organization={org}")).await;
    let (_, j, _) = redeem(&app, &a, &a_secret, &param(&back, "code").unwrap()).await;
    let access = j["access_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo(&app, &access).await, StatusCode::OK);
    let parts: Vec<&str> = access.split('.').collect();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[0])
            .unwrap(),
    )
    .unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "RS256");
    let disc = app
        .browser_get("/.well-known/openid-configuration", None)
        .await
        .json();
    assert_eq!(
        disc["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(
        disc["grant_types_supported"],
        json!(["authorization_code"]),
        "no refresh tokens"
    );
    let kid = header["kid"].clone();
    // alg none; HS256 keyed with the public JWK (key confusion); ES256 named on an RSA key.
    let jwks = app.browser_get("/oauth2/jwks", None).await.text();
    let hs = {
        use hmac::Mac as _;
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(jwks.as_bytes()).unwrap();
        m.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
        m.finalize().into_bytes().to_vec()
    };
    for (alg, sig) in [("none", vec![]), ("HS256", hs), ("ES256", vec![0u8; 64])] {
        let t = forge(
            json!({"alg": alg, "kid": kid, "typ": "at+jwt"}),
            &claims,
            &sig,
        );
        assert_eq!(userinfo(&app, &t).await, StatusCode::UNAUTHORIZED, "{alg}");
    }
    // The real signature over other claims; and an ID token where an access token belongs.
    let mut other = claims.clone();
    other["role"] = "admin".into();
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[2])
        .unwrap();
    assert_eq!(
        userinfo(&app, &forge(header.clone(), &other, &sig)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        userinfo(&app, j["id_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
    // A rotation with overlap: the old key's tokens still verify.
    let state = &app.state;
    keys::rotate(
        state,
        &Actor::operator(),
        &RequestContext::default(),
        false,
        keys::Alg::Es256,
    )
    .await
    .unwrap();
    assert_eq!(
        userinfo(&app, &access).await,
        StatusCode::OK,
        "within the overlap"
    );
    // Past the overlap (an emergency rotation ends it now): a token the retired key signed is refused.
    keys::rotate(
        state,
        &Actor::operator(),
        &RequestContext::default(),
        true,
        keys::Alg::Es256,
    )
    .await
    .unwrap();
    assert_eq!(userinfo(&app, &access).await, StatusCode::UNAUTHORIZED);
    let jwks: Value = app.browser_get("/oauth2/jwks", None).await.json();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["kid"] != kid),
        "{jwks}"
    );
    // ES256 tokens from the new key verify.
    op.next_account(json!({"sub": "u1", "email": "ann@acme.test"}))
        .await;
    let back = code_for(&app, &op, &a, &format!("organization={org}")).await;
    let (_, j, _) = redeem(&app, &a, &a_secret, &param(&back, "code").unwrap()).await;
    let access = j["access_token"].as_str().unwrap().to_owned();
    let h: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(access.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(h["alg"], "ES256");
    assert_eq!(userinfo(&app, &access).await, StatusCode::OK);
}

async fn clients_are_managed_with_secrets_shown_once_and_rotated_with_overlap(d: Dialect) {
    let (app, _op, _org, (a, a_secret), _) = in_process(d).await;
    let list = app.api(Method::GET, "/api/v1/oauth_clients", None).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(!list.text().contains(&a_secret), "never listed");
    let id = list.json()["data"][0]["id"].as_str().unwrap().to_owned();
    let stored: Option<String> =
        sqlx::query_scalar("SELECT secret_hash FROM oauth_clients WHERE id = $1")
            .bind(&id)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    assert_ne!(stored.as_deref(), Some(a_secret.as_str()), "hashed at rest");
    // Bad input names the field.
    for (body, field) in [
        (json!({"name": "x", "redirect_uris": []}), "redirect_uris"),
        (
            json!({"name": "x", "redirect_uris": ["http://evil.example/cb"]}),
            "redirect_uris",
        ),
        (json!({"name": "", "redirect_uris": [CB]}), "name"),
        (
            json!({"name": "x", "redirect_uris": [CB], "allowed_organizations": ["org_nope"]}),
            "allowed_organizations",
        ),
    ] {
        let r = app
            .api(Method::POST, "/api/v1/oauth_clients", Some(body))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
        assert_eq!(r.json()["error"]["field"], field, "{}", r.text());
    }
    // Rotation: the old secret works for the overlap, then stops.
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/oauth_clients/{id}/secret"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let new_secret = r.json()["client_secret"].as_str().unwrap().to_owned();
    let row = lanyard::server::db::oauth::client_by_client_id(
        &mut app.state.db.pool.acquire().await.unwrap(),
        &a,
    )
    .await
    .unwrap()
    .unwrap();
    let now = app.state.clock.now();
    use lanyard::server::service::oauth::clients::secret_matches;
    assert!(secret_matches(&row, &a_secret, now) && secret_matches(&row, &new_secret, now));
    assert!(!secret_matches(&row, &a_secret, now + 25 * 3600 * 1000));
    // In the support console's credentials inventory, with its age and last use.
    let creds = lanyard::server::service::health::vendor_credentials(&app.state)
        .await
        .unwrap();
    assert!(
        creds
            .iter()
            .any(|c| c.kind == "oauth_client_secret" && c.id == id && c.hint.is_some()),
        "{creds:?}"
    );
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/oauth_clients/{id}"),
            Some(json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!(r.json()["name"], "Renamed", "{}", r.text());
    let r = app
        .api(Method::DELETE, &format!("/api/v1/oauth_clients/{id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_events WHERE action LIKE 'oauth_client.%' ORDER BY id",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    assert!(
        actions.contains(&"oauth_client.created".to_owned())
            && actions.contains(&"oauth_client.secret_rotated".to_owned())
            && actions.contains(&"oauth_client.deleted".to_owned()),
        "{actions:?}"
    );
}

async fn end_session_returns_only_to_a_registered_address(d: Dialect) {
    let (app, _op, _org, (a, _), _) = in_process(d).await;
    let r = app
        .browser_get(
            &format!(
                "/oauth2/end_session?client_id={a}&post_logout_redirect_uri={}&state=z",
                urlencode("http://127.0.0.1:9/bye")
            ),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.header("location").as_deref(),
        Some("http://127.0.0.1:9/bye?state=z")
    );
    let r = app
        .browser_get(
            &format!(
                "/oauth2/end_session?client_id={a}&post_logout_redirect_uri={}",
                urlencode("https://evil.example/")
            ),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.header("location").is_none());
    assert!(r.text().contains("signed out"));
}

crate::both_databases!(
    openid_client_signs_in_through_oidc_and_saml_and_keeps_verifying_through_a_rotation,
    authlib_signs_in_through_oidc_and_saml,
    a_public_client_signs_in_with_pkce_and_must_send_it,
    codes_are_single_use_bound_to_their_client_redirect_and_pkce,
    unregistered_redirect_uris_get_an_error_page_not_a_redirect,
    the_discovery_page_routes_by_verified_domain_and_refuses_consumer_mail,
    suspended_members_and_jit_off_are_refused_like_the_simulator_says,
    a_member_the_directory_deprovisions_loses_tokens_and_sign_in,
    only_the_published_algorithm_and_keys_verify,
    clients_are_managed_with_secrets_shown_once_and_rotated_with_overlap,
    end_session_returns_only_to_a_registered_address,
    failed_client_authentications_are_limited_per_address,
    no_state_comes_back_when_none_was_sent_and_only_supported_scopes_are_granted,
    userinfo_follows_the_client_and_the_current_role,
    the_discovery_form_moves_on_with_a_page_and_domain_hints_are_limited,
    prompt_login_and_max_age_make_the_idp_authenticate_afresh,
    email_verified_is_false_when_the_idp_says_so_for_a_returning_identity,
);

/// A returning identity (known by its subject) whose IdP now sends a colleague's address,
/// unverified: it signs in, but the ID token does not vouch for the address.
async fn email_verified_is_false_when_the_idp_says_so_for_a_returning_identity(d: Dialect) {
    let (app, op, org, (a, a_secret), _) = in_process(d).await;
    let id_token = |account: Value| {
        let (app, op, a, a_secret, org) = (&app, &op, &a, &a_secret, &org);
        async move {
            op.next_account(account).await;
            let back = code_for(app, op, a, &format!("organization={org}")).await;
            let (st, j, _) = redeem(app, a, a_secret, &param(&back, "code").unwrap()).await;
            assert_eq!(st, StatusCode::OK, "{j}");
            claims_of(j["id_token"].as_str().unwrap())
        }
    };
    let c = id_token(json!({"sub": "u1", "email": "ann@acme.test"})).await;
    assert_eq!(
        (c["email"].as_str(), &c["email_verified"]),
        (Some("ann@acme.test"), &json!(true)),
        "{c}"
    );
    let c =
        id_token(json!({"sub": "u1", "email": "boss@acme.test", "email_verified": false})).await;
    assert_eq!(c["email_verified"], json!(false), "{c}");
}

async fn prompt_login_and_max_age_make_the_idp_authenticate_afresh(d: Dialect) {
    let (app, op, org, (a, a_secret), _) = in_process(d).await;
    let query = |org: &str, extra: &str| {
        format!(
            "client_id={a}&redirect_uri={CB}&response_type=code&scope=openid%20email&state=st&nonce=n1&code_challenge={}&code_challenge_method=S256&organization={org}{extra}",
            challenge(VERIFIER)
        )
    };
    let to_idp = |q: String| {
        let app = &app;
        async move {
            let r = app
                .browser_get(&format!("/oauth2/authorize?{q}"), None)
                .await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
            url::Url::parse(&r.header("location").unwrap()).unwrap()
        }
    };
    for (extra, forced) in [
        ("", false),
        ("&prompt=login", true),
        ("&max_age=0", true),
        ("&max_age=3600", true),
    ] {
        let to = to_idp(query(&org, extra)).await;
        assert_eq!(
            param(&to, "prompt").as_deref() == Some("login"),
            forced,
            "{extra}: {to}"
        );
    }
    // The real IdP honours it and the sign-in completes.
    op.next_account(json!({"sub": "u1", "email": "ann@acme.test"}))
        .await;
    let back = code_with(&app, &op, &query(&org, "&prompt=login")).await;
    let (st, j, _) = redeem(&app, &a, &a_secret, &param(&back, "code").unwrap()).await;
    assert_eq!(st, StatusCode::OK, "{j}");
    // A max_age that is not a number goes back to the client as an error.
    let r = app
        .browser_get(
            &format!("/oauth2/authorize?{}", query(&org, "&max_age=soon")),
            None,
        )
        .await;
    let back = url::Url::parse(&r.header("location").unwrap()).unwrap();
    assert_eq!(
        param(&back, "error").as_deref(),
        Some("invalid_request"),
        "{back}"
    );
    // SAML: the AuthnRequest says ForceAuthn.
    let idp = TestIdp::start();
    let globex = app.create_org("Globex").await;
    verified_domain(&app, &globex, "globex.test").await;
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{globex}/connections"),
            Some(json!({"type": "saml", "name": "Entra", "idp": "entra", "saml": {"idp_metadata_url": idp.entity_id()}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    crate::helpers::activate_connection(&app, r.json()["id"].as_str().unwrap()).await;
    for (extra, forced) in [("", false), ("&prompt=login", true)] {
        use base64::Engine as _;
        use std::io::Read as _;
        let to = to_idp(query(&globex, extra)).await;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(param(&to, "SAMLRequest").unwrap())
            .unwrap();
        let mut xml = String::new();
        flate2::read::DeflateDecoder::new(&raw[..])
            .read_to_string(&mut xml)
            .unwrap();
        assert_eq!(
            xml.contains(r#"ForceAuthn="true""#),
            forced,
            "{extra}: {xml}"
        );
    }
}

async fn no_state_comes_back_when_none_was_sent_and_only_supported_scopes_are_granted(d: Dialect) {
    let (app, op, org, (a, a_secret), _) = in_process(d).await;
    op.next_account(json!({"sub": "u1", "email": "ann@acme.test"}))
        .await;
    // No `state`, and scopes Lanyard does not know edited into the URL.
    let back = code_with(&app, &op, &format!(
        "client_id={a}&redirect_uri={CB}&response_type=code&scope=openid%20admin%20email%20write%3Abilling&nonce=n1&code_challenge={}&code_challenge_method=S256&organization={org}",
        challenge(VERIFIER)
    ))
    .await;
    assert!(param(&back, "code").is_some(), "{back}");
    // RFC 6749 §4.1.2: state comes back exactly when it was sent (an empty `state=` breaks
    // strict clients such as openid-client).
    assert!(back.query_pairs().all(|(k, _)| k != "state"), "{back}");
    let (st, j, _) = redeem(&app, &a, &a_secret, &param(&back, "code").unwrap()).await;
    assert_eq!(st, StatusCode::OK, "{j}");
    let access = claims_of(j["access_token"].as_str().unwrap());
    assert_eq!(access["scope"], "openid email", "{access}");
    // An error back at the client carries no state either.
    let r = app
        .browser_get(
            &format!("/oauth2/authorize?client_id={a}&redirect_uri={CB}&response_type=token&scope=openid"),
            None,
        )
        .await;
    let back = url::Url::parse(&r.header("location").unwrap()).unwrap();
    assert!(param(&back, "error").is_some(), "{back}");
    assert!(back.query_pairs().all(|(k, _)| k != "state"), "{back}");
}

async fn userinfo_follows_the_client_and_the_current_role(d: Dialect) {
    let (app, op, org, (a, a_secret), _) = in_process(d).await;
    op.next_account(json!({"sub": "u1", "email": "ann@acme.test"}))
        .await;
    let back = code_for(&app, &op, &a, &format!("organization={org}")).await;
    let (st, j, _) = redeem(&app, &a, &a_secret, &param(&back, "code").unwrap()).await;
    assert_eq!(st, StatusCode::OK, "{j}");
    let access = j["access_token"].as_str().unwrap().to_owned();
    let info = |access: String| {
        let app = &app;
        async move { userinfo_answer(app, &access).await }
    };
    let (st, j) = info(access.clone()).await;
    assert_eq!(
        (st, j["role"].as_str()),
        (StatusCode::OK, Some("member")),
        "{j}"
    );
    // An admin makes Ann an admin: UserInfo says so at once.
    patch_the_member(&app, &org, json!({"role": "admin"})).await;
    let (st, j) = info(access.clone()).await;
    assert_eq!(
        (st, j["role"].as_str()),
        (StatusCode::OK, Some("admin")),
        "{j}"
    );
    // The organization is taken off the client's list: its tokens stop working.
    let list = app.api(Method::GET, "/api/v1/oauth_clients", None).await;
    let id = list.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == a.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = app.create_org("Globex").await;
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/oauth_clients/{id}"),
            Some(json!({"allowed_organizations": [other]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(info(access.clone()).await.0, StatusCode::UNAUTHORIZED);
    // And a deleted client's tokens as well.
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/oauth_clients/{id}"),
            Some(json!({"allowed_organizations": null})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(info(access.clone()).await.0, StatusCode::OK);
    let r = app
        .api(Method::DELETE, &format!("/api/v1/oauth_clients/{id}"), None)
        .await;
    assert!(r.status.is_success(), "{}", r.text());
    assert_eq!(info(access).await.0, StatusCode::UNAUTHORIZED);
}

async fn the_discovery_form_moves_on_with_a_page_and_domain_hints_are_limited(d: Dialect) {
    let (app, op, _org, (a, _), _) = in_process(d).await;
    let base = format!("/oauth2/authorize?client_id={a}&redirect_uri={CB}&response_type=code&scope=openid&state=st&nonce=n&code_challenge={}&code_challenge_method=S256", challenge(VERIFIER));
    // The discovery page's form marks its submissions.
    let page = app.browser_get(&base, None).await.text();
    assert!(page.contains(r#"name="hrd" value="1""#), "{page}");
    // Submitted from the form: a page that moves on by itself (Chrome applies the page's CSP
    // `form-action 'self'` to redirects after a form submission, which would stop the hop to the
    // IdP), with a link to follow by hand.
    let r = app
        .browser_get(&format!("{base}&login_hint=ann%40acme.test&hrd=1"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.header("location").is_none());
    let refresh = r.header("refresh").expect("a Refresh header");
    let to = refresh.strip_prefix("0;url=").unwrap();
    assert!(to.starts_with(&op.issuer), "{refresh}");
    assert!(
        r.text()
            .contains(&format!(r#"href="{}""#, to.replace('&', "&amp;"))),
        "{}",
        r.text()
    );
    assert!(r
        .header("content-security-policy")
        .unwrap()
        .contains("form-action 'self'"));
    // A client that sends login_hint itself still gets a plain redirect.
    let r = app
        .browser_get(&format!("{base}&login_hint=ann%40acme.test"), None)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // Domain hints are lookups of which organization holds a domain: limited like emails (60 a
    // minute per address, the two requests above included).
    for i in 0..58 {
        let r = app
            .browser_get(&format!("{base}&domain_hint=guess{i}.test"), None)
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{i}");
    }
    let r = app
        .browser_get(&format!("{base}&domain_hint=acme.test"), None)
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
}
