//! `memberships` and `membership_grants` tables: memberships with their grant history, the
//! memberships a directory manages and the removals it schedules.

use super::{for_update, locks_rows, Conn, Lock};
use crate::domain::ids::{MembershipId, OrgId, UserId};
use crate::domain::membership::GrantKind;

// State names in SQL text: interpolated from the vocabulary as constants, so each query's
// text stays what it was (partial indexes on these states still apply).
const GRANT_DIRECTORY_SUSPENDED: &str = GrantKind::DirectorySuspended.as_str();
const MEMBER_ACTIVE: &str = crate::domain::membership::MembershipState::Active.as_str();
const MEMBER_SUSPENDED: &str = crate::domain::membership::MembershipState::Suspended.as_str();

/// A membership with its user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub id: MembershipId,
    pub organization_id: String,
    pub user_id: UserId,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub role: String,
    pub state: String,
    pub directory_id: Option<String>,
    pub directory_name: Option<String>,
    pub role_group_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_sign_in_at: Option<i64>,
}

const MEMBER_SELECT: &str = "SELECT m.id, m.organization_id, m.user_id, u.email, u.first_name, u.last_name, m.role, m.state, \
     m.directory_id, d.name AS directory_name, m.role_group_id, m.created_at, m.updated_at, m.last_sign_in_at \
     FROM memberships m JOIN users u ON u.id = m.user_id \
     LEFT JOIN directories d ON d.id = m.directory_id AND d.deleted_at IS NULL";

/// Filters of the member list.
#[derive(Debug, Clone, Default)]
pub struct MemberFilter {
    /// Part of the email or name, case-insensitive.
    pub search: Option<String>,
    pub state: Option<String>,
    pub role: Option<String>,
    /// Only members whose id sorts after this one.
    pub after: Option<String>,
}

pub async fn list_members(
    conn: &mut Conn,
    organization_id: &str,
    f: &MemberFilter,
    limit: i64,
) -> Result<Vec<MemberRow>, sqlx::Error> {
    let like = f.search.as_deref().map(|s| {
        let escaped = s
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    });
    sqlx::query_as(&format!(
        "{MEMBER_SELECT} WHERE m.organization_id = $1 \
         AND ($2 IS NULL OR LOWER(u.email) LIKE $2 ESCAPE '\\' OR LOWER(COALESCE(u.first_name, '') || ' ' || COALESCE(u.last_name, '')) LIKE $2 ESCAPE '\\') \
         AND ($3 IS NULL OR m.state = $3) AND ($4 IS NULL OR m.role = $4) AND ($5 IS NULL OR m.id > $5) \
         ORDER BY m.id LIMIT $6"
    ))
    .bind(organization_id)
    .bind(like)
    .bind(f.state.as_deref())
    .bind(f.role.as_deref())
    .bind(f.after.as_deref())
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// One membership; with `lock`, the row stays locked until the transaction ends.
pub async fn get_member(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &MembershipId,
    lock: Lock,
) -> Result<Option<MemberRow>, sqlx::Error> {
    if lock == Lock::ForUpdate {
        // Lock the membership row alone (FOR UPDATE cannot apply to the nullable side of a join).
        sqlx::query(&format!(
            "SELECT id FROM memberships WHERE id = $1 AND organization_id = $2{}",
            for_update(conn, lock)
        ))
        .bind(id)
        .bind(organization_id)
        .fetch_optional(&mut *conn)
        .await?;
    }
    sqlx::query_as(&format!(
        "{MEMBER_SELECT} WHERE m.id = $1 AND m.organization_id = $2"
    ))
    .bind(id)
    .bind(organization_id)
    .fetch_optional(conn)
    .await
}

/// Filters of the WorkOS-compatible membership list.
#[derive(Debug, Clone, Default)]
pub struct LiveFilter {
    pub organization_id: Option<String>,
    pub user_id: Option<String>,
    /// Stored states (`active`, `suspended`); empty for both.
    pub states: Vec<String>,
}

/// One page of memberships of live organizations (never removed ones), by id.
pub async fn page_live(
    conn: &mut Conn,
    keyset: &super::Keyset,
    f: &LiveFilter,
) -> Result<Vec<MemberRow>, sqlx::Error> {
    let mut q = super::Filtered::new(format!(
        "{MEMBER_SELECT} WHERE m.state <> 'removed' \
         AND m.organization_id IN (SELECT id FROM organizations WHERE deleted_at IS NULL)"
    ));
    if let Some(o) = &f.organization_id {
        q.and("m.organization_id = {}", o);
    }
    if let Some(u) = &f.user_id {
        q.and("m.user_id = {}", u);
    }
    if !f.states.is_empty() {
        let ps: Vec<String> = f.states.iter().map(|s| q.param(s.as_str())).collect();
        q.raw(&format!("m.state IN ({})", ps.join(", ")));
    }
    q.fetch_page_by(conn, keyset, "m.id").await
}

/// The users of memberships: (membership id, user id) for each that exists.
pub async fn users_of(
    conn: &mut Conn,
    ids: &[String],
) -> Result<Vec<(String, String)>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id, user_id FROM memberships WHERE id IN ({})",
        super::placeholders(1, ids.len())
    );
    let mut q = sqlx::query_as(&sql);
    for id in ids {
        q = q.bind(id);
    }
    q.fetch_all(conn).await
}

