//! Lanyard's SAML SP against a second, independent IdP: PyPI pysaml2
//! (`tests/support/pysaml2_idp.py`; XML signatures and encryption by Debian's xmlsec1), beside
//! the npm samlify one. pysaml2 verifies Lanyard's signed AuthnRequests with the certificate in
//! Lanyard's SP metadata, and Lanyard accepts pysaml2's signed and encrypted responses and
//! refuses its wrong ones.

use std::process::Child;

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use serde_json::{json, Value};

use crate::helpers::{param, sign_in_app, verified_domain, Dialect, TestApp, VENDOR_CB};
use crate::saml::{exchange, foreign_sp_md, last_failure, location, sp_md};
use crate::saml_idp::{parse_form, post_form, Post};

/// The pysaml2 IdP (see the script for its endpoints and test hooks).
struct Pysaml2Idp {
    base: String,
    child: Child,
}

impl Pysaml2Idp {
    fn start() -> Pysaml2Idp {
        let (child, port) =
            crate::helpers::spawn_python("pysaml2_idp.py", &[("PYSAML2_IDP_PORT", "0".into())]);
        Pysaml2Idp {
            base: format!("http://127.0.0.1:{port}"),
            child,
        }
    }

    fn metadata_url(&self) -> String {
        format!("{}/metadata", self.base)
    }

    async fn post_json(&self, path: &str, body: Value) {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert!(
            status.is_success(),
            "IdP {path}: {status} {}",
            r.text().await.unwrap()
        );
    }

    /// As an admin uploading Lanyard's SP metadata into the IdP and choosing whether the IdP
    /// wants signed AuthnRequests; `other_sps` are the metadata of further SPs the IdP knows.
    async fn register_sp(&self, metadata: &str, want_signed: bool, other_sps: &[String]) {
        self.post_json(
            "/_test/sp",
            json!({"metadata": metadata, "want_authn_requests_signed": want_signed, "other_sps": other_sps}),
        )
        .await
    }

    /// `{sign, audience, encrypt}` (see the script).
    async fn set_mode(&self, mode: Value) {
        self.post_json("/_test/mode", mode).await
    }

