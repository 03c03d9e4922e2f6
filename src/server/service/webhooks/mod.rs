//! Webhooks (Standard Webhooks): the vendor registers endpoints; a background worker fans every
//! event of the feed out to each enabled endpoint that wants its type and delivers it signed
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`), at least
//! once, one entity's events in order, retrying with exponential back-off and jitter for up to
//! three days. A 410 disables the endpoint; 3xx counts as a failure.

use crate::domain::webhook::EndpointKind;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::ids::WebhookEndpointId;
use crate::domain::FieldError;
use crate::server::db::webhooks::{self as q, EndpointRow};
use crate::server::db::Conn;
use crate::server::error::AppError;
use crate::server::state::AppState;

mod endpoints;
mod log_streams;
mod worker;

pub use endpoints::{create, delete, deliveries, get, list, redeliver, rotate_secret, update};
pub use log_streams::{
    create_log_stream, delete_log_stream, log_streams, test_log_stream, LogStream, NewLogStream,
    RecentDelivery, TestResult, STREAM_KINDS,
};
pub use worker::{deliver, fan_out, release_leases, work, Leases};

/// Deliveries are retried for this long after the event.
pub const RETRY_WINDOW_MS: i64 = 3 * 24 * 3600 * 1000;
/// A rotated-out secret keeps signing (as a second signature) this long.
pub const SECRET_OVERLAP_MS: i64 = 24 * 3600 * 1000;
/// How long one attempt holds its lease: three times the 10 s HTTP timeout. A node killed
/// mid-attempt leaves its lease behind; another node (or the restarted one) retries after it.
const LEASE_MS: i64 = 30 * 1000;

/// An endpoint as the API shows it (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookEndpoint {
    /// `we_…`
    pub id: String,
    pub url: String,
    /// Event types it receives (`dsync.*` matches a prefix); null for all.
    pub events: Option<Vec<String>>,
    pub enabled: bool,
    /// Why it was disabled (a 410 from the receiver), if it was.
    pub disabled_reason: Option<String>,
    /// While set, deliveries carry a second signature made with the previous secret
    /// (`standard` only: a `workos` endpoint is signed with the current secret alone).
    pub previous_secret_expires_at: Option<i64>,
    /// `standard` or `workos`.
    pub format: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An endpoint with its secret: only in the answers to create and rotate.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// `whsec_…` (Standard Webhooks format).
    pub secret: String,
}

/// `POST /webhook_endpoints`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    pub url: String,
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// `standard` (the default: Standard Webhooks signatures, Lanyard's event shapes) or
    /// `workos` (WorkOS's `WorkOS-Signature` and event names and shapes, for code that
    /// verifies webhooks with a WorkOS SDK; `events` then lists WorkOS names). Fixed once made.
    #[serde(default)]
    pub format: Option<String>,
}

/// `PATCH /webhook_endpoints/{id}`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    pub url: Option<String>,
    /// An empty list or null means all events.
    #[serde(default)]
    pub events: Option<Option<Vec<String>>>,
    /// Re-enable after a 410 (missed events are delivered then) or pause.
    pub enabled: Option<bool>,
}

/// One attempt.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    pub attempted_at: i64,
    pub status: Option<i64>,
    pub latency_ms: i64,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    /// `whd_…`
    pub id: String,
    pub endpoint_id: String,
    pub event_id: String,
    pub event_cursor: i64,
    /// pending | succeeded | failed | discarded
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    pub attempt_log: Vec<Attempt>,
}

fn view(r: &EndpointRow, now: i64) -> WebhookEndpoint {
    WebhookEndpoint {
        id: r.id.clone(),
        url: r.url.clone(),
        events: r
            .events
            .as_deref()
            .and_then(|e| serde_json::from_str(e).ok()),
        enabled: r.enabled,
        disabled_reason: r.disabled_reason.clone(),
        previous_secret_expires_at: r.prev_secret_expires_at.filter(|t| *t > now),
        format: if EndpointKind::parse(&r.kind) == Some(EndpointKind::Workos) {
            "workos".into()
        } else {
            "standard".into()
        },
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

fn new_webhook_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

fn seal(state: &AppState, id: &str, secret: &str) -> String {
    state
        .secrets
        .seal(secret, &format!("webhook_endpoints:{id}"))
}

fn open(state: &AppState, id: &str, sealed: &str) -> Option<String> {
    state
        .secrets
        .open(sealed, &format!("webhook_endpoints:{id}"))
}

/// The Standard Webhooks signature of one message with one secret: `v1,<base64>`.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{msg_id}.{timestamp}.{body}").as_bytes());
    Some(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    ))
}

fn check_events(events: Option<Vec<String>>) -> Result<Option<String>, FieldError> {
    let Some(list) = events.filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    if list.len() > 100 {
        return Err(FieldError::new("events", "at most 100 event types"));
    }
    for t in &list {
        let body = t.strip_suffix(".*").unwrap_or(t);
        let ok = !body.is_empty()
            && body.len() <= 100
            && body
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_');
        if !ok {
            return Err(FieldError::new(
                "events",
                format!("'{t}' is not an event type; use names like dsync.user.deactivated, or a prefix like dsync.*"),
            ));
        }
    }
    Ok(Some(serde_json::to_string(&list).unwrap_or_default()))
}

/// An endpoint's event filter as stored (a JSON list; null for all events).
fn event_filter(events: Option<&str>) -> Option<Vec<String>> {
    events.and_then(|e| serde_json::from_str(e).ok())
}

fn wants(filter: Option<&[String]>, kind: &str) -> bool {
    let Some(list) = filter else {
        return true;
    };
    list.iter().any(|t| match t.strip_suffix(".*") {
        Some(prefix) => kind.starts_with(prefix) && kind[prefix.len()..].starts_with('.'),
        None => t == kind,
    })
}

/// The URL as an endpoint would store it (checked and normalised).
pub fn normalized_url(state: &AppState, raw: &str) -> Result<String, FieldError> {
    check_url(state, raw)
}

fn check_url(state: &AppState, raw: &str) -> Result<String, FieldError> {
    state
        .outbound
        .check_url(raw.trim())
        .map(|u| u.to_string())
        .map_err(|e| FieldError::new("url", e.to_string()))
}

/// A vendor webhook endpoint (log streams are reached through their organization).
async fn endpoint(conn: &mut Conn, id: &WebhookEndpointId) -> Result<EndpointRow, AppError> {
    scoped_endpoint(conn, id, None).await
}

async fn scoped_endpoint(
    conn: &mut Conn,
    id: &WebhookEndpointId,
    organization_id: Option<&str>,
) -> Result<EndpointRow, AppError> {
    q::get_endpoint(conn, id)
        .await?
        .filter(|e| e.organization_id.as_deref() == organization_id)
        .ok_or(AppError::NotFound("webhook endpoint"))
}

/// What one attempt came to.
struct Outcome {
    status: Option<i64>,
    latency_ms: i64,
    excerpt: Option<String>,
    error: Option<String>,
}

impl Outcome {
    /// No answer: `error` says why.
    fn failed(started: std::time::Instant, error: String) -> Outcome {
        Outcome {
            status: None,
            latency_ms: started.elapsed().as_millis() as i64,
            excerpt: None,
            error: Some(error),
        }
    }
}

/// An endpoint ready to send: its secrets and credential opened once for many events.
struct Sender {
    ep: EndpointRow,
    /// The current secret, then the previous one while a rotation's overlap lasts.
    secrets: Vec<String>,
    credential: Option<String>,
}

impl Sender {
    fn new(state: &AppState, ep: EndpointRow) -> Sender {
        let now = state.clock.now();
        let previous = ep
            .prev_secret_enc
            .as_ref()
            .filter(|_| ep.prev_secret_expires_at.is_some_and(|t| t > now));
        let secrets = std::iter::once(&ep.secret_enc)
            .chain(previous)
            .filter_map(|sealed| open(state, &ep.id, sealed))
            .collect();
        let credential = ep
            .credential_enc
            .as_deref()
            .and_then(|c| open(state, &ep.id, c));
        Sender {
            ep,
            secrets,
            credential,
        }
    }

    /// Sends one event in the endpoint's format.
    async fn send(&self, state: &AppState, ev: &crate::server::events::Event) -> Outcome {
        let started = std::time::Instant::now();
        let ep = &self.ep;
        if EndpointKind::parse(&ep.kind) == Some(EndpointKind::Workos) {
            return self.send_workos(state, ev, started).await;
        }
        let body = json!({
            "id": ev.id,
            "type": ev.kind,
            "created_at": ev.created_at,
            "organization_id": ev.organization_id,
            "cursor": ev.cursor,
            "entity": ev.entity,
            "data": ev.data,
        })
        .to_string();
        // Receivers compare the timestamp with their own clock (replay window): real time, not
        // the scheduling clock (which tests move forward).
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let credential = self.credential.clone();
        // What the vendor's product reported is told apart in the SIEM's own fields too.
        let vendor = ev.kind.starts_with(crate::server::audit::VENDOR_PREFIX);
        let (body, auth) = match EndpointKind::parse(&ep.kind) {
            Some(EndpointKind::SplunkHec) => (
                json!({ "time": ts, "source": "lanyard", "sourcetype": if vendor { "lanyard:vendor_audit" } else { "lanyard:audit" }, "event": serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default() }).to_string(),
                credential.map(|c| ("authorization", format!("Splunk {c}"))),
            ),
            Some(EndpointKind::Datadog) => (
                json!([{ "ddsource": "lanyard", "service": "lanyard", "ddtags": format!("event_type:{},source:{}", ev.kind, if vendor { "vendor" } else { "lanyard" }), "message": body }]).to_string(),
                credential.map(|c| ("dd-api-key", c)),
            ),
            _ => (body, None),
        };
        let mut req = http::Request::post(&ep.url)
            .header("content-type", "application/json")
            .header("webhook-id", &ev.id)
            .header("webhook-timestamp", ts.to_string());
        // Every format is signed over the exact body sent (Standard Webhooks headers).
        let sigs: Vec<String> = self
            .secrets
            .iter()
            .filter_map(|secret| sign(secret, &ev.id, ts, &body))
            .collect();
        if sigs.is_empty() {
            return Outcome::failed(
                started,
                "the endpoint's secret cannot be read (was LANYARD_SECRET_KEY changed?); rotate it"
                    .into(),
            );
        }
        req = req.header("webhook-signature", sigs.join(" "));
        if let Some((k, v)) = auth {
            req = req.header(k, v);
        }
        let req = match req.body(body.into_bytes()) {
            Ok(r) => r,
            Err(_) => return Outcome::failed(started, format!("{} is not a valid URL", ep.url)),
        };
        execute(state, req, started).await
    }
}

/// Sends one event to one endpoint in the endpoint's format (a log stream's test button).
impl Sender {
    /// Sends one event as WorkOS does: its WorkOS form, signed `WorkOS-Signature: t=<ms>,
    /// v1=<hex HMAC-SHA256 over "t.body", keyed with the secret's text>`. One signature only
    /// (the SDKs read one `v1`): while a rotated-out secret overlaps, the new one signs.
    async fn send_workos(
        &self,
        state: &AppState,
        ev: &crate::server::events::Event,
        started: std::time::Instant,
    ) -> Outcome {
        let Some(body) = crate::server::http::workos::events::render_one(ev) else {
            return Outcome::failed(
                started,
                format!(
                    "{} has no WorkOS form; it is not sent to WorkOS-format endpoints",
                    ev.kind
                ),
            );
        };
        let Some(secret) = self.secrets.first() else {
            return Outcome::failed(
                started,
                "the endpoint's secret cannot be read (was LANYARD_SECRET_KEY changed?); rotate it"
                    .into(),
            );
        };
        // A fresh time on every attempt: the SDKs refuse a signature older than 180 s.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        let req = http::Request::post(&self.ep.url)
            .header("content-type", "application/json")
            .header("webhook-id", &ev.id)
            .header("workos-signature", workos_signature(secret, t, &body))
            .body(body.into_bytes());
        let req = match req {
            Ok(r) => r,
            Err(_) => {
                return Outcome::failed(started, format!("{} is not a valid URL", self.ep.url))
            }
        };
        execute(state, req, started).await
    }
}

