//! The admin portal: overview and activity.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Form, A};
use leptos_router::hooks::use_query_map;

use crate::api::portal::{portal_activity, portal_overview, ActivityPage, Overview};
use crate::api::PortalError;
use crate::app::components::LocalTime;

/// Frame shared by portal pages: vendor header, the page's title, the sections the setup link
/// opens (the current one marked), sign-out.
#[component]
pub fn PortalFrame(
    overview: Overview,
    /// What the page is about, first in the window title ("Single sign-on · Acme Corp").
    #[prop(into)]
    title: String,
    /// The section the page belongs to, as its path (`/portal/sso`).
    current: &'static str,
    children: Children,
) -> impl IntoView {
    let org = overview.organization_name.clone();
    let mut sections: Vec<(String, String)> = vec![("/portal".into(), "Overview".into())];
    sections.extend(
        overview
            .steps
            .iter()
            .filter_map(|s| s.href.clone().map(|h| (h, s.title.clone()))),
    );
    sections.push(("/portal/policy".into(), "Access policy".into()));
    // Plain links (the router still navigates them in the browser): the section's link is
    // marked as the current page, or as the current section on a page inside it.
    let path = leptos_router::hooks::use_location()
        .pathname
        .get_untracked();
    let nav = sections
        .into_iter()
        .map(|(href, label)| {
            let here = href == current;
            let aria = here.then_some(if path == href { "page" } else { "true" });
            let class = if here {
                "block rounded-md bg-slate-100 px-3 py-1.5 font-medium text-slate-900"
            } else {
                "block rounded-md px-3 py-1.5 text-slate-700 hover:bg-slate-100"
            };
            view! {
                <li>
                    <a href=href class=class aria-current=aria>{label}</a>
                </li>
            }
        })
        .collect_view();
    view! {
        <Title text=format!("{title} · {org}") />
        <a href="#main" class="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:rounded focus:bg-white focus:px-3 focus:py-2">
            "Skip to content"
        </a>
        <header class="border-b border-slate-200 bg-white">
            <div class="mx-auto flex max-w-4xl flex-wrap items-center justify-between gap-3 px-6 py-4">
                <div class="flex items-center gap-3">
                    {overview.logo_url.map(|l| view! { <img src=l alt="" class="h-8 w-auto" /> })}
                    <span class="font-semibold">{overview.vendor_name}</span>
                    <span class="text-slate-500" aria-hidden="true">"/"</span>
                    <span class="text-slate-700" data-testid="org-name">{org}</span>
                </div>
                <form method="post" action="/portal/signout">
                    <button type="submit" class="text-sm text-slate-700 underline">"Sign out"</button>
                </form>
            </div>
            <nav aria-label="Setup sections" class="mx-auto max-w-4xl px-4 pb-2" data-testid="portal-nav">
                <ul class="flex flex-wrap gap-1 text-sm">{nav}</ul>
            </nav>
            <div class="h-1 bg-[var(--brand)]"></div>
        </header>
        <main id="main" class="mx-auto max-w-4xl px-6 py-10">{children()}</main>
    }
}

/// Shown when a portal call fails.
#[component]
pub fn PortalProblem(err: PortalError) -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            let status = match &err {
                PortalError::SignedOut => http::StatusCode::UNAUTHORIZED,
                PortalError::NotInScope(_) => http::StatusCode::FORBIDDEN,
                // What the page's address names is not there for this session (an id of another
                // organization, or of nothing): a client error, as the call itself answers 422,
                // never a 5xx anyone can cause at will.
                PortalError::Invalid { .. } => http::StatusCode::NOT_FOUND,
                PortalError::Transport(_) => http::StatusCode::BAD_REQUEST,
                PortalError::Internal { .. } => http::StatusCode::INTERNAL_SERVER_ERROR,
            };
            resp.set_status(status);
        }
    }
    view! {
        <Title text="Setup portal · Lanyard" />
        <main class="mx-auto max-w-xl px-6 py-16">
            <h1 class="mb-4 text-2xl font-semibold">"Setup portal"</h1>
            <p class="rounded-lg bg-amber-50 p-4 text-amber-900" data-testid="portal-error">
                {err.to_string()}
            </p>
        </main>
    }
}

/// What the overview card invites the admin to do, by its step's status.
fn call_to_action(status: &str) -> &'static str {
    match status {
        "done" => "Review",
        "in_progress" => "Continue",
        "attention" => "Fix it",
        "available" => "Open",
        _ => "Start",
    }
}

fn status_badge(status: &str) -> (&'static str, &'static str) {
    match status {
        "done" => ("Done", "bg-emerald-100 text-emerald-800"),
        "available" => ("Open", "bg-indigo-100 text-indigo-800"),
        "in_progress" => ("In progress", "bg-amber-100 text-amber-800"),
        "attention" => ("Needs attention", "bg-rose-100 text-rose-800"),
        "coming_soon" => ("Coming soon", "bg-slate-100 text-slate-600"),
        _ => ("Not started", "bg-slate-100 text-slate-700"),
    }
}

