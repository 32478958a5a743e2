//! `TsTable`: the DataFusion [`TableProvider`] over a storage table.
//!
//! `scan` derives the time range from the pushed-down filters. For queries (tables from
//! the session catalog, [`TsTable::snapshot_at_execution`]) it plans a
//! [`StorageScanExec`], which takes the storage snapshot when the query runs. Otherwise it
//! asks storage for a [`ReadSnapshot`](strata_storage::ReadSnapshot) of the partitions and
//! files in that range now, and plans:
//!
//! ```text
//! UnionExec
//!   DataSourceExec (MemorySourceConfig)  -- memtable batches, projected
//!   DataSourceExec (ParquetSource)       -- files, projected, predicate for row-group/page pruning
//! ```
//!
//! Every filter is reported `Inexact`: pruning skips partitions, files, row groups and pages,
//! but DataFusion still applies the filter to the rows that remain.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::parquet::arrow::arrow_reader::ArrowReaderOptions;
use datafusion::parquet::arrow::async_reader::AsyncFileReader;
use datafusion::parquet::errors::Result as ParquetResult;
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::future::BoxFuture;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::datasource::TableProvider;
use datafusion::datasource::TableType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::parquet::ParquetRowSelection;
use datafusion::datasource::physical_plan::parquet::{
    CachedParquetFileReaderFactory, ParquetFileReaderFactory,
};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result as DfResult;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;
use std::collections::HashMap;
use strata_storage::manifest::{FileMeta, SeriesTails, Tier};

use crate::file_adapter::FileColumnAdapterFactory;
use crate::scan_exec::{ScanSpec, StorageScanExec};
use crate::series_scan::KeyValues;
use datafusion::datasource::source::DataSource;
use datafusion::execution::runtime_env::RuntimeEnv;
use strata_storage::{Storage, TableDef, TimeRange};

/// URL under which the data directory is registered as an object store.
pub const HOT_STORE_URL: &str = "strata-hot://data/";
/// Object store URL of the cold tier (the configured store, rooted at its prefix).
pub const COLD_STORE_URL: &str = "strata-cold://data/";

/// A table of Strata as seen by DataFusion.
#[derive(Debug, Clone)]
pub struct TsTable {
    storage: Arc<Storage>,
    def: Arc<TableDef>,
    schema: SchemaRef,
    /// Uncommitted rows of the reading session's transaction block.
    overlay: Vec<arrow::array::RecordBatch>,
    /// Scans take their snapshot when they run ([`StorageScanExec`]), not when planned.
    at_execution: bool,
    /// Read only the rows at each series' latest time (see [`Self::latest_rows_only`]).
    latest: Option<Arc<[String]>>,
}

impl TsTable {
    pub fn new(storage: Arc<Storage>, def: Arc<TableDef>) -> Self {
        let schema = def.arrow_schema();
        TsTable {
            storage,
            def,
            schema,
            overlay: vec![],
            at_execution: false,
            latest: None,
        }
    }

    /// The table as queries see it: its scans take their storage snapshot when the
    /// query runs, so a physical plan over it can be run again
    /// ([`crate::scan_exec`]). Continuous-aggregate state tables keep planning-time
    /// snapshots (their decoded files are read from a cache, asynchronously).
    pub fn snapshot_at_execution(mut self) -> Self {
        self.at_execution = !self.def.internal;
        self
    }

    /// The same table plus rows only this session sees (its open transaction block).
    pub fn with_overlay(&self, rows: Vec<arrow::array::RecordBatch>) -> Self {
        TsTable {
            storage: Arc::clone(&self.storage),
            def: Arc::clone(&self.def),
            schema: Arc::clone(&self.schema),
            overlay: rows,
            at_execution: self.at_execution,
            latest: self.latest.clone(),
        }
    }

    /// The same table, whose scans read only the rows at each series' latest time
    /// ([`strata_storage::manifest::SeriesTails`]) of the files whose series are named by
    /// all the `keys` columns (and maybe more); other files and memtable rows are read
    /// whole. Only a query that keeps the latest row of each group of rows with equal
    /// values of `keys` (its `DISTINCT ON` columns and the columns its filters read)
    /// may read it (`crate::latest_per_series`).
    pub fn latest_rows_only(&self, keys: Vec<String>) -> Self {
        TsTable {
            latest: Some(keys.into()),
            ..self.clone()
        }
    }

