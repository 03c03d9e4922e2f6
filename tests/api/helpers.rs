//! Test harness: the real router in process, against a fresh migrated database (SQLite file or
//! a new PostgreSQL database per test, dropped afterwards).

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use lanyard::server::audit::{Actor, RequestContext};
use lanyard::server::clock::Clock;
use lanyard::server::config::Config;
use lanyard::server::db::Db;
use lanyard::server::http::build_router;
use lanyard::server::service::api_keys;
use lanyard::server::state::AppState;
use serde_json::Value;
use std::collections::BTreeMap;
use tower::ServiceExt as _;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Public URL used by every test app; browser-like requests send it as Origin.
pub const ORIGIN: &str = "http://127.0.0.1:3000";

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub key: String,
    pg_db: Option<String>,
    _dir: tempfile::TempDir,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
    }
    /// The session cookie pair (`lanyard_session=…`) this response set.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("lanyard_session="))
            .map(|c| c.split(';').next().unwrap_or_default().to_owned())
    }
}

fn pg_admin_url() -> String {
    std::env::var("LANYARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

impl TestApp {
    pub async fn spawn(dialect: Dialect) -> TestApp {
        TestApp::spawn_with(dialect, &[]).await
    }

    pub async fn spawn_with(dialect: Dialect, extra: &[(&str, &str)]) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let (url, pg_db) = match dialect {
            Dialect::Sqlite => (
                format!("sqlite://{}", dir.path().join("t.db").display()),
                None,
            ),
            Dialect::Postgres => {
                sqlx::any::install_default_drivers();
                let name = format!("lanyard_t_{}", hex_random());
                let admin = sqlx::AnyPool::connect(&pg_admin_url())
                    .await
                    .expect("PostgreSQL must run at 127.0.0.1:5432 (see README)");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&admin)
                    .await
                    .expect("create test database");
                admin.close().await;
                let base = pg_admin_url();
                let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
                (url, Some(name))
            }
        };
        let mut vars: BTreeMap<String, String> = BTreeMap::new();
        vars.insert("DATABASE_URL".into(), url.clone());
        vars.insert("LANYARD_SECRET_KEY".into(), "ab".repeat(32));
        vars.insert("LANYARD_PUBLIC_URL".into(), ORIGIN.into());
        vars.insert("LANYARD_DATA_DIR".into(), dir.path().display().to_string());
        for (k, v) in extra {
            vars.insert((*k).into(), (*v).into());
        }
        let config = Config::from_vars(&vars).expect("config");
        let db = Db::connect(&config.database_url).await.expect("connect");
        db.migrate().await.expect("migrate");
        let clock = Clock::default();
        let (_, key) = api_keys::create(
            &db,
            &Actor::operator(),
            &RequestContext::default(),
            "test",
            clock.now(),
        )
        .await
        .expect("api key");
        let state = AppState::new(db, config, clock).expect("state");
        let router = build_router(state.clone());
        TestApp {
            router,
            state,
            key,
            pg_db,
            _dir: dir,
        }
    }

    /// Another node of this deployment: its own pool and state on the same database (a fresh
    /// clock, its own in-process caches and limiter), and its router.
    pub async fn second_node(&self) -> (AppState, Router) {
        let db = Db::connect(&self.state.config.database_url)
            .await
            .expect("connect");
        let state =
            AppState::new(db, (*self.state.config).clone(), Clock::default()).expect("state");
        (state.clone(), build_router(state))
    }

    /// Another API key of this deployment: (its id, the key).
    pub async fn second_key(&self, name: &str) -> (String, String) {
        let (info, key) = api_keys::create(
            &self.state.db,
            &Actor::operator(),
            &RequestContext::default(),
            name,
            self.state.clock.now(),
        )
        .await
        .expect("api key");
        (info.id, key)
    }

    /// Revokes the API key `id`.
    pub async fn revoke_key(&self, id: &str) {
        api_keys::revoke(
            &self.state.db,
            &Actor::operator(),
            &RequestContext::default(),
            id,
            self.state.clock.now(),
        )
        .await
        .expect("revoke");
    }

    /// Sends a raw request.
    pub async fn send(&self, req: Request<Body>) -> TestResponse {
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body")
            .to_vec();
        TestResponse {
            status,
            headers,
            body,
        }
    }

    /// A vendor API call with this app's key.
    pub async fn api(&self, method: Method, path: &str, body: Option<Value>) -> TestResponse {
        self.api_with(method, path, body, &[]).await
    }

    pub async fn api_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.key));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = match body {
            Some(v) => b
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(v.to_string())),
            None => b.body(Body::empty()),
        }
        .unwrap();
        self.send(req).await
    }

    /// Creates an organization through the API and returns its id.
    pub async fn create_org(&self, name: &str) -> String {
        let r = self
            .api(
                Method::POST,
                "/api/v1/organizations",
                Some(serde_json::json!({ "name": name })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()["id"].as_str().unwrap().to_owned()
    }

    /// Creates a setup link and returns its path (`/portal/link/…`).
    pub async fn create_link(&self, org: &str, intents: &[&str]) -> String {
        let r = self
            .api(
                Method::POST,
                "/api/v1/portal/links",
                Some(serde_json::json!({ "organization_id": org, "intents": intents })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let link = r.json()["link"].as_str().unwrap().to_owned();
        let at = link.find("/portal/link/").expect("link path");
        link[at..].to_owned()
    }

    /// A browser GET (optionally with a session cookie).
    pub async fn browser_get(&self, path: &str, cookie: Option<&str>) -> TestResponse {
        let mut b = Request::builder()
            .uri(path)
            .header("sec-fetch-site", "none");
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    /// A same-origin browser form POST.
    pub async fn browser_post(&self, path: &str, form: &str, cookie: Option<&str>) -> TestResponse {
        let mut b = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::ORIGIN, ORIGIN)
            .header("sec-fetch-site", "same-origin")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::from(form.to_owned())).unwrap())
            .await
    }

    /// Redeems a link and returns the session cookie.
    pub async fn redeem(&self, link_path: &str) -> String {
        let r = self.browser_post(link_path, "", None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        r.session_cookie().expect("session cookie")
    }

    /// Audit events of an organization (the first 100), in chain order.
    pub async fn audit_events(&self, org: &str) -> Vec<Value> {
        let r = self
            .api(
                Method::GET,
                &format!("/api/v1/audit_events?organization_id={org}&limit=100"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()["data"].as_array().unwrap().clone()
    }

    /// The newest audit event of an organization with this action, if any.
    pub async fn last_audit_event(&self, org: &str, action: &str) -> Option<Value> {
        self.audit_events(org)
            .await
            .into_iter()
            .rfind(|e| e["action"] == action)
    }

    /// Audit actions of an organization, in chain order.
    pub async fn audit_actions(&self, org: &str) -> Vec<String> {
        self.audit_events(org)
            .await
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(name) = self.pg_db.take() {
            let pool = self.state.db.pool.clone();
            // Drop runs inside the test's runtime; do the async clean-up on a thread of its own.
            // The close is bounded: a task of the app (the sequencer mid-step, say) may hold a
            // connection, and on a current-thread test runtime, blocked here in `join`, it never
            // runs again to give it back (a CI run hung on this, 2026-12-06). DROP DATABASE …
            // WITH (FORCE) ends whatever is left.
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let _ =
                        tokio::time::timeout(std::time::Duration::from_secs(5), pool.close()).await;
                    if let Ok(admin) = sqlx::AnyPool::connect(&pg_admin_url()).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&admin)
                                .await;
                        admin.close().await;
                    }
                });
            })
            .join()
            .ok();
        }
    }
}

