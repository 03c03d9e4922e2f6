//! SCIM 2.0 (RFC 7643/7644) pure code: filter parsing and evaluation, PATCH application,
//! resource validation and rendering, with table-driven tests named after the quirks Okta and
//! Entra send. The server (`http/scim.rs`) and the lifecycle (`service/directories/`) use it.

pub mod filter;
pub mod patch;
pub mod resource;
