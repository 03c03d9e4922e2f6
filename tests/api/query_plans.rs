//! What the databases do for hot statements. On SQLite, the SCIM list statements: the lookups
//! read on the inline readers (`Db::read`, whose statements run on the request's own thread:
//! docs/decisions/0003) must be index searches narrowed by the looked-up value, never a walk of
//! the whole directory; the other pages (read on the pool) walk the directory's
//! `(directory_id, id)` index in order instead of sorting the directory. On PostgreSQL, the
//! sequencer's numbering pass updates the waiting feed events by key.

use lanyard::server::db::activity::scim_requests_sql;
use lanyard::server::db::directory_groups::{page_groups_sql, GroupColumn, MEMBER_COUNTS_SQL};
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

/// The directories page's counts read indexes bounded by the directory: the groups' member counts
/// walk each group's key (a filter on the members' `directory_id` read every directory's
/// memberships) and the requests-per-day chart reads its index alone (through
/// `(directory_id, created_at)` each request cost a read of its row, bodies and all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_page_counts_read_only_the_directorys_index_entries() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let counts = plan(&app, MEMBER_COUNTS_SQL).await;
    assert!(
        counts.iter().any(|s| s.contains("(directory_id=?)"))
            && counts
                .iter()
                .filter(|s| s.starts_with("SEARCH"))
                .all(|s| s.contains("COVERING INDEX"))
            && !counts.iter().any(|s| s.starts_with("SCAN")),
        "member counts: {counts:?}"
    );
    let conn = app.state.db.pool.acquire().await.expect("connection");
    let chart = plan(&app, &scim_requests_sql(&conn)).await;
    assert!(
        chart.iter().any(|s| s
            .contains("COVERING INDEX scim_requests_dir_day (directory_id=? AND created_at>?)"))
            && !chart.iter().any(|s| s.starts_with("SCAN")),
        "requests per day: {chart:?}"
    );
}

/// PostgreSQL: rows of `table` this transaction has read so far, by sequential scans or through
/// an index (`pg_stat_xact_user_tables`).
async fn rows_read(tx: &mut sqlx::AnyConnection, table: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COALESCE(seq_tup_read, 0) + COALESCE(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables WHERE relname = $1",
    )
    .bind(table)
    .fetch_one(tx)
    .await
    .expect("table stats")
}

/// PostgreSQL: rows of `table` this transaction has read by sequential scans, plus the entries
/// it has read from any of the table's indexes (a walk of a directory's index counts each
/// entry, even where a bitmap then fetches few rows).
async fn entries_read(tx: &mut sqlx::AnyConnection, table: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT pg_stat_get_xact_tuples_returned(c.oid) \
         + COALESCE((SELECT SUM(pg_stat_get_xact_tuples_returned(i.indexrelid)) FROM pg_index i WHERE i.indrelid = c.oid), 0)::BIGINT \
         FROM pg_class c WHERE c.relname = $1 AND c.relkind = 'r'",
    )
    .bind(table)
    .fetch_one(tx)
    .await
    .expect("entries read")
}

/// PostgreSQL: the sequencer's numbering of waiting feed events reads the waiting rows and
/// updates each by its key, never scanning the whole feed (a hash join over a sequential scan
/// of `events` made every pass read every event ever written: 5.6 ms per pass at 10,000
/// events, the first bound on SCIM creates). Counted by PostgreSQL itself in the transaction
/// (`pg_stat_xact_user_tables`: rows read by scans or through indexes), on a feed of 20,000
/// numbered events and 50 waiting ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_numbering_pass_reads_the_feed_by_key_not_by_scan() {
    let app = TestApp::spawn(Dialect::Postgres).await;
    let mut tx = app.state.db.pool.begin().await.expect("begin");
    let columns = "id, audit_event_id, type, organization_id, entity_type, entity_id, entity_seq, created_at, data";
    let values = "'ev_' || g, 'ae_' || g, 'user.created', 'org_x', 'user', 'u_' || g, 1, 0, repeat('x', 400)";
    sqlx::query(&format!(
        "INSERT INTO events (cursor, {columns}) SELECT g, {values} FROM generate_series(1, 20000) g"
    ))
    .execute(&mut *tx)
    .await
    .expect("numbered events");
    sqlx::query(&format!(
        "INSERT INTO events (cursor, {columns}) SELECT -g, {values} FROM generate_series(20001, 20050) g"
    ))
    .execute(&mut *tx)
    .await
    .expect("waiting events");
    let before = rows_read(&mut tx, "events").await;
    let (numbered, upto) = lanyard::server::events::number_pending(&mut tx, 20000, 2000)
        .await
        .expect("numbering pass");
    assert_eq!(numbered, 50, "every waiting event is numbered");
    assert_eq!(upto, 20050, "the highest write-order place numbered");
    let after = rows_read(&mut tx, "events").await;
    let read = after - before;
    assert!(
        read < 500,
        "numbering 50 waiting events read {read} rows of a 20,050-event feed"
    );
    let (lo, hi, waiting): (i64, i64, i64) = sqlx::query_as(
        "SELECT MIN(cursor) FILTER (WHERE cursor > 20000), MAX(cursor), COUNT(*) FILTER (WHERE cursor < 0) FROM events",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("cursors");
    assert_eq!(
        (lo, hi, waiting),
        (20001, 20050, 0),
        "numbered densely after the head"
    );
    // Written as ev_20001 (cursor -20001) first, … ev_20050 last: numbered 20001 … 20050.
    let out_of_order: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM events WHERE cursor > 20000 AND id <> 'ev_' || cursor",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("order");
    assert_eq!(out_of_order, 0, "numbered in the order written");
    tx.rollback().await.expect("rollback");
}

