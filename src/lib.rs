//! Lanyard: self-hostable B2B SaaS onboarding and identity lifecycle.
//!
//! Layering: `app → api → server::service → server::db | server::protocol`; `server::http →
//! server::service`; `domain` depends on nothing internal and compiles to wasm.

#![recursion_limit = "256"]

pub mod api;
pub mod app;
pub mod domain;
#[cfg(feature = "ssr")]
pub mod server;

/// Entry point of the browser build: hydrate the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
    // End-to-end tests wait for this marker before they interact.
    if let Some(body) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.body())
    {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}
