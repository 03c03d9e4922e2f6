//! SAML sign-in against a real SAML IdP (npm samlify, xml-crypto signatures): setup through the
//! vendor API, SP- and IdP-initiated flows, the JIT policy, replay, attacks through the ACS,
//! certificate rotation and SP metadata.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{param, sign_in_app, verified_domain, Dialect, TestApp, ORIGIN, VENDOR_CB};
use crate::saml_idp::TestIdp;

async fn setup(d: Dialect) -> (TestApp, TestIdp) {
    (sign_in_app(d).await, TestIdp::start())
}

/// An organization with the vendor-verified domain acme.test and an active SAML connection
/// created from the IdP's metadata URL; returns (org, connection JSON).
pub(crate) async fn org_with_saml(app: &TestApp, idp: &TestIdp, extra: Value) -> (String, Value) {
    let org = app.create_org("Acme").await;
    verified_domain(app, &org, "acme.test").await;
    let mut saml = json!({"idp_metadata_url": idp.entity_id()});
    if let Some(o) = extra.as_object() {
        for (k, v) in o {
            saml[k] = v.clone();
        }
    }
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{org}/connections"),
            Some(json!({"type": "saml", "name": "Okta SAML", "idp": "okta", "saml": saml})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let c = r.json();
    let id = c["id"].as_str().unwrap().to_owned();
    (org, crate::helpers::activate_connection(app, &id).await)
}

/// Starts an SP-initiated sign-in and returns the IdP's form for it.
async fn start(app: &TestApp, idp: &TestIdp, org: &str) -> crate::saml_idp::Post {
    let r = app
        .browser_get(
            &format!(
                "/sso/authorize?organization={org}&redirect_uri={VENDOR_CB}&state=vendor-state"
            ),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let to_idp = r.header("location").unwrap();
    assert!(
        to_idp.contains("SAMLRequest=") && to_idp.contains("RelayState="),
        "{to_idp}"
    );
    idp.login(&to_idp).await
}

pub fn location(r: &crate::helpers::TestResponse) -> url::Url {
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    url::Url::parse(&r.header("location").unwrap()).unwrap()
}

pub async fn exchange(app: &TestApp, code: &str) -> Value {
    let r = crate::helpers::exchange(app, code).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

/// The newest sign-in failure reason recorded for the organization's audit trail.
pub async fn last_failure(app: &TestApp, org: &str) -> Value {
    let r = app
        .api(
            Method::GET,
            &format!("/api/v1/audit_events?organization_id={org}&limit=100"),
            None,
        )
        .await;
    r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|e| e["action"] == "authentication.failed")
        .cloned()
        .unwrap_or(Value::Null)
}

async fn sp_initiated_sign_in_returns_the_profile_and_creates_one_member(d: Dialect) {
    let (app, idp) = setup(d).await;
    let (org, conn) = org_with_saml(&app, &idp, json!({})).await;
    let id = conn["id"].as_str().unwrap();
    assert_eq!(conn["type"], "saml");
    assert_eq!(
        conn["sp"]["entity_id"],
        format!("{ORIGIN}/sso/saml/{id}/metadata")
    );
    assert_eq!(conn["sp"]["acs_url"], format!("{ORIGIN}/sso/saml/{id}/acs"));
    assert_eq!(conn["saml"]["idp_entity_id"], idp.entity_id());
    assert_eq!(conn["saml"]["certificates"].as_array().unwrap().len(), 1);
    assert!(conn["redirect_uri"].is_null());
    idp.set_user(json!({"name_id": "Dana@Acme.test", "email": "Dana@Acme.test", "first_name": "Dana", "last_name": "Lee", "groups": ["Engineering", "Admins"]})).await;
    let post = start(&app, &idp, &org).await;
    assert_eq!(post.action, format!("{ORIGIN}/sso/saml/{id}/acs"));
    let back = location(&idp.post_to(&app, &post).await);
    assert!(back.as_str().starts_with(VENDOR_CB), "{back}");
    assert_eq!(param(&back, "state").as_deref(), Some("vendor-state"));
    let j = exchange(&app, &param(&back, "code").expect("code")).await;
    assert_eq!(j["profile"]["email"], "dana@acme.test");
    assert_eq!(j["profile"]["first_name"], "Dana");
    assert_eq!(j["profile"]["last_name"], "Lee");
    assert_eq!(j["profile"]["groups"], json!(["Engineering", "Admins"]));
    assert_eq!(j["profile"]["idp_subject"], "Dana@Acme.test");
    assert_eq!(j["profile"]["connection_id"], id);
    assert_eq!(
        j["profile"]["raw_attributes"]["attributes"]["firstName"],
        json!(["Dana"])
    );
    assert_eq!(j["membership"]["role"], "member");
    // The same person again: same user, no second membership.
    let post = start(&app, &idp, &org).await;
    let back = location(&idp.post_to(&app, &post).await);
    let again = exchange(&app, &param(&back, "code").unwrap()).await;
    assert_eq!(again["profile"]["id"], j["profile"]["id"]);
    let actions = app.audit_actions(&org).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "membership.created")
            .count(),
        1
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "authentication.succeeded")
            .count(),
        2
    );
}

async fn a_response_is_accepted_once(d: Dialect) {
    let (app, idp) = setup(d).await;
    let (org, _) = org_with_saml(&app, &idp, json!({"allow_idp_initiated": true})).await;
    let post = start(&app, &idp, &org).await;
    location(&idp.post_to(&app, &post).await);
    // Replaying the same POST: the RelayState is spent, so the response answers no pending
    // request, and the assertion id is in the replay cache besides.
    let r = idp.post_to(&app, &post).await;
    let back = location(&r);
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    assert!(param(&back, "code").is_none());
    assert_eq!(
        last_failure(&app, &org).await["metadata"]["reason"],
        "in_response_to_mismatch"
    );
    // An IdP-initiated response replayed: only the persistent replay cache stops it.
    let acs = format!("{ORIGIN}/sso/saml/{}/acs", connection_of(&app, &org).await);
    let sp = acs.replace("/acs", "/metadata");
    let post = idp.unsolicited(&acs, &sp, None).await;
    let first = location(&idp.post_to(&app, &post).await);
    assert!(param(&first, "code").is_some(), "{first}");
    let second = location(&idp.post_to(&app, &post).await);
    assert!(param(&second, "code").is_none(), "{second}");
    assert_eq!(
        last_failure(&app, &org).await["metadata"]["reason"],
        "replay"
    );
}

async fn connection_of(app: &TestApp, org: &str) -> String {
    let r = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{org}/connections"),
            None,
        )
        .await;
    r.json()["data"][0]["id"].as_str().unwrap().to_owned()
}

async fn idp_initiated_sign_in_only_when_the_connection_allows_it(d: Dialect) {
    let (app, idp) = setup(d).await;
    let (org, conn) = org_with_saml(&app, &idp, json!({})).await;
    let acs = conn["sp"]["acs_url"].as_str().unwrap().to_owned();
    let sp = conn["sp"]["entity_id"].as_str().unwrap().to_owned();
    let post = idp.unsolicited(&acs, &sp, None).await;
    let r = idp.post_to(&app, &post).await;
    let back = location(&r);
    assert!(param(&back, "code").is_none());
    assert_eq!(
        last_failure(&app, &org).await["metadata"]["reason"],
        "unsolicited"
    );
    let id = conn["id"].as_str().unwrap();
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/connections/{id}"),
            Some(json!({"saml": {"allow_idp_initiated": true}})),
        )
        .await;
    assert_eq!(
        r.json()["saml"]["allow_idp_initiated"],
        true,
        "{}",
        r.text()
    );
    let post = idp.unsolicited(&acs, &sp, Some(VENDOR_CB)).await;
    let back = location(&idp.post_to(&app, &post).await);
    assert!(back.as_str().starts_with(VENDOR_CB));
    let j = exchange(&app, &param(&back, "code").expect("code")).await;
    assert_eq!(j["profile"]["email"], "dana@acme.test");
    // RelayState naming a URL off the allow-list never becomes a redirect target.
    let post = idp
        .unsolicited(&acs, &sp, Some("https://evil.example/steal"))
        .await;
    let back = location(&idp.post_to(&app, &post).await);
    assert!(back.as_str().starts_with(VENDOR_CB), "{back}");
}

