//! The audit trail: every state change writes an event in the same transaction, and the events
//! of one organization form a hash chain.
//!
//! Where the chain position is given: on SQLite (one writer) in the transaction itself; on
//! PostgreSQL by the sequencer once the transaction has committed ([`sequence_step`]), so that
//! concurrent writers never wait for each other's commit on a chain head. The event is written
//! in the transaction either way: a change is never committed without it.

use crate::domain::target::TargetKind;
use serde::Serialize;

use super::db::{locks_rows, new_id, Conn, Db, WriteTx, ROWS_PER_INSERT};
use crate::domain::actor::ActorKind;
use crate::domain::event_type::EventType;
use crate::domain::ids::IdKind;

/// Chain key of events that belong to no organization (API keys, operator actions).
pub const GLOBAL_CHAIN: &str = "global";

pub use crate::domain::event_type::VENDOR_PREFIX;

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    #[serde(rename = "type")]
    pub kind: ActorKind,
    pub id: String,
    pub name: String,
}

impl Actor {
    /// The command line operator.
    pub fn operator() -> Actor {
        let user = std::env::var("USER").unwrap_or_else(|_| "operator".into());
        Actor {
            kind: ActorKind::Operator,
            id: format!("cli:{user}"),
            name: user,
        }
    }

    /// Lanyard itself (background jobs).
    pub fn system() -> Actor {
        Actor {
            kind: ActorKind::System,
            id: "system".into(),
            name: "Lanyard".into(),
        }
    }
}

/// Where a request came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequestContext {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// An object an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Target {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Target {
    /// A target with a display name.
    pub fn new(kind: TargetKind, id: &str, name: Option<&str>) -> Target {
        Target {
            kind: kind.as_str().into(),
            id: id.into(),
            name: name.map(Into::into),
        }
    }
}

/// An event the vendor's product reports about one of its organizations (see
/// [`AuditedTx::record_vendor`]). Checked by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorEntry {
    /// As the vendor named it (`user.signed_in`), without [`VENDOR_PREFIX`].
    pub action: String,
    pub actor_type: String,
    pub actor_id: String,
    pub actor_name: String,
    pub targets: Vec<Target>,
    /// Where the vendor says it happened (WorkOS's `context.location`).
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Everything else the vendor sent (its time, version, metadata): a JSON object.
    pub metadata: serde_json::Value,
}

/// A stored audit event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: String,
    pub chain_key: String,
    pub chain_seq: i64,
    pub organization_id: Option<String>,
    pub action: String,
    pub actor_type: String,
    pub actor_id: String,
    pub actor_name: String,
    pub targets: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub occurred_at: i64,
    pub metadata: String,
    pub prev_hash: String,
    pub hash: String,
    /// The resource as it was (JSON of an [`super::events::Snapshot`]): carried to the event's
    /// feed row, never part of the audit row or its hash.
    #[sqlx(skip)]
    pub snapshot: Option<String>,
}

const COLUMNS: &str = "id, chain_key, chain_seq, organization_id, action, actor_type, actor_id, actor_name, targets, ip, user_agent, request_id, occurred_at, metadata, prev_hash, hash";

impl AuditRow {
    /// The hash this row must carry: SHA-256 over the previous hash and every field, each
    /// length-prefixed so that no two different rows share a preimage.
    pub fn compute_hash(&self) -> String {
        let mut buf = String::new();
        let mut field = |v: &str| {
            buf.push_str(&v.len().to_string());
            buf.push(':');
            buf.push_str(v);
            buf.push('\n');
        };
        field(&self.prev_hash);
        field(&self.id);
        field(&self.chain_key);
        field(&self.chain_seq.to_string());
        field(self.organization_id.as_deref().unwrap_or("\u{0}"));
        field(&self.action);
        field(&self.actor_type);
        field(&self.actor_id);
        field(&self.actor_name);
        field(&self.targets);
        field(self.ip.as_deref().unwrap_or("\u{0}"));
        field(self.user_agent.as_deref().unwrap_or("\u{0}"));
        field(self.request_id.as_deref().unwrap_or("\u{0}"));
        field(&self.occurred_at.to_string());
        field(&self.metadata);
        super::crypto::sha256_hex(buf.as_bytes())
    }
}

/// A transaction that refuses to commit unless it recorded at least one audit event: a state
/// change without its audit event cannot be written through it.
pub struct AuditedTx {
    tx: WriteTx,
    db: Db,
    actor: Actor,
    ctx: RequestContext,
    now: i64,
    recorded: Vec<String>,
    /// Events recorded, written to their chains at commit.
    pending: Vec<AuditRow>,
    /// (event id, membership id): events whose snapshot is the membership as this transaction
    /// leaves it, read at commit.
    membership_snapshots: Vec<(String, String)>,
    /// Directory writes of memberships held back to be written together, while holding is on
    /// (see [`AuditedTx::hold_membership_writes`]).
    held: Option<super::db::memberships::HeldWrites>,
}

