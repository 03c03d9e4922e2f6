//! The vendor's events feed. Every audit event that concerns the vendor becomes an event with a
//! global cursor and a per-entity sequence number, written in the audit event's transaction.
//!
//! Cursors are dense and in commit order, so a consumer that has seen N has seen everything
//! below it: reading `after=N` never skips an event that commits later.
//! - SQLite has one writer: a transaction takes its cursors from the `events_head` row and
//!   commits before the next writer can take the following ones.
//! - PostgreSQL: a transaction writes its events without a cursor (`cursor` holds minus their
//!   place in the write order, and readers only look at positive cursors); once it has
//!   committed, the sequencer numbers every waiting event it can see, after the last cursor
//!   handed out, and commits them all at once ([`number_pending`], run by
//!   [`super::audit::sequence_step`]). No writer holds the feed's head until its commit.
//!
//! An entity's events are in its sequence order on both: the per-entity counter row is locked
//! by the writing transaction until it commits, so the entity's next event is written (and gets
//! its place in the write order) after it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::audit::AuditRow;
use super::db::{new_id, values_template_for, Conn, ROWS_PER_INSERT};
use crate::domain::ids::IdKind;

/// How long events are kept by default: 90 days.
pub const DEFAULT_RETENTION_MS: i64 = 90 * 24 * 3600 * 1000;

/// True for audit actions the vendor's product gets as events (not the operator's key
/// management, the admin opening the portal, the vendor's own webhook settings, nor what the
/// vendor's product wrote into an organization's trail itself).
pub fn concerns_vendor(action: &str) -> bool {
    !(action.starts_with("api_key.")
        || action.starts_with(super::audit::VENDOR_PREFIX)
        || action.starts_with("portal.")
        || action.starts_with("webhook_endpoint."))
}

/// The entity an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entity {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    /// 1, 2, 3, … per entity: a consumer applies an entity's events in this order.
    pub sequence: i64,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    /// `event_…`
    pub id: String,
    /// `dsync.user.deactivated`, `membership.role_changed`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// RFC 3339.
    pub created_at: String,
    pub organization_id: Option<String>,
    /// Pass as `after` to read what follows this event.
    pub cursor: String,
    pub entity: Entity,
    /// `{actor, targets, metadata, audit_event_id}`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// The resource as it was when the event was recorded, for the types that keep one
    /// (organizations, domains, connections, directories, directory users and groups, group
    /// memberships, memberships, invitations, sign-ins through a connection): `{kind, …}` with
    /// the stored row, and `previous` (the row before) on directory user and group updates. Absent for
    /// other types and for events recorded before Lanyard kept snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub snapshot: Option<serde_json::Value>,
}

/// The resource an event is about, as it was when the event was recorded: written with the
/// event in its transaction (see [`super::audit::AuditedTx::snapshot`]), so that an event about
/// a row deleted since (directory users and groups are deleted outright) still shows it, and an
/// update shows the row before it (`previous`). Rows as Lanyard stores them, never a secret:
/// `/api/v1/events` shows this as `snapshot`; the WorkOS-compatible `/events` renders WorkOS's
/// shapes from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Snapshot {
    Organization {
        organization: super::db::organizations::OrganizationRow,
        domains: Vec<super::db::domains::DomainRow>,
    },
    Domain {
        domain: super::db::domains::DomainRow,
    },
    Connection {
        connection: ConnectionSnapshot,
    },
    Directory {
        directory: super::db::directories::DirectoryRow,
        /// The organization's verified domains then.
        #[serde(default)]
        domains: Vec<DomainRef>,
    },
    DirectoryUser {
        user: super::db::directory_users::DirUserRow,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<Box<super::db::directory_users::DirUserRow>>,
    },
    DirectoryGroup {
        group: super::db::directory_groups::DirGroupRow,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<Box<super::db::directory_groups::DirGroupRow>>,
    },
    /// A user added to or removed from a group.
    GroupMember {
        user: super::db::directory_users::DirUserRow,
        group: super::db::directory_groups::DirGroupRow,
    },
    /// A sign-in through a connection (not an admin's test).
    SignIn {
        succeeded: bool,
        organization_id: String,
        connection_id: String,
        user_id: Option<String>,
        email: Option<String>,
        ip: Option<String>,
        user_agent: Option<String>,
        /// Why it failed: (reason code, words).
        error: Option<(String, String)>,
    },
    /// An invitation after the change, with the users behind its inviting and accepting
    /// memberships.
    Invitation {
        invitation: super::db::invitations::InvitationRow,
        inviter_user_id: Option<String>,
        accepted_user_id: Option<String>,
    },
    /// A membership as the transaction that recorded the event left it (a removed one keeps its
    /// row, in the state `removed`).
    Membership {
        membership: MembershipSnapshot,
    },
}