/// Memberships by id, with their users (any state), at most a few hundred ids per statement.
pub async fn by_ids(conn: &mut Conn, ids: &[String]) -> Result<Vec<MemberRow>, sqlx::Error> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let sql = format!(
            "{MEMBER_SELECT} WHERE m.id IN ({})",
            super::placeholders(1, chunk.len())
        );
        let mut q = sqlx::query_as(&sql);
        for id in chunk {
            q = q.bind(id);
        }
        out.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

/// The live membership of a user in an organization.
pub async fn of_user(
    conn: &mut Conn,
    organization_id: &str,
    user_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM memberships WHERE organization_id = $1 AND user_id = $2 AND state <> 'removed'",
    )
    .bind(organization_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await
}

/// The organization of a membership.
pub async fn membership_owner(
    conn: &mut Conn,
    id: &MembershipId,
) -> Result<Option<OrgId>, sqlx::Error> {
    sqlx::query_scalar("SELECT organization_id FROM memberships WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn set_role(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &MembershipId,
    role: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE memberships SET role = $3, role_group_id = NULL, updated_at = $4 WHERE id = $1 AND organization_id = $2")
        .bind(id)
        .bind(organization_id)
        .bind(role)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn touch_sign_in(conn: &mut Conn, id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE memberships SET last_sign_in_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

/// The state of a membership (`active`, `suspended`, …).
pub async fn membership_state(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &MembershipId,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT state FROM memberships WHERE id = $1 AND organization_id = $2")
        .bind(id)
        .bind(organization_id)
        .fetch_optional(conn)
        .await
}

/// The membership's role, if it exists in the organization.
pub async fn role_of(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &MembershipId,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT role FROM memberships WHERE id = $1 AND organization_id = $2")
        .bind(id)
        .bind(organization_id)
        .fetch_optional(conn)
        .await
}

pub async fn insert_membership(
    conn: &mut Conn,
    id: &str,
    organization_id: &OrgId,
    user_id: &UserId,
    role: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO memberships (id, organization_id, user_id, role, state, created_at, updated_at) VALUES ($1, $2, $3, $4, 'active', $5, $5)")
        .bind(id)
        .bind(organization_id)
        .bind(user_id)
        .bind(role)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

/// A new membership a directory manages, written at once with its managed columns (what
/// [`insert_membership`] followed by [`set_managed_membership`] writes, in one statement).
#[expect(
    clippy::too_many_arguments,
    reason = "one argument per column; a struct would only rename them"
)]
pub async fn insert_managed_membership(
    conn: &mut Conn,
    id: &str,
    organization_id: &OrgId,
    user_id: &UserId,
    role: &str,
    state: &str,
    role_group_id: Option<&str>,
    directory_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    insert_managed_membership_held(
        id,
        organization_id,
        user_id,
        role,
        state,
        role_group_id,
        directory_id,
        now,
    )
    .execute(conn)
    .await
}

/// [`insert_managed_membership`], to be sent later (see [`super::held`]).
#[expect(
    clippy::too_many_arguments,
    reason = "one argument per column, as insert_managed_membership"
)]
pub fn insert_managed_membership_held(
    id: &str,
    organization_id: &OrgId,
    user_id: &UserId,
    role: &str,
    state: &str,
    role_group_id: Option<&str>,
    directory_id: &str,
    now: i64,
) -> super::held::Held {
    super::held::Held::new(
        "INSERT INTO memberships (id, organization_id, user_id, role, state, role_group_id, directory_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        vec![
            id.into(),
            organization_id.as_str().into(),
            user_id.as_str().into(),
            role.into(),
            state.into(),
            role_group_id.into(),
            directory_id.into(),
            now.into(),
        ],
    )
}

