//! Single logout against real IdPs: npm samlify here (tests/support/saml_idp.mjs) and PyPI
//! pysaml2 in saml_pysaml2.rs. The IdP verifies Lanyard's signed LogoutRequest (SP-initiated,
//! from `POST /api/v1/sso/logout`) and Lanyard's signed LogoutResponse; Lanyard verifies the IdP's
//! signed LogoutRequests (HTTP-Redirect and HTTP-POST), ends exactly the sessions they name,
//! tells the vendor, and refuses unsigned, tampered and replayed ones.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    param, sign_in_app, verified_domain, Dialect, TestApp, TestResponse, ORIGIN, VENDOR_CB,
};
use crate::saml::{exchange, location, sp_md};
use crate::saml_idp::TestIdp;

/// A GET at an IdP, not following its redirect: (status, Location, body).
pub async fn idp_get(url: &str) -> (u16, Option<String>, String) {
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let loc = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, loc, r.text().await.unwrap())
}

/// Opens a Lanyard URL the IdP redirected the browser to.
pub async fn lanyard_get(app: &TestApp, url: &str) -> TestResponse {
    let path = url
        .strip_prefix(ORIGIN)
        .unwrap_or_else(|| panic!("not Lanyard's URL: {url}"));
    app.browser_get(path, None).await
}

/// Posts an IdP's logout form (SAMLRequest, RelayState) to Lanyard, cross-site as a browser.
pub async fn post_logout_form(app: &TestApp, idp_origin: &str, html: &str) -> TestResponse {
    let field = |name: &str| {
        let at = html.find(&format!("name=\"{name}\""))?;
        let v = html[at..].split("value=\"").nth(1)?.split('"').next()?;
        Some(
            v.replace("&#39;", "'")
                .replace("&quot;", "\"")
                .replace("&amp;", "&"),
        )
    };
    let action = html
        .split("action=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a form")
        .replace("&amp;", "&");
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("SAMLRequest", &field("SAMLRequest").expect("SAMLRequest"));
    if let Some(r) = field("RelayState") {
        form.append_pair("RelayState", &r);
    }
    let req = Request::builder()
        .method(Method::POST)
        .uri(action.strip_prefix(ORIGIN).expect("Lanyard's SLO URL"))
        .header(header::ORIGIN, idp_origin)
        .header("sec-fetch-site", "cross-site")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.finish()))
        .unwrap();
    app.send(req).await
}

