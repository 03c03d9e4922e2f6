//! SSO connections in the portal (intent `sso`).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::PortalError;

/// The newest test sign-in of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestResult {
    pub ok: bool,
    pub at: String,
    /// On failure: the reason code and the evidence.
    pub reason: Option<String>,
    pub message: Option<String>,
    /// On success: the normalized profile.
    pub subject: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub groups: Vec<String>,
    /// On success: every claim the IdP sent, pretty-printed.
    pub raw_claims: Option<String>,
}

/// A connection as the portal shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionInfo {
    pub id: String,
    pub name: String,
    pub idp: String,
    pub state: String,
    pub issuer: String,
    pub client_id: String,
    pub last_test: Option<TestResult>,
}

/// The SSO page's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoPage {
    pub redirect_uri: String,
    pub connections: Vec<ConnectionInfo>,
}

#[cfg(feature = "ssr")]
async fn caller() -> Result<super::ctx::Caller, PortalError> {
    let c = super::ctx::caller().await?;
    c.require(crate::domain::intent::Intent::Sso, "single sign-on")?;
    Ok(c)
}

/// The organization's connections with their last test.
#[server(prefix = "/portal/api", endpoint = "sso")]
pub async fn portal_sso() -> Result<SsoPage, PortalError> {
    use crate::server::clock::rfc3339;
    use crate::server::service::{connections, sso};
    let c = caller().await?;
    let org = &c.grant.organization_id;
    let mut out = Vec::new();
    for conn in connections::list(&c.state, org).await? {
        let last_test = sso::last_test(&c.state, org, &conn.id)
            .await?
            .map(|(ok, ev, at)| {
                let s = |k: &str| ev.get(k).and_then(|v| v.as_str()).map(str::to_owned);
                TestResult {
                    ok,
                    at: rfc3339(at),
                    reason: if ok { None } else { s("reason") },
                    message: if ok { None } else { s("message") },
                    subject: if ok { s("subject") } else { None },
                    email: if ok { s("email") } else { None },
                    name: if ok {
                        Some(
                            format!(
                                "{} {}",
                                s("first_name").unwrap_or_default(),
                                s("last_name").unwrap_or_default()
                            )
                            .trim()
                            .to_owned(),
                        )
                    } else {
                        None
                    },
                    groups: ev
                        .get("groups")
                        .and_then(|g| g.as_array())
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                    raw_claims: if ok {
                        ev.get("raw")
                            .and_then(|r| serde_json::to_string_pretty(r).ok())
                    } else {
                        None
                    },
                }
            });
        out.push(ConnectionInfo {
            issuer: conn
                .oidc
                .as_ref()
                .map(|o| o.issuer.clone())
                .unwrap_or_default(),
            client_id: conn
                .oidc
                .as_ref()
                .map(|o| o.client_id.clone())
                .unwrap_or_default(),
            id: conn.id,
            name: conn.name,
            idp: conn.idp,
            state: conn.state,
            last_test,
        });
    }
    Ok(SsoPage {
        redirect_uri: connections::callback_url(&c.state),
        connections: out,
    })
}

/// Creates a draft OIDC connection.
#[server(prefix = "/portal/api", endpoint = "create_connection")]
pub async fn create_connection(
    idp: String,
    name: String,
    issuer: String,
    client_id: String,
    client_secret: String,
) -> Result<String, PortalError> {
    use crate::server::service::connections::{self, CreateConnection, OidcInput};
    let c = caller().await?;
    let input = CreateConnection {
        kind: "oidc".into(),
        name,
        idp: Some(idp),
        oidc: Some(OidcInput {
            issuer,
            client_id,
            client_secret,
        }),
        saml: None,
        attribute_mapping: None,
    };
    Ok(connections::create(
        &c.state,
        &c.actor(),
        &c.ctx,
        &c.grant.organization_id,
        input,
    )
    .await?
    .id)
}

/// Activates (after a successful test) or deactivates a connection.
#[server(prefix = "/portal/api", endpoint = "set_connection_state")]
pub async fn set_connection_state(id: String, state: String) -> Result<(), PortalError> {
    use crate::server::service::connections::{self, UpdateConnection};
    let c = caller().await?;
    let input = UpdateConnection {
        state: Some(state),
        ..Default::default()
    };
    connections::update(
        &c.state,
        &c.actor(),
        &c.ctx,
        &c.grant.organization_id,
        &id,
        input,
        true,
    )
    .await?;
    Ok(())
}

/// Changes a connection's settings; an empty secret keeps the stored one. New settings need a
/// new successful test before activation.
#[server(prefix = "/portal/api", endpoint = "update_connection")]
pub async fn update_connection(
    id: String,
    name: String,
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
) -> Result<(), PortalError> {
    use crate::server::service::connections::{self, OidcPatch, UpdateConnection};
    let c = caller().await?;
    let input = UpdateConnection {
        name: Some(name),
        state: None,
        oidc: Some(OidcPatch {
            issuer: Some(issuer),
            client_id: Some(client_id),
            client_secret: client_secret.filter(|s| !s.is_empty()),
        }),
        ..Default::default()
    };
    connections::update(
        &c.state,
        &c.actor(),
        &c.ctx,
        &c.grant.organization_id,
        &id,
        input,
        true,
    )
    .await?;
    Ok(())
}

/// Removes a connection.
#[server(prefix = "/portal/api", endpoint = "delete_connection")]
pub async fn delete_connection(id: String) -> Result<(), PortalError> {
    use crate::server::service::connections;
    let c = caller().await?;
    connections::delete(&c.state, &c.actor(), &c.ctx, &c.grant.organization_id, &id).await?;
    Ok(())
}