    /// The series columns of [`Self::latest_rows_only`], if set.
    pub fn latest_keys(&self) -> Option<&[String]> {
        self.latest.as_deref()
    }

    /// The table definition this provider was built from.
    pub fn def(&self) -> &Arc<TableDef> {
        &self.def
    }

    /// The series values `filters` (a scan's, over this table's columns) allow, found as
    /// the series scan finds them when it runs (`crate::series_scan`).
    fn series_keys(&self, state: &dyn Session, filters: &[Expr]) -> Option<KeyValues> {
        let df_schema = DFSchema::try_from(Arc::clone(&self.schema)).ok()?;
        // A filter's columns may be qualified by the query's name for the table.
        let unqualified = |e: &Expr| {
            e.clone()
                .transform(|e| match e {
                    Expr::Column(c) => Ok(Transformed::yes(Expr::Column(Column::new_unqualified(
                        c.name,
                    )))),
                    e => Ok(Transformed::no(e)),
                })
                .data()
        };
        let physical: Vec<_> = filters
            .iter()
            .filter_map(|f| {
                let f = unqualified(f).ok()?;
                state.create_physical_expr(f, &df_schema).ok()
            })
            .collect();
        KeyValues::from_filters(&physical, &self.schema)
    }
}

#[async_trait]
impl TableProvider for TsTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let range = match self.def.time_column_def() {
            Some(tc) => time_range(filters, &tc.name),
            None => TimeRange::ALL,
        };
        if self.at_execution {
            let mut spec = ScanSpec {
                storage: Arc::clone(&self.storage),
                def: Arc::clone(&self.def),
                schema: Arc::clone(&self.schema),
                projection: projection.cloned(),
                limit,
                range,
                overlay: self.overlay.clone(),
                latest: self.latest.clone(),
                keys: self.series_keys(state, filters).map(Arc::new),
                expected_rows: 0,
            };
            spec.expected_rows = spec.expected_rows()?;
            let config = state.config();
            let partitions = crate::row_estimate::partitions_for(
                spec.expected_rows,
                config.batch_size(),
                config.target_partitions(),
            );
            return Ok(Arc::new(StorageScanExec::new(spec, partitions)?));
        }
        let mut snap = self
            .storage
            .snapshot(self.def.id, range)
            .map_err(crate::error::Error::from)?;
        snap.batches.extend(self.overlay.iter().cloned());
        // Continuous-aggregate states are read from memory once decoded (dashboards read
        // the same recent states again and again).
        if self.def.internal {
            let mut on_disk = vec![];
            for f in std::mem::take(&mut snap.files) {
                match self
                    .storage
                    .cached_file(&self.def, &f)
                    .await
                    .map_err(crate::error::Error::from)?
                {
                    Some(b) => snap.batches.extend(
                        b.iter()
                            .filter_map(|b| slice_sorted(b, self.def.time_column, range)),
                    ),
                    None => on_disk.push(f),
                }
            }
            snap.files = on_disk;
        }
        // The table may have gained columns since planning started: batches are adapted
        // to the planned schema.
        let n = state.config().target_partitions().max(1);
        let inputs: Vec<Arc<dyn ExecutionPlan>> = scan_sources(
            state.runtime_env(),
            n,
            &self.schema,
            projection,
            limit,
            &snap.batches,
            &snap.files,
            self.latest.as_deref(),
        )?
        .into_iter()
        .map(|s| Arc::new(DataSourceExec::new(s)) as Arc<dyn ExecutionPlan>)
        .collect();
        if inputs.is_empty() {
            let projected = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => Arc::clone(&self.schema),
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        UnionExec::try_new(inputs)
    }
}

