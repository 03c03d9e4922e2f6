//! Tenant isolation, table-driven: two organizations with one of every tenant-scoped object
//! each, then every tenant-scoped entry point tried by A with B's ids. Every portal server
//! function (the table is checked against the source, so a new one cannot be left out), the
//! portal's pages and export, SCIM with A's token on B's users and groups, the console's routes
//! that put one id under another, and the REST routes that nest an object under another (the
//! vendor's API key is vendor-wide by design: plain REST access to any organization is not a
//! tenant boundary). Each refusal is an exact status, names nothing of B, and changes no row of
//! any table; the calls that take no id act on A only.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::oidc::active_connection;
use crate::helpers::portal::{assert_unchanged, enc, server_functions, snapshot, ALL_INTENTS};
use crate::helpers::scim::{
    create_dir, create_group, create_user, first_logged_request, map_groups, scim_raw,
    set_authoritative, Dir, GROUP, PATCH, USER,
};
use crate::helpers::staff::staff_cookie;
use crate::helpers::{
    invite, join_by_invitation, log_stream, saml_connection_with_certificate, saml_idp_file,
    sign_in_app, verified_domain, Dialect, TestApp, TestResponse,
};
use crate::op::TestOp;

/// One organization with one of every tenant-scoped object.
struct Tenant {
    org: String,
    name: &'static str,
    domain: String,
    oidc: String,
    saml: String,
    member: String,
    invitation: String,
    dir: Dir,
    user: String,
    group: String,
    stream: String,
    /// A logged SCIM exchange of the directory.
    scim_request: String,
    link: String,
    cookie: String,
}

impl Tenant {
    /// What no answer to the other organization may contain: this tenant's ids and names.
    fn secrets(&self) -> Vec<String> {
        let lower = self.name.to_lowercase();
        vec![
            self.org.clone(),
            self.name.to_owned(),
            format!("{lower}.test"),
            self.domain.clone(),
            self.oidc.clone(),
            self.saml.clone(),
            self.member.clone(),
            self.invitation.clone(),
            self.dir.id.clone(),
            self.dir.token.clone(),
            self.user.clone(),
            self.group.clone(),
            self.stream.clone(),
            self.scim_request.clone(),
            self.link.clone(),
        ]
    }
}

async fn tenant(app: &TestApp, op: &TestOp, name: &'static str) -> Tenant {
    let lower = name.to_lowercase();
    let org = app.create_org(name).await;
    let domain = verified_domain(app, &org, &format!("{lower}.test")).await;
    // Before the connection: once one is active, acceptance on the domain goes through SSO.
    let member = join_by_invitation(app, &org, &format!("ann@{lower}.test")).await;
    let oidc = active_connection(app, op, &org).await;
    let saml = saml_connection_with_certificate(app, &org).await;
    let r = invite(app, &org, &format!("pat@{lower}.test"), json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let invitation = r.json()["id"].as_str().unwrap().to_owned();
    // After the member: a new directory is authoritative.
    let dir = create_dir(app, &org, "okta").await;
    let user = create_user(app, &dir, &format!("dana@{lower}.test")).await;
    let group = create_group(app, &dir, "Engineering", &[&user]).await;
    let mapping = json!([{"group_id": group, "role": "admin", "priority": 1}]);
    let r = map_groups(app, &dir, mapping, false).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let link = app.create_link(&org, &ALL_INTENTS).await;
    let cookie = app.redeem(&link).await;
    let link = link.trim_start_matches("/portal/link/").to_owned();
    let stream = log_stream(app, &cookie, &format!("https://siem.{lower}.test/hook")).await;
    let scim_request = first_logged_request(app, &dir.id).await;
    Tenant {
        org,
        name,
        domain,
        oidc,
        saml,
        member,
        invitation,
        dir,
        user,
        group,
        stream,
        scim_request,
        link,
        cookie,
    }
}

/// What an entry point must answer when A's session sends one of B's ids.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Refused with this status; nothing changes.
    Refused(u16),
    /// Takes no id: the session decides the organization; B's id sent as a forged field is
    /// ignored and the call acts on A alone (answering this status).
    SessionScoped(u16),
}

