use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Dialect, TestApp, TestResponse};

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

/// Every portal entry point refuses a session past its 12-hour lifetime (however active it was)
/// and ends it: its row is gone, so an older clock or a retry cannot bring it back. Each entry
/// point gets a session of its own, aged alone, so none is refused only because an earlier call
/// ended the session.
async fn every_portal_entry_point_ends_a_session_past_its_lifetime(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let intents = ["sso", "audit_logs", "invitations", "dsync"];
    // (path, form to post (None: a GET), its answer within the lifetime: the test sign-in of
    // an unknown connection is a 404 after the grant check)
    let entry_points = [
        ("/portal", None, StatusCode::OK),
        ("/portal/api/overview", Some(""), StatusCode::OK),
        (
            "/portal/api/members",
            Some("search=&state=&role="),
            StatusCode::OK,
        ),
        ("/portal/api/activity", Some(""), StatusCode::OK),
        ("/portal/activity/export?format=csv", None, StatusCode::OK),
        (
            "/portal/sso/test/conn_01J00000000000000000000000",
            None,
            StatusCode::NOT_FOUND,
        ),
    ];
    for (path, form, within) in entry_points {
        let cookie = app.redeem(&app.create_link(&org, &intents).await).await;
        let id = cookie.strip_prefix("lanyard_session=").unwrap().to_owned();
        let rows = || async {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sessions WHERE id = $1")
                .bind(&id)
                .fetch_one(&app.state.db.pool)
                .await
                .unwrap()
        };
        assert_eq!(rows().await, 1, "{path}: the session was written");
        // Still within its lifetime: answered.
        let call = |cookie: String| {
            let app = &app;
            async move {
                match form {
                    None => app.browser_get(path, Some(&cookie)).await,
                    Some(form) => app.browser_post(path, form, Some(&cookie)).await,
                }
            }
        };
        app.state.clock.advance(12 * 3600 * 1000 - 60_000);
        let r = call(cookie.clone()).await;
        assert_eq!(r.status, within, "{path} within the lifetime: {}", r.text());
        // Past it.
        app.state.clock.advance(2 * 60_000);
        let r = call(cookie.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{path} past the lifetime: {}",
            r.text()
        );
        assert_eq!(rows().await, 0, "{path} ended the session");
    }
}

/// The opening tag of the portal navigation's link to `href` on a rendered page.
fn nav_link(html: &str, href: &str) -> String {
    let nav = &html[html
        .find("data-testid=\"portal-nav\"")
        .expect("the page has the portal nav")..];
    let start = nav
        .find(&format!("<a href=\"{href}\""))
        .unwrap_or_else(|| panic!("no nav link to {href}"));
    nav[start..start + nav[start..].find('>').unwrap()].to_owned()
}

async fn nav_marks_the_current_page_and_section(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let cookie = app
        .redeem(&app.create_link(&org, &["sso", "audit_logs"]).await)
        .await;
    let page = |r: TestResponse| {
        assert_eq!(r.status, StatusCode::OK);
        String::from_utf8(r.body).unwrap()
    };
    let overview = page(app.browser_get("/portal", Some(&cookie)).await);
    assert!(nav_link(&overview, "/portal").contains("aria-current=\"page\""));
    assert!(!nav_link(&overview, "/portal/sso").contains("aria-current"));
    // A page inside a section marks the section, not a page it is not.
    let setup = page(app.browser_get("/portal/sso/setup", Some(&cookie)).await);
    assert!(nav_link(&setup, "/portal/sso").contains("aria-current=\"true\""));
    assert!(!nav_link(&setup, "/portal").contains("aria-current"));
}

