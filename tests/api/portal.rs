use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Dialect, TestApp};

async fn redeemed_session_sees_overview_and_activity(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let cookie = app
        .redeem(&app.create_link(&org, &["sso", "audit_logs"]).await)
        .await;
    let r = app.browser_get("/portal", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::OK);
    let html = r.text();
    assert!(html.contains("Set up Acme"));
    assert!(html.contains("Single sign-on"));
    let r = app.browser_get("/portal/activity", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("Setup link opened"), "{}", r.text());
    assert!(r.text().contains("Organization created"));
}

async fn portal_without_session_is_refused(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let r = app.browser_get("/portal", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.text().contains("Open a new setup link"));
    let r = app.browser_post("/portal/api/overview", "", None).await;
    assert!(r.text().contains("SignedOut"), "{}", r.text());
    let r = app
        .browser_post("/portal/api/overview", "", Some("lanyard_session=forged"))
        .await;
    assert!(r.text().contains("SignedOut"));
}

async fn session_of_a_cannot_read_b_through_any_server_function(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let a = app.create_org("Alpha Tenant").await;
    let b = app.create_org("Bravo Tenant").await;
    app.api(
        Method::PATCH,
        &format!("/api/v1/organizations/{b}"),
        Some(json!({"name": "Bravo Secret"})),
    )
    .await;
    let cookie = app
        .redeem(&app.create_link(&a, &["sso", "audit_logs"]).await)
        .await;
    let attempts = [
        ("/portal/api/overview", format!("organization_id={b}")),
        ("/portal/api/overview", format!("org={b}&id={b}")),
        ("/portal/api/activity", format!("organization_id={b}")),
        (
            "/portal/api/activity",
            format!("before=&q=&organization_id={b}"),
        ),
        (
            "/portal/api/activity",
            format!("q=Bravo&organization_id={b}"),
        ),
    ];
    for (path, form) in attempts {
        let r = app.browser_post(path, &form, Some(&cookie)).await;
        let body = r.text();
        assert!(!body.contains(&b), "{path} leaked B's id: {body}");
        assert!(!body.contains("Bravo"), "{path} leaked B's data: {body}");
        if r.status == StatusCode::OK {
            assert!(
                body.contains("Alpha Tenant") || body.contains(&a) || body.contains("\"items\":[]"),
                "{path}: {body}"
            );
        }
    }
    let r = app
        .browser_get(
            &format!("/portal/activity?organization_id={b}"),
            Some(&cookie),
        )
        .await;
    assert!(!r.text().contains("Bravo"));
    assert!(r.text().contains("Alpha Tenant"));
}

async fn activity_needs_the_audit_logs_intent(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let cookie = app.redeem(&app.create_link(&org, &["sso"]).await).await;
    let r = app
        .browser_post("/portal/api/activity", "", Some(&cookie))
        .await;
    assert!(r.text().contains("NotInScope"), "{}", r.text());
    let r = app.browser_get("/portal/activity", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!r.text().contains("Setup link opened"));
}