fn hex_random() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let tid = format!("{:?}", std::thread::current().id());
    let mut h: u64 = 1469598103934665603;
    for b in format!("{n}{tid}{}", std::process::id()).bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(1099511628211);
    }
    format!("{h:016x}")
}

/// Runs each listed `async fn name(Dialect)` as two tests: `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Dialect::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Dialect::Postgres).await
                }
            )*
        }
    };
}

/// Runs `fut` on a runtime whose threads have 16 MiB of stack, as the server's do: the portal's
/// SSO page, rendered in process by a debug build, needs more than a test thread has.
pub fn on_big_stack<F>(fut: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let run = std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_stack_size(16 << 20)
                .enable_all()
                .build()
                .unwrap()
                .block_on(fut)
        })
        .unwrap();
    if let Err(panic) = tokio::task::block_in_place(|| run.join()) {
        std::panic::resume_unwind(panic);
    }
}

/// Starts `tests/support/{script}` with node and waits for its `READY <port>` line; keeps
/// draining its output afterwards (a closed pipe would kill it). Returns the child and port.
pub fn spawn_node(script: &str, envs: &[(&str, String)]) -> (std::process::Child, String) {
    spawn_support("node", "node must be installed (see README)", script, envs)
}

/// [`spawn_node`] for a Python script, run by the venv of the Python test tools
/// (`target/pytools-venv`, made by `.ci/setup` from `tests/pytools/requirements.txt`).
pub fn spawn_python(script: &str, envs: &[(&str, String)]) -> (std::process::Child, String) {
    spawn_support(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/pytools-venv/bin/python"
        ),
        "the Python test tools (bash .ci/setup)",
        script,
        envs,
    )
}

