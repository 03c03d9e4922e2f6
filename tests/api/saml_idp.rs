//! Starts the real SAML IdP (`tests/support/saml_idp.mjs`, npm samlify / xml-crypto) and plays
//! the browser between it and Lanyard: follow the redirect to the IdP, read its auto-posting
//! form, post it cross-site to the ACS.

use std::process::Child;

use axum::body::Body;
use axum::http::{header, Method, Request};

use crate::helpers::{TestApp, TestResponse};

pub struct TestIdp {
    pub base: String,
    child: Child,
}

/// What the IdP's page would post to the ACS.
#[derive(Debug, Clone)]
pub struct Post {
    pub action: String,
    pub saml_response: String,
    pub relay_state: Option<String>,
}

fn attr(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let v = tag.split("value=\"").nth(1)?.split('"').next()?;
    Some(unescape(v))
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Reads an IdP's auto-posting page: the form's action, SAMLResponse and RelayState.
pub fn parse_form(html: &str) -> Post {
    let action = html
        .split("action=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .map(unescape)
        .unwrap_or_else(|| panic!("no form in the IdP page: {html}"));
    Post {
        action,
        saml_response: attr(html, "SAMLResponse").expect("SAMLResponse"),
        relay_state: attr(html, "RelayState"),
    }
}

impl TestIdp {
    pub fn start() -> TestIdp {
        let (child, port) =
            crate::helpers::spawn_node("saml_idp.mjs", &[("SAML_IDP_PORT", "0".into())]);
        TestIdp {
            base: format!("http://127.0.0.1:{port}"),
            child,
        }
    }

    pub fn entity_id(&self) -> String {
        format!("{}/metadata", self.base)
    }

    pub async fn metadata(&self) -> String {
        reqwest::get(self.entity_id())
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn post_json(&self, path: &str, body: serde_json::Value) {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "IdP {path}: {}", r.status());
    }

    /// Sets who signs in next (see the script for the fields).
    pub async fn set_user(&self, user: serde_json::Value) {
        self.post_json("/_test/user", user).await
    }

    /// `{sign, key, algorithm, encrypt}` (see the script).
    pub async fn set_mode(&self, mode: serde_json::Value) {
        self.post_json("/_test/mode", mode).await
    }

    /// What the IdP's metadata publishes: `{keys: [idp|other…], status, entity_id}` (see the
    /// script); `{}` restores the default.
    pub async fn publish(&self, metadata: serde_json::Value) {
        self.post_json("/_test/metadata", metadata).await
    }

    /// Uploads the SP's metadata into the IdP (or clears it with `None`): from then on the IdP
    /// wants AuthnRequests signed with that metadata's signing certificate when it says
    /// AuthnRequestsSigned="true", and encrypts to its encryption certificate in an `encrypt`
    /// mode. Answers the IdP's status.
    pub async fn register_sp(&self, metadata: Option<&str>) -> u16 {
        reqwest::Client::new()
            .post(format!("{}/_test/sp", self.base))
            .header("content-type", "application/json")
            .body(serde_json::json!({ "metadata": metadata }).to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// The IdP's status and body for a sign-in request URL (without following its form).
    pub async fn try_login(&self, redirect: &str) -> (u16, String) {
        let r = reqwest::get(redirect).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Opens the IdP URL Lanyard redirected to and returns the form the IdP answers with.
    pub async fn login(&self, redirect: &str) -> Post {
        assert!(redirect.starts_with(&self.base), "{redirect}");
        let html = reqwest::get(redirect).await.unwrap().text().await.unwrap();
        parse_form(&html)
    }

    /// An IdP-initiated response for Lanyard's ACS.
    pub async fn unsolicited(&self, acs: &str, audience: &str, relay_state: Option<&str>) -> Post {
        let mut u = url::Url::parse(&format!("{}/idp-initiated", self.base)).unwrap();
        u.query_pairs_mut()
            .append_pair("acs", acs)
            .append_pair("audience", audience);
        if let Some(r) = relay_state {
            u.query_pairs_mut().append_pair("relay_state", r);
        }
        let html = reqwest::get(u).await.unwrap().text().await.unwrap();
        parse_form(&html)
    }

    /// Posts the form to Lanyard as the browser would: cross-site, no Lanyard cookie.
    pub async fn post_to(&self, app: &TestApp, post: &Post) -> TestResponse {
        post_form(app, &self.base, post).await
    }
}

/// Posts an IdP's form to Lanyard as the browser would: cross-site from `idp_origin`, no
/// Lanyard cookie.
pub async fn post_form(app: &TestApp, idp_origin: &str, post: &Post) -> TestResponse {
    let path = post
        .action
        .strip_prefix(crate::helpers::ORIGIN)
        .unwrap_or_else(|| panic!("ACS is not Lanyard's: {}", post.action))
        .to_owned();
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("SAMLResponse", &post.saml_response);
    if let Some(r) = &post.relay_state {
        form.append_pair("RelayState", r);
    }
    let req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::ORIGIN, idp_origin)
        .header("sec-fetch-site", "same-site")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.finish()))
        .unwrap();
    app.send(req).await
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lanyard's HTTP-POST binding page: the form's action and its fields, and the decoded
/// AuthnRequest it carries.
pub struct PostBinding {
    pub action: String,
    pub fields: Vec<(String, String)>,
    pub request_xml: String,
}

/// Reads Lanyard's HTTP-POST binding page (`Next::Post`): checks that the CSP lets the form go
/// to the IdP's origin and to nowhere else.
pub fn post_binding(r: &TestResponse, idp_origin: &str) -> PostBinding {
    use base64::Engine as _;
    assert_eq!(r.status, axum::http::StatusCode::OK, "{}", r.text());
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.contains(&format!("form-action 'self' {idp_origin};")),
        "{csp}"
    );
    let html = r.text();
    let action = html
        .split("action=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .map(unescape)
        .expect("a form");
    let fields: Vec<(String, String)> = ["SAMLRequest", "RelayState"]
        .iter()
        .map(|k| ((*k).to_owned(), attr(&html, k).expect(k)))
        .collect();
    let request_xml = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(&fields[0].1)
            .unwrap(),
    )
    .unwrap();
    PostBinding {
        action,
        fields,
        request_xml,
    }
}

/// Posts a form to an IdP (as the browser submits Lanyard's HTTP-POST binding page); answers
/// the IdP's status and page.
pub async fn post_to_idp(action: &str, fields: &[(String, String)]) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(action)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields)
                .finish(),
        )
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The same fields with the AuthnRequest changed after signing in a way only the signature
/// notices (it now asks for a fresh authentication).
pub fn tampered(p: &PostBinding) -> Vec<(String, String)> {
    use base64::Engine as _;
    let xml = p.request_xml.replacen(
        r#" Version="2.0""#,
        r#" Version="2.0" ForceAuthn="true""#,
        1,
    );
    assert_ne!(xml, p.request_xml);
    let mut f = p.fields.clone();
    f[0].1 = base64::engine::general_purpose::STANDARD.encode(xml);
    f
}
