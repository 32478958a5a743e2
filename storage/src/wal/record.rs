//! Logical WAL records and their payload encoding.
//!
//! Payload layout (the frame around it is described in [`crate::wal`]):
//!
//! ```text
//! u8      record kind tag   (1 = Insert, 2 = InsertMany, 3 = Upsert; others are reserved)
//! Insert:
//!   u64 LE  table id
//!   ...     body: an Arrow IPC stream (schema + exactly one batch)
//! InsertMany (a raw batch and the derived rows of its continuous aggregates, atomically):
//!   u32 LE  entry count, then per entry:
//!   u64 LE  table id, u32 LE body length, body as in Insert
//! Upsert (rows of a table with a primary key that replace stored rows with the same key):
//!   u64 LE  table id
//!   u16 LE  number of key columns, then per key column: u16 LE length, UTF-8 name
//!   ...     body as in Insert
//! ```
//!
//! A body is written as an Arrow IPC stream whose buffers are compressed with LZ4 (the IPC
//! format's own `LZ4_FRAME` buffer compression); it starts with the IPC continuation
//! marker `0xFFFFFFFF`. Segments written before that change hold bodies that are the whole
//! IPC stream compressed as one LZ4 block (`lz4_flex::compress_prepend_size`: u32 LE
//! uncompressed size, then the block); such a size is never `0xFFFFFFFF` (the stream would
//! be 4 GiB), so the first four bytes tell the two apart and both are read.
//!
//! Why per buffer: compressing the whole stream needed the uncompressed stream in memory
//! first (a copy of every row into fresh pages), then the compressed copy, then a third
//! copy behind the record's prefix. The IPC writer compresses each column's buffer
//! straight from the batch into the record, which is written once (docs/performance.md,
//! "Session 22").
//!
//! The IPC stream carries the full schema, so field and schema metadata survive the round trip.

use std::io::Cursor;
use std::path::PathBuf;

use arrow::ipc::CompressionType;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;

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

/// The first bytes of an Arrow IPC stream message (the continuation marker), which start
/// every body written since buffers are compressed inside the stream.
const IPC_CONTINUATION: [u8; 4] = [0xFF; 4];

/// Appends `batch` to `out` as a body: an Arrow IPC stream with LZ4-compressed buffers.
fn encode_batch_into(out: &mut Vec<u8>, batch: &RecordBatch) -> Result<()> {
    let options =
        IpcWriteOptions::default().try_with_compression(Some(CompressionType::LZ4_FRAME))?;
    let mut writer = StreamWriter::try_new_with_options(&mut *out, batch.schema_ref(), options)?;
    writer.write(batch)?;
    writer.finish()?;
    Ok(())
}

/// A record buffer with room for `prefix` bytes and the bodies of `batches`. Reserving
/// their uncompressed size up front means the buffer never grows (and is never copied)
/// while the bodies are written; the pages beyond what the compressed bodies use are never
/// touched.
fn record_buffer<'a>(prefix: usize, batches: impl Iterator<Item = &'a RecordBatch>) -> Vec<u8> {
    let bodies: usize = batches.map(|b| b.get_array_memory_size() + 1024).sum();
    Vec::with_capacity(prefix + bodies)
}

impl WalRecord {
    /// Encodes the record as a WAL payload.
    pub fn encode(&self) -> Result<Bytes> {
        match self {
            WalRecord::InsertMany { entries } => {
                let mut out =
                    record_buffer(1 + 4 + entries.len() * 12, entries.iter().map(|(_, b)| b));
                out.push(TAG_INSERT_MANY);
                out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
                for (table, batch) in entries {
                    out.extend_from_slice(&table.as_u64().to_le_bytes());
                    let at = out.len();
                    out.extend_from_slice(&[0; 4]);
                    encode_batch_into(&mut out, batch)?;
                    let len = u32::try_from(out.len() - at - 4).map_err(|_| {
                        Error::InvalidInput("a batch of over 4 GiB in one WAL record".into())
                    })?;
                    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
                }
                Ok(Bytes::from(out))
            }
            WalRecord::Upsert {
                table,
                key_columns,
                batch,
            } => {
                let names: usize = key_columns.iter().map(|k| k.len() + 2).sum();
                let mut out = record_buffer(PREFIX_LEN + 2 + names, std::iter::once(batch));
                out.push(TAG_UPSERT);
                out.extend_from_slice(&table.as_u64().to_le_bytes());
                let n = u16::try_from(key_columns.len())
                    .map_err(|_| Error::InvalidInput("too many key columns".into()))?;
                out.extend_from_slice(&n.to_le_bytes());
                for k in key_columns {
                    let l = u16::try_from(k.len())
                        .map_err(|_| Error::InvalidInput("key column name too long".into()))?;
                    out.extend_from_slice(&l.to_le_bytes());
                    out.extend_from_slice(k.as_bytes());
                }
                encode_batch_into(&mut out, batch)?;
                Ok(Bytes::from(out))
            }
            WalRecord::Insert { table, batch } => {
                let mut out = record_buffer(PREFIX_LEN, std::iter::once(batch));
                out.push(TAG_INSERT);
                out.extend_from_slice(&table.as_u64().to_le_bytes());
                encode_batch_into(&mut out, batch)?;
                Ok(Bytes::from(out))
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
    if body.starts_with(&IPC_CONTINUATION) {
        return read_one_batch(body);
    }
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
    read_one_batch(&ipc)
}

/// The one batch of an Arrow IPC stream (buffers compressed or not).
fn read_one_batch(ipc: &[u8]) -> Result<RecordBatch> {
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
