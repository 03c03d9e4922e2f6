//! The one way a membership is created or its state or role changes, whoever changes it (a
//! sign-in's JIT provisioning or linking, an invitation's acceptance, a directory, an admin):
//! the membership row, the grant rows that record how it came to be, the audit events, and —
//! whenever the membership is left without access — its live sign-in codes voided (and, where
//! the caller says so, pending invitations to the address revoked), all in the caller's
//! transaction.

use crate::domain::target::TargetKind;
use serde_json::{json, Value};

use crate::domain::event_type::EventType;
use crate::domain::ids::{IdKind, MembershipId, OrgId, UserId};
use crate::domain::membership::{GrantKind, MembershipState};
use crate::server::audit::{AuditedTx, Target};
use crate::server::db;
use crate::server::error::AppError;

/// A write to the membership row.
#[derive(Debug, Clone, Copy)]
pub enum RowWrite<'a> {
    /// A new active membership of the organization user `user_id`.
    Insert { user_id: &'a UserId, role: &'a str },
    /// The state alone (an admin, an invitation, a directory's removal); cancels a scheduled
    /// removal.
    State(MembershipState),
    /// The role, set by hand (the granting directory group is cleared).
    Role(&'a str),
    /// State, role, granting group and managing directory together (a directory's write);
    /// cancels a scheduled removal.
    Managed {
        state: MembershipState,
        role: &'a str,
        group_id: Option<&'a str>,
        directory_id: &'a str,
    },
}

impl RowWrite<'_> {
    /// The state the write leaves the membership in, when it sets one.
    fn state(&self) -> Option<MembershipState> {
        match self {
            RowWrite::Insert { .. } => Some(MembershipState::Active),
            RowWrite::State(s) | RowWrite::Managed { state: s, .. } => Some(*s),
            RowWrite::Role(_) => None,
        }
    }
}

/// A history row or an audit event, written in the order given.
#[derive(Debug, Clone)]
pub enum Record<'a> {
    /// A grant: how the membership's current state or role came to be (never overwritten).
    Grant {
        kind: GrantKind,
        role: &'a str,
        detail: Value,
    },
    /// An audit event targeting the membership.
    Event { kind: EventType, metadata: Value },
    /// An audit event whose metadata also says how many live sign-in codes the change voided
    /// (`sign_in_codes_voided`).
    EventCountingVoided { kind: EventType, metadata: Value },
}

/// One change of one membership.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    pub organization_id: &'a OrgId,
    pub membership_id: &'a MembershipId,
    /// How events name the membership (the person's address, or the directory user's name).
    pub label: &'a str,
    /// Row writes, applied first and in order (none: the change only records provenance, e.g.
    /// a sign-in linking a second connection).
    pub rows: Vec<RowWrite<'a>>,
    /// When the change leaves the membership without access, also revoke the pending
    /// invitations sent to this address (an old link must not undo the change). `None` where
    /// they stay: a directory's removal of a member it suspended earlier (that suspension
    /// revoked them).
    pub revoke_invitations_to: Option<&'a str>,
    pub records: Vec<Record<'a>>,
    /// The organization user was created by this transaction, with these fields, and nothing
    /// else in it changes them: a membership this change inserts is snapshotted for its events
    /// from what is known, rather than read at the commit.
    pub created_user: Option<CreatedUser<'a>>,
}

/// An organization user's fields as the transaction that created it leaves them.
#[derive(Debug, Clone, Copy)]
pub struct CreatedUser<'a> {
    pub email: &'a str,
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
}

impl<'a> Change<'a> {
    /// A change of `membership_id` in `organization_id` that writes nothing yet; events name the
    /// membership `label`.
    pub fn new(
        organization_id: &'a OrgId,
        membership_id: &'a MembershipId,
        label: &'a str,
    ) -> Self {
        Change {
            organization_id,
            membership_id,
            label,
            rows: Vec::new(),
            revoke_invitations_to: None,
            records: Vec::new(),
            created_user: None,
        }
    }

