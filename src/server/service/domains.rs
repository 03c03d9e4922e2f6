//! Domain verification: claims proved by a DNS TXT record, at most one verified owner per domain,
//! periodic re-proof with a grace period before a domain lapses.

use crate::domain::event_type::EventType;
use crate::domain::target::TargetKind;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::domain::domain_name::DomainName;
use crate::domain::domain_state::{transition, Claim, DomainState, DomainVerifier, Observation};
use crate::domain::ids::{DomainId, IdKind, OrgId};
use crate::domain::FieldError;
use crate::server::audit::{Actor, AuditedTx, RequestContext, Target};
use crate::server::clock::rfc3339;
use crate::server::db::{self, domains::DomainRow};
use crate::server::dns::TxtAnswer;
use crate::server::error::AppError;
use crate::server::events::Snapshot;
use crate::server::state::AppState;

/// Message shown when another organization holds the domain; it never says which one.
pub const CLAIMED_ELSEWHERE: &str = "This domain is already verified by another organization. If you believe it belongs to you, contact your vendor's support.";

/// The TXT record to publish.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Verification {
    /// Always `TXT`.
    pub record_type: String,
    pub record_name: String,
    pub record_value: String,
}

/// What the last check saw.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CheckResult {
    pub checked_at: String,
    /// `matched`, `mismatch`, `missing`, `inconclusive` or `claimed_elsewhere`.
    pub outcome: String,
    /// TXT values found at the record name.
    pub found: Vec<String>,
    /// Plain-words explanation.
    pub message: String,
}

/// A domain claim as the API and the portal show it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Domain {
    /// `dom_…`
    pub id: String,
    pub object: String,
    pub organization_id: String,
    pub domain: String,
    /// `pending`, `verified`, `failed` or `lapsed`.
    pub state: String,
    /// Whether verifying this domain also covers its subdomains.
    pub include_subdomains: bool,
    pub verification: Verification,
    /// `dns` or `vendor` once verified.
    pub verified_by: Option<String>,
    pub verified_at: Option<String>,
    pub last_proved_at: Option<String>,
    pub last_checked_at: Option<String>,
    pub last_check: Option<CheckResult>,
    /// Since when the record has been missing (verified domains within the grace period, lapsed).
    pub missing_since: Option<String>,
    pub created_at: String,
}

impl From<DomainRow> for Domain {
    fn from(r: DomainRow) -> Self {
        Domain {
            id: r.id,
            object: "domain".into(),
            organization_id: r.organization_id,
            domain: r.domain,
            state: r.state,
            include_subdomains: r.include_subdomains,
            verification: Verification {
                record_type: "TXT".into(),
                record_name: r.record_name,
                record_value: r.record_value,
            },
            verified_by: r.verified_by,
            verified_at: r.verified_at.map(rfc3339),
            last_proved_at: r.last_proved_at.map(rfc3339),
            last_checked_at: r.last_checked_at.map(rfc3339),
            last_check: r.last_result.and_then(|s| serde_json::from_str(&s).ok()),
            missing_since: r.missing_since.map(rfc3339),
            created_at: rfc3339(r.created_at),
        }
    }
}

/// Input of `add`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDomain {
    pub domain: String,
    /// Vendor only: record the domain as verified by the vendor, without DNS proof.
    #[serde(default)]
    pub verified: Option<bool>,
    /// Verifying `acme.com` also covers `eu.acme.com`. Default false.
    #[serde(default)]
    pub include_subdomains: Option<bool>,
}

/// What removing a domain would affect.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RemovalImpact {
    pub domain: String,
    pub state: String,
    /// Members who joined through sign-in on this domain (JIT provisioning).
    pub members_provisioned: i64,
}

fn new_challenge_value() -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "lanyard-domain-verification={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

fn not_found() -> AppError {
    AppError::NotFound("domain")
}

/// The organization a domain id belongs to (the vendor's key addresses claims by id alone).
pub async fn organization_of(state: &AppState, id: &DomainId) -> Result<OrgId, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    db::domains::owner_of(&mut conn, id)
        .await?
        .ok_or_else(not_found)
}

