//! TimescaleDB's information views and the PostgreSQL catalog entries of continuous
//! aggregates, computed from the storage catalog when a query *executes* (not when it is
//! planned), so DDL in one session shows in the next statement of every other session and
//! a prepared statement sees the catalog of each execution.
//!
//! - Schema `timescaledb_information`: `hypertables`, `dimensions`, `continuous_aggregates`,
//!   `jobs`, `job_stats`, `job_errors` (from the in-memory [`crate::jobs::Jobs`]) and
//!   `chunks` (with Strata's `tier`, `rows` and `bytes` as extra last columns), with
//!   TimescaleDB 2.x's column names and types. There is one owner (`strata`) and
//!   one schema (`public`); a view's state table is reported as its materialization
//!   hypertable in `_timescaledb_internal`.
//! - `pg_catalog.pg_matviews` lists continuous aggregates, and `pg_catalog.pg_class`
//!   reports them with `relkind = 'm'` (datafusion-pg-catalog derives `relkind` from
//!   DataFusion's `TableType`, which has no materialized view: its `pg_class` is wrapped in
//!   a view that joins `pg_namespace` and `pg_matviews` and overrides `relkind`), so
//!   psql's `\dm` lists them (with `pg_catalog.pg_table_is_visible` /
//!   `pg_catalog.pg_get_userbyid`, which psql qualifies, registered under those names).
//!
//! Registered by [`register`] in every session context, after datafusion-pg-catalog's
//! `pg_catalog` schema (which it wraps).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Int16Array, Int32Array, Int64Array, IntervalMonthDayNanoArray,
    RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{
    DataType, Field, IntervalMonthDayNano, IntervalUnit, Schema, SchemaRef, TimeUnit,
};
use async_trait::async_trait;
use datafusion::catalog::SchemaProvider;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::catalog::view::ViewTable;
use datafusion::common::Column;
use datafusion::datasource::{TableProvider, provider_as_source};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::FunctionRegistry;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, JoinType, LogicalPlanBuilder, lit, when};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::SessionContext;
use strata_storage::schema::PG_TYPE_METADATA_KEY;
use strata_storage::{CatalogState, ContinuousAggDef, Storage, TableDef, TimeRange};

use crate::engine::{DATABASE, SCHEMA};
use crate::jobs::{Job, JobStats, Jobs, Policy};
use strata_storage::ChunkInfo;

/// Name of TimescaleDB's information schema.
pub const INFO_SCHEMA: &str = "timescaledb_information";
/// Owner reported for every relation and job (the only role).
pub const OWNER: &str = "strata";
/// Schema TimescaleDB keeps materialization hypertables in.
pub const INTERNAL_SCHEMA: &str = "_timescaledb_internal";
/// Schema of TimescaleDB's policy procedures (2.12+).
const FUNCTIONS_SCHEMA: &str = "_timescaledb_functions";

/// Functions psql's list commands (`\dt`, `\dv`, `\dm`) call schema-qualified: DataFusion
/// looks a qualified function name up as one string, so they get it as an alias.
const QUALIFIED_PG_FUNCTIONS: &[(&str, &str)] = &[
    ("pg_table_is_visible", "pg_catalog.pg_table_is_visible"),
    ("pg_get_userbyid", "pg_catalog.pg_get_userbyid"),
];

/// Registers `timescaledb_information` and the continuous-aggregate overlay of
/// `pg_catalog` in a session context. Failures are logged, never fatal: a session without
/// these views is still usable.
pub fn register(
    ctx: &SessionContext,
    storage: &Arc<Storage>,
    jobs: &Arc<Jobs>,
    roles: &Arc<crate::roles::Roles>,
) {
    if let Err(e) = try_register(ctx, storage, jobs, roles) {
        tracing::warn!(error = %e, "timescaledb_information unavailable");
    }
}

fn try_register(
    ctx: &SessionContext,
    storage: &Arc<Storage>,
    jobs: &Arc<Jobs>,
    roles: &Arc<crate::roles::Roles>,
) -> DfResult<()> {
    let catalog = ctx.catalog(DATABASE).ok_or_else(|| {
        DataFusionError::Configuration(format!("catalog {DATABASE} is not registered"))
    })?;
    catalog.register_schema(
        INFO_SCHEMA,
        Arc::new(InfoSchema {
            src: Sources {
                storage: Arc::clone(storage),
                jobs: Arc::clone(jobs),
            },
        }),
    )?;
    for (name, qualified) in QUALIFIED_PG_FUNCTIONS {
        if let Ok(udf) = ctx.udf(name) {
            ctx.register_udf(udf.as_ref().clone().with_aliases([*qualified]));
        }
    }
    if let Some(pg) = catalog.schema("pg_catalog") {
        catalog.register_schema(
            "pg_catalog",
            Arc::new(PgCatalogOverlay {
                inner: pg,
                roles: Arc::clone(roles),
                src: Sources {
                    storage: Arc::clone(storage),
                    jobs: Arc::clone(jobs),
                },
            }),
        )?;
    }
    Ok(())
}

