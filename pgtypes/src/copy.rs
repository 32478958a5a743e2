//! `COPY ... FROM STDIN` payload parsing (text and CSV formats) into Arrow `RecordBatch`es.
//!
//! [`CopyParser`] is incremental: feed it the `CopyData` payloads as they arrive (a row may
//! span any number of chunks, split at any byte); it returns complete batches of up to
//! `batch_rows` rows as they fill, and [`CopyParser::finish`] returns the rest after
//! `CopyDone`.
//!
//! Rows are scanned directly on the chunk, 16 bytes at a time for the next delimiter,
//! line end, escape or quote (`copy/stops.rs`); field values are
//! parsed straight into typed Arrow builders ([`ColumnBuilder`]), so numbers and
//! timestamps never allocate. Only a field that contains escapes (text format) or inner
//! quotes (CSV) is copied, into a reused scratch buffer. Only the incomplete trailing row of
//! a chunk is copied into a carry-over buffer.
//!
//! Semantics follow PostgreSQL 15:
//! - Text: rows end at `\n` or `\r\n` (a lone `\r` is 22P04 `literal carriage return found
//!   in data`); fields split on the delimiter; backslash escapes `\b \f \n \r \t \v \\`,
//!   `\ooo` (octal), `\xHH`, any other escaped character is itself (so `\` + delimiter is a
//!   literal delimiter and `\` + newline is a literal newline); the NULL marker (`\N`) is
//!   compared with the raw field before de-escaping; a line `\.` ends the data (anything
//!   after it is ignored).
//! - CSV: RFC 4180 quoting with `quote`/`escape` (default `"`/`"`), quoted sections may
//!   appear anywhere in a field and span lines; an unquoted field equal to the NULL string
//!   (default empty) is NULL, a quoted one never is (`""` is an empty string); `HEADER`
//!   skips the first line; an unterminated quoted field at the end is 22P04
//!   `unterminated CSV quoted field`; a line `\.` ends the data.
//! - Field count: extra fields → 22P04 `extra data after last expected column`; missing
//!   fields → 22P04 `missing data for column "x"` (checked column by column, so an
//!   earlier conversion error wins, as in PostgreSQL).
//! - Bad values → the [`DecodeError`]'s SQLSTATE and message; NULL in a non-nullable field
//!   → 23502 `null value in column "x" of relation "t" violates not-null constraint`.
//! - Line numbers are PostgreSQL's `cur_lineno`: 1-based, the header counts, and in CSV
//!   newlines inside quotes count once the line-ending style is known (PostgreSQL's own
//!   quirk: not within the first row).
//!
//! Errors carry PostgreSQL's CONTEXT line separately in [`CopyError::context`]:
//! `COPY t, line 3, column v: "abc"` for a bad value, `COPY t, line 3: "<raw line>"` for
//! line-level errors (values and lines longer than 100 bytes are cut and end in `...`).
//! Send it as the ErrorResponse `W` (Where) field. The table name comes from
//! [`CopyParser::with_table_name`].
//!
//! After an error the parser is poisoned: every later call returns an error.

use std::fmt;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::decode::{ColumnBuilder, DecodeError};

pub mod binary;
mod stops;

use stops::{StopCursor, StopSet};

/// COPY data format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    Text,
    Csv,
}

/// COPY FROM options (the subset that affects parsing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOptions {
    pub format: CopyFormat,
    /// Field delimiter: default `\t` (text) or `,` (CSV).
    pub delimiter: u8,
    /// NULL marker: default `\N` (text) or empty (CSV).
    pub null: String,
    /// Skip the first line.
    pub header: bool,
    /// CSV quote character (default `"`).
    pub quote: u8,
    /// CSV escape character (default: same as `quote`).
    pub escape: u8,
}

impl CopyOptions {
    /// PostgreSQL defaults for `FORMAT text`.
    pub fn text() -> Self {
        CopyOptions {
            format: CopyFormat::Text,
            delimiter: b'\t',
            null: "\\N".to_string(),
            header: false,
            quote: b'"',
            escape: b'"',
        }
    }