pub async fn set_membership_state(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &MembershipId,
    state: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        // Any change of state by hand or by invitation cancels a removal the directory scheduled.
        "UPDATE memberships SET state = $3, updated_at = $4, remove_after = NULL WHERE id = $1 AND organization_id = $2",
    )
    .bind(id)
    .bind(organization_id)
    .bind(state)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Active members holding a role with every permission (`*`), other than `except`.
pub async fn other_active_admins(
    conn: &mut Conn,
    organization_id: &OrgId,
    except: &MembershipId,
) -> Result<i64, sqlx::Error> {
    let roles: Vec<String> =
        sqlx::query_scalar("SELECT slug FROM roles WHERE permissions LIKE '%\"*\"%'")
            .fetch_all(&mut *conn)
            .await?;
    let mut n: i64 = sqlx::query_scalar(
        &format!("SELECT COUNT(*) FROM memberships WHERE organization_id = $1 AND state = '{MEMBER_ACTIVE}' AND role = 'admin' AND id <> $2"),
    )
    .bind(organization_id)
    .bind(except)
    .fetch_one(&mut *conn)
    .await?;
    for r in roles {
        n += sqlx::query_scalar::<_, i64>(
            &format!("SELECT COUNT(*) FROM memberships WHERE organization_id = $1 AND state = '{MEMBER_ACTIVE}' AND role = $2 AND id <> $3"),
        )
        .bind(organization_id)
        .bind(&r)
        .bind(except)
        .fetch_one(&mut *conn)
        .await?;
    }
    Ok(n)
}

// --- grants (the membership's history) ------------------------------------------------------

/// One entry of a membership's history.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GrantRow {
    pub membership_id: String,
    pub kind: String,
    pub role: String,
    /// JSON.
    pub detail: String,
    pub created_at: i64,
}

pub async fn grants(
    conn: &mut Conn,
    organization_id: &OrgId,
    membership_id: &MembershipId,
) -> Result<Vec<GrantRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT membership_id, kind, role, detail, created_at FROM membership_grants WHERE membership_id = $1 AND organization_id = $2 ORDER BY created_at, id",
    )
    .bind(membership_id)
    .bind(organization_id)
    .fetch_all(conn)
    .await
}

/// The grants of several memberships, oldest first.
pub async fn grants_of(
    conn: &mut Conn,
    organization_id: &str,
    membership_ids: &[String],
) -> Result<Vec<GrantRow>, sqlx::Error> {
    if membership_ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (0..membership_ids.len())
        .map(|i| format!("${}", i + 2))
        .collect();
    let sql = format!(
        "SELECT membership_id, kind, role, detail, created_at FROM membership_grants WHERE organization_id = $1 AND membership_id IN ({}) ORDER BY created_at, id",
        placeholders.join(", ")
    );
    let mut q = sqlx::query_as(&sql).bind(organization_id);
    for id in membership_ids {
        q = q.bind(id);
    }
    q.fetch_all(conn).await
}

#[expect(
    clippy::too_many_arguments,
    reason = "one argument per column; a struct would only rename them"
)]
pub async fn insert_grant(
    conn: &mut Conn,
    id: &str,
    membership_id: &MembershipId,
    organization_id: &OrgId,
    kind: &str,
    role: &str,
    detail: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO membership_grants (id, membership_id, organization_id, kind, role, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(id)
        .bind(membership_id)
        .bind(organization_id)
        .bind(kind)
        .bind(role)
        .bind(detail)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

/// When a membership's newest grant was made.
pub async fn newest_grant_at(
    conn: &mut Conn,
    organization_id: &OrgId,
    membership_id: &MembershipId,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT MAX(created_at) FROM membership_grants WHERE membership_id = $1 AND organization_id = $2",
    )
    .bind(membership_id)
    .bind(organization_id)
    .fetch_one(conn)
    .await
}

/// A grant's kind and detail.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GrantKindDetail {
    pub kind: String,
    /// JSON.
    pub detail: String,
}

/// A membership's newest grant.
pub async fn newest_grant(
    conn: &mut Conn,
    organization_id: &OrgId,
    membership_id: &MembershipId,
) -> Result<Option<GrantKindDetail>, sqlx::Error> {
    sqlx::query_as(
        "SELECT kind, detail FROM membership_grants WHERE membership_id = $1 AND organization_id = $2 \
         ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(membership_id)
    .bind(organization_id)
    .fetch_optional(conn)
    .await
}

// --- memberships managed by a directory -----------------------------------------------------

/// A membership as a directory manages it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ManagedMembership {
    pub id: MembershipId,
    pub role: String,
    pub state: String,
    /// The directory group the role came from.
    pub role_group_id: Option<String>,
    /// The directory managing the membership.
    pub directory_id: Option<String>,
}

