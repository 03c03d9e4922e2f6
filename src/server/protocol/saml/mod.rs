//! SAML 2.0 service provider: AuthnRequests (HTTP-Redirect binding), Response validation
//! (HTTP-POST binding) with its XML-DSig verification and canonicalization, IdP metadata parsing
//! and SP metadata. No IO; the caller passes `now` and the pinned trust configuration. See
//! docs/flows/saml.md and docs/decisions/.

pub mod attributes;
pub mod c14n;
pub mod dsig;
pub mod logout;
pub mod metadata;
pub mod request;
pub mod response;
pub mod sp_key;
pub mod xmlenc;

/// SAML protocol namespace.
pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// SAML assertion namespace.
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// XML-DSig namespace.
pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
/// SAML metadata namespace.
pub const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
/// The NameID format Lanyard asks for.
pub const NAME_ID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

/// Refuses document type declarations before any parser sees the bytes: entity expansion
/// ("billion laughs") and external entities (XXE) both need one.
pub fn refuse_dtd(xml: &str) -> Result<(), String> {
    let declares = |at: usize| {
        let rest = &xml.as_bytes()[at + 2..];
        let starts =
            |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
        starts(b"DOCTYPE") || starts(b"ENTITY")
    };
    if xml.match_indices("<!").any(|(at, _)| declares(at)) {
        return Err("the XML contains a DOCTYPE or ENTITY declaration, which SAML never needs and Lanyard refuses".into());
    }
    Ok(())
}

/// Deepest element nesting accepted. SAML documents nest about ten deep; the XML parser
/// recurses once per level, so an unbounded depth would overflow the thread's stack (an abort,
/// not an error) on a small hostile document.
pub const MAX_DEPTH: usize = 128;

/// Most namespace declarations in scope at any element (counted on the start tags of its
/// ancestors and itself). IdPs declare a handful (Okta repeats `xmlns:xs`/`xmlns:xsi` on each
/// AttributeValue, which stays under ten in scope); the parser and canonicalization both cost
/// about the square of this per element, so a hostile document declaring thousands on the root
/// would cost minutes of CPU before any key is used.
pub const MAX_NAMESPACES_IN_SCOPE: usize = 64;

/// Most attributes on one start tag (the parser's duplicate check is quadratic in them).
pub const MAX_ATTRIBUTES: usize = 256;

/// Refuses, before any parser sees them, documents nesting elements deeper than [`MAX_DEPTH`],
/// with more than [`MAX_NAMESPACES_IN_SCOPE`] namespace declarations in scope, or more than
/// [`MAX_ATTRIBUTES`] attributes on a tag. A lexical scan that skips comments, CDATA sections,
/// processing instructions, declarations and quoted attribute values; whatever it cannot make
/// sense of, the parser refuses afterwards.
pub fn refuse_deep_nesting(xml: &str) -> Result<(), String> {
    let b = xml.as_bytes();
    let skip_past = |from: usize, end: &str| {
        xml[from..]
            .find(end)
            .map_or(b.len(), |e| from + e + end.len())
    };
    // Namespace declarations made by each open element.
    let mut open: Vec<usize> = Vec::new();
    let mut in_scope = 0usize;
    let mut i = 0;
    while let Some(off) = xml[i..].find('<') {
        let at = i + off;
        let rest = &b[at..];
        // Each search starts after its opener, so `<!-->` is not a whole comment.
        i = if rest.starts_with(b"<!--") {
            skip_past(at + 4, "-->")
        } else if rest.starts_with(b"<![CDATA[") {
            skip_past(at + 9, "]]>")
        } else if rest.starts_with(b"<?") {
            skip_past(at + 2, "?>")
        } else if rest.starts_with(b"<!") {
            skip_past(at + 2, ">")
        } else if rest.starts_with(b"</") {
            if let Some(n) = open.pop() {
                in_scope -= n;
            }
            at + 2
        } else {
            // A start tag: find its '>' outside quoted attribute values, counting its attributes
            // (`=` outside quotes) and namespace declarations (`xmlns` after whitespace).
            let mut quote = None;
            let mut end = None;
            let (mut attributes, mut declarations) = (0usize, 0usize);
            for (j, &c) in rest.iter().enumerate().skip(1) {
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), _) => {}
                    (None, b'"' | b'\'') => quote = Some(c),
                    (None, b'>') => {
                        end = Some(at + j);
                        break;
                    }
                    (None, b'=') => attributes += 1,
                    (None, b'x')
                        if rest[j - 1].is_ascii_whitespace() && rest[j..].starts_with(b"xmlns") =>
                    {
                        declarations += 1
                    }
                    _ => {}
                }
            }
            let Some(end) = end else { break };
            if attributes > MAX_ATTRIBUTES {
                return Err(format!(
                    "an element of the XML carries more than {MAX_ATTRIBUTES} attributes, which SAML never needs and Lanyard refuses"
                ));
            }
            if in_scope + declarations > MAX_NAMESPACES_IN_SCOPE {
                return Err(format!(
                    "the XML declares more than {MAX_NAMESPACES_IN_SCOPE} namespaces in scope at once, which SAML never needs and Lanyard refuses"
                ));
            }
            if b[end - 1] != b'/' {
                open.push(declarations);
                in_scope += declarations;
                if open.len() > MAX_DEPTH {
                    return Err(format!(
                        "the XML nests elements more than {MAX_DEPTH} deep, which SAML never needs and Lanyard refuses"
                    ));
                }
            }
            end + 1
        };
    }
    Ok(())
}

