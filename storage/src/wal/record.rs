//! Logical WAL records and their payload encoding.
//!
//! Payload layout (the frame around it is described in [`crate::wal`]):
//!
//! ```text
//! u8      record kind tag   (1 = Insert, 2 = InsertMany, 3 = Upsert; others are reserved)
//! Insert:
//!   u64 LE  table id
//!   ...     Arrow IPC stream (schema + exactly one batch), compressed with
//!           lz4_flex::compress_prepend_size (u32 LE uncompressed size, then an LZ4 block)
//! InsertMany (a raw batch and the derived rows of its continuous aggregates, atomically):
//!   u32 LE  entry count, then per entry:
//!   u64 LE  table id, u32 LE body length, body as in Insert
//! Upsert (rows of a table with a primary key that replace stored rows with the same key):
//!   u64 LE  table id
//!   u16 LE  number of key columns, then per key column: u16 LE length, UTF-8 name
//!   ...     body as in Insert
//! ```
//!
//! The IPC stream carries the full schema, so field and schema metadata survive the round trip.

use std::io::Cursor;
use std::path::PathBuf;

use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};
use crate::ids::TableId;

/// Tag of [`WalRecord::Insert`].
const TAG_INSERT: u8 = 1;
/// Tag of [`WalRecord::InsertMany`].
const TAG_INSERT_MANY: u8 = 2;
/// Tag of [`WalRecord::Upsert`].
const TAG_UPSERT: u8 = 3;
/// Tag byte + table id.
const PREFIX_LEN: usize = 1 + 8;
/// LZ4 cannot expand data by more than ~255x; a larger claimed size means a corrupt payload.
const MAX_LZ4_RATIO: usize = 256;

/// One logical change recorded in the WAL.
#[derive(Debug, Clone, PartialEq)]
pub enum WalRecord {
    /// Rows appended to a table.
    Insert {
        /// The table the rows belong to.
        table: TableId,
        /// The rows, in the table's Arrow schema.
        batch: RecordBatch,
    },
    /// Rows appended to several tables at once; replay applies all or none.
    InsertMany {
        entries: Vec<(TableId, RecordBatch)>,
    },
    /// Rows of a table with a primary key: replay first removes the rows of the memtable
    /// whose `key_columns` equal those of a row of `batch`, then appends `batch`.
    Upsert {
        table: TableId,
        key_columns: Vec<String>,
        batch: RecordBatch,
    },
}

fn encode_batch(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut writer = StreamWriter::try_new(Vec::new(), batch.schema_ref())?;
    writer.write(batch)?;
    writer.finish()?;
    let ipc = writer.into_inner()?;
    Ok(lz4_flex::compress_prepend_size(&ipc))
}

impl WalRecord {
    /// Encodes the record as a WAL payload.
    pub fn encode(&self) -> Result<Bytes> {
        match self {
            WalRecord::InsertMany { entries } => {
                let bodies = entries
                    .iter()
                    .map(|(_, b)| encode_batch(b))
                    .collect::<Result<Vec<_>>>()?;
                let len: usize = bodies.iter().map(|b| b.len() + 12).sum();
                let mut out = BytesMut::with_capacity(1 + 4 + len);
                out.put_u8(TAG_INSERT_MANY);
                out.put_u32_le(entries.len() as u32);
                for ((table, _), body) in entries.iter().zip(bodies) {
                    out.put_u64_le(table.as_u64());
                    out.put_u32_le(body.len() as u32);
                    out.put_slice(&body);
                }
                Ok(out.freeze())
            }
            WalRecord::Upsert {
                table,
                key_columns,
                batch,
            } => {
                let compressed = encode_batch(batch)?;
                let names: usize = key_columns.iter().map(|k| k.len() + 2).sum();
                let mut out = BytesMut::with_capacity(PREFIX_LEN + 2 + names + compressed.len());
                out.put_u8(TAG_UPSERT);
                out.put_u64_le(table.as_u64());
                let n = u16::try_from(key_columns.len())
                    .map_err(|_| Error::InvalidInput("too many key columns".into()))?;
                out.put_u16_le(n);
                for k in key_columns {
                    let l = u16::try_from(k.len())
                        .map_err(|_| Error::InvalidInput("key column name too long".into()))?;
                    out.put_u16_le(l);
                    out.put_slice(k.as_bytes());
                }
                out.put_slice(&compressed);
                Ok(out.freeze())
            }
            WalRecord::Insert { table, batch } => {
                let compressed = encode_batch(batch)?;
                let mut out = BytesMut::with_capacity(PREFIX_LEN + compressed.len());
                out.put_u8(TAG_INSERT);
                out.put_u64_le(table.as_u64());
                out.put_slice(&compressed);
                Ok(out.freeze())
            }
        }
    }

