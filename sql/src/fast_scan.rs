//! The INSERT fast path's own scanner: `INSERT INTO t [(cols)] VALUES (...), (...)` whose
//! cells are literals is recognised directly from the SQL text, without sqlparser, whose
//! tokens and AST cost more than the rest of an INSERT (each value would be a `String` in a
//! token and an `Expr`). Anything it does not recognise — comments, expressions, casts to
//! other than a plain type name, `RETURNING`, several statements — returns `None`, and the
//! statement goes through sqlparser as usual. The cells are byte ranges into the SQL.

/// One VALUES cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawCell {
    Null,
    Default,
    /// A string literal, `start..end` inside the quotes; `escaped` if it contains `''`.
    Text {
        start: usize,
        end: usize,
        escaped: bool,
    },
    /// A numeric literal (with its sign).
    Number {
        start: usize,
        end: usize,
    },
    Bool(bool),
}

/// A recognised INSERT.
#[derive(Debug, Clone)]
pub struct RawInsert {
    pub table: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<RawCell>>,
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn keyword(&mut self, kw: &str) -> bool {
        self.ws();
        let end = self.i + kw.len();
        if end <= self.b.len()
            && self.b[self.i..end].eq_ignore_ascii_case(kw.as_bytes())
            && (end == self.b.len() || !is_ident_char(self.b[end]))
        {
            self.i = end;
            true
        } else {
            false
        }
    }

    fn byte(&mut self, c: u8) -> bool {
        self.ws();
        if self.i < self.b.len() && self.b[self.i] == c {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// An identifier, folded like PostgreSQL (quoted: as is; no `""` escapes).
    fn ident(&mut self) -> Option<String> {
        self.ws();
        let s = self.i;
        if self.i < self.b.len() && self.b[self.i] == b'"' {
            let close = self.b[s + 1..].iter().position(|&c| c == b'"')? + s + 1;
            if self.b.get(close + 1) == Some(&b'"') {
                return None;
            }
            self.i = close + 1;
            return std::str::from_utf8(&self.b[s + 1..close])
                .ok()
                .map(str::to_string);
        }
        if self.i < self.b.len() && (self.b[self.i].is_ascii_alphabetic() || self.b[self.i] == b'_')
        {
            while self.i < self.b.len() && is_ident_char(self.b[self.i]) {
                self.i += 1;
            }
            return std::str::from_utf8(&self.b[s..self.i])
                .ok()
                .map(|x| x.to_ascii_lowercase());
        }
        None
    }

    fn cell(&mut self) -> Option<RawCell> {
        self.ws();
        let c = *self.b.get(self.i)?;
        let cell = if c == b'\'' {
            let start = self.i + 1;
            let mut j = start;
            let mut escaped = false;
            loop {
                let k = self.b[j..].iter().position(|&c| c == b'\'')? + j;
                if self.b.get(k + 1) == Some(&b'\'') {
                    escaped = true;
                    j = k + 2;
                    continue;
                }
                self.i = k + 1;
                break RawCell::Text {
                    start,
                    end: k,
                    escaped,
                };
            }
        } else if c == b'-' || c == b'+' || c == b'.' || c.is_ascii_digit() {
            let start = self.i;
            self.i += 1;
            while self.i < self.b.len()
                && (self.b[self.i].is_ascii_digit() || self.b[self.i] == b'.')
            {
                self.i += 1;
            }
            if self.i < self.b.len() && (self.b[self.i] == b'e' || self.b[self.i] == b'E') {
                self.i += 1;
                if self.i < self.b.len() && (self.b[self.i] == b'+' || self.b[self.i] == b'-') {
                    self.i += 1;
                }
                while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
                    self.i += 1;
                }
            }
            let text = &self.b[start..self.i];
            if !text.iter().any(u8::is_ascii_digit) {
                return None;
            }
            RawCell::Number { start, end: self.i }
        } else if self.keyword("null") {
            RawCell::Null
        } else if self.keyword("default") {
            RawCell::Default
        } else if self.keyword("true") {
            RawCell::Bool(true)
        } else if self.keyword("false") {
            RawCell::Bool(false)
        } else {
            return None;
        };
        // An optional `::typename` (one word, e.g. ::timestamptz): the column type decides.
        self.ws();
        if self.b[self.i..].starts_with(b"::") {
            if !matches!(cell, RawCell::Text { .. }) {
                return None;
            }
            self.i += 2;
            self.ident()?;
            self.ws();
            if self.i < self.b.len()
                && (self.b[self.i] == b'(' || self.b[self.i] == b'[' || self.b[self.i] == b'.')
            {
                return None;
            }
        }
        Some(cell)
    }
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$'
}

/// Recognises a literal-only `INSERT ... VALUES` statement.
pub fn scan(sql: &str) -> Option<RawInsert> {
    if sql.len() < 64 {
        // Short statements are cheap for sqlparser; keep one path for them.
        return None;
    }
    let mut s = Scanner {
        b: sql.as_bytes(),
        i: 0,
    };
    if !s.keyword("insert") || !s.keyword("into") {
        return None;
    }
    let mut table = s.ident()?;
    if s.byte(b'.') {
        if table != "public" {
            return None;
        }
        table = s.ident()?;
    }
    let mut columns = vec![];
    if s.byte(b'(') {
        loop {
            columns.push(s.ident()?);
            if s.byte(b')') {
                break;
            }
            if !s.byte(b',') {
                return None;
            }
        }
    }
    if !s.keyword("values") {
        return None;
    }
    let mut rows = vec![];
    loop {
        if !s.byte(b'(') {
            return None;
        }
        let mut row = Vec::with_capacity(columns.len().max(8));
        loop {
            row.push(s.cell()?);
            if s.byte(b')') {
                break;
            }
            if !s.byte(b',') {
                return None;
            }
        }
        rows.push(row);
        if !s.byte(b',') {
            break;
        }
    }
    s.byte(b';');
    s.ws();
    if s.i != s.b.len() {
        return None;
    }
    Some(RawInsert {
        table,
        columns,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long(sql: &str) -> String {
        format!("{sql}{}", " ".repeat(64))
    }

    #[test]
    fn recognises_literal_inserts() {
        let sql = long(
            "insert into Public.T (a, \"B\") values (1, 'x''y'), (-2.5e3, NULL), ('2024-01-01 00:00:00+00'::timestamptz, DEFAULT);",
        );
        let r = scan(&sql).expect("fast path");
        assert_eq!(r.table, "t");
        assert_eq!(r.columns, vec!["a", "B"]);
        assert_eq!(r.rows.len(), 3);
        assert!(matches!(r.rows[0][1], RawCell::Text { escaped: true, .. }));
        let RawCell::Number { start, end } = r.rows[1][0] else {
            panic!()
        };
        assert_eq!(&sql[start..end], "-2.5e3");
        assert_eq!(r.rows[1][1], RawCell::Null);
        assert_eq!(r.rows[2][1], RawCell::Default);
    }

    #[test]
    fn anything_else_falls_back() {
        for sql in [
            "insert into t values (1 + 2)",
            "insert into t values (now())",
            "insert into t select 1",
            "insert into t values (1); select 1",
            "insert into t values (1) returning a",
            "insert into t values ($1)",
            "insert into t values (1) -- comment",
            "insert into s.t values (1)",
            "insert into t values ('a'::varchar(3))",
            "insert into t values ('unterminated)",
        ] {
            assert!(scan(&long(sql)).is_none(), "{sql}");
        }
    }
}
