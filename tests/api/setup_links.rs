use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Dialect, TestApp};

async fn link_defaults_to_24_hours_and_bounds_are_enforced(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let r = app
        .api(
            Method::POST,
            "/api/v1/portal/links",
            Some(json!({"organization_id": org, "intents": ["sso"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let j = r.json();
    assert!(j["link"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:3000/portal/link/lanyard_setup_"));
    let expires = j["expires_at"].as_str().unwrap().to_owned();
    let in_a_day = lanyard::server::clock::rfc3339(app.state.clock.now() + 24 * 3600 * 1000);
    assert_eq!(&expires[..16], &in_a_day[..16], "default lifetime is 24 h");

    for (secs, ok) in [
        (299, false),
        (300, true),
        (2_592_000, true),
        (2_592_001, false),
    ] {
        let r = app
            .api(
                Method::POST,
                "/api/v1/portal/links",
                Some(
                    json!({"organization_id": org, "intents": ["sso"], "expires_in_seconds": secs}),
                ),
            )
            .await;
        if ok {
            assert_eq!(r.status, StatusCode::CREATED, "{secs}");
        } else {
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{secs}");
            assert_eq!(r.json()["error"]["field"], "expires_in_seconds");
        }
    }
    let r = app
        .api(
            Method::POST,
            "/api/v1/portal/links",
            Some(json!({"organization_id": org, "intents": ["billing"]})),
        )
        .await;
    assert_eq!(r.json()["error"]["field"], "intents");
    let r = app
        .api(
            Method::POST,
            "/api/v1/portal/links",
            Some(json!({"organization_id": "org_01JDZQ8V6M3W9X4N5P7R2S0T1A", "intents": ["sso"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "organization_id");
    let r = app
        .api(Method::POST, "/api/v1/portal/links", Some(json!({"organization_id": org, "intents": ["sso"], "return_url": "javascript:alert(1)"})))
        .await;
    assert_eq!(r.json()["error"]["field"], "return_url");
}

async fn get_shows_the_link_and_consumes_nothing(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme <Widgets>").await;
    let link = app.create_link(&org, &["sso", "audit_logs"]).await;
    for _ in 0..3 {
        let r = app.browser_get(&link, None).await;
        assert_eq!(r.status, StatusCode::OK);
        let html = r.text();
        assert!(html.contains("Acme &lt;Widgets&gt;"), "escaped name shown");
        assert!(html.contains("Continue to setup"));
        assert!(r.session_cookie().is_none(), "GET must not sign in");
    }
    // Still redeemable after the GETs.
    app.redeem(&link).await;
}

async fn used_expired_and_unknown_links_say_what_to_do(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let link = app.create_link(&org, &["sso"]).await;
    app.redeem(&link).await;
    let r = app.browser_get(&link, None).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.text().contains("already been used"));
    assert!(r.text().contains("new setup link"));
    let r = app.browser_post(&link, "", None).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.session_cookie().is_none());

    let r = app
        .api(
            Method::POST,
            "/api/v1/portal/links",
            Some(json!({"organization_id": org, "intents": ["sso"], "expires_in_seconds": 300})),
        )
        .await;
    let short = r.json()["link"]
        .as_str()
        .unwrap()
        .strip_prefix(crate::helpers::ORIGIN)
        .unwrap()
        .to_owned();
    assert_eq!(app.browser_get(&short, None).await.status, StatusCode::OK);
    app.state.clock.advance(301_000);
    let r = app.browser_get(&short, None).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.text().contains("expired"));
    let r = app.browser_post(&short, "", None).await;
    assert_eq!(r.status, StatusCode::GONE);

    for unknown in ["/portal/link/lanyard_setup_nope", "/portal/link/whatever"] {
        let r = app.browser_get(unknown, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(r.text().contains("new setup link"));
        assert_eq!(
            app.browser_post(unknown, "", None).await.status,
            StatusCode::NOT_FOUND
        );
    }
}

async fn links_of_a_deleted_org_stop_working(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let link = app.create_link(&org, &["sso"]).await;
    app.api(
        Method::DELETE,
        &format!("/api/v1/organizations/{org}"),
        None,
    )
    .await;
    assert_eq!(app.browser_get(&link, None).await.status, StatusCode::GONE);
    assert_eq!(
        app.browser_post(&link, "", None).await.status,
        StatusCode::GONE
    );
}

async fn two_concurrent_redemptions_exactly_one_wins(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    for _ in 0..5 {
        let link = app.create_link(&org, &["sso"]).await;
        let (a, b) = tokio::join!(
            app.browser_post(&link, "", None),
            app.browser_post(&link, "", None)
        );
        let statuses = [a.status, b.status];
        let wins = statuses
            .iter()
            .filter(|s| **s == StatusCode::SEE_OTHER)
            .count();
        let gone = statuses.iter().filter(|s| **s == StatusCode::GONE).count();
        assert_eq!((wins, gone), (1, 1), "{statuses:?}");
    }
    let redeemed = app
        .audit_actions(&org)
        .await
        .iter()
        .filter(|a| *a == "portal.link_redeemed")
        .count();
    assert_eq!(redeemed, 5);
}

async fn redemption_is_rate_limited(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let mut statuses = Vec::new();
    for i in 0..25 {
        statuses.push(
            app.browser_post(&format!("/portal/link/lanyard_setup_guess{i}"), "", None)
                .await
                .status,
        );
    }
    assert!(statuses[..20].iter().all(|s| *s == StatusCode::NOT_FOUND));
    assert!(statuses[20..]
        .iter()
        .all(|s| *s == StatusCode::TOO_MANY_REQUESTS));
}

crate::both_databases!(
    link_defaults_to_24_hours_and_bounds_are_enforced,
    get_shows_the_link_and_consumes_nothing,
    used_expired_and_unknown_links_say_what_to_do,
    links_of_a_deleted_org_stop_working,
    two_concurrent_redemptions_exactly_one_wins,
    redemption_is_rate_limited,
);