/// Why an audited transaction failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("refusing to commit a state change without an audit event")]
    NoEvent,
}

/// What one audited write leaves to the commit of a transaction several writes share
/// ([`AuditedTx::within`], [`commit_parts`]).
pub struct Part {
    pending: Vec<AuditRow>,
    membership_snapshots: Vec<(String, String)>,
    held: Option<super::db::memberships::HeldWrites>,
}

impl AuditedTx {
    /// Begins a write on behalf of `actor`.
    pub async fn begin(
        db: &Db,
        actor: &Actor,
        ctx: &RequestContext,
        now: i64,
    ) -> Result<AuditedTx, sqlx::Error> {
        let tx = db.write().await?;
        Ok(AuditedTx::within(tx, db, actor, ctx, now))
    }

    /// An audited write inside a transaction that other writes share (PostgreSQL's batched SCIM
    /// creates): `tx` was begun by [`Db::write`]; [`AuditedTx::into_part`] gives it back with
    /// what this write recorded and holds, and [`commit_parts`] writes every part and commits.
    pub(crate) fn within(
        tx: WriteTx,
        db: &Db,
        actor: &Actor,
        ctx: &RequestContext,
        now: i64,
    ) -> AuditedTx {
        AuditedTx {
            tx,
            db: db.clone(),
            actor: actor.clone(),
            ctx: ctx.clone(),
            now,
            recorded: Vec::new(),
            pending: Vec::new(),
            membership_snapshots: Vec::new(),
            held: None,
        }
    }

    /// Ends this write's share of a shared transaction ([`AuditedTx::within`]): the transaction
    /// to go on with, and what [`commit_parts`] is to write for it. Refuses, as
    /// [`AuditedTx::commit`] does, a write that recorded no audit event.
    pub(crate) fn into_part(self) -> Result<(WriteTx, Part), AuditError> {
        if self.recorded.is_empty() {
            return Err(AuditError::NoEvent);
        }
        Ok((
            self.tx,
            Part {
                pending: self.pending,
                membership_snapshots: self.membership_snapshots,
                held: self.held,
            },
        ))
    }

    /// From now on, directory writes of memberships are held back and written together (by
    /// [`AuditedTx::write_held`], [`AuditedTx::stop_holding`] or the commit). Only for a caller
    /// that reads none of the memberships it changes again before writing them: a statement of
    /// this transaction does not see a held write.
    pub fn hold_membership_writes(&mut self) {
        self.held.get_or_insert_with(Default::default);
    }

    /// The writes being held, while holding is on.
    pub fn held_membership_writes(&mut self) -> Option<&mut super::db::memberships::HeldWrites> {
        self.held.as_mut()
    }

    /// Writes the held writes now (holding stays on).
    pub async fn write_held(&mut self) -> Result<(), sqlx::Error> {
        match self.held.as_mut() {
            Some(h) if !h.is_empty() => h.write(self.tx.conn()).await,
            _ => Ok(()),
        }
    }

    /// Writes the held writes and stops holding.
    pub async fn stop_holding(&mut self) -> Result<(), sqlx::Error> {
        self.write_held().await?;
        self.held = None;
        Ok(())
    }

    /// The connection for state changes inside this transaction.
    pub fn conn(&mut self) -> &mut Conn {
        self.tx.conn()
    }

    /// The time this transaction acts at.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// Whether an audit event was recorded (a commit would be accepted).
    pub fn has_events(&self) -> bool {
        !self.recorded.is_empty()
    }

    /// The acting party.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// Where the request came from.
    pub fn context(&self) -> &RequestContext {
        &self.ctx
    }

    /// Adds an event to the organization's chain (or the global one). Events are written, in the
    /// order recorded, when the transaction commits.
    pub async fn record(
        &mut self,
        organization_id: Option<&str>,
        action: EventType,
        targets: Vec<Target>,
        metadata: serde_json::Value,
    ) -> Result<String, sqlx::Error> {
        let row = self.new_row(
            organization_id,
            action.as_str().to_owned(),
            &targets,
            metadata,
        );
        Ok(self.push(row))
    }

    /// A row of this transaction's actor, request and time, not yet in its chain.
    fn new_row(
        &self,
        organization_id: Option<&str>,
        action: String,
        targets: &[Target],
        metadata: serde_json::Value,
    ) -> AuditRow {
        AuditRow {
            id: new_id(IdKind::AuditEvent),
            chain_key: organization_id.unwrap_or(GLOBAL_CHAIN).to_owned(),
            chain_seq: 0,
            organization_id: organization_id.map(str::to_owned),
            action,
            actor_type: self.actor.kind.as_str().to_owned(),
            actor_id: self.actor.id.clone(),
            actor_name: self.actor.name.clone(),
            targets: serde_json::to_string(targets).unwrap_or_else(|_| "[]".into()),
            ip: self.ctx.ip.clone(),
            user_agent: self.ctx.user_agent.clone(),
            request_id: self.ctx.request_id.clone(),
            occurred_at: self.now,
            metadata: metadata.to_string(),
            prev_hash: String::new(),
            hash: String::new(),
            snapshot: None,
        }
    }

