//! Bringing a directory user's membership in line with the directory.

use crate::domain::event_type::EventType;
use crate::domain::membership::{ChangeSource, GrantKind, MembershipState};
use serde_json::json;
use std::collections::HashMap;

use crate::domain::ids::{MembershipId, OrgId, UserId};
use crate::domain::reconcile::{
    self, Effect, Group, InDirectory, Inputs, NewestGrant, SuspendReason,
};
use crate::server::audit::AuditedTx;
use crate::server::db::directory_users::DirUserRow;
use crate::server::db::{self, Conn};
use crate::server::error::AppError;
use crate::server::service::membership_lifecycle::{Change, CreatedUser};

use super::suspension::{directory_named, domain_owned_elsewhere, write_suspension};
use super::{default_role, desired_role, grant_detail, DirCtx};

/// What the caller of [`reconcile_with`] already has, so that it is not read again.
#[derive(Debug, Clone, Copy, Default)]
pub struct Known<'a> {
    /// The directory's group → role mappings (read once for many users).
    pub mappings: Option<&'a [db::group_mappings::GroupRoleMapping]>,
    /// The organization's default role (read once for many users).
    pub default_role: Option<&'a str>,
    /// The directory user was read with a lock, or written, by this transaction: it is current.
    pub current: bool,
    /// The directory user is being created by this transaction and is not stored yet: it is in
    /// no group, and its link to the organization user is set on the row, which the caller
    /// then inserts.
    pub unsaved: bool,
    /// Each directory user's groups (by directory user id), read in this transaction for many
    /// users at once; a user the map lacks is in no group.
    pub groups:
        Option<&'a std::collections::HashMap<String, Vec<db::directory_groups::DirGroupName>>>,
    /// Whether another organization holds an email domain verified, read in this transaction
    /// once per domain; a domain the map lacks is read.
    pub held_elsewhere: Option<&'a std::collections::HashMap<String, bool>>,
    /// Each organization user's membership (`None`: none), read locked in this transaction for
    /// many users at once, none of whom this transaction changes more than once; a user the
    /// map lacks is read.
    pub memberships:
        Option<&'a std::collections::HashMap<String, Option<db::memberships::ManagedMembership>>>,
    /// The organization user with the directory user's address ([`access_email`]) that is a
    /// member here, read in this transaction (`Some(None)`: none), for a directory user not
    /// linked yet.
    pub member_by_email: Option<Option<&'a UserId>>,
}

/// The address a directory user is given access under: its email, or else its userName
/// (trimmed, lower case).
pub fn access_email(u: &DirUserRow) -> String {
    u.email
        .clone()
        .unwrap_or_else(|| u.user_name.trim().to_lowercase())
}

/// Brings a directory user's membership in line with the directory: links or creates the
/// organization user, creates, suspends or reactivates the membership and sets the role its
/// groups give. Runs inside the transaction that changed the directory user, so access never
/// lags the directory. `gone` is true when the user was deleted from the directory.
pub async fn reconcile(
    tx: &mut AuditedTx,
    dir: &DirCtx,
    u: &mut DirUserRow,
    gone: bool,
    mappings: Option<&[db::group_mappings::GroupRoleMapping]>,
) -> Result<(), AppError> {
    let known = Known {
        mappings,
        ..Known::default()
    };
    reconcile_with(tx, dir, u, gone, known).await
}

