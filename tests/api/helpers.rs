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

    /// Audit actions of an organization, in chain order.
    pub async fn audit_actions(&self, org: &str) -> Vec<String> {
        let r = self
            .api(
                Method::GET,
                &format!("/api/v1/audit_events?organization_id={org}&limit=100"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()["data"]
            .as_array()
            .unwrap()
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
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    pool.close().await;
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

/// Starts `tests/support/{script}` with node and waits for its `READY <port>` line; keeps
/// draining its output afterwards (a closed pipe would kill it). Returns the child and port.
pub fn spawn_node(script: &str, envs: &[(&str, String)]) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let path = format!("{}/tests/support/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new("node")
        .arg(path)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node must be installed (see README)");
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    out.read_line(&mut line).expect("node output");
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

/// Adds `domain` to the organization as verified (the vendor vouches for it).
pub async fn verified_domain(app: &TestApp, org: &str, domain: &str) {
    let r = app
        .api(
            axum::http::Method::POST,
            &format!("/api/v1/organizations/{org}/domains"),
            Some(serde_json::json!({"domain": domain, "verified": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
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
