//! Acknowledged writes survive a crash: the real binary under SCIM create load is killed with
//! SIGKILL and started again on the same database. Every create answered 201 is there with its
//! audit event and its events-feed row; no directory user exists without its audit event nor an
//! audit event without its user; the feed is dense; the hash chains verify. The restarted server
//! is then stopped with SIGTERM, which keeps the request-log rows it writes behind its answers.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::helpers::Dialect;

/// Clients pushing creates at once, and how many answered creates to wait for before the kill.
const CLIENTS: usize = 8;
const ACKNOWLEDGED_BEFORE_KILL: usize = 200;

fn pg_admin_url() -> String {
    std::env::var("LANYARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database for the binary: a SQLite file in `dir`, or a new PostgreSQL database.
async fn database(d: Dialect, dir: &std::path::Path) -> (String, Option<String>) {
    match d {
        Dialect::Sqlite => (format!("sqlite://{}", dir.join("k9.db").display()), None),
        Dialect::Postgres => {
            sqlx::any::install_default_drivers();
            let name = format!(
                "lanyard_k9_{}_{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            );
            let admin = sqlx::AnyPool::connect(&pg_admin_url()).await.unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
            let url = format!("{}/{name}", pg_admin_url().rsplit_once('/').unwrap().0);
            (url, Some(name))
        }
    }
}

async fn drop_database(name: &str) {
    let admin = sqlx::AnyPool::connect(&pg_admin_url()).await.unwrap();
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await;
    admin.close().await;
}

async fn kill_9_under_scim_load_keeps_every_acknowledged_create(d: Dialect) {
    let dir = tempfile::tempdir().unwrap();
    let (url, pg_name) = database(d, dir.path()).await;
    let real = crate::helpers::RealServer::new(
        dir.path(),
        &[
            ("DATABASE_URL", url.as_str()),
            ("LANYARD_DATA_DIR", &dir.path().display().to_string()),
        ],
    );
    let lanyard = |args: &[&str]| real.command(args);
    let (http, base, key) = (&real.http, &real.base, &real.key);
    let api = |path: &str, body: Value| real.post(path, body);

    let mut server = real.start().await;
    let org: String = api("/api/v1/organizations", json!({"name": "Acme"}))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let org: Value = serde_json::from_str(&org).unwrap();
    let org = org["id"].as_str().unwrap().to_owned();
    let directory: String = api(
        &format!("/api/v1/organizations/{org}/directories"),
        json!({"type": "okta", "name": "Okta"}),
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let directory: Value = serde_json::from_str(&directory).unwrap();
    let scim = directory["scim_base_url"].as_str().unwrap().to_owned();
    let token = directory["bearer_token"].as_str().unwrap().to_owned();
    let directory_id = directory["id"].as_str().unwrap().to_owned();

    // The load: CLIENTS clients creating users until the server is gone.
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let cut_off = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (http, scim, token) = (http.clone(), scim.clone(), token.clone());
            let (acknowledged, cut_off, killed) =
                (acknowledged.clone(), cut_off.clone(), killed.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let user_name = format!("user{c}-{i}@acme.test");
                    let sent = http
                        .post(format!("{scim}/Users"))
                        .bearer_auth(&token)
                        .header("content-type", "application/scim+json")
                        .body(
                            json!({
                                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                "userName": user_name,
                                "name": {"givenName": "First", "familyName": format!("Last{i}")},
                                "emails": [{"primary": true, "value": user_name, "type": "work"}],
                                "externalId": format!("{c}x{i}"),
                                "active": true,
                            })
                            .to_string(),
                        )
                        .send()
                        .await;
                    let answered: (u16, Result<String, reqwest::Error>) = match sent {
                        Ok(r) => (r.status().as_u16(), r.text().await),
                        Err(_) => {
                            assert!(
                                killed.load(Ordering::SeqCst),
                                "a create failed before the kill"
                            );
                            cut_off.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                    };
                    match answered {
                        (201, Ok(body)) => {
                            let v: Value = serde_json::from_str(&body).unwrap();
                            acknowledged
                                .lock()
                                .unwrap()
                                .push(v["id"].as_str().unwrap().to_owned());
                        }
                        // The answer was cut off by the kill: not acknowledged.
                        (_, Err(_)) if killed.load(Ordering::SeqCst) => {
                            cut_off.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                        (status, body) => panic!("create answered {status}: {body:?}"),
                    }
                }
            })
        })
        .collect();
    for _ in 0..1200 {
        if acknowledged.lock().unwrap().len() >= ACKNOWLEDGED_BEFORE_KILL {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    killed.store(true, Ordering::SeqCst);
    server.kill().unwrap(); // SIGKILL, with creates in flight
    server.wait().unwrap();
    for c in clients {
        c.await.unwrap();
    }
    let acknowledged: BTreeSet<String> = acknowledged.lock().unwrap().iter().cloned().collect();
    assert!(
        acknowledged.len() >= ACKNOWLEDGED_BEFORE_KILL,
        "{} creates answered",
        acknowledged.len()
    );
    assert_eq!(
        cut_off.load(Ordering::SeqCst),
        CLIENTS,
        "every client was still sending when the server died"
    );

    let mut server = real.start().await;

    // Every user committed before the kill, answered or not: the feed must come to hold each one
    // (after a crash, rows written but not yet numbered are numbered when the server starts, in
    // the background: reading the feed only until the answered ones show raced with that).
    sqlx::any::install_default_drivers();
    let committed: BTreeSet<String> = {
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        let ids = sqlx::query_scalar::<_, String>(
            "SELECT id FROM directory_users WHERE directory_id = $1",
        )
        .bind(&directory_id)
        .fetch_all(&pool)
        .await
        .unwrap();
        pool.close().await;
        ids.into_iter().collect()
    };

    // The events feed, read the way a consumer reads it, until it holds every committed create.
    let mut feed: Vec<Value> = Vec::new();
    for _ in 0..100 {
        feed.clear();
        let mut after = "0".to_owned();
        loop {
            let page = http
                .get(format!("{base}/api/v1/events?after={after}&limit=500"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let page: Value = serde_json::from_str(&page).unwrap();
            let data = page["data"].as_array().unwrap();
            if data.is_empty() {
                break;
            }
            feed.extend(data.iter().cloned());
            after = page["next_cursor"].as_str().unwrap().to_owned();
        }
        let created: BTreeSet<&str> = feed
            .iter()
            .filter(|e| e["type"] == "dsync.user.created")
            .map(|e| e["entity"]["id"].as_str().unwrap())
            .collect();
        if committed.iter().all(|id| created.contains(id.as_str())) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let cursors: Vec<i64> = feed
        .iter()
        .map(|e| e["cursor"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        cursors,
        (1..=feed.len() as i64).collect::<Vec<_>>(),
        "the feed is dense and ordered"
    );
    let in_feed: BTreeSet<String> = feed
        .iter()
        .filter(|e| e["type"] == "dsync.user.created")
        .map(|e| e["entity"]["id"].as_str().unwrap().to_owned())
        .collect();
    // A stop by SIGTERM (docker stop, systemd, Kubernetes) keeps what the server writes behind
    // its answers: the SCIM request log rows of exchanges it answered just before.
    let scim_http = |i: usize| {
        http.get(format!(
            "{scim}/Users?filter=userName%20eq%20%22sigterm-{i}%22"
        ))
        .bearer_auth(&token)
        .send()
    };
    for i in 0..5 {
        assert!(scim_http(i).await.unwrap().status().is_success());
    }
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let exit = server.wait().unwrap();
    assert!(exit.success(), "SIGTERM is a clean stop: {exit:?}");

    // What the database holds.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let users: BTreeSet<String> =
        sqlx::query_scalar::<_, String>("SELECT id FROM directory_users WHERE directory_id = $1")
            .bind(&directory_id)
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let audited: BTreeSet<String> = sqlx::query_scalar::<_, String>(
        "SELECT targets FROM audit_events WHERE organization_id = $1 AND action = 'dsync.user.created'",
    )
    .bind(&org)
    .fetch_all(&pool)
    .await
    .unwrap()
    .iter()
    .map(|t| {
        let t: Value = serde_json::from_str(t).unwrap();
        t[0]["id"].as_str().unwrap().to_owned()
    })
    .collect();
    let org_events: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE organization_id = $1")
            .bind(&org)
            .fetch_one(&pool)
            .await
            .unwrap();
    let logged: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM scim_requests WHERE directory_id = $1 AND path LIKE '%sigterm-%'",
    )
    .bind(&directory_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(
        logged, 5,
        "the request log of the exchanges answered before SIGTERM"
    );

    let missing: Vec<&String> = acknowledged.difference(&users).collect();
    assert!(missing.is_empty(), "answered 201 but gone: {missing:?}");
    assert_eq!(
        users, audited,
        "every user has its audit event and no event lacks its user"
    );
    assert_eq!(users, in_feed, "every user has its events-feed row");

    let out = lanyard(&["audit", "verify"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("ok\t{org}\t{org_events} events")),
        "every event of the organization is in its verified chain: {stdout}"
    );
    if let Some(name) = pg_name {
        drop_database(&name).await;
    }
}

crate::both_databases!(kill_9_under_scim_load_keeps_every_acknowledged_create);