// ------------------------------------------------------------------ the views

/// The views computed here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Hypertables,
    Dimensions,
    ContinuousAggregates,
    Jobs,
    JobStats,
    JobErrors,
    Chunks,
    PgMatviews,
}

const INFO_VIEWS: &[(&str, View)] = &[
    ("hypertables", View::Hypertables),
    ("dimensions", View::Dimensions),
    ("continuous_aggregates", View::ContinuousAggregates),
    ("jobs", View::Jobs),
    ("job_stats", View::JobStats),
    ("job_errors", View::JobErrors),
    ("chunks", View::Chunks),
];

/// Names of the `timescaledb_information` views.
pub const INFO_VIEW_NAMES: &[&str] = &[
    "hypertables",
    "dimensions",
    "continuous_aggregates",
    "jobs",
    "job_stats",
    "job_errors",
    "chunks",
];

/// What the views read: the storage catalog and the in-memory job statistics.
#[derive(Debug, Clone)]
struct Sources {
    storage: Arc<Storage>,
    jobs: Arc<Jobs>,
}

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn boolean(name: &str) -> Field {
    Field::new(name, DataType::Boolean, true)
}

fn interval(name: &str) -> Field {
    Field::new(name, DataType::Interval(IntervalUnit::MonthDayNano), true)
}

fn jsonb(name: &str) -> Field {
    text(name).with_metadata([(PG_TYPE_METADATA_KEY.to_string(), "jsonb".to_string())].into())
}

fn timestamptz(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(
            TimeUnit::Microsecond,
            Some(strata_storage::schema::UTC.into()),
        ),
        true,
    )
}

impl View {
    fn schema(self) -> SchemaRef {
        let fields = match self {
            // timescaledb_information.hypertables (2.14+: no multinode columns).
            View::Hypertables => vec![
                text("hypertable_schema"),
                text("hypertable_name"),
                text("owner"),
                Field::new("num_dimensions", DataType::Int16, true),
                Field::new("num_chunks", DataType::Int64, true),
                boolean("compression_enabled"),
                text("tablespaces"),
                text("primary_dimension"),
                text("primary_dimension_type"),
            ],
            View::Dimensions => vec![
                text("hypertable_schema"),
                text("hypertable_name"),
                Field::new("dimension_number", DataType::Int64, true),
                text("column_name"),
                text("column_type"),
                text("dimension_type"),
                interval("time_interval"),
                Field::new("integer_interval", DataType::Int64, true),
                text("integer_now_func"),
                Field::new("num_partitions", DataType::Int16, true),
            ],
            View::ContinuousAggregates => vec![
                text("hypertable_schema"),
                text("hypertable_name"),
                text("view_schema"),
                text("view_name"),
                text("view_owner"),
                boolean("materialized_only"),
                boolean("compression_enabled"),
                text("materialization_hypertable_schema"),
                text("materialization_hypertable_name"),
                text("view_definition"),
                boolean("finalized"),
            ],
            View::Jobs => vec![
                Field::new("job_id", DataType::Int32, true),
                text("application_name"),
                interval("schedule_interval"),
                interval("max_runtime"),
                Field::new("max_retries", DataType::Int32, true),
                interval("retry_period"),
                text("proc_schema"),
                text("proc_name"),
                text("owner"),
                boolean("scheduled"),
                boolean("fixed_schedule"),
                jsonb("config"),
                timestamptz("next_start"),
                timestamptz("initial_start"),
                text("hypertable_schema"),
                text("hypertable_name"),
                text("check_schema"),
                text("check_name"),
            ],
            View::JobStats => vec![
                text("hypertable_schema"),
                text("hypertable_name"),
                Field::new("job_id", DataType::Int32, true),
                timestamptz("last_run_started_at"),
                timestamptz("last_successful_finish"),
                text("last_run_status"),
                text("job_status"),
                interval("last_run_duration"),
                timestamptz("next_start"),
                Field::new("total_runs", DataType::Int64, true),
                Field::new("total_successes", DataType::Int64, true),
                Field::new("total_failures", DataType::Int64, true),
            ],
            View::JobErrors => vec![
                Field::new("job_id", DataType::Int32, true),
                text("proc_schema"),
                text("proc_name"),
                Field::new("pid", DataType::Int32, true),
                timestamptz("start_time"),
                timestamptz("finish_time"),
                text("sqlerrcode"),
                text("err_message"),
            ],
            // TimescaleDB 2.13+'s columns, then Strata's: the tier ('hot' / 'cold'), rows
            // (in files and in memory) and bytes (of files on either tier).
            View::Chunks => vec![
                text("hypertable_schema"),
                text("hypertable_name"),
                text("chunk_schema"),
                text("chunk_name"),
                text("primary_dimension"),
                text("primary_dimension_type"),
                timestamptz("range_start"),
                timestamptz("range_end"),
                Field::new("range_start_integer", DataType::Int64, true),
                Field::new("range_end_integer", DataType::Int64, true),
                boolean("is_compressed"),
                text("chunk_tablespace"),
                timestamptz("chunk_creation_time"),
                text("tier"),
                Field::new("rows", DataType::Int64, true),
                Field::new("bytes", DataType::Int64, true),
            ],
            // Same columns as datafusion-pg-catalog's (empty) pg_matviews.
            View::PgMatviews => vec![
                text("schemaname"),
                text("matviewname"),
                text("matviewowner"),
                text("tablespace"),
                boolean("hasindexes"),
                boolean("ispopulated"),
                text("definition"),
            ],
        };
        Arc::new(Schema::new(fields))
    }