async fn forged_and_misconfigured_responses_are_refused_with_their_reason(d: Dialect) {
    let (app, idp) = setup(d).await;
    let (org, _) = org_with_saml(&app, &idp, json!({})).await;
    for (mode, reason) in [
        (json!({"sign": "none"}), "unsigned"),
        (json!({"key": "other"}), "signature_invalid"),
        (json!({"algorithm": "sha1"}), "signature_algorithm"),
        (
            json!({"sign": "response", "key": "other"}),
            "signature_invalid",
        ),
    ] {
        idp.set_mode(mode.clone()).await;
        let post = start(&app, &idp, &org).await;
        let back = location(&idp.post_to(&app, &post).await);
        assert!(param(&back, "code").is_none(), "{mode}: {back}");
        assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
        assert_eq!(
            last_failure(&app, &org).await["metadata"]["reason"],
            reason,
            "{mode}"
        );
    }
    // Signed Response only, and both: accepted.
    for sign in ["response", "both"] {
        idp.set_mode(json!({"sign": sign})).await;
        let post = start(&app, &idp, &org).await;
        let back = location(&idp.post_to(&app, &post).await);
        assert!(param(&back, "code").is_some(), "{sign}: {back}");
    }
    // A tampered NameID after signing.
    idp.set_mode(json!({})).await;
    let mut post = start(&app, &idp, &org).await;
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let xml = String::from_utf8(b64.decode(&post.saml_response).unwrap()).unwrap();
    assert!(xml.contains(">dana@acme.test<"));
    post.saml_response = b64.encode(xml.replace(">dana@acme.test<", ">boss@acme.test<"));
    let back = location(&idp.post_to(&app, &post).await);
    assert!(param(&back, "code").is_none());
    assert_eq!(
        last_failure(&app, &org).await["metadata"]["reason"],
        "signature_invalid"
    );
}

async fn jit_needs_a_verified_domain_of_the_organization(d: Dialect) {
    let (app, idp) = setup(d).await;
    let (org, _) = org_with_saml(&app, &idp, json!({})).await;
    idp.set_user(json!({"name_id": "mallory@elsewhere.test", "email": "mallory@elsewhere.test"}))
        .await;
    let post = start(&app, &idp, &org).await;
    let back = location(&idp.post_to(&app, &post).await);
    assert!(param(&back, "code").is_none());
    assert_eq!(
        last_failure(&app, &org).await["metadata"]["reason"],
        "domain_not_verified"
    );
    assert!(!app
        .audit_actions(&org)
        .await
        .contains(&"membership.created".to_owned()));
}