/// Adds a claim. `vendor_verified` is only offered to the vendor API.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn add(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &OrgId,
    input: CreateDomain,
    allow_vendor_verified: bool,
) -> Result<Domain, AppError> {
    let name = DomainName::parse_claimable(&input.domain)?;
    let vendor_verified = input.verified.unwrap_or(false);
    if vendor_verified && !allow_vendor_verified {
        return Err(
            FieldError::new("verified", "only the vendor can mark a domain as verified").into(),
        );
    }
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    db::organizations::get(tx.conn(), organization_id)
        .await?
        .ok_or(AppError::NotFound("organization"))?;
    let row = add_in(
        &mut tx,
        organization_id,
        &name,
        vendor_verified,
        input.include_subdomains.unwrap_or(false),
    )
    .await?;
    tx.commit().await?;
    Ok(row.into())
}

/// Adds a claim inside a write that has checked its organization: refuses a domain verified by
/// another organization (`domain_claimed`) or already listed here (`domain_exists`), and records
/// `domain.created` (and `domain.verified` when the vendor vouches for it).
pub(crate) async fn add_in(
    tx: &mut AuditedTx,
    organization_id: &OrgId,
    name: &DomainName,
    vendor_verified: bool,
    include_subdomains: bool,
) -> Result<DomainRow, AppError> {
    let now = tx.now();
    if verified_elsewhere(tx.conn(), organization_id, name).await? {
        return Err(AppError::Conflict {
            code: "domain_claimed",
            message: CLAIMED_ELSEWHERE.into(),
            field: Some("domain"),
        });
    }
    let row = DomainRow {
        id: db::new_id(IdKind::Domain),
        organization_id: organization_id.to_string(),
        domain: name.as_str().to_owned(),
        state: if vendor_verified {
            DomainState::Verified
        } else {
            DomainState::Pending
        }
        .as_str()
        .into(),
        include_subdomains,
        record_name: name.challenge_name(),
        record_value: new_challenge_value(),
        verified_by: vendor_verified.then(|| DomainVerifier::Vendor.as_str().to_owned()),
        verified_at: vendor_verified.then_some(now),
        last_proved_at: None,
        last_checked_at: None,
        last_result: None,
        missing_since: None,
        check_failures: 0,
        // Vendor-verified domains have no record to re-prove; pending ones are polled.
        next_check_at: (!vendor_verified).then_some(now + 60_000),
        created_at: now,
        updated_at: now,
    };
    match db::domains::insert(tx.conn(), &row).await {
        // Another organization verified it since the check above (a concurrent claim).
        Err(e) if db::is_unique_violation(&e) && verified_by_another(&e) => {
            return Err(AppError::Conflict {
                code: "domain_claimed",
                message: CLAIMED_ELSEWHERE.into(),
                field: Some("domain"),
            })
        }
        Err(e) if db::is_unique_violation(&e) => {
            return Err(AppError::Conflict {
                code: "domain_exists",
                message: format!("{} is already listed for this organization", row.domain),
                field: Some("domain"),
            })
        }
        r => r?,
    }
    let target = vec![Target::new(TargetKind::Domain, &row.id, Some(&row.domain))];
    let snapshot = Snapshot::Domain {
        domain: row.clone(),
    };
    let created = tx
        .record(
            Some(organization_id),
            EventType::DomainCreated,
            target.clone(),
            serde_json::json!({ "domain": row.domain, "include_subdomains": row.include_subdomains }),
        )
        .await?;
    tx.snapshot(&created, &snapshot);
    if vendor_verified {
        let verified = tx
            .record(
                Some(organization_id),
                EventType::DomainVerified,
                target,
                serde_json::json!({ "domain": row.domain, "verified_by": DomainVerifier::Vendor }),
            )
            .await?;
        tx.snapshot(&verified, &snapshot);
    }
    Ok(row)
}

