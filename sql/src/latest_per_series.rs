//! The latest (or first) row of every series: `SELECT DISTINCT ON (k...) ... ORDER BY k...,
//! t DESC` (TSBS `lastpoint`), where `t` is a non-nullable time or integer column of a
//! Strata table.
//!
//! DataFusion plans `DISTINCT ON` as a `first_value(c ORDER BY ...)` aggregate over every
//! selected column, so every column of every row is decoded. [`LatestPerSeries`] narrows the
//! input first, running before DataFusion's `ReplaceDistinctWithAggregate`:
//!
//! ```text
//! DistinctOn(k..., ORDER BY k..., t DESC, ...)          DistinctOn(k..., ORDER BY k..., t DESC, ...)
//!   input                                       =>       RightSemi join on k = k, t = latest_t (NULL keys equal)
//!                                                          Aggregate(GROUP BY k..., max(t) AS latest_t)
//!                                                            input
//!                                                          input
//! ```
//!
//! The aggregate reads only the key and time columns. The join builds its hash table from
//! its result (one row per series) and hands it to the other scan as a dynamic filter
//! (bounds of every key and `struct(k..., t) IN (...)`): files are pruned by the time
//! bounds (row groups, pages), and the row filter decodes the other columns only for the
//! matching rows. [`CollectLatestBuildSide`] makes that join collect its small build side
//! whole before the probe scan starts, so the filter is complete when the files are opened.
//!
//! The answer is the same: the rows kept are exactly the input rows whose `t` is the
//! series' greatest (`min` for `ASC`), which include the row `DISTINCT ON` picks; the
//! `DISTINCT ON` still runs on top, so ties on `(k, t)` and further `ORDER BY` terms keep
//! their meaning. NULL keys form one series, as in PostgreSQL (the join matches NULL to
//! NULL). `t` must be non-nullable: PostgreSQL sorts NULLs first in `DESC` order, and
//! `max` ignores them.
//!
//! The input is read twice, so the rule only applies when it is a scan of a Strata table
//! under filters, projections and aliases without volatile expressions (reading it twice
//! gives the same rows but for concurrent writes, as any self-join).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Column, JoinType, NullEquality, Result};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::functions_aggregate::expr_fn::{max, min};
use datafusion::logical_expr::{Distinct, DistinctOn, Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};

use crate::table::TsTable;

/// Name of the per-series latest time computed by the rewrite; it also marks the join for
/// [`CollectLatestBuildSide`].
const LATEST: &str = "__strata_latest_time";
/// Alias of the aggregate side, so its key columns do not clash with the input's.
const ALIAS: &str = "__strata_latest";

/// The logical rewrite; see the module documentation.
#[derive(Debug, Default)]
pub struct LatestPerSeries;

impl OptimizerRule for LatestPerSeries {
    fn name(&self) -> &str {
        "strata_latest_per_series"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Distinct(Distinct::On(d)) = plan else {
            return Ok(Transformed::no(plan));
        };
        match narrowed_input(&d)? {
            Some(input) => Ok(Transformed::yes(LogicalPlan::Distinct(Distinct::On(
                DistinctOn {
                    input: Arc::new(input),
                    ..d
                },
            )))),
            None => Ok(Transformed::no(LogicalPlan::Distinct(Distinct::On(d)))),
        }
    }
}