/// [`reconcile`], told what the caller already has (see [`Known`]).
pub async fn reconcile_with(
    tx: &mut AuditedTx,
    dir: &DirCtx,
    u: &mut DirUserRow,
    gone: bool,
    known: Known<'_>,
) -> Result<(), AppError> {
    let org = dir.organization_id.clone();
    // Work from the row as this transaction sees it, locked: a deactivation committed by a
    // concurrent request must not be undone by a group change that read the user before it.
    let lock = db::Lock::ForUpdate;
    if !(known.current || known.unsaved) {
        if let Some(fresh) =
            db::directory_users::get_user(tx.conn(), &dir.directory_id, &u.id, lock).await?
        {
            *u = fresh;
        }
    }
    let label = u.email.clone().unwrap_or_else(|| u.user_name.clone());
    let no_access = SuspendReason::of_user(u.active, gone);
    let wants_access = no_access.is_none();
    let email = access_email(u);
    // A directory grants no access on another organization's verified domain (the rule
    // invitations follow): the directory user is kept, without an active membership here.
    // An address whose domain cannot be read cannot be checked against that rule: it gets no
    // access either (fail closed).
    let held = wants_access
        && (crate::domain::email::EmailAddress::parse(&email, "email").is_err()
            || match crate::domain::domain_name::email_domain(&email)
                .and_then(|d| known.held_elsewhere?.get(d.as_str()).copied())
            {
                Some(known_held) => known_held,
                None => domain_owned_elsewhere(tx.conn(), &org, &email).await?,
            });
    let Some((uid, created)) = link_user(
        tx,
        &org,
        u,
        &email,
        wants_access && !held,
        !known.unsaved,
        known.member_by_email,
    )
    .await?
    else {
        return Ok(());
    };
    // Reads, then the decision (`domain::reconcile`), then its writes.
    let desired;
    let user = match no_access {
        Some(reason) => InDirectory::Inactive(reason),
        None => {
            desired = desired_role(tx.conn(), dir, &u.id, known).await?;
            InDirectory::Active {
                role: &desired.0,
                group: desired.1.as_ref().map(|(id, name)| Group { id, name }),
            }
        }
    };
    // An organization user created just now has no membership yet.
    let current = if created.is_some() {
        None
    } else if let Some(read) = known.memberships.and_then(|m| m.get(uid.as_str())) {
        read.clone()
    } else {
        // A statement does not see held writes.
        tx.write_held().await?;
        db::memberships::membership_of_user(tx.conn(), &org, &uid, lock).await?
    };
    // Whether this directory may restore a membership that is not active.
    let newest = match &current {
        Some(db::memberships::ManagedMembership {
            id: m, state: st, ..
        }) if wants_access && *st != MembershipState::Active => {
            tx.write_held().await?;
            db::memberships::newest_grant(tx.conn(), &org, m).await?
        }
        _ => None,
    };
    let newest_by = newest.as_ref().and_then(|g| directory_named(&g.detail));
    let membership = match &current {
        None => None,
        Some(db::memberships::ManagedMembership {
            role,
            state: st,
            role_group_id: group,
            directory_id: managed_by,
            ..
        }) => {
            // A state this version does not know is left as it is.
            let Some(state) = MembershipState::parse(st) else {
                return Ok(());
            };
            Some(reconcile::Current {
                state,
                role,
                group_id: group.as_deref(),
                managed_by: managed_by.as_deref(),
                newest_grant: newest.as_ref().and_then(|g| {
                    Some(NewestGrant {
                        kind: GrantKind::parse(&g.kind)?,
                        directory_id: newest_by.as_deref(),
                    })
                }),
            })
        }
    };
    let effect = reconcile::decide(&Inputs {
        directory_id: &dir.directory_id,
        user,
        held,
        membership,
    });
    let created = created.as_ref().map(|c| CreatedUser {
        email: &email,
        first_name: c.first_name.as_deref(),
        last_name: c.last_name.as_deref(),
    });
    write_effect(tx, dir, &uid, &label, current.as_ref(), created, effect).await
}