/// One try and what went wrong with it, if anything.
struct Outcome {
    what: String,
    problems: Vec<String>,
}

/// Checks an answer: its status, that it names none of B's things (but what the request sent),
/// and that it does not send the browser on to an IdP.
fn judge(what: String, sent: &str, r: &TestResponse, status: u16, b: &Tenant) -> Outcome {
    let mut problems = Vec::new();
    if r.status.as_u16() != status {
        problems.push(format!(
            "answered {} (expected {status})",
            r.status.as_u16()
        ));
    }
    let body = r.text();
    let location = r.header("location").unwrap_or_default();
    for s in b.secrets() {
        if !sent.contains(&s) && (body.contains(&s) || location.contains(&s)) {
            problems.push(format!("names B's {s:?}"));
        }
    }
    if location.contains("/authorize") || location.contains("SAMLRequest") {
        problems.push(format!("went on to an IdP: {location}"));
    }
    if !problems.is_empty() {
        let from = body.find("<main").unwrap_or(0);
        let excerpt: String = body[from..].chars().take(600).collect();
        problems.push(format!("body: {excerpt}"));
    }
    Outcome { what, problems }
}

/// A well-formed id of the same kind that exists nowhere.
fn nowhere(id: &str) -> String {
    let (kind, _) = id.rsplit_once('_').unwrap();
    format!("{kind}_{}", "0".repeat(26))
}

/// Fails with every try that went wrong, not only the first.
fn assert_all_passed(outcomes: &[Outcome]) {
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.problems.is_empty())
        .map(|o| format!("{}\n    {}", o.what, o.problems.join("\n    ")))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// The rows of every table that mention any of B's ids or names.
fn rows_of(snap: &BTreeMap<String, Vec<String>>, b: &Tenant) -> BTreeSet<String> {
    let secrets = b.secrets();
    snap.iter()
        .flat_map(|(t, rows)| rows.iter().map(move |r| (t, r)))
        .filter(|(_, r)| secrets.iter().any(|s| r.contains(s.as_str())))
        .map(|(t, r)| format!("{t}: {r}"))
        .collect()
}

async fn a_session_token_or_staff_scope_never_reaches_another_organization(d: Dialect) {
    // The portal's SSO page, rendered in process by a debug build, needs more stack than a test
    // thread has.
    crate::helpers::on_big_stack(every_entry_point_with_the_other_organizations_ids(d));
}

