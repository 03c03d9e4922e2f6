//! The support console's server functions and pages as a browser sees them: client errors are
//! 4xx, and names are shown with their invisible characters made visible.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::staff::staff_cookie;
use crate::helpers::{Dialect, TestApp};

/// The text of the first element carrying `data-testid="{testid}"`.
fn element_text(html: &str, testid: &str) -> String {
    let marker = format!(r#"data-testid="{testid}""#);
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("{testid} not in {html}"));
    let start = at + html[at..].find('>').unwrap() + 1;
    let len = html[start..].find('<').unwrap();
    html[start..start + len].to_owned()
}

async fn console_server_functions_answer_client_errors_with_4xx(d: Dialect) {
    let app = TestApp::spawn(d).await;
    let org = app.create_org("Acme").await;
    // Signed out.
    let r = app
        .browser_post("/console/api/tenants", "search=&status=", None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    assert!(r.text().contains("SignedOut"), "{}", r.text());
    // A viewer may not act.
    let viewer = staff_cookie(&app, "vic@vendor.test", "viewer").await;
    let form = format!("link[organization_id]={org}&link[sso]=on");
    let r = app
        .browser_post("/console/api/create_link", &form, Some(&viewer))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("NotInScope"), "{}", r.text());
    // Invalid input from an admin.
    let admin = staff_cookie(&app, "ada@vendor.test", "admin").await;
    let r = app
        .browser_post(
            "/console/api/create_link",
            &format!("{form}&link[admin_email]=not-an-address"),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(r.text().contains("Invalid"), "{}", r.text());
    let r = app
        .browser_post("/console/api/create_link", &form, Some(&admin))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .browser_post("/console/api/tenant", "id=org_nope", Some(&admin))
        .await;
    assert!(r.status.is_client_error(), "{} {}", r.status, r.text());
}

async fn the_console_shows_invisible_characters_in_names(d: Dialect) {
    let app = TestApp::spawn(d).await;
    // Shown raw, "Acme\u{202E}nimda" reads as "Acmeadmin"; the zero-width space hides in "ad min".
    let r = app
        .api(
            Method::POST,
            "/api/v1/organizations",
            Some(json!({"name": "Acme\u{202E}nimda ad\u{200B}min"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let org = r.json()["id"].as_str().unwrap().to_owned();
    let staff = staff_cookie(&app, "vic@vendor.test", "viewer").await;
    let shown = "Acme&lt;U+202E&gt;nimda ad&lt;U+200B&gt;min";

    let r = app
        .browser_get(&format!("/console/organizations/{org}"), Some(&staff))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(element_text(&r.text(), "tenant-name"), shown);

    let r = app.browser_get("/console", Some(&staff)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(element_text(&r.text(), "tenant-link"), shown);

    // Only the display changes: the stored name and the API keep what the vendor sent.
    let r = app
        .api(Method::GET, &format!("/api/v1/organizations/{org}"), None)
        .await;
    assert_eq!(r.json()["name"], "Acme\u{202E}nimda ad\u{200B}min");
}

crate::both_databases!(
    console_server_functions_answer_client_errors_with_4xx,
    the_console_shows_invisible_characters_in_names,
);