/// Links the directory user to the organization user with its address, or creates that user
/// when the directory grants access (`creates`); with `store`, writes the link to the stored
/// row. Answers the linked user and, when it was created just now, its names; `None` when there
/// is none. `member` is the member with the address when the caller read it (see [`Known`]).
async fn link_user(
    tx: &mut AuditedTx,
    org: &OrgId,
    u: &mut DirUserRow,
    email: &str,
    creates: bool,
    store: bool,
    member: Option<Option<&UserId>>,
) -> Result<Option<(UserId, Option<Names>)>, AppError> {
    let mut created = None;
    if u.user_id.is_none() {
        // The same person may already be a member (JIT, an invitation, another directory).
        let member = match member {
            Some(m) => m.cloned(),
            None => db::users::member_by_email(tx.conn(), org, email)
                .await?
                .map(|m| m.user_id),
        };
        if let Some(uid) = member {
            u.user_id = Some(uid);
        } else if creates {
            let uid = UserId::generate();
            let resource: serde_json::Value = serde_json::from_str(&u.resource).unwrap_or_default();
            let name = |k: &str| {
                resource
                    .get("name")
                    .and_then(|n| n.get(k))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            let names = Names {
                first_name: name("givenName"),
                last_name: name("familyName"),
            };
            let insert = db::users::insert_user_held(
                &uid,
                org,
                email,
                names.first_name.as_deref(),
                names.last_name.as_deref(),
                tx.now(),
            );
            match tx.held_membership_writes() {
                Some(held) => held.hold(insert),
                None => insert.execute(tx.conn()).await?,
            }
            u.user_id = Some(uid);
            created = Some(names);
        } else {
            return Ok(None);
        }
        if store {
            db::directory_users::update_user(tx.conn(), u).await?;
        }
    }
    Ok(u.user_id.clone().map(|uid| (uid, created)))
}

/// The names an organization user was created with.
struct Names {
    first_name: Option<String>,
    last_name: Option<String>,
}

/// Writes the decision about the membership `current` of the organization user `uid`.
async fn write_effect(
    tx: &mut AuditedTx,
    dir: &DirCtx,
    uid: &UserId,
    label: &str,
    current: Option<&db::memberships::ManagedMembership>,
    created: Option<CreatedUser<'_>>,
    effect: Effect<'_>,
) -> Result<(), AppError> {
    let org = &dir.organization_id;
    match effect {
        Effect::Nothing => {}
        Effect::Suspend { reason } => {
            if let Some(db::memberships::ManagedMembership {
                id: m,
                role,
                role_group_id: group,
                ..
            }) = current
            {
                write_suspension(tx, dir, uid, m, role, group.as_deref(), label, reason).await?;
            }
        }
        Effect::Create { role, group, grant } => {
            let m = MembershipId::generate();
            Change::new(org, &m, label)
                .insert(uid, role)
                .managed(
                    MembershipState::Active,
                    role,
                    group.map(|g| g.id),
                    &dir.directory_id,
                )
                .of_user_created(created)
                .grant(grant, role, grant_detail(dir, group))
                .event(
                    EventType::MembershipCreated,
                    json!({ "role": role, "source": ChangeSource::Directory, "directory_id": dir.directory_id, "group_id": group.map(|g| g.id) }),
                )
                .apply(tx)
                .await?;
        }
        Effect::Update(up) => {
            let Some(db::memberships::ManagedMembership {
                id: m,
                role: old_role,
                ..
            }) = current
            else {
                return Ok(());
            };
            let (role, group) = (up.role, up.group);
            let detail = grant_detail(dir, group);
            let group_id = group.map(|g| g.id);
            let mut change = Change::new(org, m, label).managed(
                MembershipState::Active,
                role,
                group_id,
                &dir.directory_id,
            );
            if up.reactivated {
                change = change
                    .grant(GrantKind::DirectoryReactivated, role, detail.clone())
                    .event(
                        EventType::MembershipReactivated,
                        json!({ "role": role, "directory_id": dir.directory_id }),
                    );
            }
            if let Some(kind) = up.grant {
                change = change.grant(kind, role, detail);
            }
            change = match up.event {
                Some(kind @ EventType::MembershipRoleChanged) => change.event(
                    kind,
                    json!({ "from": old_role, "to": role, "source": ChangeSource::Directory, "directory_id": dir.directory_id, "group_id": group_id, "group_name": group.map(|g| g.name) }),
                ),
                Some(kind) => change.event(
                    kind,
                    json!({ "role": role, "directory_id": dir.directory_id, "group_id": group_id }),
                ),
                None => change,
            };
            change.apply(tx).await?;
        }
    }
    Ok(())
}

/// What a directory's role mappings decide, read once per transaction that needs it.
pub(crate) struct RoleRules {
    pub(crate) mappings: Vec<db::group_mappings::GroupRoleMapping>,
    pub(crate) default_role: String,
}

impl RoleRules {
    /// The directory's mappings and the organization's default role.
    pub(crate) async fn load(conn: &mut Conn, dir: &DirCtx) -> Result<RoleRules, sqlx::Error> {
        let mappings = db::group_mappings::mappings(conn, &dir.directory_id).await?;
        let default_role = default_role(conn, &dir.organization_id).await?;
        Ok(RoleRules {
            mappings,
            default_role,
        })
    }

    /// [`RoleRules::load`], or `None` when the directory maps no group: a change of groups then
    /// changes no role (every member holds the default role already).
    pub(crate) async fn load_if_mapped(
        conn: &mut Conn,
        dir: &DirCtx,
    ) -> Result<Option<RoleRules>, sqlx::Error> {
        let mappings = db::group_mappings::mappings(conn, &dir.directory_id).await?;
        if mappings.is_empty() {
            return Ok(None);
        }
        let default_role = default_role(conn, &dir.organization_id).await?;
        Ok(Some(RoleRules {
            mappings,
            default_role,
        }))
    }

    fn known(&self) -> Known<'_> {
        Known {
            mappings: Some(&self.mappings),
            default_role: Some(&self.default_role),
            // The rows are read locked just before (see [`recompute_roles`]).
            current: true,
            unsaved: false,
            groups: None,
            held_elsewhere: None,
            memberships: None,
            member_by_email: None,
        }
    }
}

