//! `/portal/directories`: directory sync. Create a SCIM directory, copy its base URL and token
//! into the IdP (per-IdP steps), see who and what arrived, map groups to roles with a preview,
//! and read the request log with its health line.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::action_error;
use super::portal::{PortalFrame, PortalProblem};
#[cfg(feature = "hydrate")]
use crate::api::directories::directory_progress;
use crate::api::directories::{
    portal_directories, portal_directory_request, CreateDirectory, DeleteDirectory, DirGroup,
    DirInfo, DirUser, FirstSyncState, LogLine, MapGroup, Preview, RotateDirectoryToken,
    SetDirectoryAuthoritative,
};
use crate::api::portal::portal_overview;
use crate::app::components::{CopyField, DayChart, LocalTime};
use crate::domain::directory::{DirectoryKind, ROLES};
use crate::domain::membership::MembershipState;

/// Setup steps for each IdP, with the two values to paste.
fn steps(kind: &str) -> Vec<&'static str> {
    match DirectoryKind::parse(kind) {
        Some(DirectoryKind::Okta) => vec![
            "In the Okta Admin Console open Applications → your app → General, and under App Settings turn on SCIM provisioning.",
            "Open the Provisioning tab → Integration → Edit. SCIM connector base URL: the base URL below. Unique identifier field for users: userName.",
            "Supported provisioning actions: Push New Users, Push Profile Updates, Push Groups. Authentication Mode: HTTP Header; Authorization: the token below.",
            "Click Test Connector Configuration, then Save. Under Provisioning → To App, enable Create Users, Update User Attributes and Deactivate Users.",
            "Assign people (Assignments tab) and push groups (Push Groups tab). They appear below within seconds.",
        ],
        Some(DirectoryKind::Entra) => vec![
            "In the Microsoft Entra admin center open Enterprise applications → your app → Provisioning → Get started.",
            "Provisioning Mode: Automatic. Tenant URL: the base URL below. Secret Token: the token below. Click Test Connection, then Save.",
            "Under Mappings keep userName mapped to userPrincipalName (or mail); Lanyard reads emails and the enterprise extension too.",
            "Assign users and groups under Users and groups, then Start provisioning. Entra syncs every 40 minutes; Provision on demand pushes one user at once.",
        ],
        Some(DirectoryKind::OneLogin) => vec![
            "In OneLogin open Applications → Add App and choose SCIM Provisioner with SAML (SCIM v2 Enterprise).",
            "On Configuration paste SCIM Base URL: the base URL below, and SCIM Bearer Token: the token below. Enable the API connection.",
            "On Provisioning enable provisioning, then assign users and roles; groups come from rules on the Parameters tab.",
        ],
        Some(DirectoryKind::JumpCloud) => vec![
            "In the JumpCloud Admin Portal open SSO Applications → your app → Identity Management.",
            "Choose SCIM 2.0. Base URL: the base URL below. Token Key: the token below (sent as a Bearer token). Click Test Connection, then Activate.",
            "Bind user groups to the application; members and groups are pushed right away.",
        ],
        _ => vec![
            "Point your SCIM 2.0 client at the base URL below with the header Authorization: Bearer <token>.",
            "Lanyard supports /Users and /Groups with GET (filters eq, ne, co, sw, ew, pr, and, or, not; startIndex/count; attributes), POST, PUT, PATCH and DELETE. Bulk is not supported.",
        ],
    }
}

fn status_class(status: i64) -> &'static str {
    if status >= 400 {
        "bg-rose-100 text-rose-800"
    } else {
        "bg-emerald-100 text-emerald-800"
    }
}

