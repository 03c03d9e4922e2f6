//! Several IdPs on one organization (issue 20, item 4): a SAML connection (npm samlify IdP)
//! limited to a.test and an OIDC connection (npm oidc-provider) limited to b.test. Sign-ins are
//! routed by the person's domain or the person chooses; a connection refuses people of the
//! organization's other domains, with the rules as evidence; the simulator agrees with
//! enforcement case by case; health and the control points show the routing.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{param, sign_in_app, verified_domain, Dialect, TestApp, VENDOR_CB};
use crate::op::{TestOp, CLIENT_ID, CLIENT_SECRET};
use crate::saml_idp::TestIdp;

struct World {
    app: TestApp,
    idp: TestIdp,
    op: TestOp,
    org: String,
    /// SAML, for a.test.
    a: String,
    /// OIDC, for b.test.
    b: String,
}

async fn create(app: &TestApp, org: &str, body: Value) -> Value {
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{org}/connections"),
            Some(body),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let c = r.json();
    crate::helpers::activate_connection(app, c["id"].as_str().unwrap()).await;
    c
}

async fn world(d: Dialect) -> World {
    let app = sign_in_app(d).await;
    let (idp, op) = (TestIdp::start(), TestOp::start());
    let org = app.create_org("Globex").await;
    verified_domain(&app, &org, "a.test").await;
    verified_domain(&app, &org, "b.test").await;
    let a = create(
        &app,
        &org,
        json!({"type": "saml", "name": "Okta A", "idp": "okta", "saml": {"idp_metadata_url": idp.entity_id()}, "domains": ["a.test"]}),
    )
    .await;
    assert_eq!(a["domains"], json!(["a.test"]));
    // Names are normalized like every domain input.
    let b = create(
        &app,
        &org,
        json!({"type": "oidc", "name": "Entra B", "oidc": {"issuer": op.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, "domains": ["B.Test."]}),
    )
    .await;
    assert_eq!(b["domains"], json!(["b.test"]));
    World {
        a: a["id"].as_str().unwrap().into(),
        b: b["id"].as_str().unwrap().into(),
        app,
        idp,
        op,
        org,
    }
}

fn authorize(query: &str) -> String {
    format!("/sso/authorize?{query}&redirect_uri={VENDOR_CB}&state=vendor-state")
}

/// Where `/sso/authorize?{query}` sends the browser (303), or the page it shows.
async fn start(w: &World, query: &str) -> (StatusCode, String) {
    let r = w.app.browser_get(&authorize(query), None).await;
    match r.status {
        StatusCode::SEE_OTHER => (r.status, r.header("location").unwrap()),
        s => (s, r.text()),
    }
}

/// The links of the chooser page, unescaped.
fn chooser_links(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|h| h.starts_with("/sso/authorize?"))
        .map(|h| h.replace("&amp;", "&"))
        .collect()
}

/// A sign-in through the SAML IdP as `email`, started with `query`; answers Lanyard's redirect
/// to the vendor.
async fn through_a(w: &World, query: &str, email: &str) -> url::Url {
    w.idp
        .set_user(json!({"name_id": email, "email": email}))
        .await;
    let (status, to) = start(w, query).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{to}");
    let post = w.idp.login(&to).await;
    let r = w.idp.post_to(&w.app, &post).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    url::Url::parse(&r.header("location").unwrap()).unwrap()
}

/// A sign-in through the OIDC provider as `email`, started with `query`.
async fn through_b(w: &World, query: &str, email: &str) -> url::Url {
    w.op.next_account(
        json!({"sub": format!("sub-{email}"), "email": email, "email_verified": true}),
    )
    .await;
    crate::helpers::oidc::sign_in(&w.app, &w.op, query).await
}

/// The newest `authentication.failed` event of the organization.
async fn last_failure(w: &World) -> Value {
    w.app
        .last_audit_event(&w.org, "authentication.failed")
        .await
        .unwrap_or(Value::Null)
}

