//! Log streams in the portal (intent `log_streams`): the customer's admin streams their
//! organization's audit events to their SIEM (generic JSON, Splunk HEC, Datadog Logs), tests the
//! stream and watches its deliveries.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::PortalError;

/// One stream as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamLine {
    pub id: String,
    pub name: String,
    pub kind_label: String,
    pub url: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// "delivered", "retrying (3 attempts): HTTP 500", …, newest first.
    pub recent: Vec<String>,
    /// The result of the last Test on this stream, shown once.
    pub test_result: Option<(bool, String)>,
}

/// The page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamsPage {
    pub streams: Vec<StreamLine>,
    /// (kind, label)
    pub kinds: Vec<(String, String)>,
}

#[cfg(feature = "ssr")]
async fn caller() -> Result<super::ctx::Caller, PortalError> {
    let c = super::ctx::caller().await?;
    c.require(crate::domain::intent::Intent::LogStreams, "log streams")?;
    Ok(c)
}

#[cfg(feature = "ssr")]
const TEST_FLASH: &str = "log_streams.test";

/// The page data.
#[server(prefix = "/portal/api", endpoint = "log_streams")]
pub async fn portal_log_streams() -> Result<StreamsPage, PortalError> {
    use crate::domain::webhook::DeliveryState;
    use crate::server::service::webhooks::{self, STREAM_KINDS};
    let c = caller().await?;
    let test: Option<(String, bool, String)> = super::directories::flash::take(TEST_FLASH).await;
    let label = |k: &str| {
        STREAM_KINDS
            .iter()
            .find(|(x, _)| *x == k)
            .map(|(_, l)| (*l).to_owned())
            .unwrap_or_else(|| k.to_owned())
    };
    let streams = webhooks::log_streams(&c.state, &c.grant.organization_id)
        .await?
        .into_iter()
        .map(|s| StreamLine {
            test_result: test
                .as_ref()
                .filter(|(id, _, _)| *id == s.id)
                .map(|(_, ok, m)| (*ok, m.clone())),
            kind_label: label(&s.kind),
            recent: s
                .recent
                .iter()
                .map(|d| (d.event_cursor, &d.state, d.attempts, &d.last_error))
                .map(
                    |(cursor, st, attempts, err)| match DeliveryState::parse(st) {
                        Some(DeliveryState::Succeeded) => format!("event {cursor}: delivered"),
                        Some(DeliveryState::Pending) if attempts == 0 => {
                            format!("event {cursor}: queued")
                        }
                        Some(DeliveryState::Pending) => format!(
                            "event {cursor}: retrying ({attempts} attempts){}",
                            err.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
                        ),
                        _ => format!(
                            "event {cursor}: {st}{}",
                            err.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
                        ),
                    },
                )
                .collect(),
            id: s.id,
            name: s.name,
            url: s.url,
            enabled: s.enabled,
            disabled_reason: s.disabled_reason,
        })
        .collect();
    Ok(StreamsPage {
        streams,
        kinds: STREAM_KINDS
            .iter()
            .map(|(k, l)| ((*k).to_owned(), (*l).to_owned()))
            .collect(),
    })
}

/// Adds a stream.
#[server(prefix = "/portal/api", endpoint = "create_log_stream")]
pub async fn create_log_stream(
    kind: String,
    name: String,
    url: String,
    credential: String,
) -> Result<(), PortalError> {
    let c = caller().await?;
    crate::server::service::webhooks::create_log_stream(
        &c.state,
        &c.actor(),
        &c.ctx,
        &c.grant.organization_id,
        crate::server::service::webhooks::NewLogStream {
            kind: &kind,
            name: &name,
            url: &url,
            credential: &credential,
        },
    )
    .await?;
    Ok(())
}

/// Sends a test event; the result shows on the next render (also without JavaScript).
#[server(prefix = "/portal/api", endpoint = "test_log_stream")]
pub async fn test_log_stream(id: String) -> Result<(), PortalError> {
    let c = caller().await?;
    let (ok, message) = crate::server::service::webhooks::test_log_stream(
        &c.state,
        &c.actor(),
        &c.ctx,
        &c.grant.organization_id,
        &crate::server::error::parse_id(&id)?,
    )
    .await?;
    super::directories::flash::put(TEST_FLASH, &(id, ok, message)).await
}

/// Removes a stream.
#[server(prefix = "/portal/api", endpoint = "delete_log_stream")]
pub async fn delete_log_stream(id: String) -> Result<(), PortalError> {
    let c = caller().await?;
    crate::server::service::webhooks::delete_log_stream(
        &c.state,
        &c.actor(),
        &c.ctx,
        &c.grant.organization_id,
        &crate::server::error::parse_id(&id)?,
    )
    .await?;
    Ok(())
}
