//! Integration tests: one binary, the real router, real SQLite and PostgreSQL.

mod helpers;

mod api_auth;
mod audit_trail;
mod cli;
mod openapi;
mod organizations;
mod portal;
mod security;
mod setup_links;
