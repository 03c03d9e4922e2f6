//! Small shared components.

use leptos::prelude::*;

/// A read-only value with a label and a copy button. Without JavaScript the value can still be
/// selected and copied by hand.
#[component]
pub fn CopyField(label: &'static str, value: String, testid: &'static str) -> impl IntoView {
    let (copied, set_copied) = signal(false);
    let to_copy = value.clone();
    view! {
        <div>
            <span class="block text-xs font-medium uppercase tracking-wide text-slate-500">{label}</span>
            <div class="mt-1 flex gap-2">
                <input
                    readonly
                    value=value
                    data-testid=testid
                    class="w-full rounded-lg border border-slate-300 bg-slate-50 px-3 py-2 font-mono text-sm"
                />
                <button
                    type="button"
                    class="shrink-0 rounded-lg border border-slate-300 px-3 py-2 text-sm"
                    on:click=move |_| {
                        #[cfg(feature = "hydrate")]
                        {
                            if let Some(w) = web_sys::window() {
                                let _ = w.navigator().clipboard().write_text(&to_copy);
                            }
                        }
                        #[cfg(not(feature = "hydrate"))]
                        let _ = &to_copy;
                        set_copied.set(true);
                    }
                >
                    {move || if copied.get() { "Copied" } else { "Copy" }}
                </button>
            </div>
        </div>
    }
}
