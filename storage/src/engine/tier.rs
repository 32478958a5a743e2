//! Tiers: moving old partitions to the cold object store, reading files of either tier,
//! and what the catalog views report about partitions ("chunks").
//!
//! A move, for one partition:
//! 1. under `maintenance` (briefly): pick the partition's hot files, allocate file ids;
//! 2. without locks: read them, write one sorted ZSTD Parquet file per group of up to
//!    [`TIER_GROUP_BYTES`] locally (not listed anywhere), upload it to the cold store at
//!    the same relative path (multipart when large);
//! 3. under `maintenance`: if every source file is still listed (a DELETE or compaction
//!    may have replaced one meanwhile; then the move is abandoned and retried next run),
//!    publish the manifest with the cold files instead of the hot ones, atomically;
//! 4. the local copies are removed; the replaced hot files after [`super::FILE_GRACE`],
//!    for queries that started before the switch.
//!
//! A crash before 3 leaves an uploaded object no manifest lists (removed at the next
//! start by [`Storage::check_cold_store`]) and a local file no manifest lists (removed at
//! open); after 3, only local files no manifest lists. Either way every row is in exactly
//! one listed file.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use tracing::{info, warn};

use super::{Garbage, Storage, TableData, write_file};
use crate::catalog::{self, TieringPolicy};
use crate::cold::ColdStore;
use crate::error::{Error, Result};
use crate::ids::TableId;
use crate::manifest::{self, FileMeta, Tier};
use crate::parquet_io::{read_parquet, read_parquet_bytes};

/// Hot files are merged into cold files of about this much (compressed) input each: Parquet
/// of TSBS-like rows decodes to ~10x its size, so a move holds well under 1 GB of rows.
const TIER_GROUP_BYTES: u64 = 64 * 1024 * 1024;

/// One time partition ("chunk") of a table, as the catalog views show it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkInfo {
    /// Start of the partition (µs since epoch); the end is start + partition width.
    pub start: i64,
    pub end: i64,
    /// `Cold` when every row of the partition is in the cold store.
    pub tier: Tier,
    /// Rows in files and in memory.
    pub rows: u64,
    /// Bytes of Parquet files (memtable rows are not counted).
    pub bytes: u64,
    pub files: usize,
}

impl Storage {
    /// The cold tier.
    pub fn cold(&self) -> &ColdStore {
        &self.cold
    }

    /// Reads a whole file of either tier, adapted to `schema`.
    pub(super) async fn read_file(
        &self,
        schema: &SchemaRef,
        f: &FileMeta,
    ) -> Result<Vec<RecordBatch>> {
        let schema = Arc::clone(schema);
        match f.tier {
            Tier::Hot => {
                let path = self.config.data_dir.join(&f.path);
                tokio::task::spawn_blocking(move || read_parquet(&path, &schema))
                    .await
                    .map_err(|e| Error::Internal(e.to_string()))?
            }
            Tier::Cold => {
                let bytes = self.cold.get(&f.path).await?;
                tokio::task::spawn_blocking(move || read_parquet_bytes(bytes, &schema))
                    .await
                    .map_err(|e| Error::Internal(e.to_string()))?
            }
        }
    }

