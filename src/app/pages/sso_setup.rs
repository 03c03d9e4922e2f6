//! The guided SSO setup: `/portal/sso/setup` asks which identity provider and protocol, then
//! `/portal/sso/setup/:id?step=N` walks through four steps on a draft connection that already
//! exists, so Lanyard's values are shown before the admin needs them: 1 create the app in the IdP
//! with Lanyard's values, 2 give Lanyard the IdP's values, 3 test sign-in, 4 activate. Any step
//! can be left and resumed (the draft is listed on the SSO page); all of it works without
//! JavaScript.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::action_error;
use super::guides::guide;
use super::portal::{PortalFrame, PortalProblem};
use crate::api::portal::portal_overview;
use crate::api::sso::{
    portal_sso_setup, ConfigureOidcConnection, ConfigureSamlConnection, ConnectionInfo,
    SetConnectionState, SetupPage, StartSsoSetup, TestResult,
};
use crate::app::components::{CopyField, LocalTime};
use crate::domain::connection::{idp_label, ConnectionKind, ConnectionState, IDPS};

const INPUT: &str = "mt-1 block w-full rounded-lg border border-slate-300 px-3 py-2";
/// The main action of a step, in the vendor's brand colour with text that stays readable on it.
pub(crate) const PRIMARY: &str = "inline-block rounded-lg bg-[var(--brand)] px-4 py-2 font-medium text-[var(--brand-text)] hover:opacity-90 focus-visible:outline focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-slate-900";

/// `/portal/sso/setup`: which identity provider, which protocol.
#[component]
pub fn Choose() -> impl IntoView {
    let start = ServerAction::<StartSsoSetup>::new();
    let overview = Resource::new(|| (), |_| portal_overview());
    view! {
        <Suspense fallback=|| view! { <p class="p-6">"Loading…"</p> }>
            {move || overview.get().map(|o| match o {
                Ok(o) => view! {
                    <PortalFrame overview=o title="Set up single sign-on" current="/portal/sso">
                        <h1 class="mb-2 text-2xl font-semibold">"Set up single sign-on"</h1>
                        <p class="mb-6 text-slate-600">
                            "Four short steps: create an application in your identity provider with the values Lanyard shows you, give Lanyard your identity provider's details, test a sign-in, then switch it on. You can leave at any step and come back."
                        </p>
                        {move || action_error(start.value().get()).map(|e| view! {
                            <p class="mb-4 rounded-lg bg-rose-50 p-4 text-rose-900" role="alert" data-testid="form-error">{e}</p>
                        })}
                        <ActionForm action=start attr:class="space-y-6" attr:data-testid="choose-idp">
                            <fieldset>
                                <legend class="mb-2 text-lg font-medium">"Which identity provider do your people sign in with?"</legend>
                                <div class="grid gap-2 sm:grid-cols-2">
                                    {IDPS.iter().enumerate().map(|(n, (key, label, saml, oidc))| {
                                        let protocols = match (saml, oidc) {
                                            (true, true) => "SAML or OpenID Connect",
                                            (true, false) => "SAML",
                                            _ => "OpenID Connect",
                                        };
                                        view! {
                                            <label class="flex cursor-pointer items-start gap-3 rounded-lg border border-slate-300 bg-white p-3 has-[:checked]:border-indigo-600 has-[:checked]:ring-1 has-[:checked]:ring-indigo-600">
                                                <input type="radio" name="idp" value=*key required checked=n == 0 class="mt-1" data-testid=format!("idp-{key}") />
                                                <span>
                                                    <span class="block font-medium">{*label}</span>
                                                    <span class="block text-sm text-slate-600">{protocols}</span>
                                                </span>
                                            </label>
                                        }
                                    }).collect_view()}
                                </div>
                            </fieldset>
                            <fieldset>
                                <legend class="mb-2 text-lg font-medium">"Protocol"</legend>
                                <div class="space-y-2">
                                    <label class="flex items-start gap-3">
                                        <input type="radio" name="protocol" value="saml" checked=true class="mt-1" data-testid="protocol-saml" />
                                        <span><span class="font-medium">"SAML 2.0"</span>" — "<span class="text-slate-600">"what most IT teams use for company applications; ADFS offers only this."</span></span>
                                    </label>
                                    <label class="flex items-start gap-3">
                                        <input type="radio" name="protocol" value="oidc" class="mt-1" data-testid="protocol-oidc" />
                                        <span><span class="font-medium">"OpenID Connect"</span>" — "<span class="text-slate-600">"simpler when your identity provider offers it: an issuer, a client ID and a secret."</span></span>
                                    </label>
                                </div>
                            </fieldset>
                            <button type="submit" class=PRIMARY data-testid="start-setup">"Continue"</button>
                        </ActionForm>
                    </PortalFrame>
                }.into_any(),
                Err(e) => view! { <PortalProblem err=e /> }.into_any(),
            })}
        </Suspense>
    }
}

