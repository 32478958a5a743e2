//! Write-ahead log: durable, ordered, group-committed records, split into segment files.
//!
//! # File format (version 1)
//!
//! The WAL directory (conventionally `<data dir>/wal/`) holds segment files named
//! `<id>.wal`, where `<id>` is the [`SegmentId`] zero-padded to 20 decimal digits
//! (`00000000000000000001.wal`). Other files in the directory are ignored. A segment is:
//!
//! ```text
//! header: 8 bytes magic "STRWAL\0\0" | u32 LE format version (= 1)
//! frames: u32 LE payload length | u32 LE CRC32C (Castagnoli) of the payload | payload bytes
//!         (repeated until end of file)
//! ```
//!
//! Payloads are opaque to this layer; [`WalRecord`] defines the payloads the storage engine
//! writes. Empty payloads are rejected so that a zero-filled tail can never parse as records.
//!
//! # Invariants
//!
//! * Segments are replayed in id order; records within a segment in file order, which is the
//!   order in which appends were acknowledged.
//! * A new segment's header is written and fsynced (file and directory) before any frame.
//! * A frame is never split across segments, and the payloads of one `append_many` call always
//!   land in the same segment. Size-based rotation happens before a group that would push a
//!   non-empty segment past [`WalConfig::segment_bytes`] (a single oversized group still gets
//!   a segment of its own).
//! * [`Wal::open`] never appends to an existing segment; it starts a new one after the highest
//!   existing id, so a torn tail left by a crash is always at the end of a closed segment.
//! * An append is acknowledged only after its frame was written and, with
//!   [`FsyncPolicy::Always`], `fdatasync`ed. Concurrent appends are group-committed by one writer
//!   thread: one `write_all` and one `fdatasync` per group.
//! * If a write or fsync fails, every appender in flight gets the error and the WAL is
//!   *poisoned*: all later appends and rotations fail, because the file's durable contents are
//!   unknown. Restart (replay + open) to recover.
//! * Replay truncates a torn or corrupt tail of the last segment to the last good frame;
//!   corruption inside an earlier segment ends that segment (the rest of it is skipped). Both
//!   only log warnings. An unknown header version is [`Error::UnsupportedVersion`].

mod record;
mod segment;
mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::ids::SegmentId;

pub use record::WalRecord;
pub use segment::{FORMAT_VERSION, MAGIC};

use writer::{Command, Shared, Writer};

/// When appends are acknowledged relative to `fdatasync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// Acknowledge only after the group's `fdatasync` returned (durable across power loss).
    #[default]
    Always,
    /// Acknowledge after `write` to the OS; data is synced only on rotation and shutdown.
    /// Survives a process crash but not a power loss.
    Never,
}

/// Configuration of [`Wal::open`].
#[derive(Debug, Clone)]
pub struct WalConfig {
    /// Directory holding the segment files; created if missing.
    pub dir: PathBuf,
    /// Rotate to a new segment before a segment would grow past this many bytes.
    pub segment_bytes: u64,
    /// Durability of acknowledged appends.
    pub fsync: FsyncPolicy,
}

impl WalConfig {
    /// Default segment size: 64 MiB.
    pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

    /// A config for `dir` with the default segment size and [`FsyncPolicy::Always`].
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        WalConfig {
            dir: dir.into(),
            segment_bytes: Self::DEFAULT_SEGMENT_BYTES,
            fsync: FsyncPolicy::Always,
        }
    }
}

/// The valid records of one segment, as found by [`Wal::replay`].
#[derive(Debug, Clone)]
pub struct ReplayedSegment {
    /// The segment's id.
    pub id: SegmentId,
    /// Its records (payloads), in append order.
    pub records: Vec<Bytes>,
}

/// An open write-ahead log. `Send + Sync`; share it behind an `Arc`.
///
/// Dropping every handle without [`Wal::shutdown`] still makes the writer thread flush, sync and
/// exit in the background.
pub struct Wal {
    dir: PathBuf,
    tx: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("current_segment", &self.current_segment())
            .field("poisoned", &self.is_poisoned())
            .finish_non_exhaustive()
    }
}

impl Wal {
    /// Reads every segment in `dir` in id order, validating each record.
    ///
    /// A torn or corrupt tail of the LAST segment is truncated away (the file is cut to the last
    /// good record and fsynced) with a warning, never an error; corruption inside an earlier
    /// segment ends that segment with a warning, keeping its earlier records. A segment whose
    /// header has an unknown version is [`Error::UnsupportedVersion`]; a file with a segment
    /// name but no WAL magic is [`Error::Corrupt`]. A missing directory has no segments.
    ///
    /// Must not run while a [`Wal`] is open on the same directory.
    pub fn replay(dir: &Path) -> Result<Vec<ReplayedSegment>> {
        let segments = segment::list_segments(dir)?;
        let count = segments.len();
        let mut out = Vec::with_capacity(count);
        for (i, (id, path)) in segments.into_iter().enumerate() {
            let records = segment::replay_segment(&path, id, i + 1 == count)?;
            out.push(ReplayedSegment { id, records });
        }
        Ok(out)
    }

