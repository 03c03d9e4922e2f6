//! The two migration folders must build the same schema: every table, column (type family and
//! nullability) and named index that `migrations/sqlite` creates, `migrations/postgres` creates
//! too, and nothing more. Dialect differences that do not change the schema's meaning are
//! allowed: `COLLATE "C"` on PostgreSQL ids, type spellings, constraint-backed index names, and
//! the `WHERE` of partial indexes (not compared; see migrations/README.md).

use std::collections::BTreeMap;

use crate::helpers::{Dialect, TestApp};

/// table → columns (name, type family, NOT NULL); plus named indexes → (table, columns, unique).
#[derive(Debug, PartialEq, Eq)]
struct Schema {
    tables: BTreeMap<String, Vec<(String, &'static str, bool)>>,
    indexes: BTreeMap<String, (String, Vec<String>, bool)>,
}

fn family(declared: &str) -> &'static str {
    match declared.to_ascii_lowercase().as_str() {
        "text" | "character varying" | "varchar" => "text",
        "bigint" | "integer" | "int" | "int8" | "smallint" => "integer",
        "blob" | "bytea" => "bytes",
        "boolean" | "bool" => "boolean",
        "real" | "double precision" | "float8" => "real",
        other => panic!("a column type the schema check does not know: {other}"),
    }
}

async fn rows<T>(app: &TestApp, sql: &str, bind: Option<&str>) -> Vec<T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let mut q = sqlx::query_as::<_, T>(sql);
    if let Some(b) = bind {
        q = q.bind(b.to_owned());
    }
    q.fetch_all(&app.state.db.pool).await.unwrap()
}

async fn sqlite_schema(app: &TestApp) -> Schema {
    let mut tables = BTreeMap::new();
    let names: Vec<(String,)> = rows(
        app,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
        None,
    )
    .await;
    for (t,) in names {
        let cols: Vec<(String, String, i64, i64)> = rows(
            app,
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info($1) ORDER BY cid",
            Some(&t),
        )
        .await;
        tables.insert(
            t,
            cols.into_iter()
                // SQLite lets a TEXT PRIMARY KEY hold NULL unless declared NOT NULL; PostgreSQL
                // never does. Every id here is declared NOT NULL, so pk implies NOT NULL.
                .map(|(n, ty, nn, pk)| (n, family(&ty), nn == 1 || pk > 0))
                .collect(),
        );
    }
    let mut indexes = BTreeMap::new();
    let idx: Vec<(String, String, String)> = rows(
        app,
        "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'",
        None,
    )
    .await;
    for (name, table, sql) in idx {
        let cols: Vec<(String,)> = rows(
            app,
            // An expression (`LOWER(display_name)`) has no column name: "(expression)".
            "SELECT COALESCE(name, '(expression)') FROM pragma_index_info($1) ORDER BY seqno",
            Some(&name),
        )
        .await;
        let unique = sql.to_ascii_uppercase().starts_with("CREATE UNIQUE");
        indexes.insert(
            name,
            (table, cols.into_iter().map(|c| c.0).collect(), unique),
        );
    }
    Schema { tables, indexes }
}

async fn postgres_schema(app: &TestApp) -> Schema {
    let mut tables = BTreeMap::new();
    let names: Vec<(String,)> = rows(
        app,
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' \
         AND table_type = 'BASE TABLE' AND table_name <> '_sqlx_migrations'",
        None,
    )
    .await;
    for (t,) in names {
        let cols: Vec<(String, String, String)> = rows(
            app,
            "SELECT column_name::text, data_type::text, is_nullable::text FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
            Some(&t),
        )
        .await;
        tables.insert(
            t,
            cols.into_iter()
                .map(|(n, ty, nullable)| (n, family(&ty), nullable == "NO"))
                .collect(),
        );
    }
    let mut indexes = BTreeMap::new();
    let idx: Vec<(String, String, String)> = rows(
        app,
        "SELECT indexname::text, tablename::text, indexdef FROM pg_indexes WHERE schemaname = 'public' \
         AND tablename <> '_sqlx_migrations'",
        None,
    )
    .await;
    for (name, table, def) in idx {
        // Indexes behind PRIMARY KEY and UNIQUE constraints; SQLite's are `sqlite_autoindex_*`.
        if name.ends_with("_pkey") || name.ends_with("_key") {
            continue;
        }
        // The key list: the outermost parentheses after the table, split at their own commas.
        let (mut depth, mut cols, mut key) = (0, Vec::new(), String::new());
        for ch in def.chars() {
            match ch {
                '(' if depth == 0 => depth = 1,
                '(' => {
                    depth += 1;
                    key.push(ch);
                }
                ')' if depth == 1 => {
                    cols.push(std::mem::take(&mut key));
                    break;
                }
                ')' => {
                    depth -= 1;
                    key.push(ch);
                }
                ',' if depth == 1 => cols.push(std::mem::take(&mut key)),
                _ if depth >= 1 => key.push(ch),
                _ => {}
            }
        }
        let cols = cols
            .into_iter()
            .map(|c| {
                let c = c.replace("COLLATE \"C\"", "");
                let c = c.trim().trim_matches('"');
                // An expression (`lower(display_name)`), as SQLite's index_info reports it.
                if c.contains('(') {
                    "(expression)".to_owned()
                } else {
                    c.to_owned()
                }
            })
            .collect();
        indexes.insert(name, (table, cols, def.starts_with("CREATE UNIQUE")));
    }
    Schema { tables, indexes }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_migration_folders_build_the_same_schema() {
    let sqlite = TestApp::spawn(Dialect::Sqlite).await;
    let postgres = TestApp::spawn(Dialect::Postgres).await;
    let (s, p) = (
        sqlite_schema(&sqlite).await,
        postgres_schema(&postgres).await,
    );
    assert!(s.tables.len() > 30, "{:?}", s.tables.keys());
    for (t, cols) in &s.tables {
        assert_eq!(
            Some(cols),
            p.tables.get(t),
            "table {t}: SQLite vs PostgreSQL"
        );
    }
    for t in p.tables.keys() {
        assert!(
            s.tables.contains_key(t),
            "table {t} exists only on PostgreSQL"
        );
    }
    for (i, def) in &s.indexes {
        assert_eq!(
            Some(def),
            p.indexes.get(i),
            "index {i}: SQLite vs PostgreSQL"
        );
    }
    for i in p.indexes.keys() {
        assert!(
            s.indexes.contains_key(i),
            "index {i} exists only on PostgreSQL"
        );
    }
}
