//! `StorageScanExec`: the scan of a Strata table, which takes its storage snapshot when
//! the query runs rather than when it is planned.
//!
//! A physical plan built over it does not depend on which files and memtable rows exist,
//! so a repeated statement can run the physical plan it was given the first time
//! ([`crate::plan_cache`]; physical planning was a quarter of the CPU of a one-host
//! TSBS query). When it runs, the scan builds what [`crate::table::TsTable`] used to plan
//! directly, from the snapshot:
//!
//! ```text
//! DataSourceExec (MemorySourceConfig)  -- memtable batches and the block's own rows
//! DataSourceExec (ParquetSource)       -- hot files, the pushed filters as predicate
//! DataSourceExec (ParquetSource)       -- cold files, likewise
//! ```
//!
//! and spreads their partitions over its own fixed number of output partitions.
//!
//! **One snapshot per statement and table.** [`bind_snapshots`] (called by
//! [`crate::exec`] before a plan runs) takes one snapshot per table for all the scans of
//! that table in the plan, covering the union of their time ranges. A self-join (the
//! latest-row-per-series rewrite joins a table to its own per-series maximum) therefore
//! sees the same rows on both sides, whatever order DataFusion opens its inputs in. A scan
//! that was not bound (a plan executed by other code) takes its own snapshot when its first
//! partition is opened.
//!
//! **Filters.** The filters DataFusion's `FilterPushdown` rule offers (the query's `WHERE`,
//! and in its second phase the dynamic filters of joins and top-k sorts) are kept and handed
//! to each source when it is built: to the Parquet sources for pruning, and as row filters
//! on local files. The scan applies the query's own filters exactly and says so, so no
//! `FilterExec` stays above it: a source that does not apply a filter itself (the memtable
//! rows, cold files) has its batches filtered by the scan ([`Residual`]); the series reads
//! of [`crate::series_scan`] apply them as they read. Hot files' row filters already keep only matching rows;
//! filtering their batches again in a `FilterExec` cost 8-10 % of the CPU of a
//! twelve-hour aggregate over all hosts (docs/performance.md, "Session 25"). Dynamic
//! filters are only ever a hint (their producer still filters), and volatile ones
//! (`random()`) are left to the `FilterExec`, which evaluates them once per row.
//!
//! **Re-execution.** An instance keeps the snapshot and the sources of its execution;
//! `reset_state` (DataFusion's `reset_plan_states`) gives a fresh one. A cached plan is
//! never executed itself, only reset copies of it.

use std::fmt;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::config::ConfigOptions;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, Statistics, internal_err};
use datafusion::datasource::source::{DataSource, DataSourceExec};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::expressions::DynamicFilterPhysicalExpr;
use datafusion::physical_expr::utils::conjunction;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_expr_common::physical_expr::is_volatile;
use datafusion::physical_plan::StatisticsArgs;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType, SchedulingType};
use datafusion::physical_plan::filter_pushdown::{
    ChildPushdownResult, FilterPushdownPhase, FilterPushdownPropagation, PushedDown,
};
use datafusion::physical_plan::metrics::{
    Count, ExecutionPlanMetricsSet, Metric, MetricBuilder, MetricValue, MetricsSet,
};
use datafusion::physical_plan::placeholder_row::PlaceholderRowExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
};
use futures::StreamExt;
use strata_storage::{ReadSnapshot, Storage, TableDef, TimeRange};

use crate::series_scan::{KeyValues, filter_rows};

/// What a scan reads, fixed when it is planned.
#[derive(Debug)]
pub struct ScanSpec {
    pub storage: Arc<Storage>,
    pub def: Arc<TableDef>,
    /// The table's schema as planned (the snapshot's batches are adapted to it).
    pub schema: SchemaRef,
    pub projection: Option<Vec<usize>>,
    pub limit: Option<usize>,
    /// The time range the query's filters allow; partitions and files outside it are
    /// not read.
    pub range: TimeRange,
    /// Uncommitted rows of the reading session's transaction block.
    pub overlay: Vec<RecordBatch>,
    /// Series columns: read only the rows at each series' latest time where files know
    /// them ([`crate::table::TsTable::latest_rows_only`]).
    pub latest: Option<Arc<[String]>>,
    /// The series values the query's filters allow, if they name any.
    pub(crate) keys: Option<Arc<KeyValues>>,
    /// The rows the scan was expected to read when planned ([`ScanSpec::expected_rows`]).
    pub expected_rows: u64,
}