/// The four steps' names.
const STEPS: [&str; 4] = [
    "Create the app in your identity provider",
    "Give Lanyard your identity provider's details",
    "Test sign-in",
    "Switch it on",
];

fn tested_ok(c: &ConnectionInfo) -> bool {
    c.last_test.as_ref().is_some_and(|t| t.ok)
}

/// Where a connection's setup stands: the first step not done yet.
fn next_step(c: &ConnectionInfo) -> usize {
    if !c.configured {
        1
    } else if !tested_ok(c) {
        3
    } else {
        4
    }
}

/// Whether step `n` (1-based) is done.
fn step_done(c: &ConnectionInfo, n: usize) -> bool {
    match n {
        // Lanyard cannot see the IdP; having its values back means the app was made there.
        1 | 2 => c.configured,
        3 => tested_ok(c),
        _ => c.state == ConnectionState::Active,
    }
}

/// The progress bar: each step with its state; done and current steps are links.
#[component]
fn Progress(c: ConnectionInfo, current: usize) -> impl IntoView {
    let id = c.id.clone();
    view! {
        <nav aria-label="Setup progress" class="mb-8">
            <ol class="grid gap-2 sm:grid-cols-4" data-testid="setup-progress">
                {STEPS.iter().enumerate().map(|(i, name)| {
                    let n = i + 1;
                    let done = step_done(&c, n);
                    let here = n == current;
                    let reachable = n <= next_step(&c) || done;
                    let (ring, badge) = match (here, done) {
                        (true, _) => ("border-indigo-600 bg-indigo-50", "bg-indigo-600 text-white"),
                        (false, true) => ("border-emerald-300 bg-white", "bg-emerald-600 text-white"),
                        _ => ("border-slate-200 bg-white", "bg-slate-200 text-slate-800"),
                    };
                    let status = if done { "done" } else if here { "current step" } else { "not done yet" };
                    let inner = view! {
                        <span class=format!("mr-2 inline-flex h-6 w-6 items-center justify-center rounded-full text-xs font-semibold {badge}") aria-hidden="true">
                            {if done && !here { "✓".to_owned() } else { n.to_string() }}
                        </span>
                        <span class="text-sm">{*name}</span>
                        <span class="sr-only">{format!(" (step {n} of 4, {status})")}</span>
                    };
                    let class = format!("flex items-center rounded-lg border p-2 {ring}");
                    view! {
                        <li data-testid="progress-step" data-state=if here { "current" } else if done { "done" } else { "todo" }>
                            {if reachable {
                                view! {
                                    <a href=format!("/portal/sso/setup/{id}?step={n}") class=format!("{class} hover:border-indigo-400") aria-current=here.then_some("step")>{inner}</a>
                                }.into_any()
                            } else {
                                view! { <div class=class>{inner}</div> }.into_any()
                            }}
                        </li>
                    }
                }).collect_view()}
            </ol>
        </nav>
    }
}

