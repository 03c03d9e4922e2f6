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

pub mod activity;
pub mod api_keys;
pub mod audit_exports;
pub mod connections;
pub mod directories;
pub mod directory_groups;
pub mod directory_tokens;
pub mod directory_users;
pub mod domains;
pub mod group_mappings;
pub mod health;
pub mod held;
pub mod idempotency;
pub mod invitations;
pub mod mail;
pub mod memberships;
pub mod oauth;
pub mod organizations;
mod readers;
pub mod redirect_uris;
pub mod retention;
pub mod roles;
pub mod saml;
pub mod scim_log;
pub mod setup_links;
pub mod sign_in;
pub mod sso_sessions;
pub mod staff;
pub mod users;
pub mod webhooks;

pub(crate) use readers::note_error;
pub use readers::ReadConn;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyTransactionManager};
use sqlx::{
    Any, AnyConnection, AnyPool, Connection as _, Executor as _, Transaction,
    TransactionManager as _,
};
use std::str::FromStr as _;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::{oneshot, Notify, OwnedMutexGuard};

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
    /// SQLite: the connections of short reads ([`Db::read`]); `None` on PostgreSQL.
    readers: Arc<readers::Readers>,
    pub dialect: Dialect,
    /// Counts the writes this process committed: what is computed from the database and kept
    /// in memory is stale once it moves (see [`Db::generation`]).
    changes: Arc<std::sync::atomic::AtomicU64>,
    /// SQLite: this process's one writer (see [`Writer`]).
    writer: Arc<Writer>,
    /// PostgreSQL: links audit events into their chains and numbers the events feed after
    /// commit (see [`Sequencer`]).
    sequencer: Arc<Sequencer>,
}

/// How long a write waits for its turn before failing (SQLite's busy timeout is the same).
const TURN_TIMEOUT: Duration = Duration::from_secs(10);

/// SQLite admits one writer at a time. This process writes through one dedicated connection
/// (its page cache and prepared statements stay warm) that requests take turns on, in arrival
/// order, instead of polling SQLite's busy handler (whose back-off sleeps up to 100 ms).
///
/// Group commit: a request's writes run in a savepoint of a transaction shared with the requests
/// that queued behind it. A request that fails rolls back to its savepoint, which leaves the
/// others untouched; one that succeeds releases its savepoint and waits. The committer takes its
/// turn after the requests queued by then (it first lets the requests ready to run reach the
/// queue: [`COMMIT_YIELDS`]), commits them all at once and only then answers each
/// one; a failed commit fails every request of the batch. One commit then writes each page the
/// batch touched once (the chain heads, the feed's head, the tails of the indexes) instead of
/// once per request.
struct Writer {
    slot: Arc<tokio::sync::Mutex<Slot>>,
    /// Wakes the committer.
    kick: Arc<Notify>,
    /// How to open the dedicated connection (`None` on PostgreSQL).
    opts: Option<AnyConnectOptions>,
    /// The committer and the checkpointer run.
    started: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

/// The writer's state, owned by whoever holds the turn.
#[derive(Default)]
struct Slot {
    /// The dedicated connection, opened on first use and again after a failed batch.
    conn: Option<AnyConnection>,
    /// A batch transaction is open on `conn`.
    open: bool,
    /// A savepoint could not be opened, released or rolled back: the batch must not commit.
    poisoned: bool,
    /// A write was dropped without committing: its savepoint is to be rolled back before the
    /// connection is used again.
    abandoned: bool,
    /// Requests whose savepoint was released into the open batch, waiting for its commit.
    waiting: Vec<oneshot::Sender<Result<(), String>>>,
    /// The database's count of committed writes ([`Db::generation`]): moved by the batch's
    /// commit itself, before any request of it is answered, so that a request cancelled while
    /// it waits still moves it.
    changes: Arc<std::sync::atomic::AtomicU64>,
}

/// Held by a write on SQLite until it commits or rolls back: this process's turn to write.
pub struct WriteTurn {
    _guard: OwnedMutexGuard<Slot>,
}

impl std::fmt::Debug for WriteTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteTurn")
    }
}

/// Moves the generation when dropped.
struct MoveOnDrop<'a>(&'a std::sync::atomic::AtomicU64);

impl Drop for MoveOnDrop<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Release);
    }
}

/// Held by a write on SQLite until it commits or rolls back (`None` on PostgreSQL).
pub type WriteGuard = Option<WriteTurn>;

/// A write transaction: on PostgreSQL a pooled transaction; on SQLite a savepoint on the
/// dedicated writer connection, committed with the other writes of its batch. Dropping it
/// without [`WriteTx::commit`] rolls back its writes (and only them).
pub struct WriteTx {
    inner: Option<Inner>,
    /// The database's count of committed writes, moved on commit (see [`Db::generation`]).
    changes: Arc<std::sync::atomic::AtomicU64>,
}

enum Inner {
    Pool(Transaction<'static, Any>),
    /// PostgreSQL: a transaction on a worker's kept connection ([`Kept`]).
    Kept(KeptTx),
    Shared {
        turn: OwnedMutexGuard<Slot>,
        kick: Arc<Notify>,
    },
}

impl WriteTx {
    /// The connection for the transaction's statements.
    pub fn conn(&mut self) -> &mut Conn {
        match self.inner.as_mut() {
            Some(Inner::Pool(tx)) => tx,
            Some(Inner::Kept(k)) => k.conn(),
            Some(Inner::Shared { turn, .. }) => turn
                .conn
                .as_mut()
                .expect("the writer connection is open while a write holds the turn"),
            None => unreachable!("a WriteTx is only emptied by commit, which consumes it"),
        }
    }

