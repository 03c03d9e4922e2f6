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
            .map(|s| {
                let c = &s.config.branding.color;
                format!(
                    ":root{{--brand:{c};--brand-text:{};}}",
                    crate::domain::text::readable_on(c)
                )
            })
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
                <Route
                    path=path!("/portal/sso/setup")
                    view=pages::sso_setup::Choose
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/portal/sso/setup/:id")
                    view=pages::sso_setup::Setup
                    ssr=SsrMode::Async
                />
                <Route path=path!("/portal/domains") view=pages::domains::Domains ssr=SsrMode::Async />
                <Route
                    path=path!("/portal/directories")
                    view=pages::dsync::Directories
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/portal/directories/requests/:id")
                    view=pages::dsync::DirectoryRequest
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
