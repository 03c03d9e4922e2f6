//! Read-only queries behind the support console: tenant health, drift and the credentials
//! inventory; and the `health_snapshots` the scheduled job keeps.

use super::Conn;
use crate::domain::event_type::EventType;
use crate::domain::invitation::InvitationState;
use crate::domain::membership::GrantKind;
use crate::domain::membership::MembershipState;
use crate::domain::sign_in::SignInOutcome;
use crate::domain::sign_in::SignInPurpose;

// State names in SQL text: interpolated from the vocabulary as constants, so each query's
// text stays what it was (partial indexes on these states still apply).
const ATTEMPT_FAILED: &str = SignInOutcome::Failed.as_str();
const GRANT_DIRECTORY_SUSPENDED: &str = GrantKind::DirectorySuspended.as_str();
const INVITATION_PENDING: &str = InvitationState::Pending.as_str();
const MEMBER_ACTIVE: &str = MembershipState::Active.as_str();
const MEMBER_SUSPENDED: &str = MembershipState::Suspended.as_str();
const PURPOSE_TEST: &str = SignInPurpose::Test.as_str();

/// An organization's connection with its sign-in record.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectionStats {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub state: String,
    pub last_success_at: Option<i64>,
    pub last_failure_at: Option<i64>,
    pub last_failure_reason: Option<String>,
    /// Failed sign-ins (tests aside) in the window.
    pub failures: i64,
}

/// Live connections of an organization with their sign-in record since `since`.
pub async fn connections(
    conn: &mut Conn,
    organization_id: &str,
    since: i64,
) -> Result<Vec<ConnectionStats>, sqlx::Error> {
    // Each through its table's `connection_id` index (`super::fk_eq`).
    let (i, a) = (
        super::fk_eq(conn, "i.connection_id", "c.id"),
        super::fk_eq(conn, "a.connection_id", "c.id"),
    );
    sqlx::query_as(
        &format!("SELECT c.id, c.name, c.kind, c.state, \
           (SELECT MAX(i.last_login_at) FROM user_identities i WHERE {i}) AS last_success_at, \
           (SELECT MAX(a.created_at) FROM login_attempts a WHERE {a} AND a.outcome = '{ATTEMPT_FAILED}' AND a.purpose <> '{PURPOSE_TEST}') AS last_failure_at, \
           (SELECT a.reason FROM login_attempts a WHERE {a} AND a.outcome = '{ATTEMPT_FAILED}' AND a.purpose <> '{PURPOSE_TEST}' ORDER BY a.created_at DESC, a.id DESC LIMIT 1) AS last_failure_reason, \
           (SELECT COUNT(*) FROM login_attempts a WHERE {a} AND a.outcome = '{ATTEMPT_FAILED}' AND a.purpose <> '{PURPOSE_TEST}' AND a.created_at >= $2) AS failures \
         FROM connections c WHERE c.organization_id = $1 AND c.deleted_at IS NULL ORDER BY c.created_at, c.id"),
    )
    .bind(organization_id)
    .bind(since)
    .fetch_all(conn)
    .await
}

/// A SAML signing certificate of a live connection.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CertRow {
    pub id: String,
    pub connection_id: String,
    pub connection_name: String,
    pub fingerprint: String,
    pub subject: String,
    pub not_after: i64,
    pub created_at: i64,
}

pub async fn certificates(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<Vec<CertRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.id, c.id AS connection_id, c.name AS connection_name, s.fingerprint, s.subject, s.not_after, s.created_at FROM saml_certificates s \
         JOIN connections c ON c.id = s.connection_id \
         WHERE s.organization_id = $1 AND c.deleted_at IS NULL ORDER BY s.not_after",
    )
    .bind(organization_id)
    .fetch_all(conn)
    .await
}

/// One of Lanyard's SP keys (signing or encryption) of a live SAML connection, published or in use.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SpKeyCredRow {
    pub id: String,
    pub connection_id: String,
    pub connection_name: String,
    pub key_use: String,
    pub state: String,
    pub fingerprint: String,
    pub not_after: i64,
    pub created_at: i64,
}