    /// Commits. On SQLite: releases the savepoint, then waits until the batch it joined has
    /// committed (an error if that commit failed: then none of the batch was written).
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        match self.inner.take() {
            Some(Inner::Pool(tx)) => {
                // Moved however the commit ends, also when this future is dropped mid-commit
                // (the commit may still have reached the database).
                let _moved = MoveOnDrop(&self.changes);
                tx.commit().await
            }
            Some(Inner::Kept(tx)) => {
                let _moved = MoveOnDrop(&self.changes);
                tx.commit().await
            }
            Some(Inner::Shared { mut turn, kick }) => {
                let released = match turn.conn.as_mut() {
                    Some(conn) => AnyTransactionManager::commit(conn).await,
                    None => Err(sqlx::Error::PoolClosed),
                };
                if let Err(e) = released {
                    turn.poisoned = true;
                    drop(turn);
                    kick.notify_one();
                    return Err(e);
                }
                let (done, committed) = oneshot::channel();
                turn.waiting.push(done);
                drop(turn);
                kick.notify_one();
                // The batch's commit moved the generation (see [`Slot::changes`]).
                match committed.await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(cause)) => Err(sqlx::Error::Protocol(cause)),
                    Err(_) => Err(sqlx::Error::Protocol(
                        "the SQLite writer stopped before committing".into(),
                    )),
                }
            }
            None => Ok(()),
        }
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if let Some(Inner::Shared { mut turn, kick }) = self.inner.take() {
            // Rolled back by whoever takes the turn next ([`settle`]), before anything else. (Not
            // sqlx's `start_rollback`: after a commit whose answer was lost to a cancelled
            // future, sqlx skips the next one.)
            turn.abandoned = true;
            drop(turn);
            // The batch may hold other requests' released writes: have it committed.
            kick.notify_one();
        }
    }
}

/// A connection a background worker keeps between its PostgreSQL transactions (the batches of
/// SCIM creates, the sequencer's steps, the SCIM request log's batches): taken from the pool
/// once, not per transaction, so a transaction costs no round trip for the pool's check on
/// acquire nor for its check on release (issue 17: a create batch's round trips are most of
/// its latency).
/// - Only a connection whose `COMMIT` was answered is kept ([`KeptTx::commit`]): it is out of
///   any transaction, with nothing in flight.
/// - A transaction that failed or was dropped goes back to the pool as a dropped sqlx
///   transaction does: its rollback queued, sent by the pool's check on release (a connection
///   that fails that check is closed). It is not kept.
/// - A kept connection that does not answer its next `BEGIN` within [`KEPT_BEGIN_WAIT`] (it
///   died while kept: a restarted server, a terminated backend, a lost network) is closed, and
///   the transaction begins on a connection from the pool ([`begin_kept`]).
///
/// [`Kept::idle_wait`] hands the connection back to the pool while a worker waits idle, and
/// [`Kept::release`] at once.
#[derive(Debug, Clone, Default)]
pub struct Kept(Arc<KeptSlot>);

#[derive(Debug, Default)]
struct KeptSlot {
    conn: Mutex<Option<sqlx::pool::PoolConnection<Any>>>,
    replaced: std::sync::atomic::AtomicU64,
}

impl Kept {
    /// Gives the kept connection back to the pool, if there is one.
    pub fn release(&self) {
        let conn = self.take();
        drop(conn);
    }

    /// `wait`'s output; when it takes longer than [`KEPT_IDLE`], the kept connection goes back to
    /// the pool meanwhile (a worker waiting for work does not hold a connection others need).
    pub async fn idle_wait<F: std::future::Future>(&self, wait: F) -> F::Output {
        let mut wait = std::pin::pin!(wait);
        match tokio::time::timeout(KEPT_IDLE, &mut wait).await {
            Ok(out) => out,
            Err(_) => {
                self.release();
                wait.await
            }
        }
    }

    /// How many kept connections failed their `BEGIN` and were replaced from the pool.
    pub fn replaced(&self) -> u64 {
        self.0.replaced.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn take(&self) -> Option<sqlx::pool::PoolConnection<Any>> {
        self.0.conn.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn put(&self, conn: sqlx::pool::PoolConnection<Any>) {
        *self.0.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn);
    }
}

/// How long a worker keeps its connection while it waits for work ([`Kept::idle_wait`]).
const KEPT_IDLE: Duration = Duration::from_secs(1);

/// Longest a kept connection's `BEGIN` may take before the connection is taken for dead. The
/// pool's own check runs within its acquire timeout; a kept connection has no such check, and
/// one left half-open by a lost network would otherwise hold its worker until the kernel gives
/// up on it.
const KEPT_BEGIN_WAIT: Duration = Duration::from_secs(2);

/// A transaction on a [`Kept`] connection (PostgreSQL). Dropped without [`KeptTx::commit`], it
/// rolls back and its connection goes back to the pool, not to its [`Kept`].
pub struct KeptTx {
    conn: Option<sqlx::pool::PoolConnection<Any>>,
    home: Kept,
}

impl KeptTx {
    /// The connection for the transaction's statements.
    pub fn conn(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("a kept transaction holds its connection until it ends")
    }

    /// Commits; the connection is then kept for the next transaction.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        AnyTransactionManager::commit(self.conn()).await?;
        if let Some(conn) = self.conn.take() {
            self.home.put(conn);
        }
        Ok(())
    }
}

impl Drop for KeptTx {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            // As sqlx's own transactions do when dropped: the rollback is queued and the pool's
            // check on release sends it (or closes a connection that fails it).
            AnyTransactionManager::start_rollback(&mut conn);
        }
    }
}

