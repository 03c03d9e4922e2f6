//! Pages.

pub mod console;
pub mod domains;
pub mod dsync;
mod guides;
pub mod log_streams;
pub mod members;
pub mod policy;
pub mod portal;
pub mod saml;
pub mod sso;
pub mod sso_setup;

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// The message of a failed portal action, to show above the form.
pub(crate) fn action_error<T: Clone + Send + Sync + 'static>(
    v: Option<Result<T, crate::api::PortalError>>,
) -> Option<String> {
    match v {
        Some(Err(e)) => Some(e.to_string()),
        _ => None,
    }
}

/// The public landing page.
#[component]
pub fn Home() -> impl IntoView {
    let query = use_query_map();
    let signed_out = move || query.read().get("signed_out").is_some();
    view! {
        <main class="mx-auto max-w-xl px-6 py-16">
            <h1 class="mb-4 text-2xl font-semibold">"Lanyard"</h1>
            <Show when=signed_out>
                <p class="mb-4 rounded-lg bg-emerald-50 p-4 text-emerald-800" data-testid="signed-out">
                    "You are signed out of the setup portal."
                </p>
            </Show>
            <p class="text-slate-700">
                "This service connects your company's identity provider, domains and directory to your vendor's product. "
                "To set things up, open the setup link your vendor sent you."
            </p>
        </main>
    }
}

/// Unknown paths.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <leptos_meta::Title text="Page not found · Lanyard" />
        <main class="mx-auto max-w-xl px-6 py-16">
            <h1 class="mb-4 text-2xl font-semibold">"Page not found"</h1>
            <p class="text-slate-700">
                "There is nothing at this address. If you are setting up your organization, open the setup link your vendor sent you."
            </p>
        </main>
    }
}
