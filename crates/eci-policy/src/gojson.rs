//! Reads Engine API request bodies the way the engine's Go `encoding/json` (Go 1.19, moby 20.10)
//! does, and refuses every body that the engine could read differently from us.
//!
//! How the engine reads a body, and what follows here:
//!
//! - It decodes with `json.NewDecoder(r).Decode(&typed)` into Go structs. A key names a struct
//!   field when it equals the field's name exactly or under Go's folding (`fold.go`: `foldFunc`,
//!   `equalFoldRight`, `simpleLetterEqualFold`): ASCII letters match either case, and because
//!   `unicode.SimpleFold` puts them in the same orbit, U+212A KELVIN SIGN matches `k`/`K` and
//!   U+017F LATIN SMALL LETTER LONG S matches `s`/`S`. Every Engine API field name is ASCII, and
//!   for an ASCII name that is the whole of `bytes.EqualFold`. [`field`] looks fields up so.
//! - When several keys of one object name the same field the last one wins, and objects are
//!   merged into the earlier value: the 20.10.24 engine here takes `{"HostConfig":{"Binds":[..]},
//!   "hostconfig":{"Memory":1}}` as both the binds and the memory. [`parse`] refuses any object with two keys that fold together,
//!   exact duplicates included: a reader that kept the first, or merged differently, would be a
//!   bypass. This is schema-free, so it also refuses `{"a":1,"A":2}` inside map-typed fields such
//!   as `Labels`, which the engine would keep as two labels; nothing that clients send in practice
//!   looks like that, and refusing what is ambiguous is cheaper than modelling every field's type.
//! - Invalid UTF-8 and lone surrogate escapes become U+FFFD in Go; refused here (the strings would
//!   otherwise differ between what we check and what the engine uses).
//! - `Decode` reads the first value and ignores what follows (the engine here creates from
//!   `{..} {..}` and from `{..}garbage`); refused here (`TrailingData`), since a reader that took
//!   the second value would disagree with the engine.
//! - An empty body is `io.EOF`, an error for every endpoint we inspect; refused.
//! - Go nests up to 10000 levels; we cap at [`Limits::max_depth`] and at [`Limits::max_bytes`].
//!
//! serde_json already agrees with Go on the grammar: the same whitespace, escapes, number syntax,
//! no byte order mark, no raw control characters in strings.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Bounds on a request body read by [`parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest body accepted, in bytes; more is [`BodyError::TooLarge`] (HTTP 413).
    pub max_bytes: usize,
    /// Deepest nesting of arrays and objects accepted (the top-level value's container is 1).
    /// serde_json stops at 128 on its own, which then shows as a [`BodyError::Syntax`].
    pub max_depth: usize,
}

impl Limits {
    /// 4 MiB. What makes a create body large is `Env`, `Cmd` and `Entrypoint`, and the kernel
    /// refuses to exec more than `ARG_MAX` (2 MiB with the default 8 MiB stack) of arguments and
    /// environment together; 4 MiB leaves room for JSON escaping and labels on top of that,
    /// while bounding what one request can make us hold in memory.
    pub const DEFAULT_MAX_BYTES: usize = 4 << 20;
    /// The deepest real body (a service spec's `.../Mounts/0/VolumeOptions/DriverConfig/Options`)
    /// nests 7 levels.
    pub const DEFAULT_MAX_DEPTH: usize = 64;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_depth: Self::DEFAULT_MAX_DEPTH,
        }
    }
}