/// The sources a scan of `batches` (memtable rows) and `files` reads, each with at most
/// `partitions` partitions: one in-memory source, and one Parquet source per tier. With
/// `latest` series columns, files that know where their series end are read there only
/// ([`TsTable::latest_rows_only`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn scan_sources(
    runtime: &RuntimeEnv,
    partitions: usize,
    schema: &SchemaRef,
    projection: Option<&Vec<usize>>,
    limit: Option<usize>,
    batches: &[arrow::array::RecordBatch],
    files: &[FileMeta],
    latest: Option<&[String]>,
) -> DfResult<Vec<Arc<dyn DataSource>>> {
    let n = partitions.max(1);
    let mut inputs: Vec<Arc<dyn DataSource>> = vec![];
    if !batches.is_empty() {
        let batches = batches
            .iter()
            .map(|b| strata_storage::parquet_io::adapt_batch(b, schema))
            .collect::<Result<Vec<_>, _>>()
            .map_err(crate::error::Error::from)?;
        let mut parts: Vec<Vec<_>> = vec![vec![]; n.min(batches.len())];
        for (i, b) in batches.into_iter().enumerate() {
            let len = parts.len();
            parts[i % len].push(b);
        }
        let mut src = MemorySourceConfig::try_new(&parts, Arc::clone(schema), projection.cloned())?;
        if let Some(l) = limit {
            src = src.with_limit(Some(l));
        }
        inputs.push(Arc::new(src));
    }
    let reads = match latest {
        Some(keys) => latest_rows_selections(files, keys),
        None => HashMap::new(),
    };
    // One Parquet scan per tier: each reads through its own object store (local disk,
    // or ranged requests to the cold store), pruned by the files' statistics.
    for (tier, url) in [(Tier::Hot, HOT_STORE_URL), (Tier::Cold, COLD_STORE_URL)] {
        let files: Vec<&FileMeta> = files
            .iter()
            .filter(|f| f.tier == tier && !reads.get(&f.id).is_some_and(|r| r.is_none()))
            .collect();
        if files.is_empty() {
            continue;
        }
        // Row filters (decode the filter columns first, then only the matching rows of
        // the others) save decoding on local files. On a cold file they cost a second
        // round trip: the filter columns' pages are fetched, then the rest. Without them
        // every surviving page of every column is fetched in one batch of parallel
        // ranged requests, and the filter runs after decoding; page-index pruning still
        // limits the pages to the query's time range.
        let local = tier == Tier::Hot;
        // Footers and page indexes are decoded once and kept in the runtime's bounded
        // metadata cache (keyed by path: a file's path is never reused for other
        // contents), not parsed again by every query.
        let store_url = ObjectStoreUrl::parse(url)?;
        let readers = PageIndexCachingReaders(CachedParquetFileReaderFactory::new(
            runtime.object_store(&store_url)?,
            runtime.cache_manager.get_file_metadata_cache(),
        ));
        // No predicate here: DataFusion's FilterPushdown rule hands the filters of the
        // FilterExec above to the scan, for pruning and as a row filter on local files
        // (`scan_exec` then applies them itself, and the FilterExec goes). Setting them
        // here as well made every file evaluate each conjunct twice. Plans built without
        // the physical optimizer run that rule themselves (see `cagg`).
        let source = ParquetSource::new(Arc::clone(schema))
            // Strata writes no bloom filters (series are found by the sort order and
            // the page index), so there is nothing to look up per row group.
            .with_bloom_filter_on_read(false)
            .with_pushdown_filters(local)
            .with_reorder_filters(local)
            .with_parquet_file_reader_factory(Arc::new(readers));
        let mut groups: Vec<Vec<PartitionedFile>> = vec![vec![]; n.min(files.len())];
        for (i, f) in files.iter().enumerate() {
            let len = groups.len();
            let mut file = PartitionedFile::new(f.path.clone(), f.size_bytes);
            if let Some(Some(rows)) = reads.get(&f.id) {
                file = file.with_extension(rows.clone());
            }
            groups[i % len].push(file);
        }
        let config = FileScanConfigBuilder::new(store_url, Arc::new(source))
            .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .with_expr_adapter(Some(Arc::new(FileColumnAdapterFactory)))
            .build();
        inputs.push(Arc::new(config));
    }
    Ok(inputs)
}

