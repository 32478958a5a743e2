//! Reading a few series of a table from its local files without DataFusion's Parquet opener.
//!
//! A query such as `WHERE hostname = 'h1' AND time >= $1 AND time < $2` reads one run of
//! rows per file: files are sorted by the series columns, then time, and the manifest knows
//! where each series' run ends ([`SeriesTails`]). DataFusion's Parquet opener finds those
//! rows again for every file and every query: it rewrites the predicate for the file,
//! builds a pruning predicate and its inverse and evaluates both on row-group statistics
//! converted to Arrow arrays, builds a page-index predicate, then a row filter that decodes
//! the filter columns of every page left. For a one-host, one-hour query that fixed cost
//! was most of the query (docs/performance.md, "Session 12").
//!
//! Here the rows are chosen from what is already in memory:
//! 1. the runs of the series whose key values the filters allow (`key = 'v'`,
//!    `key IN (...)`, `key = 'a' OR key = 'b'`), from the manifest's series list;
//! 2. narrowed by the query's time range with the time column's page index, from
//!    DataFusion's metadata cache (kept there with the footer by the table's reader
//!    factory; see [`narrow_run`]).
//!
//! The Parquet reader decodes the selected rows of the projected columns; text series
//! columns are not decoded but filled with each run's value from the tails. A small
//! selection of a time range is read with `pread` ([`LocalFile`]) and in two steps
//! ([`Exact`]): the columns the filters read first (the time column, and `usage_user` of
//! `usage_user > 90`), on which the filters are evaluated, then the other columns of the
//! rows kept only. A large one is read through the object store, a row group per
//! partition, and its rows filtered once decoded.
//!
//! The filters are applied here, exactly: a page holds other series' rows and times just
//! outside the range, and the scan ([`crate::scan_exec::StorageScanExec`]) relies on these
//! rows being the ones its filters keep. Conjuncts the runs imply (`hostname = 'h1'` for
//! the runs of `h1`: [`unimplied`]) are not evaluated again.
//!
//! A file takes DataFusion's path instead when this cannot be exact: no series list (too
//! many series, or an older file), a file on the cold tier (its rows are fetched as ranged
//! requests, which DataFusion batches), metadata not in the cache yet (the first query of
//! a file caches it), or a projected column the file stores differently (a column added
//! later, `interval` columns).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
#[cfg(test)]
use datafusion::arrow::array::StringArray;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBufferBuilder, RecordBatch, RecordBatchOptions,
    StringBuilder,
};
use datafusion::arrow::compute::{concat, filter, filter_record_batch, prep_null_mask_filter};
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef, TimeUnit};
use datafusion::common::cast::as_boolean_array;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::metadata::CachedParquetMetaData;
use datafusion::datasource::physical_plan::parquet::{
    DefaultParquetFileReaderFactory, ParquetFileReaderFactory,
};
use datafusion::execution::cache::cache_manager::{
    CachedFileMetadataEntry, FileMetadata, FileMetadataCache,
};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Operator;
use datafusion::parquet::arrow::ParquetRecordBatchStreamBuilder;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, RowSelection, RowSelector,
};
use datafusion::parquet::arrow::async_reader::AsyncFileReader;
use datafusion::parquet::errors::{ParquetError, Result as ParquetResult};
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::parquet::file::page_index::column_index::ColumnIndexMetaData;
use datafusion::parquet::file::statistics::Statistics;
use datafusion::physical_expr::expressions::{BinaryExpr, CastExpr, Column, InListExpr, Literal};
use datafusion::physical_expr::utils::{collect_columns, conjunction, reassign_expr_columns};
use datafusion::physical_expr::{
    EquivalenceProperties, Partitioning, PhysicalExpr, split_conjunction,
};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};
use strata_storage::TimeRange;
use strata_storage::manifest::{FileMeta, SeriesTails, Tier};

use crate::table::{HOT_STORE_URL, WithPageIndex};

/// Rows a file's read is split at (by row group) so that partitions share it.
const SPLIT_ROWS: u64 = 64 * 1024;

/// The values each series column may take, from the scan's filters: a series is read
/// only if, for each constrained column the file's series are named by, its value is one
/// of these.
#[derive(Debug, Default)]
pub(crate) struct KeyValues(HashMap<String, HashSet<String>>);

impl KeyValues {
    /// The constraints `filters` (conjuncts over `schema`, the scan's projected schema)
    /// put on text columns by equality with literals; None if there are none.
    pub(crate) fn from_filters(
        filters: &[Arc<dyn PhysicalExpr>],
        schema: &SchemaRef,
    ) -> Option<KeyValues> {
        let mut out: HashMap<String, HashSet<String>> = HashMap::new();
        for f in filters {
            for c in split_conjunction(f) {
                let Some((col, values)) = allowed_values(c, schema) else {
                    continue;
                };
                match out.get_mut(&col) {
                    // Two conjuncts on one column: both must hold.
                    Some(prev) => prev.retain(|v| values.contains(v)),
                    None => {
                        out.insert(col, values);
                    }
                }
            }
        }
        (!out.is_empty()).then_some(KeyValues(out))
    }

    /// Each column with the values it may take.
    #[cfg(test)]
    pub(crate) fn of(pairs: &[(&str, &[&str])]) -> KeyValues {
        KeyValues(
            pairs
                .iter()
                .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
                .collect(),
        )
    }
}

/// `col = 'v'`, `col IN ('a', 'b')` or an OR of such over one text column: the column's
/// name and the values it may take.
fn allowed_values(
    e: &Arc<dyn PhysicalExpr>,
    schema: &SchemaRef,
) -> Option<(String, HashSet<String>)> {
    if let Some(b) = e.downcast_ref::<BinaryExpr>() {
        return match b.op() {
            Operator::Eq => {
                let (col, lit) = match (text_column(b.left(), schema), text_literal(b.right())) {
                    (Some(c), Some(l)) => (c, l),
                    _ => (text_column(b.right(), schema)?, text_literal(b.left())?),
                };
                Some((col, HashSet::from([lit])))
            }
            Operator::Or => {
                let (a, mut va) = allowed_values(b.left(), schema)?;
                let (c, vb) = allowed_values(b.right(), schema)?;
                (a == c).then(|| {
                    va.extend(vb);
                    (a, va)
                })
            }
            _ => None,
        };
    }
    let list = e.downcast_ref::<InListExpr>().filter(|l| !l.negated())?;
    let col = text_column(list.expr(), schema)?;
    let values = list
        .list()
        .iter()
        .map(text_literal)
        .collect::<Option<HashSet<String>>>()?;
    Some((col, values))
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// The name of a text column `e` reads, possibly cast to another text type.
fn text_column(e: &Arc<dyn PhysicalExpr>, schema: &SchemaRef) -> Option<String> {
    if let Some(c) = e.downcast_ref::<CastExpr>() {
        return is_text(c.cast_type())
            .then(|| text_column(c.expr(), schema))
            .flatten();
    }
    let c = e.downcast_ref::<Column>()?;
    let field = schema.fields().get(c.index())?;
    (field.name() == c.name() && is_text(field.data_type())).then(|| c.name().to_string())
}

fn text_literal(e: &Arc<dyn PhysicalExpr>) -> Option<String> {
    match e.downcast_ref::<Literal>()?.value() {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s.clone()),
        _ => None,
    }
}

