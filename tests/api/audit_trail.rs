use axum::http::{Method, StatusCode};
use lanyard::server::audit::{self, Actor, AuditError, AuditedTx, RequestContext};
use lanyard::server::db::organizations::{self, OrganizationRow};
use serde_json::json;

use crate::helpers::{Dialect, TestApp};

async fn every_state_change_writes_its_event(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    app.api(
        Method::PATCH,
        &format!("/api/v1/organizations/{org}"),
        Some(json!({"name": "Acme 2"})),
    )
    .await;
    // A PATCH that changes nothing writes nothing and audits nothing.
    app.api(
        Method::PATCH,
        &format!("/api/v1/organizations/{org}"),
        Some(json!({"name": "Acme 2"})),
    )
    .await;
    let link = app.create_link(&org, &["sso"]).await;
    app.redeem(&link).await;
    app.api(
        Method::DELETE,
        &format!("/api/v1/organizations/{org}"),
        None,
    )
    .await;
    app.state.db.caught_up().await;
    let mut conn = app.state.db.pool.acquire().await.unwrap();
    let events = audit::list_for_organization(&mut conn, &org, 0, 100)
        .await
        .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "organization.created",
            "organization.updated",
            "portal.link_created",
            "portal.link_redeemed",
            "organization.deleted"
        ]
    );
    let created = &events[0];
    assert_eq!(created.actor_type, "api_key");
    assert!(created.request_id.as_deref().unwrap().starts_with("req_"));
    assert!(created.targets.contains(&org));
    assert_eq!(events[3].actor_type, "portal_admin");
}

async fn a_transaction_without_an_audit_event_cannot_commit(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let now = app.state.clock.now();
    let mut tx = AuditedTx::begin(
        &app.state.db,
        &Actor::operator(),
        &RequestContext::default(),
        now,
    )
    .await
    .unwrap();
    let row = OrganizationRow {
        id: lanyard::server::db::new_id(lanyard::domain::ids::IdKind::Organization),
        name: "Sneaky".into(),
        external_id: None,
        metadata: "{}".into(),
        default_role: "member".into(),
        audit_retention_days: 365,
        created_at: now,
        updated_at: now,
    };
    organizations::insert(tx.conn(), &row).await.unwrap();
    assert!(matches!(tx.commit().await, Err(AuditError::NoEvent)));
    let mut conn = app.state.db.pool.acquire().await.unwrap();
    assert!(
        organizations::get(&mut conn, &row.id)
            .await
            .unwrap()
            .is_none(),
        "rolled back"
    );
}