/// PostgreSQL: the sequencer's linking of waiting audit events updates each by its key, never
/// scanning the whole audit log. A hash join over a sequential scan of `audit_events` (the
/// plan PostgreSQL chose for 200 waiting rows on tables not analyzed yet) read every event
/// ever written on each pass, and cost enough to be JIT-compiled: a mapped 100-member PATCH
/// took 70.9 ms p50 with those passes beside it (issue 17). Counted by PostgreSQL in the
/// step's own transaction (`audit::begin_step`): six passes while the log is small, then one
/// after it has grown by 20,000 events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_linking_pass_reads_the_audit_log_by_key_not_by_scan() {
    let app = TestApp::spawn(Dialect::Postgres).await;
    // The app's own events (its setup's) linked first: the passes below link only these rows.
    app.state.db.caught_up().await;
    let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE chain_seq < 0")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("waiting rows");
    assert_eq!(
        waiting, 0,
        "the app's own events are linked before the test's"
    );
    let mut tx = lanyard::server::audit::begin_step(&app.state.db.pool)
        .await
        .expect("begin step");
    let columns = "id, chain_key, chain_seq, organization_id, action, actor_type, actor_id, actor_name, targets, occurred_at, metadata, prev_hash, hash";
    let values =
        "'org_x', 'user.created', 'system', 'scim', 'SCIM', '[]', g, repeat('x', 400), '', ''";
    let wait = |from: i64| {
        format!(
            "INSERT INTO audit_events ({columns}) SELECT 'ae_' || lpad(g::text, 6, '0'), 'org_x', -g, {values} FROM generate_series({from}, {}) g",
            from + 199
        )
    };
    // Passes while the log is small, as on a new deployment: PostgreSQL keeps a generic plan of
    // the linking statement after five runs, made for the table as it was then.
    for pass in 0..6_i64 {
        sqlx::query(&wait(1 + 200 * pass))
            .execute(&mut *tx)
            .await
            .expect("waiting events");
        let (linked, _) = lanyard::server::audit::link_pending(&mut tx)
            .await
            .expect("linking pass");
        assert_eq!(linked, 200, "every waiting event is linked");
    }
    // The log grows to 20,000 events (another organization's chain) …
    sqlx::query(&format!(
        "INSERT INTO audit_events ({columns}) SELECT 'ae_' || lpad(g::text, 6, '0'), 'org_y', g, {values} FROM generate_series(10001, 30000) g"
    ))
    .execute(&mut *tx)
    .await
    .expect("linked events");
    // … and 200 more wait.
    sqlx::query(&wait(1201))
        .execute(&mut *tx)
        .await
        .expect("waiting events");
    let before = rows_read(&mut tx, "audit_events").await;
    let (linked, upto) = lanyard::server::audit::link_pending(&mut tx)
        .await
        .expect("linking pass");
    assert_eq!(linked, 200, "every waiting event is linked");
    assert_eq!(upto, 1400, "the highest write-order place linked");
    let read = rows_read(&mut tx, "audit_events").await - before;
    assert!(
        read < 1000,
        "linking 200 waiting events read {read} rows of a 21,400-event audit log"
    );
    let (lo, hi, n, waiting): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT MIN(chain_seq), MAX(chain_seq), COUNT(*), COUNT(*) FILTER (WHERE chain_seq < 0) FROM audit_events WHERE chain_key = 'org_x'",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("positions");
    assert_eq!((lo, hi, n, waiting), (1, 1400, 1400, 0), "linked densely");
    let out_of_order: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE chain_key = 'org_x' AND id <> 'ae_' || lpad(chain_seq::text, 6, '0')",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("order");
    assert_eq!(out_of_order, 0, "linked in the order written");
    tx.rollback().await.expect("rollback");
}

/// PostgreSQL: a directory's users by a list of ids are found by their keys, with the directory
/// checked on each row found (`db::row_check`), not by walking the directory's index and
/// filtering every user through the list, the plan PostgreSQL chose before the table had been
/// analyzed (~6 ms per statement at 6,000 users, three statements in a 100-member PATCH: issue
/// 17). Counted by PostgreSQL in the transaction: rows read by sequential scans and entries read
/// from any of the table's indexes, on a 6,000-user directory (rows of a real user's size); an
/// id of another directory in the list is not answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_key_lists_in_a_directory_read_their_rows_not_the_directory() {
    use lanyard::server::db::{directory_users, Lock};
    let app = TestApp::spawn(Dialect::Postgres).await;
    let org = app.create_org("Keys").await;
    let dir = crate::helpers::scim::create_dir(&app, &org, "okta").await;
    let other = crate::helpers::scim::create_dir(&app, &org, "entra").await;
    let mut tx = app.state.db.pool.begin().await.expect("begin");
    let insert = "INSERT INTO directory_users (id, directory_id, organization_id, user_name, user_name_key, active, resource, version, created_at, updated_at) \
                  SELECT $3 || lpad(g::text, 6, '0'), $1, $2, 'u' || g, 'u' || g, 1, repeat('x', 600), 1, 0, 0 FROM generate_series($4::BIGINT, $5::BIGINT) g";
    for (d, prefix, from, to) in [
        (&dir.id, "diru_a", 1_i64, 6000_i64),
        (&other.id, "diru_b", 1, 1),
    ] {
        sqlx::query(insert)
            .bind(d)
            .bind(&org)
            .bind(prefix)
            .bind(from)
            .bind(to)
            .execute(&mut *tx)
            .await
            .expect("directory users");
    }
    let mut ids: Vec<String> = (3000..3100).map(|i| format!("diru_a{i:06}")).collect();
    ids.push("diru_b000001".to_owned());
    let before = entries_read(&mut tx, "directory_users").await;
    let found = directory_users::existing_user_ids(&mut tx, &dir.id, &ids)
        .await
        .expect("existing ids");
    let rows = directory_users::get_users(&mut tx, &dir.id, &ids, Lock::ForUpdate)
        .await
        .expect("rows by id");
    let read = entries_read(&mut tx, "directory_users").await - before;
    assert_eq!(
        found.len(),
        100,
        "the directory's 100 users, not the other's"
    );
    assert!(!found.iter().any(|id| id == "diru_b000001"));
    assert_eq!(
        rows.len(),
        100,
        "the directory's 100 users, not the other's"
    );
    assert!(
        read < 1000,
        "two reads of 100 users by id read {read} rows and index entries of a 6,000-user directory"
    );
    tx.rollback().await.expect("rollback");
}