/// The rows of one series in a file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Run {
    pub rows: Range<u64>,
    /// Index into [`Runs::values`].
    pub series: usize,
    /// The series' latest time in the file, if the manifest knows it.
    pub latest: Option<i64>,
}

/// The runs of a file's series that a query reads, with each series' values.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Runs {
    /// Ascending.
    pub runs: Vec<Run>,
    /// Each kept series' values of the file's series columns ([`SeriesTails::keys`]; None
    /// for NULL), as Arrow displays them: for a text column, the text.
    pub values: Vec<Vec<Option<String>>>,
}

/// The runs of `f` holding the series `keys` allows; None if the file cannot say (no
/// usable series list, or no constrained column names its series).
pub(crate) fn series_rows(f: &FileMeta, keys: &KeyValues) -> Option<Runs> {
    let t: &SeriesTails = f.tails.as_deref()?;
    // For each series column, the allowed values, if constrained.
    let constraints: Vec<Option<&HashSet<String>>> = t.keys.iter().map(|k| keys.0.get(k)).collect();
    if constraints.iter().all(Option::is_none)
        || t.series.len() != t.ranges.len()
        || t.ranges.is_empty()
    {
        return None;
    }
    let latest = (t.latest.len() == t.ranges.len()).then_some(&t.latest);
    // One series column: a series is kept if its stored name is the name a kept value
    // would have (`parquet_io::series_tails` writes them with the same `serde_json`),
    // found through the tails' lookup, and only kept series are parsed. If no name
    // matches, every name is parsed below, so a change in how names are written costs
    // time, not rows.
    if let [Some(allowed)] = constraints.as_slice() {
        let mut found: Vec<usize> = allowed
            .iter()
            .filter_map(|v| serde_json::to_string(&[v]).ok())
            .flat_map(|n| t.position(&n))
            .collect();
        if !found.is_empty() {
            found.sort_unstable();
            found.dedup();
            return runs_at(f, t, &found, latest);
        }
    }
    let mut out = Runs::default();
    let mut start = 0u64;
    for (i, ([first, n], name)) in t.ranges.iter().zip(&t.series).enumerate() {
        // Series are contiguous runs in key order: each ends at its latest rows' end.
        let end = first.checked_add(*n)?;
        if *first < start || end > f.rows {
            return None;
        }
        let values: Vec<Option<String>> = serde_json::from_str(name).ok()?;
        if values.len() != constraints.len() {
            return None;
        }
        let keep = constraints.iter().zip(&values).all(|(c, v)| match c {
            None => true,
            // NULL equals nothing.
            Some(allowed) => v.as_ref().is_some_and(|v| allowed.contains(v)),
        });
        if keep {
            out.runs.push(Run {
                rows: start..end,
                series: out.values.len(),
                latest: latest.and_then(|l| l.get(i).copied()),
            });
            out.values.push(values);
        }
        start = end;
    }
    // The runs must cover the file, or the list is not of every series in it.
    (start == f.rows).then_some(out)
}

/// The runs of the series at `positions` (ascending) of `t`, the tails of `f`; None if
/// the tails do not describe the file (as [`series_rows`] checks them).
fn runs_at(
    f: &FileMeta,
    t: &SeriesTails,
    positions: &[usize],
    latest: Option<&Vec<i64>>,
) -> Option<Runs> {
    if !tails_cover(f, t) {
        return None;
    }
    let end_of = |i: usize| t.ranges.get(i).map(|[first, n]| first + n);
    let mut out = Runs::default();
    for &i in positions {
        let start = match i.checked_sub(1) {
            Some(prev) => end_of(prev)?,
            None => 0,
        };
        let values: Vec<Option<String>> = serde_json::from_str(t.series.get(i)?).ok()?;
        if values.len() != t.keys.len() {
            return None;
        }
        out.runs.push(Run {
            rows: start..end_of(i)?,
            series: out.values.len(),
            latest: latest.and_then(|l| l.get(i).copied()),
        });
        out.values.push(values);
    }
    Some(out)
}

/// Whether the runs of `t` ascend and cover every row of `f` (each series' run ends where
/// its latest rows end, and the next begins there).
fn tails_cover(f: &FileMeta, t: &SeriesTails) -> bool {
    t.rows_covered() == Some(f.rows)
}

/// Selected rows of one series: the row range and the series' index in [`Runs::values`].
type Rows = (Range<u64>, usize);

/// Where a projected column comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    /// The column at this position among those the reader decodes.
    File(usize),
    /// The value of this series column of each row's series: every row of a run has it,
    /// so it is not decoded.
    Key(usize),
    /// The column at this position among those decoded first ([`Exact`]).
    Given(usize),
}

/// How a small read finds its exact rows: it decodes the columns the filters read (the
/// time column and, say, `usage_user` of `usage_user > 90`) of the selected rows first,
/// evaluates the filters on them, then decodes the other columns of the rows kept only.
struct Exact {
    /// The file columns decoded first, ascending.
    first: Vec<usize>,
    /// The filters over the first read's columns and the series columns.
    filter: FirstFilter,
    /// The columns of the second read: the item's without the first read's.
    mask: ProjectionMask,
    sources: Arc<[Source]>,
    decodes: bool,
}

/// The filters an [`Exact`] read evaluates on its first read's rows.
struct FirstFilter {
    /// Over `schema`.
    predicate: Arc<dyn PhysicalExpr>,
    /// The columns the predicate reads, in the scan's order.
    schema: SchemaRef,
    /// Where each of `schema`'s columns comes from: [`Source::Given`] or [`Source::Key`].
    columns: Vec<Source>,
}

/// Which of a read's rows the query keeps.
#[derive(Clone)]
enum Keep {
    /// The query's filters the runs do not imply, over the scan's schema.
    Filter(Arc<dyn PhysicalExpr>),
    /// One value per row read, from an [`Exact`] read's first step.
    Mask(BooleanArray),
}

/// One file's part of a series read: which row groups, which of their rows. Clones share
/// the metadata, masks and spans.
#[derive(Clone)]
struct Item {
    path: String,
    /// The file on local disk, read directly when the selection is small.
    local: Option<std::path::PathBuf>,
    size: u64,
    meta: ArrowReaderMetadata,
    mask: ProjectionMask,
    /// Whether the mask reads any column.
    decodes: bool,
    sources: Arc<[Source]>,
    values: Arc<Vec<Vec<Option<String>>>>,
    /// Set for small local reads of a time range.
    exact: Option<Arc<Exact>>,
    /// The first read's columns of the rows kept, once [`Exact`] decoded them.
    given: Option<Arc<[ArrayRef]>>,
    /// Which of the rows read the query keeps, unless all.
    keep: Option<Keep>,
    row_groups: Vec<usize>,
    selection: RowSelection,
    /// The selected rows in order, as (row count, series) spans.
    spans: Arc<[(u64, usize)]>,
    rows: u64,
}

