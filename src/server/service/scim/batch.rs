//! PostgreSQL: the SCIM user creates of concurrent requests, written in one transaction
//! (issue 17, docs/decisions/0004-postgres-create-batching.md).
//!
//! With one create per transaction PostgreSQL alone stays near 1,250 creates/s on a two-core
//! machine (`benches/pg_create_ceiling.sh`): its work per transaction and per statement (BEGIN,
//! COMMIT and its WAL flush, each statement's start-up) is two thirds of its CPU per create. So
//! a create hands its job to a worker here, which takes every job waiting (up to
//! [`MOST_PER_BATCH`]) and writes them in one transaction: every job's policy read (the
//! directory and organization live and key-share locked, the domain's holder, the member with
//! the address: what [`super::users::read_for_create`] reads for one) in one statement
//! (`db::directories::live_for_creates`), each job's decisions exactly as a create alone makes
//! them ([`super::users::create_with`]), then every job's rows, audit events and feed events in
//! one statement, then one commit.
//!
//! A job whose directory is deleted is left out of its batch before any write, and written
//! alone (401). Otherwise a batch is all or nothing: any error (a retried create refused by the
//! userName's unique index, a row lock held past 1 s by a deletion, a lost connection) rolls it
//! back and answers every job "not written";
//! each request then writes its create alone, through the path a create always took. A commit
//! that failed may have reached the database: a request told so looks for its row first.
//! Two jobs of one address in an organization are never written at once: the second would not
//! see the first's organization user, and its batch would fail.
//! A job is answered only after its batch committed (durability unchanged: every 201 is written,
//! with its audit event and feed event).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use futures::FutureExt as _;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::domain::ids::OrgId;
use crate::server::audit::{commit_parts, AuditedTx, RequestContext};
use crate::server::db::directory_users::DirUserRow;
use crate::server::db::{self, Db, Dialect};
use crate::server::error::AppError;
use crate::server::service::directories::{access_email, directory_actor, DirCtx};

/// Most creates written in one transaction: 16 creates' 32 audit rows still go out with their
/// rows in one statement (`audit::ONE_STATEMENT_ROWS`).
const MOST_PER_BATCH: usize = 16;

/// Workers writing batches at once, each on its own connection: while one waits for its commit
/// the other gathers the jobs that arrived meanwhile.
const WORKERS: usize = 2;

/// Most jobs waiting; a create finding the queue full waits for room.
const QUEUE: usize = 1024;

/// Under load (another worker writing), how long a worker with fewer than [`LINGER_BELOW`] jobs
/// waits for more before it writes them. A worker free the moment its batch is answered would
/// otherwise take the first of the answered clients' next creates alone, and batches would
/// stay at one or two creates. Idle (no other worker writing), nothing waits.
const LINGER: std::time::Duration = std::time::Duration::from_micros(500);
const LINGER_BELOW: usize = 4;

/// Hands SCIM user creates to the workers writing them in batches (PostgreSQL only).
#[derive(Debug, Clone)]
pub struct CreateBatcher {
    jobs: mpsc::Sender<Job>,
    counts: Arc<Counts>,
    db: Db,
    /// Each worker's kept connection.
    kept: Vec<db::Kept>,
}

/// What the workers did since they started.
#[derive(Debug, Default)]
struct Counts {
    submitted: AtomicU64,
    committed: AtomicU64,
    rolled_back: AtomicU64,
    gave_up_waiting: AtomicU64,
    largest: AtomicUsize,
    /// Workers writing a batch now.
    writing: AtomicUsize,
    /// The (organization, address) of every job a worker is writing now: a job of one of them
    /// waits for a later batch (see [`apart`]).
    addresses: std::sync::Mutex<HashSet<(OrgId, String)>>,
}