/// The semi join replacing the input of `d`, if `d` has the shape the rule handles.
fn narrowed_input(d: &DistinctOn) -> Result<Option<LogicalPlan>> {
    let Some(sort) = &d.sort_expr else {
        return Ok(None);
    };
    let n = d.on_expr.len();
    if sort.len() <= n {
        return Ok(None);
    }
    // The DISTINCT ON expressions, which must be plain columns and lead the ORDER BY.
    let mut keys: Vec<&Column> = vec![];
    for e in &d.on_expr {
        let Expr::Column(c) = e else { return Ok(None) };
        if keys.contains(&c) {
            return Ok(None);
        }
        keys.push(c);
    }
    for s in &sort[..n] {
        if !matches!(&s.expr, Expr::Column(c) if keys.contains(&c)) {
            return Ok(None);
        }
    }
    let time = &sort[n];
    let Expr::Column(t) = &time.expr else {
        return Ok(None);
    };
    if keys.contains(&t) {
        return Ok(None);
    }
    let schema = d.input.schema();
    let Ok(i) = schema.index_of_column(t) else {
        return Ok(None);
    };
    let field = schema.field(i);
    // max/min order these types as ORDER BY does.
    let orderable = matches!(
        field.data_type(),
        DataType::Timestamp(..)
            | DataType::Date32
            | DataType::Date64
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
    );
    // `t` must be a NOT NULL column of the scanned table (Arrow schemas of Strata tables
    // mark every column nullable), and the scan not already narrowed by this rule.
    let Some(traced) = trace_to_scan(&d.input, vec![i]) else {
        return Ok(None);
    };
    let def = traced.table.def();
    let not_null = def
        .column_index(&traced.names[0])
        .is_some_and(|c| !def.columns[c].nullable);
    if !orderable || !not_null || traced.table.latest_keys().is_some() {
        return Ok(None);
    }
    if !time.asc {
        let key_indices: Vec<usize> = keys
            .iter()
            .filter_map(|c| schema.index_of_column(c).ok())
            .collect();
        if key_indices.len() == keys.len()
            && let Some(plan) = latest_rows_input(&d.input, &key_indices, i)?
        {
            return Ok(Some(plan));
        }
    }
    let latest = if time.asc {
        min(Expr::Column(t.clone()))
    } else {
        max(Expr::Column(t.clone()))
    };
    let agg = LogicalPlanBuilder::from(d.input.as_ref().clone())
        .aggregate(
            keys.iter().map(|c| Expr::Column((*c).clone())),
            vec![latest.alias(LATEST)],
        )?
        .alias(ALIAS)?
        .build()?;
    // The aggregate's key columns keep their names, requalified by the alias.
    let agg_keys: Vec<Column> = agg
        .schema()
        .columns()
        .into_iter()
        .take(n)
        .chain(std::iter::once(Column::new(Some(ALIAS), LATEST)))
        .collect();
    let input_keys: Vec<Column> = keys
        .iter()
        .map(|c| (*c).clone())
        .chain(std::iter::once(t.clone()))
        .collect();
    let join = LogicalPlanBuilder::from(agg)
        .join_detailed(
            d.input.as_ref().clone(),
            JoinType::RightSemi,
            (agg_keys, input_keys),
            None,
            NullEquality::NullEqualsNull,
        )?
        .build()?;
    Ok(Some(join))
}

/// `input` reading only the rows at each series' latest time of the table's files, if
/// the `keys` and `time` columns of its output are columns of the Strata table it scans,
/// `keys` and the columns its filters read are all series columns of the table's files
/// (leading their sort order), and `time` is their time column. Each run of a series in a
/// file then keeps one value of every key and passes every filter as a whole or not at
/// all, so the latest row of each group of `keys` that passes the filters is one of the
/// latest rows of some run: the `DISTINCT ON` above finds it among them.
fn latest_rows_input(
    input: &LogicalPlan,
    keys: &[usize],
    time: usize,
) -> Result<Option<LogicalPlan>> {
    let mut wanted: Vec<usize> = keys.to_vec();
    wanted.push(time);
    let Some(mut traced) = trace_to_scan(input, wanted) else {
        return Ok(None);
    };
    let Some(time_name) = traced.names.pop() else {
        return Ok(None);
    };
    let mut required = traced.names;
    for c in traced.filtered {
        if !required.contains(&c) {
            required.push(c);
        }
    }
    let def = Arc::clone(traced.table.def());
    let series = def.series_columns();
    let fits = def.time_column_def().is_some_and(|tc| tc.name == time_name)
        && required
            .iter()
            .all(|k| def.column_index(k).is_some_and(|c| series.contains(&c)));
    if !fits {
        return Ok(None);
    }
    let narrowed = provider_as_source(Arc::new(traced.table.latest_rows_only(required)));
    let plan = input.clone().transform_up(|p| match p {
        LogicalPlan::TableScan(mut s) if is_strata_table(&s.source) => {
            s.source = Arc::clone(&narrowed);
            Ok(Transformed::yes(LogicalPlan::TableScan(s)))
        }
        other => Ok(Transformed::no(other)),
    })?;
    Ok(plan.transformed.then_some(plan.data))
}

fn is_strata_table(source: &Arc<dyn datafusion::logical_expr::TableSource>) -> bool {
    source_as_provider(source)
        .ok()
        .is_some_and(|p| p.downcast_ref::<TsTable>().is_some())
}