    /// Queues a row for the commit; returns its id.
    fn push(&mut self, row: AuditRow) -> String {
        let id = row.id.clone();
        self.recorded.push(id.clone());
        self.pending.push(row);
        id
    }

    /// Adds an event the vendor's product reports (WorkOS's `POST /audit_logs/events`) to the
    /// organization's chain. Its action and actor type carry [`VENDOR_PREFIX`]; the metadata
    /// (hashed with the rest) says `source: vendor` and which of our actors wrote it. It never
    /// becomes an event of the vendor's feed.
    pub fn record_vendor(&mut self, organization_id: &str, e: VendorEntry) -> String {
        let mut metadata = e.metadata;
        if let Some(m) = metadata.as_object_mut() {
            m.insert("source".into(), "vendor".into());
            m.insert("written_by".into(), self.actor.id.clone().into());
        }
        // The vendor's actor and context, under the prefix; the request stays ours.
        let mut row = self.new_row(
            Some(organization_id),
            format!("{VENDOR_PREFIX}{}", e.action),
            &e.targets,
            metadata,
        );
        row.actor_type = format!("{VENDOR_PREFIX}{}", e.actor_type);
        row.actor_id = e.actor_id;
        row.actor_name = e.actor_name;
        row.ip = e.ip;
        row.user_agent = e.user_agent;
        self.push(row)
    }

    /// Stores the resource as it is now with the recorded event `event_id` (its feed row carries
    /// it; see [`super::events::Snapshot`]).
    pub fn snapshot(&mut self, event_id: &str, snapshot: &super::events::Snapshot) {
        if let Some(row) = self.pending.iter_mut().find(|r| r.id == event_id) {
            row.snapshot = serde_json::to_string(snapshot).ok();
        }
    }

    /// Attaches to the recorded event `event_id` the membership `membership_id` as this
    /// transaction leaves it (read at commit, with the others, in one statement).
    pub fn snapshot_membership_at_commit(&mut self, event_id: &str, membership_id: &str) {
        self.membership_snapshots
            .push((event_id.to_owned(), membership_id.to_owned()));
    }

    /// Attaches the invitation `invitation_id` as it now is to the recorded event `event_id`.
    pub async fn snapshot_invitation(
        &mut self,
        event_id: &str,
        invitation_id: &str,
    ) -> Result<(), sqlx::Error> {
        if let Some(s) = super::events::invitation_snapshot(self.conn(), invitation_id).await? {
            self.snapshot(event_id, &s);
        }
        Ok(())
    }

    /// Appends the recorded events to their chains (SQLite) or writes them unlinked for the
    /// sequencer (PostgreSQL), with their feed rows. Returns true when a sequencer pass must link
    /// them after the commit.
    /// `held`: writes held back to go out with them (PostgreSQL, in the one statement; see
    /// [`AuditedTx::finish`]).
    async fn write_events(
        conn: &mut Conn,
        pending: Vec<AuditRow>,
        held: &[super::db::held::Held],
    ) -> Result<bool, sqlx::Error> {
        if pending.is_empty() {
            super::db::held::send(conn, held).await?;
            return Ok(false);
        }
        if locks_rows(conn) {
            // PostgreSQL: no chain head or feed head is locked until the commit (and its
            // fsync); the sequencer links and numbers committed rows in commit order.
            if pending.len() <= ONE_STATEMENT_ROWS {
                // Held writes, audit rows, entity counters and feed events in one statement.
                super::events::append_with_audit(
                    conn,
                    held,
                    &pending,
                    COLUMNS,
                    &insert_columns(false),
                    |q, row| bind_row(q, row, false),
                )
                .await?;
            } else {
                super::db::held::send(conn, held).await?;
                insert_rows(conn, &pending, false).await?;
                super::events::append(conn, &pending, false).await?;
            }
            return Ok(true);
        }
        super::db::held::send(conn, held).await?;
        // SQLite has one writer: link the events now, with one upsert and one update per chain.
        let mut chains: Vec<&str> = pending.iter().map(|r| r.chain_key.as_str()).collect();
        chains.sort_unstable();
        chains.dedup();
        let mut written: Vec<AuditRow> = Vec::with_capacity(pending.len());
        for chain_key in chains {
            let rows: Vec<&AuditRow> = pending
                .iter()
                .filter(|r| r.chain_key == chain_key)
                .collect();
            let n = rows.len() as i64;
            let (last, mut prev_hash): (i64, String) = sqlx::query_as(
                "INSERT INTO audit_chain_heads (chain_key, seq, hash) VALUES ($1, $2, '') \
                 ON CONFLICT (chain_key) DO UPDATE SET seq = audit_chain_heads.seq + excluded.seq \
                 RETURNING seq, hash",
            )
            .bind(chain_key)
            .bind(n)
            .fetch_one(&mut *conn)
            .await?;
            let first = written.len();
            for (i, r) in rows.into_iter().enumerate() {
                let mut row = r.clone();
                row.chain_seq = last - n + 1 + i as i64;
                row.prev_hash = prev_hash;
                row.hash = row.compute_hash();
                prev_hash = row.hash.clone();
                written.push(row);
            }
            insert_rows(conn, &written[first..], true).await?;
            sqlx::query("UPDATE audit_chain_heads SET hash = $2 WHERE chain_key = $1")
                .bind(chain_key)
                .bind(&prev_hash)
                .execute(&mut *conn)
                .await?;
        }
        // The vendor's feed, in the order the events were recorded.
        if written.len() > 1 {
            let order: std::collections::HashMap<&str, usize> = pending
                .iter()
                .enumerate()
                .map(|(i, p)| (p.id.as_str(), i))
                .collect();
            written.sort_by_key(|w| order.get(w.id.as_str()).copied());
        }
        super::events::append(conn, &written, true).await?;
        Ok(false)
    }

