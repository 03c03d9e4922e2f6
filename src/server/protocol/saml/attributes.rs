//! Attribute mapping: which SAML attributes carry the email, names and groups. Each IdP has
//! defaults; a connection may override any of the four with one attribute name.

use serde::{Deserialize, Serialize};

use super::response::Assertion;

const ENTRA_EMAIL: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
const ENTRA_GIVEN: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname";
const ENTRA_SURNAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname";
const ENTRA_GROUPS: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups";
const ADFS_GROUPS: &str = "http://schemas.xmlsoap.org/claims/Group";
const OID_MAIL: &str = "urn:oid:0.9.2342.19200300.100.1.3";
const OID_GIVEN: &str = "urn:oid:2.5.4.42";
const OID_SN: &str = "urn:oid:2.5.4.4";

/// Per-connection overrides: one attribute name per field (empty = default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributeMapping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<String>,
}

/// The attribute names tried, in order, for each field of one IdP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DefaultNames {
    pub email: Vec<&'static str>,
    pub first_name: Vec<&'static str>,
    pub last_name: Vec<&'static str>,
    pub groups: Vec<&'static str>,
}

/// Defaults per IdP: its own names first (what its setup guide tells the admin to send), then
/// the names other IdPs use, so a connection created as "generic" still works.
pub fn defaults(idp: &str) -> DefaultNames {
    let (email, first, last, groups): (Vec<&str>, Vec<&str>, Vec<&str>, Vec<&str>) = match idp {
        "entra" | "adfs" => (
            vec![ENTRA_EMAIL],
            vec![ENTRA_GIVEN],
            vec![ENTRA_SURNAME],
            vec![ENTRA_GROUPS, ADFS_GROUPS],
        ),
        "google" => (
            vec!["email"],
            vec!["first_name", "firstName"],
            vec!["last_name", "lastName"],
            vec!["groups"],
        ),
        _ => (
            vec!["email"],
            vec!["firstName"],
            vec!["lastName"],
            vec!["groups"],
        ),
    };
    let extend = |mut v: Vec<&'static str>, more: &[&'static str]| {
        for m in more {
            if !v.contains(m) {
                v.push(m);
            }
        }
        v
    };
    DefaultNames {
        email: extend(email, &["email", "mail", "Email", ENTRA_EMAIL, OID_MAIL]),
        first_name: extend(
            first,
            &[
                "firstName",
                "first_name",
                "givenName",
                "given_name",
                ENTRA_GIVEN,
                OID_GIVEN,
            ],
        ),
        last_name: extend(
            last,
            &[
                "lastName",
                "last_name",
                "surname",
                "sn",
                "family_name",
                ENTRA_SURNAME,
                OID_SN,
            ],
        ),
        groups: extend(
            groups,
            &["groups", "Groups", "memberOf", ENTRA_GROUPS, ADFS_GROUPS],
        ),
    }
}

/// The profile fields read from an assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappedProfile {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub groups: Vec<String>,
}

fn first_value(a: &Assertion, names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| a.attributes.get(*n))
        .filter_map(|v| v.iter().find(|x| !super::trim_xml_space(x).is_empty()))
        .map(|v| super::trim_xml_space(v).to_owned())
        .next()
}

/// Applies the override (when set, only that name is read) or the IdP's defaults. The email
/// falls back to the NameID when it is an address.
pub fn map(a: &Assertion, idp: &str, overrides: &AttributeMapping) -> MappedProfile {
    let d = defaults(idp);
    let pick = |o: &Option<String>, dflt: &[&'static str]| -> Option<String> {
        match o.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(name) => first_value(a, &[name]),
            None => first_value(a, dflt),
        }
    };
    let email = pick(&overrides.email, &d.email).or_else(|| {
        let nf = a.name_id_format.as_deref().unwrap_or("");
        (nf.ends_with("emailAddress") || a.name_id.contains('@')).then(|| a.name_id.clone())
    });
    let groups = match overrides
        .groups
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(name) => a.attributes.get(name).cloned().unwrap_or_default(),
        None => d
            .groups
            .iter()
            .find_map(|n| a.attributes.get(*n).cloned())
            .unwrap_or_default(),
    };
    MappedProfile {
        email,
        first_name: pick(&overrides.first_name, &d.first_name),
        last_name: pick(&overrides.last_name, &d.last_name),
        groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn assertion(attrs: &[(&str, &[&str])], name_id: &str) -> Assertion {
        Assertion {
            id: "_a".into(),
            issuer: "i".into(),
            name_id: name_id.into(),
            name_id_format: None,
            session_index: None,
            in_response_to: None,
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect::<BTreeMap<_, _>>(),
            replay_until_ms: 0,
            signed: "assertion".into(),
            decrypted_with: None,
        }
    }

    #[test]
    fn entra_claim_uris_are_read_by_default() {
        let a = assertion(
            &[
                (ENTRA_EMAIL, &["Dana@Acme.test"]),
                (ENTRA_GIVEN, &["Dana"]),
                (ENTRA_SURNAME, &["Lee"]),
                (ENTRA_GROUPS, &["9f1c", "77ab"]),
            ],
            "opaque-id",
        );
        let p = map(&a, "entra", &AttributeMapping::default());
        assert_eq!(p.email.as_deref(), Some("Dana@Acme.test"));
        assert_eq!(p.first_name.as_deref(), Some("Dana"));
        assert_eq!(p.last_name.as_deref(), Some("Lee"));
        assert_eq!(p.groups, vec!["9f1c", "77ab"]);
    }

    #[test]
    fn okta_names_work_on_a_generic_connection_and_name_id_is_the_email_fallback() {
        let a = assertion(&[("firstName", &["Dana"])], "dana@acme.test");
        let p = map(&a, "generic", &AttributeMapping::default());
        assert_eq!(p.email.as_deref(), Some("dana@acme.test"));
        assert_eq!(p.first_name.as_deref(), Some("Dana"));
        assert!(p.groups.is_empty());
    }

    #[test]
    fn an_override_replaces_the_defaults() {
        let a = assertion(
            &[
                ("email", &["wrong@acme.test"]),
                ("work_mail", &["dana@acme.test"]),
            ],
            "x",
        );
        let o = AttributeMapping {
            email: Some("work_mail".into()),
            ..Default::default()
        };
        assert_eq!(map(&a, "okta", &o).email.as_deref(), Some("dana@acme.test"));
        let missing = AttributeMapping {
            email: Some("nope".into()),
            ..Default::default()
        };
        // The NameID is not an address, so no email at all: the sign-in will be refused.
        assert_eq!(map(&a, "okta", &missing).email, None);
    }
}