/// Of each file that knows where its series' latest rows are (`SeriesTails`) and whose
/// series are named by all of `keys` (and maybe more columns), the rows to read: those
/// latest rows (None: none, the file is not read), except a series' rows whose latest
/// time is below the latest time of the same series in another file with the same series
/// columns. Files not in the map are read whole.
///
/// Each run of one series in such a file has one value of every column of `keys` (and of
/// every column a filter reads, which the caller counts among `keys`), so the latest row
/// of each group of `keys` is at the latest time of some series; a series' rows below that
/// series' latest time elsewhere cannot be it.
fn latest_rows_selections(
    files: &[FileMeta],
    keys: &[String],
) -> HashMap<strata_storage::ids::FileId, Option<ParquetRowSelection>> {
    let usable = |f: &&FileMeta| {
        f.tails.as_ref().is_some_and(|t| {
            keys.iter().all(|k| t.keys.contains(k))
                && t.ranges
                    .iter()
                    .try_fold(0u64, |at, &[first, n]| {
                        (first >= at && first + n <= f.rows).then_some(first + n)
                    })
                    .is_some()
        })
    };
    let files: Vec<&FileMeta> = files.iter().filter(usable).collect();
    // The latest time of each series over all files naming series alike.
    let named =
        |t: &SeriesTails| t.series.len() == t.ranges.len() && t.latest.len() == t.ranges.len();
    let mut newest: HashMap<(&[String], &str, &str), i64> = HashMap::new();
    for f in &files {
        let Some(t) = f.tails.as_deref().filter(|t| named(t)) else {
            continue;
        };
        for (s, &l) in t.series.iter().zip(&t.latest) {
            let e = newest
                .entry((t.keys.as_slice(), t.time.as_str(), s.as_str()))
                .or_insert(l);
            *e = (*e).max(l);
        }
    }
    let mut out = HashMap::with_capacity(files.len());
    for f in files {
        let Some(t) = f.tails.as_deref() else {
            continue;
        };
        let keep = |i: usize| {
            !named(t)
                || newest
                    .get(&(t.keys.as_slice(), t.time.as_str(), t.series[i].as_str()))
                    .is_none_or(|&n| t.latest[i] >= n)
        };
        let mut selectors = Vec::with_capacity(t.ranges.len() * 2 + 1);
        let mut at = 0u64;
        for (i, &[first, n]) in t.ranges.iter().enumerate() {
            if !keep(i) {
                continue;
            }
            if first > at {
                selectors.push(RowSelector::skip((first - at) as usize));
            }
            selectors.push(RowSelector::select(n as usize));
            at = first + n;
        }
        if selectors.is_empty() {
            out.insert(f.id, None);
            continue;
        }
        if at < f.rows {
            selectors.push(RowSelector::skip((f.rows - at) as usize));
        }
        out.insert(
            f.id,
            Some(ParquetRowSelection::new(RowSelection::from(selectors))),
        );
    }
    out
}

/// Parquet readers over DataFusion's metadata cache that cache each file's page index
/// together with its footer.
///
/// DataFusion's Parquet opener asks for the footer without the page index, then reads and
/// parses the page index itself, outside the cache: every query parsed the page index of
/// every file it opened again (~6% of the CPU of a one-host, one-hour query). Asked for
/// metadata without options, the cached reader loads the page index with the footer and
/// keeps both; the opener then finds the index already there. Strata writes no encrypted
/// files, so the options' decryption properties are not needed.
#[derive(Debug)]
struct PageIndexCachingReaders(CachedParquetFileReaderFactory);