/// The overview's steps count the organization's own domain claims, connections and
/// directories (one statement reads all three), never another organization's, nor deleted ones.
async fn overview_counts_only_the_organizations_own_setup(d: Dialect) {
    use crate::helpers::scim::create_dir;
    use crate::helpers::{activate_connection, saml_connection_with_certificate, verified_domain};
    let app = TestApp::spawn(d).await;
    let acme = app.create_org("Acme").await;
    let globex = app.create_org("Globex").await;
    // Globex has more of everything than Acme, all of it settled.
    for domain in ["globex.test", "globex-eu.test", "globex-us.test"] {
        verified_domain(&app, &globex, domain).await;
    }
    for _ in 0..3 {
        let id = saml_connection_with_certificate(&app, &globex).await;
        activate_connection(&app, &id).await;
    }
    create_dir(&app, &globex, "okta").await;
    // Acme: one verified claim, one waiting, one deleted; two connections, one active, one
    // deleted.
    verified_domain(&app, &acme, "acme.test").await;
    for domain in ["acme-eu.test", "acme-gone.test"] {
        let r = app
            .api(
                Method::POST,
                &format!("/api/v1/organizations/{acme}/domains"),
                Some(json!({"domain": domain})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        if domain == "acme-gone.test" {
            let id = r.json()["id"].as_str().unwrap().to_owned();
            let r = app
                .api(Method::DELETE, &format!("/api/v1/domains/{id}"), None)
                .await;
            assert!(r.status.is_success(), "{}", r.text());
        }
    }
    let active = saml_connection_with_certificate(&app, &acme).await;
    activate_connection(&app, &active).await;
    saml_connection_with_certificate(&app, &acme).await;
    let gone = saml_connection_with_certificate(&app, &acme).await;
    let r = app
        .api(Method::DELETE, &format!("/api/v1/connections/{gone}"), None)
        .await;
    assert!(r.status.is_success(), "{}", r.text());

    let cookie = app
        .redeem(
            &app.create_link(&acme, &["domain_verification", "sso", "dsync"])
                .await,
        )
        .await;
    let steps = |cookie: String| {
        let app = &app;
        async move {
            let r = app
                .browser_post("/portal/api/overview", "", Some(&cookie))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            let j = r.json();
            assert_eq!(j["organization_name"], "Acme");
            j["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["intent"].as_str().unwrap().to_owned(),
                        (
                            s["status"].as_str().unwrap().to_owned(),
                            s["detail"].as_str().unwrap().to_owned(),
                        ),
                    )
                })
                .collect::<std::collections::HashMap<_, _>>()
        }
    };
    let s = steps(cookie.clone()).await;
    assert_eq!(
        s["domain_verification"],
        (
            "done".to_owned(),
            "1 verified, 1 waiting for their DNS record, 0 needing attention.".to_owned()
        )
    );
    assert_eq!(
        s["sso"],
        ("done".to_owned(), "2 connections, 1 active.".to_owned())
    );
    assert_eq!(s["dsync"].0, "not_started", "{:?}", s["dsync"]);
    assert!(s["dsync"].1.starts_with("Connect your directory"));
    // Acme's own live directory counts; Globex's and a deleted one of Acme's do not.
    create_dir(&app, &acme, "entra").await;
    let gone = create_dir(&app, &acme, "okta").await;
    let r = app
        .api(
            Method::DELETE,
            &format!("/api/v1/directories/{}", gone.id),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text());
    let s = steps(cookie).await;
    assert_eq!(
        s["dsync"],
        (
            "in_progress".to_owned(),
            "1 directory, 0 people synced.".to_owned()
        )
    );
}