/// Sends one attempt and records how it went.
async fn execute(
    state: &AppState,
    req: http::Request<Vec<u8>>,
    started: std::time::Instant,
) -> Outcome {
    match state.outbound.execute(req).await {
        Ok(resp) => {
            let text = String::from_utf8_lossy(resp.body());
            Outcome {
                status: Some(i64::from(resp.status().as_u16())),
                latency_ms: started.elapsed().as_millis() as i64,
                excerpt: Some(text.chars().take(500).collect()),
                error: None,
            }
        }
        Err(e) => Outcome::failed(started, e.to_string()),
    }
}

/// WorkOS's webhook signature header for a body sent at `t_ms`.
pub fn workos_signature(secret: &str, t_ms: i64, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(format!("{t_ms}.{body}").as_bytes());
    format!("t={t_ms}, v1={}", hex::encode(mac.finalize().into_bytes()))
}

async fn send(state: &AppState, ep: &EndpointRow, ev: &crate::server::events::Event) -> Outcome {
    Sender::new(state, ep.clone()).send(state, ev).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event_type::EventType;

    #[test]
    fn workos_signature_is_hex_hmac_of_time_and_body_keyed_with_the_secret_text() {
        // Python: hmac.new(b'whsec_test', b'1700000000000.{"a":1}', hashlib.sha256).hexdigest()
        assert_eq!(
            workos_signature("whsec_test", 1_700_000_000_000, r#"{"a":1}"#),
            "t=1700000000000, v1=33284ebef248a1f463f81384bfb39351b857cb4897c654b820611536fa084f1e"
        );
    }

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example from the Standard Webhooks specification (signature scheme section).
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(
            sig.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn event_filters_match_exact_types_and_prefixes() {
        let f = event_filter(Some(r#"["dsync.*","membership.role_changed"]"#));
        let f = f.as_deref();
        assert!(f.is_some());
        assert!(wants(f, EventType::DsyncUserCreated.as_str()));
        assert!(wants(f, EventType::MembershipRoleChanged.as_str()));
        assert!(!wants(f, EventType::MembershipCreated.as_str()));
        assert!(!wants(f, "dsyncx.user"));
        assert!(wants(None, "anything"));
        assert!(check_events(Some(vec!["Bad Type".into()])).is_err());
        assert_eq!(check_events(Some(vec![])).unwrap(), None);
    }
}
