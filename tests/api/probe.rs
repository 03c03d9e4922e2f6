//! Regression tests for the outside probe's findings (issue 24) on directory sync: one tenant's
//! group push cannot stall another tenant's writes, tokens never reach the SCIM request log, a
//! directory gives no access on another organization's verified domain, and the lifecycle gaps
//! an earlier review left open (a removed member restored, invitations surviving a directory's
//! suspension, a sign-in racing a suspension, a held removal never reconsidered).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};

use crate::helpers::scim::{create_dir, create_group, create_user, scim, Dir, GROUP, PATCH, USER};
use crate::helpers::VENDOR_CB;
use crate::helpers::{
    patch_policy, verified_domain, verified_domain_with_subdomains, Dialect, TestApp,
};

const HOUR: i64 = 3600 * 1000;
/// What happened while a directory's request ran and another tenant wrote meanwhile.
struct Contended {
    status: StatusCode,
    text: String,
    took: Duration,
    /// The other tenant's answers, one per vendor API write.
    others: Vec<StatusCode>,
    /// The other tenant's slowest write.
    slowest: Duration,
}

/// Sends a SCIM request while another tenant creates organizations through the vendor API, one
/// after the other (at least three), until the request has answered.
async fn while_another_tenant_writes(
    app: &Arc<TestApp>,
    d: &Dir,
    method: Method,
    path: &str,
    body: String,
) -> Contended {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let writer = {
        let app = app.clone();
        tokio::spawn(async move {
            let (mut others, mut slowest) = (Vec::new(), Duration::ZERO);
            while !*stopped.borrow() || others.len() < 3 {
                let started = Instant::now();
                let name = format!("Other {}", others.len());
                let r = app
                    .api(
                        Method::POST,
                        "/api/v1/organizations",
                        Some(json!({"name": name})),
                    )
                    .await;
                slowest = slowest.max(started.elapsed());
                others.push(r.status);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (others, slowest)
        })
    };
    use tower::ServiceExt as _;
    let started = Instant::now();
    let req = Request::builder()
        .method(method)
        .uri(format!("/scim/v2/{}{path}", d.id))
        .header(header::AUTHORIZATION, format!("Bearer {}", d.token))
        .header(header::CONTENT_TYPE, "application/scim+json")
        .body(Body::from(body))
        .unwrap();
    let resp = app.router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let took = started.elapsed();
    stop.send(true).unwrap();
    let (others, slowest) = writer.await.unwrap();
    Contended {
        status,
        text: String::from_utf8_lossy(&bytes).into_owned(),
        took,
        others,
        slowest,
    }
}

async fn a_huge_group_patch_is_refused_before_any_work(d: Dialect) {
    let app = Arc::new(TestApp::spawn(d).await);
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "okta").await;
    let g = create_group(&app, &dir, "Everyone", &[]).await;
    let members: Vec<Value> = (0..40_000)
        .map(|i| json!({"value": format!("01JUNKNOWN{i:016}")}))
        .collect();
    let body = json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": members}]})
        .to_string();
    assert!(body.len() > 1_500_000, "{} bytes", body.len());
    let c =
        while_another_tenant_writes(&app, &dir, Method::PATCH, &format!("/Groups/{g}"), body).await;
    assert_eq!(c.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", c.text);
    assert!(
        c.text.contains("40000 members") && c.text.contains("20000"),
        "{}",
        c.text
    );
    // Refused on the count, before reading a row: the probe saw 27 s of quadratic work. The
    // 100 ms target is measured on the release build by benches/scim_limits.sh; a debug build on
    // a busy machine gets a generous bound here.
    println!(
        "40,000-member PATCH refused in {:?}; other tenant: {} writes, slowest {:?}",
        c.took,
        c.others.len(),
        c.slowest
    );
    assert!(c.took < Duration::from_secs(3), "{:?}", c.took);
    assert!(
        c.others.iter().all(|s| *s == StatusCode::CREATED),
        "{:?}",
        c.others
    );
    // Nothing changed, and a PUT or POST with too many members is refused the same way.
    let r = scim(&app, &dir, Method::GET, &format!("/Groups/{g}"), None).await;
    assert!(
        r.json()["members"].as_array().is_none_or(Vec::is_empty),
        "{}",
        r.text()
    );
    let members: Vec<Value> = (0..20_001)
        .map(|i| json!({"value": format!("u{i}")}))
        .collect();
    for (method, path) in [
        (Method::PUT, format!("/Groups/{g}")),
        (Method::POST, "/Groups".into()),
    ] {
        let r = scim(
            &app,
            &dir,
            method,
            &path,
            Some(json!({"schemas": [GROUP], "displayName": "Big", "members": members})),
        )
        .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    }
    // More operations than a PATCH may carry, and a User body over its own limit.
    let ops: Vec<Value> = (0..1001)
        .map(|i| json!({"op": "add", "path": "members", "value": [{"value": format!("u{i}")}]}))
        .collect();
    let r = scim(
        &app,
        &dir,
        Method::PATCH,
        &format!("/Groups/{g}"),
        Some(json!({"schemas": [PATCH], "Operations": ops})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = scim(
        &app,
        &dir,
        Method::POST,
        "/Users",
        Some(json!({"userName": "big@acme.test", "nickName": "x".repeat(300 * 1024)})),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    assert!(r.text().contains("256 KiB"), "{}", r.text());
}

/// Directory users inserted straight into the table (the SCIM create path is tested elsewhere;
/// here only the group push matters).
async fn seed_users(app: &TestApp, org: &str, d: &Dir, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    let mut tx = app.state.db.pool.begin().await.unwrap();
    for i in 0..n {
        let id = format!("du_{i:06}");
        let name = format!("p{i}@acme.test");
        sqlx::query("INSERT INTO directory_users (id, directory_id, organization_id, user_name, user_name_key, email, active, resource, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $4, $4, 1, '{}', 1, 0, 0)")
            .bind(&id)
            .bind(&d.id)
            .bind(org)
            .bind(&name)
            .execute(&mut *tx)
            .await
            .unwrap();
        ids.push(id);
    }
    tx.commit().await.unwrap();
    ids
}

async fn a_large_group_push_is_applied_in_steps_while_other_tenants_write(d: Dialect) {
    let app = Arc::new(TestApp::spawn(d).await);
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "entra").await;
    let g = create_group(&app, &dir, "Everyone", &[]).await;
    let users = seed_users(&app, &org, &dir, 3000).await;
    let members: Vec<Value> = users.iter().map(|u| json!({"value": u})).collect();
    let body = json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": members}]})
        .to_string();
    let c =
        while_another_tenant_writes(&app, &dir, Method::PATCH, &format!("/Groups/{g}"), body).await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.text);
    println!(
        "3,000-member PATCH took {:?}; other tenant: {} writes meanwhile, slowest {:?}",
        c.took,
        c.others.len(),
        c.slowest
    );
    assert!(
        c.others.iter().all(|s| *s == StatusCode::CREATED),
        "{:?}",
        c.others
    );
    // The push did not hold the writer from start to end: other tenants' writes committed
    // between its steps (the events feed's cursor is the commit order).
    app.state.db.caught_up().await;
    let (first, last): (i64, i64) = sqlx::query_as(
        "SELECT MIN(cursor), MAX(cursor) FROM events WHERE organization_id = $1 AND type = 'dsync.group.user_added'",
    )
    .bind(&org)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    let between: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM events WHERE cursor > $1 AND cursor < $2 AND (organization_id IS NULL OR organization_id <> $3)",
    )
    .bind(first)
    .bind(last)
    .bind(&org)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert!(
        between > 0,
        "another tenant's write committed between the push's steps"
    );
    let r = scim(&app, &dir, Method::GET, &format!("/Groups/{g}"), None).await;
    assert_eq!(r.json()["members"].as_array().unwrap().len(), 3000);
    let events: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'dsync.group.user_added' AND organization_id = $1",
    )
    .bind(&org)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(events, 3000, "one event per member actually added");
    // Retrying the same push changes nothing and records nothing.
    let members: Vec<Value> = users.iter().map(|u| json!({"value": u})).collect();
    let r = scim(&app, &dir, Method::PATCH, &format!("/Groups/{g}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": members}]}))).await;
    assert_eq!(r.status, StatusCode::OK);
    let again: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'dsync.group.user_added' AND organization_id = $1",
    )
    .bind(&org)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(again, 3000);
    // Removing them all is stepped the same way; deleting the group too.
    let r = scim(&app, &dir, Method::PATCH, &format!("/Groups/{g}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "members", "value": []}]}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM directory_group_members WHERE group_id = $1")
            .bind(&g)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    assert_eq!(left, 0);
}