/// The memberships in the organization of each of `user_ids`, by user id, every one of them
/// in the map (`None`: no membership); with `lock`, the rows stay locked until the transaction
/// ends, taken in id order.
pub async fn managed_memberships_of_users(
    conn: &mut Conn,
    organization_id: &OrgId,
    user_ids: &[&str],
    lock: Lock,
) -> Result<std::collections::HashMap<String, Option<ManagedMembership>>, sqlx::Error> {
    let mut out: std::collections::HashMap<String, Option<ManagedMembership>> =
        user_ids.iter().map(|u| ((*u).to_owned(), None)).collect();
    for chunk in user_ids.chunks(500) {
        let sql = format!(
            "SELECT user_id, id, role, state, role_group_id, directory_id FROM memberships \
             WHERE user_id IN ({}) AND {} ORDER BY id{}",
            super::placeholders(2, chunk.len()),
            super::row_check(conn, "organization_id", 1),
            for_update(conn, lock)
        );
        let mut q = sqlx::query_as::<
            _,
            (
                String,
                MembershipId,
                String,
                String,
                Option<String>,
                Option<String>,
            ),
        >(&sql)
        .bind(organization_id);
        for u in chunk {
            q = q.bind(*u);
        }
        for (user_id, id, role, state, role_group_id, directory_id) in
            q.fetch_all(&mut *conn).await?
        {
            out.insert(
                user_id,
                Some(ManagedMembership {
                    id,
                    role,
                    state,
                    role_group_id,
                    directory_id,
                }),
            );
        }
    }
    Ok(out)
}

/// A user's membership; with `lock`, the row stays locked until the transaction ends.
pub async fn membership_of_user(
    conn: &mut Conn,
    organization_id: &OrgId,
    user_id: &UserId,
    lock: Lock,
) -> Result<Option<ManagedMembership>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT id, role, state, role_group_id, directory_id FROM memberships WHERE organization_id = $1 AND user_id = $2{}",
        for_update(conn, lock)
    ))
    .bind(organization_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await
}

/// The role and state of one of several users' memberships.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserMembership {
    pub user_id: String,
    pub role: String,
    pub state: String,
}

/// The memberships in the organization of each of `user_ids` that has one: one statement for a
/// page of users (a plain read, nothing locked).
pub async fn memberships_of_users(
    conn: &mut Conn,
    organization_id: &str,
    user_ids: &[String],
) -> Result<Vec<UserMembership>, sqlx::Error> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT user_id, role, state FROM memberships WHERE user_id IN ({}) AND {}",
        super::placeholders(2, user_ids.len()),
        super::row_check(conn, "organization_id", 1)
    );
    let mut q = sqlx::query_as(&sql).bind(organization_id);
    for id in user_ids {
        q = q.bind(id);
    }
    q.fetch_all(conn).await
}

/// A membership by id.
pub async fn membership_of_id(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &MembershipId,
) -> Result<Option<ManagedMembership>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, role, state, role_group_id, directory_id FROM memberships WHERE organization_id = $1 AND id = $2",
    )
    .bind(organization_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Locks a membership's row until the transaction ends. True when a lock was taken: on
/// PostgreSQL; SQLite's write transaction already holds the whole database, so nothing is done
/// there and the answer is false.
pub async fn lock_membership(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &MembershipId,
) -> Result<bool, sqlx::Error> {
    if !locks_rows(conn) {
        return Ok(false);
    }
    sqlx::query("SELECT id FROM memberships WHERE id = $1 AND organization_id = $2 FOR UPDATE")
        .bind(id)
        .bind(organization_id)
        .fetch_optional(conn)
        .await
        .map(|_| true)
}

#[expect(
    clippy::too_many_arguments,
    reason = "one argument per column; a struct would only rename them"
)]
pub async fn set_managed_membership(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &MembershipId,
    role: &str,
    state: &str,
    role_group_id: Option<&str>,
    directory_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    // Any state change through the directory clears a pending removal (re-set after a suspension
    // by `schedule_removal`).
    sqlx::query("UPDATE memberships SET role = $3, state = $4, role_group_id = $5, directory_id = $6, updated_at = $7, remove_after = NULL WHERE id = $1 AND organization_id = $2")
        .bind(id)
        .bind(organization_id)
        .bind(role)
        .bind(state)
        .bind(role_group_id)
        .bind(directory_id)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

/// A grant held back by [`HeldWrites`].
#[derive(Debug, Clone)]
struct HeldGrant {
    id: String,
    membership_id: String,
    organization_id: String,
    kind: &'static str,
    role: String,
    detail: String,
    created_at: i64,
}

/// The columns a directory's write sets on a membership (see [`set_managed_membership`]).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ManagedColumns {
    organization_id: String,
    role: String,
    state: String,
    role_group_id: Option<String>,
    directory_id: String,
    now: i64,
}

