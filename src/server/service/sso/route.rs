//! Which of an organization's connections a sign-in goes through. Each connection may be limited
//! to some of the organization's verified domains (`domains`; absent: all of them). A sign-in
//! that names the organization goes through the connection bound to the person's domain (from
//! `login_hint` or `domain_hint`), else the only active one, else the person chooses.

use crate::domain::connection::ConnectionState;
use crate::domain::domain_name::DomainName;
use crate::domain::domain_state::DomainState;
use crate::domain::ids::OrgId;
use crate::server::db::{self, connections::ConnectionRow, Conn};

/// Where a sign-in for an organization goes.
#[derive(Debug, Clone)]
pub(crate) enum Route {
    /// Through this connection.
    One(Box<ConnectionRow>),
    /// The person chooses among these (sorted by name).
    Choose(Vec<ConnectionRow>),
    /// The person's domain is a verified domain of the organization that no active connection
    /// serves.
    Unserved(String),
    /// The organization has no active connection.
    NoneActive,
}

/// The organization's verified claim that covers `domain`: the domain itself, or its nearest
/// parent verified with subdomains included. Pending, failed and lapsed claims cover nothing.
pub(crate) fn claim_for(domain: &DomainName, claims: &[db::domains::DomainRow]) -> Option<String> {
    covering(domain, claims, true)
}

/// The organization's claim that covers `domain` in any state (pending, failed or lapsed too):
/// a connection's domain limit counts every domain the organization claims, so that a lapsing
/// claim makes the limit stricter, never looser.
pub(crate) fn claim_for_any(
    domain: &DomainName,
    claims: &[db::domains::DomainRow],
) -> Option<String> {
    covering(domain, claims, false)
}

fn covering(
    domain: &DomainName,
    claims: &[db::domains::DomainRow],
    only_verified: bool,
) -> Option<String> {
    let verified = |name: &str, parent: bool| {
        claims.iter().any(|c| {
            c.domain == name
                && (!only_verified || c.state == DomainState::Verified)
                && (!parent || c.include_subdomains)
        })
    };
    if verified(domain.as_str(), false) {
        return Some(domain.as_str().to_owned());
    }
    domain
        .parents()
        .into_iter()
        .find(|p| verified(p.as_str(), true))
        .map(|p| p.as_str().to_owned())
}

/// [`claim_for`] read from the database.
pub(crate) async fn covering_claim(
    conn: &mut Conn,
    org: &str,
    domain: &DomainName,
) -> Result<Option<String>, sqlx::Error> {
    Ok(claim_for(domain, &db::domains::list(conn, org).await?))
}

/// The organization's active connections that may sign in people of its claim `claim`.
pub(crate) async fn serving(
    conn: &mut Conn,
    org: &OrgId,
    claim: &str,
) -> Result<Vec<ConnectionRow>, sqlx::Error> {
    Ok(db::connections::list_connections(conn, org.as_str())
        .await?
        .into_iter()
        .filter(|c| c.state == ConnectionState::Active && c.serves(claim))
        .collect())
}

/// The domain a `login_hint` (an email address) or a `domain_hint` names.
pub(crate) fn hint_domain(
    login_hint: Option<&str>,
    domain_hint: Option<&str>,
) -> Option<DomainName> {
    login_hint
        .filter(|h| !h.trim().is_empty())
        .and_then(crate::domain::domain_name::email_domain)
        .or_else(|| {
            domain_hint
                .filter(|h| !h.trim().is_empty())
                .and_then(|d| DomainName::parse(d).ok())
        })
}

