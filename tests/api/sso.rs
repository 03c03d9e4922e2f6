//! OIDC sign-in against a real OpenID Provider (npm oidc-provider) and the JIT policy.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::oidc::{org_with_connection, setup, setup_with, sign_in};
use crate::helpers::{exchange, param, Dialect, TestApp, TestResponse, VENDOR_CB};
use crate::op::{TestOp, CLIENT_ID, CLIENT_SECRET};

async fn happy_path_creates_one_member_and_returns_the_profile(d: Dialect) {
    let (app, op) = setup(d).await;
    let (org, conn) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    op.next_account(json!({"sub": "okta-123", "email": "Dana@Acme.test", "given_name": "Dana", "family_name": "Lee", "groups": ["Engineering"]})).await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    assert!(back.as_str().starts_with(VENDOR_CB));
    assert_eq!(param(&back, "state").as_deref(), Some("vendor-state"));
    let code = param(&back, "code").expect("code");
    let r = exchange(&app, &code).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let j: Value = r.json();
    assert_eq!(j["profile"]["email"], "dana@acme.test");
    assert_eq!(j["profile"]["first_name"], "Dana");
    assert_eq!(j["profile"]["idp_subject"], "okta-123");
    assert_eq!(j["profile"]["organization_id"], org);
    assert_eq!(j["profile"]["connection_id"], conn);
    assert_eq!(j["profile"]["groups"], json!(["Engineering"]));
    assert_eq!(j["membership"]["role"], "member");
    // The code is single use.
    let again = exchange(&app, &code).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(again.json()["error"]["field"], "code");

    // Signing in again (email claim changed) is the same user: keyed by (connection, subject).
    op.next_account(json!({"sub": "okta-123", "email": "dana.lee@acme.test"}))
        .await;
    let back = sign_in(&app, &op, &format!("connection={conn}")).await;
    let j2 = exchange(&app, &param(&back, "code").unwrap()).await.json();
    assert_eq!(j2["profile"]["id"], j["profile"]["id"]);
    assert_eq!(j2["membership"]["id"], j["membership"]["id"]);
    let actions = app.audit_actions(&org).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "membership.created")
            .count(),
        1
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "authentication.succeeded")
            .count(),
        2
    );

    // Removing the domain would show the member who joined through it.
    let dom: String = sqlx::query_scalar("SELECT id FROM domains WHERE organization_id = $1")
        .bind(&org)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let impact = lanyard::server::service::domains::removal_impact(
        &app.state,
        &lanyard::domain::ids::OrgId::parse(&org).unwrap(),
        &lanyard::domain::ids::DomainId::parse(&dom).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(impact.members_provisioned, 1);
    // login_hint routes by verified domain.
    op.next_account(json!({"sub": "okta-456", "email": "sam@acme.test"}))
        .await;
    let back = sign_in(&app, &op, "login_hint=sam@acme.test").await;
    assert!(param(&back, "code").is_some(), "{back}");
}

async fn a_code_for_another_vendor_redirect_is_refused_without_being_spent(d: Dialect) {
    let (app, op) = setup(d).await;
    let (org, _) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    let code = param(&back, "code").unwrap();
    let token = |redirect_uri: &str| {
        app.api(
            Method::POST,
            "/api/v1/sso/token",
            Some(json!({"code": code, "redirect_uri": redirect_uri})),
        )
    };
    for _ in 0..3 {
        let r = token("https://other-vendor.example/cb").await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
        assert_eq!(r.json()["error"]["field"], "redirect_uri");
        assert!(r.text().contains("not used up"), "{}", r.text());
    }
    // Not spent by the mismatches: the right redirect redeems it, once.
    let r = token(VENDOR_CB).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["profile"]["organization_id"], org);
    let r = token(VENDOR_CB).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "code");
    // Spent, a wrong redirect does not learn anything about it either.
    let r = token("https://other-vendor.example/cb").await;
    assert_eq!(r.json()["error"]["field"], "code", "{}", r.text());
}

