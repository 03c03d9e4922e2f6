//! Members, roles and invitations: acceptance by emailed link and through SSO, single use under
//! concurrency, expiry, revocation and resend, role escalation, the directory and domain rules,
//! provenance for every path, admin changes, cross-organization isolation, and mail delivery
//! through a real SMTP server with retries.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::oidc::{org_with_connection, setup, sign_in};
use crate::helpers::scim::{create_dir, create_user, scim, PATCH};
use crate::helpers::{exchange, param, Dialect, TestApp, VENDOR_CB};
use lanyard::server::service::invitations::RESEND_COOLDOWN_MS;

const DAY: i64 = 24 * 3600 * 1000;

async fn invite(app: &TestApp, body: Value) -> crate::helpers::TestResponse {
    app.api(Method::POST, "/api/v1/invitations", Some(body))
        .await
}

/// Invites and returns (invitation id, path of the accept link).
async fn invited(app: &TestApp, org: &str, email: &str, extra: Value) -> (String, String) {
    let mut body = json!({"organization_id": org, "email": email});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let r = invite(app, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let j = r.json();
    assert_eq!(j["state"], "pending");
    let id = j["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("inv_"));
    (id, link_path(&j))
}

fn link_path(j: &Value) -> String {
    let url = j["accept_url"].as_str().expect("accept_url").to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:3000/invite/lanyard_invite_"),
        "{url}"
    );
    url["http://127.0.0.1:3000".len()..].to_owned()
}

/// Accepts by link; returns the vendor code.
async fn accept(app: &TestApp, path: &str) -> String {
    let r = app.browser_post(path, "", None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let to = url::Url::parse(&r.header("location").unwrap()).unwrap();
    assert!(to.as_str().starts_with(VENDOR_CB), "{to}");
    param(&to, "code").expect("code")
}

async fn membership(app: &TestApp, id: &str) -> Value {
    let r = app
        .api(Method::GET, &format!("/api/v1/memberships/{id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

async fn patch_member(app: &TestApp, id: &str, body: Value) -> crate::helpers::TestResponse {
    app.api(
        Method::PATCH,
        &format!("/api/v1/memberships/{id}"),
        Some(body),
    )
    .await
}

/// The id of the first member whose email or name contains `search`.
async fn member_id(app: &TestApp, org: &str, search: &str) -> String {
    let list = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{org}/memberships?search={search}"),
            None,
        )
        .await;
    list.json()["data"][0]["id"].as_str().unwrap().to_owned()
}

async fn app(d: Dialect) -> TestApp {
    TestApp::spawn_with(d, &[("LANYARD_REDIRECT_URIS", VENDOR_CB)]).await
}

async fn invitation_state(app: &TestApp, id: &str) -> String {
    let r = app
        .api(Method::GET, &format!("/api/v1/invitations/{id}"), None)
        .await;
    r.json()["state"].as_str().unwrap().to_owned()
}

async fn link_accept_creates_member_with_invitation_provenance(d: Dialect) {
    let app = app(d).await;
    let org = app.create_org("Acme").await;
    let (id, path) = invited(&app, &org, "Dana@Example.com", json!({"role": "admin"})).await;
    // GET shows the invitation and consumes nothing (mail scanners follow links).
    for _ in 0..2 {
        let r = app.browser_get(&path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let t = r.text();
        assert!(
            t.contains("Acme") && t.contains("dana@example.com") && t.contains("Admin"),
            "{t}"
        );
        assert!(t.contains(r#"method="post""#), "the button posts");
    }
    assert_eq!(invitation_state(&app, &id).await, "pending");
    let code = accept(&app, &path).await;
    let r = exchange(&app, &code).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let j = r.json();
    assert_eq!(j["profile"]["email"], "dana@example.com");
    assert_eq!(j["profile"]["organization_id"], org);
    assert_eq!(j["profile"]["invitation_id"], id);
    assert_eq!(j["membership"]["role"], "admin");
    let m = membership(&app, j["membership"]["id"].as_str().unwrap()).await;
    assert_eq!(m["state"], "active");
    assert!(m["last_sign_in_at"].is_i64());
    assert_eq!(m["grants"][0]["kind"], "invitation");
    assert_eq!(m["grants"][0]["detail"]["invitation_id"], id);
    assert_eq!(
        m["source"], "invited by test",
        "the API key named test invited"
    );
    let inv = app
        .api(Method::GET, &format!("/api/v1/invitations/{id}"), None)
        .await
        .json();
    assert_eq!(inv["state"], "accepted");
    assert_eq!(inv["membership_id"], m["id"]);
    assert!(
        inv.get("accept_url").is_none(),
        "the link is shown only on create and resend"
    );
    // Single use: the link now answers 410 to GET and POST.
    assert_eq!(app.browser_get(&path, None).await.status, StatusCode::GONE);
    let again = app.browser_post(&path, "", None).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.text().contains("already been accepted"));
    let actions = app.audit_actions(&org).await;
    for a in [
        "invitation.created",
        "membership.created",
        "invitation.accepted",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    // The member list says where the member came from.
    let list = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{org}/memberships?search=dana"),
            None,
        )
        .await;
    assert_eq!(list.json()["data"][0]["source"], "invited by test");
    // Unknown links are 404.
    let r = app.browser_get("/invite/lanyard_invite_nope", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn two_concurrent_acceptances_exactly_one_wins(d: Dialect) {
    let app = app(d).await;
    let org = app.create_org("Acme").await;
    let (id, path) = invited(&app, &org, "race@example.com", json!({})).await;
    let (a, b) = tokio::join!(
        app.browser_post(&path, "", None),
        app.browser_post(&path, "", None)
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [303, 410], "exactly one acceptance wins");
    let list = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{org}/memberships"),
            None,
        )
        .await;
    assert_eq!(list.json()["data"].as_array().unwrap().len(), 1);
    assert_eq!(invitation_state(&app, &id).await, "accepted");
    let accepted = app
        .audit_actions(&org)
        .await
        .iter()
        .filter(|a| *a == "invitation.accepted")
        .count();
    assert_eq!(accepted, 1);
}

async fn expired_revoked_and_replaced_links_answer_410(d: Dialect) {
    let app = app(d).await;
    let org = app.create_org("Acme").await;
    // Expiry bounds.
    for days in [0, 31] {
        let r = invite(
            &app,
            json!({"organization_id": org, "email": "x@example.com", "expires_in_days": days}),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json()["error"]["field"], "expires_in_days");
    }
    let (exp_id, exp_path) = invited(
        &app,
        &org,
        "late@example.com",
        json!({"expires_in_days": 1}),
    )
    .await;
    app.state.clock.advance(DAY + 1000);
    assert_eq!(invitation_state(&app, &exp_id).await, "expired");
    let r = app.browser_get(&exp_path, None).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.text().contains("expired"));
    assert_eq!(
        app.browser_post(&exp_path, "", None).await.status,
        StatusCode::GONE
    );
    // The sweep records the expiry once.
    assert_eq!(
        lanyard::server::service::invitations::expire_due(&app.state)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        lanyard::server::service::invitations::expire_due(&app.state)
            .await
            .unwrap(),
        0
    );
    assert!(app
        .audit_actions(&org)
        .await
        .iter()
        .any(|a| a == "invitation.expired"));
    // An expired invitation cannot be resent; a new one can be created for the same address.
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/invitations/{exp_id}/resend"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    invited(&app, &org, "late@example.com", json!({})).await;

    // Revoked.
    let (rev_id, rev_path) = invited(&app, &org, "gone@example.com", json!({})).await;
    let r = app
        .api(
            Method::DELETE,
            &format!("/api/v1/invitations/{rev_id}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["state"], "revoked");
    let r = app.browser_get(&rev_path, None).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.text().contains("withdrawn"));
    assert_eq!(
        app.browser_post(&rev_path, "", None).await.status,
        StatusCode::GONE
    );
    let r = app
        .api(
            Method::DELETE,
            &format!("/api/v1/invitations/{rev_id}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "revoking twice");

    // Resent: the old link stops working, the new one works.
    let (res_id, old_path) = invited(&app, &org, "again@example.com", json!({})).await;
    // Past the resend cool-down.
    app.state.clock.advance(RESEND_COOLDOWN_MS);
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/invitations/{res_id}/resend"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let new_path = link_path(&r.json());
    assert_ne!(new_path, old_path);
    let r = app.browser_get(&old_path, None).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.text().contains("newer invitation email"), "{}", r.text());
    assert_eq!(
        app.browser_post(&old_path, "", None).await.status,
        StatusCode::GONE
    );
    assert_eq!(
        invitation_state(&app, &res_id).await,
        "pending",
        "a stale link changes nothing"
    );
    let code = accept(&app, &new_path).await;
    assert_eq!(exchange(&app, &code).await.status, StatusCode::OK);
    let actions = app.audit_actions(&org).await;
    assert!(actions.iter().any(|a| a == "invitation.resent"));
    assert!(actions.iter().any(|a| a == "invitation.revoked"));
    // A second pending invitation to one address is refused.
    invited(&app, &org, "twice@example.com", json!({})).await;
    let r = invite(
        &app,
        json!({"organization_id": org, "email": "TWICE@example.com"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["error"]["field"], "email");
}

async fn roles_bound_what_an_inviter_can_grant(d: Dialect) {
    let app = app(d).await;
    let org = app.create_org("Acme").await;
    let r = app.api(Method::POST, "/api/v1/roles", Some(json!({"slug": "billing", "name": "Billing", "permissions": ["billing:read", "billing:write"]}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = app
        .api(
            Method::POST,
            "/api/v1/roles",
            Some(json!({"slug": "admin", "name": "Mine"})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "built-in slugs are taken"
    );
    let r = app
        .api(
            Method::POST,
            "/api/v1/roles",
            Some(json!({"slug": "x y", "name": "Bad"})),
        )
        .await;
    assert_eq!(r.json()["error"]["field"], "slug");
    let roles = app.api(Method::GET, "/api/v1/roles", None).await.json();
    let slugs: Vec<&str> = roles["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["admin", "member", "billing"]);
    // A member joins with the role member.
    let (_, path) = invited(&app, &org, "mia@example.com", json!({"role": "member"})).await;
    let code = accept(&app, &path).await;
    let mia = exchange(&app, &code).await.json()["membership"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Mia may invite members but not admins nor billing (she lacks its permissions).
    for role in ["admin", "billing"] {
        let r = invite(&app, json!({"organization_id": org, "email": "x@example.com", "role": role, "inviter_membership_id": mia})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{role}: {}", r.text());
        assert!(r.text().contains("cannot grant"), "{}", r.text());
    }
    let r = invite(&app, json!({"organization_id": org, "email": "x@example.com", "role": "member", "inviter_membership_id": mia})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["inviter"]["name"], "mia@example.com");
    assert_eq!(r.json()["inviter"]["type"], "membership");
    // Accepting it records "invited by mia".
    let code = accept(&app, &link_path(&r.json())).await;
    let xm = exchange(&app, &code).await.json()["membership"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        membership(&app, &xm).await["source"],
        "invited by mia@example.com"
    );
    // Nor can she raise anyone (or herself) through the membership API.
    let r = patch_member(
        &app,
        &xm,
        json!({"role": "admin", "acting_membership_id": mia}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = patch_member(
        &app,
        &mia,
        json!({"role": "admin", "acting_membership_id": mia}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(membership(&app, &mia).await["role"], "member");
    // A suspended admin can be invited back only by someone who could grant admin.
    let r = patch_member(&app, &xm, json!({"role": "admin"})).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = patch_member(&app, &xm, json!({"state": "suspended"})).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = invite(&app, json!({"organization_id": org, "email": "x@example.com", "role": "member", "inviter_membership_id": mia})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = patch_member(&app, &xm, json!({"state": "active", "role": "member"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // An inviter from another organization, or unknown, is refused.
    let other = app.create_org("Other").await;
    let r = invite(
        &app,
        json!({"organization_id": other, "email": "y@example.com", "inviter_membership_id": mia}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "inviter_membership_id");
    let r = invite(
        &app,
        json!({"organization_id": org, "email": "y@example.com", "role": "owner"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "role");
    // The vendor itself may grant the custom role; a role in use cannot be deleted.
    let r = patch_member(&app, &xm, json!({"role": "billing"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["role_source"], "role set to billing by test");
    let r = app.api(Method::DELETE, "/api/v1/roles/billing", None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = app.api(Method::DELETE, "/api/v1/roles/member", None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

async fn sso_required_acceptance_needs_the_invited_email(d: Dialect) {
    let (app, op) = setup(d).await;
    let (org, conn) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    let (id, path) = invited(&app, &org, "dana@acme.test", json!({})).await;
    // Past the resend cool-down, for the resend below.
    app.state.clock.advance(RESEND_COOLDOWN_MS);
    let page = app.browser_get(&path, None).await;
    assert!(
        page.text().contains("data-testid=\"sso-required\""),
        "{}",
        page.text()
    );
    // The invitee signs in as someone else: refused, nothing consumed.
    let r = app.browser_post(&path, "", None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let to_op = r.header("location").unwrap();
    assert!(to_op.starts_with(&op.issuer), "{to_op}");
    op.next_account(json!({"sub": "eve-1", "email": "eve@acme.test"}))
        .await;
    let cb = op.browse_to_callback(&to_op).await;
    let r = app.browser_get(&cb, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(
        r.text()
            .contains("The invitation is for dana@acme.test, but you signed in as eve@acme.test"),
        "{}",
        r.text()
    );
    assert_eq!(invitation_state(&app, &id).await, "pending");
    let list = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{org}/memberships"),
            None,
        )
        .await;
    assert!(
        list.json()["data"].as_array().unwrap().is_empty(),
        "eve got nothing"
    );
    // A resend while the invitee is at the IdP replaces the link that started the sign-in: the
    // acceptance fails closed and the invitation stays pending.
    let r = app.browser_post(&path, "", None).await;
    let to_op = r.header("location").unwrap();
    let resent = app
        .api(
            Method::POST,
            &format!("/api/v1/invitations/{id}/resend"),
            None,
        )
        .await;
    assert_eq!(resent.status, StatusCode::OK);
    let path = link_path(&resent.json());
    op.next_account(json!({"sub": "dana-1", "email": "dana@acme.test"}))
        .await;
    let cb = op.browse_to_callback(&to_op).await;
    let r = app.browser_get(&cb, None).await;
    assert_eq!(r.status, StatusCode::GONE, "{}", r.text());
    assert_eq!(invitation_state(&app, &id).await, "pending");
    // The right person with the current link: accepted through the connection, then on to the
    // vendor with a code.
    let r = app.browser_post(&path, "", None).await;
    let to_op = r.header("location").unwrap();
    op.next_account(json!({"sub": "dana-1", "email": "Dana@acme.test", "given_name": "Dana"}))
        .await;
    let cb = op.browse_to_callback(&to_op).await;
    let r = app.browser_get(&cb, None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let back = url::Url::parse(&r.header("location").unwrap()).unwrap();
    assert!(back.as_str().starts_with(VENDOR_CB));
    let j = exchange(&app, &param(&back, "code").unwrap()).await.json();
    assert_eq!(j["profile"]["connection_id"], conn);
    assert_eq!(j["profile"]["idp_subject"], "dana-1");
    let m = membership(&app, j["membership"]["id"].as_str().unwrap()).await;
    assert_eq!(m["grants"][0]["kind"], "invitation");
    assert_eq!(m["grants"][0]["detail"]["connection_id"], conn);
    assert_eq!(invitation_state(&app, &id).await, "accepted");
    // Later sign-ins go through the identity the acceptance linked.
    op.next_account(json!({"sub": "dana-1", "email": "dana@acme.test"}))
        .await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    let j = exchange(&app, &param(&back, "code").unwrap()).await.json();
    assert_eq!(j["membership"]["id"], m["id"]);
}

async fn another_organizations_verified_domain_is_refused(d: Dialect) {
    let app = app(d).await;
    let acme = app.create_org("Acme").await;
    let globex = app.create_org("Globex").await;
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{globex}/domains"),
            Some(json!({"domain": "globex.test", "verified": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = invite(
        &app,
        json!({"organization_id": acme, "email": "hank@globex.test"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "domain_owned_elsewhere");
    assert_eq!(r.json()["error"]["field"], "email");
    // Globex itself may invite its people.
    invited(&app, &globex, "hank@globex.test", json!({})).await;
    // A domain verified elsewhere after the invitation was sent blocks the acceptance too.
    let (_, path) = invited(&app, &acme, "ina@initech.test", json!({})).await;
    let initech = app.create_org("Initech").await;
    app.api(
        Method::POST,
        &format!("/api/v1/organizations/{initech}/domains"),
        Some(json!({"domain": "initech.test", "verified": true})),
    )
    .await;
    let r = app.browser_post(&path, "", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let list = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{acme}/memberships"),
            None,
        )
        .await;
    assert!(list.json()["data"].as_array().unwrap().is_empty());
}

async fn a_deactivated_directory_user_cannot_be_invited_or_accept(d: Dialect) {
    let app = app(d).await;
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "okta").await;
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/directories/{}", dir.id),
            Some(json!({"authoritative": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let carl = create_user(&app, &dir, "carl@example.com").await;
    let bob = create_user(&app, &dir, "bob@example.com").await;
    let off =
        json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": false}}]});
    let r = scim(
        &app,
        &dir,
        Method::PATCH,
        &format!("/Users/{carl}"),
        Some(off.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = invite(
        &app,
        json!({"organization_id": org, "email": "carl@example.com"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "directory_refuses");
    assert!(r.text().contains("deactivated"), "{}", r.text());
    // Someone the authoritative directory never provisioned cannot be invited either.
    let r = invite(
        &app,
        json!({"organization_id": org, "email": "stranger@example.com"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.text().contains("has not provisioned"), "{}", r.text());
    // Bob is provisioned (and already a member through the directory): nothing to invite.
    let r = invite(
        &app,
        json!({"organization_id": org, "email": "bob@example.com"}),
    )
    .await;
    assert_eq!(r.json()["error"]["code"], "already_member");
    // Bob is suspended by an admin, invited back, then deactivated before accepting: refused.
    let bm = member_id(&app, &org, "bob").await;
    let r = patch_member(&app, &bm, json!({"state": "suspended"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let (id, path) = invited(&app, &org, "bob@example.com", json!({})).await;
    let r = scim(
        &app,
        &dir,
        Method::PATCH,
        &format!("/Users/{bob}"),
        Some(off),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.browser_post(&path, "", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("deactivated"), "{}", r.text());
    assert_ne!(invitation_state(&app, &id).await, "accepted");
    assert_eq!(membership(&app, &bm).await["state"], "suspended");
}

async fn suspending_a_member_revokes_their_pending_invitations(d: Dialect) {
    let app = app(d).await;
    let org = app.create_org("Acme").await;
    // Bob is invited, then joins through a (non-authoritative) directory before accepting.
    let (id, path) = invited(&app, &org, "bob@example.com", json!({"role": "admin"})).await;
    let dir = create_dir(&app, &org, "okta").await;
    create_user(&app, &dir, "bob@example.com").await;
    let bm = member_id(&app, &org, "bob").await;
    let r = patch_member(&app, &bm, json!({"state": "suspended"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // The old link cannot undo the suspension.
    assert_eq!(invitation_state(&app, &id).await, "revoked");
    assert_eq!(
        app.browser_post(&path, "", None).await.status,
        StatusCode::GONE
    );
    assert_eq!(membership(&app, &bm).await["state"], "suspended");
    // A new invitation (a deliberate decision) brings him back; the directory keeps his role.
    let (_, path) = invited(&app, &org, "bob@example.com", json!({"role": "admin"})).await;
    let code = accept(&app, &path).await;
    let j = exchange(&app, &code).await.json();
    assert_eq!(j["membership"]["id"], bm);
    assert_eq!(
        j["membership"]["role"], "member",
        "the directory manages the role"
    );
    assert_eq!(membership(&app, &bm).await["state"], "active");
}

async fn admins_change_roles_and_states_with_provenance(d: Dialect) {
    let (app, op) = setup(d).await;
    let (org, _) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    // JIT provenance.
    op.next_account(json!({"sub": "s-1", "email": "jo@acme.test"}))
        .await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    let j = exchange(&app, &param(&back, "code").unwrap()).await.json();
    let jo = j["membership"]["id"].as_str().unwrap().to_owned();
    let m = membership(&app, &jo).await;
    assert_eq!(
        m["source"],
        "JIT through OIDC connection Test IdP on acme.test"
    );
    assert!(m["last_sign_in_at"].is_i64());
    // Manual role change.
    let r = patch_member(&app, &jo, json!({"role": "admin"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["role"], "admin");
    assert_eq!(r.json()["role_source"], "role set to admin by test");
    // Suspension voids a sign-in code issued before it, in the same transaction.
    op.next_account(json!({"sub": "s-1", "email": "jo@acme.test"}))
        .await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    let code = param(&back, "code").unwrap();
    let r = patch_member(&app, &jo, json!({"state": "suspended"})).await;
    assert_eq!(r.json()["state"], "suspended");
    assert_eq!(
        exchange(&app, &code).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    op.next_account(json!({"sub": "s-1", "email": "jo@acme.test"}))
        .await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    // Removal, then reactivation.
    let r = patch_member(&app, &jo, json!({"state": "removed"})).await;
    assert_eq!(r.json()["state"], "removed");
    let r = patch_member(&app, &jo, json!({"role": "member"})).await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "no role change while removed"
    );
    let r = patch_member(&app, &jo, json!({"state": "active"})).await;
    assert_eq!(r.json()["state"], "active");
    let kinds: Vec<String> = membership(&app, &jo).await["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "jit",
            "manual_role",
            "manual_suspended",
            "manual_removed",
            "manual_reactivated"
        ]
    );
    let actions = app.audit_actions(&org).await;
    for a in [
        "membership.role_changed",
        "membership.suspended",
        "membership.removed",
        "membership.reactivated",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a}");
    }
    let r = patch_member(&app, &jo, json!({"state": "gone"})).await;
    assert_eq!(r.json()["error"]["field"], "state");
    // A directory-managed member's role is changed in the directory, not here.
    let dir = create_dir(&app, &org, "okta").await;
    create_user(&app, &dir, "kim@acme.test").await;
    let list = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{org}/memberships?search=kim"),
            None,
        )
        .await;
    let kim = &list.json()["data"][0];
    assert_eq!(kim["source"], "via directory okta directory");
    assert_eq!(kim["managed_by"]["directory_id"], dir.id);
    let kid = kim["id"].as_str().unwrap();
    let r = patch_member(&app, kid, json!({"role": "admin"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["error"]["code"], "managed_by_directory");
    // Filters.
    let list = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{org}/memberships?role=admin"),
            None,
        )
        .await;
    let lj = list.json();
    let emails: Vec<&str> = lj["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["jo@acme.test"]);
}

async fn portal_members_are_scoped_to_the_session_organization(d: Dialect) {
    let app = app(d).await;
    let acme = app.create_org("Acme").await;
    let globex = app.create_org("Globex").await;
    let (_, path) = invited(&app, &acme, "ann@example.com", json!({})).await;
    let code = accept(&app, &path).await;
    let ann = exchange(&app, &code).await.json()["membership"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (pending, _) = invited(&app, &acme, "pat@example.com", json!({})).await;
    // A Globex admin's session.
    let r = app.api(Method::POST, "/api/v1/portal/links", Some(json!({"organization_id": globex, "intents": ["invitations"], "admin_email": "gina@globex.test"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let link = r.json()["link"].as_str().unwrap().to_owned();
    let cookie = app
        .redeem(&link[link.find("/portal/link/").unwrap()..])
        .await;
    for (path, form) in [
        ("/portal/api/member", format!("id={ann}")),
        (
            "/portal/api/change_member",
            format!("id={ann}&action=suspend"),
        ),
        (
            "/portal/api/change_member",
            format!("id={ann}&action=role&role=admin"),
        ),
        ("/portal/api/resend_invitation", format!("id={pending}")),
        ("/portal/api/revoke_invitation", format!("id={pending}")),
    ] {
        let r = app.browser_post(path, &form, Some(&cookie)).await;
        assert!(
            !r.text().contains("ann@example.com"),
            "{path}: {}",
            r.text()
        );
    }
    let m = membership(&app, &ann).await;
    assert_eq!(
        (m["state"].as_str(), m["role"].as_str()),
        (Some("active"), Some("member"))
    );
    assert_eq!(invitation_state(&app, &pending).await, "pending");
    // Globex's page lists none of Acme's people; an invitation from it names the admin.
    let r = app
        .browser_post("/portal/api/members", "search=&state=&role=", Some(&cookie))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(!r.text().contains("ann@example.com"));
    let r = app
        .browser_post(
            "/portal/api/invite",
            "email=gus%40example.com&role=member&expires_in_days=3",
            Some(&cookie),
        )
        .await;
    assert!(
        r.status.is_success() || r.status == StatusCode::SEE_OTHER,
        "{} {}",
        r.status,
        r.text()
    );
    let list = app
        .api(
            Method::GET,
            &format!("/api/v1/invitations?organization_id={globex}"),
            None,
        )
        .await
        .json();
    assert_eq!(list["data"][0]["inviter"]["name"], "gina@globex.test");
    assert_eq!(list["data"][0]["inviter"]["type"], "portal_admin");
    // A session without the invitations intent is refused.
    let other = app.create_link(&globex, &["sso"]).await;
    let c2 = app.redeem(&other).await;
    app.browser_post(
        "/portal/api/invite",
        "email=hal%40example.com&role=member&expires_in_days=3",
        Some(&c2),
    )
    .await;
    let list = app
        .api(
            Method::GET,
            &format!("/api/v1/invitations?organization_id={globex}"),
            None,
        )
        .await
        .json();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    // Unknown ids are 404 on every vendor endpoint.
    for (m, p) in [
        (
            Method::GET,
            "/api/v1/memberships/om_01JXXXXXXXXXXXXXXXXXXXXXXX".to_owned(),
        ),
        (
            Method::GET,
            "/api/v1/invitations/inv_01JXXXXXXXXXXXXXXXXXXXXXXX".to_owned(),
        ),
        (
            Method::DELETE,
            "/api/v1/invitations/inv_01JXXXXXXXXXXXXXXXXXXXXXXX".to_owned(),
        ),
        (
            Method::POST,
            "/api/v1/invitations/inv_01JXXXXXXXXXXXXXXXXXXXXXXX/resend".to_owned(),
        ),
    ] {
        assert_eq!(
            app.api(m, &p, None).await.status,
            StatusCode::NOT_FOUND,
            "{p}"
        );
    }
}

async fn invitation_mail_goes_through_smtp_with_retries(d: Dialect) {
    let sink = crate::mail::Sink::start(&[("SMTP_FAIL_FIRST", "1")]);
    let smtp = sink.url("");
    let app = TestApp::spawn_with(
        d,
        &[
            ("LANYARD_REDIRECT_URIS", VENDOR_CB),
            ("LANYARD_SMTP_URL", &smtp),
            ("LANYARD_VENDOR_NAME", "Vendo"),
        ],
    )
    .await;
    let org = app.create_org("Acme").await;
    let (id, path) = invited(&app, &org, "mel@example.com", json!({})).await;
    use lanyard::server::service::invitations::deliver_mail;
    assert_eq!(deliver_mail(&app.state).await.unwrap(), 1);
    let inv = app
        .api(Method::GET, &format!("/api/v1/invitations/{id}"), None)
        .await
        .json();
    assert_eq!(inv["delivery"]["state"], "retrying", "{inv}");
    assert!(
        inv["delivery"]["last_error"]
            .as_str()
            .unwrap()
            .contains("451"),
        "{inv}"
    );
    // Not due yet: nothing is attempted.
    assert_eq!(deliver_mail(&app.state).await.unwrap(), 0);
    app.state.clock.advance(60_000);
    assert_eq!(deliver_mail(&app.state).await.unwrap(), 1);
    let inv = app
        .api(Method::GET, &format!("/api/v1/invitations/{id}"), None)
        .await
        .json();
    assert_eq!(inv["delivery"]["state"], "sent", "{inv}");
    assert_eq!(inv["delivery"]["attempts"], 2);
    let msgs = sink.messages().await;
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let m = &msgs[0];
    assert!(m["to"].to_string().contains("mel@example.com"));
    assert!(
        m["subject"].as_str().unwrap().contains("Acme on Vendo"),
        "{m}"
    );
    let link = format!("http://127.0.0.1:3000{path}");
    assert!(m["text"].as_str().unwrap().contains(&link), "{m}");
    assert!(m["html"].as_str().unwrap().contains(&link), "{m}");
    // The stored body is wiped once sent (it carried the link).
    let mut conn = app.state.db.pool.acquire().await.unwrap();
    let bodies: Vec<String> = sqlx::query_scalar("SELECT body_enc FROM mail_outbox")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert_eq!(bodies, [String::new()]);
    drop(conn);
    // The emailed link works.
    let code = accept(&app, &path).await;
    assert_eq!(exchange(&app, &code).await.status, StatusCode::OK);
}

async fn without_smtp_mail_is_written_to_the_data_directory(d: Dialect) {
    let app = app(d).await;
    let org = app.create_org("Acme").await;
    let (_, path) = invited(&app, &org, "nia@example.com", json!({})).await;
    lanyard::server::service::invitations::deliver_mail(&app.state)
        .await
        .unwrap();
    let dir = app.state.config.data_dir.join("mail");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let eml = std::fs::read_to_string(&files[0]).unwrap();
    assert!(eml.contains("nia@example.com"));
    let token = path.rsplit('/').next().unwrap();
    assert!(
        eml.replace("=\r\n", "").contains(token),
        "the link is in the mail"
    );
}

crate::both_databases!(
    link_accept_creates_member_with_invitation_provenance,
    two_concurrent_acceptances_exactly_one_wins,
    expired_revoked_and_replaced_links_answer_410,
    roles_bound_what_an_inviter_can_grant,
    sso_required_acceptance_needs_the_invited_email,
    another_organizations_verified_domain_is_refused,
    a_deactivated_directory_user_cannot_be_invited_or_accept,
    admins_change_roles_and_states_with_provenance,
    suspending_a_member_revokes_their_pending_invitations,
    portal_members_are_scoped_to_the_session_organization,
    invitation_mail_goes_through_smtp_with_retries,
    without_smtp_mail_is_written_to_the_data_directory,
);