async fn a_token_in_a_scim_query_string_never_reaches_the_log_or_a_page(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "okta").await;
    // Some clients send the token in the query string too; a wrong one as well.
    for token in [dir.token.clone(), "lanyard_scim_wrongwrongwrong".to_owned()] {
        for q in [
            format!("?access_token={token}"),
            format!("?count=5&token={token}"),
            format!("?filter=userName%20eq%20%22{token}%22"),
        ] {
            let r = scim(&app, &dir, Method::GET, &format!("/Users{q}"), None).await;
            assert!(
                r.status.is_success() || r.status.is_client_error(),
                "{}",
                r.text()
            );
        }
    }
    app.state.scim_log.flush().await;
    let paths: Vec<String> = sqlx::query_scalar("SELECT path FROM scim_requests")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(paths.len(), 6, "{paths:?}");
    for p in &paths {
        assert!(!p.contains("lanyard_scim_"), "{p}");
        assert!(p.contains("[redacted]"), "{p}");
    }
    // A row written before redaction existed is redacted when shown.
    sqlx::query(
        "UPDATE scim_requests SET path = $1 WHERE id = (SELECT MIN(id) FROM scim_requests)",
    )
    .bind(format!(
        "/scim/v2/{}/Users?access_token={}",
        dir.id, dir.token
    ))
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    let cookie = app.redeem(&app.create_link(&org, &["dsync"]).await).await;
    let page = app
        .browser_get("/portal/directories", Some(&cookie))
        .await
        .text();
    assert!(page.contains("[redacted]"), "the log is on the page");
    assert!(
        !page.contains(&dir.token) && !page.contains("lanyard_scim_wrong"),
        "{page}"
    );
}