/// The vendor vouches for a claim the organization already has that is not verified (pending,
/// failed or lapsed): it becomes verified by the vendor, with `domain.verified`. Refused, as a
/// new claim is, when another organization verified the domain.
pub(crate) async fn vendor_verify_in(
    tx: &mut AuditedTx,
    organization_id: &OrgId,
    mut row: DomainRow,
) -> Result<DomainRow, AppError> {
    let now = tx.now();
    let name = DomainName::parse(&row.domain).map_err(|e| AppError::Internal(e.message))?;
    if verified_elsewhere(tx.conn(), organization_id, &name).await? {
        return Err(AppError::Conflict {
            code: "domain_claimed",
            message: CLAIMED_ELSEWHERE.into(),
            field: Some("domain"),
        });
    }
    row.state = DomainState::Verified.as_str().into();
    row.verified_by = Some(DomainVerifier::Vendor.as_str().to_owned());
    row.verified_at = Some(now);
    row.missing_since = None;
    row.check_failures = 0;
    // Vendor-verified domains have no record to re-prove.
    row.next_check_at = None;
    row.updated_at = now;
    match db::domains::vendor_verify(tx.conn(), organization_id, &row.id, now).await {
        Err(e) if db::is_unique_violation(&e) && verified_by_another(&e) => {
            return Err(AppError::Conflict {
                code: "domain_claimed",
                message: CLAIMED_ELSEWHERE.into(),
                field: Some("domain"),
            })
        }
        // Verified meanwhile by a concurrent request, which recorded the event.
        Ok(false) => return Ok(row),
        r => r?,
    };
    let verified = tx
        .record(
            Some(organization_id),
            EventType::DomainVerified,
            vec![Target::new(TargetKind::Domain, &row.id, Some(&row.domain))],
            serde_json::json!({ "domain": row.domain, "verified_by": DomainVerifier::Vendor }),
        )
        .await?;
    tx.snapshot(
        &verified,
        &Snapshot::Domain {
            domain: row.clone(),
        },
    );
    Ok(row)
}

/// Lists an organization's claims.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn list(state: &AppState, organization_id: &OrgId) -> Result<Vec<Domain>, AppError> {
    let mut conn = state.db.read().await?;
    Ok(db::domains::list(&mut conn, organization_id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// Reads one claim of an organization.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn get(
    state: &AppState,
    organization_id: &OrgId,
    id: &DomainId,
) -> Result<Domain, AppError> {
    let mut conn = state.db.pool.acquire().await?;
    db::domains::get(&mut conn, organization_id, id)
        .await?
        .map(Into::into)
        .ok_or_else(not_found)
}

/// Turns a lookup into an observation and the words the admin sees.
pub fn judge(
    expected: &str,
    record_name: &str,
    answer: &TxtAnswer,
) -> (Observation, &'static str, Vec<String>, String) {
    match answer {
        TxtAnswer::Values(values) if values.iter().any(|v| v.trim() == expected) => (
            Observation::Matched,
            "matched",
            values.clone(),
            format!("We found the expected TXT record at {record_name}."),
        ),
        TxtAnswer::Values(values) => (
            Observation::Missing,
            "mismatch",
            values.clone(),
            format!(
                "We found these TXT records at {record_name}: {}; none matched the expected value. Check that you copied the whole value.",
                values.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", ")
            ),
        ),
        TxtAnswer::NoRecords => (
            Observation::Missing,
            "missing",
            Vec::new(),
            format!("We found no TXT record at {record_name}. Publish it with your DNS host; changes can take a few minutes to appear."),
        ),
        TxtAnswer::Failed(reason) => (
            Observation::Inconclusive,
            "inconclusive",
            Vec::new(),
            format!("We could not check {record_name}: {reason}. The domain stays as it is and we will try again."),
        ),
    }
}

/// Checks a claim's record now and applies the result.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn check(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &OrgId,
    id: &DomainId,
) -> Result<Domain, AppError> {
    let row = {
        let mut conn = state.db.pool.acquire().await?;
        db::domains::get(&mut conn, organization_id, id)
            .await?
            .ok_or_else(not_found)?
    };
    if row.verified_by.as_deref() == Some(DomainVerifier::Vendor.as_str())
        && row.state == DomainState::Verified
    {
        return Ok(row.into());
    }
    // No transaction is held across the network lookup.
    let answer = state.dns.txt(&row.record_name).await;
    apply(state, actor, ctx, row, &answer).await
}

