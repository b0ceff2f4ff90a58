//! Reads a raw request target the way the engine does (Go's `url.ParseRequestURI`, then
//! gorilla/mux on the decoded path) and names the route it reaches, or says why it is refused.

use std::collections::HashMap;
use std::sync::LazyLock;

use percent_encoding::percent_decode_str;

use super::{Route, ROUTES};

/// The longest request target accepted: Go's default limit for the whole request head.
pub const MAX_TARGET_LEN: usize = 1 << 20;

const METHODS: [&str; 5] = ["GET", "HEAD", "POST", "PUT", "DELETE"];

/// A request target as the engine routes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub route: &'static Route,
    /// The `N(.N)*` of a `/vN.N` prefix; `None` means the engine's default API version.
    pub version: Option<String>,
    /// The percent-decoded path without the version prefix, e.g. `/images/a/b/push`.
    pub path: String,
    /// Decoded path parameters named as in [`Route::pattern`], e.g. `("name", "a/b")`.
    pub params: Vec<(&'static str, String)>,
    /// Everything after the first `?`, undecoded (`Some("")` for a bare `?`).
    pub raw_query: Option<String>,
}

impl Classified {
    /// The decoded value of a path parameter, by its name in [`Route::pattern`].
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The query as the engine's `r.Form` reads it (`url.ParseQuery`): pairs in order, `+` as a
    /// space, a key without `=` has an empty value. Where Go would report an error (a `;`, a
    /// malformed escape) the engine either answers 400 or silently drops the pair, depending on
    /// the handler; both readings cannot be matched, so any such query is an error here.
    /// Note that for POST and PUT the engine's `r.Form` also holds the pairs of an
    /// `application/x-www-form-urlencoded` body, ahead of the query's.
    pub fn query_pairs(&self) -> Result<Vec<(String, String)>, QueryError> {
        self.raw_query
            .as_deref()
            .map_or(Ok(Vec::new()), parse_query)
    }
}

/// Why a request target is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassifyError {
    #[error("method \"{0}\" is not served by the engine; methods are GET, HEAD, POST, PUT and DELETE, in capitals")]
    UnknownMethod(String),
    #[error("request target of {len} bytes is longer than the {max} accepted")]
    TooLong { len: usize, max: usize },
    #[error("request target holds byte 0x{byte:02x} at offset {at}; percent-encode anything but visible ASCII")]
    InvalidByte { byte: u8, at: usize },
    #[error("request target holds '#', which the engine would read as part of the path; percent-encode it as %23")]
    Fragment,
    #[error("request target must be a path starting with '/'; absolute-form (http://host/…), authority and '*' targets are not accepted")]
    NotOriginForm,
    #[error(
        "malformed percent-escape \"{0}\" in the path; '%' must be followed by two hex digits"
    )]
    InvalidEscape(String),
    #[error("path decodes to control byte 0x{0:02x}, which no engine object name holds")]
    ControlByte(u8),
    #[error("path does not decode to UTF-8")]
    NotUtf8,
    #[error("path \"{path}\" is not canonical: the engine would redirect it to \"{canonical}\"; send that path instead")]
    NonCanonical { path: String, canonical: String },
    #[error("malformed API version \"{0}\" in the path prefix; write it as digits and dots, e.g. /v1.41/")]
    BadVersion(String),
    #[error("{method} {path} leaves the {param} of {pattern} empty")]
    EmptyParam {
        method: String,
        path: String,
        param: &'static str,
        pattern: &'static str,
    },
    #[error("{method} {path} is not an Engine API endpoint")]
    NoRoute { method: String, path: String },
    #[error("{path} is not served for {method}, only for {allowed}")]
    MethodNotAllowed {
        method: String,
        path: String,
        allowed: String,
    },
}

impl ClassifyError {
    /// The HTTP status to refuse with: the engine's own 404 where it has no such route, 414 for
    /// an overlong target, 400 for a target it would read differently or not at all.
    pub fn status(&self) -> u16 {
        match self {
            ClassifyError::UnknownMethod(_)
            | ClassifyError::NoRoute { .. }
            | ClassifyError::MethodNotAllowed { .. } => 404,
            ClassifyError::TooLong { .. } => 414,
            _ => 400,
        }
    }
}