async fn jit_uses_the_default_role_and_a_second_connection_links_the_same_person(d: Dialect) {
    let (app, op) = setup(d).await;
    let (org, _c1) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/organizations/{org}"),
            Some(json!({"default_role": "admin"})),
        )
        .await;
    assert_eq!(r.json()["default_role"], "admin", "{}", r.text());
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/organizations/{org}"),
            Some(json!({"default_role": "owner"})),
        )
        .await;
    assert_eq!(r.json()["error"]["field"], "default_role");
    op.next_account(json!({"sub": "first-idp-sub", "email": "dana@acme.test"}))
        .await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    let first = exchange(&app, &param(&back, "code").unwrap()).await.json();
    assert_eq!(first["membership"]["role"], "admin");
    // A second connection of the same organization (same OP, another client registration).
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{org}/connections"),
            Some(json!({"type": "oidc", "name": "Second", "oidc": {"issuer": op.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}})),
        )
        .await;
    let c2 = r.json()["id"].as_str().unwrap().to_owned();
    app.api(
        Method::PATCH,
        &format!("/api/v1/connections/{c2}"),
        Some(json!({"state": "active"})),
    )
    .await;
    op.next_account(json!({"sub": "second-idp-sub", "email": "dana@acme.test"}))
        .await;
    let back = sign_in(&app, &op, &format!("connection={c2}")).await;
    let second = exchange(&app, &param(&back, "code").unwrap()).await.json();
    assert_eq!(
        second["profile"]["id"], first["profile"]["id"],
        "linked by verified email, no duplicate"
    );
    assert_eq!(second["membership"]["id"], first["membership"]["id"]);
    let kinds: Vec<String> = sqlx::query_scalar(
        "SELECT kind FROM membership_grants WHERE organization_id = $1 ORDER BY created_at, id",
    )
    .bind(&org)
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(kinds, ["jit", "jit_link"]);
}