/// A transaction opened with `begin` on `kept`'s connection, or on one from the pool when it
/// holds none or its connection does not answer (closed, and counted in [`Kept::replaced`]).
pub async fn begin_kept(
    pool: &AnyPool,
    kept: &Kept,
    begin: std::borrow::Cow<'static, str>,
) -> Result<KeptTx, sqlx::Error> {
    if let Some(conn) = kept.take() {
        if let Ok(Ok(conn)) =
            tokio::time::timeout(KEPT_BEGIN_WAIT, begin_on(conn, begin.clone())).await
        {
            return Ok(KeptTx {
                conn: Some(conn),
                home: kept.clone(),
            });
        }
        kept.0
            .replaced
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let conn = begin_on(pool.acquire().await?, begin).await?;
    Ok(KeptTx {
        conn: Some(conn),
        home: kept.clone(),
    })
}

/// `conn` in a transaction opened with `begin`. A `BEGIN` that fails or is cut short (its future
/// dropped, by a timeout or a cancelled caller) closes the connection: sqlx counts the
/// transaction only once its answer is read, so the pool would take back a connection that may
/// be inside it, with its `SET LOCAL`s.
async fn begin_on(
    conn: sqlx::pool::PoolConnection<Any>,
    begin: std::borrow::Cow<'static, str>,
) -> Result<sqlx::pool::PoolConnection<Any>, sqlx::Error> {
    struct Beginning(Option<sqlx::pool::PoolConnection<Any>>);
    impl Drop for Beginning {
        fn drop(&mut self) {
            if let Some(conn) = self.0.as_mut() {
                conn.close_on_drop();
            }
        }
    }
    let mut beginning = Beginning(Some(conn));
    if let Some(conn) = beginning.0.as_mut() {
        AnyTransactionManager::begin(conn, Some(begin)).await?;
    }
    beginning
        .0
        .take()
        .ok_or_else(|| sqlx::Error::Protocol("a connection went missing during BEGIN".into()))
}

/// Rolls back the savepoint of a write that was dropped without committing. A savepoint that
/// cannot be rolled back poisons the batch.
async fn settle(slot: &mut Slot) {
    if !slot.abandoned {
        return;
    }
    slot.abandoned = false;
    if let Some(conn) = slot.conn.as_mut() {
        if let Err(e) = AnyTransactionManager::rollback(conn).await {
            tracing::error!(error = %e, "could not roll back an abandoned write");
            slot.poisoned = true;
        }
    }
}

/// Opens the dedicated writer connection with the pool's settings.
async fn connect_writer(opts: &AnyConnectOptions) -> Result<AnyConnection, sqlx::Error> {
    let mut conn = AnyConnection::connect_with(opts).await?;
    sqlite_pragmas(&mut conn).await?;
    // The batch marker: a row inserted when a batch begins and deleted just before its commit.
    // A temporary table is part of the transaction, so a batch that SQLite rolled back on its
    // own (disk full, I/O error) is seen as such and never reported committed.
    conn.execute("PRAGMA temp_store = MEMORY").await?;
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS lanyard_batch (open INTEGER NOT NULL)")
        .await?;
    Ok(conn)
}

/// Says so when the SQLite linked in was built with the process-wide page-cache and
/// memory-statistics mutexes `.cargo/config.toml` turns off (`LIBSQLITE3_FLAGS`, see
/// docs/decisions/0003-sqlite-writer-inline.md): a build from elsewhere, or with the variable
/// set differently, works, with its readers waiting on each other.
async fn warn_on_sqlite_build(pool: &AnyPool) {
    let options: Vec<String> = match sqlx::query_scalar("PRAGMA compile_options")
        .fetch_all(pool)
        .await
    {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, "could not read SQLite's compile options");
            return;
        }
    };
    if options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT")
        || !options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0")
    {
        tracing::warn!(
            "this build's SQLite takes process-wide locks on every page read and allocation \
             (built without LIBSQLITE3_FLAGS from .cargo/config.toml): reads are slower"
        );
    }
}

/// Settings of every SQLite connection. Checkpoints run in the background (see
/// [`spawn_checkpointer`]), never inside a request's commit.
async fn sqlite_pragmas(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    conn.execute("PRAGMA busy_timeout = 10000").await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    conn.execute("PRAGMA synchronous = NORMAL").await?;
    conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
    conn.execute("PRAGMA journal_size_limit = 67108864").await?;
    Ok(())
}

/// The inline readers' settings: they cannot write, and as their statements run on a request's
/// thread, a read that finds the database locked (another process recovering the WAL) fails
/// after 2 s instead of holding that thread for the writers' 10 s.
async fn sqlite_reader_pragmas(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    conn.execute("PRAGMA busy_timeout = 2000").await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    conn.execute("PRAGMA query_only = ON").await?;
    Ok(())
}

/// PostgreSQL's short-read connections ([`Db::read`]): no JIT, as the pool's (a server that
/// refuses the setting keeps its own). Not made read-only with a session setting: behind a
/// pooler in transaction mode such a setting would stay on the server connection and reach
/// other clients' writes. No read path writes (reviewed in session 43).
async fn postgres_reader_setup(conn: &mut AnyConnection) {
    if let Err(e) = sqlx::query(POSTGRES_SESSION_SETUP).execute(conn).await {
        tracing::warn!("could not turn PostgreSQL's JIT off for a read connection: {e}");
    }
}

/// Begins a batch, or joins the open one, and opens this write's savepoint.
async fn open_savepoint(slot: &mut Slot, opts: &AnyConnectOptions) -> Result<(), sqlx::Error> {
    if slot.conn.is_none() {
        slot.conn = Some(connect_writer(opts).await?);
    }
    let Some(conn) = slot.conn.as_mut() else {
        return Err(sqlx::Error::PoolClosed);
    };
    if !slot.open {
        if let Err(e) = AnyTransactionManager::begin(conn, Some("BEGIN IMMEDIATE".into())).await {
            // Closing the connection ends whatever was begun.
            slot.conn = None;
            return Err(e);
        }
        slot.open = true;
        if let Err(e) = sqlx::query("INSERT INTO temp.lanyard_batch (open) VALUES (1)")
            .execute(&mut *conn)
            .await
        {
            slot.poisoned = true;
            return Err(e);
        }
    }
    if let Err(e) = AnyTransactionManager::begin(conn, None).await {
        slot.poisoned = true;
        return Err(e);
    }
    Ok(())
}

/// Commits the open batch, if any, and answers every request waiting in it.
async fn flush(slot: &mut Slot) {
    settle(slot).await;
    if !slot.open {
        return;
    }
    let result = commit_batch(slot).await;
    if result.is_ok() {
        slot.changes
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        if !slot.waiting.is_empty() {
            metrics::counter!("lanyard_sqlite_committed_writes_total")
                .increment(slot.waiting.len() as u64);
            metrics::counter!("lanyard_sqlite_commits_total").increment(1);
        }
    }
    slot.open = false;
    slot.poisoned = false;
    if let Err(e) = &result {
        tracing::error!(error = %e, requests = slot.waiting.len(), "SQLite batch commit failed");
        // Closing the connection rolls back whatever is left; the next write opens a new one.
        slot.conn = None;
    }
    for done in slot.waiting.drain(..) {
        let _ = done.send(result.clone());
    }
}

