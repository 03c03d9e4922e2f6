//! Invitation mail cannot be used to flood an inbox or a domain (a per-invitation resend
//! cool-down, a per-address and a per-organization hourly cap, counted in the database), and an
//! acceptance
//! re-checks the access policy as it is at acceptance (`inviters`, `invitable_roles`), not as it
//! was when the mail went out.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{invite, join_by_invitation, patch_policy, Dialect, TestApp, VENDOR_CB};

use lanyard::server::service::invitations::{
    ORG_MAILS_PER_HOUR, RECIPIENT_MAILS_PER_HOUR, RESEND_COOLDOWN_MS,
};

async fn app(d: Dialect) -> TestApp {
    TestApp::spawn_with(d, &[("LANYARD_REDIRECT_URIS", VENDOR_CB)]).await
}

async fn resend(app: &TestApp, id: &str) -> crate::helpers::TestResponse {
    app.api(
        Method::POST,
        &format!("/api/v1/invitations/{id}/resend"),
        None,
    )
    .await
}

/// Mails queued for the invitation (the mail worker sends each at most once).
async fn mails_of(app: &TestApp, invitation: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE invitation_id = $1")
        .bind(invitation)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn mails_of_org(app: &TestApp, org: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE organization_id = $1")
        .bind(org)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

fn retry_after(r: &crate::helpers::TestResponse) -> i64 {
    r.header("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {}", r.text()))
        .parse()
        .unwrap()
}

async fn resends_wait_for_the_cool_down_and_send_nothing_meanwhile(d: Dialect) {
    let app = app(d).await;
    let org = app.create_org("Acme").await;
    let r = invite(&app, &org, "pat@example.com", json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let first_link = r.json()["accept_url"].as_str().unwrap().to_owned();
    assert_eq!(mails_of(&app, &id).await, 1);

    // Thirty resends at once from the API: every one refused, no mail, the link unchanged.
    for _ in 0..30 {
        let r = resend(&app, &id).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
        let e = &r.json()["error"];
        assert_eq!(e["code"], "invitation_resend_too_soon", "{e}");
        let msg = e["message"].as_str().unwrap();
        assert!(
            msg.contains("pat@example.com") && msg.contains("second") && msg.contains("UTC"),
            "the message says when to retry: {msg}"
        );
        let wait = retry_after(&r);
        assert!((1..=RESEND_COOLDOWN_MS / 1000).contains(&wait), "{wait}");
    }
    assert_eq!(mails_of(&app, &id).await, 1, "no mail while cooling down");
    let r = app
        .browser_get(&first_link["http://127.0.0.1:3000".len()..], None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "the first link still works");

    // The portal's resend says the same.
    let r = app
        .api(
            Method::POST,
            "/api/v1/portal/links",
            Some(json!({"organization_id": org, "intents": ["invitations"]})),
        )
        .await;
    let link = r.json()["link"].as_str().unwrap().to_owned();
    let cookie = app
        .redeem(&link[link.find("/portal/link/").unwrap()..])
        .await;
    for _ in 0..5 {
        let r = app
            .browser_post(
                "/portal/api/resend_invitation",
                &format!("id={id}"),
                Some(&cookie),
            )
            .await;
        assert!(!r.status.is_success(), "{} {}", r.status, r.text());
        assert!(
            r.text().contains("less than a minute ago"),
            "{} {}",
            r.status,
            r.text()
        );
    }
    assert_eq!(
        mails_of(&app, &id).await,
        1,
        "no mail from the portal either"
    );

    // After the cool-down one resend goes out, and the next waits again.
    app.state.clock.advance(RESEND_COOLDOWN_MS + 1000);
    let r = resend(&app, &id).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(mails_of(&app, &id).await, 2);
    let r = resend(&app, &id).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert_eq!(mails_of(&app, &id).await, 2);
    app.state.clock.advance(RESEND_COOLDOWN_MS + 1000);
    let r = app
        .browser_post(
            "/portal/api/resend_invitation",
            &format!("id={id}"),
            Some(&cookie),
        )
        .await;
    assert!(
        r.status.is_success() || r.status.is_redirection(),
        "{} {}",
        r.status,
        r.text()
    );
    assert_eq!(mails_of(&app, &id).await, 3);
}

async fn an_organization_sends_a_bounded_number_of_invitation_mails_an_hour(d: Dialect) {
    let app = app(d).await;
    let org = app.create_org("Acme").await;
    let other = app.create_org("Globex").await;
    let mut first = String::new();
    for i in 0..ORG_MAILS_PER_HOUR {
        let r = invite(&app, &org, &format!("p{i}@example.com"), json!({})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{i}: {}", r.text());
        if i == 0 {
            first = r.json()["id"].as_str().unwrap().to_owned();
        }
    }
    assert_eq!(mails_of_org(&app, &org).await, ORG_MAILS_PER_HOUR);

    // One more is refused with when to retry, and nothing is created or mailed.
    let r = invite(&app, &org, "one-more@example.com", json!({})).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    let e = &r.json()["error"];
    assert_eq!(e["code"], "invitation_mail_limit", "{e}");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!(
            "{ORG_MAILS_PER_HOUR} invitation emails in the last hour"
        )) && msg.contains("try again in")
            && msg.contains("UTC"),
        "{msg}"
    );
    let wait = retry_after(&r);
    assert!((3000..=3600).contains(&wait), "{wait}");
    assert_eq!(mails_of_org(&app, &org).await, ORG_MAILS_PER_HOUR);
    let pending = app
        .api(
            Method::GET,
            &format!("/api/v1/invitations?organization_id={org}"),
            None,
        )
        .await
        .json();
    assert_eq!(
        pending["data"].as_array().unwrap().len() as i64,
        ORG_MAILS_PER_HOUR,
        "nothing was created"
    );
    // Resends count too (past their own cool-down).
    app.state.clock.advance(RESEND_COOLDOWN_MS + 1000);
    let r = resend(&app, &first).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "invitation_mail_limit");
    assert_eq!(mails_of(&app, &first).await, 1);
    // Another organization is not affected.
    let r = invite(&app, &other, "g@example.com", json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());

    // An hour after the first mails, there is room again.
    app.state.clock.advance(3600 * 1000);
    let r = invite(&app, &org, "one-more@example.com", json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = resend(&app, &first).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

async fn mails_to(app: &TestApp, org: &str, recipient: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM mail_outbox WHERE organization_id = $1 AND recipient = $2",
    )
    .bind(org)
    .bind(recipient)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap()
}

async fn invitations_of(app: &TestApp, org: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM invitations WHERE organization_id = $1")
        .bind(org)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn revoke(app: &TestApp, id: &str) {
    let r = app
        .api(Method::DELETE, &format!("/api/v1/invitations/{id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

fn assert_address_limit(r: &crate::helpers::TestResponse, address: &str) {
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    let e = &r.json()["error"];
    assert_eq!(e["code"], "invitation_address_limit", "{e}");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!(
            "{address} has been sent {RECIPIENT_MAILS_PER_HOUR} invitation emails"
        )) && msg.contains("try again in")
            && msg.contains("UTC"),
        "the message names the address and when to retry: {msg}"
    );
    let wait = retry_after(r);
    assert!((3000..=3600).contains(&wait), "{wait}");
}

async fn one_address_gets_a_bounded_number_of_invitation_mails_an_hour(d: Dialect) {
    let app = app(d).await;
    let org = app.create_org("Acme").await;
    let pat = "pat@example.com";

    // Revoking and re-creating starts no cool-down of its own: five invitations, five mails.
    let mut last: Option<String> = None;
    for i in 0..RECIPIENT_MAILS_PER_HOUR {
        if let Some(id) = &last {
            revoke(&app, id).await;
        }
        let r = invite(&app, &org, pat, json!({})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{i}: {}", r.text());
        last = Some(r.json()["id"].as_str().unwrap().to_owned());
    }
    let last = last.unwrap();
    assert_eq!(mails_to(&app, &org, pat).await, RECIPIENT_MAILS_PER_HOUR);
    assert_eq!(invitations_of(&app, &org).await, RECIPIENT_MAILS_PER_HOUR);

    // The sixth mail is refused, as a resend past its own cool-down…
    app.state.clock.advance(RESEND_COOLDOWN_MS + 1000);
    let r = resend(&app, &last).await;
    assert_address_limit(&r, pat);
    assert_eq!(mails_of(&app, &last).await, 1);

    // …and as a new invitation after a revocation, however often it is tried (also spelled
    // differently): no invitation is created, nothing is mailed.
    revoke(&app, &last).await;
    for _ in 0..5 {
        let r = invite(&app, &org, pat, json!({})).await;
        assert_address_limit(&r, pat);
        let r = invite(&app, &org, " Pat@Example.COM", json!({})).await;
        assert_address_limit(&r, pat);
    }
    assert_eq!(invitations_of(&app, &org).await, RECIPIENT_MAILS_PER_HOUR);
    assert_eq!(mails_to(&app, &org, pat).await, RECIPIENT_MAILS_PER_HOUR);

    // The portal says the same.
    let r = app
        .api(
            Method::POST,
            "/api/v1/portal/links",
            Some(json!({"organization_id": org, "intents": ["invitations"]})),
        )
        .await;
    let link = r.json()["link"].as_str().unwrap().to_owned();
    let cookie = app
        .redeem(&link[link.find("/portal/link/").unwrap()..])
        .await;
    let r = app
        .browser_post(
            "/portal/api/invite",
            "email=pat%40example.com&role=&expires_in_days=",
            Some(&cookie),
        )
        .await;
    assert!(!r.status.is_success(), "{} {}", r.status, r.text());
    assert!(
        r.text().contains(&format!(
            "pat@example.com has been sent {RECIPIENT_MAILS_PER_HOUR} invitation emails"
        )),
        "{} {}",
        r.status,
        r.text()
    );
    assert_eq!(invitations_of(&app, &org).await, RECIPIENT_MAILS_PER_HOUR);

    // Another address, and the same address from another organization, are not affected.
    let r = invite(&app, &org, "quinn@example.com", json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let other = app.create_org("Globex").await;
    let r = invite(&app, &other, pat, json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());

    // An hour after the first mails, there is room again.
    app.state.clock.advance(3600 * 1000);
    let r = invite(&app, &org, pat, json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(
        mails_to(&app, &org, pat).await,
        RECIPIENT_MAILS_PER_HOUR + 1
    );
}

async fn memberships_of(app: &TestApp, org: &str) -> Vec<String> {
    let r = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{org}/memberships"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_owned())
        .collect()
}

async fn invitation_state(app: &TestApp, id: &str) -> String {
    app.api(Method::GET, &format!("/api/v1/invitations/{id}"), None)
        .await
        .json()["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn path_of(r: &crate::helpers::TestResponse) -> (String, String) {
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let j = r.json();
    let url = j["accept_url"].as_str().unwrap();
    (
        j["id"].as_str().unwrap().to_owned(),
        url["http://127.0.0.1:3000".len()..].to_owned(),
    )
}

async fn acceptance_applies_the_policy_that_tightened_after_the_invitation(d: Dialect) {
    let app = app(d).await;
    let org = app.create_org("Acme").await;

    // invitable_roles: an admin invitation made while any role could be granted…
    let (cy, cy_path) =
        path_of(&invite(&app, &org, "cy@example.com", json!({"role": "admin"})).await);
    // …and a member who may invite (inviters: members), who invites Ben.
    let amy = join_by_invitation(&app, &org, "amy@example.com").await;
    let (ben, ben_path) = path_of(
        &invite(
            &app,
            &org,
            "ben@example.com",
            json!({"role": "member", "inviter_membership_id": amy}),
        )
        .await,
    );

    // The dry run already says both pending invitations would be refused.
    let r = patch_policy(
        &app,
        &org,
        json!({"invitable_roles": ["member"], "inviters": "admins", "dry_run": true}),
    )
    .await;
    let words: Vec<String> = serde_json::from_value(r["impact"]["invitations"].clone()).unwrap();
    assert!(
        words
            .iter()
            .any(|w| w.starts_with("cy@example.com: by emailed link → refused")),
        "{r}"
    );
    assert!(
        words
            .iter()
            .any(|w| w.starts_with("ben@example.com: by emailed link → refused")),
        "{r}"
    );
    patch_policy(
        &app,
        &org,
        json!({"invitable_roles": ["member"], "inviters": "admins"}),
    )
    .await;

    // Cy's admin invitation: the page says why, accepting is refused, nobody joins.
    let r = app.browser_get(&cy_path, None).await;
    assert!(r.text().contains("may grant only: member"), "{}", r.text());
    let r = app.browser_post(&cy_path, "", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("may grant only: member"), "{}", r.text());
    // Ben's invitation from Amy, who may no longer invite: refused too.
    let r = app.browser_post(&ben_path, "", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("only admins may invite"), "{}", r.text());
    assert_eq!(memberships_of(&app, &org).await, ["amy@example.com"]);
    assert_eq!(invitation_state(&app, &cy).await, "pending");
    assert_eq!(invitation_state(&app, &ben).await, "pending");

    // The simulator agrees: the same inviter and role are denied by the same rules.
    let sim = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{org}/policy/simulate"),
            Some(json!({"email": "ben@example.com", "path": {"kind": "invitation", "role": "member", "inviter_membership_id": amy}})),
        )
        .await
        .json();
    assert_eq!(sim["decision"], "deny", "{sim}");
    assert!(
        sim["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rule"] == "inviter" && r["outcome"] == "deny"),
        "{sim}"
    );

    // Loosened again, the same links work.
    patch_policy(
        &app,
        &org,
        json!({"invitable_roles": [], "inviters": "members"}),
    )
    .await;
    let r = app.browser_post(&cy_path, "", None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let r = app.browser_post(&ben_path, "", None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let mut joined = memberships_of(&app, &org).await;
    joined.sort();
    assert_eq!(
        joined,
        ["amy@example.com", "ben@example.com", "cy@example.com"]
    );
}

async fn addresses_with_invisible_characters_are_refused(d: Dialect) {
    let app = app(d).await;
    let org = app.create_org("Acme").await;
    for email in [
        "w@vic\u{ad}tim.test",
        "w@victim.test\u{2060}",
        "w\u{200b}@victim.test",
    ] {
        let r = invite(&app, &org, email, json!({})).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{email}: {}",
            r.text()
        );
    }
    // A trailing root dot names the same address: it counts as that address.
    let r = invite(&app, &org, "w@victim.test.", json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["email"], "w@victim.test");
}

crate::both_databases!(
    addresses_with_invisible_characters_are_refused,
    resends_wait_for_the_cool_down_and_send_nothing_meanwhile,
    an_organization_sends_a_bounded_number_of_invitation_mails_an_hour,
    one_address_gets_a_bounded_number_of_invitation_mails_an_hour,
    acceptance_applies_the_policy_that_tightened_after_the_invitation,
);