    /// Commits a write that only records an observation (when a check last ran and what it saw),
    /// never a change of state, and so carries no audit event.
    pub async fn commit_observation(self) -> Result<(), AuditError> {
        self.finish().await?;
        Ok(())
    }

    /// Commits, unless no audit event was recorded.
    pub async fn commit(self) -> Result<Vec<String>, AuditError> {
        if self.recorded.is_empty() {
            // Dropping the transaction rolls it back.
            return Err(AuditError::NoEvent);
        }
        self.finish().await
    }

    /// Writes the recorded events, then commits; on PostgreSQL, then asks the sequencer to link
    /// and number them. It does not wait for that: whoever reads the audit log or the events
    /// feed waits first ([`super::db::Db::caught_up`]), so a reader still sees every write that
    /// was answered before it asked, and a write is not held for a pass (a third of a mapped
    /// group's PATCH, and of a create's latency, issue 17).
    async fn finish(mut self) -> Result<Vec<String>, AuditError> {
        // On PostgreSQL held writes go out in the statement that writes the audit rows when
        // nothing reads between them (no membership to read for a snapshot): a SCIM create's
        // writes are one round trip. Else they go out first.
        let with_events = locks_rows(self.tx.conn())
            && self.membership_snapshots.is_empty()
            && self.pending.len() <= ONE_STATEMENT_ROWS;
        let held = match self.held.take() {
            Some(mut h) if with_events => {
                let held = h.take_statements(self.tx.conn());
                with_the_events(self.tx.conn(), held).await?
            }
            Some(mut h) => {
                h.write(self.tx.conn()).await?;
                Vec::new()
            }
            None => Vec::new(),
        };
        let mut tx = self.tx;
        let mut pending = self.pending;
        attach_membership_snapshots(tx.conn(), &mut pending, &self.membership_snapshots).await?;
        let sequence = AuditedTx::write_events(tx.conn(), pending, &held).await?;
        tx.commit().await?;
        if sequence {
            self.db.kick_sequencer();
        }
        Ok(self.recorded)
    }
}

