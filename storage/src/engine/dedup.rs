//! Primary keys: uniqueness checks, first-write-wins and last-write-wins writes.
//!
//! A table whose [`TableDef::primary_key`] is not empty never holds two rows with one key.
//! Every write to such a table holds the table's *key lock* ([`KeyGuard`]) from the key
//! lookup to the memtable insert, so two writers cannot both add the same key.
//!
//! ## Key index
//! Per table and per time partition that writes touched: the set of the encoded keys
//! (Arrow row format of the key columns) of every row of the partition, in memtables and
//! in files, plus the ids of the files it was read from. It is built lazily the first time
//! a write touches the partition (memtable batches + the key columns of the partition's
//! files) and kept up to date by writes. A flush tells it which files it produced (same
//! rows, same keys); any other change of the partition's file list (DELETE, compaction,
//! dropped chunks, an upsert rewriting files) makes the file set differ and the partition
//! is rebuilt on its next use. At most [`MAX_INDEXED_PARTITIONS`] partitions per table are
//! kept (least recently used first out).
//!
//! ## Writes
//! * Plain writes ([`Storage::write_many`]) to a table with a key fail with
//!   [`Error::UniqueViolation`] if a row's key is stored or repeats within the write;
//!   nothing is written then.
//! * First write wins / last write wins ([`Storage::lookup_keys`], [`Storage::existing_rows`],
//!   [`Storage::write_keyed`]): the caller resolves conflicts under the key lock and writes
//!   only rows with new keys, plus the rows that replace stored rows ("replacements").
//!   The WAL holds exactly what was written, so replay of first-write-wins is a plain insert.
//! * Replacements whose old rows are all in the active memtable are one WAL
//!   [`WalRecord::Upsert`] record (replay removes memtable rows with the same keys, then
//!   appends), applied to the memtable in place. Otherwise (an old row is in a file, or in
//!   a memtable being flushed) the statement's rows go through [`Storage::rewrite_where`]:
//!   memtables are flushed, the files holding old rows rewritten without them and the new
//!   rows added, all in one manifest update (atomic and durable without the WAL).

use std::collections::{HashMap, HashSet};
use std::fs::File;

use arrow::array::ArrayRef;
use arrow::compute::concat_batches;
use arrow::datatypes::Schema;
use arrow::row::{RowConverter, Rows, SortField};

use super::*;
use crate::ids::FileId;
use crate::parquet_io::read_columns;

/// Partitions whose keys a table keeps in memory at most.
pub const MAX_INDEXED_PARTITIONS: usize = 16;

/// The key index of one table (see the module documentation).
#[derive(Debug, Default)]
pub(super) struct KeyIndex {
    /// Partition width and key columns the index was built for; a change drops it.
    shape: Option<(i64, Vec<usize>)>,
    parts: HashMap<i64, PartKeys>,
    clock: u64,
}

#[derive(Debug, Default)]
struct PartKeys {
    keys: HashSet<Box<[u8]>>,
    files: HashSet<FileId>,
    last_use: u64,
}

impl KeyIndex {
    /// Drops everything if the table's partitioning or key changed.
    fn check_shape(&mut self, def: &TableDef) -> Result<()> {
        let shape = (def.partition_micros, key_columns(def)?);
        if self.shape.as_ref() != Some(&shape) {
            self.parts.clear();
            self.shape = Some(shape);
        }
        Ok(())
    }

    /// Is partition `p` indexed and in step with the manifest's files?
    fn is_valid(&self, p: i64, m: &Manifest) -> bool {
        let Some(pk) = self.parts.get(&p) else {
            return false;
        };
        let mut n = 0;
        for f in m.files.iter().filter(|f| f.partition == p) {
            if !pk.files.contains(&f.id) {
                return false;
            }
            n += 1;
        }
        n == pk.files.len()
    }

    fn install(&mut self, p: i64, keys: HashSet<Box<[u8]>>, files: HashSet<FileId>) {
        self.clock += 1;
        self.parts.insert(
            p,
            PartKeys {
                keys,
                files,
                last_use: self.clock,
            },
        );
    }

    /// Forgets the least recently used partitions beyond [`MAX_INDEXED_PARTITIONS`],
    /// never those in `keep` (the ones the current write looked up).
    fn evict(&mut self, keep: &[i64]) {
        while self.parts.len() > MAX_INDEXED_PARTITIONS {
            let Some(oldest) = self
                .parts
                .iter()
                .filter(|(k, _)| !keep.contains(k))
                .min_by_key(|(_, v)| v.last_use)
                .map(|(k, _)| *k)
            else {
                break;
            };
            self.parts.remove(&oldest);
        }
    }

