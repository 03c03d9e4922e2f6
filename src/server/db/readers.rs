//! Short reads (sessions, the portal's pages, SCIM lookups) on connections this process keeps
//! itself instead of in an sqlx pool.
//!
//! On SQLite the connections are the inline readers of
//! docs/decisions/0003-sqlite-writer-inline.md: they cannot write (`PRAGMA query_only`) and run
//! each statement to its end on the caller's thread.
//! An sqlx pool hands such a connection back on a task of its own, spawned by every release,
//! which pings the connection first and wakes a worker thread: more work than the statement it
//! served (issue 17: a portal overview took two such round trips, a SCIM lookup one). Here a
//! connection goes back on the spot: into the list of idle ones, then its permit is released,
//! which wakes the next waiter if there is one. Nothing is lost by skipping the ping: a file
//! connection does not go stale, and an inline statement never stops half-way (every row is read
//! before the caller sees the first), so a connection always comes back between statements.
//!
//! PostgreSQL's short reads are kept the same way (issue 17): an sqlx pool pings a PostgreSQL
//! connection when it is taken and again when it comes back, two round trips around a lookup of
//! one. A kept PostgreSQL connection is pinged only when it may have gone stale: when it has been
//! idle longer than [`IDLE_CHECK`], or when a database error that may mean a lost connection was
//! seen anywhere in the process since it was last known good ([`note_error`]); one that fails the
//! ping is closed and another opened. A read whose future was dropped half-way (a client gone)
//! leaves its connection with replies still to read; sqlx reads them off before the next
//! statement, and when the abandoned statement had failed, that next statement fails with its
//! error (an error, never another read's rows; the pool pinged on give-back instead, one more
//! round trip on every read). The connections are not made read-only (see
//! `super::postgres_reader_setup`); no read path writes.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::any::{AnyConnectOptions, AnyTransactionManager};
use sqlx::pool::PoolConnection;
use sqlx::{Any, Connection as _, TransactionManager as _};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Conn;

/// How long a read waits for a connection before failing (the sqlx pools' default).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// PostgreSQL: how long the check of a kept connection may take before it is given up as dead.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// PostgreSQL: a kept connection idle longer than this is pinged before it is used (a server
/// restarted, a connection closed by the server or the network while idle). Under load
/// connections come back within milliseconds and are never pinged.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Database errors seen by the process that may mean a lost connection ([`note_error`]). A kept
/// PostgreSQL connection remembers the count when it was taken; when the count has moved by the
/// next time it is taken, it is pinged first.
static TROUBLE: AtomicU64 = AtomicU64::new(0);

/// Counts `e` when it may mean a lost or unusable connection (I/O, TLS, protocol, the pool's
/// own failures, PostgreSQL's connection exceptions (08), operator intervention such as an
/// administrator's shutdown (57) and insufficient resources (53)). Called where database errors
/// become the application's ([`crate::server::error::AppError`], the session store).
pub(crate) fn note_error(e: &sqlx::Error) {
    let trouble = match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57") || c.starts_with("53")),
        _ => false,
    };
    if trouble {
        TROUBLE.fetch_add(1, Ordering::AcqRel);
    }
}

/// An idle connection: when it was opened, when it came back, and [`TROUBLE`] when it was last
/// known good (taken after a successful ping or with no trouble since).
struct Idle {
    conn: Conn,
    opened: Instant,
    back: Instant,
    trouble: u64,
}

