//! The WorkOS-compatible API's cross-cutting rules (the official SDKs drive it in
//! `.ci/workos-compat`): off unless asked for, JSON on every WorkOS path, WorkOS's error shape
//! without a top-level `error` key, server-to-server POSTs past the browser cross-site guard,
//! `Retry-After` on 429, WorkOS pagination, one write for an organization and its domains.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{Dialect, TestApp};

async fn compat_app(d: Dialect) -> TestApp {
    TestApp::spawn_with(d, &[("LANYARD_WORKOS_COMPAT", "true")]).await
}

/// The compatible API with loopback receivers allowed and the vendor's callback allow-listed
/// (log streams, webhooks and invitations accepted in the browser).
async fn compat_app_with_receivers(d: Dialect) -> TestApp {
    TestApp::spawn_with(
        d,
        &[
            ("LANYARD_WORKOS_COMPAT", "true"),
            ("LANYARD_ALLOW_PRIVATE_NETWORK", "true"),
            ("LANYARD_REDIRECT_URIS", crate::helpers::VENDOR_CB),
        ],
    )
    .await
}

fn is_json(r: &crate::helpers::TestResponse) -> bool {
    r.header("content-type")
        .is_some_and(|c| c.starts_with("application/json"))
}

/// Without `LANYARD_WORKOS_COMPAT` nothing is served at WorkOS's paths.
async fn off_by_default(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let r = app
        .api(
            Method::POST,
            "/organizations",
            Some(json!({"name": "Acme"})),
        )
        .await;
    // The browser cross-site guard refuses a POST with neither Origin nor Sec-Fetch-Site.
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = app.api(Method::GET, "/organizations", None).await;
    assert!(
        !is_json(&r),
        "the HTML page, not the compat API: {:?}",
        r.header("content-type")
    );
    assert_eq!(
        r.header("cache-control").as_deref(),
        Some("no-store"),
        "a page under a WorkOS prefix keeps the browser pages' headers"
    );
    let list = app
        .api(Method::GET, "/api/v1/organizations", None)
        .await
        .json();
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        0,
        "nothing was created"
    );
}