async fn apply(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    mut row: DomainRow,
    answer: &TxtAnswer,
) -> Result<Domain, AppError> {
    let now = state.clock.now();
    let current = DomainState::parse(&row.state)
        .ok_or_else(|| AppError::Internal(format!("unknown domain state {}", row.state)))?;
    let (obs, mut outcome, found, mut message) = judge(&row.record_value, &row.record_name, answer);
    let claim = Claim {
        state: current,
        created_at: row.created_at,
        missing_since: row.missing_since,
        failures: row.check_failures,
    };
    let mut step = transition(claim, obs, now, &state.config.domain_policy);
    let name = DomainName::parse(&row.domain)?;

    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    if step.claim.state == DomainState::Verified
        && current != DomainState::Verified
        && verified_elsewhere(tx.conn(), &row.organization_id, &name).await?
    {
        step.claim.state = DomainState::Failed;
        step.next_check_at = None;
        step.event = Some(EventType::DomainVerificationFailed);
        step.proved = false;
        outcome = "claimed_elsewhere";
        message = CLAIMED_ELSEWHERE.to_owned();
    }
    row.state = step.claim.state.as_str().to_owned();
    row.missing_since = step.claim.missing_since;
    row.check_failures = step.claim.failures;
    row.next_check_at = step.next_check_at;
    row.last_checked_at = Some(now);
    row.updated_at = now;
    if step.proved {
        row.last_proved_at = Some(now);
        if step.event == Some(EventType::DomainVerified) {
            row.verified_by = Some(DomainVerifier::Dns.as_str().into());
            row.verified_at = Some(now);
        }
    }
    row.last_result = Some(
        serde_json::to_string(&CheckResult {
            checked_at: rfc3339(now),
            outcome: outcome.into(),
            found,
            message: message.clone(),
        })
        .unwrap_or_default(),
    );
    let org = row.organization_id.clone();
    match db::domains::update(tx.conn(), &org, &row).await {
        Ok(true) => {}
        Ok(false) => return Err(not_found()),
        // Another organization verified it between our check and our write.
        Err(e) if db::is_unique_violation(&e) => {
            drop(tx);
            return Err(AppError::Conflict {
                code: "domain_claimed",
                message: CLAIMED_ELSEWHERE.into(),
                field: Some("domain"),
            });
        }
        Err(e) => return Err(e.into()),
    }
    match step.event {
        Some(event) => {
            let id = tx.record(
                Some(&org),
                event,
                vec![Target::new(TargetKind::Domain, &row.id, Some(&row.domain))],
                serde_json::json!({ "domain": row.domain, "from": current.as_str(), "to": row.state, "outcome": outcome, "detail": message }),
            )
            .await?;
            tx.snapshot(
                &id,
                &Snapshot::Domain {
                    domain: row.clone(),
                },
            );
            tx.commit().await?;
        }
        // A check that changes no state is an observation (last result, next poll time), not an
        // audited change: write it without an event.
        None => tx.commit_observation().await?,
    }
    Ok(row.into())
}

/// What removing a claim would affect.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn removal_impact(
    state: &AppState,
    organization_id: &OrgId,
    id: &DomainId,
) -> Result<RemovalImpact, AppError> {
    let d = get(state, organization_id, id).await?;
    let mut conn = state.db.pool.acquire().await?;
    let members = db::domains::members_provisioned(&mut conn, organization_id, &d.domain).await?;
    Ok(RemovalImpact {
        domain: d.domain,
        state: d.state,
        members_provisioned: members,
    })
}

/// Removes a claim.
#[tracing::instrument(skip_all, fields(organization_id = %organization_id))]
pub async fn remove(
    state: &AppState,
    actor: &Actor,
    ctx: &RequestContext,
    organization_id: &OrgId,
    id: &DomainId,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut tx = AuditedTx::begin(&state.db, actor, ctx, now).await?;
    remove_in(&mut tx, organization_id, id).await?;
    tx.commit().await?;
    Ok(())
}

