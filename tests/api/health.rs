//! Tenant health, drift and the credentials inventory (vendor API), and the support console
//! (staff sessions, viewer vs admin, secrets never rendered). Each drift finding comes from a
//! constructed scenario; where the product's own rules make the state unreachable (a role kept
//! after a missed directory push, a member who joined around an authoritative directory), the
//! scenario writes the rows a missed push or an import would leave, then the report must see it.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::oidc::{org_with_connection, setup, sign_in};
use crate::helpers::scim::{
    create_dir, create_group, create_user, map_groups, push_inactive, scim, set_authoritative,
    PATCH, USER,
};
use crate::helpers::staff::staff_cookie;
use crate::helpers::{exchange, join_by_invitation, param, Dialect, TestApp, VENDOR_CB};

const DAY: i64 = 24 * 3600 * 1000;

async fn app(d: Dialect) -> TestApp {
    TestApp::spawn_with(d, &[("LANYARD_REDIRECT_URIS", VENDOR_CB)]).await
}

async fn drift(app: &TestApp, org: &str, query: &str) -> Vec<Value> {
    let r = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{org}/drift{query}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["data"].as_array().unwrap().clone()
}

fn kinds_for(findings: &[Value], who: &str) -> Vec<String> {
    let mut k: Vec<String> = findings
        .iter()
        .filter(|f| f["email"] == who)
        .map(|f| f["kind"].as_str().unwrap().to_owned())
        .collect();
    k.sort();
    k
}

async fn health(app: &TestApp, org: &str) -> Value {
    let r = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{org}/health"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

async fn exec(app: &TestApp, sql: &str, binds: &[&str]) {
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(*b);
    }
    q.execute(&app.state.db.pool).await.expect(sql);
}

