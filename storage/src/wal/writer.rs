//! The dedicated writer thread: drains queued commands, writes every pending frame with one
//! `write_all`, issues one `fdatasync` per group, then acknowledges the whole group.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::FsyncPolicy;
use super::segment::{self, HEADER_LEN};
use crate::error::{Error, Result};
use crate::ids::SegmentId;

/// Capacity of the command channel; appenders wait (asynchronously) when it is full.
pub(crate) const CHANNEL_CAPACITY: usize = 1024;

/// A request to the writer thread.
pub(crate) enum Command {
    /// Append these frames (all to the same segment); ack with that segment's id once durable.
    Append {
        payloads: Vec<Bytes>,
        ack: oneshot::Sender<Result<SegmentId>>,
    },
    /// Close the current segment (fsynced) and start a new one; ack with the new id.
    Rotate {
        ack: oneshot::Sender<Result<SegmentId>>,
    },
    /// Flush, fsync and stop; commands queued after this one fail with `ShuttingDown`.
    Shutdown { ack: oneshot::Sender<Result<()>> },
    /// Test hook: commit, signal `paused`, then block until `resume` yields (or is dropped).
    #[cfg(test)]
    Pause {
        paused: oneshot::Sender<()>,
        resume: std::sync::mpsc::Receiver<()>,
    },
}

/// State shared between the writer thread and the [`super::Wal`] handle.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Id of the segment currently being appended to.
    pub current: AtomicU64,
    /// Number of data syncs (`fdatasync`) issued on segment files (segment creation not counted).
    pub syncs: AtomicU64,
    /// Set once a write or fsync failed; no further appends are accepted.
    pub poisoned: AtomicBool,
    /// Test hook: the next data sync fails with an injected I/O error.
    #[cfg(test)]
    pub fail_next_sync: AtomicBool,
}

/// Owns the open segment file; lives on the writer thread only.
pub(crate) struct Writer {
    dir: PathBuf,
    segment_bytes: u64,
    fsync: FsyncPolicy,
    file: File,
    segment: SegmentId,
    /// Bytes in the current segment, including the header and frames still in `buf`.
    seg_len: u64,
    /// Encoded frames not yet written.
    buf: Vec<u8>,
    /// Appenders whose frames are in `buf` (or written but not yet synced).
    pending: Vec<oneshot::Sender<Result<SegmentId>>>,
    /// Bytes have been written to `file` since its last sync.
    dirty: bool,
    /// The error every later request gets once a write or sync failed.
    poison: Option<Error>,
    shared: Arc<Shared>,
}

impl Writer {
    pub(crate) fn new(
        dir: PathBuf,
        segment_bytes: u64,
        fsync: FsyncPolicy,
        file: File,
        segment: SegmentId,
        shared: Arc<Shared>,
    ) -> Self {
        shared.current.store(segment.as_u64(), Ordering::Release);
        Writer {
            dir,
            segment_bytes,
            fsync,
            file,
            segment,
            seg_len: HEADER_LEN,
            buf: Vec::new(),
            pending: Vec::new(),
            dirty: false,
            poison: None,
            shared,
        }
    }

