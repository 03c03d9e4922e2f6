//! The audit log viewer's filters and the streamed CSV / NDJSON export (API and portal).

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::json;

use crate::helpers::{Dialect, TestApp};

async fn get(app: &TestApp, path: &str) -> crate::helpers::TestResponse {
    app.api(Method::GET, path, None).await
}

async fn filters_narrow_the_audit_log(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let r = app
        .api(
            Method::POST,
            "/api/v1/invitations",
            Some(json!({"organization_id": org, "email": "a@example.com"})),
        )
        .await;
    let inv = r.json()["id"].as_str().unwrap().to_owned();
    app.api(Method::DELETE, &format!("/api/v1/invitations/{inv}"), None)
        .await;
    app.api(
        Method::PATCH,
        &format!("/api/v1/organizations/{org}"),
        Some(json!({"name": "Acme Inc"})),
    )
    .await;
    let actions = |r: &crate::helpers::TestResponse| -> Vec<String> {
        r.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect()
    };
    let base = format!("/api/v1/audit_events?organization_id={org}");
    assert_eq!(
        actions(&get(&app, &format!("{base}&action=invitation.*")).await),
        ["invitation.created", "invitation.revoked"]
    );
    assert_eq!(
        actions(&get(&app, &format!("{base}&action=organization.updated")).await),
        ["organization.updated"]
    );
    assert_eq!(
        actions(&get(&app, &format!("{base}&target={inv}")).await),
        ["invitation.created", "invitation.revoked"]
    );
    assert_eq!(
        actions(&get(&app, &format!("{base}&actor=test")).await).len(),
        4,
        "the API key is named test"
    );
    assert_eq!(
        actions(&get(&app, &format!("{base}&actor=nobody")).await).len(),
        0
    );
    assert_eq!(
        actions(&get(&app, &format!("{base}&from=2999-01-01")).await).len(),
        0
    );
    assert_eq!(
        actions(&get(&app, &format!("{base}&to=2999-01-01")).await).len(),
        4
    );
    for (q, field) in [
        ("from=yesterday", "from"),
        ("from=2026-02-01&to=2026-01-01", "to"),
    ] {
        let r = get(&app, &format!("{base}&{q}")).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
        assert_eq!(r.json()["error"]["field"], field);
    }
}

/// Appends `n` synthetic events to an organization's chain (fast, for volume tests).
async fn bulk_events(app: &TestApp, org: &str, n: i64) {
    app.state.db.caught_up().await;
    let mut conn = app.state.db.pool.acquire().await.unwrap();
    let start: i64 = sqlx::query_scalar("SELECT seq FROM audit_chain_heads WHERE chain_key = $1")
        .bind(org)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let mut seq = start;
    while seq < start + n {
        let batch = (start + n - seq).min(500);
        let mut sql = String::from("INSERT INTO audit_events (id, chain_key, chain_seq, organization_id, action, actor_type, actor_id, actor_name, targets, occurred_at, metadata, prev_hash, hash) VALUES ");
        let rows: Vec<String> = (1..=batch)
            .map(|i| {
                let s = seq + i;
                format!("('audit_bulk{s:022}', '{org}', {s}, '{org}', 'dsync.user.updated', 'directory', 'dir_x', '=1+1', '[{{\"type\":\"user\",\"id\":\"u{s}\"}}]', {}, '{{\"n\":{s}}}', '', '')", 1_700_000_000_000i64 + s)
            })
            .collect();
        sql.push_str(&rows.join(", "));
        sqlx::query(&sql).execute(&mut *conn).await.unwrap();
        seq += batch;
    }
}