async fn commit_batch(slot: &mut Slot) -> Result<(), String> {
    if slot.poisoned {
        return Err("a write of this batch could not open or release its savepoint".into());
    }
    let conn = slot
        .conn
        .as_mut()
        .ok_or_else(|| "the writer connection is gone".to_owned())?;
    let marker = sqlx::query("DELETE FROM temp.lanyard_batch")
        .execute(&mut *conn)
        .await
        .map_err(|e| e.to_string())?
        .rows_affected();
    if marker != 1 || AnyTransactionManager::get_transaction_depth(conn) != 1 {
        return Err("SQLite rolled the batch transaction back".into());
    }
    AnyTransactionManager::commit(conn)
        .await
        .map_err(|e| e.to_string())
}

/// The committer: takes its turn after the writes queued when it was woken and those that
/// queued while it let the other ready tasks run ([`COMMIT_YIELDS`]), and commits them.
/// Ends when the database handle is gone.
fn spawn_committer(slot: Weak<tokio::sync::Mutex<Slot>>, kick: Arc<Notify>) {
    tokio::spawn(async move {
        loop {
            kick.notified().await;
            // Requests that are ready to run reach their turn first and join this batch.
            for _ in 0..COMMIT_YIELDS {
                tokio::task::yield_now().await;
            }
            let Some(slot) = slot.upgrade() else { return };
            let mut turn = slot.lock_owned().await;
            flush(&mut turn).await;
        }
    });
}

// A schema newer than this binary (a later release migrated it) is fine: releases only expand
// the schema, so an older node keeps starting during a rolling upgrade or a roll-back.
static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate::Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("./migrations/sqlite")
};
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate::Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("./migrations/postgres")
};

/// Times the committer lets the other ready tasks run before it asks for its turn. The turn is
/// handed on in arrival order, so a batch holds the writes that asked before the committer did:
/// asking at once (as until 2026-12-07) gave 3.6 writes per commit under 8 SCIM clients, because
/// requests still reading their body or checking their token arrived just after it. Two passes
/// of the worker's scheduler (no timer; under load the first mostly polls the I/O driver, the
/// second runs the requests it woke) let them queue first: 6.0–6.3 writes per commit, a
/// WAL page written once for twice as many writes, and 12 % less CPU per create (README,
/// Performance). Four passes measured the same as two.
const COMMIT_YIELDS: usize = 2;

/// How often the checkpointer looks at the WAL.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// WAL frames (~4 KiB each) above which the checkpointer finishes a checkpoint with the writers
/// paused, so that the next write starts the WAL over: it stays near 16 MiB instead of growing
/// while writes never pause.
const WAL_RESTART_FRAMES: i64 = 4096;

/// The checkpointer: copies the WAL into the database in the background (a passive checkpoint
/// does not stop writers), and when the WAL has grown past [`WAL_RESTART_FRAMES`] finishes it
/// holding the write turn (only the frames written meanwhile are left to copy). Ends when the
/// database handle or its pool is gone.
fn spawn_checkpointer(pool: AnyPool, writer: Weak<Writer>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(CHECKPOINT_EVERY).await;
            if pool.is_closed() {
                return;
            }
            let Some(writer) = writer.upgrade() else {
                return;
            };
            if let Err(e) = checkpoint(&pool, &writer).await {
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
        }
    });
}

async fn checkpoint(pool: &AnyPool, writer: &Writer) -> Result<(), sqlx::Error> {
    let passive = "PRAGMA wal_checkpoint(PASSIVE)";
    let (_, frames, _): (i64, i64, i64) = sqlx::query_as(passive).fetch_one(pool).await?;
    if frames < WAL_RESTART_FRAMES {
        return Ok(());
    }
    let Ok(mut turn) = tokio::time::timeout(TURN_TIMEOUT, writer.slot.clone().lock_owned()).await
    else {
        return Ok(());
    };
    flush(&mut turn).await;
    sqlx::query_as::<_, (i64, i64, i64)>(passive)
        .fetch_one(pool)
        .await?;
    Ok(())
}

/// PostgreSQL: after commit, audited writes ask for a pass of the sequencer, which links their
/// audit events into the chains and numbers their feed events ([`crate::server::audit::sequence_step`]);
/// readers of the audit log and the feed wait for one ([`Db::caught_up`]). One task per process
/// runs steps back to back while asked or while rows wait, so one step serves every write that
/// committed before it began; and every few seconds when idle, for rows a process left behind
/// when it died between its commit and a pass.
struct Sequencer {
    waiting: Mutex<Vec<Waiter>>,
    kick: Arc<Notify>,
    /// Kicked by readers only: ends a wait for [`SEQUENCER_PACE`].
    readers: Arc<Notify>,
    started: std::sync::atomic::AtomicBool,
}

/// A reader waiting for the rows committed before it looked: the highest write-order places
/// handed out when it looked ([`Db::caught_up`]). A step that began after it registered and
/// covers both places ([`crate::server::audit::PassStep::covers`]) releases it, even while more
/// rows keep arriving behind those.
struct Waiter {
    audit_place: i64,
    events_place: i64,
    done: oneshot::Sender<()>,
}

impl std::fmt::Debug for Sequencer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequencer").finish_non_exhaustive()
    }
}

/// Longest a reader waits for the sequencer step that links the events committed before it.
const SEQUENCED_WAIT: Duration = Duration::from_secs(10);

/// How long the sequencer sleeps when no one asks for a pass.
const SEQUENCER_IDLE: Duration = Duration::from_secs(2);

/// Under a stream of audited writes, the least time between the starts of two steps that a
/// write's kick asks for (a reader's kick does not wait for it): one step then links and
/// numbers the rows of more commits, and each step's own statements and commit are paid less
/// often (issue 17: one step per ~6 SCIM creates on PostgreSQL before, a step's fixed part
/// ~0.6 ms of PostgreSQL's time). Readers still get every row committed before they looked
/// (they kick `readers`); webhooks and the feed's pollers see new events up to this much later.
const SEQUENCER_PACE: Duration = Duration::from_millis(10);

