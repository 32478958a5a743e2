//! Logical WAL records and their payload encoding.
//!
//! Payload layout (the frame around it is described in [`crate::wal`]):
//!
//! ```text
//! u8      record kind tag   (1 = Insert; other values are reserved for future kinds)
//! u64 LE  table id
//! ...     Arrow IPC stream (schema + exactly one batch), compressed with
//!         lz4_flex::compress_prepend_size (u32 LE uncompressed size, then an LZ4 block)
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
}

impl WalRecord {
    /// Encodes the record as a WAL payload.
    pub fn encode(&self) -> Result<Bytes> {
        match self {
            WalRecord::Insert { table, batch } => {
                let mut writer = StreamWriter::try_new(Vec::new(), batch.schema_ref())?;
                writer.write(batch)?;
                writer.finish()?;
                let ipc = writer.into_inner()?;
                let compressed = lz4_flex::compress_prepend_size(&ipc);
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
