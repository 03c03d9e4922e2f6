//! `/portal/sso`: OIDC and SAML connection setup with per-IdP steps, Test sign-in and activation.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::components::A;

use super::action_error;
use super::portal::{PortalFrame, PortalProblem};
use super::saml::SamlDetails;
use crate::api::portal::portal_overview;
use crate::api::sso::{
    portal_sso, ConnectionInfo, DeleteConnection, SamlCertificate, SamlFederation,
    SaveAttributeMapping, SetConnectionDomains, SetConnectionState, UpdateConnection,
    UpdateSamlConnection, UploadSpKey,
};
use crate::app::components::DayChart;
use crate::domain::connection::{ConnectionKind, ConnectionState};

fn state_badge(state: &str) -> (&'static str, &'static str) {
    match ConnectionState::parse(state) {
        Some(ConnectionState::Active) => ("Active", "bg-emerald-100 text-emerald-800"),
        Some(ConnectionState::Inactive) => ("Inactive", "bg-slate-100 text-slate-700"),
        Some(ConnectionState::Draft) | None => ("Draft", "bg-amber-100 text-amber-800"),
    }
}

#[component]
fn ConnectionCard(
    c: ConnectionInfo,
    set_state: ServerAction<SetConnectionState>,
    update: ServerAction<UpdateConnection>,
    delete: ServerAction<DeleteConnection>,
    update_saml: ServerAction<UpdateSamlConnection>,
    federation: ServerAction<SamlFederation>,
    upload: ServerAction<UploadSpKey>,
    certs: ServerAction<SamlCertificate>,
    mapping: ServerAction<SaveAttributeMapping>,
    domains: ServerAction<SetConnectionDomains>,
    verified: Vec<String>,
) -> impl IntoView {
    let (label, class) = state_badge(&c.state);
    let test_href = format!("/portal/sso/test/{}", c.id);
    let id = c.id.clone();
    let (id_edit, id_delete) = (c.id.clone(), c.id.clone());
    let (name, issuer, client_id) = (c.name.clone(), c.issuer.clone(), c.client_id.clone());
    let (next_state, next_label) = if c.state == ConnectionState::Active {
        (ConnectionState::Inactive.as_str(), "Deactivate")
    } else {
        (ConnectionState::Active.as_str(), "Activate")
    };
    let saml = c.kind == ConnectionKind::Saml;
    let subtitle = match (&c.saml, c.configured) {
        (_, false) => format!(
            "{} over {} · setup not finished",
            crate::domain::connection::idp_label(&c.idp),
            if saml { "SAML 2.0" } else { "OpenID Connect" }
        ),
        (Some(s), _) => format!("SAML 2.0 · {}", s.idp_entity_id),
        (None, _) => format!("OpenID Connect · {} · client {}", c.issuer, c.client_id),
    };
    let unfinished = c.state == ConnectionState::Draft;
    let setup_href = format!("/portal/sso/setup/{}", c.id);
    let saml_details = c.saml.clone().map(|s| {
        view! { <SamlDetails id=c.id.clone() name=c.name.clone() idp=c.idp.clone() s update=update_saml federation upload certs mapping /> }
    });
    let result = c
        .last_test
        .clone()
        .map(|t| view! { <super::sso_setup::TestOutcome t saml /> });
    view! {
        <li class="rounded-xl border border-slate-200 bg-white p-5" data-testid="connection">
            <div class="flex flex-wrap items-center justify-between gap-2">
                <h2 class="text-lg font-medium">{c.name.clone()}</h2>
                <span class=format!("rounded-full px-3 py-1 text-xs font-medium {class}") data-testid="connection-state">{label}</span>
            </div>
            <p class="text-sm text-slate-600" data-testid="connection-kind">{subtitle}</p>
            {c.configured.then(|| view! {
                <DayChart title=format!("Sign-ins through {}", c.name) ok_label="succeeded" bad_label="failed" days=c.sign_ins.clone() testid="sign-in-chart" />
            })}
            {result}
            {unfinished.then(|| view! {
                <p class="mt-3"><a href=setup_href class="font-medium text-indigo-700 underline" data-testid="continue-setup">"Continue setup →"</a></p>
            })}
            <div class="mt-4 flex flex-wrap items-center gap-3" class:hidden=!c.configured>
                <a href=test_href rel="external" class="rounded-lg bg-indigo-600 px-4 py-2 text-sm font-medium text-white hover:bg-indigo-700">"Test sign-in"</a>
                <ActionForm action=set_state>
                    <input type="hidden" name="id" value=id />
                    <input type="hidden" name="state" value=next_state />
                    <button type="submit" class="rounded-lg border border-slate-300 px-4 py-2 text-sm">{next_label}</button>
                </ActionForm>
            </div>
            {(c.configured && !verified.is_empty()).then(|| view! { <ServedDomains id=c.id.clone() name=c.name.clone() served=c.domains.clone() verified action=domains /> })}
            {saml_details}
            <details class="mt-4 text-sm">
                <summary class="cursor-pointer text-slate-600 underline">{if saml { "Remove" } else { "Edit settings" }}</summary>
                <ActionForm action=update attr:class="mt-2 space-y-2" class:hidden=saml>
                    <input type="hidden" name="id" value=id_edit />
                    <label class="block">"Name"<input name="name" value=name required class="mt-1 block w-full rounded-lg border border-slate-300 px-3 py-2" /></label>
                    <label class="block">"Issuer URL"<input name="issuer" value=issuer required class="mt-1 block w-full rounded-lg border border-slate-300 px-3 py-2" /></label>
                    <label class="block">"Client ID"<input name="client_id" value=client_id required class="mt-1 block w-full rounded-lg border border-slate-300 px-3 py-2" /></label>
                    <label class="block">"New client secret (leave empty to keep the current one)"
                        <input name="client_secret" type="password" autocomplete="off" class="mt-1 block w-full rounded-lg border border-slate-300 px-3 py-2" />
                    </label>
                    <p class="text-xs text-slate-500">"Saving new settings requires a new successful test before the connection can be activated again."</p>
                    <button type="submit" class="rounded-lg bg-slate-800 px-3 py-1.5 text-white">"Save settings"</button>
                </ActionForm>
                <ActionForm action=delete attr:class="mt-3">
                    <input type="hidden" name="id" value=id_delete />
                    <button type="submit" class="rounded-lg bg-rose-600 px-3 py-1.5 text-white">"Remove connection"</button>
                </ActionForm>
            </details>
        </li>
    }
}