async fn audit_events_are_listed_with_cursor(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    for i in 0..4 {
        app.api(
            Method::PATCH,
            &format!("/api/v1/organizations/{org}"),
            Some(json!({"name": format!("Acme {i}")})),
        )
        .await;
    }
    let r = app
        .api(
            Method::GET,
            &format!("/api/v1/audit_events?organization_id={org}&limit=3"),
            None,
        )
        .await;
    let j = r.json();
    assert_eq!(j["data"].as_array().unwrap().len(), 3);
    let cursor = j["next_cursor"].as_str().unwrap().to_owned();
    let r = app
        .api(
            Method::GET,
            &format!("/api/v1/audit_events?organization_id={org}&limit=3&after={cursor}"),
            None,
        )
        .await;
    let j = r.json();
    assert_eq!(j["data"].as_array().unwrap().len(), 2);
    assert!(j["next_cursor"].is_null());
    let seqs: Vec<i64> = j["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [4, 5]);

    let r = app.api(Method::GET, "/api/v1/audit_events", None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "organization_id");
    let r = app
        .api(
            Method::GET,
            "/api/v1/audit_events?organization_id=org_01JDZQ8V6M3W9X4N5P7R2S0T1A",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn the_chain_detects_an_edited_row(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    for i in 0..3 {
        app.api(
            Method::PATCH,
            &format!("/api/v1/organizations/{org}"),
            Some(json!({"name": format!("Acme {i}")})),
        )
        .await;
    }
    app.state.db.caught_up().await;
    let mut conn = app.state.db.pool.acquire().await.unwrap();
    let ok = audit::verify_chain(&mut conn, &org).await.unwrap();
    assert_eq!(ok.events_checked, 4);
    assert_eq!(ok.first_broken, None);

    sqlx::query("UPDATE audit_events SET actor_name = 'someone else' WHERE chain_key = $1 AND chain_seq = 3")
        .bind(&org)
        .execute(&mut *conn)
        .await
        .unwrap();
    let bad = audit::verify_chain(&mut conn, &org).await.unwrap();
    let (seq, _, why) = bad.first_broken.expect("edit detected");
    assert_eq!(seq, 3);
    assert!(why.contains("edited"), "{why}");
}

async fn the_chain_detects_removed_events(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    for i in 0..3 {
        app.api(
            Method::PATCH,
            &format!("/api/v1/organizations/{org}"),
            Some(json!({"name": format!("Acme {i}")})),
        )
        .await;
    }
    app.state.db.caught_up().await;
    let mut conn = app.state.db.pool.acquire().await.unwrap();
    sqlx::query("DELETE FROM outbox WHERE audit_event_id IN (SELECT id FROM audit_events WHERE chain_key = $1 AND chain_seq IN (2, 4))")
        .bind(&org)
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_events WHERE chain_key = $1 AND chain_seq = 4")
        .bind(&org)
        .execute(&mut *conn)
        .await
        .unwrap();
    let r = audit::verify_chain(&mut conn, &org).await.unwrap();
    assert!(r.first_broken.unwrap().2.contains("removed"));
    sqlx::query("DELETE FROM audit_events WHERE chain_key = $1 AND chain_seq = 2")
        .bind(&org)
        .execute(&mut *conn)
        .await
        .unwrap();
    let r = audit::verify_chain(&mut conn, &org).await.unwrap();
    assert_eq!(r.first_broken.unwrap().0, 3);
}

async fn concurrent_writers_keep_one_unbroken_chain(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let mut handles = Vec::new();
    for i in 0..12 {
        let router = app.router.clone();
        let key = app.key.clone();
        let org = org.clone();
        handles.push(tokio::spawn(async move {
            use tower::ServiceExt as _;
            let req = axum::http::Request::builder()
                .method(Method::PATCH)
                .uri(format!("/api/v1/organizations/{org}"))
                .header("authorization", format!("Bearer {key}"))
                .header("content-type", "application/json")
                .body(axum::body::Body::from(
                    json!({"name": format!("Name {i}")}).to_string(),
                ))
                .unwrap();
            router.oneshot(req).await.unwrap().status()
        }));
    }
    for h in handles {
        assert_eq!(h.await.unwrap(), StatusCode::OK);
    }
    app.state.db.caught_up().await;
    let mut conn = app.state.db.pool.acquire().await.unwrap();
    let r = audit::verify_chain(&mut conn, &org).await.unwrap();
    assert_eq!(r.first_broken, None);
    assert_eq!(r.events_checked, 13);
}

/// A write is answered without waiting for its events to be linked (PostgreSQL: the sequencer
/// links them after the commit), and whoever reads the feed or the audit log next still sees
/// them: the reader waits for a pass (`Db::caught_up`). Here the sequencer is held off by a
/// lock on the feed's head while the write is answered and while the reads (the feed, the audit
/// log, the webhook fan-out) start.
async fn a_write_answered_is_in_the_feed_and_the_log_for_the_next_reader(d: Dialect) {
    let app = TestApp::spawn_with(d, &[("LANYARD_ALLOW_PRIVATE_NETWORK", "true")]).await;
    let org = app.create_org("Acme").await;
    // A webhook endpoint from here on: the fan-out is a reader of the feed too.
    let r = app
        .api(
            Method::POST,
            "/api/v1/webhook_endpoints",
            Some(json!({"url": "http://127.0.0.1:9/hook"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    app.state.db.caught_up().await;
    // PostgreSQL: every sequencer pass queues on this row until the lock is let go.
    let mut blocker = app.state.db.pool.begin().await.unwrap();
    if d == Dialect::Postgres {
        sqlx::query("SELECT cursor FROM events_head WHERE k = 'global' FOR UPDATE")
            .execute(&mut *blocker)
            .await
            .unwrap();
    }
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/organizations/{org}"),
            Some(json!({"name": "Acme 2"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    if d == Dialect::Postgres {
        // Answered, and not linked yet: the sequencer is held.
        let linked: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_events WHERE organization_id = $1 AND chain_seq > 0",
        )
        .bind(&org)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
        assert_eq!(linked, 1, "only organization.created is linked");
    }
    let (feed_path, log_path) = (
        format!("/api/v1/events?organization_id={org}"),
        format!("/api/v1/audit_events?organization_id={org}"),
    );
    let feed = app.api(Method::GET, &feed_path, None);
    let log = app.api(Method::GET, &log_path, None);
    let release = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        blocker.rollback().await.unwrap();
    };
    let fan_out = lanyard::server::service::webhooks::fan_out(&app.state);
    let (feed, log, queued, ()) = tokio::join!(feed, log, fan_out, release);
    assert_eq!(
        queued.unwrap(),
        1,
        "the fan-out queues organization.updated for the endpoint"
    );
    let types: Vec<String> = feed.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types, ["organization.created", "organization.updated"]);
    let actions: Vec<String> = log.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        actions.contains(&"organization.updated".to_owned()),
        "{actions:?}"
    );
    let mut conn = app.state.db.pool.acquire().await.unwrap();
    let (events, feed): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM audit_events WHERE organization_id = $1 AND chain_seq > 0), \
         (SELECT COUNT(*) FROM events WHERE organization_id = $1 AND cursor > 0)",
    )
    .bind(&org)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!((events, feed), (2, 2));
}

/// PostgreSQL: a reader waits for the rows committed before it looked, not for the sequencer to
/// run dry. Another organization's writes keep more rows waiting than one sequencer step takes,
/// so every step leaves rows behind; the reader is still answered, with the write it waited for,
/// well before the 10 s the wait gives up after.
#[tokio::test]
async fn a_reader_is_not_held_while_writes_keep_arriving_behind_its_own() {
    let app = TestApp::spawn_with(Dialect::Postgres, &[]).await;
    let org = app.create_org("Acme").await;
    let noisy = app.create_org("Noisy").await;
    app.state.db.caught_up().await;
    let pool = app.state.db.pool.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Keeps 4,000 to 8,000 of the noisy organization's audit events waiting: each sequencer step
    // links at most PASS_ROWS (2,000) of them.
    let flood = {
        let (pool, stop, noisy) = (pool.clone(), stop.clone(), noisy.clone());
        tokio::spawn(async move {
            let mut inserted = 0i64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let waiting: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE chain_seq < 0")
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                if waiting < 6000 {
                    sqlx::query(
                        "INSERT INTO audit_events (id, chain_key, chain_seq, organization_id, action, \
                         actor_type, actor_id, actor_name, targets, occurred_at, metadata, prev_hash, hash) \
                         SELECT 'flood_' || $2 || '_' || g, $1, -nextval('audit_events_pending'), $1, \
                         'organization.updated', 'system', 'test', 'test', '[]', 0, '{}', '', '' \
                         FROM generate_series(1, 2100) g",
                    )
                    .bind(&noisy)
                    .bind(inserted)
                    .execute(&pool)
                    .await
                    .unwrap();
                    inserted += 1;
                } else {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            }
            inserted * 2100
        })
    };
    // Let the backlog build past one step.
    loop {
        let waiting: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE chain_seq < 0")
                .fetch_one(&pool)
                .await
                .unwrap();
        if waiting > 4000 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/organizations/{org}"),
            Some(json!({"name": "Acme 2"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let started = std::time::Instant::now();
    let log = app
        .api(
            Method::GET,
            &format!("/api/v1/audit_events?organization_id={org}"),
            None,
        )
        .await;
    let took = started.elapsed();
    let still_waiting: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE chain_seq < 0")
            .fetch_one(&pool)
            .await
            .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let flooded = flood.await.unwrap();
    let actions: Vec<String> = log.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        actions.contains(&"organization.updated".to_owned()),
        "{actions:?}"
    );
    assert!(
        still_waiting >= lanyard::server::audit::PASS_ROWS,
        "the noisy organization's rows kept more than one step's worth waiting ({still_waiting})"
    );
    assert!(
        took < std::time::Duration::from_secs(8),
        "the read waited {took:?} (the sequencer gives up after 10 s) with {flooded} rows flooded"
    );
}

crate::both_databases!(
    every_state_change_writes_its_event,
    a_transaction_without_an_audit_event_cannot_commit,
    audit_events_are_listed_with_cursor,
    the_chain_detects_an_edited_row,
    the_chain_detects_removed_events,
    concurrent_writers_keep_one_unbroken_chain,
    a_write_answered_is_in_the_feed_and_the_log_for_the_next_reader,
);