    /// Says the organization user was created by this transaction (see
    /// [`Change::created_user`]).
    pub fn of_user_created(mut self, user: Option<CreatedUser<'a>>) -> Self {
        self.created_user = user;
        self
    }

    /// Creates the membership: active, of the organization user `user_id`, with `role`.
    pub fn insert(mut self, user_id: &'a UserId, role: &'a str) -> Self {
        self.rows.push(RowWrite::Insert { user_id, role });
        self
    }

    /// Sets the state alone.
    pub fn state(mut self, state: MembershipState) -> Self {
        self.rows.push(RowWrite::State(state));
        self
    }

    /// Sets the role by hand.
    pub fn role(mut self, role: &'a str) -> Self {
        self.rows.push(RowWrite::Role(role));
        self
    }

    /// Sets state, role, granting group and managing directory together (a directory's write).
    pub fn managed(
        mut self,
        state: MembershipState,
        role: &'a str,
        group_id: Option<&'a str>,
        directory_id: &'a str,
    ) -> Self {
        self.rows.push(RowWrite::Managed {
            state,
            role,
            group_id,
            directory_id,
        });
        self
    }

    /// Also revokes the pending invitations sent to `email` (when there is one) when the change
    /// ends the access.
    pub fn revoking_invitations_to(mut self, email: impl Into<Option<&'a str>>) -> Self {
        self.revoke_invitations_to = email.into();
        self
    }

    /// Records a grant.
    pub fn grant(mut self, kind: GrantKind, role: &'a str, detail: Value) -> Self {
        self.records.push(Record::Grant { kind, role, detail });
        self
    }

    /// Records an audit event targeting the membership.
    pub fn event(mut self, kind: EventType, metadata: Value) -> Self {
        self.records.push(Record::Event { kind, metadata });
        self
    }

    /// Records an audit event whose metadata also counts the sign-in codes the change voided.
    pub fn event_counting_voided(mut self, kind: EventType, metadata: Value) -> Self {
        self.records
            .push(Record::EventCountingVoided { kind, metadata });
        self
    }

    /// Applies the change in the caller's transaction (see [`apply`]).
    pub async fn apply(self, tx: &mut AuditedTx) -> Result<u64, AppError> {
        apply(tx, self).await
    }
}

