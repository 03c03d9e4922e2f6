//! Staff accounts of the support console: setup links (browser rules), TOTP enrolment, sign-in
//! (same answer for every failure, replay refused, rate-limited), separate sessions, audit.
//! TOTP codes here come from the `otpauth` npm package (tests/support/totp.mjs), not from
//! Lanyard's own implementation.

use axum::http::StatusCode;
use lanyard::server::audit::{Actor, RequestContext};
use lanyard::server::service::staff::{self, SetupStatus, StaffGrant, SIGN_IN_FAILED, STAFF_KEY};
use serde_json::Value;

use crate::helpers::staff::{create_account as create, node_totp};
use crate::helpers::{Dialect, TestApp, ORIGIN};

const PASSWORD: &str = "correct horse battery staple";

/// The code an independent implementation computes for `secret` at `unix_ms`.
fn code_at(secret: &str, unix_ms: i64) -> String {
    node_totp(&["code", secret, &unix_ms.to_string()])
}

fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap()
}

fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let at = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} not in {html}"))
        + start.len();
    let len = html[at..].find(end).unwrap();
    &html[at..at + len]
}

/// The secret shown on the setup page, without the grouping spaces.
fn shown_secret(html: &str) -> String {
    between(html, r#"data-testid="totp-secret">"#, "<")
        .split_whitespace()
        .collect()
}

fn shown_uri(html: &str) -> String {
    let tag = between(html, r#"id="totp-uri""#, ">");
    between(tag, r#"value=""#, "\"").replace("&amp;", "&")
}

/// The data of the session behind a `lanyard_session=…` cookie.
async fn session_data(app: &TestApp, cookie: &str) -> Option<Value> {
    let id = cookie.strip_prefix("lanyard_session=").unwrap();
    let row: Option<String> = sqlx::query_scalar("SELECT data FROM sessions WHERE id = $1")
        .bind(id)
        .fetch_optional(&app.state.db.pool)
        .await
        .unwrap();
    row.map(|d| serde_json::from_str(&d).unwrap())
}

/// Opens the link, reads the secret and completes setup; returns the session cookie and secret.
async fn complete(app: &TestApp, link: &str) -> (String, String) {
    let page = app.browser_get(link, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let secret = shown_secret(&page.text());
    let code = code_at(&secret, app.state.clock.now());
    let r = app
        .browser_post(
            link,
            &form(&[
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
                ("code", &code),
            ]),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.header("location").as_deref(), Some("/console"));
    (r.session_cookie().expect("session cookie"), secret)
}

async fn sign_in(
    app: &TestApp,
    email: &str,
    password: &str,
    code: &str,
) -> crate::helpers::TestResponse {
    app.browser_post(
        "/console/signin",
        &form(&[("email", email), ("password", password), ("code", code)]),
        None,
    )
    .await
}

/// Moves to the next 30-second step, so that a fresh code exists.
fn next_step(app: &TestApp) {
    app.state.clock.advance(30_000);
}

/// Moves the clock to just after the start of a TOTP step, so the steps a test takes with
/// `next_step` stay put however long the (busy) machine takes between them: a code from the
/// previous step is then still inside the one-step skew window, and its refusal is a replay.
fn align_to_step_start(app: &TestApp) {
    let now = app.state.clock.now();
    app.state
        .clock
        .advance(30_000 - now.rem_euclid(30_000) + 50);
}

async fn setup_link_shows_the_secret_and_uri_and_consumes_nothing(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let link = create(&app, "Dana.Ops@Vendor.test", "admin").await;
    assert!(link.starts_with("/console/setup/lanyard_staff_"), "{link}");
    let mut secret = String::new();
    for _ in 0..2 {
        let r = app.browser_get(&link, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert!(r.session_cookie().is_none(), "GET must not sign in");
        let html = r.text();
        assert!(
            html.contains("dana.ops@vendor.test"),
            "email stored lower-cased"
        );
        assert!(html.contains("admin"));
        assert!(html.contains("Scan this code with your authenticator app"));
        assert!(
            html.contains(r#"data-testid="totp-qr""#) && html.contains("<svg"),
            "a QR code to scan, drawn without JavaScript"
        );
        assert!(html.contains("6-digit code"));
        for field in ["password", "password-confirm", "code", "complete-setup"] {
            assert!(
                html.contains(&format!(r#"data-testid="{field}""#)),
                "{field}"
            );
        }
        assert!(!html.contains("<script"), "works without JavaScript");
        secret = shown_secret(&html);
        assert_eq!(secret.len(), 32, "160-bit secret in base32");
        // The URI, read by an independent implementation, carries the same secret.
        let uri = shown_uri(&html);
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        let parsed: Value = serde_json::from_str(&node_totp(&[
            "uri",
            &uri,
            &app.state.clock.now().to_string(),
        ]))
        .unwrap();
        assert_eq!(parsed["type"], "totp");
        assert_eq!(parsed["secret"], secret.as_str());
        assert_eq!(parsed["label"], "dana.ops@vendor.test");
        assert_eq!(parsed["issuer"], "Lanyard Support");
        assert_eq!(parsed["algorithm"], "SHA1");
        assert_eq!(parsed["digits"], 6);
        assert_eq!(parsed["period"], 30);
    }
    let token = link.rsplit('/').next().unwrap();
    match staff::inspect(&app.state, token).await.unwrap() {
        SetupStatus::Valid { totp_secret, .. } => assert_eq!(totp_secret, secret),
        other => panic!("still valid after two GETs: {other:?}"),
    }
}

async fn setup_refuses_bad_input_keeps_the_link_then_signs_in(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let link = create(&app, "dana@vendor.test", "viewer").await;
    let html = app.browser_get(&link, None).await.text();
    let secret = shown_secret(&html);
    let now = app.state.clock.now();
    let good = code_at(&secret, now);
    let wrong = format!("{:06}", (good.parse::<u32>().unwrap() + 1) % 1_000_000);

    let cases: [(&str, &str, &str, &str); 4] = [
        (PASSWORD, PASSWORD, &wrong, "code"),
        ("short pass", "short pass", &good, "password"),
        (
            PASSWORD,
            "correct horse battery stapler",
            &good,
            "password_confirm",
        ),
        ("dana@vendor.test", "dana@vendor.test", &good, "password"),
    ];
    for (pw, confirm, code, field) in cases {
        let r = app
            .browser_post(
                &link,
                &form(&[
                    ("password", pw),
                    ("password_confirm", confirm),
                    ("code", code),
                ]),
                None,
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {}",
            r.text()
        );
        let html = r.text();
        assert!(
            html.contains(&format!(r#"data-testid="error-{field}""#)),
            "{field}: {html}"
        );
        assert!(r.session_cookie().is_none());
        assert!(
            !html.contains(pw) || pw == "dana@vendor.test",
            "passwords are not echoed"
        );
        assert_eq!(
            shown_secret(&html),
            secret,
            "the page is shown again in full"
        );
        if field != "code" {
            assert!(
                html.contains(&format!(r#"value="{code}""#)),
                "the code is kept"
            );
        }
    }
    // Nothing was consumed.
    assert_eq!(app.browser_get(&link, None).await.status, StatusCode::OK);

    let r = app
        .browser_post(
            &link,
            &form(&[
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
                ("code", &good),
            ]),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.header("location").as_deref(), Some("/console"));
    let cookie = r.session_cookie().unwrap();
    let data = session_data(&app, &cookie).await.expect("stored session");
    let grant: StaffGrant = serde_json::from_value(data[STAFF_KEY].clone()).unwrap();
    assert_eq!(grant.email, "dana@vendor.test");
    assert_eq!(grant.role, "viewer");
    assert!(grant.staff_id.starts_with("stf_"));
    assert!(
        data.get("portal").is_none(),
        "a staff session is not a portal session"
    );
    assert!(staff::active_grant(&app.state, &grant).await.unwrap());

    // Used: 410 on GET and POST, with what to do.
    let r = app.browser_get(&link, None).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.text().contains("already been used"));
    assert!(r.text().contains("/console/signin"));
    let r = app
        .browser_post(
            &link,
            &form(&[
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
                ("code", &good),
            ]),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.session_cookie().is_none());
}

async fn unknown_expired_and_revoked_setup_links(d: Dialect) {
    let app = TestApp::spawn(d).await;
    for path in [
        "/console/setup/lanyard_staff_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "/console/setup/nonsense",
    ] {
        let r = app.browser_get(path, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert!(r.text().contains("don't recognise"));
        let r = app
            .browser_post(path, "password=x&password_confirm=x&code=1", None)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }

    let link = create(&app, "sam@vendor.test", "viewer").await;
    let secret = shown_secret(&app.browser_get(&link, None).await.text());
    app.state.clock.advance(staff::SETUP_LIFETIME_MS + 1000);
    let r = app.browser_get(&link, None).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.text().contains("expired"));
    assert!(r.text().contains("lanyard staff reset"));
    let code = code_at(&secret, app.state.clock.now());
    let r = app
        .browser_post(
            &link,
            &form(&[
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
                ("code", &code),
            ]),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::GONE);

    // A reset revokes the old link and issues a new one with a new secret.
    let (_, new_link) = staff::reset(
        &app.state,
        &Actor::operator(),
        &RequestContext::default(),
        "sam@vendor.test",
    )
    .await
    .unwrap();
    let new_link = new_link.strip_prefix(ORIGIN).unwrap().to_owned();
    let first = create(&app, "kim@vendor.test", "viewer").await;
    staff::reset(
        &app.state,
        &Actor::operator(),
        &RequestContext::default(),
        "kim@vendor.test",
    )
    .await
    .unwrap();
    let r = app.browser_get(&first, None).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.text().contains("revoked"));
    let (_, new_secret) = complete(&app, &new_link).await;
    assert_ne!(new_secret, secret);
}

async fn two_concurrent_completions_exactly_one_succeeds(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let link = create(&app, "race@vendor.test", "admin").await;
    let secret = shown_secret(&app.browser_get(&link, None).await.text());
    let body = form(&[
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
        ("code", &code_at(&secret, app.state.clock.now())),
    ]);
    let (a, b) = tokio::join!(
        app.browser_post(&link, &body, None),
        app.browser_post(&link, &body, None)
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [303, 410], "{} / {}", a.text(), b.text());
    let completed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'staff.setup_completed'",
    )
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(completed, 1);
}

async fn sign_in_needs_password_and_a_fresh_code_and_every_failure_looks_the_same(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let link = create(&app, "dana@vendor.test", "admin").await;
    let (_, secret) = complete(&app, &link).await;

    // The setup code's step is spent: a sign-in with that step's code is a replay (its step is
    // read back, so a step boundary passing meanwhile cannot make this a fresh code).
    let spent: i64 =
        sqlx::query_scalar("SELECT totp_last_step FROM staff WHERE email = 'dana@vendor.test'")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    let same = code_at(&secret, spent * 30_000);
    let r = sign_in(&app, "dana@vendor.test", PASSWORD, &same).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    next_step(&app);
    let code = code_at(&secret, app.state.clock.now());
    let r = sign_in(&app, "DANA@vendor.test ", PASSWORD, &code).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.header("location").as_deref(), Some("/console"));
    let cookie = r.session_cookie().unwrap();
    let data = session_data(&app, &cookie).await.unwrap();
    let grant: StaffGrant = serde_json::from_value(data[STAFF_KEY].clone()).unwrap();
    assert_eq!(
        (grant.email.as_str(), grant.role.as_str()),
        ("dana@vendor.test", "admin")
    );
    assert!(grant.is_admin());

    let mut failures = vec![(
        "replayed code",
        sign_in(&app, "dana@vendor.test", PASSWORD, &code).await,
    )];
    next_step(&app);
    let fresh = code_at(&secret, app.state.clock.now());
    let wrong = format!("{:06}", (fresh.parse::<u32>().unwrap() + 7) % 1_000_000);
    failures.push((
        "wrong password",
        sign_in(
            &app,
            "dana@vendor.test",
            "correct horse battery stapler",
            &fresh,
        )
        .await,
    ));
    failures.push((
        "wrong code",
        sign_in(&app, "dana@vendor.test", PASSWORD, &wrong).await,
    ));
    failures.push((
        "unknown email",
        sign_in(&app, "nobody@vendor.test", PASSWORD, &fresh).await,
    ));
    failures.push((
        "not an email",
        sign_in(&app, "nobody", PASSWORD, &fresh).await,
    ));
    staff::disable(
        &app.state,
        &Actor::operator(),
        &RequestContext::default(),
        "dana@vendor.test",
    )
    .await
    .unwrap();
    assert!(
        !staff::active_grant(&app.state, &grant).await.unwrap(),
        "disabling ends sessions"
    );
    failures.push((
        "disabled",
        sign_in(&app, "dana@vendor.test", PASSWORD, &fresh).await,
    ));

    let first_body = failures[0].1.text();
    for (why, r) in &failures {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{why}");
        assert!(r.session_cookie().is_none(), "{why}");
        let html = r.text();
        assert!(html.contains(SIGN_IN_FAILED), "{why}: {html}");
        assert!(!html.contains(PASSWORD), "{why}");
        assert!(html.contains(r#"data-testid="sign-in""#));
        // The same page apart from the email kept in its field.
        let strip = |h: &str| {
            let at = h.find(r#"name="email""#).unwrap();
            let end = at + h[at..].find('>').unwrap();
            format!("{}{}", &h[..at], &h[end..])
        };
        assert_eq!(strip(&html), strip(&first_body), "{why}");
    }
    assert!(
        failures[3]
            .1
            .text()
            .contains(r#"value="nobody@vendor.test""#),
        "email kept"
    );

    // A role change ends the session too.
    let mut other = grant.clone();
    other.role = "viewer".into();
    assert!(!staff::active_grant(&app.state, &other).await.unwrap());
}

async fn sign_in_is_rate_limited_per_address_and_per_address_and_account(d: Dialect) {
    let app = TestApp::spawn(d).await;
    for i in 0..10 {
        let r = sign_in(
            &app,
            &format!("p{i}@vendor.test"),
            "wrong password!",
            "123456",
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{i}");
    }
    let r = sign_in(&app, "p0@vendor.test", "wrong password!", "123456").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().contains("Too many"));

    // A new minute for the address; its failures for one account are still capped over 15
    // minutes.
    app.state.clock.advance(61_000);
    for i in 0..9 {
        let r = sign_in(&app, "target@vendor.test", "wrong password!", "123456").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{i}");
    }
    app.state.clock.advance(61_000);
    let r = sign_in(&app, "Target@vendor.test", "wrong password!", "123456").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = sign_in(&app, "target@vendor.test", "wrong password!", "123456").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().contains("15 minutes"));
    let r = sign_in(&app, "other@vendor.test", "wrong password!", "123456").await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "other accounts are unaffected"
    );
}

/// A sign-in from the client address `ip` (as the server's peer address).
async fn sign_in_from(
    app: &TestApp,
    ip: &str,
    email: &str,
    password: &str,
    code: &str,
) -> crate::helpers::TestResponse {
    sign_in_via(app, ip, None, email, password, code).await
}

/// A sign-in over a connection from `peer` carrying `X-Forwarded-For: forwarded_for`.
async fn sign_in_via(
    app: &TestApp,
    peer: &str,
    forwarded_for: Option<&str>,
    email: &str,
    password: &str,
    code: &str,
) -> crate::helpers::TestResponse {
    use axum::body::Body;
    use axum::http::{header, Method, Request};
    let mut b = Request::builder()
        .method(Method::POST)
        .uri("/console/signin")
        .header(header::ORIGIN, ORIGIN)
        .header("sec-fetch-site", "same-origin")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(xff) = forwarded_for {
        b = b.header("x-forwarded-for", xff);
    }
    let mut req = b
        .body(Body::from(form(&[
            ("email", email),
            ("password", password),
            ("code", code),
        ])))
        .unwrap();
    let peer = std::net::SocketAddr::new(peer.parse().unwrap(), 50_000);
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    app.send(req).await
}

/// The client address audit events of `action` recorded, newest last.
async fn audited_ips(app: &TestApp, action: &str) -> Vec<Option<String>> {
    sqlx::query_scalar("SELECT ip FROM audit_events WHERE action = $1 ORDER BY occurred_at, id")
        .bind(action)
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap()
}

/// Ten failed sign-ins for `owner` through `peer` with `X-Forwarded-For: xff`, then a new
/// minute: the eleventh is refused for that (peer, header) pair.
async fn stranger_fails_ten_times(app: &TestApp, peer: &str, xff: Option<&str>, owner: &str) {
    for i in 0..10 {
        let r = sign_in_via(app, peer, xff, owner, "wrong password!", "123456").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{i}: {}", r.text());
    }
    app.state.clock.advance(61_000);
    let r = sign_in_via(app, peer, xff, owner, "wrong password!", "123456").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
}

const PROXY: &str = "127.0.0.1";

async fn behind_a_trusted_proxy_every_client_keeps_its_own_address(d: Dialect) {
    let app = TestApp::spawn_with(d, &[("LANYARD_TRUSTED_PROXIES", PROXY)]).await;
    let owner = "owner@vendor.test";
    let link = create(&app, owner, "admin").await;
    let (_, secret) = complete(&app, &link).await;

    // A stranger behind the proxy fails ten times; they are refused, by their own address (what
    // they put in the header themselves, left of what the proxy appended, is not believed).
    stranger_fails_ten_times(&app, PROXY, Some("203.0.113.7"), owner).await;
    let r = sign_in_via(
        &app,
        PROXY,
        Some("198.51.100.9, 203.0.113.7"),
        owner,
        "wrong password!",
        "123456",
    )
    .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    let ips = audited_ips(&app, "staff.sign_in_failed").await;
    assert_eq!(ips.len(), 10, "{ips:?}");
    assert!(
        ips.iter().all(|ip| ip.as_deref() == Some("203.0.113.7")),
        "{ips:?}"
    );

    // The owner, behind the same proxy, signs in; the audit records their address.
    next_step(&app);
    let code = code_at(&secret, app.state.clock.now());
    let r = sign_in_via(&app, PROXY, Some("198.51.100.9"), owner, PASSWORD, &code).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.header("location").as_deref(), Some("/console"));
    assert_eq!(
        audited_ips(&app, "staff.signed_in").await,
        [Some("198.51.100.9".to_owned())]
    );
}

async fn without_trusted_proxies_the_proxy_is_every_clients_address(d: Dialect) {
    // Today's behaviour, and the reason for LANYARD_TRUSTED_PROXIES: the header is not read, so
    // the stranger's failures count against the proxy's address, the owner's too.
    let app = TestApp::spawn(d).await;
    let owner = "owner@vendor.test";
    let link = create(&app, owner, "admin").await;
    let (_, secret) = complete(&app, &link).await;
    stranger_fails_ten_times(&app, PROXY, Some("203.0.113.7"), owner).await;
    next_step(&app);
    let code = code_at(&secret, app.state.clock.now());
    let r = sign_in_via(&app, PROXY, Some("198.51.100.9"), owner, PASSWORD, &code).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    let ips = audited_ips(&app, "staff.sign_in_failed").await;
    assert!(ips.iter().all(|ip| ip.as_deref() == Some(PROXY)), "{ips:?}");
}

async fn a_forwarded_for_header_from_an_untrusted_peer_changes_nothing(d: Dialect) {
    let app = TestApp::spawn_with(d, &[("LANYARD_TRUSTED_PROXIES", PROXY)]).await;
    let owner = "owner@vendor.test";
    let link = create(&app, owner, "admin").await;
    let (_, secret) = complete(&app, &link).await;
    let stranger = "203.0.113.7";

    // A stranger connecting directly claims a new address on every attempt: every attempt
    // counts against the address they connect from.
    for i in 0..10 {
        let claimed = format!("192.0.2.{}", i + 1);
        let r = sign_in_via(
            &app,
            stranger,
            Some(&claimed),
            owner,
            "wrong password!",
            "123456",
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{i}: {}", r.text());
    }
    app.state.clock.advance(61_000);
    let r = sign_in_via(
        &app,
        stranger,
        Some("192.0.2.99"),
        owner,
        "wrong password!",
        "123456",
    )
    .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    let ips = audited_ips(&app, "staff.sign_in_failed").await;
    assert_eq!(ips.len(), 10, "{ips:?}");
    assert!(
        ips.iter().all(|ip| ip.as_deref() == Some(stranger)),
        "{ips:?}"
    );

    // Claiming to be the trusted proxy, or the owner's address, does not help either.
    for claimed in [PROXY, "198.51.100.9", "198.51.100.9, 127.0.0.1"] {
        let r = sign_in_via(
            &app,
            stranger,
            Some(claimed),
            owner,
            "wrong password!",
            "123456",
        )
        .await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{claimed}");
    }

    // The owner, connecting directly from elsewhere, is unaffected.
    next_step(&app);
    let code = code_at(&secret, app.state.clock.now());
    let r = sign_in_via(&app, "198.51.100.9", None, owner, PASSWORD, &code).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
}

async fn count_where(app: &TestApp, sql: &str, bind: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(bind)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn a_strangers_failed_sign_ins_never_lock_the_owner_out(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let owner = "owner@vendor.test";
    let link = create(&app, owner, "admin").await;
    let (_, secret) = complete(&app, &link).await;
    let stranger = "203.0.113.7";

    // From one address: ten failures, then that address is refused for this account only.
    for i in 0..10 {
        let r = sign_in_from(&app, stranger, owner, "wrong password!", "123456").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{i}");
    }
    // A new minute for the address (at most 10 attempts a minute from anywhere): its failures
    // for this account are still capped over 15 minutes.
    app.state.clock.advance(61_000);
    let r = sign_in_from(&app, stranger, owner, "wrong password!", "123456").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert!(r.text().contains("15 minutes"), "{}", r.text());
    let r = sign_in_from(
        &app,
        stranger,
        "other@vendor.test",
        "wrong password!",
        "123456",
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "other accounts are unaffected"
    );

    // The owner, from their own address, signs in.
    next_step(&app);
    let code = code_at(&secret, app.state.clock.now());
    let r = sign_in_from(&app, "198.51.100.1", owner, PASSWORD, &code).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.header("location").as_deref(), Some("/console"));

    // From many addresses: nothing is refused, the owner is warned once.
    for i in 0..40 {
        let r = sign_in_from(
            &app,
            &format!("192.0.2.{}", i + 1),
            owner,
            "wrong password!",
            "123456",
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "address {i}");
    }
    next_step(&app);
    let code = code_at(&secret, app.state.clock.now());
    let r = sign_in_from(&app, "198.51.100.1", owner, PASSWORD, &code).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(
        count_where(
            &app,
            "SELECT COUNT(*) FROM audit_events WHERE action = $1",
            "staff.sign_in_failures_alert",
        )
        .await,
        1,
        "one warning per window"
    );
    let subject: String =
        sqlx::query_scalar("SELECT subject FROM mail_outbox WHERE recipient = $1")
            .bind(owner)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    assert!(subject.contains("Failed sign-ins"), "{subject}");
    // Addresses that are no account get no mail and no warning.
    for i in 0..35 {
        sign_in_from(
            &app,
            &format!("192.0.2.{}", i + 100),
            "nobody@vendor.test",
            "wrong password!",
            "123456",
        )
        .await;
    }
    assert_eq!(
        count_where(
            &app,
            "SELECT COUNT(*) FROM audit_events WHERE action = $1",
            "staff.sign_in_failures_alert",
        )
        .await,
        1
    );
    assert_eq!(
        count_where(
            &app,
            "SELECT COUNT(*) FROM mail_outbox WHERE recipient <> $1",
            owner
        )
        .await,
        0
    );
}

async fn successful_sign_ins_do_not_count_toward_the_failure_limit(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let owner = "owner@vendor.test";
    let link = create(&app, owner, "admin").await;
    let (_, secret) = complete(&app, &link).await;
    let ip = "198.51.100.1";
    for i in 0..9 {
        let r = sign_in_from(&app, ip, owner, "typo in my password", "123456").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{i}");
    }
    app.state.clock.advance(61_000);
    for i in 0..5 {
        next_step(&app);
        let code = code_at(&secret, app.state.clock.now());
        let r = sign_in_from(&app, ip, owner, PASSWORD, &code).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "success {i}: {}", r.text());
    }
    app.state.clock.advance(61_000);
    // The tenth failure is answered; the eleventh attempt after ten failures is refused.
    let r = sign_in_from(&app, ip, owner, "typo in my password", "123456").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    next_step(&app);
    let code = code_at(&secret, app.state.clock.now());
    let r = sign_in_from(&app, ip, owner, PASSWORD, &code).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

async fn portal_and_staff_sessions_are_separate(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    let portal_cookie = app.redeem(&app.create_link(&org, &["sso"]).await).await;
    let data = session_data(&app, &portal_cookie).await.unwrap();
    assert!(data.get("portal").is_some());
    assert!(
        data.get(STAFF_KEY).is_none(),
        "a portal grant is not a staff grant"
    );
    assert!(serde_json::from_value::<StaffGrant>(data["portal"].clone()).is_err());

    let link = create(&app, "dana@vendor.test", "viewer").await;
    let (_, secret) = complete(&app, &link).await;
    next_step(&app);
    // Signing in to the console from a browser that holds a portal session.
    let r = app
        .browser_post(
            "/console/signin",
            &form(&[
                ("email", "dana@vendor.test"),
                ("password", PASSWORD),
                ("code", &code_at(&secret, app.state.clock.now())),
            ]),
            Some(&portal_cookie),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let staff_cookie = r.session_cookie().unwrap();
    assert_ne!(staff_cookie, portal_cookie, "a new session id");
    let data = session_data(&app, &staff_cookie).await.unwrap();
    assert!(data.get(STAFF_KEY).is_some());
    assert!(
        data.get("portal").is_none(),
        "the staff session holds no portal grant"
    );
    assert!(
        session_data(&app, &portal_cookie).await.is_none(),
        "old id is gone"
    );
    assert_eq!(
        app.browser_get("/portal", Some(&staff_cookie)).await.status,
        StatusCode::UNAUTHORIZED,
        "a staff grant does not open the portal"
    );

    // Sign-out ends the staff session.
    let r = app
        .browser_post("/console/signout", "", Some(&staff_cookie))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.header("location").as_deref(),
        Some("/console/signin?signed_out=1")
    );
    assert!(session_data(&app, &staff_cookie).await.is_none());
    let r = app.browser_get("/console/signin?signed_out=1", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("signed out"));
    for field in ["email", "password", "code", "sign-in"] {
        assert!(
            r.text().contains(&format!(r#"data-testid="{field}""#)),
            "{field}"
        );
    }

    // Redeeming a portal link in a staff browser drops the staff grant.
    next_step(&app);
    let r = sign_in(
        &app,
        "dana@vendor.test",
        PASSWORD,
        &code_at(&secret, app.state.clock.now()),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let staff_cookie = r.session_cookie().unwrap();
    let r = app
        .browser_post(
            &app.create_link(&org, &["sso"]).await,
            "",
            Some(&staff_cookie),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let data = session_data(&app, &r.session_cookie().unwrap())
        .await
        .unwrap();
    assert!(data.get("portal").is_some());
    assert!(data.get(STAFF_KEY).is_none());
}

async fn staff_actions_are_audited_without_secrets(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let link = create(&app, "dana@vendor.test", "admin").await;
    let page = app.browser_get(&link, None).await.text();
    let secret = shown_secret(&page);
    let setup_code = code_at(&secret, app.state.clock.now());
    let r = app
        .browser_post(
            &link,
            &form(&[
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
                ("code", &setup_code),
            ]),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    next_step(&app);
    align_to_step_start(&app);
    let code = code_at(&secret, app.state.clock.now());
    assert_eq!(
        sign_in(&app, "dana@vendor.test", PASSWORD, &code)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    next_step(&app);
    let code2 = code_at(&secret, app.state.clock.now());
    let bad_password = "not the right password at all";
    assert_eq!(
        sign_in(&app, "dana@vendor.test", bad_password, &code2)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&app, "dana@vendor.test", PASSWORD, &code)
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "replay"
    );

    app.state.db.caught_up().await;
    let rows: Vec<(String, String, String, String, String, String)> = sqlx::query_as(
        "SELECT action, actor_type, actor_id, actor_name, targets, metadata FROM audit_events \
         WHERE chain_key = 'global' AND action LIKE 'staff.%' ORDER BY chain_seq",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        actions,
        [
            "staff.created",
            "staff.setup_completed",
            "staff.signed_in",
            "staff.sign_in_failed",
            "staff.sign_in_failed"
        ]
    );
    assert_eq!(rows[0].1, "operator");
    let staff_id = rows[1].2.clone();
    for r in &rows[1..3] {
        assert_eq!(r.1, "staff", "{}", r.0);
        assert!(r.2.starts_with("stf_"), "{}", r.0);
        assert_eq!(r.3, "dana@vendor.test");
        assert!(r.4.contains(&staff_id), "targets the account");
    }
    // A failed attempt is not known to be Dana: anonymous actor, her account as the target.
    for r in &rows[3..] {
        assert_eq!(r.1, "anonymous", "{}", r.0);
        assert_eq!(r.3, "dana@vendor.test");
        assert!(r.4.contains(&staff_id), "targets the account");
    }
    let reasons: Vec<Value> = rows[3..]
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.5).unwrap()["reason"].clone())
        .collect();
    assert_eq!(reasons, ["wrong_password", "replayed_code"]);

    // No secret anywhere in the trail.
    let all: Vec<(String, String, String)> =
        sqlx::query_as("SELECT actor_name, targets, metadata FROM audit_events")
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap();
    let dump = format!("{all:?}");
    for secret_text in [
        PASSWORD,
        bad_password,
        setup_code.as_str(),
        code.as_str(),
        code2.as_str(),
        secret.as_str(),
    ] {
        assert!(
            !dump.contains(secret_text),
            "{secret_text} leaked into the audit trail"
        );
    }
    app.state.db.caught_up().await;
    let mut conn = app.state.db.pool.acquire().await.unwrap();
    let report = lanyard::server::audit::verify_chain(&mut conn, "global")
        .await
        .unwrap();
    assert!(report.first_broken.is_none());
}

async fn accounts_are_unique_per_email_and_roles_are_checked(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let actor = Actor::operator();
    let ctx = RequestContext::default();
    create(&app, "dana@vendor.test", "viewer").await;
    let e = staff::create(&app.state, &actor, &ctx, "DANA@vendor.test", "admin")
        .await
        .unwrap_err();
    assert_eq!((e.status(), e.field()), (409, Some("email")));
    let e = staff::create(&app.state, &actor, &ctx, "sam@vendor.test", "owner")
        .await
        .unwrap_err();
    assert_eq!((e.status(), e.field()), (422, Some("role")));
    let e = staff::create(&app.state, &actor, &ctx, "not-an-email", "viewer")
        .await
        .unwrap_err();
    assert_eq!((e.status(), e.field()), (422, Some("email")));
    let e = staff::disable(&app.state, &actor, &ctx, "nobody@vendor.test")
        .await
        .unwrap_err();
    assert_eq!(e.status(), 404);
    let all = staff::list(&app.state).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        (
            all[0].email.as_str(),
            all[0].role.as_str(),
            all[0].state.as_str()
        ),
        ("dana@vendor.test", "viewer", "pending")
    );
}

crate::both_databases!(
    setup_link_shows_the_secret_and_uri_and_consumes_nothing,
    setup_refuses_bad_input_keeps_the_link_then_signs_in,
    unknown_expired_and_revoked_setup_links,
    two_concurrent_completions_exactly_one_succeeds,
    sign_in_needs_password_and_a_fresh_code_and_every_failure_looks_the_same,
    sign_in_is_rate_limited_per_address_and_per_address_and_account,
    a_strangers_failed_sign_ins_never_lock_the_owner_out,
    successful_sign_ins_do_not_count_toward_the_failure_limit,
    behind_a_trusted_proxy_every_client_keeps_its_own_address,
    without_trusted_proxies_the_proxy_is_every_clients_address,
    a_forwarded_for_header_from_an_untrusted_peer_changes_nothing,
    portal_and_staff_sessions_are_separate,
    staff_actions_are_audited_without_secrets,
    accounts_are_unique_per_email_and_roles_are_checked,
);

mod cli {
    use crate::helpers::lanyard_cli as lanyard;

    fn run(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
        let out = lanyard(dir).args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[test]
    fn staff_create_prints_the_setup_link_alone_on_the_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let (ok, out, err) = run(
            dir.path(),
            &[
                "staff",
                "create",
                "--email",
                "Ops@Vendor.test",
                "--role",
                "admin",
            ],
        );
        assert!(ok, "{err}");
        let last = out.lines().last().unwrap();
        assert!(
            last.starts_with("http://127.0.0.1:3000/console/setup/lanyard_staff_")
                && !last.contains(' '),
            "{out}"
        );
        assert!(out.lines().count() >= 2, "a human line first");

        let (ok, out, _) = run(
            dir.path(),
            &["staff", "create", "--email", "viewer@vendor.test"],
        );
        assert!(ok);
        let viewer_link = out.lines().last().unwrap().to_owned();

        let (ok, _, err) = run(
            dir.path(),
            &["staff", "create", "--email", "ops@vendor.test"],
        );
        assert!(!ok, "a second account with the same email is refused");
        assert!(err.contains("ops@vendor.test"), "{err}");
        let (ok, _, err) = run(
            dir.path(),
            &[
                "staff",
                "create",
                "--email",
                "x@vendor.test",
                "--role",
                "root",
            ],
        );
        assert!(!ok);
        assert!(err.contains("viewer or admin"), "{err}");

        let (ok, listed, _) = run(dir.path(), &["staff", "list"]);
        assert!(ok);
        assert!(
            listed.contains("ops@vendor.test\tadmin\tpending"),
            "{listed}"
        );
        assert!(
            listed.contains("viewer@vendor.test\tviewer\tpending"),
            "{listed}"
        );
        assert!(!listed.contains("lanyard_staff_"), "list never shows links");

        let (ok, out, err) = run(
            dir.path(),
            &["staff", "reset", "--email", "viewer@vendor.test"],
        );
        assert!(ok, "{err}");
        let new_link = out.lines().last().unwrap();
        assert!(new_link.contains("/console/setup/lanyard_staff_") && !new_link.contains(' '));
        assert_ne!(new_link, viewer_link);

        let (ok, _, err) = run(
            dir.path(),
            &["staff", "disable", "--email", "viewer@vendor.test"],
        );
        assert!(ok, "{err}");
        let (_, listed, _) = run(dir.path(), &["staff", "list"]);
        assert!(
            listed.contains("viewer@vendor.test\tviewer\tdisabled"),
            "{listed}"
        );

        let (ok, out, _) = run(dir.path(), &["audit", "verify"]);
        assert!(ok, "{out}");
        assert!(out.contains("ok\tglobal\t4 events"), "{out}");
    }
}
