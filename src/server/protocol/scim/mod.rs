//! SCIM 2.0 (RFC 7643/7644) pure code: filter parsing and evaluation, PATCH application, with
//! table-driven tests named after the quirks Okta and Entra send. Groundwork for directory sync
//! (issue 6): the SCIM server itself, directories and lifecycle are not built yet.

pub mod filter;
pub mod patch;
