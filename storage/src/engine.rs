//! The storage engine: catalog + WAL + memtables + Parquet files, behind one handle.
//!
//! ## Write path
//! `write` waits while the active memtables are over budget (backpressure), takes the
//! write gate in shared mode, appends one WAL record (group-committed, durable on return),
//! inserts the batch into the memtable of each time partition it touches, then releases
//! the gate. The acknowledgement to the client happens after `write` returns.
//!
//! ## Flush
//! Under the gate in exclusive mode (no write is between WAL and memtable), the WAL is
//! rotated to segment `S` and every active memtable is *frozen*. Outside the gate the
//! frozen data is sorted and written as Parquet; then, under the table lock, the files
//! are added to the table and its manifest (with `replay_from = S`) is published, and the
//! frozen memtables are dropped: a reader sees each row exactly once, in a memtable or
//! in a file. When every table is done, WAL segments before `S` are deleted.
//!
//! ## Recovery
//! Replays every WAL segment; a record of table `t` in segment `s` is applied only if
//! `s >= manifest(t).replay_from` (older ones are already in Parquet). Files not listed in
//! a manifest are crash leftovers and are deleted.
//!
//! Lock order: `maintenance` (tokio) → `gate` (tokio) → `tables` (map) → a table's mutex.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt32Array};
use arrow::compute::{filter_record_batch, take_record_batch};
use arrow::datatypes::{SchemaRef, TimestampMicrosecondType};
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::catalog::{self, CatalogState, ContinuousAggDef, ViewDef};
use crate::error::{Error, Result};
use crate::ids::{SegmentId, TableId};
use crate::manifest::{self, FileMeta, Manifest};
use crate::parquet_io::{Layout, adapt_batch, sort_batches, write_parquet};
use crate::schema::{ColumnDef, ColumnType, TableDef};
use crate::wal::{FsyncPolicy, Wal, WalConfig, WalRecord};

/// Storage configuration.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    /// Memory the active memtables may use before writers wait for a flush.
    pub memtable_budget_bytes: usize,
    /// Memtables older than this are flushed even if small.
    pub flush_max_age: Duration,
    pub wal_segment_bytes: u64,
    pub fsync: FsyncPolicy,
    /// Memory for decoded files of continuous-aggregate state tables.
    pub state_cache_bytes: usize,
    /// The cold store's URL (`None`: `file://<data_dir>/cold`).
    pub cold_store_url: Option<String>,
    /// Options for the cold store (object_store configuration keys, e.g.
    /// `aws_endpoint`), on top of what the environment gives.
    pub cold_store_options: Vec<(String, String)>,
    /// Memory for cached blocks of cold files read by queries.
    pub cold_cache_bytes: usize,
}

impl StorageConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        StorageConfig {
            data_dir: data_dir.into(),
            memtable_budget_bytes: 512 * 1024 * 1024,
            flush_max_age: Duration::from_secs(300),
            wal_segment_bytes: 64 * 1024 * 1024,
            fsync: FsyncPolicy::Always,
            state_cache_bytes: 256 * 1024 * 1024,
            cold_store_url: None,
            cold_store_options: vec![],
            cold_cache_bytes: 256 * 1024 * 1024,
        }
    }
}

/// An inclusive range of time-column values in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub min: i64,
    pub max: i64,
}

impl TimeRange {
    pub const ALL: TimeRange = TimeRange {
        min: i64::MIN,
        max: i64::MAX,
    };

    pub fn overlaps(&self, min: i64, max: i64) -> bool {
        self.min <= max && min <= self.max
    }
}

/// What a query reads of one table: memtable batches and Parquet files, consistent.
#[derive(Debug, Clone)]
pub struct ReadSnapshot {
    pub def: Arc<TableDef>,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub files: Vec<FileMeta>,
}

/// A table's rows in outline ([`Storage::row_outline`]).
#[derive(Debug, Clone, Default)]
pub struct RowOutline {
    /// One entry per memtable partition.
    pub memtable: Vec<Extent>,
    pub files: Vec<FileMeta>,
}

/// Rows held between two times (inclusive, microseconds; both 0 without a time column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub rows: u64,
    pub min_time: i64,
    pub max_time: i64,
}

#[derive(Debug, Default)]
struct Partition {
    batches: Vec<RecordBatch>,
    bytes: usize,
    min_time: i64,
    max_time: i64,
}

impl Partition {
    fn push(&mut self, batch: RecordBatch, min: i64, max: i64) {
        if self.batches.is_empty() {
            self.min_time = min;
            self.max_time = max;
        } else {
            self.min_time = self.min_time.min(min);
            self.max_time = self.max_time.max(max);
        }
        self.bytes += batch.get_array_memory_size();
        self.batches.push(batch);
    }
}

#[derive(Debug)]
struct TableData {
    def: Arc<TableDef>,
    schema: SchemaRef,
    active: BTreeMap<i64, Partition>,
    frozen: BTreeMap<i64, Partition>,
    manifest: Manifest,
    oldest_active: Option<Instant>,
    /// Primary keys of the partitions writes touched (see [`dedup`]).
    keys: dedup::KeyIndex,
    /// Held by writers of a table with a primary key (see [`dedup::KeyGuard`]).
    key_lock: Arc<tokio::sync::Mutex<()>>,
}

impl TableData {
    fn new(def: Arc<TableDef>, manifest: Manifest) -> Self {
        TableData {
            schema: def.arrow_schema(),
            def,
            active: BTreeMap::new(),
            frozen: BTreeMap::new(),
            manifest,
            oldest_active: None,
            keys: dedup::KeyIndex::default(),
            key_lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }
}

/// Rewrites the rows of one time partition of a table before they are written to a file
/// (continuous aggregates merge their partial states here). Runs on a blocking thread; it
/// must return rows in the same schema, and may only combine rows, never lose them.
pub type Compactor =
    Arc<dyn Fn(&SchemaRef, Vec<RecordBatch>) -> Result<Vec<RecordBatch>> + Send + Sync>;

/// What UPDATE makes of a batch: gets the batch and the mask of the rows to change,
/// returns the batch with those rows changed (see [`Storage::update_where`]).
pub type UpdateFn<'a> =
    dyn Fn(&RecordBatch, &BooleanArray) -> Result<RecordBatch> + Send + Sync + 'a;

/// Statistics of the engine, for monitoring and tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct StorageStats {
    pub active_bytes: usize,
    pub frozen_bytes: usize,
    pub flushes: u64,
}

/// The storage engine handle.
#[derive(Debug)]
pub struct Storage {
    config: StorageConfig,
    wal: Wal,
    catalog: RwLock<Arc<CatalogState>>,
    tables: RwLock<HashMap<TableId, Arc<Mutex<TableData>>>>,
    /// Shared by writers between WAL append and memtable insert; exclusive for freezing.
    gate: tokio::sync::RwLock<()>,
    /// Serialises flushes, DELETE rewrites and DDL.
    maintenance: tokio::sync::Mutex<()>,
    active_bytes: AtomicUsize,
    frozen_bytes: AtomicUsize,
    flushes: AtomicUsize,
    flush_wanted: Notify,
    flush_done: Notify,
    closed: AtomicBool,
    compactors: RwLock<HashMap<TableId, CompactorEntry>>,
    /// Files replaced by compaction, deleted once queries that may still read them are
    /// done (see [`FILE_GRACE`]).
    garbage: Mutex<Vec<(Instant, Garbage)>>,
    /// The cold tier.
    cold: crate::cold::ColdStore,
    /// Decoded files of internal tables (continuous-aggregate states), which dashboards
    /// read over and over: least recently used first out, bounded by
    /// [`StorageConfig::state_cache_bytes`].
    file_cache: Mutex<FileCache>,
}