/// Why a query string cannot be read as the engine reads it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("query part \"{0}\" holds ';', which the engine refuses as a separator; use '&'")]
    Semicolon(String),
    #[error(
        "malformed percent-escape \"{0}\" in the query; '%' must be followed by two hex digits"
    )]
    InvalidEscape(String),
    #[error("query part \"{0}\" does not decode to UTF-8")]
    NotUtf8(String),
}

/// Classifies `method` and the raw request `target` (path and query, as on the request line).
pub fn classify(method: &str, target: &str) -> Result<Classified, ClassifyError> {
    if !METHODS.contains(&method) {
        return Err(ClassifyError::UnknownMethod(excerpt(method)));
    }
    check_target(target)?;
    let (raw_path, raw_query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q.to_owned())),
        None => (target, None),
    };
    let path = decoded_path(raw_path)?;
    let (version, rest) = split_version(&path)?;
    let (route, params) = route_of(method, rest)?;
    Ok(Classified {
        route,
        version: version.map(str::to_owned),
        path: rest.to_owned(),
        params,
        raw_query,
    })
}

/// The request target as Go's server takes it: bounded, printable ASCII, no fragment, origin
/// form.
fn check_target(target: &str) -> Result<(), ClassifyError> {
    if target.len() > MAX_TARGET_LEN {
        return Err(ClassifyError::TooLong {
            len: target.len(),
            max: MAX_TARGET_LEN,
        });
    }
    // Go refuses control bytes (400) and takes raw non-ASCII; no client sends the latter.
    if let Some(at) = target.bytes().position(|b| !(0x21..=0x7e).contains(&b)) {
        return Err(ClassifyError::InvalidByte {
            byte: target.as_bytes()[at],
            at,
        });
    }
    if target.contains('#') {
        return Err(ClassifyError::Fragment);
    }
    if !target.starts_with('/') {
        return Err(ClassifyError::NotOriginForm);
    }
    Ok(())
}

/// The path percent-decoded as the router matches it; one that cleaning would change is refused
/// (the engine's router would redirect it, and we would have judged another path).
fn decoded_path(raw_path: &str) -> Result<String, ClassifyError> {
    let path = decode(raw_path, false).map_err(|e| match e {
        DecodeError::Escape(s) => ClassifyError::InvalidEscape(s),
        DecodeError::NotUtf8 => ClassifyError::NotUtf8,
    })?;
    if let Some(b) = path.bytes().find(|b| *b < 0x20 || *b == 0x7f) {
        return Err(ClassifyError::ControlByte(b));
    }
    if !is_clean(&path) {
        let canonical = clean(&path);
        if canonical != path {
            return Err(ClassifyError::NonCanonical {
                path: excerpt(&path),
                canonical: excerpt(&canonical),
            });
        }
    }
    Ok(path)
}

/// Decoded path parameters by name.
type Params = Vec<(&'static str, String)>;

/// The route the engine's router picks for `method` on the unversioned `rest`, and its
/// parameters.
fn route_of(method: &str, rest: &str) -> Result<(&'static Route, Params), ClassifyError> {
    let mut served = Vec::new();
    for compiled in INDEX.candidates(rest) {
        let route = compiled.route;
        let Some(values) = compiled.matches(rest) else {
            continue;
        };
        if route.method != method {
            served.push(route.method);
            continue;
        }
        let mut params = Vec::with_capacity(values.len());
        for (name, value) in compiled.names.iter().zip(values) {
            if value.is_empty() {
                return Err(ClassifyError::EmptyParam {
                    method: method.to_owned(),
                    path: excerpt(rest),
                    param: name,
                    pattern: route.pattern,
                });
            }
            params.push((*name, value.to_owned()));
        }
        return Ok((route, params));
    }
    if served.is_empty() {
        Err(ClassifyError::NoRoute {
            method: method.to_owned(),
            path: excerpt(rest),
        })
    } else {
        served.dedup();
        Err(ClassifyError::MethodNotAllowed {
            method: method.to_owned(),
            path: excerpt(rest),
            allowed: served.join(", "),
        })
    }
}

/// Splits a `/v{version:[0-9.]+}` prefix off, as moby's versioned registrations match it. No
/// unversioned template starts with `/v` and a digit or dot, so there is no other reading.
fn split_version(path: &str) -> Result<(Option<&str>, &str), ClassifyError> {
    let Some(after) = path.strip_prefix("/v") else {
        return Ok((None, path));
    };
    let n = after
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    if n == 0 || !after[n..].starts_with('/') {
        return Ok((None, path));
    }
    let version = &after[..n];
    if version.split('.').any(|part| part.is_empty()) || version.len() > 16 {
        return Err(ClassifyError::BadVersion(version.to_owned()));
    }
    Ok((Some(version), &after[n..]))
}

/// A cheap sufficient condition for `clean(path) == path`, which holds for nearly every request:
/// no empty segment but a trailing one, no `.` or `..` segment.
fn is_clean(path: &str) -> bool {
    let Some(inner) = path.strip_prefix('/') else {
        return false;
    };
    let mut segments = inner.split('/').peekable();
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        if (seg.is_empty() && !last) || seg == "." || seg == ".." {
            return false;
        }
    }
    true
}