/// Why a request body is refused. [`BodyError::status`] gives the HTTP status to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("request body is larger than the {limit}-byte limit")]
    TooLarge { limit: usize },
    #[error("request body nests deeper than {limit} levels at {pointer:?}")]
    TooDeep { pointer: String, limit: usize },
    #[error("request body is not valid JSON: {msg} at line {line}, column {column}")]
    Syntax {
        line: usize,
        column: usize,
        msg: String,
    },
    #[error(
        "ambiguous request body: keys {first:?} and {second:?} of the object at {pointer:?} name \
         the same field for the engine; send each field once"
    )]
    DuplicateKey {
        pointer: String,
        first: String,
        second: String,
    },
    #[error("request body is not valid UTF-8 (at byte {offset})")]
    InvalidUtf8 { offset: usize },
    #[error(
        "request body has data after its JSON value (line {line}, column {column}); send one value"
    )]
    TrailingData { line: usize, column: usize },
    #[error("request body is empty")]
    Empty,
    #[error("request body field {pointer:?} must be {expected}")]
    WrongType {
        pointer: String,
        expected: &'static str,
    },
    #[error("invalid mount at {pointer:?}: {reason}")]
    InvalidMount { pointer: String, reason: String },
    #[error("mount at {pointer:?} cannot be checked: {reason}")]
    Unsupported { pointer: String, reason: String },
    #[error("cannot rewrite the mount at {pointer:?}: {reason}")]
    Rewrite { pointer: String, reason: String },
    /// A local volume of a kernel filesystem that shows the host itself (`proc`: every process
    /// and its root; `sysfs`, `cgroup`: host-wide controls), not a copy of anything.
    #[error(
        "the volume at {pointer:?} mounts a {fs:?} filesystem, which exposes the host (its \
         processes and their roots, or host-wide kernel controls)"
    )]
    HostFilesystem { pointer: String, fs: String },
}

impl BodyError {
    /// The HTTP status for this refusal: 413 for a body over the size cap, 400 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            BodyError::TooLarge { .. } => 413,
            BodyError::HostFilesystem { .. } => 403,
            _ => 400,
        }
    }
}

/// Parses a request body as the engine would, refusing what it could read differently.
pub fn parse(body: &[u8], limits: &Limits) -> Result<Value, BodyError> {
    if body.len() > limits.max_bytes {
        return Err(BodyError::TooLarge {
            limit: limits.max_bytes,
        });
    }
    if body
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        return Err(BodyError::Empty);
    }
    let text = std::str::from_utf8(body).map_err(|e| BodyError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    let ctx = Ctx {
        max_depth: limits.max_depth,
        path: RefCell::new(Vec::new()),
        failure: RefCell::new(None),
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let value = ValueSeed {
        ctx: &ctx,
        depth: 0,
    }
    .deserialize(&mut de)
    .map_err(|e| {
        ctx.failure
            .borrow_mut()
            .take()
            .unwrap_or_else(|| syntax(&e))
    })?;
    de.end().map_err(|e| BodyError::TrailingData {
        line: e.line(),
        column: e.column(),
    })?;
    Ok(value)
}

fn syntax(e: &serde_json::Error) -> BodyError {
    let full = e.to_string();
    // serde_json appends " at line L column C"; the fields carry that already.
    let msg = match full.rfind(" at line ") {
        Some(i) => full[..i].to_owned(),
        None => full,
    };
    BodyError::Syntax {
        line: e.line(),
        column: e.column(),
        msg,
    }
}

/// Whether two keys name the same struct field for Go's `encoding/json`.
///
/// Exactly `bytes.EqualFold` whenever one side is ASCII, which every Engine API field name is;
/// between two non-ASCII letters it is stricter (`é` and `É` differ here), which only matters for
/// names no Engine API struct has.
pub fn go_fold_eq(a: &str, b: &str) -> bool {
    a.chars().map(fold_char).eq(b.chars().map(fold_char))
}

/// One representative per fold class of [`go_fold_eq`], so that duplicates are found by hashing.
fn fold_char(c: char) -> char {
    match c {
        'a'..='z' => c.to_ascii_uppercase(),
        '\u{212A}' => 'K',
        '\u{017F}' => 'S',
        _ => c,
    }
}

fn fold_key(s: &str) -> String {
    s.chars().map(fold_char).collect()
}

/// The value Go decodes into the struct field `name` of `obj`: the last key that folds to it.
pub fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    field_entry(obj, name).map(|(_, v)| v)
}

/// Like [`field`], also giving the key as the body spells it (for pointers and rewrites).
pub(crate) fn field_entry<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
) -> Option<(&'a String, &'a Value)> {
    obj.iter().rev().find(|(k, _)| go_fold_eq(k, name))
}

/// Mutable [`field`]: the value the engine would use for `name`.
pub fn field_mut<'a>(obj: &'a mut Map<String, Value>, name: &str) -> Option<&'a mut Value> {
    obj.iter_mut()
        .rev()
        .find(|(k, _)| go_fold_eq(k, name))
        .map(|(_, v)| v)
}