/// What a snapshot keeps of a membership and its user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MembershipSnapshot {
    pub id: String,
    pub organization_id: String,
    pub user_id: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub role: String,
    /// `active`, `suspended` or `removed`.
    pub state: String,
    /// The directory that manages it, when one does.
    pub directory_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The memberships `ids` as they are now in this transaction, for their events' snapshots.
pub async fn membership_snapshots(
    conn: &mut Conn,
    ids: &[String],
) -> Result<Vec<(String, Snapshot)>, sqlx::Error> {
    Ok(super::db::memberships::by_ids(conn, ids)
        .await?
        .into_iter()
        .map(|m| {
            (
                m.id.to_string(),
                Snapshot::Membership {
                    membership: MembershipSnapshot {
                        id: m.id.into_string(),
                        organization_id: m.organization_id,
                        user_id: m.user_id.into_string(),
                        email: m.email,
                        first_name: m.first_name,
                        last_name: m.last_name,
                        role: m.role,
                        state: m.state,
                        directory_id: m.directory_id,
                        created_at: m.created_at,
                        updated_at: m.updated_at,
                    },
                },
            )
        })
        .collect())
}

/// The invitation `id` as it is now in this transaction, for its event's snapshot.
pub async fn invitation_snapshot(
    conn: &mut Conn,
    id: &str,
) -> Result<Option<Snapshot>, sqlx::Error> {
    let Some(invitation) = super::db::invitations::by_id(&mut *conn, id).await? else {
        return Ok(None);
    };
    let inviter = (invitation.inviter_kind
        == crate::domain::invitation::InviterKind::Membership.as_str())
    .then(|| invitation.inviter_id.clone());
    let ids: Vec<String> = inviter
        .iter()
        .chain(invitation.membership_id.iter())
        .cloned()
        .collect();
    let users = super::db::memberships::users_of(conn, &ids).await?;
    let user_of = |m: &Option<String>| {
        m.as_ref()
            .and_then(|m| users.iter().find(|(om, _)| om == m))
            .map(|(_, u)| u.clone())
    };
    Ok(Some(Snapshot::Invitation {
        inviter_user_id: user_of(&inviter),
        accepted_user_id: user_of(&invitation.membership_id),
        invitation,
    }))
}

/// What a snapshot keeps of a connection: never its client secret or IdP settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectionSnapshot {
    pub id: String,
    pub organization_id: String,
    /// `saml` or `oidc`.
    pub kind: String,
    pub idp: String,
    pub name: String,
    pub state: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// The organization's verified domains then.
    #[serde(default)]
    pub domains: Vec<DomainRef>,
}

/// A verified domain as a snapshot names it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DomainRef {
    pub id: String,
    pub domain: String,
}