impl fmt::Debug for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Item")
            .field("path", &self.path)
            .field("row_groups", &self.row_groups)
            .field("rows", &self.rows)
            .finish()
    }
}

/// How [`plan`] splits a scan's files.
pub(crate) struct Planned {
    /// The series read, if any file takes it.
    pub exec: Option<Arc<dyn ExecutionPlan>>,
    /// The files left for DataFusion's Parquet scan.
    pub rest: Vec<FileMeta>,
}

/// Splits `files` into those read here (their selected rows) and the rest; files whose
/// selected series have no rows in them are dropped.
#[allow(clippy::too_many_arguments)]
pub(crate) fn plan(
    runtime: &RuntimeEnv,
    data_dir: &std::path::Path,
    files: Vec<FileMeta>,
    keys: &KeyValues,
    filters: &[Arc<dyn PhysicalExpr>],
    projected: &SchemaRef,
    time: Option<&str>,
    range: TimeRange,
    limit: Option<usize>,
    batch_size: usize,
    partitions: usize,
) -> Result<Planned> {
    let cache = runtime.cache_manager.get_file_metadata_cache();
    let mut items = vec![];
    let mut rest = vec![];
    for f in files {
        let runs = match f.tier {
            Tier::Hot => series_rows(&f, keys),
            _ => None,
        };
        let (Some(runs), Some(tails)) = (runs, f.tails.as_deref()) else {
            rest.push(f);
            continue;
        };
        if runs.runs.is_empty() {
            continue;
        }
        let Some(meta) = reader_metadata(&cache, &f)? else {
            rest.push(f);
            continue;
        };
        let Some((mask, sources, read)) = projection(&meta, projected, &tails.keys) else {
            rest.push(f);
            continue;
        };
        let decodes = sources.iter().any(|s| matches!(s, Source::File(_)));
        let sources: Arc<[Source]> = sources.into();
        // Time values are compared as stored: microseconds, as `range` is.
        let micros = |t: &&str| {
            meta.schema().field_with_name(t).is_ok_and(|f| {
                matches!(f.data_type(), DataType::Timestamp(TimeUnit::Microsecond, _))
            })
        };
        // The runs are sorted by the time column the tails name.
        let time = time
            .filter(|t| *t == tails.time)
            .filter(micros)
            .filter(|_| range != TimeRange::ALL);
        let zones = time.and_then(|t| time_zones(meta.metadata(), t));
        let filter = unimplied(filters, projected, &tails.keys);
        let exact = time
            .zip(filter.as_ref())
            .and_then(|(_, f)| exact_plan(&meta, &sources, &read, f, projected))
            .map(Arc::new);
        let rows: Vec<Rows> = match zones {
            Some(zones) => runs
                .runs
                .iter()
                .flat_map(|run| {
                    narrow_run(run, &zones, range)
                        .into_iter()
                        .map(|r| (r, run.series))
                })
                .collect(),
            None => runs
                .runs
                .iter()
                .map(|r| (r.rows.clone(), r.series))
                .collect(),
        };
        let values = Arc::new(runs.values);
        let mut groups = row_groups(meta.metadata(), &rows);
        // A large read is shared by the partitions, a row group each.
        let total: u64 = rows.iter().map(|(r, _)| r.end - r.start).sum();
        let pieces: Vec<Vec<(usize, Vec<Rows>)>> = if total > SPLIT_ROWS && partitions > 1 {
            groups.drain(..).map(|g| vec![g]).collect()
        } else {
            vec![std::mem::take(&mut groups)]
        };
        for piece in pieces.into_iter().filter(|p| !p.is_empty()) {
            let (row_groups, selection, spans) = selection(meta.metadata(), &piece);
            let rows: u64 = spans.iter().map(|(n, _)| n).sum();
            let small = rows <= SPLIT_ROWS;
            items.push(Item {
                path: f.path.clone(),
                local: small.then(|| data_dir.join(&f.path)),
                size: f.size_bytes,
                meta: meta.clone(),
                mask: mask.clone(),
                decodes,
                sources: Arc::clone(&sources),
                values: Arc::clone(&values),
                exact: exact.as_ref().filter(|_| small).cloned(),
                given: None,
                keep: filter.clone().map(Keep::Filter),
                row_groups,
                selection,
                rows,
                spans: spans.into(),
            });
        }
    }
    if items.is_empty() {
        return Ok(Planned { exec: None, rest });
    }
    let n = partitions.max(1).min(items.len());
    let mut parts: Vec<Vec<Item>> = (0..n).map(|_| vec![]).collect();
    // Largest first onto the least loaded partition.
    items.sort_by_key(|i| std::cmp::Reverse(i.rows));
    let mut load = vec![0u64; n];
    for item in items {
        let p = (0..n).min_by_key(|&p| load[p]).unwrap_or(0);
        load[p] += item.rows;
        parts[p].push(item);
    }
    let exec = SeriesRowsExec::new(Arc::clone(projected), parts, limit, batch_size);
    Ok(Planned {
        exec: Some(Arc::new(exec)),
        rest,
    })
}

/// A file's [`ArrowReaderMetadata`], kept in DataFusion's file metadata cache next to
/// the footer it is built from (under the file's path and `#arrow`). Building it decodes
/// the Arrow schema stored in the footer (base64, then flatbuffers), which was ~7% of the
/// CPU of a one-host, one-hour query when done for every query.
struct ReaderMetadata(ArrowReaderMetadata);

impl FileMetadata for ReaderMetadata {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn memory_size(&self) -> usize {
        // It keeps the footer alive, which the footer's own entry counts as well.
        self.0.metadata().memory_size()
    }

    fn extra_info(&self) -> datafusion::common::HashMap<String, String> {
        Default::default()
    }
}

/// `f`'s reader metadata, from the cache, or built from its footer if the footer is
/// cached (DataFusion's scan caches it, with the page index, on the file's first read);
/// None if neither is.
fn reader_metadata(
    cache: &Arc<FileMetadataCache>,
    f: &FileMeta,
) -> Result<Option<ArrowReaderMetadata>> {
    let key = Path::from(format!("{}#arrow", f.path));
    let entry = |key: &Path| cache.get(key).filter(|e| e.meta.size == f.size_bytes);
    if let Some(e) = entry(&key)
        && let Some(m) = e.file_metadata.as_any().downcast_ref::<ReaderMetadata>()
    {
        return Ok(Some(m.0.clone()));
    }
    let footer = entry(&Path::from(f.path.as_str())).and_then(|e| {
        e.file_metadata
            .as_any()
            .downcast_ref::<CachedParquetMetaData>()
            .map(|m| Arc::clone(m.parquet_metadata()))
    });
    let Some(footer) = footer else {
        return Ok(None);
    };
    let meta = ArrowReaderMetadata::try_new(footer, ArrowReaderOptions::new())
        .map_err(|e| datafusion::error::DataFusionError::ParquetError(Box::new(e)))?;
    let object = ObjectMeta {
        location: key.clone(),
        last_modified: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        size: f.size_bytes,
        e_tag: None,
        version: None,
    };
    cache.put(
        &key,
        CachedFileMetadataEntry::new(object, Arc::new(ReaderMetadata(meta.clone()))),
    );
    Ok(Some(meta))
}