#[derive(Debug, Default)]
struct FileCache {
    /// Path -> (batches, bytes, last use).
    entries: HashMap<String, (Vec<RecordBatch>, usize, u64)>,
    bytes: usize,
    clock: u64,
}

/// A partition with at least this many files is compacted into one after a flush.
pub const COMPACT_MIN_FILES: usize = 8;
/// Longest wait before the background flusher retries a failed flush.
pub const FLUSH_RETRY_MAX: Duration = Duration::from_secs(30);
/// Compaction reads at most this many bytes of files (the smallest first) at a time.
const COMPACT_MAX_BYTES: u64 = 512 * 1024 * 1024;
/// How long a replaced file stays on disk for queries that started before.
const FILE_GRACE: Duration = Duration::from_secs(300);

/// A file replaced while queries may still read it.
#[derive(Debug)]
enum Garbage {
    Local(PathBuf),
    /// Key in the cold store.
    Cold(String),
}

/// A registered compactor (a closure has no Debug).
#[derive(Clone)]
struct CompactorEntry(Compactor);

impl std::fmt::Debug for CompactorEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compactor")
    }
}

impl Storage {
    /// Opens (or creates) a data directory, replaying the WAL.
    pub fn open(config: StorageConfig) -> Result<Arc<Storage>> {
        let dir = config.data_dir.clone();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let cat = catalog::load(&dir)?;
        if !catalog::catalog_path(&dir).exists() {
            catalog::store(&dir, &cat)?;
        }
        let mut tables = HashMap::new();
        for def in &cat.tables {
            let m = manifest::load(&dir, def.id)?;
            remove_orphans(&dir, def.id, &m);
            tables.insert(def.id, TableData::new(Arc::clone(def), m));
        }
        remove_dropped_table_dirs(&dir, &cat);

        let wal_dir = dir.join("wal");
        let segments = Wal::replay(&wal_dir)?;
        let mut replayed = 0u64;
        let mut active_bytes = 0usize;
        for seg in segments {
            for payload in seg.records {
                match WalRecord::decode(&payload)? {
                    WalRecord::Insert { table, batch } => {
                        let Some(td) = tables.get_mut(&table) else {
                            continue;
                        };
                        if seg.id < td.manifest.replay_from {
                            continue;
                        }
                        let batch = adapt_batch(&batch, &td.schema)?;
                        active_bytes += insert_into_memtable(td, batch)?;
                        replayed += 1;
                    }
                    WalRecord::InsertMany { entries } => {
                        for (table, batch) in entries {
                            let Some(td) = tables.get_mut(&table) else {
                                continue;
                            };
                            if seg.id < td.manifest.replay_from {
                                continue;
                            }
                            let batch = adapt_batch(&batch, &td.schema)?;
                            active_bytes += insert_into_memtable(td, batch)?;
                        }
                        replayed += 1;
                    }
                    WalRecord::Upsert {
                        table,
                        key_columns,
                        batch,
                    } => {
                        let Some(td) = tables.get_mut(&table) else {
                            continue;
                        };
                        if seg.id < td.manifest.replay_from {
                            continue;
                        }
                        let batch = adapt_batch(&batch, &td.schema)?;
                        let delta = dedup::replay_upsert(td, &key_columns, batch)?;
                        active_bytes = active_bytes.saturating_add_signed(delta as isize);
                        replayed += 1;
                    }
                }
            }
        }
        if replayed > 0 {
            info!(records = replayed, "replayed WAL");
        }
        let cold = match &config.cold_store_url {
            Some(u) => crate::cold::ColdStore::open(
                u,
                &config.cold_store_options,
                config.cold_cache_bytes,
            )?,
            None => {
                let d = dir.join("cold");
                std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
                let d = d.canonicalize().map_err(|e| Error::io(&d, e))?;
                let u = url::Url::from_directory_path(&d).map_err(|_| {
                    Error::InvalidInput(format!("cannot use {} as the cold store", d.display()))
                })?;
                crate::cold::ColdStore::open(
                    u.as_str(),
                    &config.cold_store_options,
                    config.cold_cache_bytes,
                )?
            }
        };
        let wal = Wal::open(WalConfig {
            dir: wal_dir,
            segment_bytes: config.wal_segment_bytes,
            fsync: config.fsync,
        })?;
        Ok(Arc::new(Storage {
            config,
            wal,
            catalog: RwLock::new(Arc::new(cat)),
            tables: RwLock::new(
                tables
                    .into_iter()
                    .map(|(k, v)| (k, Arc::new(Mutex::new(v))))
                    .collect(),
            ),
            gate: tokio::sync::RwLock::new(()),
            maintenance: tokio::sync::Mutex::new(()),
            active_bytes: AtomicUsize::new(active_bytes),
            frozen_bytes: AtomicUsize::new(0),
            flushes: AtomicUsize::new(0),
            flush_wanted: Notify::new(),
            flush_done: Notify::new(),
            closed: AtomicBool::new(false),
            compactors: RwLock::new(HashMap::new()),
            garbage: Mutex::new(vec![]),
            cold,
            file_cache: Mutex::new(FileCache::default()),
        }))
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// The configuration.
    pub fn config(&self) -> &StorageConfig {
        &self.config
    }

    /// A snapshot of the catalog.
    pub fn catalog(&self) -> Arc<CatalogState> {
        Arc::clone(&self.catalog.read())
    }

    /// Engine statistics.
    pub fn stats(&self) -> StorageStats {
        StorageStats {
            active_bytes: self.active_bytes.load(Ordering::Relaxed),
            frozen_bytes: self.frozen_bytes.load(Ordering::Relaxed),
            flushes: self.flushes.load(Ordering::Relaxed) as u64,
        }
    }

    /// Sets (or clears) the compactor applied to a table's rows when they are flushed.
    pub fn set_compactor(&self, table: TableId, compactor: Option<Compactor>) {
        let mut c = self.compactors.write();
        match compactor {
            Some(f) => c.insert(table, CompactorEntry(f)),
            None => c.remove(&table),
        };
    }

    fn table(&self, id: TableId) -> Result<Arc<Mutex<TableData>>> {
        self.tables
            .read()
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::TableNotFound(format!("table id {id}")))
    }

    // ---------------------------------------------------------------- DDL

    /// Creates a table; `def.id` is ignored and assigned. Returns the stored definition.
    pub async fn create_table(&self, mut def: TableDef) -> Result<Arc<TableDef>> {
        let _m = self.maintenance.lock().await;
        let mut cat = (*self.catalog()).clone();
        if cat.relation_exists(&def.name) {
            return Err(Error::TableExists(def.name));
        }
        def.id = TableId::new(cat.next_table_id);
        cat.next_table_id += 1;
        let def = Arc::new(def);
        let m = Manifest::new(def.id, self.wal.current_segment());
        manifest::store(&self.config.data_dir, &m)?;
        cat.tables.push(Arc::clone(&def));
        catalog::store(&self.config.data_dir, &cat)?;
        self.tables.write().insert(
            def.id,
            Arc::new(Mutex::new(TableData::new(Arc::clone(&def), m))),
        );
        *self.catalog.write() = Arc::new(cat);
        Ok(def)
    }

