//! SQL cursors: `DECLARE name [BINARY] [NO SCROLL] CURSOR [WITH[OUT] HOLD] FOR query`,
//! `FETCH [FORWARD] [n | ALL | NEXT] FROM name`, `CLOSE name | ALL` (psycopg2's and
//! psycopg's named cursors, SQLAlchemy's `stream_results`).
//!
//! A cursor holds the query's record batch stream and reads it as rows are fetched; only
//! forward movement is supported (backward or absolute moves: 0A000, as for `NO SCROLL`
//! cursors in PostgreSQL). A cursor without `WITH HOLD` ends with its transaction block; a
//! `WITH HOLD` cursor survives COMMIT (it keeps streaming from the same snapshot-less
//! plan, so it may see rows committed later) and is closed by ROLLBACK of its block only
//! if declared in it (here: kept, simpler and harmless).

use std::collections::HashMap;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use sqlparser::ast;

use crate::error::{Error, Result, SqlState};

/// An open cursor. (The stream sits in a mutex only so that the session stays `Sync`; it
/// is taken out while rows are read.)
pub struct Cursor {
    schema: SchemaRef,
    stream: parking_lot::Mutex<Option<SendableRecordBatchStream>>,
    /// Rows read from the stream but not fetched yet.
    pending: Option<RecordBatch>,
    hold: bool,
}

impl Cursor {
    pub fn new(schema: SchemaRef, stream: SendableRecordBatchStream, hold: bool) -> Self {
        Cursor {
            schema,
            stream: parking_lot::Mutex::new(Some(stream)),
            pending: None,
            hold,
        }
    }

    /// The next `n` rows (`None`: all remaining).
    pub async fn fetch(&mut self, n: Option<usize>) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let mut want = n.unwrap_or(usize::MAX);
        let mut out = vec![];
        let mut stream = self.stream.lock().take();
        while want > 0 {
            let b = match self.pending.take() {
                Some(b) => b,
                None => match stream.as_mut() {
                    Some(s) => match s.next().await {
                        Some(b) => b?,
                        None => {
                            stream = None;
                            break;
                        }
                    },
                    None => break,
                },
            };
            if b.num_rows() <= want {
                want -= b.num_rows();
                out.push(b);
            } else {
                out.push(b.slice(0, want));
                self.pending = Some(b.slice(want, b.num_rows() - want));
                want = 0;
            }
        }
        *self.stream.lock() = stream;
        Ok((self.schema.clone(), out))
    }
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor").field("hold", &self.hold).finish()
    }
}

/// Closes the cursors a transaction's end closes: all but `WITH HOLD` ones after COMMIT,
/// all after ROLLBACK (a failed block's COMMIT is a ROLLBACK).
pub fn end_of_transaction(cursors: &mut HashMap<String, Cursor>, committed: bool) {
    cursors.retain(|_, c| committed && c.hold);
}

/// A cursor name as PostgreSQL folds it (unquoted: lower case).
pub fn ident_key(i: &ast::Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

/// The name of a `DECLARE ... CURSOR` (one name; options PostgreSQL does not have are
/// refused).
pub fn declared_name(d: &ast::Declare) -> Result<String> {
    if d.scroll == Some(true) {
        return Err(Error::unsupported("SCROLL cursors"));
    }
    match d.names.as_slice() {
        [n] => Ok(ident_key(n)),
        _ => Err(Error::unsupported("DECLARE of several cursors")),
    }
}

fn count_of(v: &ast::ValueWithSpan) -> Result<i64> {
    match &v.value {
        ast::Value::Number(n, _) => n
            .parse::<i64>()
            .map_err(|_| Error::user(SqlState::SyntaxError, format!("invalid FETCH count {n}"))),
        other => Err(Error::user(
            SqlState::SyntaxError,
            format!("invalid FETCH count {other}"),
        )),
    }
}

/// How many rows a FETCH direction moves forward (`None`: all).
pub fn fetch_count(d: &ast::FetchDirection) -> Result<Option<usize>> {
    use ast::FetchDirection as D;
    let forward = |k: i64| -> Result<Option<usize>> {
        if k < 0 {
            Err(Error::unsupported("FETCH backward"))
        } else {
            Ok(Some(k as usize))
        }
    };
    match d {
        D::Count { limit } => forward(count_of(limit)?),
        D::Next => Ok(Some(1)),
        D::All | D::ForwardAll => Ok(None),
        D::Forward { limit: None } => Ok(Some(1)),
        D::Forward { limit: Some(l) } => forward(count_of(l)?),
        other => Err(Error::unsupported(format!("FETCH {other}"))),
    }
}