async fn sign_out_ends_the_session(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let cookie = app
        .redeem(&app.create_link(&org, &["audit_logs"]).await)
        .await;
    assert_eq!(
        app.browser_get("/portal", Some(&cookie)).await.status,
        StatusCode::OK
    );
    let r = app.browser_post("/portal/signout", "", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.browser_get("/portal", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn session_of_a_deleted_org_is_over(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let cookie = app
        .redeem(&app.create_link(&org, &["audit_logs"]).await)
        .await;
    app.api(
        Method::DELETE,
        &format!("/api/v1/organizations/{org}"),
        None,
    )
    .await;
    assert_eq!(
        app.browser_get("/portal", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.browser_get("/portal/activity", Some(&cookie))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

async fn sessions_end_after_idle_time_and_absolute_lifetime(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let cookie = app
        .redeem(&app.create_link(&org, &["audit_logs"]).await)
        .await;
    // Kept alive by activity, the session still ends 12 hours after it began.
    for _ in 0..14 {
        assert_eq!(
            app.browser_get("/portal", Some(&cookie)).await.status,
            StatusCode::OK
        );
        app.state.clock.advance(55 * 60 * 1000);
    }
    assert_eq!(
        app.browser_get("/portal", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The cookie itself carries the 30-minute idle expiry.
    let r = app
        .browser_post(&app.create_link(&org, &["audit_logs"]).await, "", None)
        .await;
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=1800"));
}

crate::both_databases!(
    sessions_end_after_idle_time_and_absolute_lifetime,
    redeemed_session_sees_overview_and_activity,
    portal_without_session_is_refused,
    session_of_a_cannot_read_b_through_any_server_function,
    activity_needs_the_audit_logs_intent,
    sign_out_ends_the_session,
    session_of_a_deleted_org_is_over,
);

mod domain_server_functions {
    use super::*;

    async fn session_of_a_cannot_touch_b_domains(d: Dialect) {
        let app = TestApp::spawn(d).await;
        let a = app.create_org("Alpha").await;
        let b = app.create_org("Bravo").await;
        let r = app
            .api(
                Method::POST,
                &format!("/api/v1/organizations/{b}/domains"),
                Some(json!({"domain": "bravo-secret.test"})),
            )
            .await;
        let b_domain = r.json()["id"].as_str().unwrap().to_owned();
        let cookie = app
            .redeem(&app.create_link(&a, &["domain_verification"]).await)
            .await;
        for (path, form) in [
            ("/portal/api/check_domain", format!("id={b_domain}")),
            ("/portal/api/remove_domain", format!("id={b_domain}")),
            ("/portal/api/domains", format!("organization_id={b}")),
            (
                "/portal/api/add_domain",
                format!("domain=alpha.test&organization_id={b}"),
            ),
        ] {
            let r = app.browser_post(path, &form, Some(&cookie)).await;
            assert!(!r.text().contains("bravo-secret"), "{path}: {}", r.text());
        }
        // B's domain is untouched and A's new domain landed in A.
        let bl = app
            .api(
                Method::GET,
                &format!("/api/v1/organizations/{b}/domains"),
                None,
            )
            .await
            .json();
        assert_eq!(bl["data"].as_array().unwrap().len(), 1);
        let al = app
            .api(
                Method::GET,
                &format!("/api/v1/organizations/{a}/domains"),
                None,
            )
            .await
            .json();
        assert_eq!(al["data"][0]["domain"], "alpha.test");
        assert_eq!(al["data"][0]["state"], "pending");
    }

    async fn domain_functions_need_the_domain_verification_intent(d: Dialect) {
        let app = TestApp::spawn(d).await;
        let org = app.create_org("Acme").await;
        let cookie = app.redeem(&app.create_link(&org, &["sso"]).await).await;
        let r = app
            .browser_post("/portal/api/add_domain", "domain=acme.test", Some(&cookie))
            .await;
        assert!(r.text().contains("NotInScope"), "{}", r.text());
        let list = app
            .api(
                Method::GET,
                &format!("/api/v1/organizations/{org}/domains"),
                None,
            )
            .await
            .json();
        assert_eq!(list["data"].as_array().unwrap().len(), 0);
        assert_eq!(
            app.browser_get("/portal/domains", Some(&cookie))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
    }

    async fn portal_admins_cannot_mark_a_domain_verified(d: Dialect) {
        let app = TestApp::spawn(d).await;
        let org = app.create_org("Acme").await;
        let cookie = app
            .redeem(&app.create_link(&org, &["domain_verification"]).await)
            .await;
        let r = app
            .browser_post(
                "/portal/api/add_domain",
                "domain=acme.test&verified=true",
                Some(&cookie),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let list = app
            .api(
                Method::GET,
                &format!("/api/v1/organizations/{org}/domains"),
                None,
            )
            .await
            .json();
        assert_eq!(list["data"][0]["state"], "pending");
        assert!(list["data"][0]["verified_by"].is_null());
    }

    crate::both_databases!(
        session_of_a_cannot_touch_b_domains,
        domain_functions_need_the_domain_verification_intent,
        portal_admins_cannot_mark_a_domain_verified,
    );
}
