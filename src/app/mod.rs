//! The user interface, for both the server render and the browser.

pub mod components;
mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

/// The HTML document around the app (server only).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    let brand_css = {
        // The security-headers middleware chose this response's CSP nonce; scripts and the
        // brand style element carry it.
        if let Some(parts) = use_context::<http::request::Parts>() {
            if let Some(n) = parts.extensions.get::<crate::server::http::CspNonce>() {
                provide_context(leptos::nonce::Nonce::from_value(n.0.clone()));
            }
        }
        use_context::<crate::server::state::AppState>()
            .map(|s| format!(":root{{--brand:{};}}", s.config.branding.color))
            .unwrap_or_default()
    };
    #[cfg(not(feature = "ssr"))]
    let brand_css = String::new();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <style nonce=leptos::nonce::use_nonce()>{brand_css}</style>
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body class="min-h-screen bg-slate-50 text-slate-900 antialiased">
                <App />
            </body>
        </html>
    }
}

/// Routes of the portal and the public pages.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/lanyard.css" />
        <Title text="Lanyard" />
        <Router>
            <Routes fallback=|| view! { <pages::NotFound /> }>
                <Route path=path!("/") view=pages::Home />
                <Route path=path!("/portal") view=pages::portal::Overview ssr=SsrMode::Async />
                <Route path=path!("/portal/sso") view=pages::sso::Sso ssr=SsrMode::Async />
                <Route path=path!("/portal/domains") view=pages::domains::Domains ssr=SsrMode::Async />
                <Route
                    path=path!("/portal/directories")
                    view=pages::dsync::Directories
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/portal/log-streams")
                    view=pages::log_streams::LogStreams
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/portal/members")
                    view=pages::members::Members
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/portal/members/:id")
                    view=pages::members::Member
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/portal/policy")
                    view=pages::policy::Policy
                    ssr=SsrMode::Async
                />
                <Route path=path!("/console") view=pages::console::Tenants ssr=SsrMode::Async />
                <Route
                    path=path!("/console/credentials")
                    view=pages::console::VendorCredentials
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/console/organizations/:id")
                    view=pages::console::Tenant
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/console/organizations/:id/members/:member")
                    view=pages::console::ConsoleMember
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/portal/activity")
                    view=pages::portal::Activity
                    ssr=SsrMode::Async
                />
            </Routes>
        </Router>
    }
}

/// Plain words for an audit action.
pub fn describe_action(action: &str) -> String {
    match action {
        "organization.created" => "Organization created".into(),
        "organization.updated" => "Organization details changed".into(),
        "organization.deleted" => "Organization deleted".into(),
        "portal.link_created" => "Setup link created".into(),
        "portal.link_redeemed" => "Setup link opened".into(),
        "domain.created" => "Domain added".into(),
        "connection.created" => "SSO connection added".into(),
        "connection.updated" => "SSO connection changed".into(),
        "connection.activated" => "SSO connection activated".into(),
        "connection.deactivated" => "SSO connection deactivated".into(),
        "connection.tested" => "Test sign-in succeeded".into(),
        "connection.deleted" => "SSO connection removed".into(),
        "authentication.succeeded" => "Sign-in".into(),
        "authentication.failed" => "Sign-in refused".into(),
        "membership.created" => "Member joined".into(),
        "domain.verified" => "Domain verified".into(),
        "domain.verification_failed" => "Domain verification failed".into(),
        "domain.lapsed" => "Domain lapsed (verification record missing)".into(),
        "domain.deleted" => "Domain removed".into(),
        "directory.created" => "Directory added".into(),
        "directory.updated" => "Directory settings changed".into(),
        "directory.deleted" => "Directory removed".into(),
        "directory.token_rotated" => "Directory token replaced".into(),
        "directory.role_mappings_updated" => "Group-to-role mapping changed".into(),
        "dsync.user.created" => "Directory added a person".into(),
        "dsync.user.updated" => "Directory updated a person".into(),
        "dsync.user.deactivated" => "Directory deactivated a person".into(),
        "dsync.user.reactivated" => "Directory reactivated a person".into(),
        "dsync.user.deleted" => "Directory removed a person".into(),
        "dsync.group.created" => "Directory added a group".into(),
        "dsync.group.updated" => "Directory renamed a group".into(),
        "dsync.group.deleted" => "Directory removed a group".into(),
        "dsync.group.user_added" => "Directory added someone to a group".into(),
        "dsync.group.user_removed" => "Directory removed someone from a group".into(),
        "membership.role_changed" => "Member's role changed".into(),
        "membership.suspended" => "Member suspended".into(),
        "membership.reactivated" => "Member reactivated".into(),
        "membership.removed" => "Member removed".into(),
        "invitation.created" => "Invitation sent".into(),
        "invitation.resent" => "Invitation sent again".into(),
        "invitation.revoked" => "Invitation revoked".into(),
        "invitation.accepted" => "Invitation accepted".into(),
        "invitation.expired" => "Invitation expired".into(),
        "log_stream.created" => "Log stream added".into(),
        "log_stream.deleted" => "Log stream removed".into(),
        "log_stream.tested" => "Log stream tested".into(),
        "audit.purged" => "Old activity purged (retention)".into(),
        "role.created" => "Role defined".into(),
        "role.deleted" => "Role deleted".into(),
        "policy.updated" => "Access policy changed".into(),
        "membership.last_admin_deprovisioned" => "Directory deactivated the last admin".into(),
        "membership.removal_skipped" => "Scheduled removal skipped".into(),
        "staff.created" => "Staff account created".into(),
        "staff.signed_in" => "Staff signed in".into(),
        "staff.sign_in_failed" => "Staff sign-in refused".into(),
        "staff.sign_in_failures_alert" => "Many failed staff sign-ins: owner warned".into(),
        other => {
            let mut s = other.replace(['.', '_'], " ");
            if let Some(first) = s.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            s
        }
    }
}