/// Whitespace as XML defines it (space, tab, CR, LF). Values are trimmed of this only: a
/// NameID signed as `ceo@acme.test` followed by a no-break space is another subject than
/// `ceo@acme.test`, never the same one.
pub(crate) fn trim_xml_space(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\r', '\n'])
}

/// The text of an element read whole: every descendant text node joined, so a comment inside
/// a NameID (`dana@acme.test<!---->.evil.test`) cannot shorten it.
pub(crate) fn full_text(node: roxmltree::Node) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect::<String>()
        .trim_matches([' ', '\t', '\r', '\n'])
        .to_owned()
}

pub(crate) fn is(node: &roxmltree::Node, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(ns) && node.tag_name().name() == name
}

pub(crate) fn child<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    ns: &str,
    name: &str,
) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|c| is(c, ns, name))
}

pub(crate) fn children<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    ns: &'a str,
    name: &'a str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> + 'a {
    node.children().filter(move |c| is(c, ns, name))
}

/// Parses an `xs:dateTime` (as SAML writes it, UTC with optional fraction) to epoch ms.
pub fn parse_instant(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Formats epoch ms as a SAML instant (`2026-11-28T12:00:00Z`).
pub fn format_instant(ms: i64) -> String {
    crate::server::timefmt::rfc3339_seconds(ms)
}

/// Escapes text for XML element content and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtd_is_refused_in_any_case() {
        assert!(refuse_dtd("<?xml version=\"1.0\"?><!doctype x [<!entity a \"b\">]><x/>").is_err());
        assert!(refuse_dtd("<x><!ENTITY</x>").is_err());
        assert!(refuse_dtd("<samlp:Response/>").is_ok());
    }

    #[test]
    fn nesting_is_bounded_before_parsing() {
        let deep = |n: usize| format!("{}{}", "<a>".repeat(n), "</a>".repeat(n));
        assert!(refuse_deep_nesting(&deep(MAX_DEPTH)).is_ok());
        assert!(refuse_deep_nesting(&deep(MAX_DEPTH + 1)).is_err());
        // Deep enough to overflow the parser's recursion: refused, no crash.
        assert!(refuse_deep_nesting(&deep(200_000)).is_err());
        // Siblings, empty elements and markup inside comments, CDATA, PIs and quoted values do
        // not count.
        let wide = format!(
            "<r>{}<e/><e a='>'/><e b=\"<x>\"></e><!--{}--><![CDATA[{}]]><?p {}?></r>",
            "<s></s>".repeat(1000),
            "<c>".repeat(500),
            "<d>".repeat(500),
            "<p>".repeat(500)
        );
        assert!(refuse_deep_nesting(&wide).is_ok());
        assert!(refuse_deep_nesting("<r><a b='x/'><c/></a></r>").is_ok());
        // The depth scan starts each search after its opener: `<!-->` opens a comment.
        let hidden = format!("<r>{}<!-->{}--></r>", "<a>".repeat(200), "</".repeat(200));
        assert!(refuse_deep_nesting(&hidden).is_err());
    }

    #[test]
    fn namespaces_in_scope_and_attributes_are_bounded_before_parsing() {
        let decls = |n: usize| {
            (0..n)
                .map(|i| format!(" xmlns:n{i}=\"urn:n{i}\""))
                .collect::<String>()
        };
        // On one element, or spread over nested ones: what counts is what is in scope.
        let one = |n: usize| format!("<r{}><a/></r>", decls(n));
        assert!(refuse_deep_nesting(&one(MAX_NAMESPACES_IN_SCOPE)).is_ok());
        assert!(refuse_deep_nesting(&one(MAX_NAMESPACES_IN_SCOPE + 1)).is_err());
        let nested = format!(
            "{}{}",
            (0..=MAX_NAMESPACES_IN_SCOPE)
                .map(|i| format!("<e xmlns:p{i}=\"urn:p\">"))
                .collect::<String>(),
            "</e>".repeat(MAX_NAMESPACES_IN_SCOPE + 1)
        );
        assert!(refuse_deep_nesting(&nested).is_err());
        // Siblings each declaring a few (Okta's AttributeValues) do not add up.
        let siblings = format!(
            "<r{}>{}</r>",
            decls(4),
            "<v xmlns:xs=\"urn:xs\" xmlns:xsi=\"urn:xsi\" xsi:type=\"xs:string\">g</v>"
                .repeat(5_000)
        );
        assert!(refuse_deep_nesting(&siblings).is_ok());
        // "xmlns" inside a value or a name is not a declaration.
        assert!(refuse_deep_nesting(&format!(
            "<r a=\"{}\" axmlns=\"1\"/>",
            " xmlns:x".repeat(500)
        ))
        .is_ok());
        let attrs = |n: usize| {
            format!(
                "<r{}/>",
                (0..n).map(|i| format!(" a{i}=\"1\"")).collect::<String>()
            )
        };
        assert!(refuse_deep_nesting(&attrs(MAX_ATTRIBUTES)).is_ok());
        assert!(refuse_deep_nesting(&attrs(MAX_ATTRIBUTES + 1)).is_err());
    }

    #[test]
    fn instants_round_trip() {
        let ms = parse_instant("2026-11-28T12:00:00Z").unwrap();
        assert_eq!(format_instant(ms), "2026-11-28T12:00:00Z");
        assert_eq!(parse_instant("2026-11-28T12:00:00.500Z"), Some(ms + 500));
        assert_eq!(parse_instant("yesterday"), None);
    }

    #[test]
    fn text_is_read_whole_across_comments() {
        let doc = roxmltree::Document::parse("<n>dana@acme.test<!---->.evil.test</n>").unwrap();
        assert_eq!(full_text(doc.root_element()), "dana@acme.test.evil.test");
    }
}