#[component]
fn GroupRow(dir_id: String, g: DirGroup, map: ServerAction<MapGroup>) -> impl IntoView {
    let current = g.role.clone().unwrap_or_default();
    let priority = g.priority.unwrap_or(10).to_string();
    let name = g.name.clone();
    view! {
        <li class="rounded-lg border border-slate-200 p-3" data-testid="group" data-group=name>
            <ActionForm action=map attr:class="flex flex-wrap items-end gap-3">
                <input type="hidden" name="id" value=dir_id />
                <input type="hidden" name="group_id" value=g.id.clone() />
                <div class="min-w-40 grow">
                    <span class="font-medium">{g.name.clone()}</span>
                    <span class="ml-2 text-sm text-slate-600">{crate::domain::text::count(g.members, "member", "members")}</span>
                </div>
                <label class="text-sm">
                    <span class="block text-xs text-slate-500">"Role"</span>
                    <select name="role" class="rounded-lg border border-slate-300 px-2 py-1" data-testid="group-role">
                        <option value="" selected=current.is_empty()>"No role"</option>
                        {ROLES
                            .iter()
                            .map(|r| view! { <option value=*r selected=current == *r>{*r}</option> })
                            .collect_view()}
                    </select>
                </label>
                <label class="text-sm">
                    <span class="block text-xs text-slate-500">"Priority"</span>
                    <input name="priority" value=priority inputmode="numeric" class="w-20 rounded-lg border border-slate-300 px-2 py-1" data-testid="group-priority" />
                </label>
                <button type="submit" name="mode" value="preview" class="rounded-lg border border-slate-300 px-3 py-1.5 text-sm" data-testid="preview">"Preview"</button>
                <button type="submit" name="mode" value="save" class="rounded-lg bg-slate-800 px-3 py-1.5 text-sm text-white" data-testid="save-mapping">"Save"</button>
            </ActionForm>
        </li>
    }
}

/// The health line: when the IdP last called and how many of its calls failed.
fn directory_health(d: &DirInfo) -> String {
    match (&d.last_request_at, d.errors_24h) {
        (None, _) => "No request from your identity provider yet. Paste the base URL and token into it, then run its connection test.".to_owned(),
        (Some(at), 0) => format!("Last request {at} · {} requests in the last 24 hours, no errors.", d.requests_24h),
        (Some(at), e) => format!("Last request {at} · {} requests in the last 24 hours, {e} failed.", d.requests_24h),
    }
}

/// The page's address with the request-log filters (`log=errors`, `method=`).
fn log_filter_href(errors: bool, method: &str) -> String {
    let mut q = Vec::new();
    if errors {
        q.push("log=errors".to_owned());
    }
    if !method.is_empty() {
        q.push(format!("method={method}"));
    }
    if q.is_empty() {
        "/portal/directories".to_owned()
    } else {
        format!("/portal/directories?{}", q.join("&"))
    }
}

/// One directory: health, credentials, setup steps, groups, people, request log.
#[component]
fn DirectoryCard(
    d: DirInfo,
    errors_only: bool,
    method: String,
    rotate: ServerAction<RotateDirectoryToken>,
    set_auth: ServerAction<SetDirectoryAuthoritative>,
    delete: ServerAction<DeleteDirectory>,
    map: ServerAction<MapGroup>,
    progress: RwSignal<Option<Vec<FirstSyncState>>>,
) -> impl IntoView {
    let label = DirectoryKind::parse(&d.kind)
        .map(|k| k.label())
        .unwrap_or("SCIM directory");
    let health = directory_health(&d);
    view! {
        <li class="rounded-xl border border-slate-200 bg-white p-5" data-testid="directory" data-directory=d.id.clone()>
            <div class="flex flex-wrap items-center justify-between gap-2">
                <h2 class="text-lg font-medium">{d.name.clone()}</h2>
                <span class="rounded-full bg-slate-100 px-3 py-1 text-xs font-medium">{label}</span>
            </div>
            <FirstSync label progress initial=FirstSyncState {
                id: d.id.clone(),
                last_request_at: d.last_request_at.clone(),
                user_count: d.user_count,
                first_user: d.users.first().map(|u| u.user_name.clone()),
            } />
            <p class="mt-2 text-sm text-slate-700" data-testid="health">{health}</p>
            <DayChart title=format!("Requests from {label}") ok_label="answered" bad_label="failed" days=d.requests_per_day.clone() testid="scim-chart" />
            {d.last_error.clone().map(|e| view! { <p class="mt-1 rounded-lg bg-rose-50 p-2 text-sm text-rose-900" data-testid="last-error">{format!("Last error: {e}")}</p> })}

            <TokenPanel id=d.id.clone() scim_base_url=d.scim_base_url.clone() fresh_token=d.fresh_token.clone() tokens=d.tokens.clone() rotate />

            <SetupSteps kind=d.kind.clone() label open=d.last_request_at.is_none() />

            <AuthoritativeForm id=d.id.clone() authoritative=d.authoritative set_auth />

            <h3 class="mt-6 font-medium">"Groups and roles"</h3>
            <p class="text-sm text-slate-600">"Map directory groups to roles. A person in several mapped groups gets the role of the group with the highest priority; people in no mapped group get the organization's default role. Preview shows who would change before you save."</p>
            <MappingPreview preview=d.preview.clone() />
            <GroupList dir_id=d.id.clone() groups=d.groups map />

            <h3 class="mt-6 font-medium">{format!("People ({})", d.user_count)}</h3>
            <PeopleTable users=d.users />

            <div class="mt-6 flex flex-wrap items-baseline justify-between gap-2">
                <h3 class="font-medium">"Requests from your identity provider"</h3>
                <LogFilter errors_only method />
            </div>
            <RequestLog log=d.log errors_only />

            <DeleteDirectoryForm id=d.id.clone() delete />
        </li>
    }
}