/// PostgreSQL: endpoint `we_plan` with `n` pending deliveries `wd_1`…, each its entity's only one
/// (each may be leased), due at once.
async fn pending_backlog(tx: &mut sqlx::AnyConnection, n: i64) {
    crate::helpers::webhook_endpoint_row(&mut *tx, "we_plan").await;
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, endpoint_id, event_cursor, event_id, entity_key, state, attempts, next_attempt_at, created_at) \
         SELECT 'wd_' || g, 'we_plan', g, 'ev_' || g, 'user:' || g, 'pending', 0, 0, 0 FROM generate_series(1, $1) g",
    )
    .bind(n)
    .execute(&mut *tx)
    .await
    .expect("deliveries");
}

/// PostgreSQL: leases `n` deliveries of [`pending_backlog`]'s 3,000 and checks that they are the
/// `n` oldest in order and that the lease read fewer than 500 delivery rows (not the backlog).
async fn lease_the_oldest(tx: &mut sqlx::AnyConnection, n: i64) {
    let before = rows_read(&mut *tx, "webhook_deliveries").await;
    let leased = lanyard::server::db::webhooks::lease_due(&mut *tx, "we_plan", 1, 30_000, n)
        .await
        .expect("lease");
    let read = rows_read(&mut *tx, "webhook_deliveries").await - before;
    let cursors: Vec<i64> = leased.iter().map(|d| d.event_cursor).collect();
    assert_eq!(
        cursors,
        (1..=n).collect::<Vec<i64>>(),
        "the {n} oldest, in order"
    );
    assert!(
        read < 500,
        "leasing {n} deliveries read {read} delivery rows of a 3,000-delivery backlog"
    );
}

/// PostgreSQL: leasing an endpoint's next deliveries walks its pending deliveries in feed order
/// and stops at the limit (`webhook_deliveries_pending_walk`, migration 42), instead of reading
/// every pending delivery of the endpoint and sorting them: 15.9 ms per lease at 3,000 pending,
/// the bound on webhook throughput. Counted by PostgreSQL in the transaction
/// (`pg_stat_xact_user_tables`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lease_reads_the_next_deliveries_not_the_whole_backlog() {
    let app = TestApp::spawn(Dialect::Postgres).await;
    let mut tx = app.state.db.pool.begin().await.expect("begin");
    pending_backlog(&mut tx, 3000).await;
    lease_the_oldest(&mut tx, 32).await;
    tx.rollback().await.expect("rollback");
}

/// PostgreSQL: the same once the table is analyzed (as autovacuum does on a deployment), beside
/// another endpoint's 20,000 delivered events: the planner rated the head test
/// `event_cursor = (SELECT MIN …)` as matching almost no row, so it read every pending delivery
/// of the endpoint, sorted, with a head probe each (6,032 rows read for 32 leased; 6.3 ms per
/// lease at 3,000 pending against 1.0 ms for the walk). The head test now reads `<=`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lease_on_an_analyzed_table_reads_the_next_deliveries_not_the_whole_backlog() {
    let app = TestApp::spawn(Dialect::Postgres).await;
    let mut tx = app.state.db.pool.begin().await.expect("begin");
    pending_backlog(&mut tx, 3000).await;
    crate::helpers::webhook_endpoint_row(&mut tx, "we_history").await;
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, endpoint_id, event_cursor, event_id, entity_key, state, attempts, next_attempt_at, created_at) \
         SELECT 'wh_' || g, 'we_history', g, 'ev_' || g, 'user:' || g, 'succeeded', 1, 0, 0 FROM generate_series(1, 20000) g",
    )
    .execute(&mut *tx)
    .await
    .expect("history");
    sqlx::query("ANALYZE webhook_deliveries")
        .execute(&mut *tx)
        .await
        .expect("analyze");
    lease_the_oldest(&mut tx, 32).await;
    tx.rollback().await.expect("rollback");
}

/// SQLite: the lease walks the endpoint's pending deliveries in feed order through migration
/// 42's index (not its whole delivery history, not every due delivery, no sort), probes each
/// entity's head through `webhook_deliveries_pending_heads`, and updates the leased rows by key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_lease_walks_pending_deliveries_in_order_and_updates_by_key() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let steps = plan(&app, &lanyard::server::db::webhooks::lease_sql(false)).await;
    let has = |needle: &str| steps.iter().any(|s| s.contains(needle));
    assert!(
        has("SEARCH d USING INDEX webhook_deliveries_pending_walk (endpoint_id=?)"),
        "the lease walks the pending deliveries in order: {steps:?}"
    );
    assert!(
        has("webhook_deliveries_pending_heads (endpoint_id=? AND entity_key=?)"),
        "each candidate's entity head is one probe: {steps:?}"
    );
    assert!(
        has("SEARCH webhook_deliveries USING INDEX sqlite_autoindex_webhook_deliveries_1 (id=?)"),
        "the leased rows are updated by key: {steps:?}"
    );
    assert!(!has("TEMP B-TREE"), "no sort: {steps:?}");
}

/// PostgreSQL: updates of `table` this transaction has made in place (heap-only tuples).
async fn hot_updates(tx: &mut sqlx::AnyConnection, table: &str) -> i64 {
    sqlx::query_scalar("SELECT n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = $1")
        .bind(table)
        .fetch_one(tx)
        .await
        .expect("hot updates")
}

/// The indexes of `webhook_deliveries` that migration 43 drops (the contract of migration 42):
/// two name `next_attempt_at`, which every lease changes, and no statement needs any of the three
/// (the unique `(endpoint_id, event_cursor)` serves every read of one endpoint's deliveries).
const CONTRACTED_BY_43: [&str; 3] = [
    "webhook_deliveries_due",
    "webhook_deliveries_entity",
    "webhook_deliveries_pending_order",
];

