//! Reading settings text as JSON: serde_json's grammar, except that a key repeated in one object is
//! an error, plus an index from JSON pointer to line and column for the diagnostics.
//!
//! serde_json keeps the last copy of a repeated key, Go's `encoding/json` (Docker Desktop) merges
//! into the same field, an editor may show the first: a repeated key means readers disagree on the
//! policy, so it is refused. Parsing goes through serde_json's own deserializer so that what is
//! valid JSON here is exactly what serde_json accepts; the position index only walks text that
//! deserializer has already accepted.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why the text is not one JSON value, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// Pointer of the innermost value being read when reading failed.
    pub pointer: String,
    /// A repeated object key, when that is the reason.
    pub duplicate_key: Option<String>,
    pub message: String,
    pub line: usize,
    pub column: usize,
}

/// Parses `text` (one JSON value, a leading UTF-8 byte order mark ignored).
pub(crate) fn parse_strict(text: &str) -> Result<Value, SyntaxError> {
    let text = strip_bom(text);
    let failure = RefCell::new(None::<Failure>);
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = Strict {
        pointer: String::new(),
        failure: &failure,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    parsed.map_err(|err| {
        let failure = failure.into_inner().unwrap_or_default();
        let (line, column) = char_position(text, err.line(), err.column());
        let full = err.to_string();
        let suffix = format!(" at line {} column {}", err.line(), err.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        SyntaxError {
            pointer: failure.pointer,
            duplicate_key: failure.duplicate_key,
            message,
            line,
            column,
        }
    })
}

/// Text without a leading byte order mark, which Windows editors write and serde_json refuses.
pub(crate) fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// One JSON pointer syntax for the whole crate: the body reader's.
pub(crate) use crate::gojson::pointer_push as push_token;

/// serde_json counts columns in bytes, and reports column 0 when the character it stopped at is a
/// newline (it has moved to the next line); people count characters from 1 and expect the
/// newline at the end of its own line.
fn char_position(text: &str, line: usize, byte_column: usize) -> (usize, usize) {
    if byte_column == 0 && line > 1 {
        let previous = text.split('\n').nth(line - 2).unwrap_or_default();
        let previous = previous.strip_suffix('\r').unwrap_or(previous);
        return (line - 1, previous.chars().count() + 1);
    }
    let Some(line_text) = text.split('\n').nth(line.saturating_sub(1)) else {
        return (line, byte_column.max(1));
    };
    let mut end = byte_column.min(line_text.len());
    while !line_text.is_char_boundary(end) {
        end -= 1;
    }
    (line, line_text[..end].chars().count().max(1))
}

#[derive(Default)]
struct Failure {
    pointer: String,
    duplicate_key: Option<String>,
}

/// Deserializes one value at `pointer`, recording where reading failed: the innermost seed sees the
/// error first, so the first pointer recorded is the deepest.
struct Strict<'f> {
    pointer: String,
    failure: &'f RefCell<Option<Failure>>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        let failure = self.failure;
        let pointer = self.pointer.clone();
        deserializer.deserialize_any(self).inspect_err(|_| {
            failure.borrow_mut().get_or_insert(Failure {
                pointer,
                duplicate_key: None,
            });
        })
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // serde_json never yields a non-finite float from text.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict {
            pointer: push_token(&self.pointer, &items.len().to_string()),
            failure: self.failure,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let pointer = push_token(&self.pointer, &key);
            if members.contains_key(&key) {
                let message = format!(
                    "duplicate key {key:?}: a key may appear only once in an object, readers \
                     disagree on which copy counts"
                );
                *self.failure.borrow_mut() = Some(Failure {
                    pointer,
                    duplicate_key: Some(key),
                });
                return Err(de::Error::custom(message));
            }
            let value = map.next_value_seed(Strict {
                pointer,
                failure: self.failure,
            })?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

/// Line and column (1-based, in characters) where the value at each pointer starts.
#[derive(Debug, Default)]
pub(crate) struct Positions(HashMap<String, (usize, usize)>);

impl Positions {
    /// Indexes `text`, which must be text [`parse_strict`] accepted.
    pub(crate) fn index(text: &str) -> Positions {
        let text = strip_bom(text);
        let mut scan = Scan {
            text,
            i: 0,
            line: 1,
            line_start: 0,
            out: HashMap::new(),
        };
        scan.value(String::new());
        Positions(scan.out)
    }

    pub(crate) fn get(&self, pointer: &str) -> Option<(usize, usize)> {
        self.0.get(pointer).copied()
    }
}

struct Scan<'t> {
    text: &'t str,
    i: usize,
    line: usize,
    line_start: usize,
    out: HashMap<String, (usize, usize)>,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b'\n' => {
                    self.i += 1;
                    self.line += 1;
                    self.line_start = self.i;
                }
                b' ' | b'\t' | b'\r' => self.i += 1,
                _ => break,
            }
        }
    }

    fn value(&mut self, pointer: String) {
        self.skip_ws();
        let column = self
            .text
            .get(self.line_start..self.i)
            .map_or(0, |s| s.chars().count())
            + 1;
        self.out.insert(pointer.clone(), (self.line, column));
        match self.peek() {
            Some(b'{') => self.members(&pointer),
            Some(b'[') => self.elements(&pointer),
            Some(b'"') => {
                self.string();
            }
            _ => {
                while self.peek().is_some_and(|b| {
                    !matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n')
                }) {
                    self.i += 1;
                }
            }
        }
    }

    fn members(&mut self, pointer: &str) {
        self.i += 1;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return;
        }
        while self.peek().is_some() {
            self.skip_ws();
            let key = self.string();
            self.skip_ws();
            self.i += 1; // ':'
            self.value(push_token(pointer, &key));
            self.skip_ws();
            let separator = self.peek();
            self.i += 1;
            if separator != Some(b',') {
                break;
            }
        }
    }

    fn elements(&mut self, pointer: &str) {
        self.i += 1;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return;
        }
        let mut index = 0usize;
        while self.peek().is_some() {
            self.value(push_token(pointer, &index.to_string()));
            index += 1;
            self.skip_ws();
            let separator = self.peek();
            self.i += 1;
            if separator != Some(b',') {
                break;
            }
        }
    }

    /// Skips a string literal and returns its decoded content (raw newlines cannot occur in it).
    fn string(&mut self) -> String {
        let start = self.i;
        self.i += 1;
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'\\' => self.i += 1,
                b'"' => break,
                _ => {}
            }
        }
        let literal = self.text.get(start..self.i).unwrap_or_default();
        serde_json::from_str(literal).unwrap_or_default()
    }
}