/// `/portal/sso/setup/:id`.
#[component]
pub fn Setup() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let step = move || {
        query
            .read()
            .get("step")
            .and_then(|s| s.parse::<usize>().ok())
    };
    let saml = ServerAction::<ConfigureSamlConnection>::new();
    let oidc = ServerAction::<ConfigureOidcConnection>::new();
    let activate = ServerAction::<SetConnectionState>::new();
    let data = Resource::new(
        move || {
            (
                id(),
                saml.version().get(),
                oidc.version().get(),
                activate.version().get(),
            )
        },
        |(id, ..)| portal_sso_setup(id),
    );
    let overview = Resource::new(|| (), |_| portal_overview());
    let error = move || {
        action_error(saml.value().get())
            .or_else(|| action_error(oidc.value().get()))
            .or_else(|| action_error(activate.value().get()))
    };
    view! {
        <Suspense fallback=|| view! { <p class="p-6">"Loading…"</p> }>
            {move || {
                let (Some(d), Some(o)) = (data.get(), overview.get()) else { return None };
                Some(match (d, o) {
                    (Ok(page), Ok(o)) => {
                        let c = page.connection.clone();
                        let current = step().filter(|n| (1..=4).contains(n)).unwrap_or_else(|| next_step(&c));
                        let label = idp_label(&c.idp).to_owned();
                        let title = format!("Set up {}", c.name);
                        view! {
                            <PortalFrame overview=o title=title.clone() current="/portal/sso">
                                <p class="text-sm"><A href="/portal/sso" attr:class="text-indigo-700 underline">"← Single sign-on"</A></p>
                                <h1 class="mb-1 mt-2 text-2xl font-semibold" data-testid="setup-title">{title}</h1>
                                <p class="mb-6 text-slate-600">
                                    {format!("{} over {}. ", label, if c.kind == ConnectionKind::Saml { "SAML 2.0" } else { "OpenID Connect" })}
                                    "Your progress is saved: you can leave and come back to any step from the Single sign-on page."
                                </p>
                                <Progress c=c.clone() current />
                                {move || error().map(|e| view! {
                                    <p class="mb-4 rounded-lg bg-rose-50 p-4 text-rose-900" role="alert" data-testid="form-error">{e}</p>
                                })}
                                <section aria-labelledby="step-heading" class="rounded-xl border border-slate-200 bg-white p-6" data-testid=format!("setup-step-{current}")>
                                    <h2 id="step-heading" class="mb-3 text-lg font-semibold">{format!("Step {current} of 4: {}", STEPS[current - 1])}</h2>
                                    {match current {
                                        1 => view! { <StepCreate page=page.clone() label=label.clone() /> }.into_any(),
                                        2 => view! { <StepDetails c=c.clone() label=label.clone() saml oidc /> }.into_any(),
                                        3 => view! { <StepTest c=c.clone() label=label.clone() /> }.into_any(),
                                        _ => view! { <StepActivate c=c.clone() label=label.clone() activate /> }.into_any(),
                                    }}
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

fn instructions(lines: &'static [&'static str]) -> impl IntoView {
    view! {
        <ol class="list-decimal space-y-1 pl-6 text-slate-700" data-testid="idp-steps">
            {lines.iter().map(|l| view! { <li>{*l}</li> }).collect_view()}
        </ol>
    }
}

/// Step 1: Lanyard's values, which exist now, and what to do with them in the IdP.
#[component]
fn StepCreate(page: SetupPage, label: String) -> impl IntoView {
    let c = page.connection;
    let kind = ConnectionKind::parse(&c.kind).unwrap_or(ConnectionKind::Saml);
    let g = guide(&c.idp, kind);
    let values = match (&c.sp, kind) {
        (Some(sp), ConnectionKind::Saml) => view! {
            <div class="space-y-3">
                <CopyField label="ACS URL (Single sign-on URL, Reply URL)" value=sp.acs_url.clone() testid="saml-acs-url" />
                <CopyField label="SP entity ID (Audience URI, Identifier)" value=sp.entity_id.clone() testid="saml-entity-id" />
                <CopyField label="Name ID format" value="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".to_owned() testid="saml-nameid" />
                <p><a href=sp.metadata_url.clone() rel="external" download="lanyard-sp-metadata.xml" class="text-indigo-700 underline" data-testid="sp-metadata">"Download Lanyard's SP metadata (XML)"</a></p>
            </div>
        }.into_any(),
        _ => view! {
            <CopyField label="Redirect URI (Sign-in redirect URI, Reply URL)" value=page.redirect_uri.clone() testid="redirect-uri" />
        }.into_any(),
    };
    view! {
        <p class="mb-4 text-slate-700">{format!("Lanyard's values for {label} are ready. Copy each into {label} as the steps below say.")}</p>
        {values}
        <h3 class="mb-2 mt-6 font-medium">{format!("In {label}")}</h3>
        {instructions(g.create)}
        <p class="mt-6">
            <a href=format!("/portal/sso/setup/{}?step=2", c.id) class=PRIMARY data-testid="next-step">{format!("Done in {label}: next step →")}</a>
        </p>
    }
}

/// Step 2: the IdP's values, by metadata or by hand (SAML), or issuer, client id and secret (OIDC).
#[component]
fn StepDetails(
    c: ConnectionInfo,
    label: String,
    saml: ServerAction<ConfigureSamlConnection>,
    oidc: ServerAction<ConfigureOidcConnection>,
) -> impl IntoView {
    let kind = ConnectionKind::parse(&c.kind).unwrap_or(ConnectionKind::Saml);
    let g = guide(&c.idp, kind);
    let already = c.configured.then(|| {
        let what = match &c.saml {
            Some(s) => format!("{label} is set: entity ID {}. Saving new values below replaces them and needs a new test sign-in.", s.idp_entity_id),
            None => format!("{label} is set: issuer {}, client {}. Saving new values below replaces them and needs a new test sign-in.", c.issuer, c.client_id),
        };
        view! {
            <p class="mb-4 rounded-lg bg-emerald-50 p-3 text-sm text-emerald-900" data-testid="details-set">{what}</p>
            <p class="mb-4"><a href=format!("/portal/sso/setup/{}?step=3", c.id) class="text-indigo-700 underline">"Keep them and go to the test →"</a></p>
        }
    });
    let heading = format!("Where {label} shows them");
    let form = if kind == ConnectionKind::Saml {
        let id = c.id.clone();
        view! {
            <ActionForm action=saml attr:class="space-y-4" attr:data-testid="saml-details-form">
                <input type="hidden" name="id" value=id />
                <label class="block font-medium">{format!("{label}'s metadata URL")}
                    <input name="metadata_url" type="url" placeholder="https://…/metadata" class=INPUT data-testid="metadata-url" />
                </label>
                <label class="block font-medium">"…or its metadata file"
                    <input type="file" accept=".xml,application/xml,text/xml" data-testid="metadata-file"
                        class="mt-1 block" on:change=move |ev| super::saml::load_file_into(ev, "setup-metadata-xml") />
                </label>
                <label class="block font-medium">"…or the metadata XML (filled from the file, or paste it)"
                    <textarea id="setup-metadata-xml" name="metadata_xml" rows="4" class=INPUT data-testid="metadata-xml"></textarea>
                </label>
                <details>
                    <summary class="cursor-pointer text-slate-700 underline">"No metadata? Enter the values by hand"</summary>
                    <div class="mt-2 space-y-3">
                        <label class="block">"IdP entity ID (Issuer)"<input name="entity_id" class=INPUT /></label>
                        <label class="block">"IdP single sign-on URL"<input name="sso_url" type="url" class=INPUT /></label>
                        <label class="block">"Signing certificate (PEM)"<textarea name="certificate" rows="3" class=INPUT></textarea></label>
                    </div>
                </details>
                <button type="submit" class=PRIMARY data-testid="save-details">"Save and continue"</button>
            </ActionForm>
        }.into_any()
    } else {
        let id = c.id.clone();
        let (issuer, client_id) = (c.issuer.clone(), c.client_id.clone());
        view! {
            <ActionForm action=oidc attr:class="space-y-4" attr:data-testid="oidc-details-form">
                <input type="hidden" name="id" value=id />
                <label class="block font-medium">"Issuer URL"
                    <input name="issuer" type="url" required value=issuer placeholder="https://acme.okta.com" class=INPUT data-testid="issuer" />
                </label>
                <label class="block font-medium">"Client ID"
                    <input name="client_id" required value=client_id class=INPUT data-testid="client-id" />
                </label>
                <label class="block font-medium">"Client secret"
                    <input name="client_secret" type="password" autocomplete="off" required=!c.configured class=INPUT data-testid="client-secret" />
                </label>
                <p class="text-sm text-slate-600">"Lanyard checks the issuer before saving. The secret is encrypted and never shown again."</p>
                <button type="submit" class=PRIMARY data-testid="save-details">"Save and continue"</button>
            </ActionForm>
        }.into_any()
    };
    view! {
        <h3 class="mb-2 font-medium">{heading}</h3>
        {instructions(g.details)}
        <div class="mt-4">{already}{form}</div>
    }
}

/// The newest test's outcome, with what the IdP sent or the evidence of what went wrong.
#[component]
pub(super) fn TestOutcome(t: TestResult, saml: bool) -> impl IntoView {
    if t.ok {
        view! {
            <div class="mt-4 rounded-lg bg-emerald-50 p-4 text-sm text-emerald-900" data-testid="test-result" data-ok="true">
                <p class="font-medium">"Test sign-in succeeded at "<LocalTime utc=t.at.clone() /></p>
                <dl class="mt-2 grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1">
                    <dt>"Email"</dt><dd data-testid="test-email">{t.email.clone().unwrap_or_default()}</dd>
                    <dt>"Name"</dt><dd>{t.name.clone().unwrap_or_default()}</dd>
                    <dt>"IdP subject"</dt><dd>{t.subject.clone().unwrap_or_default()}</dd>
                    <dt>"Groups"</dt><dd>{if t.groups.is_empty() { "none sent".to_owned() } else { t.groups.join(", ") }}</dd>
                    {saml.then(|| view! {
                        <dt>"Assertion"</dt>
                        <dd data-testid="test-encryption">{match t.decrypted_with.clone() {
                            Some(k) => format!("encrypted; decrypted with Lanyard's key {k}"),
                            None => "not encrypted".to_owned(),
                        }}</dd>
                    })}
                </dl>
                <details class="mt-2">
                    <summary class="cursor-pointer underline">{if saml { "Attributes the IdP sent" } else { "Claims the IdP sent" }}</summary>
                    <pre class="mt-2 overflow-x-auto rounded bg-white p-2 text-xs">{t.raw_claims.clone().unwrap_or_default()}</pre>
                </details>
            </div>
        }.into_any()
    } else {
        view! {
            <div class="mt-4 rounded-lg bg-rose-50 p-4 text-sm text-rose-900" data-testid="test-result" data-ok="false">
                <p class="font-medium">"Test sign-in failed at "<LocalTime utc=t.at.clone() />{format!(" ({})", t.reason.clone().unwrap_or_default())}</p>
                <p class="mt-1" data-testid="test-message">{t.message.clone().unwrap_or_default()}</p>
                {t.evidence.clone().map(|e| view! { <pre class="mt-2 overflow-x-auto rounded bg-white p-2 text-xs" data-testid="test-evidence">{e}</pre> })}
            </div>
        }.into_any()
    }
}

/// Step 3: sign in through the IdP once, as the admin, without creating anyone.
#[component]
fn StepTest(c: ConnectionInfo, label: String) -> impl IntoView {
    if !c.configured {
        return view! {
            <p class="text-slate-700" data-testid="needs-details">{format!("Lanyard does not have {label}'s details yet, so there is nothing to test.")}</p>
            <p class="mt-4"><a href=format!("/portal/sso/setup/{}?step=2", c.id) class=PRIMARY>"Go to step 2"</a></p>
        }.into_any();
    }
    let saml = c.kind == ConnectionKind::Saml;
    let ok = tested_ok(&c);
    let outcome = c
        .last_test
        .clone()
        .map(|t| view! { <TestOutcome t saml /> });
    view! {
        <p class="text-slate-700">{format!("Sign in through {label} with your own account. Nobody is added and nothing changes for your people: Lanyard shows what {label} sent, or exactly what went wrong.")}</p>
        <p class="mt-4">
            <a href=format!("/portal/sso/test/{}", c.id) rel="external" class=if ok { "inline-block rounded-lg border border-slate-300 px-4 py-2 font-medium" } else { PRIMARY } data-testid="run-test">
                {if c.last_test.is_some() { "Run the test sign-in again" } else { "Run the test sign-in" }}
            </a>
        </p>
        {outcome}
        {(!ok && c.last_test.is_some()).then(|| view! {
            <p class="mt-4 text-sm text-slate-700">
                "Fix the setting the message names in your identity provider, or "
                <a href=format!("/portal/sso/setup/{}?step=2", c.id) class="text-indigo-700 underline">"change the details Lanyard has"</a>
                ", then run the test again."
            </p>
        })}
        {ok.then(|| view! {
            <p class="mt-6"><a href=format!("/portal/sso/setup/{}?step=4", c.id) class=PRIMARY data-testid="next-step">"Next: switch it on →"</a></p>
        })}
    }.into_any()
}

/// Step 4: activation (after a successful test), or the finished state.
#[component]
fn StepActivate(
    c: ConnectionInfo,
    label: String,
    activate: ServerAction<SetConnectionState>,
) -> impl IntoView {
    if c.state == ConnectionState::Active {
        return view! {
            <div role="status" class="rounded-lg bg-emerald-50 p-4 text-emerald-900" data-testid="setup-done">
                <p class="font-medium">"Single sign-on is on."</p>
                <p class="mt-1">{format!("People at your verified domains now sign in through {label}. You can deactivate or change the connection at any time on the Single sign-on page.")}</p>
            </div>
            <p class="mt-4"><a href="/portal" class="text-indigo-700 underline">"Back to the overview"</a></p>
        }.into_any();
    }
    if !tested_ok(&c) {
        return view! {
            <p class="text-slate-700" data-testid="needs-test">"A successful test sign-in with the current settings comes first: it proves the connection works before anyone depends on it."</p>
            <p class="mt-4"><a href=format!("/portal/sso/setup/{}?step=3", c.id) class=PRIMARY>"Go to the test"</a></p>
        }.into_any();
    }
    let id = c.id.clone();
    view! {
        <p class="text-slate-700">{format!("The test worked. Switching the connection on lets everyone at your verified domains sign in through {label}; you can switch it off again at any time.")}</p>
        <ActionForm action=activate attr:class="mt-4">
            <input type="hidden" name="id" value=id />
            <input type="hidden" name="state" value=ConnectionState::Active.as_str() />
            <button type="submit" class=PRIMARY data-testid="activate">"Switch on single sign-on"</button>
        </ActionForm>
    }.into_any()
}
