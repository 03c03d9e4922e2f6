//! Drift: where the organization's members and invitations disagree with its directory, its
//! domains and its own rules, each finding with what to do.

use serde::{Deserialize, Serialize};

use crate::domain::health::DriftKind;
use crate::domain::membership::GrantKind;
use crate::server::db::{health as q, Conn};
use crate::server::error::AppError;

use super::{days_ago, when, DAY_MS};

/// One drift finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DriftFinding {
    /// deactivated_in_directory | absent_from_directory | joined_outside_directory |
    /// role_from_departed_group | domain_lapsed | domain_owned_elsewhere | inactive |
    /// invitation_past_expiry
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub membership_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// What is wrong and what to do, in words.
    pub detail: String,
}

/// `GET /organizations/{id}/drift`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DriftReport {
    pub data: Vec<DriftFinding>,
    pub computed_at: i64,
}

fn s<'a>(v: &'a serde_json::Value, k: &str) -> &'a str {
    v.get(k).and_then(|x| x.as_str()).unwrap_or("")
}

/// Computes the drift report of one organization. Directory findings ask the very gate that
/// admits sign-ins and invitations (`directories::gate`), so the report and enforcement cannot
/// disagree about who an authoritative directory lets in.
pub(super) async fn compute_drift(
    conn: &mut Conn,
    organization_id: &str,
    now: i64,
    inactive_days: i64,
) -> Result<Vec<DriftFinding>, AppError> {
    let mut out = Vec::new();
    let members = q::active_members(conn, organization_id).await?;
    let facts = DriftFacts::load(conn, organization_id).await?;
    let mut domain_cache: std::collections::HashMap<String, Option<String>> =
        std::collections::HashMap::new();
    let mut owner_cache: std::collections::HashMap<String, bool> = std::collections::HashMap::new();

    for m in &members {
        if !facts.authoritative.is_empty() {
            directory_findings(&facts, m, &mut out);
        }
        domain_owned_elsewhere_finding(conn, organization_id, m, &mut owner_cache, &mut out)
            .await?;
        if let Some((group, name)) = facts.departed.get(&m.id) {
            let what = match name {
                Some(n) => format!("directory group {n}, which they have left"),
                None => format!("directory group {group}, which no longer exists"),
            };
            out.push(member_finding(
                m,
                DriftKind::RoleFromDepartedGroup,
                format!("{} holds role {} through {what}: the next directory push should change it; if it doesn't, check the group mapping", m.email, m.role),
            ));
        }
        domain_lapsed_finding(
            conn,
            organization_id,
            &facts,
            m,
            &mut domain_cache,
            &mut out,
        )
        .await?;
        inactive_finding(m, now, inactive_days, &mut out);
    }
    for q::OverdueInvitation {
        id,
        email,
        expires_at,
    } in q::overdue_invitations(conn, organization_id, now).await?
    {
        out.push(DriftFinding {
            kind: DriftKind::InvitationPastExpiry.as_str().into(),
            membership_id: None,
            invitation_id: Some(id),
            email: Some(email.clone()),
            detail: format!("The invitation to {email} expired on {} but is still pending: it will be marked expired by the next sweep; its link already refuses", when(expires_at)),
        });
    }
    Ok(out)
}

/// What the drift report reads once per organization, before looking at each member.
struct DriftFacts {
    /// Membership id → the kind and detail of the grant that made them a member.
    origins: std::collections::HashMap<String, (String, serde_json::Value)>,
    authoritative: Vec<q::AuthoritativeDirectory>,
    /// The authoritative directories' names, for the findings' words.
    dir_names: String,
    /// The rows the sign-in gate reads.
    index: crate::server::service::directories::AuthoritativeIndex,
    /// Membership id → the departed group (id, name) their role still comes from.
    departed: std::collections::HashMap<String, (String, Option<String>)>,
}

