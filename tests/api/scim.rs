//! Directory sync: the SCIM server driven by the request sequences Okta and Entra document
//! (`tests/vectors/scim/`), the lifecycle it causes, isolation, errors and concurrency.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};

use crate::helpers::oidc::{org_with_connection, setup, sign_in};
use crate::helpers::scim::{
    create_dir, create_group, create_user, map_groups, scim, scim_raw, Dir, GROUP, PATCH, USER,
};
use crate::helpers::{exchange, param, Dialect, TestApp};

/// (role, state) of the organization membership of the directory user with this userName.
async fn membership(app: &TestApp, org: &str, email: &str) -> Option<(String, String)> {
    sqlx::query_as("SELECT m.role, m.state FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.organization_id = $1 AND u.email = $2")
        .bind(org)
        .bind(email)
        .fetch_optional(&app.state.db.pool)
        .await
        .unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

fn load(name: &str) -> Vec<Value> {
    let path = format!("{}/tests/vectors/scim/{name}", env!("CARGO_MANIFEST_DIR"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["steps"].as_array().unwrap().clone()
}

fn substitute(text: &str, vars: &HashMap<String, String>) -> String {
    let mut out = text.to_owned();
    for (k, v) in vars {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

/// Replays the steps from `from` up to (not including) `until`, as the IdP would send them,
/// checking each documented status and response field.
async fn replay(
    app: &TestApp,
    d: &Dir,
    steps: &[Value],
    from: &str,
    until: Option<&str>,
    vars: &mut HashMap<String, String>,
) {
    let start = steps.iter().position(|s| s["name"] == from).expect(from);
    for step in &steps[start..] {
        let name = step["name"].as_str().unwrap();
        if Some(name) == until {
            break;
        }
        let method = Method::from_bytes(step["method"].as_str().unwrap().as_bytes()).unwrap();
        let path = substitute(step["path"].as_str().unwrap(), vars);
        let body = (!step["body"].is_null()).then(|| substitute(&step["body"].to_string(), vars));
        let r = scim_raw(
            app,
            &d.id,
            &d.token,
            method.clone(),
            &path,
            body.as_deref().map(str::as_bytes),
        )
        .await;
        let expected = step["expect_status"].as_u64().unwrap() as u16;
        // Both IdPs accept 200 with the resource or 204 for PATCH; Lanyard answers 200.
        let ok = r.status.as_u16() == expected
            || (method == Method::PATCH && expected == 204 && r.status == StatusCode::OK);
        assert!(
            ok,
            "step {name}: expected {expected}, got {}: {}",
            r.status,
            r.text()
        );
        if r.status.as_u16() >= 400 {
            assert_eq!(
                r.json()["schemas"][0],
                "urn:ietf:params:scim:api:messages:2.0:Error",
                "{name}"
            );
        } else if !r.body.is_empty() {
            assert_eq!(
                r.header("content-type").as_deref(),
                Some("application/scim+json"),
                "{name}"
            );
        }
        if let Some(save) = step["save"].as_object() {
            let j = r.json();
            for (var, pointer) in save {
                let v = j
                    .pointer(pointer.as_str().unwrap())
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("{name}: no {pointer} in {j}"));
                vars.insert(var.clone(), v.to_owned());
            }
        }
        if let Some(expect) = step["expect_json"].as_object() {
            let j = r.json();
            for (pointer, want) in expect {
                let want: Value =
                    serde_json::from_str(&substitute(&want.to_string(), vars)).unwrap();
                assert_eq!(
                    j.pointer(pointer),
                    Some(&want),
                    "step {name}: {pointer} in {j}"
                );
            }
        }
    }
}

async fn role_of(app: &TestApp, org: &str, email: &str) -> String {
    membership(app, org, email).await.unwrap().0
}

async fn okta_sequence_from_the_docs_drives_memberships_and_roles(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "okta").await;
    let steps = load("okta_sequence.json");
    let mut vars = HashMap::new();
    replay(
        &app,
        &dir,
        &steps,
        "test_connection_list_users",
        Some("get_group"),
        &mut vars,
    )
    .await;
    // Joiners: both users are members with the default role, their grants name the directory.
    assert_eq!(
        membership(&app, &org, "dana@acme.test").await,
        Some(("member".into(), "active".into()))
    );
    assert_eq!(
        membership(&app, &org, "lee@acme.test").await,
        Some(("member".into(), "active".into()))
    );
    // The vendor maps Engineering (pushed with Dana and Lee inside the POST) to admin.
    let r = map_groups(
        &app,
        &dir,
        json!([{"group_id": vars["group_id"], "role": "admin", "priority": 10}]),
        false,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(role_of(&app, &org, "dana@acme.test").await, "admin");
    replay(
        &app,
        &dir,
        &steps,
        "get_group",
        Some("push_group2_empty"),
        &mut vars,
    )
    .await;
    // Mover: Lee was added again then removed by `members[value eq "…"]`: back to member.
    assert_eq!(role_of(&app, &org, "lee@acme.test").await, "member");
    assert_eq!(role_of(&app, &org, "dana@acme.test").await, "admin");
    replay(
        &app,
        &dir,
        &steps,
        "push_group2_empty",
        Some("deactivate_user"),
        &mut vars,
    )
    .await;
    // Leaver: Okta's path-less {"active": false} suspends at once.
    replay(
        &app,
        &dir,
        &steps,
        "deactivate_user",
        Some("reactivate_user"),
        &mut vars,
    )
    .await;
    assert_eq!(
        membership(&app, &org, "dana@acme.test").await.unwrap().1,
        "suspended"
    );
    replay(
        &app,
        &dir,
        &steps,
        "reactivate_user",
        Some("delete_group"),
        &mut vars,
    )
    .await;
    assert_eq!(
        membership(&app, &org, "dana@acme.test").await,
        Some(("admin".into(), "active".into()))
    );
    replay(&app, &dir, &steps, "delete_group", None, &mut vars).await;
    // Deleting Engineering took Dana's admin role before her own deletion suspended her.
    assert_eq!(
        membership(&app, &org, "dana@acme.test").await,
        Some(("member".into(), "suspended".into()))
    );
    assert_eq!(
        membership(&app, &org, "lee@acme.test").await.unwrap().1,
        "suspended"
    );
    let actions = app.audit_actions(&org).await;
    for a in [
        "dsync.user.created",
        "dsync.user.updated",
        "dsync.user.deactivated",
        "dsync.user.reactivated",
        "dsync.user.deleted",
        "dsync.group.created",
        "dsync.group.updated",
        "dsync.group.deleted",
        "dsync.group.user_added",
        "dsync.group.user_removed",
        "membership.created",
        "membership.role_changed",
        "membership.suspended",
        "membership.reactivated",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
    // Every grant of Dana's names where it came from.
    let kinds: Vec<(String, String)> = sqlx::query_as("SELECT g.kind, g.detail FROM membership_grants g JOIN memberships m ON m.id = g.membership_id JOIN users u ON u.id = m.user_id WHERE u.email = 'dana@acme.test' ORDER BY g.created_at, g.id")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
    let k: Vec<&str> = kinds.iter().map(|k| k.0.as_str()).collect();
    assert_eq!(k.first(), Some(&"directory"), "{kinds:?}");
    assert!(
        k.contains(&"directory_group")
            && k.contains(&"directory_suspended")
            && k.contains(&"directory_reactivated"),
        "{kinds:?}"
    );
    assert!(
        kinds
            .iter()
            .any(|(k, d)| k == "directory_group" && d.contains("Engineering")),
        "{kinds:?}"
    );
}

async fn entra_sequence_from_the_docs_drives_memberships_and_roles(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "entra").await;
    let steps = load("entra_sequence.json");
    let mut vars = HashMap::new();
    replay(
        &app,
        &dir,
        &steps,
        "test_connection_random_guid",
        Some("lookup_group_before_create"),
        &mut vars,
    )
    .await;
    // Entra's PATCHes changed Dana's work email; the member follows the directory's primary email.
    let email: String = sqlx::query_scalar("SELECT email FROM directory_users WHERE id = $1")
        .bind(&vars["user_id"])
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(email, "dana.whitfield@acme.test");
    replay(
        &app,
        &dir,
        &steps,
        "lookup_group_before_create",
        Some("add_members"),
        &mut vars,
    )
    .await;
    let r = map_groups(
        &app,
        &dir,
        json!([{"group_id": vars["group_id"], "role": "admin", "priority": 1}]),
        false,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    replay(
        &app,
        &dir,
        &steps,
        "add_members",
        Some("remove_member_legacy"),
        &mut vars,
    )
    .await;
    let dana_user: String = sqlx::query_scalar("SELECT user_id FROM directory_users WHERE id = $1")
        .bind(&vars["user_id"])
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let role: String = sqlx::query_scalar("SELECT role FROM memberships WHERE user_id = $1")
        .bind(&dana_user)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(role, "admin");
    replay(
        &app,
        &dir,
        &steps,
        "remove_member_legacy",
        Some("deactivate_user_string_false"),
        &mut vars,
    )
    .await;
    replay(
        &app,
        &dir,
        &steps,
        "deactivate_user_string_false",
        Some("reactivate_user_string_true"),
        &mut vars,
    )
    .await;
    let state: String = sqlx::query_scalar("SELECT state FROM memberships WHERE user_id = $1")
        .bind(&dana_user)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(state, "suspended", "Entra's \"False\" string deactivates");
    replay(
        &app,
        &dir,
        &steps,
        "reactivate_user_string_true",
        Some("delete_user"),
        &mut vars,
    )
    .await;
    let state: String = sqlx::query_scalar("SELECT state FROM memberships WHERE user_id = $1")
        .bind(&dana_user)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(state, "active");
    replay(&app, &dir, &steps, "delete_user", None, &mut vars).await;
    let state: String = sqlx::query_scalar("SELECT state FROM memberships WHERE user_id = $1")
        .bind(&dana_user)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(state, "suspended", "DELETE suspends");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM directory_users").await, 0);
}

async fn a_token_opens_only_its_own_directory(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let a = app.create_org("A").await;
    let b = app.create_org("B").await;
    let da = create_dir(&app, &a, "okta").await;
    let da2 = create_dir(&app, &a, "generic_scim").await;
    let db = create_dir(&app, &b, "entra").await;
    let ua = create_user(&app, &da, "dana@a.test").await;
    create_user(&app, &db, "lee@b.test").await;
    for (dir, token, path) in [
        (&da.id, &db.token, "/Users".to_owned()),
        (&da.id, &da2.token, format!("/Users/{ua}")),
        (&db.id, &da.token, "/Users".to_owned()),
        (
            &da.id,
            &"lanyard_scim_wrong".to_owned(),
            "/Users".to_owned(),
        ),
        (&da.id, &String::new(), "/Users".to_owned()),
        (
            &"dir_01JXXXXXXXXXXXXXXXXXXXXXXX".to_owned(),
            &da.token,
            "/Users".to_owned(),
        ),
    ] {
        let r = scim_raw(&app, dir, token, Method::GET, &path, None).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{dir} {path}: {}",
            r.text()
        );
        assert_eq!(
            r.json()["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
        assert!(!r.text().contains("dana@a.test") && !r.text().contains("lee@b.test"));
    }
    // A's second directory sees none of the first one's users, even by id.
    let r = scim(&app, &da2, Method::GET, &format!("/Users/{ua}"), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = scim(&app, &da2, Method::GET, "/Users", None).await;
    assert_eq!(r.json()["totalResults"], 0);
    let r = scim(&app, &da2, Method::DELETE, &format!("/Users/{ua}"), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = scim(
        &app,
        &da2,
        Method::POST,
        "/Groups",
        Some(json!({"displayName": "X", "members": [{"value": ua}]})),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "another directory's user is not a member candidate"
    );
    assert_eq!(r.json()["scimType"], "invalidValue");

    // Rotation: the old token works during the overlap, then stops.
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/directories/{}/token", da.id),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let fresh = Dir {
        id: da.id.clone(),
        token: r.json()["bearer_token"].as_str().unwrap().to_owned(),
    };
    assert_ne!(fresh.token, da.token);
    assert_eq!(
        scim(&app, &da, Method::GET, "/Users", None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        scim(&app, &fresh, Method::GET, "/Users", None).await.status,
        StatusCode::OK
    );
    app.state.clock.advance(3_600_000 + 1);
    assert_eq!(
        scim(&app, &da, Method::GET, "/Users", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        scim(&app, &fresh, Method::GET, "/Users", None).await.status,
        StatusCode::OK
    );
    // Tokens are stored only as hashes.
    let n = count(
        &app,
        &format!(
            "SELECT COUNT(*) FROM directory_tokens WHERE token_hash = '{}'",
            fresh.token
        ),
    )
    .await;
    assert_eq!(n, 0);
    // Deleting the organization stops its directories' tokens too.
    let c = app.create_org("Charlie").await;
    let dc = create_dir(&app, &c, "okta").await;
    assert_eq!(
        scim(&app, &dc, Method::GET, "/Users", None).await.status,
        StatusCode::OK
    );
    let r = app
        .api(Method::DELETE, &format!("/api/v1/organizations/{c}"), None)
        .await;
    assert!(r.status.is_success(), "{}", r.text());
    assert_eq!(
        scim(&app, &dc, Method::GET, "/Users", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    // A deleted directory's token stops at once.
    let r = app
        .api(
            Method::DELETE,
            &format!("/api/v1/directories/{}", db.id),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        scim(&app, &db, Method::GET, "/Users", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        membership(&app, &b, "lee@b.test").await.unwrap().1,
        "suspended"
    );
}

/// (method, path, body, expected status, expected scimType)
type BadCase = (Method, String, Vec<u8>, u16, Option<&'static str>);

async fn bad_requests_get_scim_errors_and_change_nothing(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "generic_scim").await;
    let u = create_user(&app, &dir, "dana@acme.test").await;
    let g = create_group(&app, &dir, "Engineering", &[&u]).await;
    let events_before = count(&app, "SELECT COUNT(*) FROM audit_events").await;
    let cases: Vec<BadCase> = vec![
        (Method::POST, "/Users".into(), b"{\"userName\": ".to_vec(), 400, Some("invalidSyntax")),
        (Method::POST, "/Users".into(), json!({"userName": "x@acme.test", "shoeSize": 9}).to_string().into_bytes(), 400, Some("invalidValue")),
        (Method::POST, "/Users".into(), json!({"name": {"givenName": "No"}}).to_string().into_bytes(), 400, Some("invalidValue")),
        (Method::POST, "/Users".into(), json!({"userName": "DANA@ACME.TEST"}).to_string().into_bytes(), 409, Some("uniqueness")),
        (Method::GET, "/Users?filter=userName%20eq".into(), vec![], 400, Some("invalidFilter")),
        (Method::GET, "/Users?filter=userName%20zz%20%22a%22".into(), vec![], 400, Some("invalidFilter")),
        (Method::PATCH, format!("/Users/{u}"), json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "id", "value": "other"}]}).to_string().into_bytes(), 400, Some("mutability")),
        (Method::PATCH, format!("/Users/{u}"), json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "emails[type eq", "value": "x"}]}).to_string().into_bytes(), 400, Some("invalidPath")),
        (Method::PATCH, format!("/Users/{u}"), json!({"schemas": [PATCH], "Operations": [{"op": "remove"}]}).to_string().into_bytes(), 400, Some("noTarget")),
        (Method::PATCH, format!("/Users/{u}"), json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": "perhaps"}]}).to_string().into_bytes(), 400, Some("invalidValue")),
        (Method::PATCH, format!("/Users/{u}"), json!({"Operations": []}).to_string().into_bytes(), 400, Some("invalidSyntax")),
        (Method::PATCH, format!("/Groups/{g}"), json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": "diru_01JXXXXXXXXXXXXXXXXXXXXXXX"}]}]}).to_string().into_bytes(), 400, Some("invalidValue")),
        (Method::PUT, format!("/Users/{u}"), json!({"userName": "dana@acme.test", "active": "sometimes"}).to_string().into_bytes(), 400, Some("invalidValue")),
        (Method::POST, "/Users".into(), format!("{{\"userName\": \"big@acme.test\", \"displayName\": \"{}\"}}", "x".repeat(5 * 1024 * 1024)).into_bytes(), 413, None),
        (Method::GET, "/Users/diru_01JXXXXXXXXXXXXXXXXXXXXXXX".into(), vec![], 404, None),
        (Method::GET, "/Widgets".into(), vec![], 404, None),
        (Method::POST, "/ServiceProviderConfig".into(), b"{}".to_vec(), 405, None),
        (Method::DELETE, "/Users".into(), vec![], 405, None),
        (Method::POST, "/.search".into(), b"{}".to_vec(), 501, None),
    ];
    for (method, path, body, status, scim_type) in cases {
        let r = scim_raw(
            &app,
            &dir.id,
            &dir.token,
            method.clone(),
            &path,
            (!body.is_empty()).then_some(body.as_slice()),
        )
        .await;
        assert_eq!(r.status.as_u16(), status, "{method} {path}: {}", r.text());
        let j = r.json();
        assert_eq!(
            j["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
            "{path}"
        );
        assert_eq!(j["status"], status.to_string());
        assert_eq!(j["scimType"].as_str(), scim_type, "{method} {path}: {j}");
        assert!(!j["detail"].as_str().unwrap().is_empty());
    }
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM audit_events").await,
        events_before,
        "nothing changed"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM directory_users").await, 1);
    let r = scim(&app, &dir, Method::GET, &format!("/Users/{u}"), None).await;
    assert_eq!(r.json()["active"], true);
    assert_eq!(r.json()["groups"][0]["value"], g);
}

async fn deprovisioning_takes_effect_at_once_and_blocks_sign_in(d: Dialect) {
    let (app, op) = setup(d).await;
    let (org, _) = org_with_connection(&app, &op, "Acme", Some("acme.test")).await;
    let dir = create_dir(&app, &org, "okta").await;
    let dana = create_user(&app, &dir, "dana@acme.test").await;
    op.next_account(json!({"sub": "okta-dana", "email": "dana@acme.test"}))
        .await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    let code = param(&back, "code").expect("Dana, provisioned and active, signs in");
    // Deactivated while her code is in flight: the code is void and she cannot sign in again.
    let r = scim(&app, &dir, Method::PATCH, &format!("/Users/{dana}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": false}}]}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM sso_codes WHERE used_at IS NULL").await,
        0,
        "the suspension voided the unredeemed code in the same transaction"
    );
    assert_eq!(
        exchange(&app, &code).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    assert!(
        param(&back, "error_description")
            .unwrap()
            .contains("deactivated in your organization's directory"),
        "{back}"
    );
    // Someone the directory never provisioned cannot JIT in while it is authoritative.
    op.next_account(json!({"sub": "okta-lee", "email": "lee@acme.test"}))
        .await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    assert!(
        param(&back, "error_description")
            .unwrap()
            .contains("directory has not given you access"),
        "{back}"
    );
    assert_eq!(membership(&app, &org, "lee@acme.test").await, None);
    // Reactivation restores access.
    let r = scim(&app, &dir, Method::PATCH, &format!("/Users/{dana}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "True"}]}))).await;
    assert_eq!(r.json()["active"], true);
    op.next_account(json!({"sub": "okta-dana", "email": "dana@acme.test"}))
        .await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    let r = exchange(&app, &param(&back, "code").unwrap()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Fail closed at the exchange too: a suspension that missed the code (a race) still wins.
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    sqlx::query("UPDATE memberships SET state = 'suspended'")
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let r = exchange(&app, &param(&back, "code").unwrap()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    sqlx::query("UPDATE memberships SET state = 'active'")
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    // DELETE from the directory: suspended again, and the gate still holds.
    let r = scim(&app, &dir, Method::DELETE, &format!("/Users/{dana}"), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        membership(&app, &org, "dana@acme.test").await.unwrap().1,
        "suspended"
    );
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    // A directory that is not authoritative does not gate JIT.
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/directories/{}", dir.id),
            Some(json!({"authoritative": false})),
        )
        .await;
    assert_eq!(r.json()["authoritative"], false);
    op.next_account(json!({"sub": "okta-lee", "email": "lee@acme.test"}))
        .await;
    let back = sign_in(&app, &op, &format!("organization={org}")).await;
    assert!(param(&back, "code").is_some(), "{back}");
}

async fn group_mappings_preview_then_apply_highest_priority(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "okta").await;
    let dana = create_user(&app, &dir, "dana@acme.test").await;
    let lee = create_user(&app, &dir, "lee@acme.test").await;
    let eng = create_group(&app, &dir, "Engineering", &[&dana, &lee]).await;
    let admins = create_group(&app, &dir, "Admins", &[&dana]).await;
    let mappings = json!([
        {"group_id": eng, "role": "member", "priority": 5},
        {"group_id": admins, "role": "admin", "priority": 10},
    ]);
    let r = map_groups(&app, &dir, mappings.clone(), true).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.json()["data"],
        json!([{"user_name": "dana@acme.test", "from": "member", "to": "admin", "group": "Admins"}])
    );
    assert_eq!(
        role_of(&app, &org, "dana@acme.test").await,
        "member",
        "a dry run changes nothing"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM group_role_mappings").await,
        0
    );
    let r = map_groups(&app, &dir, mappings, false).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(role_of(&app, &org, "dana@acme.test").await, "admin");
    let rg: Option<String> = sqlx::query_scalar("SELECT m.role_group_id FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email = 'dana@acme.test'")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(
        rg.as_deref(),
        Some(admins.as_str()),
        "the role records the group that gave it"
    );
    // Mover: Dana leaves Admins (Entra's value-array remove) and falls back to Engineering's role.
    let r = scim(&app, &dir, Method::PATCH, &format!("/Groups/{admins}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "Remove", "path": "members", "value": [{"value": dana}]}]}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(role_of(&app, &org, "dana@acme.test").await, "member");
    // Joins Admins again by PATCH add: admin again.
    let r = scim(&app, &dir, Method::PATCH, &format!("/Groups/{admins}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "Add", "path": "members", "value": [{"value": dana}]}]}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(role_of(&app, &org, "dana@acme.test").await, "admin");
    // Bad mappings name the field.
    for (m, field) in [
        (
            json!([{"group_id": "dirg_01JXXXXXXXXXXXXXXXXXXXXXXX", "role": "admin", "priority": 1}]),
            "group_id",
        ),
        (
            json!([{"group_id": eng, "role": "owner", "priority": 1}]),
            "role",
        ),
        (
            json!([{"group_id": eng, "role": "admin", "priority": -1}]),
            "priority",
        ),
    ] {
        let r = map_groups(&app, &dir, m, false).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json()["error"]["field"], field);
    }
    let events: Vec<String> = app.audit_actions(&org).await;
    assert!(
        events
            .iter()
            .filter(|e| *e == "membership.role_changed")
            .count()
            >= 3,
        "{events:?}"
    );
}

async fn concurrent_patches_to_one_group_lose_no_member(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "entra").await;
    let mut users = Vec::new();
    for i in 0..16 {
        users.push(create_user(&app, &dir, &format!("u{i}@acme.test")).await);
    }
    let g = create_group(&app, &dir, "Everyone", &[]).await;
    let tasks: Vec<_> = users
        .iter()
        .map(|u| {
            let body = json!({"schemas": [PATCH], "Operations": [{"op": "Add", "path": "members", "value": [{"value": u}]}]});
            let (app_router, id, token, path) = (app.router.clone(), dir.id.clone(), dir.token.clone(), format!("/Groups/{g}"));
            tokio::spawn(async move {
                use tower::ServiceExt as _;
                let req = Request::builder()
                    .method(Method::PATCH)
                    .uri(format!("/scim/v2/{id}{path}"))
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .header(header::CONTENT_TYPE, "application/scim+json")
                    .body(Body::from(body.to_string()))
                    .unwrap();
                app_router.oneshot(req).await.unwrap().status()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    let r = scim(&app, &dir, Method::GET, &format!("/Groups/{g}"), None).await;
    assert_eq!(
        r.json()["members"].as_array().unwrap().len(),
        16,
        "{}",
        r.text()
    );
}

/// Sends these user creates to the directory all at once; answers their statuses, sorted.
async fn concurrent_creates(app: &TestApp, dir: &Dir, bodies: Vec<Value>) -> Vec<u16> {
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let (router, id, token) = (app.router.clone(), dir.id.clone(), dir.token.clone());
            tokio::spawn(async move {
                use tower::ServiceExt as _;
                let req = Request::builder()
                    .method(Method::POST)
                    .uri(format!("/scim/v2/{id}/Users"))
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .body(Body::from(body.to_string()))
                    .unwrap();
                router.oneshot(req).await.unwrap().status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    statuses
}

async fn a_retried_create_is_409_never_a_duplicate(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "okta").await;
    // Retries differ only in the case of the userName.
    let bodies = (0..8)
        .map(|i| {
            let name = if i % 2 == 0 {
                "Dana@Acme.test"
            } else {
                "dana@acme.test"
            };
            json!({"schemas": [USER], "userName": name})
        })
        .collect();
    let statuses = concurrent_creates(&app, &dir, bodies).await;
    assert_eq!(statuses, vec![201, 409, 409, 409, 409, 409, 409, 409]);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM directory_users").await, 1);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM memberships").await, 1);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, 1);
}

/// Directory users with different userNames and one address, created at the same moment: all
/// are created (201, never 500) and linked to one organization user with one membership.
async fn racing_creates_of_one_address_share_one_user(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "okta").await;
    let bodies = (0..8)
        .map(|i| json!({"schemas": [USER], "userName": format!("dana{i}"), "emails": [{"value": "dana@acme.test", "primary": true}], "active": true}))
        .collect();
    let statuses = concurrent_creates(&app, &dir, bodies).await;
    assert_eq!(statuses, vec![201; 8]);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM directory_users").await, 8);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM memberships").await, 1);
    assert_eq!(
        count(&app, "SELECT COUNT(DISTINCT user_id) FROM directory_users").await,
        1
    );
}

async fn filters_paging_and_projection(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "generic_scim").await;
    let mut ids = Vec::new();
    for (n, ext, active) in [
        ("ann", "e1", true),
        ("bob", "e2", false),
        ("cid", "e3", true),
        ("dee", "e4", true),
        ("bea", "e5", true),
    ] {
        let r = scim(&app, &dir, Method::POST, "/Users", Some(json!({"userName": format!("{n}@acme.test"), "externalId": ext, "displayName": n.to_uppercase(), "active": active, "emails": [{"value": format!("{n}@mail.acme.test"), "type": "work"}]}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        ids.push(r.json()["id"].as_str().unwrap().to_owned());
    }
    let g = create_group(&app, &dir, "Team", &[&ids[0], &ids[2]]).await;
    let total = |q: String| {
        let app = &app;
        let dir = &dir;
        async move {
            let r = scim(app, dir, Method::GET, &q, None).await;
            assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text());
            r.json()
        }
    };
    let enc = |f: &str| {
        f.replace(' ', "%20")
            .replace('"', "%22")
            .replace('[', "%5B")
            .replace(']', "%5D")
    };
    for (f, n) in [
        ("userName eq \"ANN@acme.test\"", 1),
        ("userName ne \"ann@acme.test\"", 4),
        ("userName co \"e@\"", 1),
        ("userName sw \"b\"", 2),
        ("externalId pr", 5),
        ("externalId eq \"e3\"", 1),
        ("emails.value eq \"dee@mail.acme.test\"", 1),
        ("emails[type eq \"work\" and value co \"bob\"]", 1),
        ("active eq false", 1),
        ("displayName eq \"CID\" or displayName eq \"DEE\"", 2),
        ("userName sw \"b\" and active eq true", 1),
        ("not (active eq true)", 1),
    ] {
        let j = total(format!("/Users?filter={}", enc(f))).await;
        assert_eq!(j["totalResults"], n, "{f}: {j}");
        assert_eq!(j["Resources"].as_array().unwrap().len(), n, "{f}");
    }
    let j = total("/Users?startIndex=2&count=2".into()).await;
    assert_eq!(
        (
            j["totalResults"].as_i64(),
            j["startIndex"].as_i64(),
            j["itemsPerPage"].as_i64()
        ),
        (Some(5), Some(2), Some(2))
    );
    assert_eq!(j["Resources"][0]["id"], ids[1]);
    let j = total("/Users?count=0".into()).await;
    assert_eq!(j["totalResults"], 5);
    assert_eq!(j["Resources"].as_array().unwrap().len(), 0);
    let j = total(format!(
        "/Users?filter={}&attributes=userName",
        enc("userName eq \"ann@acme.test\"")
    ))
    .await;
    let keys: Vec<&String> = j["Resources"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["id", "schemas", "userName"]);
    let j = total(format!(
        "/Users/{}?excludedAttributes=emails,groups",
        ids[0]
    ))
    .await;
    assert!(
        j.get("emails").is_none() && j.get("groups").is_none() && j["userName"] == "ann@acme.test"
    );
    // Entra's membership probe, and members.value.
    let j = total(format!(
        "/Groups?filter={}&excludedAttributes=members",
        enc(&format!(
            "id eq \"{g}\" and members[value eq \"{}\"]",
            ids[2]
        ))
    ))
    .await;
    assert_eq!(j["totalResults"], 1);
    assert!(j["Resources"][0].get("members").is_none());
    let j = total(format!(
        "/Groups?filter={}",
        enc(&format!("members.value eq \"{}\"", ids[1]))
    ))
    .await;
    assert_eq!(j["totalResults"], 0);
    let j = total(format!("/Groups?filter={}", enc("displayName eq \"team\""))).await;
    assert_eq!(j["totalResults"], 1);
    assert_eq!(j["Resources"][0]["members"].as_array().unwrap().len(), 2);
    // Discovery documents.
    for p in [
        "/ServiceProviderConfig",
        "/ResourceTypes",
        "/Schemas",
        "/ResourceTypes/User",
        "/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group",
    ] {
        let r = scim(&app, &dir, Method::GET, p, None).await;
        assert_eq!(r.status, StatusCode::OK, "{p}");
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/scim+json")
        );
    }
    let r = scim(
        &app,
        &dir,
        Method::POST,
        "/Users",
        Some(json!({"userName": "new@acme.test"})),
    )
    .await;
    let j = r.json();
    assert_eq!(
        r.header("location").as_deref(),
        j["meta"]["location"].as_str()
    );
    assert_eq!(r.header("etag").as_deref(), j["meta"]["version"].as_str());
}

async fn the_request_log_keeps_redacted_exchanges_and_health(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "okta").await;
    let r = scim(
        &app,
        &dir,
        Method::POST,
        "/Users",
        Some(json!({"userName": "dana@acme.test", "password": "hunter2-secret"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(!r.text().contains("hunter2"));
    let r = scim_raw(
        &app,
        &dir.id,
        "lanyard_scim_stale",
        Method::GET,
        "/Users",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = scim(&app, &dir, Method::GET, "/Users?filter=bogus", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // The log is written behind the answers: readers on this node flush it first.
    app.state.scim_log.flush().await;
    let log: Vec<(String, String, i64, Option<String>)> =
        sqlx::query_as("SELECT method, path, status, request_body FROM scim_requests ORDER BY id")
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap();
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(
        log[0].3.as_deref().unwrap().contains("[redacted]")
            && !log[0].3.as_deref().unwrap().contains("hunter2")
    );
    assert_eq!(log[1].2, 401);
    assert_eq!(log[2].1, format!("/scim/v2/{}/Users?filter=bogus", dir.id));
    let all: Vec<String> = sqlx::query_scalar(
        "SELECT COALESCE(request_body, '') || COALESCE(response_body, '') FROM scim_requests",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    assert!(
        all.iter().all(|b| !b.contains(&dir.token)),
        "the token is never logged"
    );
    let j = app
        .api(
            Method::GET,
            &format!("/api/v1/directories/{}", dir.id),
            None,
        )
        .await
        .json();
    assert_eq!(j["health"]["requests_24h"], 3);
    assert_eq!(j["health"]["errors_24h"], 2);
    assert_eq!(j["health"]["users"], 1);
    assert!(
        j["health"]["last_error"]
            .as_str()
            .unwrap()
            .starts_with("400 GET"),
        "{j}"
    );
    assert!(
        j.get("bearer_token").is_none(),
        "the token is shown only at creation"
    );
}

async fn a_directory_never_undoes_what_it_did_not_do(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    // Two people who joined before the directory: an admin, and someone an admin suspended.
    for (uid, mid, email, role, state) in [
        ("user_boss", "om_boss", "boss@acme.test", "admin", "active"),
        (
            "user_gone",
            "om_gone",
            "gone@acme.test",
            "member",
            "suspended",
        ),
    ] {
        sqlx::query("INSERT INTO users (id, organization_id, email, created_at, updated_at) VALUES ($1, $2, $3, 0, 0)")
            .bind(uid)
            .bind(&org)
            .bind(email)
            .execute(&app.state.db.pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO memberships (id, organization_id, user_id, role, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 0, 0)")
            .bind(mid)
            .bind(&org)
            .bind(uid)
            .bind(role)
            .bind(state)
            .execute(&app.state.db.pool)
            .await
            .unwrap();
    }
    let dir = create_dir(&app, &org, "okta").await;
    let boss = create_user(&app, &dir, "boss@acme.test").await;
    create_user(&app, &dir, "gone@acme.test").await;
    assert_eq!(
        membership(&app, &org, "boss@acme.test").await,
        Some(("admin".into(), "active".into())),
        "linking never demotes"
    );
    assert_eq!(
        membership(&app, &org, "gone@acme.test").await.unwrap().1,
        "suspended",
        "an admin's suspension stands"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM users").await,
        2,
        "linked by email, not duplicated"
    );
    // Deactivated, then a PUT that leaves `active` out: still deactivated.
    scim(&app, &dir, Method::PATCH, &format!("/Users/{boss}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]}))).await;
    let r = scim(
        &app,
        &dir,
        Method::PUT,
        &format!("/Users/{boss}"),
        Some(json!({"schemas": [USER], "userName": "boss@acme.test", "displayName": "The Boss"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["active"], false);
    assert_eq!(
        membership(&app, &org, "boss@acme.test").await.unwrap().1,
        "suspended"
    );
    // Reactivated by the directory that suspended it.
    scim(&app, &dir, Method::PATCH, &format!("/Users/{boss}"), Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": true}]}))).await;
    assert_eq!(
        membership(&app, &org, "boss@acme.test").await,
        Some(("admin".into(), "active".into()))
    );
    // Deleting the directory suspends what it manages only; a second directory's users stay.
    let other = create_dir(&app, &org, "entra").await;
    create_user(&app, &other, "lee@acme.test").await;
    let r = app
        .api(
            Method::DELETE,
            &format!("/api/v1/directories/{}", dir.id),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        membership(&app, &org, "boss@acme.test").await.unwrap().1,
        "suspended"
    );
    assert_eq!(
        membership(&app, &org, "lee@acme.test").await.unwrap().1,
        "active"
    );
}

fn token_in(page: &str) -> Option<String> {
    let at = page.find("lanyard_scim_")?;
    Some(
        page[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect(),
    )
}

async fn the_portal_sets_up_a_directory_and_previews_mappings(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let a = app.create_org("Alpha").await;
    let b = app.create_org("Bravo").await;
    let bdir = create_dir(&app, &b, "entra").await;
    let cookie = app.redeem(&app.create_link(&a, &["dsync"]).await).await;
    let page = app.browser_get("/portal/directories", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("directories-empty"));
    app.browser_post(
        "/portal/api/create_directory",
        "kind=okta&name=Okta+production",
        Some(&cookie),
    )
    .await;
    let page = app
        .browser_get("/portal/directories", Some(&cookie))
        .await
        .text();
    assert!(
        page.contains("Okta production") && page.contains("Set up Okta"),
        "{page}"
    );
    let token = token_in(&page).expect("the new token is shown after a plain form post");
    let id: String = sqlx::query_scalar("SELECT id FROM directories WHERE organization_id = $1")
        .bind(&a)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let dir = Dir {
        id: id.clone(),
        token,
    };
    assert!(page.contains(&format!("/scim/v2/{id}")));
    let again = app
        .browser_get("/portal/directories", Some(&cookie))
        .await
        .text();
    assert_eq!(token_in(&again), None, "the token shows once");
    // The IdP pushes with it; the page shows people, groups and the log.
    let dana = create_user(&app, &dir, "dana@alpha.test").await;
    let eng = create_group(&app, &dir, "Engineering", &[&dana]).await;
    scim(&app, &dir, Method::GET, "/Users?filter=bad", None).await;
    let page = app
        .browser_get("/portal/directories", Some(&cookie))
        .await
        .text();
    assert!(
        page.contains("dana@alpha.test") && page.contains("Engineering"),
        "{page}"
    );
    assert!(
        page.contains("invalidFilter") && page.contains("1 failed"),
        "{page}"
    );
    let page = app
        .browser_get("/portal/directories?log=errors", Some(&cookie))
        .await
        .text();
    assert_eq!(
        page.matches("data-testid=\"log-line\"").count(),
        1,
        "{page}"
    );
    let page = app
        .browser_get("/portal/directories?method=POST", Some(&cookie))
        .await
        .text();
    assert_eq!(
        page.matches("data-testid=\"log-line\"").count(),
        2,
        "the two POSTs: {page}"
    );
    // Preview changes nothing and shows who would change; save applies.
    let form = format!("id={id}&group_id={eng}&role=admin&priority=10&mode=preview");
    app.browser_post("/portal/api/map_group", &form, Some(&cookie))
        .await;
    let page = app
        .browser_get("/portal/directories", Some(&cookie))
        .await
        .text();
    assert!(
        page.contains("dana@alpha.test: member → admin (from group Engineering)"),
        "{page}"
    );
    assert_eq!(role_of(&app, &a, "dana@alpha.test").await, "member");
    app.browser_post(
        "/portal/api/map_group",
        &form.replace("preview", "save"),
        Some(&cookie),
    )
    .await;
    assert_eq!(role_of(&app, &a, "dana@alpha.test").await, "admin");
    // A's session cannot touch B's directory through any server function.
    for (path, form) in [
        (
            "/portal/api/rotate_directory_token",
            format!("id={}", bdir.id),
        ),
        (
            "/portal/api/set_directory_authoritative",
            format!("id={}", bdir.id),
        ),
        ("/portal/api/delete_directory", format!("id={}", bdir.id)),
        (
            "/portal/api/map_group",
            format!("id={}&group_id=x&role=admin&priority=1&mode=save", bdir.id),
        ),
        (
            "/portal/api/directories",
            format!("errors_only=false&method=&organization_id={b}"),
        ),
    ] {
        let r = app.browser_post(path, &form, Some(&cookie)).await;
        assert!(
            !r.text().contains(&bdir.id[4..]) || path.ends_with("directories"),
            "{path}: {}",
            r.text()
        );
    }
    assert_eq!(
        scim(&app, &bdir, Method::GET, "/Users", None).await.status,
        StatusCode::OK,
        "B's token still works"
    );
    let bj = app
        .api(
            Method::GET,
            &format!("/api/v1/directories/{}", bdir.id),
            None,
        )
        .await
        .json();
    assert_eq!(bj["authoritative"], true);
    assert_eq!(bj["tokens"].as_array().unwrap().len(), 1);
    let page = app
        .browser_get("/portal/directories", Some(&cookie))
        .await
        .text();
    assert!(
        !page.contains(&bdir.id),
        "B's directory never shows in A's portal"
    );
    // A setup link without the dsync intent does not open the page's data.
    let other = app.redeem(&app.create_link(&a, &["sso"]).await).await;
    let r = app
        .browser_post(
            "/portal/api/directories",
            "errors_only=false&method=",
            Some(&other),
        )
        .await;
    assert!(!r.text().contains("dana@alpha.test"), "{}", r.text());
}

/// The users a group's member events name, by action, in the order they were recorded.
async fn member_events(app: &TestApp, group: &str) -> Vec<(String, String)> {
    app.state.db.caught_up().await;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT action, targets FROM audit_events WHERE action LIKE 'dsync.group.user_%' ORDER BY chain_seq",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    rows.into_iter()
        .filter_map(|(action, targets)| {
            let t: Value = serde_json::from_str(&targets).unwrap();
            (t[0]["id"] == group).then(|| (action, t[1]["id"].as_str().unwrap().to_owned()))
        })
        .collect()
}

async fn member_ids(app: &TestApp, d: &Dir, group: &str) -> Vec<String> {
    let r = scim(app, d, Method::GET, &format!("/Groups/{group}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let mut ids: Vec<String> = r.json()["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["value"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

async fn member_patches_change_each_member_once_with_one_event_each(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "entra").await;
    let other_org = app.create_org("Other").await;
    let other = create_dir(&app, &other_org, "entra").await;
    let outsider = create_user(&app, &other, "x@other.test").await;
    let mut u = Vec::new();
    for i in 0..5 {
        u.push(create_user(&app, &dir, &format!("u{i}@acme.test")).await);
    }
    let g = create_group(&app, &dir, "Engineering", &[]).await;
    let patch = |op: &str, ids: &[&String]| {
        let value: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
        json!({"schemas": [PATCH], "Operations": [{"op": op, "path": "members", "value": value}]})
    };
    let added = |ids: &[&String]| -> Vec<(String, String)> {
        ids.iter()
            .map(|id| ("dsync.group.user_added".to_owned(), (*id).clone()))
            .collect()
    };
    let removed = |ids: &[&String]| -> Vec<(String, String)> {
        ids.iter()
            .map(|id| ("dsync.group.user_removed".to_owned(), (*id).clone()))
            .collect()
    };
    let path = format!("/Groups/{g}");

    // Entra's shape: a repeated id and members already there change nothing twice.
    let r = scim(
        &app,
        &dir,
        Method::PATCH,
        &path,
        Some(patch("Add", &[&u[0], &u[1], &u[1], &u[2]])),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["members"].as_array().unwrap().len(), 3);
    let r = scim(
        &app,
        &dir,
        Method::PATCH,
        &path,
        Some(patch("add", &[&u[1], &u[3]])),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let mut want = added(&[&u[0], &u[1], &u[2]]);
    want.extend(added(&[&u[3]]));
    assert_eq!(member_events(&app, &g).await, want);

    // Another directory's user is refused and nothing changes.
    let r = scim(
        &app,
        &dir,
        Method::PATCH,
        &path,
        Some(patch("Add", &[&u[4], &outsider])),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert_eq!(r.json()["scimType"], "invalidValue");
    assert_eq!(member_ids(&app, &dir, &g).await.len(), 4);

    // Removing listed members: one who is not a member is ignored (retries stay idempotent);
    // the events follow the members' ids.
    let r = scim(
        &app,
        &dir,
        Method::PATCH,
        &path,
        Some(patch("Remove", &[&u[2], &u[4], &u[0]])),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    want.extend(removed(&[&u[0], &u[2]]));
    assert_eq!(member_events(&app, &g).await, want);
    let mut left = vec![u[1].clone(), u[3].clone()];
    left.sort();
    assert_eq!(member_ids(&app, &dir, &g).await, left);

    // A request mixing shapes (an add and a filtered remove) is applied as a whole diff.
    let body = json!({"schemas": [PATCH], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": u[4]}]},
        {"op": "remove", "path": format!("members[value eq \"{}\"]", u[1])},
    ]});
    let r = scim(&app, &dir, Method::PATCH, &path, Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    want.extend(added(&[&u[4]]));
    want.extend(removed(&[&u[1]]));
    assert_eq!(member_events(&app, &g).await, want);
    let mut left = vec![u[3].clone(), u[4].clone()];
    left.sort();
    assert_eq!(member_ids(&app, &dir, &g).await, left);

    // An unknown group is 404 before its members are looked at.
    let r = scim(
        &app,
        &dir,
        Method::PATCH,
        "/Groups/dgrp_nope",
        Some(patch("Add", &[&outsider])),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    // Another directory cannot change the group.
    let r = scim(
        &app,
        &other,
        Method::PATCH,
        &path,
        Some(patch("Remove", &[&u[3]])),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    assert_eq!(member_ids(&app, &dir, &g).await.len(), 2);
}

async fn a_push_larger_than_one_step_lands_whole_with_an_event_and_a_role_per_member(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "okta").await;
    // More members than one write transaction applies (they are applied in steps).
    let n = lanyard::server::service::scim::MEMBER_CHANGES_PER_TX * 2 + 17;
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(create_user(&app, &dir, &format!("p{i}@acme.test")).await);
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    // Okta: the group with every member inside.
    let all = create_group(&app, &dir, "All", &refs).await;
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(member_ids(&app, &dir, &all).await, sorted);
    let events = member_events(&app, &all).await;
    assert_eq!(events.len(), n);
    assert!(events
        .iter()
        .zip(&ids)
        .all(|((a, u), id)| a == "dsync.group.user_added" && u == id));

    // Entra: one PATCH adding them all to a group mapped to a role; every member's role follows.
    let admins = create_group(&app, &dir, "Admins", &[]).await;
    let r = map_groups(
        &app,
        &dir,
        json!([{"group_id": admins, "role": "admin", "priority": 1}]),
        false,
    )
    .await;
    assert!(r.status.is_success(), "{}", r.text());
    let value: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let r = scim(
        &app,
        &dir,
        Method::PATCH,
        &format!("/Groups/{admins}"),
        Some(json!({"schemas": [PATCH], "Operations": [{"op": "Add", "path": "members", "value": value}]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["members"].as_array().unwrap().len(), n);
    assert_eq!(member_events(&app, &admins).await.len(), n);
    let q = format!("SELECT COUNT(*) FROM memberships WHERE organization_id = '{org}' AND role = 'admin' AND state = 'active'");
    assert_eq!(count(&app, &q).await, n as i64);
    // Deleting the group takes the role back from every former member, in steps too.
    let r = scim(
        &app,
        &dir,
        Method::DELETE,
        &format!("/Groups/{admins}"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(count(&app, &q).await, 0);
}

async fn a_token_revoked_elsewhere_stops_within_the_trust_window(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "okta").await;
    assert_eq!(
        scim(&app, &dir, Method::GET, "/Users", None).await.status,
        StatusCode::OK
    );
    // Another node (or the command line) deletes the directory: this node's memory of the token
    // lasts at most TOKEN_TRUST.
    sqlx::query("UPDATE directories SET deleted_at = $1 WHERE id = $2")
        .bind(app.state.clock.now())
        .bind(&dir.id)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    app.state
        .clock
        .advance(lanyard::server::service::scim::TOKEN_TRUST.as_millis() as i64);
    assert_eq!(
        scim(&app, &dir, Method::GET, "/Users", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    // A rotation on this node with no overlap left stops the old token at the next request.
    let live = create_dir(&app, &org, "entra").await;
    assert_eq!(
        scim(&app, &live, Method::GET, "/Users", None).await.status,
        StatusCode::OK
    );
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/directories/{}/token", live.id),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    sqlx::query("UPDATE directory_tokens SET expires_at = $1 WHERE directory_id = $2 AND expires_at IS NOT NULL")
        .bind(app.state.clock.now())
        .bind(&live.id)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(
        scim(&app, &live, Method::GET, "/Users", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// The token cache may still open a deleted directory for reads on a node that did not delete
/// it, but every write re-checks the directory and its organization in its own transaction:
/// nothing lands in a deleted directory, not even within `TOKEN_TRUST`.
async fn no_write_lands_in_a_directory_deleted_elsewhere(d: Dialect) {
    let app = TestApp::spawn(d).await;
    for what in ["directory", "organization"] {
        let org = app.create_org(&format!("Acme {what}")).await;
        let dir = create_dir(&app, &org, "okta").await;
        let user = create_user(&app, &dir, &format!("first-{what}@acme.test")).await;
        let group = create_group(&app, &dir, "Staff", &[]).await;
        // Another node (or the command line) deletes it: this node's token cache is warm.
        let sql = match what {
            "directory" => "UPDATE directories SET deleted_at = $1 WHERE id = $2",
            _ => "UPDATE organizations SET deleted_at = $1 WHERE id = $2",
        };
        sqlx::query(sql)
            .bind(app.state.clock.now())
            .bind(if what == "directory" { &dir.id } else { &org })
            .execute(&app.state.db.pool)
            .await
            .unwrap();
        let users = format!(
            "SELECT COUNT(*) FROM directory_users WHERE directory_id = '{}'",
            dir.id
        );
        let before = count(&app, &users).await;
        let writes = [
            (
                Method::POST,
                "/Users".to_owned(),
                json!({"schemas": [USER], "userName": format!("late-{what}@acme.test"), "active": true}),
            ),
            (
                Method::PATCH,
                format!("/Users/{user}"),
                json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": true}]}),
            ),
            (
                Method::POST,
                "/Groups".to_owned(),
                json!({"schemas": [GROUP], "displayName": "Late"}),
            ),
            (
                Method::PATCH,
                format!("/Groups/{group}"),
                json!({"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": user}]}]}),
            ),
        ];
        for (method, path, body) in writes {
            let r = scim(&app, &dir, method.clone(), &path, Some(body)).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{what}: {method} {path}: {}",
                r.text()
            );
        }
        let r = scim(&app, &dir, Method::DELETE, &format!("/Users/{user}"), None).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{what}: DELETE: {}",
            r.text()
        );
        assert_eq!(count(&app, &users).await, before, "{what}");
        let q = format!("SELECT COUNT(*) FROM directory_group_members WHERE group_id = '{group}'");
        assert_eq!(count(&app, &q).await, 0, "{what}");
    }
}

async fn the_log_and_health_show_every_answered_exchange_at_once(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let dir = create_dir(&app, &org, "okta").await;
    for i in 0..5 {
        create_user(&app, &dir, &format!("l{i}@acme.test")).await;
    }
    let r = scim(&app, &dir, Method::GET, "/Users/nope", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Read through the API straight after the answers (the rows are written behind them).
    let j = app
        .api(
            Method::GET,
            &format!("/api/v1/directories/{}", dir.id),
            None,
        )
        .await
        .json();
    assert_eq!(j["health"]["requests_24h"], 6, "{j}");
    assert_eq!(j["health"]["errors_24h"], 1, "{j}");
    assert!(
        j["health"]["last_error"]
            .as_str()
            .unwrap()
            .starts_with("404 GET"),
        "{j}"
    );
}

/// The directories page lists each logged exchange with the start of its bodies; a long one
/// links to its own page with both bodies whole. That page shows only the session's own
/// organization's exchanges, of a live directory, to a session with the dsync intent.
async fn the_request_log_cuts_long_bodies_and_links_the_whole_exchange(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let a = app.create_org("Alpha").await;
    let b = app.create_org("Bravo").await;
    let dir = create_dir(&app, &a, "okta").await;
    let tail = "TAIL-OF-A-LONG-BODY";
    // serde_json writes keys in order: `userType` comes after 500 characters of `title`.
    let r = scim(
        &app,
        &dir,
        Method::POST,
        "/Users",
        Some(json!({
            "schemas": [USER],
            "userName": "long@alpha.test",
            "title": "x".repeat(500),
            "userType": tail,
            "emails": [{"value": "long@alpha.test", "primary": true}],
        })),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let cookie = app.redeem(&app.create_link(&a, &["dsync"]).await).await;
    let page = app
        .browser_get("/portal/directories", Some(&cookie))
        .await
        .text();
    assert!(
        page.contains("long@alpha.test") && page.contains("xxxxxxxx"),
        "{page}"
    );
    assert!(
        !page.contains(tail),
        "the list shows only the start of a long body"
    );
    let at = page
        .find("/portal/directories/requests/")
        .expect("a cut exchange links to its own page");
    let href: String = page[at..]
        .chars()
        .take_while(|c| *c != '"' && *c != '\\')
        .collect();
    let id = href.rsplit('/').next().unwrap().to_owned();
    let whole = app.browser_get(&href, Some(&cookie)).await;
    assert_eq!(whole.status, StatusCode::OK);
    let whole = whole.text();
    assert!(
        whole.contains("exchange-bodies") && whole.contains(tail),
        "{whole}"
    );
    assert!(whole.contains("POST /scim/v2/"), "{whole}");
    // Another organization's session, or one without the dsync intent, never sees it.
    let _dir_b = create_dir(&app, &b, "okta").await;
    let other_org = app.redeem(&app.create_link(&b, &["dsync"]).await).await;
    let no_dsync = app.redeem(&app.create_link(&a, &["sso"]).await).await;
    for (who, cookie) in [
        ("Bravo's session", &other_org),
        ("an sso-only session", &no_dsync),
    ] {
        let r = app
            .browser_post(
                "/portal/api/directory_request",
                &format!("id={id}"),
                Some(cookie),
            )
            .await;
        assert!(
            r.status.is_client_error() && !r.text().contains(tail),
            "{who}: {} {}",
            r.status,
            r.text()
        );
        let page = app.browser_get(&href, Some(cookie)).await.text();
        assert!(!page.contains(tail), "{who}: {page}");
    }
    // Once the directory is deleted its log is not shown.
    app.browser_post(
        "/portal/api/delete_directory",
        &format!("id={}", dir.id),
        Some(&cookie),
    )
    .await;
    let r = app
        .browser_post(
            "/portal/api/directory_request",
            &format!("id={id}"),
            Some(&cookie),
        )
        .await;
    assert!(
        r.status.is_client_error() && !r.text().contains(tail),
        "{} {}",
        r.status,
        r.text()
    );
}

crate::both_databases!(
    okta_sequence_from_the_docs_drives_memberships_and_roles,
    entra_sequence_from_the_docs_drives_memberships_and_roles,
    a_token_opens_only_its_own_directory,
    bad_requests_get_scim_errors_and_change_nothing,
    deprovisioning_takes_effect_at_once_and_blocks_sign_in,
    group_mappings_preview_then_apply_highest_priority,
    concurrent_patches_to_one_group_lose_no_member,
    a_retried_create_is_409_never_a_duplicate,
    racing_creates_of_one_address_share_one_user,
    filters_paging_and_projection,
    the_request_log_keeps_redacted_exchanges_and_health,
    the_portal_sets_up_a_directory_and_previews_mappings,
    the_request_log_cuts_long_bodies_and_links_the_whole_exchange,
    a_directory_never_undoes_what_it_did_not_do,
    member_patches_change_each_member_once_with_one_event_each,
    a_push_larger_than_one_step_lands_whole_with_an_event_and_a_role_per_member,
    a_token_revoked_elsewhere_stops_within_the_trust_window,
    no_write_lands_in_a_directory_deleted_elsewhere,
    the_log_and_health_show_every_answered_exchange_at_once,
);
