//! `json` validation and `jsonb` normalization, following PostgreSQL's JSON lexer.
//!
//! `json` values are stored verbatim after validation (as PostgreSQL does). `jsonb` values
//! are stored in PostgreSQL's canonical output form, so that selecting them prints exactly
//! what PostgreSQL prints: object keys sorted by (length, bytes) with the last duplicate
//! winning, `", "` / `": "` separators, numbers in `numeric` canonical form (`1e2` → `100`),
//! strings re-escaped (`\u0041` → `A`).

use super::DecodeError;
use super::num::{canonical_numeric_text, parse_decimal_parts};

const MAX_DEPTH: usize = 2000;

#[derive(Debug)]
enum JErr {
    Syntax,
    NulEscape,
    Depth,
}

fn to_decode_err(e: JErr) -> DecodeError {
    match e {
        JErr::Syntax => DecodeError::new("22P02", "invalid input syntax for type json".to_string()),
        JErr::NulEscape => {
            DecodeError::new("22P05", "unsupported Unicode escape sequence".to_string())
        }
        JErr::Depth => DecodeError::new("54001", "stack depth limit exceeded".to_string()),
    }
}

#[derive(Debug)]
enum Jv {
    Null,
    True,
    False,
    Num(String),
    Str(String),
    Arr(Vec<Jv>),
    Obj(Vec<(String, Jv)>),
}

struct P<'a> {
    b: &'a [u8],
    i: usize,
    build: bool,
    depth: usize,
}

impl P<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Result<Jv, JErr> {
        self.ws();
        let Some(&c) = self.b.get(self.i) else {
            return Err(JErr::Syntax);
        };
        match c {
            b'{' => {
                self.enter()?;
                self.i += 1;
                let mut members = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(Jv::Obj(members));
                }
                loop {
                    self.ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return Err(JErr::Syntax);
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.b.get(self.i) != Some(&b':') {
                        return Err(JErr::Syntax);
                    }
                    self.i += 1;
                    let v = self.value()?;
                    if self.build {
                        members.push((k, v));
                    }
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            break;
                        }
                        _ => return Err(JErr::Syntax),
                    }
                }
                self.depth -= 1;
                Ok(Jv::Obj(members))
            }
            b'[' => {
                self.enter()?;
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(Jv::Arr(items));
                }
                loop {
                    let v = self.value()?;
                    if self.build {
                        items.push(v);
                    }
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            break;
                        }
                        _ => return Err(JErr::Syntax),
                    }
                }
                self.depth -= 1;
                Ok(Jv::Arr(items))
            }
            b'"' => Ok(Jv::Str(self.string()?)),
            b'-' | b'0'..=b'9' => self.number(),
            _ => {
                let st = self.i;
                while self.i < self.b.len() && self.b[self.i].is_ascii_alphanumeric() {
                    self.i += 1;
                }
                match &self.b[st..self.i] {
                    b"true" => Ok(Jv::True),
                    b"false" => Ok(Jv::False),
                    b"null" => Ok(Jv::Null),
                    _ => Err(JErr::Syntax),
                }
            }
        }
    }

    fn enter(&mut self) -> Result<(), JErr> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(JErr::Depth);
        }
        Ok(())
    }

    fn digits(&mut self) -> usize {
        let st = self.i;
        while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
        self.i - st
    }

    fn number(&mut self) -> Result<Jv, JErr> {
        let st = self.i;
        if self.b[self.i] == b'-' {
            self.i += 1;
        }
        let ist = self.i;
        let nd = self.digits();
        if nd == 0 || (nd > 1 && self.b[ist] == b'0') {
            return Err(JErr::Syntax);
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(JErr::Syntax);
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(JErr::Syntax);
            }
        }
        // A number token must end at a delimiter (PostgreSQL: "Token "1x" is invalid").
        if self.i < self.b.len()
            && (self.b[self.i].is_ascii_alphanumeric() || self.b[self.i] == b'.')
        {
            return Err(JErr::Syntax);
        }
        if !self.build {
            return Ok(Jv::Null);
        }
        let txt = &self.b[st..self.i];
        let parts = parse_decimal_parts(txt)
            .map_err(|_| JErr::Syntax)?
            .map_err(|_| JErr::Syntax)?;
        let canon = canonical_numeric_text(&parts).ok_or(JErr::Syntax)?;
        Ok(Jv::Num(canon))
    }

    fn hex4(&mut self) -> Result<u32, JErr> {
        if self.i + 4 > self.b.len() {
            return Err(JErr::Syntax);
        }
        let mut v = 0u32;
        for k in 0..4 {
            let c = self.b[self.i + k];
            let d = (c as char).to_digit(16).ok_or(JErr::Syntax)?;
            v = v * 16 + d;
        }
        self.i += 4;
        Ok(v)
    }

    /// Parse a string starting at the opening quote.
    fn string(&mut self) -> Result<String, JErr> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let st = self.i;
            while self.i < self.b.len() && !matches!(self.b[self.i], b'"' | b'\\' | 0..=0x1f) {
                self.i += 1;
            }
            if self.build {
                // Input was validated as UTF-8 by the caller; slicing at ASCII bytes is safe.
                out.push_str(std::str::from_utf8(&self.b[st..self.i]).map_err(|_| JErr::Syntax)?);
            }
            let Some(&c) = self.b.get(self.i) else {
                return Err(JErr::Syntax);
            };
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.i += 1;
                    let Some(&e) = self.b.get(self.i) else {
                        return Err(JErr::Syntax);
                    };
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let u = self.hex4()?;
                            if !self.build {
                                continue; // json: escapes are only checked for form
                            }
                            if u == 0 {
                                return Err(JErr::NulEscape);
                            }
                            if (0xD800..0xDC00).contains(&u) {
                                // high surrogate: must be followed by \uDC00-\uDFFF
                                if self.b.get(self.i) != Some(&b'\\')
                                    || self.b.get(self.i + 1) != Some(&b'u')
                                {
                                    return Err(JErr::Syntax);
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(JErr::Syntax);
                                }
                                let cp = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                                char::from_u32(cp).ok_or(JErr::Syntax)?
                            } else if (0xDC00..0xE000).contains(&u) {
                                return Err(JErr::Syntax);
                            } else {
                                char::from_u32(u).ok_or(JErr::Syntax)?
                            }
                        }
                        _ => return Err(JErr::Syntax),
                    };
                    if self.build {
                        out.push(ch);
                    }
                }
                _ => return Err(JErr::Syntax), // unescaped control character
            }
        }
    }
}