/// Both databases: after the migrations none of the indexes migration 43 contracts is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contracted_webhook_indexes_are_gone_on_both_databases() {
    for (dialect, sql) in [
        (
            Dialect::Sqlite,
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'webhook_deliveries'",
        ),
        (
            Dialect::Postgres,
            "SELECT indexname::TEXT FROM pg_indexes WHERE tablename = 'webhook_deliveries'",
        ),
    ] {
        let app = TestApp::spawn(dialect).await;
        let names: Vec<(String,)> = sqlx::query_as(sql)
            .fetch_all(&app.state.db.pool)
            .await
            .expect("index names");
        let names: Vec<String> = names.into_iter().map(|(n,)| n).collect();
        assert!(
            names.iter().any(|n| n == "webhook_deliveries_pending_walk"),
            "{dialect:?}: the indexes are listed: {names:?}"
        );
        for gone in CONTRACTED_BY_43 {
            assert!(
                !names.iter().any(|n| n == gone),
                "{dialect:?}: {gone} is dropped by migration 43: {names:?}"
            );
        }
    }
}

/// PostgreSQL: a lease changes only `next_attempt_at`; since no index names that column (key or
/// predicate: migration 43, the contract of 42), each leased row is updated on its own page with
/// no new index entry (a heap-only tuple; migration 42's fillfactor leaves the room), and the
/// lease still walks only the next deliveries. With `webhook_deliveries_due` or migration 37's
/// `next_attempt_at IS NOT NULL` predicate (before migration 43), none of them was. Counted by
/// PostgreSQL in the transaction (`pg_stat_xact_user_tables`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_lease_updates_its_rows_in_place() {
    let app = TestApp::spawn(Dialect::Postgres).await;
    let mut tx = app.state.db.pool.begin().await.expect("begin");
    pending_backlog(&mut tx, 3000).await;
    let before = hot_updates(&mut tx, "webhook_deliveries").await;
    lease_the_oldest(&mut tx, 16).await;
    let in_place = hot_updates(&mut tx, "webhook_deliveries").await - before;
    assert_eq!(
        in_place, 16,
        "each leased row is a heap-only update (no index names next_attempt_at)"
    );
    tx.rollback().await.expect("rollback");
}

/// SQLite: since migration 43, no index of `webhook_deliveries` names `next_attempt_at` (so a
/// lease, which changes only that column, rewrites its rows and no index entry), the lease still walks the pending deliveries in order
/// through `webhook_deliveries_pending_walk` and probes heads through `…_pending_heads`, and the
/// backlog gauge of /metrics reads an index of pending deliveries rather than the history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_no_index_names_next_attempt_at_and_leases_and_the_backlog_keep_theirs() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let columns: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT i.name, x.name FROM sqlite_master i, pragma_index_info(i.name) x \
         WHERE i.type = 'index' AND i.tbl_name = 'webhook_deliveries'",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .expect("index columns");
    assert!(!columns.is_empty(), "the table's indexes are listed");
    assert!(
        columns
            .iter()
            .all(|(_, column)| column.as_deref() != Some("next_attempt_at")),
        "no index may hold next_attempt_at: {columns:?}"
    );
    let definitions: Vec<(String,)> = sqlx::query_as(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'webhook_deliveries' AND sql IS NOT NULL",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .expect("index definitions");
    assert!(
        definitions
            .iter()
            .all(|(sql,)| !sql.contains("next_attempt_at")),
        "no index expression or predicate may name next_attempt_at: {definitions:?}"
    );
    let lease = plan(&app, &lanyard::server::db::webhooks::lease_sql(false)).await;
    let has = |needle: &str| lease.iter().any(|s| s.contains(needle));
    assert!(
        has("SEARCH d USING INDEX webhook_deliveries_pending_walk (endpoint_id=?)")
            && has("webhook_deliveries_pending_heads (endpoint_id=? AND entity_key=?)")
            && !has("TEMP B-TREE"),
        "the lease walks the pending deliveries in order and probes each head: {lease:?}"
    );
    let backlog = plan(&app, lanyard::server::metrics::WEBHOOK_BACKLOG_SQL).await;
    assert!(
        backlog
            .iter()
            .all(|s| s.contains("webhook_deliveries_pending_")),
        "the backlog gauge reads an index of pending deliveries: {backlog:?}"
    );
}

/// PostgreSQL: recording attempts' outcomes updates their deliveries by key, not through an
/// index of pending deliveries: on a new (unanalyzed) table the update was planned as a bitmap
/// scan of `webhook_deliveries_pending_heads`, every pending delivery of every endpoint for each
/// batch of 16 outcomes (~110 µs per delivered event draining a 20,000-event backlog,
/// `benches/webhooks.sh postgres`). Counted by PostgreSQL in the transaction (rows and index
/// entries read), with 20,000 pending deliveries: with a few thousand PostgreSQL rightly reads
/// the table through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outcomes_update_their_deliveries_not_the_backlog() {
    use lanyard::server::db::webhooks::finish_attempts;
    let app = TestApp::spawn(Dialect::Postgres).await;
    let mut tx = app.state.db.pool.begin().await.expect("begin");
    pending_backlog(&mut tx, 20_000).await;
    let done = crate::helpers::succeeded("we_plan", 1..=16, 1);
    let before = entries_read(&mut tx, "webhook_deliveries").await;
    finish_attempts(&mut tx, &done, 2).await.expect("outcomes");
    let read = entries_read(&mut tx, "webhook_deliveries").await - before;
    let delivered: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'succeeded' AND delivered_at = 2",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("count");
    assert_eq!(delivered, 16, "each outcome recorded");
    assert!(
        read < 500,
        "recording 16 outcomes read {read} delivery rows and index entries of a 20,000-delivery backlog"
    );
    tx.rollback().await.expect("rollback");
}

/// SQLite: recording outcomes updates the deliveries by key, not through an index of pending
/// deliveries (with `state = 'pending'` SQLite walked `webhook_deliveries_due (state=?)`, every
/// pending delivery, for each statement, until migration 43 dropped that index).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_outcomes_update_their_deliveries_by_key() {
    let app = TestApp::spawn(Dialect::Sqlite).await;
    let steps = plan(&app, &lanyard::server::db::webhooks::outcome_sql(16)).await;
    let has = |s: &str| steps.iter().any(|x| x.contains(s));
    assert!(
        has("SEARCH webhook_deliveries USING INDEX sqlite_autoindex_webhook_deliveries_1 (id=?)"),
        "by key: {steps:?}"
    );
    assert!(
        !has("webhook_deliveries_pending_"),
        "no index of pending deliveries: {steps:?}"
    );
}