    /// Replaces a table's definition (time column, chunk interval, primary key, segment-by
    /// columns) without changing its columns. Files written before keep their layout.
    pub async fn update_table_def(&self, def: TableDef) -> Result<Arc<TableDef>> {
        let _m = self.maintenance.lock().await;
        let _g = self.gate.write().await;
        let mut cat = (*self.catalog()).clone();
        let Some(pos) = cat.tables.iter().position(|t| t.id == def.id) else {
            return Err(Error::TableNotFound(def.name));
        };
        let same_shape = cat.tables[pos].columns.len() == def.columns.len()
            && cat.tables[pos]
                .columns
                .iter()
                .zip(&def.columns)
                .all(|(a, b)| a.name == b.name && a.ty == b.ty && a.default == b.default);
        if !same_shape {
            return Err(Error::Internal(
                "update_table_def cannot change columns".into(),
            ));
        }
        let def = Arc::new(def);
        cat.tables[pos] = Arc::clone(&def);
        catalog::store(&self.config.data_dir, &cat)?;
        if let Ok(t) = self.table(def.id) {
            // Partitioning may change: move memtables into a fresh partition map.
            let mut td = t.lock();
            td.def = Arc::clone(&def);
            let old = std::mem::take(&mut td.active);
            let mut bytes_before = 0;
            let mut bytes_after = 0;
            for (_, p) in old {
                bytes_before += p.bytes;
                for b in p.batches {
                    bytes_after += insert_into_memtable(&mut td, b)?;
                }
            }
            self.active_bytes.fetch_add(bytes_after, Ordering::Relaxed);
            self.active_bytes.fetch_sub(bytes_before, Ordering::Relaxed);
        }
        *self.catalog.write() = Arc::new(cat);
        Ok(def)
    }

    /// Drops a table and deletes its files.
    pub async fn drop_table(&self, name: &str) -> Result<()> {
        let _m = self.maintenance.lock().await;
        let _g = self.gate.write().await;
        let mut cat = (*self.catalog()).clone();
        let Some(pos) = cat.tables.iter().position(|t| t.name == name) else {
            return Err(Error::TableNotFound(name.to_string()));
        };
        let def = cat.tables.remove(pos);
        cat.retention.retain(|p| p.relation != name);
        cat.tiering.retain(|p| p.relation != name);
        catalog::store(&self.config.data_dir, &cat)?;
        *self.catalog.write() = Arc::new(cat);
        self.forget_table_data(def.id);
        Ok(())
    }

    /// Renames a table (`ALTER TABLE from RENAME TO to`): its definition and the retention
    /// and tiering policies that name it. Its files, manifest and WAL records are keyed by
    /// its id and stay as they are. Views and continuous aggregates name their tables in
    /// their SQL: the caller refuses a rename they depend on.
    pub async fn rename_table(&self, from: &str, to: &str) -> Result<Arc<TableDef>> {
        let _m = self.maintenance.lock().await;
        let _g = self.gate.write().await;
        let mut cat = (*self.catalog()).clone();
        if cat.relation_exists(to) {
            return Err(Error::TableExists(to.to_string()));
        }
        let Some(pos) = cat.tables.iter().position(|t| t.name == from) else {
            return Err(Error::TableNotFound(from.to_string()));
        };
        let mut def = (*cat.tables[pos]).clone();
        def.name = to.to_string();
        let def = Arc::new(def);
        cat.tables[pos] = Arc::clone(&def);
        for p in cat.retention.iter_mut().filter(|p| p.relation == from) {
            p.relation = to.to_string();
        }
        for p in cat.tiering.iter_mut().filter(|p| p.relation == from) {
            p.relation = to.to_string();
        }
        catalog::store(&self.config.data_dir, &cat)?;
        if let Ok(t) = self.table(def.id) {
            t.lock().def = Arc::clone(&def);
        }
        *self.catalog.write() = Arc::new(cat);
        Ok(def)
    }

    /// Adds a nullable column; existing rows read NULL (no rewrite of files).
    pub async fn add_column(&self, table: &str, col: ColumnDef) -> Result<Arc<TableDef>> {
        let _m = self.maintenance.lock().await;
        let _g = self.gate.write().await;
        let mut cat = (*self.catalog()).clone();
        let Some(pos) = cat.tables.iter().position(|t| t.name == table) else {
            return Err(Error::TableNotFound(table.to_string()));
        };
        let mut def = (*cat.tables[pos]).clone();
        if def.column_index(&col.name).is_some() {
            return Err(Error::InvalidInput(format!(
                "column \"{}\" of relation \"{}\" already exists",
                col.name, table
            )));
        }
        def.columns.push(col);
        let def = Arc::new(def);
        cat.tables[pos] = Arc::clone(&def);
        catalog::store(&self.config.data_dir, &cat)?;
        let t = self.table(def.id)?;
        {
            let mut td = t.lock();
            let schema = def.arrow_schema();
            let td = &mut *td;
            for p in td.active.values_mut().chain(td.frozen.values_mut()) {
                for b in p.batches.iter_mut() {
                    *b = adapt_batch(b, &schema)?;
                }
            }
            td.def = Arc::clone(&def);
            td.schema = schema;
        }
        *self.catalog.write() = Arc::new(cat);
        Ok(def)
    }

    /// Persists a view definition.
    pub async fn create_view(&self, view: ViewDef, or_replace: bool) -> Result<()> {
        let _m = self.maintenance.lock().await;
        let mut cat = (*self.catalog()).clone();
        if cat.table(&view.name).is_some() {
            return Err(Error::TableExists(view.name));
        }
        if let Some(pos) = cat.views.iter().position(|v| v.name == view.name) {
            if !or_replace {
                return Err(Error::TableExists(view.name));
            }
            cat.views.remove(pos);
        }
        cat.views.push(view);
        catalog::store(&self.config.data_dir, &cat)?;
        *self.catalog.write() = Arc::new(cat);
        Ok(())
    }

    /// Removes a view definition.
    pub async fn drop_view(&self, name: &str) -> Result<()> {
        let _m = self.maintenance.lock().await;
        let mut cat = (*self.catalog()).clone();
        let Some(pos) = cat.views.iter().position(|v| v.name == name) else {
            return Err(Error::TableNotFound(name.to_string()));
        };
        cat.views.remove(pos);
        catalog::store(&self.config.data_dir, &cat)?;
        *self.catalog.write() = Arc::new(cat);
        Ok(())
    }

    /// Creates a continuous aggregate and its internal state table in one catalog update.
    /// `state.id` and `cagg.state_table` are assigned. Returns the stored definition.
    pub async fn create_cagg(
        &self,
        mut cagg: ContinuousAggDef,
        mut state: TableDef,
    ) -> Result<ContinuousAggDef> {
        let _m = self.maintenance.lock().await;
        let _g = self.gate.write().await;
        let mut cat = (*self.catalog()).clone();
        if cat.relation_exists(&cagg.name) {
            return Err(Error::TableExists(cagg.name));
        }
        state.id = TableId::new(cat.next_table_id);
        cat.next_table_id += 1;
        state.internal = true;
        cagg.state_table = state.id;
        let state = Arc::new(state);
        let m = Manifest::new(state.id, self.wal.current_segment());
        manifest::store(&self.config.data_dir, &m)?;
        cat.tables.push(Arc::clone(&state));
        cat.caggs.push(cagg.clone());
        catalog::store(&self.config.data_dir, &cat)?;
        self.tables.write().insert(
            state.id,
            Arc::new(Mutex::new(TableData::new(Arc::clone(&state), m))),
        );
        *self.catalog.write() = Arc::new(cat);
        Ok(cagg)
    }

    /// Replaces a continuous aggregate's definition (policy, dirty ranges, name).
    /// `old_name` is the name it is stored under.
    pub async fn update_cagg(&self, old_name: &str, cagg: ContinuousAggDef) -> Result<()> {
        let _m = self.maintenance.lock().await;
        self.update_cagg_locked(old_name, cagg)
    }

    fn update_cagg_locked(&self, old_name: &str, cagg: ContinuousAggDef) -> Result<()> {
        let mut cat = (*self.catalog()).clone();
        let Some(pos) = cat.caggs.iter().position(|c| c.name == old_name) else {
            return Err(Error::TableNotFound(old_name.to_string()));
        };
        if cagg.name != old_name && cat.relation_exists(&cagg.name) {
            return Err(Error::TableExists(cagg.name));
        }
        if cagg.name != old_name {
            for p in cat.retention.iter_mut().filter(|p| p.relation == old_name) {
                p.relation = cagg.name.clone();
            }
        }
        cat.caggs[pos] = cagg;
        catalog::store(&self.config.data_dir, &cat)?;
        *self.catalog.write() = Arc::new(cat);
        Ok(())
    }

