//! Portal server functions.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::PortalError;
use crate::domain::intent::Intent;

/// One step of the portal's overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub intent: Intent,
    pub title: String,
    /// `done`, `in_progress`, `not_started` or `coming_soon`.
    pub status: String,
    pub detail: String,
    pub href: Option<String>,
}

/// What the overview page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    pub organization_id: String,
    pub organization_name: String,
    pub vendor_name: String,
    pub logo_url: Option<String>,
    pub return_url: Option<String>,
    pub steps: Vec<Step>,
}

/// One line of the Activity page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityItem {
    pub id: String,
    pub sequence: i64,
    pub action: String,
    pub summary: String,
    pub actor: String,
    pub occurred_at: String,
    pub targets: String,
}

/// A page of activity, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityPage {
    pub organization_name: String,
    pub items: Vec<ActivityItem>,
    /// Pass as `before` for older events.
    pub older: Option<i64>,
}

/// The organization's overview: its name and the steps the session's intents allow.
#[server(prefix = "/portal/api", endpoint = "overview")]
pub async fn portal_overview() -> Result<Overview, PortalError> {
    use crate::server::service::setup_links;
    let super::ctx::Request { state, session, .. } = super::ctx::request().await?;
    // The grant check of every portal call (`ctx::caller`), in two halves: the session's age
    // here, the organization's existence in the same statement as every count the steps show
    // (one read instead of two: issue 17).
    let unconfirmed = setup_links::fresh_session_grant(&state, &session)
        .await?
        .ok_or(PortalError::SignedOut)?;
    let counts =
        crate::server::service::organizations::setup_counts(&state, &unconfirmed.org()).await?;
    let (Some(grant), Some(organization_name)) = (
        unconfirmed.confirm(counts.live_organization()),
        counts.live_name().map(str::to_owned),
    ) else {
        setup_links::end_session(&session).await?;
        return Err(PortalError::SignedOut);
    };
    let directories = if grant.intents.contains(&Intent::Dsync) {
        crate::server::service::directories::summary(&state, &counts).await?
    } else {
        Default::default()
    };
    let steps = Intent::ALL
        .into_iter()
        .filter(|i| grant.intents.contains(i))
        .map(|i| overview_step(i, &counts, &directories))
        .collect();
    let b = &state.config.branding;
    Ok(Overview {
        organization_id: grant.organization_id.clone(),
        organization_name,
        vendor_name: b.vendor_name.clone(),
        logo_url: b.logo_url.clone(),
        return_url: grant.return_url.clone(),
        steps,
    })
}

/// One overview step for intent `i`, from what the organization has configured.
#[cfg(feature = "ssr")]
fn overview_step(
    i: Intent,
    counts: &crate::server::db::organizations::SetupCounts,
    directories: &crate::server::service::directories::Summary,
) -> Step {
    match i {
        Intent::DomainVerification => domains_step(i, &counts.domains),
        Intent::Sso => sso_step(i, &counts.connections),
        Intent::Dsync => dsync_step(i, directories),
        Intent::Invitations => Step {
            intent: i,
            title: "Members and invitations".into(),
            status: "available".into(),
            detail: "See who has access and why, change roles, suspend or remove people, and invite colleagues by email.".into(),
            href: Some("/portal/members".into()),
        },
        Intent::LogStreams => Step {
            intent: i,
            title: i.title().into(),
            status: "available".into(),
            detail: "Stream your organization's activity to your SIEM (Splunk, Datadog or any HTTPS endpoint).".into(),
            href: Some("/portal/log-streams".into()),
        },
        Intent::AuditLogs => Step {
            intent: i,
            title: i.title().into(),
            status: "available".into(),
            detail:
                "See every change made to your organization's setup, with who made it and when."
                    .into(),
            href: Some("/portal/activity".into()),
        },
    }
}

/// The domain verification step: how many domains are verified, waiting or failing.
#[cfg(feature = "ssr")]
fn domains_step(i: Intent, domains: &[(String, i64)]) -> Step {
    use crate::domain::domain_state::DomainState;
    let domain_count = |wanted: &[DomainState]| {
        domains
            .iter()
            .filter(|(state, _)| DomainState::parse(state).is_some_and(|s| wanted.contains(&s)))
            .map(|(_, n)| *n)
            .sum::<i64>()
    };
    let verified = domain_count(&[DomainState::Verified]);
    let waiting = domain_count(&[DomainState::Pending]);
    let attention = domain_count(&[DomainState::Lapsed, DomainState::Failed]);
    Step {
        intent: i,
        title: i.title().into(),
        status: if attention > 0 {
            "attention"
        } else if verified > 0 {
            "done"
        } else if waiting > 0 {
            "in_progress"
        } else {
            "not_started"
        }
        .into(),
        detail: match (verified, waiting, attention) {
            (0, 0, 0) => "Prove that your organization controls its email domains by publishing a DNS record.".into(),
            (v, w, a) => format!("{v} verified, {w} waiting for their DNS record, {a} needing attention."),
        },
        href: Some("/portal/domains".into()),
    }
}