async fn every_entry_point_with_the_other_organizations_ids(d: Dialect) {
    let app = sign_in_app(d).await;
    let op = TestOp::start();
    let a = tenant(&app, &op, "Alpha").await;
    let b = tenant(&app, &op, "Bravo").await;
    let issuer = enc(&op.issuer);
    let other_cert = enc(&saml_idp_file("other.crt"));
    let forged = format!("organization_id={}", b.org);
    let staff = staff_cookie(&app, "ops@vendor.test", "admin").await;

    // Every portal server function, with B's ids (or, where it takes none, B's organization id
    // as a forged field).
    use Expect::*;
    let functions: Vec<(&str, String, Expect)> = vec![
        ("overview", forged.clone(), SessionScoped(200)),
        ("activity", format!("{forged}&target={}", b.dir.id), SessionScoped(200)),
        ("policy", forged.clone(), SessionScoped(200)),
        ("update_policy", format!("policy[jit_enabled]=off&{forged}"), SessionScoped(200)),
        ("simulate", format!("email=ann%40alpha.test&path=invitation&{forged}"), SessionScoped(200)),
        ("simulate", format!("email=ann%40bravo.test&path=sso:{}", b.oidc), Refused(422)),
        ("simulate", format!("email=dana%40bravo.test&path=directory:{}:deactivated", b.dir.id), Refused(422)),
        ("domains", forged.clone(), SessionScoped(200)),
        ("add_domain", format!("domain=new.alpha.test&{forged}"), SessionScoped(200)),
        ("check_domain", format!("id={}", b.domain), Refused(422)),
        ("remove_domain", format!("id={}", b.domain), Refused(422)),
        // Before create_directory: a new directory is authoritative and would refuse Eve.
        (
            "invite",
            format!("email=eve%40alpha.test&role=member&expires_in_days=3&{forged}"),
            SessionScoped(200),
        ),
        ("directories", format!("errors_only=false&method=&{forged}"), SessionScoped(200)),
        ("directory_progress", forged.clone(), SessionScoped(200)),
        ("create_directory", format!("kind=okta&name=Second&{forged}"), SessionScoped(200)),
        ("rotate_directory_token", format!("id={}", b.dir.id), Refused(422)),
        ("set_directory_authoritative", format!("id={}", b.dir.id), Refused(422)),
        ("delete_directory", format!("id={}", b.dir.id), Refused(422)),
        ("directory_request", format!("id={}", b.scim_request), Refused(422)),
        (
            "map_group",
            format!("id={}&group_id={}&role=member&priority=2&mode=save", b.dir.id, b.group),
            Refused(422),
        ),
        // A's own directory with B's group.
        (
            "map_group",
            format!("id={}&group_id={}&role=admin&priority=2&mode=save", a.dir.id, b.group),
            Refused(422),
        ),
        (
            "map_group",
            format!("id={}&group_id={}&role=admin&priority=2&mode=preview", a.dir.id, b.group),
            Refused(422),
        ),
        ("members", format!("search=&state=&role=&{forged}"), SessionScoped(200)),
        ("member", format!("id={}", b.member), Refused(422)),
        ("change_member", format!("id={}&action=role&role=admin", b.member), Refused(422)),
        ("change_member", format!("id={}&action=suspend", b.member), Refused(422)),
        ("change_member", format!("id={}&action=remove", b.member), Refused(422)),
        ("resend_invitation", format!("id={}", b.invitation), Refused(422)),
        ("revoke_invitation", format!("id={}", b.invitation), Refused(422)),
        ("log_streams", forged.clone(), SessionScoped(200)),
        (
            "create_log_stream",
            format!("kind=json&name=Second&url=https%3A%2F%2Fsiem2.alpha.test%2Fhook&credential=&{forged}"),
            SessionScoped(200),
        ),
        ("test_log_stream", format!("id={}", b.stream), Refused(422)),
        ("delete_log_stream", format!("id={}", b.stream), Refused(422)),
        ("sso", forged.clone(), SessionScoped(200)),
        (
            "create_connection",
            format!("idp=okta&name=Second&issuer={issuer}&client_id=x&client_secret=y&{forged}"),
            SessionScoped(200),
        ),
        ("set_connection_state", format!("id={}&state=inactive", b.oidc), Refused(422)),
        ("set_connection_state", format!("id={}&state=active", b.saml), Refused(422)),
        ("set_connection_domains", format!("id={}&scope=all", b.saml), Refused(422)),
        (
            "update_connection",
            format!("id={}&name=Hijacked&issuer={issuer}&client_id=x", b.oidc),
            Refused(422),
        ),
        ("delete_connection", format!("id={}", b.oidc), Refused(422)),
        ("delete_connection", format!("id={}", b.saml), Refused(422)),
        (
            "create_saml_connection",
            format!(
                "idp=okta&name=Second&entity_id=https%3A%2F%2Fidp2.alpha.test&sso_url=https%3A%2F%2Fidp2.alpha.test%2Fsso&certificate={other_cert}&{forged}"
            ),
            SessionScoped(200),
        ),
        (
            "update_saml_connection",
            format!("id={}&name=Hijacked&allow_idp_initiated=on", b.saml),
            Refused(422),
        ),
        ("save_attribute_mapping", format!("id={}&map_email=evil", b.saml), Refused(422)),
        ("saml_federation", format!("id={}&single_logout=on", b.saml), Refused(422)),
        ("upload_sp_key", format!("id={}&key_use=encryption&private_key_pem=x&certificate_pem=y", b.saml), Refused(422)),
        ("saml_certificate", format!("id={}&add={other_cert}", b.saml), Refused(422)),
        ("sso_setup", format!("id={}", b.saml), Refused(422)),
        ("sso_setup", format!("id={}", b.oidc), Refused(422)),
        // A's own new draft, whatever organization is forged.
        ("start_sso_setup", format!("protocol=saml&idp=okta&{forged}"), SessionScoped(200)),
        (
            "configure_saml_connection",
            format!("id={}&entity_id=https%3A%2F%2Fidp2.alpha.test&sso_url=https%3A%2F%2Fidp2.alpha.test%2Fsso&certificate={other_cert}", b.saml),
            Refused(422),
        ),
        (
            "configure_oidc_connection",
            format!("id={}&issuer={issuer}&client_id=x&client_secret=y", b.oidc),
            Refused(422),
        ),
    ];
    let covered: BTreeSet<String> = functions.iter().map(|(e, _, _)| (*e).to_owned()).collect();
    assert_eq!(
        covered.into_iter().collect::<Vec<_>>(),
        server_functions(),
        "every portal server function is in the table"
    );

    let mut outcomes = Vec::new();

    // 1. Everything that names one of B's objects: refused, and not a row of any table changes.
    let before = snapshot(&app).await;
    for (endpoint, form, expect) in &functions {
        let Refused(status) = *expect else { continue };
        let path = format!("/portal/api/{endpoint}");
        let r = app.browser_post(&path, form, Some(&a.cookie)).await;
        let mut outcome = judge(format!("POST {path} {form}"), form, &r, status, &b);
        // B's object answers word for word as one that exists nowhere: nothing tells A that the
        // id is in use elsewhere.
        // (An answer that names the id it was sent is compared with that id put back.)
        let ids: Vec<String> = b
            .secrets()
            .into_iter()
            .filter(|s| s.contains('_') && form.contains(s.as_str()))
            .collect();
        let unknown = ids
            .iter()
            .fold(form.clone(), |f, id| f.replace(id.as_str(), &nowhere(id)));
        if unknown != *form {
            let u = app.browser_post(&path, &unknown, Some(&a.cookie)).await;
            let u_text = ids
                .iter()
                .fold(u.text(), |t, id| t.replace(&nowhere(id), id));
            if (u.status, &u_text) != (r.status, &r.text()) {
                outcome.problems.push(format!(
                    "answered {} {} but {} {} for an id that exists nowhere",
                    r.status,
                    r.text(),
                    u.status,
                    u_text
                ));
            }
        }
        outcomes.push(outcome);
    }
    // The portal's pages and export.
    let pages: Vec<(String, u16)> = vec![
        // 404 "… not found", the same as for an id that exists nowhere (checked below).
        (format!("/portal/members/{}", b.member), 404),
        (
            format!("/portal/directories/requests/{}", b.scim_request),
            404,
        ),
        (format!("/portal/sso/test/{}", b.oidc), 404),
        (format!("/portal/sso/test/{}", b.saml), 404),
        (format!("/portal/sso?connection={}", b.oidc), 200),
        (
            format!("/portal/activity/export?format=csv&target={}", b.dir.id),
            200,
        ),
        (
            format!(
                "/portal/activity/export?format=ndjson&organization_id={}",
                b.org
            ),
            200,
        ),
        (
            format!("/portal/activity?organization_id={}&q=Bravo", b.org),
            200,
        ),
    ];
    for (path, status) in &pages {
        let r = app.browser_get(path, Some(&a.cookie)).await;
        let mut outcome = judge(format!("GET {path}"), path, &r, *status, &b);
        // B's object answers the same as one that exists nowhere.
        let unknown = b
            .secrets()
            .iter()
            .filter(|s| s.contains('_') && path.contains(s.as_str()))
            .fold(path.clone(), |p, id| p.replace(id.as_str(), &nowhere(id)));
        if unknown != *path {
            let u = app.browser_get(&unknown, Some(&a.cookie)).await;
            if u.status != r.status {
                outcome.problems.push(format!(
                    "answered {} but {} for an id that exists nowhere",
                    r.status, u.status
                ));
            }
        }
        outcomes.push(outcome);
    }
    // SCIM: A's token on B's directory, and on A's directory with B's users and groups.
    let user_body = json!({"schemas": [USER], "userName": "dana@bravo.test", "active": false});
    let patch_inactive = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let group_body = json!({"schemas": [GROUP], "displayName": "Hijacked", "members": []});
    let add_b_user = json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": b.user}]}]});
    let scim_tries: Vec<(&str, Method, String, Option<&serde_json::Value>, u16)> = vec![
        (&b.dir.id, Method::GET, "/Users".into(), None, 401),
        (
            &b.dir.id,
            Method::GET,
            format!("/Users/{}", b.user),
            None,
            401,
        ),
        (
            &b.dir.id,
            Method::PUT,
            format!("/Users/{}", b.user),
            Some(&user_body),
            401,
        ),
        (
            &b.dir.id,
            Method::PATCH,
            format!("/Users/{}", b.user),
            Some(&patch_inactive),
            401,
        ),
        (
            &b.dir.id,
            Method::DELETE,
            format!("/Users/{}", b.user),
            None,
            401,
        ),
        (
            &b.dir.id,
            Method::POST,
            "/Users".into(),
            Some(&user_body),
            401,
        ),
        (&b.dir.id, Method::GET, "/Groups".into(), None, 401),
        (
            &b.dir.id,
            Method::GET,
            format!("/Groups/{}", b.group),
            None,
            401,
        ),
        (
            &b.dir.id,
            Method::PUT,
            format!("/Groups/{}", b.group),
            Some(&group_body),
            401,
        ),
        (
            &b.dir.id,
            Method::PATCH,
            format!("/Groups/{}", b.group),
            Some(&add_b_user),
            401,
        ),
        (
            &b.dir.id,
            Method::DELETE,
            format!("/Groups/{}", b.group),
            None,
            401,
        ),
        (
            &a.dir.id,
            Method::GET,
            format!("/Users/{}", b.user),
            None,
            404,
        ),
        (
            &a.dir.id,
            Method::PUT,
            format!("/Users/{}", b.user),
            Some(&user_body),
            404,
        ),
        (
            &a.dir.id,
            Method::PATCH,
            format!("/Users/{}", b.user),
            Some(&patch_inactive),
            404,
        ),
        (
            &a.dir.id,
            Method::DELETE,
            format!("/Users/{}", b.user),
            None,
            404,
        ),
        (
            &a.dir.id,
            Method::GET,
            format!("/Groups/{}", b.group),
            None,
            404,
        ),
        (
            &a.dir.id,
            Method::PUT,
            format!("/Groups/{}", b.group),
            Some(&group_body),
            404,
        ),
        (
            &a.dir.id,
            Method::PATCH,
            format!("/Groups/{}", b.group),
            Some(&add_b_user),
            404,
        ),
        (
            &a.dir.id,
            Method::DELETE,
            format!("/Groups/{}", b.group),
            None,
            404,
        ),
        // B's user as a member of A's own group.
        (
            &a.dir.id,
            Method::PATCH,
            format!("/Groups/{}", a.group),
            Some(&add_b_user),
            400,
        ),
    ];
    // What A's token sent: A's own directory's log may show it back to A.
    let mut scim_sent = String::new();
    for (dir, method, path, body, status) in &scim_tries {
        let text = body.map(|b| b.to_string());
        let r = scim_raw(
            &app,
            dir,
            &a.dir.token,
            method.clone(),
            path,
            text.as_deref().map(str::as_bytes),
        )
        .await;
        let sent = format!("{dir}{path}{}", text.as_deref().unwrap_or_default());
        scim_sent.push_str(&sent);
        outcomes.push(judge(
            format!("SCIM {method} {dir}{path}"),
            &sent,
            &r,
            *status,
            &b,
        ));
    }
    // The console: routes that put a member or an invitation under an organization.
    let console_tries: Vec<(&str, String, u16)> = vec![
        (
            "/console/api/member",
            format!("organization_id={}&id={}", a.org, b.member),
            422,
        ),
        (
            "/console/api/resend_invitation",
            format!("organization_id={}&invitation_id={}", a.org, b.invitation),
            422,
        ),
        (
            "/console/api/simulate",
            format!(
                "organization_id={}&email=ann%40bravo.test&path=sso:{}",
                a.org, b.oidc
            ),
            422,
        ),
        (
            "/console/api/simulate",
            format!(
                "organization_id={}&email=dana%40bravo.test&path=directory:{}:deactivated",
                a.org, b.dir.id
            ),
            422,
        ),
    ];
    for (path, form, status) in &console_tries {
        let r = app.browser_post(path, form, Some(&staff)).await;
        outcomes.push(judge(format!("POST {path} {form}"), form, &r, *status, &b));
    }
    let path = format!("/console/organizations/{}/members/{}", a.org, b.member);
    let r = app.browser_get(&path, Some(&staff)).await;
    outcomes.push(judge(format!("GET {path}"), &path, &r, 404, &b));
    // REST: a directory's role mappings naming another directory's group.
    for dry_run in [true, false] {
        let path = format!("/api/v1/directories/{}/role_mappings", a.dir.id);
        let body = json!({"dry_run": dry_run, "mappings": [{"group_id": b.group, "role": "admin", "priority": 2}]});
        let r = app.api(Method::PUT, &path, Some(body.clone())).await;
        outcomes.push(judge(
            format!("PUT {path} {body}"),
            &body.to_string(),
            &r,
            422,
            &b,
        ));
    }
    let after = snapshot(&app).await;

    assert_all_passed(&outcomes);
    // The SCIM request log records each request, in the directory it was addressed to (B's
    // admins see A's refused tries); that is all that may change.
    let (mut before, mut after) = (before, after);
    let logged_before = before.remove("scim_requests").unwrap();
    let logged_after = after.remove("scim_requests").unwrap();
    assert_unchanged(&before, &after, "A's tries at B's objects");
    let new: Vec<&String> = logged_after
        .iter()
        .filter(|r| !logged_before.contains(r))
        .collect();
    assert_eq!(logged_after.len(), logged_before.len() + scim_tries.len());
    assert_eq!(new.len(), scim_tries.len(), "{new:#?}");
    for row in new {
        assert!(
            ["|Some(401)|", "|Some(404)|", "|Some(400)|"]
                .iter()
                .any(|s| row.contains(s)),
            "{row}"
        );
    }

    // 2. The calls that take no id act on A alone: B's rows stay as they were, and what A made
    // (a domain, a directory, an invitation, a log stream, two connections) is A's.
    let made = [
        ("domains", 1),
        ("directories", 1),
        ("invitations", 1),
        ("webhook_endpoints", 1),
        ("connections", 3),
    ];
    let count = |table: &'static str, org: String| {
        let pool = app.state.db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&format!(
                "SELECT COUNT(*) FROM {table} WHERE organization_id = $1"
            ))
            .bind(org)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let mut counts = Vec::new();
    for (table, _) in made {
        counts.push((
            count(table, a.org.clone()).await,
            count(table, b.org.clone()).await,
        ));
    }
    // A's directory stops gating invitations, so that A's invitation goes out.
    set_authoritative(&app, &a.dir, false).await;
    let b_before = rows_of(&snapshot(&app).await, &b);
    for (endpoint, form, expect) in &functions {
        let SessionScoped(status) = *expect else {
            continue;
        };
        let path = format!("/portal/api/{endpoint}");
        let r = app.browser_post(&path, form, Some(&a.cookie)).await;
        let sent = format!("{form}{scim_sent}");
        outcomes.push(judge(format!("POST {path} {form}"), &sent, &r, status, &b));
    }
    assert_all_passed(&outcomes);
    let b_after = rows_of(&snapshot(&app).await, &b);
    assert_eq!(
        b_before.symmetric_difference(&b_after).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "B's rows changed"
    );
    for ((table, n), (in_a, in_b)) in made.into_iter().zip(counts) {
        assert_eq!(count(table, a.org.clone()).await, in_a + n, "A's {table}");
        assert_eq!(count(table, b.org.clone()).await, in_b, "B's {table}");
    }

    // B's session was not touched by any of it.
    let r = app.browser_get("/portal", Some(&b.cookie)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("Bravo"), "{}", r.text());
}

crate::both_databases!(a_session_token_or_staff_scope_never_reaches_another_organization);
