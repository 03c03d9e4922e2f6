//! Canonical XML of one element's subtree of a parsed document, for XML-DSig: Exclusive XML
//! Canonicalization 1.0 (what SAML signatures use) and Canonical XML 1.0, each with or without
//! comments, optionally leaving out one descendant (the enveloped `ds:Signature`).
//!
//! It works on the same `roxmltree` tree the validator reads the identity from, so the bytes
//! that are digested are a function of exactly the nodes that are read afterwards. What the
//! reader relies on, and how this file keeps it:
//! - every element, attribute and text node of the subtree is written (comments only with
//!   `WithComments`), with names as the document spells them and escaped per the specifications,
//!   so two subtrees that read differently never give the same bytes;
//! - an element's or attribute's namespace is written as the declaration of the prefix it uses,
//!   and the prefix read from the source must resolve to the namespace the parser gave the node
//!   (otherwise the canonicalization fails and so does the signature);
//! - no recursion: the walk moves through child, sibling and parent links, so nesting depth
//!   cannot overflow the stack.

use roxmltree::{Node, NodeType};

/// `http://www.w3.org/2001/10/xml-exc-c14n#`.
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// Exclusive canonicalization keeping comments.
pub const EXC_C14N_WITH_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";
/// Canonical XML 1.0 (inclusive).
pub const C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
/// Canonical XML 1.0 keeping comments.
pub const C14N_WITH_COMMENTS: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// One canonicalization algorithm with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonicalization {
    /// Exclusive (only visibly used namespaces) or inclusive (every namespace in scope).
    pub exclusive: bool,
    pub with_comments: bool,
    /// Exclusive only: the `InclusiveNamespaces PrefixList`, `""` standing for `#default`.
    pub inclusive_prefixes: Vec<String>,
}

impl Canonicalization {
    /// The algorithm named by `uri`, with the PrefixList of its `ec:InclusiveNamespaces` child
    /// (exclusive algorithms only); `None` for any other algorithm.
    pub fn from_uri(uri: &str, prefix_list: Option<&str>) -> Option<Canonicalization> {
        let (exclusive, with_comments) = match uri {
            EXC_C14N => (true, false),
            EXC_C14N_WITH_COMMENTS => (true, true),
            C14N => (false, false),
            C14N_WITH_COMMENTS => (false, true),
            _ => return None,
        };
        let inclusive_prefixes = if exclusive {
            prefix_list
                .unwrap_or("")
                .split_ascii_whitespace()
                .map(|p| if p == "#default" { "" } else { p }.to_owned())
                .collect()
        } else {
            Vec::new()
        };
        Some(Canonicalization {
            exclusive,
            with_comments,
            inclusive_prefixes,
        })
    }

    /// Canonical XML 1.0 without comments: what XML-DSig applies when a Reference names no
    /// canonicalization.
    pub fn inclusive() -> Canonicalization {
        Canonicalization {
            exclusive: false,
            with_comments: false,
            inclusive_prefixes: Vec::new(),
        }
    }
}

/// Writes the canonical form of `apex`'s subtree to `out`, leaving out `exclude` and everything
/// under it. Fails only on a document whose source spelling does not match its parsed names,
/// which a well-formed document never produces.
pub fn canonicalize(
    apex: Node,
    exclude: Option<Node>,
    c: &Canonicalization,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    if !apex.is_element() {
        return Err("only an element can be canonicalized".into());
    }
    let source = apex.document().input_text();
    let exclude = exclude.map(|n| n.id());
    // Namespace declarations written so far, innermost last, with the stack length at each open
    // element so a close pops its own.
    let mut rendered: Vec<(&str, &str)> = Vec::new();
    let mut scopes: Vec<usize> = Vec::new();
    let mut n = apex;
    loop {
        // Visit `n`; descend into it if it is an element that is written.
        let entered = if Some(n.id()) == exclude {
            false
        } else {
            match n.node_type() {
                NodeType::Element => {
                    scopes.push(rendered.len());
                    open_element(n, n == apex, source, c, &mut rendered, out)?;
                    true
                }
                NodeType::Text => {
                    escape_text(n.text().unwrap_or(""), out);
                    false
                }
                NodeType::Comment => {
                    if c.with_comments {
                        out.extend_from_slice(b"<!--");
                        escape_cr(n.text().unwrap_or(""), out);
                        out.extend_from_slice(b"-->");
                    }
                    false
                }
                NodeType::PI => {
                    if let Some(pi) = n.pi() {
                        out.extend_from_slice(b"<?");
                        out.extend_from_slice(pi.target.as_bytes());
                        if let Some(v) = pi.value.filter(|v| !v.is_empty()) {
                            out.push(b' ');
                            escape_cr(v, out);
                        }
                        out.extend_from_slice(b"?>");
                    }
                    false
                }
                NodeType::Root => false,
            }
        };
        if entered {
            if let Some(first) = n.first_child() {
                n = first;
                continue;
            }
            close_element(n, source, &mut scopes, &mut rendered, out)?;
        }
        // Next: the following sibling, or up (closing each element left) until there is one.
        loop {
            if n == apex {
                return Ok(());
            }
            if let Some(next) = n.next_sibling() {
                n = next;
                break;
            }
            n = n.parent().ok_or("the walk left the document")?;
            close_element(n, source, &mut scopes, &mut rendered, out)?;
        }
    }
}

