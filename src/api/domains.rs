//! Domain verification in the portal (intent `domain_verification`).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::PortalError;

/// A domain claim as the portal shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainInfo {
    pub id: String,
    pub domain: String,
    pub state: String,
    pub include_subdomains: bool,
    pub record_name: String,
    pub record_value: String,
    pub verified_by: Option<String>,
    pub last_proved_at: Option<String>,
    pub last_checked_at: Option<String>,
    pub last_message: Option<String>,
    pub found: Vec<String>,
    pub missing_since: Option<String>,
    /// Members who joined through this domain (shown before removal).
    pub members_provisioned: i64,
}

#[cfg(feature = "ssr")]
impl From<crate::server::service::domains::Domain> for DomainInfo {
    fn from(d: crate::server::service::domains::Domain) -> Self {
        let (last_message, found) = match d.last_check {
            Some(c) => (Some(c.message), c.found),
            None => (None, Vec::new()),
        };
        DomainInfo {
            id: d.id,
            domain: d.domain,
            state: d.state,
            include_subdomains: d.include_subdomains,
            record_name: d.verification.record_name,
            record_value: d.verification.record_value,
            verified_by: d.verified_by,
            last_proved_at: d.last_proved_at,
            last_checked_at: d.last_checked_at,
            last_message,
            found,
            missing_since: d.missing_since,
            members_provisioned: 0,
        }
    }
}

#[cfg(feature = "ssr")]
async fn caller() -> Result<super::ctx::Caller, PortalError> {
    let c = super::ctx::caller().await?;
    c.require(
        crate::domain::intent::Intent::DomainVerification,
        "domain verification",
    )?;
    Ok(c)
}

/// The organization's domains.
#[server(prefix = "/portal/api", endpoint = "domains")]
pub async fn portal_domains() -> Result<Vec<DomainInfo>, PortalError> {
    use crate::server::service::domains;
    let c = caller().await?;
    let org = &c.grant.org();
    let mut out = Vec::new();
    for d in domains::list(&c.state, org).await? {
        let impact = domains::removal_impact(
            &c.state,
            org,
            &crate::domain::ids::DomainId::from_stored(d.id.as_str()),
        )
        .await?;
        let mut info = DomainInfo::from(d);
        info.members_provisioned = impact.members_provisioned;
        out.push(info);
    }
    Ok(out)
}

/// Adds a domain to verify.
#[server(prefix = "/portal/api", endpoint = "add_domain")]
pub async fn add_domain(
    domain: String,
    include_subdomains: Option<String>,
) -> Result<DomainInfo, PortalError> {
    use crate::server::service::domains::{self, CreateDomain};
    let c = caller().await?;
    let input = CreateDomain {
        domain,
        verified: None,
        include_subdomains: Some(include_subdomains.is_some()),
    };
    Ok(
        domains::add(&c.state, &c.actor(), &c.ctx, &c.grant.org(), input, false)
            .await?
            .into(),
    )
}

/// Checks a domain's TXT record now.
#[server(prefix = "/portal/api", endpoint = "check_domain")]
pub async fn check_domain(id: String) -> Result<DomainInfo, PortalError> {
    use crate::server::service::domains;
    let c = caller().await?;
    Ok(domains::check(
        &c.state,
        &c.actor(),
        &c.ctx,
        &c.grant.org(),
        &crate::server::error::parse_id(&id)?,
    )
    .await?
    .into())
}

/// Removes a domain.
#[server(prefix = "/portal/api", endpoint = "remove_domain")]
pub async fn remove_domain(id: String) -> Result<(), PortalError> {
    use crate::server::service::domains;
    let c = caller().await?;
    domains::remove(
        &c.state,
        &c.actor(),
        &c.ctx,
        &c.grant.org(),
        &crate::server::error::parse_id(&id)?,
    )
    .await?;
    Ok(())
}
