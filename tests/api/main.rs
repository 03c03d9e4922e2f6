//! Integration tests: one binary, the real router, real SQLite and PostgreSQL.

mod dns_server;
mod helpers;
mod op;
mod saml_idp;

mod api_auth;
mod audit_export;
mod audit_trail;
mod cli;
mod console;
mod cross_tenant;
mod domains;
mod durability;
mod events;
mod health;
mod idempotency;
mod invitation_limits;
mod list_limits;
mod mail;
mod members;
mod migrations;
mod openapi;
mod organizations;
mod policy;
mod portal;
mod portal_queries;
mod probe;
mod rest_bad_input;
mod saml;
mod saml_vectors;
mod scim;
mod security;
mod setup_links;
mod sso;
mod staff;
mod webhooks;