/// Attaches to each event of `wanted` (event id, membership id) the membership as the
/// transaction leaves it, read in one statement. Held writes must be written first.
async fn attach_membership_snapshots(
    conn: &mut Conn,
    pending: &mut [AuditRow],
    wanted: &[(String, String)],
) -> Result<(), sqlx::Error> {
    if wanted.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<String> = wanted.iter().map(|(_, m)| m.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    let snapshots: std::collections::HashMap<String, String> =
        super::events::membership_snapshots(conn, &ids)
            .await?
            .into_iter()
            .filter_map(|(id, s)| Some((id, serde_json::to_string(&s).ok()?)))
            .collect();
    let wanted: std::collections::HashMap<&str, &str> = wanted
        .iter()
        .map(|(e, m)| (e.as_str(), m.as_str()))
        .collect();
    for row in pending {
        if let Some(s) = wanted.get(row.id.as_str()).and_then(|m| snapshots.get(*m)) {
            row.snapshot = Some(s.clone());
        }
    }
    Ok(())
}

/// `held`, to go out in the statement that writes the audit rows; or sent now, and none, when
/// they bind more arguments than one statement takes.
async fn with_the_events(
    conn: &mut Conn,
    held: Vec<super::db::held::Held>,
) -> Result<Vec<super::db::held::Held>, sqlx::Error> {
    if held.iter().map(|h| h.arg_count()).sum::<usize>() <= super::db::held::MAX_ARGS {
        return Ok(held);
    }
    super::db::held::send(conn, &held).await?;
    Ok(Vec::new())
}

/// Writes the parts of a shared transaction ([`AuditedTx::within`]) and commits it: every
/// part's held writes (the single-row inserts into one table made one multi-row insert), audit
/// rows and feed events, in the parts' order, in one statement when they fit and no event waits
/// for a membership's snapshot (PostgreSQL).
/// Nothing of any part is written unless all are.
pub(crate) async fn commit_parts(
    db: &Db,
    mut tx: WriteTx,
    parts: Vec<Part>,
) -> Result<(), AuditError> {
    let mut held = Vec::new();
    let mut pending = Vec::new();
    let mut snapshots = Vec::new();
    for part in parts {
        if let Some(mut h) = part.held {
            held.extend(h.take_statements(tx.conn()));
        }
        pending.extend(part.pending);
        snapshots.extend(part.membership_snapshots);
    }
    if pending.is_empty() {
        return Err(AuditError::NoEvent);
    }
    let held = if locks_rows(tx.conn()) {
        super::db::held::merge_inserts(held)
    } else {
        held
    };
    // A snapshot is the membership as the transaction leaves it: the held writes go first.
    let held = if snapshots.is_empty() {
        with_the_events(tx.conn(), held).await?
    } else {
        super::db::held::send(tx.conn(), &held).await?;
        attach_membership_snapshots(tx.conn(), &mut pending, &snapshots).await?;
        Vec::new()
    };
    let sequence = AuditedTx::write_events(tx.conn(), pending, &held).await?;
    tx.commit().await?;
    if sequence {
        db.kick_sequencer();
    }
    Ok(())
}

/// Most audit rows a PostgreSQL transaction writes with its feed events in one statement
/// ([`super::events::append_with_audit`]); more take three statements. Measured (issue 17):
/// one statement made SCIM creates (2 events) 4–5 % faster, 0.80 → 0.70 ms of Lanyard's CPU per
/// create, and a 100-member PATCH of a mapped group (200 events) ~5 ms slower at the p50, cause
/// not found; an unmapped one (100 events) was alike either way.
const ONE_STATEMENT_ROWS: usize = 32;

/// Inserts audit rows, several per statement. Rows not `linked` yet (PostgreSQL, before the
/// sequencer) wait with minus their place in the write order as their chain position and no
/// hashes.
async fn insert_rows(conn: &mut Conn, rows: &[AuditRow], linked: bool) -> Result<(), sqlx::Error> {
    let columns = insert_columns(linked);
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO audit_events ({COLUMNS}) VALUES {}",
            super::db::values_template_for(conn, chunk.len(), &columns)
        );
        let mut q = sqlx::query(&sql);
        for row in chunk {
            q = bind_row(q, row, linked);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The `VALUES` columns of an audit row insert: each bound, but for a row not `linked` yet its
/// chain position, which is minus its place in the write order.
fn insert_columns(linked: bool) -> [Option<&'static str>; 16] {
    let mut columns: [Option<&str>; 16] = [None; 16];
    if !linked {
        columns[2] = Some("-nextval('audit_events_pending')");
    }
    columns
}

/// Binds one audit row's [`COLUMNS`] (all but the chain position when not `linked`).
fn bind_row<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    row: &'q AuditRow,
    linked: bool,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let mut q = q.bind(&row.id).bind(&row.chain_key);
    if linked {
        q = q.bind(row.chain_seq);
    }
    q.bind(&row.organization_id)
        .bind(&row.action)
        .bind(&row.actor_type)
        .bind(&row.actor_id)
        .bind(&row.actor_name)
        .bind(&row.targets)
        .bind(&row.ip)
        .bind(&row.user_agent)
        .bind(&row.request_id)
        .bind(row.occurred_at)
        .bind(&row.metadata)
        .bind(&row.prev_hash)
        .bind(&row.hash)
}

/// Most rows a sequencer pass links or numbers in one transaction.
pub const PASS_ROWS: i64 = 2000;

/// Longest a sequencer step waits for a row lock (`events_head`, a chain head) before it fails.
const SEQUENCER_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// What one transaction of a sequencer pass did ([`sequence_step`]). Waiting rows are handled
/// in write order (their place in `audit_events_pending` / `events_pending`), so every waiting
/// row the step could see at or below `audit_upto` (`events_upto`) is linked (numbered) when it
/// commits; and when a kind is `*_complete`, every row of that kind it could see is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassStep {
    /// Audit events linked.
    pub linked: i64,
    /// Feed events numbered.
    pub numbered: i64,
    /// The highest write-order place among the audit events linked (0 for none).
    pub audit_upto: i64,
    /// The highest write-order place among the feed events numbered (0 for none).
    pub events_upto: i64,
}

impl PassStep {
    /// Fewer than [`PASS_ROWS`] audit events waited when the step looked: it linked them all.
    pub fn audit_complete(&self) -> bool {
        self.linked < PASS_ROWS
    }

    /// Fewer than [`PASS_ROWS`] feed events waited when the step looked: it numbered them all.
    pub fn events_complete(&self) -> bool {
        self.numbered < PASS_ROWS
    }

    /// Nothing that waited when the step looked waits any more.
    pub fn complete(&self) -> bool {
        self.audit_complete() && self.events_complete()
    }