/// How long a connection is used before it is closed and another opened, as the sqlx pool these
/// connections came from did (its default `max_lifetime`). Not a way to follow a database file
/// replaced under a running server: the writer keeps its connection, and a restore needs the
/// server stopped (README, Backups).
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// The read connections of one database: at most `max` open, the idle ones in a list.
pub(crate) struct Readers {
    opts: AnyConnectOptions,
    idle: Mutex<Vec<Idle>>,
    permits: Arc<Semaphore>,
    max: usize,
    /// Connections open now (idle or in use).
    open: AtomicUsize,
    /// [`MAX_LIFETIME`] (shorter in tests).
    lifetime: Duration,
    /// PostgreSQL connections (set up by `super::postgres_reader_setup`), else SQLite's.
    postgres: bool,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers")
            .field("available", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl Readers {
    /// Up to `max` connections opened with `opts` (each set up by `super::postgres_reader_setup`
    /// or `super::sqlite_reader_pragmas` when opened, on first need).
    pub(crate) fn new(opts: AnyConnectOptions, max: usize, postgres: bool) -> Arc<Readers> {
        Arc::new(Readers {
            opts,
            idle: Mutex::default(),
            permits: Arc::new(Semaphore::new(max)),
            max,
            open: AtomicUsize::new(0),
            lifetime: MAX_LIFETIME,
            postgres,
        })
    }

    /// Connections open now: (idle, in use).
    pub(crate) fn counts(&self) -> (usize, usize) {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).len();
        let open = self.open.load(Ordering::Acquire);
        debug_assert!(
            open <= self.max,
            "{open} read connections open, at most {}",
            self.max
        );
        (idle, open.saturating_sub(idle))
    }

    /// An idle connection, or a new one while fewer than `max` are open; else waits (at most
    /// [`ACQUIRE_TIMEOUT`]) for one to come back.
    pub(crate) async fn get(self: &Arc<Self>) -> Result<ReadConn, sqlx::Error> {
        // One deadline for the whole take: the wait for a permit, each check, the connect.
        let deadline = tokio::time::Instant::now() + ACQUIRE_TIMEOUT;
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => tokio::time::timeout_at(deadline, self.permits.clone().acquire_owned())
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)?
                .map_err(|_| sqlx::Error::PoolClosed)?,
        };
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let trouble = TROUBLE.load(Ordering::Acquire);
            let (conn, opened) = match idle {
                Some(i) if i.opened.elapsed() < self.lifetime => {
                    let Idle {
                        mut conn,
                        opened,
                        back,
                        trouble: known_good,
                    } = i;
                    if self.postgres && (back.elapsed() > IDLE_CHECK || known_good != trouble) {
                        // Not counted as open while checked: a read given up during the ping
                        // drops (closes) the connection.
                        self.open.fetch_sub(1, Ordering::AcqRel);
                        let until = deadline.min(tokio::time::Instant::now() + PING_TIMEOUT);
                        let failed = match tokio::time::timeout_at(until, conn.ping()).await {
                            Ok(Ok(())) => None,
                            Ok(Err(e)) => Some(e.to_string()),
                            Err(_) => Some(format!("no answer within {PING_TIMEOUT:?}")),
                        };
                        if let Some(why) = failed {
                            tracing::warn!(
                                "a kept read connection failed its check ({why}); closed"
                            );
                            drop(conn);
                            // The others may be as dead: each is checked when next taken.
                            TROUBLE.fetch_add(1, Ordering::AcqRel);
                            if tokio::time::Instant::now() >= deadline {
                                return Err(sqlx::Error::PoolTimedOut);
                            }
                            continue;
                        }
                        self.open.fetch_add(1, Ordering::AcqRel);
                    }
                    (conn, opened)
                }
                old => {
                    if let Some(i) = old {
                        self.discard(i.conn);
                    }
                    // A connection that fails its setup is dropped (closed), its permit with it.
                    let mut c = tokio::time::timeout_at(deadline, Conn::connect_with(&self.opts))
                        .await
                        .map_err(|_| sqlx::Error::PoolTimedOut)??;
                    if self.postgres {
                        super::postgres_reader_setup(&mut c).await;
                    } else {
                        super::sqlite_reader_pragmas(&mut c).await?;
                    }
                    self.open.fetch_add(1, Ordering::AcqRel);
                    (c, Instant::now())
                }
            };
            return Ok(ReadConn(Inner::Kept {
                conn: Some((conn, opened, trouble)),
                readers: self.clone(),
                _permit: permit,
            }));
        }
    }

    /// Closes a connection that is not given back.
    fn discard(&self, c: Conn) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        drop(c);
    }
}

/// A connection for a short read ([`super::Db::read`]): dereferences to the connection, goes
/// back when dropped.
pub struct ReadConn(Inner);

enum Inner {
    /// PostgreSQL: a connection of the pool.
    Pooled(PoolConnection<Any>),
    /// One of [`Readers`], with when it was opened and [`TROUBLE`] when it was taken; the permit
    /// is released after the connection is back in the idle list (fields drop after
    /// `Drop::drop` has run).
    Kept {
        conn: Option<(Conn, Instant, u64)>,
        readers: Arc<Readers>,
        _permit: OwnedSemaphorePermit,
    },
}

impl ReadConn {
    pub(crate) fn pooled(c: PoolConnection<Any>) -> ReadConn {
        ReadConn(Inner::Pooled(c))
    }
}

