//! On-disk segment format: file naming, header, frame encoding and single-segment replay.
//! See the module documentation of [`crate::wal`] for the layout.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::ids::SegmentId;

/// Magic bytes at the start of every segment file.
pub const MAGIC: [u8; 8] = *b"STRWAL\0\0";
/// Format version written by this binary (the only one it can read).
pub const FORMAT_VERSION: u32 = 1;
/// Header length: magic + u32 version.
pub(crate) const HEADER_LEN: u64 = 12;
/// Frame header length: u32 payload length + u32 CRC32C.
pub(crate) const FRAME_HEADER_LEN: u64 = 8;
/// File name extension of segment files.
const EXTENSION: &str = ".wal";
/// Number of digits of the zero-padded id in a segment file name.
const ID_DIGITS: usize = 20;

/// Path of segment `id` inside `dir`.
pub(crate) fn segment_path(dir: &Path, id: SegmentId) -> PathBuf {
    dir.join(format!(
        "{:0width$}{EXTENSION}",
        id.as_u64(),
        width = ID_DIGITS
    ))
}

/// Parses a segment file name (`<20 digits>.wal`); anything else is `None`.
fn parse_segment_name(name: &str) -> Option<SegmentId> {
    let digits = name.strip_suffix(EXTENSION)?;
    if digits.len() != ID_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok().map(SegmentId::new)
}

/// Lists the segment files of `dir`, sorted by id. A missing directory has no segments.
/// Files whose names are not segment names are ignored.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(SegmentId, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        match name.to_str().and_then(parse_segment_name) {
            Some(id) => segments.push((id, entry.path())),
            None => {
                tracing::debug!(file = ?entry.path(), "ignoring non-segment file in WAL directory")
            }
        }
    }
    segments.sort_by_key(|(id, _)| *id);
    Ok(segments)
}

/// Fsyncs a directory so that file creations/removals in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// The 12 header bytes of a segment.
fn header_bytes() -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(&MAGIC);
    h[8..].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h
}

/// Creates a new segment file (must not exist), writes and fsyncs its header, then fsyncs the
/// directory. Returns the file opened for appending.
pub(crate) fn create_segment(dir: &Path, id: SegmentId) -> Result<File> {
    let path = segment_path(dir, id);
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    file.write_all(&header_bytes())
        .map_err(|e| Error::io(&path, e))?;
    file.sync_all().map_err(|e| Error::io(&path, e))?;
    sync_dir(dir)?;
    tracing::debug!(segment = %id, path = ?path, "created WAL segment");
    Ok(file)
}

/// Appends the frame for `payload` to `buf`. The caller guarantees `payload.len() <= u32::MAX`.
pub(crate) fn encode_frame(buf: &mut Vec<u8>, payload: &[u8]) {
    // Invariant: appenders reject payloads longer than u32::MAX before they reach the writer.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    buf.extend_from_slice(payload);
}

/// Size of the frame holding a payload of `len` bytes.
pub(crate) fn frame_len(len: usize) -> u64 {
    FRAME_HEADER_LEN + len as u64
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

/// Reads one segment file and returns its valid records.
///
/// A torn or corrupt frame ends the segment: for the `last` segment the file is truncated to
/// the end of the last good frame (and fsynced); for earlier segments the rest is ignored. Both
/// cases log a warning. A truncated header of the last segment (crash while creating it) is
/// rewritten as a fresh empty segment.
pub(crate) fn replay_segment(path: &Path, id: SegmentId, last: bool) -> Result<Vec<Bytes>> {
    let data = Bytes::from(fs::read(path).map_err(|e| Error::io(path, e))?);
    let header_len = HEADER_LEN as usize;
    if data.len() < header_len {
        let partial_magic = data.iter().zip(MAGIC.iter()).all(|(a, b)| a == b);
        let zeros = data.iter().all(|&b| b == 0);
        if !(partial_magic || zeros) {
            return Err(corrupt(
                path,
                "file is shorter than a segment header and has no WAL magic",
            ));
        }
        if last {
            tracing::warn!(segment = %id, path = ?path, len = data.len(), "WAL segment header is torn (crash while creating it); rewriting it as an empty segment");
            rewrite_empty(path)?;
        } else {
            tracing::warn!(segment = %id, path = ?path, len = data.len(), "WAL segment header is torn; segment has no records");
        }
        return Ok(Vec::new());
    }
    if data[..8] != MAGIC {
        if last && data[..header_len].iter().all(|&b| b == 0) {
            tracing::warn!(segment = %id, path = ?path, "WAL segment header is zero-filled (crash while creating it); rewriting it as an empty segment");
            rewrite_empty(path)?;
            return Ok(Vec::new());
        }
        return Err(corrupt(path, "bad magic: not a Strata WAL segment"));
    }
    let version = read_u32(&data, 8);
    if version == 0 {
        return Err(corrupt(path, "header has format version 0"));
    }
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            what: format!("WAL segment {}", path.display()),
            found: version,
            supported: FORMAT_VERSION,
        });
    }

    let mut records = Vec::new();
    let mut pos = header_len;
    while pos < data.len() {
        let problem = match check_frame(&data, pos) {
            Ok(end) => {
                records.push(data.slice(pos + FRAME_HEADER_LEN as usize..end));
                pos = end;
                continue;
            }
            Err(problem) => problem,
        };
        if last {
            tracing::warn!(segment = %id, path = ?path, offset = pos, file_len = data.len(), records = records.len(), problem, "WAL segment has a torn or corrupt tail; truncating it to the last good record");
            truncate(path, pos as u64)?;
        } else {
            tracing::warn!(segment = %id, path = ?path, offset = pos, file_len = data.len(), records = records.len(), problem, "corrupt record in the middle of a non-last WAL segment; ignoring the rest of this segment");
        }
        break;
    }
    Ok(records)
}

/// Validates the frame at `pos`; returns the offset just past it, or what is wrong with it.
fn check_frame(data: &[u8], pos: usize) -> std::result::Result<usize, &'static str> {
    let remaining = data.len() - pos;
    if remaining < FRAME_HEADER_LEN as usize {
        return Err("incomplete frame header");
    }
    let len = read_u32(data, pos) as usize;
    let crc = read_u32(data, pos + 4);
    if len == 0 {
        return Err("zero-length frame");
    }
    if len > remaining - FRAME_HEADER_LEN as usize {
        return Err("frame extends past end of file");
    }
    let start = pos + FRAME_HEADER_LEN as usize;
    if crc32c::crc32c(&data[start..start + len]) != crc {
        return Err("CRC32C mismatch");
    }
    Ok(start + len)
}

fn truncate(path: &Path, len: u64) -> Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    file.set_len(len).map_err(|e| Error::io(path, e))?;
    file.sync_all().map_err(|e| Error::io(path, e))
}

fn rewrite_empty(path: &Path) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    file.write_all(&header_bytes())
        .map_err(|e| Error::io(path, e))?;
    file.sync_all().map_err(|e| Error::io(path, e))
}

fn corrupt(path: &Path, detail: &str) -> Error {
    Error::Corrupt {
        what: "WAL segment",
        path: path.to_path_buf(),
        detail: detail.to_string(),
    }
}