/// Appends one reference token to a JSON pointer (RFC 6901 escaping).
pub(crate) fn pointer_push(pointer: &str, token: &str) -> String {
    let mut out = String::with_capacity(pointer.len() + token.len() + 1);
    out.push_str(pointer);
    out.push('/');
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            _ => out.push(c),
        }
    }
    out
}

/// State shared by every level of one parse: where we are, and the typed reason for stopping
/// (serde only carries message strings through its errors).
struct Ctx {
    max_depth: usize,
    path: RefCell<Vec<String>>,
    failure: RefCell<Option<BodyError>>,
}

impl Ctx {
    fn pointer(&self) -> String {
        self.path
            .borrow()
            .iter()
            .fold(String::new(), |acc, t| pointer_push(&acc, t))
    }

    fn fail<E: de::Error>(&self, err: BodyError) -> E {
        let msg = err.to_string();
        *self.failure.borrow_mut() = Some(err);
        E::custom(msg)
    }

    fn enter<E: de::Error>(&self, depth: usize) -> Result<(), E> {
        if depth > self.max_depth {
            return Err(self.fail(BodyError::TooDeep {
                pointer: self.pointer(),
                limit: self.max_depth,
            }));
        }
        Ok(())
    }
}

/// Builds a [`Value`] like serde_json's own, but refusing fold-duplicate keys and deep nesting.
struct ValueSeed<'c> {
    ctx: &'c Ctx,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let depth = self.depth + 1;
        self.ctx.enter(depth)?;
        let mut out = Vec::new();
        loop {
            self.ctx.path.borrow_mut().push(out.len().to_string());
            let next = seq.next_element_seed(ValueSeed {
                ctx: self.ctx,
                depth,
            })?;
            self.ctx.path.borrow_mut().pop();
            match next {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let depth = self.depth + 1;
        self.ctx.enter(depth)?;
        let mut out = Map::new();
        let mut seen: HashMap<String, String> = HashMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let folded = fold_key(&key);
            if let Some(first) = seen.get(&folded) {
                return Err(self.ctx.fail(BodyError::DuplicateKey {
                    pointer: self.ctx.pointer(),
                    first: first.clone(),
                    second: key,
                }));
            }
            self.ctx.path.borrow_mut().push(key.clone());
            let value = map.next_value_seed(ValueSeed {
                ctx: self.ctx,
                depth,
            })?;
            self.ctx.path.borrow_mut().pop();
            seen.insert(folded, key.clone());
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(body: &str) -> Result<Value, BodyError> {
        parse(body.as_bytes(), &Limits::default())
    }

    #[test]
    fn fold_matches_go_for_ascii_field_names() {
        // (field name, key, Go's answer)
        let cases = [
            ("Binds", "binds", true),
            ("Binds", "BINDS", true),
            ("Binds", "bInDs", true),
            ("Binds", "Bind\u{17F}", true), // long s folds with s
            ("HostConfig", "Ho\u{17F}tconfig", true),
            ("HostConfig", "HOSTCONFIG", true),
            ("TaskTemplate", "Tas\u{212A}Template", true), // Kelvin sign folds with k
            ("Binds", "B\u{131}nds", false),               // dotless i does not fold with i
            ("Binds", "B\u{130}nds", false),               // dotted capital I neither
            ("Image", "\u{130}mage", false),
            ("Image", "Imag\u{c9}", false),
            ("Binds", "Binds ", false),
            ("Binds", "Bind", false),
            ("Binds", "Bindss", false),
            ("Source", "\u{17F}ource", true),
            ("Source", "\u{212A}ource", false), // Kelvin is k, not s
            ("Mounts", "Mounts\u{0}", false),
            ("Read_Only", "read_only", true),
            ("Read_Only", "read-only", false), // non-letters match exactly
            ("A@", "a`", false),               // '@' and '`' differ only in the case bit
        ];
        for (name, key, want) in cases {
            assert_eq!(go_fold_eq(name, key), want, "{name:?} vs {key:?}");
            assert_eq!(go_fold_eq(key, name), want, "{key:?} vs {name:?}");
        }
    }

    #[test]
    fn field_lookup_is_case_insensitive_and_last_wins() {
        let obj = json!({"hostconfig": {"binds": ["/a:/b"]}, "IMAGE": "busybox"});
        let obj = obj.as_object().unwrap();
        assert_eq!(field(obj, "Image"), Some(&json!("busybox")));
        assert_eq!(field(obj, "HostConfig"), Some(&json!({"binds": ["/a:/b"]})));
        assert_eq!(field(obj, "Mounts"), None);

        // Built by hand: parse() refuses such an object, but field() still answers like Go.
        let mut two = Map::new();
        two.insert("Image".into(), json!("first"));
        two.insert("image".into(), json!("second"));
        assert_eq!(field(&two, "Image"), Some(&json!("second")));
        *field_mut(&mut two, "IMAGE").unwrap() = json!("third");
        assert_eq!(two["image"], json!("third"));
        assert_eq!(two["Image"], json!("first"));
    }

    #[test]
    fn accepted_bodies_read_like_go() {
        let cases: &[(&str, &str, Value)] = &[
            (
                "escaped key decodes before matching",
                r#"{"\u0042inds":["/x:/y"]}"#,
                json!({"Binds": ["/x:/y"]}),
            ),
            (
                "surrogate pair is one character",
                r#"{"a":"\ud83d\ude00"}"#,
                json!({"a": "\u{1F600}"}),
            ),
            (
                "surrounding whitespace",
                " \r\n\t{\"a\":1}\n\n ",
                json!({"a": 1}),
            ),
            (
                "same key in different objects",
                r#"{"a":{"a":1},"b":{"a":2}}"#,
                json!({"a": {"a": 1}, "b": {"a": 2}}),
            ),
            ("top-level null", "null", Value::Null),
            (
                "big integer stays exact",
                r#"{"m":18446744073709551615}"#,
                json!({"m": u64::MAX}),
            ),
        ];
        for (name, body, want) in cases {
            assert_eq!(p(body).as_ref(), Ok(want), "{name}");
        }
    }

    #[test]
    fn key_order_is_kept_for_forwarding() {
        let v = p(r#"{"z":1,"a":2,"m":3}"#).unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }

    #[test]
    fn ambiguous_or_malformed_bodies_are_refused() {
        let dup = |pointer: &str, first: &str, second: &str| BodyError::DuplicateKey {
            pointer: pointer.into(),
            first: first.into(),
            second: second.into(),
        };
        let deep = "[".repeat(65) + &"]".repeat(65);
        let cases: Vec<(&str, Vec<u8>, BodyError)> = vec![
            (
                "exact duplicate: Go keeps the last, a naive reader the first",
                br#"{"Image":"a","Image":"b"}"#.to_vec(),
                dup("", "Image", "Image"),
            ),
            (
                "case variant of HostConfig",
                br#"{"HostConfig":{},"hostconfig":{"Binds":["/:/h"]}}"#.to_vec(),
                dup("", "HostConfig", "hostconfig"),
            ),
            (
                "long s variant",
                "{\"HostConfig\":{},\"Ho\u{17F}tConfig\":{}}"
                    .as_bytes()
                    .to_vec(),
                dup("", "HostConfig", "Ho\u{17F}tConfig"),
            ),
            (
                "Kelvin sign variant, nested",
                "{\"TaskTemplate\":{\"a\":1,\"A\":2}}".as_bytes().to_vec(),
                dup("/TaskTemplate", "a", "A"),
            ),
            (
                "Kelvin sign key",
                "{\"k\":1,\"\u{212A}\":2}".as_bytes().to_vec(),
                dup("", "k", "\u{212A}"),
            ),
            (
                "escaped duplicate",
                br#"{"Binds":[],"\u0062inds":["/:/h"]}"#.to_vec(),
                dup("", "Binds", "binds"),
            ),
            (
                "duplicate inside an array element",
                br#"{"Mounts":[{"Source":"/a","source":"/b"}]}"#.to_vec(),
                dup("/Mounts/0", "Source", "source"),
            ),
            (
                "map-typed field with case variants (documented choice)",
                br#"{"Labels":{"a":"1","A":"2"}}"#.to_vec(),
                dup("/Labels", "a", "A"),
            ),
            (
                "depth bomb",
                deep.into_bytes(),
                BodyError::TooDeep {
                    pointer: "/0".repeat(64),
                    limit: 64,
                },
            ),
            (
                "trailing second value: Go reads only the first",
                br#"{"Image":"ok"} {"Image":"other","HostConfig":{"Binds":["/:/h"]}}"#.to_vec(),
                BodyError::TrailingData {
                    line: 1,
                    column: 16,
                },
            ),
            (
                "trailing garbage",
                br#"{"Image":"ok"}x"#.to_vec(),
                BodyError::TrailingData {
                    line: 1,
                    column: 15,
                },
            ),
            ("empty", b"".to_vec(), BodyError::Empty),
            ("whitespace only", b" \n\t\r".to_vec(), BodyError::Empty),
            (
                "invalid UTF-8 in a string (Go: U+FFFD)",
                b"{\"Binds\":[\"/var/run/docker.sock\xff:/s\"]}".to_vec(),
                BodyError::InvalidUtf8 { offset: 31 },
            ),
            (
                "overlong encoding of '/'",
                b"{\"a\":\"\xc0\xaf\"}".to_vec(),
                BodyError::InvalidUtf8 { offset: 6 },
            ),
        ];
        for (name, body, want) in cases {
            assert_eq!(parse(&body, &Limits::default()), Err(want), "{name}");
        }
    }

    #[test]
    fn syntax_errors_are_refused_with_position() {
        let cases = [
            ("byte order mark", "\u{FEFF}{\"Image\":\"a\"}", 1, 1),
            (
                "lone high surrogate (Go: U+FFFD)",
                r#"{"a":"\ud800"}"#,
                1,
                13,
            ),
            ("lone low surrogate", r#"{"a":"\udc00x"}"#, 1, 12),
            (
                "high surrogate then non-low",
                r#"{"a":"\ud800\u0041"}"#,
                1,
                18,
            ),
            ("single quotes", "{'a':1}", 1, 2),
            ("trailing comma", r#"{"a":1,}"#, 1, 8),
            ("raw control character", "{\"a\":\"\u{1}\"}", 1, 7),
            ("unterminated", r#"{"a":"#, 1, 5),
            ("comment", "{\"a\":1 // c\n}", 1, 8),
            ("leading zero", r#"{"a":01}"#, 1, 7),
            ("NaN", r#"{"a":NaN}"#, 1, 6),
            ("number overflow", r#"{"a":1e400}"#, 1, 10),
        ];
        for (name, body, line, column) in cases {
            match p(body) {
                Err(BodyError::Syntax {
                    line: l, column: c, ..
                }) => assert_eq!((l, c), (line, column), "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn size_cap_and_depth_cap() {
        let limits = Limits {
            max_bytes: 16,
            max_depth: 2,
        };
        assert_eq!(
            parse(br#"{"Image":"busybox"}"#, &limits),
            Err(BodyError::TooLarge { limit: 16 })
        );
        assert_eq!(parse(b"[[1]]", &limits), Ok(json!([[1]])));
        assert_eq!(
            parse(br#"{"a":[{}]}"#, &limits),
            Err(BodyError::TooDeep {
                pointer: "/a/0".into(),
                limit: 2
            })
        );
        let mut huge = br#"{"Image":"x","Env":[""#.to_vec();
        huge.resize(Limits::DEFAULT_MAX_BYTES + 1, b'a');
        assert_eq!(
            parse(&huge, &Limits::default()),
            Err(BodyError::TooLarge {
                limit: Limits::DEFAULT_MAX_BYTES
            })
        );
        let exactly = vec![b' '; 16];
        assert_eq!(parse(&exactly, &limits), Err(BodyError::Empty));
        assert_eq!(BodyError::TooLarge { limit: 1 }.status(), 413);
        assert_eq!(BodyError::Empty.status(), 400);
        assert_eq!(
            Limits::default(),
            Limits {
                max_bytes: 4 << 20,
                max_depth: 64
            }
        );
    }

    #[test]
    fn pointers_escape_tokens() {
        assert_eq!(pointer_push("", "a/b~c"), "/a~1b~0c");
        assert_eq!(
            p(r#"{"x/y":{"k":1,"K":1}}"#),
            Err(BodyError::DuplicateKey {
                pointer: "/x~1y".into(),
                first: "k".into(),
                second: "K".into()
            })
        );
    }
}