/// Which of the organization's verified domains the connection signs people in for (after an
/// acquisition each IdP serves its own company's domains).
#[component]
fn ServedDomains(
    id: String,
    name: String,
    served: Option<Vec<String>>,
    verified: Vec<String>,
    action: ServerAction<SetConnectionDomains>,
) -> impl IntoView {
    let summary = match &served {
        None => "People of every verified domain sign in through this connection.".to_owned(),
        Some(list) => format!(
            "Only people of {} sign in through this connection; it refuses everyone of your other domains.",
            list.iter().map(|d| format!("@{d}")).collect::<Vec<_>>().join(", ")
        ),
    };
    let all = served.is_none();
    let ticked = served.clone().unwrap_or_default();
    let legend = format!("Domains {name} signs in");
    view! {
        <div class="mt-4 text-sm">
            <p class="text-slate-700" data-testid="connection-domains">{summary}</p>
            <details class="mt-2">
                <summary class="cursor-pointer text-slate-600 underline">"Change domains"</summary>
                <ActionForm action attr:class="mt-2 space-y-2" attr:data-testid="domains-form">
                    <input type="hidden" name="id" value=id />
                    <fieldset class="space-y-1">
                        <legend class="font-medium">{legend}</legend>
                        <label class="block"><input type="radio" name="scope" value="all" checked=all />" Every verified domain"</label>
                        <label class="block"><input type="radio" name="scope" value="some" checked=!all />" Only the domains ticked below (another connection serves the rest)"</label>
                        <ul class="ml-6 space-y-1">
                            {verified.into_iter().enumerate().map(|(i, d)| {
                                let on = ticked.contains(&d);
                                view! { <li><label><input type="checkbox" name=format!("serve[{i}]") value=d.clone() checked=on />" @"{d}</label></li> }
                            }).collect_view()}
                        </ul>
                    </fieldset>
                    <button type="submit" class="rounded-lg bg-slate-800 px-3 py-1.5 text-white" data-testid="save-domains">"Save domains"</button>
                </ActionForm>
            </details>
        </div>
    }
}