impl ParquetFileReaderFactory for PageIndexCachingReaders {
    fn create_reader(
        &self,
        partition_index: usize,
        file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> DfResult<Box<dyn AsyncFileReader + Send>> {
        let inner = self
            .0
            .create_reader(partition_index, file, metadata_size_hint, metrics)?;
        Ok(Box::new(WithPageIndex(inner)))
    }
}

/// A boxed reader as an [`AsyncFileReader`], whose metadata is read with the page index.
pub(crate) struct WithPageIndex(pub(crate) Box<dyn AsyncFileReader + Send>);

impl AsyncFileReader for WithPageIndex {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, ParquetResult<Bytes>> {
        self.0.get_bytes(range)
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, ParquetResult<Vec<Bytes>>> {
        self.0.get_byte_ranges(ranges)
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, ParquetResult<Arc<ParquetMetaData>>> {
        self.0.get_metadata(None)
    }
}

/// The rows of `b` (sorted by its time column, as files are) inside `range`; None if none.
fn slice_sorted(
    b: &arrow::array::RecordBatch,
    time_column: Option<usize>,
    range: TimeRange,
) -> Option<arrow::array::RecordBatch> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::TimestampMicrosecondType;
    let Some(t) = time_column
        .and_then(|c| b.column(c).as_primitive_opt::<TimestampMicrosecondType>())
        .filter(|t| t.null_count() == 0)
    else {
        return Some(b.clone());
    };
    let v = t.values();
    let lo = v.partition_point(|x| *x < range.min);
    let hi = v.partition_point(|x| *x <= range.max);
    (hi > lo).then(|| b.slice(lo, hi - lo))
}

/// Derives an inclusive time range (µs) for column `col` from conjunctive filters.
/// Anything it does not understand leaves the range unbounded on that side.
pub fn time_range(filters: &[Expr], col: &str) -> TimeRange {
    let mut r = TimeRange::ALL;
    for f in filters {
        narrow(f, col, &mut r);
    }
    r
}

fn narrow(e: &Expr, col: &str, r: &mut TimeRange) {
    match e {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => {
            narrow(left, col, r);
            narrow(right, col, r);
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (op, lit) = if is_col(left, col) {
                (*op, micros_of(right))
            } else if is_col(right, col) {
                (op.swap().unwrap_or(*op), micros_of(left))
            } else {
                return;
            };
            let Some(v) = lit else { return };
            match op {
                Operator::Eq => {
                    r.min = r.min.max(v);
                    r.max = r.max.min(v);
                }
                Operator::Gt | Operator::GtEq => r.min = r.min.max(v),
                Operator::Lt | Operator::LtEq => r.max = r.max.min(v),
                _ => {}
            }
        }
        Expr::Between(b) if !b.negated && is_col(&b.expr, col) => {
            if let Some(v) = micros_of(&b.low) {
                r.min = r.min.max(v);
            }
            if let Some(v) = micros_of(&b.high) {
                r.max = r.max.min(v);
            }
        }
        _ => {}
    }
}

fn is_col(e: &Expr, col: &str) -> bool {
    match e {
        Expr::Column(c) => c.name == col,
        Expr::Cast(c) => is_col(&c.expr, col),
        _ => false,
    }
}

/// A literal timestamp converted to microseconds (floor for finer units, which keeps the
/// derived bounds conservative).
fn micros_of(e: &Expr) -> Option<i64> {
    let Expr::Literal(v, _) = e else { return None };
    match v {
        ScalarValue::TimestampSecond(Some(s), _) => s.checked_mul(1_000_000),
        ScalarValue::TimestampMillisecond(Some(s), _) => s.checked_mul(1_000),
        ScalarValue::TimestampMicrosecond(Some(s), _) => Some(*s),
        ScalarValue::TimestampNanosecond(Some(s), _) => Some(s.div_euclid(1_000)),
        ScalarValue::Date32(Some(d)) => (*d as i64).checked_mul(86_400_000_000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::execution::runtime_env::RuntimeEnv;
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::file::metadata::PageIndexPolicy;
    use datafusion::parquet::file::properties::WriterProperties;
    use object_store::local::LocalFileSystem;
    use object_store::{ObjectStore, ObjectStoreExt};

    /// The first read of a file's metadata caches its page index with the footer, although
    /// the caller (DataFusion's opener) asks to skip it.
    #[tokio::test]
    async fn first_metadata_read_caches_the_page_index() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from_iter_values(0..10_000))],
        )
        .unwrap();
        let props = WriterProperties::builder()
            .set_data_page_row_count_limit(1000)
            .build();
        let file = std::fs::File::create(dir.path().join("f.parquet")).unwrap();
        let mut w = ArrowWriter::try_new(file, schema, Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();

        let store: Arc<dyn ObjectStore> =
            Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let meta = store.head(&"f.parquet".into()).await.unwrap();
        let runtime = RuntimeEnv::default();
        let cache = runtime.cache_manager.get_file_metadata_cache();
        let readers = PageIndexCachingReaders(CachedParquetFileReaderFactory::new(
            store,
            Arc::clone(&cache),
        ));
        let skip = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Skip);
        let metrics = ExecutionPlanMetricsSet::new();
        for _ in 0..2 {
            let mut r = readers
                .create_reader(0, PartitionedFile::from(meta.clone()), None, &metrics)
                .unwrap();
            let m = r.get_metadata(Some(&skip)).await.unwrap();
            assert!(m.column_index().is_some() && m.offset_index().is_some());
        }
        assert_eq!(cache.len(), 1, "one cache entry, with the page index");
    }
}
