//! `COPY ... FROM STDIN (FORMAT BINARY)` payload parsing into Arrow `RecordBatch`es.
//!
//! PostgreSQL's binary COPY format: the 11-byte signature `PGCOPY\n\377\r\n\0`, a 32-bit
//! flags field (bit 16: OIDs included, refused; other bits 16-31 are critical and refused
//! when set), a 32-bit header-extension length and that many bytes (skipped); then one
//! tuple per row: a 16-bit field count, and per field a 32-bit length (-1 = NULL) followed
//! by the value in the column type's binary (`*recv`) format; a field count of -1 is the
//! trailer. End of data at a tuple boundary without the trailer is accepted, as in
//! PostgreSQL. Values are decoded with [`crate::decode::parse_binary_value_for_field`]
//! rules for the column's own type (the data carries no type oids).
//!
//! Errors follow PostgreSQL 15: 22P04 `COPY file signature not recognized`, `invalid COPY
//! file header (...)`, `row field count is N, expected M`, `unexpected EOF in COPY data`,
//! `received copy data after EOF marker`; 22P03 `incorrect binary data format` for a value
//! of the wrong length; 23502 for NULL in a NOT NULL column. The CONTEXT is
//! `COPY t, line N, column c` (line = tuple number, 1-based).

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{Field, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use super::{CopyError, internal_error};
use crate::decode::{ColumnBuilder, parse_binary_value_for_field};
use crate::tz::TimeZoneSetting;

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// Incremental binary COPY FROM parser.
#[derive(Debug)]
pub struct BinaryCopyParser {
    schema: SchemaRef,
    fields: Vec<Field>,
    builders: Vec<ColumnBuilder>,
    tz: TimeZoneSetting,
    table: String,
    batch_rows: usize,
    buf: Vec<u8>,
    header_done: bool,
    trailer_seen: bool,
    failed: bool,
    /// Tuples read (PostgreSQL's line number in binary mode).
    line: u64,
    in_batch: usize,
    out: Vec<RecordBatch>,
}

fn be_i16(b: &[u8]) -> i16 {
    i16::from_be_bytes([b[0], b[1]])
}

fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl BinaryCopyParser {
    /// A parser for tuples whose fields are the columns of `schema`, in COPY order.
    pub fn new(schema: SchemaRef, batch_rows: usize, session_tz: TimeZoneSetting) -> Self {
        let batch_rows = batch_rows.max(1);
        let fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        let builders = fields
            .iter()
            .map(|f| ColumnBuilder::new(f, batch_rows, session_tz))
            .collect();
        BinaryCopyParser {
            schema,
            fields,
            builders,
            tz: session_tz,
            table: String::new(),
            batch_rows,
            buf: Vec::new(),
            header_done: false,
            trailer_seen: false,
            failed: false,
            line: 0,
            in_batch: 0,
            out: Vec::new(),
        }
    }

    /// Set the table name used in CONTEXT lines.
    pub fn with_table_name(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// Rows parsed so far.
    pub fn rows(&self) -> u64 {
        self.line
    }

    /// Feed one `CopyData` payload; returns the batches completed so far.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<RecordBatch>, CopyError> {
        if self.failed {
            return Err(internal_error("COPY parser used after an error".into()));
        }
        self.buf.extend_from_slice(chunk);
        let r = self.parse(false);
        if r.is_err() {
            self.failed = true;
        }
        r.map(|_| std::mem::take(&mut self.out))
    }

    /// End of input (`CopyDone`): returns the remaining rows.
    pub fn finish(&mut self) -> Result<Option<RecordBatch>, CopyError> {
        if self.failed {
            return Err(internal_error("COPY parser used after an error".into()));
        }
        let r = self.parse(true).and_then(|_| {
            if self.in_batch > 0 {
                self.flush()?;
            }
            super::take_output(&mut self.out, &self.schema)
        });
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    fn prefix(&self) -> String {
        if self.table.is_empty() {
            "COPY".to_string()
        } else {
            format!("COPY {}", self.table)
        }
    }

    fn error(&self, sqlstate: &'static str, message: impl Into<String>) -> CopyError {
        let context = if self.header_done {
            format!("{}, line {}", self.prefix(), self.line.max(1))
        } else {
            format!("{}, line 0", self.prefix())
        };
        CopyError {
            sqlstate,
            message: message.into(),
            line: self.line,
            column: None,
            context,
        }
    }

    fn column_error(&self, sqlstate: &'static str, message: String, col: usize) -> CopyError {
        let name = self.fields[col].name().clone();
        CopyError {
            sqlstate,
            message,
            line: self.line,
            context: format!("{}, line {}, column {}", self.prefix(), self.line, name),
            column: Some(name),
        }
    }

    /// Parses the header and every complete tuple in the buffer.
    fn parse(&mut self, eof: bool) -> Result<(), CopyError> {
        let mut pos = 0;
        let buf = std::mem::take(&mut self.buf);
        let r = self.parse_from(&buf, &mut pos, eof);
        self.buf = buf;
        self.buf.drain(..pos);
        r
    }

    fn parse_from(&mut self, buf: &[u8], pos: &mut usize, eof: bool) -> Result<(), CopyError> {
        if !self.header_done {
            if buf.len() < SIGNATURE.len() + 8 {
                if eof || (!buf.is_empty() && !SIGNATURE.starts_with(&buf[..buf.len().min(11)])) {
                    return Err(self.error("22P04", "COPY file signature not recognized"));
                }
                return Ok(());
            }
            if &buf[..11] != SIGNATURE {
                return Err(self.error("22P04", "COPY file signature not recognized"));
            }
            let flags = be_i32(&buf[11..15]);
            if flags & (1 << 16) != 0 {
                return Err(self.error("22P04", "invalid COPY file header (WITH OIDS)"));
            }
            if flags & !0xFFFF & !(1 << 16) != 0 {
                return Err(self.error("22P04", "unrecognized critical flags in COPY file header"));
            }
            let ext = be_i32(&buf[15..19]);
            if ext < 0 {
                return Err(self.error("22P04", "invalid COPY file header (missing length)"));
            }
            let end = 19 + ext as usize;
            if buf.len() < end {
                if eof {
                    return Err(self.error("22P04", "invalid COPY file header (wrong length)"));
                }
                return Ok(());
            }
            *pos = end;
            self.header_done = true;
        }
        let n = self.fields.len();
        loop {
            let rest = &buf[*pos..];
            if rest.is_empty() {
                return Ok(());
            }
            if self.trailer_seen {
                return Err(self.error("22P04", "received copy data after EOF marker"));
            }
            if rest.len() < 2 {
                return self.incomplete(eof);
            }
            let count = be_i16(rest);
            if count == -1 {
                self.trailer_seen = true;
                *pos += 2;
                continue;
            }
            // Is the whole tuple here?
            let mut p = 2;
            let mut complete = true;
            for _ in 0..count.max(0) {
                if rest.len() < p + 4 {
                    complete = false;
                    break;
                }
                let len = be_i32(&rest[p..]);
                p += 4;
                if len > 0 {
                    p += len as usize;
                }
                if len < -1 {
                    self.line += 1;
                    return Err(self.error("22P03", "invalid field size"));
                }
            }
            if !complete || rest.len() < p {
                // The field count is checked first, as PostgreSQL does.
                if count as usize != n {
                    self.line += 1;
                    return Err(
                        self.error("22P04", format!("row field count is {count}, expected {n}"))
                    );
                }
                return self.incomplete(eof);
            }
            self.line += 1;
            if count < 0 || count as usize != n {
                return Err(
                    self.error("22P04", format!("row field count is {count}, expected {n}"))
                );
            }
            let mut p = 2;
            for c in 0..n {
                let len = be_i32(&rest[p..]);
                p += 4;
                if len == -1 {
                    if !self.fields[c].is_nullable() {
                        let name = self.fields[c].name();
                        let msg = if self.table.is_empty() {
                            format!("null value in column \"{name}\" violates not-null constraint")
                        } else {
                            format!(
                                "null value in column \"{name}\" of relation \"{}\" violates not-null constraint",
                                self.table
                            )
                        };
                        return Err(self.column_error("23502", msg, c));
                    }
                    self.builders[c].append_null();
                    continue;
                }
                let v = &rest[p..p + len as usize];
                p += len as usize;
                let decoded = parse_binary_value_for_field(v, 0, &self.fields[c], self.tz)
                    .and_then(|s| self.builders[c].append_scalar_owned(s));
                if let Err(e) = decoded {
                    return Err(self.column_error(e.sqlstate, e.message, c));
                }
            }
            *pos += p;
            self.in_batch += 1;
            if self.in_batch >= self.batch_rows {
                self.flush()?;
            }
        }
    }

    fn incomplete(&self, eof: bool) -> Result<(), CopyError> {
        if eof {
            Err(self.error("22P04", "unexpected EOF in COPY data"))
        } else {
            Ok(())
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Schema};

    fn parser() -> BinaryCopyParser {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]));
        BinaryCopyParser::new(schema, 10, TimeZoneSetting::UTC).with_table_name("t")
    }

    fn header() -> Vec<u8> {
        let mut v = SIGNATURE.to_vec();
        v.extend_from_slice(&0i32.to_be_bytes());
        v.extend_from_slice(&0i32.to_be_bytes());
        v
    }

    fn tuple(n: i64, s: Option<&str>) -> Vec<u8> {
        let mut v = 2i16.to_be_bytes().to_vec();
        v.extend_from_slice(&8i32.to_be_bytes());
        v.extend_from_slice(&n.to_be_bytes());
        match s {
            Some(s) => {
                v.extend_from_slice(&(s.len() as i32).to_be_bytes());
                v.extend_from_slice(s.as_bytes());
            }
            None => v.extend_from_slice(&(-1i32).to_be_bytes()),
        }
        v
    }

    #[test]
    fn rows_split_at_any_byte() {
        let mut data = header();
        data.extend(tuple(1, Some("a")));
        data.extend(tuple(-7, None));
        data.extend_from_slice(&(-1i16).to_be_bytes());
        for split in 0..data.len() {
            let mut p = parser();
            let mut got = p
                .feed(&data[..split])
                .map_err(|e| e.to_string())
                .unwrap_or_default();
            got.extend(
                p.feed(&data[split..])
                    .map_err(|e| e.to_string())
                    .unwrap_or_default(),
            );
            if let Ok(Some(b)) = p.finish() {
                got.push(b);
            }
            assert_eq!(got.len(), 1, "split {split}");
            let b = &got[0];
            assert_eq!(b.num_rows(), 2);
            let n = b
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .map(|a| a.values().to_vec());
            assert_eq!(n, Some(vec![1, -7]));
            let s = b
                .column(1)
                .as_any()
                .downcast_ref::<StringArray>()
                .map(|a| a.is_null(1));
            assert_eq!(s, Some(true));
        }
    }

    #[test]
    fn errors_are_postgres_errors() {
        let mut p = parser();
        let e = p.feed(b"PGCOPX\n\xff\r\n\0\0\0\0\0\0\0\0\0").err();
        assert_eq!(
            e.map(|e| (e.sqlstate, e.message)),
            Some(("22P04", "COPY file signature not recognized".into()))
        );

        let mut p = parser();
        let mut data = header();
        data.extend_from_slice(&1i16.to_be_bytes());
        data.extend_from_slice(&(-1i32).to_be_bytes());
        let e = p.feed(&data).err();
        assert_eq!(
            e.map(|e| e.message),
            Some("row field count is 1, expected 2".into())
        );

        let mut p = parser();
        let mut data = header();
        data.extend(tuple(1, Some("a")));
        data.truncate(data.len() - 1);
        assert!(p.feed(&data).is_ok());
        let e = p.finish().err();
        assert_eq!(
            e.map(|e| e.message),
            Some("unexpected EOF in COPY data".into())
        );

        let mut p = parser();
        let mut data = header();
        data.extend_from_slice(&2i16.to_be_bytes());
        data.extend_from_slice(&(-1i32).to_be_bytes());
        data.extend_from_slice(&(-1i32).to_be_bytes());
        let e = p.feed(&data).err();
        assert_eq!(
            e.map(|e| (e.sqlstate, e.message, e.context)),
            Some((
                "23502",
                "null value in column \"n\" of relation \"t\" violates not-null constraint".into(),
                "COPY t, line 1, column n".into()
            ))
        );

        let mut p = parser();
        let mut data = header();
        data.extend_from_slice(&2i16.to_be_bytes());
        data.extend_from_slice(&4i32.to_be_bytes());
        data.extend_from_slice(&7i32.to_be_bytes());
        data.extend_from_slice(&(-1i32).to_be_bytes());
        let e = p.feed(&data).err();
        assert_eq!(e.map(|e| e.sqlstate), Some("22P03"));
    }
}