/// Runs each statement in the transaction.
async fn run_all(tx: &mut sqlx::AnyConnection, statements: &[&str]) {
    for sql in statements {
        sqlx::query(sql).execute(&mut *tx).await.expect(sql);
    }
}

/// An organization (`org_01J…01`) with `users` organization users (`user_01J…<n>`, addressed
/// `user<n>@big.example`).
async fn big_organization(tx: &mut sqlx::AnyConnection, users: i64) {
    run_all(
        tx,
        &[
            "INSERT INTO organizations (id, name, external_id, metadata, created_at, updated_at, default_role) \
             VALUES ('org_01J00000000000000000000001', 'Big', 'ext-big', '{}', 0, 0, 'member')",
            &format!(
                "INSERT INTO users (id, organization_id, email, first_name, last_name, created_at, updated_at) \
                 SELECT 'user_01J' || lpad(g::TEXT, 23, '0'), 'org_01J00000000000000000000001', 'user' || g || '@big.example', 'F', 'L', g, g \
                 FROM generate_series(1, {users}) g"
            ),
        ],
    )
    .await;
}

/// PostgreSQL, on analyzed tables: a SCIM create's check for an organization user who is already
/// a member (`live_for_create`'s `member`) and `member_by_email` find the membership through the
/// index of its foreign key, not by reading the organization's memberships. Ids are `COLLATE "C"`
/// and foreign-key columns have the default collation, so the plain join `m.user_id = u.id` is
/// compared under "C", which `memberships`' indexes cannot serve: 35 ms and 3,060 buffers per
/// create in a 100,000-member organization, until the join was written with `db::fk_eq`.
/// Counted by PostgreSQL in the transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_member_is_found_by_the_foreign_keys_index() {
    use lanyard::domain::ids::{DirectoryId, OrgId};
    use lanyard::server::db::directories::{live_for_create, CreateRead};
    let app = TestApp::spawn(Dialect::Postgres).await;
    let org = OrgId::parse("org_01J00000000000000000000001").expect("organization id");
    let dir = DirectoryId::parse("dir_01J00000000000000000000001").expect("directory id");
    let mut tx = app.state.db.pool.begin().await.expect("begin");
    big_organization(&mut tx, 20_000).await;
    run_all(
        &mut tx,
        &[
        "INSERT INTO directories (id, organization_id, kind, name, authoritative, created_at, updated_at) \
         VALUES ('dir_01J00000000000000000000001', 'org_01J00000000000000000000001', 'okta', 'Big', 0, 0, 0)",
        "INSERT INTO memberships (id, organization_id, user_id, role, state, created_at, updated_at) \
         SELECT 'om_01J' || lpad(g::TEXT, 23, '0'), 'org_01J00000000000000000000001', 'user_01J' || lpad(g::TEXT, 23, '0'), 'member', 'active', g, g \
         FROM generate_series(1, 20000) g",
        "ANALYZE organizations, directories, users, memberships",
        ],
    )
    .await;
    let before = entries_read(&mut tx, "memberships").await;
    let member = lanyard::server::db::users::member_by_email(&mut tx, &org, "user777@big.example")
        .await
        .expect("member by email")
        .expect("a member");
    assert_eq!(member.user_id.as_str(), "user_01J00000000000000000000777");
    let read = entries_read(&mut tx, "memberships").await - before;
    assert!(
        read < 50,
        "finding one member read {read} memberships of a 20,000-member organization"
    );
    let before = entries_read(&mut tx, "memberships").await;
    let reads = live_for_create(
        &mut tx,
        CreateRead {
            organization_id: &org,
            id: &dir,
            domain: None,
            email: "user1234@big.example",
        },
    )
    .await
    .expect("create read")
    .expect("live directory");
    assert_eq!(
        reads.member.as_ref().map(|u| u.as_str()),
        Some("user_01J00000000000000000001234")
    );
    let read = entries_read(&mut tx, "memberships").await - before;
    assert!(
        read < 50,
        "a create's member check read {read} memberships of a 20,000-member organization"
    );
    tx.rollback().await.expect("rollback");
}

/// PostgreSQL, on an analyzed feed: a consumer polling with a filter few events match (a type, an
/// organization) reads about its matches on every poll, not the feed since its cursor. A named
/// (cached) statement switches after five calls to a plan made for unknown values, which walks
/// the feed in cursor order and filters: 20,000 rows read for 100 here, 58,000 buffers and 284 ms
/// a poll on a 300,000-event feed. `events::list` is planned for its values on every call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_feed_poll_with_a_rare_filter_reads_its_matches() {
    let app = TestApp::spawn(Dialect::Postgres).await;
    let mut tx = app.state.db.pool.begin().await.expect("begin");
    run_all(
        &mut tx,
        &[
        "INSERT INTO events (cursor, id, audit_event_id, type, organization_id, entity_type, entity_id, entity_seq, created_at, data) \
         SELECT g, 'evt_' || g, 'audit_' || g, \
           CASE WHEN g % 200 = 0 THEN 'organization.updated' WHEN g % 3 = 0 THEN 'membership.created' ELSE 'dsync.user.created' END, \
           CASE WHEN g % 10 < 3 THEN 'org_rare' ELSE 'org_busy' END, 'user', 'u' || g, 1, g, '{}' \
         FROM generate_series(1, 20000) g",
        "ANALYZE events",
        ],
    )
    .await;
    let types = ["organization.updated".to_owned()];
    for poll in 1..=8 {
        let before = entries_read(&mut tx, "events").await;
        let page = lanyard::server::events::list(&mut tx, 0, &types, Some("org_rare"), 100)
            .await
            .expect("poll");
        let read = entries_read(&mut tx, "events").await - before;
        assert_eq!(page.len(), 100, "poll {poll}: a full page of matches");
        assert!(
            read < 1000,
            "poll {poll} read {read} feed rows and index entries for 100 matches of 20,000 events"
        );
    }
    tx.rollback().await.expect("rollback");
}

