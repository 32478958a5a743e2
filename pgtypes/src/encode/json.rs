//! `jsonb_out`: the text PostgreSQL prints for a `jsonb` value given the JSON text it was
//! built from.
//!
//! - whitespace: `{"a": 1, "b": [1, 2]}` (`": "` and `", "`, nothing else);
//! - object keys sorted by length, then bytewise (`lengthCompareJsonbString`), duplicate
//!   keys: the last one wins;
//! - strings re-escaped by `escape_json` (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other
//!   control characters as `\u00XX`, everything else — `/` and non-ASCII included — raw);
//! - numbers pass through `numeric_in` + `numeric_out`: `1e2` → `100`, `1.50` stays
//!   `1.50`, `1.5e-3` → `0.0015`, `-0` → `0`.
//!
//! This is a small dedicated parser rather than `serde_json::Value`: serde_json (without
//! its `arbitrary_precision` feature, which would change number handling workspace-wide)
//! turns numbers into f64/i64, which loses `1.50` vs `1.5` and digits beyond 17.
//! Invalid JSON yields `None`; the caller then passes the text through unchanged.

use std::borrow::Cow;

enum Node<'a> {
    Null,
    True,
    False,
    /// The raw number text (validated).
    Num(&'a [u8]),
    Str(Cow<'a, str>),
    Arr(Vec<Node<'a>>),
    Obj(Vec<(Cow<'a, str>, Node<'a>)>),
}

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    pos: usize,
    depth: usize,
}

/// Deeper documents are passed through verbatim rather than risk the stack.
const MAX_DEPTH: usize = 1000;

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn lit(&mut self, word: &[u8], node: Node<'a>) -> Option<Node<'a>> {
        if self.s[self.pos..].starts_with(word) {
            self.pos += word.len();
            Some(node)
        } else {
            None
        }
    }

    fn value(&mut self) -> Option<Node<'a>> {
        self.ws();
        match self.peek()? {
            b'{' => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return None;
                }
                self.pos += 1;
                let mut pairs = Vec::new();
                self.ws();
                if self.peek()? == b'}' {
                    self.pos += 1;
                } else {
                    loop {
                        self.ws();
                        if self.peek()? != b'"' {
                            return None;
                        }
                        let k = self.string()?;
                        self.ws();
                        if self.peek()? != b':' {
                            return None;
                        }
                        self.pos += 1;
                        let v = self.value()?;
                        pairs.push((k, v));
                        self.ws();
                        match self.peek()? {
                            b',' => self.pos += 1,
                            b'}' => {
                                self.pos += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                self.depth -= 1;
                Some(Node::Obj(pairs))
            }
            b'[' => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return None;
                }
                self.pos += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek()? == b']' {
                    self.pos += 1;
                } else {
                    loop {
                        items.push(self.value()?);
                        self.ws();
                        match self.peek()? {
                            b',' => self.pos += 1,
                            b']' => {
                                self.pos += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                self.depth -= 1;
                Some(Node::Arr(items))
            }
            b'"' => Some(Node::Str(self.string()?)),
            b't' => self.lit(b"true", Node::True),
            b'f' => self.lit(b"false", Node::False),
            b'n' => self.lit(b"null", Node::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_digit() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Option<Node<'a>> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        let n = self.digits();
        if n == 0 || (n > 1 && self.s[int_start] == b'0') {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(Node::Num(&self.s[start..self.pos]))
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.pos..self.pos + 4)?;
        let mut v = 0u32;
        for &c in h {
            v = v * 16 + (c as char).to_digit(16)?;
        }
        self.pos += 4;
        Some(v)
    }

    /// A string starting at the opening quote; decoded.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.pos += 1;
        let start = self.pos;
        // fast path: no escapes
        while self.pos < self.s.len() {
            match self.s[self.pos] {
                b'"' => {
                    let s = &self.src[start..self.pos];
                    self.pos += 1;
                    return Some(Cow::Borrowed(s));
                }
                b'\\' => break,
                c if c < 0x20 => return None,
                _ => self.pos += 1,
            }
        }
        let mut owned = String::from(&self.src[start..self.pos]);
        loop {
            let c = *self.s.get(self.pos)?;
            match c {
                b'"' => {
                    self.pos += 1;
                    return Some(Cow::Owned(owned));
                }
                b'\\' => {
                    self.pos += 1;
                    let e = *self.s.get(self.pos)?;
                    self.pos += 1;
                    match e {
                        b'"' => owned.push('"'),
                        b'\\' => owned.push('\\'),
                        b'/' => owned.push('/'),
                        b'b' => owned.push('\u{8}'),
                        b'f' => owned.push('\u{c}'),
                        b'n' => owned.push('\n'),
                        b'r' => owned.push('\r'),
                        b't' => owned.push('\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) {
                                if self.s.get(self.pos..self.pos + 2)? != b"\\u" {
                                    return None;
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return None;
                                }
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            }
                            // jsonb rejects \u0000; lone low surrogates are invalid
                            if cp == 0 {
                                return None;
                            }
                            owned.push(char::from_u32(cp)?);
                        }
                        _ => return None,
                    }
                }
                c if c < 0x20 => return None,
                _ => {
                    // copy one UTF-8 char
                    let ch = self.src[self.pos..].chars().next()?;
                    owned.push(ch);
                    self.pos += ch.len_utf8();
                }
            }
        }
    }
}

fn key_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

/// `escape_json`.
pub(crate) fn write_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let b = s.as_bytes();
    let mut run = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            c if c < 0x20 => b"",
            _ => continue,
        };
        out.extend_from_slice(&b[run..i]);
        run = i + 1;
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 15)]);
        } else {
            out.extend_from_slice(esc);
        }
    }
    out.extend_from_slice(&b[run..]);
    out.push(b'"');
}