pub async fn sp_keys(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<Vec<SpKeyCredRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT k.id, c.id AS connection_id, c.name AS connection_name, k.key_use, k.state, k.fingerprint, k.not_after, k.created_at \
         FROM saml_sp_keys k JOIN connections c ON c.id = k.connection_id \
         WHERE k.organization_id = $1 AND k.state IN ('active', 'next') AND c.deleted_at IS NULL ORDER BY k.not_after",
    )
    .bind(organization_id)
    .fetch_all(conn)
    .await
}

/// How many of an organization's domains are in one state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DomainStateCount {
    pub state: String,
    pub domains: i64,
}

/// Domain counts by state.
pub async fn domain_states(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<Vec<DomainStateCount>, sqlx::Error> {
    sqlx::query_as(
        "SELECT state, COUNT(*) AS domains FROM domains WHERE organization_id = $1 AND deleted_at IS NULL GROUP BY state",
    )
    .bind(organization_id)
    .fetch_all(conn)
    .await
}

/// Counts of an organization's pending invitations.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingInvitationCounts {
    /// Pending and unexpired.
    pub unexpired: i64,
    /// Pending past expiry.
    pub past_expiry: i64,
    /// Pending whose newest mail failed or is retrying after an error.
    pub bouncing: i64,
}

pub async fn invitation_counts(
    conn: &mut Conn,
    organization_id: &str,
    now: i64,
) -> Result<PendingInvitationCounts, sqlx::Error> {
    let (m, m2) = (
        super::fk_eq(conn, "m.invitation_id", "i.id"),
        super::fk_eq(conn, "m2.invitation_id", "i.id"),
    );
    sqlx::query_as(
        &format!("SELECT \
           COALESCE(SUM(CASE WHEN i.expires_at > $2 THEN 1 ELSE 0 END), 0) AS unexpired, \
           COALESCE(SUM(CASE WHEN i.expires_at <= $2 THEN 1 ELSE 0 END), 0) AS past_expiry, \
           COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM mail_outbox m WHERE {m} \
               AND m.created_at = (SELECT MAX(m2.created_at) FROM mail_outbox m2 WHERE {m2}) \
               AND (m.failed_at IS NOT NULL OR (m.sent_at IS NULL AND m.last_error IS NOT NULL))) THEN 1 ELSE 0 END), 0) AS bouncing \
         FROM invitations i WHERE i.organization_id = $1 AND i.state = '{INVITATION_PENDING}'"),
    )
    .bind(organization_id)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Setup links that can still be opened.
pub async fn outstanding_links(
    conn: &mut Conn,
    organization_id: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM setup_links WHERE organization_id = $1 AND redeemed_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(organization_id)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// An active membership as drift needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActiveMember {
    pub id: String,
    pub user_id: String,
    pub email: String,
    pub role: String,
    pub directory_id: Option<String>,
    pub role_group_id: Option<String>,
    pub last_sign_in_at: Option<i64>,
    pub created_at: i64,
}

pub async fn active_members(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<Vec<ActiveMember>, sqlx::Error> {
    sqlx::query_as(
        &format!("SELECT m.id, m.user_id, u.email, m.role, m.directory_id, m.role_group_id, m.last_sign_in_at, m.created_at \
         FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.organization_id = $1 AND m.state = '{MEMBER_ACTIVE}' ORDER BY m.created_at, m.id"),
    )
    .bind(organization_id)
    .fetch_all(conn)
    .await
}

/// The first grant of a membership.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OriginGrant {
    pub membership_id: String,
    pub kind: String,
    /// JSON.
    pub detail: String,
}

/// The first grant of every membership of the organization.
pub async fn origin_grants(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<Vec<OriginGrant>, sqlx::Error> {
    sqlx::query_as(
        "SELECT g.membership_id, g.kind, g.detail FROM membership_grants g \
         WHERE g.organization_id = $1 AND g.id = (SELECT g2.id FROM membership_grants g2 \
           WHERE g2.membership_id = g.membership_id ORDER BY g2.created_at, g2.id LIMIT 1)",
    )
    .bind(organization_id)
    .fetch_all(conn)
    .await
}

/// A live authoritative directory.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuthoritativeDirectory {
    pub id: String,
    pub name: String,
    pub authoritative_since: Option<i64>,
}

/// Live authoritative directories.
pub async fn authoritative_directories(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<Vec<AuthoritativeDirectory>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, authoritative_since FROM directories WHERE organization_id = $1 AND deleted_at IS NULL AND authoritative = 1 ORDER BY created_at, id",
    )
    .bind(organization_id)
    .fetch_all(conn)
    .await
}