impl ScanSpec {
    /// The rows this scan would read now, estimated ([`crate::row_estimate`]).
    pub fn expected_rows(&self) -> Result<u64> {
        let outline = self
            .storage
            .row_outline(self.def.id, self.range)
            .map_err(crate::error::Error::from)?;
        let stored = crate::row_estimate::expected_rows(
            &outline,
            self.range,
            self.def.time_column.is_some(),
            self.keys.as_deref(),
        );
        let own: usize = self.overlay.iter().map(RecordBatch::num_rows).sum();
        Ok(stored + own as u64)
    }
}

/// The scan of one Strata table (see the module docs).
#[derive(Debug)]
pub struct StorageScanExec {
    spec: Arc<ScanSpec>,
    /// Filters pushed down by the physical optimizer, over the projected schema.
    filters: Vec<Arc<dyn PhysicalExpr>>,
    props: Arc<PlanProperties>,
    /// The snapshot of this execution, if [`bind_snapshots`] gave one.
    bound: OnceLock<Arc<ReadSnapshot>>,
    /// The sources of this execution, built when the first partition is opened.
    inputs: OnceLock<Inputs>,
    /// This execution's own metrics (rows out, after the filters it applies).
    metrics: ExecutionPlanMetricsSet,
}

/// What one execution reads: the sources, each with the filters it does not apply
/// itself, and for each output partition the (source, source partition) pairs it streams
/// one after the other.
#[derive(Debug)]
struct Inputs {
    sources: Vec<(Arc<dyn ExecutionPlan>, Residual)>,
    parts: Vec<Vec<(usize, usize)>>,
}

/// The conjunction of the scan's filters a source leaves to the scan (None: the source
/// returns only matching rows).
#[derive(Debug, Clone, Default)]
struct Residual(Option<Arc<dyn PhysicalExpr>>);

impl Residual {
    /// The filters of `filters` whose pushdown answer is not `Yes`.
    fn of(filters: &[Arc<dyn PhysicalExpr>], answers: &[PushedDown]) -> Self {
        let left: Vec<_> = filters
            .iter()
            .enumerate()
            .filter(|(i, _)| !matches!(answers.get(*i), Some(PushedDown::Yes)))
            .map(|(_, f)| Arc::clone(f))
            .collect();
        Residual((!left.is_empty()).then(|| conjunction(left)))
    }

    /// `stream` with only the rows these filters keep (a row whose filter is NULL is not
    /// kept), batches left empty dropped; counted in `output_rows`.
    fn apply(
        &self,
        stream: SendableRecordBatchStream,
        output_rows: Count,
    ) -> SendableRecordBatchStream {
        let schema = stream.schema();
        let predicate = self.0.clone();
        let kept = stream.filter_map(move |batch| {
            let out = match (batch, &predicate) {
                (Ok(b), Some(p)) => filter_rows(p.as_ref(), b).transpose(),
                (other, _) => Some(other),
            };
            if let Some(Ok(b)) = &out {
                output_rows.add(b.num_rows());
            }
            futures::future::ready(out)
        });
        Box::pin(RecordBatchStreamAdapter::new(schema, kept))
    }
}

/// Whether `f` is or holds a dynamic filter (a join's or a top-k sort's), which its
/// producer updates while the query runs.
fn is_dynamic(f: &Arc<dyn PhysicalExpr>) -> bool {
    f.exists(|e| Ok(e.downcast_ref::<DynamicFilterPhysicalExpr>().is_some()))
        .unwrap_or(true)
}