async fn export_streams_csv_and_ndjson(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    const N: i64 = 100_000;
    bulk_events(&app, &org, N).await;
    let r = get(
        &app,
        &format!("/api/v1/audit_events/export?organization_id={org}&format=csv"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/csv; charset=utf-8")
    );
    assert!(
        r.header("content-length").is_none(),
        "streamed, not built in memory"
    );
    assert!(r
        .header("content-disposition")
        .unwrap()
        .contains("attachment"));
    let text = r.text();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines.len() as i64,
        N + 2,
        "header, organization.created, {N} events"
    );
    assert!(lines[0].starts_with("sequence,occurred_at,action,"));
    // A cell a spreadsheet would run as a formula (the actor name here) is neutralised.
    assert!(lines[2].contains(",'=1+1,"), "{}", lines[2]);
    assert!(lines.last().unwrap().starts_with(&format!("{},", N + 1)));
    // NDJSON with a filter and a date range.
    let r = get(&app, &format!("/api/v1/audit_events/export?organization_id={org}&format=ndjson&action=organization.created")).await;
    let rows: Vec<serde_json::Value> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["action"], "organization.created");
    let r = get(&app, &format!("/api/v1/audit_events/export?organization_id={org}&format=ndjson&from=2023-11-14T22:13:20.010Z&to=2023-11-14T22:13:20.020Z")).await;
    assert_eq!(r.text().lines().count(), 10);
    let r = get(
        &app,
        &format!("/api/v1/audit_events/export?organization_id={org}&format=xml"),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn the_portal_exports_only_its_organization(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let acme = app.create_org("Acme").await;
    let globex = app.create_org("Globex").await;
    let link = app.create_link(&acme, &["audit_logs"]).await;
    let cookie = app.redeem(&link).await;
    let r = app
        .browser_get(
            "/portal/activity/export?format=csv&from=&to=",
            Some(&cookie),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.text().contains(&acme) && !r.text().contains(&globex));
    // The viewer filters on the server: action prefix, actor, date range.
    app.api(
        Method::PATCH,
        &format!("/api/v1/organizations/{acme}"),
        Some(json!({"name": "Acme Inc"})),
    )
    .await;
    let r = app
        .browser_post(
            "/portal/api/activity",
            "action=organization.*&actor=test",
            Some(&cookie),
        )
        .await;
    let items = r.json()["items"].as_array().unwrap().clone();
    let actions: Vec<&str> = items
        .iter()
        .map(|i| i["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["organization.updated", "organization.created"],
        "newest first"
    );
    let r = app
        .browser_post("/portal/api/activity", "from=2999-01-01", Some(&cookie))
        .await;
    assert_eq!(r.json()["items"], json!([]));
    let r = app
        .browser_get(
            "/portal/activity?action=organization.updated",
            Some(&cookie),
        )
        .await;
    assert!(
        r.text().contains("Organization details changed")
            && !r.text().contains("Setup link opened"),
        "server-rendered with the filter"
    );
    let r = app
        .browser_get(
            "/portal/activity/export?format=csv&from=nope",
            Some(&cookie),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Without the intent, or without a session: refused.
    let other = app.create_link(&acme, &["sso"]).await;
    let c2 = app.redeem(&other).await;
    assert_eq!(
        app.browser_get("/portal/activity/export", Some(&c2))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let req = Request::builder()
        .uri("/portal/activity/export")
        .header(header::COOKIE, "lanyard_session=forged")
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(req).await.status, StatusCode::UNAUTHORIZED);
}

async fn retention_purges_old_events_and_the_chain_still_verifies(d: Dialect) {
    use lanyard::server::audit::verify_chain;
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    for days in [0, 3651] {
        let r = app
            .api(
                Method::PATCH,
                &format!("/api/v1/organizations/{org}"),
                Some(json!({"audit_retention_days": days})),
            )
            .await;
        assert_eq!(r.json()["error"]["field"], "audit_retention_days", "{days}");
    }
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/organizations/{org}"),
            Some(json!({"audit_retention_days": 1})),
        )
        .await;
    assert_eq!(r.json()["audit_retention_days"], 1);
    for who in ["a", "b"] {
        app.api(
            Method::POST,
            "/api/v1/invitations",
            Some(json!({"organization_id": org, "email": format!("{who}@example.com")})),
        )
        .await;
    }
    app.state.clock.advance(2 * 24 * 3600 * 1000);
    app.api(
        Method::PATCH,
        &format!("/api/v1/organizations/{org}"),
        Some(json!({"name": "Acme Inc"})),
    )
    .await;
    let other = app.create_org("Globex").await;
    let purged = lanyard::server::service::audit_log::purge_expired(&app.state)
        .await
        .unwrap();
    assert_eq!(purged, 4, "created, retention changed, two invitations");
    assert_eq!(
        lanyard::server::service::audit_log::purge_expired(&app.state)
            .await
            .unwrap(),
        0
    );
    let list = get(&app, &format!("/api/v1/audit_events?organization_id={org}"))
        .await
        .json();
    let actions: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["organization.updated", "audit.purged"]);
    assert_eq!(list["data"][1]["metadata"]["through_sequence"], 4);
    app.state.db.caught_up().await;
    let mut conn = app.state.db.pool.acquire().await.unwrap();
    let report = verify_chain(&mut conn, &org).await.unwrap();
    assert_eq!(
        report.first_broken, None,
        "the checkpoint carries the chain"
    );
    assert_eq!(report.events_checked, 2);
    assert_eq!(
        verify_chain(&mut conn, &other)
            .await
            .unwrap()
            .events_checked,
        1,
        "Globex untouched"
    );
    // Removing a kept event is still detected.
    for sql in [
        "DELETE FROM outbox WHERE audit_event_id IN (SELECT id FROM audit_events WHERE chain_key = $1 AND chain_seq = 5)",
        "DELETE FROM audit_events WHERE chain_key = $1 AND chain_seq = 5",
    ] {
        sqlx::query(sql).bind(&org).execute(&mut *conn).await.unwrap();
    }
    assert!(verify_chain(&mut conn, &org)
        .await
        .unwrap()
        .first_broken
        .is_some());
}

crate::both_databases!(
    filters_narrow_the_audit_log,
    export_streams_csv_and_ndjson,
    the_portal_exports_only_its_organization,
    retention_purges_old_events_and_the_chain_still_verifies,
);