    /// A flush wrote the rows of a frozen memtable of partition `p` as file `id`.
    pub(super) fn note_flushed(&mut self, p: i64, id: FileId) {
        if let Some(pk) = self.parts.get_mut(&p) {
            pk.files.insert(id);
        }
    }

    /// Number of keys indexed for partition `p` (tests).
    #[cfg(test)]
    pub(super) fn indexed(&self, p: i64) -> Option<usize> {
        self.parts.get(&p).map(|k| k.keys.len())
    }
}

/// Indexes of the primary key columns of a table.
pub(super) fn key_columns(def: &TableDef) -> Result<Vec<usize>> {
    names_to_indexes(def, &def.primary_key)
}

fn names_to_indexes(def: &TableDef, names: &[String]) -> Result<Vec<usize>> {
    names
        .iter()
        .map(|n| {
            def.column_index(n).ok_or_else(|| {
                Error::Internal(format!(
                    "primary key column \"{n}\" is not a column of \"{}\"",
                    def.name
                ))
            })
        })
        .collect()
}

/// Encodes the columns `cols` of `batch` in Arrow's row format: equal keys give equal
/// bytes.
fn encode(schema: &Schema, cols: &[usize], batch: &RecordBatch) -> Result<Rows> {
    let conv = RowConverter::new(
        cols.iter()
            .map(|&i| SortField::new(schema.field(i).data_type().clone()))
            .collect(),
    )?;
    let arrays: Vec<ArrayRef> = cols.iter().map(|&i| Arc::clone(batch.column(i))).collect();
    Ok(conv.convert_columns(&arrays)?)
}

/// The time partition of every row (0 without a time column).
fn partitions_of(def: &TableDef, batch: &RecordBatch) -> Result<Vec<i64>> {
    let Some(tc) = def.time_column else {
        return Ok(vec![0; batch.num_rows()]);
    };
    let times = batch
        .column(tc)
        .as_primitive_opt::<TimestampMicrosecondType>()
        .ok_or_else(|| Error::Internal("time column is not timestamp(us)".into()))?;
    Ok(times
        .values()
        .iter()
        .map(|v| def.partition_start(*v))
        .collect())
}

/// Held by a writer of a table with a primary key from its key lookup to its write.
#[derive(Debug)]
pub struct KeyGuard {
    table: TableId,
    _lock: tokio::sync::OwnedMutexGuard<()>,
}

impl KeyGuard {
    /// The table locked.
    pub fn table(&self) -> TableId {
        self.table
    }
}

/// What the stored rows say about the keys of rows to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLookup {
    /// Per row: a row with this key is stored (or pending, see [`Storage::lookup_keys`]).
    pub exists: Vec<bool>,
    /// Per row: the first earlier row of the same batch with the same key.
    pub dup_of: Vec<Option<usize>>,
}

impl KeyLookup {
    /// The first row that a plain INSERT could not add: its key is stored or it repeats
    /// an earlier row's.
    pub fn first_conflict(&self) -> Option<usize> {
        (0..self.exists.len()).find(|&i| self.exists[i] || self.dup_of[i].is_some())
    }
}

/// Rows to remove from the active memtable: the new batches of each partition, and how
/// many rows they lost.
type RemovalPlan = (Vec<(i64, Vec<RecordBatch>)>, usize);

/// Plans removing rows whose keys (per partition) are in `keys` from the active memtable.
fn plan_removal(
    td: &TableData,
    cols: &[usize],
    keys: &HashMap<i64, HashSet<Box<[u8]>>>,
) -> Result<RemovalPlan> {
    let mut out = vec![];
    let mut removed = 0;
    for (p, want) in keys {
        let Some(part) = td.active.get(p) else {
            continue;
        };
        let mut batches = Vec::with_capacity(part.batches.len());
        let mut changed = false;
        for b in &part.batches {
            let rows = encode(&td.schema, cols, b)?;
            let keep: BooleanArray = rows
                .iter()
                .map(|r| Some(!want.contains(r.as_ref())))
                .collect();
            let gone = b.num_rows() - keep.true_count();
            if gone == 0 {
                batches.push(b.clone());
                continue;
            }
            removed += gone;
            changed = true;
            let kept = filter_record_batch(b, &keep)?;
            if kept.num_rows() > 0 {
                batches.push(kept);
            }
        }
        if changed {
            out.push((*p, batches));
        }
    }
    Ok((out, removed))
}