    /// Whether, once this step (begun after the rows at or below these write-order places were
    /// committed) has committed, every one of those rows is linked and numbered.
    pub fn covers(&self, audit_place: i64, events_place: i64) -> bool {
        (self.audit_complete() || self.audit_upto >= audit_place)
            && (self.events_complete() || self.events_upto >= events_place)
    }
}

/// One transaction of a sequencer pass on PostgreSQL: links up to [`PASS_ROWS`] committed audit
/// events that wait for their chain position (`chain_seq < 0`) into their chains, and gives up
/// to [`PASS_ROWS`] committed feed events that wait for their cursor (`cursor < 0`) the next
/// cursors, each in the order they were written. The sequencer (`db::spawn_sequencer`) runs
/// steps back to back until one is complete.
///
/// Steps of every node queue on the `events_head` row (`FOR UPDATE`), so chain positions and
/// cursors are handed out by one step at a time and become visible at its commit: all at once,
/// and after every lower one. Requests never hold that row, nor a chain head, so concurrent
/// audited writes do not wait for each other's commit.
pub async fn sequence_step(
    pool: &sqlx::AnyPool,
    kept: &super::db::Kept,
) -> Result<PassStep, sqlx::Error> {
    // On the sequencer's kept connection (no round trips for the pool's checks on acquire and
    // release); a step that fails rolls back and its connection goes back to the pool.
    let mut tx = super::db::begin_kept(pool, kept, step_begin().into()).await?;
    let head: i64 =
        sqlx::query_scalar("SELECT cursor FROM events_head WHERE k = 'global' FOR UPDATE")
            .fetch_one(tx.conn())
            .await?;
    let (linked, audit_upto) = link_pending(tx.conn()).await?;
    let (numbered, events_upto) = super::events::number_pending(tx.conn(), head, PASS_ROWS).await?;
    tx.commit().await?;
    Ok(PassStep {
        linked,
        numbered,
        audit_upto,
        events_upto,
    })
}

/// How the transaction of a sequencer step opens (PostgreSQL), with two settings sent in the
/// BEGIN's round trip:
/// - a lock timeout: a session that holds `events_head` (or a chain head) and hangs must not
///   hold every step of every node; the step fails after SEQUENCER_LOCK_WAIT, is tried again,
///   and releases no reader meanwhile;
/// - no hash or merge joins: every statement of a step updates rows it names by their key, and
///   with the tables not yet analyzed PostgreSQL planned the update of 200 audit rows as a hash
///   join over a sequential scan of every audit event ever written, costly enough to be
///   JIT-compiled on each pass (issue 17: the mapped 100-member PATCH, 70.9 ms p50 with those
///   passes beside it). With only nested loops left, each row is found through its primary key.
fn step_begin() -> String {
    format!(
        "BEGIN; SET LOCAL lock_timeout = '{}ms'; SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off",
        SEQUENCER_LOCK_WAIT.as_millis()
    )
}

/// A sequencer step's transaction, opened as [`sequence_step`] opens it. Public only for
/// tests/api/query_plans.rs.
#[doc(hidden)]
pub async fn begin_step(
    pool: &sqlx::AnyPool,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
    pool.begin_with(step_begin()).await
}

