//! PostgreSQL: SCIM user creates of concurrent requests written in one transaction (issue 17,
//! docs/decisions/0004-postgres-create-batching.md). Each test holds the directory's row locked
//! as a deletion does, so that the creates it sends wait together and the workers take them
//! as one batch when it lets go; then it checks that every create is answered and written as
//! it would be alone.

use axum::body::Body;
use axum::http::{header, Method, Request};
use serde_json::{json, Value};
use sqlx::Connection as _;

use crate::helpers::scim::{create_dir, create_user, Dir, USER};
use crate::helpers::{verified_domain_with_subdomains, Dialect, TestApp};

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

/// Batches rolled back for anything but waiting: a busy machine may hold the test's lock past
/// the batch's lock timeout (1 s), and such a batch is rolled back and written alone, rightly.
fn failed(c: lanyard::server::service::scim::BatchCounts) -> u64 {
    c.rolled_back - c.gave_up_waiting
}

fn batcher(app: &TestApp) -> &lanyard::server::service::scim::CreateBatcher {
    app.state
        .scim_creates
        .as_ref()
        .expect("PostgreSQL batches SCIM creates")
}

/// An audit row's id, chain, actor, user agent and request id.
type AuditOf = (String, String, String, Option<String>, Option<String>);

/// One create to send: its directory, its body and the user agent it is sent with.
struct Send {
    dir: Dir,
    body: Value,
    user_agent: String,
}

/// What a create was answered: status, body and the request id Lanyard gave it.
struct Answered {
    status: u16,
    body: Value,
    request_id: String,
}

/// Sends `sends` as concurrent user creates while another connection holds the rows of
/// `locked` directories `FOR UPDATE` (as a deletion does before it reads the directory's
/// users); once every create is with the workers (waiting on that lock, or queued behind it),
/// runs `then` (bound: now, the first directory's id) in the locking transaction and commits it.
async fn creates_behind_locks(
    app: &TestApp,
    locked: &[&Dir],
    sends: Vec<Send>,
    then: Option<&str>,
) -> Vec<Answered> {
    let mut lock = sqlx::AnyConnection::connect(&app.state.config.database_url)
        .await
        .unwrap();
    let mut tx = lock.begin().await.unwrap();
    for dir in locked {
        sqlx::query("SELECT id FROM directories WHERE id = $1 FOR UPDATE")
            .bind(&dir.id)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    }
    let before = batcher(app).counts().submitted;
    let n = sends.len() as u64;
    // One at a time, each once the one before is with the workers: they queue in `sends`' order
    // (the first ones are taken alone by the idle workers, which then wait on the lock; the rest
    // make one batch when the lock is let go). Not answered before the lock is let go.
    let mut tasks = Vec::new();
    for s in sends {
        let sent = before + tasks.len() as u64 + 1;
        tasks.push(spawn_create(app, s));
        for _ in 0..5000 {
            if batcher(app).counts().submitted >= sent {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }
    assert_eq!(
        batcher(app).counts().submitted - before,
        n,
        "every create reached the workers"
    );
    if let Some(sql) = then {
        sqlx::query(sql)
            .bind(app.state.clock.now())
            .bind(&locked[0].id)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let mut answered = Vec::new();
    for t in tasks {
        answered.push(t.await.unwrap());
    }
    answered
}

/// Sends a create, in a task of its own.
fn spawn_create(app: &TestApp, s: Send) -> tokio::task::JoinHandle<Answered> {
    let router = app.router.clone();
    tokio::spawn(async move {
        use tower::ServiceExt as _;
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("/scim/v2/{}/Users", s.dir.id))
            .header(header::AUTHORIZATION, format!("Bearer {}", s.dir.token))
            .header(header::USER_AGENT, s.user_agent)
            .body(Body::from(s.body.to_string()))
            .unwrap();
        let r = router.oneshot(req).await.unwrap();
        let status = r.status().as_u16();
        let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answered {
            status,
            body,
            request_id,
        }
    })
}

/// [`creates_behind_locks`] of `bodies` into one directory, locked: the statuses, sorted.
async fn creates_behind_a_lock(
    app: &TestApp,
    dir: &Dir,
    bodies: Vec<Value>,
    then: Option<&str>,
) -> Vec<u16> {
    let sends = bodies
        .into_iter()
        .map(|body| Send {
            dir: dir.clone(),
            body,
            user_agent: "idp".into(),
        })
        .collect();
    let mut statuses: Vec<u16> = creates_behind_locks(app, &[dir], sends, then)
        .await
        .into_iter()
        .map(|a| a.status)
        .collect();
    statuses.sort();
    statuses
}

fn user(name: &str, email: &str) -> Value {
    json!({"schemas": [USER], "userName": name, "active": true,
           "name": {"givenName": "Pat", "familyName": name},
           "emails": [{"value": email, "primary": true, "type": "work"}]})
}

/// A retried create in a batch fails the batch's one statement on the userName's unique index:
/// nothing of the batch is written, and each create is then written alone. Every new user is
/// answered 201 and written once, with one audit event and one feed event; the retry is 409.
async fn a_batch_holding_a_retried_create_answers_each_as_alone(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "entra").await;
    create_user(&app, &dir, "taken@acme.test").await;
    let before = batcher(&app).counts();
    let mut bodies: Vec<Value> = (0..15)
        .map(|i| user(&format!("new{i}@acme.test"), &format!("new{i}@acme.test")))
        .collect();
    bodies.insert(7, user("TAKEN@acme.test", "taken@acme.test"));
    let statuses = creates_behind_a_lock(&app, &dir, bodies, None).await;
    let mut expected = vec![201; 15];
    expected.push(409);
    assert_eq!(statuses, expected);
    let after = batcher(&app).counts();
    assert!(
        after.largest >= 4,
        "the waiting creates were batched: {after:?}"
    );
    assert!(
        after.rolled_back > before.rolled_back,
        "the retried create's batch was rolled back: {after:?}"
    );
    for (table, n) in [("directory_users", 16), ("users", 16), ("memberships", 16)] {
        assert_eq!(
            count(&app, &format!("SELECT COUNT(*) FROM {table}")).await,
            n,
            "{table}"
        );
    }
    // One creation event per directory user, naming it, in the audit log and the feed.
    let per_user = count(
        &app,
        "SELECT COUNT(*) FROM directory_users d WHERE (SELECT COUNT(*) FROM audit_events a \
         WHERE a.action = 'dsync.user.created' AND a.targets LIKE '%' || d.id || '%') = 1",
    )
    .await;
    assert_eq!(per_user, 16);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_events WHERE action = 'dsync.user.created'"
        )
        .await,
        16
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM events WHERE type = 'dsync.user.created'"
        )
        .await,
        16
    );
    app.state.db.caught_up().await;
    let mut conn = app.state.db.pool.acquire().await.unwrap();
    let report = lanyard::server::audit::verify_chain(&mut conn, &org)
        .await
        .unwrap();
    assert_eq!(report.first_broken, None);
    assert!(report.events_checked >= 32, "{report:?}");
}

