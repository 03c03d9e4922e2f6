//! `/portal/policy`: the five control points in words, the decision simulator, and the policy
//! form (fields the session's intents own; preview the impact before saving).

use leptos::form::ActionForm;
use leptos::prelude::*;

use super::action_error;
use super::portal::{PortalFrame, PortalProblem};
use crate::api::policy::{portal_policy, PolicyPage, SimulateAccess, UpdatePolicy};
use crate::api::portal::portal_overview;
use crate::domain::policy::{DeactivationAction, Inviters};

fn outcome_class(outcome: &str) -> &'static str {
    match outcome {
        "allow" => "text-emerald-800",
        "deny" => "text-rose-800",
        _ => "text-slate-600",
    }
}

fn select_on_off(name: &'static str, value: bool, testid: &'static str) -> impl IntoView {
    view! {
        <select name=name class="mt-1 rounded-lg border border-slate-300 px-2 py-1" data-testid=testid>
            <option value="on" selected=value>"on"</option>
            <option value="off" selected=!value>"off"</option>
        </select>
    }
}

#[component]
fn PolicyForm(page: PolicyPage, update: ServerAction<UpdatePolicy>) -> impl IntoView {
    let editable = page.editable.clone();
    let can = move |f: &str| editable.iter().any(|e| e == f);
    let PolicyPage {
        sso_required_domains,
        guest_invitations,
        jit_enabled,
        default_role,
        inviters,
        invitable_roles,
        directory_authoritative,
        directory_deactivation,
        removal_grace_days,
        protect_last_admin,
        roles,
        ..
    } = page.clone();
    let locked_note = (!page.locked.is_empty()).then(|| {
        format!(
            "Your vendor set these for your organization: {}.",
            page.locked.join(", ")
        )
    });
    let label = "mt-3 block text-sm font-medium";
    let input = "mt-1 w-full rounded-lg border border-slate-300 px-3 py-2";
    let none = page.editable.is_empty();
    view! {
        <ActionForm action=update attr:class="rounded-xl border border-slate-200 bg-white p-5" attr:data-testid="policy-form">
            <h2 class="font-medium">"Change the policy"</h2>
            {locked_note.map(|n| view! { <p class="mt-1 text-sm text-slate-600">{n}</p> })}
            {none.then(|| view! { <p class="mt-2 text-sm text-slate-600" data-testid="policy-readonly">"Your setup link lets you read the policy, not change it. Ask your vendor for a link with SSO, Members or Directory sync to change the matching rules."</p> })}
            {can("sso_required_domains").then(|| view! {
                <label class=label for="p-sso">"SSO required for (domains, comma separated; * = every verified domain)"</label>
                <input id="p-sso" name="policy[sso_required_domains]" value=sso_required_domains.clone() class=input data-testid="sso-required-domains" />
            })}
            {can("jit_enabled").then(|| view! {
                <label class=label>"JIT provisioning (add people on verified domains at first sign-in) " {select_on_off("policy[jit_enabled]", jit_enabled, "jit-enabled")}</label>
            })}
            {can("default_role").then(|| view! {
                <label class=label>"Default role "
                    <select name="policy[default_role]" class="mt-1 rounded-lg border border-slate-300 px-2 py-1" data-testid="default-role">
                        {roles.clone().into_iter().map(|(slug, name)| {
                            let sel = slug == default_role;
                            view! { <option value=slug selected=sel>{name}</option> }
                        }).collect_view()}
                    </select>
                </label>
            })}
            {can("guest_invitations").then(|| view! {
                <label class=label>"Invitations to addresses outside your verified domains " {select_on_off("policy[guest_invitations]", guest_invitations, "guest-invitations")}</label>
            })}
            {can("inviters").then(|| {
                let admins = inviters == Inviters::Admins;
                view! {
                    <label class=label>"Who may invite "
                        <select name="policy[inviters]" class="mt-1 rounded-lg border border-slate-300 px-2 py-1" data-testid="inviters">
                            <option value=Inviters::Members.as_str() selected=!admins>"any member, up to their own role"</option>
                            <option value=Inviters::Admins.as_str() selected=admins>"admins only"</option>
                        </select>
                    </label>
                }
            })}
            {can("invitable_roles").then(|| view! {
                <label class=label for="p-roles">"Roles invitations may grant (comma separated; empty = any)"</label>
                <input id="p-roles" name="policy[invitable_roles]" value=invitable_roles.clone() class=input data-testid="invitable-roles" />
            })}
            {can("directory_authoritative").then(|| view! {
                <label class=label>"The directory is authoritative " {select_on_off("policy[directory_authoritative]", directory_authoritative, "directory-authoritative")}</label>
            })}
            {can("directory_deactivation").then(|| {
                let remove = directory_deactivation == DeactivationAction::Remove;
                view! {
                    <label class=label>"When the directory deactivates someone "
                        <select name="policy[directory_deactivation]" class="mt-1 rounded-lg border border-slate-300 px-2 py-1" data-testid="directory-deactivation">
                            <option value=DeactivationAction::Suspend.as_str() selected=!remove>"suspend them"</option>
                            <option value=DeactivationAction::Remove.as_str() selected=remove>"suspend, then remove them"</option>
                        </select>
                    </label>
                }
            })}
            {can("removal_grace_days").then(|| view! {
                <label class=label for="p-grace">"Days before removal (0–90)"</label>
                <input id="p-grace" name="policy[removal_grace_days]" type="number" min="0" max="90" value=removal_grace_days.to_string() class=input data-testid="removal-grace-days" />
            })}
            {can("protect_last_admin").then(|| view! {
                <label class=label>"Protect the last active admin from removal " {select_on_off("policy[protect_last_admin]", protect_last_admin, "protect-last-admin")}</label>
            })}
            {(!none).then(|| view! {
                <label class="mt-4 block text-sm">
                    <input type="checkbox" name="policy[dry_run]" value="1" data-testid="policy-dry-run" />
                    " Only preview who would gain or lose access (nothing is saved)"
                </label>
                <button type="submit" class="mt-3 rounded-lg bg-indigo-600 px-4 py-2 text-white" data-testid="policy-save">"Apply"</button>
            })}
        </ActionForm>
    }
}

