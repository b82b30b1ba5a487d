//! A JSONC parser (JSON plus `//` and `/* */` comments and trailing commas, as VS Code reads its files) that
//! keeps the byte position of every object member, so that [`super::edit`] can change one entry of a file
//! and leave every other byte as it was.

use serde_json::{Map, Value};

/// How deeply values may nest (deeper input is an error, not a stack overflow).
const MAX_DEPTH: usize = 256;

/// A parsed value and where it is.
#[derive(Debug)]
pub(crate) struct Node {
    /// Its first byte.
    pub start: usize,
    /// One past its last byte.
    pub end: usize,
    /// Its value.
    pub value: Value,
    /// Its members, for an object.
    pub object: Option<Object>,
}

/// An object's layout.
#[derive(Debug)]
pub(crate) struct Object {
    /// The `{`.
    pub open: usize,
    /// The `}`.
    pub close: usize,
    pub members: Vec<Member>,
}

/// One `"key": value` of an object.
#[derive(Debug)]
pub(crate) struct Member {
    pub key: String,
    /// The key's opening quote.
    pub key_start: usize,
    pub value: Node,
    /// The `,` after the value, if any (after the last member: a trailing comma).
    pub comma: Option<usize>,
}

impl Object {
    /// The last member named `key` (the one that counts when a key is repeated).
    pub fn member(&self, key: &str) -> Option<&Member> {
        self.members.iter().rev().find(|m| m.key == key)
    }
}

/// A syntax error at a byte offset.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub offset: usize,
    pub message: String,
}

/// Parses `text` (a leading byte-order mark is skipped). `Ok(None)`: only whitespace and comments.
pub(crate) fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    let mut p = Parser {
        text,
        s: text.as_bytes(),
        pos: if text.starts_with('\u{feff}') { 3 } else { 0 },
        depth: 0,
    };
    p.skip_ws()?;
    if p.pos == p.s.len() {
        return Ok(None);
    }
    let node = p.value()?;
    p.skip_ws()?;
    if p.pos != p.s.len() {
        return Err(p.err("unexpected content after the top-level value"));
    }
    Ok(Some(node))
}