fn close_element<'a>(
    n: Node<'a, 'a>,
    source: &'a str,
    scopes: &mut Vec<usize>,
    rendered: &mut Vec<(&'a str, &'a str)>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    out.extend_from_slice(b"</");
    out.extend_from_slice(element_qname(n, source)?.as_bytes());
    out.push(b'>');
    rendered.truncate(scopes.pop().unwrap_or(0));
    Ok(())
}

/// The element's qualified name as written in the source (`saml:Assertion`), checked against the
/// parsed local name.
fn element_qname<'i>(n: Node<'_, 'i>, source: &'i str) -> Result<&'i str, String> {
    let tail = source
        .get(n.range().start..)
        .and_then(|s| s.strip_prefix('<'))
        .ok_or("element position out of the source")?;
    let end = tail
        .find([' ', '\t', '\n', '\r', '/', '>'])
        .unwrap_or(tail.len());
    let qname = &tail[..end];
    if local_part(qname) != n.tag_name().name() {
        return Err(format!(
            "element name {qname} does not match the parsed name"
        ));
    }
    Ok(qname)
}

fn prefix_of(qname: &str) -> &str {
    qname.split_once(':').map(|(p, _)| p).unwrap_or("")
}

fn local_part(qname: &str) -> &str {
    qname.split_once(':').map(|(_, l)| l).unwrap_or(qname)
}

/// The namespace `prefix` (`""`: the default namespace) is bound to on `n`; the default
/// namespace is `""` when none is declared (or it was undeclared with `xmlns=""`).
fn in_scope<'a>(n: Node<'a, '_>, prefix: &str) -> Option<&'a str> {
    if prefix == "xml" {
        return Some(XML_NS);
    }
    let want = (!prefix.is_empty()).then_some(prefix);
    match n.namespaces().find(|ns| ns.name() == want) {
        Some(ns) => Some(ns.uri()),
        None if prefix.is_empty() => Some(""),
        None => None,
    }
}

/// The value last written for `prefix` by an enclosing output element.
fn rendered_value<'r>(rendered: &[(&'r str, &'r str)], prefix: &str) -> Option<&'r str> {
    rendered
        .iter()
        .rev()
        .find(|(p, _)| *p == prefix)
        .map(|(_, u)| *u)
}

struct Attr<'a> {
    qname: &'a str,
    namespace: &'a str,
    local: &'a str,
    value: &'a str,
}