/// Creates of one address (different userNames) never share a batch: in one the second would not
/// see the first's organization user and would fail the batch. In a later batch it links to it.
async fn creates_of_one_address_go_to_separate_batches(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "okta").await;
    let before = batcher(&app).counts();
    let bodies = (0..12)
        .map(|i| user(&format!("login{i}"), &format!("person{}@acme.test", i % 6)))
        .collect();
    let statuses = creates_behind_a_lock(&app, &dir, bodies, None).await;
    assert_eq!(statuses, vec![201; 12]);
    let after = batcher(&app).counts();
    assert!(
        after.largest >= 2,
        "the waiting creates were batched (same-address creates are written one at a time, so batches here stay small): {after:?}"
    );
    assert_eq!(failed(after), failed(before), "no batch failed: {after:?}");
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM directory_users").await,
        12
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, 6);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM memberships").await, 6);
    assert_eq!(
        count(&app, "SELECT COUNT(DISTINCT user_id) FROM directory_users").await,
        6
    );
}

/// A directory deleted while a batch of creates waits for its row: the batch reads it deleted
/// (its read takes the row key-share-locked), and no user of the batch is written.
async fn a_directory_deleted_while_a_batch_waits_gets_none_of_it(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "okta").await;
    let bodies = (0..10)
        .map(|i| user(&format!("late{i}@acme.test"), &format!("late{i}@acme.test")))
        .collect();
    let statuses = creates_behind_a_lock(
        &app,
        &dir,
        bodies,
        Some("UPDATE directories SET deleted_at = $1 WHERE id = $2"),
    )
    .await;
    assert_eq!(statuses, vec![401; 10]);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM directory_users").await, 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, 0);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_events WHERE action = 'dsync.user.created'"
        )
        .await,
        0
    );
}