/// The vendor asks Lanyard to log a session out.
pub async fn vendor_logout(app: &TestApp, session_id: &str) -> Value {
    let r = app
        .api(
            Method::POST,
            "/api/v1/sso/logout",
            Some(json!({"session_id": session_id, "return_to": VENDOR_CB})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

/// The `session.logout_requested` audit events of an organization: (session id, initiator).
pub async fn logouts(app: &TestApp, org: &str) -> Vec<(String, String)> {
    app.audit_events(org)
        .await
        .iter()
        .filter(|e| e["action"] == "session.logout_requested")
        .map(|e| {
            (
                e["metadata"]["session_id"].as_str().unwrap().to_owned(),
                e["metadata"]["initiated_by"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn org_with_slo(app: &TestApp, idp: &TestIdp) -> (String, Value) {
    let org = app.create_org("Acme").await;
    verified_domain(app, &org, "acme.test").await;
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{org}/connections"),
            Some(json!({"type": "saml", "name": "Okta SAML", "idp": "okta",
                "saml": {"idp_metadata_url": idp.entity_id(), "single_logout": true}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    (org, crate::helpers::activate_connection(app, &id).await)
}

/// A whole SP-initiated sign-in; answers the profile.
async fn sign_in(app: &TestApp, idp: &TestIdp, org: &str) -> Value {
    let r = app
        .browser_get(
            &format!("/sso/authorize?organization={org}&redirect_uri={VENDOR_CB}&state=s"),
            None,
        )
        .await;
    let post = idp.login(location(&r).as_str()).await;
    let back = location(&idp.post_to(app, &post).await);
    exchange(app, &param(&back, "code").expect("code")).await["profile"].clone()
}

async fn last_logout(idp: &TestIdp) -> Value {
    let (status, _, body) = idp_get(&format!("{}/_test/last_logout", idp.base)).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

async fn samlify_and_lanyard_log_each_other_out(d: Dialect) {
    let app = sign_in_app(d).await;
    let idp = TestIdp::start();
    let (org, conn) = org_with_slo(&app, &idp).await;
    let id = conn["id"].as_str().unwrap();
    let slo = format!("{ORIGIN}/sso/saml/{id}/slo");
    assert_eq!(conn["saml"]["single_logout"], true);
    assert_eq!(
        conn["saml"]["idp_slo_url"],
        format!("{}/slo", idp.base),
        "read from the IdP's metadata"
    );
    assert_eq!(conn["sp"]["slo_url"], slo.as_str());
    let md = sp_md(&app, id).await;
    assert!(md.contains(&format!(r#"Location="{slo}""#)), "{md}");
    assert!(
        md.contains(r#"use="signing""#),
        "a signing key is made for logout messages: {md}"
    );
    assert_eq!(idp.register_sp(Some(&md)).await, 204);

    // SP-initiated: the vendor ends session 1; samlify verifies Lanyard's signed LogoutRequest.
    let p1 = sign_in(&app, &idp, &org).await;
    let s1 = p1["session_id"]
        .as_str()
        .expect("the profile names its SSO session")
        .to_owned();
    assert!(s1.starts_with("ssn_"), "{s1}");
    let index1 = p1["raw_attributes"]["session_index"]
        .as_str()
        .unwrap()
        .to_owned();
    let start = vendor_logout(&app, &s1).await;
    assert_eq!(start["idp_logout"], true, "{start}");
    let url = start["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/slo?SAMLRequest=", idp.base)),
        "{url}"
    );
    // The same request with its signature changed is refused by the IdP.
    let sig = param(&url::Url::parse(url).unwrap(), "Signature").unwrap();
    let forged_sig = format!(
        "{}{}",
        if sig.starts_with('A') { "B" } else { "A" },
        &sig[1..]
    );
    let mut forged = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = forged.query_pairs().into_owned().collect();
    forged.query_pairs_mut().clear();
    for (k, v) in pairs {
        forged
            .query_pairs_mut()
            .append_pair(&k, if k == "Signature" { &forged_sig } else { &v });
    }
    let (status, _, body) = idp_get(forged.as_str()).await;
    assert_eq!(
        status, 403,
        "samlify refuses a LogoutRequest whose signature does not verify: {body}"
    );
    let (status, back, body) = idp_get(url).await;
    assert_eq!(status, 302, "{body}");
    let req = &last_logout(&idp).await["request"];
    assert_eq!(req["name_id"], "dana@acme.test");
    assert_eq!(req["session_index"], index1.as_str());
    assert_eq!(req["issuer"], conn["sp"]["entity_id"]);
    // samlify's signed LogoutResponse brings the browser back to the vendor.
    let back = back.unwrap();
    assert!(back.starts_with(&format!("{slo}?SAMLResponse=")), "{back}");
    let r = lanyard_get(&app, &back).await;
    assert_eq!(location(&r).as_str(), VENDOR_CB);
    // Used once.
    assert_eq!(
        lanyard_get(&app, &back).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        logouts(&app, &org).await,
        vec![(s1.clone(), "vendor".to_owned())]
    );
    let again = vendor_logout(&app, &s1).await;
    assert_eq!(again["idp_logout"], false);
    assert_eq!(again["url"], VENDOR_CB);
    assert!(
        again["reason"].as_str().unwrap().contains("already ended"),
        "{again}"
    );

    // IdP-initiated by HTTP-Redirect, naming session 2 by its SessionIndex: session 3 stays.
    let p2 = sign_in(&app, &idp, &org).await;
    let p3 = sign_in(&app, &idp, &org).await;
    let (s2, s3) = (
        p2["session_id"].as_str().unwrap(),
        p3["session_id"].as_str().unwrap(),
    );
    let index2 = p2["raw_attributes"]["session_index"].as_str().unwrap();
    let (status, to_lanyard, body) = idp_get(&format!(
        "{}/_test/logout?name_id=dana%40acme.test&session_index={index2}&relay_state=idp-rs",
        idp.base
    ))
    .await;
    assert_eq!(status, 302, "{body}");
    let to_lanyard = to_lanyard.unwrap();
    assert!(
        to_lanyard.starts_with(&format!("{slo}?SAMLRequest=")),
        "{to_lanyard}"
    );
    // Changed in transit (RelayState) or stripped of its signature: refused, nothing ends.
    let tampered = to_lanyard.replace("RelayState=idp-rs", "RelayState=idp-rt");
    let r = lanyard_get(&app, &tampered).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("signature_invalid"), "{}", r.text());
    let unsigned = &to_lanyard[..to_lanyard.find("&SigAlg=").unwrap()];
    let r = lanyard_get(&app, unsigned).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("unsigned"), "{}", r.text());
    assert_eq!(
        logouts(&app, &org).await.len(),
        1,
        "nothing ended by a refused message"
    );
    // The genuine one ends session 2 and answers the IdP with a signed LogoutResponse.
    let r = lanyard_get(&app, &to_lanyard).await;
    let to_idp = location(&r);
    assert!(
        to_idp
            .as_str()
            .starts_with(&format!("{}/slo?SAMLResponse=", idp.base)),
        "{to_idp}"
    );
    assert_eq!(param(&to_idp, "RelayState").as_deref(), Some("idp-rs"));
    let (status, _, body) = idp_get(to_idp.as_str()).await;
    assert_eq!(
        status, 200,
        "samlify verifies Lanyard's LogoutResponse: {body}"
    );
    let resp = &last_logout(&idp).await["response"];
    assert_eq!(resp["status"], "urn:oasis:names:tc:SAML:2.0:status:Success");
    assert!(
        resp["in_response_to"]
            .as_str()
            .is_some_and(|v| !v.is_empty()),
        "{resp}"
    );
    // A replay of the same LogoutRequest is refused.
    assert_eq!(
        lanyard_get(&app, &to_lanyard).await.status,
        StatusCode::CONFLICT
    );
    let ended = logouts(&app, &org).await;
    assert_eq!(
        ended.last().unwrap(),
        &(s2.to_owned(), "idp".to_owned()),
        "{ended:?}"
    );
    assert_eq!(ended.len(), 2, "session 3 was not named: {ended:?}");
    // The vendor learns it from the events feed (and so from webhooks) too.
    let feed = app
        .api(
            Method::GET,
            &format!("/api/v1/events?organization_id={org}&types=session.logout_requested"),
            None,
        )
        .await
        .json();
    let feed = feed["data"].as_array().unwrap();
    assert_eq!(feed.len(), 2, "{feed:?}");
    assert_eq!(feed[1]["data"]["metadata"]["session_id"], s2, "{feed:?}");
    assert_eq!(feed[1]["data"]["metadata"]["initiated_by"], "idp");
    let event = app
        .last_audit_event(&org, "session.logout_requested")
        .await
        .unwrap();
    assert!(
        event["metadata"]["membership_id"]
            .as_str()
            .is_some_and(|m| m.starts_with("om_")),
        "the vendor learns whose session ended: {event}"
    );

    // IdP-initiated by HTTP-POST (enveloped signature), with no SessionIndex: every live
    // session of the subject ends (session 3).
    let (status, _, html) = idp_get(&format!(
        "{}/_test/logout?name_id=dana%40acme.test&binding=post",
        idp.base
    ))
    .await;
    assert_eq!(status, 200, "{html}");
    let r = post_logout_form(&app, &idp.base, &html).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let ended = logouts(&app, &org).await;
    assert_eq!(
        ended.last().unwrap(),
        &(s3.to_owned(), "idp".to_owned()),
        "{ended:?}"
    );
    assert_eq!(ended.len(), 3);

    // The metadata refresh follows the logout URL the IdP's metadata names.
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/connections/{id}"),
            Some(json!({"saml": {"idp_slo_url": "https://old-idp.example/slo"}})),
        )
        .await;
    assert_eq!(
        r.json()["saml"]["idp_slo_url"],
        "https://old-idp.example/slo",
        "{}",
        r.text()
    );
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/connections/{id}/refresh_metadata"),
            None,
        )
        .await;
    assert_eq!(
        r.json()["saml"]["idp_slo_url"],
        format!("{}/slo", idp.base),
        "{}",
        r.text()
    );
    let event = app
        .last_audit_event(&org, "connection.updated")
        .await
        .unwrap();
    assert_eq!(
        event["metadata"]["metadata_refresh"]["slo_url"],
        json!(["https://old-idp.example/slo", format!("{}/slo", idp.base)]),
        "{event}"
    );
}

/// OIDC: the vendor's logout goes through the OP's `end_session_endpoint` (npm oidc-provider
/// checks the client and its registered post-logout redirect URI) and back to `return_to`
/// through Lanyard. The API refuses a `return_to` off the allow-list and an unknown session.
async fn oidc_logout_goes_through_the_ops_end_session_endpoint(d: Dialect) {
    use crate::helpers::oidc;
    let (app, op) = oidc::setup(d).await;
    let (org, _) = oidc::org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    let back = oidc::sign_in(&app, &op, &format!("organization={org}")).await;
    let p = exchange(&app, &param(&back, "code").unwrap()).await["profile"].clone();
    let session = p["session_id"].as_str().unwrap().to_owned();

    for (body, status, field) in [
        (
            json!({"session_id": session, "return_to": "https://evil.example/"}),
            422,
            "return_to",
        ),
        (
            json!({"session_id": "ssn_01JD000000000000000000000", "return_to": VENDOR_CB}),
            404,
            "",
        ),
        (json!({"session_id": session}), 422, ""),
    ] {
        let r = app
            .api(Method::POST, "/api/v1/sso/logout", Some(body.clone()))
            .await;
        assert_eq!(r.status.as_u16(), status, "{body}: {}", r.text());
        if !field.is_empty() {
            assert!(r.text().contains(field), "{}", r.text());
        }
    }
    assert!(
        logouts(&app, &org).await.is_empty(),
        "a refused call ends nothing"
    );

    let start = vendor_logout(&app, &session).await;
    assert_eq!(start["idp_logout"], true, "{start}");
    let url = url::Url::parse(start["url"].as_str().unwrap()).unwrap();
    assert!(
        url.as_str()
            .starts_with(&format!("{}/session/end?", op.issuer)),
        "{url}"
    );
    assert_eq!(
        param(&url, "client_id").as_deref(),
        Some(crate::op::CLIENT_ID)
    );
    assert_eq!(
        param(&url, "post_logout_redirect_uri"),
        Some(format!("{ORIGIN}/sso/oidc/logout"))
    );
    let path = op.browse_logout(url.as_str()).await;
    assert!(path.starts_with("/sso/oidc/logout?"), "{path}");
    let r = app.browser_get(&path, None).await;
    assert_eq!(location(&r).as_str(), VENDOR_CB);
    assert_eq!(
        app.browser_get(&path, None).await.status,
        StatusCode::BAD_REQUEST,
        "used once"
    );
    assert_eq!(
        logouts(&app, &org).await,
        vec![(session, "vendor".to_owned())]
    );
}

/// WorkOS's logout (`POST /sso/logout/authorize {profile_id}`, then the browser at
/// `GET /sso/logout?token=…`) is Lanyard's single logout: through the OP's end_session_endpoint
/// and back to the first allow-listed URI. Refused: no profile, an unknown one, a return_to off
/// the allow-list, a changed or expired token, a token of a revoked key; a session ends once.
async fn workos_logout_goes_through_the_op(d: Dialect) {
    use crate::helpers::oidc;
    let app = TestApp::spawn_with(
        d,
        &[
            ("LANYARD_WORKOS_COMPAT", "true"),
            ("LANYARD_ALLOW_PRIVATE_NETWORK", "true"),
            ("LANYARD_REDIRECT_URIS", VENDOR_CB),
        ],
    )
    .await;
    let op = crate::op::TestOp::start();
    let (org, _) = oidc::org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    let sign_in = || async {
        let back = oidc::sign_in(&app, &op, &format!("organization={org}")).await;
        exchange(&app, &param(&back, "code").unwrap()).await["profile"].clone()
    };
    let p = sign_in().await;
    let profile_id = p["id"].as_str().unwrap().to_owned();
    let session = p["session_id"].as_str().unwrap().to_owned();
    const A: &str = "/sso/logout/authorize";
    for (body, status, field) in [
        (json!({}), 422, "profile_id"),
        (
            json!({"profile_id": "usr_01JD000000000000000000000"}),
            404,
            "",
        ),
        (json!({"profile_id": "nonsense"}), 404, ""),
        (
            json!({"profile_id": profile_id, "return_to": "https://evil.example/"}),
            422,
            "return_to",
        ),
    ] {
        let r = app.api(Method::POST, A, Some(body.clone())).await;
        assert_eq!(r.status.as_u16(), status, "{body}: {}", r.text());
        assert!(r.json()["message"].is_string(), "{}", r.text());
        if !field.is_empty() {
            assert_eq!(r.json()["errors"][0]["field"], field, "{}", r.text());
        }
    }
    assert!(
        logouts(&app, &org).await.is_empty(),
        "a refused call ends nothing"
    );
    let r = app
        .api(Method::POST, A, Some(json!({"profile_id": profile_id})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let (logout_url, token) = (
        r.json()["logout_url"].as_str().unwrap().to_owned(),
        r.json()["logout_token"].as_str().unwrap().to_owned(),
    );
    let u = url::Url::parse(&logout_url).unwrap();
    assert_eq!(u.path(), "/sso/logout");
    assert_eq!(param(&u, "token").as_deref(), Some(token.as_str()));
    assert!(
        logouts(&app, &org).await.is_empty(),
        "authorizing ends nothing yet"
    );
    // A changed token opens nothing (payload or signature).
    let r = app
        .api(
            Method::POST,
            A,
            Some(json!({"profile_id": "x".repeat(200_000)})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["errors"][0]["field"], "profile_id");
    // A HEAD (a link checker) ends nothing.
    let r = app
        .send(
            axum::http::Request::builder()
                .method(Method::HEAD)
                .uri(logout_url.strip_prefix(ORIGIN).unwrap())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(logouts(&app, &org).await.is_empty(), "HEAD ends nothing");
    let (payload, sig) = token.split_once('.').unwrap();
    let flip = |s: &str| {
        let c = if s.ends_with('A') { 'B' } else { 'A' };
        format!("{}{c}", &s[..s.len() - 1])
    };
    for bad in [
        format!("{}.{sig}", flip(payload)),
        format!("{payload}.{}", flip(sig)),
        payload.to_owned(),
        String::new(),
    ] {
        let r = app
            .browser_get(&format!("/sso/logout?token={bad}"), None)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{bad}: {}", r.text());
        assert!(r.json()["message"].as_str().unwrap().contains("not valid"));
    }
    assert!(logouts(&app, &org).await.is_empty());
    // The real one: to the OP, back through Lanyard to the vendor.
    let path = logout_url.strip_prefix(ORIGIN).unwrap();
    let r = app.browser_get(path, None).await;
    assert_eq!(r.status, StatusCode::FOUND, "WorkOS's 302: {}", r.text());
    let end = url::Url::parse(&r.header("location").unwrap()).unwrap();
    assert!(
        end.as_str()
            .starts_with(&format!("{}/session/end?", op.issuer)),
        "{end}"
    );
    let back = op.browse_logout(end.as_str()).await;
    assert!(back.starts_with("/sso/oidc/logout?"), "{back}");
    assert_eq!(
        location(&app.browser_get(&back, None).await).as_str(),
        VENDOR_CB
    );
    assert_eq!(
        logouts(&app, &org).await,
        vec![(session.clone(), "vendor".to_owned())]
    );
    // Used again (a mail scanner fetched it first, a double click): the browser still goes to
    // the OP, which ends its own session; Lanyard's ended once.
    let r = app.browser_get(path, None).await;
    let again = url::Url::parse(&r.header("location").unwrap()).unwrap();
    assert!(
        again
            .as_str()
            .starts_with(&format!("{}/session/end?", op.issuer)),
        "{again}"
    );
    assert_eq!(logouts(&app, &org).await.len(), 1);
    // Used again and again: a few trips to the IdP wait at a time, then the browser only returns.
    let mut to_idp = 0;
    for _ in 0..10 {
        let r = app.browser_get(path, None).await;
        if r.header("location").as_deref() != Some(VENDOR_CB) {
            to_idp += 1;
        }
    }
    assert_eq!(
        to_idp, 4,
        "at most five logouts wait for the OP (one from the use above)"
    );
    // No open session left for the profile.
    let r = app
        .api(Method::POST, A, Some(json!({"profile_id": profile_id})))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());

    // A token expires after 5 minutes.
    let p2 = sign_in().await;
    let r = app
        .api(Method::POST, A, Some(json!({"profile_id": p2["id"]})))
        .await;
    let url2 = r.json()["logout_url"].as_str().unwrap().to_owned();
    app.state.clock.advance(5 * 60_000 + 1);
    let r = app
        .browser_get(url2.strip_prefix(ORIGIN).unwrap(), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    // A token of a key revoked since opens nothing.
    let (key_id, key) = app.second_key("logout").await;
    let r = app
        .send(
            axum::http::Request::builder()
                .method(Method::POST)
                .uri(A)
                .header(header::AUTHORIZATION, format!("Bearer {key}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(json!({"profile_id": p2["id"]}).to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let url3 = r.json()["logout_url"].as_str().unwrap().to_owned();
    app.revoke_key(&key_id).await;
    let r = app
        .browser_get(url3.strip_prefix(ORIGIN).unwrap(), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    assert_eq!(logouts(&app, &org).await.len(), 1, "session 2 still open");
}

/// The admin turns single logout, signed assertions and the POST binding on in the portal (a
/// plain form, no JavaScript needed); the SSO page then shows Lanyard's logout URL to copy and
/// the IdP's steps for single logout.
async fn the_portal_sets_federation_settings(d: Dialect) {
    // The SSO page with a SAML connection needs the server's stack in a debug build.
    crate::helpers::on_big_stack(portal_federation_settings(d));
}

async fn portal_federation_settings(d: Dialect) {
    let app = sign_in_app(d).await;
    let idp = TestIdp::start();
    let org = app.create_org("Acme").await;
    verified_domain(&app, &org, "acme.test").await;
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{org}/connections"),
            Some(json!({"type": "saml", "name": "Okta SAML", "idp": "okta", "saml": {"idp_metadata_url": idp.entity_id()}})),
        )
        .await;
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let link = app.create_link(&org, &["sso"]).await;
    let cookie = app.redeem(&link).await;
    let r = app
        .browser_post(
            "/portal/api/saml_federation",
            &format!("id={id}&want_assertions_signed=on&single_logout=on&authn_request_binding=post&idp_slo_url="),
            Some(&cookie),
        )
        .await;
    assert!(
        r.status.is_success() || r.status == StatusCode::SEE_OTHER,
        "{}",
        r.text()
    );
    let c = app
        .api(Method::GET, &format!("/api/v1/connections/{id}"), None)
        .await
        .json();
    assert_eq!(c["saml"]["single_logout"], true, "{c}");
    assert_eq!(c["saml"]["want_assertions_signed"], true);
    assert_eq!(c["saml"]["authn_request_binding"], "post");
    assert_eq!(
        c["saml"]["idp_slo_url"],
        format!("{}/slo", idp.base),
        "kept from the metadata"
    );
    let page = app.browser_get("/portal/sso", Some(&cookie)).await.text();
    assert!(
        page.contains(&format!("{ORIGIN}/sso/saml/{id}/slo")),
        "the logout URL to copy"
    );
    assert!(
        page.contains("Set up single logout in Okta"),
        "the IdP's steps"
    );
    // A binding that does not exist is refused with the field named; nothing changes.
    let r = app
        .browser_post(
            "/portal/api/saml_federation",
            &format!("id={id}&single_logout=on&authn_request_binding=soap"),
            Some(&cookie),
        )
        .await;
    assert!(r.text().contains("authn_request_binding"), "{}", r.text());
    let c = app
        .api(Method::GET, &format!("/api/v1/connections/{id}"), None)
        .await
        .json();
    assert_eq!(c["saml"]["authn_request_binding"], "post");

    // The customer's own encryption key pair, through the portal's form.
    let keys = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/saml/keys");
    let read = |f: &str| std::fs::read_to_string(keys.join(f)).unwrap();
    let enc = crate::helpers::portal::enc;
    let upload = |key: String, cert: String| {
        let app = &app;
        let cookie = cookie.clone();
        let id = id.clone();
        async move {
            app.browser_post(
                "/portal/api/upload_sp_key",
                &format!(
                    "id={id}&key_use=encryption&private_key_pem={}&certificate_pem={}",
                    enc(&key),
                    enc(&cert)
                ),
                Some(&cookie),
            )
            .await
        }
    };
    let r = upload(read("sp_enc.key"), read("idp.crt")).await;
    assert!(
        r.text().contains("saml.upload_sp_key.certificate_pem"),
        "{}",
        r.text()
    );
    let r = upload(read("sp_enc.key"), read("sp_enc.crt")).await;
    assert!(
        r.status.is_success() || r.status == StatusCode::SEE_OTHER,
        "{}",
        r.text()
    );
    let c = app
        .api(Method::GET, &format!("/api/v1/connections/{id}"), None)
        .await
        .json();
    let uploaded = c["sp"]["certificates"].as_array().unwrap().iter().any(|k| {
        k["use"] == "encryption"
            && k["state"] == "active"
            && k["pem"].as_str().map(str::trim) == Some(read("sp_enc.crt").trim())
    });
    assert!(uploaded, "{c}");
    let page = app.browser_get("/portal/sso", Some(&cookie)).await.text();
    let key_line = read("sp_enc.key").lines().nth(1).unwrap().to_owned();
    assert!(page.contains("Upload the key pair"), "the form is there");
    assert!(
        !page.contains(&key_line),
        "the private key is never shown back"
    );
}

crate::both_databases!(
    the_portal_sets_federation_settings,
    samlify_and_lanyard_log_each_other_out,
    oidc_logout_goes_through_the_ops_end_session_endpoint,
    workos_logout_goes_through_the_op,
);
