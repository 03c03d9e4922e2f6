//! `directories` table. Every query on a directory's data (here and in `directory_tokens`,
//! `directory_users`, `directory_groups`, `group_mappings`, `scim_log`) takes the directory id
//! (which belongs to exactly one organization) or the organization id.

use super::directory_tokens::expire_tokens;
use super::Conn;
use crate::domain::ids::{DirectoryId, OrgId, UserId};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct DirectoryRow {
    pub id: String,
    pub organization_id: String,
    pub kind: String,
    pub name: String,
    #[sqlx(try_from = "super::Flag")]
    pub authoritative: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

const DIR_COLS: &str =
    "id, organization_id, kind, name, authoritative, created_at, updated_at, deleted_at";

pub async fn insert_directory(conn: &mut Conn, r: &DirectoryRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO directories ({DIR_COLS}, authoritative_since) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $5 = 1 THEN $6 ELSE NULL END)"
    ))
    .bind(&r.id)
    .bind(&r.organization_id)
    .bind(&r.kind)
    .bind(&r.name)
    .bind(i64::from(r.authoritative))
    .bind(r.created_at)
    .bind(r.updated_at)
    .bind(r.deleted_at)
    .execute(conn)
    .await
    .map(|_| ())
}

/// A live directory of the organization.
pub async fn get_directory(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &DirectoryId,
) -> Result<Option<DirectoryRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {DIR_COLS} FROM directories WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL"
    ))
    .bind(id)
    .bind(organization_id)
    .fetch_optional(conn)
    .await
}

/// The organization's default role when the directory and its organization are both live (`None`
/// when either is deleted), read inside a write transaction.
/// On PostgreSQL the two rows are key-share-locked to the commit, so a deletion (which locks the
/// row `FOR UPDATE` first) either commits before this read (false) or waits for this write to
/// commit. Key share, not share: it does not conflict with `organizations::lock`
/// (`FOR NO KEY UPDATE`), which policy decisions inside these writes take. SQLite's write
/// transactions already hold the whole database.
pub async fn live_for_write(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &DirectoryId,
) -> Result<Option<String>, sqlx::Error> {
    let share = if super::locks_rows(conn) {
        " FOR KEY SHARE OF d, o"
    } else {
        ""
    };
    sqlx::query_scalar(&format!(
        "SELECT o.default_role FROM directories d JOIN organizations o ON o.id = d.organization_id \
         WHERE d.id = $1 AND d.organization_id = $2 AND d.deleted_at IS NULL AND o.deleted_at IS NULL{share}"
    ))
    .bind(id)
    .bind(organization_id)
    .fetch_optional(conn)
    .await
}

/// What a SCIM create reads before it writes ([`live_for_create`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CreateReads {
    /// The organization's default role.
    pub default_role: String,
    /// The organization holding the address's domain verified, nearest first (as
    /// [`super::domains::verified_holders`]).
    pub nearest_holder: Option<String>,
    /// The organization user with the address who is a member here (as
    /// [`super::users::member_by_email`]).
    pub member: Option<UserId>,
}

/// What a SCIM create reads ([`live_for_create`], [`live_for_creates`]): its directory and
/// organization, its address, and the address's domain with its `parents`, nearest first
/// (`None`: the address has none).
#[derive(Debug, Clone, Copy)]
pub struct CreateRead<'a> {
    pub organization_id: &'a OrgId,
    pub id: &'a DirectoryId,
    pub domain: Option<(&'a str, &'a [String])>,
    pub email: &'a str,
}

impl<'a> CreateRead<'a> {
    /// The `SELECT` of this read, its placeholders numbered from `$first` (bound by
    /// [`CreateRead::bind`]), its columns after `lead`; `share` locks the directory and
    /// organization rows.
    /// `member_join` is [`super::fk_eq`] of `m.user_id` and `u.id` on the reading connection.
    fn select(&self, lead: &str, first: usize, share: &str, member_join: &str) -> String {
        let holder = match self.domain {
            Some((_, parents)) => format!(
                "(SELECT x.organization_id FROM domains x WHERE {} ORDER BY length(x.domain) DESC, x.organization_id LIMIT 1)",
                super::domains::holders_condition("x", first + 3, parents.len())
            ),
            None => "NULL".to_owned(),
        };
        let (id, org, email) = (first, first + 1, first + 2);
        format!(
            "SELECT {lead}o.default_role, {holder} AS nearest_holder, \
             (SELECT u.id FROM users u JOIN memberships m ON {member_join} AND m.organization_id = u.organization_id \
              WHERE u.organization_id = ${org} AND u.email = ${email} ORDER BY u.id LIMIT 1) AS member \
             FROM directories d JOIN organizations o ON o.id = d.organization_id \
             WHERE d.id = ${id} AND d.organization_id = ${org} AND d.deleted_at IS NULL AND o.deleted_at IS NULL{share}"
        )
    }

    /// How many placeholders [`CreateRead::select`] numbers.
    fn placeholders(&self) -> usize {
        3 + self.domain.map_or(0, |(_, parents)| 1 + parents.len())
    }

