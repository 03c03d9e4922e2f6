//! Small shared components.

use leptos::prelude::*;

mod chart;
pub use chart::DayChart;

/// A read-only value with a label and a copy button. Without JavaScript the value can still be
/// selected and copied by hand.
#[component]
pub fn CopyField(label: &'static str, value: String, testid: &'static str) -> impl IntoView {
    let (copied, set_copied) = signal(false);
    let to_copy = value.clone();
    view! {
        <div>
            <span class="block text-xs font-medium uppercase tracking-wide text-slate-600">{label}</span>
            <div class="mt-1 flex gap-2">
                <input
                    readonly
                    aria-label=label
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
                    <span class="sr-only">{format!(" {label}")}</span>
                </button>
                <span class="sr-only" role="status">{move || copied.get().then(|| format!("{label} copied to the clipboard"))}</span>
            </div>
        </div>
    }
}

/// The RFC 3339 form of a time Lanyard wrote for people: `2026-11-28T14:36:54.123Z` as it is, and
/// `2026-11-28 14:36:54 UTC` (or to the minute) turned back into `2026-11-28T14:36:54Z`; `None` for
/// anything else (a dash, "never").
pub fn utc_instant(text: &str) -> Option<String> {
    let t = text.trim();
    if !t.is_ascii() {
        return None;
    }
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let well_formed = |date: &str, clock: &str| {
        date.len() == 10
            && date.as_bytes()[4] == b'-'
            && date.as_bytes()[7] == b'-'
            && digits(&date[..4])
            && digits(&date[5..7])
            && digits(&date[8..])
            && (clock.len() == 5 || clock.len() >= 8)
            && clock.as_bytes()[2] == b':'
            && digits(&clock[..2])
            && digits(&clock[3..5])
    };
    if let Some(rest) = t.strip_suffix(" UTC") {
        let (date, clock) = rest.split_once(' ')?;
        if !well_formed(date, clock) || (clock.len() > 5 && !digits(&clock[6..8])) {
            return None;
        }
        let clock = if clock.len() == 5 {
            format!("{clock}:00")
        } else {
            clock[..8].to_owned()
        };
        return Some(format!("{date}T{clock}Z"));
    }
    let (date, clock) = t.strip_suffix('Z')?.split_once('T')?;
    well_formed(date, clock).then(|| t.to_owned())
}

/// A time as people read it: the server writes it in UTC (what a page without JavaScript shows);
/// in the browser it becomes the viewer's own time zone. The UTC value stays on hover (`title`)
/// and in `datetime`. Text that is not a time ("never") is shown as it is.
#[component]
pub fn LocalTime(
    #[prop(into)] utc: String,
    #[prop(optional)] testid: Option<&'static str>,
) -> impl IntoView {
    let instant = utc_instant(&utc);
    let (text, set_text) = signal(utc.clone());
    #[cfg(feature = "hydrate")]
    {
        let instant = instant.clone();
        Effect::new(move |_| {
            if let Some(i) = &instant {
                let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(i));
                if !d.get_time().is_nan() {
                    let opts = js_sys::Object::new();
                    for (k, v) in [("dateStyle", "medium"), ("timeStyle", "short")] {
                        let _ = js_sys::Reflect::set(&opts, &k.into(), &v.into());
                    }
                    let local = d.to_locale_string("default", &opts);
                    if let Some(s) = local.as_string() {
                        set_text.set(s);
                    }
                }
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = set_text;
    let title = instant.as_ref().map(|_| utc.clone());
    view! { <time datetime=instant title=title data-testid=testid>{text}</time> }
}

#[cfg(test)]
mod tests {
    use super::utc_instant;

    #[test]
    fn times_lanyard_writes_are_read_back_as_rfc3339() {
        assert_eq!(
            utc_instant("2026-11-28T14:36:54.123Z").as_deref(),
            Some("2026-11-28T14:36:54.123Z")
        );
        assert_eq!(
            utc_instant("2026-11-28 14:36:54 UTC").as_deref(),
            Some("2026-11-28T14:36:54Z")
        );
        assert_eq!(
            utc_instant("2026-11-28 14:36 UTC").as_deref(),
            Some("2026-11-28T14:36:00Z")
        );
        for not_a_time in [
            "never",
            "—",
            "",
            "2026-11-28",
            "soon UTC",
            "2026-1x-28 14:36 UTC",
            "2026-11-28Tab:cdZ",
        ] {
            assert_eq!(utc_instant(not_a_time), None, "{not_a_time}");
        }
    }
}