    /// The view's rows for a catalog snapshot.
    fn rows(self, schema: &SchemaRef, src: &Sources) -> DfResult<RecordBatch> {
        let storage = src.storage.as_ref();
        let cat = storage.catalog();
        let columns = match self {
            View::Hypertables => hypertables(&cat, storage),
            View::Dimensions => dimensions(&cat),
            View::ContinuousAggregates => continuous_aggregates(&cat),
            View::Jobs => jobs(&cat, &src.jobs),
            View::JobStats => job_stats(&cat, &src.jobs),
            View::JobErrors => job_errors(&src.jobs),
            View::Chunks => chunks(&cat, storage),
            View::PgMatviews => pg_matviews(&cat),
        };
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    }

    fn provider(self, src: &Sources) -> DfResult<Arc<dyn TableProvider>> {
        let schema = self.schema();
        let part = LiveView {
            view: self,
            schema: Arc::clone(&schema),
            src: src.clone(),
        };
        Ok(Arc::new(StreamingTable::try_new(
            schema,
            vec![Arc::new(part)],
        )?))
    }
}

/// One view as a partition read at execution time.
#[derive(Debug)]
struct LiveView {
    view: View,
    schema: SchemaRef,
    src: Sources,
}

impl PartitionStream for LiveView {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (view, schema, src) = (self.view, Arc::clone(&self.schema), self.src.clone());
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&schema),
            futures::stream::once(async move { view.rows(&schema, &src) }),
        ))
    }
}

fn strs<S: AsRef<str>>(v: impl IntoIterator<Item = Option<S>>) -> ArrayRef {
    Arc::new(v.into_iter().collect::<StringArray>())
}

fn consts(s: Option<&str>, n: usize) -> ArrayRef {
    strs(std::iter::repeat_n(s, n))
}

fn bools(b: Option<bool>, n: usize) -> ArrayRef {
    Arc::new(std::iter::repeat_n(b, n).collect::<BooleanArray>())
}

fn intervals(v: impl IntoIterator<Item = Option<IntervalMonthDayNano>>) -> ArrayRef {
    Arc::new(v.into_iter().collect::<IntervalMonthDayNanoArray>())
}

/// User hypertables (not the internal state tables of continuous aggregates).
fn user_hypertables(cat: &CatalogState) -> impl Iterator<Item = &Arc<TableDef>> {
    cat.tables.iter().filter(|t| t.hypertable && !t.internal)
}

fn hypertables(cat: &CatalogState, storage: &Storage) -> Vec<ArrayRef> {
    let hts: Vec<&Arc<TableDef>> = user_hypertables(cat).collect();
    let n = hts.len();
    vec![
        consts(Some(SCHEMA), n),
        strs(hts.iter().map(|t| Some(t.name.as_str()))),
        consts(Some(OWNER), n),
        Arc::new(
            hts.iter()
                .map(|t| Some(i16::from(t.time_column.is_some())))
                .collect::<Int16Array>(),
        ),
        Arc::new(
            hts.iter()
                .map(|t| {
                    Some(
                        storage
                            .partitions_in(t.id, TimeRange::ALL)
                            .map(|p| p.len() as i64)
                            .unwrap_or(0),
                    )
                })
                .collect::<Int64Array>(),
        ),
        bools(Some(false), n),
        consts(None, n),
        strs(
            hts.iter()
                .map(|t| t.time_column_def().map(|c| c.name.as_str())),
        ),
        strs(
            hts.iter()
                .map(|t| t.time_column_def().map(|c| c.ty.pg_name())),
        ),
    ]
}

/// TimescaleDB's `to_interval` of a chunk width: whole days, then the rest as time.
fn micros_to_interval(micros: i64) -> IntervalMonthDayNano {
    const DAY: i64 = 86_400_000_000;
    IntervalMonthDayNano::new(
        0,
        i32::try_from(micros / DAY).unwrap_or(i32::MAX),
        (micros % DAY) * 1000,
    )
}