/// Where each of `projected`'s columns comes from, and the mask of the columns decoded;
/// None unless the file stores each decoded column, by name, with the same type. Text
/// series columns (`keys`) are not decoded.
fn projection(
    meta: &ArrowReaderMetadata,
    projected: &SchemaRef,
    keys: &[String],
) -> Option<(ProjectionMask, Vec<Source>, Vec<usize>)> {
    let file = meta.schema();
    if projected.fields().is_empty() || file.fields().iter().any(|f| f.data_type().is_nested()) {
        return None;
    }
    let mut roots = Vec::with_capacity(projected.fields().len());
    for field in projected.fields() {
        if field.data_type() == &DataType::Utf8
            && let Some(k) = keys.iter().position(|k| k == field.name())
        {
            roots.push(Err(k));
            continue;
        }
        let (i, f) = file.column_with_name(field.name())?;
        if f.data_type() != field.data_type() {
            return None;
        }
        roots.push(Ok(i));
    }
    let mut read: Vec<usize> = roots.iter().filter_map(|r| r.ok()).collect();
    read.sort_unstable();
    read.dedup();
    let sources = roots
        .iter()
        .map(|r| match r {
            Ok(i) => read.binary_search(i).ok().map(Source::File),
            Err(k) => Some(Source::Key(*k)),
        })
        .collect::<Option<Vec<Source>>>()?;
    let mask = ProjectionMask::roots(meta.metadata().file_metadata().schema_descr(), read.clone());
    Some((mask, sources, read))
}

/// The conjunction of the conjuncts of `filters` (over `schema`) that the runs chosen by
/// [`KeyValues`] do not imply: a conjunct [`allowed_values`] reads on one of the file's
/// series columns `keys` holds for every row of those runs. None if every conjunct is
/// implied.
fn unimplied(
    filters: &[Arc<dyn PhysicalExpr>],
    schema: &SchemaRef,
    keys: &[String],
) -> Option<Arc<dyn PhysicalExpr>> {
    let left: Vec<Arc<dyn PhysicalExpr>> = filters
        .iter()
        .flat_map(split_conjunction)
        .filter(|c| !allowed_values(c, schema).is_some_and(|(col, _)| keys.contains(&col)))
        .cloned()
        .collect();
    (!left.is_empty()).then(|| conjunction(left))
}

/// The [`Exact`] plan of a read of `read` (file columns, ascending) into `sources`, the
/// scan's `projected` columns, filtered by `filter` (over `projected`); None if the
/// filter reads a column this read cannot give it.
fn exact_plan(
    meta: &ArrowReaderMetadata,
    sources: &[Source],
    read: &[usize],
    filter: &Arc<dyn PhysicalExpr>,
    projected: &SchemaRef,
) -> Option<Exact> {
    let mut used: Vec<Column> = collect_columns(filter).into_iter().collect();
    used.sort_by_key(|c| c.index());
    let mut first = vec![];
    for c in &used {
        if projected.fields().get(c.index())?.name() != c.name() {
            return None;
        }
        match sources.get(c.index())? {
            Source::File(i) => first.push(*read.get(*i)?),
            Source::Key(_) => {}
            Source::Given(_) => return None,
        }
    }
    first.sort_unstable();
    first.dedup();
    let rest: Vec<usize> = read
        .iter()
        .copied()
        .filter(|r| first.binary_search(r).is_err())
        .collect();
    let moved = |s: Source| -> Option<Source> {
        Some(match s {
            Source::File(i) => {
                let root = *read.get(i)?;
                match first.binary_search(&root) {
                    Ok(j) => Source::Given(j),
                    Err(_) => Source::File(rest.binary_search(&root).ok()?),
                }
            }
            other => other,
        })
    };
    let sources: Arc<[Source]> = sources
        .iter()
        .map(|s| moved(*s))
        .collect::<Option<Vec<_>>>()?
        .into();
    let schema = Arc::new(Schema::new(
        used.iter()
            .map(|c| Arc::clone(&projected.fields()[c.index()]))
            .collect::<Vec<_>>(),
    ));
    let columns = used
        .iter()
        .map(|c| sources.get(c.index()).copied())
        .collect::<Option<Vec<_>>>()?;
    let predicate = reassign_expr_columns(Arc::clone(filter), &schema).ok()?;
    Some(Exact {
        decodes: !rest.is_empty(),
        mask: ProjectionMask::roots(meta.metadata().file_metadata().schema_descr(), rest),
        first,
        filter: FirstFilter {
            predicate,
            schema,
            columns,
        },
        sources,
    })
}

/// A stretch of rows of the time column, with the min and max of its values.
#[derive(Debug, Clone, PartialEq)]
struct Zone {
    rows: Range<u64>,
    min: Option<i64>,
    max: Option<i64>,
}

/// The time column's pages (or, without a page index, row groups) in row order, with their
/// min and max; None if the column is not a top-level INT64 column.
fn time_zones(meta: &ParquetMetaData, time: &str) -> Option<Vec<Zone>> {
    let schema = meta.file_metadata().schema_descr();
    let leaf = (0..schema.num_columns()).find(|&i| {
        let c = schema.column(i);
        c.path().parts().len() == 1 && c.path().parts()[0] == time
    })?;
    let mut zones = vec![];
    let mut rg_start = 0u64;
    for (g, rg) in meta.row_groups().iter().enumerate() {
        let rg_end = rg_start + rg.num_rows().max(0) as u64;
        let pages = meta
            .column_index()
            .and_then(|ci| ci.get(g))
            .and_then(|c| c.get(leaf))
            .zip(
                meta.offset_index()
                    .and_then(|oi| oi.get(g))
                    .and_then(|o| o.get(leaf)),
            );
        match pages {
            Some((ColumnIndexMetaData::INT64(index), offsets)) => {
                let locations = offsets.page_locations();
                for (p, loc) in locations.iter().enumerate() {
                    let first = rg_start + loc.first_row_index.max(0) as u64;
                    let last = locations
                        .get(p + 1)
                        .map_or(rg_end, |n| rg_start + n.first_row_index.max(0) as u64);
                    zones.push(Zone {
                        rows: first..last,
                        min: index.min_value(p).copied(),
                        max: index.max_value(p).copied(),
                    });
                }
            }
            _ => {
                let (min, max) = match rg.column(leaf).statistics() {
                    Some(Statistics::Int64(s)) => (s.min_opt().copied(), s.max_opt().copied()),
                    _ => (None, None),
                };
                zones.push(Zone {
                    rows: rg_start..rg_end,
                    min,
                    max,
                });
            }
        }
        rg_start = rg_end;
    }
    Some(zones)
}