fn open_element<'a>(
    n: Node<'a, 'a>,
    is_apex: bool,
    source: &'a str,
    c: &Canonicalization,
    rendered: &mut Vec<(&'a str, &'a str)>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let qname = element_qname(n, source)?;
    let prefix = prefix_of(qname);
    let element_ns =
        in_scope(n, prefix).ok_or_else(|| format!("prefix {prefix} of {qname} is not declared"))?;
    if element_ns != n.tag_name().namespace().unwrap_or("") {
        return Err(format!(
            "the namespace of {qname} does not match its prefix"
        ));
    }

    let mut attrs: Vec<Attr> = Vec::with_capacity(n.attributes().len());
    let mut used_prefixes: Vec<&str> = vec![prefix];
    for a in n.attributes() {
        let aq = source
            .get(a.range_qname())
            .ok_or("attribute position out of the source")?;
        if local_part(aq) != a.name() {
            return Err(format!(
                "attribute name {aq} does not match the parsed name"
            ));
        }
        let ap = prefix_of(aq);
        let ans = a.namespace().unwrap_or("");
        if !ap.is_empty() {
            if in_scope(n, ap) != Some(ans) {
                return Err(format!(
                    "the namespace of attribute {aq} does not match its prefix"
                ));
            }
            used_prefixes.push(ap);
        } else if !ans.is_empty() {
            return Err(format!("unprefixed attribute {aq} has a namespace"));
        }
        attrs.push(Attr {
            qname: aq,
            namespace: ans,
            local: a.name(),
            value: a.value(),
        });
    }

    // Canonical XML 1.0 on a subtree: the apex also carries the xml:* attributes it inherits
    // from ancestors outside the subtree (nearest first). Exclusive c14n does not.
    if !c.exclusive && is_apex {
        for anc in n.ancestors().skip(1).filter(|a| a.is_element()) {
            for a in anc.attributes() {
                if a.namespace() == Some(XML_NS)
                    && !attrs
                        .iter()
                        .any(|x| x.namespace == XML_NS && x.local == a.name())
                {
                    let aq = source
                        .get(a.range_qname())
                        .ok_or("attribute position out of the source")?;
                    attrs.push(Attr {
                        qname: aq,
                        namespace: XML_NS,
                        local: a.name(),
                        value: a.value(),
                    });
                }
            }
        }
    }

    // The namespace declarations to consider on this element.
    let mut candidates: Vec<&str> = Vec::new();
    if c.exclusive {
        candidates.extend(used_prefixes.iter().copied());
        for p in &c.inclusive_prefixes {
            if in_scope(n, p).is_some() {
                candidates.push(p.as_str());
            }
        }
    } else {
        candidates.push("");
        candidates.extend(n.namespaces().filter_map(|ns| ns.name()));
    }
    candidates.retain(|p| *p != "xml");
    candidates.sort_unstable();
    candidates.dedup();

    out.push(b'<');
    out.extend_from_slice(qname.as_bytes());
    for p in candidates {
        let Some(uri) = in_scope(n, p) else { continue };
        let before = rendered_value(rendered, p);
        let write = if p.is_empty() {
            // xmlns="" only to undo a non-empty default written above.
            uri != before.unwrap_or("")
        } else {
            before != Some(uri)
        };
        if !write {
            continue;
        }
        if p.is_empty() {
            out.extend_from_slice(b" xmlns=\"");
        } else {
            out.extend_from_slice(b" xmlns:");
            out.extend_from_slice(p.as_bytes());
            out.extend_from_slice(b"=\"");
        }
        escape_attr(uri, out);
        out.push(b'"');
        // `p` and `uri` borrow the document, which outlives the walk.
        rendered.push((lookup_static(n, p), uri));
    }
    attrs.sort_unstable_by(|x, y| (x.namespace, x.local).cmp(&(y.namespace, y.local)));
    for a in &attrs {
        out.push(b' ');
        out.extend_from_slice(a.qname.as_bytes());
        out.extend_from_slice(b"=\"");
        escape_attr(a.value, out);
        out.push(b'"');
    }
    out.push(b'>');
    Ok(())
}

/// The prefix as a string borrowed from the document (so it can live in the rendered stack).
fn lookup_static<'a>(n: Node<'a, 'a>, p: &str) -> &'a str {
    if p.is_empty() {
        return "";
    }
    n.namespaces()
        .filter_map(|ns| ns.name())
        .find(|name| *name == p)
        .unwrap_or("")
}

/// Text node escaping (c14n §2.3): `&`, `<`, `>` and carriage return.
fn escape_text(s: &str, out: &mut Vec<u8>) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'\r' => b"&#xD;",
            _ => continue,
        };
        out.extend_from_slice(&s.as_bytes()[last..i]);
        out.extend_from_slice(rep);
        last = i + 1;
    }
    out.extend_from_slice(&s.as_bytes()[last..]);
}

/// Attribute value escaping (c14n §2.3): `&`, `<`, `"`, tab, line feed and carriage return.
fn escape_attr(s: &str, out: &mut Vec<u8>) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'"' => b"&quot;",
            b'\t' => b"&#x9;",
            b'\n' => b"&#xA;",
            b'\r' => b"&#xD;",
            _ => continue,
        };
        out.extend_from_slice(&s.as_bytes()[last..i]);
        out.extend_from_slice(rep);
        last = i + 1;
    }
    out.extend_from_slice(&s.as_bytes()[last..]);
}

