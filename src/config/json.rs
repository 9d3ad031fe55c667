//! Included files written as JSON (`people/*.json`): the same schema as YAML, read by a JSON
//! parser of its own that knows where each value is, so that every problem in a JSON file
//! points at its `file:line:column` as it does in YAML.
//!
//! A large configuration is usually generated, and JSON is what generators write; YAML parsing
//! (serde-saphyr) runs at about 10 MB/s per core, JSON many times that. This is a
//! `serde::Deserializer` over the text: the lenient model in `raw.rs` deserializes from it
//! exactly as it does from YAML. A value's position is asked for through a newtype struct with
//! a reserved name (as serde-saphyr's `Spanned` does), so only the values that want one pay
//! for it.
//!
//! Strict RFC 8259: no comments, no trailing commas, no NaN; nesting is capped so that hostile
//! input cannot exhaust the stack. Nothing here reads files or decides what a value means.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::raw::Spot;

/// The name of the newtype struct through which [`super::raw`] asks for a value's position.
pub(crate) const SPOT_REQUEST: &str = "$zsc::config::json::Spot";

/// Deeper nesting is refused (a configuration needs 6 levels).
const MAX_DEPTH: usize = 64;

/// A syntax error (or an error a visitor raised) and where it happened.
#[derive(Debug)]
pub(crate) struct Error {
    pub at: Spot,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error {
            at: Spot::default(),
            message: msg.to_string(),
        }
    }
}

/// Deserialize one JSON document from `text`.
pub(crate) fn from_str<'de, T: de::Deserialize<'de>>(text: &'de str) -> Result<T, Error> {
    let mut de = JsonDeserializer::new(text);
    let value = T::deserialize(&mut de).map_err(|e| de.locate(e))?;
    de.skip_ws();
    if de.pos < de.bytes.len() {
        return Err(de.error("trailing characters after the JSON document"));
    }
    Ok(value)
}

/// The deserializer: the text, where it is, and what it knows of lines.
pub(crate) struct JsonDeserializer<'de> {
    text: &'de str,
    bytes: &'de [u8],
    pos: usize,
    depth: usize,
    /// 1-based line of `pos`, and the offset its line starts at.
    line: u32,
    line_start: usize,
    /// The last column computed: its offset and 1-based column (in characters). Positions are
    /// asked for in increasing order, so counting on from here keeps a file that is one long
    /// line linear.
    col_at: (usize, u32),
    scratch: String,
}

impl<'de> JsonDeserializer<'de> {
    fn new(text: &'de str) -> Self {
        // A byte-order mark is not JSON, but editors write one.
        let start = if text.starts_with('\u{feff}') { 3 } else { 0 };
        JsonDeserializer {
            text,
            bytes: text.as_bytes(),
            pos: start,
            depth: 0,
            line: 1,
            line_start: start,
            col_at: (start, 1),
            scratch: String::new(),
        }
    }

    /// The position of the next byte.
    fn spot(&mut self) -> Spot {
        if self.col_at.0 < self.line_start || self.col_at.0 > self.pos {
            self.col_at = (self.line_start, 1);
        }
        let (from, col) = self.col_at;
        let chars = self.bytes[from..self.pos]
            .iter()
            .filter(|b| (**b & 0xC0) != 0x80)
            .count();
        let col = col.saturating_add(u32::try_from(chars).unwrap_or(u32::MAX));
        self.col_at = (self.pos, col);
        Spot {
            line: self.line,
            column: col,
        }
    }

    fn error(&mut self, message: impl Into<String>) -> Error {
        Error {
            at: self.spot(),
            message: message.into(),
        }
    }

    /// An error raised by a visitor has no position: it happened here.
    fn locate(&mut self, mut e: Error) -> Error {
        if e.at == Spot::default() {
            e.at = self.spot();
        }
        e
    }

