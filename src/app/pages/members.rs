//! `/portal/members`: who is in the organization, in which role, and how they got there; invite
//! people by email and follow each invitation's delivery. `/portal/members/:id`: why one person
//! has access, as a chain of grants, with role and state changes.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::components::{Form, A};
use leptos_router::hooks::{use_params_map, use_query_map};

use super::action_error;
use super::portal::{PortalFrame, PortalProblem};
use crate::api::members::{
    portal_member, portal_members, ChangeMember, InvitationLine, Invite, MemberLine,
    ResendInvitation, RevokeInvitation,
};
use crate::api::portal::portal_overview;
use crate::domain::invitation::InvitationState;
use crate::domain::membership::{MemberAction, MembershipState};

fn member_state_class(state: &str) -> &'static str {
    match MembershipState::parse(state) {
        Some(MembershipState::Active) => "bg-emerald-100 text-emerald-800",
        Some(MembershipState::Suspended) => "bg-amber-100 text-amber-900",
        Some(MembershipState::Removed) | None => "bg-slate-200 text-slate-700",
    }
}

fn invitation_state_class(state: &str) -> &'static str {
    match InvitationState::parse(state) {
        Some(InvitationState::Accepted) => "bg-emerald-100 text-emerald-800",
        Some(InvitationState::Pending) => "bg-sky-100 text-sky-800",
        Some(InvitationState::Expired) => "bg-amber-100 text-amber-900",
        Some(InvitationState::Revoked) | None => "bg-slate-200 text-slate-700",
    }
}

#[component]
fn MemberRow(m: MemberLine) -> impl IntoView {
    let href = format!("/portal/members/{}", m.id);
    let who = m.email.clone();
    view! {
        <tr class="border-t border-slate-100 align-top" data-testid="member-row" data-email=who>
            <td class="py-2">
                <A href=href attr:class="font-medium text-indigo-700 underline">{m.email.clone()}</A>
                {m.name.clone().map(|n| view! { <span class="block text-xs text-slate-500">{n}</span> })}
            </td>
            <td data-testid="member-role">{m.role.clone()}</td>
            <td>
                <span class=format!("rounded-full px-2 py-0.5 text-xs font-medium {}", member_state_class(&m.state)) data-testid="member-state">
                    {m.state.clone()}
                </span>
            </td>
            <td class="text-sm text-slate-700" data-testid="member-source">{m.source.clone()}</td>
            <td class="text-xs text-slate-500">{m.last_sign_in.clone().unwrap_or_else(|| "never".into())}</td>
        </tr>
    }
}

#[component]
fn InvitationRow(
    i: InvitationLine,
    resend: ServerAction<ResendInvitation>,
    revoke: ServerAction<RevokeInvitation>,
) -> impl IntoView {
    let pending = i.state == InvitationState::Pending;
    let (id1, id2) = (i.id.clone(), i.id.clone());
    let email = i.email.clone();
    view! {
        <li class="rounded-lg border border-slate-200 p-3 text-sm" data-testid="invitation" data-email=email>
            <div class="flex flex-wrap items-center justify-between gap-2">
                <span>
                    <span class="font-medium">{i.email.clone()}</span>
                    {format!(" as {} · invited by {} · expires {}", i.role, i.inviter, i.expires_at)}
                </span>
                <span class=format!("rounded-full px-2 py-0.5 text-xs font-medium {}", invitation_state_class(&i.state)) data-testid="invitation-state">
                    {i.state.clone()}
                </span>
            </div>
            <p class=if i.delivery_failed { "mt-1 text-rose-800" } else { "mt-1 text-slate-500" } data-testid="invitation-delivery">
                {i.delivery.clone()}
            </p>
            {pending.then(|| view! {
                <div class="mt-2 flex gap-2">
                    <ActionForm action=resend>
                        <input type="hidden" name="id" value=id1.clone() />
                        <button type="submit" class="rounded-lg border border-slate-300 px-3 py-1" data-testid="resend">"Send again (new link)"</button>
                    </ActionForm>
                    <ActionForm action=revoke>
                        <input type="hidden" name="id" value=id2.clone() />
                        <button type="submit" class="rounded-lg border border-rose-300 px-3 py-1 text-rose-800" data-testid="revoke">"Revoke"</button>
                    </ActionForm>
                </div>
            })}
        </li>
    }
}

