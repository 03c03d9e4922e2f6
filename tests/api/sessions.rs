//! Browser sessions end for good: a session deleted while a request that loaded it is still
//! running is not written back by that request, and a sign-out that could not delete the
//! session says so instead of reporting success.

use axum::http::StatusCode;
use lanyard::server::session::DbSessionStore;
use serde_json::json;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::SessionStore;

use crate::helpers::{Dialect, TestApp};

fn record(value: i64) -> Record {
    Record {
        id: Id::default(),
        data: [("k".to_owned(), json!(value))].into_iter().collect(),
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    }
}

async fn a_session_ended_during_a_request_is_not_saved_back(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let store = DbSessionStore::new(app.state.db.clone());

    // A live session is saved.
    let mut live = record(1);
    store.create(&mut live).await.unwrap();
    let mut loaded = store.load(&live.id).await.unwrap().expect("created");
    loaded.data.insert("k".into(), json!(2));
    store.save(&loaded).await.unwrap();
    let again = store.load(&live.id).await.unwrap().expect("still there");
    assert_eq!(again.data["k"], json!(2));

    // A request loaded it, then a sign-out (or a revocation) deleted it, then the request
    // saved what it had.
    let mut ended = record(1);
    store.create(&mut ended).await.unwrap();
    let mut in_flight = store.load(&ended.id).await.unwrap().expect("created");
    store.delete(&ended.id).await.unwrap();
    in_flight.data.insert("k".into(), json!(3));
    store.save(&in_flight).await.unwrap();
    assert!(
        store.load(&ended.id).await.unwrap().is_none(),
        "a deleted session came back"
    );
}

crate::both_databases!(a_session_ended_during_a_request_is_not_saved_back);

/// SQLite: a trigger makes deleting sessions fail, as a database that is down or locked would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_out_that_could_not_end_the_session_says_so() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let org = app.create_org("Acme").await;
    let cookie = app
        .redeem(&app.create_link(&org, &["audit_logs"]).await)
        .await;
    sqlx::query(
        "CREATE TRIGGER sessions_stay BEFORE DELETE ON sessions BEGIN SELECT RAISE(ABORT, 'no'); END",
    )
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    let r = app.browser_post("/portal/signout", "", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert!(r.text().contains("still signed in"), "{}", r.text());
    assert!(r.header("location").is_none());
    // Not signed out, and not told so: the session still works.
    assert_eq!(
        app.browser_get("/portal", Some(&cookie)).await.status,
        StatusCode::OK
    );

    sqlx::query("DROP TRIGGER sessions_stay")
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let r = app.browser_post("/portal/signout", "", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.browser_get("/portal", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
}