/// Links up to [`PASS_ROWS`] waiting audit events into their chains (see [`sequence_step`]).
/// Returns how many, and the highest write-order place among them. Public only for
/// tests/api/query_plans.rs, which counts the rows it reads.
#[doc(hidden)]
pub async fn link_pending(conn: &mut Conn) -> Result<(i64, i64), sqlx::Error> {
    // A waiting row's chain_seq is minus its place in the write order.
    let rows: Vec<AuditRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit_events WHERE chain_seq < 0 ORDER BY chain_seq DESC LIMIT $1"
    ))
    .bind(PASS_ROWS)
    .fetch_all(&mut *conn)
    .await?;
    let Some(last) = rows.last() else {
        return Ok((0, 0));
    };
    let upto = -last.chain_seq;
    let mut chains: Vec<&str> = rows.iter().map(|r| r.chain_key.as_str()).collect();
    chains.sort_unstable();
    chains.dedup();
    let heads: Vec<(String, i64, String)> = {
        let sql = format!(
            "SELECT chain_key, seq, hash FROM audit_chain_heads WHERE chain_key IN ({}) ORDER BY chain_key FOR UPDATE",
            super::db::placeholders(1, chains.len())
        );
        let mut q = sqlx::query_as(&sql);
        for c in &chains {
            q = q.bind(*c);
        }
        q.fetch_all(&mut *conn).await?
    };
    let mut tips: std::collections::BTreeMap<String, (i64, String)> = heads
        .into_iter()
        .map(|(k, seq, hash)| (k, (seq, hash)))
        .collect();
    let mut linked: Vec<AuditRow> = Vec::with_capacity(rows.len());
    for mut row in rows {
        let tip = tips
            .entry(row.chain_key.clone())
            .or_insert((0, String::new()));
        row.chain_seq = tip.0 + 1;
        row.prev_hash = std::mem::take(&mut tip.1);
        row.hash = row.compute_hash();
        *tip = (row.chain_seq, row.hash.clone());
        linked.push(row);
    }
    // One statement per chunk of rows; the last one also moves the chains' heads.
    let chunks: Vec<&[AuditRow]> = linked.chunks(ROWS_PER_INSERT).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let update = format!(
            "UPDATE audit_events SET chain_seq = v.seq, prev_hash = v.prev_hash, hash = v.hash \
             FROM (VALUES {}) AS v (id, seq, prev_hash, hash) WHERE audit_events.id = v.id",
            (0..chunk.len())
                .map(|i| format!(
                    "(${}, ${}::BIGINT, ${}, ${})",
                    4 * i + 1,
                    4 * i + 2,
                    4 * i + 3,
                    4 * i + 4
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let last = i + 1 == chunks.len();
        let sql = if last {
            format!(
                "WITH linked AS ({update}) INSERT INTO audit_chain_heads (chain_key, seq, hash) VALUES {} \
                 ON CONFLICT (chain_key) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                super::db::values_template_from(4 * chunk.len() + 1, tips.len(), &[None; 3])
            )
        } else {
            update
        };
        let mut q = sqlx::query(&sql);
        for r in *chunk {
            q = q
                .bind(&r.id)
                .bind(r.chain_seq)
                .bind(&r.prev_hash)
                .bind(&r.hash);
        }
        if last {
            for (k, (seq, hash)) in &tips {
                q = q.bind(k).bind(*seq).bind(hash);
            }
        }
        q.execute(&mut *conn).await?;
    }
    Ok((linked.len() as i64, upto))
}

/// Lists an organization's events after a chain position, oldest first.
pub async fn list_for_organization(
    conn: &mut Conn,
    organization_id: &str,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit_events WHERE chain_key = $1 AND chain_seq > 0 AND chain_seq > $2 ORDER BY chain_seq LIMIT $3"
    ))
    .bind(organization_id)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The position of a chain's last linked event (0 for none).
pub async fn chain_head(conn: &mut Conn, chain_key: &str) -> Result<i64, sqlx::Error> {
    let seq: Option<i64> =
        sqlx::query_scalar("SELECT seq FROM audit_chain_heads WHERE chain_key = $1")
            .bind(chain_key)
            .fetch_optional(conn)
            .await?;
    Ok(seq.unwrap_or(0))
}

/// A chain's events at the given positions (those still kept), in one query.
pub async fn at_positions(
    conn: &mut Conn,
    chain_key: &str,
    seqs: &[i64],
) -> Result<Vec<AuditRow>, sqlx::Error> {
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_events WHERE chain_key = $1 AND chain_seq IN ({})",
        super::db::placeholders(2, seqs.len())
    );
    let mut q = sqlx::query_as(&sql).bind(chain_key);
    for s in seqs {
        q = q.bind(*s);
    }
    q.fetch_all(conn).await
}

/// The result of checking one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub chain_key: String,
    pub events_checked: u64,
    /// The first broken link: sequence number, event id and what is wrong.
    pub first_broken: Option<(i64, String, String)>,
}

/// Recomputes a chain from its first event and reports the first link that does not hold. Events
/// still waiting for the sequencer (PostgreSQL, between their commit and its next pass) are not
/// in the chain yet and are not checked.
pub async fn verify_chain(conn: &mut Conn, chain_key: &str) -> Result<ChainReport, sqlx::Error> {
    let rows: Vec<AuditRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit_events WHERE chain_key = $1 AND chain_seq > 0 ORDER BY chain_seq"
    ))
    .bind(chain_key)
    .fetch_all(&mut *conn)
    .await?;
    let head: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_chain_heads WHERE chain_key = $1")
            .bind(chain_key)
            .fetch_optional(&mut *conn)
            .await?;
    let mut report = ChainReport {
        chain_key: chain_key.to_owned(),
        events_checked: 0,
        first_broken: None,
    };
    // A purge leaves the last purged event's position and hash: the chain continues from there.
    let checkpoint: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_checkpoints WHERE chain_key = $1")
            .bind(chain_key)
            .fetch_optional(&mut *conn)
            .await?;
    let (mut expected_seq, mut prev_hash) = match checkpoint {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, String::new()),
    };
    for row in &rows {
        report.events_checked += 1;
        let problem = if row.chain_seq != expected_seq {
            Some(format!(
                "expected sequence {expected_seq}, found {} (events missing)",
                row.chain_seq
            ))
        } else if row.prev_hash != prev_hash {
            Some("previous-hash link does not match the event before it".to_owned())
        } else if row.compute_hash() != row.hash {
            Some("content does not match its hash (the event was edited)".to_owned())
        } else {
            None
        };
        if let Some(p) = problem {
            report.first_broken = Some((row.chain_seq, row.id.clone(), p));
            return Ok(report);
        }
        prev_hash = row.hash.clone();
        expected_seq += 1;
    }
    if let Some((seq, hash)) = head {
        if seq != expected_seq - 1 || hash != prev_hash {
            report.first_broken = Some((
                expected_seq,
                String::new(),
                format!(
                    "chain head says {seq} events but {} are present (events at the end were removed)",
                    expected_seq - 1
                ),
            ));
        }
    }
    Ok(report)
}