/// Where the directory's first sync stands, announced to screen readers as it changes: waiting
/// for the IdP's first request, connected but nobody pushed yet, or the first person arrived and
/// what is next. With JavaScript the page looks again every few seconds while it waits
/// (`progress`, filled by [`directory_progress`]); without, a link checks again.
#[component]
fn FirstSync(
    label: &'static str,
    initial: FirstSyncState,
    progress: RwSignal<Option<Vec<FirstSyncState>>>,
) -> impl IntoView {
    let id = initial.id.clone();
    let now = move || {
        progress
            .with(|p| {
                p.as_ref()
                    .and_then(|v| v.iter().find(|s| s.id == id).cloned())
            })
            .unwrap_or_else(|| initial.clone())
    };
    move || {
        let s = now();
        let (class, text, next) = match (&s.last_request_at, s.user_count, s.first_user) {
            (None, _, _) => (
                "border-indigo-200 bg-indigo-50 text-indigo-900",
                format!("Waiting for the first request from {label}. Paste the base URL and the token below into it and run its connection test; this page updates by itself."),
                None,
            ),
            (Some(_), 0, _) => (
                "border-indigo-200 bg-indigo-50 text-indigo-900",
                format!("{label} is connected. Waiting for the first person: assign people or groups to the application in {label}."),
                None,
            ),
            (Some(_), n, who) => (
                "border-emerald-200 bg-emerald-50 text-emerald-900",
                match who {
                    Some(w) if n == 1 => format!("The first person arrived: {w}."),
                    Some(w) => format!("{} synced, {w} among them.", crate::domain::text::count(n, "person", "people")),
                    None => format!("{} synced.", crate::domain::text::count(n, "person", "people")),
                },
                Some("Next: map your groups to roles below."),
            ),
        };
        let waiting = s.user_count == 0;
        view! {
            <div class=format!("mt-3 rounded-lg border p-3 text-sm {class}") role="status" aria-live="polite" data-testid="first-sync" data-waiting=waiting.to_string()>
                <p data-testid="first-sync-text">{text}</p>
                {next.map(|n| view! { <p class="mt-1 font-medium">{n}</p> })}
                <p class="mt-1"><a href="/portal/directories" class="underline">{if waiting { "Check again" } else { "Show everyone who arrived" }}</a></p>
            </div>
        }
    }
}

/// The SCIM base URL and the token: in full once right after it is made, else its hints; and
/// the rotate button.
#[component]
fn TokenPanel(
    id: String,
    scim_base_url: String,
    fresh_token: Option<String>,
    tokens: Vec<String>,
    rotate: ServerAction<RotateDirectoryToken>,
) -> impl IntoView {
    view! {
        <div class="mt-4 space-y-3">
            <CopyField label="SCIM base URL" value=scim_base_url testid="scim-base-url" />
            {match fresh_token {
                Some(t) => view! {
                    <div class="rounded-lg border border-amber-300 bg-amber-50 p-3">
                        <CopyField label="Bearer token (shown once: copy it now)" value=t testid="scim-token" />
                        <p class="mt-1 text-xs text-amber-900">"We keep only a fingerprint of it. If it is lost, issue a new one."</p>
                    </div>
                }.into_any(),
                None => view! {
                    <p class="text-sm text-slate-600" data-testid="token-hints">
                        {format!("Tokens: {}", tokens.join("; "))}
                    </p>
                }.into_any(),
            }}
            <ActionForm action=rotate>
                <input type="hidden" name="id" value=id />
                <button type="submit" class="rounded-lg border border-slate-300 px-3 py-1.5 text-sm" data-testid="rotate">
                    "Issue a new token"
                </button>
                <span class="ml-2 text-xs text-slate-500">"The current token keeps working for an hour so you can update your identity provider."</span>
            </ActionForm>
        </div>
    }
}