/// One Idempotency-Key sent to `/api/v1/organizations` and then to `/organizations` (whose
/// paths look alike inside the router) is a reused key, never a replay of the other API's answer.
async fn idempotency_keys_do_not_cross_apis(d: Dialect) {
    let app = compat_app(d).await;
    let body = json!({"name": "Once"});
    let key = [("idempotency-key", "k-1")];
    let r = app
        .api_with(
            Method::POST,
            "/api/v1/organizations",
            Some(body.clone()),
            &key,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app
        .api_with(Method::POST, "/organizations", Some(body.clone()), &key)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(r.json().get("default_role").is_none(), "{}", r.text());
    // The compat API replays its own answers.
    let key = [("idempotency-key", "k-2")];
    let a = app
        .api_with(Method::POST, "/organizations", Some(body.clone()), &key)
        .await;
    let b = app
        .api_with(Method::POST, "/organizations", Some(body), &key)
        .await;
    assert_eq!(a.json()["id"], b.json()["id"]);
    assert_eq!(b.header("idempotent-replayed").as_deref(), Some("true"));
}

/// A server-to-server POST (no Origin, no Sec-Fetch-Site) with the API key creates; every error
/// is JSON in WorkOS's shape.
async fn errors_have_workos_shape(d: Dialect) {
    let app = compat_app(d).await;
    let r = app
        .api(
            Method::POST,
            "/organizations",
            Some(json!({"name": "Acme", "external_id": "cus_1", "some_sdk_field": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let org = r.json();
    assert_eq!(org["object"], "organization");
    assert_eq!(org["domains"], json!([]));
    assert!(org["created_at"].as_str().unwrap().ends_with('Z'));

    let no_error_key = |v: &Value| assert!(v.get("error").is_none(), "{v}");
    // 401 without a key.
    let r = app
        .send(Request::get("/organizations").body(Body::empty()).unwrap())
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["code"], "unauthorized");
    no_error_key(&r.json());
    // 422 names the field.
    let r = app
        .api(Method::POST, "/organizations", Some(json!({"name": ""})))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let b = r.json();
    assert_eq!(b["code"], "invalid_request_parameters");
    assert_eq!(b["errors"][0]["field"], "name");
    no_error_key(&b);
    // A taken external id: 400 external_id_already_used, as WorkOS answers.
    let r = app
        .api(
            Method::POST,
            "/organizations",
            Some(json!({"name": "Other", "external_id": "cus_1"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert_eq!(r.json()["code"], "external_id_already_used");
    // 404 for an unknown id, for a product Lanyard does not provide, for an unknown path.
    let r = app
        .api(
            Method::GET,
            "/organizations/org_01HZZZZZZZZZZZZZZZZZZZZZZZ",
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (StatusCode::NOT_FOUND, json!("entity_not_found"))
    );
    let r = app
        .api(Method::POST, "/passwordless/sessions", Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("does not provide"),
        "{}",
        r.text()
    );
    let r = app
        .api(Method::GET, "/directory_users/nope/deeper", None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(is_json(&r));
    for (path, product) in [
        ("/sso/jwks/client_123", "AuthKit session tokens"),
        (
            "/user_management/organization_memberships/om_1/groups",
            "Groups",
        ),
        ("/organizations/org_1/groups", "Groups"),
    ] {
        let r = app.api(Method::GET, path, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        let message = r.json()["message"].as_str().unwrap().to_owned();
        assert!(
            message.contains(&format!("does not provide WorkOS {product}")),
            "{path}: {message}"
        );
    }
    // 405 from the router, as JSON.
    let r = app
        .api(Method::PATCH, "/organizations", Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(is_json(&r));
    no_error_key(&r.json());
    // A trailing slash is not redirected.
    let r = app.api(Method::GET, "/organizations/", None).await;
    assert!(!r.status.is_redirection() && is_json(&r), "{}", r.status);
    // Bad list parameters name the field.
    let r = app.api(Method::GET, "/organizations?limit=101", None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["errors"][0]["field"], "limit");
    // A scoping filter sent empty or as an array is refused, never read as "every organization".
    for (q, field) in [
        ("/events?organization_id=", "organization_id"),
        ("/events?organization_id=%20", "organization_id"),
        ("/events?organization_id[]=org_1", "organization_id"),
        ("/directories?organization_id=", "organization_id"),
        ("/connections?organization_id=", "organization_id"),
        ("/directory_users?directory=", "directory"),
        (
            "/user_management/organization_memberships?user_id=",
            "user_id",
        ),
        ("/connections?organization_id[0]=org_1", "organization_id"),
        (
            "/directories?organization_id%5B0%5D=org_1",
            "organization_id",
        ),
        ("/events?Organization_Id=org_1", "organization_id"),
        ("/connections?domain=", "domain"),
        ("/directories?domain=%20", "domain"),
        ("/organizations?domains=", "domains"),
        ("/organizations?domains=%2C", "domains"),
    ] {
        let r = app.api(Method::GET, q, None).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{q}: {}",
            r.text()
        );
        assert_eq!(r.json()["errors"][0]["field"], field, "{q}");
    }
    // Lanyard's own API keeps its envelope.
    let r = app
        .api(
            Method::GET,
            "/api/v1/organizations/org_01HZZZZZZZZZZZZZZZZZZZZZZZ",
            None,
        )
        .await;
    assert_eq!(r.json()["error"]["code"], "not_found");
}

/// Failed authentications are throttled per client, and the 429 says when to retry.
async fn throttled_answers_carry_retry_after(d: Dialect) {
    let app = compat_app(d).await;
    let mut last = None;
    for _ in 0..70 {
        let r = app
            .send(
                Request::get("/organizations")
                    .header(header::AUTHORIZATION, "Bearer lanyard_sk_wrong")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            last = Some(r);
            break;
        }
    }
    let r = last.expect("the failures were throttled");
    assert_eq!(r.json()["code"], "rate_limit_exceeded");
    assert!(r
        .header("retry-after")
        .is_some_and(|s| s.parse::<u64>().unwrap() >= 1));
}

/// Newest first by default, `before`/`after` by id, `list_metadata` at both ends, and the
/// `domains` filter; an organization and its domains are written together or not at all.
async fn pagination_and_domains(d: Dialect) {
    let app = compat_app(d).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let r = app
            .api(
                Method::POST,
                "/organizations",
                Some(json!({"name": format!("Org {i}")})),
            )
            .await;
        ids.push(r.json()["id"].as_str().unwrap().to_owned());
    }
    let page = |q: &str| {
        let app = &app;
        let q = q.to_owned();
        async move {
            let r = app
                .api(Method::GET, &format!("/organizations?{q}"), None)
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            r.json()
        }
    };
    let names = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let p1 = page("limit=3").await;
    assert_eq!(
        names(&p1),
        vec![ids[6].clone(), ids[5].clone(), ids[4].clone()]
    );
    assert_eq!(
        p1["list_metadata"],
        json!({"before": null, "after": ids[4]})
    );
    let p2 = page(&format!("limit=3&after={}", ids[4])).await;
    assert_eq!(
        names(&p2),
        vec![ids[3].clone(), ids[2].clone(), ids[1].clone()]
    );
    let p3 = page(&format!("limit=3&after={}", ids[1])).await;
    assert_eq!(names(&p3), vec![ids[0].clone()]);
    assert_eq!(
        p3["list_metadata"],
        json!({"before": ids[0], "after": null})
    );
    let back = page(&format!("limit=3&before={}", ids[3])).await;
    assert_eq!(
        names(&back),
        vec![ids[6].clone(), ids[5].clone(), ids[4].clone()]
    );
    assert_eq!(back["list_metadata"]["before"], Value::Null);
    let asc = page("limit=2&order=asc").await;
    assert_eq!(names(&asc), vec![ids[0].clone(), ids[1].clone()]);
    assert_eq!(
        page("").await["data"].as_array().unwrap().len(),
        7,
        "default limit 10"
    );

    // Domains inline, the `domains` filter (comma-joined, as the SDKs send it).
    let r = app
        .api(Method::POST, "/organizations", Some(json!({"name": "With domains", "domain_data": [{"domain": "acme.example", "state": "verified"}, {"domain": "acme-eu.example", "state": "pending"}]})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let with = r.json();
    assert_eq!(with["domains"].as_array().unwrap().len(), 2);
    let filtered = page("domains=acme-eu.example%2Cnone.example").await;
    assert_eq!(
        names(&filtered),
        vec![with["id"].as_str().unwrap().to_owned()]
    );
    let audit = app.audit_actions(with["id"].as_str().unwrap()).await;
    assert!(audit.iter().any(|a| a == "domain.verified"), "{audit:?}");
    // Each filter entry is a bound parameter: the list is bounded.
    let many: Vec<String> = (0..101).map(|i| format!("d{i}.example")).collect();
    let r = app
        .api(
            Method::GET,
            &format!("/organizations?domains={}", many.join(",")),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["errors"][0]["field"], "domains");

    // A domain verified by another organization: nothing of the create is written.
    let before = app
        .api(Method::GET, "/api/v1/organizations?limit=100", None)
        .await
        .json()["data"]
        .as_array()
        .unwrap()
        .len();
    let r = app
        .api(Method::POST, "/organizations", Some(json!({"name": "Thief", "domain_data": [{"domain": "thief.example"}, {"domain": "acme.example", "state": "verified"}]})))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["code"], "domain_claimed");
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("acme.example"));
    let after = app
        .api(Method::GET, "/api/v1/organizations?limit=100", None)
        .await
        .json()["data"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "no organization was left behind");
    assert_eq!(
        page("domains=thief.example").await["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // A bad domain names its place in the list.
    let r = app
        .api(Method::POST, "/organizations", Some(json!({"name": "Bad", "domain_data": [{"domain": "ok.example"}, {"domain": "gmail.com"}]})))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["errors"][0]["field"], "domain_data[1].domain");

    // PUT with domain_data makes the set equal.
    let id = with["id"].as_str().unwrap();
    let r = app
        .api(Method::PUT, &format!("/organizations/{id}"), Some(json!({"domain_data": [{"domain": "acme-eu.example", "state": "pending"}, {"domain": "acme-us.example", "state": "pending"}]})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let mut now: Vec<String> = r.json()["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap().to_owned())
        .collect();
    now.sort();
    assert_eq!(now, ["acme-eu.example", "acme-us.example"]);
    let audit = app.audit_actions(id).await;
    assert!(audit.iter().any(|a| a == "domain.deleted"), "{audit:?}");
    // Listed again as verified, a pending claim becomes verified by the vendor (once); listed
    // as pending, a verified one stays verified.
    for _ in 0..2 {
        let r = app
            .api(Method::PUT, &format!("/organizations/{id}"), Some(json!({"domain_data": [{"domain": "acme-eu.example", "state": "verified"}, {"domain": "acme-us.example", "state": "pending"}]})))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let states: Vec<(String, String)> = r.json()["domains"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["domain"].as_str().unwrap().to_owned(),
                    d["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert!(
            states.contains(&("acme-eu.example".into(), "verified".into())),
            "{states:?}"
        );
        assert!(states.contains(&("acme-us.example".into(), "pending".into())));
    }
    let verified = app
        .audit_actions(id)
        .await
        .iter()
        .filter(|a| *a == "domain.verified")
        .count();
    assert_eq!(
        verified, 2,
        "acme.example at creation, acme-eu.example once"
    );
    // A domain another organization verified is not vouched for here.
    let r = app
        .api(Method::POST, "/organizations", Some(json!({"name": "Other", "domain_data": [{"domain": "acme-us.example", "state": "verified"}]})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = app
        .api(Method::PUT, &format!("/organizations/{id}"), Some(json!({"domain_data": [{"domain": "acme-eu.example", "state": "verified"}, {"domain": "acme-us.example", "state": "verified"}]})))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    // Unsupported options are refused by name.
    let r = app
        .api(
            Method::PUT,
            &format!("/organizations/{id}"),
            Some(json!({"stripe_customer_id": "cus_x"})),
        )
        .await;
    assert_eq!(r.json()["errors"][0]["field"], "stripe_customer_id");
    // By external id.
    app.api(
        Method::PUT,
        &format!("/organizations/{id}"),
        Some(json!({"external_id": "ext-9"})),
    )
    .await;
    let r = app
        .api(Method::GET, "/organizations/external_id/ext-9", None)
        .await;
    assert_eq!(r.json()["id"], id);
}

/// Organizations created at once, each vouching for the same domain: one gets it, every other
/// is refused as claimed elsewhere (not "already listed for this organization") and leaves
/// nothing behind.
async fn racing_claims_of_one_domain(d: Dialect) {
    let app = compat_app(d).await;
    let tries = (0..8).map(|i| {
        app.api(
            Method::POST,
            "/organizations",
            Some(json!({"name": format!("Racer {i}"), "domain_data": [{"domain": "race.example", "state": "verified"}]})),
        )
    });
    let answers = futures::future::join_all(tries).await;
    let won = answers
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    assert_eq!(won, 1);
    for r in answers.iter().filter(|r| r.status != StatusCode::CREATED) {
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
        assert_eq!(r.json()["code"], "domain_claimed", "{}", r.text());
    }
    let all = app
        .api(Method::GET, "/api/v1/organizations", None)
        .await
        .json();
    assert_eq!(all["data"].as_array().unwrap().len(), 1);
    // One organization vouching for its own pending claim eight times at once: verified once,
    // with one domain.verified.
    let r = app
        .api(Method::POST, "/organizations", Some(json!({"name": "Vouch", "domain_data": [{"domain": "vouch.example", "state": "pending"}]})))
        .await;
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let path = format!("/organizations/{id}");
    let tries = (0..8).map(|_| {
        app.api(
            Method::PUT,
            &path,
            Some(json!({"domain_data": [{"domain": "vouch.example", "state": "verified"}]})),
        )
    });
    for r in futures::future::join_all(tries).await {
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["domains"][0]["state"], "verified", "{}", r.text());
    }
    let verified = app
        .audit_actions(&id)
        .await
        .iter()
        .filter(|a| *a == "domain.verified")
        .count();
    assert_eq!(verified, 1, "one verification for one claim");
    // The rule that makes it so under any interleaving: a claim verified already is not
    // verified again (a racing request's update matches no row and records nothing).
    let claim = r.json()["domains"][0]["id"].as_str().unwrap().to_owned();
    let mut conn = app.state.db.pool.acquire().await.unwrap();
    let again =
        lanyard::server::db::domains::vendor_verify(&mut conn, &id, &claim, app.state.clock.now())
            .await
            .unwrap();
    assert!(!again, "an already verified claim is not verified again");
}

/// Connections of every organization, filtered and paged as WorkOS lists them, read and deleted.
async fn connections_list_get_delete(d: Dialect) {
    use crate::helpers::{activate_connection, saml_connection_with_certificate, verified_domain};
    let app = compat_app(d).await;
    let a = app.create_org("A").await;
    let b = app.create_org("B").await;
    verified_domain(&app, &a, "a.example").await;
    let ca = saml_connection_with_certificate(&app, &a).await;
    activate_connection(&app, &ca).await;
    let cb = saml_connection_with_certificate(&app, &b).await;
    let list = app.api(Method::GET, "/connections", None).await.json();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [cb.as_str(), ca.as_str()],
        "newest first, every organization's"
    );
    let one = app
        .api(
            Method::GET,
            &format!("/connections?organization_id={a}"),
            None,
        )
        .await
        .json();
    let c = &one["data"][0];
    assert_eq!(one["data"].as_array().unwrap().len(), 1);
    assert_eq!(c["connection_type"], "OktaSAML");
    assert_eq!(
        (c["state"].as_str(), c["status"].as_str()),
        (Some("active"), Some("linked"))
    );
    assert_eq!(c["domains"][0]["domain"], "a.example");
    assert_eq!(c["domains"][0]["object"], "connection_domain");
    let by_domain = app
        .api(Method::GET, "/connections?domain=a.example", None)
        .await
        .json();
    assert_eq!(by_domain["data"].as_array().unwrap().len(), 1);
    let none = app
        .api(Method::GET, "/connections?connection_type=GoogleOIDC", None)
        .await
        .json();
    assert_eq!(none["data"].as_array().unwrap().len(), 0);
    let unknown = app
        .api(Method::GET, "/connections?connection_type=NoSuch", None)
        .await
        .json();
    assert_eq!(
        unknown["data"].as_array().unwrap().len(),
        0,
        "an unknown type matches nothing"
    );
    let okta = app
        .api(
            Method::GET,
            "/connections?connection_type=OktaSAML&limit=1",
            None,
        )
        .await
        .json();
    assert_eq!(okta["data"].as_array().unwrap().len(), 1);
    assert_eq!(okta["list_metadata"]["after"], cb.as_str());
    let got = app
        .api(Method::GET, &format!("/connections/{cb}"), None)
        .await;
    assert_eq!(got.json()["status"], "unlinked");
    let r = app
        .api(Method::DELETE, &format!("/connections/{cb}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app
        .api(Method::GET, &format!("/connections/{cb}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(app
        .audit_actions(&b)
        .await
        .iter()
        .any(|x| x == "connection.deleted"));
    // A deleted organization's connections are not listed.
    app.api(Method::DELETE, &format!("/organizations/{a}"), None)
        .await;
    let list = app.api(Method::GET, "/connections", None).await.json();
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
}

/// `/sso/token` authenticates with the API key as `client_secret` (or the header) and answers
/// OAuth-style errors; `/sso/profile` takes only an access token.
async fn sso_token_and_profile_refuse_what_they_should(d: Dialect) {
    let app = compat_app(d).await;
    let form = |body: &str, auth: Option<&str>| {
        let mut b = Request::post("/sso/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(Body::from(body.to_owned())).unwrap()
    };
    let r = app
        .send(form("grant_type=authorization_code&code=x", None))
        .await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_client"))
    );
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let r = app
        .send(form(
            "grant_type=authorization_code&code=x&client_secret=lanyard_sk_wrong",
            None,
        ))
        .await;
    assert_eq!(r.json()["error"], "invalid_client");
    let secret = format!(
        "grant_type=client_credentials&code=x&client_secret={}",
        app.key
    );
    assert_eq!(
        app.send(form(&secret, None)).await.json()["error"],
        "unsupported_grant_type"
    );
    let secret = format!(
        "grant_type=authorization_code&code=lanyard_code_nope&client_secret={}",
        app.key
    );
    let r = app.send(form(&secret, None)).await;
    assert_eq!(r.json()["error"], "invalid_grant", "{}", r.text());
    assert!(r.json()["error_description"]
        .as_str()
        .unwrap()
        .contains("60 seconds"));
    let bearer = format!("Bearer {}", app.key);
    let r = app
        .send(form(
            "grant_type=authorization_code&code=lanyard_code_nope",
            Some(&bearer),
        ))
        .await;
    assert_eq!(r.json()["error"], "invalid_grant");
    // Two different keys in one request, and an oversized body, are refused before anything.
    let secret = format!(
        "grant_type=authorization_code&code=lanyard_code_nope&client_secret={}",
        app.key
    );
    let r = app
        .send(form(&secret, Some("Bearer lanyard_sk_other")))
        .await;
    assert_eq!(r.json()["error"], "invalid_request", "{}", r.text());
    let r = app.send(form(&"a".repeat(20_000), None)).await;
    assert_eq!(r.json()["error"], "invalid_request", "{}", r.text());
    // The API key is not an access token.
    for auth in [bearer.as_str(), "Bearer lanyard_sat_nope", ""] {
        let mut b = Request::get("/sso/profile");
        if !auth.is_empty() {
            b = b.header(header::AUTHORIZATION, auth);
        }
        let r = app.send(b.body(Body::empty()).unwrap()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{auth}");
        assert_eq!(r.json()["error"], "Unauthorized");
    }
}

/// Directory Sync reads: directories across organizations, users with their full group
/// objects, groups, the filters WorkOS has, the directory-scoped routes of Node SDK 12, and
/// nothing of a deleted directory or of another directory through a scoped route.
async fn directory_sync_reads(d: Dialect) {
    use crate::helpers::scim::{self, create_dir, create_group, create_user, push_inactive};
    let app = compat_app(d).await;
    let a = app.create_org("A").await;
    let b = app.create_org("B").await;
    crate::helpers::verified_domain(&app, &a, "a.example").await;
    let da = create_dir(&app, &a, "entra").await;
    let db = create_dir(&app, &b, "okta").await;
    let ann = create_user(&app, &da, "ann@a.example").await;
    let r = scim::scim(
        &app,
        &da,
        Method::POST,
        "/Users",
        Some(json!({
            "schemas": [scim::USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "userName": "bob@a.example", "externalId": "ext-bob", "title": "Engineer",
            "name": {"givenName": "Bob", "familyName": "Ray"},
            "emails": [{"value": "Bob@a.example", "primary": true}], "active": true,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"}
        })),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let bob = r.json()["id"].as_str().unwrap().to_owned();
    push_inactive(&app, &da, "cy@a.example").await;
    let eng = create_group(&app, &da, "Engineering", &[&ann, &bob]).await;
    let ops = create_group(&app, &da, "Ops", &[&bob]).await;
    let other = create_user(&app, &db, "dan@b.example").await;
    let other_group = create_group(&app, &db, "B team", &[&other]).await;

    // Directories: every organization's, newest first, or filtered.
    let list = app.api(Method::GET, "/directories", None).await.json();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [db.id.as_str(), da.id.as_str()]);
    let one = app
        .api(
            Method::GET,
            &format!("/directories?organization_id={a}"),
            None,
        )
        .await
        .json();
    let dir = &one["data"][0];
    assert_eq!(one["data"].as_array().unwrap().len(), 1);
    assert_eq!(dir["object"], "directory");
    assert_eq!(dir["type"], "azure scim v2.0");
    assert_eq!(dir["state"], "linked");
    assert_eq!(dir["domain"], "a.example");
    assert_eq!(dir["external_key"], da.id.as_str());
    assert_eq!(
        dir["metadata"],
        json!({"users": {"active": 2, "inactive": 1}, "groups": 2})
    );
    let by_domain = app
        .api(Method::GET, "/directories?domain=A.example", None)
        .await
        .json();
    assert_eq!(by_domain["data"].as_array().unwrap().len(), 1);
    let search = app
        .api(Method::GET, "/directories?search=OKTA", None)
        .await
        .json();
    assert_eq!(search["data"][0]["id"], db.id.as_str());
    assert!(app
        .api(Method::GET, &format!("/directories/{}", db.id), None)
        .await
        .json()["domain"]
        .is_null());

    // Users: a directory's, newest first, with their groups as whole objects.
    let r = app
        .api(
            Method::GET,
            &format!("/directory_users?directory={}", da.id),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let users = r.json();
    assert_eq!(users["data"].as_array().unwrap().len(), 3);
    let u_bob = users["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == bob.as_str())
        .unwrap()
        .clone();
    assert_eq!(u_bob["idp_id"], "ext-bob");
    assert_eq!(u_bob["first_name"], "Bob");
    assert_eq!(u_bob["organization_id"], a.as_str());
    assert_eq!(u_bob["custom_attributes"]["department"], "R&D");
    let groups: Vec<&str> = u_bob["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["Engineering", "Ops"]);
    assert_eq!(u_bob["groups"][0]["object"], "directory_group");
    assert!(
        u_bob["groups"][0]["raw_attributes"]
            .get("members")
            .is_none(),
        "no member list in a group"
    );
    // Paging by two.
    let p1 = app
        .api(
            Method::GET,
            &format!("/directory_users?directory={}&limit=2", da.id),
            None,
        )
        .await
        .json();
    let after = p1["list_metadata"]["after"].as_str().unwrap().to_owned();
    let p2 = app
        .api(
            Method::GET,
            &format!("/directory_users?directory={}&limit=2&after={after}", da.id),
            None,
        )
        .await
        .json();
    assert_eq!(p2["data"].as_array().unwrap().len(), 1);
    assert!(p2["list_metadata"]["after"].is_null());
    // Filters: group, IdP id, email (any case).
    let of_ops = app
        .api(Method::GET, &format!("/directory_users?group={ops}"), None)
        .await
        .json();
    assert_eq!(
        of_ops["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [bob.as_str()]
    );
    let by_idp = app
        .api(
            Method::GET,
            &format!("/directory_users?directory={}&idp_id=ext-bob", da.id),
            None,
        )
        .await
        .json();
    assert_eq!(by_idp["data"][0]["id"], bob.as_str());
    let by_email = app
        .api(
            Method::GET,
            &format!("/directory_users?directory={}&email=ANN@a.example", da.id),
            None,
        )
        .await
        .json();
    assert_eq!(by_email["data"][0]["id"], ann.as_str());
    // A group of another directory with this directory: nothing.
    let mixed = app
        .api(
            Method::GET,
            &format!("/directory_users?directory={}&group={other_group}", da.id),
            None,
        )
        .await
        .json();
    assert_eq!(mixed["data"].as_array().unwrap().len(), 0);
    // Without a scope: 422 naming `directory`; an unknown scope: 404.
    let r = app.api(Method::GET, "/directory_users", None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["errors"][0]["field"], "directory");
    let r = app
        .api(Method::GET, "/directory_groups?limit=5", None)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    for path in [
        "/directory_users?directory=dir_01HZZZZZZZZZZZZZZZZZZZZZZZ".to_owned(),
        "/directory_users?group=nonsense".to_owned(),
        "/directory_groups?user=diru_01HZZZZZZZZZZZZZZZZZZZZZZZ".to_owned(),
        "/directory_users/diru_01HZZZZZZZZZZZZZZZZZZZZZZZ".to_owned(),
        format!("/directories/{}/users/{other}", da.id),
        format!("/directories/{}/groups/{other_group}", da.id),
        format!("/directories/{}/users/{ann}", db.id),
    ] {
        let r = app.api(Method::GET, &path, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text());
        assert_eq!(r.json()["code"], "entity_not_found");
    }
    let got = app
        .api(Method::GET, &format!("/directory_users/{ann}"), None)
        .await
        .json();
    assert_eq!(got["groups"][0]["id"], eng.as_str());

    // Groups: a directory's, a user's; the scoped routes of SDK 12 (users without groups).
    let groups = app
        .api(
            Method::GET,
            &format!("/directory_groups?directory={}&order=asc", da.id),
            None,
        )
        .await
        .json();
    assert_eq!(
        groups["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [eng.as_str(), ops.as_str()]
    );
    let of_ann = app
        .api(Method::GET, &format!("/directory_groups?user={ann}"), None)
        .await
        .json();
    assert_eq!(of_ann["data"].as_array().unwrap().len(), 1);
    let g = app
        .api(Method::GET, &format!("/directory_groups/{eng}"), None)
        .await
        .json();
    assert_eq!(
        (g["name"].as_str(), g["idp_id"].as_str()),
        (Some("Engineering"), Some(eng.as_str()))
    );
    let scoped = app
        .api(
            Method::GET,
            &format!("/directories/{}/users?group={eng}", da.id),
            None,
        )
        .await
        .json();
    assert_eq!(scoped["data"].as_array().unwrap().len(), 2);
    assert!(scoped["data"][0].get("groups").is_none());
    let r = app
        .api(
            Method::GET,
            &format!("/directories/{}/users/{ann}", da.id),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .api(
            Method::GET,
            &format!("/directories/{}/groups?user={bob}", da.id),
            None,
        )
        .await
        .json();
    assert_eq!(r["data"].as_array().unwrap().len(), 2);
    let r = app
        .api(
            Method::GET,
            &format!("/directories/{}/groups/{ops}", da.id),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // A search longer than 256 characters is refused naming it (SQLite would fail on a long
    // pattern); a path with a doubled slash (an SDK base URL ending in `/`) is the same path.
    let long = "_".repeat(25_000);
    for list in ["/directories", "/organizations", "/connections"] {
        let r = app
            .api(Method::GET, &format!("{list}?search={long}"), None)
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{list}: {}",
            r.text()
        );
        assert_eq!(r.json()["errors"][0]["field"], "search");
    }
    let r = app
        .api(Method::GET, &format!("//directories/{}", da.id), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["id"], da.id.as_str());
    // Writes too: the browser guard sees the path as the compatible API serves it.
    let r = app
        .api(
            Method::POST,
            "//organizations",
            Some(json!({"name": "Slashes"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["name"], "Slashes");
    let r = app
        .api(Method::DELETE, "//sso//jwks/x", Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    assert!(is_json(&r), "{}", r.text());

    // Deleting the directory: 204 with Lanyard's semantics; then nothing of it is read.
    let r = app
        .api(Method::DELETE, &format!("/directories/{}", da.id), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert!(app
        .audit_actions(&a)
        .await
        .iter()
        .any(|x| x == "directory.deleted"));
    for path in [
        format!("/directories/{}", da.id),
        format!("/directory_users/{ann}"),
        format!("/directory_groups/{eng}"),
        format!("/directory_users?directory={}", da.id),
        format!("/directory_users?group={eng}"),
    ] {
        let r = app.api(Method::GET, &path, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text());
    }
    let list = app.api(Method::GET, "/directories", None).await.json();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    // A deleted organization's directory is gone too.
    app.api(Method::DELETE, &format!("/organizations/{b}"), None)
        .await;
    let r = app
        .api(
            Method::GET,
            &format!("/directory_groups/{other_group}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// Organizations A and B; A with the verified domain a.example, an active SAML connection and
/// an Okta directory: (a, b, connection, directory).
async fn two_orgs_one_with_sso_and_a_directory(
    app: &TestApp,
) -> (String, String, String, crate::helpers::scim::Dir) {
    use crate::helpers::{activate_connection, saml_connection_with_certificate, verified_domain};
    let a = app.create_org("A").await;
    let b = app.create_org("B").await;
    verified_domain(app, &a, "a.example").await;
    let conn = saml_connection_with_certificate(app, &a).await;
    activate_connection(app, &conn).await;
    let dir = crate::helpers::scim::create_dir(app, &a, "okta").await;
    (a, b, conn, dir)
}

/// Deleting an organization deletes its connections and directories with it, each with its own
/// event (`connection.deleted`, `dsync.deleted`) before `organization.deleted`; the directory's
/// SCIM token stops; another organization's are untouched.
async fn deleting_an_organization_ends_its_connections_and_directories(d: Dialect) {
    use crate::helpers::saml_connection_with_certificate;
    use crate::helpers::scim::{self, create_dir, create_user};
    let app = compat_app(d).await;
    let (a, b, conn, dir) = two_orgs_one_with_sso_and_a_directory(&app).await;
    create_user(&app, &dir, "ann@a.example").await;
    let other_conn = saml_connection_with_certificate(&app, &b).await;
    let other_dir = create_dir(&app, &b, "okta").await;
    let r = app
        .api(Method::DELETE, &format!("/organizations/{a}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let evs = app
        .api(
            Method::GET,
            &format!("/events?organization_id={a}&limit=100"),
            None,
        )
        .await
        .json();
    let tail: Vec<(String, String)> = evs["data"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .take(3)
        .rev()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_owned(),
                e["data"]["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        tail,
        [
            ("connection.deleted".to_owned(), conn.clone()),
            ("dsync.deleted".to_owned(), dir.id.clone()),
            ("organization.deleted".to_owned(), a.clone()),
        ],
        "{evs}"
    );
    let last = evs["data"].as_array().unwrap().len() - 2;
    assert_eq!(evs["data"][last]["data"]["state"], "deleting");
    // The directory's token stops; B's connection and directory stay.
    let r = scim::scim(&app, &dir, Method::GET, "/Users", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    let r = scim::scim(&app, &other_dir, Method::GET, "/Users", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .api(Method::GET, &format!("/connections/{other_conn}"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .api(Method::GET, &format!("/directories/{}", other_dir.id), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // /api/v1 says why.
    let v1 = app
        .api(
            Method::GET,
            &format!(
                "/api/v1/events?organization_id={a}&types=directory.deleted,connection.deleted"
            ),
            None,
        )
        .await
        .json();
    let reasons: Vec<&str> = v1["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["metadata"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        ["organization_deleted", "organization_deleted"],
        "{v1}"
    );
}

/// `GET /events`: WorkOS's names, oldest first, each resource as it was when its event was
/// recorded (a deleted directory user is still there; updates carry `previous_attributes`);
/// the filters; `/api/v1/events` shows the same snapshots.
async fn events_show_resources_as_they_were(d: Dialect) {
    use crate::helpers::scim::{self, create_group, create_user};
    let app = compat_app(d).await;
    let (_, b, conn, dir) = two_orgs_one_with_sso_and_a_directory(&app).await;
    let ann = create_user(&app, &dir, "ann@a.example").await;
    let r = scim::scim(
        &app,
        &dir,
        Method::PATCH,
        &format!("/Users/{ann}"),
        Some(json!({
            "schemas": [scim::PATCH], "Operations": [{"op": "replace", "value": {"active": false}}]
        })),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let group = create_group(&app, &dir, "Eng", &[&ann]).await;
    let r = scim::scim(&app, &dir, Method::PATCH, &format!("/Groups/{group}"), Some(json!({
        "schemas": [scim::PATCH], "Operations": [{"op": "replace", "value": {"displayName": "Engineering"}}]
    }))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = scim::scim(&app, &dir, Method::DELETE, &format!("/Users/{ann}"), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    app.api(
        Method::PUT,
        &format!("/organizations/{b}"),
        Some(json!({"name": "B2"})),
    )
    .await;
    app.api(Method::DELETE, &format!("/connections/{conn}"), None)
        .await;
    app.api(Method::DELETE, &format!("/directories/{}", dir.id), None)
        .await;

    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let r = app
            .api(Method::GET, &format!("/events?limit=3&after={after}"), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let page = r.json();
        let data = page["data"].as_array().unwrap().clone();
        if data.is_empty() {
            assert!(page["list_metadata"]["after"].is_null());
            break;
        }
        assert_eq!(page["list_metadata"]["after"], data.last().unwrap()["id"]);
        after = data.last().unwrap()["id"].as_str().unwrap().to_owned();
        all.extend(data);
    }
    let names: Vec<&str> = all.iter().map(|e| e["event"].as_str().unwrap()).collect();
    for expected in [
        "organization.created",
        "organization_domain.created",
        "organization_domain.verified",
        "connection.activated",
        "dsync.activated",
        "dsync.user.created",
        "dsync.user.updated",
        "dsync.group.created",
        "dsync.group.user_added",
        "dsync.group.updated",
        "dsync.user.deleted",
        "organization.updated",
        "connection.deleted",
        "dsync.deleted",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("directory.") || n.starts_with("domain.")),
        "{names:?}"
    );
    let find = |name: &str| all.iter().find(|e| e["event"] == name).unwrap().clone();
    // The deactivation: dsync.user.updated with what it was.
    let updated = find("dsync.user.updated");
    assert_eq!(updated["data"]["state"], "inactive");
    assert_eq!(updated["data"]["previous_attributes"]["state"], "active");
    assert_eq!(
        updated["context"]["lanyard"]["type"],
        "dsync.user.deactivated"
    );
    // The user deleted since: still readable in its events.
    let deleted = find("dsync.user.deleted");
    assert_eq!(
        (
            deleted["data"]["id"].as_str(),
            deleted["data"]["email"].as_str()
        ),
        (Some(ann.as_str()), Some("ann@a.example"))
    );
    let added = find("dsync.group.user_added");
    assert_eq!(added["data"]["user"]["id"], ann.as_str());
    assert_eq!(
        added["data"]["group"]["name"], "Eng",
        "the group as it was then"
    );
    assert_eq!(added["data"]["directory_id"], dir.id.as_str());
    let renamed = find("dsync.group.updated");
    assert_eq!(renamed["data"]["name"], "Engineering");
    assert_eq!(renamed["data"]["previous_attributes"]["name"], "Eng");
    let org_updated = find("organization.updated");
    assert_eq!(org_updated["data"]["name"], "B2");
    assert_eq!(
        find("organization.created")["data"]["object"],
        "organization"
    );
    let activated = find("dsync.activated");
    assert_eq!(activated["data"]["domains"][0]["domain"], "a.example");
    assert_eq!(find("dsync.deleted")["data"]["state"], "deleting");
    let conn_deleted = find("connection.deleted");
    assert_eq!(conn_deleted["data"]["id"], conn.as_str());
    assert_eq!(conn_deleted["data"]["connection_type"], "OktaSAML");
    assert!(conn_deleted["data"].get("oidc_client_secret_enc").is_none());
    // Oldest first: cursors rise.
    let cursors: Vec<i64> = all
        .iter()
        .map(|e| {
            e["context"]["lanyard"]["cursor"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");

    // Filters.
    let only = app
        .api(
            Method::GET,
            "/events?events=dsync.user.updated,dsync.user.deleted&limit=100",
            None,
        )
        .await
        .json();
    let got: Vec<&str> = only["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["dsync.user.updated", "dsync.user.deleted"]);
    let of_b = app
        .api(
            Method::GET,
            &format!("/events?organization_id={b}&limit=100"),
            None,
        )
        .await
        .json();
    let got: Vec<&str> = of_b["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["organization.created", "organization.updated"]);
    let none = app
        .api(Method::GET, "/events?events=user.created", None)
        .await
        .json();
    assert_eq!(
        none["data"].as_array().unwrap().len(),
        0,
        "a name Lanyard does not emit matches nothing"
    );
    let future = app
        .api(
            Method::GET,
            "/events?range_start=2999-01-01T00:00:00Z",
            None,
        )
        .await
        .json();
    assert_eq!(future["data"].as_array().unwrap().len(), 0);
    let past = app
        .api(Method::GET, "/events?range_end=2000-01-01T00:00:00Z", None)
        .await
        .json();
    assert_eq!(past["data"].as_array().unwrap().len(), 0);
    for (q, field) in [
        ("after=event_01HZZZZZZZZZZZZZZZZZZZZZZZ", "after"),
        ("range_start=yesterday", "range_start"),
        ("limit=0", "limit"),
    ] {
        let r = app.api(Method::GET, &format!("/events?{q}"), None).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
        assert_eq!(r.json()["errors"][0]["field"], field, "{q}");
    }
    // Lanyard's own feed shows the snapshot too.
    let own = app
        .api(Method::GET, "/api/v1/events?types=dsync.user.deleted", None)
        .await
        .json();
    let snap = &own["data"][0]["snapshot"];
    assert_eq!(snap["kind"], "directory_user");
    assert_eq!(snap["user"]["id"], ann.as_str());
}

/// A webhook endpoint in WorkOS's format is asked for with `format: "workos"`; any other format
/// is refused naming the field.
async fn webhook_endpoint_formats(d: Dialect) {
    let app = compat_app(d).await;
    let r = app
        .api(
            Method::POST,
            "/api/v1/webhook_endpoints",
            Some(json!({"url": "https://hooks.vendor.example/workos", "format": "workos"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["format"], "workos");
    let r = app
        .api(
            Method::POST,
            "/api/v1/webhook_endpoints",
            Some(json!({"url": "https://hooks.vendor.example/std"})),
        )
        .await;
    assert_eq!(r.json()["format"], "standard");
    let r = app
        .api(
            Method::POST,
            "/api/v1/webhook_endpoints",
            Some(json!({"url": "https://hooks.vendor.example/x", "format": "svix"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "format");
}

/// One `/events` read looks at 10,000 events of the feed at most, whatever its filters: over a
/// long run of events its filters do not match, an empty page names where the next read starts
/// (so a consumer moves on instead of rereading the same run on every poll).
async fn events_reads_are_bounded(d: Dialect) {
    let app = compat_app(d).await;
    let org = app.create_org("A").await;
    // 12,000 events of a type WorkOS has no name for, written as the feed stores them.
    {
        app.state.db.caught_up().await;
        let mut conn = app.state.db.pool.acquire().await.unwrap();
        let head: i64 = sqlx::query_scalar("SELECT cursor FROM events_head WHERE k = 'global'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        for chunk in 0..24 {
            let rows: Vec<String> = (0..500)
                .map(|i| {
                    let c = head + chunk * 500 + i + 1;
                    format!("({c}, 'event_filler{c:020}', 'audit_x', 'policy.updated', '{org}', 'organization', '{org}', {c}, 0, '{{}}')")
                })
                .collect();
            sqlx::query(&format!(
                "INSERT INTO events (cursor, id, audit_event_id, type, organization_id, entity_type, entity_id, entity_seq, created_at, data) VALUES {}",
                rows.join(", ")
            ))
            .execute(&mut *conn)
            .await
            .unwrap();
        }
        sqlx::query("UPDATE events_head SET cursor = cursor + 12000 WHERE k = 'global'")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    // A change after them.
    app.api(
        Method::PUT,
        &format!("/organizations/{org}"),
        Some(json!({"name": "A2"})),
    )
    .await;
    let first = app
        .api(Method::GET, "/events?events=organization.updated", None)
        .await
        .json();
    assert_eq!(
        first["data"].as_array().unwrap().len(),
        0,
        "the first 10,000 events hold none"
    );
    let after = first["list_metadata"]["after"]
        .as_str()
        .expect("where to go on")
        .to_owned();
    assert!(after.starts_with("event_filler"), "{after}");
    let next = app
        .api(
            Method::GET,
            &format!("/events?events=organization.updated&after={after}"),
            None,
        )
        .await
        .json();
    let got: Vec<&str> = next["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["organization.updated"]);
    assert_eq!(next["data"][0]["data"]["name"], "A2");
    let end = app
        .api(
            Method::GET,
            &format!(
                "/events?events=organization.updated&after={}",
                next["list_metadata"]["after"].as_str().unwrap()
            ),
            None,
        )
        .await
        .json();
    assert!(
        end["list_metadata"]["after"].is_null(),
        "the end of the feed: {end}"
    );
}

/// A password an IdP sends in a User, however it is wrapped (under the core schema's URN, in an
/// extension, nested), is never stored: not in the SCIM answer, the directory user's
/// `raw_attributes`, nor any event.
async fn scim_passwords_never_reach_reads_or_events(d: Dialect) {
    use crate::helpers::scim::{self, create_dir};
    let app = compat_app(d).await;
    let org = app.create_org("A").await;
    let dir = create_dir(&app, &org, "okta").await;
    let core = scim::USER;
    let body = json!({
        "schemas": [core, "urn:okta:custom:1.0:User"],
        "userName": "p1@a.example",
        core: {"password": "hunter2-core"},
        "urn:okta:custom:1.0:User": {"password": "hunter2-ext", "team": "a"},
    });
    let r = scim::scim(&app, &dir, Method::POST, "/Users", Some(body.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert!(!r.text().contains("hunter2"), "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let r = scim::scim(&app, &dir, Method::PUT, &format!("/Users/{id}"), Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    for path in [
        format!("/directory_users/{id}"),
        format!("/directory_users?directory={}", dir.id),
        "/events?limit=100".to_owned(),
        "/api/v1/events?limit=100".to_owned(),
    ] {
        let r = app.api(Method::GET, &path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(!r.text().contains("hunter2"), "{path}: {}", r.text());
    }
    let u = app
        .api(Method::GET, &format!("/directory_users/{id}"), None)
        .await
        .json();
    assert_eq!(u["raw_attributes"]["urn:okta:custom:1.0:User"]["team"], "a");
}

/// `GET /sso/authorize` with WorkOS's `provider` alone (its social sign-in): back to the
/// vendor with an error that says Lanyard does not provide it. (`domain_hint` routing is
/// tested with the multi-IdP sign-ins.)
async fn authorize_with_provider_or_domain_hint(d: Dialect) {
    use crate::helpers::{param, VENDOR_CB};
    let app = TestApp::spawn_with(
        d,
        &[
            ("LANYARD_WORKOS_COMPAT", "true"),
            ("LANYARD_REDIRECT_URIS", VENDOR_CB),
        ],
    )
    .await;
    let r = app
        .browser_get(
            &format!("/sso/authorize?provider=GoogleOAuth&client_id=client_1&response_type=code&redirect_uri={VENDOR_CB}&state=s1"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let to = url::Url::parse(&r.header("location").unwrap()).unwrap();
    assert!(to.as_str().starts_with(VENDOR_CB));
    assert_eq!(param(&to, "error").as_deref(), Some("invalid_request"));
    assert!(param(&to, "error_description")
        .unwrap()
        .contains("does not provide WorkOS's GoogleOAuth"));
    assert_eq!(param(&to, "state").as_deref(), Some("s1"));
    // domain_hint names no organization here: the ordinary refusal, not the provider's.
    let r = app
        .browser_get(
            &format!("/sso/authorize?domain_hint=nobody.example&redirect_uri={VENDOR_CB}"),
            None,
        )
        .await;
    let to = url::Url::parse(&r.header("location").unwrap()).unwrap();
    assert_eq!(param(&to, "error").as_deref(), Some("invalid_request"));
    assert!(!param(&to, "error_description").unwrap().contains("provide"));
}

/// `POST /audit_logs/events`: the vendor's event joins the organization's hash chain once per
/// Idempotency-Key, marked as the vendor's, under a name no Lanyard action can share; the portal's
/// Activity page and the organization's log stream show it; the vendor's feed, `/events` and its
/// webhooks never do.
async fn vendor_audit_events(d: Dialect) {
    let app = compat_app_with_receivers(d).await;
    let stream_rx = crate::webhooks::Receiver::start();
    let hook_rx = crate::webhooks::Receiver::start();
    let acme = app.create_org("Acme").await;
    let globex = app.create_org("Globex").await;
    let r = app
        .api(
            Method::POST,
            "/api/v1/webhook_endpoints",
            Some(json!({"url": hook_rx.hook()})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let link = app.create_link(&acme, &["log_streams", "audit_logs"]).await;
    let cookie = app.redeem(&link).await;
    crate::helpers::log_stream(&app, &cookie, &stream_rx.hook()).await;
    let feed_before = app
        .api(Method::GET, "/api/v1/events?limit=100", None)
        .await
        .json();
    let event = |action: &str| {
        json!({
            "organization_id": acme,
            "event": {
                "action": action,
                "occurred_at": "2026-12-01T09:30:00.000Z",
                "version": 2,
                "actor": {"id": "user_42", "type": "user", "name": "Jane Doe", "metadata": {"role": "owner"}},
                "targets": [{"id": "doc_7", "type": "document", "name": "Q4 plan", "metadata": {"size": 12}}],
                "context": {"location": "203.0.113.9", "user_agent": "Mozilla/5.0"},
                "metadata": {"mfa": true}
            }
        })
    };
    // Twice with one key: one entry, the same answer.
    let key = [("idempotency-key", "9f6c1f3e-audit-1")];
    for _ in 0..2 {
        let r = app
            .api_with(
                Method::POST,
                "/audit_logs/events",
                Some(event("document.shared")),
                &key,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json(), json!({"success": true}));
    }
    // A vendor action named like one of Lanyard's is still the vendor's.
    let r = app
        .api(
            Method::POST,
            "/audit_logs/events",
            Some(event("membership.removal_skipped")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Refusals: a missing action names the field; an unknown or deleted organization is 404.
    let mut bad = event("x");
    bad["event"].as_object_mut().unwrap().remove("action");
    let r = app.api(Method::POST, "/audit_logs/events", Some(bad)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json()["errors"][0]["field"],
        "event.action",
        "{}",
        r.text()
    );
    let mut other = event("x");
    other["organization_id"] = json!("org_01JDZQ8V6M3W9X4N5P7R2S0T1A");
    let r = app
        .api(Method::POST, "/audit_logs/events", Some(other))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let r = app
        .api(
            Method::DELETE,
            &format!("/api/v1/organizations/{globex}"),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text());
    let mut gone = event("x");
    gone["organization_id"] = json!(globex);
    let r = app
        .api(Method::POST, "/audit_logs/events", Some(gone))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());

    // The trail: one entry per key, marked, with everything the vendor sent.
    let trail = app
        .api(
            Method::GET,
            &format!("/api/v1/audit_events?organization_id={acme}&limit=100"),
            None,
        )
        .await
        .json();
    let vendor: Vec<&Value> = trail["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("vendor:"))
        .collect();
    assert_eq!(vendor.len(), 2, "{trail}");
    let shared = vendor
        .iter()
        .find(|e| e["action"] == "vendor:document.shared")
        .unwrap();
    assert_eq!(shared["actor"]["type"], "vendor:user");
    assert_eq!(shared["actor"]["id"], "user_42");
    assert_eq!(shared["actor"]["name"], "Jane Doe");
    assert_eq!(shared["targets"][0]["id"], "doc_7");
    assert_eq!(shared["context"]["ip"], "203.0.113.9");
    assert_eq!(shared["context"]["user_agent"], "Mozilla/5.0");
    assert_eq!(shared["metadata"]["source"], "vendor");
    assert!(
        shared["metadata"]["written_by"]
            .as_str()
            .unwrap()
            .starts_with("key_"),
        "{shared}"
    );
    assert_eq!(
        shared["metadata"]["occurred_at"],
        "2026-12-01T09:30:00.000Z"
    );
    assert_eq!(shared["metadata"]["version"], 2);
    assert_eq!(shared["metadata"]["metadata"]["mfa"], true);
    assert_eq!(shared["metadata"]["actor_metadata"]["role"], "owner");
    assert_eq!(shared["metadata"]["targets_metadata"][0]["size"], 12);
    // Lanyard's own action never matches the vendor's look-alike.
    let own = app
        .api(
            Method::GET,
            &format!(
                "/api/v1/audit_events?organization_id={acme}&action=membership.removal_skipped"
            ),
            None,
        )
        .await
        .json();
    assert_eq!(own["data"], json!([]), "{own}");
    {
        app.state.db.caught_up().await;
        let mut conn = app.state.db.pool.acquire().await.unwrap();
        let report = lanyard::server::audit::verify_chain(&mut conn, &acme)
            .await
            .unwrap();
        assert_eq!(report.first_broken, None);
    }

    // Never in the vendor's feed nor WorkOS's /events.
    let feed = app
        .api(Method::GET, "/api/v1/events?limit=100", None)
        .await
        .json();
    let new_types: Vec<&str> = feed["data"].as_array().unwrap()
        [feed_before["data"].as_array().unwrap().len()..]
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        new_types,
        ["organization.deleted"],
        "only Globex's deletion: {feed}"
    );
    let wos = app.api(Method::GET, "/events?limit=100", None).await;
    assert!(!wos.text().contains("document.shared"), "{}", wos.text());

    // The portal's Activity page shows it as the product's report.
    let page = app
        .browser_post("/portal/api/activity", "", Some(&cookie))
        .await
        .json();
    let item = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["action"] == "vendor:document.shared")
        .unwrap_or_else(|| panic!("{page}"));
    assert_eq!(item["summary"], "Document shared (reported by the product)");

    // The log stream carries it (with the vendor's own name); the vendor's webhook does not.
    crate::webhooks::run(&app).await;
    let streamed = stream_rx.received().await;
    let got = streamed
        .iter()
        .find(|g| g["body"]["type"] == "vendor:document.shared")
        .unwrap_or_else(|| panic!("{streamed:?}"));
    assert_eq!(got["body"]["organization_id"], acme.as_str());
    assert_eq!(got["body"]["data"]["source"], "vendor");
    // A SIEM rule on the type or the actor never takes it for one of Lanyard's own.
    assert_eq!(got["body"]["data"]["actor"]["type"], "vendor:user");
    assert!(
        streamed
            .iter()
            .all(|g| g["body"]["type"] != "membership.removal_skipped"),
        "{streamed:?}"
    );
    // The vendor's API cannot requeue a delivery of a customer's stream.
    let delivery: String = sqlx::query_scalar(
        "SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id WHERE w.organization_id = $1 LIMIT 1",
    )
    .bind(&acme)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/webhook_deliveries/{delivery}/redeliver"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    assert!(streamed
        .iter()
        .all(|g| g["body"]["organization_id"] == acme.as_str()));
    let hooked = hook_rx.received().await;
    assert!(
        !hooked.is_empty(),
        "the vendor's webhook got Lanyard's events"
    );
    for h in &hooked {
        let body = h["body"].to_string();
        assert!(
            !body.contains("document.shared") && !body.contains("\"vendor"),
            "{body}"
        );
    }
}

/// WorkOS's `/webhook_endpoints`: WorkOS-format endpoints only; the secret once; `status` and
/// `events` change; a URL taken is 409; a standard endpoint or a customer's log stream is 404.
async fn workos_webhook_endpoints(d: Dialect) {
    let app = compat_app_with_receivers(d).await;
    let standard = app
        .api(
            Method::POST,
            "/api/v1/webhook_endpoints",
            Some(json!({"url": "https://vendor.example/std"})),
        )
        .await
        .json();
    let org = app.create_org("Acme").await;
    let link = app.create_link(&org, &["log_streams"]).await;
    let cookie = app.redeem(&link).await;
    let stream = crate::helpers::log_stream(&app, &cookie, "https://siem.example/in").await;
    let r = app
        .api(
            Method::POST,
            "/webhook_endpoints",
            Some(json!({"endpoint_url": "https://vendor.example/wos"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["errors"][0]["field"], "events");
    let r = app
        .api(
            Method::POST,
            "/webhook_endpoints",
            Some(json!({"endpoint_url": "https://vendor.example/wos", "events": ["dsync.user.created"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let made = r.json();
    assert_eq!(made["object"], "webhook_endpoint");
    assert_eq!(made["status"], "enabled");
    assert!(made["secret"].as_str().unwrap().len() >= 32);
    let id = made["id"].as_str().unwrap();
    let r = app
        .api(
            Method::POST,
            "/webhook_endpoints",
            Some(json!({"endpoint_url": "https://vendor.example/wos", "events": ["dsync.user.created"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["code"], "duplicate_endpoint");
    // The same URL written otherwise is the same URL.
    let r = app
        .api(
            Method::POST,
            "/webhook_endpoints",
            Some(json!({"endpoint_url": "HTTPS://VENDOR.EXAMPLE:443/wos", "events": ["dsync.user.created"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    // A receiver's token in a log stream's URL never reaches the audit trail.
    crate::helpers::log_stream(
        &app,
        &cookie,
        "https://user:pw@siem2.example/in?token=SECRETQ",
    )
    .await;
    let trail = app.audit_events(&org).await;
    let text = serde_json::to_string(&trail).unwrap();
    assert!(
        text.contains("siem2.example") && !text.contains("SECRETQ") && !text.contains("pw@"),
        "{text}"
    );
    let list = app
        .api(Method::GET, "/webhook_endpoints", None)
        .await
        .json();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id], "{list}");
    assert_eq!(list["data"][0]["secret"], "");
    let r = app
        .api(
            Method::PATCH,
            &format!("/webhook_endpoints/{id}"),
            Some(json!({"status": "disabled", "events": ["dsync.user.deleted"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["status"], "disabled");
    assert_eq!(r.json()["events"], json!(["dsync.user.deleted"]));
    let r = app
        .api(
            Method::PATCH,
            &format!("/webhook_endpoints/{id}"),
            Some(json!({"status": "paused"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["errors"][0]["field"], "status");
    for other in [standard["id"].as_str().unwrap(), stream.as_str()] {
        let r = app
            .api(
                Method::PATCH,
                &format!("/webhook_endpoints/{other}"),
                Some(json!({"status": "disabled"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{other}: {}", r.text());
        let r = app
            .api(Method::DELETE, &format!("/webhook_endpoints/{other}"), None)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{other}: {}", r.text());
    }
    let r = app
        .api(Method::DELETE, &format!("/webhook_endpoints/{id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app
        .api(Method::DELETE, &format!("/webhook_endpoints/{id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The standard endpoint and the stream are untouched.
    let std = app
        .api(
            Method::GET,
            &format!(
                "/api/v1/webhook_endpoints/{}",
                standard["id"].as_str().unwrap()
            ),
            None,
        )
        .await
        .json();
    assert_eq!(std["enabled"], true, "{std}");
}

/// WorkOS organization memberships: one of organization_id or user_id; pages newest first;
/// statuses; role by role_slug or one role_slugs; deactivate/reactivate; delete; a directory's
/// member keeps its role (409); another organization's members never show.
async fn organization_memberships(d: Dialect) {
    use crate::helpers::{join_by_invitation, scim};
    let app = compat_app_with_receivers(d).await;
    let acme = app.create_org("Acme").await;
    let globex = app.create_org("Globex").await;
    let mut ours = Vec::new();
    for i in 0..3 {
        ours.push(join_by_invitation(&app, &acme, &format!("p{i}@acme.example")).await);
    }
    let theirs = join_by_invitation(&app, &globex, "x@globex.example").await;
    const M: &str = "/user_management/organization_memberships";
    let r = app.api(Method::GET, M, None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["errors"][0]["field"], "organization_id");
    // Pages of two, newest first, Acme's only.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let q = match &after {
            Some(a) => format!("{M}?organization_id={acme}&limit=2&after={a}"),
            None => format!("{M}?organization_id={acme}&limit=2"),
        };
        let page = app.api(Method::GET, &q, None).await.json();
        for m in page["data"].as_array().unwrap() {
            assert_eq!(m["object"], "organization_membership");
            assert_eq!(m["organization_id"], acme.as_str());
            assert_eq!(m["organization_name"], "Acme");
            assert_eq!(m["user"]["object"], "user");
            seen.push(m["id"].as_str().unwrap().to_owned());
        }
        match page["list_metadata"]["after"].as_str() {
            Some(a) => after = Some(a.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first");
    assert!(!seen.contains(&theirs));
    // By user.
    let one = app
        .api(Method::GET, &format!("{M}/{}", ours[0]), None)
        .await
        .json();
    assert_eq!(one["status"], "active");
    assert_eq!(one["directory_managed"], false);
    assert_eq!(one["user"]["email"], "p0@acme.example");
    let user = one["user_id"].as_str().unwrap();
    let by_user = app
        .api(Method::GET, &format!("{M}?user_id={user}"), None)
        .await
        .json();
    assert_eq!(by_user["data"].as_array().unwrap().len(), 1);
    assert_eq!(by_user["data"][0]["id"], ours[0].as_str());
    // Role.
    let r = app
        .api(
            Method::PUT,
            &format!("{M}/{}", ours[0]),
            Some(json!({"role_slug": "admin"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["role"]["slug"], "admin");
    assert_eq!(r.json()["roles"], json!([{"slug": "admin"}]));
    let r = app
        .api(
            Method::PUT,
            &format!("{M}/{}", ours[0]),
            Some(json!({"role_slugs": ["admin", "member"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["errors"][0]["field"], "role_slugs");
    let r = app
        .api(
            Method::PUT,
            &format!("{M}/{}", ours[1]),
            Some(json!({"role_slugs": ["admin"]})),
        )
        .await;
    assert_eq!(r.json()["role"]["slug"], "admin", "{}", r.text());
    // Deactivate, list by status, reactivate.
    let r = app
        .api(Method::PUT, &format!("{M}/{}/deactivate", ours[2]), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["status"], "inactive");
    let inactive = app
        .api(
            Method::GET,
            &format!("{M}?organization_id={acme}&statuses=inactive"),
            None,
        )
        .await
        .json();
    let ids: Vec<&str> = inactive["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [ours[2].as_str()]);
    let active = app
        .api(Method::GET, &format!("{M}?organization_id={acme}"), None)
        .await
        .json();
    assert!(
        active["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["status"] == "active"),
        "active ones unless statuses says otherwise: {active}"
    );
    let both = app
        .api(
            Method::GET,
            &format!("{M}?organization_id={acme}&statuses=active,inactive"),
            None,
        )
        .await
        .json();
    assert_eq!(both["data"].as_array().unwrap().len(), 3, "{both}");
    let r = app
        .api(
            Method::GET,
            &format!("{M}?organization_id={acme}&statuses=gone"),
            None,
        )
        .await;
    assert_eq!(r.json()["errors"][0]["field"], "statuses");
    let r = app
        .api(Method::PUT, &format!("{M}/{}/reactivate", ours[2]), None)
        .await;
    assert_eq!(r.json()["status"], "active", "{}", r.text());
    // Delete: gone from reads.
    let r = app
        .api(Method::DELETE, &format!("{M}/{}", ours[2]), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = app
        .api(Method::GET, &format!("{M}/{}", ours[2]), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .api(Method::PUT, &format!("{M}/{}/reactivate", ours[2]), None)
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "a removed membership is gone: {}",
        r.text()
    );
    let all = app
        .api(
            Method::GET,
            &format!("{M}?organization_id={acme}&limit=100"),
            None,
        )
        .await
        .json();
    assert_eq!(all["data"].as_array().unwrap().len(), 2);
    // A member from the directory: managed there, its role kept (409).
    let dir = scim::create_dir(&app, &acme, "okta").await;
    scim::create_user(&app, &dir, "dirk@acme.example").await;
    let all = app
        .api(
            Method::GET,
            &format!("{M}?organization_id={acme}&limit=100"),
            None,
        )
        .await
        .json();
    let dir_member = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["email"] == "dirk@acme.example")
        .unwrap_or_else(|| panic!("{all}"));
    assert_eq!(dir_member["directory_managed"], true, "{dir_member}");
    let r = app
        .api(
            Method::PUT,
            &format!("{M}/{}", dir_member["id"].as_str().unwrap()),
            Some(json!({"role_slug": "admin"})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "a directory manages it: {}",
        r.text()
    );
    // Creating one directly is AuthKit's.
    let r = app
        .api(
            Method::POST,
            M,
            Some(json!({"organization_id": acme, "user_id": user, "role_slug": "member"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.json()["message"].as_str().unwrap().contains("AuthKit"));
    // A deleted organization's members are gone too.
    app.api(
        Method::DELETE,
        &format!("/api/v1/organizations/{globex}"),
        None,
    )
    .await;
    let r = app.api(Method::GET, &format!("{M}/{theirs}"), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Each change is an organization_membership event carrying the membership as it was then.
    let evs = app
        .api(
            Method::GET,
            &format!(
                "/events?organization_id={acme}&limit=100&events=organization_membership.created,\
                 organization_membership.updated,organization_membership.deleted"
            ),
            None,
        )
        .await
        .json();
    let evs = evs["data"].as_array().unwrap().clone();
    let of = |id: &str| -> Vec<(String, Value)> {
        evs.iter()
            .filter(|e| e["data"]["id"] == id)
            .map(|e| (e["event"].as_str().unwrap().to_owned(), e["data"].clone()))
            .collect()
    };
    let first = of(&ours[0]);
    let names: Vec<&str> = first.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "organization_membership.created",
            "organization_membership.updated"
        ],
        "{evs:?}"
    );
    assert_eq!(first[0].1["role"]["slug"], "member");
    assert_eq!(
        first[1].1["role"]["slug"], "admin",
        "the role after the change"
    );
    assert_eq!(first[1].1["object"], "organization_membership");
    assert_eq!(first[1].1["organization_id"], acme.as_str());
    assert_eq!(first[1].1["user_id"], user);
    assert_eq!(first[1].1["custom_attributes"], json!({}));
    let third = of(&ours[2]);
    let seen: Vec<(&str, &str)> = third
        .iter()
        .map(|(n, d)| (n.as_str(), d["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("organization_membership.created", "active"),
            ("organization_membership.updated", "inactive"),
            ("organization_membership.updated", "active"),
            ("organization_membership.deleted", "inactive"),
        ],
        "a removed membership is still readable in its event"
    );
    let dirk = of(dir_member["id"].as_str().unwrap());
    assert_eq!(dirk[0].0, "organization_membership.created");
    assert_eq!(dirk[0].1["directory_managed"], true);
    // /api/v1/events shows the same snapshot.
    let ours2 = ours[2].clone();
    let v1 = app
        .api(
            Method::GET,
            &format!("/api/v1/events?organization_id={acme}&types=membership.removed"),
            None,
        )
        .await
        .json();
    let removed = v1["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["snapshot"]["membership"]["id"] == ours2.as_str())
        .unwrap_or_else(|| panic!("{v1}"));
    assert_eq!(removed["snapshot"]["kind"], "membership");
    assert_eq!(removed["snapshot"]["membership"]["state"], "removed");
    assert_eq!(
        removed["snapshot"]["membership"]["email"],
        "p2@acme.example"
    );
}

/// WorkOS invitations: send (organization required; the token and link once), get, by_token
/// (a replaced link opens nothing), list by organization and email, resend, revoke, accept
/// refused; inviter_user_id and accepted_user_id are the users behind the memberships.
async fn invitations(d: Dialect) {
    use crate::helpers::{exchange, param, ORIGIN};
    let app = compat_app_with_receivers(d).await;
    const I: &str = "/user_management/invitations";
    let acme = app.create_org("Acme").await;
    let globex = app.create_org("Globex").await;
    let r = app
        .api(Method::POST, I, Some(json!({"email": "a@acme.example"})))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["errors"][0]["field"], "organization_id");
    let r = app
        .api(Method::POST, I, Some(json!({"organization_id": acme})))
        .await;
    assert_eq!(r.json()["errors"][0]["field"], "email");
    let r = app
        .api(Method::POST, I, Some(json!({"email": "a@acme.example", "organization_id": acme, "role_slug": "admin", "expires_in_days": 3})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let sent = r.json();
    assert_eq!(sent["object"], "invitation");
    assert_eq!(sent["state"], "pending");
    assert_eq!(sent["role_slug"], "admin");
    assert_eq!(sent["inviter_user_id"], Value::Null);
    let token = sent["token"].as_str().unwrap().to_owned();
    let url = sent["accept_invitation_url"].as_str().unwrap().to_owned();
    assert!(!token.is_empty() && url.ends_with(&token), "{sent}");
    let id = sent["id"].as_str().unwrap().to_owned();
    let got = app
        .api(Method::GET, &format!("{I}/{id}"), None)
        .await
        .json();
    assert_eq!(got["token"], "", "stored hashed: shown once");
    assert_eq!(got["accept_invitation_url"], "");
    let found = app
        .api(Method::GET, &format!("{I}/by_token/{token}"), None)
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text());
    assert_eq!(found.json()["id"], id.as_str());
    let r = app
        .api(Method::GET, &format!("{I}/by_token/nonsense"), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Lists: by organization and by email (any case).
    app.api(
        Method::POST,
        I,
        Some(json!({"email": "g@globex.example", "organization_id": globex})),
    )
    .await;
    let mine = app
        .api(Method::GET, &format!("{I}?organization_id={acme}"), None)
        .await
        .json();
    assert_eq!(mine["data"].as_array().unwrap().len(), 1, "{mine}");
    let by_email = app
        .api(Method::GET, &format!("{I}?email=G@GLOBEX.example"), None)
        .await
        .json();
    assert_eq!(by_email["data"].as_array().unwrap().len(), 1, "{by_email}");
    assert_eq!(by_email["data"][0]["organization_id"], globex.as_str());
    // Resend: a new link; the old one opens nothing.
    app.state
        .clock
        .advance(lanyard::server::service::invitations::RESEND_COOLDOWN_MS);
    let r = app
        .api(
            Method::POST,
            &format!("{I}/{id}/resend"),
            Some(json!({"locale": "en"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let new_token = r.json()["token"].as_str().unwrap().to_owned();
    assert_ne!(new_token, token);
    let r = app
        .api(Method::GET, &format!("{I}/by_token/{token}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a replaced link");
    // Accepting is the invitee's, in the browser.
    let r = app
        .api(Method::POST, &format!("{I}/{id}/accept"), None)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let new_url = format!("{ORIGIN}/invite/{new_token}");
    let r = app.browser_post(&new_url[ORIGIN.len()..], "", None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let to = url::Url::parse(&r.header("location").unwrap()).unwrap();
    let member = exchange(&app, &param(&to, "code").unwrap()).await.json();
    let om = member["membership"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{member}"));
    let m = app
        .api(
            Method::GET,
            &format!("/user_management/organization_memberships/{om}"),
            None,
        )
        .await
        .json();
    let user = m["user_id"].as_str().unwrap().to_owned();
    let got = app
        .api(Method::GET, &format!("{I}/{id}"), None)
        .await
        .json();
    assert_eq!(got["state"], "accepted", "{got}");
    assert_eq!(got["accepted_user_id"], user.as_str(), "{got} {member}");
    assert!(got["accepted_at"].is_string());
    // An invitation from that member names them; a stranger cannot invite.
    let r = app
        .api(Method::POST, I, Some(json!({"email": "b@acme.example", "organization_id": acme, "inviter_user_id": user})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["inviter_user_id"], user.as_str());
    let second = r.json()["id"].as_str().unwrap().to_owned();
    let r = app
        .api(Method::POST, I, Some(json!({"email": "c@acme.example", "organization_id": acme, "inviter_user_id": "user_01JDZQ8V6M3W9X4N5P7R2S0T1A"})))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["errors"][0]["field"], "inviter_user_id");
    // A suspended member cannot invite; the refusal names this API's field.
    let r = app
        .api(
            Method::PUT,
            &format!("/user_management/organization_memberships/{om}/deactivate"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .api(
            Method::POST,
            I,
            Some(json!({"email": "d@acme.example", "organization_id": acme, "inviter_user_id": user})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(
        r.json()["errors"][0]["field"],
        "inviter_user_id",
        "{}",
        r.text()
    );
    // Revoke.
    let r = app
        .api(Method::POST, &format!("{I}/{second}/revoke"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["state"], "revoked");
    assert!(r.json()["revoked_at"].is_string());
    // The events show each invitation as it was then, without its link.
    let evs = app
        .api(
            Method::GET,
            &format!("/events?organization_id={acme}&events=invitation.created,invitation.resent,invitation.accepted,invitation.revoked&limit=100"),
            None,
        )
        .await
        .json();
    let seen: Vec<(&str, &str)> = evs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap(),
                e["data"]["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("invitation.created", "pending"),
            ("invitation.resent", "pending"),
            ("invitation.accepted", "accepted"),
            ("invitation.created", "pending"),
            ("invitation.revoked", "revoked"),
        ],
        "{evs}"
    );
    let accepted = &evs["data"][2]["data"];
    assert_eq!(accepted["accepted_user_id"], user.as_str());
    assert_eq!(evs["data"][3]["data"]["inviter_user_id"], user.as_str());
    assert!(evs["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["data"].get("token").is_none()));
    // A deleted organization's invitations are gone.
    app.api(
        Method::DELETE,
        &format!("/api/v1/organizations/{globex}"),
        None,
    )
    .await;
    let all = app.api(Method::GET, I, None).await.json();
    assert!(
        all["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["organization_id"] == acme.as_str()),
        "{all}"
    );
}

/// WorkOS audit log exports: ready at once with a signed 10-minute link that needs no API key;
/// the CSV holds the range and the filters asked for; a changed or expired link is refused;
/// reading the export again gives a fresh link; the export is itself audited.
async fn audit_log_exports(d: Dialect) {
    use crate::helpers::ORIGIN;
    let app = compat_app(d).await;
    let acme = app.create_org("Acme").await;
    let event = |action: &str, actor: &str| {
        json!({
            "organization_id": acme,
            "event": {
                "action": action,
                "occurred_at": "2026-12-01T09:30:00.000Z",
                "actor": {"id": actor, "type": "user", "name": format!("{actor} name")},
                "targets": [{"id": "doc_7", "type": "document"}],
                "context": {"location": "203.0.113.9"}
            }
        })
    };
    for (action, actor) in [
        ("document.shared", "user_1"),
        ("document.shared", "user_2"),
        ("document.deleted", "user_1"),
    ] {
        let r = app
            .api(
                Method::POST,
                "/audit_logs/events",
                Some(event(action, actor)),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let now = app.state.clock.now();
    let iso = |ms: i64| lanyard::server::timefmt::rfc3339(ms);
    let r = app
        .api(
            Method::POST,
            "/audit_logs/exports",
            Some(json!({"organization_id": acme, "range_start": iso(now - 60_000)})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["errors"][0]["field"], "range_end");
    let r = app
        .api(Method::POST, "/audit_logs/exports", Some(json!({"organization_id": "org_01JDZQ8V6M3W9X4N5P7R2S0T1A", "range_start": iso(now - 60_000), "range_end": iso(now + 60_000)})))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .api(
            Method::POST,
            "/audit_logs/exports",
            Some(json!({
                "organization_id": acme,
                "range_start": iso(now - 60_000),
                "range_end": iso(now + 60_000),
                "actions": ["document.shared"],
                "actor_ids": ["user_1"],
                "targets": ["document"]
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let export = r.json();
    assert_eq!(export["object"], "audit_log_export");
    assert_eq!(export["state"], "ready");
    let url = export["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(ORIGIN), "{url}");
    let path = url[ORIGIN.len()..].to_owned();
    // No API key: the link is the credential.
    let csv = app.browser_get(&path, None).await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.text());
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let lines: Vec<String> = csv.text().lines().skip(1).map(str::to_owned).collect();
    assert_eq!(lines.len(), 1, "user_1's document.shared only: {lines:?}");
    assert!(lines[0].contains("vendor:document.shared") && lines[0].contains("user_1"));
    // A changed signature or expiry, or a link past its 10 minutes, is refused.
    let r = app
        .browser_get(&path.replace("signature=", "signature=0"), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let expires: i64 = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "expires")
        .unwrap()
        .1
        .parse()
        .unwrap();
    let r = app
        .browser_get(
            &path.replace(
                &format!("expires={expires}"),
                &format!("expires={}", expires + 3_600_000),
            ),
            None,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "a later expiry is not signed"
    );
    app.state.clock.advance(11 * 60 * 1000);
    let r = app.browser_get(&path, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "expired");
    // Downloads run a few at a time on a node: past that, 429 with Retry-After.
    let again = app
        .api(
            Method::GET,
            &format!("/audit_logs/exports/{}", export["id"].as_str().unwrap()),
            None,
        )
        .await
        .json();
    let live = again["url"].as_str().unwrap()[ORIGIN.len()..].to_owned();
    let held = app
        .state
        .export_downloads
        .clone()
        .try_acquire_many_owned(lanyard::server::state::EXPORT_DOWNLOADS as u32)
        .unwrap();
    let r = app.browser_get(&live, None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert_eq!(r.header("retry-after").as_deref(), Some("5"));
    drop(held);
    assert_eq!(app.browser_get(&live, None).await.status, StatusCode::OK);
    // Reading it again: a fresh link to the same export.
    let id = export["id"].as_str().unwrap();
    let again = app
        .api(Method::GET, &format!("/audit_logs/exports/{id}"), None)
        .await
        .json();
    let fresh = again["url"].as_str().unwrap();
    assert_ne!(fresh, url);
    let r = app.browser_get(&fresh[ORIGIN.len()..], None).await;
    assert_eq!(r.status, StatusCode::OK);
    // A link read with a key revoked since opens nothing; naming another key breaks the seal.
    {
        let (key_id, key) = app.second_key("exports").await;
        let r = app
            .send(
                Request::get(format!("/audit_logs/exports/{id}"))
                    .header(header::AUTHORIZATION, format!("Bearer {key}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        let theirs = r.json()["url"].as_str().unwrap()[ORIGIN.len()..].to_owned();
        let other_key = crate::helpers::param(&url::Url::parse(fresh).unwrap(), "key").unwrap();
        let swapped = theirs.replace(&format!("key={key_id}"), &format!("key={other_key}"));
        assert_ne!(swapped, theirs);
        assert_eq!(
            app.browser_get(&swapped, None).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(app.browser_get(&theirs, None).await.status, StatusCode::OK);
        app.revoke_key(&key_id).await;
        assert_eq!(
            app.browser_get(&theirs, None).await.status,
            StatusCode::FORBIDDEN,
            "the key that read it was revoked"
        );
        assert_eq!(
            app.browser_get(&fresh[ORIGIN.len()..], None).await.status,
            StatusCode::OK,
            "other keys' links still work"
        );
    }
    // Everything in the range when nothing filters; the export is audited.
    let r = app
        .api(Method::POST, "/audit_logs/exports", Some(json!({"organization_id": acme, "range_start": iso(now - 60_000), "range_end": iso(now + 60_000)})))
        .await;
    let all = app
        .browser_get(&r.json()["url"].as_str().unwrap()[ORIGIN.len()..], None)
        .await;
    assert!(
        all.text().lines().count() >= 5,
        "organization.created, three vendor events, an export: {}",
        all.text()
    );
    assert!(app
        .audit_actions(&acme)
        .await
        .iter()
        .any(|a| a == "audit.exported"));
}

/// `GET`/`PUT /organizations/{id}/audit_logs_retention`: Lanyard's retention in days, under
/// WorkOS's name and Node SDK 12's.
async fn audit_logs_retention(d: Dialect) {
    let app = compat_app(d).await;
    let org = app.create_org("Acme").await;
    let path = format!("/organizations/{org}/audit_logs_retention");
    let r = app.api(Method::GET, &path, None).await;
    assert_eq!(r.json(), json!({"retention_period_in_days": 365}));
    let r = app
        .api(
            Method::PUT,
            &path,
            Some(json!({"retention_period_in_days": 30})),
        )
        .await;
    assert_eq!(
        r.json(),
        json!({"retention_period_in_days": 30}),
        "{}",
        r.text()
    );
    let r = app
        .api(Method::PUT, &path, Some(json!({"retention_period": 90})))
        .await;
    assert_eq!(r.json(), json!({"retention_period_in_days": 90}));
    let org_now = app
        .api(Method::GET, &format!("/api/v1/organizations/{org}"), None)
        .await
        .json();
    assert_eq!(org_now["audit_retention_days"], 90);
    for bad in [json!({}), json!({"retention_period_in_days": 0})] {
        let r = app.api(Method::PUT, &path, Some(bad)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json()["errors"][0]["field"], "retention_period_in_days");
    }
    let r = app
        .api(
            Method::GET,
            "/organizations/org_01JDZQ8V6M3W9X4N5P7R2S0T1A/audit_logs_retention",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

crate::both_databases!(
    audit_logs_retention,
    deleting_an_organization_ends_its_connections_and_directories,
    audit_log_exports,
    invitations,
    organization_memberships,
    workos_webhook_endpoints,
    vendor_audit_events,
    authorize_with_provider_or_domain_hint,
    scim_passwords_never_reach_reads_or_events,
    events_reads_are_bounded,
    webhook_endpoint_formats,
    events_show_resources_as_they_were,
    directory_sync_reads,
    off_by_default,
    connections_list_get_delete,
    sso_token_and_profile_refuse_what_they_should,
    racing_claims_of_one_domain,
    idempotency_keys_do_not_cross_apis,
    errors_have_workos_shape,
    throttled_answers_carry_retry_after,
    pagination_and_domains,
);