/// What a batcher's workers did since they started ([`CreateBatcher::counts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchCounts {
    /// Creates handed to the workers.
    pub submitted: u64,
    /// Batches committed.
    pub committed: u64,
    /// Batches rolled back (their jobs then written alone).
    pub rolled_back: u64,
    /// Of those, batches that gave up waiting for a row lock or ran out of time.
    pub gave_up_waiting: u64,
    /// Most jobs in one batch.
    pub largest: usize,
    /// Kept connections that did not answer a batch's `BEGIN` and were replaced from the pool.
    pub replaced: u64,
}

#[derive(Debug)]
struct Job {
    dir: DirCtx,
    ctx: RequestContext,
    now: i64,
    row: DirUserRow,
    done: oneshot::Sender<Answer>,
}

/// How a job's batch ended for it.
#[derive(Debug)]
enum Answer {
    /// Committed: the row as written.
    Written(Box<DirUserRow>),
    /// Not written (rolled back, or left out before any write): to be written alone.
    NotWritten,
    /// The batch's write or commit failed; the commit may have reached the database before
    /// the connection failed.
    Unknown,
}

impl CreateBatcher {
    /// Starts the workers (inside the Tokio runtime); `None` on SQLite, whose one writer already
    /// commits concurrent requests' writes together.
    pub fn start(db: &Db) -> Option<CreateBatcher> {
        if db.dialect != Dialect::Postgres {
            return None;
        }
        let (jobs, queue) = mpsc::channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        let counts = Arc::new(Counts::default());
        let kept: Vec<db::Kept> = (0..WORKERS).map(|_| db::Kept::default()).collect();
        for kept in &kept {
            let kept = kept.clone();
            let queue = queue.clone();
            let db = db.clone();
            let counts = counts.clone();
            tokio::spawn(async move {
                while let Some(jobs) = next_jobs(&queue, &counts, &kept).await {
                    let mut rest = jobs;
                    while !rest.is_empty() {
                        let (batch, later) = apart(rest, &counts);
                        if batch.is_empty() {
                            // Every address is in the other worker's batch: wait for it.
                            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                        } else {
                            let claimed: Vec<(OrgId, String)> = batch.iter().map(address).collect();
                            // A panic in a batch drops its jobs' answers (each request then
                            // looks for its row, and writes alone if it is not there); the
                            // worker goes on.
                            let _ = std::panic::AssertUnwindSafe(write(&db, &kept, &counts, batch))
                                .catch_unwind()
                                .await;
                            let mut held =
                                counts.addresses.lock().unwrap_or_else(|p| p.into_inner());
                            for a in &claimed {
                                held.remove(a);
                            }
                        }
                        rest = later;
                    }
                }
            });
        }
        Some(CreateBatcher {
            jobs,
            counts,
            db: db.clone(),
            kept,
        })
    }

    /// What the workers did since they started (tests, and a look at how creates batch).
    pub fn counts(&self) -> BatchCounts {
        BatchCounts {
            submitted: self.counts.submitted.load(Ordering::Relaxed),
            committed: self.counts.committed.load(Ordering::Relaxed),
            rolled_back: self.counts.rolled_back.load(Ordering::Relaxed),
            gave_up_waiting: self.counts.gave_up_waiting.load(Ordering::Relaxed),
            largest: self.counts.largest.load(Ordering::Relaxed),
            replaced: self.kept.iter().map(db::Kept::replaced).sum(),
        }
    }

    /// Writes a create with the others waiting: the row as written, or `None` when it was not
    /// written (its batch failed, or the workers are gone) and the caller is to write it alone.
    pub(super) async fn create(
        &self,
        dir: &DirCtx,
        ctx: &RequestContext,
        now: i64,
        row: &DirUserRow,
    ) -> Option<DirUserRow> {
        let (done, answer) = oneshot::channel();
        let job = Job {
            dir: dir.clone(),
            ctx: ctx.clone(),
            now,
            row: row.clone(),
            done,
        };
        self.jobs.send(job).await.ok()?;
        self.counts.submitted.fetch_add(1, Ordering::Relaxed);
        // An answer dropped unsent (a worker's panic, which may come after its batch committed)
        // is as unknown as a failed commit.
        match answer.await.unwrap_or(Answer::Unknown) {
            Answer::Written(row) => Some(*row),
            Answer::NotWritten => None,
            // Written if its row is there: then it is this request's, answered 201 (a write
            // alone would find its own userName taken and answer 409).
            Answer::Unknown => {
                let mut conn = self.db.pool.acquire().await.ok()?;
                db::directory_users::get_user(
                    &mut conn,
                    &dir.directory_id,
                    &row.id,
                    db::Lock::Plain,
                )
                .await
                .ok()
                .flatten()
            }
        }
    }
}