/// The rows of `run` whose time may lie in `range`, given the time column's `zones`.
///
/// A zone's min and max bound each of its rows, but a page shared with the neighbouring
/// series says little about this one's rows in it. The run's times ascend (files are
/// sorted by series, then time, NULLs first), so its rows in one zone are at most the
/// first time of its next zone, which is that zone's min when the run holds the whole
/// zone, and at most the series' latest time; likewise they are at least the last time of
/// the previous zone, its max when whole.
fn narrow_run(run: &Run, zones: &[Zone], range: TimeRange) -> Vec<Range<u64>> {
    let first = zones.partition_point(|z| z.rows.end <= run.rows.start);
    let parts: Vec<(Range<u64>, &Zone)> = zones[first..]
        .iter()
        .take_while(|z| z.rows.start < run.rows.end)
        .map(|z| {
            (
                z.rows.start.max(run.rows.start)..z.rows.end.min(run.rows.end),
                z,
            )
        })
        .collect();
    if parts.is_empty() {
        return vec![run.rows.clone()];
    }
    let whole = |(r, z): &(Range<u64>, &Zone)| *r == z.rows;
    let mut hi = vec![i64::MAX; parts.len()];
    let mut bound = run.latest.unwrap_or(i64::MAX);
    for (j, part) in parts.iter().enumerate().rev() {
        hi[j] = part.1.max.unwrap_or(i64::MAX).min(bound);
        bound = match (whole(part), part.1.min) {
            (true, Some(m)) => m.min(hi[j]),
            _ => hi[j],
        };
    }
    let mut out: Vec<Range<u64>> = vec![];
    let mut bound = i64::MIN;
    for (j, part) in parts.iter().enumerate() {
        let lo = part.1.min.unwrap_or(i64::MIN).max(bound);
        bound = match (whole(part), part.1.max) {
            (true, Some(m)) => m.max(lo),
            _ => lo,
        };
        // lo > hi: the run has only NULL times there, which no time range holds.
        if lo <= hi[j] && range.overlaps(lo, hi[j]) {
            match out.last_mut() {
                Some(last) if last.end == part.0.start => last.end = part.0.end,
                _ => out.push(part.0.clone()),
            }
        }
    }
    out
}

/// `rows` (ascending) grouped by row group: each group's index and its rows.
fn row_groups(meta: &ParquetMetaData, rows: &[Rows]) -> Vec<(usize, Vec<Rows>)> {
    let mut out: Vec<(usize, Vec<Rows>)> = vec![];
    let mut rg_start = 0u64;
    let mut i = 0;
    for (g, rg) in meta.row_groups().iter().enumerate() {
        let rg_end = rg_start + rg.num_rows().max(0) as u64;
        let mut mine = vec![];
        while i < rows.len() && rows[i].0.start < rg_end {
            let (r, series) = &rows[i];
            mine.push((r.start.max(rg_start)..r.end.min(rg_end), *series));
            if r.end <= rg_end {
                i += 1;
            } else {
                break;
            }
        }
        if !mine.is_empty() {
            out.push((g, mine));
        }
        rg_start = rg_end;
    }
    out
}

/// The reader's row groups and selection (relative to those groups' rows, concatenated)
/// for `groups`, and the selected rows as (row count, series) spans in order.
fn selection(
    meta: &ParquetMetaData,
    groups: &[(usize, Vec<Rows>)],
) -> (Vec<usize>, RowSelection, Vec<(u64, usize)>) {
    let starts: Vec<u64> = meta
        .row_groups()
        .iter()
        .scan(0u64, |at, rg| {
            let s = *at;
            *at += rg.num_rows().max(0) as u64;
            Some(s)
        })
        .collect();
    let mut selectors = vec![];
    let mut spans = vec![];
    for (g, rows) in groups {
        let start = starts.get(*g).copied().unwrap_or(0);
        let end = start + meta.row_group(*g).num_rows().max(0) as u64;
        let mut at = start;
        for (r, series) in rows {
            if r.start > at {
                selectors.push(RowSelector::skip((r.start - at) as usize));
            }
            selectors.push(RowSelector::select((r.end - r.start) as usize));
            spans.push((r.end - r.start, *series));
            at = r.end;
        }
        if end > at {
            selectors.push(RowSelector::skip((end - at) as usize));
        }
    }
    (
        groups.iter().map(|(g, _)| *g).collect(),
        RowSelection::from(selectors),
        spans,
    )
}