/// Applies a [`plan_removal`]; returns the change of memtable bytes.
fn apply_removal(td: &mut TableData, plan: Vec<(i64, Vec<RecordBatch>)>) -> i64 {
    let mut delta = 0i64;
    for (p, batches) in plan {
        if let Some(part) = td.active.get_mut(&p) {
            let bytes: usize = batches.iter().map(|b| b.get_array_memory_size()).sum();
            delta += bytes as i64 - part.bytes as i64;
            part.bytes = bytes;
            part.batches = batches;
        }
    }
    delta
}

/// Encoded keys of `batch` grouped by partition.
fn keys_by_partition(
    def: &TableDef,
    schema: &Schema,
    cols: &[usize],
    batch: &RecordBatch,
) -> Result<HashMap<i64, HashSet<Box<[u8]>>>> {
    let rows = encode(schema, cols, batch)?;
    let parts = partitions_of(def, batch)?;
    let mut out: HashMap<i64, HashSet<Box<[u8]>>> = HashMap::new();
    for (i, p) in parts.into_iter().enumerate() {
        out.entry(p)
            .or_default()
            .insert(rows.row(i).as_ref().into());
    }
    Ok(out)
}

/// WAL replay of a [`WalRecord::Upsert`]: removes memtable rows with the keys of `batch`,
/// then appends it. Returns the change of memtable bytes.
pub(super) fn replay_upsert(
    td: &mut TableData,
    key_columns: &[String],
    batch: RecordBatch,
) -> Result<i64> {
    let def = Arc::clone(&td.def);
    let cols = names_to_indexes(&def, key_columns)?;
    let keys = keys_by_partition(&def, &td.schema, &cols, &batch)?;
    let (plan, _) = plan_removal(td, &cols, &keys)?;
    let mut delta = apply_removal(td, plan);
    delta += insert_into_memtable(td, batch)? as i64;
    Ok(delta)
}

impl Storage {
    /// Takes the key lock of a table (see the module documentation).
    pub async fn lock_keys(&self, table: TableId) -> Result<KeyGuard> {
        let lock = Arc::clone(&self.table(table)?.lock().key_lock);
        Ok(KeyGuard {
            table,
            _lock: lock.lock_owned().await,
        })
    }

    /// Reads a file of a table: the columns named `columns` (all if None), in `schema`'s
    /// types. Every read of a table's file for dedup goes through here.
    async fn read_file_rows(
        &self,
        schema: &SchemaRef,
        f: &FileMeta,
        columns: Option<Vec<String>>,
    ) -> Result<Vec<RecordBatch>> {
        let schema = Arc::clone(schema);
        match f.tier {
            manifest::Tier::Hot => {
                let path = self.config.data_dir.join(&f.path);
                tokio::task::spawn_blocking(move || {
                    let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
                    read_columns(file, &schema, columns.as_deref())
                })
                .await
                .map_err(|e| Error::Internal(e.to_string()))?
            }
            // Keys of cold partitions are checked too (a late duplicate of a cold row).
            manifest::Tier::Cold => {
                let bytes = self.cold.get(&f.path).await?;
                tokio::task::spawn_blocking(move || {
                    read_columns(bytes, &schema, columns.as_deref())
                })
                .await
                .map_err(|e| Error::Internal(e.to_string()))?
            }
        }
    }

