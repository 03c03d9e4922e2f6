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
            s.starts_with("SEARCH")
                && !s.ends_with("(directory_id=?)")
                && !s.contains("TEMP B-TREE"),
            "{what} must be an index search by its value, not a walk of the directory: {steps:?}"
        );
    }
}

/// The statement finds at most one row through a unique index (SQLite names the indexes behind
/// PRIMARY KEY and UNIQUE `sqlite_autoindex_*`).
fn assert_unique_lookup(what: &str, steps: &[String]) {
    assert_lookup(what, steps);
    assert!(
        steps.iter().all(|s| s.contains("sqlite_autoindex_")),
        "{what} is read on a request's thread, so it must be a lookup by a unique key: {steps:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_scim_lookups_search_an_index_and_pages_do_not_sort_the_directory() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    // The lookup the provisioning clients send before each create is short.
    assert!(short_user_lookup(UserColumn::UserNameKey));
    // A group's members may be tens of thousands: rendered on the pool.
    assert!(!short_group_lookup(GroupColumn::Id, true));

    let inline: Vec<(String, (String, String))> = UserColumn::ALL
        .into_iter()
        .filter(|c| short_user_lookup(*c))
        .map(|c| {
            (
                format!("GET /Users filter {c:?} eq"),
                page_users_sql(Some(c)),
            )
        })
        .chain(
            GroupColumn::ALL
                .into_iter()
                .filter(|c| short_group_lookup(*c, false))
                .map(|c| {
                    (
                        format!("GET /Groups filter {c:?} eq"),
                        page_groups_sql(Some(c)),
                    )
                }),
        )
        .collect();
    assert!(
        inline.len() >= 3,
        "{} lookups are read inline",
        inline.len()
    );
    for (what, (page, count)) in &inline {
        assert_unique_lookup(what, &plan(&app, page).await);
        assert_unique_lookup(&format!("the count of {what}"), &plan(&app, count).await);
    }

    // Lookups by a value that is not unique run on the pool, still by an index.
    for (what, page) in [
        (
            "GET /Users filter externalId eq",
            page_users_sql(Some(UserColumn::ExternalId)).0,
        ),
        (
            "GET /Groups filter displayName eq",
            page_groups_sql(Some(GroupColumn::DisplayName)).0,
        ),
    ] {
        assert_lookup(what, &plan(&app, &page).await);
    }

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