fn parse(b: &[u8], build: bool) -> Result<Jv, DecodeError> {
    if std::str::from_utf8(b).is_err() {
        return Err(super::invalid_utf8(b));
    }
    let mut p = P {
        b,
        i: 0,
        build,
        depth: 0,
    };
    let v = p.value().map_err(to_decode_err)?;
    p.ws();
    if p.i != b.len() {
        return Err(to_decode_err(JErr::Syntax));
    }
    Ok(v)
}

/// Validate `json` input (stored verbatim).
pub(crate) fn validate_json(b: &[u8]) -> Result<(), DecodeError> {
    parse(b, false).map(|_| ())
}

/// Parse `jsonb` input and return PostgreSQL's canonical text for it.
pub(crate) fn normalize_jsonb(b: &[u8]) -> Result<String, DecodeError> {
    let mut v = parse(b, true)?;
    canonicalize(&mut v);
    let mut out = String::with_capacity(b.len());
    render(&v, &mut out);
    Ok(out)
}

fn canonicalize(v: &mut Jv) {
    match v {
        Jv::Arr(items) => items.iter_mut().for_each(canonicalize),
        Jv::Obj(members) => {
            members.iter_mut().for_each(|(_, v)| canonicalize(v));
            // stable sort by (length, bytes); keep the last of duplicate keys
            members.sort_by(|a, b| {
                a.0.len()
                    .cmp(&b.0.len())
                    .then_with(|| a.0.as_bytes().cmp(b.0.as_bytes()))
            });
            let mut out: Vec<(String, Jv)> = Vec::with_capacity(members.len());
            for m in members.drain(..) {
                if let Some(last) = out.last_mut()
                    && last.0 == m.0
                {
                    *last = m;
                    continue;
                }
                out.push(m);
            }
            *members = out;
        }
        _ => {}
    }
}

/// PostgreSQL's `escape_json`.
pub(crate) fn escape_json(s: &str, out: &mut String) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn render(v: &Jv, out: &mut String) {
    match v {
        Jv::Null => out.push_str("null"),
        Jv::True => out.push_str("true"),
        Jv::False => out.push_str("false"),
        Jv::Num(n) => out.push_str(n),
        Jv::Str(s) => escape_json(s, out),
        Jv::Arr(items) => {
            out.push('[');
            for (k, it) in items.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                render(it, out);
            }
            out.push(']');
        }
        Jv::Obj(members) => {
            out.push('{');
            for (k, (key, it)) in members.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                escape_json(key, out);
                out.push_str(": ");
                render(it, out);
            }
            out.push('}');
        }
    }
}
