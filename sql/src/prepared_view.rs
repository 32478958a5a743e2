//! `pg_catalog.pg_prepared_statements`: the session's prepared statements, those of SQL
//! `PREPARE` and the named ones of the protocol's Parse, with PostgreSQL 15's columns.
//!
//! The session keeps the list ([`PreparedList`]); the table reads it when a query over it
//! runs (not when the query is planned: a cached plan sees later changes). Differences
//! from PostgreSQL, all documented in docs/architecture.md (Known gaps):
//! - `parameter_types` is a `text[]` of the `regtype` names (PostgreSQL: `regtype[]`,
//!   which prints the same);
//! - Strata plans a prepared query once, without parameter values, and binds values at
//!   each execution: every execution counts as a `generic_plans` one, `custom_plans`
//!   stays 0.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{
    ArrayRef, BooleanArray, Int64Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, Session};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

use crate::session::Prepared;

/// The relation this module provides.
pub const TABLE: &str = "pg_prepared_statements";

/// One prepared statement as the view shows it.
#[derive(Debug)]
pub struct PreparedEntry {
    /// None for an empty statement (a Parse of an empty query string).
    pub prepared: Option<Arc<Prepared>>,
    /// The text the client prepared (see the module docs for SQL `PREPARE`).
    pub statement: String,
    /// When it was prepared, microseconds since the Unix epoch.
    pub prepare_time: i64,
    pub from_sql: bool,
}

/// A session's prepared statements by name, shared with its `pg_prepared_statements`.
pub type PreparedList = Arc<parking_lot::RwLock<BTreeMap<String, PreparedEntry>>>;

/// Executions of one prepared statement (its `generic_plans`).
#[derive(Debug, Default)]
pub struct Executions(AtomicU64);

impl Executions {
    pub fn count(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self) -> i64 {
        i64::try_from(self.0.load(Ordering::Relaxed)).unwrap_or(i64::MAX)
    }
}

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("statement", DataType::Utf8, false),
        Field::new(
            "prepare_time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new(
            "parameter_types",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            false,
        ),
        Field::new("from_sql", DataType::Boolean, false),
        Field::new("generic_plans", DataType::Int64, false),
        Field::new("custom_plans", DataType::Int64, false),
    ]))
}

/// The rows of `list` now.
fn rows(list: &PreparedList) -> DfResult<RecordBatch> {
    let list = list.read();
    let mut types = ListBuilder::new(StringBuilder::new());
    for e in list.values() {
        for f in e.prepared.iter().flat_map(|p| &p.param_fields) {
            types
                .values()
                .append_value(crate::pg_functions::regtype_name(f));
        }
        types.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(list.keys())),
        Arc::new(StringArray::from_iter_values(
            list.values().map(|e| e.statement.as_str()),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(list.values().map(|e| e.prepare_time))
                .with_timezone("UTC"),
        ),
        Arc::new(types.finish()),
        Arc::new(BooleanArray::from_iter(
            list.values().map(|e| Some(e.from_sql)),
        )),
        Arc::new(Int64Array::from_iter_values(
            list.values()
                .map(|e| e.prepared.as_ref().map_or(0, |p| p.executions.get())),
        )),
        Arc::new(Int64Array::from_iter_values(list.values().map(|_| 0))),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}

/// The table over a session's [`PreparedList`].
#[derive(Debug)]
struct PreparedStatements {
    list: PreparedList,
    schema: SchemaRef,
}

#[async_trait]
impl TableProvider for PreparedStatements {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let batch = rows(&self.list)?;
        datafusion::datasource::memory::MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            Arc::clone(&self.schema),
            projection.cloned(),
        )
        .map(|e| e as Arc<dyn ExecutionPlan>)
    }
}

/// The context's `pg_catalog` plus [`TABLE`] over `list`.
#[derive(Debug)]
struct WithPreparedStatements {
    inner: Arc<dyn SchemaProvider>,
    table: Arc<PreparedStatements>,
}

#[async_trait]
impl SchemaProvider for WithPreparedStatements {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        if !names.iter().any(|n| n == TABLE) {
            names.push(TABLE.to_string());
        }
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if name.eq_ignore_ascii_case(TABLE) {
            return Ok(Some(Arc::clone(&self.table) as Arc<dyn TableProvider>));
        }
        self.inner.table(name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case(TABLE) || self.inner.table_exist(name)
    }
}

/// Adds `pg_catalog.pg_prepared_statements` over `list` to a session's context (nothing
/// when the context has no `pg_catalog`).
pub fn register(ctx: &SessionContext, list: &PreparedList) {
    let Some(catalog) = ctx.catalog(crate::engine::DATABASE) else {
        return;
    };
    let Some(inner) = catalog.schema("pg_catalog") else {
        return;
    };
    let table = Arc::new(PreparedStatements {
        list: Arc::clone(list),
        schema: schema(),
    });
    if let Err(e) = catalog.register_schema(
        "pg_catalog",
        Arc::new(WithPreparedStatements { inner, table }),
    ) {
        tracing::warn!(error = %e, "pg_prepared_statements unavailable");
    }
}
