//! What SQLite does for the SCIM list statements. The lookups read on the inline readers
//! (`Db::read`, whose statements run on the request's own thread: docs/decisions/0003) must be
//! index searches narrowed by the looked-up value, never a walk of the whole directory; the
//! other pages (read on the pool) walk the directory's `(directory_id, id)` index in order
//! instead of sorting the directory.

use lanyard::server::db::directory_groups::{page_groups_sql, GroupColumn};
use lanyard::server::db::directory_users::{page_users_sql, UserColumn};
use lanyard::server::service::scim::{short_group_lookup, short_user_lookup};

use crate::helpers::{Dialect, TestApp};

/// The `detail` of each step of the statement's plan.
async fn plan(app: &TestApp, sql: &str) -> Vec<String> {
    let explain = format!("EXPLAIN QUERY PLAN {sql}");
    let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(&explain);
    // $1 directory, $2 value, $3 limit, $4 offset (the count statement binds the first two).
    let params = sql.matches('$').count().min(4);
    for i in 0..params {
        q = match i {
            0 | 1 => q.bind("x"),
            _ => q.bind(10_i64),
        };
    }
    q.fetch_all(&app.state.db.pool)
        .await
        .unwrap_or_else(|e| panic!("EXPLAIN {sql}: {e}"))
        .into_iter()
        .map(|r| r.3)
        .collect()
}

/// The statement reads a few index entries found by the value, not the directory.
fn assert_lookup(what: &str, steps: &[String]) {
    assert!(!steps.is_empty(), "{what}: no plan");
    for s in steps {
        assert!(
            s.starts_with("SEARCH") && !s.ends_with("(directory_id=?)") && !s.contains("TEMP B-TREE"),
            "{what} is read on a request's thread, so it must be an index search by its value: {steps:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_scim_lookups_search_an_index_and_pages_do_not_sort_the_directory() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    // The lookups the provisioning clients send before each create are short.
    assert!(short_user_lookup(UserColumn::UserNameKey));
    assert!(short_group_lookup(GroupColumn::DisplayName, false));
    // A group's members may be tens of thousands: rendered on the pool.
    assert!(!short_group_lookup(GroupColumn::Id, true));

    let mut short = 0;
    for col in UserColumn::ALL {
        if short_user_lookup(col) {
            short += 1;
            let (page, count) = page_users_sql(Some(col));
            assert_lookup(
                &format!("GET /Users filter {col:?} eq"),
                &plan(&app, &page).await,
            );
            assert_lookup(&format!("count of {col:?} eq"), &plan(&app, &count).await);
        }
    }
    for col in GroupColumn::ALL {
        if short_group_lookup(col, false) {
            short += 1;
            let (page, count) = page_groups_sql(Some(col));
            assert_lookup(
                &format!("GET /Groups filter {col:?} eq"),
                &plan(&app, &page).await,
            );
            assert_lookup(&format!("count of {col:?} eq"), &plan(&app, &count).await);
        }
    }
    assert!(short >= 4, "{short} lookups are read inline");

    for (what, page) in [
        ("GET /Users", page_users_sql(None).0),
        ("GET /Groups", page_groups_sql(None).0),
    ] {
        let steps = plan(&app, &page).await;
        assert!(
            steps
                .iter()
                .all(|s| s.starts_with("SEARCH") && !s.contains("TEMP B-TREE")),
            "{what} unfiltered walks the directory's id index in order: {steps:?}"
        );
    }
}
