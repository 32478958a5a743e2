//! Continuous aggregates: `CREATE MATERIALIZED VIEW v WITH (timescaledb.continuous) AS
//! SELECT time_bucket(...) AS b, dims..., aggs... FROM t GROUP BY ...`.
//!
//! A view is stored as *partial aggregate states*, not finished values. Its defining query
//! is planned once by DataFusion, with physical optimisation off and one partition, which
//! yields
//!
//! ```text
//! [ProjectionExec / FilterExec (HAVING) ...]      "upper": finishing expressions
//!   AggregateExec mode=Final                       merges states, produces values
//!     AggregateExec mode=Partial                   rows -> states, per (bucket, dims)
//!       [FilterExec (WHERE) / ProjectionExec ...]
//!         DataSourceExec (memory)                  the "feed": rows of the raw table
//! ```
//!
//! * **Write path** ([`Caggs::write`]): every batch written to `t` is run through the
//!   Partial subtree (the feed replaced by the batch); the state rows go to the view's
//!   internal state table in the *same WAL record* as the raw rows
//!   ([`strata_storage::Storage::write_many`]), so after a crash the two agree.
//! * **Read path** ([`CaggTable`]): a scan of the state table (pruned by the bucket and
//!   group columns of pushed filters) replaces the Partial subtree under the Final
//!   aggregate; the upper nodes finish the select list.
//! * **Recompute** (DELETE on `t`, `refresh_continuous_aggregate`): the states of a range
//!   of buckets are recomputed from raw rows and swapped in with one manifest update
//!   ([`strata_storage::Storage::rewrite_where`]). The range is recorded in the catalog
//!   first (`dirty`) and cleared after, so a crash in between is repaired at start.
//!
//! A view over another continuous aggregate is rewritten into a query over the raw table
//! (see [`compose`]) when its aggregates compose exactly (sum of sums, max of maxes...).
//!
//! Consistency with concurrent writes: every write to a table takes [`Caggs::lock`] in
//! shared mode from before it looks for views until its WAL record is written; creating,
//! refreshing and recomputing take it exclusively, so a row is either in the backfill
//! snapshot or maintained by the write path, never both and never neither.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, PrimitiveArray, RecordBatch, UInt32Array,
};
use datafusion::arrow::compute::take;
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::{
    DataType, Field, IntervalMonthDayNanoType, Schema, SchemaRef, TimeUnit,
    TimestampMicrosecondType,
};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::catalog::Session as CatalogSession;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SessionStateBuilder, TaskContext};
use datafusion::logical_expr::EmitTo;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::filter_pushdown::FilterPushdown;
use datafusion::physical_plan::Partitioning;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::expressions::Column as PhysColumn;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, ExecutionPlan, ExecutionPlanProperties, ReplaceChildrenOptions, collect,
};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use sqlparser::ast::{self, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use strata_storage::{ColumnDef, ContinuousAggDef, RawSchema, Storage, TableDef, TimeRange};

use crate::engine::{DATABASE, SCHEMA};
use crate::error::{Error, Result, SqlState};
use crate::table::TsTable;

/// Continuous aggregates of an engine: the write/DDL lock and the compiled plans.
#[derive(Debug, Default)]
pub struct Caggs {
    /// Shared by writes (from view lookup to WAL append), exclusive for view DDL,
    /// backfill and recomputation.
    pub lock: tokio::sync::RwLock<()>,
    compiled: parking_lot::Mutex<HashMap<strata_storage::ids::TableId, Arc<Compiled>>>,
}

/// A view's plans, built once per process from its definition.
#[derive(Debug)]
pub struct Compiled {
    pub def: ContinuousAggDef,
    state_def: Arc<TableDef>,
    /// The raw table's schema the plans were built for.
    feed_schema: SchemaRef,
    /// Partial aggregate over the feed leaf.
    partial: Arc<dyn ExecutionPlan>,
    /// The Final aggregate (its child is `partial`; replaced by a state scan on read).
    final_agg: Arc<dyn ExecutionPlan>,
    /// Nodes above the Final aggregate, nearest first.
    upper: Vec<Arc<dyn ExecutionPlan>>,
    /// The view's columns as users see them.
    out_schema: SchemaRef,
    /// For each view column, the group column it is (if it is one, unchanged).
    group_of_output: Vec<Option<usize>>,
    /// For each view column, the aggregate it is (index into the aggregates), if it is
    /// one unchanged (no expression over it) and the view has no HAVING.
    agg_of_output: Vec<Option<usize>>,
    /// Index of the bucket among the group columns (= the state table's time column).
    bucket: usize,
    /// An upper bound of the bucket width in microseconds.
    bucket_upper_micros: i64,
    task: Arc<TaskContext>,
}

fn refuse(construct: impl std::fmt::Display) -> Error {
    Error::with_hint(
        SqlState::FeatureNotSupported,
        format!("invalid continuous aggregate query: {construct} is not supported"),
        "A continuous aggregate is SELECT time_bucket(<interval>, <time column>), <columns>, <aggregates> FROM <hypertable> [WHERE ...] GROUP BY ...; aggregates must be mergeable.",
    )
}

/// Aggregates whose result depends on the order rows are merged in, or that have no
/// exact mergeable state.
const NOT_MERGEABLE: &[&str] = &[
    "array_agg",
    "string_agg",
    "nth_value",
    "first_value",
    "last_value",
    "grouping",
    "percentile_cont",
    "median",
];

impl Caggs {
    /// The compiled plans of a view (built on first use).
    pub async fn compiled(
        &self,
        engine: &crate::engine::Engine,
        def: &ContinuousAggDef,
    ) -> Result<Arc<Compiled>> {
        if let Some(c) = self.compiled.lock().get(&def.state_table)
            && c.def.raw_sql == def.raw_sql
        {
            return Ok(Arc::clone(c));
        }
        let c = Arc::new(compile(engine, def).await?);
        self.compiled.lock().insert(def.state_table, Arc::clone(&c));
        Ok(c)
    }

    /// Forgets a view's plans (DROP / rename).
    pub fn forget(&self, state_table: strata_storage::ids::TableId) {
        self.compiled.lock().remove(&state_table);
    }

    /// Compiles every view (at start, so flushes compact states from the beginning).
    pub async fn compile_all(&self, engine: &crate::engine::Engine) {
        for v in engine.storage().catalog().caggs.clone() {
            if let Err(e) = self.compiled(engine, &v).await {
                tracing::warn!(view = %v.name, error = %e, "continuous aggregate cannot be planned");
            }
        }
    }
}

/// Writes rows to a table and the states they produce to every continuous aggregate of
/// the table, in one WAL record. All writes of rows go through here.
pub async fn write(
    engine: &crate::engine::Engine,
    table: strata_storage::ids::TableId,
    batch: RecordBatch,
) -> Result<()> {
    write_all(engine, vec![(table, batch)]).await
}

/// Writes rows to several tables (a committed transaction block) with the states of their
/// continuous aggregates, all in one WAL record.
pub async fn write_all(
    engine: &crate::engine::Engine,
    writes: Vec<(strata_storage::ids::TableId, RecordBatch)>,
) -> Result<()> {
    let storage = engine.storage();
    let _g = engine.caggs().lock.read().await;
    let cat = storage.catalog();
    if writes
        .iter()
        .all(|(t, _)| cat.caggs_of(*t).next().is_none())
    {
        if let [(table, _)] = writes.as_slice() {
            let table = *table;
            let batch = writes.into_iter().next().map(|(_, b)| b);
            if let Some(b) = batch {
                storage.write(table, b).await?;
            }
            return Ok(());
        }
        storage.write_many(writes).await?;
        return Ok(());
    }
    let mut entries = Vec::with_capacity(writes.len() * 2);
    let mut derived = vec![];
    for (table, batch) in writes {
        for v in cat.caggs_of(table) {
            let c = engine.caggs().compiled(engine, v).await?;
            if let Some(states) = c.states_of(vec![batch.clone()]).await? {
                derived.push((v.state_table, states));
            }
        }
        entries.push((table, batch));
    }
    entries.extend(derived);
    storage.write_many(entries).await?;
    Ok(())
}

impl Compiled {
    /// The state table's definition.
    pub fn state_def(&self) -> &Arc<TableDef> {
        &self.state_def
    }

    /// The view's output schema.
    pub fn out_schema(&self) -> &SchemaRef {
        &self.out_schema
    }

    /// Runs rows of the raw table through the Partial aggregate.
    pub async fn states_of(&self, batches: Vec<RecordBatch>) -> Result<Option<RecordBatch>> {
        let batches = batches
            .iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| strata_storage::parquet_io::adapt_batch(b, &self.feed_schema))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if batches.is_empty() {
            return Ok(None);
        }
        let leaf =
            MemorySourceConfig::try_new_exec(&[batches], Arc::clone(&self.feed_schema), None)?;
        self.states_from(leaf, ChildrenPropertiesMode::Keep).await
    }

    /// Runs the output of `leaf` (rows in the raw table's schema) through the Partial
    /// aggregate and returns the states in the state table's schema.
    async fn states_from(
        &self,
        leaf: Arc<dyn ExecutionPlan>,
        mode: ChildrenPropertiesMode,
    ) -> Result<Option<RecordBatch>> {
        let plan = replace_leaf(&self.partial, leaf, mode)?;
        let out = collect(plan, Arc::clone(&self.task)).await?;
        let schema = self.state_def.arrow_schema();
        let mut parts = Vec::with_capacity(out.len());
        for b in out {
            if b.num_rows() > 0 {
                parts.push(RecordBatch::try_new(
                    Arc::clone(&schema),
                    b.columns().to_vec(),
                )?);
            }
        }
        if parts.is_empty() {
            return Ok(None);
        }
        Ok(Some(concat_batches(&schema, &parts)?))
    }

    /// Merges state rows of the same group into one (the same result on read, fewer rows
    /// to read): group columns are hashed with the Arrow row format, then every aggregate
    /// merges its states with its GroupsAccumulator (or an Accumulator per group when it
    /// has none) and emits one state per group.
    pub fn merge_states(
        &self,
        schema: &SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> DfResult<Vec<RecordBatch>> {
        let Some(agg) = self.partial.downcast_ref::<AggregateExec>() else {
            return Ok(batches);
        };
        let batch = concat_batches(schema, &batches)?;
        let n_rows = batch.num_rows();
        let n_groups_cols = agg.group_expr().expr().len();
        if n_rows <= 1 || batch.num_columns() < n_groups_cols {
            return Ok(vec![batch]);
        }
        let group_cols: Vec<ArrayRef> = batch.columns()[..n_groups_cols].to_vec();
        let converter = RowConverter::new(
            group_cols
                .iter()
                .map(|c| SortField::new(c.data_type().clone()))
                .collect(),
        )?;
        let rows = converter.convert_columns(&group_cols)?;
        let mut ids: HashMap<&[u8], usize> = HashMap::with_capacity(n_rows);
        let mut group_of_row = Vec::with_capacity(n_rows);
        let mut first_row: Vec<u32> = vec![];
        for i in 0..n_rows {
            let next = ids.len();
            let g = *ids.entry(rows.row(i).data()).or_insert(next);
            if g == next {
                first_row.push(i as u32);
            }
            group_of_row.push(g);
        }
        let n_groups = first_row.len();
        if n_groups == n_rows {
            return Ok(vec![batch]);
        }
        let take_idx = UInt32Array::from(first_row);
        let mut out: Vec<ArrayRef> = group_cols
            .iter()
            .map(|c| take(c.as_ref(), &take_idx, None))
            .collect::<std::result::Result<_, _>>()?;
        let mut offset = n_groups_cols;
        let mut per_group_rows: Option<Vec<UInt32Array>> = None;
        for a in agg.aggr_expr() {
            let k = a.state_fields()?.len();
            let values = &batch.columns()[offset..offset + k];
            offset += k;
            if a.groups_accumulator_supported() {
                let mut ga = a.create_groups_accumulator()?;
                ga.merge_batch(values, &group_of_row, n_groups)?;
                out.extend(ga.state(EmitTo::All)?);
            } else {
                let rows_of = per_group_rows.get_or_insert_with(|| {
                    let mut v: Vec<Vec<u32>> = vec![vec![]; n_groups];
                    for (i, g) in group_of_row.iter().enumerate() {
                        v[*g].push(i as u32);
                    }
                    v.into_iter().map(UInt32Array::from).collect()
                });
                let mut states: Vec<Vec<ScalarValue>> = vec![Vec::with_capacity(n_groups); k];
                for idx in rows_of.iter() {
                    let mut acc = a.create_accumulator()?;
                    let sub = values
                        .iter()
                        .map(|v| take(v.as_ref(), idx, None))
                        .collect::<std::result::Result<Vec<_>, _>>()?;
                    acc.merge_batch(&sub)?;
                    for (j, s) in acc.state()?.into_iter().enumerate() {
                        if let Some(col) = states.get_mut(j) {
                            col.push(s);
                        }
                    }
                }
                for (j, col) in states.into_iter().enumerate() {
                    let arr = if col.is_empty() {
                        arrow::array::new_empty_array(schema.field(offset - k + j).data_type())
                    } else {
                        ScalarValue::iter_to_array(col)?
                    };
                    out.push(arr);
                }
            }
        }
        // Keep the stored types exactly (e.g. a state that is a list of a nullable type).
        let out = out
            .into_iter()
            .zip(schema.fields())
            .map(|(a, f)| {
                if a.data_type() == f.data_type() {
                    Ok(a)
                } else {
                    arrow::compute::cast(&a, f.data_type())
                }
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(vec![RecordBatch::try_new(Arc::clone(schema), out)?])
    }

    /// The bucket column of state rows.
    fn bucket_values<'a>(
        &self,
        b: &'a RecordBatch,
    ) -> Result<&'a PrimitiveArray<TimestampMicrosecondType>> {
        b.column(self.bucket)
            .as_primitive_opt::<TimestampMicrosecondType>()
            .ok_or_else(|| Error::user(SqlState::Internal, "bucket column is not a timestamp"))
    }

    /// Keeps the state rows whose bucket is in `[start, end)`.
    fn keep_buckets(&self, b: &RecordBatch, start: i64, end: i64) -> Result<RecordBatch> {
        let mask = bucket_mask(self.bucket_values(b)?, start, end);
        Ok(filter_record_batch(b, &mask)?)
    }

    /// States computed from the raw rows of buckets starting in `[start, end)`, reading
    /// the raw table partition by partition (`progress` is called after each).
    /// With `stream_to`, each partition's states are written to that table as they are
    /// computed (bounded memory) instead of being returned.
    async fn recompute(
        &self,
        engine: &crate::engine::Engine,
        start: i64,
        end: i64,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
        stream_to: Option<strata_storage::ids::TableId>,
    ) -> Result<Vec<RecordBatch>> {
        let storage = engine.storage();
        let raw = storage
            .catalog()
            .table_by_id(self.def.raw_table)
            .cloned()
            .ok_or_else(|| {
                Error::user(
                    SqlState::UndefinedTable,
                    format!("the hypertable of \"{}\" no longer exists", self.def.name),
                )
            })?;
        let Some(tc) = raw.time_column_def() else {
            return Err(refuse("a source table without a time column"));
        };
        // Raw rows of the buckets: a bucket starting at b holds rows in [b, b + width).
        let lo = start;
        let hi = end.saturating_add(self.bucket_upper_micros);
        let parts = storage.partitions_in(raw.id, TimeRange { min: lo, max: hi })?;
        let ctx = SessionContext::new_with_state(
            SessionStateBuilder::new()
                .with_config(planning_config())
                .with_runtime_env(Arc::clone(engine.runtime()))
                .with_default_features()
                .build(),
        );
        let provider = TsTable::new(Arc::clone(storage), Arc::clone(&raw));
        let mut out = vec![];
        let n = parts.len();
        for (i, &p) in parts.iter().enumerate() {
            let (a, b) = (p.max(lo), p.saturating_add(raw.partition_micros).min(hi));
            let ts = datafusion::prelude::col(Column::from_name(tc.name.clone()));
            let lit = |v: i64| {
                datafusion::prelude::lit(ScalarValue::TimestampMicrosecond(
                    Some(v),
                    match tc.ty.arrow_type() {
                        DataType::Timestamp(_, tz) => tz,
                        _ => None,
                    },
                ))
            };
            let filter = ts.clone().gt_eq(lit(a)).and(ts.lt(lit(b)));
            let state = ctx.state();
            let scan = provider
                .scan(&state, None, std::slice::from_ref(&filter), None)
                .await?;
            let df_schema = DFSchema::try_from(raw.arrow_schema().as_ref().clone())?;
            let pred = state.create_physical_expr(filter, &df_schema)?;
            let leaf: Arc<dyn ExecutionPlan> = Arc::new(FilterExec::try_new(pred, scan)?);
            // This plan skips the physical optimizer: hand the filter to the Parquet scan
            // (pruning, and a row filter on local files) as a planned query would.
            let leaf = FilterPushdown::new().optimize(leaf, state.config_options())?;
            let leaf = if leaf.output_partitioning().partition_count() > 1 {
                Arc::new(CoalescePartitionsExec::new(leaf)) as Arc<dyn ExecutionPlan>
            } else {
                leaf
            };
            // Columns added to the raw table after the view was created are not used by
            // it: project to the schema the view was planned with.
            let leaf = project_to(leaf, &self.feed_schema)?;
            if let Some(s) = self
                .states_from(leaf, ChildrenPropertiesMode::Recompute)
                .await?
            {
                let s = self.keep_buckets(&s, start, end)?;
                if s.num_rows() > 0 {
                    match stream_to {
                        Some(t) => storage.write(t, s).await?,
                        None => out.push(s),
                    }
                }
            }
            progress(i + 1, n);
        }
        Ok(out)
    }

    /// The state rows a read needs: filters on group columns hold before aggregation too,
    /// so they are pushed to the state table (pruning) and applied to its rows; `extra`
    /// are states of the session's uncommitted rows.
    async fn state_scan(
        &self,
        storage: &Arc<Storage>,
        state: &dyn CatalogSession,
        filters: &[Expr],
        extra: &[RecordBatch],
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let state_schema = self.state_def.arrow_schema();
        let pushed: Vec<Expr> = filters
            .iter()
            .filter_map(|f| self.to_state_expr(f, &state_schema))
            .collect();
        let table = TsTable::new(Arc::clone(storage), Arc::clone(&self.state_def));
        let mut input = table.scan(state, None, &pushed, None).await?;
        if !extra.is_empty() {
            let mem = MemorySourceConfig::try_new_exec(
                &[extra.to_vec()],
                Arc::clone(&state_schema),
                None,
            )?;
            input = datafusion::physical_plan::union::UnionExec::try_new(vec![input, mem])?;
        }
        if let Some(pred) = conjunction(pushed) {
            let df_schema = DFSchema::try_from(state_schema.as_ref().clone())?;
            let p = state.create_physical_expr(pred, &df_schema)?;
            input = Arc::new(FilterExec::try_new(p, input)?);
        }
        Ok(input)
    }

    /// A read plan over the state table: the Final aggregate and the upper nodes.
    async fn read_plan(
        &self,
        storage: &Arc<Storage>,
        state: &dyn CatalogSession,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        extra: &[RecordBatch],
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let state_schema = self.state_def.arrow_schema();
        let mut input = self.state_scan(storage, state, filters, extra).await?;
        // Merge states in parallel: hash-partition them by the group columns, one Final
        // aggregation per partition.
        let n = state.config().target_partitions().max(1);
        let mut node = match self.final_agg.downcast_ref::<AggregateExec>() {
            Some(agg) if n > 1 => {
                let keys: Vec<Arc<dyn PhysicalExpr>> = (0..agg.group_expr().expr().len())
                    .map(|i| {
                        Arc::new(PhysColumn::new(state_schema.field(i).name(), i))
                            as Arc<dyn PhysicalExpr>
                    })
                    .collect();
                let rep = RepartitionExec::try_new(input, Partitioning::Hash(keys, n))?;
                Arc::new(AggregateExec::try_new(
                    AggregateMode::FinalPartitioned,
                    agg.group_expr().clone(),
                    agg.aggr_expr().to_vec(),
                    agg.filter_expr().to_vec(),
                    Arc::new(rep),
                    agg.input_schema(),
                )?) as Arc<dyn ExecutionPlan>
            }
            _ => {
                if input.output_partitioning().partition_count() > 1 {
                    input = Arc::new(CoalescePartitionsExec::new(input));
                }
                replace_children(&self.final_agg, input, ChildrenPropertiesMode::Recompute)?
            }
        };
        for u in &self.upper {
            node = replace_children(u, node, ChildrenPropertiesMode::Recompute)?;
        }
        let all: Vec<usize> = (0..self.out_schema.fields().len()).collect();
        let cols = projection.unwrap_or(&all);
        let node_schema = node.schema();
        let exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = cols
            .iter()
            .map(|&i| {
                (
                    Arc::new(PhysColumn::new(node_schema.field(i).name(), i))
                        as Arc<dyn PhysicalExpr>,
                    self.out_schema.field(i).name().clone(),
                )
            })
            .collect();
        Ok(Arc::new(ProjectionExec::try_new(exprs, node)?))
    }

    /// A read plan for a view merged to fewer group columns: the states are merged by the
    /// kept group columns only (no per-group finalisation of the view's own grouping),
    /// reading only the state columns of the kept aggregates.
    async fn rollup_plan(
        &self,
        storage: &Arc<Storage>,
        state: &dyn CatalogSession,
        rollup: &Rollup,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let Some(agg) = self.final_agg.downcast_ref::<AggregateExec>() else {
            return Err(DataFusionError::Internal(
                "view without a Final aggregate".into(),
            ));
        };
        let state_schema = self.state_def.arrow_schema();
        let n_groups = agg.group_expr().expr().len();
        // State column offsets of each aggregate.
        let mut offsets = Vec::with_capacity(agg.aggr_expr().len());
        let mut off = n_groups;
        for a in agg.aggr_expr() {
            let k = a.state_fields()?.len();
            offsets.push((off, k));
            off += k;
        }
        let groups: Vec<(usize, usize)> = rollup
            .cols
            .iter()
            .filter_map(|&v| self.group_of_output[v].map(|g| (v, g)))
            .collect();
        let aggs: Vec<(usize, usize)> = rollup
            .cols
            .iter()
            .filter_map(|&v| self.agg_of_output[v].map(|a| (v, a)))
            .collect();
        let input = self.state_scan(storage, state, filters, &[]).await?;
        // [kept group columns..., state columns of the kept aggregates...]
        let mut cols: Vec<(Arc<dyn PhysicalExpr>, String)> = vec![];
        for &(_, g) in &groups {
            cols.push((
                Arc::new(PhysColumn::new(state_schema.field(g).name(), g)),
                state_schema.field(g).name().clone(),
            ));
        }
        for &(_, a) in &aggs {
            let (o, k) = offsets[a];
            for j in o..o + k {
                cols.push((
                    Arc::new(PhysColumn::new(state_schema.field(j).name(), j)),
                    state_schema.field(j).name().clone(),
                ));
            }
        }
        let input: Arc<dyn ExecutionPlan> = Arc::new(ProjectionExec::try_new(cols, input)?);
        let in_schema = input.schema();
        let group_exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = (0..groups.len())
            .map(|i| {
                (
                    Arc::new(PhysColumn::new(in_schema.field(i).name(), i))
                        as Arc<dyn PhysicalExpr>,
                    in_schema.field(i).name().clone(),
                )
            })
            .collect();
        let group_by =
            datafusion::physical_plan::aggregates::PhysicalGroupBy::new_single(group_exprs.clone());
        let aggr: Vec<_> = aggs
            .iter()
            .map(|&(_, a)| Arc::clone(&agg.aggr_expr()[a]))
            .collect();
        let filt = vec![None; aggr.len()];
        let n = state.config().target_partitions().max(1);
        let merged: Arc<dyn ExecutionPlan> = if n > 1 && !groups.is_empty() {
            let keys = group_exprs.iter().map(|(e, _)| Arc::clone(e)).collect();
            let rep = RepartitionExec::try_new(input, Partitioning::Hash(keys, n))?;
            Arc::new(AggregateExec::try_new(
                AggregateMode::FinalPartitioned,
                group_by,
                aggr,
                filt,
                Arc::new(rep),
                agg.input_schema(),
            )?)
        } else {
            let input = if input.output_partitioning().partition_count() > 1 {
                Arc::new(CoalescePartitionsExec::new(input)) as Arc<dyn ExecutionPlan>
            } else {
                input
            };
            Arc::new(AggregateExec::try_new(
                AggregateMode::Final,
                group_by,
                aggr,
                filt,
                input,
                agg.input_schema(),
            )?)
        };
        // Output in the rollup's column order (view order), with the view's names.
        let m_schema = merged.schema();
        let all: Vec<usize> = (0..rollup.cols.len()).collect();
        let wanted = projection.unwrap_or(&all);
        let exprs = wanted
            .iter()
            .map(|&i| {
                let v = rollup.cols[i];
                let pos = groups
                    .iter()
                    .position(|(gv, _)| *gv == v)
                    .or_else(|| {
                        aggs.iter()
                            .position(|(av, _)| *av == v)
                            .map(|p| groups.len() + p)
                    })
                    .ok_or_else(|| DataFusionError::Internal("rollup column not found".into()))?;
                Ok((
                    Arc::new(PhysColumn::new(m_schema.field(pos).name(), pos))
                        as Arc<dyn PhysicalExpr>,
                    self.out_schema.field(v).name().clone(),
                ))
            })
            .collect::<DfResult<Vec<_>>>()?;
        Ok(Arc::new(ProjectionExec::try_new(exprs, merged)?))
    }

    /// The aggregate function name of view column `i`, if it is a plain aggregate.
    pub fn aggregate_name_of(&self, i: usize) -> Option<String> {
        let a = self.agg_of_output.get(i).copied().flatten()?;
        let agg = self.final_agg.downcast_ref::<AggregateExec>()?;
        Some(agg.aggr_expr().get(a)?.fun().name().to_ascii_lowercase())
    }

    /// True if view column `i` is one of the view's group columns.
    pub fn is_group_column(&self, i: usize) -> bool {
        self.group_of_output.get(i).copied().flatten().is_some()
    }

    /// Rewrites a filter on view columns into one on state columns, if it only uses
    /// view columns that are group columns.
    fn to_state_expr(&self, f: &Expr, state_schema: &SchemaRef) -> Option<Expr> {
        let mut ok = true;
        let out = f
            .clone()
            .transform(|e| {
                if let Expr::Column(c) = &e {
                    let mapped = self
                        .out_schema
                        .index_of(&c.name)
                        .ok()
                        .and_then(|i| self.group_of_output[i])
                        .map(|g| state_schema.field(g).name().clone());
                    return Ok(match mapped {
                        Some(name) => Transformed::yes(Expr::Column(Column::from_name(name))),
                        None => {
                            ok = false;
                            Transformed::no(e)
                        }
                    });
                }
                if matches!(
                    e,
                    Expr::ScalarSubquery(_)
                        | Expr::Exists(_)
                        | Expr::InSubquery(_)
                        | Expr::OuterReferenceColumn(..)
                        | Expr::Placeholder(_)
                ) {
                    ok = false;
                }
                Ok(Transformed::no(e))
            })
            .ok()?
            .data;
        ok.then_some(out)
    }
}

fn bucket_mask(v: &PrimitiveArray<TimestampMicrosecondType>, start: i64, end: i64) -> BooleanArray {
    v.iter()
        .map(|x| Some(x.is_some_and(|x| x >= start && x < end)))
        .collect()
}

/// Replaces the leaf (the only node without children) of a single-input plan chain.
/// `Keep` skips recomputing plan properties (the new leaf has the old one's properties).
fn replace_leaf(
    plan: &Arc<dyn ExecutionPlan>,
    leaf: Arc<dyn ExecutionPlan>,
    mode: ChildrenPropertiesMode,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    let children = plan.children();
    match children.as_slice() {
        [] => Ok(leaf),
        [child] => {
            let new_child = replace_leaf(child, leaf, mode)?;
            replace_children(plan, new_child, mode)
        }
        _ => Err(DataFusionError::Internal(
            "continuous aggregate plan has a node with several inputs".into(),
        )),
    }
}

fn replace_children(
    plan: &Arc<dyn ExecutionPlan>,
    child: Arc<dyn ExecutionPlan>,
    mode: ChildrenPropertiesMode,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    Arc::clone(plan).replace_children(vec![child], ReplaceChildrenOptions::new(mode))
}

/// Projects `plan`'s output to the columns of `schema` (by name).
fn project_to(
    plan: Arc<dyn ExecutionPlan>,
    schema: &SchemaRef,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    let have = plan.schema();
    if have.fields() == schema.fields() {
        return Ok(plan);
    }
    let exprs = schema
        .fields()
        .iter()
        .map(|f| {
            let i = have.index_of(f.name())?;
            Ok((
                Arc::new(PhysColumn::new(f.name(), i)) as Arc<dyn PhysicalExpr>,
                f.name().clone(),
            ))
        })
        .collect::<DfResult<Vec<_>>>()?;
    Ok(Arc::new(ProjectionExec::try_new(exprs, plan)?))
}

/// DataFusion configuration for planning and maintaining views.
fn planning_config() -> SessionConfig {
    let mut config = SessionConfig::new()
        .with_default_catalog_and_schema(DATABASE, SCHEMA)
        .with_create_default_catalog_and_schema(true)
        .with_target_partitions(1)
        .with_batch_size(8192);
    let opts = config.options_mut();
    opts.sql_parser.dialect = datafusion::config::Dialect::PostgreSQL;
    opts.sql_parser.enable_ident_normalization = true;
    opts.execution.time_zone = Some("+00:00".to_string());
    config
}

/// Parses a view's query text.
pub fn parse_query(sql: &str) -> Result<Box<ast::Query>> {
    let mut stmts = Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .map_err(|e| Error::user(SqlState::SyntaxError, format!("syntax error: {e}")))?;
    match stmts.pop() {
        Some(Statement::Query(q)) if stmts.is_empty() => Ok(q),
        _ => Err(Error::user(
            SqlState::SyntaxError,
            "a continuous aggregate is defined by one SELECT",
        )),
    }
}

/// Checks what the planner would accept but a continuous aggregate cannot maintain.
fn check_query_shape(q: &ast::Query) -> Result<()> {
    if q.with.is_some() {
        return Err(refuse("WITH (common table expressions)"));
    }
    if q.order_by.is_some() {
        return Err(refuse("ORDER BY"));
    }
    if q.limit_clause.is_some() || q.fetch.is_some() {
        return Err(refuse("LIMIT"));
    }
    let ast::SetExpr::Select(sel) = q.body.as_ref() else {
        return Err(refuse("UNION, INTERSECT, EXCEPT or VALUES"));
    };
    if sel.distinct.is_some() {
        return Err(refuse("SELECT DISTINCT"));
    }
    if sel.from.len() != 1 || !sel.from[0].joins.is_empty() {
        return Err(refuse("a query over more than one table (joins)"));
    }
    if !matches!(sel.from[0].relation, ast::TableFactor::Table { .. }) {
        return Err(refuse("a subquery or function in FROM"));
    }
    if !sel.named_window.is_empty() {
        return Err(refuse("window functions"));
    }
    let mut found: Option<&'static str> = None;
    let _ = ast::visit_expressions(sel.as_ref(), |e: &ast::Expr| {
        match e {
            ast::Expr::Function(f) if f.over.is_some() => found = Some("window functions"),
            ast::Expr::Subquery(_) | ast::Expr::Exists { .. } | ast::Expr::InSubquery { .. } => {
                found = Some("subqueries")
            }
            _ => {}
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    if let Some(f) = found {
        return Err(refuse(f));
    }
    Ok(())
}

/// The single relation of a checked query's FROM.
pub fn source_name(q: &ast::Query) -> Result<String> {
    let ast::SetExpr::Select(sel) = q.body.as_ref() else {
        return Err(refuse("UNION, INTERSECT, EXCEPT or VALUES"));
    };
    match sel.from.first().map(|f| &f.relation) {
        Some(ast::TableFactor::Table { name, .. }) => crate::ddl::object_name(name),
        _ => Err(refuse("a query without a hypertable in FROM")),
    }
}

/// Plans a view and validates that it can be maintained incrementally.
pub async fn compile(engine: &crate::engine::Engine, def: &ContinuousAggDef) -> Result<Compiled> {
    let storage = engine.storage();
    let raw = storage
        .catalog()
        .table_by_id(def.raw_table)
        .cloned()
        .ok_or_else(|| {
            Error::user(
                SqlState::UndefinedTable,
                format!("the hypertable of \"{}\" no longer exists", def.name),
            )
        })?;
    let Some(time_col) = raw.time_column_def().map(|c| c.name.clone()) else {
        return Err(Error::with_hint(
            SqlState::FeatureNotSupported,
            format!(
                "table \"{}\" has no time column; continuous aggregates need a hypertable",
                raw.name
            ),
            "Make it a hypertable with create_hypertable() first.",
        ));
    };
    let q = parse_query(&def.raw_sql)?;
    check_query_shape(&q)?;
    let mut stmt = Statement::Query(q.clone());
    crate::rewrite::rewrite(&mut stmt);

    let feed_schema = raw.arrow_schema();
    let state = SessionStateBuilder::new()
        .with_config(planning_config())
        .with_runtime_env(Arc::clone(engine.runtime()))
        .with_default_features()
        .with_optimizer_rules(vec![])
        .with_physical_optimizer_rules(vec![])
        .build();
    let ctx = SessionContext::new_with_state(state);
    crate::functions::register_all(&ctx);
    ctx.register_udf(crate::extract::pg_extract_udf(
        strata_pgtypes::tz::TimeZoneSetting::UTC,
    ));
    // casts the rewrite above turns into calls (`x::char(2)`)
    ctx.register_udf(crate::bpchar::bpchar_udf());
    let feed = datafusion::datasource::MemTable::try_new(Arc::clone(&feed_schema), vec![vec![]])?;
    ctx.register_table(raw.name.as_str(), Arc::new(feed))?;
    let plan = ctx
        .state()
        .statement_to_plan(DfStatement::Statement(Box::new(stmt)))
        .await?;
    let plan = crate::pg_types::rewrite(plan)?;
    let (bucket, width) = check_logical(&plan, &time_col)?;
    let physical = ctx.state().create_physical_plan(&plan).await?;

    // Split the physical plan at the Final aggregate.
    let mut upper = vec![];
    let mut node = Arc::clone(&physical);
    let final_agg = loop {
        if let Some(a) = node.downcast_ref::<AggregateExec>() {
            if !matches!(
                a.mode(),
                AggregateMode::Final | AggregateMode::FinalPartitioned
            ) {
                return Err(refuse("this aggregation (no two-phase plan)"));
            }
            break Arc::clone(&node);
        }
        let children = node.children();
        if children.len() != 1 {
            return Err(refuse("this query shape"));
        }
        let child = Arc::clone(children[0]);
        upper.push(node);
        node = child;
    };
    upper.reverse();
    let partial = {
        let children = final_agg.children();
        let Some(p) = children.first().map(|c| Arc::clone(*c)) else {
            return Err(refuse("this query shape"));
        };
        match p.downcast_ref::<AggregateExec>() {
            Some(a) if matches!(a.mode(), AggregateMode::Partial) => {
                if !a.group_expr().is_single() {
                    return Err(refuse("GROUPING SETS, CUBE or ROLLUP"));
                }
            }
            _ => return Err(refuse("this aggregation (no partial phase)")),
        }
        p
    };
    let mut aggregates = 0;
    partial.apply(|p| {
        if p.downcast_ref::<AggregateExec>().is_some() {
            aggregates += 1;
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    if aggregates != 1 {
        return Err(refuse("nested aggregation"));
    }

    // Which output columns are group columns (filters on them are pushed to the states).
    let n_groups = partial
        .downcast_ref::<AggregateExec>()
        .map(|a| a.group_expr().expr().len())
        .unwrap_or(0);
    let plan_out = physical.schema();
    let group_of_output: Vec<Option<usize>> = (0..plan_out.fields().len())
        .map(|i| trace_to_group(&upper, &final_agg, i, n_groups))
        .collect();
    let having = upper
        .iter()
        .any(|u| u.downcast_ref::<FilterExec>().is_some());
    let agg_of_output: Vec<Option<usize>> = (0..plan_out.fields().len())
        .map(|i| {
            trace_to_source(&upper, i)
                .filter(|j| *j >= n_groups && !having)
                .map(|j| j - n_groups)
        })
        .collect();

    // Names users see: PostgreSQL's names for the select list, then the column list.
    let mut out_schema = crate::names::pg_output_schema(&q, &plan_out);
    if !def.columns.is_empty() {
        if def.columns.len() > out_schema.fields().len() {
            return Err(Error::user(
                SqlState::SyntaxError,
                "CREATE MATERIALIZED VIEW specifies too many column names",
            ));
        }
        let fields: Vec<Field> = out_schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| match def.columns.get(i) {
                Some(n) => f.as_ref().clone().with_name(n),
                None => f.as_ref().clone(),
            })
            .collect();
        out_schema = Arc::new(Schema::new(fields));
    }
    let mut seen = std::collections::HashSet::new();
    for f in out_schema.fields() {
        if !seen.insert(f.name().clone()) {
            return Err(Error::with_hint(
                SqlState::DuplicateColumn,
                format!("column \"{}\" specified more than once", f.name()),
                "Give every column of the view a distinct name (AS ...).",
            ));
        }
    }

    let state_schema = partial.schema();
    match state_schema.field(bucket).data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, _) => {}
        other => {
            return Err(refuse(format!(
                "a time_bucket of type {other} (the bucket must be a timestamp)"
            )));
        }
    }
    let state_def = match storage.catalog().table_by_id(def.state_table) {
        Some(d) => Arc::clone(d),
        None => Arc::new(state_table_def(def, &state_schema, bucket, &raw)),
    };
    if state_def.arrow_schema().fields().len() != state_schema.fields().len()
        || state_def
            .arrow_schema()
            .fields()
            .iter()
            .zip(state_schema.fields())
            .any(|(a, b)| a.data_type() != b.data_type())
    {
        return Err(Error::user(
            SqlState::DataCorrupted,
            format!(
                "the stored states of continuous aggregate \"{}\" do not match its plan in this version; recreate the view",
                def.name
            ),
        ));
    }
    let task = ctx.task_ctx();
    Ok(Compiled {
        def: def.clone(),
        state_def,
        feed_schema,
        partial,
        final_agg,
        upper,
        out_schema,
        group_of_output,
        agg_of_output,
        bucket,
        bucket_upper_micros: width,
        task,
    })
}

/// The definition of a view's state table.
pub fn state_table_def(
    def: &ContinuousAggDef,
    state_schema: &SchemaRef,
    bucket: usize,
    raw: &TableDef,
) -> TableDef {
    TableDef {
        id: Default::default(),
        name: format!("_materialized_{}", def.name),
        columns: state_schema
            .fields()
            .iter()
            .map(|f| ColumnDef {
                name: f.name().clone(),
                ty: strata_storage::schema::column_type_of_field(f)
                    .unwrap_or(strata_storage::ColumnType::Bytea),
                nullable: true,
                default: None,
                max_length: None,
            })
            .collect(),
        time_column: Some(bucket),
        partition_micros: raw.partition_micros,
        primary_key: vec![],
        hypertable: false,
        internal: true,
        raw_schema: Some(RawSchema(Arc::clone(state_schema))),
        segment_by: vec![],
    }
}

/// Follows output column `i` of the plan down to a group column of the Final aggregate.
fn trace_to_group(
    upper: &[Arc<dyn ExecutionPlan>],
    final_agg: &Arc<dyn ExecutionPlan>,
    i: usize,
    n_groups: usize,
) -> Option<usize> {
    let _ = final_agg;
    trace_to_source(upper, i).filter(|i| *i < n_groups)
}

/// Follows output column `i` of the plan down to an output column of the Final aggregate,
/// if it is passed up unchanged.
fn trace_to_source(upper: &[Arc<dyn ExecutionPlan>], mut i: usize) -> Option<usize> {
    // `upper` is nearest-first; walk from the root down.
    for node in upper.iter().rev() {
        if let Some(p) = node.downcast_ref::<ProjectionExec>() {
            let e = &p.expr().get(i)?.expr;
            let c = e.downcast_ref::<PhysColumn>()?;
            i = c.index();
        } else if let Some(f) = node.downcast_ref::<FilterExec>() {
            if let Some(proj) = f.projection() {
                i = *proj.get(i)?;
            }
        } else {
            return None;
        }
    }
    Some(i)
}

/// Validates the logical plan: one Aggregate, grouped by time_bucket on the time column,
/// with mergeable aggregates. Returns the bucket's group index and an upper bound of its
/// width (µs).
fn check_logical(plan: &LogicalPlan, time_col: &str) -> Result<(usize, i64)> {
    let mut aggs = vec![];
    let mut bad: Option<String> = None;
    plan.apply(|p| {
        match p {
            LogicalPlan::Aggregate(a) => aggs.push(a.clone()),
            LogicalPlan::Window(_) => bad = Some("window functions".into()),
            LogicalPlan::Sort(_) => bad = Some("ORDER BY".into()),
            LogicalPlan::Limit(_) => bad = Some("LIMIT".into()),
            LogicalPlan::Distinct(_) => bad = Some("DISTINCT".into()),
            LogicalPlan::Join(_) => bad = Some("joins".into()),
            LogicalPlan::Union(_) => bad = Some("UNION".into()),
            LogicalPlan::Subquery(_) | LogicalPlan::SubqueryAlias(_) => {}
            _ => {}
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    if let Some(b) = bad {
        return Err(refuse(b));
    }
    let agg = match aggs.as_slice() {
        [a] => a,
        [] => {
            return Err(Error::with_hint(
                SqlState::FeatureNotSupported,
                "invalid continuous aggregate query: it has no GROUP BY with time_bucket",
                "Group by time_bucket(<interval>, <time column>).",
            ));
        }
        _ => return Err(refuse("nested aggregation")),
    };
    for e in &agg.aggr_expr {
        let inner = match e {
            Expr::Alias(a) => a.expr.as_ref(),
            other => other,
        };
        if let Expr::AggregateFunction(f) = inner {
            let name = f.func.name().to_ascii_lowercase();
            if NOT_MERGEABLE.contains(&name.as_str()) {
                return Err(refuse(format!("aggregate function {name}()")));
            }
            if !f.params.order_by.is_empty() && !name.starts_with("approx_percentile_cont") {
                return Err(refuse(format!("ORDER BY inside aggregate {name}()")));
            }
        }
    }
    let mut bucket = None;
    for (i, g) in agg.group_expr.iter().enumerate() {
        if let Expr::ScalarFunction(f) = g
            && f.func.name() == "time_bucket"
            && f.args.len() >= 2
            && is_bucket_of(&f.args[1], time_col)
        {
            let width = width_of_expr(&f.args[0]);
            if width <= 0 {
                return Err(refuse(
                    "a time_bucket width that is not a constant positive interval",
                ));
            }
            bucket = Some((i, width));
            break;
        }
    }
    bucket.ok_or_else(|| {
        Error::with_hint(
            SqlState::FeatureNotSupported,
            format!(
                "invalid continuous aggregate query: GROUP BY must include time_bucket on the time column \"{time_col}\""
            ),
            format!("Group by time_bucket(<interval>, {time_col})."),
        )
    })
}

/// An upper bound (µs) of the width of a constant bucket interval; 0 if not constant.
fn width_of_expr(e: &Expr) -> i64 {
    match e {
        Expr::Literal(ScalarValue::IntervalMonthDayNano(Some(v)), _) => {
            let (m, d, n) = IntervalMonthDayNanoType::to_parts(*v);
            // Months up to 31 days, days up to 25 hours (DST).
            (m as i64) * 31 * 86_400_000_000 + (d as i64) * 90_000_000_000 + n.div_euclid(1000)
        }
        Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)), _) => {
            crate::ddl::simple_interval_micros(s).unwrap_or_else(|_| months_upper_micros(s))
        }
        Expr::Cast(c) => width_of_expr(&c.expr),
        Expr::TryCast(c) => width_of_expr(&c.expr),
        Expr::Alias(a) => width_of_expr(&a.expr),
        _ => 0,
    }
}

/// `'N month(s)'` / `'N year(s)'` as an upper bound in µs (31-day months); 0 otherwise.
fn months_upper_micros(s: &str) -> i64 {
    let toks: Vec<&str> = s.split_whitespace().collect();
    let mut months = 0i64;
    for pair in toks.chunks(2) {
        let (Some(n), Some(u)) = (pair.first(), pair.get(1)) else {
            return 0;
        };
        let Ok(n) = n.parse::<i64>() else { return 0 };
        match u.to_ascii_lowercase().trim_end_matches('s') {
            "month" | "mon" => months += n,
            "year" | "yr" | "y" => months += 12 * n,
            _ => return 0,
        }
    }
    months * 31 * 86_400_000_000
}

/// The time column, or a time_bucket of it (views over views bucket a bucket).
fn is_bucket_of(e: &Expr, name: &str) -> bool {
    match e {
        Expr::ScalarFunction(f) if f.func.name() == "time_bucket" && f.args.len() >= 2 => {
            is_bucket_of(&f.args[1], name)
        }
        Expr::Cast(c) => is_bucket_of(&c.expr, name),
        Expr::Alias(a) => is_bucket_of(&a.expr, name),
        other => is_column(other, name),
    }
}

fn is_column(e: &Expr, name: &str) -> bool {
    match e {
        Expr::Column(c) => c.name == name,
        Expr::Cast(c) => is_column(&c.expr, name),
        Expr::TryCast(c) => is_column(&c.expr, name),
        Expr::Alias(a) => is_column(&a.expr, name),
        _ => false,
    }
}

/// The TableProvider of a continuous aggregate.
#[derive(Debug)]
pub struct CaggTable {
    storage: Arc<Storage>,
    compiled: Arc<Compiled>,
    /// States of the reading session's uncommitted rows.
    extra: Vec<RecordBatch>,
    /// Set for a view merged to a coarser grouping by [`RollupRule`].
    rollup: Option<Rollup>,
}

/// A view re-aggregated to some of its group columns: the view columns `groups` (group
/// columns) and `aggs` (plain aggregates), in view order, merged from the states.
#[derive(Debug, Clone)]
pub struct Rollup {
    pub cols: Vec<usize>,
    schema: SchemaRef,
}

impl CaggTable {
    pub fn new(storage: Arc<Storage>, compiled: Arc<Compiled>) -> Self {
        CaggTable {
            storage,
            compiled,
            extra: vec![],
            rollup: None,
        }
    }

    /// The compiled view.
    pub fn compiled(&self) -> &Arc<Compiled> {
        &self.compiled
    }

    /// The view merged to the view columns `cols` (every one a group column or a plain
    /// aggregate); None if that is not possible.
    pub fn rolled_up(&self, cols: &[usize]) -> Option<CaggTable> {
        if !self.extra.is_empty() || self.rollup.is_some() {
            return None;
        }
        let c = &self.compiled;
        let mut cols = cols.to_vec();
        cols.sort_unstable();
        cols.dedup();
        if cols.iter().any(|&i| {
            c.group_of_output.get(i).copied().flatten().is_none()
                && c.agg_of_output.get(i).copied().flatten().is_none()
        }) {
            return None;
        }
        let schema = Arc::new(c.out_schema.project(&cols).ok()?);
        Some(CaggTable {
            storage: Arc::clone(&self.storage),
            compiled: Arc::clone(&self.compiled),
            extra: vec![],
            rollup: Some(Rollup { cols, schema }),
        })
    }

    /// The table whose rows feed this view.
    pub fn raw_table(&self) -> strata_storage::ids::TableId {
        self.compiled.def.raw_table
    }

    /// States of rows of the raw table (for a session's uncommitted rows).
    pub async fn states_of(&self, rows: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
        Ok(self.compiled.states_of(rows).await?.into_iter().collect())
    }

    /// The same view plus extra state rows.
    pub fn with_extra_states(&self, extra: Vec<RecordBatch>) -> Self {
        CaggTable {
            storage: Arc::clone(&self.storage),
            compiled: Arc::clone(&self.compiled),
            extra,
            rollup: self.rollup.clone(),
        }
    }
}

#[async_trait::async_trait]
impl TableProvider for CaggTable {
    fn schema(&self) -> SchemaRef {
        match &self.rollup {
            Some(r) => Arc::clone(&r.schema),
            None => Arc::clone(&self.compiled.out_schema),
        }
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        let schema = self.compiled.state_def.arrow_schema();
        Ok(filters
            .iter()
            .map(|f| {
                if self.compiled.to_state_expr(f, &schema).is_some() {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn CatalogSession,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if let Some(r) = &self.rollup {
            return self
                .compiled
                .rollup_plan(&self.storage, state, r, projection, filters)
                .await;
        }
        self.compiled
            .read_plan(&self.storage, state, projection, filters, &self.extra)
            .await
    }
}

// ------------------------------------------------------------------ query-time rollup

/// Rewrites `SELECT g..., max(c)... FROM view [WHERE filters on g] GROUP BY g...`, where
/// the `g` are some of the view's group columns and every aggregate composes exactly with
/// the view's aggregate for `c` (max of max, min of min, sum of sum or count, bool_and /
/// bool_or of the same), to read the view merged to the `g` alone ([`CaggTable::rolled_up`]).
/// The states are then merged once by the coarser grouping instead of being finalised by
/// the view's grouping (e.g. per host) and aggregated again; the result is the same.
#[derive(Debug, Default)]
pub struct RollupRule;

const COMPOSES: &[(&str, &str)] = &[
    ("max", "max"),
    ("min", "min"),
    ("sum", "sum"),
    ("sum", "count"),
    ("bool_and", "bool_and"),
    ("bool_or", "bool_or"),
];

fn bare_column(e: &Expr) -> Option<&Column> {
    match e {
        Expr::Column(c) => Some(c),
        Expr::Cast(c) => bare_column(&c.expr),
        Expr::Alias(a) => bare_column(&a.expr),
        _ => None,
    }
}

impl datafusion::optimizer::OptimizerRule for RollupRule {
    fn name(&self) -> &str {
        "strata_continuous_aggregate_rollup"
    }

    fn apply_order(&self) -> Option<datafusion::optimizer::ApplyOrder> {
        Some(datafusion::optimizer::ApplyOrder::BottomUp)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn datafusion::optimizer::OptimizerConfig,
    ) -> DfResult<Transformed<LogicalPlan>> {
        match rollup_of(&plan)? {
            Some(p) => Ok(Transformed::yes(p)),
            None => Ok(Transformed::no(plan)),
        }
    }
}

fn rollup_of(plan: &LogicalPlan) -> DfResult<Option<LogicalPlan>> {
    use datafusion::logical_expr::{Aggregate, Filter};
    let LogicalPlan::Aggregate(agg) = plan else {
        return Ok(None);
    };
    let (filter, scan) = match agg.input.as_ref() {
        LogicalPlan::TableScan(s) => (None, s),
        LogicalPlan::Filter(f) => match f.input.as_ref() {
            LogicalPlan::TableScan(s) => (Some(f), s),
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    let Ok(provider) = datafusion::datasource::source_as_provider(&scan.source) else {
        return Ok(None);
    };
    let Some(view) = provider.downcast_ref::<CaggTable>() else {
        return Ok(None);
    };
    let schema = view.schema();
    let idx = |c: &Column| schema.index_of(&c.name).ok();
    let mut cols = vec![];
    let mut groups = vec![];
    for g in &agg.group_expr {
        let Some(i) = bare_column(g).and_then(idx) else {
            return Ok(None);
        };
        if !view.compiled().is_group_column(i) {
            return Ok(None);
        }
        groups.push(i);
        cols.push(i);
    }
    if groups.is_empty() {
        return Ok(None);
    }
    for a in &agg.aggr_expr {
        let inner = match a {
            Expr::Alias(al) => al.expr.as_ref(),
            other => other,
        };
        let Expr::AggregateFunction(f) = inner else {
            return Ok(None);
        };
        if f.params.distinct
            || f.params.filter.is_some()
            || !f.params.order_by.is_empty()
            || f.params.args.len() != 1
        {
            return Ok(None);
        }
        let Some(i) = bare_column(&f.params.args[0]).and_then(idx) else {
            return Ok(None);
        };
        let outer = f.func.name().to_ascii_lowercase();
        let Some(inner_name) = view.compiled().aggregate_name_of(i) else {
            return Ok(None);
        };
        if !COMPOSES.contains(&(outer.as_str(), inner_name.as_str())) {
            return Ok(None);
        }
        cols.push(i);
    }
    // Filters may only use the kept group columns (they are applied to the states).
    let mut filter_cols = std::collections::HashSet::new();
    for e in scan.filters.iter().chain(filter.map(|f| &f.predicate)) {
        for c in e.column_refs() {
            filter_cols.insert(c.name.clone());
        }
    }
    for c in &filter_cols {
        match schema.index_of(c) {
            Ok(i) if groups.contains(&i) => {}
            _ => return Ok(None),
        }
    }
    let Some(rolled) = view.rolled_up(&cols) else {
        return Ok(None);
    };
    let rolled_schema = rolled.schema();
    // Project the same columns (by name) as the original scan did.
    let names: Vec<String> = match &scan.projection {
        Some(p) => p.iter().map(|&i| schema.field(i).name().clone()).collect(),
        None => schema.fields().iter().map(|f| f.name().clone()).collect(),
    };
    let mut projection = vec![];
    for n in &names {
        match rolled_schema.index_of(n) {
            Ok(i) => projection.push(i),
            Err(_) => return Ok(None),
        }
    }
    let new_scan = datafusion::logical_expr::TableScanBuilder::new(
        scan.table_name.clone(),
        datafusion::datasource::provider_as_source(Arc::new(rolled)),
    )
    .with_projection(Some(projection))
    .with_filters(scan.filters.clone())
    .with_fetch(scan.fetch)
    .build()?;
    let input = LogicalPlan::TableScan(new_scan);
    let input = match filter {
        Some(f) => LogicalPlan::Filter(Filter::try_new(f.predicate.clone(), Arc::new(input))?),
        None => input,
    };
    Ok(Some(LogicalPlan::Aggregate(Aggregate::try_new(
        Arc::new(input),
        agg.group_expr.clone(),
        agg.aggr_expr.clone(),
    )?)))
}

// ------------------------------------------------------------------ DDL and maintenance

/// Options of `CREATE MATERIALIZED VIEW`.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    pub name: String,
    pub columns: Vec<String>,
    pub query: Box<ast::Query>,
    pub materialized_only: bool,
    pub with_data: bool,
    pub if_not_exists: bool,
}

/// Creates a continuous aggregate; backfills it from existing rows unless `WITH NO DATA`,
/// calling `notice` with progress.
pub async fn create(
    engine: &crate::engine::Engine,
    opts: CreateOptions,
    notice: &(dyn Fn(String) + Send + Sync),
) -> Result<()> {
    let storage = engine.storage();
    if storage.catalog().relation_exists(&opts.name) {
        if opts.if_not_exists && storage.catalog().cagg(&opts.name).is_some() {
            notice(format!(
                "continuous aggregate \"{}\" already exists, skipping",
                opts.name
            ));
            return Ok(());
        }
        return Err(Error::user(
            SqlState::DuplicateTable,
            format!("relation \"{}\" already exists", opts.name),
        ));
    }
    check_query_shape(&opts.query)?;
    let source = source_name(&opts.query)?;
    let cat = storage.catalog();
    let (raw_sql, raw_table) = if let Some(parent) = cat.cagg(&source) {
        let composed = compose(&opts.query, parent)?;
        (composed, parent.raw_table)
    } else if let Some(t) = cat.table(&source) {
        if t.internal {
            return Err(Error::user(
                SqlState::UndefinedTable,
                format!("relation \"{source}\" does not exist"),
            ));
        }
        (opts.query.to_string(), t.id)
    } else if cat.view(&source).is_some() {
        return Err(Error::with_hint(
            SqlState::FeatureNotSupported,
            format!("invalid continuous aggregate query: \"{source}\" is a view"),
            "A continuous aggregate reads a hypertable or another continuous aggregate.",
        ));
    } else {
        return Err(Error::user(
            SqlState::UndefinedTable,
            format!("relation \"{source}\" does not exist"),
        ));
    };
    let mut def = ContinuousAggDef {
        name: opts.name.clone(),
        sql: opts.query.to_string(),
        columns: opts.columns.clone(),
        source,
        raw_sql,
        raw_table,
        state_table: Default::default(),
        materialized_only: opts.materialized_only,
        policy: None,
        dirty: vec![],
    };
    // Plan it before anything is stored: a view that cannot be maintained is refused here.
    let compiled = compile(engine, &def).await?;
    let raw = cat
        .table_by_id(raw_table)
        .cloned()
        .ok_or_else(|| Error::user(SqlState::UndefinedTable, "source table vanished"))?;
    let state_def = state_table_def(&def, &compiled.partial.schema(), compiled.bucket, &raw);
    let _g = engine.caggs().lock.write().await;
    if opts.with_data {
        // Mark the whole range dirty first: if the backfill is interrupted, the next start
        // finishes it.
        def.dirty = vec![(i64::MIN, i64::MAX)];
    }
    let def = storage.create_cagg(def, state_def).await?;
    if opts.with_data {
        recompute_locked(engine, &def, i64::MIN, i64::MAX, notice).await?;
    }
    Ok(())
}

/// Recomputes the buckets starting in `[start, end)` of a view from raw rows and swaps
/// the states in. The caller holds the write lock.
async fn recompute_locked(
    engine: &crate::engine::Engine,
    def: &ContinuousAggDef,
    start: i64,
    end: i64,
    notice: &(dyn Fn(String) + Send + Sync),
) -> Result<()> {
    let storage = engine.storage();
    let compiled = engine.caggs().compiled(engine, def).await?;
    let progress = |i: usize, n: usize| {
        if n > 1 || start == i64::MIN {
            notice(format!(
                "{} \"{}\": {i} of {n} partitions",
                if start == i64::MIN && end == i64::MAX {
                    "backfilled"
                } else {
                    "refreshed"
                },
                def.name
            ));
        }
    };
    let bucket = compiled.bucket;
    let pred = move |b: &RecordBatch| -> strata_storage::Result<BooleanArray> {
        let v = b
            .column(bucket)
            .as_primitive_opt::<TimestampMicrosecondType>()
            .ok_or_else(|| strata_storage::Error::Internal("bucket is not a timestamp".into()))?;
        Ok(bucket_mask(v, start, end))
    };
    let range = TimeRange {
        min: start,
        max: end.saturating_sub(1),
    };
    let raw_parts = storage
        .partitions_in(
            def.raw_table,
            TimeRange {
                min: start,
                max: end.saturating_add(compiled.bucket_upper_micros),
            },
        )?
        .len();
    if raw_parts <= 2 {
        // Small: compute everything, then swap it in with one manifest update (readers
        // never see the range half recomputed).
        let states = compiled
            .recompute(engine, start, end, &progress, None)
            .await?;
        storage
            .rewrite_where(def.state_table, range, &pred, states)
            .await?;
    } else {
        // Large (a backfill): clear the range, then write the states partition by
        // partition, so memory stays bounded by one partition's groups. States of one
        // bucket from two partitions are merged on read. A crash in between leaves the
        // range marked dirty, and the next start does it again from the beginning.
        storage
            .rewrite_where(def.state_table, range, &pred, vec![])
            .await?;
        compiled
            .recompute(engine, start, end, &progress, Some(def.state_table))
            .await?;
    }
    clear_dirty(storage, &def.name, start, end).await
}

async fn clear_dirty(storage: &Arc<Storage>, name: &str, start: i64, end: i64) -> Result<()> {
    if let Some(mut d) = storage.catalog().cagg(name).cloned()
        && d.dirty.contains(&(start, end))
    {
        d.dirty.retain(|r| *r != (start, end));
        storage.update_cagg(name, d).await?;
    }
    Ok(())
}

/// `CALL refresh_continuous_aggregate(v, start, end)`: recomputes buckets starting in
/// `[start, end)` (µs; `None` = unbounded) from raw rows.
pub async fn refresh(
    engine: &crate::engine::Engine,
    name: &str,
    start: Option<i64>,
    end: Option<i64>,
    notice: &(dyn Fn(String) + Send + Sync),
) -> Result<()> {
    let storage = engine.storage();
    let Some(def) = storage.catalog().cagg(name).cloned() else {
        return Err(Error::user(
            SqlState::UndefinedTable,
            format!("relation \"{name}\" does not exist or is not a continuous aggregate"),
        ));
    };
    let (s, e) = (start.unwrap_or(i64::MIN), end.unwrap_or(i64::MAX));
    if s >= e {
        return Err(Error::with_hint(
            SqlState::InvalidParameterValue,
            "invalid refresh window",
            "The start of the window must be before the end.",
        ));
    }
    let _g = engine.caggs().lock.write().await;
    mark_dirty(storage, &def.name, s, e).await?;
    recompute_locked(engine, &def, s, e, notice).await
}

async fn mark_dirty(storage: &Arc<Storage>, name: &str, start: i64, end: i64) -> Result<()> {
    if let Some(mut d) = storage.catalog().cagg(name).cloned() {
        d.dirty.push((start, end));
        storage.update_cagg(name, d).await?;
    }
    Ok(())
}

/// Deletes rows of a table and recomputes the buckets of its views that held them.
pub async fn delete_where(
    engine: &crate::engine::Engine,
    table: strata_storage::ids::TableId,
    range: TimeRange,
    predicate: &(dyn Fn(&RecordBatch) -> strata_storage::Result<BooleanArray> + Send + Sync),
) -> Result<u64> {
    change_where(engine, table, range, predicate, None).await
}

/// DELETE (`update` None) or UPDATE (`update` makes the new rows, see
/// [`strata_storage::Storage::update_where`]) of the rows of `table` selected by
/// `predicate`, with the views over the table recomputed where rows changed.
pub async fn change_where(
    engine: &crate::engine::Engine,
    table: strata_storage::ids::TableId,
    range: TimeRange,
    predicate: &(dyn Fn(&RecordBatch) -> strata_storage::Result<BooleanArray> + Send + Sync),
    update: Option<&strata_storage::UpdateFn<'_>>,
) -> Result<u64> {
    let storage = engine.storage();
    let change =
        async |pred: &(
                    dyn Fn(&RecordBatch) -> strata_storage::Result<BooleanArray> + Send + Sync
                )| match update {
            Some(u) => storage.update_where(table, range, pred, u).await,
            None => storage.delete_where(table, range, pred).await,
        };
    let _g = engine.caggs().lock.write().await;
    let cat = storage.catalog();
    let views: Vec<ContinuousAggDef> = cat.caggs_of(table).cloned().collect();
    if views.is_empty() {
        return Ok(change(predicate).await?);
    }
    let def = cat
        .table_by_id(table)
        .cloned()
        .ok_or_else(|| Error::user(SqlState::UndefinedTable, "table vanished"))?;
    let tc = def.time_column;
    // Track the time span of the deleted rows.
    let span = parking_lot::Mutex::new((i64::MAX, i64::MIN));
    let tracking = |b: &RecordBatch| -> strata_storage::Result<BooleanArray> {
        let mask = predicate(b)?;
        if let Some(tc) = tc
            && let Some(t) = b.column(tc).as_primitive_opt::<TimestampMicrosecondType>()
        {
            let mut s = span.lock();
            for (i, v) in t.iter().enumerate() {
                if let Some(v) = v
                    && mask.is_valid(i)
                    && mask.value(i)
                {
                    s.0 = s.0.min(v);
                    s.1 = s.1.max(v);
                }
            }
        }
        Ok(mask)
    };
    // Mark the possibly affected range before deleting (crash between the two steps).
    let mut marks = vec![];
    for v in &views {
        let c = engine.caggs().compiled(engine, v).await?;
        let (s, e) = (
            range.min.saturating_sub(c.bucket_upper_micros),
            range.max.saturating_add(1),
        );
        mark_dirty(storage, &v.name, s, e).await?;
        marks.push((s, e));
    }
    let n = change(&tracking).await?;
    let (lo, hi) = *span.lock();
    for (v, (s, e)) in views.iter().zip(marks) {
        if n > 0 {
            let c = engine.caggs().compiled(engine, v).await?;
            let (a, b) = (
                lo.saturating_sub(c.bucket_upper_micros),
                hi.saturating_add(1),
            );
            let current = storage.catalog().cagg(&v.name).cloned();
            if let Some(cur) = current {
                recompute_locked(engine, &cur, a, b, &|_| {}).await?;
            }
        }
        clear_dirty(storage, &v.name, s, e).await?;
    }
    Ok(n)
}

/// Marks dirty the buckets of every view of `table` that rows with times in `[lo, hi]`
/// feed, before rows there are replaced (ON CONFLICT DO UPDATE); returns the marks for
/// [`recompute_marked`]. The caller holds [`Caggs::lock`] exclusively.
pub(crate) async fn mark_views_dirty(
    engine: &crate::engine::Engine,
    table: strata_storage::ids::TableId,
    lo: i64,
    hi: i64,
) -> Result<Vec<(String, i64, i64)>> {
    let storage = engine.storage();
    let views: Vec<ContinuousAggDef> = storage.catalog().caggs_of(table).cloned().collect();
    let mut marks = vec![];
    for v in &views {
        let c = engine.caggs().compiled(engine, v).await?;
        let (s, e) = (
            lo.saturating_sub(c.bucket_upper_micros),
            hi.saturating_add(1),
        );
        mark_dirty(storage, &v.name, s, e).await?;
        marks.push((v.name.clone(), s, e));
    }
    Ok(marks)
}

/// Recomputes the ranges marked by [`mark_views_dirty`] from raw rows and clears the
/// marks. The caller holds [`Caggs::lock`] exclusively.
pub(crate) async fn recompute_marked(
    engine: &crate::engine::Engine,
    marks: Vec<(String, i64, i64)>,
) -> Result<()> {
    let storage = engine.storage();
    for (name, s, e) in marks {
        let current = storage.catalog().cagg(&name).cloned();
        if let Some(cur) = current {
            recompute_locked(engine, &cur, s, e, &|_| {}).await?;
        }
        clear_dirty(storage, &name, s, e).await?;
    }
    Ok(())
}

/// Finishes recomputations interrupted by a crash (dirty ranges in the catalog).
pub async fn recover(engine: &crate::engine::Engine) -> Result<()> {
    let storage = engine.storage();
    let _g = engine.caggs().lock.write().await;
    for v in storage.catalog().caggs.clone() {
        for (s, e) in v.dirty.clone() {
            tracing::info!(view = %v.name, "recomputing buckets left dirty by an interrupted operation");
            let cur = storage.catalog().cagg(&v.name).cloned();
            if let Some(cur) = cur {
                recompute_locked(engine, &cur, s, e, &|_| {}).await?;
            }
        }
    }
    Ok(())
}

/// Drops a view (and its states).
pub async fn drop(engine: &crate::engine::Engine, name: &str) -> Result<()> {
    let storage = engine.storage();
    let cat = storage.catalog();
    if let Some(child) = cat.caggs.iter().find(|c| c.source == name) {
        return Err(Error::with_hint(
            SqlState::DependentObjectsStillExist,
            format!("cannot drop materialized view {name} because other objects depend on it"),
            format!(
                "continuous aggregate {} depends on it; drop it first",
                child.name
            ),
        ));
    }
    let Some(def) = cat.cagg(name) else {
        return Err(Error::user(
            SqlState::UndefinedTable,
            format!("materialized view \"{name}\" does not exist"),
        ));
    };
    let _g = engine.caggs().lock.write().await;
    storage.drop_cagg(name).await?;
    engine.caggs().forget(def.state_table);
    Ok(())
}

/// `ALTER MATERIALIZED VIEW v RENAME TO w`.
pub async fn rename(engine: &crate::engine::Engine, from: &str, to: &str) -> Result<()> {
    let storage = engine.storage();
    let cat = storage.catalog();
    let Some(def) = cat.cagg(from).cloned() else {
        return Err(Error::user(
            SqlState::UndefinedTable,
            format!("materialized view \"{from}\" does not exist"),
        ));
    };
    if cat.relation_exists(to) {
        return Err(Error::user(
            SqlState::DuplicateTable,
            format!("relation \"{to}\" already exists"),
        ));
    }
    let _g = engine.caggs().lock.write().await;
    // Views defined over this one name it as their source.
    for child in cat.caggs.iter().filter(|c| c.source == from) {
        let mut c = child.clone();
        c.source = to.to_string();
        storage.update_cagg(&child.name, c).await?;
    }
    let mut d = def.clone();
    d.name = to.to_string();
    storage.update_cagg(from, d).await?;
    engine.caggs().forget(def.state_table);
    Ok(())
}

// ------------------------------------------------------------------ hierarchical views

/// Rewrites a query over continuous aggregate `parent` into one over the parent's raw
/// table, when every aggregate composes exactly: `sum` of a `sum`/`count`, `min` of a
/// `min`, `max` of a `max`, `bool_and`/`bool_or` of the same, `first`/`last` of the same
/// (ordered by the bucket). Group columns of the parent are replaced by their
/// defining expressions; the coarser bucket must be a multiple of the parent's.
pub fn compose(q: &ast::Query, parent: &ContinuousAggDef) -> Result<String> {
    let pq = parse_query(&parent.raw_sql)?;
    let ast::SetExpr::Select(psel) = pq.body.as_ref() else {
        return Err(refuse("a parent view that is not a SELECT"));
    };
    if psel.having.is_some() {
        return Err(refuse("a view over a continuous aggregate that has HAVING"));
    }
    // Parent output name -> its defining expression.
    let pnames = crate::names::pg_names(&pq);
    let mut defs: HashMap<String, ast::Expr> = HashMap::new();
    for (i, item) in psel.projection.iter().enumerate() {
        let (name, expr) = match item {
            ast::SelectItem::ExprWithAlias { expr, alias } => (alias.value.to_lowercase(), expr),
            ast::SelectItem::UnnamedExpr(e) => {
                let n = match e {
                    ast::Expr::Identifier(id) => id.value.to_lowercase(),
                    ast::Expr::CompoundIdentifier(p) => {
                        p.last().map(|i| i.value.to_lowercase()).unwrap_or_default()
                    }
                    _ => pnames
                        .as_ref()
                        .and_then(|n| n.get(i).cloned().flatten())
                        .unwrap_or_default(),
                };
                (n, e)
            }
            _ => return Err(refuse("SELECT * in the parent view")),
        };
        let name = parent.columns.get(i).cloned().unwrap_or(name);
        defs.insert(name, expr.clone());
    }
    let parent_width = bucket_width_of(psel)?;

    let mut q = q.clone();
    let ast::SetExpr::Select(sel) = q.body.as_mut() else {
        return Err(refuse("UNION, INTERSECT, EXCEPT or VALUES"));
    };
    // FROM the parent's source (its raw table, or itself composed further).
    sel.from = psel.from.clone();
    let mut error: Option<Error> = None;
    let _ = ast::visit_expressions_mut(sel.as_mut(), |e: &mut ast::Expr| {
        if error.is_some() {
            return std::ops::ControlFlow::<()>::Continue(());
        }
        if let ast::Expr::Function(f) = e {
            let fname = f.name.to_string().to_lowercase();
            let args: Vec<ast::Expr> = match &f.args {
                ast::FunctionArguments::List(l) => l
                    .args
                    .iter()
                    .filter_map(|a| match a {
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => Some(x.clone()),
                        _ => None,
                    })
                    .collect(),
                _ => vec![],
            };
            let is_agg = is_aggregate_name(&fname);
            if !is_agg {
                return std::ops::ControlFlow::Continue(());
            }
            let inner = args
                .first()
                .and_then(|a| column_name(a))
                .and_then(|n| defs.get(&n));
            let inner_fn = match inner {
                Some(ast::Expr::Function(g)) => Some(g.clone()),
                _ => None,
            };
            let ok = match (&fname[..], &inner_fn) {
                (outer, Some(g)) => {
                    let gname = g.name.to_string().to_lowercase();
                    matches!(
                        (outer, gname.as_str()),
                        ("sum", "sum")
                            | ("sum", "count")
                            | ("min", "min")
                            | ("max", "max")
                            | ("bool_and", "bool_and")
                            | ("bool_or", "bool_or")
                            | ("first", "first")
                            | ("last", "last")
                    )
                }
                _ => false,
            };
            if !ok {
                error = Some(Error::with_hint(
                    SqlState::FeatureNotSupported,
                    format!(
                        "invalid continuous aggregate query: {fname}() over column \"{}\" of continuous aggregate \"{}\" cannot be maintained exactly",
                        args.first().map(|a| a.to_string()).unwrap_or_default(),
                        parent.name
                    ),
                    "Over another continuous aggregate use sum() of sum()/count(), min() of min(), max() of max(), first()/last() of the same, bool_and/bool_or of the same; for an average, store sum and count.",
                ));
                return std::ops::ControlFlow::Continue(());
            }
            if let Some(g) = inner_fn {
                // Keep FILTER of the inner aggregate; the outer one becomes the inner one.
                *e = ast::Expr::Function(g);
            }
            return std::ops::ControlFlow::Continue(());
        }
        std::ops::ControlFlow::Continue(())
    });
    if let Some(e) = error {
        return Err(e);
    }
    // Replace the remaining references to parent columns (group columns, the bucket).
    let _ = ast::visit_expressions_mut(sel.as_mut(), |e: &mut ast::Expr| {
        if let Some(n) = column_name(e)
            && let Some(d) = defs.get(&n)
            && !matches!(d, ast::Expr::Function(f) if is_aggregate_name(&f.name.to_string()))
        {
            *e = ast::Expr::Nested(Box::new(d.clone()));
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    // The parent's filter applies to the rows of the child too.
    if let Some(pw) = &psel.selection {
        sel.selection = Some(match sel.selection.take() {
            Some(w) => ast::Expr::BinaryOp {
                left: Box::new(ast::Expr::Nested(Box::new(pw.clone()))),
                op: ast::BinaryOperator::And,
                right: Box::new(ast::Expr::Nested(Box::new(w))),
            },
            None => pw.clone(),
        });
    }
    let width = bucket_width_of(sel)?;
    if parent_width > 0 && width > 0 && width % parent_width != 0 {
        return Err(Error::with_hint(
            SqlState::FeatureNotSupported,
            "invalid continuous aggregate query: the bucket width must be a multiple of the bucket width of the continuous aggregate it reads",
            format!(
                "\"{}\" uses buckets of {} s.",
                parent.name,
                parent_width / 1_000_000
            ),
        ));
    }
    Ok(q.to_string())
}

fn is_aggregate_name(n: &str) -> bool {
    matches!(
        n.to_lowercase().as_str(),
        "sum"
            | "min"
            | "max"
            | "count"
            | "avg"
            | "bool_and"
            | "bool_or"
            | "first"
            | "last"
            | "stddev"
            | "variance"
            | "approx_distinct"
            | "approx_count_distinct"
            | "approx_percentile_cont"
    )
}

fn column_name(e: &ast::Expr) -> Option<String> {
    match e {
        ast::Expr::Identifier(i) => Some(i.value.to_lowercase()),
        ast::Expr::CompoundIdentifier(p) => p.last().map(|i| i.value.to_lowercase()),
        _ => None,
    }
}

/// Width (µs, fixed intervals only; 0 if not known) of the first time_bucket in a select.
fn bucket_width_of(sel: &ast::Select) -> Result<i64> {
    let mut width = 0;
    let _ = ast::visit_expressions(sel, |e: &ast::Expr| {
        if width == 0
            && let ast::Expr::Function(f) = e
            && f.name.to_string().eq_ignore_ascii_case("time_bucket")
            && let ast::FunctionArguments::List(l) = &f.args
            && let Some(ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(a))) = l.args.first()
        {
            width = crate::ddl::interval_micros_of_expr(a).unwrap_or(0);
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    Ok(width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_rewrites_aggregates_over_aggregates() {
        let parent = ContinuousAggDef {
            name: "m1".into(),
            sql: String::new(),
            columns: vec![],
            source: "t".into(),
            raw_sql: "SELECT time_bucket('1 minute', ts) AS b, host, count(*) AS n, sum(v) AS s, max(v) AS mx FROM t WHERE v > 0 GROUP BY b, host".into(),
            raw_table: Default::default(),
            state_table: Default::default(),
            materialized_only: false,
            policy: None,
            dirty: vec![],
        };
        let q = parse_query(
            "SELECT time_bucket('1 hour', b) AS h, host, sum(n) AS n, sum(s) AS s, max(mx) AS mx FROM m1 GROUP BY h, host",
        )
        .unwrap();
        let out = compose(&q, &parent).unwrap();
        assert!(out.contains("FROM t"), "{out}");
        assert!(out.contains("count(*) AS n"), "{out}");
        assert!(out.contains("sum(v) AS s"), "{out}");
        assert!(out.contains("max(v) AS mx"), "{out}");
        assert!(
            out.contains("time_bucket('1 hour', (time_bucket('1 minute', ts)))"),
            "{out}"
        );
        assert!(out.contains("v > 0"), "{out}");

        let bad =
            parse_query("SELECT time_bucket('1 hour', b) AS h, avg(s) FROM m1 GROUP BY h").unwrap();
        let e = compose(&bad, &parent).unwrap_err();
        assert!(e.to_string().contains("avg()"), "{e}");
        let bad =
            parse_query("SELECT time_bucket('90 seconds', b) AS h, sum(n) FROM m1 GROUP BY h")
                .unwrap();
        assert!(compose(&bad, &parent).is_err());
    }
}
