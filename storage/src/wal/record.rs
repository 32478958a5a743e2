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
//! A body is one of three forms, told apart by its first eight bytes:
//!
//! ```text
//! split body (since session 24):
//!   8 bytes  0xFF x 8
//!   u32 LE   column count n, then n bytes: 1 = the column is in part A, 0 = in part B
//!   u32 LE   length of part A, then part A: an Arrow IPC stream, buffers LZ4-compressed
//!   ...      part B to the end of the body: an Arrow IPC stream, buffers stored plain
//! one stream (since session 22): an Arrow IPC stream, its buffers LZ4-compressed or plain
//!   (the stream's own header says which); it starts with the continuation marker 0xFFFFFFFF
//!   followed by a positive metadata length, so never with eight 0xFF bytes
//! whole-stream LZ4 (older segments): u32 LE uncompressed size, then the whole IPC stream
//!   as one LZ4 block (`lz4_flex::compress_prepend_size`); such a size is never 0xFFFFFFFF
//!   (the stream would be 4 GiB)
//! ```
//!
//! All three are read; new records are written as a split body when some columns are worth
//! compressing and others are not, and as one stream otherwise.
//!
//! Which columns are compressed: LZ4 is cheap where it finds long matches (timestamps, tag
//! strings: a 64 k-row column shrinks 4-10x in well under a millisecond) and expensive
//! where it finds many short ones. Float metrics rounded to a few decimals shrink only to
//! about 0.6 of their size at roughly 5 ns of CPU per byte saved, and LZ4's frame
//! encoder spends a millisecond per 64 k values even on floats it cannot shrink at all;
//! that was 17-20 % of a COPY's server CPU (docs/performance.md, "Session 23"). Writing a
//! byte to the WAL costs far less than 5 ns, so a column is compressed only when LZ4
//! halves a sample of it (its first 4 KiB, [`worth_compressing`]). Columns under 64 bytes
//! (a few rows) are stored plain: the stream's framing outweighs anything LZ4 could save.
//!
//! Why per buffer, not the whole stream: compressing the whole stream needed the
//! uncompressed stream in memory first (a copy of every row into fresh pages), then the
//! compressed copy, then a third copy behind the record's prefix. The IPC writer writes
//! each column's buffer (compressed or not) straight from the batch into the record, which
//! is written once (docs/performance.md, "Session 22").
//!
//! The IPC stream carries the full schema, so field and schema metadata survive the round trip.

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Schema;

use arrow::ipc::CompressionType;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
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
/// every one-stream body.
const IPC_CONTINUATION: [u8; 4] = [0xFF; 4];
/// The first bytes of a split body: a continuation marker followed by a metadata length of
/// -1, which no IPC stream has.
const SPLIT_MARKER: [u8; 8] = [0xFF; 8];
/// How much of a column LZ4 tries before the column's buffers are compressed.
const SAMPLE_BYTES: usize = 4096;
/// Below this many bytes a column is stored plain whatever LZ4 would make of it.
const MIN_SAMPLE_BYTES: usize = 64;

/// Whether LZ4 repays its CPU on `array`: it must halve the first [`SAMPLE_BYTES`] of the
/// column's values. Types whose bytes are not one values buffer (booleans, nested,
/// dictionaries; rare in time-series tables) are compressed when they hold at least
/// [`SAMPLE_BYTES`], as every column was before.
fn worth_compressing(array: &dyn Array) -> bool {
    if let Some(width) = array.data_type().primitive_width() {
        let data = array.to_data();
        let Some(buffer) = data.buffers().first() else {
            return false;
        };
        let start = (data.offset() * width).min(buffer.len());
        let end = ((data.offset() + data.len()) * width).min(buffer.len());
        return sample_halves(&buffer.as_slice()[start..end]);
    }
    if let Some(strings) = array.as_string_opt::<i32>() {
        return sample_halves(value_bytes(strings.value_data(), strings.value_offsets()));
    }
    if let Some(strings) = array.as_string_opt::<i64>() {
        return sample_halves(value_bytes(strings.value_data(), strings.value_offsets()));
    }
    if let Some(bytes) = array.as_binary_opt::<i32>() {
        return sample_halves(value_bytes(bytes.value_data(), bytes.value_offsets()));
    }
    array
        .to_data()
        .get_slice_memory_size()
        .is_ok_and(|size| size >= SAMPLE_BYTES)
}

/// The bytes of a (possibly sliced) string or binary array's values.
fn value_bytes<'a, O: Copy + TryInto<usize>>(data: &'a [u8], offsets: &[O]) -> &'a [u8] {
    let at = |o: Option<&O>| o.and_then(|&o| o.try_into().ok()).unwrap_or(0);
    let (start, end) = (at(offsets.first()), at(offsets.last()));
    data.get(start..end.max(start)).unwrap_or(&[])
}

fn sample_halves(values: &[u8]) -> bool {
    let sample = &values[..values.len().min(SAMPLE_BYTES)];
    sample.len() >= MIN_SAMPLE_BYTES && lz4_flex::block::compress(sample).len() * 2 <= sample.len()
}