async fn a_directory_gives_no_access_on_another_organizations_verified_domain(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let beta = app.create_org("Beta").await;
    verified_domain(&app, &beta, "beta.test").await;
    let m = app.create_org("Mallory").await;
    let dir = create_dir(&app, &m, "generic_scim").await;
    // The simulator says so first.
    let sim = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{m}/policy/simulate"),
            Some(json!({"email": "ceo@beta.test", "path": {"kind": "directory", "directory_id": dir.id, "event": "create"}})),
        )
        .await
        .json();
    assert_eq!(sim["decision"], "deny", "{sim}");
    assert!(
        sim.to_string().contains("verified by another organization"),
        "{sim}"
    );
    let ceo = create_user(&app, &dir, "ceo@beta.test").await;
    let members = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{m}/memberships"),
            None,
        )
        .await
        .json();
    assert_eq!(members["data"].as_array().unwrap().len(), 0, "{members}");
    let created: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE organization_id = $1 AND action = 'membership.created'",
    )
    .bind(&m)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(created, 0, "the vendor hears of no membership");
    // Pushing the user again, or deactivating and reactivating them, changes nothing.
    for active in [false, true] {
        let r = scim(&app, &dir, Method::PATCH, &format!("/Users/{ceo}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": active}]}))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let members = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{m}/memberships"),
            None,
        )
        .await
        .json();
    assert_eq!(members["data"].as_array().unwrap().len(), 0, "{members}");
    // Someone the directory provisioned before Beta verified the domain shows up as drift, and
    // cannot be brought back once suspended.
    let early = app.create_org("Early").await;
    let edir = create_dir(&app, &early, "okta").await;
    let cfo = create_user(&app, &edir, "cfo@gamma.test").await;
    let gamma = app.create_org("Gamma").await;
    verified_domain(&app, &gamma, "gamma.test").await;
    let drift = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{early}/drift"),
            None,
        )
        .await
        .json();
    assert!(
        drift["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "domain_owned_elsewhere" && f["email"] == "cfo@gamma.test"),
        "{drift}"
    );
    for active in [false, true] {
        scim(&app, &edir, Method::PATCH, &format!("/Users/{cfo}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": active}]}))).await;
    }
    let state: String = sqlx::query_scalar(
        "SELECT m.state FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.organization_id = $1 AND u.email = 'cfo@gamma.test'",
    )
    .bind(&early)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(state, "suspended");
}

