//! The SAML parts of `/portal/sso`: the values to copy into the IdP, per-IdP steps, the IdP's
//! certificates with their expiry and attribute mapping.

use leptos::form::ActionForm;
use leptos::prelude::*;

use crate::api::sso::{
    SamlCertificate, SamlFederation, SamlInfo, SaveAttributeMapping, UpdateSamlConnection,
    UploadSpKey,
};
use crate::app::components::{CopyField, LocalTime};

const INPUT: &str = "mt-1 block w-full rounded-lg border border-slate-300 px-3 py-2";

/// The SP values and the IdP's side of a SAML connection, with certificate management.
#[component]
pub fn SamlDetails(
    id: String,
    name: String,
    idp: String,
    s: SamlInfo,
    update: ServerAction<UpdateSamlConnection>,
    federation: ServerAction<SamlFederation>,
    upload: ServerAction<UploadSpKey>,
    certs: ServerAction<SamlCertificate>,
    mapping: ServerAction<SaveAttributeMapping>,
) -> impl IntoView {
    let steps = super::guides::guide(&idp, crate::domain::connection::ConnectionKind::Saml)
        .create
        .iter()
        .map(|t| view! { <li>{*t}</li> })
        .collect_view();
    let cert_rows = s
        .certificates
        .iter()
        .map(|c| {
            let warn = c.expires_in_days <= 30;
            let cls = if warn { "text-rose-700 font-medium" } else { "text-slate-600" };
            let expiry = if c.expires_in_days < 0 {
                format!("expired {}", c.not_after)
            } else {
                format!("expires {} (in {} days)", c.not_after, c.expires_in_days)
            };
            let (cid, cert_id) = (id.clone(), c.id.clone());
            view! {
                <li class="rounded-lg border border-slate-200 p-3" data-testid="saml-certificate">
                    <p class="break-all font-mono text-xs">{c.fingerprint.clone()}</p>
                    <p class="text-xs text-slate-600">{c.subject.clone()}</p>
                    <p class=format!("text-xs {cls}") data-testid="certificate-expiry">{expiry}</p>
                    {c.retires_at.clone().map(|t| view! {
                        <p class="text-xs font-medium text-amber-800" data-testid="certificate-retiring">"No longer in the IdP's metadata: trusted until "<LocalTime utc=t />", then removed"</p>
                    })}
                    <ActionForm action=certs attr:class="mt-1">
                        <input type="hidden" name="id" value=cid />
                        <input type="hidden" name="remove" value=cert_id />
                        <button type="submit" class="text-xs text-rose-700 underline">"Remove this certificate"</button>
                    </ActionForm>
                </li>
            }
        })
        .collect_view();
    let [m_email, m_first, m_last, m_groups] = s.mapping.clone();
    let (id_u, id_c, id_m, id_f, id_k) =
        (id.clone(), id.clone(), id.clone(), id.clone(), id.clone());
    let metadata_href = s.metadata_url.clone();
    view! {
        <div class="mt-4 space-y-3 text-sm" data-testid="saml-details">
            <h3 class="font-medium">"Copy these values into your identity provider"</h3>
            <CopyField label="ACS URL (Single sign-on URL, Reply URL)" value=s.acs_url.clone() testid="saml-acs-url" />
            <CopyField label="SP entity ID (Audience URI, Identifier)" value=s.sp_entity_id.clone() testid="saml-entity-id" />
            <CopyField label="Name ID format" value="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".to_owned() testid="saml-nameid" />
            <p class="text-slate-600">"Attributes to send: email, firstName, lastName, groups (Entra and ADFS claim URIs are read too)."</p>
            <p><a href=metadata_href rel="external" download="lanyard-sp-metadata.xml" class="text-indigo-700 underline" data-testid="sp-metadata">"Download SP metadata XML"</a></p>
            <ol class="list-decimal space-y-1 pl-6 text-slate-600">{steps}</ol>
            <h3 class="pt-2 font-medium">"Your identity provider"</h3>
            <dl class="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1 text-slate-700">
                <dt>"Entity ID"</dt><dd class="break-all" data-testid="idp-entity-id">{s.idp_entity_id.clone()}</dd>
                <dt>"SSO URL"</dt><dd class="break-all">{s.idp_sso_url.clone()}</dd>
                <dt>"Metadata URL"</dt><dd class="break-all">{s.idp_metadata_url.clone().unwrap_or_else(|| "— (uploaded or entered by hand)".into())}</dd>
                {s.metadata_refresh.clone().map(|r| {
                    let id_r = id.clone();
                    view! {
                        <dt>"Metadata refresh"</dt>
                        <dd data-testid="metadata-refresh">
                            <span>"Daily: new IdP certificates are added, dropped ones removed after a day. "</span>
                            {match r.refreshed_at.clone() {
                                Some(t) => view! { <span>"Last refreshed "<LocalTime utc=t />"."</span> }.into_any(),
                                None => view! { <span>"Not refreshed yet."</span> }.into_any(),
                            }}
                            {r.error.clone().map(|e| view! {
                                <span class="block font-medium text-rose-800" data-testid="metadata-refresh-error">"The last refresh failed, nothing was changed: "{e}</span>
                            })}
                            <ActionForm action=certs attr:class="mt-1">
                                <input type="hidden" name="id" value=id_r />
                                <input type="hidden" name="refresh" value="1" />
                                <button type="submit" class="text-xs text-indigo-700 underline" data-testid="refresh-metadata">"Refresh now"</button>
                            </ActionForm>
                        </dd>
                    }
                })}
                <dt>"IdP-initiated sign-in"</dt><dd>{if s.allow_idp_initiated { "allowed" } else { "off (sign-ins start from the application)" }}</dd>
                <dt>"Signed requests"</dt><dd data-testid="sign-requests">{if s.sign_authn_requests { "on: Lanyard signs its AuthnRequests (RSA-SHA256)" } else { "off" }}</dd>
                <dt>"Encrypted assertions"</dt><dd data-testid="require-encryption">{if s.require_encrypted_assertions { "required: plain assertions are refused" } else { "accepted when the IdP encrypts to Lanyard's certificate, not required" }}</dd>
                <dt>"Signed assertions"</dt><dd data-testid="want-assertions-signed">{if s.want_assertions_signed { "required: the assertion itself must carry the IdP's signature" } else { "a signature on the response or the assertion is enough" }}</dd>
                <dt>"Request binding"</dt><dd data-testid="request-binding">{if s.authn_request_binding == "post" { "HTTP-POST (an automatic form post to the IdP)" } else { "HTTP-Redirect" }}</dd>
                <dt>"Single logout"</dt><dd data-testid="single-logout">{if s.single_logout {
                    match s.idp_slo_url.clone() {
                        Some(u) => format!("on: the IdP's logout requests end sign-in sessions; the application's logouts go to {u}"),
                        None => "on: the IdP's logout requests end sign-in sessions (the IdP names no logout URL, so the application's logouts end here)".to_owned(),
                    }
                } else { "off".to_owned() }}</dd>
            </dl>
            {s.slo_url.clone().map(|u| view! {
                <CopyField label="Single logout URL (SingleLogoutService, Logout URL)" value=u testid="saml-slo-url" />
            })}
            {s.sp_certificates.clone().into_iter().map(|c| {
                let (testid, title, hint) = if c.key_use == "encryption" {
                    ("sp-encryption-certificate", "Lanyard's encryption certificate (PEM)", "Upload it where your IdP asks for the encryption certificate (Entra: Token encryption; ADFS: Encryption tab; Okta: Assertion Encryption); it is also in the SP metadata.")
                } else {
                    ("sp-certificate", "Lanyard's signing certificate (PEM)", "Upload it where your IdP asks for the SP's request-signing certificate; it is also in the SP metadata.")
                };
                view! {
                    <div data-testid=testid>
                        <label class="block">
                            <span class="block text-xs font-medium uppercase tracking-wide text-slate-600">{title}</span>
                            <span class="block text-slate-600">{hint}</span>
                            <textarea readonly rows="6" class="mt-1 w-full rounded-lg border border-slate-300 bg-slate-50 px-3 py-2 font-mono text-xs" data-testid=format!("{testid}-pem")>{c.pem}</textarea>
                        </label>
                        <p class="text-xs text-slate-600">"Valid until "<LocalTime utc=c.not_after /></p>
                    </div>
                }
            }).collect_view()}
            {federation_steps(&idp, s.sp_certificates.iter().any(|c| c.key_use == "encryption"), s.sign_authn_requests, s.single_logout)}
            {(!s.require_encrypted_assertions && !s.sp_certificates.iter().any(|c| c.key_use == "encryption")).then(|| {
                let id_p = id.clone();
                view! {
                    <ActionForm action=certs attr:class="text-sm" attr:data-testid="publish-encryption-key">
                        <input type="hidden" name="id" value=id_p />
                        <input type="hidden" name="publish" value="encryption" />
                        <p class="text-slate-600">"Your IdP encrypts assertions, or will? Get Lanyard's encryption certificate first and give it to the IdP; Lanyard decrypts at once, and you can require encryption once the test sign-in shows an encrypted assertion."</p>
                        <button type="submit" class="mt-1 rounded-lg border border-slate-300 px-3 py-1.5">"Get the encryption certificate"</button>
                    </ActionForm>
                }
            })}
            <h3 class="pt-2 font-medium">"Signing certificates"</h3>
            <p class="text-slate-600">"Lanyard accepts a response signed by any certificate below. To rotate without downtime, add the new certificate first, switch the IdP, then remove the old one."</p>
            <ul class="space-y-2">{cert_rows}</ul>
            <ActionForm action=certs attr:class="space-y-2">
                <input type="hidden" name="id" value=id_c />
                <label class="block">"Add a certificate (PEM)"
                    <textarea name="add" rows="3" placeholder="-----BEGIN CERTIFICATE-----" class=INPUT></textarea>
                </label>
                <button type="submit" class="rounded-lg border border-slate-300 px-3 py-1.5">"Add certificate"</button>
            </ActionForm>
            <details>
                <summary class="cursor-pointer text-slate-600 underline">"Edit SAML settings and attribute mapping"</summary>
                <ActionForm action=update attr:class="mt-2 space-y-2">
                    <input type="hidden" name="id" value=id_u />
                    <label class="block">"Name"<input name="name" value=name required class=INPUT /></label>
                    <label class="block">"New IdP metadata URL (replaces the IdP values and certificates)"<input name="metadata_url" class=INPUT /></label>
                    <label class="block">"…or new IdP metadata XML"<textarea name="metadata_xml" rows="3" class=INPUT></textarea></label>
                    <label class="flex items-center gap-2">
                        <input type="checkbox" name="allow_idp_initiated" value="on" checked=s.allow_idp_initiated />
                        "Allow IdP-initiated sign-in (from the IdP's app dashboard)"
                    </label>
                    <label class="flex items-center gap-2">
                        <input type="checkbox" name="sign_authn_requests" value="on" checked=s.sign_authn_requests />
                        "Sign AuthnRequests (when your IdP requires signed requests; Lanyard makes its signing certificate and publishes it in the SP metadata)"
                    </label>
                    <label class="flex items-center gap-2">
                        <input type="checkbox" name="require_encrypted_assertions" value="on" checked=s.require_encrypted_assertions />
                        "Require encrypted assertions (Lanyard makes its encryption certificate and publishes it in the SP metadata; from then on plain assertions are refused, so give the certificate to your IdP right after saving and run the test sign-in)"
                    </label>
                    <button type="submit" class="rounded-lg bg-slate-800 px-3 py-1.5 text-white">"Save SAML settings"</button>
                </ActionForm>
                <ActionForm action=federation attr:class="mt-4 space-y-2" attr:data-testid="saml-federation">
                    <input type="hidden" name="id" value=id_f />
                    <p class="text-slate-600">"Signed assertions, single logout and how requests travel:"</p>
                    <label class="flex items-center gap-2">
                        <input type="checkbox" name="want_assertions_signed" value="on" checked=s.want_assertions_signed />
                        "Require the assertion itself to be signed (WantAssertionsSigned; a signature on the response alone is then refused)"
                    </label>
                    <label class="flex items-center gap-2">
                        <input type="checkbox" name="single_logout" value="on" checked=s.single_logout />
                        "Single logout (the IdP's signed logout requests end sign-in sessions and the application is told; Lanyard's logout messages are always signed)"
                    </label>
                    <label class="block">"IdP single logout URL (filled in from the IdP's metadata; only when your IdP shows one elsewhere)"
                        <input name="idp_slo_url" type="url" value=s.idp_slo_url.clone().unwrap_or_default() class=INPUT />
                    </label>
                    <label class="block">"How sign-in requests reach the IdP"
                        <select name="authn_request_binding" class=INPUT>
                            <option value="redirect" selected=s.authn_request_binding != "post">"HTTP-Redirect (most IdPs)"</option>
                            <option value="post" selected=s.authn_request_binding == "post">"HTTP-POST (IdPs that take only POST)"</option>
                        </select>
                    </label>
                    <button type="submit" class="rounded-lg bg-slate-800 px-3 py-1.5 text-white">"Save federation settings"</button>
                </ActionForm>
                <ActionForm action=upload attr:class="mt-4 space-y-2" attr:data-testid="upload-sp-key">
                    <input type="hidden" name="id" value=id_k />
                    <p class="text-slate-600">"Your own SP key pair instead of Lanyard's (when your policy wants keys from your CA). The first of its use is used at once; otherwise it is published as the next key for a rotation. The private key is sealed and never shown again."</p>
                    <label class="block">"Use"
                        <select name="key_use" class=INPUT>
                            <option value="encryption">"Encryption (the IdP encrypts assertions to it)"</option>
                            <option value="signing">"Signing (Lanyard signs requests and logout messages with it)"</option>
                        </select>
                    </label>
                    <label class="block">"Private key (PEM, RSA 2048–4096 bits, no passphrase)"
                        <textarea name="private_key_pem" rows="3" required placeholder="-----BEGIN PRIVATE KEY-----" class=INPUT autocomplete="off"></textarea>
                    </label>
                    <label class="block">"Certificate, then its CA chain (PEM)"
                        <textarea name="certificate_pem" rows="3" required placeholder="-----BEGIN CERTIFICATE-----" class=INPUT></textarea>
                    </label>
                    <button type="submit" class="rounded-lg bg-slate-800 px-3 py-1.5 text-white">"Upload the key pair"</button>
                </ActionForm>
                <ActionForm action=mapping attr:class="mt-4 space-y-2">
                    <input type="hidden" name="id" value=id_m />
                    <p class="text-slate-600">"Attribute names, when your IdP uses other names than the defaults (leave empty for the defaults):"</p>
                    <label class="block">"Email attribute"<input name="map_email" value=m_email placeholder="email" class=INPUT /></label>
                    <label class="block">"First name attribute"<input name="map_first_name" value=m_first placeholder="firstName" class=INPUT /></label>
                    <label class="block">"Last name attribute"<input name="map_last_name" value=m_last placeholder="lastName" class=INPUT /></label>
                    <label class="block">"Groups attribute"<input name="map_groups" value=m_groups placeholder="groups" class=INPUT /></label>
                    <button type="submit" class="rounded-lg bg-slate-800 px-3 py-1.5 text-white">"Save attribute mapping"</button>
                </ActionForm>
            </details>
        </div>
    }
}