/// gorilla/mux's `cleanPath`: Go's `path.Clean`, keeping a trailing slash.
fn clean(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = format!("/{}", segments.join("/"));
    if path.ends_with('/') && out != "/" {
        out.push('/');
    }
    out
}

#[derive(Debug, Clone, Copy)]
enum Var {
    /// `{x}`: mux's default `[^/]+`.
    Segment,
    /// `{x:.*}`
    Any,
    /// `{x:.+}`
    NonEmpty,
}

#[derive(Debug)]
enum Part<'t> {
    Lit(&'t str),
    Var(Var),
}

/// The parts of a mux template; `None` for a variable pattern this matcher does not know
/// (the table test makes sure there is none, so a route never silently stops matching).
fn parse_template(template: &str) -> Option<Vec<Part<'_>>> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Lit(&rest[..open]));
        }
        let close = open + rest[open..].find('}')?;
        let var = match rest[open + 1..close].split_once(':') {
            None => Var::Segment,
            Some((_, ".*")) => Var::Any,
            Some((_, ".+")) => Var::NonEmpty,
            Some(_) => return None,
        };
        parts.push(Part::Var(var));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Lit(rest));
    }
    Some(parts)
}

/// Whether every variable of a mux template is one this matcher knows.
#[cfg(test)]
pub(super) fn template_is_supported(template: &str) -> bool {
    parse_template(template).is_some()
}

/// The parameter names of a reference pattern, in order.
fn param_names(pattern: &'static str) -> Vec<&'static str> {
    pattern
        .split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name))
        .collect()
}

/// Matches `path` against a mux template anchored at both ends, returning the captured values.
#[cfg(test)]
fn match_template<'p>(template: &str, path: &'p str) -> Option<Vec<&'p str>> {
    let parts = parse_template(template)?;
    let mut caps = Vec::new();
    match_parts(&parts, path, &mut caps).then_some(caps)
}

/// A route with its template parsed once.
struct Compiled {
    route: &'static Route,
    /// `None` for a template this matcher does not know: it matches nothing, as before indexing.
    parts: Option<Vec<Part<'static>>>,
    names: Vec<&'static str>,
}

impl Compiled {
    /// Matches `path` against the template anchored at both ends, returning the captured values.
    fn matches<'p>(&self, path: &'p str) -> Option<Vec<&'p str>> {
        let parts = self.parts.as_ref()?;
        let mut caps = Vec::new();
        match_parts(parts, path, &mut caps).then_some(caps)
    }
}

/// The routes that can match a path, by its first segment, each list in table order (first
/// match wins, so the order is the table's). Scanning the whole table cost microseconds.
struct Index {
    routes: Vec<Compiled>,
    by_segment: HashMap<&'static str, Vec<usize>>,
    /// Routes whose first segment is not a plain literal: candidates for every path.
    any: Vec<usize>,
}

static INDEX: LazyLock<Index> = LazyLock::new(Index::build);

impl Index {
    fn build() -> Index {
        let routes: Vec<Compiled> = ROUTES
            .iter()
            .map(|route| Compiled {
                route,
                parts: parse_template(route.engine),
                names: param_names(route.pattern),
            })
            .collect();
        let mut by_segment: HashMap<&'static str, Vec<usize>> = HashMap::new();
        let mut any = Vec::new();
        for (i, c) in routes.iter().enumerate() {
            match literal_first_segment(c.route.engine) {
                Some(seg) => by_segment.entry(seg).or_default().push(i),
                None => any.push(i),
            }
        }
        for list in by_segment.values_mut() {
            list.extend(&any);
            list.sort_unstable();
        }
        Index {
            routes,
            by_segment,
            any,
        }
    }