async fn directory_drift_follows_the_gate(d: Dialect) {
    let app = app(d).await;
    let org = app.create_org("Drifty").await;
    let dir = create_dir(&app, &org, "okta").await;
    set_authoritative(&app, &dir, false).await;
    // Dave is in the directory but deactivated; Erin is not in it at all. While the directory
    // is not authoritative both may join by invitation.
    push_inactive(&app, &dir, "dave@drifty.test").await;
    let dave = join_by_invitation(&app, &org, "dave@drifty.test").await;
    let erin = join_by_invitation(&app, &org, "erin@drifty.test").await;
    assert!(
        drift(&app, &org, "").await.is_empty(),
        "nothing drifts while no directory is authoritative"
    );
    set_authoritative(&app, &dir, true).await;
    let f = drift(&app, &org, "").await;
    assert_eq!(
        kinds_for(&f, "dave@drifty.test"),
        vec!["deactivated_in_directory"]
    );
    assert_eq!(
        kinds_for(&f, "erin@drifty.test"),
        vec!["absent_from_directory"]
    );
    let dave_f = f.iter().find(|x| x["email"] == "dave@drifty.test").unwrap();
    assert_eq!(dave_f["membership_id"], dave.as_str());
    assert!(dave_f["detail"].as_str().unwrap().contains("deactivated"));
    let erin_f = f.iter().find(|x| x["email"] == "erin@drifty.test").unwrap();
    assert_eq!(erin_f["membership_id"], erin.as_str());
    // Both joined before the directory became authoritative: not "joined outside".
    assert!(f.iter().all(|x| x["kind"] != "joined_outside_directory"));
    // Reactivating Dave in the IdP resolves his finding.
    let r = scim(
        &app,
        &dir,
        Method::GET,
        "/Users?filter=userName%20eq%20%22dave@drifty.test%22",
        None,
    )
    .await;
    let uid = r.json()["Resources"][0]["id"].as_str().unwrap().to_owned();
    let on =
        json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": true}}]});
    let r = scim(
        &app,
        &dir,
        Method::PATCH,
        &format!("/Users/{uid}"),
        Some(on),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let f = drift(&app, &org, "").await;
    assert!(kinds_for(&f, "dave@drifty.test").is_empty(), "{f:?}");
    assert_eq!(
        kinds_for(&f, "erin@drifty.test"),
        vec!["absent_from_directory"]
    );

    // Someone who joined by invitation after the directory became authoritative (rows as an
    // import or a bypass would leave them; the gate refuses this path itself).
    let now = app.state.clock.now().to_string();
    exec(&app, "INSERT INTO users (id, organization_id, email, created_at, updated_at) VALUES ('user_imported', $1, 'ivan@drifty.test', CAST($2 AS BIGINT), CAST($2 AS BIGINT))", &[&org, &now]).await;
    exec(&app, "INSERT INTO memberships (id, organization_id, user_id, role, state, created_at, updated_at) VALUES ('om_imported', $1, 'user_imported', 'member', 'active', CAST($2 AS BIGINT), CAST($2 AS BIGINT))", &[&org, &now]).await;
    exec(&app, "INSERT INTO membership_grants (id, membership_id, organization_id, kind, role, detail, created_at) VALUES ('grant_imported', 'om_imported', $1, 'invitation', 'member', '{\"inviter_name\":\"ops@vendor.test\"}', CAST($2 AS BIGINT))", &[&org, &now]).await;
    let f = drift(&app, &org, "").await;
    assert_eq!(
        kinds_for(&f, "ivan@drifty.test"),
        vec!["absent_from_directory", "joined_outside_directory"]
    );
    // The finding links to the member's page in the console.
    assert!(f
        .iter()
        .any(|x| x["membership_id"] == "om_imported" && x["kind"] == "joined_outside_directory"));
}

async fn group_domain_inactivity_and_invitation_drift(d: Dialect) {
    let (app, op) = setup(d).await;
    let (org, _conn) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    // Dana joins by JIT through acme.test.
    op.next_account(json!({"sub": "okta-1", "email": "dana@acme.test"}))
        .await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    let dana = exchange(&app, &param(&back, "code").unwrap()).await.json()["membership"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(drift(&app, &org, "").await.is_empty());
    // Someone from a domain the organization never verified is refused: a failed sign-in with
    // its reason, visible in health and on the console's tenant page.
    op.next_account(json!({"sub": "okta-2", "email": "mallory@other.test"}))
        .await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    assert!(param(&back, "error").is_some(), "{back}");
    let h = health(&app, &org).await;
    let c = &h["connections"][0];
    assert_eq!(c["failures_24h"], 1, "{h}");
    let reason = c["last_failure_reason"].as_str().unwrap().to_owned();
    assert!(c["last_success_at"].as_i64().is_some());
    assert_eq!(
        h["status"], "attention",
        "one refusal is not an outage: {h}"
    );
    let staff = staff_cookie(&app, "sam@vendor.test", "viewer").await;
    let page = app
        .browser_get(&format!("/console/organizations/{org}"), Some(&staff))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(
        page.text()
            .contains(&format!("Test IdP (signin): {reason}")),
        "{}",
        page.text()
    );
    assert!(
        page.text().contains("other.test is not a verified domain"),
        "the evidence says why"
    );
    // The domain lapses (its TXT record disappeared; the lapse itself is tested with DNS in
    // domains.rs): Dana's access came through it.
    exec(
        &app,
        "UPDATE domains SET state = 'lapsed' WHERE organization_id = $1",
        &[&org],
    )
    .await;
    let f = drift(&app, &org, "").await;
    assert_eq!(kinds_for(&f, "dana@acme.test"), vec!["domain_lapsed"]);
    assert_eq!(f[0]["membership_id"], dana.as_str());
    exec(
        &app,
        "UPDATE domains SET state = 'verified' WHERE organization_id = $1",
        &[&org],
    )
    .await;
    assert!(drift(&app, &org, "").await.is_empty());

    // Grace holds admin through the directory group Admins.
    let dir = create_dir(&app, &org, "okta").await;
    set_authoritative(&app, &dir, false).await;
    let grace = create_user(&app, &dir, "grace@acme.test").await;
    let group = create_group(&app, &dir, "Admins", &[&grace]).await;
    let r = map_groups(
        &app,
        &dir,
        json!([{"group_id": group, "role": "admin", "priority": 1}]),
        false,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(kinds_for(&drift(&app, &org, "").await, "grace@acme.test").is_empty());
    // A removal from the group that never reached Lanyard's role (a missed push): the role is
    // now held through a group she left.
    exec(
        &app,
        "DELETE FROM directory_group_members WHERE group_id = $1",
        &[&group],
    )
    .await;
    let f = drift(&app, &org, "").await;
    assert_eq!(
        kinds_for(&f, "grace@acme.test"),
        vec!["role_from_departed_group"]
    );
    assert!(
        f.iter().find(|x| x["email"] == "grace@acme.test").unwrap()["detail"]
            .as_str()
            .unwrap()
            .contains("Admins")
    );
    // The real removal through SCIM changes the role, and the finding goes away.
    let rm = json!({"schemas": [PATCH], "Operations": [{"op": "remove", "path": format!("members[value eq \"{grace}\"]")}]});
    exec(&app, "INSERT INTO directory_group_members (group_id, user_id, directory_id, created_at) VALUES ($1, $2, $3, 0)", &[&group, &grace, &dir.id]).await;
    let r = scim(
        &app,
        &dir,
        Method::PATCH,
        &format!("/Groups/{group}"),
        Some(rm),
    )
    .await;
    assert!(r.status.is_success(), "{}", r.text());
    assert!(kinds_for(&drift(&app, &org, "").await, "grace@acme.test").is_empty());

    // An invitation whose expiry passed but the sweep has not run yet.
    let r = app
        .api(
            Method::POST,
            "/api/v1/invitations",
            Some(json!({"organization_id": org, "email": "hank@elsewhere.test", "expires_in_days": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let inv = r.json()["id"].as_str().unwrap().to_owned();
    assert!(drift(&app, &org, "")
        .await
        .iter()
        .all(|x| x["kind"] != "invitation_past_expiry"));
    app.state.clock.advance(DAY + 1000);
    let f = drift(&app, &org, "").await;
    let overdue: Vec<&Value> = f
        .iter()
        .filter(|x| x["kind"] == "invitation_past_expiry")
        .collect();
    assert_eq!(overdue.len(), 1, "{f:?}");
    assert_eq!(overdue[0]["invitation_id"], inv.as_str());
    assert!(overdue[0].get("membership_id").is_none());

    // No sign-in for 90 days: Dana signed in, Grace never did.
    app.state.clock.advance(90 * DAY);
    let f = drift(&app, &org, "").await;
    assert!(kinds_for(&f, "dana@acme.test").contains(&"inactive".to_owned()));
    assert!(kinds_for(&f, "grace@acme.test").contains(&"inactive".to_owned()));
    assert!(f
        .iter()
        .any(|x| x["kind"] == "inactive"
            && x["detail"].as_str().unwrap().contains("never signed in")));
    // N is a parameter, bounded.
    let f = drift(&app, &org, "?inactive_days=365").await;
    assert!(f.iter().all(|x| x["kind"] != "inactive"));
    let r = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{org}/drift?inactive_days=0"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "inactive_days");
}

async fn health_reports_what_needs_attention(d: Dialect) {
    let app = app(d).await;
    let org = app.create_org("Healthy").await;
    let h = health(&app, &org).await;
    assert_eq!(h["status"], "ok", "{h}");
    assert!(h["signals"].as_array().unwrap().is_empty());
    // A pending domain, an outstanding setup link, a pending invitation, and a directory whose
    // requests fail.
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{org}/domains"),
            Some(json!({"domain": "healthy.test"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    app.create_link(&org, &["sso"]).await;
    let dir = create_dir(&app, &org, "entra").await;
    set_authoritative(&app, &dir, false).await;
    let r = app
        .api(
            Method::POST,
            "/api/v1/invitations",
            Some(json!({"organization_id": org, "email": "ann@healthy.test"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    for _ in 0..3 {
        let r = scim(
            &app,
            &dir,
            Method::POST,
            "/Users",
            Some(json!({"schemas": [USER]})),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    }
    let h = health(&app, &org).await;
    assert_eq!(h["status"], "failing", "{h}");
    assert_eq!(h["domains"]["pending"], 1);
    assert_eq!(h["setup_links_outstanding"], 1);
    assert_eq!(h["invitations"]["pending"], 1);
    let d0 = &h["directories"][0];
    assert_eq!(
        (d0["requests_24h"].as_i64(), d0["errors_24h"].as_i64()),
        (Some(3), Some(3))
    );
    assert_eq!(d0["error_rate"], 1.0);
    assert_eq!(d0["token_age_days"], 0);
    let signals = h["signals"].as_array().unwrap();
    assert_eq!(signals[0]["severity"], "error");
    assert_eq!(signals[0]["area"], "directory");
    assert!(signals.iter().any(|s| s["area"] == "domains"));
    // The scheduled job's snapshot sorts tenants by need: Healthy before a quiet organization.
    let quiet = app.create_org("Quiet").await;
    let n = lanyard::server::service::health::refresh_all(&app.state)
        .await
        .unwrap();
    assert_eq!(n, 2);
    let (list, total) = lanyard::server::service::health::tenants(&app.state, "", "")
        .await
        .unwrap();
    assert_eq!(total, 2);
    assert_eq!(list[0].health.organization_id, org);
    assert_eq!(list[1].health.organization_id, quiet);
    let (only_ok, _) = lanyard::server::service::health::tenants(&app.state, "", "ok")
        .await
        .unwrap();
    assert_eq!(only_ok.len(), 1);
    assert_eq!(only_ok[0].health.organization_id, quiet);
    let (searched, _) = lanyard::server::service::health::tenants(&app.state, "HEALTH", "")
        .await
        .unwrap();
    assert_eq!(searched.len(), 1);
    // A year on, the SCIM token is overdue for rotation and (unused) flagged.
    app.state.clock.advance(400 * DAY);
    let creds = lanyard::server::service::health::credentials(&app.state, &org)
        .await
        .unwrap();
    let token = creds.iter().find(|c| c.kind == "scim_token").unwrap();
    assert!(
        token.flags.contains(&"rotation_overdue".to_owned()),
        "{token:?}"
    );
    assert!(
        token.flags.contains(&"unused_90_days".to_owned()),
        "{token:?}"
    );
    assert_eq!(token.created_by.as_deref(), Some("test"), "{token:?}");
    assert_eq!(
        token.hint.as_deref(),
        Some(format!("…{}", &dir.token[dir.token.len() - 4..]).as_str())
    );
    // Unknown organizations are 404.
    let r = app
        .api(
            Method::GET,
            "/api/v1/organizations/org_01JZZZZZZZZZZZZZZZZZZZZZZZ/health",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

// --- the support console ------------------------------------------------------------------

async fn links_of(app: &TestApp, org: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM setup_links WHERE organization_id = $1")
        .bind(org)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn console_viewers_read_admins_act_and_secrets_never_show(d: Dialect) {
    let app = app(d).await;
    let org = app.create_org("Globex").await;
    let dir = create_dir(&app, &org, "okta").await;
    set_authoritative(&app, &dir, false).await;
    let r = app
        .api(
            Method::POST,
            "/api/v1/webhook_endpoints",
            Some(json!({"url": "https://hooks.vendor.test/lanyard"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let whsec = r.json()["secret"].as_str().unwrap().to_owned();
    let secrets = [dir.token.as_str(), whsec.as_str(), app.key.as_str()];

    // Signed out, or with only a portal session: the console refuses.
    let r = app.browser_get("/console", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    assert!(r.text().contains("/console/signin"));
    let portal = app.redeem(&app.create_link(&org, &["sso"]).await).await;
    let r = app.browser_get("/console", Some(&portal)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .browser_get(
            &format!("/console/organizations/{org}/drift.csv"),
            Some(&portal),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let viewer = staff_cookie(&app, "vic@vendor.test", "viewer").await;
    // The staff session does not open the portal either.
    let r = app.browser_get("/portal", Some(&viewer)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    let r = app.browser_get("/console?q=glob", Some(&viewer)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.text().contains("Globex"));
    assert!(r.text().contains(&format!("/console/organizations/{org}")));
    let page = app
        .browser_get(&format!("/console/organizations/{org}"), Some(&viewer))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let html = page.text();
    assert!(html.contains("SCIM token"), "the inventory lists the token");
    assert!(html.contains(&format!("…{}", &dir.token[dir.token.len() - 4..])));
    let creds = app.browser_get("/console/credentials", Some(&viewer)).await;
    assert_eq!(creds.status, StatusCode::OK, "{}", creds.text());
    assert!(creds.text().contains("Webhook signing secret"));
    assert!(creds.text().contains("Vendor API key"));
    for body in [&html, &creds.text()] {
        for s in secrets {
            assert!(!body.contains(s), "a secret was rendered");
        }
    }
    // The server functions answer the same data without secrets.
    for (path, form) in [
        ("/console/api/tenant", format!("id={org}")),
        ("/console/api/credentials", String::new()),
    ] {
        let r = app.browser_post(path, &form, Some(&viewer)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
        for s in secrets {
            assert!(!r.text().contains(s), "{path} rendered a secret");
        }
    }
    let r = app
        .browser_get(
            &format!("/console/organizations/{org}/drift.csv"),
            Some(&viewer),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r
        .text()
        .starts_with("kind,membership_id,invitation_id,email,detail"));

    // Any staff member may run the access simulator (it writes nothing); the answer shows on
    // the tenant page with the rules that made it.
    let r = app
        .browser_post(
            "/console/api/simulate",
            &format!("organization_id={org}&email=zed%40elsewhere.test&path=invitation"),
            Some(&viewer),
        )
        .await;
    assert!(
        r.status.is_success() || r.status.is_redirection(),
        "{}",
        r.text()
    );
    let page = app
        .browser_get(&format!("/console/organizations/{org}"), Some(&viewer))
        .await;
    assert!(
        page.text()
            .contains("data-testid=\"sim-result\" data-decision=\"allow\""),
        "{}",
        page.text()
    );
    assert!(
        page.text().contains("guest_invitations · allow"),
        "{}",
        page.text()
    );
    assert!(page.text().contains("data-key=\"directory_sync\""));
    // A viewer cannot act: no setup link, no revoked key, no resent invitation.
    let before = links_of(&app, &org).await;
    let r = app
        .browser_post(
            "/console/api/create_link",
            &format!("link[organization_id]={org}&link[sso]=on"),
            Some(&viewer),
        )
        .await;
    assert!(r.text().contains("viewer"), "{} {}", r.status, r.text());
    assert_eq!(links_of(&app, &org).await, before);
    let r = app
        .api(
            Method::POST,
            "/api/v1/invitations",
            Some(json!({"organization_id": org, "email": "ann@globex.test"})),
        )
        .await;
    let inv = r.json()["id"].as_str().unwrap().to_owned();
    let mails = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM mail_outbox WHERE invitation_id = $1")
            .bind(&inv)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap()
    };
    let sent = mails().await;
    let r = app
        .browser_post(
            "/console/api/resend_invitation",
            &format!("organization_id={org}&invitation_id={inv}"),
            Some(&viewer),
        )
        .await;
    assert!(r.text().contains("viewer"), "{} {}", r.status, r.text());
    assert_eq!(mails().await, sent, "no mail resent by a viewer");
    let key_id = sqlx::query_scalar::<_, String>("SELECT id FROM api_keys LIMIT 1")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let r = app
        .browser_post(
            "/console/api/revoke_api_key",
            &format!("id={key_id}"),
            Some(&viewer),
        )
        .await;
    assert!(r.text().contains("viewer"), "{} {}", r.status, r.text());
    assert_eq!(
        app.api(Method::GET, "/api/v1/organizations", None)
            .await
            .status,
        StatusCode::OK,
        "the key still works"
    );

    // An admin acts, audited as the staff member.
    let admin = staff_cookie(&app, "ada@vendor.test", "admin").await;
    let r = app
        .browser_post(
            "/console/api/create_link",
            &format!("link[organization_id]={org}&link[sso]=on&link[dsync]=on&link[admin_email]=it%40globex.test"),
            Some(&admin),
        )
        .await;
    assert!(
        r.status.is_success() || r.status.is_redirection(),
        "{}",
        r.text()
    );
    assert_eq!(links_of(&app, &org).await, before + 1);
    let ev = app
        .api(
            Method::GET,
            &format!("/api/v1/audit_events?organization_id={org}&action=portal.link_created"),
            None,
        )
        .await
        .json();
    let last = ev["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"]["type"], "staff");
    assert_eq!(last["actor"]["name"], "ada@vendor.test");
    // The new link shows once on the tenant page.
    let page = app
        .browser_get(&format!("/console/organizations/{org}"), Some(&admin))
        .await;
    assert!(page.text().contains("/portal/link/lanyard_"), "shown once");
    let page = app
        .browser_get(&format!("/console/organizations/{org}"), Some(&admin))
        .await;
    assert!(!page.text().contains("/portal/link/lanyard_"), "only once");
    // Past the resend cool-down.
    app.state
        .clock
        .advance(lanyard::server::service::invitations::RESEND_COOLDOWN_MS);
    let r = app
        .browser_post(
            "/console/api/resend_invitation",
            &format!("organization_id={org}&invitation_id={inv}"),
            Some(&admin),
        )
        .await;
    assert!(
        r.status.is_success() || r.status.is_redirection(),
        "{}",
        r.text()
    );
    assert_eq!(mails().await, sent + 1, "an admin resends");
    let r = app
        .browser_post(
            "/console/api/revoke_api_key",
            &format!("id={key_id}"),
            Some(&admin),
        )
        .await;
    assert!(
        r.status.is_success() || r.status.is_redirection(),
        "{}",
        r.text()
    );
    assert_eq!(
        app.api(Method::GET, "/api/v1/organizations", None)
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "revoked"
    );

    // Disabling a staff account ends its sessions at once.
    use lanyard::server::audit::{Actor, RequestContext};
    lanyard::server::service::staff::disable(
        &app.state,
        &Actor::operator(),
        &RequestContext::default(),
        "vic@vendor.test",
    )
    .await
    .unwrap();
    let r = app.browser_get("/console", Some(&viewer)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

crate::both_databases!(
    directory_drift_follows_the_gate,
    group_domain_inactivity_and_invitation_drift,
    health_reports_what_needs_attention,
    console_viewers_read_admins_act_and_secrets_never_show,
);
