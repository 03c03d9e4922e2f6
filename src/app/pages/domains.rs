//! `/portal/domains`: add a domain, publish the TXT record, check, see the state.

use leptos::form::ActionForm;
use leptos::prelude::*;

use super::action_error;
use super::portal::{PortalFrame, PortalProblem};
use crate::api::domains::{portal_domains, AddDomain, CheckDomain, DomainInfo, RemoveDomain};
use crate::api::portal::portal_overview;
use crate::app::components::CopyField;
use crate::domain::domain_state::DomainState;

fn state_badge(state: &str, by_vendor: bool) -> (String, &'static str) {
    match DomainState::parse(state) {
        Some(DomainState::Verified) if by_vendor => (
            "Verified by your vendor".into(),
            "bg-emerald-100 text-emerald-800",
        ),
        Some(DomainState::Verified) => ("Verified".into(), "bg-emerald-100 text-emerald-800"),
        Some(DomainState::Pending) => ("Pending".into(), "bg-amber-100 text-amber-800"),
        Some(DomainState::Lapsed) => ("Lapsed".into(), "bg-rose-100 text-rose-800"),
        Some(DomainState::Failed) => ("Failed".into(), "bg-rose-100 text-rose-800"),
        None => (state.to_owned(), "bg-slate-100 text-slate-700"),
    }
}

#[component]
fn DomainCard(
    d: DomainInfo,
    check: ServerAction<CheckDomain>,
    remove: ServerAction<RemoveDomain>,
) -> impl IntoView {
    let by_vendor = d.verified_by.as_deref() == Some("vendor");
    let (label, class) = state_badge(&d.state, by_vendor);
    let state = DomainState::parse(&d.state);
    let needs_record = state != Some(DomainState::Verified) || d.missing_since.is_some();
    let id = d.id.clone();
    let id2 = d.id.clone();
    let explanation = match state {
        Some(DomainState::Lapsed) => Some(format!(
            "The verification record has been missing since {}. Sign-in and automatic joining for this domain are paused until it is published again.",
            d.missing_since.clone().unwrap_or_default()
        )),
        Some(DomainState::Verified) if d.missing_since.is_some() => Some(format!(
            "The verification record is missing since {}. Publish it again before the grace period ends, or the domain lapses.",
            d.missing_since.clone().unwrap_or_default()
        )),
        Some(DomainState::Failed) => Some("We stopped checking this domain. Publish the record below and click Check now to try again.".into()),
        _ => None,
    };
    view! {
        <li class="rounded-xl border border-slate-200 bg-white p-5" data-testid="domain" data-domain=d.domain.clone()>
            <div class="flex flex-wrap items-center justify-between gap-2">
                <h2 class="text-lg font-medium">{d.domain.clone()}</h2>
                <span class=format!("rounded-full px-3 py-1 text-xs font-medium {class}") data-testid="domain-state">{label}</span>
            </div>
            {d.include_subdomains.then(|| view! { <p class="text-sm text-slate-500">"Includes subdomains"</p> })}
            {explanation.map(|e| view! { <p class="mt-2 rounded-lg bg-rose-50 p-3 text-sm text-rose-900">{e}</p> })}
            {needs_record.then(|| view! {
                <div class="mt-4 space-y-3">
                    <p class="text-sm text-slate-700">"Create this TXT record with your DNS host:"</p>
                    <CopyField label="Name (host)" value=d.record_name.clone() testid="record-name" />
                    <CopyField label="Value" value=d.record_value.clone() testid="record-value" />
                    <p class="text-xs text-slate-500">"Type TXT, any TTL (300 seconds is fine). Some hosts want only the part before your domain as the name."</p>
                </div>
            })}
            {d.last_proved_at.clone().map(|t| view! { <p class="mt-3 text-sm text-slate-600">{format!("Last proved {t}")}</p> })}
            {d.last_checked_at.clone().map(|t| view! {
                <p class="mt-3 text-sm text-slate-600" data-testid="last-check">
                    {format!("Last checked {t}: ")}{d.last_message.clone().unwrap_or_default()}
                </p>
            })}
            <div class="mt-4 flex flex-wrap items-center gap-3">
                <ActionForm action=check>
                    <input type="hidden" name="id" value=id />
                    <button type="submit" class="rounded-lg bg-indigo-600 px-4 py-2 text-sm font-medium text-white hover:bg-indigo-700">
                        "Check now"
                    </button>
                </ActionForm>
                <details class="text-sm">
                    <summary class="cursor-pointer text-slate-600 underline">"Remove"</summary>
                    <div class="mt-2 rounded-lg border border-slate-200 p-3">
                        <p class="text-slate-700" data-testid="removal-impact">
                            {match d.members_provisioned {
                                0 => "No members joined through this domain.".to_owned(),
                                1 => "1 member joined through this domain and keeps their access.".to_owned(),
                                n => format!("{n} members joined through this domain and keep their access."),
                            }}
                            " Removing it stops sign-in routing and automatic joining for it."
                        </p>
                        <ActionForm action=remove>
                            <input type="hidden" name="id" value=id2 />
                            <button type="submit" class="mt-2 rounded-lg bg-rose-600 px-3 py-1.5 text-white">"Remove domain"</button>
                        </ActionForm>
                    </div>
                </details>
            </div>
        </li>
    }
}