/// The members page.
#[component]
pub fn Members() -> impl IntoView {
    let invite = ServerAction::<Invite>::new();
    let resend = ServerAction::<ResendInvitation>::new();
    let revoke = ServerAction::<RevokeInvitation>::new();
    let query = use_query_map();
    let q = move |k: &str| query.read().get(k).unwrap_or_default();
    let data = Resource::new(
        move || {
            (
                invite.version().get(),
                resend.version().get(),
                revoke.version().get(),
                q("q"),
                q("state"),
                q("role"),
            )
        },
        |(_, _, _, s, st, r)| portal_members(s, st, r),
    );
    let overview = Resource::new(|| (), |_| portal_overview());
    let errors = move || {
        action_error(invite.value().get())
            .or_else(|| action_error(resend.value().get()))
            .or_else(|| action_error(revoke.value().get()))
    };
    let invited = move || matches!(invite.value().get(), Some(Ok(())));
    view! {
        <Suspense fallback=|| view! { <p class="p-6">"Loading…"</p> }>
            {move || {
                let (Some(d), Some(o)) = (data.get(), overview.get()) else { return None };
                Some(match (d, o) {
                    (Ok(page), Ok(o)) => {
                        let filtered = !page.search.is_empty() || !page.state.is_empty() || !page.role.is_empty();
                        let empty = page.members.is_empty();
                        let roles = page.roles.clone();
                        let roles2 = page.roles.clone();
                        let default_role = page.default_role.clone();
                        let role_f = page.role.clone();
                        let state_f = page.state.clone();
                        let invitations_empty = page.invitations.is_empty();
                        view! {
                            <PortalFrame overview=o title="Members" current="/portal/members">
                                <h1 class="mb-2 text-2xl font-semibold">"Members"</h1>
                                <p class="mb-6 text-slate-600">
                                    "Everyone with access to your organization, how they got it, and when they last signed in. Open a person to see why they have access."
                                </p>
                                {move || errors().map(|e| view! {
                                    <p class="mb-4 rounded-lg bg-rose-50 p-4 text-rose-900" role="alert" data-testid="form-error">{e}</p>
                                })}
                                {move || invited().then(|| view! {
                                    <p class="mb-4 rounded-lg bg-emerald-50 p-4 text-emerald-900" data-testid="invite-sent">"Invitation sent. It appears below with its delivery status."</p>
                                })}
                                <Form method="GET" action="/portal/members" attr:class="mb-4 flex flex-wrap items-end gap-3 text-sm">
                                    <label>
                                        <span class="block text-xs text-slate-500">"Search"</span>
                                        <input name="q" value=page.search.clone() placeholder="email or name" class="rounded-lg border border-slate-300 px-2 py-1" data-testid="search" />
                                    </label>
                                    <label>
                                        <span class="block text-xs text-slate-500">"State"</span>
                                        <select name="state" class="rounded-lg border border-slate-300 px-2 py-1" data-testid="filter-state">
                                            {std::iter::once("").chain(MembershipState::ALL.iter().map(|s| s.as_str())).map(|s| view! {
                                                <option value=s selected=state_f == s>{if s.is_empty() { "any" } else { s }}</option>
                                            }).collect_view()}
                                        </select>
                                    </label>
                                    <label>
                                        <span class="block text-xs text-slate-500">"Role"</span>
                                        <select name="role" class="rounded-lg border border-slate-300 px-2 py-1" data-testid="filter-role">
                                            <option value="" selected=role_f.is_empty()>"any"</option>
                                            {roles.into_iter().map(|(slug, name)| {
                                                let sel = role_f == slug;
                                                view! { <option value=slug selected=sel>{name}</option> }
                                            }).collect_view()}
                                        </select>
                                    </label>
                                    <button type="submit" class="rounded-lg border border-slate-300 px-3 py-1">"Filter"</button>
                                </Form>
                                {if empty {
                                    view! {
                                        <p class="mb-6 rounded-lg border border-dashed border-slate-300 p-6 text-slate-600" data-testid="members-empty">
                                            {if filtered {
                                                "Nobody matches these filters."
                                            } else {
                                                "Nobody has joined yet. People join when they sign in through your SSO connection, when your directory provisions them, or when they accept an invitation below."
                                            }}
                                        </p>
                                    }.into_any()
                                } else {
                                    view! {
                                        <table class="mb-8 w-full text-left text-sm">
                                            <thead class="text-xs uppercase text-slate-500">
                                                <tr><th class="py-1">"Person"</th><th>"Role"</th><th>"State"</th><th>"How they joined"</th><th>"Last sign-in"</th></tr>
                                            </thead>
                                            <tbody>
                                                {page.members.into_iter().map(|m| view! { <MemberRow m /> }).collect_view()}
                                            </tbody>
                                        </table>
                                    }.into_any()
                                }}

                                <h2 class="mb-2 text-lg font-medium">"Invite people"</h2>
                                <ActionForm action=invite attr:class="mb-6 flex flex-wrap items-end gap-3 rounded-xl border border-slate-200 bg-white p-5" attr:data-testid="invite-form">
                                    <label class="grow text-sm">
                                        <span class="block font-medium">"Email"</span>
                                        <input name="email" type="email" required placeholder="dana@acme.com" class="mt-1 w-full rounded-lg border border-slate-300 px-3 py-2" data-testid="invite-email" />
                                    </label>
                                    <label class="text-sm">
                                        <span class="block font-medium">"Role"</span>
                                        <select name="role" class="mt-1 rounded-lg border border-slate-300 px-3 py-2" data-testid="invite-role">
                                            {roles2.into_iter().map(|(slug, name)| {
                                                let sel = slug == default_role;
                                                view! { <option value=slug selected=sel>{name}</option> }
                                            }).collect_view()}
                                        </select>
                                    </label>
                                    <label class="text-sm">
                                        <span class="block font-medium">"Expires in (days)"</span>
                                        <input name="expires_in_days" value="7" inputmode="numeric" class="mt-1 w-24 rounded-lg border border-slate-300 px-3 py-2" data-testid="invite-days" />
                                    </label>
                                    <button type="submit" class="rounded-lg bg-indigo-600 px-4 py-2 text-white" data-testid="invite-submit">"Send invitation"</button>
                                </ActionForm>

                                <h2 class="mb-2 text-lg font-medium">"Invitations"</h2>
                                {if invitations_empty {
                                    view! { <p class="text-sm text-slate-600" data-testid="invitations-empty">"No invitations yet. Invitations you send appear here with their delivery status."</p> }.into_any()
                                } else {
                                    view! {
                                        <ul class="space-y-2">
                                            {page.invitations.into_iter().map(|i| view! { <InvitationRow i resend revoke /> }).collect_view()}
                                        </ul>
                                    }.into_any()
                                }}
                            </PortalFrame>
                        }.into_any()
                    }
                    (Err(e), _) | (_, Err(e)) => view! { <PortalProblem err=e /> }.into_any(),
                })
            }}
        </Suspense>
    }
}

