//! The vendor's events feed: order, filters, per-entity sequences, no gaps under concurrent
//! writers (SQLite and PostgreSQL), retention.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{Dialect, TestApp};

async fn feed(app: &TestApp, query: &str) -> Value {
    let r = app
        .api(Method::GET, &format!("/api/v1/events?{query}"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

fn types(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

async fn the_feed_is_ordered_filtered_and_sequenced_per_entity(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let acme = app.create_org("Acme").await;
    let globex = app.create_org("Globex").await;
    let r = app
        .api(
            Method::POST,
            "/api/v1/invitations",
            Some(json!({"organization_id": acme, "email": "a@example.com"})),
        )
        .await;
    let inv = r.json()["id"].as_str().unwrap().to_owned();
    let r = crate::helpers::resend_after_cooldown(&app, &inv).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    app.api(Method::DELETE, &format!("/api/v1/invitations/{inv}"), None)
        .await;
    app.create_link(&acme, &["sso"]).await;

    let all = feed(&app, "").await;
    assert_eq!(
        types(&all),
        [
            "organization.created",
            "organization.created",
            "invitation.created",
            "invitation.resent",
            "invitation.revoked"
        ],
        "portal and API-key events are not the vendor's"
    );
    let cursors: Vec<i64> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["cursor"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(cursors, [1, 2, 3, 4, 5]);
    let e = &all["data"][3];
    assert!(e["id"].as_str().unwrap().starts_with("event_"));
    assert_eq!(e["organization_id"], acme);
    assert_eq!(
        e["entity"],
        json!({"type": "invitation", "id": inv, "sequence": 2})
    );
    assert_eq!(all["data"][4]["entity"]["sequence"], 3);
    assert_eq!(e["data"]["actor"]["type"], "api_key");
    assert!(e["data"]["audit_event_id"]
        .as_str()
        .unwrap()
        .starts_with("audit_"));
    assert_eq!(all["next_cursor"], "5");
    // Paging, filters.
    let p1 = feed(&app, "limit=2").await;
    assert_eq!(p1["next_cursor"], "2");
    let p2 = feed(&app, "after=2&limit=2").await;
    assert_eq!(types(&p2), ["invitation.created", "invitation.resent"]);
    let g = feed(&app, &format!("organization_id={globex}")).await;
    assert_eq!(g["data"].as_array().unwrap().len(), 1);
    let t = feed(&app, "types=invitation.revoked,organization.created").await;
    assert_eq!(
        types(&t),
        [
            "organization.created",
            "organization.created",
            "invitation.revoked"
        ]
    );
    // A snapshot says where the feed was when it was read.
    let snap = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{acme}/memberships"),
            None,
        )
        .await
        .json();
    assert_eq!(snap["events_cursor"], "5");
    let empty = feed(&app, "after=5").await;
    assert_eq!(empty["data"], json!([]));
    assert_eq!(empty["next_cursor"], "5", "nothing new: keep the cursor");
    for (q, field) in [
        ("after=x", "after"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("organization_id=nope", "organization_id"),
    ] {
        let r = app
            .api(Method::GET, &format!("/api/v1/events?{q}"), None)
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
        assert_eq!(r.json()["error"]["field"], field, "{q}");
    }
}

async fn a_poller_never_misses_an_event_under_concurrent_writers(d: Dialect) {
    let app = std::sync::Arc::new(TestApp::spawn(d).await);
    const WRITERS: usize = 6;
    const EACH: usize = 12;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The poller reads from its last cursor as fast as it can while the writers commit.
    let poller = {
        let app = app.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut seen: Vec<(i64, String)> = Vec::new();
            let mut after = "0".to_owned();
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let page = feed(&app, &format!("after={after}&limit=500")).await;
                for e in page["data"].as_array().unwrap() {
                    seen.push((
                        e["cursor"].as_str().unwrap().parse().unwrap(),
                        e["id"].as_str().unwrap().to_owned(),
                    ));
                }
                after = page["next_cursor"].as_str().unwrap().to_owned();
                if finished {
                    return seen;
                }
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let app = app.clone();
            tokio::spawn(async move {
                for i in 0..EACH {
                    app.create_org(&format!("Org {w}-{i}")).await;
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = poller.await.unwrap();
    let all = feed(&app, "limit=500").await;
    let full: Vec<(i64, String)> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["cursor"].as_str().unwrap().parse().unwrap(),
                e["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(full.len(), WRITERS * EACH);
    let expected: Vec<i64> = (1..=(WRITERS * EACH) as i64).collect();
    assert_eq!(
        full.iter().map(|e| e.0).collect::<Vec<_>>(),
        expected,
        "cursors are dense and ordered"
    );
    assert_eq!(
        seen, full,
        "reading from the last cursor saw every event exactly once, in order"
    );
}

async fn events_past_the_retention_are_purged_and_old_cursors_get_410(d: Dialect) {
    let app = TestApp::spawn_with(d, &[("LANYARD_EVENT_RETENTION", "1h")]).await;
    app.create_org("Old").await;
    app.create_org("Older").await;
    app.state.clock.advance(2 * 3600 * 1000);
    app.create_org("New").await;
    let n = lanyard::server::service::events::purge(&app.state)
        .await
        .unwrap();
    assert_eq!(n, 2);
    let r = app.api(Method::GET, "/api/v1/events?after=1", None).await;
    assert_eq!(r.status, StatusCode::GONE, "{}", r.text());
    assert!(r.text().contains("after=2"), "{}", r.text());
    assert_eq!(
        types(&feed(&app, "after=2").await),
        ["organization.created"]
    );
    assert_eq!(feed(&app, "").await["data"][0]["cursor"], "3");
}

/// Several events about one entity written by one transaction (a PATCH adding members: each
/// `dsync.group.user_added` is about the group) come out of the feed in the order they were
/// recorded, with that entity's sequence numbers in the same order and without gaps. On
/// PostgreSQL they are written by one statement whose feed rows take their place in the write
/// order after a sort (`events::append_with_audit`).
async fn one_transactions_events_about_one_entity_keep_their_order(d: Dialect) {
    use crate::helpers::scim::{self, PATCH};
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let dir = scim::create_dir(&app, &org, "okta").await;
    let mut users = Vec::new();
    for i in 0..6 {
        users.push(scim::create_user(&app, &dir, &format!("u{i}@acme.test")).await);
    }
    let group = scim::create_group(&app, &dir, "Engineering", &[]).await;
    // Members listed in an order that is not the order of their ids.
    let order = [3, 0, 5, 1, 4, 2];
    let members: Vec<Value> = order.iter().map(|&i| json!({"value": users[i]})).collect();
    let r = scim::scim(
        &app,
        &dir,
        Method::PATCH,
        &format!("/Groups/{group}"),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": members}]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let page = feed(
        &app,
        &format!("organization_id={org}&types=dsync.group.user_added"),
    )
    .await;
    let events = page["data"].as_array().unwrap();
    assert_eq!(events.len(), 6, "{page}");
    let users_in_feed: Vec<&str> = events
        .iter()
        .map(|e| e["data"]["targets"][1]["id"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = order.iter().map(|&i| users[i].as_str()).collect();
    assert_eq!(users_in_feed, expected, "feed order is the recorded order");
    let cursors: Vec<i64> = events
        .iter()
        .map(|e| e["cursor"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(cursors.windows(2).all(|w| w[1] == w[0] + 1), "{cursors:?}");
    let first = events[0]["entity"]["sequence"].as_i64().unwrap();
    let sequences: Vec<i64> = events
        .iter()
        .map(|e| {
            assert_eq!(e["entity"]["id"], group.as_str());
            e["entity"]["sequence"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(sequences, (first..first + 6).collect::<Vec<_>>());
}

/// A SCIM create's membership snapshot is built from what the create wrote rather than read at
/// its commit (issue 17): it must be the row as committed, field for field (a user with names
/// and no email, whose address is its userName in lower case; a user with an email and no names).
async fn a_created_memberships_snapshot_is_the_row_as_committed(d: Dialect) {
    use crate::helpers::scim::{self, USER};
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let dir = scim::create_dir(&app, &org, "okta").await;
    let r = scim::scim(
        &app,
        &dir,
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER], "userName": "Dana.Scully@Acme.test", "name": {"givenName": "Dana", "familyName": "Scully"}, "active": true})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = scim::scim(
        &app,
        &dir,
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER], "userName": "fox@acme.test", "emails": [{"value": "fox@acme.test", "primary": true}], "active": true})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let page = feed(
        &app,
        &format!("organization_id={org}&types=membership.created"),
    )
    .await;
    let events = page["data"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{page}");
    app.state.db.caught_up().await;
    type Row = (
        String,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        String,
        String,
        Option<String>,
        i64,
        i64,
    );
    let rows: Vec<Row> =
        sqlx::query_as(
            "SELECT m.id, m.organization_id, m.user_id, u.email, u.first_name, u.last_name, m.role, m.state, \
             m.directory_id, m.created_at, m.updated_at FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.organization_id = $1 ORDER BY u.email",
        )
        .bind(&org)
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for (id, org_id, user_id, email, first, last, role, state, directory_id, created, updated) in
        rows
    {
        let e = events
            .iter()
            .find(|e| e["snapshot"]["membership"]["id"] == id.as_str())
            .unwrap_or_else(|| panic!("no membership.created with a snapshot of {id}: {page}"));
        assert_eq!(
            e["snapshot"],
            json!({"kind": "membership", "membership": {
                "id": id, "organization_id": org_id, "user_id": user_id, "email": email,
                "first_name": first, "last_name": last, "role": role, "state": state,
                "directory_id": directory_id, "created_at": created, "updated_at": updated,
            }}),
            "{email}"
        );
    }
}

crate::both_databases!(
    the_feed_is_ordered_filtered_and_sequenced_per_entity,
    a_created_memberships_snapshot_is_the_row_as_committed,
    one_transactions_events_about_one_entity_keep_their_order,
    a_poller_never_misses_an_event_under_concurrent_writers,
    events_past_the_retention_are_purged_and_old_cursors_get_410,
);