    fn skip_ws(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            match b {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    self.line_start = self.pos;
                }
                _ => break,
            }
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.pos).copied()
    }

    fn expect_literal(&mut self, literal: &str) -> Result<(), Error> {
        if self.bytes[self.pos..].starts_with(literal.as_bytes()) {
            self.pos += literal.len();
            Ok(())
        } else {
            Err(self.error(format!("invalid JSON: expected `{literal}`")))
        }
    }

    fn unexpected(&mut self, expected: &str) -> Error {
        match self.bytes.get(self.pos) {
            None => self.error(format!(
                "invalid JSON: the file ends where {expected} was expected"
            )),
            Some(_) => {
                let found = self.text[self.pos..].chars().next().unwrap_or('?');
                self.error(format!(
                    "invalid JSON: expected {expected}, found `{found}`"
                ))
            }
        }
    }

    /// A string, after its opening quote: borrowed from the text unless it holds escapes.
    fn string(&mut self) -> Result<Cow<'de, str>, Error> {
        let start = self.pos;
        loop {
            match self.bytes.get(self.pos) {
                None => return Err(self.error("invalid JSON: a string is not closed")),
                Some(b'"') => {
                    let s = &self.text[start..self.pos];
                    self.pos += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(b) if *b < 0x20 => {
                    return Err(self.error("invalid JSON: a control character inside a string"))
                }
                Some(_) => self.pos += 1,
            }
        }
        self.scratch.clear();
        self.scratch.push_str(&self.text[start..self.pos]);
        loop {
            match self.bytes.get(self.pos) {
                None => return Err(self.error("invalid JSON: a string is not closed")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(std::mem::take(&mut self.scratch)));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escaped = self.bytes.get(self.pos).copied();
                    self.pos += 1;
                    let c = match escaped {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => self.unicode_escape()?,
                        _ => {
                            self.pos -= 1;
                            return Err(self.error("invalid JSON: an unknown escape in a string"));
                        }
                    };
                    self.scratch.push(c);
                }
                Some(b) if *b < 0x20 => {
                    return Err(self.error("invalid JSON: a control character inside a string"))
                }
                Some(_) => {
                    // Copy the run up to the next quote or escape at once.
                    let run = self.bytes[self.pos..]
                        .iter()
                        .position(|b| *b == b'"' || *b == b'\\' || *b < 0x20)
                        .unwrap_or(self.bytes.len() - self.pos);
                    self.scratch.push_str(&self.text[self.pos..self.pos + run]);
                    self.pos += run;
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
        match digits.and_then(|d| u32::from_str_radix(d, 16).ok()) {
            Some(n) => {
                self.pos += 4;
                Ok(n)
            }
            None => Err(self.error("invalid JSON: `\\u` needs four hexadecimal digits")),
        }
    }

    fn unicode_escape(&mut self) -> Result<char, Error> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if !self.bytes[self.pos..].starts_with(b"\\u") {
                return Err(self.error("invalid JSON: a lone surrogate in a `\\u` escape"));
            }
            self.pos += 2;
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err(self.error("invalid JSON: a lone surrogate in a `\\u` escape"));
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        char::from_u32(code)
            .ok_or_else(|| self.error("invalid JSON: a lone surrogate in a `\\u` escape"))
    }

    fn number<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        let start = self.pos;
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        let int_len = self.pos - int_start;
        if int_len == 0 || (int_len > 1 && self.bytes[int_start] == b'0') {
            self.pos = start;
            return Err(self.error("invalid JSON: a malformed number"));
        }
        let mut float = false;
        if self.bytes.get(self.pos) == Some(&b'.') {
            float = true;
            self.pos += 1;
            let from = self.pos;
            while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                self.pos += 1;
            }
            if self.pos == from {
                return Err(self.error("invalid JSON: a malformed number"));
            }
        }
        if matches!(self.bytes.get(self.pos), Some(b'e' | b'E')) {
            float = true;
            self.pos += 1;
            if matches!(self.bytes.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            let from = self.pos;
            while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                self.pos += 1;
            }
            if self.pos == from {
                return Err(self.error("invalid JSON: a malformed number"));
            }
        }
        let text = &self.text[start..self.pos];
        if !float {
            if let Ok(n) = text.parse::<u64>() {
                return visitor.visit_u64(n);
            }
            if let Ok(n) = text.parse::<i64>() {
                return visitor.visit_i64(n);
            }
        }
        match text.parse::<f64>() {
            Ok(n) => visitor.visit_f64(n),
            Err(_) => Err(self.error("invalid JSON: a malformed number")),
        }
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!(
                "the file nests deeper than {MAX_DEPTH} levels, more than a configuration needs"
            )));
        }
        Ok(())
    }
}

impl<'de> Deserializer<'de> for &mut JsonDeserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = match self.peek() {
            Some(open @ (b'{' | b'[')) => {
                self.enter()?;
                self.pos += 1;
                let entries = Entries {
                    de: &mut *self,
                    first: true,
                };
                let value = if open == b'{' {
                    visitor.visit_map(entries)
                } else {
                    visitor.visit_seq(entries)
                }?;
                self.depth -= 1;
                Ok(value)
            }
            Some(b'"') => {
                self.pos += 1;
                match self.string()? {
                    Cow::Borrowed(s) => visitor.visit_borrowed_str(s),
                    Cow::Owned(s) => visitor.visit_string(s),
                }
            }
            Some(b't') => {
                self.expect_literal("true")?;
                visitor.visit_bool(true)
            }
            Some(b'f') => {
                self.expect_literal("false")?;
                visitor.visit_bool(false)
            }
            Some(b'n') => {
                self.expect_literal("null")?;
                visitor.visit_unit()
            }
            Some(b'-' | b'0'..=b'9') => self.number(visitor),
            _ => Err(self.unexpected("a value")),
        };
        result.map_err(|e| self.locate(e))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.peek() == Some(b'n') {
            self.expect_literal("null")?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == SPOT_REQUEST {
            self.skip_ws();
            let spot = self.spot();
            return visitor.visit_seq(SpotThenValue {
                de: self,
                spot: Some(spot),
            });
        }
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// The entries of an object or the elements of an array, after the opening bracket.
struct Entries<'a, 'de> {
    de: &'a mut JsonDeserializer<'de>,
    first: bool,
}

impl Entries<'_, '_> {
    /// Past the separator before the next entry; false at the closing `close`.
    fn next(&mut self, close: u8, what: &str) -> Result<bool, Error> {
        let de = &mut *self.de;
        match de.peek() {
            Some(b) if b == close => {
                de.pos += 1;
                return Ok(false);
            }
            Some(b',') if !self.first => {
                de.pos += 1;
                if de.peek() == Some(close) {
                    return Err(de.error("invalid JSON: a comma before a closing bracket"));
                }
            }
            _ if self.first => {}
            _ => {
                let close = char::from(close);
                return Err(de.unexpected(&format!("`,` or `{close}` after {what}")));
            }
        }
        self.first = false;
        Ok(true)
    }
}

impl<'de> SeqAccess<'de> for Entries<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if !self.next(b']', "a list element")? {
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }
}

