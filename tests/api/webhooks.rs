//! Webhooks against a real receiver on loopback that verifies every delivery with the
//! independent Standard Webhooks implementation from npm (`tests/support/webhook_receiver.mjs`):
//! signatures, retries after 500, 410 disabling the endpoint, a receiver that is down and comes
//! back (per-entity order kept), secret rotation, two nodes on PostgreSQL never delivering
//! one event twice at the same time, and a receiver that never answers holding up only its own
//! endpoint.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{Dialect, TestApp};
use lanyard::server::service::webhooks::{deliver, fan_out};

pub(crate) struct Receiver {
    base: String,
    child: std::process::Child,
}

impl Receiver {
    pub(crate) fn start() -> Receiver {
        let (child, port) =
            crate::helpers::spawn_node("webhook_receiver.mjs", &[("RECEIVER_PORT", "0".into())]);
        Receiver {
            base: format!("http://127.0.0.1:{port}"),
            child,
        }
    }

    pub(crate) fn hook(&self) -> String {
        format!("{}/hook", self.base)
    }

    async fn control(&self, body: Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/_control", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    async fn get(&self, path: &str) -> Value {
        let text = reqwest::get(format!("{}{path}", self.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    pub(crate) async fn received(&self) -> Vec<Value> {
        self.get("/_received").await.as_array().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn app(d: Dialect) -> TestApp {
    TestApp::spawn_with(d, &[("LANYARD_ALLOW_PRIVATE_NETWORK", "true")]).await
}

/// Registers an endpoint at the receiver and tells the receiver its secret.
async fn endpoint(app: &TestApp, rx: &Receiver, events: Value) -> String {
    let r = app
        .api(
            Method::POST,
            "/api/v1/webhook_endpoints",
            Some(json!({"url": rx.hook(), "events": events})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let j = r.json();
    let secret = j["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    rx.control(json!({"secret": secret})).await;
    j["id"].as_str().unwrap().to_owned()
}

/// Runs the worker once (fan-out, then one round of attempts).
pub(crate) async fn run(app: &TestApp) -> usize {
    fan_out(&app.state).await.unwrap();
    deliver(&app.state).await.unwrap()
}

async fn deliveries(app: &TestApp, ep: &str) -> Vec<Value> {
    let r = app
        .api(
            Method::GET,
            &format!("/api/v1/webhook_endpoints/{ep}/deliveries"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["data"].as_array().unwrap().clone()
}

async fn deliveries_are_signed_and_verified_independently(d: Dialect) {
    let app = app(d).await;
    let rx = Receiver::start();
    let ep = endpoint(&app, &rx, Value::Null).await;
    let org = app.create_org("Acme").await;
    app.api(
        Method::POST,
        "/api/v1/invitations",
        Some(json!({"organization_id": org, "email": "a@example.com"})),
    )
    .await;
    assert_eq!(run(&app).await, 2);
    let mut got = rx.received().await;
    // Different entities travel side by side: order by cursor.
    got.sort_by_key(|g| {
        g["body"]["cursor"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
    });
    assert_eq!(got.len(), 2, "{got:?}");
    for g in &got {
        assert_eq!(g["verified"], true, "standardwebhooks verified it: {g}");
        assert_eq!(g["id"], g["body"]["id"], "webhook-id is the event id");
    }
    assert_eq!(got[0]["body"]["type"], "organization.created");
    assert_eq!(got[1]["body"]["type"], "invitation.created");
    assert_eq!(got[1]["body"]["organization_id"], org);
    let ds = deliveries(&app, &ep).await;
    assert!(ds.iter().all(|d| d["state"] == "succeeded"));
    assert_eq!(ds[0]["attempt_log"][0]["status"], 204);
    // Nothing new: nothing sent.
    assert_eq!(run(&app).await, 0);
    // A tampered secret is caught by the receiver (the check is real).
    rx.control(json!({"secret": "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}))
        .await;
    app.create_org("Globex").await;
    run(&app).await;
    let got = rx.received().await;
    assert_eq!(got.last().unwrap()["verified"], false);
    // Private addresses are refused unless LANYARD_ALLOW_PRIVATE_NETWORK.
    let strict = TestApp::spawn(d).await;
    let r = strict
        .api(
            Method::POST,
            "/api/v1/webhook_endpoints",
            Some(json!({"url": rx.hook()})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "url");
    let r = app
        .api(
            Method::POST,
            "/api/v1/webhook_endpoints",
            Some(json!({"url": rx.hook(), "events": ["Not A Type"]})),
        )
        .await;
    assert_eq!(r.json()["error"]["field"], "events");
}

async fn a_500_is_retried_with_back_off_and_a_302_is_a_failure(d: Dialect) {
    let app = app(d).await;
    let rx = Receiver::start();
    let ep = endpoint(&app, &rx, json!(["organization.*"])).await;
    rx.control(json!({"failFirst": 1})).await;
    app.create_org("Acme").await;
    assert_eq!(run(&app).await, 1);
    let ds = deliveries(&app, &ep).await;
    assert_eq!(ds[0]["state"], "pending");
    assert_eq!(ds[0]["last_status"], 500);
    assert_eq!(
        ds[0]["attempt_log"][0]["response_excerpt"],
        "receiver says no"
    );
    assert_eq!(run(&app).await, 0, "not due before the back-off");
    app.state.clock.advance(7_000);
    assert_eq!(run(&app).await, 1);
    let ds = deliveries(&app, &ep).await;
    assert_eq!(ds[0]["state"], "succeeded");
    assert_eq!(ds[0]["attempts"], 2);
    // Redirects are not followed and count as failures.
    rx.control(json!({"mode": "redirect"})).await;
    app.create_org("Globex").await;
    run(&app).await;
    let ds = deliveries(&app, &ep).await;
    assert_eq!(ds[0]["state"], "pending");
    assert!(ds[0]["last_error"]
        .as_str()
        .unwrap()
        .contains("redirects are not followed"));
    // Manual redelivery of a succeeded delivery sends it again.
    rx.control(json!({"mode": "ok"})).await;
    let first = ds[1]["id"].as_str().unwrap();
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/webhook_deliveries/{first}/redeliver"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    app.state.clock.advance(30_000);
    run(&app).await;
    let ids: Vec<String> = rx
        .received()
        .await
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids.iter().filter(|i| **i == ids[0]).count(),
        3,
        "failed once, delivered, redelivered: {ids:?}"
    );
}

async fn a_410_disables_the_endpoint_until_it_is_enabled_again(d: Dialect) {
    let app = app(d).await;
    let rx = Receiver::start();
    let ep = endpoint(&app, &rx, Value::Null).await;
    rx.control(json!({"mode": "gone"})).await;
    app.create_org("Acme").await;
    run(&app).await;
    let e = app
        .api(
            Method::GET,
            &format!("/api/v1/webhook_endpoints/{ep}"),
            None,
        )
        .await
        .json();
    assert_eq!(e["enabled"], false);
    assert!(e["disabled_reason"].as_str().unwrap().contains("410"));
    // While disabled nothing is sent.
    app.create_org("Globex").await;
    app.state.clock.advance(60_000);
    assert_eq!(run(&app).await, 0);
    assert_eq!(rx.received().await.len(), 1);
    // Enabled again: what happened meanwhile arrives.
    rx.control(json!({"mode": "ok"})).await;
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/webhook_endpoints/{ep}"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    run(&app).await;
    let got = rx.received().await;
    assert_eq!(got.last().unwrap()["body"]["type"], "organization.created");
    assert_eq!(got.len(), 2);
}

async fn a_receiver_down_then_up_gets_everything_in_entity_order(d: Dialect) {
    let app = app(d).await;
    let rx = Receiver::start();
    endpoint(&app, &rx, json!(["invitation.*"])).await;
    rx.control(json!({"mode": "down"})).await;
    let org = app.create_org("Acme").await;
    let mut invs = Vec::new();
    for who in ["a", "b", "c"] {
        let r = app
            .api(
                Method::POST,
                "/api/v1/invitations",
                Some(json!({"organization_id": org, "email": format!("{who}@example.com")})),
            )
            .await;
        let id = r.json()["id"].as_str().unwrap().to_owned();
        let r = crate::helpers::resend_after_cooldown(&app, &id).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        app.api(Method::DELETE, &format!("/api/v1/invitations/{id}"), None)
            .await;
        invs.push(id);
    }
    // Down: only the first event of each entity is tried (the others wait behind it).
    assert_eq!(run(&app).await, 3);
    for _ in 0..3 {
        app.state.clock.advance(3600 * 1000);
        assert_eq!(run(&app).await, 3);
    }
    rx.control(json!({"mode": "ok"})).await;
    for _ in 0..10 {
        app.state.clock.advance(11 * 3600 * 1000);
        run(&app).await;
    }
    let got = rx.received().await;
    assert_eq!(got.len(), 9, "{got:?}");
    for inv in &invs {
        let seqs: Vec<i64> = got
            .iter()
            .filter(|g| g["body"]["entity"]["id"] == inv.as_str())
            .map(|g| g["body"]["entity"]["sequence"].as_i64().unwrap())
            .collect();
        assert_eq!(seqs, [1, 2, 3], "{inv}: created, resent, revoked in order");
    }
}

async fn a_rotated_secret_signs_alongside_the_new_one(d: Dialect) {
    let app = app(d).await;
    let rx = Receiver::start();
    let ep = endpoint(&app, &rx, Value::Null).await;
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/webhook_endpoints/{ep}/secret"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let new_secret = r.json()["secret"].as_str().unwrap().to_owned();
    // The receiver still has the old secret: the second signature verifies.
    app.create_org("Acme").await;
    run(&app).await;
    let got = rx.received().await;
    assert_eq!(got[0]["verified"], true);
    assert_eq!(got[0]["signature"].as_str().unwrap().split(' ').count(), 2);
    // After the overlap only the new secret signs.
    rx.control(json!({"secret": new_secret})).await;
    app.state.clock.advance(25 * 3600 * 1000);
    app.create_org("Globex").await;
    run(&app).await;
    let got = rx.received().await;
    assert_eq!(got[1]["verified"], true);
    assert_eq!(got[1]["signature"].as_str().unwrap().split(' ').count(), 1);
}

async fn two_nodes_on_postgres_never_deliver_an_event_twice_at_once(d: Dialect) {
    if d != Dialect::Postgres {
        return; // One node per SQLite database.
    }
    let app = app(d).await;
    let rx = Receiver::start();
    endpoint(&app, &rx, Value::Null).await;
    rx.control(json!({"delayMs": 30})).await;
    for i in 0..40 {
        app.create_org(&format!("Org {i}")).await;
    }
    // A second node: its own pool on the same database.
    let db2 = lanyard::server::db::Db::connect(&app.state.config.database_url)
        .await
        .unwrap();
    let node2 = lanyard::server::state::AppState::new(
        db2,
        (*app.state.config).clone(),
        app.state.clock.clone(),
    )
    .unwrap();
    let worker = |s: lanyard::server::state::AppState| async move {
        for _ in 0..30 {
            fan_out(&s).await.unwrap();
            deliver(&s).await.unwrap();
        }
    };
    tokio::join!(worker(app.state.clone()), worker(node2));
    let got = rx.received().await;
    let mut ids: Vec<String> = got
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 40, "each event once");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40);
    assert_eq!(rx.get("/_stats").await["maxInFlightPerId"], 1);
}

async fn a_receiver_that_hangs_delays_only_its_own_endpoint(d: Dialect) {
    let app = app(d).await;
    let rx = Receiver::start();
    let stuck = Receiver::start();
    let healthy = endpoint(&app, &rx, json!(["organization.created"])).await;
    let slow = endpoint(&app, &stuck, json!(["invitation.created"])).await;
    stuck.control(json!({"mode": "hang"})).await;
    // The slow endpoint's events come first in the feed.
    let org = app.create_org("Acme").await;
    for who in ["a", "b", "c"] {
        let r = app
            .api(
                Method::POST,
                "/api/v1/invitations",
                Some(json!({"organization_id": org, "email": format!("{who}@example.com")})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    }
    const N: u64 = 100;
    for i in 1..N {
        app.create_org(&format!("Org {i}")).await;
    }
    fan_out(&app.state).await.unwrap();
    let worker = tokio::spawn({
        let state = app.state.clone();
        async move { deliver(&state).await.unwrap() }
    });
    // Every event reaches the healthy receiver while the other one still holds its requests.
    let mut got = 0;
    for _ in 0..2400 {
        got = rx.get("/_count").await["unique"].as_u64().unwrap();
        if got == N {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(got, N, "the healthy endpoint got everything");
    let slow_ds = deliveries(&app, &slow).await;
    assert_eq!(slow_ds.len(), 3);
    for ds in &slow_ds {
        assert_eq!(ds["state"], "pending", "{ds}");
        assert_eq!(ds["attempts"], 0, "its first attempt has not ended: {ds}");
    }
    assert_eq!(
        stuck.get("/_count").await["hanging"],
        3,
        "all three are in flight"
    );
    let ds = deliveries(&app, &healthy).await;
    assert_eq!(ds.len(), N as usize);
    assert!(ds.iter().all(|d| d["state"] == "succeeded"), "recorded");
    assert!(!worker.is_finished());
    // The hung attempts end at the HTTP timeout and wait for their retry; none is lost.
    worker.await.unwrap();
    for ds in deliveries(&app, &slow).await {
        assert_eq!(ds["state"], "pending", "{ds}");
        assert_eq!(ds["attempts"], 1, "{ds}");
        assert!(
            ds["last_error"]
                .as_str()
                .unwrap()
                .contains("did not answer in time"),
            "{ds}"
        );
    }
}

async fn a_customer_log_stream_gets_only_its_organization_in_its_format(d: Dialect) {
    let app = app(d).await;
    let rx = Receiver::start();
    let acme = app.create_org("Acme").await;
    let globex = app.create_org("Globex").await;
    let link = app.create_link(&acme, &["log_streams"]).await;
    let cookie = app.redeem(&link).await;
    let form = format!(
        "kind=splunk_hec&name=Splunk&url={}&credential=hec-secret",
        url::form_urlencoded::byte_serialize(rx.hook().as_bytes()).collect::<String>()
    );
    // A Splunk stream needs its token.
    let r = app
        .browser_post(
            "/portal/api/create_log_stream",
            &form.replace("hec-secret", ""),
            Some(&cookie),
        )
        .await;
    assert!(r.text().contains("HEC token"), "{}", r.text());
    let r = app
        .browser_post("/portal/api/create_log_stream", &form, Some(&cookie))
        .await;
    assert!(
        r.status.is_success() || r.status == StatusCode::SEE_OTHER,
        "{}",
        r.text()
    );
    let page = app
        .browser_post("/portal/api/log_streams", "", Some(&cookie))
        .await
        .json();
    let id = page["streams"][0]["id"].as_str().unwrap().to_owned();
    // The test button sends now and the page says what happened.
    app.browser_post(
        "/portal/api/test_log_stream",
        &format!("id={id}"),
        Some(&cookie),
    )
    .await;
    let page = app
        .browser_post("/portal/api/log_streams", "", Some(&cookie))
        .await
        .json();
    assert_eq!(page["streams"][0]["test_result"][0], true, "{page}");
    // Only Acme's activity is streamed, in Splunk HEC's envelope with the token.
    app.api(
        Method::PATCH,
        &format!("/api/v1/organizations/{acme}"),
        Some(json!({"name": "Acme Inc"})),
    )
    .await;
    app.api(
        Method::PATCH,
        &format!("/api/v1/organizations/{globex}"),
        Some(json!({"name": "Globex Inc"})),
    )
    .await;
    run(&app).await;
    let got = rx.received().await;
    let streamed: Vec<&Value> = got
        .iter()
        .filter(|g| g["body"]["event"]["type"] != "log_stream.test")
        .collect();
    assert!(!streamed.is_empty());
    for g in &streamed {
        assert_eq!(g["authorization"], "Splunk hec-secret");
        assert_eq!(g["body"]["sourcetype"], "lanyard:audit");
        assert_eq!(g["body"]["event"]["organization_id"], acme.as_str(), "{g}");
    }
    assert!(streamed
        .iter()
        .any(|g| g["body"]["event"]["type"] == "organization.updated"));
    // The vendor's webhook API neither lists nor reaches it; another organization cannot touch it.
    let list = app
        .api(Method::GET, "/api/v1/webhook_endpoints", None)
        .await
        .json();
    assert_eq!(list["data"], json!([]));
    assert_eq!(
        app.api(
            Method::GET,
            &format!("/api/v1/webhook_endpoints/{id}"),
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let other = app.create_link(&globex, &["log_streams"]).await;
    let c2 = app.redeem(&other).await;
    app.browser_post(
        "/portal/api/delete_log_stream",
        &format!("id={id}"),
        Some(&c2),
    )
    .await;
    let page = app
        .browser_post("/portal/api/log_streams", "", Some(&cookie))
        .await
        .json();
    assert_eq!(page["streams"].as_array().unwrap().len(), 1, "still there");
    let r = app
        .browser_post("/portal/api/log_streams", "", Some(&c2))
        .await;
    assert!(!r.text().contains(&id));
}

/// Migration 29 moves log streams from the vendor's feed to their organization's trail: a
/// stream's position and its queued deliveries, written as the previous release wrote them (feed
/// cursors and feed event ids), become chain positions and audit event ids, and the stream goes
/// on delivering from there.
async fn migration_29_moves_log_streams_onto_the_trail(d: Dialect) {
    let app = app(d).await;
    let rx = Receiver::start();
    let acme = app.create_org("Acme").await;
    let link = app.create_link(&acme, &["log_streams"]).await;
    let cookie = app.redeem(&link).await;
    let form = format!(
        "kind=json&name=SIEM&credential=&url={}",
        url::form_urlencoded::byte_serialize(rx.hook().as_bytes()).collect::<String>()
    );
    app.browser_post("/portal/api/create_log_stream", &form, Some(&cookie))
        .await;
    for name in ["Acme 1", "Acme 2"] {
        app.api(
            Method::PATCH,
            &format!("/api/v1/organizations/{acme}"),
            Some(json!({ "name": name })),
        )
        .await;
    }
    fan_out(&app.state).await.unwrap();
    let pool = &app.state.db.pool;
    let stream: (String, i64) = sqlx::query_as(
        "SELECT id, fanout_cursor FROM webhook_endpoints WHERE organization_id = $1",
    )
    .bind(&acme)
    .fetch_one(pool)
    .await
    .unwrap();
    let queued = |pool: &sqlx::AnyPool| {
        let pool = pool.clone();
        let id = stream.0.clone();
        async move {
            let rows: Vec<(i64, String)> = sqlx::query_as(
                "SELECT event_cursor, event_id FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY event_cursor",
            )
            .bind(&id)
            .fetch_all(&pool)
            .await
            .unwrap();
            rows
        }
    };
    let now = queued(pool).await;
    assert_eq!(now.len(), 3, "log_stream.created and two updates: {now:?}");
    assert!(
        now.iter().all(|(_, id)| id.starts_with("audit_")),
        "{now:?}"
    );
    // As the previous release left them: feed cursors and feed event ids.
    for (seq, audit_id) in &now {
        let (cursor, event_id): (i64, String) =
            sqlx::query_as("SELECT cursor, id FROM events WHERE audit_event_id = $1")
                .bind(audit_id)
                .fetch_one(pool)
                .await
                .unwrap();
        sqlx::query(
            "UPDATE webhook_deliveries SET event_cursor = $1, event_id = $2 WHERE endpoint_id = $3 AND event_cursor = $4",
        )
        .bind(cursor)
        .bind(&event_id)
        .bind(&stream.0)
        .bind(*seq)
        .execute(pool)
        .await
        .unwrap();
    }
    let feed_head: i64 = sqlx::query_scalar("SELECT MAX(cursor) FROM events")
        .fetch_one(pool)
        .await
        .unwrap();
    sqlx::query("UPDATE webhook_endpoints SET fanout_cursor = $1 WHERE id = $2")
        .bind(feed_head)
        .bind(&stream.0)
        .execute(pool)
        .await
        .unwrap();
    assert_ne!(queued(pool).await, now, "rewritten to feed positions");
    let folder = match d {
        Dialect::Sqlite => "sqlite",
        Dialect::Postgres => "postgres",
    };
    let sql = std::fs::read_to_string(format!(
        "{}/migrations/{folder}/20261204000029_log_streams_carry_the_trail.sql",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    sqlx::raw_sql(&sql).execute(pool).await.unwrap();
    assert_eq!(
        queued(pool).await,
        now,
        "back at chain positions and audit ids"
    );
    let fanout: i64 =
        sqlx::query_scalar("SELECT fanout_cursor FROM webhook_endpoints WHERE id = $1")
            .bind(&stream.0)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(
        fanout, stream.1,
        "the stream goes on after the last event it had queued"
    );
    // Nothing is queued twice, and the queued events are delivered.
    assert_eq!(fan_out(&app.state).await.unwrap(), 0);
    deliver(&app.state).await.unwrap();
    let got = rx.received().await;
    // Different entities' events are delivered in any order.
    let mut kinds: Vec<&str> = got
        .iter()
        .map(|g| g["body"]["type"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "log_stream.created",
            "organization.updated",
            "organization.updated"
        ],
        "{got:?}"
    );
}

/// Recording an attempt's outcome changes only a delivery that is still pending: one discarded
/// with its endpoint, or already recorded (another node's attempt), keeps its state, attempts and
/// delivery time; every attempt is still logged.
async fn an_outcome_leaves_a_delivery_no_longer_pending_as_it_is(d: Dialect) {
    use lanyard::server::db::webhooks::finish_attempts;
    let app = TestApp::spawn(d).await;
    let mut conn = app.state.db.pool.acquire().await.expect("connection");
    crate::helpers::webhook_endpoint_row(&mut conn, "we_o").await;
    for (i, state, attempts, delivered) in [
        (1, "discarded", 0, None),
        (2, "succeeded", 1, Some(5_i64)),
        (3, "pending", 0, None),
    ] {
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_cursor, event_id, entity_key, state, attempts, next_attempt_at, created_at, delivered_at) \
             VALUES ($1, 'we_o', $2, $3, 'user:x', $4, $5, 0, 0, $6)",
        )
        .bind(format!("wd_{i}"))
        .bind(i64::from(i))
        .bind(format!("ev_{i}"))
        .bind(state)
        .bind(attempts)
        .bind(delivered)
        .execute(&mut *conn)
        .await
        .expect("delivery");
    }
    finish_attempts(&mut conn, &crate::helpers::succeeded("we_o", 1..=3, 9), 9)
        .await
        .expect("outcomes");
    let rows: Vec<(String, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT id, state, attempts, delivered_at FROM webhook_deliveries WHERE endpoint_id = 'we_o' ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("rows");
    let want = |id: &str, state: &str, attempts: i64, at: Option<i64>| {
        (id.to_string(), state.to_string(), attempts, at)
    };
    assert_eq!(
        rows,
        vec![
            want("wd_1", "discarded", 0, None),
            want("wd_2", "succeeded", 1, Some(5)),
            want("wd_3", "succeeded", 1, Some(9)),
        ]
    );
    let logged: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM webhook_attempts WHERE attempted_at = 9")
            .fetch_one(&mut *conn)
            .await
            .expect("attempts");
    assert_eq!(logged, 3, "every attempt is logged");
}

/// An endpoint's newest attempt (the credentials pages' "last used"): attempts name their
/// endpoint since migration 45 and the newest of those counts; an endpoint whose attempts all
/// predate it is read through its deliveries; one never attempted has none.
async fn an_endpoints_last_attempt_counts_attempts_written_before_migration_45(d: Dialect) {
    use lanyard::server::db::health::endpoint_credentials;
    use lanyard::server::db::webhooks::finish_attempts;
    let app = TestApp::spawn(d).await;
    let mut conn = app.state.db.pool.acquire().await.expect("connection");
    for ep in ["we_new", "we_old", "we_none"] {
        crate::helpers::webhook_endpoint_row(&mut conn, ep).await;
    }
    for (i, ep) in [(1, "we_old"), (2, "we_old"), (3, "we_new"), (4, "we_none")] {
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_cursor, event_id, entity_key, state, attempts, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, 'user:x', 'pending', 0, 0, 0)",
        )
        .bind(format!("wd_{i}"))
        .bind(ep)
        .bind(i64::from(i))
        .bind(format!("ev_{i}"))
        .execute(&mut *conn)
        .await
        .expect("delivery");
    }
    // Written by a release before migration 45: no endpoint named.
    for (id, delivery, at) in [
        ("wa_old1", "wd_1", 100),
        ("wa_old2", "wd_2", 300),
        ("wa_old3", "wd_3", 50),
    ] {
        sqlx::query(
            "INSERT INTO webhook_attempts (id, delivery_id, attempted_at, status, latency_ms) VALUES ($1, $2, $3, 500, 1)",
        )
        .bind(id)
        .bind(delivery)
        .bind(at)
        .execute(&mut *conn)
        .await
        .expect("old attempt");
    }
    finish_attempts(
        &mut conn,
        &crate::helpers::succeeded("we_new", 3..=3, 200),
        200,
    )
    .await
    .expect("outcome");
    let named: Option<String> =
        sqlx::query_scalar("SELECT endpoint_id FROM webhook_attempts WHERE id = 'wa_3'")
            .fetch_one(&mut *conn)
            .await
            .expect("attempt");
    assert_eq!(
        named.as_deref(),
        Some("we_new"),
        "an attempt names its endpoint"
    );
    let last: Vec<(String, Option<i64>)> = endpoint_credentials(&mut conn, None)
        .await
        .expect("endpoints")
        .into_iter()
        .map(|e| (e.id, e.last_attempt_at))
        .collect();
    assert_eq!(
        last,
        vec![
            ("we_new".to_owned(), Some(200)),
            ("we_none".to_owned(), None),
            ("we_old".to_owned(), Some(300)),
        ]
    );
}

crate::both_databases!(
    an_endpoints_last_attempt_counts_attempts_written_before_migration_45,
    an_outcome_leaves_a_delivery_no_longer_pending_as_it_is,
    migration_29_moves_log_streams_onto_the_trail,
    deliveries_are_signed_and_verified_independently,
    a_500_is_retried_with_back_off_and_a_302_is_a_failure,
    a_410_disables_the_endpoint_until_it_is_enabled_again,
    a_receiver_down_then_up_gets_everything_in_entity_order,
    a_rotated_secret_signs_alongside_the_new_one,
    two_nodes_on_postgres_never_deliver_an_event_twice_at_once,
    a_receiver_that_hangs_delays_only_its_own_endpoint,
    a_customer_log_stream_gets_only_its_organization_in_its_format,
);

/// The real binary, killed with SIGKILL while deliveries are in flight and started again on the
/// same database: every event still reaches the receiver (duplicates allowed, none lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_delivery_loses_no_event() {
    let dir = tempfile::tempdir().unwrap();
    let real =
        crate::helpers::RealServer::new(dir.path(), &[("LANYARD_ALLOW_PRIVATE_NETWORK", "true")]);
    let post = |path: &str, body: Value| real.post(path, body);
    let mut server = real.start().await;
    let rx = Receiver::start();
    let r = post("/api/v1/webhook_endpoints", json!({"url": rx.hook()}))
        .await
        .unwrap();
    let j: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    rx.control(json!({"secret": j["secret"], "delayMs": 150}))
        .await;
    // More events than one endpoint keeps in flight, so the kill lands mid-delivery.
    const N: usize = 100;
    for i in 0..N {
        let r = post("/api/v1/organizations", json!({"name": format!("Org {i}")}))
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    // Kill as soon as some deliveries have arrived (others are in flight).
    for _ in 0..200 {
        if !rx.received().await.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    let before = rx.received().await.len();
    assert!(before < N, "killed mid-delivery ({before} of {N} arrived)");
    rx.control(json!({"delayMs": 0})).await;
    let mut server = real.start().await;
    let mut ids: Vec<String> = Vec::new();
    for _ in 0..400 {
        ids = rx
            .received()
            .await
            .iter()
            .map(|g| g["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids.dedup();
        if ids.len() == N {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(ids.len(), N, "every event delivered after the restart");
    assert!(rx.received().await.iter().all(|g| g["verified"] == true));
}