/// Creates of two organizations' directories in one batch: each directory user, organization
/// user, membership, audit event and feed event is its own request's, in its own organization,
/// with its own actor, user agent and request id.
async fn a_batch_of_two_tenants_keeps_each_create_its_own(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let acme = app.create_org("Acme").await;
    let globex = app.create_org("Globex").await;
    let (a, g) = (
        create_dir(&app, &acme, "okta").await,
        create_dir(&app, &globex, "entra").await,
    );
    let before = batcher(&app).counts();
    let sends: Vec<Send> = (0..14)
        .map(|i| {
            let (dir, domain) = if i % 2 == 0 {
                (&a, "acme.test")
            } else {
                (&g, "globex.test")
            };
            let email = format!("p{i}@{domain}");
            Send {
                dir: dir.clone(),
                body: user(&email, &email),
                user_agent: format!("agent-{i}"),
            }
        })
        .collect();
    let expected: Vec<(String, String, String, String)> = sends
        .iter()
        .map(|s| {
            let org = if s.dir.id == a.id { &acme } else { &globex };
            (
                s.dir.id.clone(),
                org.clone(),
                s.body["userName"].as_str().unwrap().to_owned(),
                s.user_agent.clone(),
            )
        })
        .collect();
    let answered = creates_behind_locks(&app, &[&a, &g], sends, None).await;
    let after = batcher(&app).counts();
    assert!(
        after.largest >= 4,
        "the waiting creates were batched: {after:?}"
    );
    assert_eq!(failed(after), failed(before), "{after:?}");
    for (answer, (dir, org, email, agent)) in answered.iter().zip(&expected) {
        assert_eq!(answer.status, 201, "{}", answer.body);
        let id = answer.body["id"].as_str().unwrap();
        let (row_dir, row_org, user_id): (String, String, String) = sqlx::query_as(
            "SELECT directory_id, organization_id, user_id FROM directory_users WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
        assert_eq!((&row_dir, &row_org), (dir, org));
        let (user_org, user_email): (String, String) =
            sqlx::query_as("SELECT organization_id, email FROM users WHERE id = $1")
                .bind(&user_id)
                .fetch_one(&app.state.db.pool)
                .await
                .unwrap();
        assert_eq!((&user_org, &user_email), (org, email));
        let member: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM memberships WHERE user_id = $1 AND organization_id = $2 AND directory_id = $3",
        )
        .bind(&user_id)
        .bind(org)
        .bind(dir)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
        assert_eq!(member, 1, "{email}");
        let audit: Vec<AuditOf> = sqlx::query_as(
            "SELECT id, chain_key, actor_id, user_agent, request_id FROM audit_events \
             WHERE action = 'dsync.user.created' AND targets LIKE '%' || $1 || '%'",
        )
        .bind(id)
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
        assert_eq!(audit.len(), 1, "{email}");
        let (event, chain, actor, ua, rid) = &audit[0];
        assert_eq!(chain, org);
        assert_eq!(actor, dir);
        assert_eq!(ua.as_deref(), Some(agent.as_str()));
        assert_eq!(rid.as_deref(), Some(answer.request_id.as_str()));
        let (feed_org, snapshot): (Option<String>, Option<String>) = sqlx::query_as(
            "SELECT organization_id, snapshot FROM events WHERE audit_event_id = $1",
        )
        .bind(event)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
        assert_eq!(feed_org.as_deref(), Some(org.as_str()));
        assert!(
            snapshot.is_some_and(|s| s.contains(id) && s.contains(email.as_str())),
            "the feed event carries its own user"
        );
    }
    app.state.db.caught_up().await;
    let mut conn = app.state.db.pool.acquire().await.unwrap();
    for org in [&acme, &globex] {
        let report = lanyard::server::audit::verify_chain(&mut conn, org)
            .await
            .unwrap();
        assert_eq!(report.first_broken, None);
    }
}

