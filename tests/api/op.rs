//! Starts the real OpenID Provider (`tests/support/oidc_provider.mjs`, npm oidc-provider) and
//! walks a browser's redirects through it with a cookie-keeping client.

use std::collections::HashMap;
use std::process::Child;

pub const CLIENT_ID: &str = "lanyard-test";
pub const CLIENT_SECRET: &str = "lanyard-test-secret-0123456789abcdef0123456789";

pub struct TestOp {
    pub issuer: String,
    child: Child,
}

impl TestOp {
    /// The certified OP (npm oidc-provider).
    pub fn start() -> TestOp {
        TestOp::start_script("oidc_provider.mjs")
    }

    /// The misbehaving OP (`tests/support/forged_op.mjs`).
    pub fn forged() -> TestOp {
        TestOp::start_script("forged_op.mjs")
    }

    /// Tells the forged OP how to (mis)sign the next ID tokens.
    pub async fn set_mode(&self, mode: &str) {
        reqwest::Client::new()
            .post(format!("{}/_test/mode", self.issuer))
            .body(serde_json::json!({ "mode": mode }).to_string())
            .send()
            .await
            .unwrap();
    }

    /// The certified OP, for a Lanyard served at `origin`.
    pub fn start_for(origin: &str) -> TestOp {
        TestOp::start_at("oidc_provider.mjs", origin)
    }

    fn start_script(name: &str) -> TestOp {
        TestOp::start_at(name, crate::helpers::ORIGIN)
    }

    fn start_at(name: &str, origin: &str) -> TestOp {
        let (child, port) = crate::helpers::spawn_node(
            name,
            &[
                ("OP_REDIRECT_URI", format!("{origin}/sso/oidc/callback")),
                ("OP_PORT", "0".into()),
            ],
        );
        TestOp {
            issuer: format!("http://127.0.0.1:{port}"),
            child,
        }
    }

    /// Sets who signs in next.
    pub async fn next_account(&self, claims: serde_json::Value) {
        reqwest::Client::new()
            .post(format!("{}/_test/account", self.issuer))
            .body(claims.to_string())
            .send()
            .await
            .unwrap();
    }

    /// Follows redirects from the IdP's authorization URL until the browser would return to
    /// Lanyard; returns that path and query.
    pub async fn browse_to_callback(&self, auth_url: &str) -> String {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut cookies: HashMap<String, String> = HashMap::new();
        let mut url = url::Url::parse(auth_url).unwrap();
        for _ in 0..10 {
            let cookie = cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let resp = client
                .get(url.clone())
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            for c in resp.headers().get_all("set-cookie") {
                let pair = c.to_str().unwrap().split(';').next().unwrap();
                if let Some((k, v)) = pair.split_once('=') {
                    cookies.insert(k.to_owned(), v.to_owned());
                }
            }
            let status = resp.status();
            let Some(loc) = resp
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned())
            else {
                panic!(
                    "OP stopped at {url} with {status}: {}",
                    resp.text().await.unwrap_or_default()
                );
            };
            let next = url.join(&loc).unwrap();
            if next.as_str().starts_with(crate::helpers::ORIGIN) {
                return next.as_str()[crate::helpers::ORIGIN.len()..].to_owned();
            }
            url = next;
        }
        panic!("too many redirects at the OP");
    }

    /// Plays the browser through the OP's RP-initiated logout (its confirmation form, answered
    /// "yes"); returns the Lanyard path the OP sends the browser back to.
    pub async fn browse_logout(&self, end_session_url: &str) -> String {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let resp = client.get(end_session_url).send().await.unwrap();
        let cookie: String = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|c| c.to_str().unwrap().split(';').next().map(str::to_owned))
            .collect::<Vec<_>>()
            .join("; ");
        let status = resp.status();
        let html = resp.text().await.unwrap();
        assert_eq!(status, 200, "the OP's logout confirmation: {html}");
        let action = html
            .split("action=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("no logout form: {html}"))
            .replace("&amp;", "&");
        let xsrf = html
            .split("name=\"xsrf\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("no xsrf in the logout form: {html}"));
        let to = url::Url::parse(end_session_url)
            .unwrap()
            .join(&action)
            .unwrap();
        let resp = client
            .post(to)
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("xsrf={xsrf}&logout=yes"))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let loc = resp
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("the OP did not redirect after logout ({status})"));
        loc.strip_prefix(crate::helpers::ORIGIN)
            .unwrap_or_else(|| panic!("the OP's logout went to {loc}"))
            .to_owned()
    }
}

impl Drop for TestOp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