/// The page.
#[component]
pub fn Policy() -> impl IntoView {
    let update = ServerAction::<UpdatePolicy>::new();
    let simulate = ServerAction::<SimulateAccess>::new();
    let data = Resource::new(
        move || (update.version().get(), simulate.version().get()),
        |_| portal_policy(),
    );
    let overview = Resource::new(|| (), |_| portal_overview());
    let errors =
        move || action_error(update.value().get()).or_else(|| action_error(simulate.value().get()));
    view! {
        <Suspense fallback=|| view! { <p class="p-6">"Loading…"</p> }>
            {move || {
                let (Some(d), Some(o)) = (data.get(), overview.get()) else { return None };
                Some(match (d, o) {
                    (Ok(page), Ok(o)) => {
                        let sim = page.simulation.clone();
                        let change = page.change.clone();
                        let paths = page.paths.clone();
                        view! {
                            <PortalFrame overview=o title="Access policy" current="/portal/policy">
                                <h1 class="mb-2 text-2xl font-semibold">"Access policy"</h1>
                                <p class="mb-6 text-slate-600">"Where each access decision is made for your organization, and by which rule — written from the same settings Lanyard enforces."</p>
                                {move || errors().map(|e| view! {
                                    <p class="mb-4 rounded-lg bg-rose-50 p-4 text-rose-900" role="alert" data-testid="form-error">{e}</p>
                                })}
                                <ol class="mb-8 space-y-3" data-testid="control-points">
                                    {page.points.clone().into_iter().enumerate().map(|(i, p)| view! {
                                        <li class="rounded-xl border border-slate-200 bg-white p-4" data-testid="control-point" data-key=p.key.clone()>
                                            <h2 class="font-medium">{format!("{}. {}", i + 1, p.title)}</h2>
                                            <ul class="mt-1 list-disc pl-5 text-sm text-slate-700">
                                                {p.decisions.into_iter().map(|d| view! { <li data-testid="decision">{d}</li> }).collect_view()}
                                            </ul>
                                        </li>
                                    }).collect_view()}
                                </ol>

                                <h2 class="mb-2 text-lg font-semibold">"Simulate a decision"</h2>
                                <ActionForm action=simulate attr:class="mb-4 rounded-xl border border-slate-200 bg-white p-5" attr:data-testid="simulator">
                                    <label class="block text-sm font-medium" for="sim-email">"Email address"</label>
                                    <input id="sim-email" name="email" type="email" required placeholder="dana@acme.com" class="mt-1 w-full rounded-lg border border-slate-300 px-3 py-2" data-testid="sim-email" />
                                    <label class="mt-3 block text-sm font-medium" for="sim-path">"What happens"</label>
                                    <select id="sim-path" name="path" class="mt-1 w-full rounded-lg border border-slate-300 px-3 py-2" data-testid="sim-path">
                                        {paths.into_iter().map(|(v, l)| view! { <option value=v>{l}</option> }).collect_view()}
                                    </select>
                                    <button type="submit" class="mt-4 rounded-lg bg-indigo-600 px-4 py-2 text-white" data-testid="sim-submit">"Simulate"</button>
                                </ActionForm>
                                {sim.map(|s| {
                                    let allow = s.decision == "allow";
                                    view! {
                                        <div class=if allow { "mb-8 rounded-xl bg-emerald-50 p-4" } else { "mb-8 rounded-xl bg-rose-50 p-4" } data-testid="sim-result" data-decision=s.decision.clone()>
                                            <p class="font-medium">
                                                {format!("{}: {}{}", s.email, if allow { "allowed" } else { "denied" }, s.role.map(|r| format!(" as {r}")).unwrap_or_default())}
                                            </p>
                                            <ol class="mt-2 list-decimal pl-5 text-sm">
                                                {s.reasons.into_iter().map(|(rule, outcome, detail)| view! {
                                                    <li data-testid="sim-reason" data-rule=rule.clone() data-outcome=outcome.clone()>
                                                        <span class=format!("font-medium {}", outcome_class(&outcome))>{format!("{rule} · {outcome}: ")}</span>
                                                        {detail}
                                                    </li>
                                                }).collect_view()}
                                            </ol>
                                        </div>
                                    }
                                })}

                                {change.map(|c| view! {
                                    <div class="mb-4 rounded-xl border border-amber-200 bg-amber-50 p-4 text-sm" data-testid=if c.saved { "policy-saved" } else { "policy-impact" }>
                                        <p class="font-medium">{if c.saved { "Saved. What it changed:" } else { "Preview — nothing saved yet. If you save:" }}</p>
                                        <ul class="mt-1 list-disc pl-5">{c.summary.into_iter().map(|l| view! { <li>{l}</li> }).collect_view()}</ul>
                                        {(!c.people.is_empty()).then(|| view! {
                                            <ul class="mt-2 list-disc pl-5 text-slate-700" data-testid="impact-people">{c.people.into_iter().map(|l| view! { <li>{l}</li> }).collect_view()}</ul>
                                        })}
                                    </div>
                                })}
                                <PolicyForm page=page update />
                            </PortalFrame>
                        }.into_any()
                    }
                    (Err(e), _) | (_, Err(e)) => view! { <PortalProblem err=e /> }.into_any(),
                })
            }}
        </Suspense>
    }
}