impl DriftFacts {
    async fn load(conn: &mut Conn, organization_id: &str) -> Result<Self, AppError> {
        let origins: std::collections::HashMap<String, (String, serde_json::Value)> =
            q::origin_grants(conn, organization_id)
                .await?
                .into_iter()
                .map(|g| {
                    let detail = serde_json::from_str(&g.detail).unwrap_or_default();
                    (g.membership_id, (g.kind, detail))
                })
                .collect();
        let authoritative = q::authoritative_directories(conn, organization_id).await?;
        let dir_names = authoritative
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        // The rows the sign-in gate reads, loaded once; the verdict is the gate's own function.
        let index = crate::server::service::directories::AuthoritativeIndex::new(
            if authoritative.is_empty() {
                Vec::new()
            } else {
                q::authoritative_flags(conn, organization_id).await?
            },
        );
        let departed: std::collections::HashMap<String, (String, Option<String>)> =
            q::departed_group_roles(conn, organization_id)
                .await?
                .into_iter()
                .map(|d| (d.membership_id, (d.group_id, d.group_name)))
                .collect();
        Ok(DriftFacts {
            origins,
            authoritative,
            dir_names,
            index,
            departed,
        })
    }
}

/// A finding about member `m`.
fn member_finding(m: &q::ActiveMember, kind: DriftKind, detail: String) -> DriftFinding {
    DriftFinding {
        kind: kind.as_str().into(),
        membership_id: Some(m.id.clone()),
        invitation_id: None,
        email: Some(m.email.clone()),
        detail,
    }
}

/// With an authoritative directory: whether the gate would keep `m` out, and whether they
/// joined around the directory since it became authoritative.
fn directory_findings(facts: &DriftFacts, m: &q::ActiveMember, out: &mut Vec<DriftFinding>) {
    let dir_names = &facts.dir_names;
    match crate::server::service::directories::gate_verdict(&facts.index.flags(Some(&m.user_id), &m.email)) {
        Some(crate::domain::sign_in::GateRefusal::Deprovisioned) => out.push(member_finding(
            m,
            DriftKind::DeactivatedInDirectory,
            format!("{} is active here with role {} but deactivated in the authoritative directory ({dir_names}): suspend or remove them, or reactivate them in the IdP", m.email, m.role),
        )),
        Some(_) => out.push(member_finding(
            m,
            DriftKind::AbsentFromDirectory,
            format!("{} is active here with role {} but the authoritative directory ({dir_names}) does not provision them: assign them in the IdP or remove them", m.email, m.role),
        )),
        None => {}
    }
    if let Some((kind, detail)) = facts.origins.get(&m.id) {
        let outside = GrantKind::parse(kind).is_some_and(GrantKind::outside_directory);
        let since = facts
            .authoritative
            .iter()
            .filter_map(|d| d.authoritative_since)
            .min();
        if outside && m.directory_id.is_none() && since.is_some_and(|t| m.created_at >= t) {
            let how = if kind == GrantKind::Invitation {
                format!("an invitation from {}", s(detail, "inviter_name"))
            } else {
                format!("JIT sign-in through {}", s(detail, "connection_name"))
            };
            out.push(member_finding(
                m,
                DriftKind::JoinedOutsideDirectory,
                format!("{} joined on {} through {how} while the directory ({dir_names}) was authoritative, not through the directory", m.email, when(m.created_at)),
            ));
        }
    }
}

/// Another organization verified this member's domain: the address belongs to its people (a
/// directory no longer grants access here; invitations and JIT never did).
async fn domain_owned_elsewhere_finding(
    conn: &mut Conn,
    organization_id: &str,
    m: &q::ActiveMember,
    owner_cache: &mut std::collections::HashMap<String, bool>,
    out: &mut Vec<DriftFinding>,
) -> Result<(), AppError> {
    if let Some(d) = crate::domain::domain_name::email_domain(&m.email) {
        let d = d.as_str().to_owned();
        if !owner_cache.contains_key(&d) {
            let elsewhere = crate::server::service::directories::domain_owned_elsewhere(
                conn,
                organization_id,
                &m.email,
            )
            .await?;
            owner_cache.insert(d.clone(), elsewhere);
        }
        if owner_cache.get(&d).copied().unwrap_or(false) {
            out.push(member_finding(
                m,
                DriftKind::DomainOwnedElsewhere,
                format!("{} is active here with role {} but {d} is verified by another organization: check that this person belongs to this organization, then suspend or remove them", m.email, m.role),
            ));
        }
    }
    Ok(())
}