/// Directory writes held back to be written together, a few statements for many members
/// instead of two per member: the managed columns ([`set_managed_membership`]), one update per
/// distinct set of values, and the grants ([`insert_grant`]), in multi-row inserts; and any
/// other held statement (a SCIM create's organization user, membership and directory user). On
/// PostgreSQL they go out as one statement ([`super::held::send`]). The holder writes them
/// ([`HeldWrites::write`]) before any statement that could read them.
#[derive(Debug, Default)]
pub struct HeldWrites {
    statements: Vec<super::held::Held>,
    managed: Vec<(ManagedColumns, Vec<String>)>,
    grants: Vec<HeldGrant>,
}

impl HeldWrites {
    /// Nothing is held.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty() && self.managed.is_empty() && self.grants.is_empty()
    }

    /// Holds a statement, written before the managed columns and the grants, in the order held
    /// (a row before the rows that refer to it).
    pub fn hold(&mut self, statement: super::held::Held) {
        self.statements.push(statement);
    }

    /// Holds [`set_managed_membership`]; a later write of the same membership replaces it.
    #[expect(
        clippy::too_many_arguments,
        reason = "the arguments of set_managed_membership"
    )]
    pub fn set_managed(
        &mut self,
        organization_id: &OrgId,
        id: &MembershipId,
        role: &str,
        state: &str,
        role_group_id: Option<&str>,
        directory_id: &str,
        now: i64,
    ) {
        for (_, ids) in &mut self.managed {
            ids.retain(|m| m != id.as_str());
        }
        self.managed.retain(|(_, ids)| !ids.is_empty());
        let cols = ManagedColumns {
            organization_id: organization_id.to_string(),
            role: role.to_owned(),
            state: state.to_owned(),
            role_group_id: role_group_id.map(str::to_owned),
            directory_id: directory_id.to_owned(),
            now,
        };
        match self.managed.iter_mut().find(|(c, _)| *c == cols) {
            Some((_, ids)) => ids.push(id.to_string()),
            None => self.managed.push((cols, vec![id.to_string()])),
        }
    }

    /// Holds [`insert_grant`].
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per column, as insert_grant"
    )]
    pub fn grant(
        &mut self,
        id: String,
        membership_id: &MembershipId,
        organization_id: &OrgId,
        kind: GrantKind,
        role: &str,
        detail: String,
        now: i64,
    ) {
        self.grants.push(HeldGrant {
            id,
            membership_id: membership_id.to_string(),
            organization_id: organization_id.to_string(),
            kind: kind.as_str(),
            role: role.to_owned(),
            detail,
            created_at: now,
        });
    }

    /// Writes what is held (the statements held, then the membership rows, then the grants)
    /// and forgets it.
    pub async fn write(&mut self, conn: &mut Conn) -> Result<(), sqlx::Error> {
        let out = self.take_statements(conn);
        super::held::send(conn, &out).await
    }

    /// What is held as statements for `conn` in the order [`HeldWrites::write`] sends them; forgets it.
    pub fn take_statements(&mut self, conn: &Conn) -> Vec<super::held::Held> {
        use super::held::{Arg, Held};
        let mut out = std::mem::take(&mut self.statements);
        for (c, ids) in std::mem::take(&mut self.managed) {
            for ids in ids.chunks(500) {
                // Found by their keys; the organization checked on each ([`super::row_check`]).
                let sql = format!(
                    "UPDATE memberships SET role = $2, state = $3, role_group_id = $4, directory_id = $5, updated_at = $6, remove_after = NULL \
                     WHERE id IN ({}) AND {}",
                    super::placeholders(7, ids.len()),
                    super::row_check(conn, "organization_id", 1)
                );
                let mut args: Vec<Arg> = vec![
                    c.organization_id.clone().into(),
                    c.role.clone().into(),
                    c.state.clone().into(),
                    c.role_group_id.clone().into(),
                    c.directory_id.clone().into(),
                    c.now.into(),
                ];
                args.extend(ids.iter().map(|id| Arg::Text(id.clone())));
                out.push(Held::new(sql, args));
            }
        }
        let grants = std::mem::take(&mut self.grants);
        for chunk in grants.chunks(500) {
            let sql = format!(
                "INSERT INTO membership_grants (id, membership_id, organization_id, kind, role, detail, created_at) VALUES {}",
                super::values_template_for(conn, chunk.len(), &[None; 7])
            );
            let mut args: Vec<Arg> = Vec::with_capacity(chunk.len() * 7);
            for g in chunk {
                args.extend([
                    g.id.clone().into(),
                    g.membership_id.clone().into(),
                    g.organization_id.clone().into(),
                    g.kind.into(),
                    g.role.clone().into(),
                    g.detail.clone().into(),
                    g.created_at.into(),
                ]);
            }
            out.push(Held::new(sql, args));
        }
        out
    }
}