/// A directory user linked to a member another directory of the organization brought: the
/// membership event carries the membership as the batch leaves it (read at the commit, after
/// the batch's writes); the batch is not rolled back for it.
async fn a_batch_links_members_another_directory_brought(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let first = create_dir(&app, &org, "okta").await;
    for i in 0..4 {
        create_user(&app, &first, &format!("pat{i}@acme.test")).await;
    }
    let second = create_dir(&app, &org, "entra").await;
    let without = "SELECT COUNT(*) FROM events WHERE snapshot IS NULL";
    let without_before = count(&app, without).await;
    let before = batcher(&app).counts();
    let bodies = (0..10)
        .map(|i| user(&format!("e{i}"), &format!("pat{i}@acme.test")))
        .collect();
    let statuses = creates_behind_a_lock(&app, &second, bodies, None).await;
    assert_eq!(statuses, vec![201; 10]);
    let after = batcher(&app).counts();
    assert!(after.largest >= 3, "{after:?}");
    assert_eq!(failed(after), failed(before), "{after:?}");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, 10);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM memberships").await, 10);
    let linked = format!(
        "SELECT COUNT(*) FROM directory_users s JOIN directory_users f ON f.user_id = s.user_id \
         WHERE s.directory_id = '{}' AND f.directory_id = '{}'",
        second.id, first.id
    );
    assert_eq!(count(&app, &linked).await, 4);
    // Every event of the batch carries its snapshot, the linked members' included.
    assert_eq!(count(&app, without).await, without_before);
}

/// One tenant's directory row held (its deletion suspending a large directory holds it for
/// seconds): another tenant's creates batched with its creates wait 1 s at most (the batch's
/// lock timeout), then are written alone, while the held directory's creates still wait.
async fn a_directory_held_by_its_deletion_holds_no_other_tenant(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let acme = app.create_org("Acme").await;
    let globex = app.create_org("Globex").await;
    let (a, g) = (
        create_dir(&app, &acme, "okta").await,
        create_dir(&app, &globex, "okta").await,
    );
    let mut lock = sqlx::AnyConnection::connect(&app.state.config.database_url)
        .await
        .unwrap();
    let mut tx = lock.begin().await.unwrap();
    sqlx::query("SELECT id FROM directories WHERE id = $1 FOR UPDATE")
        .bind(&a.id)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let mut held = Vec::new();
    let mut free = Vec::new();
    for i in 0..8 {
        for (dir, domain, into) in [(&a, "acme.test", &mut held), (&g, "globex.test", &mut free)] {
            let email = format!("p{i}@{domain}");
            into.push(spawn_create(
                &app,
                Send {
                    dir: dir.clone(),
                    body: user(&email, &email),
                    user_agent: "idp".into(),
                },
            ));
        }
    }
    // Globex's creates are answered while Acme's row is still held (10 s is the margin; the
    // batch gives up on the lock after 1 s).
    let started = std::time::Instant::now();
    for t in free {
        let answered = tokio::time::timeout(std::time::Duration::from_secs(10), t)
            .await
            .expect("another tenant's create waited on Acme's row")
            .unwrap();
        assert_eq!(answered.status, 201, "{}", answered.body);
    }
    assert!(
        held.iter().all(|t| !t.is_finished()),
        "Acme's creates wait for its row (Globex's took {:?})",
        started.elapsed()
    );
    tx.commit().await.unwrap();
    for t in held {
        assert_eq!(t.await.unwrap().status, 201);
    }
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM directory_users").await,
        16
    );
}