/// The jobs waiting, at least one (waits for it), at most [`MOST_PER_BATCH`]; under load a
/// little longer for a few more ([`LINGER`]). `None` once no batcher can send any more.
/// A worker waiting idle gives its kept connection back to the pool ([`db::Kept::idle_wait`]).
async fn next_jobs(
    queue: &Mutex<mpsc::Receiver<Job>>,
    counts: &Counts,
    kept: &db::Kept,
) -> Option<Vec<Job>> {
    let mut queue = kept.idle_wait(queue.lock()).await;
    let first = kept.idle_wait(queue.recv()).await?;
    let mut jobs = vec![first];
    let until = tokio::time::Instant::now() + LINGER;
    while jobs.len() < MOST_PER_BATCH {
        match queue.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) if jobs.len() < LINGER_BELOW && counts.writing.load(Ordering::Relaxed) > 0 => {
                match tokio::time::timeout_at(until, queue.recv()).await {
                    Ok(Some(job)) => jobs.push(job),
                    _ => break,
                }
            }
            Err(_) => break,
        }
    }
    // A request gone (its client disconnected) is not written for it.
    jobs.retain(|job| !job.done.is_closed());
    Some(jobs)
}

/// The (organization, lower-cased address) a job gives access under.
fn address(job: &Job) -> (OrgId, String) {
    (
        job.dir.organization_id.clone(),
        access_email(&job.row).to_lowercase(),
    )
}

/// `jobs` split into a batch with no two jobs of one address in an organization and none of an
/// address in the other worker's batch (claimed in `counts.addresses` until written), and the
/// jobs left for a later batch (in their order). In one transaction, or two at once, the second
/// would not see the first's organization user, would create another and fail its batch on the
/// address's unique index; in a later one it links to it. (Two jobs of one userName fail either
/// way: the second is a retried create.)
fn apart(jobs: Vec<Job>, counts: &Counts) -> (Vec<Job>, Vec<Job>) {
    let mut held = counts.addresses.lock().unwrap_or_else(|p| p.into_inner());
    let (mut batch, mut later) = (Vec::new(), Vec::new());
    for job in jobs {
        if held.insert(address(&job)) {
            batch.push(job);
        } else {
            later.push(job);
        }
    }
    (batch, later)
}