fn dimensions(cat: &CatalogState) -> Vec<ArrayRef> {
    let rows: Vec<(&Arc<TableDef>, &strata_storage::ColumnDef)> = user_hypertables(cat)
        .filter_map(|t| t.time_column_def().map(|c| (t, c)))
        .collect();
    let n = rows.len();
    vec![
        consts(Some(SCHEMA), n),
        strs(rows.iter().map(|(t, _)| Some(t.name.as_str()))),
        Arc::new(Int64Array::from(vec![1i64; n])),
        strs(rows.iter().map(|(_, c)| Some(c.name.as_str()))),
        strs(rows.iter().map(|(_, c)| Some(c.ty.pg_name()))),
        consts(Some("Time"), n),
        intervals(
            rows.iter()
                .map(|(t, _)| Some(micros_to_interval(t.partition_micros))),
        ),
        Arc::new(Int64Array::from(vec![None::<i64>; n])),
        consts(None, n),
        Arc::new(Int16Array::from(vec![None::<i16>; n])),
    ]
}

/// The name of a view's materialization hypertable (its state table).
fn mat_table_name(cat: &CatalogState, v: &ContinuousAggDef) -> Option<String> {
    cat.table_by_id(v.state_table).map(|t| t.name.clone())
}

fn continuous_aggregates(cat: &CatalogState) -> Vec<ArrayRef> {
    let n = cat.caggs.len();
    // The hypertable a view reads: its source, or for a view over a view, the parent's
    // materialization hypertable (as TimescaleDB reports hierarchical aggregates).
    let source = |v: &ContinuousAggDef| -> (Option<&str>, Option<String>) {
        match cat.cagg(&v.source) {
            Some(parent) => (Some(INTERNAL_SCHEMA), mat_table_name(cat, parent)),
            None => (Some(SCHEMA), Some(v.source.clone())),
        }
    };
    let sources: Vec<_> = cat.caggs.iter().map(source).collect();
    vec![
        strs(sources.iter().map(|s| s.0)),
        strs(sources.iter().map(|s| s.1.as_deref())),
        consts(Some(SCHEMA), n),
        strs(cat.caggs.iter().map(|v| Some(v.name.as_str()))),
        consts(Some(OWNER), n),
        Arc::new(
            cat.caggs
                .iter()
                .map(|v| Some(v.materialized_only))
                .collect::<BooleanArray>(),
        ),
        bools(Some(false), n),
        consts(Some(INTERNAL_SCHEMA), n),
        strs(cat.caggs.iter().map(|v| mat_table_name(cat, v))),
        strs(
            cat.caggs
                .iter()
                .map(|v| Some(crate::viewdef::definition(&v.sql, &v.columns, cat, false))),
        ),
        bools(Some(true), n),
    ]
}

/// Parses an interval as PostgreSQL's `interval_in` does (NULL if it does not parse).
pub(crate) fn parse_interval(s: &str) -> Option<IntervalMonthDayNano> {
    let field = Field::new("i", DataType::Interval(IntervalUnit::MonthDayNano), true);
    match strata_pgtypes::decode::parse_text_value(
        s,
        &field,
        strata_pgtypes::tz::TimeZoneSetting::UTC,
    ) {
        Ok(strata_pgtypes::decode::ScalarLike::IntervalMDN {
            months,
            days,
            nanos,
        }) => Some(IntervalMonthDayNano::new(months, days, nanos)),
        _ => None,
    }
}

/// An interval as `interval_out` prints it (IntervalStyle postgres); the input text if it
/// does not parse.
pub fn interval_text(s: &str) -> String {
    let Some(v) = parse_interval(s) else {
        return s.to_string();
    };
    let field = interval("i");
    let array = IntervalMonthDayNanoArray::from(vec![v]);
    let mut out = Vec::new();
    match strata_pgtypes::encode::encode_text(
        &array,
        &field,
        0,
        &strata_pgtypes::encode::TextOptions::default(),
        &mut out,
    ) {
        Ok(true) => String::from_utf8(out).unwrap_or_else(|_| s.to_string()),
        _ => s.to_string(),
    }
}

/// A refresh policy's `config`, as TimescaleDB stores it (offsets as interval text,
/// `mat_hypertable_id` the materialization hypertable). Printed as jsonb by the encoder
/// (keys in jsonb order).
fn policy_config(v: &ContinuousAggDef, p: &strata_storage::RefreshPolicy) -> String {
    let offset = |o: &Option<String>| match o {
        Some(s) => serde_json::Value::String(interval_text(s)),
        None => serde_json::Value::Null,
    };
    serde_json::json!({
        "end_offset": offset(&p.end_offset),
        "start_offset": offset(&p.start_offset),
        "mat_hypertable_id": v.state_table.as_u64(),
    })
    .to_string()
}

/// The hypertable a job belongs to, as TimescaleDB reports it: a policy on a continuous
/// aggregate belongs to its materialization hypertable.
fn job_hypertable(cat: &CatalogState, job: &Job) -> (&'static str, Option<String>, u64) {
    let relation = match &job.policy {
        Policy::Refresh { view, .. } => view,
        Policy::Retention(p) => &p.relation,
        Policy::Tiering(p) => &p.relation,
    };
    match cat.cagg(relation) {
        Some(v) => (
            INTERNAL_SCHEMA,
            mat_table_name(cat, v),
            v.state_table.as_u64(),
        ),
        None => (
            SCHEMA,
            Some(relation.clone()),
            cat.table(relation).map(|t| t.id.as_u64()).unwrap_or(0),
        ),
    }
}