/// The IdP's setup steps, open until the first request arrives.
#[component]
fn SetupSteps(kind: String, label: &'static str, open: bool) -> impl IntoView {
    view! {
        <details class="mt-4" open=open>
            <summary class="cursor-pointer font-medium">{format!("Set up {label}")}</summary>
            <ol class="mt-2 list-decimal space-y-1 pl-5 text-sm text-slate-700">
                {steps(&kind).into_iter().map(|s| view! { <li>{s}</li> }).collect_view()}
            </ol>
        </details>
    }
}

/// Whether the directory decides who has access.
#[component]
fn AuthoritativeForm(
    id: String,
    authoritative: bool,
    set_auth: ServerAction<SetDirectoryAuthoritative>,
) -> impl IntoView {
    view! {
        <ActionForm action=set_auth attr:class="mt-4 flex flex-wrap items-center gap-2 text-sm">
            <input type="hidden" name="id" value=id />
            <label class="flex items-center gap-2">
                <input type="checkbox" name="authoritative" value="on" checked=authoritative data-testid="authoritative" />
                "This directory decides who has access: people it has not provisioned, or has deactivated, cannot sign in or join by other means."
            </label>
            <button type="submit" class="rounded-lg border border-slate-300 px-3 py-1">"Save"</button>
        </ActionForm>
    }
}

/// The result of a mapping preview, when one was asked for: whose role would change.
#[component]
fn MappingPreview(preview: Option<Preview>) -> impl IntoView {
    preview.map(|p| {
        let rows = if p.changes.is_empty() {
            view! { <p class="text-sm" data-testid="preview-empty">"Nobody's role would change."</p> }.into_any()
        } else {
            view! {
                <ul class="list-disc pl-5 text-sm">
                    {p.changes
                        .into_iter()
                        .map(|(who, from, to, group)| view! {
                            <li data-testid="preview-change">
                                {format!(
                                    "{who}: {} → {to}{}",
                                    from.unwrap_or_else(|| "no membership".into()),
                                    group.map(|g| format!(" (from group {g})")).unwrap_or_else(|| " (organization default)".into())
                                )}
                            </li>
                        })
                        .collect_view()}
                </ul>
            }
            .into_any()
        };
        view! {
            <div class="mt-3 rounded-lg bg-amber-50 p-3" data-testid="preview-result">
                <p class="mb-1 text-sm font-medium">
                    {format!("Preview: {} → {} (priority {}). Nothing is saved until you click Save.", p.group_name, p.role, p.priority)}
                </p>
                {rows}
            </div>
        }
    })
}

/// The directory's groups, each with its role mapping form.
#[component]
fn GroupList(dir_id: String, groups: Vec<DirGroup>, map: ServerAction<MapGroup>) -> impl IntoView {
    if groups.is_empty() {
        view! { <p class="mt-2 rounded-lg border border-dashed border-slate-300 p-4 text-sm text-slate-600" data-testid="groups-empty">"No groups yet. Push groups from your identity provider (in Okta: Push Groups; in Entra: assign groups to the app)."</p> }.into_any()
    } else {
        view! {
            <ul class="mt-2 space-y-2">
                {groups.into_iter().map(|g| view! { <GroupRow dir_id=dir_id.clone() g map /> }).collect_view()}
            </ul>
        }.into_any()
    }
}

/// What a synced person may do here: their role when active, else their membership state.
fn user_access(u: &DirUser) -> String {
    match (u.membership_state.as_deref(), &u.role) {
        (Some(s), Some(r)) if s == MembershipState::Active => r.clone(),
        (Some(s), _) => s.to_owned(),
        (None, _) => "no access".to_owned(),
    }
}