/// Reads [`Item`]s: the selected rows of the projected columns of local files.
#[derive(Debug)]
pub(crate) struct SeriesRowsExec {
    parts: Vec<Vec<Arc<Item>>>,
    limit: Option<usize>,
    batch_size: usize,
    props: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl SeriesRowsExec {
    fn new(
        schema: SchemaRef,
        parts: Vec<Vec<Item>>,
        limit: Option<usize>,
        batch_size: usize,
    ) -> Self {
        let props = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(parts.len().max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        SeriesRowsExec {
            parts: parts
                .into_iter()
                .map(|p| p.into_iter().map(Arc::new).collect())
                .collect(),
            limit,
            batch_size: batch_size.max(1),
            props: Arc::new(props),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for SeriesRowsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: usize = self.parts.iter().map(Vec::len).sum();
        write!(f, "SeriesRowsExec: files={items}")
    }
}

impl ExecutionPlan for SeriesRowsExec {
    fn name(&self) -> &str {
        "SeriesRowsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !children.is_empty() {
            return internal_err!("SeriesRowsExec has no children");
        }
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let Some(items) = self.parts.get(partition) else {
            return internal_err!(
                "SeriesRowsExec has {} partitions, asked for {partition}",
                self.parts.len()
            );
        };
        let store = context
            .runtime_env()
            .object_store(ObjectStoreUrl::parse(HOT_STORE_URL)?)?;
        let schema = self.schema();
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let selected: Count = MetricBuilder::new(&self.metrics).counter("rows_selected", partition);
        for item in items {
            selected.add(item.rows as usize);
        }
        let (limit, batch_size) = (self.limit, self.batch_size);
        let out = Arc::clone(&schema);
        let metrics = self.metrics.clone();
        let streams = items.clone().into_iter().map(move |item| {
            read(
                Arc::clone(&store),
                item,
                Arc::clone(&out),
                limit,
                batch_size,
                metrics.clone(),
            )
        });
        let stream = futures::stream::iter(streams)
            .try_flatten()
            .inspect_ok(move |b| baseline.record_output(b.num_rows()));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// The stream of `item`'s selected rows, as batches of `schema`.
fn read(
    store: Arc<dyn ObjectStore>,
    item: Arc<Item>,
    schema: SchemaRef,
    limit: Option<usize>,
    batch_size: usize,
    metrics: ExecutionPlanMetricsSet,
) -> Result<futures::stream::BoxStream<'static, Result<RecordBatch>>> {
    if item.given.is_none()
        && let (Some(exact), Some(path)) = (item.exact.clone(), item.local.clone())
    {
        // First the columns the filters read, then the rest of the rows they keep.
        let refined = async move {
            let item = refine(&item, &exact, &path).await?;
            read(store, Arc::new(item), schema, limit, batch_size, metrics)
        };
        return Ok(futures::stream::once(refined).try_flatten().boxed());
    }
    if let Some(keep) = item.keep.clone() {
        // The rows as read, then the ones kept; a limit counts the rows kept.
        let all = Item {
            keep: None,
            exact: None,
            ..(*item).clone()
        };
        let rows = read(store, Arc::new(all), schema, None, batch_size, metrics)?;
        let mut at = 0usize;
        let kept = rows
            .scan(limit.unwrap_or(usize::MAX), move |left, b| {
                let out = match *left {
                    0 => None,
                    _ => Some(b.and_then(|b| {
                        let n = b.num_rows();
                        at += n;
                        let b = match &keep {
                            Keep::Filter(f) => filter_rows(f.as_ref(), b)?,
                            Keep::Mask(m) if at <= m.len() => mask_rows(&m.slice(at - n, n), b)?,
                            Keep::Mask(_) => {
                                return internal_err!("series read: more rows than its mask");
                            }
                        };
                        Ok(b.map(|b| {
                            let b = b.slice(0, b.num_rows().min(*left));
                            *left -= b.num_rows();
                            b
                        }))
                    })),
                };
                futures::future::ready(out)
            })
            .try_filter_map(|b| futures::future::ready(Ok(b)));
        return Ok(kept.boxed());
    }
    let mut at = SpanCursor::default();
    let mut given_at = 0usize;
    let (sources, values, spans, given) = (
        Arc::clone(&item.sources),
        Arc::clone(&item.values),
        Arc::clone(&item.spans),
        item.given.clone(),
    );
    let mut assemble = move |b: Option<&RecordBatch>, rows: usize| -> Result<RecordBatch> {
        let taken = at.take(&spans, rows as u64);
        let columns = sources
            .iter()
            .map(|s| match (s, b, &given) {
                (Source::File(i), Some(b), _) => Ok(Arc::clone(b.column(*i))),
                (Source::Key(k), _, _) => Ok(key_column(&values, &taken, *k)),
                (Source::Given(j), _, Some(g))
                    if g.get(*j).is_some_and(|g| given_at + rows <= g.len()) =>
                {
                    Ok(g[*j].slice(given_at, rows))
                }
                _ => internal_err!("series read: a column was neither decoded nor given"),
            })
            .collect::<Result<Vec<_>>>()?;
        given_at += rows;
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&schema),
            columns,
            &options,
        )?)
    };
    if item.rows == 0 {
        return Ok(futures::stream::empty().boxed());
    }
    if !item.decodes {
        // No projected column needs decoding (series columns, a given time column).
        let total = limit.map_or(item.rows, |l| item.rows.min(l as u64));
        let batches: Vec<Result<RecordBatch>> = (0..total)
            .step_by(batch_size)
            .map(|from| assemble(None, (total - from).min(batch_size as u64) as usize))
            .collect();
        return Ok(futures::stream::iter(batches).boxed());
    }
    let mut builder = ParquetRecordBatchStreamBuilder::new_with_metadata(
        reader(store, &item, &metrics)?,
        item.meta.clone(),
    )
    .with_projection(item.mask.clone())
    .with_row_groups(item.row_groups.clone())
    .with_row_selection(item.selection.clone())
    .with_batch_size(batch_size);
    if let Some(l) = limit {
        builder = builder.with_limit(l);
    }
    let stream = builder.build().map_err(parquet_error)?;
    Ok(stream
        .map(move |b| {
            let b = b.map_err(parquet_error)?;
            assemble(Some(&b), b.num_rows())
        })
        .boxed())
}

fn parquet_error(e: ParquetError) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::ParquetError(Box::new(e))
}

/// A byte-range reader of `item`'s file (the metadata is given: it only fetches bytes).
fn reader(
    store: Arc<dyn ObjectStore>,
    item: &Item,
    metrics: &ExecutionPlanMetricsSet,
) -> Result<WithPageIndex> {
    Ok(match &item.local {
        Some(path) => WithPageIndex(Box::new(LocalFile::open(path)?)),
        None => {
            let file = PartitionedFile::new(item.path.clone(), item.size);
            let reader = DefaultParquetFileReaderFactory::new(store)
                .create_reader(0, file, None, metrics)?;
            WithPageIndex(reader)
        }
    })
}

/// The rows of `batch` for which `predicate` is true (NULL is not); None when there are
/// none. (Also the scan's own filtering of sources that do not filter: `Residual`.)
pub(crate) fn filter_rows(
    predicate: &dyn PhysicalExpr,
    batch: RecordBatch,
) -> Result<Option<RecordBatch>> {
    mask_rows(&kept_rows(predicate, &batch)?, batch)
}

/// The rows of `batch` `mask` (no NULLs) keeps; None when there are none.
fn mask_rows(mask: &BooleanArray, batch: RecordBatch) -> Result<Option<RecordBatch>> {
    Ok(match mask.true_count() {
        0 => None,
        n if n == batch.num_rows() => Some(batch),
        _ => Some(filter_record_batch(&batch, mask)?),
    })
}

/// Which rows of `batch` `predicate` keeps: true where it is true, false where it is
/// false or NULL.
fn kept_rows(predicate: &dyn PhysicalExpr, batch: &RecordBatch) -> Result<BooleanArray> {
    let mask = predicate.evaluate(batch)?.into_array(batch.num_rows())?;
    let mask = as_boolean_array(&mask)?;
    Ok(match mask.null_count() {
        0 => mask.clone(),
        _ => prep_null_mask_filter(mask),
    })
}