    /// Makes sure the key index of `table` covers partitions `parts`.
    async fn ensure_key_index(&self, t: &Arc<Mutex<TableData>>, parts: &[i64]) -> Result<()> {
        for &p in parts {
            let mut attempts = 0;
            loop {
                let (def, schema, batches, files) = {
                    let mut td = t.lock();
                    let td = &mut *td;
                    let def = Arc::clone(&td.def);
                    td.keys.check_shape(&def)?;
                    if td.keys.is_valid(p, &td.manifest) {
                        td.keys.clock += 1;
                        let now = td.keys.clock;
                        if let Some(pk) = td.keys.parts.get_mut(&p) {
                            pk.last_use = now;
                        }
                        break;
                    }
                    let mut batches = vec![];
                    for m in [&td.active, &td.frozen] {
                        if let Some(part) = m.get(&p) {
                            batches.extend(part.batches.iter().cloned());
                        }
                    }
                    let files: Vec<FileMeta> = td
                        .manifest
                        .files
                        .iter()
                        .filter(|f| f.partition == p)
                        .cloned()
                        .collect();
                    (def, Arc::clone(&td.schema), batches, files)
                };
                attempts += 1;
                if attempts > 8 {
                    return Err(Error::Internal(format!(
                        "the key index of \"{}\" could not be built: its files kept changing",
                        def.name
                    )));
                }
                let cols = key_columns(&def)?;
                let mut keys: HashSet<Box<[u8]>> = HashSet::new();
                for b in &batches {
                    for r in encode(&schema, &cols, b)?.iter() {
                        keys.insert(r.as_ref().into());
                    }
                }
                let key_schema = Arc::new(schema.project(&cols)?);
                let all: Vec<usize> = (0..cols.len()).collect();
                for f in &files {
                    for b in self
                        .read_file_rows(&schema, f, Some(def.primary_key.clone()))
                        .await?
                    {
                        for r in encode(&key_schema, &all, &b)?.iter() {
                            keys.insert(r.as_ref().into());
                        }
                    }
                }
                let mut td = t.lock();
                let same = td.def.partition_micros == def.partition_micros
                    && td.def.primary_key == def.primary_key;
                if same {
                    td.keys
                        .install(p, keys, files.iter().map(|f| f.id).collect());
                }
            }
        }
        Ok(())
    }

    /// Looks up the keys of `batch` (rows in the table's schema) under the key lock:
    /// which are stored, and which repeat an earlier row. Keys of the rows in `pending`
    /// (written but not committed yet, by a transaction block) count as stored.
    pub async fn lookup_keys(
        &self,
        g: &KeyGuard,
        batch: &RecordBatch,
        pending: &[RecordBatch],
    ) -> Result<KeyLookup> {
        let t = self.table(g.table)?;
        let (def, schema) = {
            let td = t.lock();
            (Arc::clone(&td.def), Arc::clone(&td.schema))
        };
        let cols = key_columns(&def)?;
        let batch = check_columns(&def, adapt_batch(batch, &schema)?)?;
        let parts = partitions_of(&def, &batch)?;
        let mut uniq = parts.clone();
        uniq.sort_unstable();
        uniq.dedup();
        self.ensure_key_index(&t, &uniq).await?;
        let rows = encode(&schema, &cols, &batch)?;
        let mut pend: HashSet<Box<[u8]>> = HashSet::new();
        for b in pending {
            let b = adapt_batch(b, &schema)?;
            for r in encode(&schema, &cols, &b)?.iter() {
                pend.insert(r.as_ref().into());
            }
        }
        let mut first: HashMap<&[u8], usize> = HashMap::new();
        let mut exists = Vec::with_capacity(batch.num_rows());
        let mut dup_of = Vec::with_capacity(batch.num_rows());
        let mut td = t.lock();
        for p in &uniq {
            // Only a concurrent change of the table's shape removes an indexed partition.
            if !td.keys.parts.contains_key(p) {
                return Err(Error::Internal(format!(
                    "the key index of \"{}\" changed during a write; retry",
                    def.name
                )));
            }
        }
        for (i, p) in parts.iter().enumerate() {
            let r = rows.row(i);
            let k = r.data();
            let stored = td.keys.parts.get(p).is_some_and(|pk| pk.keys.contains(k));
            exists.push(stored || pend.contains(k));
            match first.get(k) {
                Some(j) => dup_of.push(Some(*j)),
                None => {
                    first.insert(k, i);
                    dup_of.push(None);
                }
            }
        }
        td.keys.evict(&uniq);
        Ok(KeyLookup { exists, dup_of })
    }