fn overview_view(o: Overview) -> impl IntoView {
    let steps = o
        .steps
        .clone()
        .into_iter()
        .enumerate()
        .map(|(n, s)| {
            let (label, class) = status_badge(&s.status);
            let cta = call_to_action(&s.status);
            let body = view! {
                <div>
                    <p class="text-sm text-slate-600">{format!("Step {}", n + 1)}</p>
                    <h2 class="text-lg font-medium">{s.title.clone()}</h2>
                    <p class="mt-1 text-slate-600">{s.detail.clone()}</p>
                </div>
                <div class="flex shrink-0 flex-col items-end gap-3">
                    <span class=format!("rounded-full px-3 py-1 text-xs font-medium {class}")>{label}</span>
                    <span class="text-sm font-medium text-indigo-700" aria-hidden="true">{format!("{cta} →")}</span>
                </div>
            };
            let card = "flex items-start justify-between gap-4 rounded-xl border border-slate-200 bg-white p-5";
            view! {
                <li data-testid="step">
                    {match s.href.clone() {
                        Some(h) => view! {
                            <a href=h class=format!("{card} hover:border-indigo-400 hover:shadow-sm focus-visible:outline focus-visible:outline-2 focus-visible:outline-indigo-600")>{body}</a>
                        }.into_any(),
                        None => view! { <div class=card>{body}</div> }.into_any(),
                    }}
                </li>
            }
        })
        .collect_view();
    let back = o.return_url.clone().map(|u| {
        view! {
            <a href=u class="mt-8 inline-block text-indigo-700 underline">
                "Back to the product"
            </a>
        }
    });
    let heading = format!("Set up {}", o.organization_name);
    view! {
        <PortalFrame overview=o title="Overview" current="/portal">
            <h1 class="mb-2 text-2xl font-semibold">{heading}</h1>
            <p class="mb-6 text-slate-600">
                "Work through the steps below. You can leave and come back with a new setup link at any time; nothing you finished is lost."
            </p>
            <ol class="space-y-3">{steps}</ol>
            <p class="mt-6 text-slate-700">
                <a href="/portal/policy" data-testid="policy-link">"Access policy"</a>
                " — where each access decision is made for your organization, with a simulator."
            </p>
            {back}
        </PortalFrame>
    }
}

