//! Small bar charts of counts per day, drawn by the server as inline SVG (no script, no chart
//! library): two stacked series (what went well, what did not), a caption with the totals, and the
//! same numbers as a table for screen readers.

use leptos::prelude::*;

use crate::domain::chart::DayCount;
use crate::domain::text::escape_html as esc;

const WIDTH: i64 = 280;
const HEIGHT: i64 = 64;
const OK_FILL: &str = "#059669";
const BAD_FILL: &str = "#e11d48";

/// The SVG element for `days`: one bar per day, `bad` stacked on `ok`, scaled to the busiest day,
/// each bar with a tooltip naming its day and counts.
pub fn bars_svg(days: &[DayCount], label: &str, ok_label: &str, bad_label: &str) -> String {
    let n = i64::try_from(days.len()).unwrap_or(1).max(1);
    let slot = WIDTH / n;
    let bar = (slot - 4).max(2);
    let top = days.iter().map(|d| d.ok + d.bad).max().unwrap_or(0).max(1);
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {}" role="img" aria-label="{}" preserveAspectRatio="none" class="block h-16 w-full max-w-md">"#,
        HEIGHT + 1,
        esc(label)
    );
    for (i, d) in days.iter().enumerate() {
        let x = i64::try_from(i).unwrap_or(0) * slot + 2;
        let ok_h = d.ok * HEIGHT / top;
        let bad_h = d.bad * HEIGHT / top;
        // A day with activity too small to see at this scale still shows a sliver.
        let ok_h = if d.ok > 0 { ok_h.max(2) } else { 0 };
        let bad_h = if d.bad > 0 { bad_h.max(2) } else { 0 };
        out.push_str(&format!(
            r#"<g><title>{}: {} {}, {} {}</title><rect x="{x}" y="{}" width="{bar}" height="{HEIGHT}" fill="transparent"/>"#,
            esc(&d.date),
            d.ok,
            esc(ok_label),
            d.bad,
            esc(bad_label),
            0
        ));
        if ok_h > 0 {
            out.push_str(&format!(
                r#"<rect x="{x}" y="{}" width="{bar}" height="{ok_h}" fill="{OK_FILL}"/>"#,
                HEIGHT - ok_h
            ));
        }
        if bad_h > 0 {
            out.push_str(&format!(
                r#"<rect x="{x}" y="{}" width="{bar}" height="{bad_h}" fill="{BAD_FILL}"/>"#,
                HEIGHT - ok_h - bad_h
            ));
        }
        out.push_str("</g>");
    }
    out.push_str(&format!(
        "<line x1=\"0\" y1=\"{HEIGHT}\" x2=\"{WIDTH}\" y2=\"{HEIGHT}\" stroke=\"#94a3b8\" stroke-width=\"1\"/></svg>"
    ));
    out
}

/// A chart of `days` titled `title` ("Sign-ins through Okta"), its series called `ok_label` and
/// `bad_label` ("succeeded", "failed").
#[component]
pub fn DayChart(
    #[prop(into)] title: String,
    #[prop(into)] ok_label: String,
    #[prop(into)] bad_label: String,
    days: Vec<DayCount>,
    #[prop(optional)] testid: Option<&'static str>,
) -> impl IntoView {
    let ok: i64 = days.iter().map(|d| d.ok).sum();
    let bad: i64 = days.iter().map(|d| d.bad).sum();
    let n = days.len();
    let summary = format!("{title}, last {n} days: {ok} {ok_label}, {bad} {bad_label}");
    let svg = bars_svg(&days, &summary, &ok_label, &bad_label);
    let (first, last) = (
        days.first().map(|d| d.date.clone()).unwrap_or_default(),
        days.last().map(|d| d.date.clone()).unwrap_or_default(),
    );
    let rows = days
        .into_iter()
        .map(|d| view! { <tr><th scope="row">{d.date}</th><td>{d.ok}</td><td>{d.bad}</td></tr> })
        .collect_view();
    view! {
        <figure class="mt-3" data-testid=testid data-ok=ok data-bad=bad>
            <figcaption class="text-sm text-slate-700">
                <span class="font-medium">{format!("{title}, last {n} days: ")}</span>
                <span class="inline-flex items-center gap-1"><span class="inline-block h-2.5 w-2.5 rounded-sm bg-[#059669]" aria-hidden="true"></span>{format!("{ok} {ok_label}")}</span>
                ", "
                <span class="inline-flex items-center gap-1"><span class="inline-block h-2.5 w-2.5 rounded-sm bg-[#e11d48]" aria-hidden="true"></span>{format!("{bad} {bad_label}")}</span>
            </figcaption>
            <div class="mt-1" inner_html=svg></div>
            <div class="flex max-w-md justify-between text-xs text-slate-600" aria-hidden="true"><span>{first}</span><span>{last}</span></div>
            <table class="sr-only">
                <caption>{summary}</caption>
                <thead><tr><th scope="col">"Day"</th><th scope="col">{ok_label}</th><th scope="col">{bad_label}</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(date: &str, ok: i64, bad: i64) -> DayCount {
        DayCount {
            date: date.into(),
            ok,
            bad,
        }
    }

    #[test]
    fn bars_scale_to_the_busiest_day_and_say_their_counts() {
        let svg = bars_svg(
            &[
                day("2026-12-01", 0, 0),
                day("2026-12-02", 10, 0),
                day("2026-12-03", 3, 2),
            ],
            "Sign-ins <Okta>",
            "succeeded",
            "failed",
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(
            svg.contains(r#"aria-label="Sign-ins &lt;Okta&gt;""#),
            "labels are escaped"
        );
        assert!(svg.contains("<title>2026-12-02: 10 succeeded, 0 failed</title>"));
        // The busiest day fills the height; the quiet day draws no bar.
        assert!(
            svg.contains(&format!(r#"height="{HEIGHT}" fill="{OK_FILL}""#)),
            "{svg}"
        );
        assert_eq!(svg.matches(BAD_FILL).count(), 1);
        assert_eq!(svg.matches(OK_FILL).count(), 2);
    }

    #[test]
    fn an_empty_window_draws_a_baseline_only() {
        let svg = bars_svg(&[day("2026-12-01", 0, 0)], "x", "a", "b");
        assert!(!svg.contains(OK_FILL) && !svg.contains(BAD_FILL));
        assert!(svg.contains("<line"));
    }
}
