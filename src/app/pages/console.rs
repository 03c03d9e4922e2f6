//! The vendor's support console (`/console`): every tenant's health at a glance, one tenant's
//! everything, a member's access explained, and the vendor-wide credentials. Staff sign in at
//! `/console/signin` (password + TOTP); viewers read, admins may also act.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::action_error;
use crate::api::console::{
    console_credentials, console_member, console_tenant, console_tenants, ConsoleCreateLink,
    ConsoleRefresh, ConsoleResendInvitation, ConsoleRevokeApiKey, ConsoleSimulate, CredentialLine,
    DriftLine, InvitationLine, Line, SignalLine, StaffInfo, TenantPage,
};
use crate::api::policy::{PointLine, SimLine};
use crate::api::PortalError;
use crate::app::components::{DayChart, LocalTime};
use crate::domain::health::{HealthStatus, Severity};
use crate::domain::staff::StaffRole;
use crate::domain::text::neutralize as shown;

/// Page chrome: the window title, who is signed in, navigation, breadcrumbs (`crumbs`: the
/// pages above this one, as (href, label)), sign out.
#[component]
fn ConsoleFrame(
    me: StaffInfo,
    #[prop(into)] title: String,
    #[prop(optional)] crumbs: Vec<(String, String)>,
    children: Children,
) -> impl IntoView {
    let trail = (!crumbs.is_empty()).then(|| {
        let here = title.clone();
        view! {
            <nav aria-label="Breadcrumb" class="mb-3 text-sm" data-testid="breadcrumbs">
                <ol class="flex flex-wrap items-center gap-1 text-slate-600">
                    {crumbs.into_iter().map(|(href, label)| view! {
                        <li><a href=href class="text-indigo-700 underline">{shown(&label)}</a><span class="px-1" aria-hidden="true">"›"</span></li>
                    }).collect_view()}
                    <li aria-current="page" class="text-slate-700">{shown(&here)}</li>
                </ol>
            </nav>
        }
    });
    view! {
        <Title text=format!("{} · Lanyard support console", shown(&title)) />
        <a href="#main" class="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:rounded focus:bg-white focus:px-3 focus:py-2 focus:text-slate-900">
            "Skip to content"
        </a>
        <header class="border-b border-slate-200 bg-slate-900 text-white">
            <div class="mx-auto flex max-w-6xl items-center justify-between px-6 py-4">
                <div class="flex items-center gap-4">
                    <span class="font-semibold">"Lanyard support console"</span>
                    <nav aria-label="Console" class="flex items-center gap-4">
                        <A href="/console" exact=true attr:class="text-sm underline">"Tenants"</A>
                        <A href="/console/credentials" attr:class="text-sm underline">"Vendor credentials"</A>
                    </nav>
                </div>
                <div class="flex items-center gap-3 text-sm">
                    <span data-testid="staff-email">{me.email}</span>
                    <span class="rounded-full bg-slate-700 px-2 py-0.5 text-xs" data-testid="staff-role">{me.role}</span>
                    <form method="post" action="/console/signout">
                        <button type="submit" class="underline" data-testid="sign-out">"Sign out"</button>
                    </form>
                </div>
            </div>
        </header>
        <main id="main" class="mx-auto max-w-6xl px-6 py-8">{trail}{children()}</main>
    }
}

/// Shown when a console call fails.
#[component]
fn ConsoleProblem(err: PortalError) -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            let status = match &err {
                PortalError::SignedOut => http::StatusCode::UNAUTHORIZED,
                PortalError::NotInScope(_) => http::StatusCode::FORBIDDEN,
                PortalError::Invalid { field, .. } if field == "id" => http::StatusCode::NOT_FOUND,
                _ => http::StatusCode::INTERNAL_SERVER_ERROR,
            };
            resp.set_status(status);
        }
    }
    let signed_out = matches!(err, PortalError::SignedOut);
    let message = console_message(&err);
    view! {
        <Title text="Support console · Lanyard" />
        <main class="mx-auto max-w-xl px-6 py-16">
            <h1 class="mb-4 text-2xl font-semibold">"Support console"</h1>
            <p class="rounded-lg bg-amber-50 p-4 text-amber-900" data-testid="console-error">{message}</p>
            <Show when=move || signed_out>
                <p class="mt-4"><a href="/console/signin" class="text-indigo-700 underline" data-testid="go-sign-in">"Sign in to the support console"</a></p>
            </Show>
        </main>
    }
}