/// `/portal`.
#[component]
pub fn Overview() -> impl IntoView {
    let data = Resource::new(|| (), |_| portal_overview());
    view! {
        <Suspense fallback=|| view! { <p class="p-6">"Loading…"</p> }>
            {move || {
                data.get()
                    .map(|r| match r {
                        Ok(o) => overview_view(o).into_any(),
                        Err(e) => view! { <PortalProblem err=e /> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

/// The viewer's filters, as they travel in the page's query string.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Filters {
    q: String,
    action: String,
    actor: String,
    target: String,
    from: String,
    to: String,
}

impl Filters {
    fn pairs(&self) -> [(&'static str, &String); 6] {
        [
            ("q", &self.q),
            ("action", &self.action),
            ("actor", &self.actor),
            ("target", &self.target),
            ("from", &self.from),
            ("to", &self.to),
        ]
    }

    /// `&k=v…` for the non-empty filters.
    fn query(&self) -> String {
        self.pairs()
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("&{k}={}", urlencode(v)))
            .collect()
    }
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

fn activity_view(page: ActivityPage, f: Filters) -> impl IntoView {
    let q = f.q.clone();
    let empty = page.items.is_empty();
    let rows = page
        .items
        .into_iter()
        .map(|i| {
            view! {
                <li class="rounded-lg border border-slate-200 bg-white p-4" data-testid="activity-item">
                    <div class="flex flex-wrap items-baseline justify-between gap-2">
                        <span class="font-medium">{i.summary}</span>
                        <span class="text-sm text-slate-600"><LocalTime utc=i.occurred_at /></span>
                    </div>
                    <p class="mt-1 text-sm text-slate-600">
                        <code class="text-xs">{i.action}</code>
                        " by "
                        {i.actor}
                    </p>
                    <p class="mt-1 text-sm text-slate-500">{i.targets}</p>
                </li>
            }
        })
        .collect_view();
    let older = page.older.map(|b| {
        let href = format!("/portal/activity?before={b}{}", f.query());
        view! {
            <A href=href attr:class="mt-6 inline-block text-indigo-700 underline">
                "Older events"
            </A>
        }
    });
    view! {
        <h1 class="mb-2 text-2xl font-semibold">"Activity"</h1>
        <p class="mb-6 text-slate-600">
            "Every change to your organization's setup, newest first. Each entry is sealed into a tamper-evident chain."
        </p>
        <Form method="GET" action="/portal/activity">
            <label class="mb-4 flex gap-2">
                <span class="sr-only">"Filter"</span>
                <input
                    type="search"
                    name="q"
                    value=q
                    placeholder="Filter by action or person"
                    class="w-full rounded-lg border border-slate-300 px-3 py-2"
                />
                <button type="submit" class="rounded-lg bg-slate-800 px-4 py-2 text-white">"Filter"</button>
            </label>
            <details class="mb-4 text-sm" open=!(f.action.is_empty() && f.actor.is_empty() && f.target.is_empty() && f.from.is_empty() && f.to.is_empty())>
                <summary class="cursor-pointer text-slate-600 underline">"More filters"</summary>
                <div class="mt-2 flex flex-wrap items-end gap-3">
                    <label>
                        <span class="block text-xs text-slate-500">"Action (or prefix like membership.*)"</span>
                        <input name="action" value=f.action.clone() class="rounded-lg border border-slate-300 px-2 py-1" data-testid="filter-action" />
                    </label>
                    <label>
                        <span class="block text-xs text-slate-500">"Actor (name or id)"</span>
                        <input name="actor" value=f.actor.clone() class="rounded-lg border border-slate-300 px-2 py-1" data-testid="filter-actor" />
                    </label>
                    <label>
                        <span class="block text-xs text-slate-500">"Target id"</span>
                        <input name="target" value=f.target.clone() class="rounded-lg border border-slate-300 px-2 py-1" data-testid="filter-target" />
                    </label>
                    <label>
                        <span class="block text-xs text-slate-500">"From"</span>
                        <input type="date" name="from" value=f.from.clone() class="rounded-lg border border-slate-300 px-2 py-1" data-testid="filter-from" />
                    </label>
                    <label>
                        <span class="block text-xs text-slate-500">"To (not included)"</span>
                        <input type="date" name="to" value=f.to.clone() class="rounded-lg border border-slate-300 px-2 py-1" data-testid="filter-to" />
                    </label>
                </div>
            </details>
        </Form>
        {if empty {
            view! {
                <p class="rounded-lg border border-dashed border-slate-300 p-6 text-slate-600" data-testid="activity-empty">
                    "No activity matches. Changes you and your vendor make will appear here."
                </p>
            }
                .into_any()
        } else {
            view! { <ol class="space-y-2">{rows}</ol> }.into_any()
        }}
        {older}
        // A plain form (not the router's): the browser downloads what the server streams.
        <form method="GET" action="/portal/activity/export" class="mt-8 rounded-xl border border-slate-200 bg-white p-5" data-testid="export-form">
            <h2 class="mb-1 font-medium">"Export"</h2>
            <p class="mb-3 text-sm text-slate-600">"Download the activity log for a date range (UTC), for your records or your SIEM. Leave the dates empty for everything."</p>
            <div class="flex flex-wrap items-end gap-3 text-sm">
                <label>
                    <span class="block text-xs text-slate-500">"From"</span>
                    <input type="date" name="from" class="rounded-lg border border-slate-300 px-2 py-1" data-testid="export-from" />
                </label>
                <label>
                    <span class="block text-xs text-slate-500">"To (not included)"</span>
                    <input type="date" name="to" class="rounded-lg border border-slate-300 px-2 py-1" data-testid="export-to" />
                </label>
                <label>
                    <span class="block text-xs text-slate-500">"Format"</span>
                    <select name="format" class="rounded-lg border border-slate-300 px-2 py-1" data-testid="export-format">
                        <option value="csv">"CSV"</option>
                        <option value="ndjson">"NDJSON"</option>
                    </select>
                </label>
                <button type="submit" class="rounded-lg bg-slate-800 px-4 py-1.5 text-white" data-testid="export">"Download"</button>
            </div>
        </form>
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `/portal/activity`.
#[component]
pub fn Activity() -> impl IntoView {
    let query = use_query_map();
    let params = move || {
        let q = query.read();
        let get = |k: &str| q.get(k).unwrap_or_default();
        (
            q.get("before").and_then(|b| b.parse::<i64>().ok()),
            Filters {
                q: get("q"),
                action: get("action"),
                actor: get("actor"),
                target: get("target"),
                from: get("from"),
                to: get("to"),
            },
        )
    };
    let data = Resource::new(params, |(before, f)| async move {
        let page = portal_activity(
            before,
            Some(f.q.clone()),
            opt(&f.action),
            opt(&f.actor),
            opt(&f.target),
            opt(&f.from),
            opt(&f.to),
        )
        .await;
        (page, f)
    });
    let overview = Resource::new(|| (), |_| portal_overview());
    view! {
        <Suspense fallback=|| view! { <p class="p-6">"Loading…"</p> }>
            {move || {
                let (Some((page, q)), Some(o)) = (data.get(), overview.get()) else {
                    return None;
                };
                Some(match (page, o) {
                    (Ok(p), Ok(o)) => view! {
                        <PortalFrame overview=o title="Activity" current="/portal/activity">
                            {activity_view(p, q)}
                        </PortalFrame>
                    }
                        .into_any(),
                    (Err(e), _) | (_, Err(e)) => view! { <PortalProblem err=e /> }.into_any(),
                })
            }}
        </Suspense>
    }
}