fn spawn_sequencer(
    pool: AnyPool,
    sequencer: Weak<Sequencer>,
    kick: Arc<Notify>,
    readers: Arc<Notify>,
) {
    tokio::spawn(async move {
        // Rows or readers were left waiting by the last step: run the next one at once.
        let mut again = false;
        let mut failures: u32 = 0;
        // When the last step that found rows began.
        let mut last_work: Option<tokio::time::Instant> = None;
        // The connection of the steps, kept while they find rows (see `sequence_step`).
        let kept = Kept::default();
        loop {
            if !again {
                let _ = tokio::time::timeout(SEQUENCER_IDLE, kick.notified()).await;
                if let Some(until) = last_work.map(|at| at + SEQUENCER_PACE) {
                    if tokio::time::Instant::now() < until {
                        let _ = tokio::time::timeout_at(until, readers.notified()).await;
                    }
                }
            }
            if pool.is_closed() {
                return;
            }
            let Some(s) = sequencer.upgrade() else {
                return;
            };
            // Taken before the step begins: each of these looked before it.
            let waiting = std::mem::take(&mut *s.waiting.lock().unwrap_or_else(|p| p.into_inner()));
            drop(s);
            let began = tokio::time::Instant::now();
            let left = match crate::server::audit::sequence_step(&pool, &kept).await {
                Ok(step) => {
                    failures = 0;
                    if step.linked + step.numbered == 0 {
                        // Idle: the connection goes back to the pool.
                        kept.release();
                    }
                    again = !step.complete();
                    last_work = (step.linked + step.numbered > 0).then_some(began);
                    let mut left = Vec::new();
                    for w in waiting {
                        if step.covers(w.audit_place, w.events_place) {
                            let _ = w.done.send(());
                        } else if !w.done.is_closed() {
                            left.push(w);
                        }
                    }
                    left
                }
                // A failed step (a lost connection, a lock timeout) releases no one: its readers
                // wait for a later step, or give up after SEQUENCED_WAIT. The rows stay committed
                // and waiting; the next step (any node's) links them.
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, failures, "sequencer step failed");
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(failures.min(40))))
                        .await;
                    again = true;
                    waiting
                        .into_iter()
                        .filter(|w| !w.done.is_closed())
                        .collect()
                }
            };
            if !left.is_empty() {
                again = true;
                if let Some(s) = sequencer.upgrade() {
                    s.waiting
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .extend(left);
                }
            }
        }
    });
}