async fn simulate(w: &World, email: &str, connection: &str) -> Value {
    let r = w
        .app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{}/policy/simulate", w.org),
            Some(json!({"email": email, "path": {"kind": "sso", "connection_id": connection}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

async fn sign_ins_go_to_the_idp_of_the_persons_domain_or_the_person_chooses(d: Dialect) {
    let w = world(d).await;
    let org = w.org.clone();
    // By login_hint, with or without the organization, and by domain_hint.
    for (query, idp) in [
        (
            format!("organization={org}&login_hint=ana@a.test"),
            &w.idp.base,
        ),
        (
            format!("organization={org}&login_hint=Bo@B.test"),
            &w.op.issuer,
        ),
        ("login_hint=bo@b.test".to_owned(), &w.op.issuer),
        ("login_hint=ana@a.test".to_owned(), &w.idp.base),
        (
            format!("organization={org}&domain_hint=b.test"),
            &w.op.issuer,
        ),
        (
            format!("organization={org}&domain_hint=a.test"),
            &w.idp.base,
        ),
        // WorkOS's getAuthorizationUrl with domainHint alone.
        ("domain_hint=b.test".to_owned(), &w.op.issuer),
    ] {
        let (status, to) = start(&w, &query).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{query}: {to}");
        assert!(to.starts_with(idp.as_str()), "{query} went to {to}");
    }
    // Nothing says whose: the chooser, a page of plain links (no JavaScript needed), each naming
    // the connection and carrying the vendor's redirect and state.
    for query in [
        format!("organization={org}"),
        format!("organization={org}&login_hint=guest@elsewhere.test"),
    ] {
        let (status, html) = start(&w, &query).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert!(html.contains("Choose how to sign in"), "{html}");
        assert!(
            html.contains("Sign in with Entra B")
                && html.contains("Another identity provider · OpenID Connect")
        );
        assert!(html.contains("Sign in with Okta A") && html.contains("Okta · SAML"));
        assert!(
            !html.contains("a.test") && !html.contains("b.test"),
            "no domain named: {html}"
        );
        let links = chooser_links(&html);
        assert_eq!(links.len(), 2, "{html}");
        for (link, conn, idp) in [
            (&links[0], &w.b, &w.op.issuer),
            (&links[1], &w.a, &w.idp.base),
        ] {
            let u = url::Url::parse(&format!("http://x{link}")).unwrap();
            assert_eq!(param(&u, "connection").as_deref(), Some(conn.as_str()));
            assert_eq!(param(&u, "organization").as_deref(), Some(org.as_str()));
            assert_eq!(param(&u, "state").as_deref(), Some("vendor-state"));
            assert_eq!(param(&u, "redirect_uri").as_deref(), Some(VENDOR_CB));
            let r = w.app.browser_get(link, None).await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
            assert!(r.header("location").unwrap().starts_with(idp.as_str()));
        }
    }
    // A connection of another organization named beside this one is refused, not followed.
    let other = w.app.create_org("Initech").await;
    let (status, to) = start(&w, &format!("organization={other}&connection={}", w.b)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        to.starts_with(VENDOR_CB) && to.contains("error=invalid_request"),
        "{to}"
    );

    // A verified domain no active connection serves: refused at authorize, flagged by health,
    // named by the control points.
    verified_domain(&w.app, &org, "c.test").await;
    let (_, to) = start(&w, &format!("organization={org}&login_hint=cy@c.test")).await;
    let u = url::Url::parse(&to).unwrap();
    assert!(to.starts_with(VENDOR_CB), "{to}");
    assert_eq!(param(&u, "error").as_deref(), Some("access_denied"));
    assert!(param(&u, "error_description").unwrap().contains("c.test"));
    let health = w
        .app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{org}/health"),
            None,
        )
        .await
        .json();
    let warned = |d: &str| {
        health["signals"].as_array().unwrap().iter().any(|s| {
            s["area"] == "sso"
                && s["message"].as_str().unwrap().starts_with(&format!(
                    "{d} is verified but no active SSO connection serves it"
                ))
        })
    };
    assert!(warned("c.test"), "{health}");
    assert!(!warned("a.test") && !warned("b.test"), "{health}");
    // The policy page's control points (portal and console), from the same configuration.
    let points = lanyard::server::service::policy::control_points(&w.app.state, &org)
        .await
        .unwrap();
    let text = serde_json::to_string(&points).unwrap();
    assert!(text.contains("@a.test signs in through Okta A"), "{text}");
    assert!(text.contains("@b.test signs in through Entra B"), "{text}");
    assert!(
        text.contains("@c.test: no active connection serves it"),
        "{text}"
    );

    // Limits lifted (null): every connection serves every domain again, and the person chooses.
    let r = w
        .app
        .api(
            Method::PATCH,
            &format!("/api/v1/connections/{}", w.a),
            Some(json!({"domains": null})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["domains"], Value::Null);
    let (status, to) = start(&w, &format!("organization={org}&login_hint=cy@c.test")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(to.starts_with(&w.idp.base), "{to}");
    // a.test: the bound connection wins over the one open to all.
    let (_, to) = start(&w, &format!("organization={org}&login_hint=bo@b.test")).await;
    assert!(to.starts_with(&w.op.issuer), "{to}");
}

async fn a_connection_refuses_people_of_domains_it_does_not_serve_and_the_simulator_agrees(
    d: Dialect,
) {
    let w = world(d).await;
    verified_domain(&w.app, &w.org, "c.test").await;
    // (email, connection, allowed): each simulated right before the real sign-in.
    let cases: Vec<(&str, &str, bool)> = vec![
        ("ana@a.test", "a", true),
        // A b.test person through A: refused, though b.test is the organization's.
        ("bo@b.test", "a", false),
        ("bo@b.test", "b", true),
        // Ana is a member now, but B does not serve a.test: no link through it.
        ("ana@a.test", "b", false),
        // A returning identity is bound too: Bo signed in through B before, A still refuses.
        ("bo@b.test", "a", false),
        // A verified domain neither serves.
        ("cy@c.test", "a", false),
        ("cy@c.test", "b", false),
        // Not the organization's domain at all: the domain rule refuses (no JIT).
        ("guest@elsewhere.test", "a", false),
        // Returning through the right connection still works.
        ("ana@a.test", "a", true),
    ];
    for (email, which, allowed) in cases {
        let conn = if which == "a" { &w.a } else { &w.b };
        let sim = simulate(&w, email, conn).await;
        assert_eq!(
            sim["decision"],
            if allowed { "allow" } else { "deny" },
            "simulated {email} through {which}: {sim}"
        );
        let query = format!("connection={conn}");
        let back = if which == "a" {
            through_a(&w, &query, email).await
        } else {
            through_b(&w, &query, email).await
        };
        assert!(back.as_str().starts_with(VENDOR_CB), "{back}");
        assert_eq!(
            param(&back, "code").is_some(),
            allowed,
            "{email} through {which}: {back}"
        );
        if allowed {
            let r = crate::helpers::exchange(&w.app, &param(&back, "code").unwrap()).await;
            assert_eq!(r.json()["profile"]["email"], email);
            assert_eq!(r.json()["profile"]["connection_id"], conn.as_str());
            continue;
        }
        // The refusal is recorded with its reason and the rules that made it.
        let f = last_failure(&w).await;
        let rules = f["metadata"]["rules"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let denied = rules.iter().find(|r| r["outcome"] == "deny").cloned();
        let sim_denied = sim["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["outcome"] == "deny")
            .cloned();
        assert_eq!(
            denied.as_ref().map(|r| &r["rule"]),
            sim_denied.as_ref().map(|r| &r["rule"]),
            "enforcement and simulator refuse by the same rule: {f} / {sim}"
        );
        if email.ends_with("@elsewhere.test") {
            assert_eq!(f["metadata"]["reason"], "domain_not_verified", "{f}");
            continue;
        }
        assert_eq!(f["metadata"]["reason"], "domain_not_served", "{f}");
        let detail = f["metadata"]["detail"].as_str().unwrap();
        let domain = email.split('@').nth(1).unwrap();
        assert!(detail.contains(domain), "{detail}");
        match domain {
            "b.test" => assert!(
                detail.contains("sign in through Entra B instead"),
                "{detail}"
            ),
            "a.test" => assert!(
                detail.contains("sign in through Okta A instead"),
                "{detail}"
            ),
            _ => assert!(detail.contains("no active connection"), "{detail}"),
        }
        assert_eq!(denied.unwrap()["rule"], "routing");
    }
    // The simulator shows the routing: where a sign-in naming only the organization goes.
    let sim = simulate(&w, "bo@b.test", &w.a).await;
    assert!(
        sim["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rule"] == "routing"
                && r["detail"]
                    .as_str()
                    .unwrap()
                    .contains("goes through Entra B, not Okta A")),
        "{sim}"
    );
    // Nobody of b.test joined through A, and nobody was linked to B from a.test.
    let members = w
        .app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{}/memberships", w.org),
            None,
        )
        .await
        .json();
    let emails: Vec<&str> = members["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), 2, "{members}");
    let identities: Vec<(String, String)> = sqlx::query_as(
        "SELECT email, connection_id FROM user_identities WHERE organization_id = $1 ORDER BY email",
    )
    .bind(&w.org)
    .fetch_all(&w.app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(
        identities,
        vec![
            ("ana@a.test".to_owned(), w.a.clone()),
            ("bo@b.test".to_owned(), w.b.clone())
        ]
    );
}

async fn connection_domains_are_checked_field_by_field(d: Dialect) {
    let w = world(d).await;
    let path = format!("/api/v1/connections/{}", w.a);
    let pending = w
        .app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{}/domains", w.org),
            Some(json!({"domain": "pending.test"})),
        )
        .await;
    assert_eq!(pending.status, StatusCode::CREATED, "{}", pending.text());
    for (domains, says) in [
        (json!([]), "at least one verified domain"),
        (
            json!(["z.test"]),
            "z.test is not a verified domain of this organization",
        ),
        (
            json!(["pending.test"]),
            "pending.test is not a verified domain",
        ),
        (json!(["not a domain"]), "not a domain"),
    ] {
        let r = w
            .app
            .api(Method::PATCH, &path, Some(json!({"domains": domains})))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
        assert_eq!(r.json()["error"]["field"], "domains", "{}", r.text());
        assert!(r.text().contains(says), "{}", r.text());
    }
    // Another organization's verified domain is not this one's to route.
    let other = w.app.create_org("Initech").await;
    verified_domain(&w.app, &other, "initech.test").await;
    let r = w
        .app
        .api(
            Method::PATCH,
            &path,
            Some(json!({"domains": ["initech.test"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    // Nothing changed by the refusals; a good change is audited with the new list.
    let r = w.app.api(Method::GET, &path, None).await;
    assert_eq!(r.json()["domains"], json!(["a.test"]));
    let r = w
        .app
        .api(
            Method::PATCH,
            &path,
            Some(json!({"domains": ["a.test", "b.test", "a.test"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["domains"], json!(["a.test", "b.test"]));
    let updated = w
        .app
        .last_audit_event(&w.org, "connection.updated")
        .await
        .unwrap();
    assert_eq!(
        updated["metadata"]["changed"],
        json!(["domains"]),
        "{updated}"
    );
    assert_eq!(updated["metadata"]["domains"], json!(["a.test", "b.test"]));

    // The portal's form: one checkbox per verified domain (`serve[i]`), or every domain.
    let cookie = w
        .app
        .redeem(&w.app.create_link(&w.org, &["sso"]).await)
        .await;
    let other_cookie = w
        .app
        .redeem(&w.app.create_link(&other, &["sso"]).await)
        .await;
    let post = |form: String, cookie: String| {
        let app = &w.app;
        async move {
            app.browser_post("/portal/api/set_connection_domains", &form, Some(&cookie))
                .await
        }
    };
    let domains_now =
        || async { w.app.api(Method::GET, &path, None).await.json()["domains"].clone() };
    let r = post(
        format!("id={}&scope=some&serve%5B1%5D=b.test", w.a),
        cookie.clone(),
    )
    .await;
    assert!(
        r.status.is_success() || r.status.is_redirection(),
        "{}",
        r.text()
    );
    assert_eq!(domains_now().await, json!(["b.test"]));
    // Another organization's setup session changes nothing of it.
    let _ = post(format!("id={}&scope=all", w.a), other_cookie).await;
    assert_eq!(domains_now().await, json!(["b.test"]));
    // Nothing ticked is refused with the field named, and nothing changes.
    let r = post(format!("id={}&scope=some", w.a), cookie.clone()).await;
    assert!(
        r.text().contains("at least one verified domain"),
        "{}",
        r.text()
    );
    assert_eq!(domains_now().await, json!(["b.test"]));
    let r = post(format!("id={}&scope=all", w.a), cookie).await;
    assert!(
        r.status.is_success() || r.status.is_redirection(),
        "{}",
        r.text()
    );
    assert_eq!(domains_now().await, Value::Null);
}

crate::both_databases!(
    sign_ins_go_to_the_idp_of_the_persons_domain_or_the_person_chooses,
    a_connection_refuses_people_of_domains_it_does_not_serve_and_the_simulator_agrees,
    connection_domains_are_checked_field_by_field,
);