    /// The IdP's status and body for a sign-in request URL.
    async fn try_login(&self, redirect: &str) -> (u16, String) {
        assert!(redirect.starts_with(&self.base), "{redirect}");
        let r = reqwest::get(redirect).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Opens the IdP URL Lanyard redirected to and returns the form pysaml2 answers with.
    async fn login(&self, redirect: &str) -> Post {
        let (status, html) = self.try_login(redirect).await;
        assert_eq!(status, 200, "{html}");
        parse_form(&html)
    }

    async fn post_to(&self, app: &TestApp, post: &Post) -> crate::helpers::TestResponse {
        post_form(app, &self.base, post).await
    }
}

impl Drop for Pysaml2Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An organization with the verified domain acme.test and an active SAML connection created
/// from pysaml2's metadata URL, changed by `saml` (a PATCH, as a vendor turns options on);
/// answers (org, connection JSON, Lanyard's SP metadata as an IdP downloads it).
async fn org_with_pysaml2(app: &TestApp, idp: &Pysaml2Idp, saml: Value) -> (String, Value, String) {
    let org = app.create_org("Acme").await;
    verified_domain(app, &org, "acme.test").await;
    let r = app
        .api(
            Method::POST,
            &format!("/api/v1/organizations/{org}/connections"),
            Some(json!({"type": "saml", "name": "pysaml2", "idp": "generic", "saml": {"idp_metadata_url": idp.metadata_url()}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    crate::helpers::activate_connection(app, &id).await;
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/connections/{id}"),
            Some(json!({ "saml": saml })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let conn = r.json();
    let md = sp_md(app, &id).await;
    (org, conn, md)
}

/// Where `/sso/authorize` sends the browser: pysaml2's SSO URL with Lanyard's AuthnRequest.
async fn redirect_to_idp(app: &TestApp, org: &str, state: &str) -> url::Url {
    let r = app
        .browser_get(
            &format!("/sso/authorize?organization={org}&redirect_uri={VENDOR_CB}&state={state}"),
            None,
        )
        .await;
    location(&r)
}

/// A whole SP-initiated sign-in: Lanyard → pysaml2 → Lanyard's ACS; answers where Lanyard sends
/// the browser back.
async fn sign_in(app: &TestApp, idp: &Pysaml2Idp, org: &str) -> url::Url {
    let to_idp = redirect_to_idp(app, org, "vendor-state").await;
    let post = idp.login(to_idp.as_str()).await;
    location(&idp.post_to(app, &post).await)
}

/// The profile Lanyard hands the vendor after a sign-in that must have succeeded.
async fn profile(app: &TestApp, back: &url::Url) -> Value {
    assert_eq!(
        param(back, "state").as_deref(),
        Some("vendor-state"),
        "{back}"
    );
    let code = param(back, "code").unwrap_or_else(|| panic!("no code: {back}"));
    exchange(app, &code).await["profile"].clone()
}

/// The refusal reason of a sign-in that must have failed.
async fn refused(app: &TestApp, org: &str, back: &url::Url) -> Value {
    assert!(param(back, "code").is_none(), "{back}");
    assert_eq!(param(back, "error").as_deref(), Some("access_denied"));
    last_failure(app, org).await["metadata"]["reason"].clone()
}

/// `url` with the value of query parameter `name` passed through `change` (decoded, then
/// encoded again as Lanyard encodes it); the other parameters keep their exact bytes.
fn with_param(url: &url::Url, name: &str, change: impl Fn(&str) -> String) -> String {
    let query = url.query().unwrap();
    let parts: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, v)) if k == name => {
                let value: String = url::form_urlencoded::parse(format!("v={v}").as_bytes())
                    .next()
                    .unwrap()
                    .1
                    .into_owned();
                let changed = change(&value);
                assert_ne!(changed, value);
                format!(
                    "{k}={}",
                    url::form_urlencoded::byte_serialize(changed.as_bytes()).collect::<String>()
                )
            }
            _ => p.to_owned(),
        })
        .collect();
    let mut out = url.clone();
    out.set_query(Some(&parts.join("&")));
    out.to_string()
}

/// The same AuthnRequest with `ForceAuthn="true"` added (re-deflated, re-encoded): a change
/// only the signature can notice.
fn force_authn(saml_request: &str) -> String {
    use std::io::{Read as _, Write as _};
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&b64.decode(saml_request).unwrap()[..])
        .read_to_string(&mut xml)
        .unwrap();
    assert!(!xml.contains("ForceAuthn"), "{xml}");
    let changed = xml.replacen(r#"Version="2.0""#, r#"Version="2.0" ForceAuthn="true""#, 1);
    assert_ne!(changed, xml);
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(changed.as_bytes()).unwrap();
    b64.encode(enc.finish().unwrap())
}

/// One bit of the RSA signature value flipped.
fn flip_signature_bit(signature: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut sig = b64.decode(signature).unwrap();
    sig[17] ^= 0x01;
    b64.encode(sig)
}

fn decoded(post: &Post) -> String {
    let xml = base64::engine::general_purpose::STANDARD
        .decode(&post.saml_response)
        .unwrap();
    String::from_utf8(xml).unwrap()
}

/// pysaml2, given Lanyard's SP metadata and set to want signed AuthnRequests, verifies
/// Lanyard's HTTP-Redirect signature (RSA-SHA256 over the query) with the certificate that
/// metadata publishes: the request as sent is accepted and the person signs in; the same
/// request with its SAMLRequest changed or one bit of its Signature flipped is refused, and so
/// is an unsigned request once the connection stops signing.
async fn pysaml2_verifies_lanyards_signed_authn_requests(d: Dialect) {
    let (app, idp) = (sign_in_app(d).await, Pysaml2Idp::start());
    let (org, conn, md) = org_with_pysaml2(&app, &idp, json!({"sign_authn_requests": true})).await;
    let id = conn["id"].as_str().unwrap().to_owned();
    assert!(md.contains(r#"AuthnRequestsSigned="true""#), "{md}");
    assert!(md.contains(r#"<md:KeyDescriptor use="signing">"#), "{md}");
    idp.register_sp(&md, true, &[]).await;

    let to_idp = redirect_to_idp(&app, &org, "s1").await;
    let q: std::collections::HashMap<String, String> = to_idp.query_pairs().into_owned().collect();
    assert_eq!(
        q["SigAlg"],
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    );
    // Changed on the way: pysaml2 refuses before it builds any response.
    for (what, tampered) in [
        (
            "SAMLRequest",
            with_param(&to_idp, "SAMLRequest", force_authn),
        ),
        (
            "Signature",
            with_param(&to_idp, "Signature", flip_signature_bit),
        ),
    ] {
        let (status, text) = idp.try_login(&tampered).await;
        assert_eq!(status, 403, "{what}: {text}");
        assert!(text.contains("IncorrectlySigned"), "{what}: {text}");
    }
    // As sent: pysaml2 verifies it and the person signs in.
    let post = idp.login(to_idp.as_str()).await;
    assert_eq!(
        post.action,
        format!("{}/sso/saml/{id}/acs", crate::helpers::ORIGIN)
    );
    let back = location(&idp.post_to(&app, &post).await);
    assert_eq!(param(&back, "state").as_deref(), Some("s1"), "{back}");
    let code = param(&back, "code").unwrap_or_else(|| panic!("no code: {back}"));
    let j = exchange(&app, &code).await;
    assert_eq!(j["profile"]["email"], "dana@acme.test");
    assert_eq!(j["profile"]["connection_id"], id.as_str());

    // Signing off: Lanyard's requests go unsigned, and pysaml2 (still wanting them signed)
    // refuses them.
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v1/connections/{id}"),
            Some(json!({"saml": {"sign_authn_requests": false}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let to_idp = redirect_to_idp(&app, &org, "s2").await;
    assert!(!to_idp.as_str().contains("Signature="), "{to_idp}");
    let (status, text) = idp.try_login(to_idp.as_str()).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("IncorrectlySigned"), "{text}");
}

/// Lanyard accepts pysaml2's responses signed on the assertion, on the Response, or both, and
/// refuses a correctly signed one issued for another audience.
async fn lanyard_accepts_pysaml2_signed_responses_for_its_audience_only(d: Dialect) {
    let (app, idp) = (sign_in_app(d).await, Pysaml2Idp::start());
    let (org, conn, md) = org_with_pysaml2(&app, &idp, json!({})).await;
    // The IdP also serves another SP (urn:someone-else), as IdPs do.
    idp.register_sp(&md, false, &[foreign_sp_md()]).await;
    for sign in ["assertion", "response", "both"] {
        idp.set_mode(json!({ "sign": sign })).await;
        let p = profile(&app, &sign_in(&app, &idp, &org).await).await;
        assert_eq!(p["email"], "dana@acme.test", "{sign}");
        assert_eq!(p["first_name"], "Dana", "{sign}");
        assert_eq!(p["last_name"], "Lee", "{sign}");
        assert_eq!(p["idp_subject"], "dana@acme.test", "{sign}");
        assert_eq!(p["groups"], json!(["Engineering"]), "{sign}");
        assert_eq!(p["raw_attributes"]["signed"], sign);
        assert_eq!(p["raw_attributes"]["encrypted"], false, "{sign}");
    }
    // The same IdP, signed the same way, for the other SP but posted to Lanyard's ACS (an
    // admin's mix-up, or a response for another SP replayed here).
    idp.set_mode(json!({"sign": "both", "audience": "urn:someone-else"}))
        .await;
    let to_idp = redirect_to_idp(&app, &org, "vendor-state").await;
    let post = idp.login(to_idp.as_str()).await;
    let xml = decoded(&post);
    assert!(
        xml.contains(">urn:someone-else</")
            && !xml.contains(conn["sp"]["entity_id"].as_str().unwrap()),
        "{xml}"
    );
    let back = location(&idp.post_to(&app, &post).await);
    assert_eq!(refused(&app, &org, &back).await, "audience_mismatch");
}

/// With `saml.require_encrypted_assertions`, Lanyard publishes an encryption certificate in its
/// SP metadata; pysaml2 (`encrypt_assertion=True`) encrypts to it with RSA-OAEP, the assertion
/// signed inside the encryption and, in `both`, the Response signed outside over the
/// ciphertext; Lanyard decrypts and signs the person in. pysaml2's own content algorithm
/// (Triple DES, which it offers no setting to change) is refused by name, and an assertion
/// encrypted to a certificate that is not Lanyard's does not open.
async fn lanyard_decrypts_pysaml2_encrypted_assertions(d: Dialect) {
    let (app, idp) = (sign_in_app(d).await, Pysaml2Idp::start());
    let (org, conn, md) =
        org_with_pysaml2(&app, &idp, json!({"require_encrypted_assertions": true})).await;
    let certs = conn["sp"]["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 1, "{conn}");
    assert_eq!(certs[0]["use"], "encryption");
    let key_id = certs[0]["id"].as_str().unwrap().to_owned();
    assert!(
        md.contains(r#"<md:KeyDescriptor use="encryption">"#),
        "{md}"
    );
    idp.register_sp(&md, false, &[]).await;

    for (data, sign) in [
        ("aes256-cbc", "assertion"),
        ("aes128-cbc", "both"),
        ("aes256-gcm", "both"),
        ("aes128-gcm", "assertion"),
    ] {
        idp.set_mode(json!({"sign": sign, "encrypt": {"data": data}}))
            .await;
        let to_idp = redirect_to_idp(&app, &org, "vendor-state").await;
        let post = idp.login(to_idp.as_str()).await;
        let xml = decoded(&post);
        assert!(
            xml.contains("EncryptedAssertion") && !xml.contains("dana@acme.test"),
            "{data}/{sign}: {xml}"
        );
        assert!(xml.contains(&format!("#{data}\"")), "{data}: {xml}");
        // The assertion's signature is inside the ciphertext; only a Response signature shows.
        assert_eq!(
            xml.contains("SignatureValue"),
            sign == "both",
            "{sign}: {xml}"
        );
        let p = profile(&app, &location(&idp.post_to(&app, &post).await)).await;
        assert_eq!(p["email"], "dana@acme.test", "{data}/{sign}");
        assert_eq!(p["raw_attributes"]["encrypted"], true, "{data}/{sign}");
        assert_eq!(p["raw_attributes"]["decryption_key"], key_id.as_str());
        assert_eq!(p["raw_attributes"]["signed"], sign, "{data}");
    }

    // pysaml2 as it comes: Triple DES content encryption, refused with its name.
    idp.set_mode(json!({"encrypt": {"data": "tripledes-cbc"}}))
        .await;
    let back = sign_in(&app, &idp, &org).await;
    assert_eq!(refused(&app, &org, &back).await, "encryption_algorithm");
    let failure = last_failure(&app, &org).await;
    assert!(
        failure.to_string().contains("tripledes-cbc"),
        "the evidence names the algorithm: {failure}"
    );

    // Encrypted, and signed inside and out, but to another certificate.
    idp.set_mode(json!({"sign": "both", "encrypt": {"data": "aes256-gcm", "cert": "other"}}))
        .await;
    let back = sign_in(&app, &idp, &org).await;
    assert_eq!(refused(&app, &org, &back).await, "decryption_failed");
}

/// Single logout both ways with pysaml2: it verifies Lanyard's signed LogoutRequest (and refuses
/// one whose signature was changed) and answers with its LogoutResponse; Lanyard verifies
/// pysaml2's signed LogoutRequests (HTTP-Redirect and HTTP-POST) and answers with its signed
/// LogoutResponse, which pysaml2 parses.
async fn pysaml2_and_lanyard_log_each_other_out(d: Dialect) {
    use crate::single_logout::{idp_get, lanyard_get, logouts, post_logout_form, vendor_logout};
    let app = sign_in_app(d).await;
    let idp = Pysaml2Idp::start();
    let (org, conn, md) = org_with_pysaml2(
        &app,
        &idp,
        json!({"single_logout": true, "sign_authn_requests": true}),
    )
    .await;
    let id = conn["id"].as_str().unwrap();
    let slo = format!("{}/sso/saml/{id}/slo", crate::helpers::ORIGIN);
    assert_eq!(
        conn["saml"]["idp_slo_url"],
        format!("{}/slo", idp.base),
        "from pysaml2's metadata"
    );
    // pysaml2 applies want_authn_requests_signed to logout requests too.
    idp.register_sp(&md, true, &[]).await;
    let last_logout = || async {
        let (status, _, body) = idp_get(&format!("{}/_test/last_logout", idp.base)).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()
    };
    let profile = |back: url::Url| {
        let app = &app;
        async move { exchange(app, &param(&back, "code").expect("code")).await["profile"].clone() }
    };

    // SP-initiated.
    let p1 = profile(sign_in(&app, &idp, &org).await).await;
    let s1 = p1["session_id"].as_str().unwrap().to_owned();
    let start = vendor_logout(&app, &s1).await;
    let url = start["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/slo?SAMLRequest=", idp.base)),
        "{url}"
    );
    let forged = url.replace("&Signature=", "&Signature=AAAA");
    let (status, _, body) = idp_get(&forged).await;
    assert_eq!(
        status, 403,
        "pysaml2 refuses a LogoutRequest whose signature does not verify: {body}"
    );
    let (status, back, body) = idp_get(url).await;
    assert_eq!(status, 302, "{body}");
    let req = last_logout().await["request"].clone();
    assert_eq!(req["name_id"], "dana@acme.test");
    assert_eq!(
        req["session_index"],
        json!([p1["raw_attributes"]["session_index"]])
    );
    let back = back.unwrap();
    assert!(back.starts_with(&format!("{slo}?SAMLResponse=")), "{back}");
    assert_eq!(
        location(&lanyard_get(&app, &back).await).as_str(),
        VENDOR_CB
    );

    // IdP-initiated by HTTP-Redirect, naming session 2; session 3 stays.
    let p2 = profile(sign_in(&app, &idp, &org).await).await;
    let p3 = profile(sign_in(&app, &idp, &org).await).await;
    let index2 = p2["raw_attributes"]["session_index"].as_str().unwrap();
    let (status, to_lanyard, body) = idp_get(&format!(
        "{}/_test/logout?name_id=dana%40acme.test&session_index={index2}&relay_state=py-rs",
        idp.base
    ))
    .await;
    assert_eq!(status, 302, "{body}");
    let to_lanyard = to_lanyard.unwrap();
    assert!(
        to_lanyard.starts_with(&format!("{slo}?SAMLRequest=")),
        "{to_lanyard}"
    );
    let r = lanyard_get(
        &app,
        &to_lanyard.replace("RelayState=py-rs", "RelayState=py-rt"),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "a changed query does not verify"
    );
    let to_idp = location(&lanyard_get(&app, &to_lanyard).await);
    let (status, _, body) = idp_get(to_idp.as_str()).await;
    assert_eq!(
        status, 200,
        "pysaml2 takes Lanyard's LogoutResponse: {body}"
    );
    let resp = last_logout().await["response"].clone();
    assert_eq!(resp["status"], "urn:oasis:names:tc:SAML:2.0:status:Success");
    assert_eq!(resp["issuer"], conn["sp"]["entity_id"]);
    let ended = logouts(&app, &org).await;
    assert_eq!(
        ended,
        vec![
            (s1.clone(), "vendor".to_owned()),
            (
                p2["session_id"].as_str().unwrap().to_owned(),
                "idp".to_owned()
            )
        ]
    );

    // IdP-initiated by HTTP-POST (enveloped signature by xmlsec1), no SessionIndex.
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
        &(
            p3["session_id"].as_str().unwrap().to_owned(),
            "idp".to_owned()
        )
    );
}

/// HTTP-POST binding: pysaml2 (xmlsec1) verifies the enveloped signature of Lanyard's
/// AuthnRequest and refuses one changed after signing.
async fn pysaml2_verifies_lanyards_post_binding_requests(d: Dialect) {
    use crate::saml_idp::{post_binding, post_to_idp, tampered};
    let app = sign_in_app(d).await;
    let idp = Pysaml2Idp::start();
    let (org, _, md) = org_with_pysaml2(
        &app,
        &idp,
        json!({"sign_authn_requests": true, "authn_request_binding": "post"}),
    )
    .await;
    idp.register_sp(&md, true, &[]).await;
    let r = app
        .browser_get(
            &format!("/sso/authorize?organization={org}&redirect_uri={VENDOR_CB}&state=st"),
            None,
        )
        .await;
    let p = post_binding(&r, &idp.base);
    let (status, body) = post_to_idp(&p.action, &tampered(&p)).await;
    assert_eq!(status, 403, "pysaml2 refuses a changed request: {body}");
    assert!(body.contains("IncorrectlySigned"), "{body}");
    let (status, html) = post_to_idp(&p.action, &p.fields).await;
    assert_eq!(status, 200, "{html}");
    let back = location(&idp.post_to(&app, &parse_form(&html)).await);
    assert_eq!(
        exchange(&app, &param(&back, "code").unwrap()).await["profile"]["email"],
        "dana@acme.test"
    );
}

crate::both_databases!(
    pysaml2_verifies_lanyards_post_binding_requests,
    pysaml2_and_lanyard_log_each_other_out,
    pysaml2_verifies_lanyards_signed_authn_requests,
    lanyard_accepts_pysaml2_signed_responses_for_its_audience_only,
    lanyard_decrypts_pysaml2_encrypted_assertions,
);