    /// Binds this read's placeholders, in [`CreateRead::select`]'s order.
    fn bind<'q, O>(
        &self,
        mut q: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>>
    where
        'a: 'q,
    {
        q = q.bind(self.id).bind(self.organization_id).bind(self.email);
        if let Some((name, parents)) = self.domain {
            q = q.bind(name);
            for p in parents {
                q = q.bind(p);
            }
        }
        q
    }
}

/// The lock a create's read takes on its directory and organization rows: key share to the
/// commit on PostgreSQL (as [`live_for_write`]), none on SQLite (its writer serializes writes).
fn create_share(conn: &Conn) -> &'static str {
    if super::locks_rows(conn) {
        " FOR KEY SHARE OF d, o"
    } else {
        ""
    }
}

/// [`live_for_write`], [`super::domains::verified_holders`]'s first and
/// [`super::users::member_by_email`] in one statement: what a SCIM create reads before its
/// writes (issue 17: one round trip instead of three or more). `None` when the directory
/// or its organization is deleted; the two rows are key-share-locked to the commit on
/// PostgreSQL, as by [`live_for_write`].
pub async fn live_for_create(
    conn: &mut Conn,
    read: CreateRead<'_>,
) -> Result<Option<CreateReads>, sqlx::Error> {
    let sql = read.select(
        "",
        1,
        create_share(conn),
        &super::fk_eq(conn, "m.user_id", "u.id"),
    );
    read.bind(sqlx::query_as(&sql)).fetch_optional(conn).await
}

/// A [`CreateReads`] and the place of its read in [`live_for_creates`]'s list.
#[derive(Debug, sqlx::FromRow)]
struct PlacedReads {
    place: i64,
    #[sqlx(flatten)]
    reads: CreateReads,
}

/// [`live_for_create`] for several creates in one statement (a batch of PostgreSQL creates,
/// `service::scim::batch`: one round trip instead of one per create). Each read's rows are
/// locked as [`live_for_create`] locks them; the answers are in `reads`' order, `None` where the
/// directory or its organization is deleted.
pub async fn live_for_creates(
    conn: &mut Conn,
    reads: &[CreateRead<'_>],
) -> Result<Vec<Option<CreateReads>>, sqlx::Error> {
    let share = create_share(conn);
    let member_join = super::fk_eq(conn, "m.user_id", "u.id");
    let mut first = 1;
    // Each read in its own subquery: a locking clause is not allowed directly on a UNION.
    let selects: Vec<String> = reads
        .iter()
        .enumerate()
        .map(|(place, read)| {
            let select = read.select(
                &format!("CAST({place} AS BIGINT) AS place, "),
                first,
                share,
                &member_join,
            );
            first += read.placeholders();
            format!("SELECT * FROM ({select}) AS r{place}")
        })
        .collect();
    let sql = selects.join(" UNION ALL ");
    let mut q = sqlx::query_as::<_, PlacedReads>(&sql);
    for read in reads {
        q = read.bind(q);
    }
    let mut answers: Vec<Option<CreateReads>> = vec![None; reads.len()];
    for row in q.fetch_all(conn).await? {
        if let Some(answer) = usize::try_from(row.place)
            .ok()
            .and_then(|place| answers.get_mut(place))
        {
            *answer = Some(row.reads);
        }
    }
    Ok(answers)
}

/// Locks a directory's row to the commit (PostgreSQL; nothing on SQLite): taken by a deletion
/// before it reads the directory's users, so no SCIM write can commit a user it would miss.
pub async fn lock(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &DirectoryId,
) -> Result<(), sqlx::Error> {
    if !super::locks_rows(conn) {
        return Ok(());
    }
    sqlx::query("SELECT id FROM directories WHERE id = $1 AND organization_id = $2 FOR UPDATE")
        .bind(id)
        .bind(organization_id)
        .fetch_optional(conn)
        .await
        .map(|_| ())
}

/// The organization a live directory belongs to.
pub async fn directory_owner(
    conn: &mut Conn,
    id: &DirectoryId,
) -> Result<Option<OrgId>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT organization_id FROM directories WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn list_directories(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<Vec<DirectoryRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {DIR_COLS} FROM directories WHERE organization_id = $1 AND deleted_at IS NULL ORDER BY id"
    ))
    .bind(organization_id)
    .fetch_all(conn)
    .await
}

/// A directory's traffic since a time and its size, as its health shows them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DirectoryCounts {
    pub directory_id: String,
    /// SCIM requests since the time asked for.
    pub requests: i64,
    /// Of those, the ones answered with a 4xx or 5xx.
    pub errors: i64,
    /// The last SCIM request ever logged.
    pub last_request_at: Option<i64>,
    pub user_count: i64,
    pub group_count: i64,
}