    /// Opens the WAL for appending: always starts a NEW segment numbered after the highest
    /// existing one (the first segment of an empty directory is 1). Call [`Wal::replay`] first.
    pub fn open(config: WalConfig) -> Result<Wal> {
        let WalConfig {
            dir,
            segment_bytes,
            fsync,
        } = config;
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let id = match segment::list_segments(&dir)?.last() {
            Some((last, _)) => last.next(),
            None => SegmentId::new(1),
        };
        let file = segment::create_segment(&dir, id)?;
        let shared = Arc::new(Shared::default());
        let writer = Writer::new(
            dir.clone(),
            segment_bytes,
            fsync,
            file,
            id,
            Arc::clone(&shared),
        );
        let (tx, rx) = mpsc::channel(writer::CHANNEL_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("strata-wal-writer".to_string())
            .spawn(move || writer.run(rx))
            .map_err(|e| Error::Internal(format!("cannot spawn WAL writer thread: {e}")))?;
        tracing::info!(dir = ?dir, segment = %id, ?fsync, segment_bytes, "WAL opened");
        Ok(Wal {
            dir,
            tx,
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Appends one record; returns once it is durable (per the fsync policy) with the id of the
    /// segment it landed in. The payload must be non-empty and at most `u32::MAX` bytes.
    pub async fn append(&self, payload: Bytes) -> Result<SegmentId> {
        self.append_many(vec![payload]).await
    }

    /// Appends several records with one acknowledgement; they are written contiguously, in
    /// order, into the same segment. An empty list just waits for earlier appends.
    pub async fn append_many(&self, payloads: Vec<Bytes>) -> Result<SegmentId> {
        for p in &payloads {
            if p.is_empty() {
                return Err(Error::InvalidInput(
                    "WAL records must not be empty".to_string(),
                ));
            }
            if u32::try_from(p.len()).is_err() {
                return Err(Error::InvalidInput(format!(
                    "WAL record of {} bytes exceeds the 4 GiB limit",
                    p.len()
                )));
            }
        }
        let (ack, rx) = oneshot::channel();
        self.request(Command::Append { payloads, ack }, rx).await?
    }

    /// Closes the current segment (fsynced) and starts a new one; returns the NEW segment's id.
    /// Every append that returned before this call is in a segment with a smaller id.
    pub async fn rotate(&self) -> Result<SegmentId> {
        let (ack, rx) = oneshot::channel();
        self.request(Command::Rotate { ack }, rx).await?
    }

    /// Deletes the segment files with id < `id`, then fsyncs the directory. `id` must not be
    /// greater than [`Wal::current_segment`] (the open segment is never deleted).
    pub fn remove_segments_before(&self, id: SegmentId) -> Result<()> {
        let current = self.current_segment();
        if id > current {
            return Err(Error::InvalidInput(format!(
                "cannot remove WAL segments before {id}: segment {current} is still being written"
            )));
        }
        let mut removed = 0usize;
        for (seg, path) in segment::list_segments(&self.dir)? {
            if seg >= id {
                break;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        if removed > 0 {
            segment::sync_dir(&self.dir)?;
        }
        tracing::debug!(before = %id, removed, "removed WAL segments");
        Ok(())
    }

    /// The id of the segment appends currently go to.
    pub fn current_segment(&self) -> SegmentId {
        SegmentId::new(self.shared.current.load(Ordering::Acquire))
    }

    /// Number of data `fdatasync` calls issued so far (segment creation not counted).
    pub fn sync_count(&self) -> u64 {
        self.shared.syncs.load(Ordering::Relaxed)
    }

    /// True once a write or fsync failed; the WAL then rejects all appends until reopened.
    pub fn is_poisoned(&self) -> bool {
        self.shared.poisoned.load(Ordering::Acquire)
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Flushes and fsyncs everything appended before this call, then stops the writer thread.
    /// Later appends fail with [`Error::ShuttingDown`]. Calling it again returns `Ok(())`.
    /// Returns the poison error if the WAL was poisoned.
    pub async fn shutdown(&self) -> Result<()> {
        let (ack, rx) = oneshot::channel();
        let result = match self.tx.send(Command::Shutdown { ack }).await {
            Ok(()) => rx.await.unwrap_or(Ok(())),
            Err(_) => Ok(()),
        };
        let thread = self.thread.lock().take();
        if let Some(thread) = thread {
            let joined = tokio::task::spawn_blocking(move || thread.join())
                .await
                .map_err(|e| Error::Internal(format!("joining WAL writer thread: {e}")))?;
            if joined.is_err() {
                return Err(Error::Internal("WAL writer thread panicked".to_string()));
            }
        }
        result
    }

    /// Sends `cmd` to the writer thread and waits for its answer.
    async fn request<T>(
        &self,
        cmd: Command,
        rx: oneshot::Receiver<Result<T>>,
    ) -> Result<Result<T>> {
        self.tx.send(cmd).await.map_err(|_| Error::ShuttingDown)?;
        rx.await
            .map_err(|_| Error::Internal("WAL writer thread exited without answering".to_string()))
    }

    #[cfg(test)]
    fn shared(&self) -> &Shared {
        &self.shared
    }

    #[cfg(test)]
    async fn pause_writer(&self) -> std::sync::mpsc::Sender<()> {
        let (resume_tx, resume) = std::sync::mpsc::channel();
        let (paused, is_paused) = oneshot::channel();
        let _ = self.tx.send(Command::Pause { paused, resume }).await;
        let _ = is_paused.await;
        resume_tx
    }

    #[cfg(test)]
    fn queued_commands(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}