impl StorageScanExec {
    /// A scan producing `partitions` partitions.
    pub fn new(spec: ScanSpec, partitions: usize) -> Result<Self> {
        let projected = match &spec.projection {
            Some(p) => Arc::new(spec.schema.project(p)?),
            None => Arc::clone(&spec.schema),
        };
        let props = PlanProperties::new(
            EquivalenceProperties::new(projected),
            Partitioning::UnknownPartitioning(partitions.max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        )
        .with_scheduling_type(SchedulingType::Cooperative);
        Ok(StorageScanExec {
            spec: Arc::new(spec),
            filters: vec![],
            props: Arc::new(props),
            bound: OnceLock::new(),
            inputs: OnceLock::new(),
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    /// The rows the scan was expected to read when planned.
    pub fn expected_rows(&self) -> u64 {
        self.spec.expected_rows
    }

    /// The snapshot [`bind_snapshots`] gave this scan, if any.
    pub fn bound_snapshot(&self) -> Option<&Arc<ReadSnapshot>> {
        self.bound.get()
    }

    /// The same scan, not executed yet.
    fn fresh(&self) -> Self {
        StorageScanExec {
            spec: Arc::clone(&self.spec),
            filters: self.filters.clone(),
            props: Arc::clone(&self.props),
            bound: OnceLock::new(),
            inputs: OnceLock::new(),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// Whether a pushed filter is a dynamic one (a join's or a top-k sort's), which its
    /// producer updates while the query runs.
    fn has_dynamic_filter(&self) -> bool {
        // (DataFusion's `DynamicFilterTracking::classify` would also subscribe to them.)
        self.filters.iter().any(is_dynamic)
    }

    fn build(&self, ctx: &TaskContext) -> Result<Inputs> {
        let snap = match self.bound.get() {
            Some(s) => Arc::clone(s),
            None => Arc::new(
                self.spec
                    .storage
                    .snapshot(self.spec.def.id, self.spec.range)
                    .map_err(crate::error::Error::from)?,
            ),
        };
        let mut batches = snap.batches.clone();
        batches.extend(self.spec.overlay.iter().cloned());
        // A bound snapshot covers the time ranges of every scan of this table in the plan.
        let files: Vec<_> = snap
            .files
            .iter()
            .filter(|f| {
                self.spec.def.time_column.is_none()
                    || self.spec.range.overlaps(f.min_time, f.max_time)
            })
            .cloned()
            .collect();
        let n = self.props.output_partitioning().partition_count();
        let options = ctx.session_config().options();
        let mut sources = vec![];
        // The rows of the series the filters name, read from local files directly
        // (`crate::series_scan`); the other files take DataFusion's Parquet scan.
        let projected = self.props.eq_properties.schema();
        let keys = match self.spec.latest {
            None => KeyValues::from_filters(&self.filters, projected),
            Some(_) => None,
        };
        let files = match keys {
            Some(keys) => {
                let time = self.spec.def.time_column_def().map(|c| c.name.as_str());
                let planned = crate::series_scan::plan(
                    ctx.runtime_env().as_ref(),
                    self.spec.storage.data_dir(),
                    files,
                    &keys,
                    &self.filters,
                    projected,
                    time,
                    self.spec.range,
                    self.spec.limit,
                    ctx.session_config().batch_size(),
                    n,
                )?;
                // The series reads apply the filters themselves.
                sources.extend(planned.exec.into_iter().map(|e| (e, Residual::default())));
                planned.rest
            }
            None => files,
        };
        for source in crate::table::scan_sources(
            ctx.runtime_env().as_ref(),
            n,
            &self.spec.schema,
            self.spec.projection.as_ref(),
            self.spec.limit,
            &batches,
            &files,
            self.spec.latest.as_deref(),
        )? {
            let (source, residual) = self.with_filters(source, options.as_ref())?;
            // What DataFusion's EnforceDistribution does for a planned file scan: fewer
            // files than partitions are split into byte ranges scanned in parallel.
            let source = match options.optimizer.repartition_file_scans {
                true => source
                    .repartitioned(n, options.optimizer.repartition_file_min_size, None)?
                    .unwrap_or(source),
                false => source,
            };
            sources.push((
                Arc::new(DataSourceExec::new(source)) as Arc<dyn ExecutionPlan>,
                residual,
            ));
        }
        // Partitions of all sources, dealt round-robin over the output partitions.
        let mut parts = vec![vec![]; n];
        let mut next = 0;
        for (s, source) in sources.iter().enumerate() {
            for p in 0..source.0.output_partitioning().partition_count() {
                parts[next % n].push((s, p));
                next += 1;
            }
        }
        Ok(Inputs { sources, parts })
    }

    /// `source` with the pushed filters as its predicate (Parquet: pruning, and row
    /// filters on local files), and the filters it does not apply to every row.
    ///
    /// A Parquet source's "applied" rests on its row filter taking every conjunct, which
    /// holds for Strata's column types and `crate::file_adapter` (docs/architecture.md,
    /// "For the next engineer", session 25): DataFusion leaves out a conjunct it cannot
    /// build a row filter for without saying so.
    fn with_filters(
        &self,
        source: Arc<dyn DataSource>,
        options: &ConfigOptions,
    ) -> Result<(Arc<dyn DataSource>, Residual)> {
        if self.filters.is_empty() {
            return Ok((source, Residual::default()));
        }
        let pushed = source.try_pushdown_filters(self.filters.clone(), options)?;
        let residual = Residual::of(&self.filters, &pushed.filters);
        Ok((pushed.updated_node.unwrap_or(source), residual))
    }
}

impl DisplayAs for StorageScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                write!(f, "StorageScanExec: table={}", self.spec.def.name)?;
                let schema = self.props.eq_properties.schema();
                let names: Vec<&str> = schema.fields().iter().map(|c| c.name().as_str()).collect();
                write!(f, ", projection=[{}]", names.join(", "))?;
                if let Some(l) = self.spec.limit {
                    write!(f, ", limit={l}")?;
                }
                if let Some(keys) = &self.spec.latest {
                    write!(f, ", latest_rows_of=[{}]", keys.join(", "))?;
                }
                if !self.filters.is_empty() {
                    let filters: Vec<String> = self.filters.iter().map(|e| e.to_string()).collect();
                    write!(f, ", predicate={}", filters.join(" AND "))?;
                }
                Ok(())
            }
            DisplayFormatType::TreeRender => write!(f, "table={}", self.spec.def.name),
        }
    }
}

impl ExecutionPlan for StorageScanExec {
    fn name(&self) -> &str {
        "StorageScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        apply_each(&self.filters, f)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !children.is_empty() {
            return internal_err!("StorageScanExec has no children");
        }
        Ok(self)
    }

    fn reset_state(self: Arc<Self>) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(self.fresh()))
    }

    /// The rows expected when planned, as an estimate (never exact: `count(*)` must not
    /// be answered from it).
    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        let mut stats = Statistics::new_unknown(&self.schema());
        if args.partition().is_none() {
            stats.num_rows = Precision::Inexact(self.spec.expected_rows as usize);
        }
        Ok(Arc::new(stats))
    }

    fn handle_child_pushdown_result(
        &self,
        _phase: FilterPushdownPhase,
        child_pushdown_result: ChildPushdownResult,
        _config: &ConfigOptions,
    ) -> Result<FilterPushdownPropagation<Arc<dyn ExecutionPlan>>> {
        let offered: Vec<_> = child_pushdown_result
            .parent_filters
            .into_iter()
            .map(|f| f.filter)
            .collect();
        // Applied here (module docs): a static, non-volatile filter of a scan without a
        // row limit (a limit would be counted before the scan's own filtering). Volatile
        // filters are not kept: the FilterExec evaluates them, once per row.
        let mut answer = Vec::with_capacity(offered.len());
        let mut kept = Vec::with_capacity(offered.len());
        for f in offered {
            let volatile = is_volatile(&f);
            answer.push(
                match self.spec.limit.is_none() && !volatile && !is_dynamic(&f) {
                    true => PushedDown::Yes,
                    false => PushedDown::No,
                },
            );
            if !volatile {
                kept.push(f);
            }
        }
        if kept.is_empty() {
            return Ok(FilterPushdownPropagation::with_parent_pushdown_result(
                answer,
            ));
        }
        let mut scan = self.fresh();
        scan.filters.extend(kept);
        Ok(
            FilterPushdownPropagation::with_parent_pushdown_result(answer)
                .with_updated_node(Arc::new(scan) as _),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let n = self.props.output_partitioning().partition_count();
        if partition >= n {
            return internal_err!("StorageScanExec has {n} partitions, asked for {partition}");
        }
        let inputs = match self.inputs.get() {
            Some(i) => i,
            None => {
                let built = self.build(&context)?;
                self.inputs.get_or_init(|| built)
            }
        };
        let output_rows = MetricBuilder::new(&self.metrics).output_rows(partition);
        let streams = inputs.parts[partition]
            .iter()
            .map(|&(s, p)| {
                let (source, residual) = &inputs.sources[s];
                Ok(residual.apply(
                    source.execute(p, Arc::clone(&context))?,
                    output_rows.clone(),
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            futures::stream::iter(streams).flatten(),
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        let inputs = self.inputs.get()?;
        // The scan's own `output_rows` are the rows its filters keep; its sources' are
        // summed as `source_rows` (the rows the files returned: the in-memory source
        // keeps no count).
        let mut all = self.metrics.clone_inner();
        let source_rows = Count::new();
        for m in inputs.sources.iter().filter_map(|(s, _)| s.metrics()) {
            for metric in m.iter() {
                match metric.value() {
                    MetricValue::OutputRows(n) => source_rows.add(n.value()),
                    _ => all.push(Arc::clone(metric)),
                }
            }
        }
        all.push(Arc::new(Metric::new(
            MetricValue::Count {
                name: "source_rows".into(),
                count: source_rows,
            },
            None,
        )));
        Some(all)
    }
}

/// Applies `f` to each of `exprs` (an `ExecutionPlan::apply_expressions` over a list),
/// stopping when it says so.
pub(crate) fn apply_each<'a>(
    exprs: impl IntoIterator<Item = &'a Arc<dyn PhysicalExpr>>,
    f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
) -> Result<TreeNodeRecursion> {
    for e in exprs {
        if f(e)? == TreeNodeRecursion::Stop {
            return Ok(TreeNodeRecursion::Stop);
        }
    }
    Ok(TreeNodeRecursion::Continue)
}

/// Gives every [`StorageScanExec`] in `plan` the snapshot it will read: one per table,
/// covering the time ranges of all of that table's scans.
pub fn bind_snapshots(plan: &Arc<dyn ExecutionPlan>) -> Result<()> {
    let mut scans: Vec<&StorageScanExec> = vec![];
    plan.apply(|node| {
        if let Some(s) = node.downcast_ref::<StorageScanExec>() {
            scans.push(s);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    // Scans grouped by table, each group with the union of its members' time ranges.
    let mut groups: Vec<(TimeRange, Vec<&StorageScanExec>)> = vec![];
    for s in scans {
        let same = |g: &&StorageScanExec| {
            Arc::ptr_eq(&g.spec.storage, &s.spec.storage) && g.spec.def.id == s.spec.def.id
        };
        match groups
            .iter_mut()
            .find(|(_, members)| members.iter().any(same))
        {
            Some((range, members)) => {
                range.min = range.min.min(s.spec.range.min);
                range.max = range.max.max(s.spec.range.max);
                members.push(s);
            }
            None => groups.push((s.spec.range, vec![s])),
        }
    }
    for (range, members) in groups {
        let spec = &members[0].spec;
        let snap = Arc::new(
            spec.storage
                .snapshot(spec.def.id, range)
                .map_err(crate::error::Error::from)?,
        );
        for s in members {
            let _ = s.bound.set(Arc::clone(&snap));
        }
    }
    Ok(())
}

/// Whether each scan of `plan`, a kept plan, still has the partition count its table's
/// rows call for ([`crate::row_estimate::partitions_for`]) and is still on the same side
/// of one batch: a scan planned on one partition for a few rows must not stay there, nor
/// run on the connection's task, once the rows it reads have grown.
pub fn partitioned_for_current_rows(
    plan: &Arc<dyn ExecutionPlan>,
    batch_size: usize,
    target_partitions: usize,
) -> Result<bool> {
    let mut fits = true;
    plan.apply(|node| {
        if let Some(s) = node.downcast_ref::<StorageScanExec>() {
            let rows = s.spec.expected_rows()?;
            let now = crate::row_estimate::partitions_for(rows, batch_size, target_partitions);
            // On one partition the count never changes, but a scan that was one batch
            // must not stay a `crate::exec::small_read` once it is more.
            let one_batch = |r: u64| r <= batch_size as u64;
            if now != s.props.output_partitioning().partition_count()
                || one_batch(rows) != one_batch(s.spec.expected_rows)
            {
                fits = false;
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(fits)
}

/// Whether `plan` can be kept and run again through reset copies: its leaves are storage
/// scans or constant nodes, and no scan holds a dynamic filter (its producer is reset
/// with the copy, but the scan's copy would still hold the old filter).
pub fn reusable(plan: &Arc<dyn ExecutionPlan>) -> bool {
    let not_reusable = |node: &Arc<dyn ExecutionPlan>| match node.downcast_ref::<StorageScanExec>()
    {
        Some(scan) => scan.has_dynamic_filter(),
        None => {
            node.children().is_empty()
                && node.downcast_ref::<EmptyExec>().is_none()
                && node.downcast_ref::<PlaceholderRowExec>().is_none()
        }
    };
    !plan.exists(|node| Ok(not_reusable(node))).unwrap_or(true)
}