/// PostgreSQL: the minute's due removals read each due member's grants through their foreign
/// key's index and each email by the user's key, not the grants or the users per due member.
/// Written as a join (`g.membership_id = m.id` under the id's "C", `JOIN users`), with 200 due
/// among 125,000 members it read ~12 million rows (1.3–5 s; session 43's reviews). Here 200 due
/// among 5,000, before and after ANALYZE. Counted by PostgreSQL in the transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_due_removals_read_the_due_members_not_every_grant_or_user() {
    let app = TestApp::spawn(Dialect::Postgres).await;
    let mut tx = app.state.db.pool.begin().await.expect("begin");
    big_organization(&mut tx, 5_000).await;
    run_all(
        &mut tx,
        &[
        "INSERT INTO memberships (id, organization_id, user_id, role, state, created_at, updated_at, remove_after) \
         SELECT 'om_01J' || lpad(g::TEXT, 23, '0'), 'org_01J00000000000000000000001', 'user_01J' || lpad(g::TEXT, 23, '0'), 'member', \
           CASE WHEN g % 25 = 0 THEN 'suspended' ELSE 'active' END, g, g, CASE WHEN g % 25 = 0 THEN 1 END \
         FROM generate_series(1, 5000) g",
        "INSERT INTO membership_grants (id, membership_id, organization_id, kind, role, detail, created_at) \
         SELECT 'grant_' || g, 'om_01J' || lpad(g::TEXT, 23, '0'), 'org_01J00000000000000000000001', 'directory', 'member', '{}', g \
         FROM generate_series(1, 5000) g",
        "INSERT INTO membership_grants (id, membership_id, organization_id, kind, role, detail, created_at) \
         SELECT 'grant_s' || g, 'om_01J' || lpad(g::TEXT, 23, '0'), 'org_01J00000000000000000000001', 'directory_suspended', 'member', '{}', 100000 + g \
         FROM generate_series(25, 5000, 25) g",
        ],
    )
    .await;
    for analyzed in [false, true] {
        if analyzed {
            sqlx::query("ANALYZE users, memberships, membership_grants")
                .execute(&mut *tx)
                .await
                .expect("analyze");
        }
        let (users, grants) = (
            entries_read(&mut tx, "users").await,
            entries_read(&mut tx, "membership_grants").await,
        );
        let due = lanyard::server::db::memberships::due_removals(&mut tx, 2)
            .await
            .expect("due removals");
        assert_eq!(due.len(), 200, "analyzed: {analyzed}");
        assert!(due.iter().all(|d| d.email.ends_with("@big.example")));
        let users = entries_read(&mut tx, "users").await - users;
        let grants = entries_read(&mut tx, "membership_grants").await - grants;
        assert!(
            users <= 1_000 && grants <= 2_000,
            "analyzed: {analyzed}: 200 due removals read {users} user and {grants} grant rows and index entries"
        );
    }
    tx.rollback().await.expect("rollback");
}

/// `CASE` of a generated row's owner: rows 1–20,000 belong to the busy `busy`, every 99th row
/// after them to `small`, the rest to `others` (an SQL expression of `g`).
fn owner(busy: &str, small: &str, others: &str) -> String {
    format!("CASE WHEN g <= 20000 THEN '{busy}' WHEN g % 99 = 0 THEN '{small}' ELSE {others} END")
}