    /// Adds (`Some`) or removes (`None`) the retention policy of `relation`.
    pub async fn set_retention(
        &self,
        relation: &str,
        policy: Option<catalog::RetentionPolicy>,
    ) -> Result<()> {
        self.update_catalog(|cat| {
            cat.retention.retain(|p| p.relation != relation);
            if let Some(p) = policy {
                cat.retention.push(p);
            }
            Ok(())
        })
        .await
    }

    /// Allocates a job id (for refresh/retention policies) and persists the counter.
    pub async fn allocate_job_id(&self) -> Result<i64> {
        let _m = self.maintenance.lock().await;
        let mut cat = (*self.catalog()).clone();
        let id = cat.next_job_id;
        cat.next_job_id += 1;
        catalog::store(&self.config.data_dir, &cat)?;
        *self.catalog.write() = Arc::new(cat);
        Ok(id)
    }

    /// Drops a continuous aggregate and its state table.
    pub async fn drop_cagg(&self, name: &str) -> Result<()> {
        let _m = self.maintenance.lock().await;
        let _g = self.gate.write().await;
        let mut cat = (*self.catalog()).clone();
        let Some(pos) = cat.caggs.iter().position(|c| c.name == name) else {
            return Err(Error::TableNotFound(name.to_string()));
        };
        let cagg = cat.caggs.remove(pos);
        cat.tables.retain(|t| t.id != cagg.state_table);
        cat.retention.retain(|p| p.relation != name);
        catalog::store(&self.config.data_dir, &cat)?;
        *self.catalog.write() = Arc::new(cat);
        self.forget_table_data(cagg.state_table);
        Ok(())
    }

