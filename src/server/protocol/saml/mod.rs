//! SAML 2.0 service provider: AuthnRequests (HTTP-Redirect binding), Response validation
//! (HTTP-POST binding), IdP metadata parsing and SP metadata. No IO; the caller passes `now`
//! and the pinned trust configuration. See docs/flows/saml.md and docs/decisions/.

pub mod attributes;
pub mod metadata;
pub mod request;
pub mod response;

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
    let upper = xml.to_ascii_uppercase();
    if upper.contains("<!DOCTYPE") || upper.contains("<!ENTITY") {
        return Err("the XML contains a DOCTYPE or ENTITY declaration, which SAML never needs and Lanyard refuses".into());
    }
    Ok(())
}

/// The text of an element read whole: every descendant text node joined, so a comment inside
/// a NameID (`dana@acme.test<!---->.evil.test`) cannot shorten it.
pub(crate) fn full_text(node: roxmltree::Node) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect::<String>()
        .trim()
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