/// [`DirectoryCounts`] of each of `ids` (requests counted from `since`): one statement for any
/// number of directories, each figure read from its table's directory index.
pub async fn directory_counts(
    conn: &mut Conn,
    ids: &[String],
    since: i64,
) -> Result<Vec<DirectoryCounts>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
    // Each count through its table's `directory_id` index (`super::fk_eq`).
    let (r, u, g) = (
        super::fk_eq(conn, "r.directory_id", "d.id"),
        super::fk_eq(conn, "u.directory_id", "d.id"),
        super::fk_eq(conn, "g.directory_id", "d.id"),
    );
    let sql = format!(
        "SELECT d.id AS directory_id, \
         (SELECT COUNT(*) FROM scim_requests r WHERE {r} AND r.created_at >= $1) AS requests, \
         (SELECT COUNT(*) FROM scim_requests r WHERE {r} AND r.created_at >= $1 AND r.status >= 400) AS errors, \
         (SELECT MAX(r.created_at) FROM scim_requests r WHERE {r}) AS last_request_at, \
         (SELECT COUNT(*) FROM directory_users u WHERE {u}) AS user_count, \
         (SELECT COUNT(*) FROM directory_groups g WHERE {g}) AS group_count \
         FROM directories d WHERE d.id IN ({})",
        list.join(", ")
    );
    let mut q = sqlx::query_as(&sql).bind(since);
    for id in ids {
        q = q.bind(id);
    }
    q.fetch_all(conn).await
}

pub async fn update_directory(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &DirectoryId,
    name: &str,
    authoritative: bool,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE directories SET name = $3, authoritative = $4, updated_at = $5, \
         authoritative_since = CASE WHEN $4 = 1 THEN COALESCE(authoritative_since, $5) ELSE NULL END \
         WHERE id = $1 AND organization_id = $2")
        .bind(id)
        .bind(organization_id)
        .bind(name)
        .bind(i64::from(authoritative))
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Soft-deletes a directory and ends its tokens at once.
pub async fn delete_directory(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &DirectoryId,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("UPDATE directories SET deleted_at = $3, updated_at = $3 WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL")
        .bind(id)
        .bind(organization_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    expire_tokens(conn, id, now).await?;
    Ok(r.rows_affected() == 1)
}

/// True when one of the organization's live directories is authoritative for membership.
pub async fn has_authoritative(
    conn: &mut Conn,
    organization_id: &str,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM directories WHERE organization_id = $1 AND deleted_at IS NULL AND authoritative = 1")
        .bind(organization_id)
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

/// `directories` rows whose directory and organization are both live (an SQL condition on `id`).
pub(crate) const LIVE_DIRECTORY_IDS: &str = "SELECT d.id FROM directories d JOIN organizations o ON o.id = d.organization_id WHERE d.deleted_at IS NULL AND o.deleted_at IS NULL";

/// Filters of a page of directories across organizations.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub organization_id: Option<String>,
    /// A domain the directory's organization has verified (lower case).
    pub domain: Option<String>,
    /// Part of the name, case-insensitive.
    pub search: Option<String>,
}

/// A page of live directories of live organizations, in id order (see [`super::Keyset`]).
pub async fn page(
    conn: &mut Conn,
    keyset: &super::Keyset,
    f: &ListFilter,
) -> Result<Vec<DirectoryRow>, sqlx::Error> {
    let mut q = super::Filtered::new(format!(
        "SELECT {DIR_COLS} FROM directories WHERE id IN ({LIVE_DIRECTORY_IDS})"
    ));
    if let Some(org) = &f.organization_id {
        q.and("organization_id = {}", org);
    }
    if let Some(domain) = &f.domain {
        q.and(
            "organization_id IN (SELECT organization_id FROM domains WHERE domain = {} AND state = 'verified' AND deleted_at IS NULL)",
            domain,
        );
    }
    if let Some(s) = &f.search {
        q.contains("name", s);
    }
    q.fetch_page(conn, keyset).await
}

/// A live directory of a live organization, by id alone.
pub async fn get_live(
    conn: &mut Conn,
    id: &DirectoryId,
) -> Result<Option<DirectoryRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {DIR_COLS} FROM directories WHERE id = $1 AND id IN ({LIVE_DIRECTORY_IDS})"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// How many active and inactive users and how many groups a directory holds.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DirectorySize {
    pub directory_id: String,
    pub active: i64,
    pub inactive: i64,
    pub groups: i64,
}

/// [`DirectorySize`] of each of `ids`: one statement for a page of directories.
pub async fn sizes(conn: &mut Conn, ids: &[&str]) -> Result<Vec<DirectorySize>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let (u, g) = (
        super::fk_eq(conn, "u.directory_id", "d.id"),
        super::fk_eq(conn, "g.directory_id", "d.id"),
    );
    let sql = format!(
        "SELECT d.id AS directory_id, \
         (SELECT COUNT(*) FROM directory_users u WHERE {u} AND u.active = 1) AS active, \
         (SELECT COUNT(*) FROM directory_users u WHERE {u} AND u.active = 0) AS inactive, \
         (SELECT COUNT(*) FROM directory_groups g WHERE {g}) AS \"groups\" \
         FROM directories d WHERE d.id IN ({})",
        super::placeholders(1, ids.len())
    );
    let mut q = sqlx::query_as(&sql);
    for id in ids {
        q = q.bind(*id);
    }
    q.fetch_all(conn).await
}