/// `item` narrowed to the rows its filters keep: decodes the first read's columns
/// (`exact.first`) of its selected rows, evaluates the filters on them, and gives the
/// kept rows' values to the second read, which decodes the other columns of those rows
/// only.
async fn refine(item: &Item, exact: &Exact, path: &std::path::Path) -> Result<Item> {
    let schema = item.meta.metadata().file_metadata().schema_descr();
    let unchanged = || Item {
        exact: None,
        ..item.clone()
    };
    let rows = usize::try_from(item.rows).unwrap_or(usize::MAX);
    if rows == 0 || item.selection.row_count() != rows {
        return Ok(unchanged());
    }
    let mut first = ParquetRecordBatchStreamBuilder::new_with_metadata(
        WithPageIndex(Box::new(LocalFile::open(path)?)),
        item.meta.clone(),
    )
    .with_projection(ProjectionMask::roots(schema, exact.first.iter().copied()))
    .with_row_groups(item.row_groups.clone())
    .with_row_selection(item.selection.clone())
    .with_batch_size(rows.max(1))
    .build()
    .map_err(parquet_error)?;
    let mut parts: Vec<RecordBatch> = vec![];
    while let Some(b) = first.next().await {
        parts.push(b.map_err(parquet_error)?);
    }
    let columns: Vec<ArrayRef> = match parts.as_slice() {
        [one] => one.columns().to_vec(),
        _ => (0..exact.first.len())
            .map(|c| {
                let arrays: Vec<&dyn Array> = parts.iter().map(|b| b.column(c).as_ref()).collect();
                match arrays.is_empty() {
                    true => internal_err!("series read: no rows decoded"),
                    false => Ok(concat(&arrays)?),
                }
            })
            .collect::<Result<_>>()?,
    };
    if columns.len() != exact.first.len() || columns.iter().any(|c| c.len() != rows) {
        return Ok(unchanged());
    }
    // The filters over the selected rows: the decoded columns, and the series columns
    // filled from the spans.
    let filtered = exact
        .filter
        .columns
        .iter()
        .map(|s| match s {
            Source::Given(j) => match columns.get(*j) {
                Some(c) => Ok(Arc::clone(c)),
                None => internal_err!("series read: a filter column was not decoded"),
            },
            Source::Key(k) => Ok(key_column(&item.values, &item.spans, *k)),
            Source::File(_) => internal_err!("series read: a filter column was not decoded"),
        })
        .collect::<Result<Vec<_>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    let batch =
        RecordBatch::try_new_with_options(Arc::clone(&exact.filter.schema), filtered, &options)?;
    let kept = kept_rows(exact.filter.predicate.as_ref(), &batch)?;
    // Rows kept one or two at a time (`usage_user > 90`) are cheaper to decode as the
    // stretch from each series' first kept row to its last and filter afterwards: the
    // Parquet reader's cost per selected run, for each column, is more than decoding a
    // few rows (docs/performance.md, "Session 21").
    let runs = kept.values().set_slices().count();
    let (mask, post) = match runs > 0 && kept.true_count() < runs * MIN_SELECTED_RUN {
        true => {
            let hull = hulls(&kept, &item.spans);
            let post = filter(&kept, &hull)?;
            (hull, Some(Keep::Mask(post.as_boolean().clone())))
        }
        false => (kept, None),
    };
    // The rows to decode as selectors over the selected rows, and as (rows, series) spans.
    let (mut selectors, mut spans) = (vec![], vec![]);
    let mut at = 0usize;
    let mut cursor = SpanCursor::default();
    for (start, end) in mask.values().set_slices() {
        if start > at {
            selectors.push(RowSelector::skip(start - at));
            cursor.take(&item.spans, (start - at) as u64);
        }
        selectors.push(RowSelector::select(end - start));
        spans.extend(cursor.take(&item.spans, (end - start) as u64));
        at = end;
    }
    if rows > at {
        selectors.push(RowSelector::skip(rows - at));
    }
    let given = match mask.true_count() {
        n if n == rows => columns,
        _ => columns
            .iter()
            .map(|c| Ok(filter(c.as_ref(), &mask)?))
            .collect::<Result<_>>()?,
    };
    Ok(Item {
        mask: exact.mask.clone(),
        decodes: exact.decodes,
        sources: Arc::clone(&exact.sources),
        exact: None,
        keep: post,
        given: Some(given.into()),
        selection: item.selection.and_then(&RowSelection::from(selectors)),
        rows: spans.iter().map(|(n, _)| n).sum(),
        spans: spans.into(),
        ..item.clone()
    })
}

/// The mean length of the runs of rows an [`Exact`] read keeps below which it decodes
/// each series' stretch of kept rows whole and filters it after (arrow-rs's own reader
/// makes the same choice, at the same length, between a selection and a mask).
const MIN_SELECTED_RUN: usize = 32;

/// For each of the `spans` (row count, series) of `kept`'s rows, the rows from its first
/// kept row to its last.
fn hulls(kept: &BooleanArray, spans: &[(u64, usize)]) -> BooleanArray {
    let mut out = BooleanBufferBuilder::new(kept.len());
    let mut at = 0usize;
    for &(n, _) in spans {
        let n = usize::try_from(n)
            .unwrap_or(usize::MAX)
            .min(kept.len() - at);
        let span = kept.values().slice(at, n);
        let mut set = span.set_slices();
        let first = set.next();
        match (first, set.last().or(first)) {
            (Some((start, _)), Some((_, end))) => {
                out.append_n(start, false);
                out.append_n(end - start, true);
                out.append_n(n - end, false);
            }
            _ => out.append_n(n, false),
        }
        at += n;
    }
    out.append_n(kept.len() - at, false);
    BooleanArray::new(out.finish(), None)
}

/// A local file whose byte ranges are read with `pread` on the calling thread.
///
/// The object store reads local files in `spawn_blocking`: each read wakes a thread of the
/// blocking pool, which wakes the runtime's again, and those hand-offs cost more than a
/// small series read itself (they were a fifth of the server's CPU in a one-host,
/// one-hour query). Only small selections are read this way: a few pages, normally from
/// the page cache, so the runtime thread is held for microseconds.
struct LocalFile(std::fs::File);

impl LocalFile {
    fn open(path: &std::path::Path) -> Result<LocalFile> {
        std::fs::File::open(path).map(LocalFile).map_err(|e| {
            datafusion::error::DataFusionError::Execution(format!(
                "could not open {}: {e}",
                path.display()
            ))
        })
    }

    fn read(&self, range: Range<u64>) -> ParquetResult<Bytes> {
        use std::os::unix::fs::FileExt;
        let len = usize::try_from(range.end.saturating_sub(range.start))
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        let mut buf = vec![0u8; len];
        self.0
            .read_exact_at(&mut buf, range.start)
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        Ok(Bytes::from(buf))
    }
}