/// What [`trace_to_scan`] found.
struct Traced {
    /// The scanned table.
    table: TsTable,
    /// The table column names of the wanted output columns.
    names: Vec<String>,
    /// The table column names the filters on the way read.
    filtered: Vec<String>,
}

/// The Strata table scanned by `plan`, a scan under filters, column projections and
/// aliases whose expressions give the same rows when evaluated twice, with the table
/// columns of the output columns `wanted` (which must be plain columns) and those its
/// filters read; None for any other shape.
fn trace_to_scan(plan: &LogicalPlan, wanted: Vec<usize>) -> Option<Traced> {
    match plan {
        LogicalPlan::TableScan(s) => {
            let provider = source_as_provider(&s.source).ok()?;
            let table = provider.downcast_ref::<TsTable>()?.clone();
            if s.fetch.is_some() || s.filters.iter().any(Expr::is_volatile) {
                return None;
            }
            let fields = s.projected_schema.fields();
            let names = wanted
                .iter()
                .map(|&i| fields.get(i).map(|f| f.name().clone()))
                .collect::<Option<Vec<_>>>()?;
            let filtered = s
                .filters
                .iter()
                .flat_map(|f| f.column_refs())
                .map(|c| c.name.clone())
                .collect();
            Some(Traced {
                table,
                names,
                filtered,
            })
        }
        LogicalPlan::Filter(f) => {
            if f.predicate.is_volatile() {
                return None;
            }
            let schema = f.input.schema();
            let read = f
                .predicate
                .column_refs()
                .into_iter()
                .map(|c| schema.index_of_column(c).ok())
                .collect::<Option<Vec<_>>>()?;
            let n = wanted.len();
            let mut traced = trace_to_scan(&f.input, wanted.into_iter().chain(read).collect())?;
            let read = traced.names.split_off(n);
            traced.filtered.extend(read);
            Some(traced)
        }
        LogicalPlan::Projection(p) => {
            if p.expr.iter().any(Expr::is_volatile) {
                return None;
            }
            let schema = p.input.schema();
            let below = wanted
                .iter()
                .map(|&i| match p.expr.get(i).map(|e| e.clone().unalias()) {
                    Some(Expr::Column(c)) => schema.index_of_column(&c).ok(),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?;
            trace_to_scan(&p.input, below)
        }
        LogicalPlan::SubqueryAlias(a) => trace_to_scan(&a.input, wanted),
        _ => None,
    }
}

/// Plans the join made by [`LatestPerSeries`] to collect its build side (one row per
/// series) into a single hash table before the probe side starts: DataFusion cannot tell
/// that side is small (the scans have no statistics) and would hash-partition both sides,
/// starting the probe scan before the dynamic filter is known. Runs after `join_selection`.
#[derive(Debug, Default)]
pub struct CollectLatestBuildSide;

impl PhysicalOptimizerRule for CollectLatestBuildSide {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|p| {
            let Some(j) = p.downcast_ref::<HashJoinExec>() else {
                return Ok(Transformed::no(p));
            };
            let ours = *j.join_type() == JoinType::RightSemi
                && *j.partition_mode() != PartitionMode::CollectLeft
                && j.left().schema().field_with_name(LATEST).is_ok();
            if !ours {
                return Ok(Transformed::no(p));
            }
            let collect: Arc<dyn ExecutionPlan> = Arc::new(
                j.builder()
                    .with_partition_mode(PartitionMode::CollectLeft)
                    .build()?,
            );
            Ok(Transformed::yes(collect))
        })
        .data()
    }

    fn name(&self) -> &str {
        "strata_collect_latest_build_side"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// DataFusion's logical optimizer rules with [`LatestPerSeries`] before
/// `replace_distinct_aggregate` (which turns `DISTINCT ON` into an aggregate).
pub fn optimizer_rules() -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    let mut rules = datafusion::optimizer::Optimizer::new().rules;
    let at = rules
        .iter()
        .position(|r| r.name() == "replace_distinct_aggregate")
        .unwrap_or(0);
    rules.insert(at, Arc::new(LatestPerSeries));
    rules
}

/// DataFusion's physical optimizer rules with [`CollectLatestBuildSide`] right after
/// `join_selection` (before the distribution of the join's inputs is enforced).
pub fn physical_optimizer_rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules;
    if let Some(i) = rules.iter().position(|r| r.name() == "join_selection") {
        rules.insert(i + 1, Arc::new(CollectLatestBuildSide));
    }
    rules
}