/// Every chain key present (organizations and the global chain).
pub async fn chain_keys(conn: &mut Conn) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT chain_key FROM audit_chain_heads ORDER BY chain_key")
        .fetch_all(conn)
        .await
}

/// Filters of the audit log viewer and export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Exact action, or a prefix ending in `.*` (`membership.*`).
    pub action: Option<String>,
    /// Actor id, or actor name (case-insensitive).
    pub actor: Option<String>,
    /// A target's id.
    pub target: Option<String>,
    /// Inclusive lower bound, epoch ms.
    pub from: Option<i64>,
    /// Exclusive upper bound, epoch ms.
    pub to: Option<i64>,
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// An organization's events after a chain position matching `f`, oldest first.
pub async fn list_filtered(
    conn: &mut Conn,
    organization_id: &str,
    after_seq: i64,
    f: &AuditFilter,
    limit: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    filtered(conn, organization_id, after_seq, f, limit, false).await
}

/// An organization's events before a chain position (0 = from the newest) matching `f`, newest
/// first.
pub async fn list_filtered_recent(
    conn: &mut Conn,
    organization_id: &str,
    before_seq: i64,
    f: &AuditFilter,
    limit: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    let before = if before_seq <= 0 {
        i64::MAX
    } else {
        before_seq
    };
    filtered(conn, organization_id, before, f, limit, true).await
}

async fn filtered(
    conn: &mut Conn,
    organization_id: &str,
    seq: i64,
    f: &AuditFilter,
    limit: i64,
    newest_first: bool,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    let (action_eq, action_prefix) = match f.action.as_deref() {
        Some(a) => match a.strip_suffix(".*") {
            Some(p) => (None, Some(format!("{}.%", like_escape(p)))),
            None => (Some(a.to_owned()), None),
        },
        None => (None, None),
    };
    let target = f
        .target
        .as_deref()
        .map(|t| format!("%\"id\":\"{}\"%", like_escape(t)));
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit_events WHERE chain_key = $1 AND chain_seq > 0 AND chain_seq {} $2 \
         AND ($3 IS NULL OR action = $3) AND ($4 IS NULL OR action LIKE $4 ESCAPE '\\') \
         AND ($5 IS NULL OR actor_id = $5 OR LOWER(actor_name) = LOWER($5)) \
         AND ($6 IS NULL OR targets LIKE $6 ESCAPE '\\') \
         AND ($7 IS NULL OR occurred_at >= $7) AND ($8 IS NULL OR occurred_at < $8) \
         ORDER BY chain_seq {} LIMIT $9",
        if newest_first { "<" } else { ">" },
        if newest_first { "DESC" } else { "ASC" },
    ))
    .bind(organization_id)
    .bind(seq)
    .bind(action_eq)
    .bind(action_prefix)
    .bind(f.actor.as_deref())
    .bind(target)
    .bind(f.from)
    .bind(f.to)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Deletes a chain's events up to `through_seq` (and the outbox rows older releases wrote for
/// them), keeping a checkpoint of the last one so the rest of the chain stays verifiable. Returns
/// how many were deleted.
pub async fn purge_through(
    conn: &mut Conn,
    chain_key: &str,
    through_seq: i64,
    through_hash: &str,
    now: i64,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "DELETE FROM outbox WHERE audit_event_id IN (SELECT id FROM audit_events WHERE chain_key = $1 AND chain_seq > 0 AND chain_seq <= $2)",
    )
    .bind(chain_key)
    .bind(through_seq)
    .execute(&mut *conn)
    .await?;
    let r = sqlx::query(
        "DELETE FROM audit_events WHERE chain_key = $1 AND chain_seq > 0 AND chain_seq <= $2",
    )
    .bind(chain_key)
    .bind(through_seq)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO audit_checkpoints (chain_key, seq, hash, purged_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (chain_key) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, purged_at = excluded.purged_at",
    )
    .bind(chain_key)
    .bind(through_seq)
    .bind(through_hash)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected())
}

/// The newest event of a chain older than `before`: (sequence, hash).
pub async fn last_before(
    conn: &mut Conn,
    chain_key: &str,
    before: i64,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT chain_seq, hash FROM audit_events WHERE chain_key = $1 AND chain_seq > 0 AND occurred_at < $2 ORDER BY chain_seq DESC LIMIT 1",
    )
    .bind(chain_key)
    .bind(before)
    .fetch_optional(conn)
    .await
}