    /// Main loop of the writer thread. Returns when shut down or when every handle is dropped.
    pub(crate) fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut batch = Vec::new();
        loop {
            let Some(first) = rx.blocking_recv() else {
                // Every `Wal` handle was dropped without `shutdown()`: still make data durable.
                if let Err(e) = self.close() {
                    tracing::error!(error = %e, "WAL close after all handles were dropped failed");
                }
                return;
            };
            batch.push(first);
            while batch.len() < CHANNEL_CAPACITY {
                match rx.try_recv() {
                    Ok(cmd) => batch.push(cmd),
                    Err(_) => break,
                }
            }
            let mut shutdown = None;
            for cmd in batch.drain(..) {
                if shutdown.is_some() {
                    reject(cmd);
                    continue;
                }
                match cmd {
                    Command::Append { payloads, ack } => self.append(payloads, ack),
                    Command::Rotate { ack } => {
                        let result = self.rotate();
                        let _ = ack.send(result);
                    }
                    Command::Shutdown { ack } => shutdown = Some(ack),
                    #[cfg(test)]
                    Command::Pause { paused, resume } => {
                        self.commit(false);
                        let _ = paused.send(());
                        let _ = resume.recv();
                    }
                }
            }
            self.commit(false);
            if let Some(ack) = shutdown {
                let result = self.close();
                rx.close();
                while let Ok(cmd) = rx.try_recv() {
                    reject(cmd);
                }
                let _ = ack.send(result);
                tracing::debug!(segment = %self.segment, "WAL writer stopped");
                return;
            }
        }
    }

    fn append(&mut self, payloads: Vec<Bytes>, ack: oneshot::Sender<Result<SegmentId>>) {
        if let Some(e) = &self.poison {
            let _ = ack.send(Err(Error::clone_kind(e)));
            return;
        }
        let group: u64 = payloads.iter().map(|p| segment::frame_len(p.len())).sum();
        if self.seg_len > HEADER_LEN && self.seg_len + group > self.segment_bytes {
            if let Err(e) = self.rotate() {
                let _ = ack.send(Err(e));
                return;
            }
        }
        for p in &payloads {
            segment::encode_frame(&mut self.buf, p);
        }
        self.seg_len += group;
        self.pending.push(ack);
    }

    /// Writes buffered frames, syncs (per policy, or always if `force_sync`), and acks pending
    /// appenders. On failure the writer is poisoned and every pending appender gets the error.
    fn commit(&mut self, force_sync: bool) {
        if self.poison.is_some() {
            return;
        }
        if !self.buf.is_empty() {
            if let Err(e) = self.file.write_all(&self.buf) {
                self.fail(e);
                return;
            }
            self.buf.clear();
            self.dirty = true;
        }
        if self.dirty && (force_sync || self.fsync == FsyncPolicy::Always) {
            if let Err(e) = self.sync() {
                self.fail(e);
                return;
            }
            self.dirty = false;
        }
        for ack in self.pending.drain(..) {
            let _ = ack.send(Ok(self.segment));
        }
    }

    fn sync(&mut self) -> std::io::Result<()> {
        self.shared.syncs.fetch_add(1, Ordering::Relaxed);
        #[cfg(test)]
        if self.shared.fail_next_sync.swap(false, Ordering::SeqCst) {
            return Err(std::io::Error::other("injected fsync failure"));
        }
        self.file.sync_data()
    }

    /// Poisons the writer with an I/O error on the current segment.
    fn fail(&mut self, e: std::io::Error) {
        let path = segment::segment_path(&self.dir, self.segment);
        tracing::error!(segment = %self.segment, path = ?path, error = %e, "WAL write/fsync failed; WAL is poisoned and rejects further appends");
        self.poison_with(Error::io(path, e));
    }

    /// Poisons the writer (visible through `Shared::poisoned` before anyone is answered), then
    /// fails every pending appender with `e`.
    fn poison_with(&mut self, e: Error) {
        let later = Error::io(
            segment::segment_path(&self.dir, self.segment),
            std::io::Error::other(format!(
                "WAL is poisoned by an earlier write/fsync failure and accepts no appends until restart: {e}"
            )),
        );
        self.poison = Some(later);
        self.shared.poisoned.store(true, Ordering::Release);
        self.buf.clear();
        for ack in self.pending.drain(..) {
            let _ = ack.send(Err(Error::clone_kind(&e)));
        }
    }

    /// Closes the current segment (synced) and creates the next one.
    fn rotate(&mut self) -> Result<SegmentId> {
        self.commit(true);
        if let Some(e) = &self.poison {
            return Err(Error::clone_kind(e));
        }
        let next = self.segment.next();
        match segment::create_segment(&self.dir, next) {
            Ok(file) => {
                self.file = file;
                self.segment = next;
                self.seg_len = HEADER_LEN;
                self.shared.current.store(next.as_u64(), Ordering::Release);
                tracing::debug!(segment = %next, "WAL rotated to a new segment");
                Ok(next)
            }
            Err(e) => {
                tracing::error!(segment = %next, error = %e, "creating WAL segment failed; WAL is poisoned");
                let result = Err(Error::clone_kind(&e));
                self.poison_with(e);
                result
            }
        }
    }

    /// Final flush + sync; reports the poison error if the WAL is poisoned.
    fn close(&mut self) -> Result<()> {
        self.commit(true);
        match &self.poison {
            Some(e) => Err(Error::clone_kind(e)),
            None => Ok(()),
        }
    }
}

/// Answers a command that arrived after shutdown.
fn reject(cmd: Command) {
    match cmd {
        Command::Append { ack, .. } | Command::Rotate { ack } => {
            let _ = ack.send(Err(Error::ShuttingDown));
        }
        // A second shutdown succeeds: the WAL is (being) shut down, as requested.
        Command::Shutdown { ack } => {
            let _ = ack.send(Ok(()));
        }
        #[cfg(test)]
        Command::Pause { .. } => {}
    }
}