/// A SCIM create reads the policy's inputs in one statement (issue 17): the nearest verified
/// holder of the address's domain, a parent counting only when it includes subdomains, and a
/// member with the address, whom the directory user is linked to rather than a second user.
async fn a_scim_create_reads_the_nearest_holder_and_links_an_existing_member(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let beta = app.create_org("Beta").await;
    verified_domain_with_subdomains(&app, &beta, "beta.test").await;
    let gamma = app.create_org("Gamma").await;
    verified_domain(&app, &gamma, "gamma.test").await;
    let m = app.create_org("Mallory").await;
    verified_domain(&app, &m, "eu.gamma.test").await;
    let dir = create_dir(&app, &m, "generic_scim").await;
    let other = create_dir(&app, &m, "okta").await;
    // Beta's parent domain covers its subdomains; Gamma's does not, and Mallory holds the
    // nearer eu.gamma.test itself.
    for (email, access) in [
        ("ceo@eu.beta.test", false),
        ("cto@eu.gamma.test", true),
        ("cfo@us.gamma.test", true),
        ("ops@gamma.test", false),
    ] {
        create_user(&app, &dir, email).await;
        assert_eq!(
            member(&app, &m, email).await.is_some(),
            access,
            "{email}: access {access}"
        );
    }
    // The same person pushed by a second directory is linked, not created again.
    create_user(&app, &other, "cto@eu.gamma.test").await;
    let (users, linked): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM users WHERE organization_id = $1 AND email = 'cto@eu.gamma.test'), \
         (SELECT COUNT(DISTINCT user_id) FROM directory_users WHERE organization_id = $1 AND email = 'cto@eu.gamma.test')",
    )
    .bind(&m)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!((users, linked), (1, 1));
}

async fn member(app: &TestApp, org: &str, email: &str) -> Option<(String, String, String)> {
    sqlx::query_as(
        "SELECT m.id, m.role, m.state FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.organization_id = $1 AND u.email = $2",
    )
    .bind(org)
    .bind(email)
    .fetch_optional(&app.state.db.pool)
    .await
    .unwrap()
}

async fn set_active(app: &TestApp, dir: &Dir, user: &str, active: bool) {
    let r = scim(app, dir, Method::PATCH, &format!("/Users/{user}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": active}]}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