impl Deref for ReadConn {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        match &self.0 {
            Inner::Pooled(c) => c,
            Inner::Kept { conn, .. } => &conn.as_ref().expect("a read connection until dropped").0,
        }
    }
}

impl DerefMut for ReadConn {
    fn deref_mut(&mut self) -> &mut Conn {
        match &mut self.0 {
            Inner::Pooled(c) => c,
            Inner::Kept { conn, .. } => {
                &mut conn.as_mut().expect("a read connection until dropped").0
            }
        }
    }
}

impl Drop for ReadConn {
    fn drop(&mut self) {
        if let Inner::Kept { conn, readers, .. } = &mut self.0 {
            if let Some((c, opened, trouble)) = conn.take() {
                // A transaction left open would keep its snapshot for every later read on the
                // connection (and hold back checkpoints): such a connection is closed instead.
                // No read path begins one; this keeps a future one begun through sqlx
                // (`begin`, `Transaction`) from doing harm. A `BEGIN` sent as plain SQL is not
                // counted by sqlx and not seen here: read paths must not send one.
                if AnyTransactionManager::get_transaction_depth(&c) > 0 {
                    tracing::error!("a read connection came back inside a transaction; closed");
                    readers.discard(c);
                    return;
                }
                readers
                    .idle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Idle {
                        conn: c,
                        opened,
                        back: Instant::now(),
                        trouble,
                    });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr as _;

    async fn readers(dir: &tempfile::TempDir, max: usize) -> Arc<Readers> {
        sqlx::any::install_default_drivers();
        let url = format!(
            "sqlite://{}?mode=rwc&lanyard_inline=true",
            dir.path().join("r.db").display()
        );
        Readers::new(AnyConnectOptions::from_str(&url).unwrap(), max, false)
    }

    #[tokio::test]
    async fn connections_are_reused_and_never_more_than_max_are_open() {
        let dir = tempfile::tempdir().unwrap();
        let r = readers(&dir, 2).await;
        let mut a = r.get().await.unwrap();
        let one: i64 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut *a)
            .await
            .unwrap();
        assert_eq!(one, 1);
        let b = r.get().await.unwrap();
        // Both out: a third waits until one comes back.
        let waiting = tokio::spawn({
            let r = r.clone();
            async move { r.get().await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "a third connection was opened");
        drop(a);
        waiting.await.unwrap().unwrap();
        drop(b);
        // Two were opened, both idle now; the next reads reuse them.
        assert_eq!(r.counts(), (2, 0));
        let _c = r.get().await.unwrap();
        assert_eq!(r.counts(), (1, 1));
    }

    #[tokio::test]
    async fn a_connection_given_back_inside_a_transaction_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let r = readers(&dir, 1).await;
        let mut c = r.get().await.unwrap();
        AnyTransactionManager::begin(&mut c, None).await.unwrap();
        drop(c);
        assert_eq!(r.counts(), (0, 0));
        // The next read opens a new connection, outside any transaction.
        let c = r.get().await.unwrap();
        assert_eq!(AnyTransactionManager::get_transaction_depth(&c), 0);
        assert_eq!(r.counts(), (0, 1));
    }

    #[tokio::test]
    async fn a_connection_past_its_lifetime_is_replaced_when_next_taken() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Arc::try_unwrap(readers(&dir, 2).await).unwrap();
        r.lifetime = Duration::from_millis(100);
        let r = Arc::new(r);
        // A setting of the connection itself marks it.
        let cache_size = |mut c: ReadConn| async move {
            sqlx::query_scalar::<_, i64>("PRAGMA cache_size")
                .fetch_one(&mut *c)
                .await
                .unwrap()
        };
        let mut first = r.get().await.unwrap();
        sqlx::query("PRAGMA cache_size = 1234")
            .execute(&mut *first)
            .await
            .unwrap();
        drop(first);
        // Within its lifetime the same connection comes back.
        assert_eq!(cache_size(r.get().await.unwrap()).await, 1234);
        tokio::time::sleep(Duration::from_millis(150)).await;
        // Past it, the old one is closed and a new one (default settings) opened: one open.
        let fresh = r.get().await.unwrap();
        assert_eq!(r.counts(), (0, 1));
        assert_ne!(cache_size(fresh).await, 1234);
        assert_eq!(r.counts(), (1, 0));
    }

    #[tokio::test]
    async fn read_connections_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let r = readers(&dir, 1).await;
        let mut c = r.get().await.unwrap();
        let e = sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&mut *c)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("readonly"), "{e}");
    }
}
