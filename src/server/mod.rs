//! Everything that runs only on the server.

pub mod audit;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod dns;
pub mod error;
pub mod events;
pub mod forwarded;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod oidc;
pub mod outbound;
pub mod protocol;
pub mod request_id;
pub mod service;
pub mod session;
pub mod state;
pub mod telemetry;
pub mod timefmt;
pub mod totp;