/// Writes a batch and answers each of its jobs.
async fn write(db: &Db, kept: &db::Kept, counts: &Counts, mut batch: Vec<Job>) {
    counts.largest.fetch_max(batch.len(), Ordering::Relaxed);
    let written = {
        let _writing = Writing::start(&counts.writing);
        write_batch(db, kept, &mut batch).await
    };
    match &written {
        Ok(_) => {
            metrics::counter!("lanyard_scim_create_batches_total", "outcome" => "committed")
                .increment(1);
            let left_out = written.as_ref().map_or(0, Vec::len);
            metrics::counter!("lanyard_scim_create_batched_total")
                .increment((batch.len() - left_out) as u64);
            counts.committed.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            // Each job is written alone next, and answered as that write goes.
            tracing::debug!(error = %e, creates = batch.len(), "a batch of SCIM creates was rolled back; each is written alone");
            metrics::counter!("lanyard_scim_create_batches_total", "outcome" => "rolled_back")
                .increment(1);
            counts.rolled_back.fetch_add(1, Ordering::Relaxed);
            if gave_up_waiting(e) {
                counts.gave_up_waiting.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    for (i, job) in batch.into_iter().enumerate() {
        let answer = match &written {
            Ok(left_out) if left_out.contains(&i) => Answer::NotWritten,
            Ok(_) => Answer::Written(Box::new(job.row)),
            Err(BatchError::Commit(_)) => Answer::Unknown,
            Err(_) => Answer::NotWritten,
        };
        let _ = job.done.send(answer);
    }
}

/// Whether a batch failed on its lock timeout or statement timeout ([`BATCH_BEGIN`]).
fn gave_up_waiting(e: &BatchError) -> bool {
    let mut at: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(x) = at {
        if let Some(sqlx::Error::Database(db)) = x.downcast_ref::<sqlx::Error>() {
            // lock_not_available, query_canceled
            return matches!(db.code().as_deref(), Some("55P03" | "57014"));
        }
        at = x.source();
    }
    false
}

/// Counts a worker writing while it lives (also when the batch panics).
struct Writing<'a>(&'a AtomicUsize);

impl<'a> Writing<'a> {
    fn start(n: &'a AtomicUsize) -> Writing<'a> {
        n.fetch_add(1, Ordering::Relaxed);
        Writing(n)
    }
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a batch was not written.
#[derive(Debug, thiserror::Error)]
enum BatchError {
    #[error(transparent)]
    Write(#[from] AppError),
    /// The batch's write statement or its commit failed: the commit may have reached the
    /// database (each request looks for its row before writing alone).
    #[error("commit: {0}")]
    Commit(#[source] crate::server::audit::AuditError),
}

impl From<sqlx::Error> for BatchError {
    fn from(e: sqlx::Error) -> Self {
        BatchError::Write(e.into())
    }
}

impl From<crate::server::audit::AuditError> for BatchError {
    fn from(e: crate::server::audit::AuditError) -> Self {
        BatchError::Write(e.into())
    }
}

/// How a batch's transaction opens (one round trip): it waits at most 1 s for a row lock (a
/// directory or organization being deleted holds its row while it suspends the directory's
/// users): past it the batch is rolled back and each job waits alone, so one tenant's deletion
/// holds other tenants' creates 1 s at most (issue 17's bound for one directory's work delaying
/// another's). And each of its statements runs 10 s at most.
const BATCH_BEGIN: &str =
    "BEGIN; SET LOCAL lock_timeout = '1s'; SET LOCAL statement_timeout = '10s'";

/// One transaction: the reads of every job in one statement, then each job's create as
/// [`super::users::create_with`] makes it alone, then every job's writes together and the commit.
/// A job whose directory is gone is left out before any write (answered "not written": alone it
/// gets its 401).
/// On an error nothing is written (dropping the transaction rolls it back). Answers the places
/// of the jobs left out.
async fn write_batch(
    db: &Db,
    kept: &db::Kept,
    batch: &mut [Job],
) -> Result<Vec<usize>, BatchError> {
    let mut tx = db.write_kept(BATCH_BEGIN, kept).await?;
    let addresses: Vec<super::users::CreateAddress> = batch
        .iter()
        .map(|job| super::users::CreateAddress::of(&job.row))
        .collect();
    let reads: Vec<_> = batch
        .iter()
        .zip(&addresses)
        .map(|(job, address)| address.read(&job.dir))
        .collect();
    let reads = db::directories::live_for_creates(tx.conn(), &reads).await?;
    let mut parts = Vec::with_capacity(batch.len());
    let mut left_out = Vec::new();
    for (i, (job, reads)) in batch.iter_mut().zip(reads).enumerate() {
        let Some(reads) = reads else {
            left_out.push(i);
            continue;
        };
        let actor = directory_actor(&job.dir.directory_id, &job.dir.name);
        let audited = AuditedTx::within(tx, db, &actor, &job.ctx, job.now);
        let audited = super::users::create_with(audited, &job.dir, &mut job.row, reads).await?;
        let (next, part) = audited.into_part()?;
        tx = next;
        parts.push(part);
    }
    if parts.is_empty() {
        return Ok(left_out);
    }
    commit_parts(db, tx, parts)
        .await
        .map_err(BatchError::Commit)?;
    Ok(left_out)
}