    /// The stored rows with the keys of rows `rows` of `batch`: a batch of the found rows
    /// and, per entry of `rows`, the index of its stored row in it (None: not stored).
    pub async fn existing_rows(
        &self,
        g: &KeyGuard,
        batch: &RecordBatch,
        rows: &[usize],
    ) -> Result<(RecordBatch, Vec<Option<usize>>)> {
        let t = self.table(g.table)?;
        let (def, schema) = {
            let td = t.lock();
            (Arc::clone(&td.def), Arc::clone(&td.schema))
        };
        let cols = key_columns(&def)?;
        let batch = adapt_batch(batch, &schema)?;
        let enc = encode(&schema, &cols, &batch)?;
        let parts = partitions_of(&def, &batch)?;
        let mut wanted: HashMap<i64, HashMap<Box<[u8]>, usize>> = HashMap::new();
        for (pos, &i) in rows.iter().enumerate() {
            wanted
                .entry(parts[i])
                .or_default()
                .insert(enc.row(i).as_ref().into(), pos);
        }
        let mut found: Vec<RecordBatch> = vec![];
        let mut index: Vec<Option<usize>> = vec![None; rows.len()];
        let mut n_found = 0usize;
        for (p, want) in &wanted {
            let (batches, files) = {
                let td = t.lock();
                let mut batches = vec![];
                for m in [&td.active, &td.frozen] {
                    if let Some(part) = m.get(p) {
                        batches.extend(part.batches.iter().cloned());
                    }
                }
                let files: Vec<FileMeta> = td
                    .manifest
                    .files
                    .iter()
                    .filter(|f| f.partition == *p)
                    .cloned()
                    .collect();
                (batches, files)
            };
            let mut scan = |b: &RecordBatch| -> Result<()> {
                let b = adapt_batch(b, &schema)?;
                let r = encode(&schema, &cols, &b)?;
                let mut take = vec![];
                for i in 0..b.num_rows() {
                    if let Some(&pos) = want.get(r.row(i).as_ref())
                        && index[pos].is_none()
                    {
                        index[pos] = Some(n_found);
                        n_found += 1;
                        take.push(i as u32);
                    }
                }
                if !take.is_empty() {
                    found.push(take_record_batch(&b, &UInt32Array::from(take))?);
                }
                Ok(())
            };
            for b in &batches {
                scan(b)?;
            }
            for f in &files {
                for b in self.read_file_rows(&schema, f, None).await? {
                    scan(&b)?;
                }
            }
        }
        Ok((concat_batches(&schema, &found)?, index))
    }

    /// The error of a plain write of row `row` of `batch` whose key is taken.
    fn unique_violation(&self, def: &TableDef, batch: &RecordBatch, row: usize) -> Error {
        let key = key_columns(def)
            .and_then(|cols| Ok(batch.project(&cols)?.slice(row, 1)))
            .unwrap_or_else(|_| RecordBatch::new_empty(Arc::new(Schema::empty())));
        Error::UniqueViolation {
            constraint: format!("{}_pkey", def.name),
            key,
        }
    }

    /// Adds the keys of rows just written to the index (or drops the index of the table
    /// if the write failed: its outcome is unknown).
    fn note_written(&self, table: TableId, batches: &[RecordBatch], ok: bool) -> Result<()> {
        let t = self.table(table)?;
        let mut td = t.lock();
        if !ok {
            td.keys = KeyIndex::default();
            return Ok(());
        }
        let (def, schema) = (Arc::clone(&td.def), Arc::clone(&td.schema));
        let cols = key_columns(&def)?;
        for b in batches {
            let b = adapt_batch(b, &schema)?;
            for (p, keys) in keys_by_partition(&def, &schema, &cols, &b)? {
                if let Some(pk) = td.keys.parts.get_mut(&p) {
                    pk.keys.extend(keys);
                }
            }
        }
        Ok(())
    }

    /// [`Storage::write_many`] when a table written has a primary key: the keys of every
    /// such table are checked under its key lock, then everything is written at once.
    pub(super) async fn write_many_keyed(
        &self,
        entries: Vec<(TableId, RecordBatch)>,
    ) -> Result<()> {
        let mut keyed: Vec<TableId> = vec![];
        for (t, _) in &entries {
            if !self.table(*t)?.lock().def.primary_key.is_empty() {
                keyed.push(*t);
            }
        }
        keyed.sort_unstable();
        keyed.dedup();
        let mut guards = Vec::with_capacity(keyed.len());
        for t in &keyed {
            guards.push(self.lock_keys(*t).await?);
        }
        let mut written = vec![];
        for g in &guards {
            let (def, schema) = {
                let t = self.table(g.table)?;
                let td = t.lock();
                (Arc::clone(&td.def), Arc::clone(&td.schema))
            };
            let batches = entries
                .iter()
                .filter(|(t, _)| *t == g.table)
                .map(|(_, b)| adapt_batch(b, &schema))
                .collect::<Result<Vec<_>>>()?;
            let all = concat_batches(&schema, &batches)?;
            let look = self.lookup_keys(g, &all, &[]).await?;
            if let Some(i) = look.first_conflict() {
                return Err(self.unique_violation(&def, &all, i));
            }
            written.push((g.table, all));
        }
        let r = self.write_unkeyed(entries).await;
        for (t, b) in written {
            self.note_written(t, &[b], r.is_ok())?;
        }
        r
    }

