//! SQL only. Both dialects share query text through sqlx's `Any` driver: plain scalar types
//! (TEXT, BIGINT), `$n` placeholders, timestamps as epoch milliseconds.
//!
//! One module per table group, named after what it stores; a query lives with the table whose
//! rows it is about:
//!
//! - tenants and their setup: [`organizations`], [`domains`], [`setup_links`];
//! - sign-in: [`connections`], [`saml`] (pinned certificates, replay cache), [`sign_in`]
//!   (pending requests, one-time codes, attempts), [`redirect_uris`];
//! - people: [`users`] (users and their IdP identities), [`memberships`] (with grants and
//!   scheduled removals), [`roles`], [`invitations`] (with their tokens), [`mail`] (the outbox);
//! - directory sync: [`directories`], [`directory_tokens`], [`directory_users`],
//!   [`directory_groups`] (with their members), [`group_mappings`], [`scim_log`];
//! - vendor and operations: [`api_keys`], [`idempotency`], [`webhooks`], [`staff`], [`health`]
//!   (support console reads and snapshots).

pub mod api_keys;
pub mod connections;
pub mod directories;
pub mod directory_groups;
pub mod directory_tokens;
pub mod directory_users;
pub mod domains;
pub mod group_mappings;
pub mod health;
pub mod idempotency;
pub mod invitations;
pub mod mail;
pub mod memberships;
pub mod organizations;
pub mod redirect_uris;
pub mod roles;
pub mod saml;
pub mod scim_log;
pub mod setup_links;
pub mod sign_in;
pub mod staff;
pub mod users;
pub mod webhooks;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor as _, Transaction};
use std::str::FromStr as _;
use std::sync::{Mutex, OnceLock};

use crate::domain::ids::IdKind;

/// The connection used by query functions (a pooled connection or a transaction).
pub type Conn = sqlx::AnyConnection;

/// Which SQL dialect the pool speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The database handle shared by every request.
#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub dialect: Dialect,
    /// SQLite admits one writer at a time; writers of this process queue here (fair, no sleeping)
    /// instead of in SQLite's busy handler, whose back-off sleeps up to 100 ms per retry.
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// Held by a write on SQLite until it commits or rolls back.
pub type WriteGuard = Option<tokio::sync::OwnedMutexGuard<()>>;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Db {
    /// Connects to `sqlite:…` (file created with its directory if missing) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
        sqlx::any::install_default_drivers();
        if url.starts_with("sqlite:") {
            let path = url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:")
                .split('?')
                .next()
                .unwrap_or_default()
                .to_owned();
            if let Some(parent) = std::path::Path::new(&path).parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent).map_err(sqlx::Error::Io)?;
                }
            }
            let url = if url.contains('?') {
                url.to_owned()
            } else {
                format!("{url}?mode=rwc")
            };
            let opts = AnyConnectOptions::from_str(&url)?;
            let pool = AnyPoolOptions::new()
                .max_connections(8)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        Ok(())
                    })
                })
                .connect_with(opts)
                .await?;
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
            Ok(Db {
                pool,
                dialect: Dialect::Sqlite,
                writer: Default::default(),
            })
        } else {
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .connect(url)
                .await?;
            Ok(Db {
                pool,
                dialect: Dialect::Postgres,
                writer: Default::default(),
            })
        }
    }

    /// Applies pending migrations of this dialect.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self.dialect {
            Dialect::Sqlite => SQLITE_MIGRATOR.run(&self.pool).await,
            Dialect::Postgres => POSTGRES_MIGRATOR.run(&self.pool).await,
        }
    }

    /// Starts a transaction. On SQLite it first waits its turn among this process's writers,
    /// then takes the database's write lock at once (`BEGIN IMMEDIATE`) so that two writers
    /// queue instead of failing with a stale snapshot. Keep the guard until the transaction ends.
    pub async fn begin(&self) -> Result<(Transaction<'static, Any>, WriteGuard), sqlx::Error> {
        match self.dialect {
            Dialect::Sqlite => {
                let guard = self.write_turn().await?;
                Ok((self.pool.begin_with("BEGIN IMMEDIATE").await?, guard))
            }
            Dialect::Postgres => Ok((self.pool.begin().await?, None)),
        }
    }

    /// This process's turn to write on SQLite (`None` on PostgreSQL, where rows lock, not files).
    /// Gives up after the same 10 s SQLite's busy timeout allows, so a write that waits on itself
    /// fails instead of hanging.
    pub async fn write_turn(&self) -> Result<WriteGuard, sqlx::Error> {
        match self.dialect {
            Dialect::Sqlite => {
                let turn = self.writer.clone().lock_owned();
                match tokio::time::timeout(std::time::Duration::from_secs(10), turn).await {
                    Ok(guard) => Ok(Some(guard)),
                    Err(_) => {
                        tracing::error!("waited 10 s for the SQLite write turn");
                        Err(sqlx::Error::PoolTimedOut)
                    }
                }
            }
            Dialect::Postgres => Ok(None),
        }
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }
}

/// Whether a read locks the rows it returns until the transaction ends. The db function decides
/// what that takes from the connection's backend ([`for_update`]): callers only say "lock this".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// A plain read.
    Plain,
    /// `FOR UPDATE` on PostgreSQL; nothing on SQLite, whose write transactions begin IMMEDIATE
    /// and so already hold the whole database.
    ForUpdate,
}

/// True when `conn` talks to PostgreSQL, the backend that locks rows (SQLite has one writer).
pub(crate) fn locks_rows(conn: &Conn) -> bool {
    conn.backend_name() == <sqlx::Postgres as sqlx::Database>::NAME
}

/// The clause that ends a `SELECT` reading with `lock` on this connection.
pub(crate) fn for_update(conn: &Conn, lock: Lock) -> &'static str {
    match lock {
        Lock::ForUpdate if locks_rows(conn) => " FOR UPDATE",
        _ => "",
    }
}

/// A 0/1 flag column read as `bool`: `#[sqlx(try_from = "crate::server::db::Flag")]` on a
/// `bool` field of a row struct (sqlx's `Any` driver decodes `bool` only from a boolean column,
/// and both schemas store flags as integers).
#[derive(Debug, Clone, Copy)]
pub struct Flag(i64);

impl sqlx::Type<Any> for Flag {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <i64 as sqlx::Type<Any>>::type_info()
    }

    fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
        <i64 as sqlx::Type<Any>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, Any> for Flag {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        <i64 as sqlx::Decode<'r, Any>>::decode(value).map(Flag)
    }
}

impl From<Flag> for bool {
    fn from(f: Flag) -> bool {
        f.0 != 0
    }
}

/// A new public id of `kind`; ids made by one process are strictly increasing.
pub fn new_id(kind: IdKind) -> String {
    static GEN: OnceLock<Mutex<ulid::Generator>> = OnceLock::new();
    let gen = GEN.get_or_init(|| Mutex::new(ulid::Generator::new()));
    let id = {
        let mut g = gen.lock().unwrap_or_else(|p| p.into_inner());
        g.generate().unwrap_or_else(|_| ulid::Ulid::new())
    };
    format!("{}{}", kind.prefix(), id)
}

/// True when the error is a unique-constraint violation.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            db.is_unique_violation()
                || db.code().as_deref() == Some("23505")
                || db.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}