struct Parser<'a> {
    text: &'a str,
    s: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn err(&self, message: &str) -> SyntaxError {
        SyntaxError {
            offset: self.pos,
            message: message.to_owned(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    /// Skips whitespace and comments.
    fn skip_ws(&mut self) -> Result<(), SyntaxError> {
        loop {
            match (self.peek(), self.s.get(self.pos + 1)) {
                (Some(b' ' | b'\t' | b'\n' | b'\r'), _) => self.pos += 1,
                (Some(b'/'), Some(b'/')) => {
                    while self.peek().is_some_and(|b| b != b'\n') {
                        self.pos += 1;
                    }
                }
                (Some(b'/'), Some(b'*')) => {
                    let start = self.pos;
                    let Some(len) = self.text[start + 2..].find("*/") else {
                        return Err(self.err("unterminated /* comment"));
                    };
                    self.pos = start + 2 + len + 2;
                }
                _ => return Ok(()),
            }
        }
    }

    fn value(&mut self) -> Result<Node, SyntaxError> {
        let start = self.pos;
        let (value, object) = match self.peek() {
            Some(b'{') => {
                let (value, object) = self.nested(Self::object)?;
                (value, Some(object))
            }
            Some(b'[') => (self.nested(Self::array)?, None),
            Some(b'"') => (Value::String(self.string()?), None),
            Some(b'-' | b'0'..=b'9') => (self.number()?, None),
            Some(b't') => (self.literal("true", Value::Bool(true))?, None),
            Some(b'f') => (self.literal("false", Value::Bool(false))?, None),
            Some(b'n') => (self.literal("null", Value::Null)?, None),
            Some(_) => return Err(self.err("expected a value")),
            None => return Err(self.err("unexpected end of the file, expected a value")),
        };
        Ok(Node {
            start,
            end: self.pos,
            value,
            object,
        })
    }

    fn nested<T>(&mut self, f: fn(&mut Self) -> Result<T, SyntaxError>) -> Result<T, SyntaxError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.err("values nested too deeply"));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn object(&mut self) -> Result<(Value, Object), SyntaxError> {
        let open = self.pos;
        self.pos += 1;
        let mut members: Vec<Member> = Vec::new();
        let mut map = Map::new();
        let close = loop {
            self.skip_ws()?;
            match self.peek() {
                Some(b'}') => break self.pos,
                Some(b'"') => {}
                _ => return Err(self.err("expected a string key or '}'")),
            }
            let key_start = self.pos;
            let key = self.string()?;
            self.skip_ws()?;
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':' after an object key"));
            }
            self.pos += 1;
            self.skip_ws()?;
            let value = self.value()?;
            self.skip_ws()?;
            let comma = (self.peek() == Some(b',')).then_some(self.pos);
            map.insert(key.clone(), value.value.clone());
            members.push(Member {
                key,
                key_start,
                value,
                comma,
            });
            if comma.is_some() {
                self.pos += 1;
            } else {
                self.skip_ws()?;
                if self.peek() != Some(b'}') {
                    return Err(self.err("expected ',' or '}' after an object member"));
                }
                break self.pos;
            }
        };
        self.pos += 1;
        Ok((
            Value::Object(map),
            Object {
                open,
                close,
                members,
            },
        ))
    }

    fn array(&mut self) -> Result<Value, SyntaxError> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_ws()?;
            if self.peek() == Some(b']') {
                break;
            }
            items.push(self.value()?.value);
            self.skip_ws()?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => break,
                _ => return Err(self.err("expected ',' or ']' after an array element")),
            }
        }
        self.pos += 1;
        Ok(Value::Array(items))
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                Some(b'"') => break,
                Some(b'\\') => self.pos += 2,
                Some(b) if b < 0x20 => {
                    return Err(self.err("control character in a string (escape it)"));
                }
                Some(_) => self.pos += 1,
                None => {
                    self.pos = start;
                    return Err(self.err("unterminated string"));
                }
            }
        }
        self.pos += 1;
        match self.text.get(start..self.pos).map(serde_json::from_str) {
            Some(Ok(s)) => Ok(s),
            Some(Err(e)) => {
                self.pos = start;
                Err(self.err(&format!("invalid string: {e}")))
            }
            None => {
                self.pos = start;
                Err(self.err("unterminated string"))
            }
        }
    }

    fn number(&mut self) -> Result<Value, SyntaxError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
        {
            self.pos += 1;
        }
        match serde_json::from_str::<Value>(&self.text[start..self.pos]) {
            Ok(v @ Value::Number(_)) => Ok(v),
            _ => {
                self.pos = start;
                Err(self.err("invalid number"))
            }
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, SyntaxError> {
        let end = self.pos + word.len();
        let follows_ok = self
            .s
            .get(end)
            .is_none_or(|b| !b.is_ascii_alphanumeric() && *b != b'_');
        if self.s.get(self.pos..end) == Some(word.as_bytes()) && follows_ok {
            self.pos = end;
            Ok(value)
        } else {
            Err(self.err("expected a value"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_jsonc_with_positions() {
        let text = "\u{feff}// c\n{\"a\": [1, 2,], /* x */ \"b\": {\"c\": null,},}\n";
        let root = parse(text).unwrap().unwrap();
        assert_eq!(root.value, json!({"a": [1, 2], "b": {"c": null}}));
        let obj = root.object.unwrap();
        let b = obj.member("b").unwrap();
        assert_eq!(&text[b.key_start..b.value.end], "\"b\": {\"c\": null,}");
        assert!(b.comma.is_some());
        assert_eq!(&text[obj.open..=obj.close], &text[8..text.len() - 1]);
    }

    #[test]
    fn reports_errors_with_offsets() {
        let e = |t: &str| parse(t).unwrap_err();
        assert_eq!(e("{\"a\" 1}").offset, 5);
        assert!(e("{\"a\": 1").message.contains("expected ','"));
        assert!(e("{\"a\": tru}").message.contains("expected a value"));
        assert!(e("{} x").message.contains("after the top-level value"));
        assert!(e("/* open").message.contains("unterminated"));
        assert!(e("\"abc").message.contains("unterminated string"));
        assert!(e("{\"a\": 01}").message.contains("invalid number"));
        assert!(e("{,}").message.contains("expected a string key"));
        assert!(e(&"[".repeat(1000)).message.contains("nested too deeply"));
        assert!(parse("  // nothing\n").unwrap().is_none());
    }
}