    /// Writes rows of the table locked by `g` whose conflicts the caller resolved under
    /// `g`: `entries` are rows with new keys (and, without replacements, rows of other
    /// tables derived from them, in the same WAL record); `replace` rows replace the
    /// stored rows with the same keys. Atomic: after a crash all or nothing is there.
    pub async fn write_keyed(
        &self,
        g: &KeyGuard,
        entries: Vec<(TableId, RecordBatch)>,
        replace: Option<RecordBatch>,
    ) -> Result<()> {
        let table = g.table;
        let entries: Vec<_> = entries
            .into_iter()
            .filter(|(_, b)| b.num_rows() > 0)
            .collect();
        let Some(rep) = replace.filter(|b| b.num_rows() > 0) else {
            let mine: Vec<RecordBatch> = entries
                .iter()
                .filter(|(t, _)| *t == table)
                .map(|(_, b)| b.clone())
                .collect();
            let r = self.write_unkeyed(entries).await;
            self.note_written(table, &mine, r.is_ok())?;
            return r;
        };
        if entries.iter().any(|(t, _)| *t != table) {
            return Err(Error::Internal(
                "rows of other tables cannot be written with replacements".into(),
            ));
        }
        let t = self.table(table)?;
        let (def, schema) = {
            let td = t.lock();
            (Arc::clone(&td.def), Arc::clone(&td.schema))
        };
        let mut batches = entries
            .into_iter()
            .map(|(_, b)| adapt_batch(&b, &schema))
            .collect::<Result<Vec<_>>>()?;
        let rep = adapt_batch(&rep, &schema)?;
        batches.push(rep.clone());
        let all = check_columns(&def, concat_batches(&schema, &batches)?)?;
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::ShuttingDown);
        }
        let cols = key_columns(&def)?;
        let done = self
            .replace_in_memtable(&def, &cols, &rep, all.clone())
            .await;
        match done {
            Ok(true) => return self.note_written(table, &[all], true),
            Ok(false) => {}
            Err(e) => {
                self.note_written(table, &[], false)?;
                return Err(e);
            }
        }
        // Slow path: an old row is in a file (or being flushed).
        let keys: HashSet<Box<[u8]>> = encode(&schema, &cols, &rep)?
            .iter()
            .map(|r| r.as_ref().into())
            .collect();
        let range = match def.time_column {
            Some(tc) => {
                let ts = rep
                    .column(tc)
                    .as_primitive_opt::<TimestampMicrosecondType>()
                    .ok_or_else(|| Error::Internal("time column is not timestamp(us)".into()))?;
                TimeRange {
                    min: arrow::compute::min(ts).unwrap_or(i64::MIN),
                    max: arrow::compute::max(ts).unwrap_or(i64::MAX),
                }
            }
            None => TimeRange::ALL,
        };
        let schema2 = Arc::clone(&schema);
        let pred = move |b: &RecordBatch| -> Result<BooleanArray> {
            let rows = encode(&schema2, &cols, b)?;
            Ok(rows
                .iter()
                .map(|r| Some(keys.contains(r.as_ref())))
                .collect())
        };
        let r = self.rewrite_where(table, range, &pred, vec![all]).await;
        // The partition's files changed: its index is rebuilt on next use.
        if r.is_err() {
            self.note_written(table, &[], false)?;
        }
        r.map(|_| ())
    }

    /// Replaces rows in the active memtable if every old row is there: one WAL Upsert
    /// record, then the memtable. Returns false (nothing done) otherwise.
    async fn replace_in_memtable(
        &self,
        def: &TableDef,
        cols: &[usize],
        rep: &RecordBatch,
        all: RecordBatch,
    ) -> Result<bool> {
        self.wait_for_memory().await;
        let t = self.table(def.id)?;
        let schema = Arc::clone(&t.lock().schema);
        let keys = keys_by_partition(def, &schema, cols, rep)?;
        let payload = WalRecord::Upsert {
            table: def.id,
            key_columns: def.primary_key.clone(),
            batch: all.clone(),
        }
        .encode()?;
        let _g = self.gate.read().await;
        let t = self.table(def.id)?;
        let (plan, removed) = {
            let td = t.lock();
            if td.schema.fields() != schema.fields() || td.def.primary_key != def.primary_key {
                return Ok(false);
            }
            plan_removal(&td, cols, &keys)?
        };
        if removed != rep.num_rows() {
            return Ok(false);
        }
        self.wal.append(payload).await?;
        // Nothing changed the active memtable meanwhile: freezing needs the gate, and
        // other writers of the table the key lock.
        let delta = {
            let mut td = t.lock();
            if td.oldest_active.is_none() {
                td.oldest_active = Some(Instant::now());
            }
            apply_removal(&mut td, plan) + insert_into_memtable(&mut td, all)? as i64
        };
        if delta >= 0 {
            let now = self
                .active_bytes
                .fetch_add(delta as usize, Ordering::Relaxed)
                + delta as usize;
            if now > self.config.memtable_budget_bytes / 2 {
                self.flush_wanted.notify_one();
            }
        } else {
            let d = delta.unsigned_abs() as usize;
            self.active_bytes.fetch_sub(
                d.min(self.active_bytes.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
        }
        Ok(true)
    }
}

impl Storage {
    /// `ALTER TABLE ... ADD PRIMARY KEY (columns)`: checks under the write gate (writers
    /// wait) that the stored rows have no NULL ([`Error::NullsInKey`]) and no repeated key
    /// ([`Error::DuplicateKey`]) in those columns, then stores the key (its columns become
    /// NOT NULL). From then on writes enforce it like a key declared at CREATE TABLE.
    pub async fn add_primary_key(&self, table: TableId, columns: Vec<String>) -> Result<()> {
        let _m = self.maintenance.lock().await;
        let _g = self.gate.write().await;
        let seg = self.freeze().await?;
        self.persist_frozen(seg).await?;
        let t = self.table(table)?;
        let (def, schema, files) = {
            let td = t.lock();
            (
                Arc::clone(&td.def),
                Arc::clone(&td.schema),
                td.manifest.files.clone(),
            )
        };
        let mut new = (*def).clone();
        new.primary_key = columns;
        let cols = key_columns(&new)?;
        for &c in &cols {
            new.columns[c].nullable = false;
        }
        let key_schema = Arc::new(schema.project(&cols)?);
        let all: Vec<usize> = (0..cols.len()).collect();
        let mut seen: HashMap<i64, HashSet<Box<[u8]>>> = HashMap::new();
        for f in &files {
            for b in self
                .read_file_rows(&schema, f, Some(new.primary_key.clone()))
                .await?
            {
                let b = adapt_batch(&b, &key_schema)?;
                for (i, c) in b.columns().iter().enumerate() {
                    if c.null_count() > 0 {
                        return Err(Error::NullsInKey {
                            table: def.name.clone(),
                            column: new.primary_key[i].clone(),
                        });
                    }
                }
                let part = seen.entry(f.partition).or_default();
                let rows = encode(&key_schema, &all, &b)?;
                for (i, r) in rows.iter().enumerate() {
                    if !part.insert(r.as_ref().into()) {
                        return Err(Error::DuplicateKey {
                            index: format!("{}_pkey", def.name),
                            key: b.slice(i, 1),
                        });
                    }
                }
            }
        }
        let mut cat = (*self.catalog()).clone();
        let Some(pos) = cat.tables.iter().position(|x| x.id == table) else {
            return Err(Error::TableNotFound(def.name.clone()));
        };
        let new = Arc::new(new);
        cat.tables[pos] = Arc::clone(&new);
        catalog::store(&self.config.data_dir, &cat)?;
        {
            let mut td = t.lock();
            td.def = new;
            td.keys = KeyIndex::default();
        }
        *self.catalog.write() = Arc::new(cat);
        Ok(())
    }
}

/// Encoded primary keys of the rows of `batch` (in `def`'s schema), for callers that
/// compare keys themselves (a transaction block's own rows).
pub fn encode_keys(def: &TableDef, batch: &RecordBatch) -> Result<Vec<Box<[u8]>>> {
    let schema = def.arrow_schema();
    let cols = key_columns(def)?;
    let batch = adapt_batch(batch, &schema)?;
    Ok(encode(&schema, &cols, &batch)?
        .iter()
        .map(|r| r.as_ref().into())
        .collect())
}

#[cfg(test)]
mod tests;
