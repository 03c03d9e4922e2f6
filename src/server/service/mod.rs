//! One module per capability. Each public function owns its transaction and its audit write, and
//! is the single entry used by the REST API, the portal and the command line alike.

pub mod api_keys;
pub mod audit_log;
pub mod connections;
pub mod directories;
pub mod domains;
pub mod events;
pub mod health;
pub mod invitations;
pub mod members;
pub mod organizations;
pub mod policy;
pub mod roles;
pub mod scim;
pub mod setup_links;
pub mod sso;
pub mod staff;
pub mod webhooks;

/// Page size bounds for list endpoints.
pub fn clamp_limit(limit: Option<i64>) -> i64 {
    limit.unwrap_or(20).clamp(1, 100)
}