/// A JIT member whose domain the organization no longer verifies.
async fn domain_lapsed_finding(
    conn: &mut Conn,
    organization_id: &str,
    facts: &DriftFacts,
    m: &q::ActiveMember,
    domain_cache: &mut std::collections::HashMap<String, Option<String>>,
    out: &mut Vec<DriftFinding>,
) -> Result<(), AppError> {
    if let Some((kind, detail)) = facts.origins.get(&m.id) {
        if matches!(
            GrantKind::parse(kind),
            Some(GrantKind::Jit | GrantKind::JitLink)
        ) {
            let domain = s(detail, "domain");
            if !domain.is_empty() {
                if !domain_cache.contains_key(domain) {
                    let v = lapsed_state(conn, organization_id, domain).await?;
                    domain_cache.insert(domain.to_owned(), v);
                }
                if let Some(now_is) = domain_cache.get(domain).cloned().flatten() {
                    out.push(member_finding(
                        m,
                        DriftKind::DomainLapsed,
                        format!("{} was provisioned by JIT through the domain {domain}, which is {now_is}: re-verify the domain or review their access", m.email),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A member with no sign-in for `inactive_days`.
fn inactive_finding(
    m: &q::ActiveMember,
    now: i64,
    inactive_days: i64,
    out: &mut Vec<DriftFinding>,
) {
    let seen = m.last_sign_in_at.unwrap_or(m.created_at);
    if now - seen >= inactive_days * DAY_MS {
        let what = match m.last_sign_in_at {
            Some(t) => format!("last signed in on {}", when(t)),
            None => format!("has never signed in (member since {})", when(m.created_at)),
        };
        out.push(member_finding(
            m,
            DriftKind::Inactive,
            format!(
                "{} {what}: no sign-in for {} days",
                m.email,
                days_ago(now, seen)
            ),
        ));
    }
}

/// None when the organization still verifies `domain` (itself, or a parent covering
/// subdomains — the rule JIT applies); otherwise what became of it, in words.
async fn lapsed_state(
    conn: &mut Conn,
    organization_id: &str,
    domain: &str,
) -> Result<Option<String>, AppError> {
    let Some(name) = crate::domain::domain_name::DomainName::parse(domain).ok() else {
        return Ok(Some("no longer a valid domain".into()));
    };
    let holders =
        crate::server::service::domains::holders_of_email(conn, &format!("x@{}", name.as_str()))
            .await?;
    if holders.first().map(String::as_str) == Some(organization_id) {
        return Ok(None);
    }
    let mut names = vec![name.as_str().to_owned()];
    names.extend(name.parents().into_iter().map(|p| p.as_str().to_owned()));
    let rows = q::domain_rows(conn, organization_id, &names).await?;
    Ok(Some(match rows.first() {
        Some(q::DomainNameState {
            domain: d,
            state: st,
        }) if *d == names[0] => format!("now {st}"),
        Some(q::DomainNameState {
            domain: d,
            state: st,
        }) => {
            format!("no longer covered ({d} is {st})")
        }
        None if !holders.is_empty() => "now verified by another organization".into(),
        None => "no longer one of this organization's domains".into(),
    }))
}

/// The drift report as CSV (for the console's export), formula-looking cells neutralised.
pub fn drift_csv(report: &DriftReport) -> String {
    let cell = |v: &str| {
        let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{v}")
        } else {
            v.to_owned()
        };
        format!("\"{}\"", v.replace('"', "\"\""))
    };
    let mut out = String::from("kind,membership_id,invitation_id,email,detail\n");
    for f in &report.data {
        out.push_str(
            &[
                cell(&f.kind),
                cell(f.membership_id.as_deref().unwrap_or("")),
                cell(f.invitation_id.as_deref().unwrap_or("")),
                cell(f.email.as_deref().unwrap_or("")),
                cell(&f.detail),
            ]
            .join(","),
        );
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_neutralises_formulas() {
        let r = DriftReport {
            computed_at: 0,
            data: vec![DriftFinding {
                kind: "inactive".into(),
                membership_id: Some("om_1".into()),
                invitation_id: None,
                email: Some("=cmd@x.test".into()),
                detail: "say \"hi\"".into(),
            }],
        };
        let csv = drift_csv(&r);
        assert!(csv.contains("\"'=cmd@x.test\""), "{csv}");
        assert!(csv.contains("\"say \"\"hi\"\"\""), "{csv}");
    }
}
