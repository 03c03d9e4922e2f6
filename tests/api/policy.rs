//! The access policy: for each field, enforcement and the simulator agree on an allow and a deny
//! (the simulator runs the enforcement's own decision functions; each test changes a rule and
//! checks both change); the last-admin protection; the dry-run impact; who may edit what.

use axum::http::{Method, StatusCode};
use lanyard::domain::ids::OrgId;
use serde_json::{json, Value};

use crate::helpers::oidc::{org_with_connection, setup, sign_in};
use crate::helpers::scim::{
    create_dir, create_user, push_inactive, scim, set_authoritative, Dir, PATCH,
};
use crate::helpers::{
    exchange, invite, join_by_invitation, param, patch_policy, Dialect, TestApp, VENDOR_CB,
};

const DAY: i64 = 24 * 3600 * 1000;

async fn app(d: Dialect) -> TestApp {
    TestApp::spawn_with(d, &[("LANYARD_REDIRECT_URIS", VENDOR_CB)]).await
}

async fn simulate(app: &TestApp, org: &str, email: &str, path: Value) -> Value {
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{org}/policy/simulate"),
            Some(json!({"email": email, "path": path})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

/// The outcome the simulator gives `rule` (the last reason about it).
fn outcome(sim: &Value, rule: &str) -> String {
    sim["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|r| r["rule"] == rule)
        .map(|r| r["outcome"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no reason for {rule}: {sim}"))
}

async fn member_state(app: &TestApp, org: &str, email: &str) -> Option<(String, String)> {
    let r = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{org}/memberships?search={email}"),
            None,
        )
        .await;
    r.json()["data"].as_array().unwrap().first().map(|m| {
        (
            m["state"].as_str().unwrap().to_owned(),
            m["role"].as_str().unwrap().to_owned(),
        )
    })
}

async fn jit_default_role_and_sso_required_agree(d: Dialect) {
    let (app, op) = setup(d).await;
    let (org, conn) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    let sso = json!({"kind": "sso", "connection_id": conn});

    // jit_enabled on: allowed in both.
    let sim = simulate(&app, &org, "ann@acme.test", sso.clone()).await;
    assert_eq!(sim["decision"], "allow", "{sim}");
    assert_eq!(sim["membership"]["role"], "member");
    assert_eq!(outcome(&sim, "jit"), "allow");
    op.next_account(json!({"sub": "s-ann", "email": "ann@acme.test"}))
        .await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    assert!(param(&back, "code").is_some(), "{back}");

    // default_role: the simulator and JIT both give the new default.
    patch_policy(&app, &org, json!({"default_role": "admin"})).await;
    let sim = simulate(&app, &org, "bea@acme.test", sso.clone()).await;
    assert_eq!(sim["membership"]["role"], "admin", "{sim}");
    op.next_account(json!({"sub": "s-bea", "email": "bea@acme.test"}))
        .await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    let j = exchange(&app, &param(&back, "code").unwrap()).await.json();
    assert_eq!(j["membership"]["role"], "admin");
    patch_policy(&app, &org, json!({"default_role": "member"})).await;

    // jit_enabled off: denied in both, by the jit rule; existing members still sign in.
    patch_policy(&app, &org, json!({"jit_enabled": false})).await;
    let sim = simulate(&app, &org, "cal@acme.test", sso.clone()).await;
    assert_eq!(sim["decision"], "deny", "{sim}");
    assert_eq!(outcome(&sim, "jit"), "deny");
    assert!(sim.get("membership").is_none());
    op.next_account(json!({"sub": "s-cal", "email": "cal@acme.test"}))
        .await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    assert_eq!(
        param(&back, "error").as_deref(),
        Some("access_denied"),
        "{back}"
    );
    assert!(member_state(&app, &org, "cal@acme.test").await.is_none());
    let sim = simulate(&app, &org, "ann@acme.test", sso.clone()).await;
    assert_eq!(sim["decision"], "allow", "a member is not JIT: {sim}");
    op.next_account(json!({"sub": "s-ann", "email": "ann@acme.test"}))
        .await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    assert!(param(&back, "code").is_some(), "{back}");

    // sso_required_domains: the default ("*") sends an acme.test invitee through SSO.
    let inv = json!({"kind": "invitation"});
    let sim = simulate(&app, &org, "dee@acme.test", inv.clone()).await;
    assert_eq!(sim["decision"], "allow");
    assert_eq!(outcome(&sim, "sso_required"), "allow", "{sim}");
    let r = invite(&app, &org, "dee@acme.test", json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let url = r.json()["accept_url"].as_str().unwrap().to_owned();
    let path = url["http://127.0.0.1:3000".len()..].to_owned();
    let page = app.browser_get(&path, None).await;
    assert!(
        page.text().contains("data-testid=\"sso-required\""),
        "enforced: {}",
        page.text()
    );
    let r = app.browser_post(&path, "", None).await;
    assert!(
        r.header("location").unwrap().starts_with(&op.issuer),
        "to the IdP"
    );
    // Off: the simulator says the link is enough, and the link accepts.
    patch_policy(&app, &org, json!({"sso_required_domains": []})).await;
    let sim = simulate(&app, &org, "dee@acme.test", inv.clone()).await;
    assert_eq!(outcome(&sim, "sso_required"), "info", "{sim}");
    let page = app.browser_get(&path, None).await;
    assert!(!page.text().contains("data-testid=\"sso-required\""));
    let r = app.browser_post(&path, "", None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert!(r.header("location").unwrap().starts_with(VENDOR_CB));

    // Listed by name while no connection is active: both deny.
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/connections/{conn}"),
            Some(json!({"state": "inactive"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    patch_policy(&app, &org, json!({"sso_required_domains": ["acme.test"]})).await;
    let sim = simulate(&app, &org, "eve@acme.test", inv.clone()).await;
    assert_eq!(sim["decision"], "deny", "{sim}");
    assert_eq!(outcome(&sim, "sso_required"), "deny");
    let r = invite(&app, &org, "eve@acme.test", json!({})).await;
    let url = r.json()["accept_url"].as_str().unwrap().to_owned();
    let r = app
        .browser_post(&url["http://127.0.0.1:3000".len()..], "", None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("requires single sign-on"), "{}", r.text());
    // A domain the organization does not have is refused, naming the field.
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/organizations/{org}/policy"),
            Some(json!({"sso_required_domains": ["other.test"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "sso_required_domains");
}

async fn invitation_fields_agree(d: Dialect) {
    let app = app(d).await;
    let org = app.create_org("Corp").await;
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{org}/domains"),
            Some(json!({"domain": "corp.test", "verified": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let inv = |extra: Value| {
        let mut p = json!({"kind": "invitation"});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        p
    };

    // guest_invitations: on → both allow a guest; off → both deny, and a pending guest
    // invitation can no longer be accepted.
    let sim = simulate(&app, &org, "gus@guest.test", inv(json!({}))).await;
    assert_eq!(sim["decision"], "allow");
    assert_eq!(outcome(&sim, "guest_invitations"), "allow");
    let r = invite(&app, &org, "gus@guest.test", json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let gus_url = r.json()["accept_url"].as_str().unwrap().to_owned();
    patch_policy(&app, &org, json!({"guest_invitations": false})).await;
    let sim = simulate(&app, &org, "gil@guest.test", inv(json!({}))).await;
    assert_eq!(sim["decision"], "deny", "{sim}");
    assert_eq!(outcome(&sim, "guest_invitations"), "deny");
    let r = invite(&app, &org, "gil@guest.test", json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "guest_invitations_off");
    let r = app
        .browser_post(&gus_url["http://127.0.0.1:3000".len()..], "", None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    // People on the organization's own domain are still invited.
    let sim = simulate(&app, &org, "amy@corp.test", inv(json!({}))).await;
    assert_eq!(sim["decision"], "allow", "{sim}");
    let amy = join_by_invitation(&app, &org, "amy@corp.test").await;

    // inviters: "members" lets Amy (a member) invite; "admins" refuses her, in both.
    let by_amy = json!({"inviter_membership_id": amy});
    let sim = simulate(&app, &org, "ben@corp.test", inv(by_amy.clone())).await;
    assert_eq!(sim["decision"], "allow", "{sim}");
    assert_eq!(outcome(&sim, "inviter"), "allow");
    let r = invite(&app, &org, "ben@corp.test", by_amy.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    patch_policy(&app, &org, json!({"inviters": "admins"})).await;
    let sim = simulate(&app, &org, "bob@corp.test", inv(by_amy.clone())).await;
    assert_eq!(sim["decision"], "deny", "{sim}");
    assert_eq!(outcome(&sim, "inviter"), "deny");
    let r = invite(&app, &org, "bob@corp.test", by_amy.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());

    // invitable_roles: only member → admin refused in both, member allowed.
    patch_policy(&app, &org, json!({"invitable_roles": ["member"]})).await;
    let sim = simulate(&app, &org, "cy@corp.test", inv(json!({"role": "admin"}))).await;
    assert_eq!(sim["decision"], "deny", "{sim}");
    assert_eq!(outcome(&sim, "role"), "deny");
    let r = invite(&app, &org, "cy@corp.test", json!({"role": "admin"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "role");
    let sim = simulate(&app, &org, "cy@corp.test", inv(json!({"role": "member"}))).await;
    assert_eq!(sim["decision"], "allow");
    assert_eq!(sim["membership"]["role"], "member");
    let r = invite(&app, &org, "cy@corp.test", json!({"role": "member"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{org}/domains"),
            Some(json!({"domain": "pending.test"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    // Bad values name the field; nothing changes.
    for (body, field) in [
        (json!({"inviters": "everyone"}), "inviters"),
        (json!({"invitable_roles": ["nope"]}), "invitable_roles"),
        (json!({"removal_grace_days": 91}), "removal_grace_days"),
        (
            json!({"directory_deactivation": "delete"}),
            "directory_deactivation",
        ),
        (json!({"locked": ["colour"]}), "locked"),
        (
            json!({"sso_required_domains": ["*", "corp.test"]}),
            "sso_required_domains",
        ),
        (
            json!({"sso_required_domains": ["pending.test"]}),
            "sso_required_domains",
        ),
    ] {
        let r = app
            .api(
                Method::PATCH,
                &format!("/api/v1/organizations/{org}/policy"),
                Some(body),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
        assert_eq!(r.json()["error"]["field"], field);
    }
    let p = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{org}/policy"),
            None,
        )
        .await
        .json();
    assert_eq!(p["inviters"], "admins");
    assert_eq!(p["removal_grace_days"], 0);
}

async fn directory_fields_and_last_admin_agree(d: Dialect) {
    let app = app(d).await;
    let org = app.create_org("Dirco").await;
    let dir = create_dir(&app, &org, "okta").await;
    let dpath = |event: &str| json!({"kind": "directory", "directory_id": dir.id, "event": event});
    let inv = json!({"kind": "invitation"});

    // directory_authoritative: on → someone it never provisioned is refused in both; off → both
    // allow.
    patch_policy(&app, &org, json!({"directory_authoritative": true})).await;
    let sim = simulate(&app, &org, "out@dirco.test", inv.clone()).await;
    assert_eq!(sim["decision"], "deny", "{sim}");
    assert_eq!(outcome(&sim, "directory"), "deny");
    let r = invite(&app, &org, "out@dirco.test", json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "directory_refuses");
    patch_policy(&app, &org, json!({"directory_authoritative": false})).await;
    let sim = simulate(&app, &org, "out@dirco.test", inv.clone()).await;
    assert_eq!(sim["decision"], "allow", "{sim}");
    let r = invite(&app, &org, "out@dirco.test", json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());

    // The directory creates Ann as the only admin (default role admin at the time), then members.
    let sim = simulate(&app, &org, "ann@dirco.test", dpath("create")).await;
    assert_eq!(sim["decision"], "allow");
    assert_eq!(sim["membership"]["role"], "member");
    patch_policy(&app, &org, json!({"default_role": "admin"})).await;
    let sim = simulate(&app, &org, "ann@dirco.test", dpath("create")).await;
    assert_eq!(sim["membership"]["role"], "admin", "{sim}");
    let ann = create_user(&app, &dir, "ann@dirco.test").await;
    assert_eq!(
        member_state(&app, &org, "ann@dirco.test").await,
        Some(("active".into(), "admin".into()))
    );
    patch_policy(&app, &org, json!({"default_role": "member"})).await;
    let bob = create_user(&app, &dir, "bob@dirco.test").await;
    let carl = create_user(&app, &dir, "carl@dirco.test").await;
    let dave = create_user(&app, &dir, "dave@dirco.test").await;
    let deactivate = |who: String| {
        let app = &app;
        let dir: &Dir = &dir;
        async move {
            let off = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": false}}]});
            let r = scim(app, dir, Method::PATCH, &format!("/Users/{who}"), Some(off)).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        }
    };

    // directory_deactivation "suspend" (default): both say suspended, not removed.
    let sim = simulate(&app, &org, "bob@dirco.test", dpath("deactivate")).await;
    assert_eq!(sim["decision"], "deny");
    assert!(sim.to_string().contains("stays suspended"), "{sim}");
    deactivate(bob).await;
    assert_eq!(
        member_state(&app, &org, "bob@dirco.test").await.unwrap().0,
        "suspended"
    );

    // "remove" with no grace: removed at once, in both.
    patch_policy(&app, &org, json!({"directory_deactivation": "remove"})).await;
    let sim = simulate(&app, &org, "carl@dirco.test", dpath("deactivate")).await;
    assert!(sim.to_string().contains("removed at once"), "{sim}");
    deactivate(carl).await;
    assert_eq!(
        member_state(&app, &org, "carl@dirco.test").await.unwrap().0,
        "removed"
    );

    // removal_grace_days 7: suspended now, removed by the job after 7 days.
    patch_policy(&app, &org, json!({"removal_grace_days": 7})).await;
    let sim = simulate(&app, &org, "dave@dirco.test", dpath("deactivate")).await;
    assert!(sim.to_string().contains("after 7 days"), "{sim}");
    deactivate(dave).await;
    assert_eq!(
        member_state(&app, &org, "dave@dirco.test").await.unwrap().0,
        "suspended"
    );
    assert_eq!(
        lanyard::server::service::directories::remove_due(&app.state)
            .await
            .unwrap(),
        0
    );
    app.state.clock.advance(7 * DAY + 1000);
    assert_eq!(
        lanyard::server::service::directories::remove_due(&app.state)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        member_state(&app, &org, "dave@dirco.test").await.unwrap().0,
        "removed"
    );

    // protect_last_admin on: Ann, the last active admin, stays suspended (not removed), with a
    // warning event and a support-visible flag — the simulator says the same.
    let sim = simulate(&app, &org, "ann@dirco.test", dpath("deactivate")).await;
    assert_eq!(outcome(&sim, "last_admin"), "info");
    assert!(sim.to_string().contains("kept suspended"), "{sim}");
    deactivate(ann.clone()).await;
    assert_eq!(
        member_state(&app, &org, "ann@dirco.test").await.unwrap().0,
        "suspended"
    );
    app.state.clock.advance(8 * DAY);
    lanyard::server::service::directories::remove_due(&app.state)
        .await
        .unwrap();
    assert_eq!(
        member_state(&app, &org, "ann@dirco.test").await.unwrap().0,
        "suspended"
    );
    let ev = app
        .api(
            Method::GET,
            &format!("/api/v1/audit_events?organization_id={org}&action=membership.last_admin_deprovisioned"),
            None,
        )
        .await
        .json();
    assert_eq!(ev["data"][0]["metadata"]["protected"], true, "{ev}");
    let h = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{org}/health"),
            None,
        )
        .await
        .json();
    assert!(h["signals"].to_string().contains("No active admin"), "{h}");

    // An admin's own change cancels a removal the directory scheduled: Erin is deactivated
    // (7 days' grace), reactivated by an admin, then suspended by hand — the job leaves her.
    patch_policy(&app, &org, json!({"removal_grace_days": 7})).await;
    let erin = create_user(&app, &dir, "erin@dirco.test").await;
    deactivate(erin).await;
    let em = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{org}/memberships?search=erin"),
            None,
        )
        .await
        .json()["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for st in ["active", "suspended"] {
        let r = app
            .api(
                Method::PATCH,
                &format!("/api/v1/memberships/{em}"),
                Some(json!({"state": st})),
            )
            .await;
        assert!(
            r.status == StatusCode::OK || r.status == StatusCode::CONFLICT,
            "{}",
            r.text()
        );
    }
    app.state.clock.advance(8 * DAY);
    lanyard::server::service::directories::remove_due(&app.state)
        .await
        .unwrap();
    assert_ne!(
        member_state(&app, &org, "erin@dirco.test").await.unwrap().0,
        "removed",
        "a stale schedule removes nobody"
    );

    // protect_last_admin off: reactivated, then deactivated again, she is removed — in both.
    let on =
        json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": true}}]});
    let r = scim(
        &app,
        &dir,
        Method::PATCH,
        &format!("/Users/{ann}"),
        Some(on),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        member_state(&app, &org, "ann@dirco.test").await.unwrap().0,
        "active"
    );
    patch_policy(
        &app,
        &org,
        json!({"protect_last_admin": false, "removal_grace_days": 0}),
    )
    .await;
    let sim = simulate(&app, &org, "ann@dirco.test", dpath("deactivate")).await;
    assert!(sim.to_string().contains("removed anyway"), "{sim}");
    deactivate(ann).await;
    assert_eq!(
        member_state(&app, &org, "ann@dirco.test").await.unwrap().0,
        "removed"
    );

    // Deleting the directory only suspends the members it managed, whatever the policy.
    create_user(&app, &dir, "fay@dirco.test").await;
    let r = app
        .api(
            Method::DELETE,
            &format!("/api/v1/directories/{}", dir.id),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text());
    assert_eq!(
        member_state(&app, &org, "fay@dirco.test").await.unwrap().0,
        "suspended"
    );
    // With no directory, the policy cannot make "them" authoritative.
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/organizations/{org}/policy"),
            Some(json!({"directory_authoritative": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "directory_authoritative");
}

async fn impact_preview_counts_and_audit(d: Dialect) {
    let app = app(d).await;
    let org = app.create_org("Impact").await;
    let dir = create_dir(&app, &org, "okta").await;
    set_authoritative(&app, &dir, false).await;
    push_inactive(&app, &dir, "dave@impact.test").await;
    join_by_invitation(&app, &org, "dave@impact.test").await;
    join_by_invitation(&app, &org, "erin@impact.test").await;
    create_user(&app, &dir, "frank@impact.test").await;
    // Dry run: Dave (deactivated) and Erin (never provisioned) would lose access; Frank keeps
    // it. Nothing is saved.
    let r = patch_policy(
        &app,
        &org,
        json!({"directory_authoritative": true, "dry_run": true}),
    )
    .await;
    assert_eq!(r["saved"], false);
    let mut lose: Vec<String> = serde_json::from_value(r["impact"]["lose_access"].clone()).unwrap();
    lose.sort();
    assert_eq!(lose, ["dave@impact.test", "erin@impact.test"]);
    assert_eq!(
        r["policy"]["directory_authoritative"], true,
        "the preview shows the result"
    );
    let p = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{org}/policy"),
            None,
        )
        .await
        .json();
    assert_eq!(
        p["directory_authoritative"], false,
        "a dry run saves nothing"
    );
    // Saved: audited with before and after.
    let r = patch_policy(&app, &org, json!({"directory_authoritative": true})).await;
    assert_eq!(r["saved"], true);
    let ev = app
        .api(
            Method::GET,
            &format!("/api/v1/audit_events?organization_id={org}&action=policy.updated"),
            None,
        )
        .await
        .json();
    let e = &ev["data"][0];
    assert_eq!(
        e["metadata"]["before"]["directory_authoritative"], false,
        "{e}"
    );
    assert_eq!(e["metadata"]["after"]["directory_authoritative"], true);
    // The reverse preview counts who would get back in.
    let r = patch_policy(
        &app,
        &org,
        json!({"directory_authoritative": false, "dry_run": true}),
    )
    .await;
    assert_eq!(
        r["impact"]["gain_access"].as_array().unwrap().len(),
        2,
        "{r}"
    );
    // Pending invitations whose route changes are counted too.
    patch_policy(&app, &org, json!({"directory_authoritative": false})).await;
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{org}/domains"),
            Some(json!({"domain": "impact.test", "verified": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    invite(&app, &org, "gwen@guest.test", json!({})).await;
    let r = patch_policy(
        &app,
        &org,
        json!({"guest_invitations": false, "dry_run": true}),
    )
    .await;
    assert_eq!(
        r["impact"]["invitations"].as_array().unwrap().len(),
        1,
        "{r}"
    );
    assert!(r["impact"]["invitations"][0]
        .as_str()
        .unwrap()
        .starts_with("gwen@guest.test: by emailed link → refused"));
}

async fn portal_edits_need_the_intent_and_respect_locks(d: Dialect) {
    use lanyard::domain::intent::Intent;
    use lanyard::server::audit::{Actor, RequestContext};
    use lanyard::server::service::policy::{self, Editor, PolicyPatch};
    let app = app(d).await;
    let org = app.create_org("Locks").await;
    let patch = |jit: bool| PolicyPatch {
        jit_enabled: Some(jit),
        ..Default::default()
    };
    let actor = Actor::system();
    let ctx = RequestContext::default();
    // A portal session for invitations cannot change JIT (an sso field).
    let e = policy::update(
        &app.state,
        &actor,
        &ctx,
        &OrgId::parse(&org).unwrap(),
        Editor::Portal(&[Intent::Invitations]),
        patch(false),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 403, "{e}");
    assert!(
        policy::get(&app.state, &OrgId::parse(&org).unwrap())
            .await
            .unwrap()
            .policy
            .jit_enabled
    );
    // The same through the portal's server function, with a real session.
    let cookie = app
        .redeem(&app.create_link(&org, &["invitations"]).await)
        .await;
    let r = app
        .browser_post(
            "/portal/api/update_policy",
            "policy[jit_enabled]=off",
            Some(&cookie),
        )
        .await;
    assert!(
        !r.status.is_success() || r.text().contains("does not include"),
        "{} {}",
        r.status,
        r.text()
    );
    assert!(
        policy::get(&app.state, &OrgId::parse(&org).unwrap())
            .await
            .unwrap()
            .policy
            .jit_enabled
    );
    // With the sso intent it may.
    let cookie = app.redeem(&app.create_link(&org, &["sso"]).await).await;
    let r = app
        .browser_post(
            "/portal/api/update_policy",
            "policy[jit_enabled]=off",
            Some(&cookie),
        )
        .await;
    assert!(
        r.status.is_success() || r.status.is_redirection(),
        "{} {}",
        r.status,
        r.text()
    );
    assert!(
        !policy::get(&app.state, &OrgId::parse(&org).unwrap())
            .await
            .unwrap()
            .policy
            .jit_enabled
    );
    // The vendor locks it: the portal is refused, the vendor is not.
    patch_policy(&app, &org, json!({"locked": ["jit_enabled"]})).await;
    let e = policy::update(
        &app.state,
        &actor,
        &ctx,
        &OrgId::parse(&org).unwrap(),
        Editor::Portal(&[Intent::Sso]),
        patch(true),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 403);
    let e = policy::update(
        &app.state,
        &actor,
        &ctx,
        &OrgId::parse(&org).unwrap(),
        Editor::Portal(&[Intent::Sso]),
        PolicyPatch {
            locked: Some(vec![]),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 403, "only the vendor locks");
    patch_policy(&app, &org, json!({"jit_enabled": true})).await;
    // A lock on directory authority also holds on the portal's directory page.
    let dir = create_dir(&app, &org, "okta").await;
    patch_policy(&app, &org, json!({"locked": ["directory_authoritative"]})).await;
    let cookie = app.redeem(&app.create_link(&org, &["dsync"]).await).await;
    let r = app
        .browser_post(
            "/portal/api/set_directory_authoritative",
            &format!("id={}", dir.id),
            Some(&cookie),
        )
        .await;
    assert!(
        r.text().contains("your vendor set it"),
        "{} {}",
        r.status,
        r.text()
    );
    assert!(
        policy::get(&app.state, &OrgId::parse(&org).unwrap())
            .await
            .unwrap()
            .directory_authoritative,
        "still authoritative"
    );
    // The policy page answers every intent (read only).
    let cookie = app
        .redeem(&app.create_link(&org, &["audit_logs"]).await)
        .await;
    let r = app
        .browser_post("/portal/api/policy", "", Some(&cookie))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.text().contains("JIT"), "{}", r.text());
}

crate::both_databases!(
    jit_default_role_and_sso_required_agree,
    invitation_fields_agree,
    directory_fields_and_last_admin_agree,
    impact_preview_counts_and_audit,
    portal_edits_need_the_intent_and_respect_locks,
);