/// Routes a sign-in for `org`, for a person of domain `hint` when known. A connection bound to
/// the hint's claim wins over one that serves every domain; a domain that is not the
/// organization's (a guest's) leaves the choice to the person, and admission decides.
pub(crate) async fn route(
    conn: &mut Conn,
    org: &OrgId,
    hint: Option<&DomainName>,
) -> Result<Route, sqlx::Error> {
    let mut active: Vec<ConnectionRow> = db::connections::list_connections(conn, org.as_str())
        .await?
        .into_iter()
        .filter(|c| c.state == ConnectionState::Active)
        .collect();
    active.sort_by_key(|c| c.name.to_lowercase());
    if active.is_empty() {
        return Ok(Route::NoneActive);
    }
    let claim = match hint {
        Some(h) => covering_claim(conn, org.as_str(), h).await?,
        None => None,
    };
    let Some(claim) = claim else {
        return Ok(pick(active));
    };
    let (bound, open): (Vec<_>, Vec<_>) = active
        .into_iter()
        .filter(|c| c.serves(&claim))
        .partition(|c| c.served_domains().is_some());
    Ok(match (bound.is_empty(), open.is_empty()) {
        (false, _) => pick(bound),
        (true, false) => pick(open),
        (true, true) => Route::Unserved(claim),
    })
}

fn pick(mut candidates: Vec<ConnectionRow>) -> Route {
    match candidates.len() {
        0 => Route::NoneActive,
        1 => Route::One(Box::new(candidates.remove(0))),
        _ => Route::Choose(candidates),
    }
}

/// What a chooser shows of a connection beside its name: the kind of IdP and protocol. Not the
/// domains it serves: the chooser is public, and an organization's domains (an acquisition not
/// yet announced) are not.
pub(crate) fn chooser_detail(c: &ConnectionRow) -> String {
    let protocol = if c.kind == crate::domain::connection::ConnectionKind::Saml {
        "SAML"
    } else {
        "OpenID Connect"
    };
    format!(
        "{} · {protocol}",
        crate::domain::connection::idp_label(&c.idp)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(domain: &str, state: DomainState, subdomains: bool) -> db::domains::DomainRow {
        db::domains::DomainRow {
            id: "dom_1".into(),
            organization_id: "org_1".into(),
            domain: domain.into(),
            state: state.as_str().into(),
            include_subdomains: subdomains,
            record_name: String::new(),
            record_value: String::new(),
            verified_by: None,
            verified_at: None,
            last_proved_at: None,
            last_checked_at: None,
            last_result: None,
            missing_since: None,
            check_failures: 0,
            next_check_at: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn the_covering_claim_is_exact_or_a_parent_that_includes_subdomains() {
        let d = |s: &str| DomainName::parse(s).unwrap();
        let claims = vec![
            claim("a.test", DomainState::Verified, false),
            claim("b.test", DomainState::Verified, true),
            claim("c.test", DomainState::Lapsed, true),
        ];
        assert_eq!(claim_for(&d("a.test"), &claims).as_deref(), Some("a.test"));
        // a.test does not include its subdomains.
        assert_eq!(claim_for(&d("eu.a.test"), &claims), None);
        assert_eq!(
            claim_for(&d("eu.b.test"), &claims).as_deref(),
            Some("b.test")
        );
        // A lapsed claim covers nothing, except for a connection's domain limit.
        assert_eq!(claim_for(&d("c.test"), &claims), None);
        assert_eq!(claim_for(&d("x.c.test"), &claims), None);
        assert_eq!(
            claim_for_any(&d("x.c.test"), &claims).as_deref(),
            Some("c.test")
        );
        assert_eq!(claim_for_any(&d("eu.a.test"), &claims), None);
    }

    #[test]
    fn hints_name_a_domain() {
        assert_eq!(
            hint_domain(Some("Dana@B.test"), None).map(|d| d.as_str().to_owned()),
            Some("b.test".into())
        );
        assert_eq!(
            hint_domain(None, Some("b.test")).map(|d| d.as_str().to_owned()),
            Some("b.test".into())
        );
        assert_eq!(
            hint_domain(Some(" "), Some("a.test")).map(|d| d.as_str().to_owned()),
            Some("a.test".into())
        );
        assert!(hint_domain(None, Some("not a domain")).is_none());
    }
}