impl<'de> MapAccess<'de> for Entries<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if !self.next(b'}', "an entry")? {
            return Ok(None);
        }
        if self.de.peek() != Some(b'"') {
            return Err(self.de.unexpected("a key in double quotes"));
        }
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        if self.de.peek() != Some(b':') {
            return Err(self.de.unexpected("`:` after a key"));
        }
        self.de.pos += 1;
        seed.deserialize(&mut *self.de)
    }
}

/// What a position request receives: the position as a `(line, column)` pair, then the value.
struct SpotThenValue<'a, 'de> {
    de: &'a mut JsonDeserializer<'de>,
    spot: Option<Spot>,
}

impl<'de> SeqAccess<'de> for SpotThenValue<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.spot.take() {
            Some(spot) => seed
                .deserialize(de::value::SeqDeserializer::<_, Error>::new(
                    [spot.line, spot.column].into_iter(),
                ))
                .map(Some),
            None => seed.deserialize(&mut *self.de).map(Some),
        }
    }
}

/// Deserialize a `T` and its position through [`SPOT_REQUEST`] (only `JsonDeserializer`
/// answers it: the caller knows the file is JSON).
pub(crate) fn located<'de, T: de::Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<(Spot, T), D::Error> {
    struct Request<T>(std::marker::PhantomData<T>);
    impl<'de, T: de::Deserialize<'de>> Visitor<'de> for Request<T> {
        type Value = (Spot, T);

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a value with its position")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let (line, column): (u32, u32) = seq
                .next_element()?
                .ok_or_else(|| de::Error::custom("internal error: no position"))?;
            let value = seq
                .next_element()?
                .ok_or_else(|| de::Error::custom("internal error: no value"))?;
            Ok((Spot { line, column }, value))
        }
    }
    deserializer.deserialize_newtype_struct(SPOT_REQUEST, Request(std::marker::PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[serde(untagged)]
    enum Any {
        Null,
        Bool(bool),
        U(u64),
        I(i64),
        F(f64),
        S(String),
        L(Vec<Any>),
        M(std::collections::BTreeMap<String, Any>),
    }

    fn parse(text: &str) -> Result<Any, Error> {
        from_str(text)
    }

    #[test]
    fn reads_json_values() {
        let v = parse(r#" {"a": [1, -2, 3.5, true, null, "x\"\u00e9\ud83d\ude00"], "b": {}} "#)
            .unwrap();
        let Any::M(map) = v else { panic!() };
        assert_eq!(
            map["a"],
            Any::L(vec![
                Any::U(1),
                Any::I(-2),
                Any::F(3.5),
                Any::Bool(true),
                Any::Null,
                Any::S("x\"é😀".into())
            ])
        );
    }

    #[test]
    fn syntax_errors_say_where() {
        let err = parse("{\n  \"a\": [1, 2,]\n}").unwrap_err();
        assert_eq!((err.at.line, err.at.column), (2, 14), "{}", err.message);
        assert!(err.message.contains("comma"), "{}", err.message);
        let err = parse("{\"é\": tru}").unwrap_err();
        assert_eq!((err.at.line, err.at.column), (1, 7));
        let err = parse("[1] x").unwrap_err();
        assert!(err.message.contains("trailing"), "{}", err.message);
        let err = parse("{\"a\" 1}").unwrap_err();
        assert!(err.message.contains("`:`"), "{}", err.message);
        assert!(parse("[01]").is_err());
        assert!(parse("\"a\nb\"").is_err());
        assert!(parse(&"[".repeat(100))
            .unwrap_err()
            .message
            .contains("nests"));
        assert!(parse("{").unwrap_err().message.contains("ends"));
    }

    #[test]
    fn positions_count_characters_on_long_lines() {
        struct P(Spot);
        impl<'de> serde::Deserialize<'de> for P {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                located::<serde::de::IgnoredAny, D>(d).map(|(s, _)| P(s))
            }
        }
        let spots: Vec<P> = from_str("[\"é\", 1,\n  {\"k\": 2}]").unwrap();
        let at: Vec<(u32, u32)> = spots.iter().map(|p| (p.0.line, p.0.column)).collect();
        assert_eq!(at, [(1, 2), (1, 7), (2, 3)]);
    }
}