/// Appends `batch` to `out` as one Arrow IPC stream, its buffers LZ4-compressed or plain.
fn write_stream(out: &mut Vec<u8>, batch: &RecordBatch, compress: bool) -> Result<()> {
    let options = if compress {
        IpcWriteOptions::default().try_with_compression(Some(CompressionType::LZ4_FRAME))?
    } else {
        IpcWriteOptions::default()
    };
    let mut writer = StreamWriter::try_new_with_options(&mut *out, batch.schema_ref(), options)?;
    writer.write(batch)?;
    writer.finish()?;
    Ok(())
}

/// Appends `batch` to `out` as a body (see the module documentation): the columns worth
/// compressing LZ4-compressed, the others plain.
fn encode_batch_into(out: &mut Vec<u8>, batch: &RecordBatch) -> Result<()> {
    let compress: Vec<bool> = batch
        .columns()
        .iter()
        .map(|c| worth_compressing(c.as_ref()))
        .collect();
    let (packed, plain): (Vec<usize>, Vec<usize>) = (0..compress.len()).partition(|&i| compress[i]);
    if plain.is_empty() || packed.is_empty() {
        return write_stream(out, batch, plain.is_empty() && !packed.is_empty());
    }
    out.extend_from_slice(&SPLIT_MARKER);
    let n = u32::try_from(compress.len())
        .map_err(|_| Error::InvalidInput("too many columns for a WAL record".into()))?;
    out.extend_from_slice(&n.to_le_bytes());
    out.extend(compress.iter().map(|&c| u8::from(c)));
    write_len_prefixed(out, |out| write_stream(out, &batch.project(&packed)?, true))?;
    write_stream(out, &batch.project(&plain)?, false)
}

/// Appends what `write` appends to `out`, behind its length as a u32 LE.
fn write_len_prefixed(
    out: &mut Vec<u8>,
    write: impl FnOnce(&mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    write(out)?;
    let len = u32::try_from(out.len() - at - 4)
        .map_err(|_| Error::InvalidInput("a batch of over 4 GiB in one WAL record".into()))?;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

/// Splits a u32 LE length and that many bytes off the front of `body` (`what` names them
/// in the corruption error).
fn take_len_prefixed<'a>(body: &'a [u8], what: &str) -> Result<(&'a [u8], &'a [u8])> {
    let (len, rest) = body
        .split_first_chunk::<4>()
        .ok_or_else(|| corrupt(format!("{what} is shorter than its length")))?;
    let len = u32::from_le_bytes(*len) as usize;
    if rest.len() < len {
        return Err(corrupt(format!("{what} is truncated")));
    }
    Ok(rest.split_at(len))
}

/// A record buffer with room for `prefix` bytes and the bodies of `batches`. Reserving
/// their uncompressed size up front means the buffer never grows (and is never copied)
/// while the bodies are written; the pages beyond what the compressed bodies use are never
/// touched.
fn record_buffer<'a>(prefix: usize, batches: impl Iterator<Item = &'a RecordBatch>) -> Vec<u8> {
    // Room for the split body's two schema messages as well as the buffers.
    let bodies: usize = batches
        .map(|b| b.get_array_memory_size() + 2048 + 64 * b.num_columns())
        .sum();
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
                    write_len_prefixed(&mut out, |out| encode_batch_into(out, batch))?;
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
                    let (b, r) = take_len_prefixed(r, "multi-insert entry")?;
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
    if let Some(split) = body.strip_prefix(&SPLIT_MARKER) {
        return decode_split(split);
    }
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

/// A split body after its marker: the column flags, part A and part B, put back together
/// in the table's column order.
fn decode_split(body: &[u8]) -> Result<RecordBatch> {
    let (n, rest) = body
        .split_first_chunk::<4>()
        .ok_or_else(|| corrupt("split body is shorter than its column count".to_string()))?;
    let n = u32::from_le_bytes(*n) as usize;
    if rest.len() < n {
        return Err(corrupt(
            "split body is shorter than its column flags".to_string(),
        ));
    }
    let (flags, rest) = rest.split_at(n);
    let (a, b) = take_len_prefixed(rest, "split body's first part")?;
    let (a, b) = (read_one_batch(a)?, read_one_batch(b)?);
    let in_a = flags.iter().filter(|&&f| f == 1).count();
    if flags.iter().any(|&f| f > 1)
        || a.num_columns() != in_a
        || b.num_columns() != n - in_a
        || a.num_rows() != b.num_rows()
    {
        return Err(corrupt(format!(
            "split body's parts ({} and {} columns, {} and {} rows) do not match its {n} column flags",
            a.num_columns(),
            b.num_columns(),
            a.num_rows(),
            b.num_rows()
        )));
    }
    let mut from_a = a.schema_ref().fields().iter().zip(a.columns());
    let mut from_b = b.schema_ref().fields().iter().zip(b.columns());
    let mut fields = Vec::with_capacity(n);
    let mut columns = Vec::with_capacity(n);
    for &f in flags {
        let next = if f == 1 { from_a.next() } else { from_b.next() };
        let (field, column) =
            next.ok_or_else(|| corrupt("split body's parts are missing a column".to_string()))?;
        fields.push(field.clone());
        columns.push(column.clone());
    }
    let schema = Schema::new_with_metadata(fields, a.schema_ref().metadata().clone());
    RecordBatch::try_new_with_options(
        Arc::new(schema),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(a.num_rows())),
    )
    .map_err(|e| corrupt(format!("split body does not form a batch: {e}")))
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
