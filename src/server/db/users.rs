//! `users` and `user_identities` tables: organization users and the IdP identities linked to
//! them, with the lookups that find a user (by email or identity) and their membership.

use super::Conn;
use crate::domain::ids::{ConnectionId, MembershipId, OrgId, UserId};

pub async fn insert_user(
    conn: &mut Conn,
    id: &str,
    organization_id: &OrgId,
    email: &str,
    first: Option<&str>,
    last: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    insert_user_held(id, organization_id, email, first, last, now)
        .execute(conn)
        .await
}

/// [`insert_user`], to be sent later (see [`super::held`]).
pub fn insert_user_held(
    id: &str,
    organization_id: &OrgId,
    email: &str,
    first: Option<&str>,
    last: Option<&str>,
    now: i64,
) -> super::held::Held {
    super::held::Held::new(
        "INSERT INTO users (id, organization_id, email, first_name, last_name, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
        vec![
            id.into(),
            organization_id.as_str().into(),
            email.into(),
            first.into(),
            last.into(),
            now.into(),
        ],
    )
}

#[expect(
    clippy::too_many_arguments,
    reason = "one argument per column; a struct would only rename them"
)]
pub async fn insert_identity(
    conn: &mut Conn,
    connection_id: &ConnectionId,
    subject: &str,
    organization_id: &OrgId,
    user_id: &UserId,
    email: &str,
    raw: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO user_identities (connection_id, idp_subject, organization_id, user_id, email, raw_attributes, created_at, last_login_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(connection_id)
    .bind(subject)
    .bind(organization_id)
    .bind(user_id)
    .bind(email)
    .bind(raw)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn touch_identity(
    conn: &mut Conn,
    connection_id: &str,
    subject: &str,
    email: &str,
    raw: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE user_identities SET last_login_at = $3, email = $4, raw_attributes = $5 WHERE connection_id = $1 AND idp_subject = $2")
        .bind(connection_id)
        .bind(subject)
        .bind(now)
        .bind(email)
        .bind(raw)
        .execute(conn)
        .await
        .map(|_| ())
}

/// An organization user with this email (with or without a membership).
pub async fn user_by_email(
    conn: &mut Conn,
    organization_id: &OrgId,
    email: &str,
) -> Result<Option<UserId>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM users WHERE organization_id = $1 AND email = $2")
        .bind(organization_id)
        .bind(email)
        .fetch_optional(conn)
        .await
}

/// An organization user's email address.
pub async fn user_email(
    conn: &mut Conn,
    organization_id: &OrgId,
    user_id: &UserId,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT email FROM users WHERE id = $1 AND organization_id = $2")
        .bind(user_id)
        .bind(organization_id)
        .fetch_optional(conn)
        .await
}

/// The organization user an IdP identity is linked to.
pub async fn identity_user(
    conn: &mut Conn,
    connection_id: &str,
    subject: &str,
) -> Result<Option<UserId>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT user_id FROM user_identities WHERE connection_id = $1 AND idp_subject = $2",
    )
    .bind(connection_id)
    .bind(subject)
    .fetch_optional(conn)
    .await
}

/// An organization user with their membership.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserMembership {
    pub user_id: UserId,
    pub membership_id: MembershipId,
    pub role: String,
    pub state: String,
}

/// The user an IdP identity is linked to, with their membership.
pub async fn identity_membership(
    conn: &mut Conn,
    organization_id: &OrgId,
    connection_id: &ConnectionId,
    subject: &str,
) -> Result<Option<UserMembership>, sqlx::Error> {
    let member_join = super::fk_eq(conn, "m.user_id", "u.id");
    sqlx::query_as(&format!(
        "SELECT u.id AS user_id, m.id AS membership_id, m.role, m.state FROM user_identities i JOIN users u ON u.id = i.user_id \
         JOIN memberships m ON {member_join} AND m.organization_id = i.organization_id \
         WHERE i.organization_id = $1 AND i.connection_id = $2 AND i.idp_subject = $3",
    ))
    .bind(organization_id)
    .bind(connection_id)
    .bind(subject)
    .fetch_optional(conn)
    .await
}

/// A member of the organization with this email.
pub async fn member_by_email(
    conn: &mut Conn,
    organization_id: &OrgId,
    email: &str,
) -> Result<Option<UserMembership>, sqlx::Error> {
    let member_join = super::fk_eq(conn, "m.user_id", "u.id");
    sqlx::query_as(&format!(
        "SELECT u.id AS user_id, m.id AS membership_id, m.role, m.state FROM users u JOIN memberships m ON {member_join} AND m.organization_id = u.organization_id \
         WHERE u.organization_id = $1 AND u.email = $2 ORDER BY u.id LIMIT 1",
    ))
    .bind(organization_id)
    .bind(email)
    .fetch_optional(conn)
    .await
}