/// An active membership whose role comes from a directory group the member is no longer in.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DepartedGroupRole {
    pub membership_id: String,
    pub group_id: String,
    /// None when the group no longer exists.
    pub group_name: Option<String>,
}

/// Active memberships whose role comes from a directory group the member is no longer in (or
/// that no longer exists).
pub async fn departed_group_roles(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<Vec<DepartedGroupRole>, sqlx::Error> {
    sqlx::query_as(
        &format!("SELECT m.id AS membership_id, m.role_group_id AS group_id, (SELECT g.display_name FROM directory_groups g WHERE g.id = m.role_group_id) AS group_name \
         FROM memberships m WHERE m.organization_id = $1 AND m.state = '{MEMBER_ACTIVE}' AND m.role_group_id IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM directory_group_members gm JOIN directory_users du ON du.id = gm.user_id \
           JOIN directories d ON d.id = du.directory_id \
           WHERE gm.group_id = m.role_group_id AND du.user_id = m.user_id AND d.deleted_at IS NULL)"),
    )
    .bind(organization_id)
    .fetch_all(conn)
    .await
}

/// A domain name of the organization and the state of its newest row.
#[derive(Debug, Clone)]
pub struct DomainNameState {
    pub domain: String,
    pub state: String,
}

/// The organization's rows for these domain names (a JIT domain and its parents), in the order
/// of `names`.
pub async fn domain_rows(
    conn: &mut Conn,
    organization_id: &str,
    names: &[String],
) -> Result<Vec<DomainNameState>, sqlx::Error> {
    let mut out = Vec::new();
    for n in names {
        let states: Vec<String> = sqlx::query_scalar(
            "SELECT state FROM domains WHERE organization_id = $1 AND domain = $2 AND deleted_at IS NULL ORDER BY updated_at DESC",
        )
        .bind(organization_id)
        .bind(n)
        .fetch_all(&mut *conn)
        .await?;
        if let Some(s) = states.first() {
            out.push(DomainNameState {
                domain: n.clone(),
                state: s.clone(),
            });
        }
    }
    Ok(out)
}

/// A directory user as the sign-in gate sees them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DirectoryFlag {
    /// The organization user the directory user is linked to.
    pub user_id: Option<String>,
    pub email: Option<String>,
    #[sqlx(try_from = "super::Flag")]
    pub active: bool,
}

/// Every user of the organization's live authoritative directories — the rows
/// `directories::gate` looks at, loaded once for the whole drift report.
pub async fn authoritative_flags(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<Vec<DirectoryFlag>, sqlx::Error> {
    let of_directory = super::fk_eq(conn, "u.directory_id", "d.id");
    sqlx::query_as(&format!(
        "SELECT u.user_id, u.email, u.active FROM directories d JOIN directory_users u ON {of_directory} \
         WHERE d.organization_id = $1 AND d.deleted_at IS NULL AND d.authoritative = 1",
    ))
    .bind(organization_id)
    .fetch_all(conn)
    .await
}

/// A pending invitation past its expiry.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OverdueInvitation {
    pub id: String,
    pub email: String,
    pub expires_at: i64,
}

/// Pending invitations past their expiry.
pub async fn overdue_invitations(
    conn: &mut Conn,
    organization_id: &str,
    now: i64,
) -> Result<Vec<OverdueInvitation>, sqlx::Error> {
    sqlx::query_as(
        &format!("SELECT id, email, expires_at FROM invitations WHERE organization_id = $1 AND state = '{INVITATION_PENDING}' AND expires_at <= $2 ORDER BY expires_at"),
    )
    .bind(organization_id)
    .bind(now)
    .fetch_all(conn)
    .await
}

// --- credentials --------------------------------------------------------------------------

/// A live SCIM token with its directory.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScimTokenRow {
    pub id: String,
    pub directory_id: String,
    pub directory_name: String,
    pub hint: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
}