/// Applies `c` in the caller's transaction: the row writes; then, when they leave the
/// membership suspended or removed, its unredeemed sign-in codes are voided and (see
/// [`Change::revoke_invitations_to`]) pending invitations revoked; then the grants and events in
/// order. Answers how many sign-in codes were voided.
pub async fn apply(tx: &mut AuditedTx, c: Change<'_>) -> Result<u64, AppError> {
    let now = tx.now();
    let (org, m) = (c.organization_id, c.membership_id);
    let mut rows = c.rows.iter().peekable();
    // The membership as this change inserted it, while no later row write changed it.
    let mut inserted: Option<crate::server::events::MembershipSnapshot> = None;
    while let Some(w) = rows.next() {
        inserted = None;
        // A new membership a directory manages is written with its managed columns at once.
        if let (
            RowWrite::Insert { user_id, .. },
            Some(RowWrite::Managed {
                state,
                role,
                group_id,
                directory_id,
            }),
        ) = (w, rows.peek())
        {
            let insert = db::memberships::insert_managed_membership_held(
                m,
                org,
                user_id,
                role,
                state.as_str(),
                *group_id,
                directory_id,
                now,
            );
            // Held, with the organization user it refers to, when writes are held.
            match tx.held_membership_writes() {
                Some(held) => held.hold(insert),
                None => insert.execute(tx.conn()).await?,
            }
            rows.next();
            inserted = c
                .created_user
                .map(|u| crate::server::events::MembershipSnapshot {
                    id: m.to_string(),
                    organization_id: org.to_string(),
                    user_id: user_id.to_string(),
                    email: u.email.to_owned(),
                    first_name: u.first_name.map(str::to_owned),
                    last_name: u.last_name.map(str::to_owned),
                    role: (*role).to_owned(),
                    state: state.as_str().to_owned(),
                    directory_id: Some((*directory_id).to_owned()),
                    created_at: now,
                    updated_at: now,
                });
            continue;
        }
        // A directory's write of an existing membership may be held back to be written with
        // others (see [`AuditedTx::hold_membership_writes`]); every other write goes out at once,
        // after what is held.
        if let (
            RowWrite::Managed {
                state,
                role,
                group_id,
                directory_id,
            },
            Some(held),
        ) = (*w, tx.held_membership_writes())
        {
            held.set_managed(org, m, role, state.as_str(), group_id, directory_id, now);
            continue;
        }
        tx.write_held().await?;
        match *w {
            RowWrite::Insert { user_id, role } => {
                db::memberships::insert_membership(tx.conn(), m, org, user_id, role, now).await?
            }
            RowWrite::State(state) => {
                db::memberships::set_membership_state(tx.conn(), org, m, state.as_str(), now)
                    .await?;
            }
            RowWrite::Role(role) => db::memberships::set_role(tx.conn(), org, m, role, now).await?,
            RowWrite::Managed {
                state,
                role,
                group_id,
                directory_id,
            } => {
                db::memberships::set_managed_membership(
                    tx.conn(),
                    org,
                    m,
                    role,
                    state.as_str(),
                    group_id,
                    directory_id,
                    now,
                )
                .await?
            }
        }
    }
    let mut voided = 0;
    if let Some(ended) = c
        .rows
        .iter()
        .filter_map(RowWrite::state)
        .next_back()
        .filter(|s| *s != MembershipState::Active)
    {
        tx.write_held().await?;
        // Sign-ins in flight end with the access.
        voided = db::sign_in::void_codes(tx.conn(), m, now).await?;
        if let Some(email) = c.revoke_invitations_to {
            super::invitations::revoke_pending_for(tx, org, email, ended.as_str()).await?;
        }
    }
    for r in c.records {
        match r {
            Record::Grant { kind, role, detail } => {
                if let Some(held) = tx.held_membership_writes() {
                    held.grant(
                        db::new_id(IdKind::Grant),
                        m,
                        org,
                        kind,
                        role,
                        detail.to_string(),
                        now,
                    );
                    continue;
                }
                db::memberships::insert_grant(
                    tx.conn(),
                    &db::new_id(IdKind::Grant),
                    m,
                    org,
                    kind.as_str(),
                    role,
                    &detail.to_string(),
                    now,
                )
                .await?
            }
            Record::Event { kind, metadata } => {
                event(tx, org, m, c.label, kind, metadata, inserted.as_ref()).await?;
            }
            Record::EventCountingVoided { kind, mut metadata } => {
                metadata["sign_in_codes_voided"] = json!(voided);
                event(tx, org, m, c.label, kind, metadata, inserted.as_ref()).await?;
            }
        }
    }
    Ok(voided)
}

/// Records `kind` about the membership `m`; its snapshot is the membership as the transaction
/// leaves it: `known` when the change inserted it for a user the transaction created, else read
/// at commit (one statement for all the transaction's membership events).
async fn event(
    tx: &mut AuditedTx,
    org: &OrgId,
    m: &MembershipId,
    label: &str,
    kind: EventType,
    metadata: Value,
    known: Option<&crate::server::events::MembershipSnapshot>,
) -> Result<(), AppError> {
    let id = tx
        .record(
            Some(org),
            kind,
            vec![Target::new(TargetKind::Membership, m, Some(label))],
            metadata,
        )
        .await?;
    match known {
        Some(membership) => tx.snapshot(
            &id,
            &crate::server::events::Snapshot::Membership {
                membership: membership.clone(),
            },
        ),
        None => tx.snapshot_membership_at_commit(&id, m),
    }
    Ok(())
}