/// A job's `config`, as TimescaleDB stores it (intervals as interval text). Printed as
/// jsonb by the encoder (keys in jsonb order).
fn job_config(cat: &CatalogState, job: &Job) -> String {
    let (_, _, hypertable_id) = job_hypertable(cat, job);
    match &job.policy {
        Policy::Refresh { view, policy } => match cat.cagg(view) {
            Some(v) => policy_config(v, policy),
            None => "{}".to_string(),
        },
        Policy::Retention(p) => serde_json::json!({
            "drop_after": interval_text(&p.drop_after),
            "hypertable_id": hypertable_id,
        })
        .to_string(),
        Policy::Tiering(p) => serde_json::json!({
            "move_after": interval_text(&p.move_after),
            "hypertable_id": hypertable_id,
        })
        .to_string(),
    }
}

fn timestamps(v: impl IntoIterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(
        v.into_iter()
            .collect::<TimestampMicrosecondArray>()
            .with_timezone(strata_storage::schema::UTC),
    )
}

fn jobs(cat: &CatalogState, stats: &Jobs) -> Vec<ArrayRef> {
    let rows = crate::jobs::list(cat);
    let n = rows.len();
    let schedule: Vec<Option<IntervalMonthDayNano>> =
        rows.iter().map(|r| parse_interval(&r.schedule)).collect();
    let tables: Vec<_> = rows.iter().map(|j| job_hypertable(cat, j)).collect();
    let configs: Vec<String> = rows.iter().map(|j| job_config(cat, j)).collect();
    vec![
        Arc::new(
            rows.iter()
                .map(|r| i32::try_from(r.id).ok())
                .collect::<Int32Array>(),
        ),
        strs(rows.iter().map(|r| Some(r.application_name()))),
        intervals(schedule.iter().copied()),
        intervals(std::iter::repeat_n(Some(IntervalMonthDayNano::ZERO), n)),
        Arc::new(Int32Array::from(vec![-1; n])),
        // TimescaleDB retries a policy after its schedule interval.
        intervals(schedule.iter().copied()),
        consts(Some(FUNCTIONS_SCHEMA), n),
        strs(rows.iter().map(|r| Some(r.proc_name()))),
        consts(Some(OWNER), n),
        Arc::new(
            rows.iter()
                .map(|r| Some(!cat.paused_jobs.contains(&r.id)))
                .collect::<BooleanArray>(),
        ),
        bools(Some(false), n),
        strs(configs.iter().map(|c| Some(c.as_str()))),
        timestamps(rows.iter().map(|r| stats.stats(r.id).next_start)),
        timestamps(std::iter::repeat_n(None, n)),
        strs(tables.iter().map(|t| Some(t.0))),
        strs(tables.iter().map(|t| t.1.as_deref())),
        strs(
            rows.iter()
                .map(|r| r.check_name().map(|_| FUNCTIONS_SCHEMA)),
        ),
        strs(rows.iter().map(|r| r.check_name())),
    ]
}

/// `timescaledb_information.job_stats`: every job, with what it did since the server
/// started (NULLs before its first run).
fn job_stats(cat: &CatalogState, stats: &Jobs) -> Vec<ArrayRef> {
    let rows = crate::jobs::list(cat);
    let tables: Vec<_> = rows.iter().map(|j| job_hypertable(cat, j)).collect();
    let st: Vec<JobStats> = rows.iter().map(|j| stats.stats(j.id)).collect();
    vec![
        strs(tables.iter().map(|t| Some(t.0))),
        strs(tables.iter().map(|t| t.1.as_deref())),
        Arc::new(
            rows.iter()
                .map(|r| i32::try_from(r.id).ok())
                .collect::<Int32Array>(),
        ),
        timestamps(st.iter().map(|s| s.last_run_started_at)),
        timestamps(st.iter().map(|s| s.last_successful_finish)),
        strs(st.iter().map(|s| {
            s.last_finish
                .and(s.last_run_success)
                .map(|ok| if ok { "Success" } else { "Failed" })
        })),
        strs(st.iter().zip(&rows).map(|(s, r)| {
            Some(if s.running {
                "Running"
            } else if cat.paused_jobs.contains(&r.id) {
                "Paused"
            } else {
                "Scheduled"
            })
        })),
        intervals(
            st.iter()
                .map(|s| match (s.last_run_started_at, s.last_finish) {
                    (Some(a), Some(b)) if b >= a => Some(IntervalMonthDayNano::new(
                        0,
                        0,
                        (b - a).saturating_mul(1000),
                    )),
                    _ => None,
                }),
        ),
        timestamps(st.iter().map(|s| s.next_start)),
        Arc::new(
            st.iter()
                .map(|s| Some(s.total_runs))
                .collect::<Int64Array>(),
        ),
        Arc::new(
            st.iter()
                .map(|s| Some(s.total_successes))
                .collect::<Int64Array>(),
        ),
        Arc::new(
            st.iter()
                .map(|s| Some(s.total_failures))
                .collect::<Int64Array>(),
        ),
    ]
}

