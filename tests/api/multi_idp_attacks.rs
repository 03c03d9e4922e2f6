//! Attacks on "several IdPs per organization" found by the outside review (issue 20), kept as
//! regression tests: each asserts the secure behaviour and failed before its fix.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::oidc::{active_connection, setup, sign_in};
use crate::helpers::{exchange, invite, param, verified_domain, Dialect, TestApp, VENDOR_CB};

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

/// A returning identity of a b.test person on connection A (made before A was limited) does
/// not sign in through A once A is limited to a.test, whatever address A's IdP asserts for it
/// now (another domain, no domain, an a.test address): the person's own address counts too.
async fn returning_identity_of_other_domain_bypasses_the_limit(d: Dialect) {
    let (app, op) = setup(d).await;
    let org = app.create_org("Globex").await;
    verified_domain(&app, &org, "a.test").await;
    verified_domain(&app, &org, "b.test").await;
    let a = active_connection(&app, &op, &org).await; // "Okta A", unlimited for now
                                                      // Bo (b.test) signs in through A while A serves every domain: JIT, identity (A, sub-bo).
    op.next_account(json!({"sub": "sub-bo", "email": "bo@b.test", "email_verified": true}))
        .await;
    let back = sign_in(&app, &op, &format!("connection={a}")).await;
    let bo = exchange(&app, &param(&back, "code").unwrap()).await.json();
    let bo_id = bo["profile"]["id"].as_str().unwrap().to_owned();
    // The admin limits A to a.test: b.test people must go through their own IdP now.
    limit(&app, &a, json!(["a.test"])).await;
    // Sanity: Bo with his b.test address is refused (domain_not_served).
    op.next_account(json!({"sub": "sub-bo", "email": "bo@b.test", "email_verified": true}))
        .await;
    let back = sign_in(&app, &op, &format!("connection={a}")).await;
    assert_eq!(
        param(&back, "error").as_deref(),
        Some("access_denied"),
        "{back}"
    );

    // A's IdP now asserts another address for the same subject.
    let mut admitted = Vec::new();
    for email in ["bo@personal.example", "bo", "bo@a.test", "bo@b.test@a.test"] {
        op.next_account(json!({"sub": "sub-bo", "email": email, "email_verified": true}))
            .await;
        let back = sign_in(&app, &op, &format!("connection={a}")).await;
        if let Some(code) = param(&back, "code") {
            let p = exchange(&app, &code).await.json();
            admitted.push(format!(
                "{email:?} -> user {} ({})",
                p["profile"]["id"], p["membership"]["role"]
            ));
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
    let (app, op) = setup(d).await;
    let org = app.create_org("Globex").await;
    verified_domain(&app, &org, "a.test").await;
    let a = active_connection(&app, &op, &org).await;
    op.next_account(json!({"sub": "sub-x", "email": "x@b.test@a.test", "email_verified": true}))
        .await;
    let back = sign_in(&app, &op, &format!("connection={a}")).await;
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
async fn lapsed_domain_reopens_a_limited_connection(d: Dialect) {
    let (app, op) = setup(d).await;
    let org = app.create_org("Globex").await;
    verified_domain(&app, &org, "a.test").await;
    verified_domain(&app, &org, "b.test").await;
    let a = active_connection(&app, &op, &org).await;
    op.next_account(json!({"sub": "sub-bo", "email": "bo@b.test", "email_verified": true}))
        .await;
    let back = sign_in(&app, &op, &format!("connection={a}")).await;
    assert!(param(&back, "code").is_some(), "{back}");
    limit(&app, &a, json!(["a.test"])).await;
    sqlx::query(
        "UPDATE domains SET state = 'lapsed' WHERE organization_id = $1 AND domain = 'b.test'",
    )
    .bind(&org)
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    op.next_account(json!({"sub": "sub-bo", "email": "bo@b.test", "email_verified": true}))
        .await;
    let back = sign_in(&app, &op, &format!("connection={a}")).await;
    assert!(
        param(&back, "code").is_none(),
        "b.test lapsed, A limited to a.test admits bo@b.test: {back}"
    );
}

/// The default policy requires SSO for every verified domain. When the only active connection
/// is limited to a.test, a b.test invitee cannot accept by the emailed link alone: acceptance
/// waits until a connection serves b.test.
async fn unserved_domain_invitee_skips_required_sso(d: Dialect) {
    let (app, op) = setup(d).await;
    let org = app.create_org("Globex").await;
    verified_domain(&app, &org, "a.test").await;
    verified_domain(&app, &org, "b.test").await;
    let a = active_connection(&app, &op, &org).await;
    // Entra B exists for b.test but is not active (draft, or switched off during an incident).
    limit(&app, &a, json!(["a.test"])).await;
    let points = lanyard::server::service::policy::control_points(&app.state, &org)
        .await
        .unwrap();
    let text = serde_json::to_string(&points).unwrap();
    let r = invite(&app, &org, "eve@b.test", json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let url = r.json()["accept_url"].as_str().unwrap().to_owned();
    let path = url["http://127.0.0.1:3000".len()..].to_owned();
    let r = app.browser_post(&path, "", None).await;
    let loc = r.header("location").unwrap_or_default();
    assert!(
        !loc.starts_with(VENDOR_CB),
        "eve@b.test joined by the emailed link alone although SSO is required for every verified domain and a connection is active (control points: {text}); went to {loc}"
    );
}

/// The public chooser names the connections, not the organization's other domains (an
/// acquisition may not be announced).
async fn chooser_discloses_other_domains(d: Dialect) {
    let (app, op) = setup(d).await;
    let org = app.create_org("Globex").await;
    verified_domain(&app, &org, "a.test").await;
    verified_domain(&app, &org, "secret-acquisition.test").await;
    let a = active_connection(&app, &op, &org).await;
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
    assert!(
        !r.text().contains("secret-acquisition.test"),
        "the unauthenticated chooser names another domain of the organization"
    );
}

crate::both_databases!(
    an_address_with_two_ats_is_refused,
    returning_identity_of_other_domain_bypasses_the_limit,
    lapsed_domain_reopens_a_limited_connection,
    unserved_domain_invitee_skips_required_sso,
    chooser_discloses_other_domains,
);