/// The organization's verified domains, as snapshots keep them (read in the writing
/// transaction).
pub async fn verified_domains(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<Vec<DomainRef>, sqlx::Error> {
    Ok(super::db::domains::list(conn, organization_id)
        .await?
        .into_iter()
        .filter(|d| d.state == "verified")
        .map(|d| DomainRef {
            id: d.id,
            domain: d.domain,
        })
        .collect())
}

impl From<&super::db::connections::ConnectionRow> for ConnectionSnapshot {
    fn from(c: &super::db::connections::ConnectionRow) -> Self {
        ConnectionSnapshot {
            id: c.id.clone(),
            organization_id: c.organization_id.clone(),
            kind: c.kind.clone(),
            idp: c.idp.clone(),
            name: c.name.clone(),
            state: c.state.clone(),
            created_at: c.created_at,
            updated_at: c.updated_at,
            domains: Vec::new(),
        }
    }
}

/// The entity an audit row is about: its first target, else its organization.
fn entity_of(r: &AuditRow, targets: &serde_json::Value) -> (String, String) {
    targets
        .get(0)
        .map(|t| {
            (
                t["type"].as_str().unwrap_or("").to_owned(),
                t["id"].as_str().unwrap_or("").to_owned(),
            )
        })
        .filter(|(t, i)| !t.is_empty() && !i.is_empty())
        .unwrap_or_else(|| {
            (
                "organization".to_owned(),
                r.organization_id.clone().unwrap_or_else(|| "global".into()),
            )
        })
}

/// An organization's audit event as its log streams carry it: every event of its trail, the
/// chain position as the cursor. What the vendor's product reported keeps its `vendor:` action
/// and actor type (a SIEM rule on `type` must never take it for one of Lanyard's) and says
/// `source: vendor`.
pub fn stream_event(r: &AuditRow) -> Event {
    let targets: serde_json::Value = serde_json::from_str(&r.targets).unwrap_or_default();
    let (etype, eid) = entity_of(r, &targets);
    let vendor = super::audit::VENDOR_PREFIX;
    Event {
        id: r.id.clone(),
        kind: r.action.clone(),
        created_at: super::timefmt::rfc3339(r.occurred_at),
        organization_id: r.organization_id.clone(),
        cursor: r.chain_seq.to_string(),
        entity: Entity {
            kind: etype,
            id: eid,
            sequence: r.chain_seq,
        },
        data: serde_json::json!({
            "audit_event_id": r.id,
            "source": if r.action.starts_with(vendor) { "vendor" } else { "lanyard" },
            "actor": { "type": r.actor_type, "id": r.actor_id, "name": r.actor_name },
            "targets": targets,
            "context": { "ip": r.ip, "user_agent": r.user_agent, "request_id": r.request_id },
            "metadata": serde_json::from_str::<serde_json::Value>(&r.metadata).unwrap_or_default(),
            "hash": r.hash,
        }),
        snapshot: None,
    }
}

/// The key deliveries of one entity's events are ordered by (`type:id`).
pub fn stream_entity_key(r: &AuditRow) -> String {
    let targets: serde_json::Value = serde_json::from_str(&r.targets).unwrap_or_default();
    let (t, i) = entity_of(r, &targets);
    format!("{t}:{i}")
}

/// The feed events of a transaction's audit rows, before they are written: the rows that
/// concern the vendor, in order, each with its entity and event data, and how many events each
/// entity gets (in key order).
struct Prepared<'a> {
    rows: Vec<&'a AuditRow>,
    entities: Vec<(String, String)>,
    /// `type:id` of each row's entity.
    keys: Vec<String>,
    /// Events per entity key, in key order: a statement writes its VALUES in order, so two
    /// transactions about the same entities lock their counter rows in the same order.
    counts: Vec<(String, i64)>,
    /// Each event's `data`.
    data: Vec<String>,
}

