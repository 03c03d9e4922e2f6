//! SCIM 2.0 filter expressions (RFC 7644 §3.4.2.2): parsing and in-memory evaluation.
//!
//! The parser is hand-written rather than generated so that every error can name the
//! column and the token that was expected; those messages go back to the IdP verbatim
//! inside a SCIM `invalidFilter` error, and they are what an admin sees in the Okta /
//! Entra provisioning log when something goes wrong.
//!
//! Evaluation is deliberately lenient where real IdPs are sloppy (case, booleans sent
//! as strings) and strict about structure (length, nesting depth), because filters
//! arrive from the network and must never be able to exhaust the stack.

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Number, Value};

/// Longest filter accepted, in characters; IdPs send short equality filters, so
/// anything larger is either a bug or an attempt to burn CPU.
pub const MAX_FILTER_LEN: usize = 4096;
/// Most nodes (comparisons, `and`, `or`, `not`, value paths) a filter may have.
pub const MAX_FILTER_NODES: u64 = 64;

/// Deepest nesting of `( )`, `not( )` and `[ ]` accepted; bounds parser and evaluator
/// recursion so hostile input cannot overflow the stack.
pub const MAX_DEPTH: usize = 32;

/// Prefix of the core schema URNs; attributes qualified with it live at the top level
/// of the resource, unlike extension attributes which live under their URN key.
const CORE_SCHEMA_PREFIX: &str = "urn:ietf:params:scim:schemas:core:";

/// A parsed filter tree, kept as data so the caller can either evaluate it in memory
/// ([`matches`]) or translate the common shapes into SQL ([`eq_lookup`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attrPath op value`; the value stays JSON so type-specific comparison rules can
    /// be applied at evaluation time.
    Compare {
        /// Attribute the comparison reads.
        path: AttrPath,
        /// Comparison operator.
        op: CompareOp,
        /// Literal right-hand side (string, number, boolean or null).
        value: Value,
    },
    /// `attrPath pr`; separate from `Compare` because it has no right-hand side.
    Present(AttrPath),
    /// Both sides must match; `and` binds tighter than `or`.
    And(Box<Filter>, Box<Filter>),
    /// Either side may match.
    Or(Box<Filter>, Box<Filter>),
    /// Negation; the RFC grammar requires the parenthesised form `not (...)`.
    Not(Box<Filter>),
    /// `emails[type eq "work"]`: the inner filter must hold for a *single* element, which
    /// is why it is not flattened into an `And` of two `Compare`s.
    ValuePath {
        /// The multi-valued (or complex) attribute whose elements are tested.
        path: AttrPath,
        /// Filter evaluated against each element, with paths relative to the element.
        filter: Box<Filter>,
    },
}

/// Comparison operators of RFC 7644 §3.4.2.2; `pr` is modelled as [`Filter::Present`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// equal
    Eq,
    /// not equal
    Ne,
    /// contains
    Co,
    /// starts with
    Sw,
    /// ends with
    Ew,
    /// greater than
    Gt,
    /// greater than or equal
    Ge,
    /// less than
    Lt,
    /// less than or equal
    Le,
}

impl CompareOp {
    /// Operators are case-insensitive on the wire (`EQ`, `Eq`, `eq` all occur).
    fn from_keyword(word: &str) -> Option<CompareOp> {
        let op = match word.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        };
        Some(op)
    }

    /// Canonical lowercase spelling, for logs and for re-rendering a filter.
    pub fn as_str(&self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

/// An attribute reference such as `userName`, `name.givenName` or
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
///
/// Names keep the client's spelling (useful in error messages) but every comparison
/// is case-insensitive, as RFC 7643 §2.1 requires for attribute names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// Schema URN qualifier; extension attributes live under this key in the resource.
    pub uri: Option<String>,
    /// Top-level attribute name (within the schema given by `uri`).
    pub attr: String,
    /// Sub-attribute of a complex attribute, e.g. `givenName` in `name.givenName`.
    pub sub: Option<String>,
}