    /// Drops in-memory data and the directory of a table already removed from the catalog.
    fn forget_table_data(&self, id: TableId) {
        if let Some(t) = self.tables.write().remove(&id) {
            let td = t.lock();
            let a: usize = td.active.values().map(|p| p.bytes).sum();
            let f: usize = td.frozen.values().map(|p| p.bytes).sum();
            self.active_bytes.fetch_sub(
                a.min(self.active_bytes.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
            self.frozen_bytes.fetch_sub(
                f.min(self.frozen_bytes.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
        }
        let dir = self.config.data_dir.join(manifest::table_dir_rel(id));
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            warn!(path = %dir.display(), error = %e, "could not remove dropped table's directory; it will be removed at next start");
        }
    }

    // ---------------------------------------------------------------- writes

    /// Writes a batch (in the table's current schema) durably. Returns when the rows are
    /// in the WAL (fsynced under the default policy) and visible to readers.
    pub async fn write(&self, table: TableId, batch: RecordBatch) -> Result<()> {
        self.write_many(vec![(table, batch)]).await
    }

    /// Writes batches to several tables in one WAL record: after a crash either all of
    /// them are there or none (a raw batch and the state rows of its continuous
    /// aggregates). Empty batches are skipped.
    /// Rows of a table with a primary key are checked first: a key already stored or
    /// repeated fails the whole write with [`Error::UniqueViolation`].
    pub async fn write_many(&self, entries: Vec<(TableId, RecordBatch)>) -> Result<()> {
        for (t, _) in &entries {
            if !self.table(*t)?.lock().def.primary_key.is_empty() {
                return self.write_many_keyed(entries).await;
            }
        }
        self.write_unkeyed(entries).await
    }

    /// [`Storage::write_many`] without primary key checks.
    async fn write_unkeyed(&self, entries: Vec<(TableId, RecordBatch)>) -> Result<()> {
        let entries: Vec<_> = entries
            .into_iter()
            .filter(|(_, b)| b.num_rows() > 0)
            .collect();
        if entries.is_empty() {
            return Ok(());
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::ShuttingDown);
        }
        self.wait_for_memory().await;
        let mut checked = Vec::with_capacity(entries.len());
        for (table, batch) in entries {
            let t = self.table(table)?;
            let (def, schema) = {
                let td = t.lock();
                (Arc::clone(&td.def), Arc::clone(&td.schema))
            };
            let batch = check_columns(&def, batch)?;
            let batch = if batch.schema().fields() != schema.fields() {
                adapt_batch(&batch, &schema)?
            } else {
                batch
            };
            checked.push((table, batch, schema));
        }
        let payload = if checked.len() == 1 {
            WalRecord::Insert {
                table: checked[0].0,
                batch: checked[0].1.clone(),
            }
            .encode()?
        } else {
            WalRecord::InsertMany {
                entries: checked.iter().map(|(t, b, _)| (*t, b.clone())).collect(),
            }
            .encode()?
        };
        let _g = self.gate.read().await;
        // Re-check after waiting for the gate: a table may have been dropped or altered.
        let handles = checked
            .iter()
            .map(|(t, _, _)| self.table(*t))
            .collect::<Result<Vec<_>>>()?;
        self.wal.append(payload).await?;
        let mut added = 0;
        for ((_, batch, schema), t) in checked.into_iter().zip(handles) {
            let mut td = t.lock();
            let batch = if td.schema.fields() != schema.fields() {
                adapt_batch(&batch, &td.schema)?
            } else {
                batch
            };
            if td.oldest_active.is_none() {
                td.oldest_active = Some(Instant::now());
            }
            added += insert_into_memtable(&mut td, batch)?;
        }
        let now = self.active_bytes.fetch_add(added, Ordering::Relaxed) + added;
        if now > self.config.memtable_budget_bytes / 2 {
            self.flush_wanted.notify_one();
        }
        Ok(())
    }

    async fn wait_for_memory(&self) {
        loop {
            let active = self.active_bytes.load(Ordering::Relaxed);
            if active < self.config.memtable_budget_bytes {
                return;
            }
            let done = self.flush_done.notified();
            self.flush_wanted.notify_one();
            // The timeout guards against a missed wake-up; it is not a correctness timer.
            let _ = tokio::time::timeout(Duration::from_millis(200), done).await;
        }
    }

    // ---------------------------------------------------------------- reads

    /// A consistent snapshot of the table's rows in `range`.
    pub fn snapshot(&self, table: TableId, range: TimeRange) -> Result<ReadSnapshot> {
        let t = self.table(table)?;
        let td = t.lock();
        let mut batches = vec![];
        for p in td.active.values().chain(td.frozen.values()) {
            if td.def.time_column.is_none() || range.overlaps(p.min_time, p.max_time) {
                batches.extend(p.batches.iter().cloned());
            }
        }
        let files = td
            .manifest
            .files
            .iter()
            .filter(|f| td.def.time_column.is_none() || range.overlaps(f.min_time, f.max_time))
            .cloned()
            .collect();
        Ok(ReadSnapshot {
            def: Arc::clone(&td.def),
            schema: Arc::clone(&td.schema),
            batches,
            files,
        })
    }

    /// What a planner may know of a table's rows in `range` without reading them: each
    /// memtable partition's row count and time extent, and the files' metadata.
    pub fn row_outline(&self, table: TableId, range: TimeRange) -> Result<RowOutline> {
        let t = self.table(table)?;
        let td = t.lock();
        let timed = td.def.time_column.is_some();
        let memtable = td
            .active
            .values()
            .chain(td.frozen.values())
            .filter(|p| !timed || range.overlaps(p.min_time, p.max_time))
            .map(|p| Extent {
                rows: p.batches.iter().map(|b| b.num_rows() as u64).sum(),
                min_time: p.min_time,
                max_time: p.max_time,
            })
            .collect();
        let files = td
            .manifest
            .files
            .iter()
            .filter(|f| !timed || range.overlaps(f.min_time, f.max_time))
            .cloned()
            .collect();
        Ok(RowOutline { memtable, files })
    }

    /// Starts of the time partitions of a table that hold rows (in memory or in files)
    /// and overlap `range`, in order.
    pub fn partitions_in(&self, table: TableId, range: TimeRange) -> Result<Vec<i64>> {
        let t = self.table(table)?;
        let td = t.lock();
        let width = td.def.partition_micros;
        let mut parts: Vec<i64> = td
            .active
            .keys()
            .chain(td.frozen.keys())
            .copied()
            .chain(td.manifest.files.iter().map(|f| f.partition))
            .filter(|p| {
                td.def.time_column.is_none()
                    || range.overlaps(*p, p.saturating_add(width).saturating_sub(1))
            })
            .collect();
        parts.sort_unstable();
        parts.dedup();
        Ok(parts)
    }

    /// The rows of a file of an internal table, decoded and kept in memory (None: not
    /// an internal table, or the file does not fit the cache; read it from Parquet).
    pub async fn cached_file(
        &self,
        def: &TableDef,
        file: &FileMeta,
    ) -> Result<Option<Vec<RecordBatch>>> {
        if !def.internal || file.size_bytes as usize * 4 > self.config.state_cache_bytes {
            return Ok(None);
        }
        {
            let mut c = self.file_cache.lock();
            c.clock += 1;
            let now = c.clock;
            if let Some(e) = c.entries.get_mut(&file.path) {
                e.2 = now;
                return Ok(Some(e.0.clone()));
            }
        }
        let batches = self.read_file(&def.arrow_schema(), file).await?;
        let bytes: usize = batches.iter().map(|b| b.get_array_memory_size()).sum();
        if bytes > self.config.state_cache_bytes {
            return Ok(Some(batches));
        }
        let mut c = self.file_cache.lock();
        while c.bytes + bytes > self.config.state_cache_bytes {
            let Some(oldest) = c
                .entries
                .iter()
                .min_by_key(|(_, e)| e.2)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = c.entries.remove(&oldest) {
                c.bytes -= e.1;
            }
        }
        c.clock += 1;
        let now = c.clock;
        c.bytes += bytes;
        c.entries
            .insert(file.path.clone(), (batches.clone(), bytes, now));
        Ok(Some(batches))
    }

    // ---------------------------------------------------------------- flush

    /// Flushes every memtable to Parquet (the `CHECKPOINT` statement).
    pub async fn checkpoint(&self) -> Result<()> {
        let _m = self.maintenance.lock().await;
        let seg = {
            let _g = self.gate.write().await;
            self.freeze().await?
        };
        self.persist_frozen(seg).await?;
        // Keep the number of files per partition small: many small files (one per flush)
        // slow every scan down. A failure here loses nothing; the files stay as they are.
        if let Err(e) = self.compact_small_files().await {
            warn!(error = %e, "compaction failed; will retry after the next flush");
        }
        self.purge_garbage(false);
        Ok(())
    }

    /// Merges the files of every partition that has [`COMPACT_MIN_FILES`] or more into
    /// one (through the table's [`Compactor`], if any). Caller holds `maintenance`.
    async fn compact_small_files(&self) -> Result<()> {
        let tables: Vec<_> = self.tables.read().values().cloned().collect();
        for t in tables {
            let (def, schema, m) = {
                let td = t.lock();
                (
                    Arc::clone(&td.def),
                    Arc::clone(&td.schema),
                    td.manifest.clone(),
                )
            };
            let mut by_part: BTreeMap<i64, Vec<FileMeta>> = BTreeMap::new();
            // Cold files were merged when they were moved.
            for f in m.files.iter().filter(|f| f.tier.is_hot()) {
                by_part.entry(f.partition).or_default().push(f.clone());
            }
            for (partition, mut files) in by_part {
                if files.len() < COMPACT_MIN_FILES {
                    continue;
                }
                files.sort_by_key(|f| f.size_bytes);
                let mut budget = 0u64;
                files.retain(|f| {
                    budget += f.size_bytes;
                    budget <= COMPACT_MAX_BYTES
                });
                if files.len() < 2 {
                    continue;
                }
                self.compact_files(&t, &def, &schema, partition, files)
                    .await?;
            }
        }
        Ok(())
    }

    async fn compact_files(
        &self,
        t: &Arc<Mutex<TableData>>,
        def: &Arc<TableDef>,
        schema: &SchemaRef,
        partition: i64,
        files: Vec<FileMeta>,
    ) -> Result<()> {
        let data_dir = self.config.data_dir.clone();
        let mut batches = vec![];
        for f in &files {
            batches.extend(self.read_file(schema, f).await?);
        }
        let compactor = self
            .compactors
            .read()
            .get(&def.id)
            .map(|c| Arc::clone(&c.0));
        if let Some(c) = compactor {
            let schema2 = Arc::clone(schema);
            batches = tokio::task::spawn_blocking(move || c(&schema2, batches))
                .await
                .map_err(|e| Error::Internal(format!("compaction task failed: {e}")))??;
        }
        let mut m = t.lock().manifest.clone();
        let id = m.allocate_file_id();
        let new = write_file(&data_dir, def, schema, partition, id, batches, Layout::HOT).await?;
        let gone: HashSet<_> = files.iter().map(|f| f.id).collect();
        // Flushes and DELETE also change the manifest, but they take `maintenance`, which
        // the caller holds: the file list cannot have changed meanwhile.
        m.files.retain(|f| !gone.contains(&f.id));
        m.files.push(new);
        manifest::store(&data_dir, &m)?;
        t.lock().manifest = m;
        let now = Instant::now();
        self.garbage.lock().extend(
            files
                .iter()
                .map(|f| (now, Garbage::Local(data_dir.join(&f.path)))),
        );
        info!(table = %def.name, partition, files = files.len(), "compacted files");
        Ok(())
    }

    /// Deletes replaced files whose grace period is over (all of them if `all`). Cold
    /// objects are deleted in the background (a failure leaves an orphan that the next
    /// start removes).
    fn purge_garbage(&self, all: bool) {
        let mut cold = vec![];
        {
            let mut g = self.garbage.lock();
            g.retain(|(when, item)| {
                if !all && when.elapsed() < FILE_GRACE {
                    return true;
                }
                match item {
                    Garbage::Local(path) => {
                        if let Err(e) = std::fs::remove_file(path)
                            && e.kind() != std::io::ErrorKind::NotFound
                        {
                            warn!(path = %path.display(), error = %e, "could not remove a replaced file; removed at next start");
                        }
                    }
                    Garbage::Cold(key) => cold.push(key.clone()),
                }
                false
            });
        }
        if !cold.is_empty() {
            let store = self.cold.clone();
            let task = async move {
                for key in cold {
                    if let Err(e) = store.delete(&key).await {
                        warn!(key = %key, error = %e, "could not remove a replaced cold file; removed at next start");
                    }
                }
            };
            if let Ok(h) = tokio::runtime::Handle::try_current() {
                h.spawn(task);
            }
        }
    }

    /// Rotates the WAL and moves active memtables to frozen. Caller holds the gate exclusively.
    async fn freeze(&self) -> Result<SegmentId> {
        let seg = self.wal.rotate().await?;
        let tables: Vec<_> = self.tables.read().values().cloned().collect();
        let mut moved = 0;
        for t in tables {
            let mut td = t.lock();
            let active = std::mem::take(&mut td.active);
            td.oldest_active = None;
            for (k, p) in active {
                moved += p.bytes;
                let f = td.frozen.entry(k).or_default();
                let (min, max) = (p.min_time, p.max_time);
                for b in p.batches {
                    f.push(b, min, max);
                }
            }
        }
        self.active_bytes.fetch_sub(
            moved.min(self.active_bytes.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        self.frozen_bytes.fetch_add(moved, Ordering::Relaxed);
        Ok(seg)
    }

    /// Writes frozen memtables as Parquet, publishes manifests, trims the WAL.
    async fn persist_frozen(&self, seg: SegmentId) -> Result<()> {
        let tables: Vec<_> = self.tables.read().values().cloned().collect();
        let mut result = Ok(());
        for t in tables {
            if let Err(e) = self.persist_table(&t, seg).await {
                let table = t.lock().def.name.clone();
                warn!(%table, error = %e, "flush of a table failed; its rows stay in memory and in the WAL");
                result = Err(e);
            }
        }
        result?;
        self.wal.remove_segments_before(seg)?;
        self.flushes.fetch_add(1, Ordering::Relaxed);
        self.flush_done.notify_waiters();
        Ok(())
    }

    async fn persist_table(&self, t: &Arc<Mutex<TableData>>, seg: SegmentId) -> Result<()> {
        let (def, schema, parts, mut m) = {
            let td = t.lock();
            if td.frozen.is_empty() {
                return Ok(());
            }
            let parts: Vec<(i64, Vec<RecordBatch>)> = td
                .frozen
                .iter()
                .map(|(k, p)| (*k, p.batches.clone()))
                .collect();
            (
                Arc::clone(&td.def),
                Arc::clone(&td.schema),
                parts,
                td.manifest.clone(),
            )
        };
        let data_dir = self.config.data_dir.clone();
        let compactor = self
            .compactors
            .read()
            .get(&def.id)
            .map(|c| Arc::clone(&c.0));
        let mut new_files = vec![];
        for (partition, batches) in parts {
            let batches = match &compactor {
                Some(c) => {
                    let (c, schema) = (Arc::clone(c), Arc::clone(&schema));
                    tokio::task::spawn_blocking(move || c(&schema, batches))
                        .await
                        .map_err(|e| Error::Internal(format!("compaction task failed: {e}")))??
                }
                None => batches,
            };
            let id = m.allocate_file_id();
            new_files.push(
                write_file(
                    &data_dir,
                    &def,
                    &schema,
                    partition,
                    id,
                    batches,
                    Layout::HOT,
                )
                .await?,
            );
        }
        let flushed: Vec<_> = new_files.iter().map(|f| (f.partition, f.id)).collect();
        m.files.extend(new_files);
        m.replay_from = seg;
        let m2 = m.clone();
        let dd = data_dir.clone();
        tokio::task::spawn_blocking(move || manifest::store(&dd, &m2))
            .await
            .map_err(|e| Error::Internal(format!("manifest task failed: {e}")))??;
        let mut td = t.lock();
        // Keep the frozen data and the file list consistent under one lock.
        td.manifest = m;
        for (p, id) in flushed {
            td.keys.note_flushed(p, id);
        }
        let freed: usize = td.frozen.values().map(|p| p.bytes).sum();
        td.frozen.clear();
        self.frozen_bytes.fetch_sub(
            freed.min(self.frozen_bytes.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        Ok(())
    }

    /// Runs the background flusher until `shutdown` resolves: flushes when memtables pass
    /// half the budget or get older than `flush_max_age`.
    ///
    /// A failed flush leaves its rows in memory (frozen) and in the WAL, and is retried
    /// after a delay that doubles from 1 s up to [`FLUSH_RETRY_MAX`], even if nothing else
    /// is written; until then no other flush starts (writers past the memtable budget wait,
    /// so memory grows by at most a budget per retry).
    pub async fn run_background(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1).min(self.config.flush_max_age));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        tokio::pin!(shutdown);
        // After a failure: when to retry, and the delay that led there.
        let mut retry: Option<(Instant, Duration)> = None;
        loop {
            let want = tokio::select! {
                _ = &mut shutdown => return,
                _ = self.flush_wanted.notified() => self.active_bytes.load(Ordering::Relaxed) > self.config.memtable_budget_bytes / 2,
                _ = tick.tick() => retry.is_some() || self.too_old(),
            };
            if !want || retry.is_some_and(|(at, _)| Instant::now() < at) {
                continue;
            }
            match self.checkpoint().await {
                Ok(()) => retry = None,
                Err(e) => {
                    let delay = retry.map_or(Duration::from_secs(1), |(_, d)| {
                        (d * 2).min(FLUSH_RETRY_MAX)
                    });
                    warn!(error = %e, retry_in = ?delay, "background flush failed; the rows stay in memory and in the WAL");
                    retry = Some((Instant::now() + delay, delay));
                }
            }
        }
    }

    fn too_old(&self) -> bool {
        let max_age = self.config.flush_max_age;
        self.tables.read().values().any(|t| {
            t.lock()
                .oldest_active
                .is_some_and(|i| i.elapsed() >= max_age)
        })
    }

    // ---------------------------------------------------------------- delete

    /// Deletes rows of `table` in `range` for which `predicate` is true, durably: memtables
    /// are flushed, affected Parquet files rewritten and swapped in the manifest. Writers to
    /// all tables wait while this runs. Returns the number of rows deleted.
    pub async fn delete_where(
        &self,
        table: TableId,
        range: TimeRange,
        predicate: &(dyn Fn(&RecordBatch) -> Result<BooleanArray> + Send + Sync),
    ) -> Result<u64> {
        self.rewrite_where(table, range, predicate, vec![]).await
    }

    /// Like [`Storage::delete_where`], and adds `insert` (rows in the table's schema) in
    /// the same manifest update: readers and a crash see either the old rows or the new
    /// ones. Used to replace the states of a range of continuous-aggregate buckets.
    pub async fn rewrite_where(
        &self,
        table: TableId,
        range: TimeRange,
        predicate: &(dyn Fn(&RecordBatch) -> Result<BooleanArray> + Send + Sync),
        insert: Vec<RecordBatch>,
    ) -> Result<u64> {
        self.rewrite_rows(table, range, predicate, None, insert)
            .await
    }

    /// Replaces the rows of `table` in `range` for which `predicate` is true by what
    /// `update` makes of them (UPDATE), durably and atomically like
    /// [`Storage::delete_where`]. `update` gets a batch and the predicate's mask over it
    /// and returns the whole batch with the selected rows changed; it must keep every
    /// row's time and primary key. Returns the number of rows changed.
    pub async fn update_where(
        &self,
        table: TableId,
        range: TimeRange,
        predicate: &(dyn Fn(&RecordBatch) -> Result<BooleanArray> + Send + Sync),
        update: &UpdateFn<'_>,
    ) -> Result<u64> {
        self.rewrite_rows(table, range, predicate, Some(update), vec![])
            .await
    }

    /// The rewrite behind DELETE and UPDATE: every file of `table` in `range` with a row
    /// selected by `predicate` is rewritten without the selected rows (`update` None) or
    /// with them changed, `insert` is added, all in one manifest update.
    async fn rewrite_rows(
        &self,
        table: TableId,
        range: TimeRange,
        predicate: &(dyn Fn(&RecordBatch) -> Result<BooleanArray> + Send + Sync),
        update: Option<&UpdateFn<'_>>,
        insert: Vec<RecordBatch>,
    ) -> Result<u64> {
        let _m = self.maintenance.lock().await;
        let _g = self.gate.write().await;
        let seg = self.freeze().await?;
        self.persist_frozen(seg).await?;
        let t = self.table(table)?;
        let (def, schema, mut m) = {
            let td = t.lock();
            (
                Arc::clone(&td.def),
                Arc::clone(&td.schema),
                td.manifest.clone(),
            )
        };
        let data_dir = self.config.data_dir.clone();
        let mut deleted = 0u64;
        let mut removed: Vec<FileMeta> = vec![];
        let mut added: Vec<FileMeta> = vec![];
        for f in m.files.clone() {
            if def.time_column.is_some() && !range.overlaps(f.min_time, f.max_time) {
                continue;
            }
            let batches = self.read_file(&schema, &f).await?;
            let mut kept = vec![];
            let mut n_del = 0u64;
            for b in batches {
                let mask = predicate(&b)?;
                let del = mask.true_count() as u64;
                if del == 0 {
                    kept.push(b);
                    continue;
                }
                n_del += del;
                // NULL (unknown) means "not selected", as in SQL.
                let mask = if mask.null_count() > 0 {
                    arrow::compute::prep_null_mask_filter(&mask)
                } else {
                    mask
                };
                match update {
                    Some(u) => {
                        let new = check_columns(&def, adapt_batch(&u(&b, &mask)?, &schema)?)?;
                        kept.push(new);
                    }
                    None => {
                        let keep = arrow::compute::not(&mask)?;
                        kept.push(filter_record_batch(&b, &keep)?);
                    }
                }
            }
            if n_del == 0 {
                continue;
            }
            deleted += n_del;
            removed.push(f.clone());
            let remaining: usize = kept.iter().map(|b| b.num_rows()).sum();
            if remaining > 0 {
                let id = m.allocate_file_id();
                let layout = match f.tier {
                    manifest::Tier::Hot => Layout::HOT,
                    manifest::Tier::Cold => Layout::COLD,
                };
                let new = match write_file(&data_dir, &def, &schema, f.partition, id, kept, layout)
                    .await
                {
                    Ok(n) => n,
                    Err(e) => {
                        self.remove_files(&added).await;
                        return Err(e);
                    }
                };
                // A cold file is rewritten in the cold store (erasure reaches every tier).
                added.push(match f.tier {
                    manifest::Tier::Hot => new,
                    manifest::Tier::Cold => match self.make_cold(new).await {
                        Ok(c) => c,
                        Err(e) => {
                            self.remove_files(&added).await;
                            return Err(e);
                        }
                    },
                });
            }
        }
        let insert: Vec<RecordBatch> = insert
            .into_iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| check_columns(&def, adapt_batch(&b, &schema)?))
            .collect::<Result<_>>()?;
        if !insert.is_empty() {
            for (partition, batches) in split_by_partition(&def, insert)? {
                let id = m.allocate_file_id();
                added.push(
                    write_file(
                        &data_dir,
                        &def,
                        &schema,
                        partition,
                        id,
                        batches,
                        Layout::HOT,
                    )
                    .await?,
                );
            }
        }
        if removed.is_empty() && added.is_empty() {
            return Ok(0);
        }
        let gone: HashSet<_> = removed.iter().map(|f| f.id).collect();
        m.files.retain(|f| !gone.contains(&f.id));
        m.files.extend(added.iter().cloned());
        if let Err(e) = manifest::store(&data_dir, &m) {
            self.remove_files(&added).await;
            return Err(e);
        }
        t.lock().manifest = m;
        self.retire(removed);
        Ok(deleted)
    }

    /// Queues replaced files for deletion after [`FILE_GRACE`]: queries that started
    /// before may still read them.
    fn retire(&self, removed: Vec<FileMeta>) {
        let data_dir = &self.config.data_dir;
        let now = Instant::now();
        self.garbage
            .lock()
            .extend(removed.into_iter().map(|f| match f.tier {
                manifest::Tier::Hot => (now, Garbage::Local(data_dir.join(&f.path))),
                manifest::Tier::Cold => (now, Garbage::Cold(f.path)),
            }));
    }

    /// Removes every row of `table` (TRUNCATE): memtables are flushed, then the manifest
    /// lists no file; the files go after the grace period. Writers wait meanwhile.
    pub async fn truncate(&self, table: TableId) -> Result<()> {
        let _m = self.maintenance.lock().await;
        let _g = self.gate.write().await;
        let seg = self.freeze().await?;
        self.persist_frozen(seg).await?;
        let t = self.table(table)?;
        let mut m = t.lock().manifest.clone();
        if m.files.is_empty() {
            return Ok(());
        }
        let gone = std::mem::take(&mut m.files);
        manifest::store(&self.config.data_dir, &m)?;
        t.lock().manifest = m;
        self.retire(gone);
        Ok(())
    }

    /// Drops whole time partitions ("chunks") of a table: those ending at or before
    /// `older_than` and starting at or after `newer_than` (µs; `None` = unbounded; at least
    /// one must be given). Memtables are flushed first, so the rows are gone durably.
    /// Returns the start of every dropped partition.
    pub async fn drop_partitions(
        &self,
        table: TableId,
        older_than: Option<i64>,
        newer_than: Option<i64>,
    ) -> Result<Vec<i64>> {
        let _m = self.maintenance.lock().await;
        let _g = self.gate.write().await;
        let seg = self.freeze().await?;
        self.persist_frozen(seg).await?;
        let t = self.table(table)?;
        let (def, mut m) = {
            let td = t.lock();
            (Arc::clone(&td.def), td.manifest.clone())
        };
        if def.time_column.is_none() {
            return Err(Error::InvalidInput(format!(
                "\"{}\" is not a hypertable or a table with a time column",
                def.name
            )));
        }
        let width = def.partition_micros;
        let doomed = |p: i64| {
            older_than.is_none_or(|o| p.saturating_add(width) <= o)
                && newer_than.is_none_or(|n| p >= n)
        };
        let mut dropped: Vec<i64> = m
            .files
            .iter()
            .map(|f| f.partition)
            .filter(|p| doomed(*p))
            .collect();
        dropped.sort_unstable();
        dropped.dedup();
        if dropped.is_empty() {
            return Ok(dropped);
        }
        let (gone, kept): (Vec<FileMeta>, Vec<FileMeta>) =
            m.files.drain(..).partition(|f| doomed(f.partition));
        m.files = kept;
        let data_dir = self.config.data_dir.clone();
        manifest::store(&data_dir, &m)?;
        t.lock().manifest = m;
        self.remove_files(&gone).await;
        Ok(dropped)
    }

    /// Flushes everything and stops the WAL. Further writes fail.
    pub async fn shutdown(&self) -> Result<()> {
        let r = self.checkpoint().await;
        self.purge_garbage(true);
        self.closed.store(true, Ordering::Release);
        self.wal.shutdown().await?;
        r
    }
}

/// Sorts `batches` ([`TableDef::sort_columns`]) and writes them as a new Parquet file of `partition`, off the
/// async runtime. The file is durable and renamed into place before this returns; it is
/// not visible to readers until a manifest lists it.
async fn write_file(
    data_dir: &Path,
    def: &Arc<TableDef>,
    schema: &SchemaRef,
    partition: i64,
    id: crate::ids::FileId,
    batches: Vec<RecordBatch>,
    layout: Layout,
) -> Result<FileMeta> {
    let rel = manifest::file_path_rel(def.id, partition, id);
    let path = data_dir.join(&rel);
    let def = Arc::clone(def);
    let schema = Arc::clone(schema);
    tokio::task::spawn_blocking(move || -> Result<FileMeta> {
        let sorted = sort_batches(&def, &schema, &batches)?;
        let (min_time, max_time) = time_bounds(&def, &sorted);
        let size_bytes = write_parquet(&path, &sorted, &def.sort_columns(), layout)?;
        let keys = def.series_columns();
        let tails = match def.time_column {
            Some(tc) if !keys.is_empty() => {
                crate::parquet_io::series_tails(&sorted, &keys, tc, manifest::MAX_SERIES_TAILS)?
                    .map(|t| {
                        Arc::new(manifest::SeriesTails {
                            keys: keys.iter().map(|&k| def.columns[k].name.clone()).collect(),
                            time: def.columns[tc].name.clone(),
                            ranges: t.ranges,
                            series: t.series,
                            latest: t.latest,
                            lookup: Default::default(),
                        })
                    })
            }
            _ => None,
        };
        Ok(FileMeta {
            id,
            path: rel,
            partition,
            min_time,
            max_time,
            rows: sorted.num_rows() as u64,
            size_bytes,
            tier: manifest::Tier::Hot,
            tails,
        })
    })
    .await
    .map_err(|e| Error::Internal(format!("Parquet write task failed: {e}")))?
}

/// Checks NOT NULL columns (23502 through the SQL layer's error mapping) and the declared
/// length of `varchar(n)` and `char(n)` columns (22001) of a batch, and returns it with
/// the trailing spaces of `char(n)` values cut (they are not significant in PostgreSQL:
/// comparisons, `length` and casts to text ignore them; the wire layer pads the values
/// back to `n`). Lengths are counted in characters, as PostgreSQL does; trailing spaces
/// beyond the length are cut, as PostgreSQL does. Only columns with a length are read.
pub fn check_columns(def: &TableDef, batch: RecordBatch) -> Result<RecordBatch> {
    let mut trimmed: Vec<(usize, ArrayRef)> = vec![];
    for (i, c) in def.columns.iter().enumerate() {
        if batch.num_columns() <= i {
            continue;
        }
        if !c.nullable && batch.column(i).null_count() > 0 {
            return Err(Error::NotNull {
                table: def.name.clone(),
                column: c.name.clone(),
            });
        }
        if let Some(n) = c.max_length
            && let Some(values) = batch.column(i).as_string_opt::<i32>()
        {
            let n = n as usize;
            // Byte length bounds the character count: most values need no counting.
            let too_long = values
                .iter()
                .flatten()
                .any(|s| s.len() > n && s.trim_end_matches(' ').chars().nth(n).is_some());
            if too_long {
                return Err(Error::TooLong {
                    ty: c.pg_type_name(),
                });
            }
            // The value as PostgreSQL stores it: a char(n) without trailing spaces (see
            // above), a varchar(n) cut to n characters (what is cut is spaces).
            let stored = |s: &'_ str| -> usize {
                if c.ty == ColumnType::Bpchar {
                    s.trim_end_matches(' ').len()
                } else if s.len() > n {
                    s.char_indices().nth(n).map_or(s.len(), |(at, _)| at)
                } else {
                    s.len()
                }
            };
            if values.iter().flatten().any(|s| stored(s) < s.len()) {
                let cut: arrow::array::StringArray =
                    values.iter().map(|s| s.map(|s| &s[..stored(s)])).collect();
                trimmed.push((i, Arc::new(cut)));
            }
        }
    }
    if trimmed.is_empty() {
        return Ok(batch);
    }
    let mut cols = batch.columns().to_vec();
    for (i, a) in trimmed {
        cols[i] = a;
    }
    Ok(RecordBatch::try_new(batch.schema(), cols)?)
}

/// Min/max of the time column of a batch (0, 0 without one).
fn time_bounds(def: &TableDef, batch: &RecordBatch) -> (i64, i64) {
    let Some(tc) = def.time_column else {
        return (0, 0);
    };
    let Some(a) = batch
        .column(tc)
        .as_primitive_opt::<TimestampMicrosecondType>()
    else {
        return (i64::MIN, i64::MAX);
    };
    let min = arrow::compute::min(a).unwrap_or(0);
    let max = arrow::compute::max(a).unwrap_or(0);
    (min, max)
}

/// Groups rows by time partition (everything in partition 0 without a time column).
fn split_by_partition(
    def: &TableDef,
    batches: Vec<RecordBatch>,
) -> Result<BTreeMap<i64, Vec<RecordBatch>>> {
    let mut out: BTreeMap<i64, Vec<RecordBatch>> = BTreeMap::new();
    let Some(tc) = def.time_column else {
        out.insert(0, batches);
        return Ok(out);
    };
    for batch in batches {
        let times = batch
            .column(tc)
            .as_primitive_opt::<TimestampMicrosecondType>()
            .ok_or_else(|| Error::Internal("time column is not timestamp(us)".into()))?;
        let mut groups: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        for (i, v) in times.values().iter().enumerate() {
            groups
                .entry(def.partition_start(*v))
                .or_default()
                .push(i as u32);
        }
        for (part, idx) in groups {
            let sub = take_record_batch(&batch, &UInt32Array::from(idx))?;
            out.entry(part).or_default().push(sub);
        }
    }
    Ok(out)
}

/// Splits a batch by time partition and appends it to the memtables; returns bytes added.
fn insert_into_memtable(td: &mut TableData, batch: RecordBatch) -> Result<usize> {
    let Some(tc) = td.def.time_column else {
        let p = td.active.entry(0).or_default();
        let before = p.bytes;
        p.push(batch, 0, 0);
        return Ok(p.bytes - before);
    };
    let times = batch
        .column(tc)
        .as_primitive_opt::<TimestampMicrosecondType>()
        .ok_or_else(|| Error::Internal("time column is not timestamp(us)".into()))?
        .clone();
    let (min, max) = (
        arrow::compute::min(&times).unwrap_or(0),
        arrow::compute::max(&times).unwrap_or(0),
    );
    let (pmin, pmax) = (td.def.partition_start(min), td.def.partition_start(max));
    let mut added = 0;
    if pmin == pmax {
        let p = td.active.entry(pmin).or_default();
        let before = p.bytes;
        p.push(batch, min, max);
        return Ok(p.bytes - before);
    }
    let mut groups: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    for (i, v) in times.values().iter().enumerate() {
        groups
            .entry(td.def.partition_start(*v))
            .or_default()
            .push(i as u32);
    }
    for (part, idx) in groups {
        let idx = UInt32Array::from(idx);
        let sub = take_record_batch(&batch, &idx)?;
        let st = sub.column(tc).as_primitive::<TimestampMicrosecondType>();
        let (a, b) = (
            arrow::compute::min(st).unwrap_or(0),
            arrow::compute::max(st).unwrap_or(0),
        );
        let p = td.active.entry(part).or_default();
        let before = p.bytes;
        p.push(sub, a, b);
        added += p.bytes - before;
    }
    Ok(added)
}

/// Deletes Parquet files of a table that its manifest does not list (crash leftovers).
fn remove_orphans(data_dir: &Path, table: TableId, m: &Manifest) {
    // A cold file's local copy (a crash between the manifest switch and its removal) is
    // not listed either: the manifest says the file lives in the cold store.
    let listed: HashSet<&str> = m
        .files
        .iter()
        .filter(|f| f.tier.is_hot())
        .map(|f| f.path.as_str())
        .collect();
    let root = data_dir.join(manifest::table_dir_rel(table));
    let Ok(parts) = std::fs::read_dir(&root) else {
        return;
    };
    for part in parts.flatten() {
        if !part.path().is_dir() {
            continue;
        }
        let Ok(files) = std::fs::read_dir(part.path()) else {
            continue;
        };
        for f in files.flatten() {
            let rel = format!(
                "{}/{}/{}",
                manifest::table_dir_rel(table),
                part.file_name().to_string_lossy(),
                f.file_name().to_string_lossy()
            );
            if !listed.contains(rel.as_str()) {
                info!(path = %rel, "removing file not listed in the manifest (left by a crash)");
                let _ = std::fs::remove_file(f.path());
            }
        }
    }
}

/// Removes directories of tables no longer in the catalog (a crash during DROP TABLE).
fn remove_dropped_table_dirs(data_dir: &Path, cat: &CatalogState) {
    let live: HashSet<String> = cat
        .tables
        .iter()
        .map(|t| manifest::table_dir_rel(t.id))
        .collect();
    let Ok(entries) = std::fs::read_dir(data_dir.join("tables")) else {
        return;
    };
    for e in entries.flatten() {
        let rel = format!("tables/{}", e.file_name().to_string_lossy());
        if !live.contains(&rel) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

mod dedup;
mod tier;

pub use dedup::{KeyGuard, KeyLookup, MAX_INDEXED_PARTITIONS, encode_keys};
pub use tier::ChunkInfo;

#[cfg(test)]
mod tests;