// --- removals a directory scheduled ---------------------------------------------------------

/// Schedules a directory-suspended membership's removal.
pub async fn schedule_removal(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &MembershipId,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE memberships SET remove_after = $3 WHERE id = $1 AND organization_id = $2")
        .bind(id)
        .bind(organization_id)
        .bind(at)
        .execute(conn)
        .await
        .map(|_| ())
}

/// A suspended membership whose scheduled removal is due.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueRemoval {
    pub organization_id: OrgId,
    pub membership_id: MembershipId,
    pub email: String,
}

/// Suspended memberships whose scheduled removal is due.
pub async fn due_removals(conn: &mut Conn, now: i64) -> Result<Vec<DueRemoval>, sqlx::Error> {
    // Only members whose newest grant is still the directory's suspension: an admin's later
    // change (reactivation, a manual suspension) leaves them alone.
    // The grants by their foreign key's index (`super::fk_eq`); each email by the user's key (a
    // join to `users` was planned as a scan of it per due member: 1.3 s for 205 due among
    // 125,000 members; `user_id` is a NOT NULL foreign key, so the same rows).
    let grant_of = super::fk_eq(conn, "g.membership_id", "m.id");
    sqlx::query_as(
        &format!("SELECT m.organization_id, m.id AS membership_id, (SELECT u.email FROM users u WHERE u.id = m.user_id) AS email FROM memberships m \
         WHERE m.state = '{MEMBER_SUSPENDED}' AND m.remove_after IS NOT NULL AND m.remove_after <= $1 \
         AND (SELECT g.kind FROM membership_grants g WHERE {grant_of} ORDER BY g.created_at DESC, g.id DESC LIMIT 1) = '{GRANT_DIRECTORY_SUSPENDED}' \
         ORDER BY m.remove_after LIMIT 500"),
    )
    .bind(now)
    .fetch_all(conn)
    .await
}

/// Takes a due removal for this node: true for exactly one caller.
pub async fn claim_removal(
    conn: &mut Conn,
    organization_id: &OrgId,
    id: &MembershipId,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        &format!("UPDATE memberships SET remove_after = NULL WHERE id = $1 AND organization_id = $2 AND state = '{MEMBER_SUSPENDED}' \
         AND remove_after IS NOT NULL AND remove_after <= $3"),
    )
    .bind(id)
    .bind(organization_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Whether a `membership.removal_skipped` event names the membership since `since`.
pub async fn removal_skipped_since(
    conn: &mut Conn,
    organization_id: &OrgId,
    membership_id: &MembershipId,
    since: i64,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE organization_id = $1 AND action = 'membership.removal_skipped' \
         AND occurred_at >= $2 AND targets LIKE $3",
    )
    .bind(organization_id)
    .bind(since)
    .bind(format!("%\"{membership_id}\"%"))
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

/// A membership's role, keyed by its organization and user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRole {
    pub organization_id: String,
    pub user_id: String,
    pub role: String,
}

/// The roles of `user_ids`' memberships in any organization: one statement for a page of
/// directory users spanning organizations (the caller keeps the pairs it asked about).
pub async fn roles_of_users(
    conn: &mut Conn,
    user_ids: &[&str],
) -> Result<Vec<MemberRole>, sqlx::Error> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT organization_id, user_id, role FROM memberships WHERE user_id IN ({})",
        super::placeholders(1, user_ids.len())
    );
    let mut q = sqlx::query_as(&sql);
    for id in user_ids {
        q = q.bind(*id);
    }
    q.fetch_all(conn).await
}