async fn entra_claims_and_a_mapping_override_are_read(d: Dialect) {
    let (app, idp) = setup(d).await;
    let (org, conn) = org_with_saml(&app, &idp, json!({})).await;
    idp.set_user(json!({"name_id": "0f3c-opaque", "email": "ana@acme.test", "first_name": "Ana", "last_name": "Ruiz", "groups": ["g-1"], "style": "entra", "name_id_format": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"})).await;
    let post = start(&app, &idp, &org).await;
    let j = exchange(
        &app,
        &param(&location(&idp.post_to(&app, &post).await), "code").unwrap(),
    )
    .await;
    assert_eq!(j["profile"]["email"], "ana@acme.test");
    assert_eq!(j["profile"]["first_name"], "Ana");
    assert_eq!(j["profile"]["groups"], json!(["g-1"]));
    assert_eq!(j["profile"]["idp_subject"], "0f3c-opaque");
    let id = conn["id"].as_str().unwrap();
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/connections/{id}"),
            Some(json!({"attribute_mapping": {"email": "work_mail"}})),
        )
        .await;
    assert_eq!(
        r.json()["attribute_mapping"]["email"],
        "work_mail",
        "{}",
        r.text()
    );
    idp.set_user(json!({"name_id": "1a2b", "email": "wrong@acme.test", "attributes": {"work_mail": ["ben@acme.test"]}})).await;
    let post = start(&app, &idp, &org).await;
    let j = exchange(
        &app,
        &param(&location(&idp.post_to(&app, &post).await), "code").unwrap(),
    )
    .await;
    assert_eq!(j["profile"]["email"], "ben@acme.test");
}

async fn certificates_rotate_without_downtime(d: Dialect) {
    let (app, idp) = setup(d).await;
    let (org, conn) = org_with_saml(&app, &idp, json!({})).await;
    let id = conn["id"].as_str().unwrap();
    let old_cert = conn["saml"]["certificates"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        conn["saml"]["certificates"][0]["expires_in_days"]
            .as_i64()
            .unwrap()
            > 30
    );
    // The IdP starts signing with its new key before Lanyard knows it: refused.
    idp.set_mode(json!({"key": "other"})).await;
    let post = start(&app, &idp, &org).await;
    assert!(param(&location(&idp.post_to(&app, &post).await), "code").is_none());
    // Pin the new certificate beside the old one: both keys work.
    let new_pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/saml_idp/other.crt"
    ))
    .unwrap();
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/connections/{id}"),
            Some(json!({"saml": {"add_certificate": new_pem}})),
        )
        .await;
    assert_eq!(
        r.json()["saml"]["certificates"].as_array().unwrap().len(),
        2,
        "{}",
        r.text()
    );
    for key in ["other", "idp"] {
        idp.set_mode(json!({"key": key})).await;
        let post = start(&app, &idp, &org).await;
        assert!(
            param(&location(&idp.post_to(&app, &post).await), "code").is_some(),
            "{key}"
        );
    }
    // Unpin the old one: the old key stops working.
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/connections/{id}"),
            Some(json!({"saml": {"remove_certificate": old_cert}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let remaining = r.json()["saml"]["certificates"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let post = start(&app, &idp, &org).await;
    assert!(param(&location(&idp.post_to(&app, &post).await), "code").is_none());
    // The last certificate cannot be removed.
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/connections/{id}"),
            Some(json!({"saml": {"remove_certificate": remaining}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "last_certificate");
}

/// Whether an SP-initiated sign-in with the IdP signing with `key` gets a code.
async fn signs_in(app: &TestApp, idp: &TestIdp, org: &str, key: &str) -> bool {
    idp.set_mode(json!({"key": key})).await;
    let post = start(app, idp, org).await;
    param(&location(&idp.post_to(app, &post).await), "code").is_some()
}

/// Makes every scheduled metadata refresh due now (instead of moving the clock a day, which
/// would make the IdP's fresh assertions look a day old).
async fn refresh_due_now(app: &TestApp) -> usize {
    sqlx::query("UPDATE saml_metadata_refresh SET next_at = 0")
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    lanyard::server::service::saml_metadata::refresh_due(&app.state)
        .await
        .unwrap()
}

async fn idp_metadata_refresh_follows_a_certificate_rollover_with_no_failed_sign_in(d: Dialect) {
    let (app, idp) = setup(d).await;
    let (org, conn) = org_with_saml(&app, &idp, json!({})).await;
    let id = conn["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/connections/{id}");
    let refresh_path = format!("/api/v1/connections/{id}/refresh_metadata");
    let refresh = || app.api(Method::POST, &refresh_path, None);
    let fingerprints = |c: &Value| -> Vec<String> {
        c["saml"]["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["fingerprint"].as_str().unwrap().to_owned())
            .collect()
    };
    let old_fp = fingerprints(&conn)[0].clone();
    assert!(signs_in(&app, &idp, &org, "idp").await);
    // The scheduled refresh runs first soon after creation: nothing changed, nothing audited.
    assert_eq!(refresh_due_now(&app).await, 1);
    assert_eq!(refresh_due_now(&app).await, 1);
    let c = app.api(Method::GET, &path, None).await.json();
    assert!(
        c["saml"]["metadata_refresh"]["refreshed_at"].is_string(),
        "{c}"
    );
    assert_eq!(c["saml"]["metadata_refresh"]["error"], Value::Null);
    // Leased and not due again: a second node (or run) does nothing.
    assert_eq!(
        lanyard::server::service::saml_metadata::refresh_due(&app.state)
            .await
            .unwrap(),
        0
    );

    // The IdP announces its next certificate beside the current one: pinned on refresh.
    idp.publish(json!({"keys": ["idp", "other"]})).await;
    let r = refresh().await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let fps = fingerprints(&r.json());
    assert_eq!(fps.len(), 2, "{}", r.text());
    let new_fp = fps.iter().find(|f| **f != old_fp).unwrap().clone();
    let audit = app.audit_events(&org).await;
    let updates: Vec<&Value> = audit
        .iter()
        .filter(|e| e["action"] == "connection.updated")
        .collect();
    assert_eq!(updates.len(), 1, "only the change is audited: {audit:?}");
    assert_eq!(
        updates[0]["metadata"]["metadata_refresh"]["added"],
        json!([new_fp])
    );
    // The IdP switches keys: no sign-in fails, with either key.
    assert!(signs_in(&app, &idp, &org, "other").await);
    assert!(signs_in(&app, &idp, &org, "idp").await);

    // The IdP drops the old certificate: it keeps verifying through the overlap…
    idp.publish(json!({"keys": ["other"]})).await;
    assert_eq!(refresh_due_now(&app).await, 1);
    let c = app.api(Method::GET, &path, None).await.json();
    let old = c["saml"]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["fingerprint"] == old_fp.as_str())
        .cloned()
        .unwrap();
    assert!(old["retires_at"].is_string(), "{c}");
    assert!(signs_in(&app, &idp, &org, "idp").await);
    assert!(signs_in(&app, &idp, &org, "other").await);
    assert_eq!(
        last_failure(&app, &org).await,
        Value::Null,
        "no sign-in failed during the rollover"
    );
    // …and stops once the overlap has passed, even before the next refresh removes it.
    sqlx::query("UPDATE saml_certificates SET retire_after = 1 WHERE fingerprint = $1")
        .bind(&old_fp)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    assert!(!signs_in(&app, &idp, &org, "idp").await);
    assert!(signs_in(&app, &idp, &org, "other").await);
    assert_eq!(refresh_due_now(&app).await, 1);
    let c = app.api(Method::GET, &path, None).await.json();
    assert_eq!(fingerprints(&c), vec![new_fp.clone()]);
    let last = app
        .last_audit_event(&org, "connection.updated")
        .await
        .unwrap();
    assert_eq!(
        last["metadata"]["metadata_refresh"]["removed"],
        json!([old_fp])
    );
    assert_eq!(last["actor"]["type"], "system", "{last}");

    // An outage, or metadata naming another IdP, changes nothing and is a health warning.
    let health_warning = || async {
        app.api(
            Method::GET,
            &format!("/api/v1/organizations/{org}/health"),
            None,
        )
        .await
        .json()["signals"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["message"].as_str().map(str::to_owned))
            .find(|m| m.contains("could not be refreshed"))
    };
    assert_eq!(health_warning().await, None);
    for (published, says) in [
        (json!({"status": 500}), "could not fetch the IdP metadata"),
        (
            json!({"keys": ["idp"], "entity_id": "https://evil.example/idp"}),
            "now names the entity id https://evil.example/idp",
        ),
    ] {
        idp.publish(published).await;
        let r = refresh().await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
        assert_eq!(r.json()["error"]["code"], "metadata_refresh_failed");
        assert!(r.text().contains(says), "{}", r.text());
        let c = app.api(Method::GET, &path, None).await.json();
        assert_eq!(fingerprints(&c), vec![new_fp.clone()], "nothing changed");
        assert!(c["saml"]["metadata_refresh"]["error"]
            .as_str()
            .unwrap()
            .contains(says));
        let warning = health_warning().await.expect("a health warning");
        assert!(warning.contains(says), "{warning}");
        assert!(signs_in(&app, &idp, &org, "other").await);
    }
    // Back to normal: the warning clears.
    idp.publish(json!({"keys": ["other"]})).await;
    assert_eq!(refresh().await.status, StatusCode::OK);
    assert_eq!(health_warning().await, None);
    // The portal's "Refresh now" (the organization's own setup session only).
    idp.publish(json!({"keys": ["other", "idp"]})).await;
    let other = app.create_org("Other").await;
    let other_cookie = app.redeem(&app.create_link(&other, &["sso"]).await).await;
    let form = format!("id={id}&refresh=1");
    let _ = app
        .browser_post("/portal/api/saml_certificate", &form, Some(&other_cookie))
        .await;
    let c = app.api(Method::GET, &path, None).await.json();
    assert_eq!(
        fingerprints(&c).len(),
        1,
        "another organization refreshed nothing"
    );
    let cookie = app.redeem(&app.create_link(&org, &["sso"]).await).await;
    let r = app
        .browser_post("/portal/api/saml_certificate", &form, Some(&cookie))
        .await;
    assert!(
        r.status.is_success() || r.status.is_redirection(),
        "{}",
        r.text()
    );
    let c = app.api(Method::GET, &path, None).await.json();
    assert_eq!(fingerprints(&c).len(), 2, "{c}");
    idp.publish(json!({})).await;
    // A connection set up by hand has nothing to refresh.
    let manual = crate::helpers::saml_connection_with_certificate(&app, &org).await;
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/connections/{manual}/refresh_metadata"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "no_metadata_url");
}

/// Two nodes on one database: node A has just verified a response with a certificate (its
/// decoded key is cached); node B removes that certificate; A's very next response signed with
/// it is refused, and the remaining certificate still works.
async fn a_certificate_removed_through_another_node_stops_verifying_at_once(d: Dialect) {
    use axum::body::Body;
    use axum::http::{header, Request};
    use tower::ServiceExt as _;
    let (app, idp) = setup(d).await;
    let (org, conn) = org_with_saml(&app, &idp, json!({})).await;
    let id = conn["id"].as_str().unwrap();
    let old_cert = conn["saml"]["certificates"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_pem = crate::helpers::saml_idp_file("other.crt");
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/connections/{id}"),
            Some(json!({"saml": {"add_certificate": new_pem}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Node A verifies with both keys: both decoded keys are now cached.
    for key in ["other", "idp"] {
        idp.set_mode(json!({"key": key})).await;
        let post = start(&app, &idp, &org).await;
        assert!(
            param(&location(&idp.post_to(&app, &post).await), "code").is_some(),
            "{key}"
        );
    }
    // Node B: its own pool and state on the same database.
    let (_, node_b) = app.second_node().await;
    let req = Request::builder()
        .method(Method::PATCH)
        .uri(format!("/api/v1/connections/{id}"))
        .header(header::AUTHORIZATION, format!("Bearer {}", app.key))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"saml": {"remove_certificate": old_cert}}).to_string(),
        ))
        .unwrap();
    let resp = node_b.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // Node A, still signed with the removed key: refused at once.
    idp.set_mode(json!({"key": "idp"})).await;
    let post = start(&app, &idp, &org).await;
    assert!(param(&location(&idp.post_to(&app, &post).await), "code").is_none());
    assert_eq!(
        last_failure(&app, &org).await["metadata"]["reason"],
        "signature_invalid"
    );
    // The certificate that stayed still verifies on node A.
    idp.set_mode(json!({"key": "other"})).await;
    let post = start(&app, &idp, &org).await;
    assert!(param(&location(&idp.post_to(&app, &post).await), "code").is_some());
}

async fn setup_input_is_validated_field_by_field(d: Dialect) {
    let (app, idp) = setup(d).await;
    let org = app.create_org("Acme").await;
    let path = format!("/api/v1/organizations/{org}/connections");
    let metadata = idp.metadata().await;
    let cert = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/saml_idp/idp.crt"
    ))
    .unwrap();
    for (saml, field) in [
        (json!({}), "saml"),
        (
            json!({"idp_metadata_xml": metadata, "idp_metadata_url": idp.entity_id()}),
            "saml",
        ),
        (
            json!({"idp_metadata_xml": "<not xml"}),
            "saml.idp_metadata_xml",
        ),
        (
            json!({"idp_metadata_xml": "<!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>"}),
            "saml.idp_metadata_xml",
        ),
        (
            json!({"idp_metadata_url": format!("{}/nothing-here", idp.base)}),
            "saml.idp_metadata_url",
        ),
        (
            json!({"idp_entity_id": "https://idp.test", "idp_sso_url": "https://idp.test/sso"}),
            "saml.idp_certificates",
        ),
        (
            json!({"idp_entity_id": "https://idp.test", "idp_sso_url": "https://idp.test/sso", "idp_certificates": ["not a cert"]}),
            "saml.idp_certificates",
        ),
        (
            json!({"idp_entity_id": "https://idp.test", "idp_sso_url": "ftp://idp.test/sso", "idp_certificates": [cert]}),
            "saml.idp_sso_url",
        ),
    ] {
        let r = app
            .api(
                Method::POST,
                &path,
                Some(json!({"type": "saml", "name": "X", "saml": saml})),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{saml}: {}",
            r.text()
        );
        assert_eq!(r.json()["error"]["field"], field, "{}", r.text());
    }
    // Uploaded XML and values by hand both work.
    for saml in [
        json!({"idp_metadata_xml": metadata}),
        json!({"idp_entity_id": idp.entity_id(), "idp_sso_url": format!("{}/sso", idp.base), "idp_certificates": [cert]}),
    ] {
        let r = app
            .api(
                Method::POST,
                &path,
                Some(json!({"type": "saml", "name": "X", "saml": saml})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert_eq!(r.json()["saml"]["idp_entity_id"], idp.entity_id());
        assert_eq!(r.json()["state"], "draft");
    }
}

async fn metadata_urls_on_private_networks_are_refused_by_default(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let idp = TestIdp::start();
    let org = app.create_org("Acme").await;
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{org}/connections"),
            Some(
                json!({"type": "saml", "name": "X", "saml": {"idp_metadata_url": idp.entity_id()}}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "saml.idp_metadata_url");
    assert!(r.text().contains("private"), "{}", r.text());
}

async fn sp_metadata_is_served_for_saml_connections_only(d: Dialect) {
    let (app, idp) = setup(d).await;
    let (_, conn) = org_with_saml(&app, &idp, json!({})).await;
    let r = app
        .browser_get(
            &format!("/sso/saml/{}/metadata", conn["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r
        .header("content-type")
        .unwrap()
        .contains("samlmetadata+xml"));
    let xml = r.text();
    assert!(xml.contains(&format!(
        "entityID=\"{}\"",
        conn["sp"]["entity_id"].as_str().unwrap()
    )));
    assert!(xml.contains(conn["sp"]["acs_url"].as_str().unwrap()));
    let r = app
        .browser_get("/sso/saml/conn_01JXXXXXXXXXXXXXXXXXXXXXXX/metadata", None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // A response posted to an unknown connection authenticates nobody.
    let r = app
        .browser_post(
            "/sso/saml/conn_01JXXXXXXXXXXXXXXXXXXXXXXX/acs",
            "SAMLResponse=PHg%2BPC94Pg%3D%3D",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// Lanyard's SP metadata of a connection, as an IdP downloads it.
pub async fn sp_md(app: &TestApp, id: &str) -> String {
    let r = app
        .browser_get(&format!("/sso/saml/{id}/metadata"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    r.text()
}

/// An IdP that wants signed AuthnRequests (samlify with WantAuthnRequestsSigned, given Lanyard's
/// SP metadata as an admin uploads it) accepts Lanyard's requests once the connection signs
/// them, and refuses them unsigned or altered: the signature is checked by samlify over the raw
/// query, with the certificate Lanyard publishes.
async fn signed_authn_requests_are_verified_by_an_idp_that_wants_them(d: Dialect) {
    let (app, idp) = setup(d).await;
    let (org, conn) = org_with_saml(&app, &idp, json!({})).await;
    let id = conn["id"].as_str().unwrap().to_owned();
    assert_eq!(conn["saml"]["sign_authn_requests"], false);
    assert_eq!(conn["sp"]["certificates"], json!([]));
    // Without a key the metadata names none, and the IdP has nothing to verify with.
    let unsigned_md = sp_md(&app, &id).await;
    assert!(
        unsigned_md.contains(r#"AuthnRequestsSigned="false""#),
        "{unsigned_md}"
    );
    assert!(!unsigned_md.contains("KeyDescriptor"));

    // The vendor turns signing on: a key is made, sealed, published and audited.
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/connections/{id}"),
            Some(json!({"saml": {"sign_authn_requests": true}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let c = r.json();
    assert_eq!(c["saml"]["sign_authn_requests"], true);
    assert_eq!(c["state"], "active");
    let certs = c["sp"]["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 1, "{c}");
    assert_eq!(certs[0]["use"], "signing");
    assert_eq!(certs[0]["state"], "active");
    assert!(certs[0]["id"].as_str().unwrap().starts_with("spkey_"));
    let days = certs[0]["expires_in_days"].as_i64().unwrap();
    assert!((1820..=1825).contains(&days), "{days}");
    let pem = certs[0]["pem"].as_str().unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let signed_md = sp_md(&app, &id).await;
    assert!(signed_md.contains(r#"AuthnRequestsSigned="true""#));
    assert!(signed_md.contains(r#"<md:KeyDescriptor use="signing">"#));
    assert!(
        signed_md.contains(&body),
        "the published certificate is the one shown"
    );
    let updated = app
        .api(
            Method::GET,
            &format!("/api/v1/audit_events?organization_id={org}&limit=100"),
            None,
        )
        .await
        .json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|e| e["action"] == "connection.updated")
        .cloned()
        .unwrap();
    assert_eq!(
        updated["metadata"]["sp_keys_created"]["signing"], certs[0]["fingerprint"],
        "{updated}"
    );
    {
        let mut db = app.state.db.pool.acquire().await.unwrap();
        let sealed: String = sqlx::query_scalar("SELECT private_key_enc FROM saml_sp_keys")
            .fetch_one(&mut *db)
            .await
            .unwrap();
        assert!(
            sealed.starts_with("v1.") && !sealed.contains("PRIVATE KEY"),
            "sealed at rest"
        );
    }

    // The admin uploads the SP metadata into the IdP, which now wants signed requests.
    assert_eq!(idp.register_sp(Some(&signed_md)).await, 204);
    let r = app
        .browser_get(
            &format!("/sso/authorize?organization={org}&redirect_uri={VENDOR_CB}&state=s1"),
            None,
        )
        .await;
    let to_idp = location(&r);
    let q: std::collections::HashMap<String, String> = to_idp.query_pairs().into_owned().collect();
    assert_eq!(
        q["SigAlg"],
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    );
    assert!(!q["Signature"].is_empty());
    // Altered on the way (another RelayState), or stripped of its signature: refused by the IdP.
    let raw = to_idp.as_str().to_owned();
    let relay =
        url::form_urlencoded::byte_serialize(q["RelayState"].as_bytes()).collect::<String>();
    let altered = raw.replacen(&format!("RelayState={relay}"), "RelayState=someone-else", 1);
    assert_ne!(altered, raw);
    let (status, text) = idp.try_login(&altered).await;
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("ERR_FAILED_MESSAGE_SIGNATURE_VERIFICATION"),
        "{text}"
    );
    let stripped = &raw[..raw.find("&SigAlg=").unwrap()];
    let (status, text) = idp.try_login(stripped).await;
    assert_eq!(status, 403, "{text}");
    // As sent, it verifies: the person signs in.
    let post = idp.login(&raw).await;
    let back = location(&idp.post_to(&app, &post).await);
    assert_eq!(param(&back, "state").as_deref(), Some("s1"));
    let j = exchange(&app, &param(&back, "code").expect("code")).await;
    assert_eq!(j["profile"]["connection_id"], id.as_str());

    // Signing off again: Lanyard's requests are unsigned and this IdP refuses them.
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/connections/{id}"),
            Some(json!({"saml": {"sign_authn_requests": false}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .browser_get(
            &format!("/sso/authorize?organization={org}&redirect_uri={VENDOR_CB}&state=s2"),
            None,
        )
        .await;
    let to_idp = location(&r);
    assert!(!to_idp.as_str().contains("Signature="));
    let (status, text) = idp.try_login(to_idp.as_str()).await;
    assert_eq!(status, 403, "{text}");
}

/// HTTP-POST binding: the AuthnRequest goes in an auto-submitting form with an enveloped
/// signature (exclusive c14n, RSA-SHA256) that samlify verifies with the certificate in
/// Lanyard's SP metadata; a request changed after signing is refused by samlify.
async fn post_binding_requests_carry_an_enveloped_signature_samlify_verifies(d: Dialect) {
    use crate::saml_idp::{post_binding, post_to_idp, tampered};
    let (app, idp) = setup(d).await;
    let (org, conn) = org_with_saml(
        &app,
        &idp,
        json!({"sign_authn_requests": true, "authn_request_binding": "post"}),
    )
    .await;
    assert_eq!(conn["saml"]["authn_request_binding"], "post");
    let id = conn["id"].as_str().unwrap();
    assert_eq!(idp.register_sp(Some(&sp_md(&app, id).await)).await, 204);
    let r = app
        .browser_get(
            &format!("/sso/authorize?organization={org}&redirect_uri={VENDOR_CB}&state=st"),
            None,
        )
        .await;
    let p = post_binding(&r, &idp.base);
    assert_eq!(p.action, format!("{}/sso", idp.base));
    assert!(p.request_xml.contains("<ds:Signature"), "{}", p.request_xml);
    let (status, body) = post_to_idp(&p.action, &tampered(&p)).await;
    assert_eq!(status, 403, "samlify refuses a changed request: {body}");
    assert!(body.contains("FAILED_TO_VERIFY_SIGNATURE"), "{body}");
    let (status, html) = post_to_idp(&p.action, &p.fields).await;
    assert_eq!(status, 200, "{html}");
    let back = location(&idp.post_to(&app, &crate::saml_idp::parse_form(&html)).await);
    assert_eq!(param(&back, "state").as_deref(), Some("st"));
    let j = exchange(&app, &param(&back, "code").unwrap()).await;
    assert_eq!(j["profile"]["email"], "dana@acme.test");
    // A binding that is neither is refused with the field named.
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/connections/{id}"),
            Some(json!({"saml": {"authn_request_binding": "artifact"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text().contains("saml.authn_request_binding"),
        "{}",
        r.text()
    );
}

/// A customer brings its own SP key pair (from its CA; here the vectors' openssl-made encryption
/// key): checked field by field, published in the SP metadata, used to decrypt samlify's
/// encrypted assertions, listed in the credentials inventory; a second upload is published as the
/// next key. WantAssertionsSigned refuses a response signed only on the Response.
async fn customer_sp_keys_and_wanted_assertion_signatures(d: Dialect) {
    let (app, idp) = setup(d).await;
    let (org, conn) = org_with_saml(&app, &idp, json!({})).await;
    let id = conn["id"].as_str().unwrap().to_owned();
    let keys = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/saml/keys");
    let read = |f: &str| std::fs::read_to_string(keys.join(f)).unwrap();
    let patch = |saml: Value| {
        let app = &app;
        let id = id.clone();
        async move {
            app.api(
                Method::PATCH,
                &format!("/api/v1/connections/{id}"),
                Some(json!({ "saml": saml })),
            )
            .await
        }
    };
    // The key and someone else's certificate: refused, the field named.
    let r = patch(json!({"upload_sp_key": {"use": "encryption", "private_key_pem": read("sp_enc.key"), "certificate_pem": read("idp.crt")}})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(
        r.text().contains("saml.upload_sp_key.certificate_pem"),
        "{}",
        r.text()
    );
    let r = patch(json!({"upload_sp_key": {"use": "decryption", "private_key_pem": read("sp_enc.key"), "certificate_pem": read("sp_enc.crt")}})).await;
    assert!(r.text().contains("saml.upload_sp_key.use"), "{}", r.text());
    assert!(!r.text().contains("PRIVATE KEY"), "the key is never echoed");
    // A good pair becomes the active encryption key (the connection had none).
    let r = patch(json!({"upload_sp_key": {"use": "encryption", "private_key_pem": read("sp_enc.key"), "certificate_pem": read("sp_enc.crt")}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let c = r.json();
    let uploaded = c["sp"]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["use"] == "encryption")
        .cloned()
        .expect("the uploaded key");
    assert_eq!(uploaded["state"], "active");
    let der =
        lanyard::server::protocol::saml::metadata::decode_certificate(&read("sp_enc.crt")).unwrap();
    use base64::Engine as _;
    let md = sp_md(&app, &id).await;
    assert!(
        md.contains(&base64::engine::general_purpose::STANDARD.encode(&der)),
        "published: {md}"
    );
    assert!(!r.text().contains("PRIVATE KEY"), "the key is never shown");
    // samlify encrypts to it; Lanyard decrypts with it.
    assert_eq!(idp.register_sp(Some(&md)).await, 204);
    idp.set_mode(json!({"encrypt": {"data": "aes256-gcm", "key": "oaep"}}))
        .await;
    let back = location(&idp.post_to(&app, &start(&app, &idp, &org).await).await);
    let p = exchange(&app, &param(&back, "code").expect("signed in")).await;
    assert_eq!(
        p["profile"]["raw_attributes"]["decryption_key"],
        uploaded["id"]
    );
    // Inventoried with its expiry.
    let creds = lanyard::server::service::health::credentials(&app.state, &org)
        .await
        .unwrap();
    let listed = creds
        .iter()
        .find(|c| c.kind == "saml_sp_key" && c.id == uploaded["id"].as_str().unwrap())
        .expect("the SP key in the credentials inventory");
    assert!(
        listed.name.contains("encryption key") && listed.expires_at.is_some(),
        "{listed:?}"
    );
    // A second upload is published as the next key; a third waits for that one's activation.
    let other = lanyard::server::protocol::saml::sp_key::generate(
        "Customer SP 2",
        app.state.clock.now() - 1000,
        365,
    )
    .unwrap();
    let pem = lanyard::server::protocol::saml::metadata::to_pem(&other.certificate_der);
    let second = json!({"upload_sp_key": {"use": "encryption", "private_key_pem": other.private_pem, "certificate_pem": pem}});
    let r = patch(second.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.json()["sp"]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["state"] == "next"));
    let r = patch(second).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert!(r.text().contains("next_sp_key_exists"));

    // WantAssertionsSigned: in the metadata, and a Response-only signature is refused.
    idp.set_mode(json!({"sign": "response"})).await;
    let back = location(&idp.post_to(&app, &start(&app, &idp, &org).await).await);
    assert!(param(&back, "code").is_some(), "accepted while not wanted");
    let r = patch(json!({"want_assertions_signed": true})).await;
    assert_eq!(r.json()["saml"]["want_assertions_signed"], true);
    assert!(sp_md(&app, &id)
        .await
        .contains(r#"WantAssertionsSigned="true""#));
    let back = location(&idp.post_to(&app, &start(&app, &idp, &org).await).await);
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(
        last_failure(&app, &org).await["metadata"]["reason"],
        "unsigned"
    );
    idp.set_mode(json!({"sign": "assertion"})).await;
    let back = location(&idp.post_to(&app, &start(&app, &idp, &org).await).await);
    assert!(param(&back, "code").is_some(), "a signed assertion passes");
}

/// SP metadata of some other SP whose encryption certificate is not any of Lanyard's keys (the
/// test IdP's "other" certificate), as an admin might upload the wrong file.
pub fn foreign_sp_md() -> String {
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/saml_idp/other.crt"
    ))
    .unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:someone-else"><md:SPSSODescriptor AuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="encryption"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="http://127.0.0.1/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>"#
    )
}

/// XORs byte `at` of the last CipherValue (the EncryptedData's, after the EncryptedKey's) with
/// `mask`. For AES-CBC the value starts with the 16-byte IV, so a change there changes the same
/// byte of the first plaintext block and nothing else.
fn tamper_ciphertext(post: &mut crate::saml_idp::Post, at: usize, mask: u8) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let xml = String::from_utf8(b64.decode(&post.saml_response).unwrap()).unwrap();
    let close = xml.rfind("CipherValue>").unwrap();
    // The last "CipherValue>" closes the value; the one before it opens it.
    let start = xml[..close].rfind("CipherValue>").unwrap() + "CipherValue>".len();
    let end = xml[..close].rfind("</").unwrap();
    let mut data = b64.decode(xml[start..end].trim()).unwrap();
    data[at] ^= mask;
    let changed = format!("{}{}{}", &xml[..start], b64.encode(&data), &xml[end..]);
    post.saml_response = b64.encode(changed);
}

/// Encrypted assertions (samlify with @authenio/xml-encryption as the IdP): a connection that
/// requires them gets an SP encryption key published in its metadata, refuses plain assertions,
/// and accepts assertions encrypted with RSA-OAEP and AES-GCM or AES-CBC, signed inside or
/// outside the encryption; RSA 1.5 is refused; a tampered ciphertext and a ciphertext for
/// another key give the same answer.
async fn encrypted_assertions_are_decrypted_and_can_be_required(d: Dialect) {
    let (app, idp) = setup(d).await;
    let (org, conn) = org_with_saml(&app, &idp, json!({})).await;
    let id = conn["id"].as_str().unwrap().to_owned();
    assert_eq!(conn["saml"]["require_encrypted_assertions"], false);
    let refused = |back: &url::Url| {
        assert!(param(back, "code").is_none(), "{back}");
        assert_eq!(param(back, "error").as_deref(), Some("access_denied"));
    };

    // The IdP encrypts, but the connection has no encryption key: told what to do.
    assert_eq!(idp.register_sp(Some(&foreign_sp_md())).await, 204);
    idp.set_mode(json!({"encrypt": {"data": "aes256-gcm"}}))
        .await;
    let back = location(&idp.post_to(&app, &start(&app, &idp, &org).await).await);
    refused(&back);
    assert_eq!(
        last_failure(&app, &org).await["metadata"]["reason"],
        "encrypted_assertion"
    );

    // Encryption required: an encryption key is made, sealed, published and shown.
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/connections/{id}"),
            Some(json!({"saml": {"require_encrypted_assertions": true}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let c = r.json();
    assert_eq!(c["saml"]["require_encrypted_assertions"], true);
    let certs = c["sp"]["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 1, "{c}");
    assert_eq!(certs[0]["use"], "encryption");
    assert_eq!(certs[0]["state"], "active");
    let key_id = certs[0]["id"].as_str().unwrap().to_owned();
    let md = sp_md(&app, &id).await;
    assert!(
        md.contains(r#"<md:KeyDescriptor use="encryption">"#),
        "{md}"
    );
    assert!(!md.contains(r#"use="signing""#), "{md}");
    assert!(
        md.contains("http://www.w3.org/2009/xmlenc11#aes256-gcm"),
        "{md}"
    );
    let body: String = certs[0]["pem"]
        .as_str()
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert!(md.contains(&body));
    let updated = app
        .api(
            Method::GET,
            &format!("/api/v1/audit_events?organization_id={org}&limit=100"),
            None,
        )
        .await
        .json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|e| e["action"] == "connection.updated")
        .cloned()
        .unwrap();
    assert_eq!(
        updated["metadata"]["sp_keys_created"]["encryption"], certs[0]["fingerprint"],
        "{updated}"
    );

    // Still encrypted to a certificate that is not Lanyard's: the same answer as tampering.
    let back = location(&idp.post_to(&app, &start(&app, &idp, &org).await).await);
    refused(&back);
    assert_eq!(
        last_failure(&app, &org).await["metadata"]["reason"],
        "decryption_failed"
    );

    // The admin uploads Lanyard's SP metadata into the IdP. A plain assertion is refused now.
    assert_eq!(idp.register_sp(Some(&md)).await, 204);
    idp.set_mode(json!({})).await;
    let back = location(&idp.post_to(&app, &start(&app, &idp, &org).await).await);
    refused(&back);
    assert_eq!(
        last_failure(&app, &org).await["metadata"]["reason"],
        "unencrypted"
    );

    // Encrypted: every content algorithm, with the signature inside (assertion), outside
    // (response) or both.
    for (data, sign) in [
        ("aes256-gcm", "assertion"),
        ("aes128-gcm", "response"),
        ("aes256-cbc", "assertion"),
        ("aes128-cbc", "both"),
    ] {
        idp.set_mode(json!({"sign": sign, "encrypt": {"data": data, "key": "oaep"}}))
            .await;
        let post = start(&app, &idp, &org).await;
        {
            use base64::Engine as _;
            let xml = base64::engine::general_purpose::STANDARD
                .decode(&post.saml_response)
                .unwrap();
            let xml = String::from_utf8(xml).unwrap();
            assert!(xml.contains("EncryptedAssertion") && !xml.contains("dana@acme.test"));
        }
        let back = location(&idp.post_to(&app, &post).await);
        let code = param(&back, "code").unwrap_or_else(|| panic!("{data}/{sign}: {back}"));
        let j = exchange(&app, &code).await;
        assert_eq!(j["profile"]["email"], "dana@acme.test", "{data}/{sign}");
        assert_eq!(j["profile"]["raw_attributes"]["encrypted"], true);
        assert_eq!(
            j["profile"]["raw_attributes"]["decryption_key"],
            key_id.as_str()
        );
        let signed = j["profile"]["raw_attributes"]["signed"].as_str().unwrap();
        assert_eq!(signed, sign, "{data}");
    }

    // RSA 1.5 key transport (Bleichenbacher) is refused before any decryption.
    idp.set_mode(json!({"encrypt": {"data": "aes256-gcm", "key": "rsa15"}}))
        .await;
    let back = location(&idp.post_to(&app, &start(&app, &idp, &org).await).await);
    refused(&back);
    assert_eq!(
        last_failure(&app, &org).await["metadata"]["reason"],
        "encryption_algorithm"
    );

    // A changed ciphertext, authenticated (GCM) or not (CBC, signature inside): one answer,
    // whatever the decrypted bytes turned into. Byte 1 of a CBC IV turns "<saml:Assertion" into
    // "<raml:Assertion": well-formed text, malformed XML, and still only "decryption_failed"
    // (no oracle telling padding, parsing and signature failures apart).
    for (data, at) in [("aes256-gcm", 40), ("aes128-cbc", 1), ("aes256-cbc", 60)] {
        idp.set_mode(json!({"encrypt": {"data": data}})).await;
        let mut post = start(&app, &idp, &org).await;
        tamper_ciphertext(&mut post, at, 0x01);
        let back = location(&idp.post_to(&app, &post).await);
        refused(&back);
        assert_eq!(
            last_failure(&app, &org).await["metadata"]["reason"],
            "decryption_failed",
            "{data}@{at}"
        );
    }
    // With a Response signature over the ciphertext, the change is caught before decrypting.
    idp.set_mode(json!({"sign": "response", "encrypt": {"data": "aes128-cbc"}}))
        .await;
    let mut post = start(&app, &idp, &org).await;
    tamper_ciphertext(&mut post, 30, 0x01);
    let back = location(&idp.post_to(&app, &post).await);
    refused(&back);
    assert_eq!(
        last_failure(&app, &org).await["metadata"]["reason"],
        "signature_invalid"
    );

    // Encryption no longer required: plain assertions are accepted again, encrypted ones too.
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/connections/{id}"),
            Some(json!({"saml": {"require_encrypted_assertions": false}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    for mode in [json!({}), json!({"encrypt": {"data": "aes256-gcm"}})] {
        idp.set_mode(mode.clone()).await;
        let back = location(&idp.post_to(&app, &start(&app, &idp, &org).await).await);
        let code = param(&back, "code").unwrap_or_else(|| panic!("{mode}: {back}"));
        let j = exchange(&app, &code).await;
        assert_eq!(
            j["profile"]["raw_attributes"]["encrypted"],
            mode.get("encrypt").is_some(),
            "{mode}"
        );
    }
}

/// Lanyard's encryption certificate can be given to the IdP before encryption is required: the
/// first key published on request decrypts at once, plain assertions are still accepted until
/// the requirement is turned on, then refused. A signing key published ahead signs nothing until
/// signed requests are turned on.
async fn sp_keys_can_be_published_before_the_setting_that_needs_them(d: Dialect) {
    let (app, idp) = setup(d).await;
    let (org, conn) = org_with_saml(&app, &idp, json!({})).await;
    let id = conn["id"].as_str().unwrap().to_owned();
    assert_eq!(conn["sp"]["certificates"], json!([]));
    let path = format!("/api/v1/connections/{id}");
    let patch = |body: Value| app.api(Method::PATCH, &path, Some(json!({ "saml": body })));
    // The portal's "Get the encryption certificate" (the organization's own session only).
    let other = app.create_org("Other").await;
    let other_cookie = app.redeem(&app.create_link(&other, &["sso"]).await).await;
    let form = format!("id={id}&publish=encryption");
    let _ = app
        .browser_post("/portal/api/saml_certificate", &form, Some(&other_cookie))
        .await;
    let r = app.api(Method::GET, &path, None).await;
    assert_eq!(
        r.json()["sp"]["certificates"],
        json!([]),
        "another organization made no key"
    );
    let cookie = app.redeem(&app.create_link(&org, &["sso"]).await).await;
    let p = app
        .browser_post("/portal/api/saml_certificate", &form, Some(&cookie))
        .await;
    assert!(
        p.status.is_success() || p.status.is_redirection(),
        "{}",
        p.text()
    );
    let r = app.api(Method::GET, &path, None).await;
    let key = r.json()["sp"]["certificates"][0].clone();
    assert_eq!(
        (key["use"].as_str(), key["state"].as_str()),
        (Some("encryption"), Some("active")),
        "{key}"
    );
    assert_eq!(r.json()["saml"]["require_encrypted_assertions"], false);
    let md = sp_md(&app, &id).await;
    assert!(md.contains(r#"use="encryption""#), "{md}");
    assert!(!md.contains(r#"AuthnRequestsSigned="true""#), "{md}");
    // The IdP takes the certificate from the SP metadata and encrypts: Lanyard decrypts.
    assert_eq!(idp.register_sp(Some(&md)).await, 204);
    for (mode, encrypted) in [
        (json!({"encrypt": {"data": "aes256-gcm"}}), true),
        (json!({}), false),
    ] {
        idp.set_mode(mode).await;
        let back = location(&idp.post_to(&app, &start(&app, &idp, &org).await).await);
        let j = exchange(&app, &param(&back, "code").expect("code")).await;
        assert_eq!(j["profile"]["raw_attributes"]["encrypted"], encrypted);
    }
    // Required now: no new key is made, and plain assertions are refused.
    let r = patch(json!({"require_encrypted_assertions": true})).await;
    assert_eq!(
        r.json()["sp"]["certificates"].as_array().unwrap().len(),
        1,
        "{}",
        r.text()
    );
    let back = location(&idp.post_to(&app, &start(&app, &idp, &org).await).await);
    assert!(param(&back, "code").is_none(), "{back}");
    assert_eq!(
        last_failure(&app, &org).await["metadata"]["reason"],
        "unencrypted"
    );
    // A signing key published ahead is in the metadata, but requests stay unsigned until the
    // setting is on.
    let r = patch(json!({"publish_next_sp_key": "signing"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let md = sp_md(&app, &id).await;
    assert!(
        md.contains(r#"use="signing""#) && !md.contains(r#"AuthnRequestsSigned="true""#),
        "{md}"
    );
    let r = app
        .browser_get(
            &format!("/sso/authorize?organization={org}&redirect_uri={VENDOR_CB}&state=s"),
            None,
        )
        .await;
    assert!(!r.header("location").unwrap().contains("Signature="));
    idp.register_sp(None).await;
    idp.set_mode(json!({})).await;
}

/// Rotating Lanyard's SP encryption key: the next key is published beside the active one, the
/// IdP switches to it mid-run, Lanyard activates it, the IdP's late responses to the old key
/// still open during the 7-day overlap, and after it they are refused; no sign-in fails on the
/// way. Each step is audited.
async fn sp_encryption_keys_rotate_with_an_overlap(d: Dialect) {
    let (app, idp) = setup(d).await;
    let (org, conn) =
        org_with_saml(&app, &idp, json!({"require_encrypted_assertions": true})).await;
    let id = conn["id"].as_str().unwrap().to_owned();
    let patch = |body: Value| {
        let path = format!("/api/v1/connections/{id}");
        let app = &app;
        async move {
            app.api(Method::PATCH, &path, Some(json!({ "saml": body })))
                .await
        }
    };
    let sign_in = |cert: &'static str| {
        let (app, idp, org) = (&app, &idp, org.clone());
        async move {
            idp.set_mode(json!({"encrypt": {"data": "aes256-gcm", "cert": cert}}))
                .await;
            let back = location(&idp.post_to(app, &start(app, idp, &org).await).await);
            match param(&back, "code") {
                Some(code) => Ok(exchange(app, &code).await["profile"]["raw_attributes"]
                    ["decryption_key"]
                    .as_str()
                    .unwrap()
                    .to_owned()),
                None => Err(last_failure(app, &org).await["metadata"]["reason"]
                    .as_str()
                    .unwrap()
                    .to_owned()),
            }
        }
    };
    let k1 = conn["sp"]["certificates"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(idp.register_sp(Some(&sp_md(&app, &id).await)).await, 204);
    assert_eq!(sign_in("first").await, Ok(k1.clone()));

    // Nothing to activate yet; a bad use names the field.
    let r = patch(json!({"activate_next_sp_key": "encryption"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "no_next_sp_key");
    let r = patch(json!({"publish_next_sp_key": "decryption"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "saml.publish_next_sp_key");

    // The next key is published beside the active one.
    let r = patch(json!({"publish_next_sp_key": "encryption"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let certs = r.json()["sp"]["certificates"].as_array().unwrap().clone();
    let states: Vec<(&str, &str)> = certs
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["state"].as_str().unwrap()))
        .collect();
    let k2 = certs.iter().find(|c| c["state"] == "next").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(states, vec![(k1.as_str(), "active"), (k2.as_str(), "next")]);
    let r = patch(json!({"publish_next_sp_key": "encryption"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["error"]["code"], "next_sp_key_exists");
    let md = sp_md(&app, &id).await;
    assert_eq!(
        md.matches(r#"<md:KeyDescriptor use="encryption">"#).count(),
        2,
        "{md}"
    );

    // The IdP takes the new metadata; until it switches, and after, sign-ins go through.
    assert_eq!(idp.register_sp(Some(&md)).await, 204);
    assert_eq!(sign_in("first").await, Ok(k1.clone()));
    assert_eq!(sign_in("last").await, Ok(k2.clone()));

    // Lanyard activates the next key; the old one is retired, no longer published, and still
    // opens a late IdP's responses during the overlap.
    let r = patch(json!({"activate_next_sp_key": "encryption"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let certs = r.json()["sp"]["certificates"].as_array().unwrap().clone();
    assert_eq!(certs.len(), 1);
    assert_eq!(
        (
            certs[0]["id"].as_str().unwrap(),
            certs[0]["state"].as_str().unwrap()
        ),
        (k2.as_str(), "active")
    );
    let md = sp_md(&app, &id).await;
    assert_eq!(
        md.matches(r#"<md:KeyDescriptor use="encryption">"#).count(),
        1
    );
    assert_eq!(
        sign_in("first").await,
        Ok(k1.clone()),
        "old key during the overlap"
    );
    assert_eq!(sign_in("last").await, Ok(k2));
    let rotated: Vec<Value> = app
        .api(
            Method::GET,
            &format!("/api/v1/audit_events?organization_id={org}&limit=100"),
            None,
        )
        .await
        .json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "connection.updated")
        .flat_map(|e| {
            e["metadata"]["sp_keys_rotated"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(rotated.len(), 2, "{rotated:?}");
    assert!(rotated
        .iter()
        .any(|r| r["published_next"] == certs[0]["fingerprint"]));
    assert!(rotated
        .iter()
        .any(|r| r["activated"] == certs[0]["fingerprint"] && r["retired"].is_string()));

    // After the overlap the retired key opens nothing. (Lanyard's clock is moved 7 days on and
    // the IdP's is not, so a response to the active key is now `expired` — checked after
    // decryption, which is why it shows that the active key still opens it.)
    app.state.clock.advance(7 * 86_400_000 + 1000);
    assert_eq!(sign_in("first").await, Err("decryption_failed".to_owned()));
    assert_eq!(sign_in("last").await, Err("expired".to_owned()));
}

async fn certificate_expiry_warnings_fire_at_30_14_and_7_days(d: Dialect) {
    use lanyard::server::service::connections::warn_expiring_certificates;
    let (app, idp) = setup(d).await;
    let (org, conn) = org_with_saml(&app, &idp, json!({})).await;
    let days_left = conn["saml"]["certificates"][0]["expires_in_days"]
        .as_i64()
        .unwrap();
    let day = 86_400_000i64;
    assert_eq!(warn_expiring_certificates(&app.state).await.unwrap(), 0);
    let mut left = days_left;
    for (target, threshold) in [(29, 30), (13, 14), (6, 7)] {
        app.state.clock.advance((left - target) * day);
        left = target;
        assert_eq!(
            warn_expiring_certificates(&app.state).await.unwrap(),
            1,
            "at {target} days"
        );
        assert_eq!(
            warn_expiring_certificates(&app.state).await.unwrap(),
            0,
            "once at {target} days"
        );
        let r = app
            .api(
                Method::GET,
                &format!("/api/v1/audit_events?organization_id={org}&limit=100"),
                None,
            )
            .await;
        let last = r.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .rfind(|e| e["action"] == "connection.certificate_expiring")
            .cloned()
            .unwrap();
        assert_eq!(last["metadata"]["threshold_days"], threshold);
    }
    let r = app
        .api(
            Method::GET,
            &format!("/api/v1/connections/{}", conn["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert!(
        r.json()["saml"]["certificates"][0]["expires_in_days"]
            .as_i64()
            .unwrap()
            <= 6
    );
}

async fn the_portal_sets_up_tests_and_scopes_saml_connections(d: Dialect) {
    let (app, idp) = setup(d).await;
    let org = app.create_org("Acme").await;
    app.api(
        Method::POST,
        &format!("/api/v1/organizations/{org}/domains"),
        Some(json!({"domain": "acme.test", "verified": true})),
    )
    .await;
    let cookie = app.redeem(&app.create_link(&org, &["sso"]).await).await;
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let form = format!(
        "idp=okta&name=Okta+SAML&metadata_xml={}",
        enc(&idp.metadata().await)
    );
    let r = app
        .browser_post("/portal/api/create_saml_connection", &form, Some(&cookie))
        .await;
    assert!(
        r.status.is_success() || r.status.is_redirection(),
        "{}",
        r.text()
    );
    let id = connection_of(&app, &org).await;
    // Test sign-in from the portal: any state, no member created, the result is kept.
    let r = app
        .browser_get(&format!("/portal/sso/test/{id}"), Some(&cookie))
        .await;
    let post = idp.login(&r.header("location").unwrap()).await;
    let r = idp.post_to(&app, &post).await;
    assert_eq!(
        r.header("location").unwrap(),
        format!("/portal/sso/setup/{id}?step=3"),
        "a draft's test returns to its guided setup"
    );
    let c = app
        .api(Method::GET, &format!("/api/v1/connections/{id}"), None)
        .await
        .json();
    assert_eq!(c["last_test_ok"], true, "{c}");
    assert!(!app
        .audit_actions(&org)
        .await
        .contains(&"membership.created".to_owned()));
    // Another organization's session can change nothing of it.
    let other = app.create_org("Other").await;
    let other_cookie = app.redeem(&app.create_link(&other, &["sso"]).await).await;
    let cert = c["saml"]["certificates"][0]["id"].as_str().unwrap();
    for (path, form) in [
        (
            "/portal/api/update_saml_connection",
            format!("id={id}&name=Hijacked&allow_idp_initiated=on"),
        ),
        (
            "/portal/api/save_attribute_mapping",
            format!("id={id}&map_email=evil"),
        ),
        (
            "/portal/api/saml_certificate",
            format!("id={id}&remove={cert}"),
        ),
        (
            "/portal/api/saml_certificate",
            format!(
                "id={id}&add={}",
                enc(&std::fs::read_to_string(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/support/saml_idp/other.crt"
                ))
                .unwrap())
            ),
        ),
    ] {
        app.browser_post(path, &form, Some(&other_cookie)).await;
    }
    let after = app
        .api(Method::GET, &format!("/api/v1/connections/{id}"), None)
        .await
        .json();
    assert_eq!(after["name"], "Okta SAML");
    assert_eq!(after["saml"]["allow_idp_initiated"], false);
    assert!(after["attribute_mapping"]["email"].is_null());
    assert_eq!(after["saml"]["certificates"].as_array().unwrap().len(), 1);
    // Its own admin can: the mapping is saved.
    app.browser_post(
        "/portal/api/save_attribute_mapping",
        &format!("id={id}&map_email=mail"),
        Some(&cookie),
    )
    .await;
    let after = app
        .api(Method::GET, &format!("/api/v1/connections/{id}"), None)
        .await
        .json();
    assert_eq!(after["attribute_mapping"]["email"], "mail");
}

/// The portal's guided setup makes a draft with Lanyard's values only (so the admin can copy the
/// ACS URL before they have the IdP's). Until the IdP's settings are added, nothing can use it:
/// no test sign-in, no response at its ACS, no activation by the portal or the vendor.
async fn a_guided_draft_is_inert_until_the_idp_is_configured(d: Dialect) {
    let (app, idp) = setup(d).await;
    let org = app.create_org("Acme").await;
    verified_domain(&app, &org, "acme.test").await;
    let cookie = app.redeem(&app.create_link(&org, &["sso"]).await).await;
    let r = app
        .browser_post(
            "/portal/api/start_sso_setup",
            "protocol=saml&idp=okta",
            Some(&cookie),
        )
        .await;
    let to = r.header("location").unwrap_or_default();
    assert!(
        to.starts_with("/portal/sso/setup/conn_"),
        "{} {}",
        r.status,
        r.text()
    );
    let id = to.trim_start_matches("/portal/sso/setup/").to_owned();
    let c = app
        .api(Method::GET, &format!("/api/v1/connections/{id}"), None)
        .await
        .json();
    assert_eq!(c["state"], "draft");
    assert_eq!(c["name"], "Okta SAML");
    assert!(
        c["sp"]["acs_url"].as_str().unwrap().ends_with("/acs"),
        "{c}"
    );
    assert!(c["saml"].is_null(), "no IdP settings yet: {c}");
    assert!(app
        .audit_actions(&org)
        .await
        .contains(&"connection.created".to_owned()));

    // No test sign-in, no response believed at the ACS, no activation by anyone.
    let r = app
        .browser_get(&format!("/portal/sso/test/{id}"), Some(&cookie))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert!(r.text().contains("not set up yet"), "{}", r.text());
    let r = app
        .browser_post(
            &format!("/sso/saml/{id}/acs"),
            "SAMLResponse=PHNhbWxwOlJlc3BvbnNlLz4%3D",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/connections/{id}"),
            Some(json!({"state": "active"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "not_configured", "{}", r.text());
    let r = app
        .browser_post(
            "/portal/api/set_connection_state",
            &format!("id={id}&state=active"),
            Some(&cookie),
        )
        .await;
    assert!(r.status.is_client_error(), "{} {}", r.status, r.text());
    // An organization-wide sign-in does not pick it.
    let r = app
        .browser_get(
            &format!("/sso/authorize?organization={org}&redirect_uri={VENDOR_CB}&state=s"),
            None,
        )
        .await;
    assert!(
        !r.header("location")
            .unwrap_or_default()
            .contains("SAMLRequest"),
        "{}",
        r.text()
    );

    // Step 2 with nothing filled in says what to give; with the metadata URL it is configured
    // and the admin is taken to the test step.
    let r = app
        .browser_post(
            "/portal/api/configure_saml_connection",
            &format!("id={id}"),
            Some(&cookie),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(r.text().contains("metadata"), "{}", r.text());
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let r = app
        .browser_post(
            "/portal/api/configure_saml_connection",
            &format!("id={id}&metadata_url={}", enc(&idp.entity_id())),
            Some(&cookie),
        )
        .await;
    assert_eq!(
        r.header("location").as_deref(),
        Some(format!("/portal/sso/setup/{id}?step=3").as_str()),
        "{} {}",
        r.status,
        r.text()
    );
    let c = app
        .api(Method::GET, &format!("/api/v1/connections/{id}"), None)
        .await
        .json();
    assert_eq!(c["saml"]["idp_entity_id"], idp.entity_id(), "{c}");
    let r = app
        .browser_get(&format!("/portal/sso/test/{id}"), Some(&cookie))
        .await;
    assert!(
        r.header("location")
            .unwrap_or_default()
            .contains("SAMLRequest="),
        "{} {}",
        r.status,
        r.text()
    );

    // A protocol the IdP does not offer, or an IdP not on the list, is refused with a reason.
    for (form, says) in [
        ("protocol=oidc&idp=adfs", "ADFS connects over SAML"),
        ("protocol=saml&idp=made-up", "choose your identity provider"),
        ("protocol=ws-fed&idp=okta", "choose SAML or OpenID Connect"),
    ] {
        let r = app
            .browser_post("/portal/api/start_sso_setup", form, Some(&cookie))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{form}: {}",
            r.text()
        );
        assert!(r.text().contains(says), "{form}: {}", r.text());
    }
}

crate::both_databases!(
    customer_sp_keys_and_wanted_assertion_signatures,
    post_binding_requests_carry_an_enveloped_signature_samlify_verifies,
    sp_keys_can_be_published_before_the_setting_that_needs_them,
    idp_metadata_refresh_follows_a_certificate_rollover_with_no_failed_sign_in,
    signed_authn_requests_are_verified_by_an_idp_that_wants_them,
    encrypted_assertions_are_decrypted_and_can_be_required,
    sp_encryption_keys_rotate_with_an_overlap,
    a_guided_draft_is_inert_until_the_idp_is_configured,
    the_portal_sets_up_tests_and_scopes_saml_connections,
    certificate_expiry_warnings_fire_at_30_14_and_7_days,
    sp_initiated_sign_in_returns_the_profile_and_creates_one_member,
    a_response_is_accepted_once,
    idp_initiated_sign_in_only_when_the_connection_allows_it,
    forged_and_misconfigured_responses_are_refused_with_their_reason,
    jit_needs_a_verified_domain_of_the_organization,
    entra_claims_and_a_mapping_override_are_read,
    certificates_rotate_without_downtime,
    a_certificate_removed_through_another_node_stops_verifying_at_once,
    setup_input_is_validated_field_by_field,
    metadata_urls_on_private_networks_are_refused_by_default,
    sp_metadata_is_served_for_saml_connections_only,
);
