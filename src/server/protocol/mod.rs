//! Pure protocol code: parsers and validators with an injected clock and no IO.

pub mod saml;
pub mod scim;
