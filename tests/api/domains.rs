//! Domain verification against a real DNS server on loopback.

use axum::http::{Method, StatusCode};
use lanyard::server::service::domains;
use serde_json::{json, Value};

use crate::dns_server::TestDns;
use crate::helpers::{Dialect, TestApp};

const DAY: i64 = 24 * 3600 * 1000;

async fn app_with_dns(d: Dialect) -> (TestApp, TestDns) {
    let dns = TestDns::start().await;
    let app = TestApp::spawn_with(d, &[("LANYARD_DNS_SERVERS", &dns.addr.to_string())]).await;
    (app, dns)
}

async fn add(app: &TestApp, org: &str, body: Value) -> crate::helpers::TestResponse {
    app.api(
        Method::POST,
        &format!("/api/v1/organizations/{org}/domains"),
        Some(body),
    )
    .await
}

async fn add_ok(app: &TestApp, org: &str, domain: &str) -> Value {
    let r = add(app, org, json!({ "domain": domain })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()
}

async fn verify(app: &TestApp, id: &str) -> Value {
    let r = app
        .api(Method::POST, &format!("/api/v1/domains/{id}/verify"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

fn name_and_value(d: &Value) -> (String, String) {
    (
        d["verification"]["record_name"]
            .as_str()
            .unwrap()
            .to_owned(),
        d["verification"]["record_value"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

async fn correct_record_verifies(d: Dialect) {
    let (app, dns) = app_with_dns(d).await;
    let org = app.create_org("Acme").await;
    let dom = add_ok(&app, &org, "Acme.TEST.").await;
    assert_eq!(dom["domain"], "acme.test");
    assert_eq!(dom["state"], "pending");
    assert!(dom["id"].as_str().unwrap().starts_with("dom_"));
    let (name, value) = name_and_value(&dom);
    assert_eq!(name, "_lanyard-challenge.acme.test");
    assert!(value.starts_with("lanyard-domain-verification=") && value.len() > 60);
    dns.add_txt(&name, &["v=spf1 -all"]);
    dns.add_txt(&name, &[&value]);
    let v = verify(&app, dom["id"].as_str().unwrap()).await;
    assert_eq!(v["state"], "verified");
    assert_eq!(v["verified_by"], "dns");
    assert!(v["last_proved_at"].is_string());
    assert_eq!(v["last_check"]["outcome"], "matched");
    assert_eq!(
        app.audit_actions(&org).await,
        ["organization.created", "domain.created", "domain.verified"]
    );
    assert_eq!(
        domains::verified_owner_of_email(&app.state, "dana@acme.test")
            .await
            .unwrap(),
        Some(org.clone())
    );
    // Subdomains are not covered unless the admin opted in.
    assert_eq!(
        domains::verified_owner_of_email(&app.state, "dana@eu.acme.test")
            .await
            .unwrap(),
        None
    );
}

async fn wrong_value_stays_pending_and_says_what_was_found(d: Dialect) {
    let (app, dns) = app_with_dns(d).await;
    let org = app.create_org("Acme").await;
    let dom = add_ok(&app, &org, "acme.test").await;
    let (name, _) = name_and_value(&dom);
    dns.add_txt(&name, &["lanyard-domain-verification=not-ours"]);
    let v = verify(&app, dom["id"].as_str().unwrap()).await;
    assert_eq!(v["state"], "pending");
    assert_eq!(v["last_check"]["outcome"], "mismatch");
    assert_eq!(
        v["last_check"]["found"],
        json!(["lanyard-domain-verification=not-ours"])
    );
    let msg = v["last_check"]["message"].as_str().unwrap();
    assert!(
        msg.contains("none matched") && msg.contains("not-ours"),
        "{msg}"
    );
    assert_eq!(
        app.audit_actions(&org).await,
        ["organization.created", "domain.created"]
    );
}

async fn record_at_the_wrong_name_is_not_found(d: Dialect) {
    let (app, dns) = app_with_dns(d).await;
    let org = app.create_org("Acme").await;
    let dom = add_ok(&app, &org, "acme.test").await;
    let (_, value) = name_and_value(&dom);
    dns.add_txt("acme.test", &[&value]);
    dns.add_txt("_lanyard-challenge.www.acme.test", &[&value]);
    let v = verify(&app, dom["id"].as_str().unwrap()).await;
    assert_eq!(v["state"], "pending");
    assert_eq!(v["last_check"]["outcome"], "missing");
    assert!(v["last_check"]["message"]
        .as_str()
        .unwrap()
        .contains("no TXT record at _lanyard-challenge.acme.test"));
}

async fn a_value_copied_from_another_organization_does_not_verify(d: Dialect) {
    let (app, dns) = app_with_dns(d).await;
    let a = app.create_org("Alpha").await;
    let b = app.create_org("Bravo").await;
    let da = add_ok(&app, &a, "shared.test").await;
    let db = add_ok(&app, &b, "shared.test").await;
    let (name, value_b) = name_and_value(&db);
    dns.add_txt(&name, &[&value_b]);
    let v = verify(&app, da["id"].as_str().unwrap()).await;
    assert_eq!(
        v["state"], "pending",
        "B's challenge value must not verify A"
    );
    assert_eq!(v["last_check"]["outcome"], "mismatch");

    // B proves it; A's later proof is refused without naming B.
    assert_eq!(
        verify(&app, db["id"].as_str().unwrap()).await["state"],
        "verified"
    );
    let (_, value_a) = name_and_value(&da);
    dns.add_txt(&name, &[&value_a]);
    let v = verify(&app, da["id"].as_str().unwrap()).await;
    assert_eq!(v["state"], "failed");
    assert_eq!(v["last_check"]["outcome"], "claimed_elsewhere");
    let text = v.to_string();
    assert!(!text.contains(&b) && !text.contains("Bravo"), "{text}");
    assert!(app
        .audit_actions(&a)
        .await
        .contains(&"domain.verification_failed".to_owned()));
}

async fn several_txt_strings_are_joined(d: Dialect) {
    let (app, dns) = app_with_dns(d).await;
    let org = app.create_org("Acme").await;
    let dom = add_ok(&app, &org, "split.test").await;
    let (name, value) = name_and_value(&dom);
    let (left, right) = value.split_at(20);
    dns.add_txt(&name, &[left, right]);
    assert_eq!(
        verify(&app, dom["id"].as_str().unwrap()).await["state"],
        "verified"
    );
}

async fn a_cname_to_the_record_is_followed(d: Dialect) {
    let (app, dns) = app_with_dns(d).await;
    let org = app.create_org("Acme").await;
    let dom = add_ok(&app, &org, "cname.test").await;
    let (name, value) = name_and_value(&dom);
    dns.add_cname(&name, "acme-verify.dnshost.test");
    dns.add_txt("acme-verify.dnshost.test", &[&value]);
    assert_eq!(
        verify(&app, dom["id"].as_str().unwrap()).await["state"],
        "verified"
    );
}

async fn servfail_and_timeout_leave_the_domain_pending_with_a_reason(d: Dialect) {
    let (app, dns) = app_with_dns(d).await;
    let org = app.create_org("Acme").await;
    let dom = add_ok(&app, &org, "flaky.test").await;
    let (name, _) = name_and_value(&dom);
    let id = dom["id"].as_str().unwrap();
    dns.servfail(&name);
    let v = verify(&app, id).await;
    assert_eq!(v["state"], "pending");
    assert_eq!(v["last_check"]["outcome"], "inconclusive");
    assert!(
        v["last_check"]["message"]
            .as_str()
            .unwrap()
            .contains("SERVFAIL")
            || v["last_check"]["message"]
                .as_str()
                .unwrap()
                .contains("Server Failure"),
        "{}",
        v["last_check"]["message"]
    );
    dns.clear(&name);
    dns.silent(&name);
    let v = verify(&app, id).await;
    assert_eq!(v["state"], "pending");
    assert_eq!(v["last_check"]["outcome"], "inconclusive");
    assert!(
        v["last_check"]["message"]
            .as_str()
            .unwrap()
            .contains("did not answer in time"),
        "{}",
        v["last_check"]["message"]
    );
    assert!(v["last_check"]["message"]
        .as_str()
        .unwrap()
        .contains("try again"));
}

async fn an_internationalized_domain_is_verified_as_punycode(d: Dialect) {
    let (app, dns) = app_with_dns(d).await;
    let org = app.create_org("Bücher").await;
    let dom = add_ok(&app, &org, "Bücher.test").await;
    assert_eq!(dom["domain"], "xn--bcher-kva.test");
    let (name, value) = name_and_value(&dom);
    assert_eq!(name, "_lanyard-challenge.xn--bcher-kva.test");
    dns.add_txt(&name, &[&value]);
    assert_eq!(
        verify(&app, dom["id"].as_str().unwrap()).await["state"],
        "verified"
    );
}

async fn consumer_domains_and_public_suffixes_are_refused(d: Dialect) {
    let (app, _dns) = app_with_dns(d).await;
    let org = app.create_org("Acme").await;
    for (domain, words) in [
        ("gmail.com", "consumer mail"),
        ("co.uk", "public suffix"),
        ("github.io", "public suffix"),
        ("not a domain", "only the domain"),
    ] {
        let r = add(&app, &org, json!({ "domain": domain })).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{domain}");
        assert_eq!(r.json()["error"]["field"], "domain");
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains(words),
            "{domain}: {}",
            r.text()
        );
    }
    let r = add(&app, &org, json!({ "domain": "acme.co.uk" })).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = add(&app, &org, json!({ "domain": "ACME.co.uk" })).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["error"]["code"], "domain_exists");
}

async fn a_second_organization_cannot_claim_a_verified_domain(d: Dialect) {
    let (app, dns) = app_with_dns(d).await;
    let a = app.create_org("Alpha Owner").await;
    let b = app.create_org("Bravo").await;
    let r = add(
        &app,
        &a,
        json!({ "domain": "owned.test", "include_subdomains": true }),
    )
    .await;
    let dom = r.json();
    let (name, value) = name_and_value(&dom);
    dns.add_txt(&name, &[&value]);
    verify(&app, dom["id"].as_str().unwrap()).await;
    for domain in ["owned.test", "OWNED.test.", "eu.owned.test"] {
        let r = add(&app, &b, json!({ "domain": domain })).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{domain}");
        assert_eq!(r.json()["error"]["code"], "domain_claimed");
        assert!(
            !r.text().contains(&a) && !r.text().contains("Alpha"),
            "{}",
            r.text()
        );
    }
    assert_eq!(
        domains::verified_owner_of_email(&app.state, "x@eu.owned.test")
            .await
            .unwrap(),
        Some(a.clone()),
        "include_subdomains covers eu.owned.test"
    );
    // Without include_subdomains, a subdomain stays claimable by someone else.
    let other = add_ok(&app, &a, "plain.test").await;
    let (n2, v2) = name_and_value(&other);
    dns.add_txt(&n2, &[&v2]);
    verify(&app, other["id"].as_str().unwrap()).await;
    assert_eq!(
        add(&app, &b, json!({ "domain": "eu.plain.test" }))
            .await
            .status,
        StatusCode::CREATED
    );
}

async fn a_missing_record_lapses_after_the_grace_period_and_recovers(d: Dialect) {
    let (app, dns) = app_with_dns(d).await;
    let org = app.create_org("Acme").await;
    let dom = add_ok(&app, &org, "lapse.test").await;
    let id = dom["id"].as_str().unwrap().to_owned();
    let (name, value) = name_and_value(&dom);
    dns.add_txt(&name, &[&value]);
    verify(&app, &id).await;
    dns.clear(&name);

    app.state.clock.advance(DAY + 1000);
    assert_eq!(domains::run_due_checks(&app.state).await.unwrap(), 1);
    let v = app
        .api(Method::GET, &format!("/api/v1/domains/{id}"), None)
        .await
        .json();
    assert_eq!(v["state"], "verified", "within the grace period");
    assert!(v["missing_since"].is_string());

    app.state.clock.advance(3 * DAY);
    assert_eq!(domains::run_due_checks(&app.state).await.unwrap(), 1);
    let v = app
        .api(Method::GET, &format!("/api/v1/domains/{id}"), None)
        .await
        .json();
    assert_eq!(v["state"], "lapsed");
    assert_eq!(v["last_check"]["outcome"], "missing");
    assert!(app
        .audit_actions(&org)
        .await
        .contains(&"domain.lapsed".to_owned()));
    assert_eq!(
        domains::verified_owner_of_email(&app.state, "dana@lapse.test")
            .await
            .unwrap(),
        None,
        "JIT stops for a lapsed domain"
    );

    dns.add_txt(&name, &[&value]);
    app.state.clock.advance(DAY + 1000);
    assert_eq!(domains::run_due_checks(&app.state).await.unwrap(), 1);
    let v = app
        .api(Method::GET, &format!("/api/v1/domains/{id}"), None)
        .await
        .json();
    assert_eq!(v["state"], "verified");
    assert!(v["missing_since"].is_null());
    assert_eq!(
        domains::verified_owner_of_email(&app.state, "dana@lapse.test")
            .await
            .unwrap(),
        Some(org.clone())
    );
    let actions = app.audit_actions(&org).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "domain.verified").count(),
        2
    );
}

async fn pending_claims_are_polled_and_fail_after_30_days(d: Dialect) {
    let (app, dns) = app_with_dns(d).await;
    let org = app.create_org("Acme").await;
    let slow = add_ok(&app, &org, "slow.test").await;
    let never = add_ok(&app, &org, "never.test").await;
    assert_eq!(
        domains::run_due_checks(&app.state).await.unwrap(),
        0,
        "first poll after a minute"
    );
    let (name, value) = name_and_value(&slow);
    dns.add_txt(&name, &[&value]);
    app.state.clock.advance(61_000);
    assert_eq!(domains::run_due_checks(&app.state).await.unwrap(), 2);
    let s = app
        .api(
            Method::GET,
            &format!("/api/v1/domains/{}", slow["id"].as_str().unwrap()),
            None,
        )
        .await
        .json();
    assert_eq!(
        s["state"], "verified",
        "the job verified it without a click"
    );
    app.state.clock.advance(30 * DAY);
    domains::run_due_checks(&app.state).await.unwrap();
    let n = app
        .api(
            Method::GET,
            &format!("/api/v1/domains/{}", never["id"].as_str().unwrap()),
            None,
        )
        .await
        .json();
    assert_eq!(n["state"], "failed");
    assert!(app
        .audit_actions(&org)
        .await
        .contains(&"domain.verification_failed".to_owned()));
}

async fn the_vendor_may_add_a_verified_domain(d: Dialect) {
    let (app, _dns) = app_with_dns(d).await;
    let org = app.create_org("Acme").await;
    let r = add(
        &app,
        &org,
        json!({ "domain": "vendor.test", "verified": true }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let v = r.json();
    assert_eq!(v["state"], "verified");
    assert_eq!(v["verified_by"], "vendor");
    let id = v["id"].as_str().unwrap();
    // No DNS record exists, yet a check or the job never lapses it.
    assert_eq!(verify(&app, id).await["state"], "verified");
    app.state.clock.advance(10 * DAY);
    domains::run_due_checks(&app.state).await.unwrap();
    let v = app
        .api(Method::GET, &format!("/api/v1/domains/{id}"), None)
        .await
        .json();
    assert_eq!(v["state"], "verified");
    assert_eq!(v["verified_by"], "vendor");
    let r = app
        .api(
            Method::GET,
            &format!("/api/v1/audit_events?organization_id={org}"),
            None,
        )
        .await
        .json();
    let verified = r["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "domain.verified")
        .unwrap()
        .clone();
    assert_eq!(verified["metadata"]["verified_by"], "vendor");
    assert_eq!(verified["actor"]["type"], "api_key");
}

async fn removing_a_domain_is_audited(d: Dialect) {
    let (app, _dns) = app_with_dns(d).await;
    let org = app.create_org("Acme").await;
    let id = add_ok(&app, &org, "gone.test").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.api(Method::DELETE, &format!("/api/v1/domains/{id}"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.api(Method::GET, &format!("/api/v1/domains/{id}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.api(Method::POST, &format!("/api/v1/domains/{id}/verify"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert!(app
        .audit_actions(&org)
        .await
        .contains(&"domain.deleted".to_owned()));
    // It can be claimed again afterwards.
    add_ok(&app, &org, "gone.test").await;
    let list = app
        .api(
            Method::GET,
            &format!("/api/v1/organizations/{org}/domains"),
            None,
        )
        .await
        .json();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

crate::both_databases!(
    correct_record_verifies,
    wrong_value_stays_pending_and_says_what_was_found,
    record_at_the_wrong_name_is_not_found,
    a_value_copied_from_another_organization_does_not_verify,
    several_txt_strings_are_joined,
    a_cname_to_the_record_is_followed,
    servfail_and_timeout_leave_the_domain_pending_with_a_reason,
    an_internationalized_domain_is_verified_as_punycode,
    consumer_domains_and_public_suffixes_are_refused,
    a_second_organization_cannot_claim_a_verified_domain,
    a_missing_record_lapses_after_the_grace_period_and_recovers,
    pending_claims_are_polled_and_fail_after_30_days,
    the_vendor_may_add_a_verified_domain,
    removing_a_domain_is_audited,
);