/// `timescaledb_information.job_errors`: the last failures since the server started.
fn job_errors(stats: &Jobs) -> Vec<ArrayRef> {
    let errors = stats.errors();
    let n = errors.len();
    vec![
        Arc::new(
            errors
                .iter()
                .map(|e| i32::try_from(e.job_id).ok())
                .collect::<Int32Array>(),
        ),
        consts(Some(FUNCTIONS_SCHEMA), n),
        strs(errors.iter().map(|e| Some(e.proc_name))),
        Arc::new(Int32Array::from(vec![Some(std::process::id() as i32); n])),
        timestamps(errors.iter().map(|e| Some(e.start_time))),
        timestamps(errors.iter().map(|e| Some(e.finish_time))),
        strs(errors.iter().map(|e| Some(e.sqlerrcode.as_str()))),
        strs(errors.iter().map(|e| Some(e.message.as_str()))),
    ]
}

/// One field of a record as `record_out` prints it: quoted when empty or when it has
/// quotes, backslashes, parentheses, commas or spaces; nothing for NULL.
fn record_field(v: Option<&str>) -> String {
    let Some(v) = v else {
        return String::new();
    };
    if !v.is_empty()
        && !v
            .chars()
            .any(|c| matches!(c, '"' | '\\' | '(' | ')' | ',') || c.is_whitespace())
    {
        return v.to_string();
    }
    let mut out = String::from("\"");
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A timestamptz (µs) as the session prints it.
fn timestamptz_text(micros: i64, tz: strata_pgtypes::tz::TimeZoneSetting) -> Option<String> {
    let array =
        TimestampMicrosecondArray::from(vec![micros]).with_timezone(strata_storage::schema::UTC);
    let opts = strata_pgtypes::encode::TextOptions {
        timezone: tz,
        ..Default::default()
    };
    let mut out = Vec::new();
    match strata_pgtypes::encode::encode_text(&array, &timestamptz("t"), 0, &opts, &mut out) {
        Ok(true) => String::from_utf8(out).ok(),
        _ => None,
    }
}

/// What `SELECT alter_job(...)` shows for a job: TimescaleDB's record (job_id,
/// schedule_interval, max_runtime, max_retries, retry_period, scheduled, config,
/// next_start, check_config, fixed_schedule, initial_start, timezone) in text.
pub fn alter_job_record(
    cat: &CatalogState,
    stats: &Jobs,
    job: &Job,
    tz: strata_pgtypes::tz::TimeZoneSetting,
) -> String {
    let schedule = interval_text(&job.schedule);
    let config = job_config(cat, job);
    let config = strata_pgtypes::encode::jsonb_text(&config).unwrap_or(config);
    let next = stats
        .stats(job.id)
        .next_start
        .and_then(|t| timestamptz_text(t, tz));
    let check = job.check_name().map(|c| format!("{FUNCTIONS_SCHEMA}.{c}"));
    let fields: Vec<Option<String>> = vec![
        Some(job.id.to_string()),
        Some(schedule.clone()),
        Some("00:00:00".to_string()),
        Some("-1".to_string()),
        Some(schedule),
        Some(
            if cat.paused_jobs.contains(&job.id) {
                "f"
            } else {
                "t"
            }
            .to_string(),
        ),
        Some(config),
        next,
        check,
        Some("f".to_string()),
        None,
        None,
    ];
    let parts: Vec<String> = fields.iter().map(|f| record_field(f.as_deref())).collect();
    format!("({})", parts.join(","))
}

/// The name of a time partition's chunk (`_hyper_<table id>_<partition number>_chunk`),
/// the same in `show_chunks`, `drop_chunks` and `timescaledb_information.chunks`.
pub fn chunk_table_name(table: u64, partition_start: i64, width: i64) -> String {
    format!(
        "_hyper_{table}_{}_chunk",
        partition_start.div_euclid(width.max(1))
    )
}

/// Schema-qualified chunk name, as `show_chunks` returns it.
pub fn chunk_qualified_name(table: u64, partition_start: i64, width: i64) -> String {
    format!(
        "{INTERNAL_SCHEMA}.{}",
        chunk_table_name(table, partition_start, width)
    )
}

/// `timescaledb_information.chunks`: every partition of every hypertable with its range,
/// plus Strata's tier, rows and bytes.
fn chunks(cat: &CatalogState, storage: &Storage) -> Vec<ArrayRef> {
    let mut rows: Vec<(&Arc<TableDef>, &strata_storage::ColumnDef, ChunkInfo)> = vec![];
    for t in user_hypertables(cat) {
        let Some(col) = t.time_column_def() else {
            continue;
        };
        // A table dropped meanwhile has no chunks.
        for c in storage.chunks(t.id).unwrap_or_default() {
            rows.push((t, col, c));
        }
    }
    let n = rows.len();
    vec![
        consts(Some(SCHEMA), n),
        strs(rows.iter().map(|(t, _, _)| Some(t.name.as_str()))),
        consts(Some(INTERNAL_SCHEMA), n),
        strs(
            rows.iter().map(|(t, _, c)| {
                Some(chunk_table_name(t.id.as_u64(), c.start, t.partition_micros))
            }),
        ),
        strs(rows.iter().map(|(_, col, _)| Some(col.name.as_str()))),
        strs(rows.iter().map(|(_, col, _)| Some(col.ty.pg_name()))),
        timestamps(rows.iter().map(|(_, _, c)| Some(c.start))),
        timestamps(rows.iter().map(|(_, _, c)| Some(c.end))),
        Arc::new(Int64Array::from(vec![None::<i64>; n])),
        Arc::new(Int64Array::from(vec![None::<i64>; n])),
        bools(Some(false), n),
        consts(None, n),
        timestamps(std::iter::repeat_n(None, n)),
        strs(rows.iter().map(|(_, _, c)| Some(c.tier.as_str()))),
        Arc::new(
            rows.iter()
                .map(|(_, _, c)| i64::try_from(c.rows).ok())
                .collect::<Int64Array>(),
        ),
        Arc::new(
            rows.iter()
                .map(|(_, _, c)| i64::try_from(c.bytes).ok())
                .collect::<Int64Array>(),
        ),
    ]
}

fn pg_matviews(cat: &CatalogState) -> Vec<ArrayRef> {
    let n = cat.caggs.len();
    vec![
        consts(Some(SCHEMA), n),
        strs(cat.caggs.iter().map(|v| Some(v.name.as_str()))),
        consts(Some(OWNER), n),
        consts(None, n),
        bools(Some(false), n),
        bools(Some(true), n),
        strs(
            cat.caggs
                .iter()
                .map(|v| Some(crate::viewdef::definition(&v.sql, &v.columns, cat, false))),
        ),
    ]
}

// ------------------------------------------------------------------ schema providers

/// `timescaledb_information`.
#[derive(Debug)]
struct InfoSchema {
    src: Sources,
}

#[async_trait]
impl SchemaProvider for InfoSchema {
    fn table_names(&self) -> Vec<String> {
        INFO_VIEWS.iter().map(|(n, _)| n.to_string()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        match INFO_VIEWS.iter().find(|(n, _)| *n == name) {
            Some((_, v)) => Ok(Some(v.provider(&self.src)?)),
            None => Ok(None),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        INFO_VIEWS.iter().any(|(n, _)| *n == name)
    }
}

/// datafusion-pg-catalog's `pg_catalog` with `pg_matviews` and `pg_class.relkind` for
/// continuous aggregates, Strata's relations (`pg_relations`) and roles (`pg_roles`).
#[derive(Debug)]
struct PgCatalogOverlay {
    inner: Arc<dyn SchemaProvider>,
    roles: Arc<crate::roles::Roles>,
    src: Sources,
}

#[async_trait]
impl SchemaProvider for PgCatalogOverlay {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        for t in crate::pg_roles::TABLES {
            if !names.iter().any(|n| n == t) {
                names.push(t.to_string());
            }
        }
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        match name.to_ascii_lowercase().as_str() {
            n if crate::pg_roles::TABLES.contains(&n) => {
                crate::pg_roles::table(n, &self.roles).await
            }
            "pg_matviews" => Ok(Some(View::PgMatviews.provider(&self.src)?)),
            "pg_collation" => match self.inner.table("pg_collation").await? {
                Some(c) => Ok(Some(collations_without_icu(c)?)),
                None => Ok(None),
            },
            "pg_class" => {
                let (Some(class), Some(ns)) = (
                    self.inner.table("pg_class").await?,
                    self.inner.table("pg_namespace").await?,
                ) else {
                    return self.inner.table(name).await;
                };
                let class =
                    pg_class_with_matviews(class, ns, View::PgMatviews.provider(&self.src)?)?;
                match crate::pg_relations::overlay(
                    "pg_class",
                    self.inner.as_ref(),
                    Arc::clone(&class),
                    &self.src.storage,
                )
                .await?
                {
                    Some(t) => Ok(Some(t)),
                    None => Ok(Some(class)),
                }
            }
            n @ ("pg_attribute"
            | "pg_attrdef"
            | "pg_index"
            | "pg_constraint"
            | "pg_namespace"
            | "pg_policy"
            | "pg_tables"
            | "pg_stat_user_tables") => {
                let Some(class) = self.inner.table("pg_class").await? else {
                    return self.inner.table(name).await;
                };
                match crate::pg_relations::overlay(n, self.inner.as_ref(), class, &self.src.storage)
                    .await?
                {
                    Some(t) => Ok(Some(t)),
                    None => self.inner.table(name).await,
                }
            }
            _ => self.inner.table(name).await,
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        crate::pg_roles::TABLES.contains(&name) || self.inner.table_exist(name)
    }
}

/// `pg_collation` without the ICU collations (`collprovider = 'i'`, 871 of the 879 rows
/// datafusion-pg-catalog copies from a PostgreSQL built with ICU). Strata compares text
/// by its bytes and has none of them; listing them made psql's `\d t` cost half a second
/// and a few hundred megabytes: its column query's subquery over `pg_collation c,
/// pg_type t`, correlated on both, is decorrelated by DataFusion into an aggregate over
/// their cross product.
fn collations_without_icu(c: Arc<dyn TableProvider>) -> DfResult<Arc<dyn TableProvider>> {
    let plan = LogicalPlanBuilder::scan("pg_collation", provider_as_source(c), None)?
        .filter(Expr::Column(Column::from_name("collprovider")).not_eq(lit("i")))?
        .build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}

/// `pg_class` with `relkind = 'm'` for the relations listed in `pg_matviews`:
///
/// ```sql
/// SELECT c.oid, ..., CASE WHEN m.matviewname IS NOT NULL THEN 'm' ELSE c.relkind END, ...
/// FROM pg_class c LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
///   LEFT JOIN pg_matviews m ON m.schemaname = n.nspname AND m.matviewname = c.relname
/// ```
fn pg_class_with_matviews(
    class: Arc<dyn TableProvider>,
    ns: Arc<dyn TableProvider>,
    matviews: Arc<dyn TableProvider>,
) -> DfResult<Arc<dyn TableProvider>> {
    let qcol = |q: &str, name: &str| Expr::Column(Column::new(Some(q), name));
    let class_schema = class.schema();
    let ns = LogicalPlanBuilder::scan("n", provider_as_source(ns), None)?
        .project(vec![
            qcol("n", "oid").alias("ns_oid"),
            qcol("n", "nspname").alias("ns_name"),
        ])?
        .build()?;
    let mv = LogicalPlanBuilder::scan("m", provider_as_source(matviews), None)?
        .project(vec![
            qcol("m", "schemaname").alias("mv_schema"),
            qcol("m", "matviewname").alias("mv_name"),
        ])?
        .build()?;
    let projection = class_schema
        .fields()
        .iter()
        .map(|f| {
            if f.name() == "relkind" {
                Ok(when(
                    Expr::Column(Column::from_name("mv_name")).is_not_null(),
                    lit("m"),
                )
                .otherwise(qcol("c", "relkind"))?
                .alias("relkind"))
            } else {
                Ok(qcol("c", f.name()))
            }
        })
        .collect::<DfResult<Vec<_>>>()?;
    let plan = LogicalPlanBuilder::scan("c", provider_as_source(class), None)?
        .join(
            ns,
            JoinType::Left,
            (
                vec![Column::new(Some("c"), "relnamespace")],
                vec![Column::from_name("ns_oid")],
            ),
            None,
        )?
        .join(
            mv,
            JoinType::Left,
            (
                vec![
                    Column::from_name("ns_name"),
                    Column::new(Some("c"), "relname"),
                ],
                vec![Column::from_name("mv_schema"), Column::from_name("mv_name")],
            ),
            None,
        )?
        .project(projection)?
        .build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_width_is_days_then_time() {
        assert_eq!(
            micros_to_interval(7 * 86_400_000_000),
            IntervalMonthDayNano::new(0, 7, 0)
        );
        assert_eq!(
            micros_to_interval(86_400_000_000 + 3_600_000_000),
            IntervalMonthDayNano::new(0, 1, 3_600_000_000_000)
        );
    }

    #[test]
    fn record_fields_are_quoted_like_record_out() {
        assert_eq!(record_field(Some("1000")), "1000");
        assert_eq!(record_field(Some("7 days")), "\"7 days\"");
        assert_eq!(record_field(Some(r#"{"a": 1}"#)), r#""{""a"": 1}""#);
        assert_eq!(record_field(Some("")), "\"\"");
        assert_eq!(record_field(None), "");
    }

    #[test]
    fn intervals_print_as_postgres() {
        assert_eq!(interval_text("1 hour"), "01:00:00");
        assert_eq!(interval_text("1 day"), "1 day");
        assert_eq!(interval_text("not an interval"), "not an interval");
    }

    #[test]
    fn every_view_builds_on_an_empty_catalog() {
        let cat = CatalogState::default();
        for v in [
            View::Dimensions,
            View::ContinuousAggregates,
            View::Jobs,
            View::JobStats,
            View::JobErrors,
            View::PgMatviews,
        ] {
            let stats = Jobs::default();
            let cols = match v {
                View::Dimensions => dimensions(&cat),
                View::ContinuousAggregates => continuous_aggregates(&cat),
                View::Jobs => jobs(&cat, &stats),
                View::JobStats => job_stats(&cat, &stats),
                View::JobErrors => job_errors(&stats),
                _ => pg_matviews(&cat),
            };
            RecordBatch::try_new(v.schema(), cols).unwrap();
        }
    }
}