impl AttrPath {
    /// Parses the textual form; shared with the PATCH engine so both accept exactly the
    /// same attribute syntax. Returns `None` rather than an error because the callers
    /// phrase the error differently (`invalidFilter` vs `invalidPath`).
    pub fn parse(text: &str) -> Option<AttrPath> {
        // The URI may itself contain ':' and '.' ("...:2.0:User"), so split it off at
        // the *last* colon before looking for the sub-attribute dot.
        let (uri, rest) = match text.rsplit_once(':') {
            Some((u, r)) => (Some(u), r),
            None => (None, text),
        };
        if let Some(u) = uri {
            if u.is_empty() || !u.chars().all(is_uri_char) {
                return None;
            }
        }
        let (attr, sub) = match rest.split_once('.') {
            Some((a, s)) => (a, Some(s)),
            None => (rest, None),
        };
        if !is_attr_name(attr) || !sub.is_none_or(is_attr_name) {
            return None;
        }
        Some(AttrPath {
            uri: uri.map(str::to_string),
            attr: attr.to_string(),
            sub: sub.map(str::to_string),
        })
    }

    /// Lets callers match on a well-known attribute without caring about the case the
    /// IdP used (`userName` vs `username`).
    pub fn is(&self, name: &str) -> bool {
        self.attr.eq_ignore_ascii_case(name)
    }