/// PostgreSQL, on analyzed tables: the portal's and the console's reads of one organization's
/// directories, connections, invitations and log streams read that organization's rows through
/// the foreign keys' indexes (`db::fk_eq`), not every organization's. Written as `fk = id`, each
/// was compared under the id's "C", which those indexes cannot serve (session 44, on these
/// tables: the pending-invitation counts 5.5 s, the connections' sign-in record 1.6 s, the
/// streams' last attempts 1.1 s). One busy organization holds 20,000 rows of each table, the small
/// one 10, 98 others ~990 together. Counted by PostgreSQL in the transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_organizations_health_and_directory_reads_use_the_foreign_keys_indexes() {
    use lanyard::server::db::{activity, directories, health, scim_log};
    const SMALL: &str = "org_01J00000000000000000000002";
    let app = TestApp::spawn(Dialect::Postgres).await;
    let mut tx = app.state.db.pool.begin().await.expect("begin");
    big_organization(&mut tx, 20_000).await;
    let org = owner(
        "org_01J00000000000000000000001",
        SMALL,
        "'org_01J00000000000000000000003'",
    );
    let (dir, conn, ep) = (
        owner("dir_big", "dir_small", "'dir_' || (2 + g % 98)"),
        owner("conn_big", "conn_small", "'conn_' || (2 + g % 98)"),
        owner("ep_big", "ep_small", "'ep_' || (2 + g % 98)"),
    );
    // Directories, connections and log streams 0 (busy), 1 (small), 2–99 (a third organization).
    let entity = |prefix: &str| {
        format!(
            "CASE WHEN g = 0 THEN '{prefix}big' WHEN g = 1 THEN '{prefix}small' ELSE '{prefix}' || g END"
        )
    };
    let entity_org = "CASE WHEN g = 0 THEN 'org_01J00000000000000000000001' WHEN g = 1 THEN 'org_01J00000000000000000000002' ELSE 'org_01J00000000000000000000003' END";
    run_all(
        &mut tx,
        &[
            "INSERT INTO organizations (id, name, external_id, metadata, created_at, updated_at, default_role) VALUES \
             ('org_01J00000000000000000000002', 'Small', 'ext-small', '{}', 0, 0, 'member'), \
             ('org_01J00000000000000000000003', 'Others', 'ext-others', '{}', 0, 0, 'member')",
            &format!(
                "INSERT INTO directories (id, organization_id, kind, name, authoritative, created_at, updated_at) \
                 SELECT {}, {entity_org}, 'okta', 'D' || g, 1, g, g FROM generate_series(0, 99) g",
                entity("dir_")
            ),
            &format!(
                "INSERT INTO directory_users (id, directory_id, organization_id, user_name, user_name_key, email, active, resource, version, created_at, updated_at) \
                 SELECT 'du_' || g, {dir}, {org}, 'user' || g, 'user' || g, 'user' || g || '@x.example', 1, '{{}}', 1, g, g FROM generate_series(1, 20990) g"
            ),
            &format!(
                "INSERT INTO directory_groups (id, directory_id, organization_id, display_name, resource, version, created_at, updated_at) \
                 SELECT 'dg_' || g, {dir}, {org}, 'G' || g, '{{}}', 1, g, g FROM generate_series(1, 20990) g"
            ),
            &format!(
                "INSERT INTO scim_requests (id, directory_id, organization_id, method, path, status, duration_ms, created_at) \
                 SELECT 'sr_' || lpad(g::TEXT, 8, '0'), {dir}, {org}, 'POST', '/Users', CASE WHEN g % 7 = 0 THEN 409 ELSE 201 END, 1, 1000000 + g \
                 FROM generate_series(1, 20990) g"
            ),
            &format!(
                "INSERT INTO connections (id, organization_id, kind, name, state, idp, created_at, updated_at, saml_allow_idp_initiated, \
                   saml_sign_authn_requests, saml_require_encrypted_assertions, saml_single_logout, saml_authn_request_binding, \
                   saml_want_assertions_signed, oidc_issuer, oidc_client_id, oidc_client_secret_enc) \
                 SELECT {}, {entity_org}, 'oidc', 'C' || g, 'active', 'okta', g, g, 0, 0, 0, 0, 'redirect', 0, 'https://idp.example', 'client', 'sealed' \
                 FROM generate_series(0, 99) g",
                entity("conn_")
            ),
            &format!(
                "INSERT INTO login_attempts (id, organization_id, connection_id, purpose, outcome, reason, evidence, created_at) \
                 SELECT 'la_' || g, {org}, {conn}, 'sign_in', CASE WHEN g % 5 = 0 THEN 'failed' ELSE 'succeeded' END, 'why', '{{}}', 1000000 + g \
                 FROM generate_series(1, 20990) g"
            ),
            &format!(
                "INSERT INTO user_identities (connection_id, idp_subject, organization_id, user_id, email, raw_attributes, created_at, last_login_at) \
                 SELECT {conn}, 's' || g, {org}, 'user_01J' || lpad(LEAST(g, 20000)::TEXT, 23, '0'), 'user' || g || '@x.example', '{{}}', g, g \
                 FROM generate_series(1, 20990) g"
            ),
            &format!(
                "INSERT INTO webhook_endpoints (id, organization_id, kind, url, secret_enc, enabled, fanout_cursor, created_at, updated_at) \
                 SELECT {}, {entity_org}, 'log_stream', 'https://stream.example', 'sealed', 1, 0, g, g FROM generate_series(0, 99) g",
                entity("ep_")
            ),
            &format!(
                "INSERT INTO webhook_deliveries (id, endpoint_id, event_cursor, event_id, entity_key, state, attempts, next_attempt_at, created_at) \
                 SELECT 'wd_' || g, {ep}, g, 'evt_' || g, 'k', 'succeeded', 1, 0, g FROM generate_series(1, 20990) g"
            ),
            &format!(
                "INSERT INTO webhook_attempts (id, delivery_id, endpoint_id, attempted_at, status, latency_ms) \
                 SELECT 'wa_' || g, 'wd_' || g, {ep}, 1000000 + g, 200, 1 FROM generate_series(1, 20990) g"
            ),
            // Each stream's delivery g carries its organization's audit event g.
            &format!(
                "INSERT INTO audit_events (id, chain_key, chain_seq, organization_id, action, actor_type, actor_id, actor_name, targets, occurred_at, metadata, prev_hash, hash) \
                 SELECT 'audit_' || g, {org}, g, {org}, 'user.signed_in', 'user', 'u', 'U', '[]', 1000000 + g, '{{}}', 'p', 'h' FROM generate_series(1, 20990) g"
            ),
            &format!(
                "INSERT INTO invitations (id, organization_id, email, role, state, inviter_kind, inviter_id, inviter_name, expires_at, lifetime_ms, created_at, updated_at) \
                 SELECT 'inv_' || g, {org}, 'i' || g || '@x.example', 'member', 'pending', 'staff', 'staff_1', 'Staff', 9000000000000, 1, g, g \
                 FROM generate_series(1, 20990) g"
            ),
            &format!(
                "INSERT INTO mail_outbox (id, organization_id, invitation_id, recipient, subject, body_enc, attempts, next_attempt_at, created_at) \
                 SELECT 'mo_' || g, {org}, 'inv_' || g, 'i' || g || '@x.example', 'Invitation', 'sealed', 0, 0, g FROM generate_series(1, 20990) g"
            ),
            "ANALYZE",
        ],
    )
    .await;
    const TABLES: [&str; 9] = [
        "directory_users",
        "directory_groups",
        "scim_requests",
        "login_attempts",
        "user_identities",
        "webhook_deliveries",
        "webhook_attempts",
        "mail_outbox",
        "audit_events",
    ];
    let mut too_many = Vec::new();
    let mut before = [0_i64; 9];
    macro_rules! counted {
        ($what:expr, $call:expr) => {{
            for (i, t) in TABLES.iter().enumerate() {
                before[i] = entries_read(&mut tx, t).await;
            }
            let out = $call.await.expect($what);
            for (i, t) in TABLES.iter().enumerate() {
                let read = entries_read(&mut tx, t).await - before[i];
                if read > 500 {
                    too_many.push(format!("{}: {read} of {t}", $what));
                }
            }
            out
        }};
    }
    let small_dir = vec!["dir_small".to_owned()];
    let counts = counted!(
        "directory counts",
        directories::directory_counts(&mut tx, &small_dir, 0)
    );
    assert_eq!(
        (
            counts[0].requests,
            counts[0].user_count,
            counts[0].group_count
        ),
        (10, 10, 10)
    );
    let sizes = counted!(
        "directory sizes",
        directories::sizes(&mut tx, &["dir_small"])
    );
    assert_eq!((sizes[0].active, sizes[0].groups), (10, 10));
    let errors = counted!("last errors", scim_log::last_errors(&mut tx, &small_dir));
    assert_eq!(errors.len(), 1, "the small directory's newest 409");
    let stats = counted!("connections", health::connections(&mut tx, SMALL, 0));
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].failures, 2);
    assert!(stats[0].last_success_at.is_some());
    let invitations = counted!(
        "invitation counts",
        health::invitation_counts(&mut tx, SMALL, 0)
    );
    assert_eq!(invitations.unexpired, 10);
    let secrets = counted!("OIDC secrets", health::oidc_secrets(&mut tx, SMALL));
    assert_eq!(secrets.len(), 1);
    let streams = counted!(
        "endpoint credentials",
        health::endpoint_credentials(&mut tx, Some(SMALL))
    );
    assert_eq!(streams.len(), 1);
    assert!(
        streams[0].last_attempt_at.is_some(),
        "the stream's newest attempt"
    );
    // The busy organization's stream (20,000 deliveries): its newest attempt by one probe, also
    // once PostgreSQL plans the statement for any endpoint (after five runs).
    for run in 1..=7 {
        let busy = counted!(
            "the busy stream's credentials",
            health::endpoint_credentials(&mut tx, Some("org_01J00000000000000000000001"))
        );
        assert_eq!(busy[0].last_attempt_at, Some(1_020_000), "run {run}");
    }
    let deliveries = counted!("deliveries", health::deliveries(&mut tx, SMALL, 25));
    assert_eq!(
        deliveries.len(),
        10,
        "the small organization's stream deliveries"
    );
    let flags = counted!("directory flags", health::directory_flags(&mut tx, SMALL));
    assert_eq!(flags.len(), 10);
    let flags = counted!(
        "authoritative flags",
        health::authoritative_flags(&mut tx, SMALL)
    );
    assert_eq!(flags.len(), 10);
    let days = counted!("sign-ins per day", activity::sign_ins(&mut tx, SMALL, 0));
    assert_eq!(days.iter().map(|d| d.3).sum::<i64>(), 10);
    let days = counted!(
        "SCIM requests per day",
        activity::scim_requests(&mut tx, SMALL, 0)
    );
    assert_eq!(days.iter().map(|d| d.3).sum::<i64>(), 10);
    let days = counted!(
        "deliveries per day",
        activity::deliveries(&mut tx, SMALL, 0)
    );
    assert_eq!(days.iter().map(|d| d.3).sum::<i64>(), 10);
    assert!(
        too_many.is_empty(),
        "reads of the small organization read other organizations' rows: {too_many:#?}"
    );
    tx.rollback().await.expect("rollback");
}