/// One member: why they have access, and what an admin may change.
#[component]
pub fn Member() -> impl IntoView {
    let change = ServerAction::<ChangeMember>::new();
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let data = Resource::new(
        move || (change.version().get(), id()),
        |(_, id)| portal_member(id),
    );
    let overview = Resource::new(|| (), |_| portal_overview());
    let error = move || action_error(change.value().get());
    view! {
        <Suspense fallback=|| view! { <p class="p-6">"Loading…"</p> }>
            {move || {
                let (Some(d), Some(o)) = (data.get(), overview.get()) else { return None };
                Some(match (d, o) {
                    (Ok(page), Ok(o)) => {
                        let m = page.member.clone();
                        let active = m.state == MembershipState::Active;
                        let removed = m.state == MembershipState::Removed;
                        let managed = m.managed_by.clone();
                        let current_role = m.role.clone();
                        let (id0, id1, id2, id3) = (m.id.clone(), m.id.clone(), m.id.clone(), m.id.clone());
                        view! {
                            <PortalFrame overview=o title=m.email.clone() current="/portal/members">
                                <A href="/portal/members" attr:class="text-sm text-indigo-700 underline">"← All members"</A>
                                <h1 class="mt-2 mb-1 text-2xl font-semibold" data-testid="member-email">{m.email.clone()}</h1>
                                <p class="mb-4 text-slate-600">
                                    <span data-testid="member-role">{m.role.clone()}</span>
                                    " · "
                                    <span data-testid="member-state">{m.state.clone()}</span>
                                    {format!(" · last sign-in {}", m.last_sign_in.clone().unwrap_or_else(|| "never".into()))}
                                </p>
                                {move || error().map(|e| view! {
                                    <p class="mb-4 rounded-lg bg-rose-50 p-4 text-rose-900" role="alert" data-testid="form-error">{e}</p>
                                })}
                                <h2 class="mb-2 text-lg font-medium">"Why this person has access"</h2>
                                <p class="mb-2 text-sm text-slate-700" data-testid="role-source">
                                    {format!("Role {} — {}.", m.role, m.role_source)}
                                </p>
                                <ol class="mb-6 space-y-2 border-l-2 border-slate-200 pl-4" data-testid="grants">
                                    {page.grants.into_iter().map(|g| view! {
                                        <li data-testid="grant" data-kind=g.kind.clone()>
                                            <span class="block text-xs text-slate-500">{g.at}</span>
                                            <span class="text-sm">{format!("{} (role {})", g.description, g.role)}</span>
                                        </li>
                                    }).collect_view()}
                                </ol>
                                <h2 class="mb-2 text-lg font-medium">"Change access"</h2>
                                {match managed {
                                    Some(dir) => view! {
                                        <p class="mb-4 rounded-lg bg-slate-50 p-3 text-sm" data-testid="managed">
                                            {format!("The directory {dir} manages this person's role. Change it in your identity provider or in the directory's group-to-role mapping.")}
                                        </p>
                                    }.into_any(),
                                    None => view! {
                                        <ActionForm action=change attr:class="mb-4 flex flex-wrap items-end gap-3 text-sm" attr:data-testid="role-form">
                                            <input type="hidden" name="id" value=id0 />
                                            <input type="hidden" name="action" value=MemberAction::Role.as_str() />
                                            <label>
                                                <span class="block text-xs text-slate-500">"Role"</span>
                                                <select name="role" class="rounded-lg border border-slate-300 px-2 py-1" data-testid="role-select">
                                                    {page.roles.into_iter().map(|(slug, name)| {
                                                        let sel = slug == current_role;
                                                        view! { <option value=slug selected=sel>{name}</option> }
                                                    }).collect_view()}
                                                </select>
                                            </label>
                                            <button type="submit" disabled=removed class="rounded-lg border border-slate-300 px-3 py-1" data-testid="change-role">"Change role"</button>
                                        </ActionForm>
                                    }.into_any(),
                                }}
                                <div class="flex flex-wrap gap-2 text-sm">
                                    {if active {
                                        view! {
                                            <ActionForm action=change>
                                                <input type="hidden" name="id" value=id1 />
                                                <input type="hidden" name="action" value=MemberAction::Suspend.as_str() />
                                                <button type="submit" class="rounded-lg border border-amber-400 px-3 py-1" data-testid="suspend">"Suspend (ends their sign-ins now)"</button>
                                            </ActionForm>
                                        }.into_any()
                                    } else {
                                        view! {
                                            <ActionForm action=change>
                                                <input type="hidden" name="id" value=id1 />
                                                <input type="hidden" name="action" value=MemberAction::Reactivate.as_str() />
                                                <button type="submit" class="rounded-lg border border-emerald-400 px-3 py-1" data-testid="reactivate">"Reactivate"</button>
                                            </ActionForm>
                                        }.into_any()
                                    }}
                                    {(!removed).then(|| view! {
                                        <ActionForm action=change>
                                            <input type="hidden" name="id" value=id2 />
                                            <input type="hidden" name="action" value=MemberAction::Remove.as_str() />
                                            <button type="submit" class="rounded-lg bg-rose-600 px-3 py-1 text-white" data-testid="remove">"Remove from organization"</button>
                                        </ActionForm>
                                    })}
                                </div>
                                <p class="mt-2 text-xs text-slate-500" data-id=id3>"Suspending or removing someone takes effect at once: sign-ins in progress are cancelled and your vendor's product is told."</p>
                            </PortalFrame>
                        }.into_any()
                    }
                    (Err(e), _) | (_, Err(e)) => view! { <PortalProblem err=e /> }.into_any(),
                })
            }}
        </Suspense>
    }
}