pub async fn scim_tokens(
    conn: &mut Conn,
    organization_id: &str,
    now: i64,
) -> Result<Vec<ScimTokenRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.id, d.id AS directory_id, d.name AS directory_name, t.hint, t.created_at, t.last_used_at, t.expires_at FROM directory_tokens t \
         JOIN directories d ON d.id = t.directory_id \
         WHERE t.organization_id = $1 AND d.deleted_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2) \
         ORDER BY t.created_at, t.id",
    )
    .bind(organization_id)
    .bind(now)
    .fetch_all(conn)
    .await
}

/// An OIDC connection holding a client secret.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OidcSecret {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_sign_in_at: Option<i64>,
}

/// OIDC connections holding a client secret.
pub async fn oidc_secrets(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<Vec<OidcSecret>, sqlx::Error> {
    let of_connection = super::fk_eq(conn, "i.connection_id", "c.id");
    sqlx::query_as(&format!(
        "SELECT c.id, c.name, c.created_at, c.updated_at, (SELECT MAX(i.last_login_at) FROM user_identities i WHERE {of_connection}) AS last_sign_in_at \
         FROM connections c WHERE c.organization_id = $1 AND c.deleted_at IS NULL AND c.oidc_client_secret_enc IS NOT NULL \
         ORDER BY c.created_at, c.id",
    ))
    .bind(organization_id)
    .fetch_all(conn)
    .await
}

/// The last sign-in through a connection.
pub async fn connection_last_sign_in(
    conn: &mut Conn,
    connection_id: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT MAX(last_login_at) FROM user_identities WHERE connection_id = $1")
        .bind(connection_id)
        .fetch_one(conn)
        .await
}

/// A webhook endpoint or log stream with what its credentials need.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EndpointCredRow {
    pub id: String,
    pub organization_id: Option<String>,
    pub kind: String,
    pub name: Option<String>,
    pub url: String,
    pub created_at: i64,
    pub prev_secret_expires_at: Option<i64>,
    #[sqlx(try_from = "super::Flag")]
    pub has_credential: bool,
    pub last_attempt_at: Option<i64>,
}

/// The vendor's endpoints (`organization_id` None) or one organization's log streams.
pub async fn endpoint_credentials(
    conn: &mut Conn,
    organization_id: Option<&str>,
) -> Result<Vec<EndpointCredRow>, sqlx::Error> {
    let scope = if organization_id.is_some() {
        "e.organization_id = $1"
    } else {
        "e.organization_id IS NULL AND $1 = ''"
    };
    // The newest attempt naming the endpoint: one probe of `webhook_attempts_endpoint`
    // (`super::fk_eq`). Attempts written before migration 45 name none: for an endpoint without
    // a newer one, its deliveries by their `(endpoint_id, …)` index, each one's newest attempt
    // by `(delivery_id, attempted_at)`. A join of deliveries and attempts was planned as a scan of
    // every endpoint's attempts per endpoint on PostgreSQL (session 44: 1.1 s for an
    // organization's 99 log streams among 21,000 attempts), and the probe per delivery costs an
    // endpoint's whole history (0.7 s at 100,000 deliveries).
    let (named, d, a) = (
        super::fk_eq(conn, "n.endpoint_id", "e.id"),
        super::fk_eq(conn, "d.endpoint_id", "e.id"),
        super::fk_eq(conn, "a.delivery_id", "d.id"),
    );
    sqlx::query_as(&format!(
        "SELECT e.id, e.organization_id, e.kind, e.name, e.url, e.created_at, e.prev_secret_expires_at, \
           CASE WHEN e.credential_enc IS NULL THEN 0 ELSE 1 END AS has_credential, \
           COALESCE((SELECT MAX(n.attempted_at) FROM webhook_attempts n WHERE {named}), \
             (SELECT MAX((SELECT MAX(a.attempted_at) FROM webhook_attempts a WHERE {a})) FROM webhook_deliveries d WHERE {d})) AS last_attempt_at \
         FROM webhook_endpoints e WHERE {scope} AND e.deleted_at IS NULL ORDER BY e.created_at, e.id"
    ))
    .bind(organization_id.unwrap_or(""))
    .fetch_all(conn)
    .await
}