impl Db {
    /// Connects to `sqlite:…` (file created with its directory if missing) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let sequencer = Arc::new(Sequencer {
            waiting: Mutex::default(),
            kick: Arc::default(),
            readers: Arc::default(),
            started: Default::default(),
        });
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
            // A file connection does not go stale: no ping (a round trip to the connection's
            // thread) before each use.
            let pool = AnyPoolOptions::new()
                .max_connections(8)
                .test_before_acquire(false)
                .after_connect(|conn, _| Box::pin(sqlite_pragmas(conn)))
                .connect_with(opts)
                .await?;
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
            warn_on_sqlite_build(&pool).await;
            let readers = readers::Readers::new(
                AnyConnectOptions::from_str(&format!("{url}&lanyard_inline=true"))?,
                8,
                false,
            );
            let changes: Arc<std::sync::atomic::AtomicU64> = Arc::default();
            Ok(Db {
                pool,
                readers,
                changes: changes.clone(),
                dialect: Dialect::Sqlite,
                writer: Arc::new(Writer {
                    slot: Arc::new(tokio::sync::Mutex::new(Slot {
                        changes,
                        ..Slot::default()
                    })),
                    kick: Default::default(),
                    // The writer's statements run on the thread of the request that holds the
                    // turn, not on a worker thread of its own: see vendor/sqlx-sqlite/LANYARD.md.
                    opts: Some(AnyConnectOptions::from_str(&format!(
                        "{url}&lanyard_inline=true"
                    ))?),
                    started: Default::default(),
                }),
                sequencer,
            })
        } else {
            // No JIT compilation: Lanyard's statements are short, and statements the planner
            // over-estimates (tables not analyzed yet) were compiled on every run: a mapped
            // 100-member PATCH measured 70.9 ms p50 with JIT, 56.5 ms without (issue 17, one
            // run each).
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        // A server without the setting (or a pooler that refuses it) keeps
                        // its own: slower plans, never a connection refused.
                        if let Err(e) = sqlx::query(POSTGRES_SESSION_SETUP).execute(conn).await {
                            tracing::warn!(
                                "could not turn PostgreSQL's JIT off for this connection: {e}"
                            );
                        }
                        Ok(())
                    })
                })
                .connect(url)
                .await?;
            let readers = readers::Readers::new(AnyConnectOptions::from_str(url)?, 8, true);
            Ok(Db {
                readers,
                pool,
                changes: Arc::default(),
                dialect: Dialect::Postgres,
                writer: Arc::new(Writer {
                    slot: Default::default(),
                    kick: Default::default(),
                    opts: None,
                    started: Default::default(),
                }),
                sequencer,
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

    /// Starts this process's database tasks now rather than at the first write: on SQLite the
    /// committer and the checkpointer, on PostgreSQL the sequencer, whose first pass links what
    /// a process that died left waiting. `lanyard serve` calls it once migrated.
    pub fn start_background(&self) {
        match self.dialect {
            Dialect::Sqlite => self.start_writer_tasks(),
            Dialect::Postgres => {
                self.start_sequencer();
                self.sequencer.kick.notify_one();
            }
        }
    }

    fn start_writer_tasks(&self) {
        use std::sync::atomic::Ordering;
        if self
            .writer
            .started
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            spawn_committer(Arc::downgrade(&self.writer.slot), self.writer.kick.clone());
            spawn_checkpointer(self.pool.clone(), Arc::downgrade(&self.writer));
        }
    }

    fn start_sequencer(&self) {
        use std::sync::atomic::Ordering;
        if self
            .sequencer
            .started
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            spawn_sequencer(
                self.pool.clone(),
                Arc::downgrade(&self.sequencer),
                self.sequencer.kick.clone(),
                self.sequencer.readers.clone(),
            );
        }
    }

    /// Waits until a sequencer step that began after this call has linked and numbered every
    /// waiting row at or below these write-order places (PostgreSQL; see [`Sequencer`]), or
    /// [`SEQUENCED_WAIT`] has passed.
    async fn sequenced(&self, audit_place: i64, events_place: i64) {
        self.start_sequencer();
        let (done, passed) = oneshot::channel();
        {
            let mut waiting = self
                .sequencer
                .waiting
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            // Readers that gave up are dropped here too, not only by a step: a step blocked
            // for long must not let them pile up.
            waiting.retain(|w| !w.done.is_closed());
            waiting.push(Waiter {
                audit_place,
                events_place,
                done,
            });
        }
        self.sequencer.kick.notify_one();
        self.sequencer.readers.notify_one();
        // Bounded: a step stuck behind another node's lock, or a database that refuses every
        // step, must not hold every read. The events are committed either way; a later step
        // links them. A sequencer that is gone (its sender dropped) counts as a give-up too.
        if !matches!(
            tokio::time::timeout(SEQUENCED_WAIT, passed).await,
            Ok(Ok(()))
        ) {
            metrics::counter!("lanyard_audit_sequencer_wait_timeouts_total").increment(1);
            tracing::warn!("the audit sequencer did not link the rows committed before this read within {SEQUENCED_WAIT:?}; reading without them");
        }
    }

    /// Asks for a sequencer pass soon, without waiting for it (PostgreSQL): what an audited write
    /// does after its commit. Readers of the audit log and the feed wait instead
    /// ([`Db::caught_up`]).
    pub(crate) fn kick_sequencer(&self) {
        self.start_sequencer();
        self.sequencer.kick.notify_one();
    }

    /// Before a read of the audit log or the events feed: returns once every audit event and
    /// feed event committed before this call (by any node) is linked and numbered, so a reader
    /// sees every write that was answered before it asked. On PostgreSQL that is one statement,
    /// an indexed look for waiting rows together with the highest write-order places handed out
    /// so far, and, when rows wait, a wait for a sequencer step that begins after this call and
    /// reaches those places; on SQLite events are linked in their own transaction (nothing to
    /// wait for).
    pub async fn caught_up(&self) {
        if self.dialect != Dialect::Postgres {
            return;
        }
        // A sequence's last_value counts places handed out to transactions not committed yet
        // too: a place too high, never too low, for what committed before this call.
        // Each look is the first row of an index in its order (`ORDER BY … LIMIT 1`), which
        // PostgreSQL serves from the index whatever it estimates: as `EXISTS (… WHERE
        // chain_seq < 0)` the statement kept the plan it got while the tables were empty, two
        // sequential scans, and took up to 20 ms once they held a few thousand rows (issue 17).
        // Ascending: from the newest place handed out (the most negative), past which a waiting
        // row would be; the index entries of rows already linked, dead until a vacuum, sit
        // towards 0.
        let look = sqlx::query_as::<_, (bool, i64, i64)>(
            "SELECT (SELECT chain_seq FROM audit_events WHERE chain_seq < 0 ORDER BY chain_seq LIMIT 1) IS NOT NULL \
             OR (SELECT cursor FROM events WHERE cursor < 0 ORDER BY cursor LIMIT 1) IS NOT NULL, \
             (SELECT last_value FROM audit_events_pending), \
             (SELECT last_value FROM events_pending)",
        )
        .fetch_one(&self.pool)
        .await;
        match look {
            Ok((false, _, _)) => {}
            Ok((true, audit_place, events_place)) => {
                self.sequenced(audit_place, events_place).await;
            }
            // Fail towards waiting: a failed look waits for a step that handles everything it
            // sees.
            Err(e) => {
                tracing::warn!(error = %e, "looking for rows waiting for the audit sequencer");
                self.sequenced(i64::MAX, i64::MAX).await;
            }
        }
    }

    /// How many writes this process has committed through [`Db::write`] (and those reported
    /// with [`Db::note_change`]): a value computed from the database while this stayed the same
    /// has seen no change this process made since. Other processes' writes do not move it.
    pub fn generation(&self) -> u64 {
        self.changes.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Reports a write committed outside [`Db::write`] (see [`Db::generation`]).
    pub fn note_change(&self) {
        self.changes
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    /// A connection for a short read on a hot path (sessions, the portal's pages, SCIM
    /// lookups). On SQLite one of the connections that cannot write (`PRAGMA query_only`) and
    /// run their statements on the caller's thread, with no hand-off to a connection thread (see
    /// docs/decisions/0003-sqlite-writer-inline.md), kept by this process and given back on the
    /// spot when dropped ([`readers`]); reads that may run long (exports, big lists, chain
    /// checks) stay on `pool`. On PostgreSQL one of the connections kept the same way, pinged
    /// only when it may have gone stale (see `readers`), besides the 16 of `pool`.
    pub async fn read(&self) -> Result<ReadConn, sqlx::Error> {
        self.readers.get().await
    }

    /// The short-read connections ([`Db::read`]) open now, as (idle, in use).
    pub fn read_connections(&self) -> (usize, usize) {
        self.readers.counts()
    }

    /// Begins a write transaction (see [`WriteTx`]). On SQLite it waits its turn among this
    /// process's writers first, in arrival order.
    pub async fn write(&self) -> Result<WriteTx, sqlx::Error> {
        match (&self.dialect, &self.writer.opts) {
            (Dialect::Sqlite, Some(opts)) => {
                self.start_writer_tasks();
                let mut turn = self.turn().await?;
                settle(&mut turn).await;
                if turn.poisoned {
                    flush(&mut turn).await;
                }
                if let Err(e) = open_savepoint(&mut turn, opts).await {
                    drop(turn);
                    self.writer.kick.notify_one();
                    return Err(e);
                }
                Ok(WriteTx {
                    inner: Some(Inner::Shared {
                        turn,
                        kick: self.writer.kick.clone(),
                    }),
                    changes: self.changes.clone(),
                })
            }
            _ => Ok(WriteTx {
                inner: Some(Inner::Pool(self.pool.begin().await?)),
                changes: self.changes.clone(),
            }),
        }
    }

    /// [`Db::write`], but on PostgreSQL on `kept`'s connection (one taken from the pool when it
    /// holds none), which a successful commit gives back to `kept` instead of the pool, and the
    /// transaction opens with `begin` (a `BEGIN` with its `SET LOCAL`s, sent in one round
    /// trip). SQLite ignores both (its settings are PostgreSQL's).
    pub async fn write_kept(
        &self,
        begin: &'static str,
        kept: &Kept,
    ) -> Result<WriteTx, sqlx::Error> {
        match self.dialect {
            Dialect::Postgres => Ok(WriteTx {
                inner: Some(Inner::Kept(
                    begin_kept(&self.pool, kept, begin.into()).await?,
                )),
                changes: self.changes.clone(),
            }),
            Dialect::Sqlite => self.write().await,
        }
    }

    /// Starts a transaction on a pooled connection. On SQLite it first takes this process's
    /// write turn ([`Db::write_turn`]), then the database's write lock at once
    /// (`BEGIN IMMEDIATE`). Keep the guard until the transaction ends. [`Db::write`] is cheaper
    /// on SQLite: its writes share the writer connection and its commits.
    pub async fn begin(&self) -> Result<(Transaction<'static, Any>, WriteGuard), sqlx::Error> {
        match self.dialect {
            Dialect::Sqlite => {
                let guard = self.write_turn().await?;
                Ok((self.pool.begin_with("BEGIN IMMEDIATE").await?, guard))
            }
            Dialect::Postgres => Ok((self.pool.begin().await?, None)),
        }
    }

    /// This process's turn to write on SQLite through a pooled connection (`None` on
    /// PostgreSQL, where rows lock, not files): the writes batched on the writer connection are
    /// committed first, so the database's write lock is free. Gives up after the same 10 s
    /// SQLite's busy timeout allows, so a write that waits on itself fails instead of hanging.
    pub async fn write_turn(&self) -> Result<WriteGuard, sqlx::Error> {
        match self.dialect {
            Dialect::Sqlite => {
                let mut turn = self.turn().await?;
                // On a task of its own: a caller that gives up cannot cut a commit in half.
                let turn = tokio::spawn(async move {
                    flush(&mut turn).await;
                    turn
                })
                .await
                .map_err(|e| {
                    sqlx::Error::Protocol(format!("the SQLite commit task failed: {e}"))
                })?;
                Ok(Some(WriteTurn { _guard: turn }))
            }
            Dialect::Postgres => Ok(None),
        }
    }

    async fn turn(&self) -> Result<OwnedMutexGuard<Slot>, sqlx::Error> {
        let turn = self.writer.slot.clone().lock_owned();
        match tokio::time::timeout(TURN_TIMEOUT, turn).await {
            Ok(guard) => Ok(guard),
            Err(_) => {
                tracing::error!("waited 10 s for the SQLite write turn");
                Err(sqlx::Error::PoolTimedOut)
            }
        }
    }

    /// The versions of the migrations this binary carries.
    pub fn known_migrations(&self) -> Vec<i64> {
        let m = match self.dialect {
            Dialect::Sqlite => &SQLITE_MIGRATOR,
            Dialect::Postgres => &POSTGRES_MIGRATOR,
        };
        m.iter().map(|m| m.version).collect()
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
    /// `FOR NO KEY UPDATE` on PostgreSQL (it serializes writers of the row like `FOR UPDATE`
    /// but, unlike it, does not wait for the key-share locks foreign-key checks take: two group
    /// changes sharing members would otherwise deadlock); nothing on SQLite, whose write
    /// transactions begin IMMEDIATE and so already hold the whole database.
    ForUpdate,
}

/// True when `conn` talks to PostgreSQL, the backend that locks rows (SQLite has one writer).
pub(crate) fn locks_rows(conn: &Conn) -> bool {
    conn.backend_name() == <sqlx::Postgres as sqlx::Database>::NAME
}

/// `{fk} = {id}`, the condition of a join from an id to a foreign-key column that holds it. On
/// PostgreSQL ids are `COLLATE "C"` and foreign-key columns have the database's default
/// collation; the plain comparison is made under the id's "C", which the foreign key's index
/// (built under the default collation) cannot serve, so PostgreSQL read every membership of an
/// organization to find one (issue 17, session 43's survey: 35 ms and 3,060 buffers per SCIM
/// create in a 100,000-member organization). Here the id side takes the default collation. Same
/// rows: both collations are deterministic, so text equality is byte equality under either.
/// SQLite compares bytes (BINARY) on both sides already.
pub(crate) fn fk_eq(conn: &Conn, fk: &str, id: &str) -> String {
    if locks_rows(conn) {
        format!("{fk} = {id} COLLATE \"default\"")
    } else {
        format!("{fk} = {id}")
    }
}

/// The clause that ends a `SELECT` reading with `lock` on this connection.
pub(crate) fn for_update(conn: &Conn, lock: Lock) -> &'static str {
    match lock {
        Lock::ForUpdate if locks_rows(conn) => " FOR NO KEY UPDATE",
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

/// A page of rows ordered by their id (ULIDs sort in creation order): those beyond `from`
/// towards older or newer ids, at most `take`.
#[derive(Debug, Clone)]
pub struct Keyset {
    pub from: Option<String>,
    pub older: bool,
    pub take: i64,
}

impl Keyset {
    /// ` AND <column> < $n` (or `>`; empty without a cursor), to bind [`Keyset::from`] to.
    pub fn condition(&self, column: &str, n: usize) -> String {
        match self.from {
            Some(_) => format!(" AND {column} {} ${n}", if self.older { "<" } else { ">" }),
            None => String::new(),
        }
    }

    /// ` ORDER BY <column> DESC|ASC LIMIT <take>`.
    pub fn order(&self, column: &str) -> String {
        format!(
            " ORDER BY {column} {} LIMIT {}",
            if self.older { "DESC" } else { "ASC" },
            self.take.max(0)
        )
    }
}

/// A `SELECT … WHERE …` that filters add conditions to, each bound to text values, read as one
/// [`Keyset`] page (the lists of the WorkOS-compatible API).
pub(crate) struct Filtered {
    sql: String,
    binds: Vec<String>,
}

impl Filtered {
    /// `select` ends in a `WHERE` condition that the filters are AND-ed to.
    pub fn new(select: String) -> Self {
        Filtered {
            sql: select,
            binds: Vec::new(),
        }
    }

    /// Binds `value` and returns its placeholder.
    pub fn param(&mut self, value: impl Into<String>) -> String {
        self.binds.push(value.into());
        format!("${}", self.binds.len())
    }

    /// ` AND <condition>` with its `{}` standing for `value`'s placeholder.
    pub fn and(&mut self, condition: &str, value: &str) {
        let p = self.param(value);
        self.raw(&condition.replace("{}", &p));
    }

    /// ` AND <condition>`, its parameters already bound with [`Filtered::param`].
    pub fn raw(&mut self, condition: &str) {
        self.sql.push_str(" AND ");
        self.sql.push_str(condition);
    }

    /// ` AND LOWER(column)` contains `needle` (lower-cased; `%`, `_` and `\` match themselves).
    pub fn contains(&mut self, column: &str, needle: &str) {
        let escaped = needle
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let p = self.param(format!("%{escaped}%"));
        self.raw(&format!("LOWER({column}) LIKE {p} ESCAPE '\\'"));
    }

    /// The rows of one page by `id`.
    pub async fn fetch_page<T>(
        self,
        conn: &mut Conn,
        keyset: &Keyset,
    ) -> Result<Vec<T>, sqlx::Error>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        self.fetch_page_by(conn, keyset, "id").await
    }

    /// The rows of one page by the id column `column` (`m.id` in a join).
    pub async fn fetch_page_by<T>(
        mut self,
        conn: &mut Conn,
        keyset: &Keyset,
        column: &str,
    ) -> Result<Vec<T>, sqlx::Error>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        if let Some(from) = &keyset.from {
            self.binds.push(from.clone());
        }
        self.sql
            .push_str(&keyset.condition(column, self.binds.len()));
        self.sql.push_str(&keyset.order(column));
        self.fetch(conn).await
    }

    /// The first `limit` rows in ascending `column` order.
    pub async fn fetch_ordered<T>(
        mut self,
        conn: &mut Conn,
        column: &str,
        limit: i64,
    ) -> Result<Vec<T>, sqlx::Error>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        self.sql
            .push_str(&format!(" ORDER BY {column} LIMIT {}", limit.max(0)));
        self.fetch(conn).await
    }

    async fn fetch<T>(self, conn: &mut Conn) -> Result<Vec<T>, sqlx::Error>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        let mut q = sqlx::query_as(&self.sql);
        for b in &self.binds {
            q = q.bind(b);
        }
        q.fetch_all(conn).await
    }
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