/// Removes a claim inside a write, with its `domain.deleted` event.
pub(crate) async fn remove_in(
    tx: &mut AuditedTx,
    organization_id: &OrgId,
    id: &DomainId,
) -> Result<(), AppError> {
    let now = tx.now();
    let row = db::domains::get(tx.conn(), organization_id, id)
        .await?
        .ok_or_else(not_found)?;
    db::domains::soft_delete(tx.conn(), organization_id, id, now).await?;
    let event = tx
        .record(
            Some(organization_id),
            EventType::DomainDeleted,
            vec![Target::new(TargetKind::Domain, id, Some(&row.domain))],
            serde_json::json!({ "domain": row.domain, "state": row.state }),
        )
        .await?;
    tx.snapshot(&event, &Snapshot::Domain { domain: row });
    Ok(())
}

/// The organization that holds the domain of an email address verified (exactly, or through a
/// parent that includes subdomains). Pending, failed and lapsed claims grant nothing.
pub async fn verified_owner_of_email(
    state: &AppState,
    email: &str,
) -> Result<Option<String>, AppError> {
    let Some(d) = crate::domain::domain_name::email_domain(email) else {
        return Ok(None);
    };
    let mut conn = state.db.pool.acquire().await?;
    Ok(
        db::domains::verified_holders(&mut conn, d.as_str(), &parent_names(&d))
            .await?
            .into_iter()
            .next(),
    )
}

/// Every organization that holds the email's domain verified (directly or through a parent
/// that includes subdomains), in the caller's connection.
pub async fn holders_of_email(
    conn: &mut db::Conn,
    email: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let Some(d) = crate::domain::domain_name::email_domain(email) else {
        return Ok(Vec::new());
    };
    db::domains::verified_holders(conn, d.as_str(), &parent_names(&d)).await
}

pub(crate) fn parent_names(d: &DomainName) -> Vec<String> {
    d.parents()
        .into_iter()
        .map(|p| p.as_str().to_owned())
        .collect()
}

/// True when another organization holds `name` verified, directly or through a parent that
/// includes subdomains.
/// Whether a unique violation on inserting a claim is the one-verified-owner index (PostgreSQL
/// names it; SQLite names its one column), not this organization's own listing of the domain.
fn verified_by_another(e: &sqlx::Error) -> bool {
    let m = e.to_string();
    m.contains("domains_one_verified_owner")
        || (m.contains("domains.domain") && !m.contains("domains.organization_id"))
}

async fn verified_elsewhere(
    conn: &mut db::Conn,
    organization_id: &str,
    name: &DomainName,
) -> Result<bool, sqlx::Error> {
    Ok(
        db::domains::verified_holders(conn, name.as_str(), &parent_names(name))
            .await?
            .iter()
            .any(|o| o != organization_id),
    )
}

/// Checks every claim that is due (pending polls and verified re-proofs). Returns how many were
/// checked. Safe to run on several nodes at once: each claim is leased before it is checked.
pub async fn run_due_checks(state: &AppState) -> Result<usize, AppError> {
    let now = state.clock.now();
    let due = {
        let mut conn = state.db.pool.acquire().await?;
        db::domains::due(&mut conn, now, 100).await?
    };
    let mut checked = 0;
    for db::domains::DueCheck {
        id,
        organization_id: org,
        next_check_at: next,
    } in due
    {
        let leased = {
            let mut conn = state.db.pool.acquire().await?;
            db::domains::lease(&mut conn, &org, &id, next, now + 5 * 60_000).await?
        };
        if !leased {
            continue;
        }
        let row = {
            let mut conn = state.db.pool.acquire().await?;
            db::domains::get(&mut conn, &org, &id).await?
        };
        let Some(row) = row else { continue };
        let answer = state.dns.txt(&row.record_name).await;
        match apply(
            state,
            &Actor::system(),
            &RequestContext::default(),
            row,
            &answer,
        )
        .await
        {
            Ok(_) | Err(AppError::Conflict { .. }) => checked += 1,
            Err(e) => tracing::warn!(domain_id = %id, error = %e, "domain check failed"),
        }
    }
    Ok(checked)
}