    /// The routes that may match `path` (which starts with `/`), in table order.
    fn candidates<'a>(&'a self, path: &str) -> impl Iterator<Item = &'a Compiled> + 'a {
        let seg = path[1..].split('/').next().unwrap_or("");
        self.by_segment
            .get(seg)
            .unwrap_or(&self.any)
            .iter()
            .map(|&i| &self.routes[i])
    }
}

/// The first segment of a template when it is all literal and ends at a `/` or at the end, so
/// that a path can only match if its own first segment is exactly that.
fn literal_first_segment(template: &'static str) -> Option<&'static str> {
    let t = template.strip_prefix('/')?;
    let end = t.find(['/', '{']).unwrap_or(t.len());
    if t[end..].starts_with('{') {
        return None;
    }
    Some(&t[..end])
}

fn match_parts<'p>(parts: &[Part<'_>], s: &'p str, caps: &mut Vec<&'p str>) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return s.is_empty();
    };
    let var = match first {
        Part::Lit(lit) => {
            return s
                .strip_prefix(lit)
                .is_some_and(|t| match_parts(rest, t, caps))
        }
        Part::Var(v) => *v,
    };
    let max = match var {
        Var::Segment => s.find('/').unwrap_or(s.len()),
        Var::Any | Var::NonEmpty => s.len(),
    };
    let min = usize::from(!matches!(var, Var::Any));
    let try_end = |end: usize, caps: &mut Vec<&'p str>| {
        if end < min || end > max || !s.is_char_boundary(end) {
            return false;
        }
        caps.push(&s[..end]);
        let ok = match_parts(rest, &s[end..], caps);
        if !ok {
            caps.pop();
        }
        ok
    };
    // A literal tail fixes where the variable ends; otherwise Go's leftmost-first regexp takes
    // the longest capture with which the rest still matches.
    if rest.iter().all(|p| matches!(p, Part::Lit(_))) {
        let tail: usize = rest
            .iter()
            .map(|p| match p {
                Part::Lit(l) => l.len(),
                Part::Var(_) => 0,
            })
            .sum();
        return s
            .len()
            .checked_sub(tail)
            .is_some_and(|end| try_end(end, caps));
    }
    (min..=max).rev().any(|end| try_end(end, caps))
}

enum DecodeError {
    Escape(String),
    NotUtf8,
}

/// Go's `unescape`: every `%` must start a two-hex-digit escape; `+` is a space only in a query
/// component.
fn decode(raw: &str, query_component: bool) -> Result<String, DecodeError> {
    let bytes = raw.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            let end = (i + 3).min(raw.len());
            return Err(DecodeError::Escape(raw[i..end].to_owned()));
        }
    }
    let decoded: Vec<u8> = if query_component {
        percent_decode_str(&raw.replace('+', " ")).collect()
    } else {
        percent_decode_str(raw).collect()
    };
    String::from_utf8(decoded).map_err(|_| DecodeError::NotUtf8)
}

/// Go's `url.ParseQuery`, strict: what Go reports as an error is an error.
fn parse_query(query: &str) -> Result<Vec<(String, String)>, QueryError> {
    let mut pairs = Vec::new();
    for part in query.split('&') {
        if part.contains(';') {
            return Err(QueryError::Semicolon(excerpt(part)));
        }
        if part.is_empty() {
            continue;
        }
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let decode_one = |s: &str| {
            decode(s, true).map_err(|e| match e {
                DecodeError::Escape(esc) => QueryError::InvalidEscape(esc),
                DecodeError::NotUtf8 => QueryError::NotUtf8(excerpt(part)),
            })
        };
        pairs.push((decode_one(key)?, decode_one(value)?));
    }
    Ok(pairs)
}

