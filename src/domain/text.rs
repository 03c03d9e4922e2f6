//! Text shown to people who must be able to trust what they read (the support console): names
//! come from customers, their IdPs and their directories, and may carry invisible characters.

/// Whether `c` changes how the text around it is ordered or shown without being visible itself:
/// bidirectional embeddings, overrides and isolates, zero-width and joiner characters, line and
/// paragraph separators, the byte-order mark, other Unicode format characters (category Cf),
/// invisible fillers, and control characters other than tab, line feed and carriage return.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{8}'
            | '\u{B}'..='\u{C}'
            | '\u{E}'..='\u{1F}'
            | '\u{7F}'..='\u{9F}'
            | '\u{AD}'
            | '\u{600}'..='\u{605}'
            | '\u{61C}'
            | '\u{6DD}'
            | '\u{70F}'
            | '\u{890}'..='\u{891}'
            | '\u{8E2}'
            | '\u{115F}'..='\u{1160}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// `raw` made safe to display: every [invisible](is_invisible) character is replaced by a visible
/// escape (`U+202E` becomes `<U+202E>`), so that a name cannot reorder the text around it
/// ("Acme\u{202E}nimda" shown as "Acmeadmin") or pass for another by hiding characters. Other text
/// is unchanged; apply it at display time, never to stored data.
pub fn neutralize(raw: &str) -> String {
    if !raw.chars().any(is_invisible) {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len() + 16);
    for c in raw.chars() {
        if is_invisible(c) {
            out.push_str(&format!("<U+{:04X}>", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Escapes text for HTML element content and attribute values, for the HTML Lanyard writes by
/// hand (link pages, mail bodies; Leptos views escape on their own).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The text colour to write on a `#rrggbb` background: white or near-black, whichever contrasts
/// more (WCAG 2 relative luminance). One of the two always reaches 4.5:1, so a vendor's brand
/// colour never makes a button unreadable. Anything else than `#rrggbb` gets white.
pub fn readable_on(background: &str) -> &'static str {
    const DARK: &str = "#111827";
    let hex = background.strip_prefix('#').unwrap_or("");
    let channel = |i: usize| {
        u8::from_str_radix(hex.get(i..i + 2).unwrap_or("00"), 16)
            .map(|v| {
                let c = f64::from(v) / 255.0;
                if c <= 0.04045 {
                    c / 12.92
                } else {
                    ((c + 0.055) / 1.055).powf(2.4)
                }
            })
            .unwrap_or(0.0)
    };
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return "#ffffff";
    }
    let l = 0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4);
    // #111827's luminance.
    let dark_l = 0.2126 * 0.005_605 + 0.7152 * 0.009_134 + 0.0722 * 0.020_289;
    let on_white = 1.05 / (l + 0.05);
    let on_dark = (l + 0.05) / (dark_l + 0.05);
    if on_white >= on_dark {
        "#ffffff"
    } else {
        DARK
    }
}

#[cfg(test)]
mod readable_tests {
    #[test]
    fn dark_brands_get_white_text_and_light_brands_dark_text() {
        assert_eq!(super::readable_on("#4f46e5"), "#ffffff");
        assert_eq!(super::readable_on("#000000"), "#ffffff");
        assert_eq!(super::readable_on("#facc15"), "#111827");
        assert_eq!(super::readable_on("#ffffff"), "#111827");
        assert_eq!(super::readable_on("#22c55e"), "#111827");
        assert_eq!(super::readable_on("not a colour"), "#ffffff");
    }
}

/// A count of things, whatever integer type it came in.
pub trait Number: Copy {
    fn as_i64(self) -> i64;
}

macro_rules! number {
    ($($t:ty),*) => {$(
        impl Number for $t {
            fn as_i64(self) -> i64 {
                self as i64
            }
        }
    )*};
}
number!(i32, i64, u32, u64, usize);

/// `n` and the noun in the right number: `count(1, "directory", "directories")` is
/// "1 directory", `count(0, …)` "0 directories".
pub fn count(n: impl Number, one: &str, many: &str) -> String {
    let n = n.as_i64();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The noun alone in the right number for `n`.
pub fn noun<'a>(n: impl Number, one: &'a str, many: &'a str) -> &'a str {
    if n.as_i64() == 1 {
        one
    } else {
        many
    }
}

#[cfg(test)]
mod count_tests {
    #[test]
    fn one_is_singular_and_everything_else_plural() {
        assert_eq!(super::count(1, "directory", "directories"), "1 directory");
        assert_eq!(super::count(0, "directory", "directories"), "0 directories");
        assert_eq!(super::count(2_i64, "domain", "domains"), "2 domains");
        assert_eq!(super::count(-1, "day", "days"), "-1 days");
        assert_eq!(super::noun(1_u32, "was", "were"), "was");
        assert_eq!(super::noun(3_u32, "was", "were"), "were");
    }
}

#[cfg(test)]
mod escape_html_tests {
    #[test]
    fn escapes_the_five_characters() {
        assert_eq!(
            super::escape_html(r#"<a href="x">Tom & Jerry's</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;"
        );
        assert_eq!(super::escape_html("plain ü"), "plain ü");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_unchanged() {
        for s in [
            "Acme Corp",
            "Zoë Ågren",
            "株式会社アクメ",
            "شركة أكمي",
            "d.lee+tag@acme.com",
            "tab\tand\nnew line",
            "❤\u{FE0F} ✓ 👍",
            "",
        ] {
            assert_eq!(neutralize(s), s);
        }
    }

    #[test]
    fn bidi_controls_are_escaped() {
        assert_eq!(neutralize("Acme\u{202E}nimda"), "Acme<U+202E>nimda");
        for c in ('\u{202A}'..='\u{202E}').chain('\u{2066}'..='\u{2069}') {
            let shown = neutralize(&format!("a{c}b"));
            assert_eq!(shown, format!("a<U+{:04X}>b", c as u32));
            assert!(!shown.contains(c));
        }
        assert_eq!(neutralize("\u{61C}x"), "<U+061C>x");
    }

    #[test]
    fn zero_width_and_separators_are_escaped() {
        assert_eq!(neutralize("ad\u{200B}min"), "ad<U+200B>min");
        assert_eq!(neutralize("\u{FEFF}Acme"), "<U+FEFF>Acme");
        assert_eq!(neutralize("a\u{2028}b\u{2029}c"), "a<U+2028>b<U+2029>c");
        assert_eq!(
            neutralize("x\u{200D}\u{200E}\u{200F}"),
            "x<U+200D><U+200E><U+200F>"
        );
        assert_eq!(neutralize("soft\u{AD}hyphen"), "soft<U+00AD>hyphen");
        assert_eq!(neutralize("word\u{2060}joiner"), "word<U+2060>joiner");
        assert_eq!(neutralize("\u{3164}"), "<U+3164>");
        assert_eq!(neutralize("tag\u{E0041}"), "tag<U+E0041>");
    }

    #[test]
    fn controls_other_than_whitespace_are_escaped() {
        assert_eq!(neutralize("a\u{1B}[31mb"), "a<U+001B>[31mb");
        assert_eq!(
            neutralize("a\u{0}b\u{7F}\u{85}"),
            "a<U+0000>b<U+007F><U+0085>"
        );
        assert_eq!(neutralize("a\tb\nc\r"), "a\tb\nc\r");
    }

    #[test]
    fn escaping_is_idempotent() {
        let once = neutralize("Acme\u{202E}\u{200B}nimda");
        assert_eq!(neutralize(&once), once);
        assert!(!once.chars().any(is_invisible));
    }
}