/// The SSO step: whether a connection is active.
#[cfg(feature = "ssr")]
fn sso_step(i: Intent, connections: &[(String, i64)]) -> Step {
    use crate::domain::connection::ConnectionState;
    let total: i64 = connections.iter().map(|(_, n)| *n).sum();
    let active: i64 = connections
        .iter()
        .filter(|(state, _)| ConnectionState::parse(state) == Some(ConnectionState::Active))
        .map(|(_, n)| *n)
        .sum();
    Step {
        intent: i,
        title: i.title().into(),
        status: if active > 0 {
            "done"
        } else if total == 0 {
            "not_started"
        } else {
            "in_progress"
        }
        .into(),
        detail: if total == 0 {
            "Connect your identity provider (Okta, Entra ID, Google or any OpenID Connect provider).".into()
        } else {
            format!(
                "{}, {active} active.",
                crate::domain::text::count(total, "connection", "connections"),
            )
        },
        href: Some("/portal/sso".into()),
    }
}

/// The directory sync step: people synced and recent failures.
#[cfg(feature = "ssr")]
fn dsync_step(i: Intent, directories: &crate::server::service::directories::Summary) -> Step {
    let (synced, failing) = (directories.users, directories.failing);
    Step {
        intent: i,
        title: i.title().into(),
        status: if directories.directories == 0 {
            "not_started"
        } else if failing {
            "attention"
        } else if synced > 0 {
            "done"
        } else {
            "in_progress"
        }
        .into(),
        detail: if directories.directories == 0 {
            "Connect your directory (Okta, Entra ID, OneLogin, JumpCloud or any SCIM 2.0 client) so joiners, movers and leavers update access automatically.".into()
        } else {
            format!(
                "{}, {} synced{}.",
                crate::domain::text::count(directories.directories, "directory", "directories"),
                crate::domain::text::count(synced, "person", "people"),
                if failing {
                    ", requests failed in the last 24 hours"
                } else {
                    ""
                }
            )
        },
        href: Some("/portal/directories".into()),
    }
}

/// The organization's audit events, newest first; `before` pages to older ones, `q` filters by
/// action or actor.
#[server(prefix = "/portal/api", endpoint = "activity")]
pub async fn portal_activity(
    before: Option<i64>,
    q: Option<String>,
    action: Option<String>,
    actor: Option<String>,
    target: Option<String>,
    from: Option<String>,
    to: Option<String>,
) -> Result<ActivityPage, PortalError> {
    use crate::server::service::audit_log;
    let c = super::ctx::caller().await?;
    if !c.grant.intents.contains(&Intent::AuditLogs) {
        return Err(PortalError::NotInScope("Activity".into()));
    }
    // Its name, as the grant check read it on this request.
    let organization_name = c.organization.name.clone();
    const PAGE: i64 = 50;
    let filter = audit_log::FilterParams {
        action,
        actor,
        target,
        from,
        to,
    }
    .to_filter()
    .map_err(|f| PortalError::Invalid {
        field: f.field.to_owned(),
        message: f.message,
    })?;
    let events = audit_log::recent_filtered(
        &c.state,
        &c.organization.id,
        before.unwrap_or(0),
        &filter,
        PAGE + 1,
    )
    .await?;
    let needle = q.unwrap_or_default().trim().to_lowercase();
    let more = events.len() as i64 > PAGE;
    let shown: Vec<_> = events.into_iter().take(PAGE as usize).collect();
    let older = if more {
        shown.last().map(|e| e.sequence)
    } else {
        None
    };
    let items = shown
        .into_iter()
        .map(|e| {
            let actor = format!(
                "{} ({})",
                e.actor.get("name").and_then(|v| v.as_str()).unwrap_or("?"),
                e.actor.get("type").and_then(|v| v.as_str()).unwrap_or("?")
            );
            let targets = e
                .targets
                .as_array()
                .map(|ts| {
                    ts.iter()
                        .map(|t| {
                            let kind = t.get("type").and_then(|v| v.as_str()).unwrap_or("");
                            let id = t.get("id").and_then(|v| v.as_str()).unwrap_or("");
                            match t.get("name").and_then(|v| v.as_str()) {
                                Some(n) => format!("{kind} {n} ({id})"),
                                None => format!("{kind} {id}"),
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            ActivityItem {
                id: e.id,
                sequence: e.sequence,
                summary: crate::domain::event_type::describe_action(&e.action),
                action: e.action,
                actor,
                occurred_at: e.occurred_at,
                targets,
            }
        })
        .filter(|i| {
            needle.is_empty()
                || i.action.to_lowercase().contains(&needle)
                || i.actor.to_lowercase().contains(&needle)
                || i.summary.to_lowercase().contains(&needle)
        })
        .collect();
    Ok(ActivityPage {
        organization_name,
        items,
        older,
    })
}
