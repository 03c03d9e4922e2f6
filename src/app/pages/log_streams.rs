//! `/portal/log-streams`: stream the organization's audit events to the customer's SIEM.

use leptos::form::ActionForm;
use leptos::prelude::*;

use super::action_error;
use super::portal::{PortalFrame, PortalProblem};
use crate::api::log_streams::{
    portal_log_streams, CreateLogStream, DeleteLogStream, StreamLine, TestLogStream,
};
use crate::api::portal::portal_overview;

#[component]
fn StreamCard(
    s: StreamLine,
    test: ServerAction<TestLogStream>,
    delete: ServerAction<DeleteLogStream>,
) -> impl IntoView {
    let (id1, id2) = (s.id.clone(), s.id.clone());
    let status = if s.enabled {
        "active".to_owned()
    } else {
        format!("paused: {}", s.disabled_reason.clone().unwrap_or_default())
    };
    let recent_empty = s.recent.is_empty();
    view! {
        <li class="rounded-xl border border-slate-200 bg-white p-5" data-testid="log-stream" data-name=s.name.clone()>
            <div class="flex flex-wrap items-center justify-between gap-2">
                <h2 class="text-lg font-medium">{s.name.clone()}</h2>
                <span class="rounded-full bg-slate-100 px-3 py-1 text-xs font-medium">{s.kind_label.clone()}</span>
            </div>
            <p class="mt-1 break-all text-sm text-slate-600">{format!("{} · {status}", s.url)}</p>
            {s.test_result.clone().map(|(ok, m)| view! {
                <p class=if ok { "mt-2 rounded-lg bg-emerald-50 p-2 text-sm text-emerald-900" } else { "mt-2 rounded-lg bg-rose-50 p-2 text-sm text-rose-900" } data-testid="test-result">{m}</p>
            })}
            <h3 class="mt-3 text-sm font-medium">"Recent deliveries"</h3>
            {if recent_empty {
                view! { <p class="text-sm text-slate-500" data-testid="deliveries-empty">"Nothing sent yet: events appear here as your organization's activity is streamed."</p> }.into_any()
            } else {
                view! {
                    <ul class="text-sm text-slate-700">
                        {s.recent.clone().into_iter().map(|r| view! { <li data-testid="delivery">{r}</li> }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <div class="mt-3 flex gap-2">
                <ActionForm action=test>
                    <input type="hidden" name="id" value=id1 />
                    <button type="submit" class="rounded-lg border border-slate-300 px-3 py-1 text-sm" data-testid="test-stream">"Send a test event"</button>
                </ActionForm>
                <ActionForm action=delete>
                    <input type="hidden" name="id" value=id2 />
                    <button type="submit" class="rounded-lg border border-rose-300 px-3 py-1 text-sm text-rose-800" data-testid="delete-stream">"Remove"</button>
                </ActionForm>
            </div>
        </li>
    }
}

/// The page.
#[component]
pub fn LogStreams() -> impl IntoView {
    let create = ServerAction::<CreateLogStream>::new();
    let test = ServerAction::<TestLogStream>::new();
    let delete = ServerAction::<DeleteLogStream>::new();
    let data = Resource::new(
        move || {
            (
                create.version().get(),
                test.version().get(),
                delete.version().get(),
            )
        },
        |_| portal_log_streams(),
    );
    let overview = Resource::new(|| (), |_| portal_overview());
    let errors = move || {
        action_error(create.value().get())
            .or_else(|| action_error(test.value().get()))
            .or_else(|| action_error(delete.value().get()))
    };
    view! {
        <Suspense fallback=|| view! { <p class="p-6">"Loading…"</p> }>
            {move || {
                let (Some(d), Some(o)) = (data.get(), overview.get()) else { return None };
                Some(match (d, o) {
                    (Ok(page), Ok(o)) => {
                        let empty = page.streams.is_empty();
                        view! {
                            <PortalFrame overview=o title="Log streams" current="/portal/log-streams">
                                <h1 class="mb-2 text-2xl font-semibold">"Log streams"</h1>
                                <p class="mb-6 text-slate-600">
                                    "Send your organization's activity — sign-ins, directory changes, members and settings — to your SIEM as it happens. Deliveries are retried for three days if your endpoint is down."
                                </p>
                                {move || errors().map(|e| view! {
                                    <p class="mb-4 rounded-lg bg-rose-50 p-4 text-rose-900" role="alert" data-testid="form-error">{e}</p>
                                })}
                                {if empty {
                                    view! { <p class="mb-6 rounded-lg border border-dashed border-slate-300 p-6 text-slate-600" data-testid="streams-empty">"No log stream yet. Add your SIEM's HTTPS endpoint below."</p> }.into_any()
                                } else {
                                    view! { <ul class="mb-6 space-y-4">{page.streams.into_iter().map(|s| view! { <StreamCard s test delete /> }).collect_view()}</ul> }.into_any()
                                }}
                                <ActionForm action=create attr:class="rounded-xl border border-slate-200 bg-white p-5" attr:data-testid="add-stream">
                                    <h2 class="mb-3 font-medium">"Add a log stream"</h2>
                                    <label class="block text-sm font-medium" for="ls-kind">"Format"</label>
                                    <select id="ls-kind" name="kind" class="mt-1 w-full rounded-lg border border-slate-300 px-3 py-2" data-testid="stream-kind">
                                        {page.kinds.into_iter().map(|(k, l)| view! { <option value=k>{l}</option> }).collect_view()}
                                    </select>
                                    <label class="mt-3 block text-sm font-medium" for="ls-name">"Name"</label>
                                    <input id="ls-name" name="name" required placeholder="Splunk production" class="mt-1 w-full rounded-lg border border-slate-300 px-3 py-2" data-testid="stream-name" />
                                    <label class="mt-3 block text-sm font-medium" for="ls-url">"Endpoint URL (https)"</label>
                                    <input id="ls-url" name="url" required placeholder="https://splunk.acme.com:8088/services/collector/event" class="mt-1 w-full rounded-lg border border-slate-300 px-3 py-2" data-testid="stream-url" />
                                    <label class="mt-3 block text-sm font-medium" for="ls-cred">"Token or API key (Splunk HEC token, Datadog API key; empty for generic JSON)"</label>
                                    <input id="ls-cred" name="credential" type="password" autocomplete="off" class="mt-1 w-full rounded-lg border border-slate-300 px-3 py-2" data-testid="stream-credential" />
                                    <button type="submit" class="mt-4 rounded-lg bg-indigo-600 px-4 py-2 text-white" data-testid="add-stream-submit">"Add stream"</button>
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