    /// True when the path addresses the resource's top level (no URI, or a core-schema
    /// URI), i.e. it is not an extension attribute.
    pub fn is_core(&self) -> bool {
        self.uri.as_deref().is_none_or(is_core_uri)
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(uri) = &self.uri {
            write!(f, "{uri}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// A filter that could not be parsed; `message` names the column and what was expected
/// because it is returned to the IdP as the `detail` of a SCIM `invalidFilter` error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FilterError {
    /// Human-readable, column-qualified description.
    pub message: String,
}

impl FilterError {
    fn at(col: usize, what: impl fmt::Display) -> FilterError {
        FilterError {
            message: format!("column {col}: {what}"),
        }
    }
}

/// True for URIs whose attributes are stored at the resource's top level.
pub(crate) fn is_core_uri(uri: &str) -> bool {
    uri.get(..CORE_SCHEMA_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(CORE_SCHEMA_PREFIX))
}

/// ATTRNAME of RFC 7643 §2.1, plus a leading `$` so `$ref` can be addressed.
pub(crate) fn is_attr_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '$' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$'))
}

fn is_uri_char(c: char) -> bool {
    c.is_ascii_graphic() && !matches!(c, '[' | ']' | '(' | ')' | '"' | '\\')
}

// ---------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// Attribute path, operator keyword or `true`/`false`/`null`.
    Word(String),
    Str(String),
    Num(Number),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// 1-based character column of the token's first character.
    col: usize,
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '$'
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.' | '$')
}

/// Short, quoted rendering of a token for "found X" messages.
fn describe(tok: &Tok) -> String {
    fn clip(s: &str) -> String {
        let mut out: String = s.chars().take(40).collect();
        if s.chars().count() > 40 {
            out.push('…');
        }
        out
    }
    match tok {
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::LBracket => "'['".into(),
        Tok::RBracket => "']'".into(),
        Tok::Word(w) => format!("'{}'", clip(w)),
        Tok::Str(s) => format!("string \"{}\"", clip(s)),
        Tok::Num(n) => format!("number {}", clip(&n.to_string())),
    }
}

fn lex(chars: &[char]) -> Result<Vec<Token>, FilterError> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let col = i + 1;
        let simple = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            _ => None,
        };
        if let Some(tok) = simple {
            out.push(Token { tok, col });
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '"' {
            let mut j = i + 1;
            loop {
                match chars.get(j) {
                    None => return Err(FilterError::at(col, "unterminated string literal")),
                    Some('\\') => j += 2,
                    Some('"') => break,
                    Some(_) => j += 1,
                }
            }
            let raw: String = chars.get(i..=j).unwrap_or(&[]).iter().collect();
            // JSON string grammar is exactly what RFC 7644 prescribes for literals.
            let s: String = serde_json::from_str(&raw)
                .map_err(|e| FilterError::at(col, format!("invalid string literal ({e})")))?;
            out.push(Token {
                tok: Tok::Str(s),
                col,
            });
            i = j + 1;
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let mut j = i + 1;
            while chars
                .get(j)
                .is_some_and(|d| d.is_ascii_digit() || matches!(d, '.' | 'e' | 'E' | '+' | '-'))
            {
                j += 1;
            }
            let raw: String = chars.get(i..j).unwrap_or(&[]).iter().collect();
            let n: Number = serde_json::from_str(&raw)
                .map_err(|_| FilterError::at(col, format!("invalid number '{raw}'")))?;
            out.push(Token {
                tok: Tok::Num(n),
                col,
            });
            i = j;
        } else if is_word_start(c) {
            let mut j = i + 1;
            while chars.get(j).copied().is_some_and(is_word_char) {
                j += 1;
            }
            out.push(Token {
                tok: Tok::Word(chars.get(i..j).unwrap_or(&[]).iter().collect()),
                col,
            });
            i = j;
        } else {
            return Err(FilterError::at(
                col,
                format!("unexpected character '{c}' (string literals use double quotes)"),
            ));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    end_col: usize,
    depth: usize,
    in_value_filter: bool,
}

const EXPECT_OPERAND: &str = "expected an attribute path, '(' or 'not ('";
const EXPECT_OPERATOR: &str = "expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)";
const EXPECT_VALUE: &str = "expected a value (\"string\", number, true, false or null)";

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn peek_tok(&self, offset: usize) -> Option<&Tok> {
        self.toks.get(self.pos + offset).map(|t| &t.tok)
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek_tok(0), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    /// Error at the current token, or at end of input.
    fn unexpected(&self, expected: &str) -> FilterError {
        match self.peek() {
            Some(t) => FilterError::at(t.col, format!("{expected}, found {}", describe(&t.tok))),
            None => FilterError::at(self.end_col, format!("{expected}, found end of filter")),
        }
    }

    fn enter(&mut self, col: usize) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError::at(
                col,
                format!("filter nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn expect_close(&mut self, close: &Tok, open_col: usize) -> Result<(), FilterError> {
        if self.peek_tok(0) == Some(close) {
            self.pos += 1;
            self.depth = self.depth.saturating_sub(1);
            Ok(())
        } else {
            let (c, o) = if *close == Tok::RParen {
                (')', '(')
            } else {
                (']', '[')
            };
            Err(self.unexpected(&format!(
                "expected 'and', 'or' or '{c}' closing the '{o}' at column {open_col}"
            )))
        }
    }

    fn parse_or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.parse_and()?;
        while self.peek_keyword("or") {
            self.pos += 1;
            let right = self.parse_and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.parse_unary()?;
        while self.peek_keyword("and") {
            self.pos += 1;
            let right = self.parse_unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_unary(&mut self) -> Result<Filter, FilterError> {
        let Some(tok) = self.peek().cloned() else {
            return Err(self.unexpected(EXPECT_OPERAND));
        };
        match tok.tok {
            Tok::LParen => {
                self.enter(tok.col)?;
                self.pos += 1;
                let inner = self.parse_or()?;
                self.expect_close(&Tok::RParen, tok.col)?;
                Ok(inner)
            }
            // `not` is only the operator when followed by '('; otherwise it is an
            // attribute that happens to be called "not".
            Tok::Word(ref w)
                if w.eq_ignore_ascii_case("not") && self.peek_tok(1) == Some(&Tok::LParen) =>
            {
                self.enter(tok.col)?;
                let open_col = self.toks.get(self.pos + 1).map_or(tok.col, |t| t.col);
                self.pos += 2;
                let inner = self.parse_or()?;
                self.expect_close(&Tok::RParen, open_col)?;
                Ok(Filter::Not(Box::new(inner)))
            }
            Tok::Word(w) => self.parse_attr_expr(&w, tok.col),
            _ => Err(self.unexpected(EXPECT_OPERAND)),
        }
    }

    fn parse_attr_expr(&mut self, word: &str, col: usize) -> Result<Filter, FilterError> {
        let path = AttrPath::parse(word)
            .ok_or_else(|| FilterError::at(col, format!("invalid attribute path '{word}'")))?;
        self.pos += 1;

        if let Some(Token {
            tok: Tok::LBracket,
            col: open_col,
        }) = self.peek().cloned()
        {
            if self.in_value_filter {
                return Err(FilterError::at(open_col, "value filters cannot be nested"));
            }
            if path.sub.is_some() {
                return Err(FilterError::at(
                    open_col,
                    "a value filter '[...]' must follow an attribute, not a sub-attribute",
                ));
            }
            self.enter(open_col)?;
            self.pos += 1;
            self.in_value_filter = true;
            let inner = self.parse_or();
            self.in_value_filter = false;
            let inner = inner?;
            self.expect_close(&Tok::RBracket, open_col)?;
            return Ok(Filter::ValuePath {
                path,
                filter: Box::new(inner),
            });
        }

        let op = match self.peek_tok(0) {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("pr") => {
                self.pos += 1;
                return Ok(Filter::Present(path));
            }
            Some(Tok::Word(w)) => CompareOp::from_keyword(w),
            _ => None,
        };
        let Some(op) = op else {
            return Err(self.unexpected(&format!("{EXPECT_OPERATOR} after '{word}'")));
        };
        self.pos += 1;

        let value = match self.peek_tok(0) {
            Some(Tok::Str(s)) => Value::String(s.clone()),
            Some(Tok::Num(n)) => Value::Number(n.clone()),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => Value::Bool(true),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => Value::Bool(false),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => Value::Null,
            _ => return Err(self.unexpected(&format!("{EXPECT_VALUE} after '{}'", op.as_str()))),
        };
        self.pos += 1;
        Ok(Filter::Compare { path, op, value })
    }
}

/// Parses a SCIM filter; errors are meant to be returned as `invalidFilter`.
pub fn parse(input: &str) -> Result<Filter, FilterError> {
    let chars: Vec<char> = input.chars().take(MAX_FILTER_LEN + 1).collect();
    if chars.len() > MAX_FILTER_LEN {
        return Err(FilterError {
            message: format!("filter is longer than {MAX_FILTER_LEN} characters"),
        });
    }
    let toks = lex(&chars)?;
    let mut p = Parser {
        toks,
        pos: 0,
        end_col: chars.len() + 1,
        depth: 0,
        in_value_filter: false,
    };
    let filter = p.parse_or()?;
    if p.peek().is_some() {
        return Err(p.unexpected("expected 'and', 'or' or end of filter"));
    }
    // Every node is evaluated against every candidate resource (or member): a bound on nodes
    // keeps one request's CPU time bounded. IdPs send one or two comparisons.
    let nodes = size(&filter);
    if nodes > MAX_FILTER_NODES {
        return Err(FilterError {
            message: format!(
                "filter has {nodes} comparisons and operators; at most {MAX_FILTER_NODES} are accepted"
            ),
        });
    }
    Ok(filter)
}

// ---------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------

/// Case-insensitive object member lookup (RFC 7643 §2.1: attribute names are
/// case-insensitive).
pub(crate) fn get_ci<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    let obj = value.as_object()?;
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// Every value the path designates, with multi-valued attributes flattened so that
/// "any element matches" falls out of a plain `any()`.
fn resolve<'a>(resource: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let base = match &path.uri {
        Some(uri) if !is_core_uri(uri) => match get_ci(resource, uri) {
            Some(ext) => ext,
            None => return Vec::new(),
        },
        _ => resource,
    };
    let mut out = Vec::new();
    let Some(v) = get_ci(base, &path.attr) else {
        return out;
    };
    let elems: &[Value] = match v {
        Value::Array(items) => items,
        other => std::slice::from_ref(other),
    };
    for e in elems {
        match &path.sub {
            None => out.push(e),
            Some(sub) => match get_ci(e, sub) {
                Some(Value::Array(xs)) => out.extend(xs.iter()),
                Some(x) => out.push(x),
                None => {}
            },
        }
    }
    out
}

fn parse_bool_str(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn num_cmp(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

fn values_eq(candidate: &Value, literal: &Value) -> bool {
    match (candidate, literal) {
        // userName and most SCIM strings are caseExact=false.
        (Value::String(a), Value::String(b)) => a.to_lowercase() == b.to_lowercase(),
        (Value::Bool(a), Value::Bool(b)) => a == b,
        // Entra stores/sends booleans as "True"/"False" strings, so accept either side.
        (Value::Bool(a), Value::String(s)) | (Value::String(s), Value::Bool(a)) => {
            parse_bool_str(s) == Some(*a)
        }
        (Value::Number(a), Value::Number(b)) => num_cmp(a, b) == Some(Ordering::Equal),
        _ => false,
    }
}

fn ordering(candidate: &Value, literal: &Value) -> Option<Ordering> {
    match (candidate, literal) {
        // Lexicographic per RFC; ISO-8601 dateTimes in the same format order correctly.
        (Value::String(a), Value::String(b)) => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        (Value::Number(a), Value::Number(b)) => num_cmp(a, b),
        _ => None,
    }
}

fn compare_one(candidate: &Value, op: CompareOp, literal: &Value) -> bool {
    match op {
        CompareOp::Eq => values_eq(candidate, literal),
        CompareOp::Ne => !values_eq(candidate, literal),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
            let (Some(a), Some(b)) = (candidate.as_str(), literal.as_str()) else {
                return false;
            };
            let (a, b) = (a.to_lowercase(), b.to_lowercase());
            match op {
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                _ => a.ends_with(&b),
            }
        }
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
            ordering(candidate, literal).is_some_and(|o| match op {
                CompareOp::Gt => o.is_gt(),
                CompareOp::Ge => o.is_ge(),
                CompareOp::Lt => o.is_lt(),
                _ => o.is_le(),
            })
        }
    }
}

fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn compare_path(resource: &Value, path: &AttrPath, op: CompareOp, literal: &Value) -> bool {
    let candidates: Vec<&Value> = resolve(resource, path)
        .into_iter()
        // `emails co "x"` on a complex multi-valued attribute means its `value`.
        .filter_map(|c| match c {
            Value::Object(_) if path.sub.is_none() => get_ci(c, "value"),
            other => Some(other),
        })
        .filter(|c| !c.is_null())
        .collect();
    if candidates.is_empty() {
        // Unassigned: `ne x` holds, `eq null` holds, everything else fails.
        return match op {
            CompareOp::Ne => !literal.is_null(),
            CompareOp::Eq => literal.is_null(),
            _ => false,
        };
    }
    candidates.iter().any(|c| compare_one(c, op, literal))
}

/// Evaluates a filter against one SCIM resource (or, for value paths, one element);
/// used for filters that cannot be pushed down to SQL and for value-path selection in
/// PATCH.
/// How many nodes a filter has: the work one evaluation against one resource costs.
pub fn size(filter: &Filter) -> u64 {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => 1 + size(a) + size(b),
        Filter::Not(inner) => 1 + size(inner),
        Filter::ValuePath { filter, .. } => 1 + size(filter),
        _ => 1,
    }
}

pub fn matches(filter: &Filter, resource: &Value) -> bool {
    match filter {
        Filter::And(a, b) => matches(a, resource) && matches(b, resource),
        Filter::Or(a, b) => matches(a, resource) || matches(b, resource),
        Filter::Not(inner) => !matches(inner, resource),
        Filter::Present(path) => resolve(resource, path).into_iter().any(is_present),
        Filter::Compare { path, op, value } => compare_path(resource, path, *op, value),
        Filter::ValuePath { path, filter } => resolve(resource, path)
            .into_iter()
            .any(|elem| matches(filter, elem)),
    }
}

/// Recognises `attr eq "string"` on a top-level attribute — the only filter shape Okta
/// and Entra send in practice (`userName`, `externalId`, `displayName`) — so the caller
/// can answer it with an indexed, case-insensitive SQL lookup instead of a scan.
///
/// Extension-qualified and sub-attribute paths return `None` so that matching on
/// `path.is("userName")` alone is safe.
pub fn eq_lookup(filter: &Filter) -> Option<(&AttrPath, &str)> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Value::String(s),
        } if path.sub.is_none() && path.is_core() => Some((path, s.as_str())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// S-expression rendering keeps expected parse trees readable in the tables.
    fn render(f: &Filter) -> String {
        match f {
            Filter::Compare { path, op, value } => format!("({} {path} {value})", op.as_str()),
            Filter::Present(p) => format!("(pr {p})"),
            Filter::And(a, b) => format!("(and {} {})", render(a), render(b)),
            Filter::Or(a, b) => format!("(or {} {})", render(a), render(b)),
            Filter::Not(a) => format!("(not {})", render(a)),
            Filter::ValuePath { path, filter } => format!("({path}[{}])", render(filter)),
        }
    }

    struct ParseCase {
        name: &'static str,
        input: String,
        /// Ok(rendered tree) or Err(substring of the error message).
        expect: Result<&'static str, &'static str>,
    }

    fn run_parse(case: ParseCase) {
        let got = parse(&case.input);
        match (&got, case.expect) {
            (Ok(f), Ok(want)) => assert_eq!(render(f), want, "case {}", case.name),
            (Err(e), Err(want)) => assert!(
                e.message.contains(want),
                "case {}: error {:?} does not contain {:?}",
                case.name,
                e.message,
                want
            ),
            _ => panic!("case {}: got {:?}, want {:?}", case.name, got, case.expect),
        }
    }

    macro_rules! parse_cases {
        ($($name:ident: $input:expr => $expect:expr;)*) => {
            $(
                #[test]
                fn $name() {
                    run_parse(ParseCase { name: stringify!($name), input: ($input).into(), expect: $expect });
                }
            )*
        };
    }

    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn nested(depth: usize) -> String {
        format!("{}userName pr{}", "(".repeat(depth), ")".repeat(depth))
    }

    parse_cases! {
        parse_okta_username_eq: r#"userName eq "bjensen""# => Ok(r#"(eq userName "bjensen")"#);
        parse_operator_upper_case: r#"userName EQ "x""# => Ok(r#"(eq userName "x")"#);
        parse_keywords_mixed_case: r#"title pr AND userType Eq "Employee""# =>
            Ok(r#"(and (pr title) (eq userType "Employee"))"#);
        parse_precedence_and_over_or: "a pr or b pr and c pr" => Ok("(or (pr a) (and (pr b) (pr c)))");
        parse_precedence_and_then_or: "a pr and b pr or c pr" => Ok("(or (and (pr a) (pr b)) (pr c))");
        parse_or_is_left_associative: "a pr or b pr or c pr" => Ok("(or (or (pr a) (pr b)) (pr c))");
        parse_parens_override_precedence: "(a pr or b pr) and c pr" => Ok("(and (or (pr a) (pr b)) (pr c))");
        parse_not_binds_tighter_than_and: "not (a pr) and b pr" => Ok("(and (not (pr a)) (pr b))");
        parse_not_upper_case: "NOT(a pr or b pr)" => Ok("(not (or (pr a) (pr b)))");
        parse_attribute_named_not: "not pr" => Ok("(pr not)");
        parse_json_escapes: r#"displayName eq "a\"b\\c\u00e9\n""# => Ok(r#"(eq displayName "a\"b\\cé\n")"#);
        parse_unicode_literal: r#"displayName eq "Zoë 日本""# => Ok(r#"(eq displayName "Zoë 日本")"#);
        parse_integer: "age gt 30" => Ok("(gt age 30)");
        parse_negative_float: "score le -1.5e2" => Ok("(le score -150.0)");
        parse_literals_true_null: "active eq true and manager eq null" =>
            Ok("(and (eq active true) (eq manager null))");
        parse_literal_false_any_case: "active eq False" => Ok("(eq active false)");
        parse_sub_attribute: r#"name.familyName co "O'Malley""# => Ok(r#"(co name.familyName "O'Malley")"#);
        parse_enterprise_urn: format!(r#"{ENT}:employeeNumber eq "701984""#) =>
            Ok(r#"(eq urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber "701984")"#);
        parse_enterprise_urn_sub: format!(r#"{ENT}:manager.value eq "26118915""#) =>
            Ok(r#"(eq urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value "26118915")"#);
        parse_value_path_and: r#"emails[type eq "work" and value co "@example.com"]"# =>
            Ok(r#"(emails[(and (eq type "work") (co value "@example.com"))])"#);
        parse_value_path_in_expression: r#"userType eq "Employee" and emails[type eq "work"]"# =>
            Ok(r#"(and (eq userType "Employee") (emails[(eq type "work")]))"#);
        parse_rfc_grouping_example:
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"# =>
            Ok(r#"(and (eq userType "Employee") (or (co emails "example.com") (co emails.value "example.org")))"#);
        parse_all_ordering_ops: r#"a ne 1 and b sw "x" and c ew "y" and d ge 2 and e lt 3"# =>
            Ok(r#"(and (and (and (and (ne a 1) (sw b "x")) (ew c "y")) (ge d 2)) (lt e 3))"#);
        parse_datetime_gt: r#"meta.lastModified gt "2011-05-13T04:42:34Z""# =>
            Ok(r#"(gt meta.lastModified "2011-05-13T04:42:34Z")"#);
        parse_group_members_value: r#"members.value eq "abc""# => Ok(r#"(eq members.value "abc")"#);
        parse_no_space_before_literal: r#"userName eq"x""# => Ok(r#"(eq userName "x")"#);
        parse_ref_sub_attribute: r#"members.$ref pr"# => Ok("(pr members.$ref)");
        parse_depth_32_accepted: nested(32) => Ok("(pr userName)");
        parse_depth_33_rejected: nested(33) => Err("column 33: filter nests deeper than 32 levels");
        parse_not_nesting_counts_toward_depth: format!("{}a pr{}", "not (".repeat(33), ")".repeat(33)) =>
            Err("deeper than 32");
        parse_too_long_rejected: format!("userName eq \"{}\"", "x".repeat(4090)) => Err("longer than 4096");
        parse_empty_rejected: "" => Err("column 1: expected an attribute path");
        parse_whitespace_only_rejected: "   " => Err("column 4: expected an attribute path");
        parse_missing_value: "userName eq" => Err("column 12: expected a value");
        parse_unknown_operator: r#"userName equals "x""# => Err("column 10: expected an operator");
        parse_missing_operator: "userName" => Err("column 9: expected an operator");
        parse_unterminated_string: r#"userName eq "abc"# => Err("column 13: unterminated string literal");
        parse_invalid_escape: r#"userName eq "\x""# => Err("column 13: invalid string literal");
        parse_single_quotes_rejected: "userName eq 'x'" => Err("column 13: unexpected character");
        parse_bare_word_value_rejected: "userName eq bjensen" => Err("column 13: expected a value");
        parse_unclosed_paren: "(userName pr" => Err("column 13: expected 'and', 'or' or ')' closing the '(' at column 1");
        parse_stray_close_paren: "userName pr)" => Err("column 12: expected 'and', 'or' or end of filter");
        parse_dangling_and: "userName pr and" => Err("column 16: expected an attribute path");
        parse_unclosed_bracket: r#"emails[type eq "work""# => Err("closing the '[' at column 7");
        parse_nested_value_filter_rejected: "emails[type[value pr]]" => Err("column 12: value filters cannot be nested");
        parse_value_path_sub_in_filter_rejected: r#"emails[type eq "work"].value eq "x""# =>
            Err("column 23: unexpected character '.'");
        parse_invalid_attribute_name: "user..name pr" => Err("column 1: invalid attribute path");
        parse_bad_number: "age gt 1.2.3" => Err("column 8: invalid number");
        parse_leading_operator: "eq \"x\"" => Err("column 4: expected an operator");
    }

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
            "id": "2819c223",
            "userName": "BJensen",
            "active": true,
            "title": "",
            "nickName": null,
            "x509Certificates": [],
            "age": 42,
            "name": {"familyName": "Jensen", "givenName": "Barbara"},
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "meta": {"lastModified": "2011-05-13T04:42:34Z"},
            ENT: {"employeeNumber": "701984", "manager": {"value": "26118915"}}
        })
    }

    fn group() -> Value {
        json!({"displayName": "Admins", "members": [{"value": "abc"}, {"value": "def"}]})
    }

    fn entra_user() -> Value {
        // Entra-provisioned rows may hold the boolean as a string.
        json!({"userName": "x", "active": "False"})
    }

    struct MatchCase {
        name: &'static str,
        filter: String,
        resource: Value,
        expect: bool,
    }

    fn run_match(case: MatchCase) {
        let f = match parse(&case.filter) {
            Ok(f) => f,
            Err(e) => panic!("case {}: parse failed: {e}", case.name),
        };
        assert_eq!(
            matches(&f, &case.resource),
            case.expect,
            "case {}",
            case.name
        );
    }

    macro_rules! match_cases {
        ($($name:ident: $filter:expr, $resource:expr => $expect:expr;)*) => {
            $(
                #[test]
                fn $name() {
                    run_match(MatchCase { name: stringify!($name), filter: ($filter).into(), resource: $resource, expect: $expect });
                }
            )*
        };
    }

    match_cases! {
        match_username_value_case_insensitive: r#"userName eq "bjensen""#, user() => true;
        match_attribute_name_case_insensitive: r#"USERNAME eq "BJENSEN""#, user() => true;
        match_eq_mismatch: r#"userName eq "someone""#, user() => false;
        match_ne_on_missing_attribute_is_true: r#"displayName ne "x""#, user() => true;
        match_ne_on_equal_value_is_false: r#"userName ne "bjensen""#, user() => false;
        match_co: r#"userName co "JEN""#, user() => true;
        match_sw: r#"userName sw "bj""#, user() => true;
        match_ew_on_multi_valued_sub: r#"emails.value ew "@EXAMPLE.COM""#, user() => true;
        match_bool_against_bool: "active eq true", user() => true;
        match_bool_against_string_literal: r#"active eq "TRUE""#, user() => true;
        match_entra_stored_string_false: "active eq false", entra_user() => true;
        match_pr_empty_string_is_absent: "title pr", user() => false;
        match_pr_empty_array_is_absent: "x509Certificates pr", user() => false;
        match_pr_null_is_absent: "nickName pr", user() => false;
        match_pr_present: "name.givenName pr", user() => true;
        match_multi_valued_any_element: r#"emails.type eq "home""#, user() => true;
        match_value_path_same_element: r#"emails[type eq "work" and value co "@example.com"]"#, user() => true;
        match_value_path_not_across_elements: r#"emails[type eq "home" and value co "@example.com"]"#, user() => false;
        match_complex_without_sub_uses_value: r#"emails co "jensen.org""#, user() => true;
        match_group_members_value: r#"members.value eq "def""#, group() => true;
        match_group_members_value_missing: r#"members.value eq "zzz""#, group() => false;
        match_enterprise_urn_attribute: format!(r#"{ENT}:employeeNumber eq "701984""#), user() => true;
        match_enterprise_urn_sub_attribute: format!(r#"{ENT}:manager.value eq "26118915""#), user() => true;
        match_core_urn_prefix_is_top_level:
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bjensen""#, user() => true;
        match_datetime_gt: r#"meta.lastModified gt "2011-05-13T04:42:33Z""#, user() => true;
        match_number_ge: "age ge 42", user() => true;
        match_number_lt: "age lt 42", user() => false;
        match_number_vs_float: "age eq 42.0", user() => true;
        match_not: r#"not (userName eq "bjensen")"#, user() => false;
        match_precedence: r#"userName eq "nobody" and active eq true or age gt 40"#, user() => true;
        match_eq_null_on_missing: "displayName eq null", user() => true;
        match_gt_on_boolean_is_false: "active gt false", user() => false;
    }

    #[test]
    fn eq_lookup_recognises_simple_equality() {
        for (input, attr, value) in [
            (r#"userName eq "bjensen""#, "userName", "bjensen"),
            (r#"externalId EQ "00u1""#, "externalId", "00u1"),
            (r#"displayName eq "Admins""#, "displayName", "Admins"),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a""#,
                "userName",
                "a",
            ),
        ] {
            let f = parse(input).expect("valid filter");
            let (path, v) = eq_lookup(&f).expect("simple lookup");
            assert!(path.is(attr), "{input}");
            assert_eq!(v, value, "{input}");
        }
    }

    #[test]
    fn eq_lookup_rejects_other_shapes() {
        for input in [
            r#"userName ne "x""#,
            "userName eq true",
            r#"name.givenName eq "x""#,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1""#,
            r#"userName eq "x" and active eq true"#,
            r#"emails[value eq "x"]"#,
        ] {
            let f = parse(input).expect("valid filter");
            assert!(eq_lookup(&f).is_none(), "{input}");
        }
    }

    #[test]
    fn hostile_inputs_never_panic() {
        let inputs = [
            "\"".to_string(),
            "\"\\".to_string(),
            "-".to_string(),
            "a[".to_string(),
            "a[]".to_string(),
            "((((".to_string(),
            "not (".to_string(),
            "é eq 1".to_string(),
            "a eq \"\u{0}\"".to_string(),
            "a eq 1e999999".to_string(),
            "]".repeat(100),
            "[".repeat(5000),
            "a pr and ".repeat(450) + "a pr",
        ];
        for input in &inputs {
            if let Ok(f) = parse(input) {
                let _ = matches(&f, &user());
            }
        }
    }
}