/// Comment and processing-instruction content: only a carriage return is escaped.
fn escape_cr(s: &str, out: &mut Vec<u8>) {
    for part in s.split('\r').enumerate() {
        if part.0 > 0 {
            out.extend_from_slice(b"&#xD;");
        }
        out.extend_from_slice(part.1.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exc(prefixes: &[&str]) -> Canonicalization {
        Canonicalization {
            exclusive: true,
            with_comments: false,
            inclusive_prefixes: prefixes.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    fn inc() -> Canonicalization {
        Canonicalization::inclusive()
    }

    /// The canonical form of the first element named `apex` (local name) of `xml`.
    fn c14n(xml: &str, apex: &str, c: &Canonicalization) -> String {
        let doc = roxmltree::Document::parse(xml).unwrap();
        let node = doc
            .descendants()
            .find(|n| n.is_element() && n.tag_name().name() == apex)
            .unwrap();
        let mut out = Vec::new();
        canonicalize(node, None, c, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn exclusive_writes_only_the_namespaces_each_element_uses() {
        let xml = r#"<a:r xmlns:a="urn:a" xmlns:b="urn:b" xmlns:u="urn:unused"><b:c x="1"/></a:r>"#;
        assert_eq!(
            c14n(xml, "r", &exc(&[])),
            r#"<a:r xmlns:a="urn:a"><b:c xmlns:b="urn:b" x="1"></b:c></a:r>"#
        );
        assert_eq!(
            c14n(xml, "r", &inc()),
            r#"<a:r xmlns:a="urn:a" xmlns:b="urn:b" xmlns:u="urn:unused"><b:c x="1"></b:c></a:r>"#
        );
    }

    #[test]
    fn a_subtree_carries_the_namespaces_it_inherits() {
        let xml =
            r#"<r xmlns="urn:d" xmlns:p="urn:p" xmlns:q="urn:q"><p:s a="1" p:b="2"><t/></p:s></r>"#;
        assert_eq!(
            c14n(xml, "s", &exc(&[])),
            r#"<p:s xmlns:p="urn:p" a="1" p:b="2"><t xmlns="urn:d"></t></p:s>"#
        );
        assert_eq!(
            c14n(xml, "s", &inc()),
            r#"<p:s xmlns="urn:d" xmlns:p="urn:p" xmlns:q="urn:q" a="1" p:b="2"><t></t></p:s>"#
        );
    }

    #[test]
    fn an_undeclared_default_namespace_is_written_only_to_undo_one_above() {
        let xml = r#"<r xmlns="urn:d"><s xmlns=""><t/></s></r>"#;
        assert_eq!(
            c14n(xml, "r", &exc(&[])),
            r#"<r xmlns="urn:d"><s xmlns=""><t></t></s></r>"#
        );
        assert_eq!(c14n(xml, "s", &exc(&[])), r#"<s><t></t></s>"#);
        assert_eq!(c14n(xml, "s", &inc()), r#"<s><t></t></s>"#);
    }

    #[test]
    fn a_namespace_already_written_above_is_not_repeated_and_a_rebinding_is() {
        let xml = r#"<a:r xmlns:a="urn:a"><a:s xmlns:a="urn:a"><a:t xmlns:a="urn:z"/></a:s></a:r>"#;
        assert_eq!(
            c14n(xml, "r", &exc(&[])),
            r#"<a:r xmlns:a="urn:a"><a:s><a:t xmlns:a="urn:z"></a:t></a:s></a:r>"#
        );
        assert_eq!(
            c14n(xml, "r", &inc()),
            r#"<a:r xmlns:a="urn:a"><a:s><a:t xmlns:a="urn:z"></a:t></a:s></a:r>"#
        );
    }

    #[test]
    fn text_and_attributes_are_escaped_as_the_specification_says() {
        let xml = "<r a=\"&lt;&amp;&quot;&#9;&#10;&#13;>'\" b=\"x\ny\tz\">x &amp; &lt; &gt; &#13; \"'<![CDATA[<c>&]]></r>";
        assert_eq!(
            c14n(xml, "r", &exc(&[])),
            "<r a=\"&lt;&amp;&quot;&#x9;&#xA;&#xD;>'\" b=\"x y z\">x &amp; &lt; &gt; &#xD; \"'&lt;c&gt;&amp;</r>"
        );
    }

    #[test]
    fn attributes_sort_by_namespace_then_name_after_the_declarations() {
        let xml = r#"<r xmlns:b="urn:b" xmlns:a="urn:a" z="1" b:y="2" a:y="3" a="4"/>"#;
        assert_eq!(
            c14n(xml, "r", &exc(&[])),
            r#"<r xmlns:a="urn:a" xmlns:b="urn:b" a="4" z="1" a:y="3" b:y="2"></r>"#
        );
    }

    #[test]
    fn comments_only_with_comments_and_processing_instructions_always() {
        let xml = "<r>\r\n<!-- c --><?pi  data?><?bare?>t</r>";
        assert_eq!(c14n(xml, "r", &exc(&[])), "<r>\n<?pi data?><?bare?>t</r>");
        let with = Canonicalization {
            with_comments: true,
            ..exc(&[])
        };
        assert_eq!(
            c14n(xml, "r", &with),
            "<r>\n<!-- c --><?pi data?><?bare?>t</r>"
        );
    }

    #[test]
    fn the_prefix_list_writes_prefixes_used_only_inside_values() {
        let xml = r#"<r xmlns:xs="urn:xs" xmlns:u="urn:u"><v t="xs:string"/></r>"#;
        assert_eq!(c14n(xml, "v", &exc(&[])), r#"<v t="xs:string"></v>"#);
        assert_eq!(
            c14n(xml, "v", &exc(&["xs", "absent"])),
            r#"<v xmlns:xs="urn:xs" t="xs:string"></v>"#
        );
        assert_eq!(
            c14n(xml, "r", &exc(&["xs"])),
            r#"<r xmlns:xs="urn:xs"><v t="xs:string"></v></r>"#
        );
        let xml = r#"<r xmlns="urn:d"><v/></r>"#;
        assert_eq!(
            c14n(
                xml,
                "v",
                &exc(&["#default"].map(|p| if p == "#default" { "" } else { p }))
            ),
            r#"<v xmlns="urn:d"></v>"#
        );
    }

    #[test]
    fn the_prefix_list_parses_default() {
        let c = Canonicalization::from_uri(EXC_C14N, Some(" xs  #default ")).unwrap();
        assert_eq!(c.inclusive_prefixes, vec!["xs".to_owned(), String::new()]);
        assert!(Canonicalization::from_uri("http://www.w3.org/2006/12/xml-c14n11", None).is_none());
        assert!(
            !Canonicalization::from_uri(C14N, Some("xs"))
                .unwrap()
                .exclusive
        );
    }

    #[test]
    fn the_excluded_subtree_is_left_out_and_its_surroundings_kept() {
        let xml = "<r><s/>\n  <ds:Signature xmlns:ds=\"urn:ds\"><x>in</x></ds:Signature>\n  t</r>";
        let doc = roxmltree::Document::parse(xml).unwrap();
        let sig = doc
            .descendants()
            .find(|n| n.tag_name().name() == "Signature")
            .unwrap();
        let mut out = Vec::new();
        canonicalize(doc.root_element(), Some(sig), &exc(&[]), &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "<r><s></s>\n  \n  t</r>");
    }

    #[test]
    fn inclusive_carries_inherited_xml_attributes_to_the_apex_only() {
        let xml = r#"<r xml:lang="en" xml:space="preserve"><s xml:lang="fr"><t/></s></r>"#;
        assert_eq!(
            c14n(xml, "s", &inc()),
            r#"<s xml:lang="fr" xml:space="preserve"><t></t></s>"#
        );
        assert_eq!(c14n(xml, "s", &exc(&[])), r#"<s xml:lang="fr"><t></t></s>"#);
        assert_eq!(
            c14n(xml, "t", &inc()),
            r#"<t xml:lang="fr" xml:space="preserve"></t>"#
        );
    }

    #[test]
    fn whitespace_inside_tags_and_empty_elements_are_normalized() {
        let xml = "<r\n  b = '2'\ta=\"1\"  ><e\n/></r   >";
        assert_eq!(c14n(xml, "r", &exc(&[])), r#"<r a="1" b="2"><e></e></r>"#);
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        // The parser recurses, so it gets a large stack; the canonicalization runs on a 64 KiB
        // one, which a recursive walk 5,000 levels deep would overflow.
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(|| {
                let depth = 5_000;
                let xml = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
                let doc = roxmltree::Document::parse(&xml).unwrap();
                let out = std::thread::scope(|s| {
                    std::thread::Builder::new()
                        .stack_size(64 << 10)
                        .spawn_scoped(s, || {
                            let mut out = Vec::new();
                            canonicalize(doc.root_element(), None, &exc(&[]), &mut out).unwrap();
                            out
                        })
                        .unwrap()
                        .join()
                        .unwrap()
                });
                assert_eq!(String::from_utf8(out).unwrap(), xml);
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