    /// PostgreSQL defaults for `FORMAT csv`.
    pub fn csv() -> Self {
        CopyOptions {
            format: CopyFormat::Csv,
            delimiter: b',',
            null: String::new(),
            header: false,
            quote: b'"',
            escape: b'"',
        }
    }
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions::text()
    }
}

/// A COPY error with PostgreSQL's SQLSTATE, primary message and CONTEXT line.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyError {
    pub sqlstate: &'static str,
    /// Primary message, e.g. `invalid input syntax for type integer: "abc"`.
    pub message: String,
    /// 1-based input line (PostgreSQL's numbering; 0 if not tied to a line).
    pub line: u64,
    /// Column name for value errors.
    pub column: Option<String>,
    /// PostgreSQL's CONTEXT, e.g. `COPY t, line 3, column v: "abc"`.
    pub context: String,
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.context.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{} (CONTEXT: {})", self.message, self.context)
        }
    }
}

impl std::error::Error for CopyError {}

const MAX_DISPLAY: usize = 100;

/// PostgreSQL's `limit_printout_length`.
fn limit_printout(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.len() <= MAX_DISPLAY {
        return s.into_owned();
    }
    let mut end = MAX_DISPLAY;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Eol {
    Unknown,
    Nl,
    CrNl,
}

#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    /// Text: field contains a backslash. CSV: number of quote events (0 = unquoted).
    marks: u32,
}

enum Scan {
    /// A complete row: content is `[row_start, content_end)`, next row starts at `next`.
    Row {
        content_end: usize,
        next: usize,
        eol: Eol,
        embedded: u64,
    },
    Incomplete,
}

/// Incremental COPY FROM parser producing Arrow record batches.
#[derive(Debug)]
pub struct CopyParser {
    schema: SchemaRef,
    opts: CopyOptions,
    batch_rows: usize,
    builders: Vec<ColumnBuilder>,
    nullable: Vec<bool>,
    table: String,
    carry: Vec<u8>,
    scratch: Vec<u8>,
    spans: Vec<Span>,
    /// Bytes that stop the fast scan outside quotes.
    stop: StopSet,
    /// Bytes that stop the scan inside CSV quotes.
    stop_q: StopSet,
    line: u64,
    rows: u64,
    in_batch: usize,
    out: Vec<RecordBatch>,
    header_pending: bool,
    /// Text format: the NULL marker contains a backslash, so only fields with escapes can
    /// match it (the default `\N`); saves a comparison per field.
    null_needs_escape: bool,
    done: bool,
    failed: bool,
    eol: Eol,
}

impl CopyParser {
    /// A parser for rows whose fields are the columns of `schema`, in COPY order. Field
    /// types/metadata decide the input syntax (see [`crate::decode`]); non-nullable fields
    /// reject NULL with 23502. `session_tz` (the session time zone) applies to
    /// `timestamptz` values without an explicit zone.
    pub fn new(
        schema: SchemaRef,
        options: CopyOptions,
        batch_rows: usize,
        session_tz: crate::tz::TimeZoneSetting,
    ) -> Self {
        let batch_rows = batch_rows.max(1);
        let builders: Vec<ColumnBuilder> = schema
            .fields()
            .iter()
            .map(|f| ColumnBuilder::new(f, batch_rows, session_tz))
            .collect();
        let nullable = schema.fields().iter().map(|f| f.is_nullable()).collect();
        let (stop, stop_q) = match options.format {
            CopyFormat::Text => {
                let stop = StopSet::new([options.delimiter, b'\n', b'\r', b'\\']);
                (stop, stop)
            }
            CopyFormat::Csv => (
                StopSet::new([options.delimiter, b'\n', b'\r', options.quote]),
                StopSet::new([options.quote, options.escape, b'\n', b'\r']),
            ),
        };
        CopyParser {
            header_pending: options.header,
            null_needs_escape: options.null.as_bytes().contains(&b'\\'),
            schema,
            opts: options,
            batch_rows,
            builders,
            nullable,
            table: String::new(),
            carry: Vec::new(),
            scratch: Vec::new(),
            spans: Vec::with_capacity(32),
            stop,
            stop_q,
            line: 0,
            rows: 0,
            in_batch: 0,
            out: Vec::new(),
            done: false,
            failed: false,
            eol: Eol::Unknown,
        }
    }

