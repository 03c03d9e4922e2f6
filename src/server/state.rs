//! The one application state shared by `main`, the tests and every handler.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use super::clock::Clock;
use super::config::Config;
use super::crypto::SecretBox;
use super::db::Db;
use super::dns::DnsChecker;
use super::http::ratelimit::RateLimiter;
use super::outbound::Outbound;

/// Shared state: one allocation, so that a clone (axum and Leptos take several per request)
/// is one reference count.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct Shared {
    pub db: Db,
    pub config: Arc<Config>,
    pub clock: Clock,
    pub leptos_options: LeptosOptions,
    pub limiter: Arc<RateLimiter>,
    pub dns: DnsChecker,
    pub outbound: Outbound,
    pub secrets: SecretBox,
    pub oidc_cache: Arc<super::oidc::MetadataCache>,
    /// Writes the SCIM request log in batches (one commit for many requests).
    pub scim_log: super::service::scim::LogSink,
    /// PostgreSQL: writes concurrent SCIM user creates in one transaction (`None` on SQLite).
    pub scim_creates: Option<super::service::scim::CreateBatcher>,
    /// SCIM bearer tokens verified a moment ago (see `service::scim::TokenCache`).
    pub scim_tokens: Arc<super::service::scim::TokenCache>,
    /// Directory traffic and size counts computed a moment ago (see
    /// `service::directories::CountsCache`).
    pub directory_counts: Arc<super::service::directories::CountsCache>,
    /// Sends mail (SMTP, or `.eml` files when `LANYARD_SMTP_URL` is unset).
    pub mailer: super::mail::Mailer,
    /// Wakes the mail worker when mail is queued.
    pub mail_kick: Arc<tokio::sync::Notify>,
    /// The background jobs' heartbeats (`/readyz`, `/metrics`).
    pub workers: Arc<super::metrics::Workers>,
    /// Webhook deliveries this node leased and has not recorded (given back at shutdown).
    pub webhook_leases: Arc<super::service::webhooks::Leases>,
    /// Audit log export downloads in progress (reached by a signed link, without an API key):
    /// at most [`EXPORT_DOWNLOADS`] at once on a node.
    pub export_downloads: Arc<tokio::sync::Semaphore>,
}

/// How many export downloads a node streams at once.
pub const EXPORT_DOWNLOADS: usize = 2;

impl AppState {
    /// Builds the state from a connected (and migrated) database.
    ///
    /// Fails when the DNS resolver cannot be configured.
    pub fn new(db: Db, config: Config, clock: Clock) -> Result<AppState, String> {
        let leptos_options = LeptosOptions::builder()
            .output_name("lanyard")
            .site_root(config.site_root.clone())
            .site_pkg_dir("pkg")
            .build();
        // Counters recorded before the recorder exists would be lost.
        super::metrics::handle();
        let limiter = Arc::new(RateLimiter::for_db(config.rate_limits, &db));
        let dns = DnsChecker::new(&config.dns_servers)?;
        let outbound = Outbound::new(config.allow_private_network)?;
        let secrets = SecretBox::new(&config.secret_key);
        let scim_log = super::service::scim::LogSink::start(db.clone());
        let scim_creates = super::service::scim::CreateBatcher::start(&db);
        let mailer = super::mail::Mailer::new(config.smtp_url.as_deref(), &config.data_dir)?;
        Ok(AppState(Arc::new(Shared {
            scim_log,
            scim_creates,
            scim_tokens: Arc::default(),
            directory_counts: Arc::default(),
            mailer,
            mail_kick: Arc::default(),
            workers: Arc::default(),
            webhook_leases: Arc::default(),
            export_downloads: Arc::new(tokio::sync::Semaphore::new(EXPORT_DOWNLOADS)),
            db,
            config: Arc::new(config),
            clock,
            leptos_options,
            limiter,
            dns,
            outbound,
            secrets,
            oidc_cache: Arc::default(),
        })))
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> Self {
        s.leptos_options.clone()
    }
}