async fn the_vendor_manages_redirect_uris_through_the_api(d: Dialect) {
    let (app, op) = setup(d).await;
    let (org, _) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    let other = "https://app2.vendor.example/sso/callback";
    let start = |uri: &str| format!("/sso/authorize?organization={org}&redirect_uri={uri}&state=s");
    assert_eq!(
        app.browser_get(&start(other), None).await.status,
        StatusCode::BAD_REQUEST
    );
    for bad in [
        "http://app2.vendor.example/cb",
        "https://x.example/cb#frag",
        "not a url",
    ] {
        let r = app
            .api(
                Method::POST,
                "/api/v1/redirect_uris",
                Some(json!({"uri": bad})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(r.json()["error"]["field"], "uri");
    }
    let r = app
        .api(
            Method::POST,
            "/api/v1/redirect_uris",
            Some(json!({"uri": other})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let list = app
        .api(Method::GET, "/api/v1/redirect_uris", None)
        .await
        .json();
    let sources: Vec<(&str, &str)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["uri"].as_str().unwrap(), e["source"].as_str().unwrap()))
        .collect();
    assert_eq!(sources, [(VENDOR_CB, "environment"), (other, "api")]);
    let r = app.browser_get(&start(other), None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.header("location").unwrap().starts_with(&op.issuer));
    let del = format!(
        "/api/v1/redirect_uris?uri={}",
        url::form_urlencoded::byte_serialize(other.as_bytes()).collect::<String>()
    );
    assert_eq!(
        app.api(Method::DELETE, &del, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.api(Method::DELETE, &del, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.browser_get(&start(other), None).await.status,
        StatusCode::BAD_REQUEST
    );
}

async fn codes_expire_after_a_minute(d: Dialect) {
    let (app, op) = setup(d).await;
    let (org, _) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    app.state.clock.advance(61_000);
    assert_eq!(
        exchange(&app, &param(&back, "code").unwrap()).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

async fn a_redirect_uri_off_the_allow_list_is_never_used(d: Dialect) {
    let (app, op) = setup(d).await;
    let (org, _) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    let r = app
        .browser_get(
            &format!(
                "/sso/authorize?organization={org}&redirect_uri=https://evil.example/cb&state=x"
            ),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.header("location").is_none());
    assert!(!r.text().contains("evil.example"));
}

async fn state_mismatch_and_replayed_callbacks_are_refused(d: Dialect) {
    let (app, op) = setup(d).await;
    let (org, _) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    let r = app
        .browser_get(
            &format!("/sso/authorize?organization={org}&redirect_uri={VENDOR_CB}&state=s"),
            None,
        )
        .await;
    let callback = op.browse_to_callback(&r.header("location").unwrap()).await;
    // A forged state.
    let forged = url::Url::parse(&format!("http://x{callback}")).unwrap();
    let code = param(&forged, "code").unwrap();
    let r = app
        .browser_get(
            &format!("/sso/oidc/callback?code={code}&state=forged-state"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("state mismatch"));
    // The real callback works once; its replay does not.
    assert_eq!(
        app.browser_get(&callback, None).await.status,
        StatusCode::SEE_OTHER
    );
    let r = app.browser_get(&callback, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

async fn a_forged_iss_parameter_is_refused(d: Dialect) {
    let (app, op) = setup(d).await;
    let (org, _) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    let r = app
        .browser_get(
            &format!("/sso/authorize?organization={org}&redirect_uri={VENDOR_CB}&state=s"),
            None,
        )
        .await;
    let callback = op.browse_to_callback(&r.header("location").unwrap()).await;
    let mut u = url::Url::parse(&format!("http://x{callback}")).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            let forged = if k == "iss" {
                "https://evil.example".to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), forged)
        })
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    let r = app
        .browser_get(&format!("{}?{}", u.path(), u.query().unwrap()), None)
        .await;
    let back = url::Url::parse(&r.header("location").unwrap()).unwrap();
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    assert!(param(&back, "error_description")
        .unwrap()
        .contains("expected issuer"));
    assert!(param(&back, "code").is_none());
}

async fn jit_is_refused_outside_verified_domains(d: Dialect) {
    let (app, op) = setup(d).await;
    let (org, _) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    for email in ["mallory@other.test", "mallory@eu.acme.test"] {
        op.next_account(json!({"sub": format!("s-{email}"), "email": email}))
            .await;
        let back = sign_in(&app, &op, &format!("organization={org}")).await;
        assert_eq!(
            param(&back, "error").as_deref(),
            Some("access_denied"),
            "{email}"
        );
        assert!(param(&back, "error_description")
            .unwrap()
            .contains("not a verified domain"));
        assert!(param(&back, "code").is_none());
    }
    let actions = app.audit_actions(&org).await;
    assert!(!actions.contains(&"membership.created".to_owned()));
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "authentication.failed")
            .count(),
        2
    );
}

/// An IdP that lets people sign up with any address (and says so with `email_verified: false`)
/// must not hand a stranger a colleague's membership: an unverified address is neither linked to
/// a member nor added by JIT. The member's own identity keeps signing in.
async fn an_unverified_idp_email_is_neither_linked_nor_added(d: Dialect) {
    let (app, op) = setup(d).await;
    let (org, _) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    op.next_account(json!({"sub": "ceo", "email": "ceo@acme.test"}))
        .await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    assert!(param(&back, "code").is_some(), "{back}");
    for (sub, email) in [("impostor", "ceo@acme.test"), ("newcomer", "new@acme.test")] {
        op.next_account(json!({"sub": sub, "email": email, "email_verified": false}))
            .await;
        let back = sign_in(&app, &op, &format!("organization={org}")).await;
        assert_eq!(
            param(&back, "error").as_deref(),
            Some("access_denied"),
            "{back}"
        );
        assert!(
            param(&back, "error_description")
                .unwrap()
                .contains("not verified"),
            "{back}"
        );
        assert!(param(&back, "code").is_none());
    }
    let reasons: Vec<String> = sqlx::query_scalar(
        "SELECT reason FROM login_attempts WHERE organization_id = $1 AND reason IS NOT NULL",
    )
    .bind(&org)
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(reasons, ["email_unverified", "email_unverified"]);
    let members: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE organization_id = $1")
            .bind(&org)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    assert_eq!(members, 1);
    // The CEO's own identity, known by its subject, still signs in.
    op.next_account(json!({"sub": "ceo", "email": "ceo@acme.test"}))
        .await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    assert!(param(&back, "code").is_some(), "{back}");
}

async fn jit_is_refused_for_a_lapsed_domain(d: Dialect) {
    let (app, op) = setup(d).await;
    let (org, _) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    sqlx::query("UPDATE domains SET state = 'lapsed' WHERE organization_id = $1")
        .bind(&org)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
}

async fn another_organizations_connection_cannot_sign_in_its_users(d: Dialect) {
    let (app, op) = setup(d).await;
    let (_a, _) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    let (b, _) = org_with_connection(&app, &op, "Bravo", Some("bravo.test")).await;
    op.next_account(json!({"sub": "acme-user", "email": "dana@acme.test"}))
        .await;
    let back = sign_in(&app, &op, &format!("organization={b}")).await;
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
}

async fn a_suspended_member_cannot_sign_in_again(d: Dialect) {
    let (app, op) = setup(d).await;
    let (org, _) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    let j = exchange(&app, &param(&back, "code").unwrap()).await.json();
    sqlx::query("UPDATE memberships SET state = 'suspended' WHERE id = $1")
        .bind(j["membership"]["id"].as_str().unwrap())
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    assert!(param(&back, "error_description")
        .unwrap()
        .contains("suspended"));
}

async fn inactive_connections_do_not_sign_in(d: Dialect) {
    let (app, op) = setup(d).await;
    let (org, conn) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    app.api(
        Method::PATCH,
        &format!("/api/v1/connections/{conn}"),
        Some(json!({"state": "inactive"})),
    )
    .await;
    let r = app
        .browser_get(
            &format!("/sso/authorize?connection={conn}&redirect_uri={VENDOR_CB}&state=s"),
            None,
        )
        .await;
    let back = url::Url::parse(&r.header("location").unwrap()).unwrap();
    assert!(back.as_str().starts_with(VENDOR_CB));
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    let actions = app.audit_actions(&org).await;
    assert!(
        actions.contains(&"connection.activated".to_owned())
            && actions.contains(&"connection.deactivated".to_owned())
    );
}

async fn connections_validate_their_issuer_and_refuse_private_networks(d: Dialect) {
    let op = TestOp::start();
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let r = app
        .api(Method::POST, &format!("/api/v1/organizations/{org}/connections"), Some(json!({"type": "oidc", "name": "x", "oidc": {"issuer": op.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}})))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "oidc.issuer");
    assert!(r.text().contains("private or loopback"), "{}", r.text());
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{org}/connections"),
            Some(json!({"type": "saml", "name": "x"})),
        )
        .await;
    assert_eq!(r.json()["error"]["field"], "saml");
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{org}/connections"),
            Some(json!({"type": "ldap", "name": "x"})),
        )
        .await;
    assert_eq!(r.json()["error"]["field"], "type");
    let r = app
        .api(Method::POST, &format!("/api/v1/organizations/{org}/connections"), Some(json!({"type": "oidc", "name": "x", "oidc": {"issuer": "https://idp.example", "client_id": "", "client_secret": "s"}})))
        .await;
    assert_eq!(r.json()["error"]["field"], "oidc.client_id");
}

async fn client_secrets_are_encrypted_at_rest(d: Dialect) {
    let (app, op) = setup(d).await;
    let (_, conn) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    let stored: String =
        sqlx::query_scalar("SELECT oidc_client_secret_enc FROM connections WHERE id = $1")
            .bind(&conn)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    assert!(stored.starts_with("v1.") && !stored.contains(CLIENT_SECRET));
}

async fn last_failure_reason(app: &TestApp, org: &str) -> String {
    sqlx::query_scalar::<_, String>(
        "SELECT reason FROM login_attempts WHERE organization_id = $1 AND outcome = 'failed' ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(org)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap()
}

async fn forged_id_tokens_are_refused(d: Dialect) {
    let (app, op) = setup_with(d, TestOp::forged()).await;
    let (org, _) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    op.set_mode("valid").await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    assert!(
        param(&back, "code").is_some(),
        "the forged OP works when it behaves: {back}"
    );
    for (mode, reason) in [
        ("nonce", "nonce_mismatch"),
        ("audience", "audience_mismatch"),
        ("expired", "expired"),
        ("issuer", "issuer_mismatch"),
        ("none", "signature_invalid"),
        ("hs256", "signature_invalid"),
    ] {
        op.set_mode(mode).await;
        let back = sign_in(&app, &op, &format!("organization={org}")).await;
        assert_eq!(
            param(&back, "error").as_deref(),
            Some("access_denied"),
            "{mode}: {back}"
        );
        assert!(param(&back, "code").is_none(), "{mode}");
        assert_eq!(last_failure_reason(&app, &org).await, reason, "{mode}");
    }
    let succeeded = app
        .audit_actions(&org)
        .await
        .iter()
        .filter(|a| *a == "authentication.succeeded")
        .count();
    assert_eq!(succeeded, 1);
}

async fn a_rotated_signing_key_is_picked_up(d: Dialect) {
    let (app, op) = setup_with(d, TestOp::forged()).await;
    let (org, _) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    op.set_mode("valid").await;
    assert!(param(
        &sign_in(&app, &op, &format!("organization={org}")).await,
        "code"
    )
    .is_some());
    op.set_mode("rotate").await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    assert!(
        param(&back, "code").is_some(),
        "new kid → JWKS fetched again → accepted: {back}"
    );
    // Another unknown key within the minute: no second refetch, the token is refused.
    op.set_mode("rotate").await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(last_failure_reason(&app, &org).await, "signature_invalid");
    // A minute later the refetch is allowed again.
    app.state.clock.advance(61_000);
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    assert!(param(&back, "code").is_some(), "{back}");
}

async fn the_portal_test_sign_in_gates_activation(d: Dialect) {
    let (app, op) = setup(d).await;
    let org = app.create_org("Acme").await;
    let cookie = app.redeem(&app.create_link(&org, &["sso"]).await).await;
    let form = format!(
        "idp=okta&name=Okta&issuer={}&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}",
        op.issuer
    );
    let r = app
        .browser_post("/portal/api/create_connection", &form, Some(&cookie))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let id: String = serde_json::from_slice(&r.body).unwrap();
    // Activation before a successful test is refused.
    let r = app
        .browser_post(
            "/portal/api/set_connection_state",
            &format!("id={id}&state=active"),
            Some(&cookie),
        )
        .await;
    assert!(r.text().contains("Test sign-in"), "{}", r.text());
    // Test sign-in: portal → IdP → callback → back to the portal with the result.
    op.next_account(
        json!({"sub": "admin-1", "email": "it@acme.test", "given_name": "Ida", "groups": ["IT"]}),
    )
    .await;
    let r = app
        .browser_get(&format!("/portal/sso/test/{id}"), Some(&cookie))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let callback = op.browse_to_callback(&r.header("location").unwrap()).await;
    let r = app.browser_get(&callback, None).await;
    assert_eq!(
        r.header("location").unwrap(),
        format!("/portal/sso/setup/{id}?step=3"),
        "a draft's test returns to its guided setup"
    );
    let page = app
        .browser_post("/portal/api/sso", "", Some(&cookie))
        .await
        .json();
    let t = &page["connections"][0]["last_test"];
    assert_eq!(t["ok"], true, "{page}");
    assert_eq!(t["email"], "it@acme.test");
    assert!(t["raw_claims"].as_str().unwrap().contains("\"groups\""));
    // The test created no member (it is not a sign-in).
    assert!(!app
        .audit_actions(&org)
        .await
        .contains(&"membership.created".to_owned()));
    let r = app
        .browser_post(
            "/portal/api/set_connection_state",
            &format!("id={id}&state=active"),
            Some(&cookie),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let c = app
        .api(Method::GET, &format!("/api/v1/connections/{id}"), None)
        .await
        .json();
    assert_eq!(c["state"], "active");
    // Editing the settings (secret kept) resets the test result.
    let form = format!(
        "id={id}&name=Okta%20prod&issuer={}&client_id={CLIENT_ID}&client_secret=",
        op.issuer
    );
    let r = app
        .browser_post("/portal/api/update_connection", &form, Some(&cookie))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let c = app
        .api(Method::GET, &format!("/api/v1/connections/{id}"), None)
        .await
        .json();
    assert_eq!(c["name"], "Okta prod");
    assert!(c["last_test_ok"].is_null());
    assert!(c["oidc"]["client_secret_set"].as_bool().unwrap());
    // Another organization's session cannot test, toggle or remove it.
    let other = app.create_org("Other").await;
    let other_cookie = app.redeem(&app.create_link(&other, &["sso"]).await).await;
    let r = app
        .browser_get(&format!("/portal/sso/test/{id}"), Some(&other_cookie))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    app.browser_post(
        "/portal/api/set_connection_state",
        &format!("id={id}&state=inactive"),
        Some(&other_cookie),
    )
    .await;
    app.browser_post(
        "/portal/api/delete_connection",
        &format!("id={id}"),
        Some(&other_cookie),
    )
    .await;
    let c = app
        .api(Method::GET, &format!("/api/v1/connections/{id}"), None)
        .await
        .json();
    assert_eq!(c["state"], "active");
    // Its own admin can remove it.
    app.browser_post(
        "/portal/api/delete_connection",
        &format!("id={id}"),
        Some(&cookie),
    )
    .await;
    let r = app
        .api(Method::GET, &format!("/api/v1/connections/{id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(app
        .audit_actions(&org)
        .await
        .contains(&"connection.deleted".to_owned()));
}

/// The guided setup over OpenID Connect: a draft first, then the IdP's values, each checked and
/// named when wrong (a missing secret is a field error, not a failure to decrypt nothing).
/// A test sign-in's result is written only onto the settings it read: if the admin saves new
/// settings while the IdP's answer is being checked, the result is dropped and the admin's
/// change is never written back over (the callback records two columns, guarded by
/// `updated_at`).
async fn a_test_result_never_lands_on_settings_it_did_not_test(d: Dialect) {
    use lanyard::domain::ids::{ConnectionId, OrgId};
    use lanyard::server::db::connections as rows;
    let (app, op) = setup(d).await;
    let org = app.create_org("Acme").await;
    let cookie = app.redeem(&app.create_link(&org, &["sso"]).await).await;
    let form = format!(
        "idp=okta&name=Okta&issuer={}&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}",
        op.issuer
    );
    let r = app
        .browser_post("/portal/api/create_connection", &form, Some(&cookie))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let id: String = serde_json::from_slice(&r.body).unwrap();
    let read = || async {
        let mut conn = app.state.db.pool.acquire().await.unwrap();
        rows::get_connection(
            &mut conn,
            &OrgId::from_stored(org.as_str()),
            &ConnectionId::from_stored(id.as_str()),
        )
        .await
        .unwrap()
        .unwrap()
    };
    // The callback has read the row when the admin saves a new name.
    let seen = read().await;
    app.state.clock.advance(1_000);
    let form = format!(
        "id={id}&name=Okta%20prod&issuer={}&client_id={CLIENT_ID}&client_secret=",
        op.issuer
    );
    let r = app
        .browser_post("/portal/api/update_connection", &form, Some(&cookie))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let now = app.state.clock.now();
    let mut conn = app.state.db.pool.acquire().await.unwrap();
    assert!(!rows::record_test(&mut conn, &seen, now, true)
        .await
        .unwrap());
    drop(conn);
    let c = app
        .api(Method::GET, &format!("/api/v1/connections/{id}"), None)
        .await
        .json();
    assert_eq!(c["name"], "Okta prod", "the admin's change stands: {c}");
    assert!(
        c["last_test_ok"].is_null(),
        "no result for untested settings: {c}"
    );
    // A real test sign-in of the current settings records its result.
    op.next_account(json!({"sub": "admin-1", "email": "it@acme.test"}))
        .await;
    let r = app
        .browser_get(&format!("/portal/sso/test/{id}"), Some(&cookie))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let callback = op.browse_to_callback(&r.header("location").unwrap()).await;
    app.browser_get(&callback, None).await;
    let c = app
        .api(Method::GET, &format!("/api/v1/connections/{id}"), None)
        .await
        .json();
    assert_eq!(c["last_test_ok"], true, "{c}");
    assert_eq!(c["name"], "Okta prod");
}

/// Starting the same guided setup again resumes its draft; unfinished drafts are capped so the
/// chooser cannot fill an organization with rows; finishing or deleting one makes room.
async fn unfinished_drafts_are_resumed_and_capped(d: Dialect) {
    let (app, op) = setup(d).await;
    let org = app.create_org("Acme").await;
    let cookie = app.redeem(&app.create_link(&org, &["sso"]).await).await;
    let start = |form: String| {
        let (app, cookie) = (&app, &cookie);
        async move {
            app.browser_post("/portal/api/start_sso_setup", &form, Some(cookie))
                .await
        }
    };
    let draft = |r: &TestResponse| {
        r.header("location")
            .unwrap_or_default()
            .trim_start_matches("/portal/sso/setup/")
            .to_owned()
    };
    let first = draft(&start("protocol=oidc&idp=entra".into()).await);
    assert!(first.starts_with("conn_"));
    assert_eq!(
        draft(&start("protocol=oidc&idp=entra".into()).await),
        first,
        "the same choice resumes its draft"
    );
    let combos: Vec<(&str, &str)> = ["okta", "google", "onelogin", "jumpcloud", "generic"]
        .into_iter()
        .flat_map(|i| [("saml", i), ("oidc", i)])
        .chain([("saml", "entra"), ("saml", "adfs")])
        .collect();
    let mut made = vec![first.clone()];
    for (protocol, idp) in &combos {
        let r = start(format!("protocol={protocol}&idp={idp}")).await;
        if made.len() < 10 {
            let id = draft(&r);
            assert!(id.starts_with("conn_"), "{protocol} {idp}: {}", r.text());
            assert!(!made.contains(&id));
            made.push(id);
        } else {
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{protocol} {idp}: {}",
                r.text()
            );
            assert!(
                r.text()
                    .contains("10 connections whose setup is unfinished"),
                "{}",
                r.text()
            );
        }
    }
    let listed = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{org}/connections"),
            None,
        )
        .await
        .json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 10, "{listed}");
    // An existing draft can still be resumed at the cap.
    assert_eq!(draft(&start("protocol=oidc&idp=entra".into()).await), first);
    // Finishing one (the IdP's details) makes room for another.
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let r = app
        .browser_post(
            "/portal/api/configure_oidc_connection",
            &format!(
                "id={first}&issuer={}&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}",
                enc(&op.issuer)
            ),
            Some(&cookie),
        )
        .await;
    assert!(
        r.status.is_redirection() || r.status.is_success(),
        "{}",
        r.text()
    );
    let again = draft(&start("protocol=saml&idp=adfs".into()).await);
    assert!(again.starts_with("conn_") && !made.contains(&again));
}

async fn the_guided_oidc_setup_checks_each_value(d: Dialect) {
    let (app, op) = setup(d).await;
    let org = app.create_org("Acme").await;
    let cookie = app.redeem(&app.create_link(&org, &["sso"]).await).await;
    let r = app
        .browser_post(
            "/portal/api/start_sso_setup",
            "protocol=oidc&idp=entra",
            Some(&cookie),
        )
        .await;
    let id = r
        .header("location")
        .unwrap_or_default()
        .trim_start_matches("/portal/sso/setup/")
        .to_owned();
    assert!(id.starts_with("conn_"), "{} {}", r.status, r.text());
    let c = app
        .api(Method::GET, &format!("/api/v1/connections/{id}"), None)
        .await
        .json();
    assert_eq!(c["name"], "Microsoft Entra ID OIDC");
    assert!(c["oidc"].is_null(), "{c}");
    assert!(c["redirect_uri"]
        .as_str()
        .unwrap()
        .ends_with("/sso/oidc/callback"));
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    for (form, field_says) in [
        (
            format!("id={id}&issuer={}&client_id={CLIENT_ID}", enc(&op.issuer)),
            "client_secret is required",
        ),
        (
            format!(
                "id={id}&issuer={}&client_id=&client_secret=x",
                enc(&op.issuer)
            ),
            "client_id is required",
        ),
        (
            format!("id={id}&issuer=http%3A%2F%2F127.0.0.1%3A9&client_id=x&client_secret=y"),
            "issuer",
        ),
    ] {
        let r = app
            .browser_post(
                "/portal/api/configure_oidc_connection",
                &form,
                Some(&cookie),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{form}: {}",
            r.text()
        );
        assert!(r.text().contains(field_says), "{form}: {}", r.text());
    }
    let r = app
        .browser_post(
            "/portal/api/configure_oidc_connection",
            &format!(
                "id={id}&issuer={}&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}",
                enc(&op.issuer)
            ),
            Some(&cookie),
        )
        .await;
    assert_eq!(
        r.header("location").as_deref(),
        Some(format!("/portal/sso/setup/{id}?step=3").as_str()),
        "{} {}",
        r.status,
        r.text()
    );
    let c = app
        .api(Method::GET, &format!("/api/v1/connections/{id}"), None)
        .await
        .json();
    assert_eq!(c["oidc"]["client_secret_set"], true, "{c}");
    let r = app
        .browser_get(&format!("/portal/sso/test/{id}"), Some(&cookie))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
}

/// The connection's sign-ins per day as the portal's SSO page gets them.
async fn chart(app: &TestApp, cookie: &str, conn: &str) -> Vec<Value> {
    let r = app.browser_post("/portal/api/sso", "", Some(cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let page: Value = r.json();
    let c = page["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == conn)
        .cloned()
        .unwrap();
    c["sign_ins"].as_array().unwrap().clone()
}

/// The connection's chart counts what happened, per day: sign-ins that succeeded and failed
/// (admins' tests are not sign-ins); a day later they move one bar left; attempts older than the
/// retention are purged.
async fn sign_ins_are_counted_per_day_for_the_chart(d: Dialect) {
    let (app, op) = setup(d).await;
    let (org, conn) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    for (sub, email) in [
        ("a", "ann@acme.test"),
        ("b", "bob@acme.test"),
        ("x", "mallory@other.test"),
    ] {
        op.next_account(json!({"sub": sub, "email": email})).await;
        sign_in(&app, &op, &format!("organization={org}")).await;
    }
    let cookie = app.redeem(&app.create_link(&org, &["sso"]).await).await;
    let days = chart(&app, &cookie, &conn).await;
    assert_eq!(days.len(), 14);
    let today = &days[13];
    assert_eq!(
        (today["ok"].as_i64(), today["bad"].as_i64()),
        (Some(2), Some(1)),
        "{today}"
    );
    assert!(days[..13].iter().all(|d| d["ok"] == 0 && d["bad"] == 0));
    app.state.clock.advance(86_400_000);
    let cookie = app.redeem(&app.create_link(&org, &["sso"]).await).await;
    let days = chart(&app, &cookie, &conn).await;
    assert_eq!(
        (days[12]["ok"].as_i64(), days[12]["bad"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        (days[13]["ok"].as_i64(), days[13]["bad"].as_i64()),
        (Some(0), Some(0))
    );
    // Past the retention the attempts are gone.
    app.state.clock.advance(90 * 86_400_000);
    let purged = lanyard::server::service::activity::purge_attempts(&app.state)
        .await
        .unwrap();
    assert_eq!(purged, 3);
}

/// An OIDC connection's discovery document and JWKS are refreshed on the metadata schedule: the
/// first refresh records the IdP's key ids, a key rotation at the IdP is audited with the ids
/// added and removed, and an IdP that cannot be reached changes nothing and is a health warning
/// (the on-demand refresh says why).
async fn oidc_discovery_and_jwks_refresh_audits_key_changes(d: Dialect) {
    let (app, op) = setup_with(d, TestOp::forged()).await;
    let (org, id) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    let due = || async {
        sqlx::query("UPDATE saml_metadata_refresh SET next_at = 0")
            .execute(&app.state.db.pool)
            .await
            .unwrap();
        lanyard::server::service::saml_metadata::refresh_due(&app.state)
            .await
            .unwrap()
    };
    let jwks_events = || async {
        app.audit_events(&org)
            .await
            .into_iter()
            .filter(|e| {
                e["action"] == "connection.updated" && !e["metadata"]["jwks_refresh"].is_null()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(due().await, 1);
    let c = app
        .api(Method::GET, &format!("/api/v1/connections/{id}"), None)
        .await
        .json();
    assert!(
        c["oidc"]["discovery_refresh"]["refreshed_at"].is_string(),
        "{c}"
    );
    assert!(
        jwks_events().await.is_empty(),
        "the first refresh only records the keys"
    );
    // Unchanged: nothing audited.
    assert_eq!(due().await, 1);
    assert!(jwks_events().await.is_empty());
    // The IdP rotates its signing key.
    op.set_mode("rotate").await;
    assert_eq!(due().await, 1);
    let events = jwks_events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    let change = &events[0]["metadata"]["jwks_refresh"];
    assert_eq!(change["added"].as_array().unwrap().len(), 1, "{change}");
    assert_eq!(change["removed"], json!(["key-1"]), "{change}");
    // Unreachable: 409 on demand naming the failure, the health warning, nothing audited.
    drop(op);
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/connections/{id}/refresh_metadata"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert!(r.text().contains("metadata_refresh_failed"), "{}", r.text());
    let h = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{org}/health"),
            None,
        )
        .await
        .text();
    assert!(
        h.contains("OIDC discovery and JWKS") && h.contains("could not be refreshed"),
        "{h}"
    );
    assert_eq!(jwks_events().await.len(), 1);
}

crate::both_databases!(
    oidc_discovery_and_jwks_refresh_audits_key_changes,
    unfinished_drafts_are_resumed_and_capped,
    a_test_result_never_lands_on_settings_it_did_not_test,
    sign_ins_are_counted_per_day_for_the_chart,
    the_guided_oidc_setup_checks_each_value,
    the_portal_test_sign_in_gates_activation,
    forged_id_tokens_are_refused,
    a_rotated_signing_key_is_picked_up,
    happy_path_creates_one_member_and_returns_the_profile,
    codes_expire_after_a_minute,
    the_vendor_manages_redirect_uris_through_the_api,
    a_code_for_another_vendor_redirect_is_refused_without_being_spent,
    jit_uses_the_default_role_and_a_second_connection_links_the_same_person,
    a_redirect_uri_off_the_allow_list_is_never_used,
    state_mismatch_and_replayed_callbacks_are_refused,
    a_forged_iss_parameter_is_refused,
    jit_is_refused_outside_verified_domains,
    jit_is_refused_for_a_lapsed_domain,
    an_unverified_idp_email_is_neither_linked_nor_added,
    another_organizations_connection_cannot_sign_in_its_users,
    a_suspended_member_cannot_sign_in_again,
    inactive_connections_do_not_sign_in,
    connections_validate_their_issuer_and_refuse_private_networks,
    client_secrets_are_encrypted_at_rest,
);