impl AsyncFileReader for LocalFile {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, ParquetResult<Bytes>> {
        Box::pin(futures::future::ready(self.read(range)))
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, ParquetResult<Vec<Bytes>>> {
        let read = ranges.into_iter().map(|r| self.read(r)).collect();
        Box::pin(futures::future::ready(read))
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, ParquetResult<Arc<ParquetMetaData>>> {
        let e = ParquetError::General("a series read is given its metadata".to_string());
        Box::pin(futures::future::ready(Err(e)))
    }
}

/// A position in an item's (row count, series) spans.
#[derive(Debug, Default)]
struct SpanCursor {
    span: usize,
    /// Rows of the current span already taken.
    offset: u64,
}

impl SpanCursor {
    /// The next `rows` rows as (row count, series) spans.
    fn take(&mut self, spans: &[(u64, usize)], rows: u64) -> Vec<(u64, usize)> {
        let mut out = vec![];
        let mut left = rows;
        while left > 0 {
            let Some(&(n, series)) = spans.get(self.span) else {
                break;
            };
            let k = (n - self.offset).min(left);
            out.push((k, series));
            left -= k;
            self.offset += k;
            if self.offset == n {
                self.span += 1;
                self.offset = 0;
            }
        }
        out
    }
}

/// Series column `key` of rows whose series are `spans`.
fn key_column(values: &[Vec<Option<String>>], spans: &[(u64, usize)], key: usize) -> ArrayRef {
    let value = |s: usize| {
        values
            .get(s)
            .and_then(|v| v.get(key))
            .and_then(Option::as_ref)
    };
    let rows: u64 = spans.iter().map(|(n, _)| n).sum();
    let bytes: u64 = spans
        .iter()
        .map(|&(n, s)| n * value(s).map_or(0, |v| v.len() as u64))
        .sum();
    let mut b = StringBuilder::with_capacity(rows as usize, bytes as usize);
    for &(n, s) in spans {
        match value(s) {
            Some(v) => (0..n).for_each(|_| b.append_value(v)),
            None => (0..n).for_each(|_| b.append_null()),
        }
    }
    Arc::new(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rows: u64, tails: SeriesTails) -> FileMeta {
        FileMeta {
            id: Default::default(),
            path: "f.parquet".into(),
            partition: 0,
            min_time: 0,
            max_time: 0,
            rows,
            size_bytes: 0,
            tier: Tier::Hot,
            tails: Some(Arc::new(tails)),
        }
    }

    fn tails(keys: &[&str], ranges: &[[u64; 2]], series: &[&str]) -> SeriesTails {
        SeriesTails {
            keys: keys.iter().map(|s| s.to_string()).collect(),
            time: "time".into(),
            ranges: ranges.to_vec(),
            series: series.iter().map(|s| s.to_string()).collect(),
            latest: vec![],
            lookup: Default::default(),
        }
    }

    fn keys(pairs: &[(&str, &[&str])]) -> KeyValues {
        KeyValues::of(pairs)
    }

    /// The row ranges of `runs`.
    fn rows(runs: Option<Runs>) -> Option<Vec<Range<u64>>> {
        runs.map(|r| r.runs.into_iter().map(|r| r.rows).collect())
    }

    #[test]
    fn runs_of_one_key_are_found_through_the_lookup() {
        // 1000 series of 3 rows each, named by one column.
        let names: Vec<String> = (0..1000).map(|i| format!(r#"["h{i}"]"#)).collect();
        let ranges: Vec<[u64; 2]> = (0..1000u64).map(|i| [i * 3 + 2, 1]).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let f = file(3000, tails(&["host"], &ranges, &refs));
        let r = series_rows(&f, &keys(&[("host", &["h999", "h0", "h500", "nope"])]));
        assert_eq!(
            r.as_ref().map(|r| r.values.clone()),
            Some(vec![
                vec![Some("h0".to_string())],
                vec![Some("h500".to_string())],
                vec![Some("h999".to_string())]
            ])
        );
        assert_eq!(rows(r), Some(vec![0..3, 1500..1503, 2997..3000]));
        // Tails that do not cover the file: the file cannot say, found by name or not.
        let short = file(3001, tails(&["host"], &ranges, &refs));
        assert_eq!(series_rows(&short, &keys(&[("host", &["h1"])])), None);
        assert_eq!(series_rows(&short, &keys(&[("host", &["nope"])])), None);
    }

    #[test]
    fn runs_of_the_allowed_series() {
        // Three series of 10, 5 and 7 rows; each one's tail is its last row.
        let f = file(
            22,
            tails(
                &["host", "dc"],
                &[[9, 1], [14, 1], [21, 1]],
                &[r#"["a","x"]"#, r#"["b",null]"#, r#"["c","x"]"#],
            ),
        );
        let b = series_rows(&f, &keys(&[("host", &["b"])]));
        assert_eq!(
            b.as_ref().map(|r| r.values.clone()),
            Some(vec![vec![Some("b".to_string()), None]])
        );
        assert_eq!(rows(b), Some(vec![10..15]));
        assert_eq!(
            rows(series_rows(&f, &keys(&[("host", &["a", "b"])]))),
            Some(vec![0..10, 10..15])
        );
        assert_eq!(
            rows(series_rows(&f, &keys(&[("dc", &["x"])]))),
            Some(vec![0..10, 15..22])
        );
        assert_eq!(
            rows(series_rows(&f, &keys(&[("host", &["zz"])]))),
            Some(vec![])
        );
        // A column that names no series: the file cannot say.
        assert_eq!(series_rows(&f, &keys(&[("region", &["x"])])), None);
        // Runs that do not cover the file: not every series is listed.
        let short = file(30, f.tails.as_deref().cloned().unwrap());
        assert_eq!(series_rows(&short, &keys(&[("host", &["b"])])), None);
    }

    fn zone(rows: Range<u64>, min: i64, max: i64) -> Zone {
        Zone {
            rows,
            min: Some(min),
            max: Some(max),
        }
    }

    fn range(min: i64, max: i64) -> TimeRange {
        TimeRange { min, max }
    }

    #[test]
    fn time_bounds_of_a_run_from_its_pages() {
        // Pages of 4 rows; the run is rows 2..13 with times 100, 110, ... 200, sharing its
        // first page with the series before (times 0..500) and its last with the one after.
        let zones = [
            zone(0..4, 100, 500),
            zone(4..8, 120, 150),
            zone(8..12, 160, 190),
            zone(12..16, 0, 900),
        ];
        let run = Run {
            rows: 2..13,
            series: 0,
            latest: Some(200),
        };
        // Rows 2..4 are at most 120 (page 2's min): a range from 155 leaves them out; row 12
        // is at least 190 (page 3's max) and at most 200 (the series' latest).
        assert_eq!(narrow_run(&run, &zones, range(155, 170)), vec![8..12]);
        assert_eq!(narrow_run(&run, &zones, range(0, 119)), vec![2..4]);
        assert_eq!(narrow_run(&run, &zones, range(195, 1000)), vec![12..13]);
        assert_eq!(
            narrow_run(&run, &zones, range(201, 1000)),
            Vec::<Range<u64>>::new()
        );
        assert_eq!(narrow_run(&run, &zones, range(121, 155)), vec![4..8]);
        assert_eq!(narrow_run(&run, &zones, TimeRange::ALL), vec![2..13]);
        // Without the latest time, the last page's rows are bounded by its max only.
        let open = Run {
            latest: None,
            ..run.clone()
        };
        assert_eq!(narrow_run(&open, &zones, range(201, 1000)), vec![12..13]);
        // Unknown statistics bound nothing.
        let blind = [Zone {
            rows: 0..16,
            min: None,
            max: None,
        }];
        assert_eq!(narrow_run(&run, &blind, range(155, 170)), vec![2..13]);
    }

    #[test]
    fn hulls_span_each_series_kept_rows() {
        // Two series of 5 and 4 rows, then one of 3 with no row kept.
        let kept = BooleanArray::from(vec![
            false, true, false, true, false, // first kept 1, last 3
            true, false, false, false, // only the first row
            false, false, false,
        ]);
        let got: Vec<bool> = hulls(&kept, &[(5, 0), (4, 1), (3, 2)])
            .values()
            .iter()
            .collect();
        let want = [
            false, true, true, true, false, true, false, false, false, false, false, false,
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn key_columns_follow_the_spans() {
        let values = vec![
            vec![Some("a".to_string())],
            vec![None],
            vec![Some("c".to_string())],
        ];
        let spans = [(2, 0), (1, 1), (3, 2)];
        let mut at = SpanCursor::default();
        let first = at.take(&spans, 4);
        assert_eq!(first, vec![(2, 0), (1, 1), (1, 2)]);
        assert_eq!(at.take(&spans, 10), vec![(2, 2)]);
        let col = key_column(&values, &first, 0);
        let col = col.as_any().downcast_ref::<StringArray>().unwrap();
        let got: Vec<Option<&str>> = col.iter().collect();
        assert_eq!(got, vec![Some("a"), Some("a"), None, Some("c")]);
    }
}