impl<'a> Prepared<'a> {
    fn of(rows: &'a [AuditRow]) -> Prepared<'a> {
        let rows: Vec<&AuditRow> = rows.iter().filter(|r| concerns_vendor(&r.action)).collect();
        let mut entities = Vec::with_capacity(rows.len());
        let mut data = Vec::with_capacity(rows.len());
        for r in &rows {
            let t: serde_json::Value = serde_json::from_str(&r.targets).unwrap_or_default();
            entities.push(entity_of(r, &t));
            data.push(
                serde_json::json!({
                    "audit_event_id": r.id,
                    "actor": { "type": r.actor_type, "id": r.actor_id, "name": r.actor_name },
                    "targets": t,
                    "metadata": serde_json::from_str::<serde_json::Value>(&r.metadata).unwrap_or_default(),
                })
                .to_string(),
            );
        }
        let keys: Vec<String> = entities.iter().map(|(t, i)| format!("{t}:{i}")).collect();
        let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
        for k in &keys {
            *counts.entry(k.as_str()).or_default() += 1;
        }
        let counts = counts.into_iter().map(|(k, n)| (k.to_owned(), n)).collect();
        Prepared {
            rows,
            entities,
            keys,
            counts,
            data,
        }
    }

    /// For each event, how many later events of this transaction are about the same entity:
    /// its sequence number is the entity's counter after the upsert minus that.
    fn later_of_same_entity(&self) -> Vec<i64> {
        let mut seen: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
        let mut later = vec![0; self.keys.len()];
        for (i, k) in self.keys.iter().enumerate().rev() {
            let n = seen.entry(k.as_str()).or_default();
            later[i] = *n;
            *n += 1;
        }
        later
    }
}

/// The columns of `events` an insert writes, in the order [`append`] binds them.
const EVENT_COLUMNS: &str = "cursor, id, audit_event_id, type, organization_id, entity_type, entity_id, entity_seq, created_at, data, snapshot";

/// Writes the events for audit rows of this transaction, in their order. With `number_now`
/// (SQLite, one writer) they take their cursors here; otherwise (PostgreSQL) they are written
/// without one and the sequencer numbers them once committed ([`number_pending`]).
pub(crate) async fn append(
    conn: &mut Conn,
    rows: &[AuditRow],
    number_now: bool,
) -> Result<(), sqlx::Error> {
    let p = Prepared::of(rows);
    if p.rows.is_empty() {
        return Ok(());
    }
    // Per-entity sequence numbers: one multi-row upsert per chunk, its rows in key order.
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    for chunk in p.counts.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO event_entity_seqs (entity_key, seq) VALUES {} \
             ON CONFLICT (entity_key) DO UPDATE SET seq = event_entity_seqs.seq + excluded.seq \
             RETURNING entity_key, seq",
            values_template_for(conn, chunk.len(), &[None, None])
        );
        let mut q = sqlx::query_as::<_, (String, i64)>(&sql);
        for (key, n) in chunk {
            q = q.bind(key.as_str()).bind(*n);
        }
        last.extend(q.fetch_all(&mut *conn).await?);
    }
    let first_cursor = if number_now {
        let n = p.rows.len() as i64;
        let last: i64 = sqlx::query_scalar(
            "UPDATE events_head SET cursor = cursor + $1 WHERE k = 'global' RETURNING cursor",
        )
        .bind(n)
        .fetch_one(&mut *conn)
        .await?;
        Some(last - n + 1)
    } else {
        None
    };
    let later = p.later_of_same_entity();
    let mut columns: [Option<&str>; 11] = [None; 11];
    if !number_now {
        columns[0] = Some("-nextval('events_pending')");
    }
    let all: Vec<usize> = (0..p.rows.len()).collect();
    for chunk in all.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO events ({EVENT_COLUMNS}) VALUES {}",
            values_template_for(conn, chunk.len(), &columns)
        );
        let ids: Vec<String> = chunk.iter().map(|_| new_id(IdKind::Event)).collect();
        let mut q = sqlx::query(&sql);
        for (&i, id) in chunk.iter().zip(&ids) {
            if let Some(c) = first_cursor {
                q = q.bind(c + i as i64);
            }
            let r = p.rows[i];
            let (etype, eid) = &p.entities[i];
            q = q
                .bind(id)
                .bind(&r.id)
                .bind(&r.action)
                .bind(&r.organization_id)
                .bind(etype)
                .bind(eid)
                .bind(last.get(&p.keys[i]).copied().unwrap_or(1) - later[i])
                .bind(r.occurred_at)
                .bind(&p.data[i])
                .bind(&r.snapshot);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// PostgreSQL: writes a transaction's audit rows, waiting for the sequencer (`audit_columns`
/// and `bind_audit` give their columns and bind one row's parameters, `audit_fixed` the columns
/// written as SQL), and their feed events with the entities' counters, in one statement: one
/// round trip instead of three. Up to [`ROWS_PER_INSERT`] audit rows.
pub(crate) async fn append_with_audit<F>(
    conn: &mut Conn,
    held: &[super::db::held::Held],
    rows: &[AuditRow],
    audit_columns: &str,
    audit_fixed: &[Option<&str>],
    bind_audit: F,
) -> Result<(), sqlx::Error>
where
    F: for<'q> Fn(
        sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
        &'q AuditRow,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
{
    debug_assert!(rows.len() <= ROWS_PER_INSERT);
    let p = Prepared::of(rows);
    // The held writes first, as `WITH` items numbered before the rest.
    let (held_items, held_params) = super::db::held::with_items(held);
    let audit_params = audit_fixed.iter().filter(|c| c.is_none()).count() * rows.len();
    let audit_values = super::db::values_template_from(held_params + 1, rows.len(), audit_fixed);
    let sql = if p.rows.is_empty() {
        // Nothing for the feed: the audit rows alone.
        let with = if held.is_empty() {
            String::new()
        } else {
            format!("WITH {held_items} ")
        };
        format!("{with}INSERT INTO audit_events ({audit_columns}) VALUES {audit_values}")
    } else {
        let with = if held.is_empty() {
            String::new()
        } else {
            format!("{held_items}, ")
        };
        let seq_first = held_params + audit_params + 1;
        let ev_first = seq_first + 2 * p.counts.len();
        // The events in write order (`ord`): `nextval` in the select list is evaluated after
        // the ORDER BY sort, so their places in the write order follow it.
        format!(
            "WITH {with}audit AS (INSERT INTO audit_events ({audit_columns}) VALUES {audit_values}), \
             seqs AS (INSERT INTO event_entity_seqs (entity_key, seq) VALUES {} \
             ON CONFLICT (entity_key) DO UPDATE SET seq = event_entity_seqs.seq + excluded.seq \
             RETURNING entity_key, seq) \
             INSERT INTO events ({EVENT_COLUMNS}) \
             SELECT -nextval('events_pending'), v.id, v.audit_event_id, v.type, v.organization_id, \
             v.entity_type, v.entity_id, seqs.seq - v.later, v.created_at, v.data, v.snapshot \
             FROM (VALUES {}) AS v (ord, id, audit_event_id, type, organization_id, entity_type, \
             entity_id, entity_key, later, created_at, data, snapshot) \
             JOIN seqs ON seqs.entity_key = v.entity_key ORDER BY v.ord",
            super::db::values_template_from(seq_first, p.counts.len(), &[None, None]),
            super::db::values_template_from(ev_first, p.rows.len(), &[None; 12]),
        )
    };
    let later = p.later_of_same_entity();
    let ids: Vec<String> = p.rows.iter().map(|_| new_id(IdKind::Event)).collect();
    let mut q = super::db::held::bind_all_held(sqlx::query(&sql), held);
    for r in rows {
        q = bind_audit(q, r);
    }
    for (key, n) in &p.counts {
        q = q.bind(key.as_str()).bind(*n);
    }
    for (i, r) in p.rows.iter().enumerate() {
        let (etype, eid) = &p.entities[i];
        q = q
            .bind(i as i64)
            .bind(&ids[i])
            .bind(&r.id)
            .bind(&r.action)
            .bind(&r.organization_id)
            .bind(etype)
            .bind(eid)
            .bind(&p.keys[i])
            .bind(later[i])
            .bind(r.occurred_at)
            .bind(&p.data[i])
            .bind(&r.snapshot);
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

/// Gives cursors to committed events that wait for one (`cursor < 0`, minus their place in the
/// write order), in the order they were written, after `head`, the last cursor handed out. Run by the sequencer pass only, which holds the `events_head` row: a
/// pass's cursors become visible at its commit, all at once and after every lower one, so a
/// consumer that has read cursor N never later sees a new event at or below N. Returns how many
/// were numbered and the highest write-order place among them (0 for none). Public only for
/// tests/api/query_plans.rs, which counts the rows it reads.
#[doc(hidden)]
pub async fn number_pending(
    conn: &mut Conn,
    head: i64,
    limit: i64,
) -> Result<(i64, i64), sqlx::Error> {
    // Two statements, each driven by the primary key: the waiting rows by a backward walk of
    // its negative range, then each row by its key. (One `UPDATE … FROM (SELECT … LIMIT $n)`
    // was planned as a hash join over a sequential scan of the whole feed, so every pass read
    // every event ever written.)
    let waiting: Vec<i64> = sqlx::query_scalar(
        "SELECT cursor FROM events WHERE cursor < 0 ORDER BY cursor DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let Some(last) = waiting.last() else {
        return Ok((0, 0));
    };
    let upto = -last;
    let n = waiting.len() as i64;
    let mut next = head;
    // One statement per chunk; the last one also moves the feed's head.
    let chunks: Vec<&[i64]> = waiting.chunks(NUMBER_ROWS).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let update = format!(
            "UPDATE events SET cursor = v.new FROM (VALUES {}) AS v (old, new) \
             WHERE events.cursor = v.old",
            (0..chunk.len())
                .map(|i| format!("(${}::BIGINT, ${}::BIGINT)", 2 * i + 1, 2 * i + 2))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let last = i + 1 == chunks.len();
        let sql = if last {
            format!(
                "WITH numbered AS ({update}) UPDATE events_head SET cursor = ${} WHERE k = 'global'",
                2 * chunk.len() + 1
            )
        } else {
            update
        };
        let mut q = sqlx::query(&sql);
        for old in *chunk {
            next += 1;
            q = q.bind(*old).bind(next);
        }
        if last {
            q = q.bind(head + n);
        }
        q.execute(&mut *conn).await?;
    }
    Ok((n, upto))
}

/// Rows one numbering statement of [`number_pending`] updates: few enough that PostgreSQL
/// looks each one up by its key rather than scanning the feed.
const NUMBER_ROWS: usize = 100;

use super::db::webhooks::EventRow;

pub(crate) fn to_event(r: EventRow) -> Event {
    let EventRow {
        cursor,
        id,
        kind,
        organization_id,
        entity_type: etype,
        entity_id: eid,
        entity_seq: seq,
        created_at: at,
        data,
        snapshot,
    } = r;
    Event {
        id,
        kind,
        created_at: super::timefmt::rfc3339(at),
        organization_id,
        cursor: cursor.to_string(),
        entity: Entity {
            kind: etype,
            id: eid,
            sequence: seq,
        },
        data: serde_json::from_str(&data).unwrap_or_default(),
        snapshot: snapshot.and_then(|s| serde_json::from_str(&s).ok()),
    }
}

/// Events after `after`, oldest first, optionally of some types and one organization.
pub async fn list(
    conn: &mut Conn,
    after: i64,
    types: &[String],
    organization_id: Option<&str>,
    limit: i64,
) -> Result<Vec<Event>, sqlx::Error> {
    let mut sql = String::from(
        "SELECT cursor, id, type, organization_id, entity_type, entity_id, entity_seq, created_at, data, snapshot FROM events \
         WHERE cursor > $1 AND ($2 IS NULL OR organization_id = $2)",
    );
    if !types.is_empty() {
        let ph: Vec<String> = (0..types.len()).map(|i| format!("${}", i + 4)).collect();
        sql.push_str(&format!(" AND type IN ({})", ph.join(", ")));
    }
    sql.push_str(" ORDER BY cursor LIMIT $3");
    debug_assert!(after >= 0, "waiting events have negative cursors");
    // PostgreSQL: planned for its values on every call (an unnamed statement), never once for
    // all. A plan for unknown values walks the feed in cursor order and filters, which suits a
    // common filter and reads the whole feed for a rare one (a type or organization with few
    // events: a consumer polling `after` its last match rereads everything since). PostgreSQL
    // switches a named statement to that plan after five calls when it rates it no dearer: on an
    // analyzed 300,000-event feed, 58,000 buffers and 284 ms a poll against 2.7 ms (issue 17,
    // session 43). Test `query_plans::postgres_a_feed_poll_with_a_rare_filter_reads_its_matches`.
    let mut q = sqlx::query_as::<_, EventRow>(&sql)
        .persistent(!super::db::locks_rows(conn))
        .bind(after)
        .bind(organization_id)
        .bind(limit);
    for t in types {
        q = q.bind(t);
    }
    Ok(q.fetch_all(conn).await?.into_iter().map(to_event).collect())
}

/// The oldest cursor still kept (0 when none was purged and none exists).
pub async fn oldest_kept(conn: &mut Conn) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT MIN(cursor) FROM events WHERE cursor > 0")
        .fetch_one(conn)
        .await
}

/// The last cursor handed out.
pub async fn head(conn: &mut Conn) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT cursor FROM events_head WHERE k = 'global'")
        .fetch_one(conn)
        .await
}

/// Deletes numbered events older than `before`; returns how many.
pub async fn purge(conn: &mut Conn, before: i64) -> Result<u64, sqlx::Error> {
    let r = sqlx::query("DELETE FROM events WHERE created_at < $1 AND cursor > 0")
        .bind(before)
        .execute(conn)
        .await?;
    Ok(r.rows_affected())
}

/// Filters of [`page_with_snapshots`].
#[derive(Debug, Default)]
pub struct SnapshotFilter<'a> {
    /// Event types (at least one).
    pub types: Vec<&'a str>,
    pub organization_id: Option<&'a str>,
    /// `created_at` from (inclusive) and to (inclusive), in ms.
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// Numbered events after `after` and at most `upto` that carry a snapshot, oldest first.
pub async fn page_with_snapshots(
    conn: &mut Conn,
    after: i64,
    upto: i64,
    f: &SnapshotFilter<'_>,
    limit: i64,
) -> Result<Vec<EventRow>, sqlx::Error> {
    let mut q = super::db::Filtered::new(
        "SELECT cursor, id, type, organization_id, entity_type, entity_id, entity_seq, created_at, data, snapshot \
         FROM events WHERE snapshot IS NOT NULL"
            .to_owned(),
    );
    let types: Vec<String> = f.types.iter().map(|t| q.param(*t)).collect();
    q.raw(&format!("type IN ({})", types.join(", ")));
    if let Some(o) = f.organization_id {
        q.and("organization_id = {}", o);
    }
    q.raw(&format!("cursor > {} AND cursor <= {upto}", after.max(0)));
    if let Some(from) = f.from {
        q.raw(&format!("created_at >= {from}"));
    }
    if let Some(to) = f.to {
        q.raw(&format!("created_at <= {to}"));
    }
    q.fetch_ordered(conn, "cursor", limit).await
}

/// The id of the event at a cursor, when it is kept.
pub async fn id_at(conn: &mut Conn, cursor: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM events WHERE cursor = $1")
        .bind(cursor)
        .fetch_optional(conn)
        .await
}

/// The cursor of a numbered event, by id.
pub async fn cursor_of(conn: &mut Conn, id: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT cursor FROM events WHERE id = $1 AND cursor > 0")
        .bind(id)
        .fetch_optional(conn)
        .await
}