/// Console wording for an error (the portal's talks about setup links).
fn console_message(err: &PortalError) -> String {
    match err {
        PortalError::SignedOut => {
            "You are not signed in to the support console, or your session ended.".into()
        }
        PortalError::NotInScope(what) => format!("Not allowed: {what}."),
        other => other.to_string(),
    }
}

fn console_error<T: Clone + Send + Sync + 'static>(
    v: Option<Result<T, PortalError>>,
) -> Option<String> {
    match v {
        Some(Err(e)) => Some(console_message(&e)),
        other => action_error(other),
    }
}

fn status_badge(status: &str) -> (&'static str, &'static str) {
    match HealthStatus::parse(status) {
        Some(HealthStatus::Failing) => ("Failing", "bg-rose-100 text-rose-800"),
        Some(HealthStatus::Attention) => ("Needs attention", "bg-amber-100 text-amber-800"),
        _ => ("OK", "bg-emerald-100 text-emerald-800"),
    }
}

/// `/console`: the tenants list.
#[component]
pub fn Tenants() -> impl IntoView {
    let query = use_query_map();
    let q = move |k: &str| query.read().get(k).unwrap_or_default();
    let data = Resource::new(
        move || (q("q"), q("status")),
        |(s, st)| console_tenants(s, st),
    );
    view! {
        <Suspense fallback=|| view! { <p class="p-6">"Loading…"</p> }>
            {move || data.get().map(|d| match d {
                Ok(page) => {
                    let search = q("q");
                    let status = q("status");
                    let filtered = !search.is_empty() || !status.is_empty();
                    let empty = page.tenants.is_empty();
                    let total = page.total;
                    view! {
                        <ConsoleFrame me=page.me title="Tenants">
                            <h1 class="mb-1 text-2xl font-semibold">"Tenants"</h1>
                            <p class="mb-4 text-slate-600">"Every organization, the ones that need attention first. Health is checked every 10 minutes and whenever a tenant page is opened."</p>
                            <form method="get" action="/console" class="mb-4 flex flex-wrap items-end gap-3" data-testid="tenant-filters">
                                <label class="text-sm">"Search"
                                    <input name="q" value=search placeholder="name, org_… or external id" class="ml-2 rounded-lg border border-slate-300 px-3 py-1" data-testid="tenant-search" />
                                </label>
                                <label class="text-sm">"Status"
                                    <select name="status" class="ml-2 rounded-lg border border-slate-300 px-2 py-1" data-testid="tenant-status">
                                        {[("", "all"), (HealthStatus::Failing.as_str(), "failing"), (HealthStatus::Attention.as_str(), "needs attention"), (HealthStatus::Ok.as_str(), "ok")].into_iter().map(|(v, l)| {
                                            let selected = v == status;
                                            view! { <option value=v selected=selected>{l}</option> }
                                        }).collect_view()}
                                    </select>
                                </label>
                                <button type="submit" class="rounded-lg bg-slate-900 px-3 py-1 text-sm text-white" data-testid="tenant-filter-submit">"Apply"</button>
                            </form>
                            {if empty {
                                let msg = if filtered {
                                    format!("No tenant matches these filters ({total} tenants in all). Clear the search to see them all.")
                                } else {
                                    "No organizations yet. They appear here once the vendor's backend creates them through the API (POST /api/v1/organizations).".to_owned()
                                };
                                view! { <p class="rounded-lg border border-dashed border-slate-300 p-6 text-slate-600" data-testid="tenants-empty">{msg}</p> }.into_any()
                            } else {
                                view! {
                                    <table class="w-full text-left text-sm" data-testid="tenants">
                                        <thead class="text-xs uppercase text-slate-600">
                                            <tr><th scope="col" class="py-2 pr-3">"Organization"</th><th scope="col" class="pr-3">"Health"</th><th scope="col" class="pr-3">"SSO"</th><th scope="col" class="pr-3">"Directory"</th><th scope="col" class="pr-3">"Domains"</th><th scope="col" class="pr-3">"Invitations"</th><th scope="col" class="pr-3">"Setup links"</th><th scope="col">"Drift"</th></tr>
                                        </thead>
                                        <tbody>
                                            {page.tenants.into_iter().map(|t| {
                                                let (label, class) = status_badge(&t.status);
                                                view! {
                                                    <tr class="border-t border-slate-200 align-top" data-testid="tenant-row" data-org=t.id.clone() data-status=t.status.clone()>
                                                        <td class="py-2 pr-3">
                                                            <a href=format!("/console/organizations/{}", t.id) class="font-medium text-indigo-700 underline" data-testid="tenant-link">{shown(&t.name)}</a>
                                                            <div class="font-mono text-xs text-slate-500">{t.id.clone()}{t.external_id.clone().map(|e| format!(" · {e}"))}</div>
                                                            {t.top_signal.clone().map(|s| view! { <div class="mt-1 text-xs text-slate-600" data-testid="top-signal">{shown(&s)}</div> })}
                                                        </td>
                                                        <td class="pr-3"><span class=format!("rounded-full px-2 py-0.5 text-xs font-medium {class}")>{label}</span></td>
                                                        <td class="pr-3">{shown(&t.sso)}</td>
                                                        <td class="pr-3">{shown(&t.directory)}</td>
                                                        <td class="pr-3">{t.domains}</td>
                                                        <td class="pr-3">{t.invitations}</td>
                                                        <td class="pr-3">{t.setup_links}</td>
                                                        <td data-testid="tenant-drift">{t.drift}</td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                }.into_any()
                            }}
                        </ConsoleFrame>
                    }.into_any()
                }
                Err(e) => view! { <ConsoleProblem err=e /> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn Lines(lines: Vec<Line>, empty: &'static str, testid: &'static str) -> impl IntoView {
    if lines.is_empty() {
        return view! { <p class="text-sm text-slate-500" data-testid=format!("{testid}-empty")>{empty}</p> }.into_any();
    }
    view! {
        <ul class="divide-y divide-slate-100 text-sm" data-testid=testid>
            {lines.into_iter().map(|l| view! {
                <li class="py-2" data-testid="line">
                    <div class=if l.bad { "font-medium text-rose-800" } else { "font-medium" }>{shown(&l.title)}</div>
                    <div class="text-xs text-slate-600"><LocalTime utc=l.at /></div>
                    <pre class="mt-1 whitespace-pre-wrap break-all text-xs text-slate-600">{shown(&l.detail)}</pre>
                </li>
            }).collect_view()}
        </ul>
    }
    .into_any()
}

#[component]
fn DriftList(org: String, drift: Vec<DriftLine>) -> impl IntoView {
    if drift.is_empty() {
        return view! { <p class="text-sm text-slate-500" data-testid="drift-empty">"No drift: access matches the directory, domains and invitations."</p> }.into_any();
    }
    view! {
        <ul class="space-y-2" data-testid="drift">
            {drift.into_iter().map(|f| {
                let link = f.membership_id.clone().map(|m| format!("/console/organizations/{org}/members/{m}"));
                view! {
                    <li class="rounded-lg border border-amber-200 bg-amber-50 p-3 text-sm" data-testid="drift-finding" data-kind=f.kind.clone()>
                        <div class="font-medium">{f.kind_label}</div>
                        <div class="text-slate-700">{shown(&f.detail)}</div>
                        {link.map(|href| view! { <a href=href class="text-indigo-700 underline" data-testid="why-link">"Why does this person have access?"</a> })}
                    </li>
                }
            }).collect_view()}
        </ul>
    }
    .into_any()
}

#[component]
fn Credentials(
    creds: Vec<CredentialLine>,
    revoke: Option<ServerAction<ConsoleRevokeApiKey>>,
) -> impl IntoView {
    if creds.is_empty() {
        return view! { <p class="text-sm text-slate-500" data-testid="credentials-empty">"No credentials yet."</p> }.into_any();
    }
    view! {
        <table class="w-full text-left text-sm" data-testid="credentials">
            <thead class="text-xs uppercase text-slate-600"><tr><th scope="col" class="py-1 pr-2">"Credential"</th><th scope="col" class="pr-2">"Age"</th><th scope="col" class="pr-2">"Created by"</th><th scope="col" class="pr-2">"Last used"</th><th scope="col" class="pr-2">"Expires"</th><th scope="col" class="pr-2">"Flags"</th><th scope="col"><span class="sr-only">"Actions"</span></th></tr></thead>
            <tbody>
                {creds.into_iter().map(|c| {
                    let api_key = c.kind == "Vendor API key";
                    let id = c.id.clone();
                    view! {
                        <tr class="border-t border-slate-200 align-top" data-testid="credential" data-id=c.id.clone()>
                            <td class="py-1 pr-2"><div class="font-medium">{c.kind}</div><div class="text-xs text-slate-600">{shown(&c.name)}{c.hint.map(|h| format!(" · {}", shown(&h)))}</div></td>
                            <td class="pr-2">{c.age}</td>
                            <td class="pr-2">{shown(&c.created_by)}</td>
                            <td class="pr-2">{c.last_used}</td>
                            <td class="pr-2">{c.expires}</td>
                            <td class="pr-2" data-testid="credential-flags">{c.flags.join(", ")}</td>
                            <td>{revoke.filter(|_| api_key).map(|a| view! {
                                <ActionForm action=a>
                                    <input type="hidden" name="id" value=id.clone() />
                                    <button type="submit" class="rounded border border-rose-300 px-2 text-xs text-rose-800" data-testid="revoke-key">"Revoke"</button>
                                </ActionForm>
                            })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

fn section(title: &'static str) -> impl IntoView {
    view! { <h2 class="mt-8 mb-2 text-lg font-semibold">{title}</h2> }
}

/// `/console/organizations/:id`: everything about one organization.
#[component]
pub fn Tenant() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let refresh = ServerAction::<ConsoleRefresh>::new();
    let link = ServerAction::<ConsoleCreateLink>::new();
    let resend = ServerAction::<ConsoleResendInvitation>::new();
    let simulate = ServerAction::<ConsoleSimulate>::new();
    let data = Resource::new(
        move || {
            (
                id(),
                refresh.version().get(),
                link.version().get(),
                resend.version().get(),
                simulate.version().get(),
            )
        },
        |(id, _, _, _, _)| console_tenant(id),
    );
    view! {
        <Suspense fallback=|| view! { <p class="p-6">"Loading…"</p> }>
            {move || data.get().map(|d| match d {
                Ok(p) => view! { <TenantDetail p refresh link resend simulate /> }.into_any(),
                Err(e) => view! { <ConsoleProblem err=e /> }.into_any(),
            })}
        </Suspense>
    }
}

/// The first failure of the tenant page's actions, worded for staff.
fn tenant_action_error(
    refresh: ServerAction<ConsoleRefresh>,
    link: ServerAction<ConsoleCreateLink>,
    resend: ServerAction<ConsoleResendInvitation>,
    simulate: ServerAction<ConsoleSimulate>,
) -> Option<String> {
    console_error(refresh.value().get())
        .or_else(|| console_error(link.value().get()))
        .or_else(|| console_error(resend.value().get()))
        .or_else(|| console_error(simulate.value().get()))
}

/// One organization's page, section by section.
#[component]
fn TenantDetail(
    p: TenantPage,
    refresh: ServerAction<ConsoleRefresh>,
    link: ServerAction<ConsoleCreateLink>,
    resend: ServerAction<ConsoleResendInvitation>,
    simulate: ServerAction<ConsoleSimulate>,
) -> impl IntoView {
    let TenantPage {
        me,
        id,
        name,
        external_id,
        status,
        computed_at,
        signals,
        sso,
        directories,
        summary,
        drift,
        credentials,
        timeline,
        failed_sign_ins,
        scim_log,
        deliveries,
        invitations,
        new_link,
        points,
        paths,
        simulation,
        charts,
    } = p;
    let admin = me.role == StaffRole::Admin;
    let drift_csv = format!("/console/organizations/{id}/drift.csv");
    let refresh_org = id.clone();
    let crumbs = vec![("/console".to_owned(), "Tenants".to_owned())];
    view! {
        <ConsoleFrame me title=name.clone() crumbs>
            <TenantHeading id=id.clone() name external_id status computed_at />
            {move || tenant_action_error(refresh, link, resend, simulate).map(|e| view! { <p class="mt-3 rounded-lg bg-rose-50 p-3 text-rose-900" role="alert" data-testid="form-error">{e}</p> })}
            <ActionForm action=refresh attr:class="mt-3">
                <input type="hidden" name="organization_id" value=refresh_org />
                <button type="submit" class="rounded-lg border border-slate-300 px-3 py-1 text-sm" data-testid="refresh">"Check again now"</button>
            </ActionForm>

            {section("What needs attention")}
            <Signals signals />
            <Summary summary />

            {section("Last 14 days")}
            <div class="grid gap-x-8 md:grid-cols-2" data-testid="charts">
                {charts.into_iter().map(|c| view! {
                    <DayChart title=shown(&c.title) ok_label=c.ok_label bad_label=c.bad_label days=c.days testid="tenant-chart" />
                }).collect_view()}
            </div>

            {section("SSO connections")}
            <Bullets items=sso testid="sso" empty="No SSO connection. Send the customer a setup link with SSO." />
            {section("Directories")}
            <Bullets items=directories testid="directories" empty="No directory. Send the customer a setup link with directory sync." />

            {section("Drift")}
            <p class="mb-2 text-sm"><a href=drift_csv class="text-indigo-700 underline" data-testid="drift-export">"Export the drift report (CSV)"</a></p>
            <DriftList org=id.clone() drift />

            {section("Credentials")}
            <Credentials creds=credentials revoke=None />

            {section("Last failed sign-ins")}
            <Lines lines=failed_sign_ins empty="No failed sign-ins recorded." testid="failed-sign-ins" />

            {section("Pending invitations")}
            <PendingInvitations org=id.clone() invitations admin resend />

            {section("Setup link for the customer's admin")}
            <NewSetupLink new_link />
            <CreateLinkForm org=id.clone() admin link />

            {section("Access policy")}
            <ControlPoints points />
            <Simulator org=id.clone() paths simulate />
            <SimulationResult simulation />

            {section("Timeline")}
            <Lines lines=timeline empty="No activity yet." testid="timeline" />
            {section("SCIM requests")}
            <Lines lines=scim_log empty="No SCIM request yet." testid="scim-log" />
            {section("Webhook and log stream deliveries")}
            <Lines lines=deliveries empty="No delivery of this organization's events yet." testid="deliveries" />
        </ConsoleFrame>
    }
}

/// Back link, name with its health badge, ids and when the health was computed.
#[component]
fn TenantHeading(
    id: String,
    name: String,
    external_id: Option<String>,
    status: String,
    computed_at: String,
) -> impl IntoView {
    let (label, class) = status_badge(&status);
    view! {
        <div class="flex flex-wrap items-center gap-3">
            <h1 class="text-2xl font-semibold" data-testid="tenant-name">{shown(&name)}</h1>
            <span class=format!("rounded-full px-2 py-0.5 text-xs font-medium {class}") data-testid="tenant-status">{label}</span>
        </div>
        <p class="font-mono text-xs text-slate-500">{id}{external_id.map(|e| format!(" · external id {e}"))}" · checked "{computed_at}</p>
    }
}

/// The health signals, or a word that there are none.
#[component]
fn Signals(signals: Vec<SignalLine>) -> impl IntoView {
    if signals.is_empty() {
        view! { <p class="text-sm text-emerald-800" data-testid="signals-empty">"Nothing: SSO, directory, domains and invitations look healthy."</p> }.into_any()
    } else {
        view! {
            <ul class="space-y-1 text-sm" data-testid="signals">
                {signals.into_iter().map(|s| view! {
                    <li class=if s.severity == Severity::Error { "rounded bg-rose-50 p-2 text-rose-900" } else { "rounded bg-amber-50 p-2 text-amber-900" } data-testid="signal" data-area=s.area.clone()>
                        {shown(&format!("{} · {}", s.area, s.message))}
                    </li>
                }).collect_view()}
            </ul>
        }.into_any()
    }
}

/// The summary tiles: (label, value).
#[component]
fn Summary(summary: Vec<(String, String)>) -> impl IntoView {
    view! {
        <dl class="mt-6 grid grid-cols-2 gap-2 text-sm md:grid-cols-4" data-testid="summary">
            {summary.into_iter().map(|(k, v)| view! {
                <div class="rounded-lg border border-slate-200 bg-white p-3"><dt class="text-xs text-slate-500">{k}</dt><dd>{shown(&v)}</dd></div>
            }).collect_view()}
        </dl>
    }
}

/// A bulleted list of one-line descriptions, or `empty` when there are none.
#[component]
fn Bullets(items: Vec<String>, testid: &'static str, empty: &'static str) -> impl IntoView {
    if items.is_empty() {
        view! { <p class="text-sm text-slate-500" data-testid=format!("{testid}-empty")>{empty}</p> }.into_any()
    } else {
        view! { <ul class="list-disc pl-5 text-sm" data-testid=testid>{items.into_iter().map(|l| view! { <li>{shown(&l)}</li> }).collect_view()}</ul> }.into_any()
    }
}

/// Pending invitations; admins may send one again.
#[component]
fn PendingInvitations(
    org: String,
    invitations: Vec<InvitationLine>,
    admin: bool,
    resend: ServerAction<ConsoleResendInvitation>,
) -> impl IntoView {
    if invitations.is_empty() {
        return view! { <p class="text-sm text-slate-500" data-testid="invitations-empty">"No pending invitation."</p> }.into_any();
    }
    view! {
        <ul class="divide-y divide-slate-100 text-sm" data-testid="invitations">
            {invitations.into_iter().map(|i| {
                let org = org.clone();
                view! {
                    <li class="flex flex-wrap items-center justify-between gap-2 py-2" data-testid="invitation">
                        <span>{shown(&format!("{} · {} · expires {} · {}", i.email, i.role, i.expires, i.delivery))}</span>
                        {admin.then(|| view! {
                            <ActionForm action=resend>
                                <input type="hidden" name="organization_id" value=org.clone() />
                                <input type="hidden" name="invitation_id" value=i.id.clone() />
                                <button type="submit" class="rounded border border-slate-300 px-2 text-xs" data-testid="resend">"Send again"</button>
                            </ActionForm>
                        })}
                    </li>
                }
            }).collect_view()}
        </ul>
    }
    .into_any()
}

/// A setup link this staff member just created, shown once.
#[component]
fn NewSetupLink(new_link: Option<String>) -> impl IntoView {
    new_link.map(|l| view! {
        <div class="mb-3 rounded-lg bg-emerald-50 p-3 text-sm" data-testid="new-link">
            <p class="mb-1">"Send this link to the customer's admin. It is shown once, works once and expires in 24 hours."</p>
            <crate::app::components::CopyField label="Setup link" value=l testid="new-link-value" />
        </div>
    })
}

/// Admins create a setup link (choosing what it opens); viewers are told whom to ask.
#[component]
fn CreateLinkForm(
    org: String,
    admin: bool,
    link: ServerAction<ConsoleCreateLink>,
) -> impl IntoView {
    if !admin {
        return view! { <p class="text-sm text-slate-500" data-testid="viewer-note">"Your staff role is viewer: ask a console admin to create setup links or resend invitations."</p> }.into_any();
    }
    view! {
        <ActionForm action=link attr:class="rounded-xl border border-slate-200 bg-white p-4 text-sm" attr:data-testid="create-link">
            <input type="hidden" name="link[organization_id]" value=org />
            <fieldset class="flex flex-wrap gap-3">
                <legend class="mb-1 font-medium">"The link opens"</legend>
                {[("sso", "SSO"), ("domain_verification", "Domains"), ("dsync", "Directory sync"), ("invitations", "Members"), ("audit_logs", "Activity"), ("log_streams", "Log streams")].into_iter().map(|(n, l)| view! {
                    <label><input type="checkbox" name=format!("link[{n}]") value="on" /> " " {l}</label>
                }).collect_view()}
            </fieldset>
            <label class="mt-2 block">"Admin's email (optional) "
                <input name="link[admin_email]" type="email" class="rounded border border-slate-300 px-2 py-1" />
            </label>
            <button type="submit" class="mt-2 rounded-lg bg-slate-900 px-3 py-1 text-white" data-testid="create-link-submit">"Create setup link"</button>
        </ActionForm>
    }
    .into_any()
}

/// The organization's control points, each with its decisions in words.
#[component]
fn ControlPoints(points: Vec<PointLine>) -> impl IntoView {
    view! {
        <ol class="space-y-2 text-sm" data-testid="control-points">
            {points.into_iter().map(|cp| view! {
                <li data-testid="control-point" data-key=cp.key.clone()>
                    <span class="font-medium">{cp.title}</span>
                    <ul class="list-disc pl-5 text-slate-700">{cp.decisions.into_iter().map(|d| view! { <li>{d}</li> }).collect_view()}</ul>
                </li>
            }).collect_view()}
        </ol>
    }
}

/// The access simulator: an email and a sign-in path.
#[component]
fn Simulator(
    org: String,
    paths: Vec<(String, String)>,
    simulate: ServerAction<ConsoleSimulate>,
) -> impl IntoView {
    view! {
        <ActionForm action=simulate attr:class="mt-3 flex flex-wrap items-end gap-2 text-sm" attr:data-testid="simulator">
            <input type="hidden" name="organization_id" value=org />
            <label>"Email "<input name="email" type="email" required class="rounded border border-slate-300 px-2 py-1" data-testid="sim-email" /></label>
            <label>"Sign-in path "
                <select name="path" class="rounded border border-slate-300 px-2 py-1" data-testid="sim-path">
                    {paths.into_iter().map(|(v, l)| view! { <option value=v>{l}</option> }).collect_view()}
                </select>
            </label>
            <button type="submit" class="rounded-lg border border-slate-300 px-3 py-1" data-testid="sim-submit">"Simulate"</button>
        </ActionForm>
    }
}

/// The last simulation's decision and the rules that led to it.
#[component]
fn SimulationResult(simulation: Option<SimLine>) -> impl IntoView {
    simulation.map(|sim| view! {
        <div class="mt-2 rounded-lg bg-slate-100 p-3 text-sm" data-testid="sim-result" data-decision=sim.decision.clone()>
            <p class="font-medium">{shown(&format!("{}: {}{}", sim.email, sim.decision, sim.role.map(|r| format!(" as {r}")).unwrap_or_default()))}</p>
            <ol class="list-decimal pl-5">{sim.reasons.into_iter().map(|(rule, outcome, detail)| view! {
                <li data-testid="sim-reason" data-rule=rule.clone() data-outcome=outcome.clone()>{shown(&format!("{rule} · {outcome}: {detail}"))}</li>
            }).collect_view()}</ol>
        </div>
    })
}

/// `/console/organizations/:id/members/:member`: why this person has access.
#[component]
pub fn ConsoleMember() -> impl IntoView {
    let params = use_params_map();
    let ids = move || {
        let p = params.read();
        (
            p.get("id").unwrap_or_default(),
            p.get("member").unwrap_or_default(),
        )
    };
    let data = Resource::new(ids, |(o, m)| console_member(o, m));
    view! {
        <Suspense fallback=|| view! { <p class="p-6">"Loading…"</p> }>
            {move || data.get().map(|d| match d {
                Ok(p) => view! {
                    <ConsoleFrame me=p.me.clone() title=p.email.clone() crumbs=vec![("/console".to_owned(), "Tenants".to_owned()), (format!("/console/organizations/{}", p.organization_id), p.organization_name.clone())]>
                        <h1 class="text-2xl font-semibold" data-testid="member-email">{shown(&p.email)}</h1>
                        <p class="text-slate-700" data-testid="member-summary">{format!("Role {} · {} · last sign-in {}", p.role, p.state, p.last_sign_in)}</p>
                        <p class="mt-2 text-sm text-slate-700">{shown(&format!("Joined: {}. Role: {}.", p.source, p.role_source))}</p>
                        {section("Why this person has access")}
                        <Lines lines=p.grants.clone() empty="No grants recorded." testid="grants" />
                        {section("Drift")}
                        <DriftList org=p.organization_id.clone() drift=p.drift.clone() />
                    </ConsoleFrame>
                }.into_any(),
                Err(e) => view! { <ConsoleProblem err=e /> }.into_any(),
            })}
        </Suspense>
    }
}

/// `/console/credentials`: vendor API keys and webhook secrets.
#[component]
pub fn VendorCredentials() -> impl IntoView {
    let revoke = ServerAction::<ConsoleRevokeApiKey>::new();
    let data = Resource::new(move || revoke.version().get(), |_| console_credentials());
    view! {
        <Suspense fallback=|| view! { <p class="p-6">"Loading…"</p> }>
            {move || data.get().map(|d| match d {
                Ok(p) => {
                    let admin = p.me.role == StaffRole::Admin;
                    view! {
                        <ConsoleFrame me=p.me.clone() title="Vendor credentials">
                            <h1 class="mb-1 text-2xl font-semibold">"Vendor credentials"</h1>
                            <p class="mb-4 text-slate-600">"The vendor's API keys and webhook signing secrets: age, last use and who created them. Secrets are never shown."</p>
                            {move || console_error(revoke.value().get()).map(|e| view! { <p class="mb-3 rounded-lg bg-rose-50 p-3 text-rose-900" role="alert" data-testid="form-error">{e}</p> })}
                            <Credentials creds=p.credentials.clone() revoke=admin.then_some(revoke) />
                        </ConsoleFrame>
                    }.into_any()
                }
                Err(e) => view! { <ConsoleProblem err=e /> }.into_any(),
            })}
        </Suspense>
    }
}
