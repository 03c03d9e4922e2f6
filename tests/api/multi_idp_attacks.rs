//! Attacks on "several IdPs per organization" found by the outside review (issue 20), kept as
//! regression tests: each asserts the secure behaviour and failed before its fix.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::oidc::{active_connection, setup, sign_in};
use crate::helpers::{exchange, invite, param, verified_domain, Dialect, TestApp, VENDOR_CB};
use crate::op::TestOp;

/// An organization with these verified domains and one active OIDC connection ("A", serving
/// every domain for now): (app, OP, organization, A).
async fn globex(d: Dialect, domains: &[&str]) -> (TestApp, TestOp, String, String) {
    let (app, op) = setup(d).await;
    let org = app.create_org("Globex").await;
    for domain in domains {
        verified_domain(&app, &org, domain).await;
    }
    let a = active_connection(&app, &op, &org).await;
    (app, op, org, a)
}

async fn limit(app: &TestApp, conn: &str, domains: Value) {
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/connections/{conn}"),
            Some(json!({ "domains": domains })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

/// A sign-in through `conn` of the OP's subject `sub-bo` asserting `email`: Lanyard's redirect
/// to the vendor.
async fn bo_through(app: &TestApp, op: &TestOp, conn: &str, email: &str) -> url::Url {
    op.next_account(json!({"sub": "sub-bo", "email": email, "email_verified": true}))
        .await;
    sign_in(app, op, &format!("connection={conn}")).await
}

/// A returning identity of a b.test person on connection A (made before A was limited) does
/// not sign in through A once A is limited to a.test, whatever address A's IdP asserts for it
/// now (another domain, no domain, an a.test address): the person's own address counts too.
async fn a_returning_identity_of_another_domain_stays_out(d: Dialect) {
    let (app, op, _org, a) = globex(d, &["a.test", "b.test"]).await;
    // Bo (b.test) signs in through A while A serves every domain: JIT, identity (A, sub-bo).
    let back = bo_through(&app, &op, &a, "bo@b.test").await;
    let bo = exchange(&app, &param(&back, "code").unwrap()).await.json();
    let bo_id = bo["profile"]["id"].as_str().unwrap().to_owned();
    // The admin limits A to a.test: b.test people must go through their own IdP now.
    limit(&app, &a, json!(["a.test"])).await;
    let back = bo_through(&app, &op, &a, "bo@b.test").await;
    assert_eq!(
        param(&back, "error").as_deref(),
        Some("access_denied"),
        "{back}"
    );
    // A's IdP now asserts another address for the same subject.
    let mut admitted = Vec::new();
    for email in ["bo@personal.example", "bo", "bo@a.test", "bo@b.test@a.test"] {
        if let Some(code) = param(&bo_through(&app, &op, &a, email).await, "code") {
            let p = exchange(&app, &code).await.json();
            admitted.push(format!("{email:?} -> user {}", p["profile"]["id"]));
        }
    }
    assert!(
        admitted.is_empty(),
        "through A (limited to a.test) Bo ({bo_id}, b.test) was admitted with: {admitted:?}"
    );
}

/// An address with two `@` is refused, not judged by its last domain: `x@b.test@a.test` would
/// join a.test's organization by JIT while a product splitting at the first `@` reads b.test.
async fn an_address_with_two_ats_is_refused(d: Dialect) {
    let (app, op, org, a) = globex(d, &["a.test"]).await;
    let back = bo_through(&app, &op, &a, "x@b.test@a.test").await;
    assert_eq!(
        param(&back, "error").as_deref(),
        Some("access_denied"),
        "{back}"
    );
    let f = app
        .last_audit_event(&org, "authentication.failed")
        .await
        .unwrap();
    assert_eq!(f["metadata"]["reason"], "invalid_email", "{f}");
    assert!(!app
        .audit_actions(&org)
        .await
        .contains(&"membership.created".to_owned()));
}

/// b.test lapsing does not reopen A (limited to a.test) to the returning b.test identity: the
/// limit counts every domain the organization claims.
async fn a_lapsed_domain_does_not_reopen_a_limited_connection(d: Dialect) {
    let (app, op, org, a) = globex(d, &["a.test", "b.test"]).await;
    let back = bo_through(&app, &op, &a, "bo@b.test").await;
    assert!(param(&back, "code").is_some(), "{back}");
    limit(&app, &a, json!(["a.test"])).await;
    sqlx::query(
        "UPDATE domains SET state = 'lapsed' WHERE organization_id = $1 AND domain = 'b.test'",
    )
    .bind(&org)
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    let back = bo_through(&app, &op, &a, "bo@b.test").await;
    assert!(
        param(&back, "code").is_none(),
        "b.test lapsed, A limited to a.test admits bo@b.test: {back}"
    );
}

/// The default policy requires SSO for every verified domain. When the only active connection
/// is limited to a.test, a b.test invitee cannot accept by the emailed link alone: acceptance
/// waits until a connection serves b.test, and the page says so.
async fn an_invitee_of_an_unserved_domain_waits_for_sso(d: Dialect) {
    let (app, _op, org, a) = globex(d, &["a.test", "b.test"]).await;
    // Entra B exists for b.test but is not active (draft, or switched off during an incident).
    limit(&app, &a, json!(["a.test"])).await;
    let r = invite(&app, &org, "eve@b.test", json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let url = r.json()["accept_url"].as_str().unwrap().to_owned();
    let path = url["http://127.0.0.1:3000".len()..].to_owned();
    let r = app.browser_post(&path, "", None).await;
    let loc = r.header("location").unwrap_or_default();
    assert!(
        !loc.starts_with(VENDOR_CB),
        "eve@b.test joined by the emailed link alone; went to {loc}"
    );
    assert!(
        r.text()
            .contains("no active SSO connection signs in people of b.test"),
        "{}",
        r.text()
    );
    // The control points say it too.
    let points = lanyard::server::service::policy::control_points(&app.state, &org)
        .await
        .unwrap();
    let text = serde_json::to_string(&points).unwrap();
    assert!(
        text.contains("@b.test: no active connection serves it"),
        "{text}"
    );
}

/// The public chooser names the connections, not the organization's other domains (an
/// acquisition may not be announced).
async fn the_chooser_names_no_other_domain(d: Dialect) {
    let (app, op, org, a) = globex(d, &["a.test", "secret-acquisition.test"]).await;
    let b = active_connection(&app, &op, &org).await;
    limit(&app, &a, json!(["a.test", "secret-acquisition.test"])).await;
    limit(&app, &b, json!(["a.test"])).await;
    let r = app
        .browser_get(
            &format!("/sso/authorize?login_hint=x@a.test&redirect_uri={VENDOR_CB}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("Choose how to sign in"), "{}", r.text());
    assert!(
        !r.text().contains("secret-acquisition.test"),
        "the unauthenticated chooser names another domain of the organization"
    );
}

/// Lanyard's OpenID Provider shows an organization's IdP chooser only to a client enabled for
/// that organization: another client is refused without learning the organization's IdPs.
async fn the_oauth_chooser_is_only_for_clients_of_the_organization(d: Dialect) {
    let (app, op, org, a) = globex(d, &["a.test"]).await;
    active_connection(&app, &op, &org).await;
    let other = app.create_org("Initech").await;
    let cb = "https://app.example/callback";
    let client = |allowed: Value| {
        let app = &app;
        async move {
            let r = app
                .api(
                    Method::POST,
                    "/api/v1/oauth_clients",
                    Some(json!({"name": "App", "redirect_uris": [cb], "allowed_organizations": allowed})),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
            r.json()["client_id"].as_str().unwrap().to_owned()
        }
    };
    let authorize = |client_id: String| {
        let app = &app;
        let org = org.clone();
        async move {
            app.browser_get(
                &format!("/oauth2/authorize?client_id={client_id}&redirect_uri={cb}&response_type=code&scope=openid&state=st&nonce=n&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&organization={org}"),
                None,
            )
            .await
        }
    };
    let enabled = authorize(client(json!([org])).await).await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.text());
    assert!(
        enabled.text().contains("Choose how to sign in"),
        "{}",
        enabled.text()
    );
    let r = authorize(client(json!([other])).await).await;
    let text = r.text();
    assert!(
        !text.contains("Choose how to sign in") && !text.contains(&a),
        "{text}"
    );
    let to = r.header("location").unwrap_or_default();
    assert!(
        to.starts_with(cb) && to.contains("error=access_denied"),
        "{} {to} {text}",
        r.status
    );
}

crate::both_databases!(
    the_oauth_chooser_is_only_for_clients_of_the_organization,
    an_address_with_two_ats_is_refused,
    a_returning_identity_of_another_domain_stays_out,
    a_lapsed_domain_does_not_reopen_a_limited_connection,
    an_invitee_of_an_unserved_domain_waits_for_sso,
    the_chooser_names_no_other_domain,
);