/// SQLite: the retention purges of the request log and the sign-in attempts find the owners
/// (directories, connections) through their `(owner, created_at)` index one probe each, and
/// each owner's old rows by a range of it, never a scan of the log (a `DELETE … WHERE created_at
/// < ?` read every row, bodies and all, holding the write lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_retention_purges_search_each_owners_old_rows() {
    use lanyard::server::db::retention::{owners_sql, step_sql};
    let app = TestApp::spawn(Dialect::Sqlite).await;
    for (table, owner, index) in [
        ("scim_requests", "directory_id", "scim_requests_dir_day"),
        ("login_attempts", "connection_id", "login_attempts_conn"),
    ] {
        let owners = plan(&app, &owners_sql(table, owner, "created_at")).await;
        let step = plan(&app, &step_sql(table, owner, "created_at")).await;
        for (what, steps, search) in [
            ("owners", &owners, format!("({owner}>?)")),
            ("owners' oldest", &owners, format!("({owner}=?)")),
            (
                "purge step",
                &step,
                format!("{index} ({owner}=? AND created_at<?)"),
            ),
        ] {
            assert!(
                steps
                    .iter()
                    .any(|s| s.starts_with("SEARCH") && s.contains(&search))
                    && !steps
                        .iter()
                        .any(|s| s.starts_with("SCAN") && s.contains(table)),
                "{table} {what}: {steps:?}"
            );
        }
    }
}

/// PostgreSQL: the retention purges of the request log and the sign-in attempts read the rows
/// they delete and a few index entries per owner, not the log: 20,000 recent rows of one owner,
/// 1,500 old ones of another, and 98 owners with a recent row each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_retention_purges_read_the_rows_they_delete() {
    let app = TestApp::spawn(Dialect::Postgres).await;
    let mut tx = app.state.db.pool.begin().await.expect("begin");
    let owner = "CASE WHEN g <= 20000 THEN 'busy' WHEN g <= 21500 THEN 'old' ELSE 'other' || g END";
    let at = "CASE WHEN g > 20000 AND g <= 21500 THEN g ELSE 5000000 + g END";
    run_all(
        &mut tx,
        &[
            &format!(
                "INSERT INTO scim_requests (id, directory_id, organization_id, method, path, status, duration_ms, created_at) \
                 SELECT 'sr_' || g, {owner}, 'org_x', 'POST', '/Users', 201, 1, {at} FROM generate_series(1, 21598) g"
            ),
            &format!(
                "INSERT INTO login_attempts (id, organization_id, connection_id, purpose, outcome, reason, evidence, created_at) \
                 SELECT 'la_' || g, 'org_x', {owner}, 'sign_in', 'succeeded', NULL, '{{}}', {at} FROM generate_series(1, 21598) g"
            ),
            "ANALYZE scim_requests, login_attempts",
        ],
    )
    .await;
    for table in ["scim_requests", "login_attempts"] {
        let before = entries_read(&mut tx, table).await;
        let purged = if table == "scim_requests" {
            lanyard::server::db::scim_log::purge_requests(&mut tx, 1_000_000).await
        } else {
            lanyard::server::db::sign_in::purge_attempts(&mut tx, 1_000_000).await
        }
        .expect("purge");
        let read = entries_read(&mut tx, table).await - before;
        assert_eq!(purged, 1_500, "{table}");
        assert!(
            read < 5_000,
            "purging 1,500 rows of {table} read {read} rows and index entries of 21,598"
        );
    }
    tx.rollback().await.expect("rollback");
}
