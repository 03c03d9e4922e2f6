//! Running Lanyard as a service: `/metrics` read by an independent parser (PyPI
//! prometheus-client) with counters that move and labels that do not grow with tenants,
//! `/readyz`, SIGTERM letting a slow request finish, and a backup taken under SCIM load that
//! restores with every acknowledged write and verifiable audit chains.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{scim, Dialect, RealServer, TestApp};

/// Every sample of `/metrics`, as prometheus-client's parser reads it.
async fn samples(app: &TestApp) -> Vec<Value> {
    let r = app.browser_get("/metrics", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/plain; version=0.0.4"));
    let mut child = std::process::Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/pytools-venv/bin/python"
    ))
    .arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/parse_metrics.py"
    ))
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("the Python test tools (bash .ci/setup)");
    child.stdin.take().unwrap().write_all(&r.body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus-client could not parse /metrics: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        r.text()
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The sum of a sample's values over the series whose labels include `labels`.
fn value(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s["name"] == name)
        .filter(|s| labels.iter().all(|(k, v)| s["labels"][k] == *v))
        .map(|s| s["value"].as_f64().unwrap())
        .sum()
}

async fn metrics_parse_and_move_after_refusals_and_failures(d: Dialect) {
    let app = crate::helpers::sign_in_app(d).await;
    let before = samples(&app).await;
    // A SCIM 4xx.
    let org = app.create_org("Acme").await;
    let dir = scim::create_dir(&app, &org, "okta").await;
    let r = scim::scim_raw(
        &app,
        &dir.id,
        &dir.token,
        Method::POST,
        "/Users",
        Some(b"{not json"),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // A refused SAML response (a forged, unsigned one).
    let conn = crate::helpers::saml_connection_with_certificate(&app, &org).await;
    crate::helpers::activate_connection(&app, &conn).await;
    let forged = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_x" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:Response>"#,
        )
    };
    let r = app
        .send(
            axum::http::Request::builder()
                .method(Method::POST)
                .uri(format!("/sso/saml/{conn}/acs"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("sec-fetch-site", "cross-site")
                .body(axum::body::Body::from(format!(
                    "SAMLResponse={}",
                    url::form_urlencoded::byte_serialize(forged.as_bytes()).collect::<String>()
                )))
                .unwrap(),
        )
        .await;
    assert_ne!(r.status, StatusCode::OK);
    // A webhook receiver answering 500.
    let (mut rx, port) =
        crate::helpers::spawn_node("webhook_receiver.mjs", &[("RECEIVER_PORT", "0".into())]);
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/_control"))
        .body(json!({"mode": "fail"}).to_string())
        .send()
        .await
        .unwrap();
    let r = app
        .api(
            Method::POST,
            "/api/v1/webhook_endpoints",
            Some(json!({"url": format!("http://127.0.0.1:{port}/hook")})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    app.create_org("Globex").await;
    lanyard::server::service::webhooks::fan_out(&app.state)
        .await
        .unwrap();
    lanyard::server::service::webhooks::deliver(&app.state)
        .await
        .unwrap();
    let _ = rx.kill();

    let after = samples(&app).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    assert!(
        moved(
            "lanyard_scim_requests_total",
            &[("operation", "create_user"), ("status", "400")]
        ) >= 1.0
    );
    assert!(
        moved(
            "lanyard_sign_ins_total",
            &[("protocol", "saml"), ("outcome", "failed")]
        ) >= 1.0
    );
    assert!(moved("lanyard_webhook_attempts_total", &[("outcome", "failed")]) >= 1.0);
    assert!(
        moved(
            "lanyard_http_requests_total",
            &[("route", "/sso/saml/{connection}/acs")]
        ) >= 1.0
    );
    assert!(
        value(&after, "lanyard_webhook_backlog", &[]) >= 1.0,
        "the failed delivery waits"
    );
    assert!(
        value(
            &after,
            "lanyard_http_request_duration_seconds_count",
            &[("route", "/api/v1/organizations")]
        ) >= 1.0
    );
    // The short reads have connections of their own, shown by state (a gauge: the recorder is
    // shared by the tests of this process, so only its presence is checked).
    let read_states: BTreeSet<String> = after
        .iter()
        .filter(|s| s["name"] == "lanyard_db_read_connections")
        .map(|s| s["labels"]["state"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        read_states,
        BTreeSet::from(["idle".to_owned(), "used".to_owned()])
    );
    if d == Dialect::Sqlite {
        // The writer's group commits: this test's writes moved both counts (other tests of
        // this process move them too, so no ratio is checked here).
        assert!(moved("lanyard_sqlite_commits_total", &[]) >= 1.0);
        assert!(moved("lanyard_sqlite_committed_writes_total", &[]) >= 1.0);
    }
}

async fn labels_do_not_grow_with_organizations(d: Dialect) {
    // The recorder is shared by every test in this process, so the check is on label values:
    // none names a tenant, a user or a raw path, whatever else runs beside this test.
    let app = TestApp::spawn(d).await;
    let mut names = Vec::new();
    for i in 0..50 {
        let org = app.create_org(&format!("Tenant {i}")).await;
        let dir = scim::create_dir(&app, &org, "okta").await;
        let user = scim::create_user(&app, &dir, &format!("u{i}@t{i}.test")).await;
        let r = scim::scim(&app, &dir, Method::GET, &format!("/Users/{user}"), None).await;
        assert_eq!(r.status, StatusCode::OK);
        let r = app
            .api(
                Method::GET,
                &format!("/api/v1/organizations/{org}/health"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        names.extend([org, dir.id, user]);
    }
    let s = samples(&app).await;
    let ulid = |v: &str| {
        v.split(['/', '_', '-', '@'])
            .any(|part| part.len() == 26 && part.bytes().all(|b| b.is_ascii_alphanumeric()))
    };
    let mut routes = BTreeSet::new();
    for x in s
        .iter()
        .filter(|x| x["name"].as_str().unwrap().starts_with("lanyard_"))
    {
        for (k, v) in x["labels"].as_object().unwrap() {
            let v = v.as_str().unwrap();
            assert!(
                !names.iter().any(|n| v.contains(n.as_str())),
                "{k}={v} names a tenant"
            );
            assert!(
                !ulid(v) && !v.contains('@'),
                "{k}={v} is not from a bounded set"
            );
            if k == "route" {
                routes.insert(v.to_owned());
            }
        }
    }
    assert!(
        routes.contains("/api/v1/organizations/{id}/health"),
        "{routes:?}"
    );
    assert!(
        routes.contains("/scim/v2/{directory}/{*rest}"),
        "{routes:?}"
    );
    assert!(
        routes.len() < 150,
        "route labels are templates: {}",
        routes.len()
    );
}

async fn readiness_reports_each_check(d: Dialect) {
    // In process nothing runs the background jobs: not ready, and it says why.
    let app = TestApp::spawn(d).await;
    let r = app.browser_get("/readyz", None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let j = r.json();
    assert_eq!(j["database"], "ok");
    assert_eq!(j["migrations"], "current");
    assert_eq!(j["workers"]["webhooks"]["alive"], false, "{j}");
    assert_eq!(
        app.browser_get("/healthz", None).await.status,
        StatusCode::OK
    );
}

/// The real binary on SQLite in `dir`.
fn real(dir: &std::path::Path) -> RealServer {
    RealServer::new(
        dir,
        &[
            (
                "DATABASE_URL",
                &format!("sqlite://{}", dir.join("live.db").display()),
            ),
            ("LANYARD_DATA_DIR", &dir.display().to_string()),
            ("LANYARD_ALLOW_PRIVATE_NETWORK", "true"),
        ],
    )
}

async fn org_and_directory(real: &RealServer) -> (String, String, String) {
    let org: Value = real
        .post("/api/v1/organizations", json!({"name": "Acme"}))
        .await
        .unwrap()
        .text()
        .await
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    let org = org["id"].as_str().unwrap().to_owned();
    let dir: Value = real
        .post(
            &format!("/api/v1/organizations/{org}/directories"),
            json!({"type": "okta", "name": "Okta"}),
        )
        .await
        .unwrap()
        .text()
        .await
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    (
        org,
        dir["scim_base_url"].as_str().unwrap().to_owned(),
        dir["bearer_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_server_becomes_ready_and_sigterm_lets_a_slow_request_finish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let real = real(dir.path());
    let mut server = real.start().await;
    // Ready once every background job has run.
    let mut report = Value::Null;
    for _ in 0..100 {
        let r = real
            .http
            .get(format!("{}/readyz", real.base))
            .send()
            .await
            .unwrap();
        let ok = r.status() == 200;
        report = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        if ok {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(report["status"], "ready", "{report}");
    let (_, scim, token) = org_and_directory(&real).await;
    // A SCIM create whose body arrives slowly; SIGTERM comes in the middle of it.
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "slow@acme.test", "active": true}).to_string();
    let url = url::Url::parse(&scim).unwrap();
    let mut tcp = tokio::net::TcpStream::connect((url.host_str().unwrap(), url.port().unwrap()))
        .await
        .unwrap();
    let head = format!(
        "POST {}/Users HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        url.path(),
        url.authority(),
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&body.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    tcp.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let status = tokio::task::spawn_blocking(move || server.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "exit 0 after draining");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_scim_load_restores_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let real = real(dir.path());
    let mut server = real.start().await;
    let (_, scim, token) = org_and_directory(&real).await;
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (http, scim, token, acknowledged, stop) = (real.http.clone(), scim.clone(), token.clone(), acknowledged.clone(), stop.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    i += 1;
                    let user = format!("u{c}-{i}@acme.test");
                    let r = http
                        .post(format!("{scim}/Users"))
                        .bearer_auth(&token)
                        .header("content-type", "application/scim+json")
                        .body(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user, "active": true}).to_string())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 201);
                    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
                    acknowledged.lock().unwrap().push(v["id"].as_str().unwrap().to_owned());
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < 150 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Everything acknowledged before the backup starts must be in it; creates go on meanwhile.
    let before: Vec<String> = acknowledged.lock().unwrap().clone();
    let backup = dir.path().join("backup.db");
    let out = real
        .command(&["backup", "--to", backup.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let during = acknowledged.lock().unwrap().len();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    assert!(
        acknowledged.lock().unwrap().len() > during,
        "the load went on during and after the backup"
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    server.wait().unwrap();
    // A second backup to the same file is refused.
    let out = real
        .command(&["backup", "--to", backup.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());

    // Restore into another data directory and check it.
    let other = tempfile::tempdir().unwrap();
    let restored_url = format!("sqlite://{}", other.path().join("restored.db").display());
    let restore = |args: &[&str]| {
        let mut c = crate::helpers::lanyard_cli(other.path());
        c.args(args)
            .env("DATABASE_URL", &restored_url)
            .env("LANYARD_DATA_DIR", other.path())
            .env("LANYARD_SECRET_KEY", "ab".repeat(32));
        c.output().unwrap()
    };
    let out = restore(&["restore", "--from", backup.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = restore(&["restore", "--from", backup.to_str().unwrap()]);
    assert!(
        !out.status.success(),
        "an existing database is not replaced without --force"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    // Not while a process has the database open (a running Lanyard would go on writing to the
    // replaced file): refused, and the file is left as it was.
    sqlx::any::install_default_drivers();
    // (In WAL mode, as `Db::connect` puts every database Lanyard serves.)
    let holder = sqlx::AnyPool::connect(&restored_url).await.unwrap();
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&holder)
        .await
        .unwrap();
    sqlx::query("SELECT COUNT(*) FROM directory_users")
        .execute(&holder)
        .await
        .unwrap();
    let out = restore(&["restore", "--from", backup.to_str().unwrap(), "--force"]);
    assert!(!out.status.success(), "restored under an open connection");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("in use"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    holder.close().await;
    let out = restore(&["restore", "--from", backup.to_str().unwrap(), "--force"]);
    assert!(
        out.status.success(),
        "with every connection closed, --force replaces it: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = restore(&[
        "restore",
        "--from",
        dir.path().join("nothing.db").to_str().unwrap(),
        "--force",
    ]);
    assert!(!out.status.success());
    let out = restore(&["audit", "verify"]);
    assert!(
        out.status.success(),
        "audit chains verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&restored_url).await.unwrap();
    let ids: BTreeSet<String> = sqlx::query_scalar("SELECT id FROM directory_users")
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let missing: Vec<&String> = before.iter().filter(|id| !ids.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged creates missing from the backup",
        missing.len()
    );
    assert!(ids.len() >= before.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_node_gives_back_its_delivery_leases() {
    let dir = tempfile::tempdir().unwrap();
    let real = real(dir.path());
    let mut server = real.start().await;
    // A receiver that never answers: the deliveries stay leased while their attempts hang.
    let (mut rx, port) =
        crate::helpers::spawn_node("webhook_receiver.mjs", &[("RECEIVER_PORT", "0".into())]);
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/_control"))
        .body(json!({"mode": "hang"}).to_string())
        .send()
        .await
        .unwrap();
    let r = real
        .post(
            "/api/v1/webhook_endpoints",
            json!({"url": format!("http://127.0.0.1:{port}/hook")}),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    for i in 0..3 {
        real.post("/api/v1/organizations", json!({"name": format!("Org {i}")}))
            .await
            .unwrap();
    }
    let db = dir.path().join("live.db");
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    // Wait until the node holds leases (due well in the future).
    let mut leased = 0i64;
    for _ in 0..100 {
        leased = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at > $1")
            .bind(now_ms() + 5_000)
            .fetch_one(&pool)
            .await
            .unwrap();
        if leased > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(leased > 0, "the node leased deliveries");
    std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || server.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let stopped = now_ms();
    let still: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at > $1",
    )
    .bind(stopped)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        still, 0,
        "every lease was given back: another node sends them now"
    );
    let _ = rx.kill();
}

/// Every metric the alert rules and the dashboard use is one Lanyard exports (a renamed metric
/// would leave an alert that never fires).
#[test]
fn alert_rules_and_dashboard_use_exported_metrics() {
    let root = env!("CARGO_MANIFEST_DIR");
    let source = std::fs::read_to_string(format!("{root}/src/server/metrics.rs")).unwrap();
    let names = |text: &str| -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut rest = text;
        while let Some(i) = rest.find("lanyard_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            out.insert(tail[..end].to_owned());
            rest = &tail[end..];
        }
        out
    };
    let exported = names(&source);
    for file in [
        "deploy/prometheus/lanyard-alerts.yml",
        "deploy/grafana/lanyard-dashboard.json",
    ] {
        let used = names(&std::fs::read_to_string(format!("{root}/{file}")).unwrap());
        assert!(!used.is_empty());
        for n in used {
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| n.strip_suffix(s))
                .unwrap_or(&n);
            assert!(
                exported.contains(base),
                "{file} uses {n}, which Lanyard does not export"
            );
        }
    }
}

/// The Python OTLP receiver (and webhook sink); answers it and its base URL.
fn otlp_receiver() -> (std::process::Child, String) {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/pytools-venv/bin/python"
    ))
    .arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/otlp_receiver.py"
    ))
    .env("OTLP_PORT", "0")
    .stdout(std::process::Stdio::piped())
    .spawn()
    .expect("the Python test tools (bash .ci/setup)");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("READY ")
        .expect("receiver ready")
        .to_owned();
    (child, format!("http://127.0.0.1:{port}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_spans_authorize_callback_and_token_and_webhooks_carry_traceparent() {
    use crate::openid_provider::{browse, RP_CB};
    let (mut receiver, otlp) = otlp_receiver();
    let dir = tempfile::tempdir().unwrap();
    let real = RealServer::new(
        dir.path(),
        &[
            (
                "DATABASE_URL",
                &format!("sqlite://{}", dir.path().join("live.db").display()),
            ),
            ("LANYARD_DATA_DIR", &dir.path().display().to_string()),
            ("LANYARD_ALLOW_PRIVATE_NETWORK", "true"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    let mut server = real.start().await;
    let op = crate::op::TestOp::start_for(&real.base);
    let json_of = |r: reqwest::Response| async move {
        serde_json::from_str::<Value>(&r.text().await.unwrap()).unwrap()
    };
    let org = json_of(
        real.post("/api/v1/organizations", json!({"name": "Acme"}))
            .await
            .unwrap(),
    )
    .await;
    let org = org["id"].as_str().unwrap().to_owned();
    let r = real
        .post(
            &format!("/api/v1/organizations/{org}/domains"),
            json!({"domain": "acme.test", "verified": true}),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let conn = json_of(
        real.post(
            &format!("/api/v1/organizations/{org}/connections"),
            json!({"type": "oidc", "name": "Okta", "oidc": {"issuer": op.issuer, "client_id": crate::op::CLIENT_ID, "client_secret": crate::op::CLIENT_SECRET}}),
        )
        .await
        .unwrap(),
    )
    .await;
    let r = real
        .http
        .patch(format!(
            "{}/api/v1/connections/{}",
            real.base,
            conn["id"].as_str().unwrap()
        ))
        .bearer_auth(&real.key)
        .header("content-type", "application/json")
        .body(json!({"state": "active"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let client = json_of(
        real.post(
            "/api/v1/oauth_clients",
            json!({"name": "App", "redirect_uris": [RP_CB]}),
        )
        .await
        .unwrap(),
    )
    .await;
    let (client_id, secret) = (
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap(),
    );
    let r = real
        .post(
            "/api/v1/webhook_endpoints",
            json!({"url": format!("{otlp}/hook")}),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // The sign-in: authorize → IdP → callback → the client redeems the code.
    op.next_account(json!({"sub": "t-1", "email": "dana@acme.test"}))
        .await;
    let back = browse(
        &format!("{}/oauth2/authorize?client_id={client_id}&redirect_uri={RP_CB}&response_type=code&scope=openid&state=s&organization={org}", real.base),
        None,
    )
    .await;
    let code = url::Url::parse(&back)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let r = real
        .http
        .post(format!("{}/oauth2/token", real.base))
        .basic_auth(client_id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", RP_CB),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let mut spans: Vec<Value> = Vec::new();
    let mut hooks: Vec<Value> = Vec::new();
    for _ in 0..100 {
        spans = json_of(reqwest::get(format!("{otlp}/_spans")).await.unwrap())
            .await
            .as_array()
            .unwrap()
            .clone();
        hooks = json_of(reqwest::get(format!("{otlp}/_hooks")).await.unwrap())
            .await
            .as_array()
            .unwrap()
            .clone();
        let named = |n: &str| spans.iter().any(|s| s["name"] == n);
        if named("sign_in.finish")
            && named("sign_in.redeem")
            && named("webhook.deliver")
            && !hooks.is_empty()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let authorize = spans
        .iter()
        .find(|s| s["name"] == "request" && s["attributes"]["route"] == "/oauth2/authorize")
        .unwrap_or_else(|| panic!("no authorize span: {spans:?}"));
    let trace = authorize["trace_id"].as_str().unwrap();
    for name in ["sign_in.finish", "sign_in.redeem"] {
        assert!(
            spans
                .iter()
                .any(|s| s["name"] == name && s["trace_id"] == trace),
            "{name} is in the authorize request's trace {trace}: {spans:?}"
        );
    }
    // The SQL the sign-in ran is in its trace: each statement a span under the span that ran it
    // (the pending sign-in is written during authorize, the code redeemed at the token endpoint).
    let ids: BTreeSet<&str> = spans
        .iter()
        .filter(|s| s["trace_id"] == trace)
        .filter_map(|s| s["span_id"].as_str())
        .collect();
    let statements: Vec<&Value> = spans
        .iter()
        .filter(|s| s["trace_id"] == trace && s["attributes"]["db.statement"].is_string())
        .collect();
    for table in ["sso_requests", "sso_codes"] {
        let found = statements
            .iter()
            .find(|s| {
                s["attributes"]["db.statement"]
                    .as_str()
                    .unwrap()
                    .contains(table)
            })
            .unwrap_or_else(|| panic!("no statement on {table} in the trace: {statements:?}"));
        assert!(
            ids.contains(found["parent_span_id"].as_str().unwrap()),
            "{found}"
        );
    }
    // The webhook delivery carried a traceparent of an exported delivery span.
    let tp = hooks
        .iter()
        .find_map(|h| h["headers"]["traceparent"].as_str())
        .unwrap_or_else(|| panic!("no traceparent on deliveries: {hooks:?}"));
    let hook_trace = tp.split('-').nth(1).unwrap();
    assert!(
        spans
            .iter()
            .any(|s| s["name"] == "webhook.deliver" && s["trace_id"] == hook_trace),
        "{tp}"
    );
    std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    tokio::task::spawn_blocking(move || server.wait().unwrap())
        .await
        .unwrap();
    let _ = receiver.kill();
}

/// A rolling upgrade: release N migrated the database; a node of release N−1 (which does not know
/// N's migration) must still start and be ready, since releases only expand the schema.
async fn an_older_node_starts_against_a_newer_schema(d: Dialect) {
    let app = TestApp::spawn(d).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) \
         VALUES (29991231000000, 'a later release', CURRENT_TIMESTAMP, TRUE, $1, 1)",
    )
    .bind(vec![0u8; 48])
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    let db = lanyard::server::db::Db::connect(&app.state.config.database_url)
        .await
        .unwrap();
    db.migrate()
        .await
        .expect("an older binary migrates a newer schema");
    let r = app.browser_get("/readyz", None).await;
    assert_eq!(r.json()["migrations"], "current", "{}", r.text());
}

/// The request log's retention job deletes every directory's entries past retention and keeps
/// the rest.
async fn the_request_log_purge_deletes_each_directorys_old_entries_and_keeps_the_rest(d: Dialect) {
    use lanyard::server::service::directories::{purge_request_log, LOG_RETENTION_MS};
    let app = TestApp::spawn(d).await;
    let now = app.state.clock.now();
    let (old, recent) = (now - LOG_RETENTION_MS - 86_400_000, now - 86_400_000);
    for (directory, old_entries, recent_entries) in
        [("dir_a", 2_300, 5), ("Dir_b", 3, 0), ("dir_c", 0, 4)]
    {
        for (n, at) in [(old_entries, old), (recent_entries, recent)] {
            if n == 0 {
                continue;
            }
            sqlx::query(
                "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < $1) \
                 INSERT INTO scim_requests (id, directory_id, organization_id, method, path, status, duration_ms, created_at) \
                 SELECT $2 || '_' || $3 || '_' || g, $2, 'org_x', 'POST', '/Users', 201, 1, $3 + g FROM s",
            )
            .bind(n)
            .bind(directory)
            .bind(at)
            .execute(&app.state.db.pool)
            .await
            .expect("log entries");
        }
    }
    let purged = purge_request_log(&app.state).await.expect("purge");
    assert_eq!(purged, 2_303);
    let left: Vec<(String, i64)> = sqlx::query_as(
        "SELECT directory_id, COUNT(*) FROM scim_requests GROUP BY directory_id ORDER BY directory_id",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .expect("left");
    assert_eq!(left, vec![("dir_a".to_owned(), 5), ("dir_c".to_owned(), 4)]);
    assert_eq!(purge_request_log(&app.state).await.expect("purge"), 0);
}

crate::both_databases!(
    the_request_log_purge_deletes_each_directorys_old_entries_and_keeps_the_rest,
    an_older_node_starts_against_a_newer_schema,
    metrics_parse_and_move_after_refusals_and_failures,
    labels_do_not_grow_with_organizations,
    readiness_reports_each_check,
);

/// Two nodes on one PostgreSQL database: the failed-authentication limit (60 a minute per client
/// address) holds across both, not 60 per node. SQLite runs one node and counts in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_nodes_share_a_rate_limit() {
    use axum::body::Body;
    use axum::http::{header, Request};
    use tower::ServiceExt as _;
    let app = TestApp::spawn(Dialect::Postgres).await;
    let (_, node_b) = app.second_node().await;
    let guess = |router: axum::Router| async move {
        let req = Request::builder()
            .uri("/api/v1/organizations")
            .header(header::AUTHORIZATION, "Bearer lanyard_sk_guessing")
            .body(Body::empty())
            .unwrap();
        router.oneshot(req).await.unwrap().status()
    };
    for i in 0..60 {
        let router = if i % 2 == 0 {
            app.router.clone()
        } else {
            node_b.clone()
        };
        assert_eq!(guess(router).await, StatusCode::UNAUTHORIZED, "guess {i}");
    }
    // 30 guesses on each node: the 61st is refused by both.
    assert_eq!(guess(node_b.clone()).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        guess(app.router.clone()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The table keeps neither the address nor the key guessed: only hashed buckets.
    let buckets: Vec<String> = sqlx::query_scalar("SELECT bucket FROM rate_limits")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
    assert!(!buckets.is_empty());
    assert!(
        buckets
            .iter()
            .all(|b| b.len() == 64 && b.chars().all(|c| c.is_ascii_hexdigit())),
        "{buckets:?}"
    );
    // A key of its own keeps working on both nodes: the limit counts failures per address.
    assert_eq!(
        app.api(Method::GET, "/api/v1/organizations", None)
            .await
            .status,
        StatusCode::OK
    );
}

/// The bundled SQLite is compiled as `.cargo/config.toml` asks (`LIBSQLITE3_FLAGS`): without
/// SQLITE_ENABLE_MEMORY_MANAGEMENT (every connection's page cache in one group behind one
/// process-wide mutex) and without memory statistics (another process-wide mutex on every
/// allocation). A build that loses the setting (the variable set elsewhere, a new way of
/// building) fails here instead of quietly serializing the readers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_is_built_without_process_wide_cache_and_memory_locks() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
    assert!(
        !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
        "{options:?}"
    );
    assert!(
        options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
        "{options:?}"
    );
}

/// A pooled PostgreSQL connection the server closed while it sat idle (a restart, an idle
/// timeout, a firewall) is found dead and replaced before a request uses it: the pool pings a
/// connection before handing it out (sqlx's `test_before_acquire`, kept on in `Db::connect`;
/// skipping it when the connection was released within a second measured within the noise and
/// would have handed out dead connections after sqlx's idle sweep, which resets the idle time
/// without a ping). Each request after the connections were closed must be answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_connection_closed_while_idle_is_replaced_before_use() {
    use sqlx::Connection as _;
    let app = TestApp::spawn(Dialect::Postgres).await;
    let url = app.state.config.database_url.clone();
    let name = url.rsplit('/').next().unwrap().to_owned();
    // Four connections open in the pool, all of them idle.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(app.state.db.pool.acquire().await.unwrap());
    }
    drop(held);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut admin = sqlx::AnyConnection::connect(&url).await.unwrap();
    let closed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()) t",
    )
    .bind(&name)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert!(closed >= 4, "closed {closed} connections");
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    for i in 0..6 {
        let r = app.api(Method::GET, "/api/v1/organizations", None).await;
        assert_eq!(r.status, StatusCode::OK, "request {i}: {}", r.text());
    }
}

/// Opens `n` of PostgreSQL's kept read connections (`Db::read`), gives them back and closes
/// every connection of the test's database from the server's side, as a restart does.
async fn kept_reads_closed_by_the_server(app: &TestApp, n: usize) {
    use sqlx::Connection as _;
    let mut held = Vec::new();
    for _ in 0..n {
        let mut c = app.state.db.read().await.unwrap();
        let one: i64 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut *c)
            .await
            .unwrap();
        assert_eq!(one, 1);
        held.push(c);
    }
    drop(held);
    assert_eq!(app.state.db.read_connections(), (n, 0));
    let mut admin = sqlx::AnyConnection::connect(&app.state.config.database_url)
        .await
        .unwrap();
    let closed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()) t",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert!(closed >= n as i64, "closed {closed} connections");
}

/// PostgreSQL's short reads run on connections the process keeps, with no ping when one is
/// taken or given back; one that sat idle for more than a second is pinged first, so a kept
/// connection the server closed meanwhile (a restart, an idle timeout) is replaced before a
/// read uses it. (Without the idle check this fails when run alone; run with the other tests, an
/// error another test caused may have the connections checked anyway: the count of errors that
/// may mean a lost connection is the process's.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_postgres_read_connection_closed_while_idle_is_replaced_before_use() {
    let app = TestApp::spawn(Dialect::Postgres).await;
    kept_reads_closed_by_the_server(&app, 3).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    for i in 0..6 {
        let mut c = app.state.db.read().await.unwrap();
        let one: Result<i64, _> = sqlx::query_scalar("SELECT 1").fetch_one(&mut *c).await;
        assert_eq!(one.expect("a read on a live connection"), 1, "read {i}");
    }
    for i in 0..4 {
        let r = app
            .api(
                Method::GET,
                "/api/v1/organizations/org_01J00000000000000000000001",
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "request {i}: {}", r.text());
    }
}

/// Under load a kept PostgreSQL read connection comes back within the second and is used again
/// unchecked. When the server closed it, the read on it fails; that error, counted where
/// database errors become the application's (`AppError`), has every kept connection checked
/// when next taken, so the reads after it are answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_read_failed_on_a_dead_connection_the_kept_ones_are_checked() {
    let app = TestApp::spawn(Dialect::Postgres).await;
    let mut failed = None;
    // A machine that stalls for a second between the close and the read has the connection
    // checked (and replaced) first: the round is tried again.
    for _round in 0..5 {
        kept_reads_closed_by_the_server(&app, 3).await;
        let mut c = app.state.db.read().await.unwrap();
        let r: Result<i64, _> = sqlx::query_scalar("SELECT 1").fetch_one(&mut *c).await;
        drop(c);
        if let Err(e) = r {
            failed = Some(e);
            break;
        }
    }
    let e = failed.expect("a read on a connection the server closed fails");
    drop(lanyard::server::error::AppError::from(e));
    for i in 0..6 {
        let mut c = app.state.db.read().await.unwrap();
        let one: Result<i64, _> = sqlx::query_scalar("SELECT 1").fetch_one(&mut *c).await;
        assert_eq!(one.expect("a read on a checked connection"), 1, "read {i}");
    }
}

/// `sslmode=require` in DATABASE_URL gives an encrypted connection to PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_can_require_tls() {
    let app = TestApp::spawn(Dialect::Postgres).await;
    let db = lanyard::server::db::Db::connect(&format!(
        "{}?sslmode=require",
        app.state.config.database_url
    ))
    .await
    .expect("connect with sslmode=require");
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(ssl);
}