/// Who created a credential: the actor of the newest event of `actions` about `target_id` at or
/// before `at` (a rotation names whoever rotated), within the organization's chain (or the
/// vendor-wide events when `organization_id` is None).
pub async fn creator(
    conn: &mut Conn,
    organization_id: Option<&str>,
    actions: &[EventType],
    target_id: &str,
    at: i64,
) -> Result<Option<String>, sqlx::Error> {
    let placeholders: Vec<String> = (0..actions.len()).map(|i| format!("${}", i + 4)).collect();
    let scope = if organization_id.is_some() {
        "organization_id = $1"
    } else {
        "organization_id IS NULL AND $1 = ''"
    };
    let sql = format!(
        "SELECT actor_name FROM audit_events WHERE {scope} AND occurred_at <= $2 AND targets LIKE $3 AND action IN ({}) \
         ORDER BY occurred_at DESC, chain_seq DESC LIMIT 1",
        placeholders.join(", ")
    );
    let mut q = sqlx::query_scalar(&sql)
        .bind(organization_id.unwrap_or(""))
        .bind(at)
        .bind(format!("%\"{target_id}\"%"));
    for a in actions {
        q = q.bind(a.as_str());
    }
    q.fetch_optional(conn).await
}

// --- snapshots ----------------------------------------------------------------------------

/// A stored snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotRow {
    pub organization_id: String,
    pub computed_at: i64,
    pub status: String,
    pub score: i64,
    /// JSON.
    pub health: String,
    /// JSON.
    pub drift: String,
}

pub async fn save_snapshot(conn: &mut Conn, r: &SnapshotRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO health_snapshots (organization_id, computed_at, status, score, health, drift) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (organization_id) DO UPDATE SET computed_at = excluded.computed_at, status = excluded.status, \
         score = excluded.score, health = excluded.health, drift = excluded.drift",
    )
    .bind(&r.organization_id)
    .bind(r.computed_at)
    .bind(&r.status)
    .bind(r.score)
    .bind(&r.health)
    .bind(&r.drift)
    .execute(conn)
    .await
    .map(|_| ())
}

/// The health part of a live organization's snapshot.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredHealth {
    pub organization_id: String,
    /// JSON.
    pub health: String,
}

/// Every live organization's snapshot.
pub async fn snapshots(conn: &mut Conn) -> Result<Vec<StoredHealth>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.organization_id, s.health FROM health_snapshots s \
         JOIN organizations o ON o.id = s.organization_id WHERE o.deleted_at IS NULL",
    )
    .fetch_all(conn)
    .await
}

// --- tenant page --------------------------------------------------------------------------

/// A failed sign-in.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FailedSignIn {
    pub created_at: i64,
    pub connection_name: String,
    pub purpose: String,
    pub reason: Option<String>,
    /// JSON.
    pub evidence: String,
}