    /// Checks the cold store at start: that it answers, and removes objects of this data
    /// directory's tables that no manifest lists (a crash during a move or a rewrite).
    pub async fn check_cold_store(&self) -> Result<()> {
        let keys = self.cold.list("tables/").await?;
        let listed: HashSet<String> = {
            let tables = self.tables.read();
            tables
                .values()
                .flat_map(|t| {
                    t.lock()
                        .manifest
                        .files
                        .iter()
                        .filter(|f| f.tier == Tier::Cold)
                        .map(|f| f.path.clone())
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        for key in keys {
            if listed.contains(&key) || !key.ends_with(".parquet") {
                continue;
            }
            // Everything under `tables/` belongs to this data directory (one cold prefix per
            // data directory).
            info!(key = %key, "removing cold file no manifest lists (left by a crash or a dropped table)");
            self.cold.delete(&key).await?;
        }
        Ok(())
    }

    /// Adds (`Some`) or removes (`None`) the tiering policy of `relation`.
    pub async fn set_tiering(&self, relation: &str, policy: Option<TieringPolicy>) -> Result<()> {
        self.update_catalog(|cat| {
            cat.tiering.retain(|p| p.relation != relation);
            if let Some(p) = policy {
                cat.tiering.push(p);
            }
            Ok(())
        })
        .await
    }

    /// Changes the schedule of job `job_id` (any policy). Returns false if no such job.
    pub async fn set_job_schedule(&self, job_id: i64, schedule_interval: &str) -> Result<bool> {
        let mut found = false;
        self.update_catalog(|cat| {
            for p in cat.retention.iter_mut().filter(|p| p.job_id == job_id) {
                p.schedule_interval = schedule_interval.to_string();
                found = true;
            }
            for p in cat.tiering.iter_mut().filter(|p| p.job_id == job_id) {
                p.schedule_interval = schedule_interval.to_string();
                found = true;
            }
            for p in cat
                .caggs
                .iter_mut()
                .filter_map(|v| v.policy.as_mut())
                .filter(|p| p.job_id == job_id)
            {
                p.schedule_interval = schedule_interval.to_string();
                found = true;
            }
            Ok(())
        })
        .await?;
        Ok(found)
    }

    /// Pauses (`scheduled = false`) or resumes job `job_id`; persisted.
    pub async fn set_job_scheduled(&self, job_id: i64, scheduled: bool) -> Result<()> {
        self.update_catalog(|cat| {
            cat.paused_jobs.retain(|j| *j != job_id);
            if !scheduled {
                cat.paused_jobs.push(job_id);
            }
            Ok(())
        })
        .await
    }

    /// Applies `f` to a copy of the catalog and publishes it (under `maintenance`).
    pub(super) async fn update_catalog(
        &self,
        f: impl FnOnce(&mut catalog::CatalogState) -> Result<()>,
    ) -> Result<()> {
        let _m = self.maintenance.lock().await;
        let mut cat = (*self.catalog()).clone();
        f(&mut cat)?;
        catalog::store(&self.config.data_dir, &cat)?;
        *self.catalog.write() = Arc::new(cat);
        Ok(())
    }

    /// The partitions of a table, oldest first, with their tier, rows and bytes.
    pub fn chunks(&self, table: TableId) -> Result<Vec<ChunkInfo>> {
        let t = self.table(table)?;
        let td = t.lock();
        let width = td.def.partition_micros;
        let mut by_part: BTreeMap<i64, ChunkInfo> = BTreeMap::new();
        let new = |start: i64| ChunkInfo {
            start,
            end: start.saturating_add(width),
            tier: Tier::Cold,
            rows: 0,
            bytes: 0,
            files: 0,
        };
        for f in &td.manifest.files {
            let c = by_part
                .entry(f.partition)
                .or_insert_with(|| new(f.partition));
            c.rows += f.rows;
            c.bytes += f.size_bytes;
            c.files += 1;
            if f.tier == Tier::Hot {
                c.tier = Tier::Hot;
            }
        }
        for (start, p) in td.active.iter().chain(td.frozen.iter()) {
            let c = by_part.entry(*start).or_insert_with(|| new(*start));
            c.rows += p.batches.iter().map(|b| b.num_rows() as u64).sum::<u64>();
            c.tier = Tier::Hot;
        }
        Ok(by_part.into_values().collect())
    }

    /// Moves every partition of `table` that ends at or before `older_than` (µs) and has
    /// hot files to the cold store. Returns the partitions moved. A failure (the store is
    /// unreachable) leaves the data hot and is returned after the partitions before it
    /// were moved.
    pub async fn tier_partitions(&self, table: TableId, older_than: i64) -> Result<Vec<i64>> {
        let parts: Vec<i64> = {
            let t = self.table(table)?;
            let td = t.lock();
            if td.def.time_column.is_none() {
                return Err(Error::InvalidInput(format!(
                    "\"{}\" has no time column; only time-partitioned tables can be tiered",
                    td.def.name
                )));
            }
            let width = td.def.partition_micros;
            let mut p: Vec<i64> = td
                .manifest
                .files
                .iter()
                .filter(|f| f.tier == Tier::Hot && f.partition.saturating_add(width) <= older_than)
                .map(|f| f.partition)
                .collect();
            p.sort_unstable();
            p.dedup();
            p
        };
        let mut moved = vec![];
        for p in parts {
            if self.tier_partition(table, p).await? {
                moved.push(p);
            }
        }
        Ok(moved)
    }

    /// Moves the hot files of one partition to the cold store (see the module docs).
    /// Returns false if there was nothing to move or a concurrent rewrite got in the way.
    pub async fn tier_partition(&self, table: TableId, partition: i64) -> Result<bool> {
        let t = self.table(table)?;
        // 1. Pick the files and allocate ids for the new ones.
        let (def, schema, groups, ids) = {
            let _m = self.maintenance.lock().await;
            let mut td = t.lock();
            let mut hot: Vec<FileMeta> = td
                .manifest
                .files
                .iter()
                .filter(|f| f.partition == partition && f.tier == Tier::Hot)
                .cloned()
                .collect();
            if hot.is_empty() {
                return Ok(false);
            }
            hot.sort_by_key(|f| f.min_time);
            let mut groups: Vec<Vec<FileMeta>> = vec![];
            let mut size = u64::MAX;
            for f in hot {
                if size.saturating_add(f.size_bytes) > TIER_GROUP_BYTES {
                    groups.push(vec![]);
                    size = 0;
                }
                size += f.size_bytes;
                if let Some(g) = groups.last_mut() {
                    g.push(f);
                }
            }
            let ids: Vec<_> = groups
                .iter()
                .map(|_| td.manifest.allocate_file_id())
                .collect();
            (Arc::clone(&td.def), Arc::clone(&td.schema), groups, ids)
        };
        // 2. Write and upload.
        let data_dir = self.config.data_dir.clone();
        let mut new_files: Vec<FileMeta> = vec![];
        let result: Result<()> = async {
            for (group, id) in groups.iter().zip(ids) {
                let mut batches = vec![];
                for f in group {
                    batches.extend(self.read_file(&schema, f).await?);
                }
                let mut f = write_file(
                    &data_dir,
                    &def,
                    &schema,
                    partition,
                    id,
                    batches,
                    crate::parquet_io::Layout::COLD,
                )
                .await?;
                new_files.push(f.clone());
                self.cold
                    .upload(&data_dir.join(&f.path), &f.path)
                    .await
                    .map_err(|e| match e {
                        // Keep the kind (I/O, not a bug) so the client sees 58030.
                        Error::Io { .. } | Error::ObjectStore(_) => Error::io(
                            format!("{}/{}", self.cold.url().trim_end_matches('/'), f.path),
                            std::io::Error::other(format!("upload to the cold store failed: {e}")),
                        ),
                        other => other,
                    })?;
                f.tier = Tier::Cold;
                if let Some(last) = new_files.last_mut() {
                    *last = f;
                }
            }
            Ok(())
        }
        .await;
        let cleanup_local = |files: &[FileMeta]| {
            for f in files {
                let _ = std::fs::remove_file(data_dir.join(&f.path));
            }
        };
        if let Err(e) = result {
            cleanup_local(&new_files);
            for f in new_files.iter().filter(|f| f.tier == Tier::Cold) {
                let _ = self.cold.delete(&f.path).await;
            }
            return Err(e);
        }
        // 3. Switch the manifest if nothing changed the source files meanwhile.
        let sources: Vec<FileMeta> = groups.into_iter().flatten().collect();
        let switched = {
            let _m = self.maintenance.lock().await;
            self.switch_files(&t, &sources, &new_files)?
        };
        if switched {
            // The first queries of the moved partition read these footers.
            for f in &new_files {
                self.cold.prime_tail(&f.path, &data_dir.join(&f.path));
            }
        }
        cleanup_local(&new_files);
        if !switched {
            for f in &new_files {
                let _ = self.cold.delete(&f.path).await;
            }
            info!(table = %def.name, partition, "move to the cold store abandoned: the partition's files changed meanwhile; retried at the next run");
            return Ok(false);
        }
        let now = Instant::now();
        self.garbage.lock().extend(
            sources
                .iter()
                .map(|f| (now, Garbage::Local(data_dir.join(&f.path)))),
        );
        let rows: u64 = new_files.iter().map(|f| f.rows).sum();
        info!(table = %def.name, partition, rows, files = sources.len(), "moved partition to the cold store");
        Ok(true)
    }

    /// Replaces `old` by `new` in the table's manifest if every file of `old` is still
    /// listed; publishes it. Caller holds `maintenance`.
    fn switch_files(
        &self,
        t: &Arc<parking_lot::Mutex<TableData>>,
        old: &[FileMeta],
        new: &[FileMeta],
    ) -> Result<bool> {
        let mut m = t.lock().manifest.clone();
        let gone: HashSet<_> = old.iter().map(|f| f.id).collect();
        if m.files.iter().filter(|f| gone.contains(&f.id)).count() != gone.len() {
            return Ok(false);
        }
        m.files.retain(|f| !gone.contains(&f.id));
        m.files.extend(new.iter().cloned());
        manifest::store(&self.config.data_dir, &m)?;
        // Keep ids allocated meanwhile (flushes allocate from the live manifest).
        let mut td = t.lock();
        m.next_file_id = m.next_file_id.max(td.manifest.next_file_id);
        td.manifest = m;
        Ok(true)
    }

    /// Uploads a file just written locally (not yet listed) to the cold store and returns
    /// its cold metadata; the local copy is removed either way.
    pub(super) async fn make_cold(&self, mut f: FileMeta) -> Result<FileMeta> {
        let local = self.config.data_dir.join(&f.path);
        let r = self.cold.upload(&local, &f.path).await;
        let _ = std::fs::remove_file(&local);
        r?;
        f.tier = Tier::Cold;
        Ok(f)
    }

    /// Deletes files that are no longer listed: local ones now, cold ones in the store.
    /// Failures are logged (orphans are removed at the next start).
    pub(super) async fn remove_files(&self, files: &[FileMeta]) {
        for f in files {
            match f.tier {
                Tier::Hot => {
                    let p = self.config.data_dir.join(&f.path);
                    if let Err(e) = std::fs::remove_file(&p)
                        && e.kind() != std::io::ErrorKind::NotFound
                    {
                        warn!(path = %p.display(), error = %e, "could not remove a file; removed at next start");
                    }
                    if let Some(dir) = p.parent() {
                        let _ = std::fs::remove_dir(dir);
                    }
                }
                Tier::Cold => {
                    if let Err(e) = self.cold.delete(&f.path).await {
                        warn!(key = %f.path, error = %e, "could not remove a cold file; removed at next start");
                    }
                }
            }
        }
    }
}