/// The page.
#[component]
pub fn Sso() -> impl IntoView {
    let set_state = ServerAction::<SetConnectionState>::new();
    let update = ServerAction::<UpdateConnection>::new();
    let delete = ServerAction::<DeleteConnection>::new();
    let update_saml = ServerAction::<UpdateSamlConnection>::new();
    let federation = ServerAction::<SamlFederation>::new();
    let upload = ServerAction::<UploadSpKey>::new();
    let certs = ServerAction::<SamlCertificate>::new();
    let mapping = ServerAction::<SaveAttributeMapping>::new();
    let domains = ServerAction::<SetConnectionDomains>::new();
    let data = Resource::new(
        move || {
            (
                set_state.version().get(),
                update.version().get(),
                delete.version().get(),
                update_saml.version().get(),
                federation.version().get(),
                upload.version().get(),
                certs.version().get(),
                mapping.version().get(),
                domains.version().get(),
            )
        },
        |_| portal_sso(),
    );
    let overview = Resource::new(|| (), |_| portal_overview());
    let error = move || {
        action_error(set_state.value().get())
            .or_else(|| action_error(update.value().get()))
            .or_else(|| action_error(delete.value().get()))
            .or_else(|| action_error(update_saml.value().get()))
            .or_else(|| action_error(federation.value().get()))
            .or_else(|| action_error(upload.value().get()))
            .or_else(|| action_error(certs.value().get()))
            .or_else(|| action_error(mapping.value().get()))
            .or_else(|| action_error(domains.value().get()))
    };
    view! {
        <Suspense fallback=|| view! { <p class="p-6">"Loading…"</p> }>
            {move || {
                let (Some(d), Some(o)) = (data.get(), overview.get()) else { return None };
                Some(match (d, o) {
                    (Ok(page), Ok(o)) => {
                        let empty = page.connections.is_empty();
                        let verified = page.verified_domains.clone();
                        let cards = page.connections.into_iter().map(|c| view! { <ConnectionCard c set_state update delete update_saml federation upload certs mapping domains verified=verified.clone() /> }).collect_view();
                        view! {
                            <PortalFrame overview=o title="Single sign-on" current="/portal/sso">
                                <h1 class="mb-2 text-2xl font-semibold">"Single sign-on"</h1>
                                <p class="mb-6 text-slate-600">
                                    "Connect your identity provider so your people sign in with their work account. Run a test sign-in, then activate the connection."
                                </p>
                                <p class="mb-6 text-sm text-slate-600" data-testid="sso-any-app">
                                    "One connection serves every way the application signs your people in (its own sign-in and any standard OpenID Connect login it uses): nothing else changes for you or your identity provider."
                                </p>
                                {move || error().map(|e| view! { <p class="mb-4 rounded-lg bg-rose-50 p-4 text-rose-900" role="alert" data-testid="form-error">{e}</p> })}
                                {if empty {
                                    view! { <p class="mb-6 rounded-lg border border-dashed border-slate-300 p-6 text-slate-600" data-testid="connections-empty">"No connection yet. Set one up below: it takes four short steps, and you can test it before anyone depends on it."</p> }.into_any()
                                } else {
                                    view! { <ul class="mb-8 space-y-4">{cards}</ul> }.into_any()
                                }}
                                <section class="rounded-xl border border-slate-200 bg-white p-5" data-testid="add-connection">
                                    <h2 class="mb-1 text-lg font-medium">"Add a connection"</h2>
                                    <p class="mb-3 text-slate-600">"Choose your identity provider; Lanyard then guides you step by step, showing each value you need when you need it."</p>
                                    <A href="/portal/sso/setup" attr:class="inline-block rounded-lg bg-indigo-600 px-4 py-2 font-medium text-white hover:bg-indigo-700" attr:data-testid="new-connection">"Set up a connection"</A>
                                </section>
                            </PortalFrame>
                        }.into_any()
                    }
                    (Err(e), _) | (_, Err(e)) => view! { <PortalProblem err=e /> }.into_any(),
                })
            }}
        </Suspense>
    }
}