/// The newest failed sign-ins of an organization.
pub async fn failed_sign_ins(
    conn: &mut Conn,
    organization_id: &str,
    limit: i64,
) -> Result<Vec<FailedSignIn>, sqlx::Error> {
    sqlx::query_as(
        &format!("SELECT a.created_at, c.name AS connection_name, a.purpose, a.reason, a.evidence FROM login_attempts a JOIN connections c ON c.id = a.connection_id \
         WHERE a.organization_id = $1 AND a.outcome = '{ATTEMPT_FAILED}' ORDER BY a.created_at DESC, a.id DESC LIMIT $2"),
    )
    .bind(organization_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// A webhook or log-stream delivery of one of the organization's events.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrgDeliveryRow {
    /// The endpoint's name, or its URL.
    pub endpoint: String,
    pub event_type: String,
    pub event_created_at: i64,
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
}

/// The newest webhook and log-stream deliveries of the organization's events, newest event
/// first: a webhook delivery's event is in the feed, a log stream's in the organization's trail.
pub async fn deliveries(
    conn: &mut Conn,
    organization_id: &str,
    limit: i64,
) -> Result<Vec<OrgDeliveryRow>, sqlx::Error> {
    let mut rows: Vec<OrgDeliveryRow> = sqlx::query_as(
        "SELECT COALESCE(w.name, w.url) AS endpoint, e.type AS event_type, e.created_at AS event_created_at, d.state, d.attempts, d.last_status, d.last_error \
         FROM webhook_deliveries d JOIN events e ON e.cursor = d.event_cursor JOIN webhook_endpoints w ON w.id = d.endpoint_id \
         WHERE e.organization_id = $1 AND w.organization_id IS NULL ORDER BY d.event_cursor DESC, d.id DESC LIMIT $2",
    )
    .bind(organization_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let of_stream = super::fk_eq(conn, "d.endpoint_id", "w.id");
    let streamed: Vec<OrgDeliveryRow> = sqlx::query_as(&format!(
        "SELECT COALESCE(w.name, w.url) AS endpoint, a.action AS event_type, a.occurred_at AS event_created_at, d.state, d.attempts, d.last_status, d.last_error \
         FROM webhook_endpoints w JOIN webhook_deliveries d ON {of_stream} \
         JOIN audit_events a ON a.chain_key = w.organization_id AND a.chain_seq = d.event_cursor \
         WHERE w.organization_id = $1 ORDER BY d.event_cursor DESC, d.id DESC LIMIT $2",
    ))
    .bind(organization_id)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.extend(streamed);
    rows.sort_by_key(|r| std::cmp::Reverse(r.event_created_at));
    rows.truncate(limit.max(0) as usize);
    Ok(rows)
}

/// A SCIM request of one of the organization's directories.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScimRequestLine {
    pub created_at: i64,
    pub directory_name: String,
    pub method: String,
    pub path: String,
    pub status: i64,
    pub scim_type: Option<String>,
    pub duration_ms: i64,
}

/// The newest SCIM requests of all the organization's directories.
pub async fn scim_requests(
    conn: &mut Conn,
    organization_id: &str,
    limit: i64,
) -> Result<Vec<ScimRequestLine>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.created_at, d.name AS directory_name, r.method, r.path, r.status, r.scim_type, r.duration_ms FROM scim_requests r \
         JOIN directories d ON d.id = r.directory_id WHERE r.organization_id = $1 ORDER BY r.id DESC LIMIT $2",
    )
    .bind(organization_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Every user of the organization's live directories, authoritative or not — for the impact of
/// making them authoritative.
pub async fn directory_flags(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<Vec<DirectoryFlag>, sqlx::Error> {
    let of_directory = super::fk_eq(conn, "u.directory_id", "d.id");
    sqlx::query_as(&format!(
        "SELECT u.user_id, u.email, u.active FROM directories d JOIN directory_users u ON {of_directory} \
         WHERE d.organization_id = $1 AND d.deleted_at IS NULL",
    ))
    .bind(organization_id)
    .fetch_all(conn)
    .await
}

/// Emails of members a directory suspended (their newest grant says so).
pub async fn directory_suspended(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<Vec<String>, sqlx::Error> {
    // The grants by their foreign key's index (`super::fk_eq`); each email by the user's key (a
    // join to `users` was planned as a scan of it per suspended member; `user_id` is a NOT NULL
    // foreign key, so the same rows).
    let grant_of = super::fk_eq(conn, "g.membership_id", "m.id");
    sqlx::query_scalar(
        &format!("SELECT (SELECT u.email FROM users u WHERE u.id = m.user_id) AS email FROM memberships m \
         WHERE m.organization_id = $1 AND m.state = '{MEMBER_SUSPENDED}' AND m.directory_id IS NOT NULL \
         AND (SELECT g.kind FROM membership_grants g WHERE {grant_of} ORDER BY g.created_at DESC, g.id DESC LIMIT 1) = '{GRANT_DIRECTORY_SUSPENDED}' \
         ORDER BY 1"),
    )
    .bind(organization_id)
    .fetch_all(conn)
    .await
}

/// True when the organization has had an admin but has no active one now.
pub async fn admin_gap(conn: &mut Conn, organization_id: &str) -> Result<bool, sqlx::Error> {
    let (active, any): (i64, i64) = sqlx::query_as(
        &format!("SELECT COALESCE(SUM(CASE WHEN state = '{MEMBER_ACTIVE}' THEN 1 ELSE 0 END), 0), COUNT(*) FROM memberships \
         WHERE organization_id = $1 AND (role = 'admin' OR role IN (SELECT slug FROM roles WHERE permissions LIKE '%\"*\"%'))"),
    )
    .bind(organization_id)
    .fetch_one(conn)
    .await?;
    Ok(any > 0 && active == 0)
}