/// The page.
#[component]
pub fn Domains() -> impl IntoView {
    let add = ServerAction::<AddDomain>::new();
    let check = ServerAction::<CheckDomain>::new();
    let remove = ServerAction::<RemoveDomain>::new();
    let list = Resource::new(
        move || {
            (
                add.version().get(),
                check.version().get(),
                remove.version().get(),
            )
        },
        |_| portal_domains(),
    );
    let overview = Resource::new(|| (), |_| portal_overview());
    let errors = move || {
        action_error(add.value().get())
            .or_else(|| action_error(check.value().get()))
            .or_else(|| action_error(remove.value().get()))
    };
    view! {
        <Suspense fallback=|| view! { <p class="p-6">"Loading…"</p> }>
            {move || {
                let (Some(l), Some(o)) = (list.get(), overview.get()) else { return None };
                Some(match (l, o) {
                    (Ok(domains), Ok(o)) => {
                        let empty = domains.is_empty();
                        let cards = domains
                            .into_iter()
                            .map(|d| view! { <DomainCard d check remove /> })
                            .collect_view();
                        view! {
                            <PortalFrame overview=o title="Domains" current="/portal/domains">
                                <h1 class="mb-2 text-2xl font-semibold">"Verify your domains"</h1>
                                <p class="mb-6 text-slate-600">
                                    "Verifying a domain proves that your organization controls it. People with an email address on a verified domain can then sign in through your identity provider. We re-check the record every day, so leave it in place."
                                </p>
                                <ActionForm action=add attr:class="mb-6 rounded-xl border border-slate-200 bg-white p-5">
                                    <label class="block text-sm font-medium" for="domain">"Domain"</label>
                                    <div class="mt-1 flex gap-2">
                                        <input id="domain" name="domain" required placeholder="acme.com" class="w-full rounded-lg border border-slate-300 px-3 py-2" />
                                        <button type="submit" class="shrink-0 rounded-lg bg-slate-800 px-4 py-2 text-white">"Add domain"</button>
                                    </div>
                                    <label class="mt-3 flex items-center gap-2 text-sm text-slate-700">
                                        <input type="checkbox" name="include_subdomains" value="on" />
                                        "Also cover subdomains (eu.acme.com, …)"
                                    </label>
                                </ActionForm>
                                {move || errors().map(|e| view! {
                                    <p class="mb-4 rounded-lg bg-rose-50 p-4 text-rose-900" role="alert" data-testid="form-error">{e}</p>
                                })}
                                {if empty {
                                    view! {
                                        <p class="rounded-lg border border-dashed border-slate-300 p-6 text-slate-600" data-testid="domains-empty">
                                            "No domains yet. Add the domain of your work email addresses, such as acme.com."
                                        </p>
                                    }.into_any()
                                } else {
                                    view! { <ul class="space-y-4">{cards}</ul> }.into_any()
                                }}
                                <DnsHelp />
                            </PortalFrame>
                        }.into_any()
                    }
                    (Err(e), _) | (_, Err(e)) => view! { <PortalProblem err=e /> }.into_any(),
                })
            }}
        </Suspense>
    }
}

#[component]
fn DnsHelp() -> impl IntoView {
    let hosts = [
        ("Cloudflare", "DNS → Records → Add record. Type TXT; Name: the part before your domain (e.g. _lanyard-challenge); Content: the value."),
        ("Amazon Route 53", "Hosted zones → your domain → Create record. Record type TXT; Record name: _lanyard-challenge; Value: the value in double quotes."),
        ("Google Cloud DNS", "Cloud DNS → your zone → Add standard. DNS name: _lanyard-challenge; Resource record type TXT; TXT data: the value."),
        ("GoDaddy", "My Products → DNS → Add New Record. Type TXT; Name: _lanyard-challenge; Value: the value."),
        ("Namecheap", "Domain List → Manage → Advanced DNS → Add new record. TXT Record; Host: _lanyard-challenge; Value: the value."),
        ("Microsoft 365 / Azure DNS", "DNS zone → + Record set. Name: _lanyard-challenge; Type TXT; Value: the value."),
    ];
    view! {
        <details class="mt-8 rounded-xl border border-slate-200 bg-white p-5">
            <summary class="cursor-pointer font-medium">"How to add a TXT record with common DNS hosts"</summary>
            <dl class="mt-3 space-y-3 text-sm">
                {hosts
                    .into_iter()
                    .map(|(h, how)| view! {
                        <div>
                            <dt class="font-medium">{h}</dt>
                            <dd class="text-slate-600">{how}</dd>
                        </div>
                    })
                    .collect_view()}
            </dl>
            <p class="mt-3 text-sm text-slate-600">
                "New records usually appear within minutes, sometimes up to an hour. Click Check now when you have saved it; we also keep checking on our own."
            </p>
        </details>
    }
}