    /// Decodes a payload produced by [`WalRecord::encode`]. Malformed input is
    /// [`Error::Corrupt`], never a panic.
    pub fn decode(payload: &[u8]) -> Result<WalRecord> {
        let Some((&tag, rest)) = payload.split_first() else {
            return Err(corrupt("empty payload".to_string()));
        };
        match tag {
            TAG_INSERT => {
                let (table_bytes, body) = rest.split_first_chunk::<8>().ok_or_else(|| {
                    corrupt("insert record is shorter than its table id".to_string())
                })?;
                let table = TableId::new(u64::from_le_bytes(*table_bytes));
                let batch = decode_batch(body)?;
                Ok(WalRecord::Insert { table, batch })
            }
            TAG_INSERT_MANY => {
                let (n, mut body) = rest.split_first_chunk::<4>().ok_or_else(|| {
                    corrupt("multi-insert record is shorter than its count".to_string())
                })?;
                let n = u32::from_le_bytes(*n) as usize;
                let mut entries = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let (t, r) = body.split_first_chunk::<8>().ok_or_else(|| {
                        corrupt("multi-insert entry is shorter than its table id".to_string())
                    })?;
                    let (l, r) = r.split_first_chunk::<4>().ok_or_else(|| {
                        corrupt("multi-insert entry is shorter than its length".to_string())
                    })?;
                    let l = u32::from_le_bytes(*l) as usize;
                    if r.len() < l {
                        return Err(corrupt("multi-insert entry is truncated".to_string()));
                    }
                    let (b, r) = r.split_at(l);
                    entries.push((TableId::new(u64::from_le_bytes(*t)), decode_batch(b)?));
                    body = r;
                }
                if !body.is_empty() {
                    return Err(corrupt(
                        "multi-insert record has trailing bytes".to_string(),
                    ));
                }
                Ok(WalRecord::InsertMany { entries })
            }
            TAG_UPSERT => {
                let (table_bytes, r) = rest.split_first_chunk::<8>().ok_or_else(|| {
                    corrupt("upsert record is shorter than its table id".to_string())
                })?;
                let table = TableId::new(u64::from_le_bytes(*table_bytes));
                let (n, mut r) = r.split_first_chunk::<2>().ok_or_else(|| {
                    corrupt("upsert record is shorter than its key column count".to_string())
                })?;
                let n = u16::from_le_bytes(*n) as usize;
                let mut key_columns = Vec::with_capacity(n);
                for _ in 0..n {
                    let (l, rr) = r
                        .split_first_chunk::<2>()
                        .ok_or_else(|| corrupt("upsert key column is truncated".to_string()))?;
                    let l = u16::from_le_bytes(*l) as usize;
                    if rr.len() < l {
                        return Err(corrupt("upsert key column is truncated".to_string()));
                    }
                    let (name, rr) = rr.split_at(l);
                    key_columns.push(
                        String::from_utf8(name.to_vec())
                            .map_err(|_| corrupt("upsert key column is not UTF-8".to_string()))?,
                    );
                    r = rr;
                }
                let batch = decode_batch(r)?;
                Ok(WalRecord::Upsert {
                    table,
                    key_columns,
                    batch,
                })
            }
            other => Err(corrupt(format!("unknown record kind tag {other}"))),
        }
    }
}

fn decode_batch(body: &[u8]) -> Result<RecordBatch> {
    let (size, block) = lz4_flex::block::uncompressed_size(body)
        .map_err(|e| corrupt(format!("bad LZ4 size prefix: {e}")))?;
    if size > block.len().saturating_mul(MAX_LZ4_RATIO).saturating_add(64) {
        return Err(corrupt(format!(
            "LZ4 block of {} bytes claims an implausible uncompressed size of {size} bytes",
            block.len()
        )));
    }
    let ipc = lz4_flex::decompress_size_prepended(body)
        .map_err(|e| corrupt(format!("LZ4 decompression failed: {e}")))?;
    let mut reader = StreamReader::try_new(Cursor::new(ipc), None)
        .map_err(|e| corrupt(format!("bad Arrow IPC stream: {e}")))?;
    let batch = match reader.next() {
        Some(batch) => batch.map_err(|e| corrupt(format!("bad Arrow IPC batch: {e}")))?,
        None => return Err(corrupt("Arrow IPC stream has no batch".to_string())),
    };
    match reader.next() {
        None => Ok(batch),
        Some(_) => Err(corrupt(
            "Arrow IPC stream has more than one batch".to_string(),
        )),
    }
}

fn corrupt(detail: String) -> Error {
    Error::Corrupt {
        what: "WAL record",
        path: PathBuf::from("<wal payload>"),
        detail,
    }
}