/// What every new PostgreSQL connection runs first (`after_connect`): JIT compilation off for
/// Lanyard's sessions (see where the pool is opened). Public so that tests counting a request's
/// statements can leave a connection's setup out, as they leave out SQLite's `PRAGMA`s.
pub const POSTGRES_SESSION_SETUP: &str = "SET jit = off";

/// Rows per multi-row `INSERT`: the widest row (16 columns) stays far under SQLite's 32,766 and
/// PostgreSQL's 65,535 bind parameters.
pub(crate) const ROWS_PER_INSERT: usize = 500;

/// `column = $param` as a check on each row found through its key (an `id IN (…)` list), never
/// as the way to find the rows. On PostgreSQL it is written `coalesce(column, column) = $param`,
/// an expression no index serves (no literal, so a held statement may use it; the column's
/// collation and NULLs compare as before). Written as a plain `column = $param`, PostgreSQL,
/// before the table had been analyzed (or in a plan cached while it was small), read the rows
/// through the column's index, a directory's or an organization's, and filtered every one of
/// them through the key list: ~6 ms for 100 keys in a 6,000-user directory, three such
/// statements in a 100-member group PATCH (issue 17). SQLite plans these well and keeps the
/// plain form (and a covering index where there is one). For the tenancy checks that stay in a
/// statement whose keys already say which rows.
pub(crate) fn row_check(conn: &Conn, column: &str, param: usize) -> String {
    if locks_rows(conn) {
        format!("coalesce({column}, {column}) = ${param}")
    } else {
        format!("{column} = ${param}")
    }
}