/// One batch of creates whose reads differ in shape (issue 17: the batch reads every job's
/// directory, domain holder and member in one statement): an address on this organization's
/// domain, one on another organization's verified domain, one on a subdomain of it (covered
/// through its parent), one that is no address at all (fail closed: no access), and creates into
/// a directory deleted while the batch waits. Each create is answered, and given access or not,
/// by its own read: only the addresses on Acme's domain become active members; the deleted
/// directory's creates are refused and write nothing.
async fn a_batch_of_mixed_reads_answers_each_by_its_own(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let acme = app.create_org("Acme").await;
    let globex = app.create_org("Globex").await;
    let initech = app.create_org("Initech").await;
    verified_domain_with_subdomains(&app, &globex, "globex.test").await;
    let (a, gone) = (
        create_dir(&app, &acme, "okta").await,
        create_dir(&app, &initech, "okta").await,
    );
    let before = batcher(&app).counts();
    let plain = json!({"schemas": [USER], "userName": "plainlogin", "active": true});
    // The first two are each taken alone by an idle worker; the rest queue in this order and
    // make one batch, the deleted directory's creates between the others.
    let bodies: Vec<(&Dir, Value)> = vec![
        (&a, user("first@acme.test", "first@acme.test")),
        (&a, user("second@acme.test", "second@acme.test")),
        (&a, user("p1@acme.test", "p1@acme.test")),
        (&gone, user("q1@initech.test", "q1@initech.test")),
        (&a, user("p2@eu.globex.test", "p2@eu.globex.test")),
        (&a, plain),
        (&gone, user("q2@initech.test", "q2@initech.test")),
        (&a, user("p4@globex.test", "p4@globex.test")),
        (&a, user("p5@acme.test", "p5@acme.test")),
    ];
    let sends = bodies
        .into_iter()
        .map(|(dir, body)| Send {
            dir: dir.clone(),
            body,
            user_agent: "idp".into(),
        })
        .collect();
    let answered = creates_behind_locks(
        &app,
        &[&gone, &a],
        sends,
        Some("UPDATE directories SET deleted_at = $1 WHERE id = $2"),
    )
    .await;
    let statuses: Vec<u16> = answered.iter().map(|a| a.status).collect();
    assert_eq!(statuses, vec![201, 201, 201, 401, 201, 201, 401, 201, 201]);
    let after = batcher(&app).counts();
    assert!(
        after.largest >= 4,
        "the waiting creates were batched: {after:?}"
    );
    assert_eq!(failed(after), failed(before), "no batch failed: {after:?}");
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) FROM directory_users WHERE directory_id = '{}'",
                a.id
            )
        )
        .await,
        7
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT COUNT(*) FROM directory_users WHERE directory_id = '{}'",
                gone.id
            )
        )
        .await,
        0
    );
    let mut members: Vec<String> = sqlx::query_scalar(
        "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.directory_id = $1 AND m.state = 'active' ORDER BY u.email",
    )
    .bind(&a.id)
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    members.sort();
    assert_eq!(
        members,
        [
            "first@acme.test",
            "p1@acme.test",
            "p5@acme.test",
            "second@acme.test"
        ]
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_events WHERE action = 'dsync.user.created'"
        )
        .await,
        7
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_batch_of_mixed_reads_answers_each_by_its_own() {
    a_batch_of_mixed_reads_answers_each_by_its_own(Dialect::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_directory_held_by_its_deletion_holds_no_other_tenant() {
    a_directory_held_by_its_deletion_holds_no_other_tenant(Dialect::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_batch_of_two_tenants_keeps_each_create_its_own() {
    a_batch_of_two_tenants_keeps_each_create_its_own(Dialect::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_batch_links_members_another_directory_brought() {
    a_batch_links_members_another_directory_brought(Dialect::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_batch_holding_a_retried_create_answers_each_as_alone() {
    a_batch_holding_a_retried_create_answers_each_as_alone(Dialect::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_creates_of_one_address_go_to_separate_batches() {
    creates_of_one_address_go_to_separate_batches(Dialect::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_directory_deleted_while_a_batch_waits_gets_none_of_it() {
    a_directory_deleted_while_a_batch_waits_gets_none_of_it(Dialect::Postgres).await
}

/// The workers and the sequencer keep their connection between transactions (no pool check per
/// batch). A kept connection that dies between batches (here every connection of the database
/// is terminated, as a server restart does) is closed and replaced when its worker next begins a
/// batch: that batch is written, none is rolled back, and the sequencer links what follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_kept_connection_that_died_is_replaced_before_its_batch() {
    let app = TestApp::spawn(Dialect::Postgres).await;
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "okta").await;
    let mut killer = sqlx::AnyConnection::connect(&app.state.config.database_url)
        .await
        .unwrap();
    let before = batcher(&app).counts();
    let mut created = 0;
    // A worker gives its connection back after a second without work: on a machine that stalls
    // that long between the create and the termination, the round is tried again.
    for round in 0..5 {
        create_user(&app, &dir, &format!("before{round}@acme.test")).await;
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .execute(&mut killer)
        .await
        .unwrap();
        for i in 0..3 {
            create_user(&app, &dir, &format!("after{round}-{i}@acme.test")).await;
        }
        created += 4;
        if batcher(&app).counts().replaced > before.replaced {
            break;
        }
    }
    let after = batcher(&app).counts();
    assert!(
        after.replaced > before.replaced,
        "a worker's kept connection was found dead and replaced: {after:?}"
    );
    assert_eq!(
        after.rolled_back, before.rolled_back,
        "no batch failed on a dead kept connection: {after:?}"
    );
    assert_eq!(after.committed - before.committed, created, "{after:?}");
    app.state.db.caught_up().await;
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_events WHERE action = 'dsync.user.created' AND chain_seq > 0"
        )
        .await,
        created as i64,
        "every creation event is linked"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM events WHERE type = 'dsync.user.created' AND cursor > 0"
        )
        .await,
        created as i64,
        "every feed event is numbered"
    );
}

/// SQLite's one writer already commits concurrent requests' writes together: no batcher.
#[tokio::test]
async fn sqlite_has_no_create_batcher() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    assert!(app.state.scim_creates.is_none());
}