/// The synced people with their groups and access.
#[component]
fn PeopleTable(users: Vec<DirUser>) -> impl IntoView {
    if users.is_empty() {
        view! { <p class="mt-2 rounded-lg border border-dashed border-slate-300 p-4 text-sm text-slate-600" data-testid="users-empty">"Nobody synced yet. Assign people to the application in your identity provider."</p> }.into_any()
    } else {
        view! {
            <table class="mt-2 w-full text-left text-sm">
                <thead class="text-xs uppercase text-slate-600">
                    <tr><th scope="col" class="py-1 pr-3">"User"</th><th scope="col" class="pr-3">"Directory"</th><th scope="col" class="pr-3">"Groups"</th><th scope="col">"Access"</th></tr>
                </thead>
                <tbody>
                    {users.into_iter().map(|u| {
                        let access = user_access(&u);
                        let who = u.user_name.clone();
                        view! {
                            <tr class="border-t border-slate-100" data-testid="user-row" data-user=who>
                                <td class="py-1">{u.user_name}</td>
                                <td>{if u.active { "active" } else { "deactivated" }}</td>
                                <td>{u.groups.join(", ")}</td>
                                <td data-testid="user-access">{access}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        }.into_any()
    }
}

/// The request-log filters: failed only or all, and the HTTP method.
#[component]
fn LogFilter(errors_only: bool, method: String) -> impl IntoView {
    view! {
        <nav class="flex flex-wrap items-center gap-3 text-sm" aria-label="Filter requests">
            {if errors_only {
                view! { <A href=log_filter_href(false, &method) attr:class="text-indigo-700 underline">"Show all requests"</A> }.into_any()
            } else {
                view! { <A href=log_filter_href(true, &method) attr:class="text-indigo-700 underline" attr:data-testid="errors-only">"Show only failed requests"</A> }.into_any()
            }}
            <span class="text-slate-500" aria-hidden="true">"|"</span>
            {["", "GET", "POST", "PUT", "PATCH", "DELETE"]
                .into_iter()
                .map(|m| {
                    let label = if m.is_empty() { "any method" } else { m };
                    let current = m == method;
                    view! {
                        <A href=log_filter_href(errors_only, m) attr:class=if current { "font-semibold text-slate-900" } else { "text-indigo-700 underline" } attr:data-testid=format!("method-{}", if m.is_empty() { "any" } else { m })>
                            {label}
                        </A>
                    }
                })
                .collect_view()}
        </nav>
    }
}

/// Size for people: "812 bytes", "16.0 KB".
fn size(bytes: usize) -> String {
    if bytes < 1024 {
        format!("{bytes} bytes")
    } else {
        format!("{:.1} KB", bytes as f64 / 1024.0)
    }
}

/// A request or response body in full or as listed (cut), or a word when there was none.
#[component]
fn Body(label: &'static str, body: Option<String>) -> impl IntoView {
    view! {
        <p class="mt-1 text-xs font-medium">{label}</p>
        <pre class="overflow-x-auto whitespace-pre-wrap break-all bg-slate-50 p-2 text-xs">{body.unwrap_or_else(|| "(no body)".into())}</pre>
    }
}

/// The IdP's SCIM requests, each with the start of its request and response bodies and, when
/// they were cut, a link to the whole exchange.
#[component]
fn RequestLog(log: Vec<LogLine>, errors_only: bool) -> impl IntoView {
    if log.is_empty() {
        view! { <p class="mt-2 text-sm text-slate-600" data-testid="log-empty">{if errors_only { "No failed requests." } else { "No requests yet." }}</p> }.into_any()
    } else {
        view! {
            <ul class="mt-2 space-y-1">
                {log.into_iter().map(|l| view! {
                    <li data-testid="log-line">
                        <details class="rounded-lg border border-slate-100 px-2 py-1 text-sm">
                            <summary class="cursor-pointer">
                                <span class=format!("mr-2 rounded px-1.5 text-xs font-medium {}", status_class(l.status))>{l.status}</span>
                                <code class="text-xs">{format!("{} {}", l.method, l.path)}</code>
                                <span class="ml-2 text-xs text-slate-600"><LocalTime utc=l.at />{format!(" · {} ms", l.duration_ms)}</span>
                                {l.scim_type.map(|t| view! { <span class="ml-2 text-xs text-rose-700">{t}</span> })}
                            </summary>
                            <Body label="Request" body=l.request_body />
                            <Body label="Response" body=l.response_body />
                            {l.cut.then(|| view! {
                                <A href=format!("/portal/directories/requests/{}", l.id) attr:class="mt-1 inline-block text-xs text-indigo-700 underline" attr:data-testid="whole-exchange">
                                    {format!("The logged request ({}) and response ({}) in full", size(l.request_bytes), size(l.response_bytes))}
                                </A>
                            })}
                        </details>
                    </li>
                }).collect_view()}
            </ul>
        }.into_any()
    }
}

/// Deleting the directory, behind a disclosure.
#[component]
fn DeleteDirectoryForm(id: String, delete: ServerAction<DeleteDirectory>) -> impl IntoView {
    let data_id = id.clone();
    view! {
        <details class="mt-6 text-sm">
            <summary class="cursor-pointer text-slate-600 underline">"Delete this directory"</summary>
            <div class="mt-2 rounded-lg border border-slate-200 p-3">
                <p>"Its token stops working at once and everyone it manages loses access (their membership is suspended)."</p>
                <ActionForm action=delete>
                    <input type="hidden" name="id" value=id />
                    <button type="submit" class="mt-2 rounded-lg bg-rose-600 px-3 py-1.5 text-white" data-testid="delete-directory" data-id=data_id>"Delete directory"</button>
                </ActionForm>
            </div>
        </details>
    }
}

/// The page.
#[component]
pub fn Directories() -> impl IntoView {
    let create = ServerAction::<CreateDirectory>::new();
    let rotate = ServerAction::<RotateDirectoryToken>::new();
    let set_auth = ServerAction::<SetDirectoryAuthoritative>::new();
    let delete = ServerAction::<DeleteDirectory>::new();
    let map = ServerAction::<MapGroup>::new();
    let query = use_query_map();
    let errors_only = move || query.read().get("log").as_deref() == Some("errors");
    let method = move || query.read().get("method").unwrap_or_default();
    let list = Resource::new(
        move || {
            (
                create.version().get(),
                rotate.version().get(),
                set_auth.version().get(),
                delete.version().get(),
                map.version().get(),
                errors_only(),
                method(),
            )
        },
        |(_, _, _, _, _, e, m)| portal_directories(e, m),
    );
    let overview = Resource::new(|| (), |_| portal_overview());
    // While a directory waits for its first person, look again every 3 seconds (for 15 minutes),
    // asking only for the first-sync state: a refetch of the page would take the once-shown token.
    let progress = RwSignal::new(None::<Vec<FirstSyncState>>);
    #[cfg(feature = "hydrate")]
    {
        let polls = std::cell::Cell::new(0u32);
        let handle = set_interval_with_handle(
            move || {
                let waiting = match progress.get_untracked() {
                    Some(p) => p.iter().any(|s| s.user_count == 0),
                    None => list
                        .get_untracked()
                        .and_then(|r| r.ok())
                        .is_some_and(|p| p.directories.iter().any(|d| d.user_count == 0)),
                };
                if waiting && polls.get() < 300 {
                    polls.set(polls.get() + 1);
                    leptos::task::spawn_local(async move {
                        if let Ok(p) = directory_progress().await {
                            progress.set(Some(p));
                        }
                    });
                }
            },
            std::time::Duration::from_secs(3),
        );
        on_cleanup(move || {
            if let Ok(h) = handle {
                h.clear();
            }
        });
    }
    // A new directory or a change on the page starts from what the page loaded.
    Effect::new(move |_| {
        list.track();
        progress.set(None);
    });
    let errors = move || {
        action_error(create.value().get())
            .or_else(|| action_error(rotate.value().get()))
            .or_else(|| action_error(set_auth.value().get()))
            .or_else(|| action_error(delete.value().get()))
            .or_else(|| action_error(map.value().get()))
    };
    view! {
        <Suspense fallback=|| view! { <p class="p-6">"Loading…"</p> }>
            {move || {
                let (Some(l), Some(o)) = (list.get(), overview.get()) else { return None };
                Some(match (l, o) {
                    (Ok(page), Ok(o)) => {
                        let empty = page.directories.is_empty();
                        let e = page.errors_only;
                        let m = page.method.clone();
                        let cards = page
                            .directories
                            .into_iter()
                            .map(|d| view! { <DirectoryCard d errors_only=e method=m.clone() rotate set_auth delete map progress /> })
                            .collect_view();
                        view! {
                            <PortalFrame overview=o title="Directory sync" current="/portal/directories">
                                <h1 class="mb-2 text-2xl font-semibold">"Directory sync"</h1>
                                <p class="mb-6 text-slate-600">
                                    "Connect your directory so that people who join, move or leave your organization get the right access here automatically. Your identity provider pushes changes to Lanyard over SCIM 2.0; a person it deactivates loses access at once."
                                </p>
                                {move || errors().map(|e| view! {
                                    <p class="mb-4 rounded-lg bg-rose-50 p-4 text-rose-900" role="alert" data-testid="form-error">{e}</p>
                                })}
                                {if empty {
                                    view! {
                                        <p class="mb-6 rounded-lg border border-dashed border-slate-300 p-6 text-slate-600" data-testid="directories-empty">
                                            "No directory yet. Choose your identity provider below; you will get a URL and a token to paste into it."
                                        </p>
                                    }.into_any()
                                } else {
                                    view! { <ul class="mb-6 space-y-4">{cards}</ul> }.into_any()
                                }}
                                <ActionForm action=create attr:class="rounded-xl border border-slate-200 bg-white p-5" attr:data-testid="add-directory">
                                    <h2 class="mb-3 font-medium">"Add a directory"</h2>
                                    <label class="block text-sm font-medium" for="dir-kind">"Identity provider"</label>
                                    <select id="dir-kind" name="kind" class="mt-1 w-full rounded-lg border border-slate-300 px-3 py-2">
                                        {DirectoryKind::ALL
                                            .into_iter()
                                            .map(|k| view! { <option value=k.as_str()>{k.label()}</option> })
                                            .collect_view()}
                                    </select>
                                    <label class="mt-3 block text-sm font-medium" for="dir-name">"Name"</label>
                                    <input id="dir-name" name="name" required placeholder="Okta production" class="mt-1 w-full rounded-lg border border-slate-300 px-3 py-2" />
                                    <button type="submit" class="mt-4 rounded-lg bg-indigo-600 px-4 py-2 text-white">"Create directory"</button>
                                </ActionForm>
                            </PortalFrame>
                        }.into_any()
                    }
                    (Err(e), _) | (_, Err(e)) => view! { <PortalProblem err=e /> }.into_any(),
                })
            }}
        </Suspense>
    }
}

/// `/portal/directories/requests/:id`: one exchange of the request log with both bodies whole.
#[component]
pub fn DirectoryRequest() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let data = Resource::new(id, portal_directory_request);
    let overview = Resource::new(|| (), |_| portal_overview());
    view! {
        <Suspense fallback=|| view! { <p class="p-6">"Loading…"</p> }>
            {move || {
                let (Some(d), Some(o)) = (data.get(), overview.get()) else { return None };
                Some(match (d, o) {
                    (Ok(x), Ok(o)) => {
                        let l = x.line;
                        let title = format!("{} {}", l.method, l.path);
                        view! {
                            <PortalFrame overview=o title=title.clone() current="/portal/directories">
                                <A href="/portal/directories" attr:class="text-sm text-indigo-700 underline">
                                    {format!("← Directory sync ({})", x.directory_name)}
                                </A>
                                <h1 class="mt-2 mb-1 break-all text-xl font-semibold" data-testid="exchange-title">
                                    <span class=format!("mr-2 rounded px-1.5 text-sm font-medium {}", status_class(l.status))>{l.status}</span>
                                    <code>{title}</code>
                                </h1>
                                <p class="mb-4 text-sm text-slate-600">
                                    <LocalTime utc=l.at />
                                    {format!(" · {} ms · request {}, response {}", l.duration_ms, size(l.request_bytes), size(l.response_bytes))}
                                    {l.scim_type.map(|t| view! { <span class="ml-2 text-rose-700">{t}</span> })}
                                </p>
                                <div data-testid="exchange-bodies">
                                    <Body label="Request" body=l.request_body />
                                    <Body label="Response" body=l.response_body />
                                </div>
                            </PortalFrame>
                        }.into_any()
                    }
                    (Err(e), _) | (_, Err(e)) => view! { <PortalProblem err=e /> }.into_any(),
                })
            }}
        </Suspense>
    }
}