/// `$first, $first+1, …` for `n` parameters (an `IN (…)` list).
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// [`values_template`] for `conn`: on SQLite with anonymous `?` placeholders, bound in order.
/// SQLite looks a numbered parameter's name up with a linear scan, and the driver asks for the
/// name of every parameter: with `$N` a multi-row insert of P parameters costs O(P²) (5 % of
/// the server's CPU under a 100-member group PATCH). Only for statements whose parameters are
/// all in this list.
pub(crate) fn values_template_for(conn: &Conn, rows: usize, columns: &[Option<&str>]) -> String {
    let numbered = values_template(rows, columns);
    if locks_rows(conn) {
        return numbered;
    }
    let mut out = String::with_capacity(numbered.len());
    let mut chars = numbered.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// `($1, $2), ($3, $4)`: the `VALUES` of `rows` rows, with a column given as `Some(sql)` written as that SQL expression in
/// every row instead of a placeholder.
pub(crate) fn values_template(rows: usize, columns: &[Option<&str>]) -> String {
    values_template_from(1, rows, columns)
}

/// [`values_template`] with placeholders numbered from `$first` (for a statement that binds
/// other parameters before these).
pub(crate) fn values_template_from(first: usize, rows: usize, columns: &[Option<&str>]) -> String {
    let mut out = String::new();
    let mut n = first - 1;
    for r in 0..rows {
        out.push_str(if r == 0 { "(" } else { ", (" });
        for (c, fixed) in columns.iter().enumerate() {
            if c > 0 {
                out.push_str(", ");
            }
            match fixed {
                Some(sql) => out.push_str(sql),
                None => {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                }
            }
        }
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_lists_number_placeholders_across_rows() {
        assert_eq!(values_template(2, &[None, None]), "($1, $2), ($3, $4)");
        assert_eq!(
            values_template(2, &[None, Some("-nextval('s')"), None]),
            "($1, -nextval('s'), $2), ($3, -nextval('s'), $4)"
        );
    }
}