fn spawn_support(
    program: &str,
    missing: &str,
    script: &str,
    envs: &[(&str, String)],
) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let path = format!("{}/tests/support/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(program)
        .arg(path)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect(missing);
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    out.read_line(&mut line).expect("script output");
    std::thread::spawn(move || {
        let mut sink = String::new();
        while out.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
            sink.clear();
        }
    });
    let port = line
        .trim()
        .strip_prefix("READY ")
        .unwrap_or_else(|| panic!("{script} did not start: {line}"))
        .to_owned();
    (child, port)
}

/// Changes an organization's access policy through the vendor API; answers the new policy.
pub async fn patch_policy(app: &TestApp, org: &str, body: serde_json::Value) -> serde_json::Value {
    let r = app
        .api(
            axum::http::Method::PATCH,
            &format!("/api/v1/organizations/{org}/policy"),
            Some(body),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

/// Invites `email` to the organization through the vendor API, with `extra` fields
/// (`role`, `expires_in_days`, …).
pub async fn invite(
    app: &TestApp,
    org: &str,
    email: &str,
    extra: serde_json::Value,
) -> TestResponse {
    let mut body = serde_json::json!({"organization_id": org, "email": email});
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    app.api(axum::http::Method::POST, "/api/v1/invitations", Some(body))
        .await
}

/// Adds `domain` to the organization as verified (the vendor vouches for it); answers its id.
pub async fn verified_domain(app: &TestApp, org: &str, domain: &str) -> String {
    add_verified_domain(app, org, domain, false).await
}

/// [`verified_domain`] that also covers its subdomains (`include_subdomains`).
pub async fn verified_domain_with_subdomains(app: &TestApp, org: &str, domain: &str) -> String {
    add_verified_domain(app, org, domain, true).await
}

async fn add_verified_domain(
    app: &TestApp,
    org: &str,
    domain: &str,
    include_subdomains: bool,
) -> String {
    let r = app
        .api(
            axum::http::Method::POST,
            &format!("/api/v1/organizations/{org}/domains"),
            Some(serde_json::json!({"domain": domain, "verified": true, "include_subdomains": include_subdomains})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["id"].as_str().unwrap().to_owned()
}

/// Resends an invitation once its resend cool-down has passed (the clock moves forward).
pub async fn resend_after_cooldown(app: &TestApp, invitation: &str) -> TestResponse {
    app.state
        .clock
        .advance(lanyard::server::service::invitations::RESEND_COOLDOWN_MS);
    app.api(
        axum::http::Method::POST,
        &format!("/api/v1/invitations/{invitation}/resend"),
        None,
    )
    .await
}

/// The vendor callback every sign-in test returns to (on the app's `LANYARD_REDIRECT_URIS`).
pub const VENDOR_CB: &str = "https://vendor.example/callback";

/// An app that may call an IdP on loopback and return to [`VENDOR_CB`].
pub async fn sign_in_app(d: Dialect) -> TestApp {
    TestApp::spawn_with(
        d,
        &[
            ("LANYARD_ALLOW_PRIVATE_NETWORK", "true"),
            ("LANYARD_REDIRECT_URIS", VENDOR_CB),
        ],
    )
    .await
}

/// A query parameter of a URL.
pub fn param(u: &url::Url, k: &str) -> Option<String> {
    u.query_pairs()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.into_owned())
}

/// The vendor exchanges a sign-in code for the profile (`POST /api/v1/sso/token`).
pub async fn exchange(app: &TestApp, code: &str) -> TestResponse {
    app.api(
        Method::POST,
        "/api/v1/sso/token",
        Some(serde_json::json!({"code": code})),
    )
    .await
}

/// Invites and accepts by link; returns the membership id.
pub async fn join_by_invitation(app: &TestApp, org: &str, email: &str) -> String {
    let r = invite(app, org, email, serde_json::json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let url = r.json()["accept_url"].as_str().unwrap().to_owned();
    let path = &url[ORIGIN.len()..];
    let r = app.browser_post(path, "", None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let to = url::Url::parse(&r.header("location").unwrap()).unwrap();
    let code = param(&to, "code").unwrap();
    exchange(app, &code).await.json()["membership"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A file of `tests/support/saml_idp/` (the test IdP's certificates).
pub fn saml_idp_file(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/support/saml_idp/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A draft SAML connection of the organization pinning the test IdP's certificate `idp.crt`
/// (no IdP needs to run); returns its id.
pub async fn saml_connection_with_certificate(app: &TestApp, org: &str) -> String {
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{org}/connections"),
            Some(
                serde_json::json!({"type": "saml", "name": "Okta SAML", "idp": "okta", "saml": {
                    "idp_entity_id": "https://idp.acme.test",
                    "idp_sso_url": "https://idp.acme.test/sso",
                    "idp_certificates": [saml_idp_file("idp.crt")],
                }}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["id"].as_str().unwrap().to_owned()
}

/// Activates a connection through the vendor API; answers the connection.
pub async fn activate_connection(app: &TestApp, id: &str) -> Value {
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/connections/{id}"),
            Some(serde_json::json!({"state": "active"})),
        )
        .await;
    assert_eq!(r.json()["state"], "active", "{}", r.text());
    r.json()
}

/// Creates a log stream through the portal session; answers its id.
pub async fn log_stream(app: &TestApp, cookie: &str, url: &str) -> String {
    let form = format!("kind=json&name=SIEM&url={}&credential=", portal::enc(url));
    let r = app
        .browser_post("/portal/api/create_log_stream", &form, Some(cookie))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .browser_post("/portal/api/log_streams", "", Some(cookie))
        .await;
    r.json()["streams"][0]["id"].as_str().unwrap().to_owned()
}

/// The `lanyard` binary with no `LANYARD_*`/`DATABASE_URL` of the test run's environment.
pub fn lanyard_cli(dir: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_lanyard"));
    c.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("LANYARD_") || k == "DATABASE_URL" {
            c.env_remove(k);
        }
    }
    c
}

/// The real `lanyard` binary on a port of its own, for tests that kill and restart it: runs its
/// commands in `dir` with `env`, holds an API key made with `api-key create`.
pub struct RealServer {
    dir: std::path::PathBuf,
    env: Vec<(String, String)>,
    pub base: String,
    pub key: String,
    pub http: reqwest::Client,
}

impl RealServer {
    pub fn new(dir: &std::path::Path, env: &[(&str, &str)]) -> RealServer {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let base = format!("http://127.0.0.1:{port}");
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.extend([
            ("LANYARD_LISTEN".into(), format!("127.0.0.1:{port}")),
            ("LANYARD_PUBLIC_URL".into(), base.clone()),
            ("LANYARD_RATE_LIMITS".into(), "off".into()),
            ("LEPTOS_SITE_ROOT".into(), dir.display().to_string()),
        ]);
        let mut server = RealServer {
            dir: dir.to_owned(),
            env,
            base,
            key: String::new(),
            http: reqwest::Client::new(),
        };
        let out = server
            .command(&["api-key", "create", "--name", "real"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        server.key = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .to_owned();
        server
    }

    /// `lanyard <args>` with this server's environment.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut c = lanyard_cli(&self.dir);
        c.args(args).envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Starts `lanyard serve` (output discarded) and waits until `/healthz` answers.
    pub async fn start(&self) -> std::process::Child {
        use std::process::Stdio;
        let mut child = self
            .command(&["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if self
                .http
                .get(format!("{}/healthz", self.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return child;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("lanyard did not start");
    }

    /// A JSON POST to the vendor API with the server's key.
    pub fn post(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    }
}

/// OIDC sign-in against the real OpenID Provider (`crate::op`).
pub mod oidc {
    use super::{activate_connection, sign_in_app, verified_domain, Dialect, TestApp, VENDOR_CB};
    use crate::op::{TestOp, CLIENT_ID, CLIENT_SECRET};
    use axum::http::{Method, StatusCode};
    use serde_json::json;

    /// An app for sign-in tests and the certified OP.
    pub async fn setup(d: Dialect) -> (TestApp, TestOp) {
        setup_with(d, TestOp::start()).await
    }

    /// An app for sign-in tests and the given OP.
    pub async fn setup_with(d: Dialect, op: TestOp) -> (TestApp, TestOp) {
        (sign_in_app(d).await, op)
    }

    /// An organization with a vendor-verified domain and an active OIDC connection.
    pub async fn org_with_connection(
        app: &TestApp,
        op: &TestOp,
        name: &str,
        domain: Option<&str>,
    ) -> (String, String) {
        let org = app.create_org(name).await;
        if let Some(domain) = domain {
            verified_domain(app, &org, domain).await;
        }
        let id = active_connection(app, op, &org).await;
        (org, id)
    }

    /// An active OIDC connection of the organization to the OP; answers its id.
    pub async fn active_connection(app: &TestApp, op: &TestOp, org: &str) -> String {
        let r = app
            .api(
                Method::POST,
                &format!("/api/v1/organizations/{org}/connections"),
                Some(json!({"type": "oidc", "name": "Test IdP", "oidc": {"issuer": op.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let c = r.json();
        assert_eq!(c["state"], "draft");
        assert_eq!(c["redirect_uri"], "http://127.0.0.1:3000/sso/oidc/callback");
        assert!(
            !r.text().contains(CLIENT_SECRET),
            "the secret is never shown"
        );
        let id = c["id"].as_str().unwrap().to_owned();
        activate_connection(app, &id).await;
        id
    }

    /// Runs a sign-in; returns Lanyard's final redirect (to the vendor) as a URL. Checks that
    /// the authorize redirect carries PKCE `S256` and a nonce.
    pub async fn sign_in(app: &TestApp, op: &TestOp, query: &str) -> url::Url {
        let r = app
            .browser_get(
                &format!("/sso/authorize?{query}&redirect_uri={VENDOR_CB}&state=vendor-state"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        let to_op = r.header("location").unwrap();
        assert!(to_op.starts_with(&op.issuer), "{to_op}");
        assert!(to_op.contains("code_challenge_method=S256") && to_op.contains("nonce="));
        let callback = op.browse_to_callback(&to_op).await;
        let r = app.browser_get(&callback, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        url::Url::parse(&r.header("location").unwrap()).unwrap()
    }
}

/// A SCIM client for a directory (`/scim/v2/{directory}` with its bearer token).
pub mod scim {
    use super::{TestApp, TestResponse};
    use axum::body::Body;
    use axum::http::{header, Method, Request, StatusCode};
    use serde_json::{json, Value};

    pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
    pub const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

    #[derive(Clone)]
    pub struct Dir {
        pub id: String,
        pub token: String,
    }

    /// Creates a directory of `kind` through the vendor API; answers its id and SCIM token.
    pub async fn create_dir(app: &TestApp, org: &str, kind: &str) -> Dir {
        let r = app
            .api(
                Method::POST,
                &format!("/api/v1/organizations/{org}/directories"),
                Some(json!({"type": kind, "name": format!("{kind} directory")})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let j = r.json();
        let id = j["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("dir_"));
        assert_eq!(
            j["scim_base_url"],
            format!("http://127.0.0.1:3000/scim/v2/{id}")
        );
        let token = j["bearer_token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("lanyard_scim_"));
        Dir { id, token }
    }

    /// A SCIM request to directory `dir` with `token` and a raw body.
    pub async fn scim_raw(
        app: &TestApp,
        dir: &str,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
    ) -> TestResponse {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("/scim/v2/{dir}{path}"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if body.is_some() {
            b = b.header(header::CONTENT_TYPE, "application/scim+json");
        }
        let req = b
            .body(
                body.map(|b| Body::from(b.to_vec()))
                    .unwrap_or_else(Body::empty),
            )
            .unwrap();
        app.send(req).await
    }

    /// A SCIM request to the directory with its own token.
    pub async fn scim(
        app: &TestApp,
        d: &Dir,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> TestResponse {
        let text = body.map(|b| b.to_string());
        scim_raw(
            app,
            &d.id,
            &d.token,
            method,
            path,
            text.as_deref().map(str::as_bytes),
        )
        .await
    }

    /// The id of the directory's first logged SCIM exchange (the log flushed first).
    pub async fn first_logged_request(app: &TestApp, directory_id: &str) -> String {
        app.state.scim_log.flush().await;
        sqlx::query_scalar("SELECT MIN(id) FROM scim_requests WHERE directory_id = $1")
            .bind(directory_id)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap()
    }

    /// Pushes an active user whose userName is their primary email; answers its id.
    pub async fn create_user(app: &TestApp, d: &Dir, user_name: &str) -> String {
        let r = scim(app, d, Method::POST, "/Users", Some(json!({"schemas": [USER], "userName": user_name, "emails": [{"value": user_name, "primary": true}], "active": true}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()["id"].as_str().unwrap().to_owned()
    }

    /// Pushes a group with these member ids; answers its id.
    pub async fn create_group(app: &TestApp, d: &Dir, name: &str, members: &[&str]) -> String {
        let m: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let r = scim(
            app,
            d,
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": name, "members": m})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()["id"].as_str().unwrap().to_owned()
    }

    /// Replaces the directory's group → role mappings (or previews the change).
    pub async fn map_groups(
        app: &TestApp,
        d: &Dir,
        mappings: Value,
        dry_run: bool,
    ) -> TestResponse {
        app.api(
            Method::PUT,
            &format!("/api/v1/directories/{}/role_mappings", d.id),
            Some(json!({"mappings": mappings, "dry_run": dry_run})),
        )
        .await
    }

    /// Makes the directory authoritative (or not) through the vendor API.
    pub async fn set_authoritative(app: &TestApp, dir: &Dir, on: bool) {
        let r = app
            .api(
                Method::PATCH,
                &format!("/api/v1/directories/{}", dir.id),
                Some(json!({"authoritative": on})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }

    /// A directory user pushed inactive from the start (so no membership is made for them).
    pub async fn push_inactive(app: &TestApp, dir: &Dir, email: &str) {
        let r = scim(app, dir, Method::POST, "/Users", Some(json!({"schemas": [USER], "userName": email, "emails": [{"value": email, "primary": true}], "active": false}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    }
}

/// Staff accounts: TOTP codes from an independent implementation and a signed-in console.
pub mod staff {
    use super::TestApp;
    use axum::http::StatusCode;
    use lanyard::server::service::staff;

    pub const STAFF_PASSWORD: &str = "correct-horse-battery-staple";

    /// Runs `tests/support/totp.mjs` (npm `otpauth`) with these arguments; answers its output.
    pub fn node_totp(args: &[&str]) -> String {
        let out = std::process::Command::new("node")
            .arg(format!(
                "{}/tests/support/totp.mjs",
                env!("CARGO_MANIFEST_DIR")
            ))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("node must be installed (see README)");
        assert!(
            out.status.success(),
            "totp.mjs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// A TOTP code from an independent implementation (npm `otpauth`).
    pub fn otp(secret: &str, at_ms: i64) -> String {
        node_totp(&["code", secret, &at_ms.to_string()])
    }

    /// Creates an account through the service, as the CLI does; returns its setup link's path.
    pub async fn create_account(app: &TestApp, email: &str, role: &str) -> String {
        use lanyard::server::audit::{Actor, RequestContext};
        let (_, link) = staff::create(
            &app.state,
            &Actor::operator(),
            &RequestContext::default(),
            email,
            role,
        )
        .await
        .expect("create staff");
        link.strip_prefix(super::ORIGIN)
            .expect("link on the public URL")
            .to_owned()
    }

    /// Creates a staff account, completes its setup in the browser and returns the session
    /// cookie.
    pub async fn staff_cookie(app: &TestApp, email: &str, role: &str) -> String {
        use lanyard::server::service::staff::SetupStatus;
        let path = create_account(app, email, role).await;
        let token = &path["/console/setup/".len()..];
        let SetupStatus::Valid { totp_secret, .. } =
            staff::inspect(&app.state, token).await.unwrap()
        else {
            panic!("fresh link")
        };
        let code = otp(&totp_secret, app.state.clock.now());
        let form =
            format!("password={STAFF_PASSWORD}&password_confirm={STAFF_PASSWORD}&code={code}");
        let r = app.browser_post(&path, &form, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        r.session_cookie().expect("staff session")
    }
}

/// The portal seen whole: every server function, every intent, every row.
pub mod portal {
    use super::TestApp;
    use std::collections::BTreeMap;

    /// Every intent a setup link can grant.
    pub const ALL_INTENTS: [&str; 6] = [
        "sso",
        "domain_verification",
        "dsync",
        "invitations",
        "audit_logs",
        "log_streams",
    ];

    /// `s` form-urlencoded.
    pub fn enc(s: &str) -> String {
        url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
    }

    /// Every `#[server]` function under `/portal/api` (its endpoint name), read from the source,
    /// so that a test's table of them cannot leave a new one out.
    pub fn server_functions() -> Vec<String> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/api");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let src = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in src.lines() {
                let line = line.trim();
                if let Some(rest) =
                    line.strip_prefix(r#"#[server(prefix = "/portal/api", endpoint = ""#)
                {
                    out.push(rest.split('"').next().unwrap().to_owned());
                }
            }
        }
        out.sort();
        out
    }

    /// Every row of every table but `sessions`, as text (sorted per table): what a refused call
    /// must leave alone.
    pub async fn snapshot(app: &TestApp) -> BTreeMap<String, Vec<String>> {
        use lanyard::server::db::Dialect as Db;
        use sqlx::Row as _;
        // The SCIM request log is written behind the answers; the snapshot includes it.
        app.state.scim_log.flush().await;
        // So are the audit chains and the feed's cursors on PostgreSQL (the sequencer links
        // committed events after the answers): linked first, so a later pass changes nothing.
        app.state.db.caught_up().await;
        let list = match app.state.db.dialect {
            Db::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            }
            Db::Postgres => {
                "SELECT CAST(tablename AS TEXT) FROM pg_tables WHERE schemaname = 'public'"
            }
        };
        let tables: Vec<String> = sqlx::query_scalar(list)
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap();
        let mut out = BTreeMap::new();
        for t in tables {
            // Sessions, and the rate-limit windows failed attempts count in (on PostgreSQL),
            // change by design: they hold no tenant data.
            if t == "sessions" || t == "rate_limits" || t.starts_with("_sqlx") {
                continue;
            }
            let rows = sqlx::query(&format!("SELECT * FROM {t}"))
                .fetch_all(&app.state.db.pool)
                .await
                .unwrap();
            let mut lines: Vec<String> = rows
                .iter()
                .map(|row| {
                    (0..row.len())
                        .map(|i| {
                            if let Ok(v) = row.try_get::<Option<String>, _>(i) {
                                format!("{v:?}")
                            } else if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
                                format!("{v:?}")
                            } else if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
                                format!("{v:?}")
                            } else if let Ok(v) = row.try_get::<Option<bool>, _>(i) {
                                format!("{v:?}")
                            } else {
                                "<undecodable>".to_owned()
                            }
                        })
                        .collect::<Vec<_>>()
                        .join("|")
                })
                .collect();
            lines.sort();
            out.insert(t, lines);
        }
        out
    }

    /// Asserts that no table changed between two snapshots.
    pub fn assert_unchanged(
        before: &BTreeMap<String, Vec<String>>,
        after: &BTreeMap<String, Vec<String>>,
        what: &str,
    ) {
        for (table, rows) in before {
            assert_eq!(
                Some(rows),
                after.get(table),
                "{what}: table {table} changed"
            );
        }
        assert_eq!(before.len(), after.len(), "{what}: a table appeared");
    }
}

/// A webhook endpoint row `id` inserted directly (tests of the delivery tables' statements).
pub async fn webhook_endpoint_row(conn: &mut sqlx::AnyConnection, id: &str) {
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, kind, url, secret_enc, enabled, fanout_cursor, created_at, updated_at) \
         VALUES ($1, 'webhook', 'https://receiver.test/', 'sealed', 1, 0, 0, 0)",
    )
    .bind(id)
    .execute(conn)
    .await
    .expect("endpoint");
}

/// Successful attempts at deliveries `wd_{i}` of `endpoint` for each `i` in `ids`, made at `at`.
pub fn succeeded(
    endpoint: &str,
    ids: std::ops::RangeInclusive<i32>,
    at: i64,
) -> Vec<lanyard::server::db::webhooks::Finished> {
    ids.map(|i| lanyard::server::db::webhooks::Finished {
        attempt_id: format!("wa_{i}"),
        delivery_id: format!("wd_{i}"),
        endpoint_id: endpoint.to_owned(),
        attempted_at: at,
        state: "succeeded",
        next: at,
        status: Some(200),
        latency_ms: 1,
        excerpt: None,
        error: None,
    })
    .collect()
}