/// `numeric_out(numeric_in(text))` for a validated JSON number. `None` if the value is
/// out of `numeric`'s range (PostgreSQL rejects such input).
fn write_number(out: &mut Vec<u8>, num: &[u8]) -> Option<()> {
    let (neg, rest) = match num.first() {
        Some(b'-') => (true, &num[1..]),
        _ => (false, num),
    };
    let mut int_end = rest
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let int = &rest[..int_end];
    let mut frac: &[u8] = b"";
    if rest.get(int_end) == Some(&b'.') {
        let f = &rest[int_end + 1..];
        let n = f
            .iter()
            .position(|c| !c.is_ascii_digit())
            .unwrap_or(f.len());
        frac = &f[..n];
        int_end += 1 + n;
    }
    let mut exp: i64 = 0;
    if matches!(rest.get(int_end), Some(b'e' | b'E')) {
        let e = &rest[int_end + 1..];
        let (eneg, ed) = match e.first() {
            Some(b'-') => (true, &e[1..]),
            Some(b'+') => (false, &e[1..]),
            _ => (false, e),
        };
        for &c in ed {
            // saturate: such exponents fail the range checks below anyway (or are moot
            // for zero)
            exp = (exp * 10 + i64::from(c - b'0')).min(1 << 40);
        }
        if eneg {
            exp = -exp;
        }
    }
    let dscale = (frac.len() as i64 - exp).max(0) as usize;
    // the significand's digits: int ++ frac without leading zeros
    let all = |j: usize| {
        if j < int.len() {
            int[j]
        } else {
            frac[j - int.len()]
        }
    };
    let total = int.len() + frac.len();
    let lead = (0..total).take_while(|&j| all(j) == b'0').count();
    let sig_len = total - lead;
    let sig = |i: usize| all(lead + i);
    // number of significand digits before the decimal point (may be <= 0 or > sig_len)
    let point = int.len() as i64 + exp - lead as i64;
    // numeric's storage limits (NUMERIC_DSCALE_MAX, NUMERIC_WEIGHT_MAX): PostgreSQL
    // rejects such input with "value overflows numeric format"
    if dscale > 16383 || (sig_len > 0 && point > 131_072) {
        return None;
    }
    if sig_len == 0 {
        out.push(b'0');
        if dscale > 0 {
            out.push(b'.');
            out.resize(out.len() + dscale, b'0');
        }
        return Some(());
    }
    if neg {
        out.push(b'-');
    }
    if point <= 0 {
        out.push(b'0');
    } else {
        for i in 0..point as usize {
            out.push(if i < sig_len { sig(i) } else { b'0' });
        }
    }
    if dscale > 0 {
        out.push(b'.');
        for k in 0..dscale as i64 {
            let idx = point + k;
            out.push(if idx >= 0 && (idx as usize) < sig_len {
                sig(idx as usize)
            } else {
                b'0'
            });
        }
    }
    Some(())
}

fn write_node(out: &mut Vec<u8>, node: &mut Node<'_>) -> Option<()> {
    match node {
        Node::Null => out.extend_from_slice(b"null"),
        Node::True => out.extend_from_slice(b"true"),
        Node::False => out.extend_from_slice(b"false"),
        Node::Num(n) => write_number(out, n)?,
        Node::Str(s) => write_json_string(out, s),
        Node::Arr(items) => {
            out.push(b'[');
            for (i, item) in items.iter_mut().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_node(out, item)?;
            }
            out.push(b']');
        }
        Node::Obj(pairs) => {
            // stable: among equal keys the later one comes later, and wins below
            pairs.sort_by(|a, b| key_cmp(&a.0, &b.0));
            out.push(b'{');
            let mut first = true;
            let n = pairs.len();
            for i in 0..n {
                if i + 1 < n && pairs[i].0 == pairs[i + 1].0 {
                    continue;
                }
                if !first {
                    out.extend_from_slice(b", ");
                }
                first = false;
                let (k, v) = &mut pairs[i];
                write_json_string(out, k);
                out.extend_from_slice(b": ");
                write_node(out, v)?;
            }
            out.push(b'}');
        }
    }
    Some(())
}

/// Appends the `jsonb_out` text of JSON text `src`. Returns false (having appended
/// nothing) if `src` is not valid JSON, or holds something `jsonb` rejects.
pub(crate) fn write_jsonb(out: &mut Vec<u8>, src: &str) -> bool {
    let mut p = Parser {
        s: src.as_bytes(),
        src,
        pos: 0,
        depth: 0,
    };
    let Some(mut node) = p.value() else {
        return false;
    };
    p.ws();
    if p.pos != p.s.len() {
        return false;
    }
    let start = out.len();
    if write_node(out, &mut node).is_none() {
        out.truncate(start);
        return false;
    }
    true
}