/// Recomputes the roles of the directory users `ids` (in that order) after their groups
/// changed, reading them in one statement.
pub(crate) async fn recompute_roles(
    tx: &mut AuditedTx,
    dir: &DirCtx,
    rules: &RoleRules,
    ids: &[&String],
) -> Result<(), AppError> {
    let owned: Vec<String> = ids.iter().map(|s| (*s).clone()).collect();
    let mut rows: HashMap<String, DirUserRow> =
        db::directory_users::get_users(tx.conn(), &dir.directory_id, &owned, db::Lock::ForUpdate)
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
    // What each user's reconciliation reads, read once for all of them: their groups (one
    // statement) and, per email domain, whether another organization holds it verified.
    let groups = db::directory_groups::groups_by_user(tx.conn(), &dir.directory_id, &owned).await?;
    let mut held_elsewhere: HashMap<String, bool> = HashMap::new();
    for u in rows.values() {
        let email = u
            .email
            .clone()
            .unwrap_or_else(|| u.user_name.trim().to_lowercase());
        if let Some(d) = crate::domain::domain_name::email_domain(&email) {
            if !held_elsewhere.contains_key(d.as_str()) {
                let held = crate::server::service::directories::domain_owned_elsewhere(
                    tx.conn(),
                    &dir.organization_id,
                    &email,
                )
                .await?;
                held_elsewhere.insert(d.as_str().to_owned(), held);
            }
        }
    }
    // When every one of them is linked to an organization user of their own, their memberships
    // are read (locked) in one statement, and what their reconciliations write to them is held
    // back and written together: none of them is read again before that. (A user not linked
    // yet may link to any member by address: then each is read and written on its own.)
    let mut linked: Vec<&str> = rows.values().filter_map(|u| u.user_id.as_deref()).collect();
    linked.sort_unstable();
    linked.dedup();
    let memberships = if !linked.is_empty() && linked.len() == rows.len() {
        Some(
            db::memberships::managed_memberships_of_users(
                tx.conn(),
                &dir.organization_id,
                &linked,
                db::Lock::ForUpdate,
            )
            .await?,
        )
    } else {
        None
    };
    let known = Known {
        groups: Some(&groups),
        held_elsewhere: Some(&held_elsewhere),
        memberships: memberships.as_ref(),
        ..rules.known()
    };
    if memberships.is_some() {
        tx.hold_membership_writes();
    }
    for id in ids {
        if let Some(mut u) = rows.remove(id.as_str()) {
            reconcile_with(tx, dir, &mut u, false, known).await?;
        }
    }
    tx.stop_holding().await?;
    Ok(())
}