/// A bounded copy for messages: targets may be a megabyte long.
fn excerpt(s: &str) -> String {
    const MAX: usize = 200;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_clean_check_never_passes_a_path_clean_would_change() {
        for (path, fast) in [
            ("/", true),
            ("/containers/json", true),
            ("/containers/json/", true),
            ("//containers/json", false),
            ("/containers//json", false),
            ("/./containers/json", false),
            ("/containers/x/..", false),
            ("/containers/x/.", false),
            ("/containers/../json", false),
            ("/a//", false),
            ("/.", false),
            ("/..", false),
            ("/..x/.y", true),
        ] {
            assert_eq!(is_clean(path), fast, "{path}");
            if fast {
                assert_eq!(clean(path), path, "{path}");
            }
        }
    }

    #[test]
    fn clean_is_go_path_clean_keeping_a_trailing_slash() {
        for (path, want) in [
            ("/", "/"),
            ("/containers/json", "/containers/json"),
            ("/containers/json/", "/containers/json/"),
            ("//containers/json", "/containers/json"),
            ("/containers//json", "/containers/json"),
            ("/./containers/json", "/containers/json"),
            ("/containers/./json", "/containers/json"),
            ("/containers/x/..", "/containers"),
            ("/containers/x/../", "/containers/"),
            ("/../containers/json", "/containers/json"),
            ("/a/b/../../../c", "/c"),
            ("/a/.", "/a"),
            ("/a/...", "/a/..."),
        ] {
            assert_eq!(clean(path), want, "{path}");
        }
    }

    #[test]
    fn templates_match_like_anchored_go_regexps() {
        for (template, path, want) in [
            (
                "/images/{name:.*}/json",
                "/images/a/b/json",
                Some(vec!["a/b"]),
            ),
            (
                "/images/{name:.*}/json",
                "/images/foo/json/json",
                Some(vec!["foo/json"]),
            ),
            ("/images/{name:.*}/json", "/images/json", None),
            ("/images/{name:.*}", "/images/", Some(vec![""])),
            ("/networks/{id:.+}", "/networks/", None),
            ("/networks/{id:.+}", "/networks/a/b", Some(vec!["a/b"])),
            ("/tasks/{id}", "/tasks/a/logs", None),
            ("/tasks/{id}/logs", "/tasks/a/logs", Some(vec!["a"])),
            ("/services/{id}", "/services/a/", None),
            (
                "/containers/{name}/checkpoints/{checkpoint}",
                "/containers/c/checkpoints/k",
                Some(vec!["c", "k"]),
            ),
            (
                "/containers/{name}/checkpoints/{checkpoint}",
                "/containers/c/checkpoints/k/x",
                None,
            ),
            ("/containers/create", "/containers/create/", None),
            ("/containers/create", "/Containers/create", None),
        ] {
            assert_eq!(match_template(template, path), want, "{template} {path}");
        }
    }

    #[test]
    fn unknown_variable_patterns_never_match() {
        assert!(parse_template("/x/{id:[0-9]+}").is_none());
        assert!(match_template("/x/{id:[0-9]+}", "/x/1").is_none());
    }

    #[test]
    fn query_is_read_like_go_parse_query() {
        let ok = |q: &str| parse_query(q).unwrap();
        let pairs = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(ok("tag=latest"), pairs(&[("tag", "latest")]));
        assert_eq!(
            ok("a=1&a=2&&b"),
            pairs(&[("a", "1"), ("a", "2"), ("b", "")])
        );
        assert_eq!(
            ok("fromImage=a%2Fb&x=c+d%2B"),
            pairs(&[("fromImage", "a/b"), ("x", "c d+")])
        );
        assert_eq!(ok("=v&k=a=b"), pairs(&[("", "v"), ("k", "a=b")]));
        assert_eq!(ok(""), pairs(&[]));
        assert!(matches!(
            parse_query("tag=a;b"),
            Err(QueryError::Semicolon(_))
        ));
        assert!(matches!(
            parse_query("a=1&tag=x;fromImage=y"),
            Err(QueryError::Semicolon(_))
        ));
        assert!(matches!(
            parse_query("tag=%zz"),
            Err(QueryError::InvalidEscape(_))
        ));
        assert!(matches!(
            parse_query("tag=%4"),
            Err(QueryError::InvalidEscape(_))
        ));
        assert!(matches!(
            parse_query("tag=%ff"),
            Err(QueryError::NotUtf8(_))
        ));
    }
}