crate::both_databases!(
    overview_counts_only_the_organizations_own_setup,
    nav_marks_the_current_page_and_section,
    sessions_end_after_idle_time_and_absolute_lifetime,
    every_portal_entry_point_ends_a_session_past_its_lifetime,
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

/// Deleting an organization ends its portal sessions: every entry point of the portal refuses
/// a session of a deleted organization and changes nothing, whether its row was deleted with the
/// organization or written back afterwards by a request that was in flight.
mod deleted_organization {
    use super::*;
    use crate::helpers::portal::{assert_unchanged, enc, server_functions, snapshot, ALL_INTENTS};
    use crate::helpers::scim::{create_dir, create_group};
    use crate::helpers::{join_by_invitation, saml_connection_with_certificate, saml_idp_file};

    /// Writes a session row back, as the store does at the end of a request.
    async fn write_back(app: &TestApp, (id, data, expires_at, org): (&str, &str, i64, &str)) {
        sqlx::query(
            "INSERT INTO sessions (id, data, expires_at, organization_id) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(data)
        .bind(expires_at)
        .bind(org)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    }

    async fn sessions_of(app: &TestApp, org: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE organization_id = $1 OR data LIKE $2",
        )
        .bind(org)
        .bind(format!("%{org}%"))
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
    }

    async fn every_portal_entry_point_refuses_a_deleted_organization(d: Dialect) {
        let app =
            TestApp::spawn_with(d, &[("LANYARD_REDIRECT_URIS", crate::helpers::VENDOR_CB)]).await;
        let org = app.create_org("Acme").await;
        // What the session could reach: a domain, a member, a pending invitation, a directory with
        // a group (after the member: a new directory is authoritative), a SAML connection with a
        // certificate, a log stream.
        let domain = crate::helpers::verified_domain(&app, &org, "acme.test").await;
        let member = join_by_invitation(&app, &org, "ann@acme.test").await;
        let r = crate::helpers::invite(&app, &org, "pat@acme.test", json!({})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let invitation = r.json()["id"].as_str().unwrap().to_owned();
        let dir = create_dir(&app, &org, "okta").await;
        let group = create_group(&app, &dir, "Engineering", &[]).await;
        let scim_request = crate::helpers::scim::first_logged_request(&app, &dir.id).await;
        let conn = saml_connection_with_certificate(&app, &org).await;
        let cookie = app.redeem(&app.create_link(&org, &ALL_INTENTS).await).await;
        let stream = crate::helpers::log_stream(&app, &cookie, "https://siem.acme.test/hook").await;
        // The session works, for every part of the portal.
        for path in [
            "/portal/api/overview",
            "/portal/api/directories",
            "/portal/api/sso",
        ] {
            let form = if path.ends_with("directories") {
                "errors_only=false&method="
            } else {
                ""
            };
            let r = app.browser_post(path, form, Some(&cookie)).await;
            assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
        }
        let r = app
            .browser_get("/portal/activity/export?format=csv", Some(&cookie))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(sessions_of(&app, &org).await, 1);
        let session_id = cookie.strip_prefix("lanyard_session=").unwrap().to_owned();
        let (data, expires_at): (String, i64) =
            sqlx::query_as("SELECT data, expires_at FROM sessions WHERE id = $1")
                .bind(&session_id)
                .fetch_one(&app.state.db.pool)
                .await
                .unwrap();

        let r = app
            .api(
                Method::DELETE,
                &format!("/api/v1/organizations/{org}"),
                None,
            )
            .await;
        assert!(r.status.is_success(), "{} {}", r.status, r.text());
        assert_eq!(
            sessions_of(&app, &org).await,
            0,
            "deleting ends the sessions"
        );
        let before = snapshot(&app).await;

        let attacks: Vec<(&str, String)> = vec![
            ("overview", String::new()),
            ("activity", String::new()),
            ("policy", String::new()),
            ("update_policy", "policy[jit_enabled]=off".into()),
            ("simulate", "email=ann%40acme.test&path=sso".into()),
            ("domains", String::new()),
            ("add_domain", "domain=evil.acme.test".into()),
            ("check_domain", format!("id={domain}")),
            ("remove_domain", format!("id={domain}")),
            ("directories", "errors_only=false&method=".into()),
            ("create_directory", "kind=okta&name=Evil".into()),
            ("rotate_directory_token", format!("id={}", dir.id)),
            ("set_directory_authoritative", format!("id={}&authoritative=on", dir.id)),
            ("delete_directory", format!("id={}", dir.id)),
            (
                "map_group",
                format!("id={}&group_id={group}&role=admin&priority=1&mode=save", dir.id),
            ),
            ("members", "search=&state=&role=".into()),
            ("member", format!("id={member}")),
            ("change_member", format!("id={member}&action=role&role=admin")),
            ("invite", "email=eve%40acme.test&role=admin&expires_in_days=3".into()),
            ("resend_invitation", format!("id={invitation}")),
            ("revoke_invitation", format!("id={invitation}")),
            ("log_streams", String::new()),
            (
                "create_log_stream",
                "kind=json&name=Exfil&url=https%3A%2F%2Fevil.example%2Fhook&credential=".into(),
            ),
            ("test_log_stream", format!("id={stream}")),
            ("delete_log_stream", format!("id={stream}")),
            ("sso", String::new()),
            (
                "create_connection",
                "idp=okta&name=Evil&issuer=https%3A%2F%2Fevil.example&client_id=x&client_secret=y"
                    .into(),
            ),
            ("set_connection_state", format!("id={conn}&state=active")),
            ("set_connection_domains", format!("id={conn}&scope=all")),
            (
                "update_connection",
                format!("id={conn}&name=Evil&issuer=https%3A%2F%2Fevil.example&client_id=x"),
            ),
            ("delete_connection", format!("id={conn}")),
            (
                "create_saml_connection",
                format!(
                    "idp=okta&name=Evil&entity_id=https%3A%2F%2Fevil.example&sso_url=https%3A%2F%2Fevil.example%2Fsso&certificate={}",
                    enc(&saml_idp_file("other.crt"))
                ),
            ),
            (
                "update_saml_connection",
                format!("id={conn}&name=Hijacked&allow_idp_initiated=on"),
            ),
            ("save_attribute_mapping", format!("id={conn}&map_email=evil")),
            ("saml_federation", format!("id={conn}&single_logout=on")),
            ("upload_sp_key", format!("id={conn}&key_use=encryption&private_key_pem=x&certificate_pem=y")),
            (
                "saml_certificate",
                format!("id={conn}&add={}", enc(&saml_idp_file("other.crt"))),
            ),
            ("sso_setup", format!("id={conn}")),
            ("start_sso_setup", "protocol=saml&idp=okta".into()),
            (
                "configure_saml_connection",
                format!("id={conn}&metadata_url=https%3A%2F%2Fevil.example%2Fmetadata"),
            ),
            (
                "configure_oidc_connection",
                format!("id={conn}&issuer=https%3A%2F%2Fevil.example&client_id=x&client_secret=y"),
            ),
            ("directory_progress", String::new()),
            ("directory_request", format!("id={scim_request}")),
        ];
        let mut covered: Vec<String> = attacks.iter().map(|(e, _)| (*e).to_owned()).collect();
        covered.sort();
        assert_eq!(
            covered,
            server_functions(),
            "every portal server function is tried"
        );

        // First with the session row gone (deleted with the organization), then with it written
        // back as a request in flight during the deletion would: refused either way, and the
        // written-back session is ended.
        for written_back in [false, true] {
            let row = (session_id.as_str(), data.as_str(), expires_at, org.as_str());
            for (endpoint, form) in &attacks {
                if written_back {
                    write_back(&app, row).await;
                }
                let path = format!("/portal/api/{endpoint}");
                let r = app.browser_post(&path, form, Some(&cookie)).await;
                assert_eq!(
                    r.status,
                    StatusCode::UNAUTHORIZED,
                    "{path} (written back: {written_back}): {}",
                    r.text()
                );
                assert!(r.text().contains("SignedOut"), "{path}: {}", r.text());
                assert_eq!(sessions_of(&app, &org).await, 0, "{path} ended the session");
            }
            for path in [
                "/portal/activity/export?format=csv".to_owned(),
                "/portal/activity/export?format=ndjson".to_owned(),
                format!("/portal/sso/test/{conn}"),
                "/portal".to_owned(),
                "/portal/members".to_owned(),
            ] {
                if written_back {
                    write_back(&app, row).await;
                }
                let r = app.browser_get(&path, Some(&cookie)).await;
                assert_eq!(
                    r.status,
                    StatusCode::UNAUTHORIZED,
                    "{path} (written back: {written_back}): {}",
                    r.text()
                );
                assert!(r.header("location").is_none(), "{path} went on to the IdP");
                assert!(
                    !r.text().contains("ann@acme.test"),
                    "{path} leaked a member"
                );
                assert_eq!(sessions_of(&app, &org).await, 0, "{path} ended the session");
            }
        }

        // Nothing changed: not a row of any table (no token rotated, no role changed, no log
        // stream created, no invitation mail queued, no certificate pinned, no audit event).
        assert_unchanged(&before, &snapshot(&app).await, "refused calls");
        let role: (String, String) =
            sqlx::query_as("SELECT role, state FROM memberships WHERE id = $1")
                .bind(&member)
                .fetch_one(&app.state.db.pool)
                .await
                .unwrap();
        assert_eq!(role, ("member".to_owned(), "active".to_owned()));
    }

    crate::both_databases!(every_portal_entry_point_refuses_a_deleted_organization);
}

/// Server functions answer client errors with 4xx (monitoring counts only real failures as 5xx);
/// a form posted without JavaScript is still sent back to its page with the error.
mod error_statuses {
    use super::*;
    use axum::body::Body;
    use axum::http::{header, Request};

    async fn portal_server_functions_answer_client_errors_with_4xx(d: Dialect) {
        let app = TestApp::spawn(d).await;
        let org = app.create_org("Acme").await;
        // Signed out.
        let r = app.browser_post("/portal/api/overview", "", None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
        assert!(r.text().contains("SignedOut"), "{}", r.text());
        // Not in scope: the link did not include the activity log.
        let cookie = app
            .redeem(&app.create_link(&org, &["domain_verification"]).await)
            .await;
        let r = app
            .browser_post("/portal/api/activity", "", Some(&cookie))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
        assert!(r.text().contains("NotInScope"), "{}", r.text());
        // Invalid input.
        let r = app
            .browser_post(
                "/portal/api/add_domain",
                "domain=not+a+domain",
                Some(&cookie),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
        assert!(r.text().contains("Invalid"), "{}", r.text());
        // Arguments that cannot be decoded.
        let r = app
            .browser_post("/portal/api/check_domain", "", Some(&cookie))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
        // Success is 200 still.
        let r = app
            .browser_post("/portal/api/add_domain", "domain=acme.test", Some(&cookie))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());

        // Without JavaScript the browser posts the form and is sent back with the error.
        let r = app
            .send(
                Request::builder()
                    .method(Method::POST)
                    .uri("/portal/api/add_domain")
                    .header(header::ORIGIN, crate::helpers::ORIGIN)
                    .header("sec-fetch-site", "same-origin")
                    .header(header::ACCEPT, "text/html,application/xhtml+xml")
                    .header(
                        header::REFERER,
                        format!("{}/portal/domains", crate::helpers::ORIGIN),
                    )
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .header(header::COOKIE, &cookie)
                    .body(Body::from("domain=not+a+domain"))
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::FOUND, "{}", r.text());
        let to = r.header("location").unwrap();
        assert!(
            to.starts_with(&format!("{}/portal/domains?", crate::helpers::ORIGIN)),
            "{to}"
        );
        assert!(to.contains("__err="), "{to}");

        // A failure on the server side is still a 500, with a request id and no cause.
        sqlx::query("DROP TABLE event_entity_seqs")
            .execute(&app.state.db.pool)
            .await
            .unwrap();
        let r = app
            .browser_post("/portal/api/add_domain", "domain=beta.test", Some(&cookie))
            .await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.text());
        assert!(r.text().contains("Internal"), "{}", r.text());
        assert!(
            !r.text().to_lowercase().contains("event_entity_seqs"),
            "{}",
            r.text()
        );
    }

    crate::both_databases!(portal_server_functions_answer_client_errors_with_4xx);
}