async fn a_directory_restores_only_what_it_suspended(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "okta").await;
    // Removed by the policy after the directory deactivated her: a later push brings nothing back.
    patch_policy(
        &app,
        &org,
        json!({"directory_deactivation": "remove", "removal_grace_days": 0}),
    )
    .await;
    let dana = create_user(&app, &dir, "dana@acme.test").await;
    set_active(&app, &dir, &dana, false).await;
    assert_eq!(
        member(&app, &org, "dana@acme.test").await.unwrap().2,
        "removed"
    );
    set_active(&app, &dir, &dana, true).await;
    assert_eq!(
        member(&app, &org, "dana@acme.test").await.unwrap().2,
        "removed",
        "a removed membership is not restored by the directory"
    );
    let sim = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{org}/policy/simulate"),
            Some(json!({"email": "dana@acme.test", "path": {"kind": "directory", "directory_id": dir.id, "event": "create"}})),
        )
        .await
        .json();
    assert_eq!(sim["decision"], "deny", "the simulator agrees: {sim}");
    // Suspended by an admin while the directory manages her: the directory's next push (she is
    // still active there) does not undo the admin's decision.
    patch_policy(&app, &org, json!({"directory_deactivation": "suspend"})).await;
    let erin = create_user(&app, &dir, "erin@acme.test").await;
    let (em, _, _) = member(&app, &org, "erin@acme.test").await.unwrap();
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/memberships/{em}"),
            Some(json!({"state": "suspended"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    set_active(&app, &dir, &erin, true).await;
    let r = scim(&app, &dir, Method::PUT, &format!("/Users/{erin}"), Some(json!({"schemas": [USER], "userName": "erin@acme.test", "active": true, "displayName": "Erin"}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        member(&app, &org, "erin@acme.test").await.unwrap().2,
        "suspended"
    );
    // What the directory itself suspended, it restores.
    let finn = create_user(&app, &dir, "finn@acme.test").await;
    set_active(&app, &dir, &finn, false).await;
    set_active(&app, &dir, &finn, true).await;
    assert_eq!(
        member(&app, &org, "finn@acme.test").await.unwrap().2,
        "active"
    );
}

async fn a_directory_suspension_revokes_pending_invitations(d: Dialect) {
    let app = TestApp::spawn_with(d, &[("LANYARD_REDIRECT_URIS", VENDOR_CB)]).await;
    let org = app.create_org("Acme").await;
    // Bob is invited, then joins through a (non-authoritative) directory before accepting; the
    // directory then deactivates him.
    let r = app
        .api(
            Method::POST,
            "/api/v1/invitations",
            Some(json!({"organization_id": org, "email": "bob@example.com", "role": "admin"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let inv = r.json();
    let id = inv["id"].as_str().unwrap().to_owned();
    let path = inv["accept_url"].as_str().unwrap()["http://127.0.0.1:3000".len()..].to_owned();
    let dir = create_dir(&app, &org, "okta").await;
    let bob = create_user(&app, &dir, "bob@example.com").await;
    set_active(&app, &dir, &bob, false).await;
    let state = app
        .api(Method::GET, &format!("/api/v1/invitations/{id}"), None)
        .await
        .json()["state"]
        .clone();
    assert_eq!(state, "revoked");
    // The old link cannot undo the deprovisioning.
    assert_eq!(
        app.browser_post(&path, "", None).await.status,
        StatusCode::GONE
    );
    assert_eq!(
        member(&app, &org, "bob@example.com").await.unwrap().2,
        "suspended"
    );
}

async fn a_removal_held_for_the_last_admin_happens_once_another_admin_exists(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "okta").await;
    patch_policy(
        &app,
        &org,
        json!({"directory_deactivation": "remove", "removal_grace_days": 0, "protect_last_admin": true, "default_role": "admin"}),
    )
    .await;
    let ann = create_user(&app, &dir, "ann@acme.test").await;
    patch_policy(&app, &org, json!({"default_role": "member"})).await;
    set_active(&app, &dir, &ann, false).await;
    assert_eq!(
        member(&app, &org, "ann@acme.test").await.unwrap().2,
        "suspended",
        "held: the last admin"
    );
    let skipped = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM audit_events WHERE organization_id = $1 AND action = 'membership.removal_skipped'",
        )
        .bind(&org)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
    };
    // Looked at again while she is still the last admin: held, and the skip is recorded once.
    for _ in 0..3 {
        app.state.clock.advance(2 * HOUR);
        lanyard::server::service::directories::remove_due(&app.state)
            .await
            .unwrap();
        assert_eq!(
            member(&app, &org, "ann@acme.test").await.unwrap().2,
            "suspended"
        );
    }
    assert_eq!(skipped().await, 1);
    // Another admin joins: the held removal now happens.
    patch_policy(&app, &org, json!({"default_role": "admin"})).await;
    create_user(&app, &dir, "ben@acme.test").await;
    assert_eq!(
        member(&app, &org, "ben@acme.test").await.unwrap().1,
        "admin"
    );
    app.state.clock.advance(2 * HOUR);
    let removed = lanyard::server::service::directories::remove_due(&app.state)
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert_eq!(
        member(&app, &org, "ann@acme.test").await.unwrap().2,
        "removed"
    );
}

async fn a_sign_in_racing_a_suspension_is_refused(d: Dialect) {
    use crate::helpers::oidc::{org_with_connection, setup, sign_in};
    let (app, op) = setup(d).await;
    let app = Arc::new(app);
    let (org, _) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    op.next_account(json!({"sub": "kim-1", "email": "kim@acme.test", "email_verified": true}))
        .await;
    let first = sign_in(&app, &op, &format!("organization={org}")).await;
    assert!(crate::helpers::param(&first, "code").is_some(), "{first}");
    let (m, _, _) = member(&app, &org, "kim@acme.test").await.unwrap();
    // Kim signs in again; her callback reaches Lanyard while a suspension of her membership is
    // being written (and commits half a second later).
    op.next_account(json!({"sub": "kim-1", "email": "kim@acme.test", "email_verified": true}))
        .await;
    let r = app
        .browser_get(
            &format!("/sso/authorize?organization={org}&redirect_uri={VENDOR_CB}&state=s"),
            None,
        )
        .await;
    let callback = op.browse_to_callback(&r.header("location").unwrap()).await;
    let mut suspension = app.state.db.pool.begin().await.unwrap();
    sqlx::query("UPDATE memberships SET state = 'suspended' WHERE id = $1")
        .bind(&m)
        .execute(&mut *suspension)
        .await
        .unwrap();
    let signing_in = {
        let app = app.clone();
        tokio::spawn(async move { app.browser_get(&callback, None).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    suspension.commit().await.unwrap();
    let r = signing_in.await.unwrap();
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let to = url::Url::parse(&r.header("location").unwrap()).unwrap();
    assert!(
        crate::helpers::param(&to, "code").is_none(),
        "no code for a suspended member: {to}"
    );
    assert_eq!(
        crate::helpers::param(&to, "error").as_deref(),
        Some("access_denied"),
        "{to}"
    );
}

// On SQLite every write transaction holds the whole database from its first statement, so the
// race exists only on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_sign_in_racing_a_suspension_is_refused() {
    a_sign_in_racing_a_suspension_is_refused(Dialect::Postgres).await
}

/// The second probe's bypasses: work hidden in path-less keys, long filters over a large group,
/// a User growing push after push, the Group schema's URN in front of `members`, and read-only
/// filters with hundreds of terms. Each is refused before it can hold the writer.
async fn crafted_patches_and_filters_are_bounded(d: Dialect) {
    let app = Arc::new(TestApp::spawn(d).await);
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "okta").await;
    let g = create_group(&app, &dir, "Everyone", &[]).await;
    let users = seed_users(&app, &org, &dir, 3000).await;
    let mut tx = app.state.db.pool.begin().await.unwrap();
    for u in &users {
        sqlx::query("INSERT INTO directory_group_members (group_id, user_id, directory_id, created_at) VALUES ($1, $2, $3, 0)")
            .bind(&g)
            .bind(u)
            .bind(&dir.id)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let path = format!("/Groups/{g}");
    // 5,000 `members[value eq "…"]` keys in one path-less replace: each key is an operation.
    let keys: serde_json::Map<String, Value> = (0..5000)
        .map(|i| {
            (
                format!("members[value eq \"dusr_{i:020}\"]"),
                json!({"display": "x"}),
            )
        })
        .collect();
    let body = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": keys}]});
    let c = while_another_tenant_writes(&app, &dir, Method::PATCH, &path, body.to_string()).await;
    assert_eq!(c.status, StatusCode::BAD_REQUEST, "{}", c.text);
    assert!(
        c.text.contains("5000") && c.text.contains("1000"),
        "{}",
        c.text
    );
    assert!(
        c.others.iter().all(|s| *s == StatusCode::CREATED),
        "{:?}",
        c.others
    );
    // Operations whose filters, over 3,000 members, would compare far too many values.
    let long = (0..31)
        .map(|i| format!("value eq \"zz{i}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    let ops: Vec<Value> = (0..200)
        .map(|_| json!({"op": "replace", "path": format!("members[not ({long})].display"), "value": "x"}))
        .collect();
    let body = json!({"schemas": [PATCH], "Operations": ops});
    let c = while_another_tenant_writes(&app, &dir, Method::PATCH, &path, body.to_string()).await;
    assert_eq!(c.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", c.text);
    assert!(c.text.contains("tooMany"), "{}", c.text);
    println!("over-budget PATCH refused in {:?}", c.took);
    assert!(
        c.others.iter().all(|s| *s == StatusCode::CREATED),
        "{:?}",
        c.others
    );
    // A filter with hundreds of terms is refused outright, in a PATCH path and in a list.
    let huge = (0..180)
        .map(|i| format!("title co \"zz{i}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    let r = scim(&app, &dir, Method::PATCH, &path, Some(json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": format!("members[{huge}]")}]}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let q: String = url::form_urlencoded::byte_serialize(huge.as_bytes()).collect();
    let r = scim(&app, &dir, Method::GET, &format!("/Users?filter={q}"), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("invalidFilter"), "{}", r.text());
    let r = scim(
        &app,
        &dir,
        Method::GET,
        "/Users?filter=userName%20eq%20%22a%00b%22",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    // The Group schema's URN in front of `members` is counted like `members`.
    let many: Vec<Value> = (0..20_001)
        .map(|i| json!({"value": format!("u{i}")}))
        .collect();
    let r = scim(&app, &dir, Method::PATCH, &path, Some(json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:Group:members", "value": many}]}))).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM directory_group_members WHERE group_id = $1")
            .bind(&g)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    assert_eq!(left, 3000, "nothing changed");
    // Every limit met (20,000 counted members, 1,000 operations), but each one-value add would
    // rebuild the whole list: the work budget stops it.
    let mut ops = vec![
        json!({"op": "add", "path": "members", "value": (0..19_001).map(|i| json!({"value": format!("x{i}")})).collect::<Vec<_>>()}),
    ];
    ops.extend(
        (0..999).map(
            |i| json!({"op": "add", "path": "members", "value": [{"value": format!("y{i}")}]}),
        ),
    );
    let r = scim(
        &app,
        &dir,
        Method::PATCH,
        &path,
        Some(json!({"schemas": [PATCH], "Operations": ops})),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    // Members hidden in other shapes are counted once the PATCH is applied.
    let many: Vec<Value> = (0..20_001)
        .map(|i| json!({"value": format!("z{i}")}))
        .collect();
    for op in [
        json!({"op": "add", "value": {"urn:ietf:params:scim:schemas:core:2.0:Group": {"members": many}}}),
        json!({"op": "add", "value": {"Members ": many}}),
        json!({"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:Group", "value": {"members": many}}),
    ] {
        let r = scim(
            &app,
            &dir,
            Method::PATCH,
            &path,
            Some(json!({"schemas": [PATCH], "Operations": [op]})),
        )
        .await;
        assert!(
            r.status == StatusCode::PAYLOAD_TOO_LARGE || r.status == StatusCode::BAD_REQUEST,
            "{}",
            r.text()
        );
        assert!(
            !r.text().contains("not a User of this directory"),
            "refused before the members are looked up: {}",
            r.text()
        );
    }
    // A User cannot grow push after push: at most 100 values per multi-valued attribute.
    let u = create_user(&app, &dir, "grow@acme.test").await;
    let emails: serde_json::Map<String, Value> = (0..101)
        .map(|i| {
            (
                format!("emails[value eq \"r{i}@acme.test\"].type"),
                json!("work"),
            )
        })
        .collect();
    let r = scim(
        &app,
        &dir,
        Method::PATCH,
        &format!("/Users/{u}"),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "add", "value": emails}]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("at most 100"), "{}", r.text());
    // …nor through attributes it does not know inside `name` or an email: the size bounds it.
    let r = scim(&app, &dir, Method::PATCH, &format!("/Users/{u}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "name.extra", "value": "x".repeat(70 * 1024)}]}))).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
}

async fn a_directory_gives_no_access_to_an_address_without_a_readable_domain(d: Dialect) {
    let app = TestApp::spawn(d).await;
    verified_domain(&app, &app.create_org("Beta").await, "beta.test").await;
    let m = app.create_org("Mallory").await;
    let dir = create_dir(&app, &m, "generic_scim").await;
    for name in [
        "a1@beta.test>",
        "a2@beta.test:443",
        "a3@beta.test/",
        "a4@[beta.test]",
        "a5@beta..test",
        "a6@beta .test",
        "a7@beta.test\u{0}",
        "plainname",
        "a8@beta.test@free.test",
        "\"a9@beta.test\"@free.test",
    ] {
        let r = scim(
            &app,
            &dir,
            Method::POST,
            "/Users",
            Some(json!({"userName": name, "active": true})),
        )
        .await;
        assert!(
            r.status == StatusCode::CREATED || r.status == StatusCode::BAD_REQUEST,
            "{name}: {}",
            r.text()
        );
    }
    let members = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{m}/memberships"),
            None,
        )
        .await
        .json();
    assert_eq!(members["data"].as_array().unwrap().len(), 0, "{members}");
}

async fn secrets_outside_json_values_never_reach_the_scim_log(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "okta").await;
    for body in [
        format!("token={}&x=1", app.key),
        format!("{{\"userName\":\"a@acme.test\"}} {}", dir.token),
        format!("{{\"{}\":1,\"userName\":\"b@acme.test\"}}", app.key),
    ] {
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("/scim/v2/{}/Users", dir.id))
            .header(header::AUTHORIZATION, format!("Bearer {}", dir.token))
            .header(header::CONTENT_TYPE, "application/scim+json")
            .body(Body::from(body))
            .unwrap();
        app.send(req).await;
    }
    app.state.scim_log.flush().await;
    let all: Vec<String> = sqlx::query_scalar(
        "SELECT path || COALESCE(request_body, '') || COALESCE(response_body, '') FROM scim_requests",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(all.len(), 3);
    for row in &all {
        assert!(
            !row.contains(&app.key) && !row.contains(&dir.token),
            "{row}"
        );
    }
}

crate::both_databases!(
    a_huge_group_patch_is_refused_before_any_work,
    a_large_group_push_is_applied_in_steps_while_other_tenants_write,
    a_token_in_a_scim_query_string_never_reaches_the_log_or_a_page,
    a_directory_gives_no_access_on_another_organizations_verified_domain,
    a_scim_create_reads_the_nearest_holder_and_links_an_existing_member,
    a_directory_restores_only_what_it_suspended,
    a_directory_suspension_revokes_pending_invitations,
    a_removal_held_for_the_last_admin_happens_once_another_admin_exists,
    crafted_patches_and_filters_are_bounded,
    a_directory_gives_no_access_to_an_address_without_a_readable_domain,
    secrets_outside_json_values_never_reach_the_scim_log,
);