/// What to do in this IdP for encrypted assertions (once Lanyard has an encryption
/// certificate), signed requests and single logout, each when it applies.
fn federation_steps(idp: &str, encryption: bool, signed: bool, slo: bool) -> impl IntoView {
    let f = super::guides::federation(idp);
    let name = crate::domain::connection::idp_label(idp).to_owned();
    let section =
        |on: bool, title: String, steps: &'static [&'static str], testid: &'static str| {
            (on && !steps.is_empty()).then(|| {
                view! {
                    <details class="rounded-lg border border-slate-200 p-3" data-testid=testid>
                        <summary class="cursor-pointer font-medium">{title}</summary>
                        <ol class="mt-2 list-decimal space-y-1 pl-6 text-slate-600">
                            {steps.iter().map(|t| view! { <li>{*t}</li> }).collect_view()}
                        </ol>
                    </details>
                }
            })
        };
    view! {
        {section(encryption, format!("Turn on assertion encryption in {name}"), f.encryption, "guide-encryption")}
        {section(signed, format!("Let {name} check Lanyard's signed requests"), f.signed_requests, "guide-signed-requests")}
        {section(slo, format!("Set up single logout in {name}"), f.single_logout, "guide-single-logout")}
    }
}

/// Reads a chosen metadata file into the XML field (JavaScript only; without it, paste).
#[cfg(feature = "hydrate")]
pub(super) fn load_file_into(ev: leptos::ev::Event, target_id: &'static str) {
    use wasm_bindgen::JsCast;
    let input: web_sys::HtmlInputElement = event_target(&ev);
    let Some(file) = input.files().and_then(|f| f.get(0)) else {
        return;
    };
    let Ok(reader) = web_sys::FileReader::new() else {
        return;
    };
    let r2 = reader.clone();
    let onload = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(move || {
        let text = r2.result().ok().and_then(|v| v.as_string());
        let area = document()
            .get_element_by_id(target_id)
            .and_then(|e| e.dyn_into::<web_sys::HtmlTextAreaElement>().ok());
        if let (Some(text), Some(area)) = (text, area) {
            area.set_value(&text);
        }
    });
    reader.set_onload(Some(onload.as_ref().unchecked_ref()));
    onload.forget();
    let _ = reader.read_as_text(&file);
}

#[cfg(not(feature = "hydrate"))]
pub(super) fn load_file_into(_ev: leptos::ev::Event, _target_id: &'static str) {}