    /// Set the table name used in error messages and CONTEXT lines (`COPY t, line 3 …`).
    pub fn with_table_name(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// Rows parsed so far (excluding the header line).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Whether the end-of-data marker `\.` has been seen (later data is ignored).
    pub fn saw_end_marker(&self) -> bool {
        self.done
    }

    /// Feed one `CopyData` payload; returns the batches completed so far.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<RecordBatch>, CopyError> {
        self.check_usable()?;
        let r = self.feed_inner(chunk);
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    fn feed_inner(&mut self, chunk: &[u8]) -> Result<Vec<RecordBatch>, CopyError> {
        let mut rest = chunk;
        if !self.carry.is_empty() && !self.done {
            match rest.iter().position(|&c| c == b'\n') {
                None => {
                    self.carry.extend_from_slice(rest);
                    return Ok(std::mem::take(&mut self.out));
                }
                Some(nl) => {
                    let mut carry = std::mem::take(&mut self.carry);
                    carry.extend_from_slice(&rest[..=nl]);
                    rest = &rest[nl + 1..];
                    let used = self.parse_rows(&carry, false)?;
                    if used < carry.len() && !self.done {
                        // The newline was inside a quoted field or escaped: take the whole
                        // chunk and parse what completes.
                        carry.drain(..used);
                        carry.extend_from_slice(rest);
                        let used = self.parse_rows(&carry, false)?;
                        carry.drain(..used);
                        self.carry = carry;
                        return Ok(std::mem::take(&mut self.out));
                    }
                    carry.clear();
                    self.carry = carry;
                }
            }
        }
        if !self.done {
            let used = self.parse_rows(rest, false)?;
            if !self.done {
                self.carry.extend_from_slice(&rest[used..]);
            }
        }
        Ok(std::mem::take(&mut self.out))
    }

    /// End of input (`CopyDone`): parse a final row without a line terminator and return
    /// the remaining rows. Errors on an unterminated CSV quoted field.
    pub fn finish(&mut self) -> Result<Option<RecordBatch>, CopyError> {
        self.check_usable()?;
        let r = self.finish_inner();
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    fn finish_inner(&mut self) -> Result<Option<RecordBatch>, CopyError> {
        if !self.done && !self.carry.is_empty() {
            let carry = std::mem::take(&mut self.carry);
            self.parse_rows(&carry, true)?;
        }
        if self.in_batch > 0 {
            self.flush()?;
        }
        take_output(&mut self.out, &self.schema)
    }

    fn check_usable(&self) -> Result<(), CopyError> {
        if self.failed {
            return Err(internal_error(
                "COPY parser used after an error".to_string(),
            ));
        }
        Ok(())
    }

    /// Parse all complete rows in `data`; returns the number of bytes consumed.
    fn parse_rows(&mut self, data: &[u8], eof: bool) -> Result<usize, CopyError> {
        let mut pos = 0;
        let csv = self.opts.format == CopyFormat::Csv;
        let mut cur = StopCursor::new();
        let mut cur_q = StopCursor::new();
        let checked = if self.builders.iter().any(ColumnBuilder::takes_plain_text) {
            checked_rows(data)
        } else {
            ""
        };
        while pos < data.len() && !self.done {
            let scan = if csv {
                self.scan_csv(data, pos, eof, &mut cur, &mut cur_q)?
            } else {
                self.scan_text(data, pos, eof, &mut cur)?
            };
            let Scan::Row {
                content_end,
                next,
                eol,
                embedded,
            } = scan
            else {
                break;
            };
            self.line += 1 + embedded;
            if self.eol == Eol::Unknown && eol != Eol::Unknown {
                self.eol = eol;
            }
            let row = &data[pos..content_end];
            if self.header_pending {
                self.header_pending = false;
            } else if row.len() == 2
                && row[0] == b'\\'
                && row[1] == b'.'
                && (!csv || self.spans[0].marks == 0)
            {
                self.done = true;
            } else {
                self.process_row(data, checked, row, csv)?;
                self.rows += 1;
                self.in_batch += 1;
                if self.in_batch >= self.batch_rows {
                    self.flush()?;
                }
            }
            pos = next;
        }
        Ok(pos)
    }

    fn flush(&mut self) -> Result<(), CopyError> {
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(|b| b.finish()).collect();
        let opts = RecordBatchOptions::new().with_row_count(Some(self.in_batch));
        let batch = RecordBatch::try_new_with_options(Arc::clone(&self.schema), arrays, &opts)
            .map_err(|e| internal_error(format!("building COPY batch: {e}")))?;
        self.in_batch = 0;
        self.out.push(batch);
        Ok(())
    }

    // -----------------------------------------------------------------------------------
    // Row scanning

    /// Text format: find field boundaries of the row starting at `pos`.
    #[inline]
    fn scan_text(
        &mut self,
        data: &[u8],
        pos: usize,
        eof: bool,
        cur: &mut StopCursor,
    ) -> Result<Scan, CopyError> {
        self.spans.clear();
        let n = data.len();
        let delim = self.opts.delimiter;
        let mut i = pos;
        let mut fstart = pos;
        let mut esc = 0u32;
        loop {
            i = cur.next(&self.stop, data, i);
            if i >= n {
                if eof {
                    self.spans.push(Span {
                        start: fstart,
                        end: n,
                        marks: esc,
                    });
                    return Ok(Scan::Row {
                        content_end: n,
                        next: n,
                        eol: Eol::Unknown,
                        embedded: 0,
                    });
                }
                return Ok(Scan::Incomplete);
            }
            let c = data[i];
            if c == b'\\' {
                esc = 1;
                if i + 1 >= n && !eof {
                    return Ok(Scan::Incomplete);
                }
                i = (i + 2).min(n);
                continue;
            }
            if c == delim {
                self.spans.push(Span {
                    start: fstart,
                    end: i,
                    marks: esc,
                });
                i += 1;
                fstart = i;
                esc = 0;
                continue;
            }
            if c == b'\n' {
                self.spans.push(Span {
                    start: fstart,
                    end: i,
                    marks: esc,
                });
                return Ok(Scan::Row {
                    content_end: i,
                    next: i + 1,
                    eol: Eol::Nl,
                    embedded: 0,
                });
            }
            // '\r'
            if i + 1 >= n {
                if eof {
                    self.spans.push(Span {
                        start: fstart,
                        end: i,
                        marks: esc,
                    });
                    return Ok(Scan::Row {
                        content_end: i,
                        next: n,
                        eol: Eol::CrNl,
                        embedded: 0,
                    });
                }
                return Ok(Scan::Incomplete);
            }
            if data[i + 1] == b'\n' {
                self.spans.push(Span {
                    start: fstart,
                    end: i,
                    marks: esc,
                });
                return Ok(Scan::Row {
                    content_end: i,
                    next: i + 2,
                    eol: Eol::CrNl,
                    embedded: 0,
                });
            }
            return Err(self.line_error(
                "22P04",
                "literal carriage return found in data".to_string(),
                &data[pos..i],
                1,
            ));
        }
    }

    /// CSV: find field boundaries of the row starting at `pos`, honouring quotes.
    #[inline]
    fn scan_csv(
        &mut self,
        data: &[u8],
        pos: usize,
        eof: bool,
        cur: &mut StopCursor,
        cur_q: &mut StopCursor,
    ) -> Result<Scan, CopyError> {
        self.spans.clear();
        let n = data.len();
        let delim = self.opts.delimiter;
        let quote = self.opts.quote;
        let escape = self.opts.escape;
        // PostgreSQL counts newlines inside quotes as lines, comparing with '\n' once the
        // line ending is known to be NL, and with '\r' otherwise.
        let count_char = if self.eol == Eol::Nl { b'\n' } else { b'\r' };
        let mut embedded = 0u64;
        let mut i = pos;
        let mut fstart = pos;
        let mut marks = 0u32;
        loop {
            i = cur.next(&self.stop, data, i);
            if i >= n {
                if eof {
                    self.spans.push(Span {
                        start: fstart,
                        end: n,
                        marks,
                    });
                    return Ok(Scan::Row {
                        content_end: n,
                        next: n,
                        eol: Eol::Unknown,
                        embedded,
                    });
                }
                return Ok(Scan::Incomplete);
            }
            let c = data[i];
            if c == quote {
                marks += 1;
                i += 1;
                // inside quotes
                loop {
                    i = cur_q.next(&self.stop_q, data, i);
                    if i >= n {
                        if eof {
                            return Err(self.line_error(
                                "22P04",
                                "unterminated CSV quoted field".to_string(),
                                &data[pos..n],
                                1 + embedded,
                            ));
                        }
                        return Ok(Scan::Incomplete);
                    }
                    let q = data[i];
                    if q == b'\n' || q == b'\r' {
                        if q == count_char {
                            embedded += 1;
                        }
                        i += 1;
                        continue;
                    }
                    if q == escape && escape != quote {
                        if i + 1 >= n && !eof {
                            return Ok(Scan::Incomplete);
                        }
                        if i + 1 < n && (data[i + 1] == quote || data[i + 1] == escape) {
                            marks += 1;
                            i += 2;
                        } else {
                            i += 1;
                        }
                        continue;
                    }
                    // q == quote
                    if i + 1 >= n && !eof {
                        return Ok(Scan::Incomplete); // could be a doubled quote
                    }
                    if escape == quote && i + 1 < n && data[i + 1] == quote {
                        marks += 1;
                        i += 2;
                        continue;
                    }
                    marks += 1;
                    i += 1;
                    break;
                }
                continue;
            }
            if c == delim {
                self.spans.push(Span {
                    start: fstart,
                    end: i,
                    marks,
                });
                i += 1;
                fstart = i;
                marks = 0;
                continue;
            }
            if c == b'\n' {
                self.spans.push(Span {
                    start: fstart,
                    end: i,
                    marks,
                });
                return Ok(Scan::Row {
                    content_end: i,
                    next: i + 1,
                    eol: Eol::Nl,
                    embedded,
                });
            }
            // '\r'
            if i + 1 >= n {
                if eof {
                    self.spans.push(Span {
                        start: fstart,
                        end: i,
                        marks,
                    });
                    return Ok(Scan::Row {
                        content_end: i,
                        next: n,
                        eol: Eol::CrNl,
                        embedded,
                    });
                }
                return Ok(Scan::Incomplete);
            }
            if data[i + 1] == b'\n' {
                self.spans.push(Span {
                    start: fstart,
                    end: i,
                    marks,
                });
                return Ok(Scan::Row {
                    content_end: i,
                    next: i + 2,
                    eol: Eol::CrNl,
                    embedded,
                });
            }
            return Err(self.line_error(
                "22P04",
                "unquoted carriage return found in data".to_string(),
                &data[pos..i],
                1 + embedded,
            ));
        }
    }

    // -----------------------------------------------------------------------------------
    // Row conversion

    /// Appends the fields of `row` (spans into `data`) to the builders. `checked` is the
    /// start of `data` known to be UTF-8 without NUL ([`checked_rows`]): a field inside it
    /// taken as it stands is appended without a check of its own.
    fn process_row(
        &mut self,
        data: &[u8],
        checked: &str,
        row: &[u8],
        csv: bool,
    ) -> Result<(), CopyError> {
        let ncols = self.builders.len();
        let nf = self.spans.len();
        if nf > ncols && !(ncols == 0 && nf == 1 && row.is_empty()) {
            return Err(self.line_error(
                "22P04",
                "extra data after last expected column".to_string(),
                row,
                0,
            ));
        }
        let mut null_violation: Option<usize> = None;
        for c in 0..ncols {
            if c >= nf {
                let msg = format!("missing data for column \"{}\"", self.builders[c].name());
                return Err(self.line_error("22P04", msg, row, 0));
            }
            let sp = self.spans[c];
            let raw = &data[sp.start..sp.end];
            let value: &[u8];
            // Where the field's value stands in `data`, when it was not unescaped.
            let mut in_place = None;
            if csv {
                if sp.marks == 0 {
                    if short_eq(raw, self.opts.null.as_bytes()) {
                        self.builders[c].append_null();
                        if !self.nullable[c] && null_violation.is_none() {
                            null_violation = Some(c);
                        }
                        continue;
                    }
                    value = raw;
                    in_place = Some(sp.start..sp.end);
                } else if sp.marks == 2
                    && raw.len() >= 2
                    && raw[0] == self.opts.quote
                    && raw[raw.len() - 1] == self.opts.quote
                {
                    value = &raw[1..raw.len() - 1];
                    in_place = Some(sp.start + 1..sp.end - 1);
                } else {
                    csv_unquote(raw, self.opts.quote, self.opts.escape, &mut self.scratch);
                    value = &self.scratch;
                }
            } else {
                if (sp.marks != 0 || !self.null_needs_escape)
                    && short_eq(raw, self.opts.null.as_bytes())
                {
                    self.builders[c].append_null();
                    if !self.nullable[c] && null_violation.is_none() {
                        null_violation = Some(c);
                    }
                    continue;
                }
                if sp.marks != 0 {
                    let bad = text_unescape(raw, &mut self.scratch);
                    if bad {
                        let e = crate::decode::invalid_utf8(&self.scratch);
                        return Err(self.line_error(e.sqlstate, e.message, row, 0));
                    }
                    value = &self.scratch;
                } else {
                    value = raw;
                    in_place = Some(sp.start..sp.end);
                }
            }
            let b = &mut self.builders[c];
            if let Some(range) = in_place
                && b.takes_plain_text()
                && let Some(s) = checked.get(range)
                && b.append_checked_text(s)
            {
                continue;
            }
            if let Err(e) = self.builders[c].append_text_bytes(value) {
                return Err(if e.sqlstate == "22021" {
                    self.line_error(e.sqlstate, e.message, row, 0)
                } else {
                    self.value_error(e, c, value)
                });
            }
        }
        if let Some(c) = null_violation {
            let name = self.builders[c].name().to_string();
            let msg = if self.table.is_empty() {
                format!("null value in column \"{name}\" violates not-null constraint")
            } else {
                format!(
                    "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                    name, self.table
                )
            };
            let mut e = self.line_error("23502", msg, row, 0);
            e.column = Some(name);
            return Err(e);
        }
        Ok(())
    }

    fn copy_prefix(&self) -> String {
        if self.table.is_empty() {
            "COPY".to_string()
        } else {
            format!("COPY {}", self.table)
        }
    }

    /// An error tied to a whole line. `line_delta` is added to the current line number
    /// (scan errors happen before the row's line is counted).
    fn line_error(
        &self,
        sqlstate: &'static str,
        message: String,
        row: &[u8],
        line_delta: u64,
    ) -> CopyError {
        let line = self.line + line_delta;
        CopyError {
            sqlstate,
            message,
            line,
            column: None,
            context: format!(
                "{}, line {}: \"{}\"",
                self.copy_prefix(),
                line,
                limit_printout(row)
            ),
        }
    }

    fn value_error(&self, e: DecodeError, col: usize, value: &[u8]) -> CopyError {
        let name = self.builders[col].name().to_string();
        CopyError {
            sqlstate: e.sqlstate,
            message: e.message,
            line: self.line,
            context: format!(
                "{}, line {}, column {}: \"{}\"",
                self.copy_prefix(),
                self.line,
                name,
                limit_printout(value)
            ),
            column: Some(name),
        }
    }
}

/// Byte-slice equality without a `bcmp` call (the NULL marker is short).
#[inline(always)]
fn short_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

fn internal_error(message: String) -> CopyError {
    CopyError {
        sqlstate: "XX000",
        message,
        line: 0,
        column: None,
        context: String::new(),
    }
}

/// The batches parsed so far as one batch (None if there are none), leaving `out` empty.
pub(crate) fn take_output(
    out: &mut Vec<RecordBatch>,
    schema: &SchemaRef,
) -> Result<Option<RecordBatch>, CopyError> {
    let mut out = std::mem::take(out);
    Ok(match out.len() {
        0 => None,
        1 => out.pop(),
        _ => Some(
            arrow::compute::concat_batches(schema, &out)
                .map_err(|e| internal_error(format!("concatenating COPY batches: {e}")))?,
        ),
    })
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// De-escape a text-format field into `out`. Returns true if the result contains a byte
/// PostgreSQL's encoding check rejects (NUL, or invalid UTF-8 produced by escapes).
fn text_unescape(raw: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let n = raw.len();
    let mut i = 0;
    let mut suspicious = false;
    while i < n {
        let c = raw[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        if i >= n {
            break;
        }
        let e = raw[i];
        i += 1;
        match e {
            b'0'..=b'7' => {
                let mut v = (e - b'0') as u32;
                for _ in 0..2 {
                    if i < n && (b'0'..=b'7').contains(&raw[i]) {
                        v = v * 8 + (raw[i] - b'0') as u32;
                        i += 1;
                    } else {
                        break;
                    }
                }
                let b = (v & 0xff) as u8;
                suspicious |= b == 0 || b >= 0x80;
                out.push(b);
            }
            b'x' => match raw.get(i).and_then(|&c| hex_digit(c)) {
                Some(h) => {
                    i += 1;
                    let mut v = h;
                    if let Some(h2) = raw.get(i).and_then(|&c| hex_digit(c)) {
                        v = v * 16 + h2;
                        i += 1;
                    }
                    suspicious |= v == 0 || v >= 0x80;
                    out.push(v);
                }
                None => out.push(b'x'),
            },
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            other => out.push(other),
        }
    }
    suspicious && (out.contains(&0) || std::str::from_utf8(out).is_err())
}

/// Remove CSV quoting from a field with inner quotes/escapes into `out`.
fn csv_unquote(raw: &[u8], quote: u8, escape: u8, out: &mut Vec<u8>) {
    out.clear();
    let n = raw.len();
    let mut i = 0;
    let mut in_q = false;
    while i < n {
        let c = raw[i];
        if !in_q {
            if c == quote {
                in_q = true;
            } else {
                out.push(c);
            }
            i += 1;
        } else if c == escape
            && i + 1 < n
            && (raw[i + 1] == quote || (escape != quote && raw[i + 1] == escape))
        {
            out.push(raw[i + 1]);
            i += 2;
        } else if c == quote {
            in_q = false;
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
}

/// The complete lines at the start of `data` (up to its last line end) as text, if they are
/// UTF-8 without NUL, or `""`. Checking a buffer's rows at once costs far less than
/// checking each text field (one call per field was ~5 % of a COPY's server CPU); the
/// field delimiters, quotes and line ends are ASCII, so a field of checked rows is a
/// valid `str` slice of them, taken with `str::get`. Fields after the last newline (a
/// final row without a line end) and fields whose escapes were resolved are checked one
/// by one.
fn checked_rows(data: &[u8]) -> &str {
    let end = data
        .iter()
        .rposition(|&b| b == b'\n' || b == b'\r')
        .map_or(0, |i| i + 1);
    let rows = &data[..end];
    if rows.contains(&0) {
        return "";
    }
    std::str::from_utf8(rows).unwrap_or("")
}

#[cfg(test)]
mod tests;
