//! What PostgreSQL's catalog says about Strata's tables beyond their columns' names and
//! types: NOT NULL (`pg_attribute.attnotnull`), defaults (`atthasdef`, `pg_attrdef`,
//! `pg_get_expr`) and primary keys, which PostgreSQL reports as a unique index plus a
//! constraint (`pg_class` rows with `relkind = 'i'`, `pg_index`, `pg_constraint`,
//! `pg_get_indexdef`, `pg_get_constraintdef`). psql's `\d t` and the BI tools' schema
//! discovery read these.
//!
//! datafusion-pg-catalog builds `pg_class`/`pg_attribute` from DataFusion's schemas (Arrow
//! fields are always nullable in Strata, and have no defaults) and ships static
//! `pg_index`/`pg_constraint`/`pg_attrdef` tables. Each of those is replaced, per query,
//! by a view over the crate's table joined with Strata's own facts (two tables read from
//! the storage catalog when the query executes). The replaced static tables held
//! PostgreSQL's rows for its own system catalogs only; they are not kept.
//!
//! **Oids.** Relations keep the crate's oids (joined by schema and name). An index,
//! constraint or default has an oid derived from the table's storage id (never reused),
//! so it is the same in every session and after a restart: `OID_BASE + id * 2048` plus
//! the column number (a default), [`INDEX_SLOT`] (the key's index) or
//! [`CONSTRAINT_SLOT`] (its constraint).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Int16Array, Int32Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::SchemaProvider;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::catalog::view::ViewTable;
use datafusion::common::Column;
use datafusion::datasource::TableProvider;
use datafusion::error::Result as DfResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::expr::FieldMetadata;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::SessionContext;
use strata_storage::schema::ColumnDefault;
use strata_storage::{CatalogState, Storage, TableDef};

use crate::engine::{DATABASE, SCHEMA};

/// `pg_class.reloptions` of every relation: Strata takes no storage parameters.
const NO_OPTIONS: &str = "CAST(NULL AS VARCHAR[])";
const OID_BASE: i64 = 1_000_000_000;
const OIDS_PER_TABLE: i64 = 2048;
/// Oid offset of a table's primary key index.
const INDEX_SLOT: i64 = 2000;
/// Oid offset of a table's primary key constraint.
const CONSTRAINT_SLOT: i64 = 2001;

fn oid(t: &TableDef, slot: i64) -> Option<i32> {
    let id = i64::try_from(t.id.as_u64()).ok()?;
    let v = id
        .checked_mul(OIDS_PER_TABLE)?
        .checked_add(OID_BASE + slot)?;
    i32::try_from(v).ok()
}

/// The oid of relation `name` in schema `schema` (not of `pg_catalog`'s static rows):
/// datafusion-pg-catalog numbers relations in the order a session first lists them, so
/// the same table had different oids in two sessions. A hash of the qualified name
/// (FNV-1a) into `[16384, OID_BASE)` is the same in every session and after a restart
/// (a rename changes it; a collision between two relations is possible but unlikely).
pub fn rel_oid(schema: &str, name: &str) -> i32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in schema.bytes().chain([0]).chain(name.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let span = (OID_BASE - 16384) as u64;
    (16384 + (h % span) as i64) as i32
}

fn rel_oid_udf() -> datafusion::logical_expr::ScalarUDF {
    use arrow::array::AsArray;
    crate::pg_functions::array_udf(
        "strata_rel_oid",
        datafusion::logical_expr::Signature::exact(
            vec![DataType::Utf8, DataType::Utf8],
            datafusion::logical_expr::Volatility::Immutable,
        ),
        DataType::Int32,
        |a, n| {
            let (s, r) = (a[0].as_string::<i32>(), a[1].as_string::<i32>());
            let out: Int32Array = (0..n)
                .map(|i| (!s.is_null(i) && !r.is_null(i)).then(|| rel_oid(s.value(i), r.value(i))))
                .collect();
            Ok(Arc::new(out) as ArrayRef)
        },
    )
}

/// Every relation the catalog shows, as (schema, name): Strata's relations in `public`,
/// `pg_catalog`'s tables (`catalog_tables`), the `timescaledb_information` views and
/// `information_schema`'s.
fn relations(storage: &Storage, catalog_tables: &[String]) -> Vec<(String, String)> {
    let cat = storage.catalog();
    let mut v: Vec<(String, String)> = user_tables(&cat)
        .map(|t| t.name.clone())
        .chain(cat.views.iter().map(|x| x.name.clone()))
        .chain(cat.caggs.iter().map(|x| x.name.clone()))
        .map(|n| (SCHEMA.to_string(), n))
        .collect();
    v.extend(
        catalog_tables
            .iter()
            .map(|n| ("pg_catalog".to_string(), n.clone())),
    );
    v.extend(
        crate::tsdb_info::INFO_VIEW_NAMES
            .iter()
            .map(|n| (crate::tsdb_info::INFO_SCHEMA.to_string(), n.to_string())),
    );
    v.extend(
        datafusion::catalog::information_schema::INFORMATION_SCHEMA_TABLES
            .iter()
            .chain(KEY_VIEWS)
            .map(|n| ("information_schema".to_string(), n.to_string())),
    );
    v
}

/// `text::regclass` at run time (a literal is resolved before planning by
/// `crate::regcast`): the oid of the relation named, looked up in `pg_catalog` then
/// `public` when unqualified; 42P01 if there is none.
fn regclass_of(rels: &[(String, String)], text: &str) -> DfResult<i32> {
    let parts = crate::regcast::name_parts(text).unwrap_or_default();
    let found = match parts.as_slice() {
        [rel] => ["pg_catalog", SCHEMA]
            .iter()
            .find(|s| rels.iter().any(|(a, b)| a == *s && b == rel))
            .map(|s| rel_oid(s, rel)),
        [schema, rel] | [_, schema, rel] => rels
            .iter()
            .any(|(a, b)| a == schema && b == rel)
            .then(|| rel_oid(schema, rel)),
        _ => None,
    };
    found.ok_or_else(|| {
        datafusion::error::DataFusionError::External(Box::new(crate::error::Error::user(
            crate::error::SqlState::UndefinedTable,
            format!("relation \"{text}\" does not exist"),
        )))
    })
}

/// `oid::regclass::text`: the relation's name, schema-qualified unless it is in `public`
/// or `pg_catalog` (on the search path); an unknown oid prints as its number.
fn regclass_name(rels: &[(String, String)], oid: i64) -> String {
    match rels.iter().find(|(s, n)| i64::from(rel_oid(s, n)) == oid) {
        Some((s, n)) if s == SCHEMA || s == "pg_catalog" => crate::pg_functions::quote_ident(n),
        Some((s, n)) => format!(
            "{}.{}",
            crate::pg_functions::quote_ident(s),
            crate::pg_functions::quote_ident(n)
        ),
        None => oid.to_string(),
    }
}

/// Whether relation `oid` is visible without a schema (`pg_table_is_visible`): relations
/// of `public` and `pg_catalog` are; those of `timescaledb_information` and
/// `information_schema` (not on the search path) are not.
fn table_is_visible(oid: i64) -> bool {
    let hidden = crate::tsdb_info::INFO_VIEW_NAMES
        .iter()
        .map(|n| (crate::tsdb_info::INFO_SCHEMA, *n))
        .chain(
            datafusion::catalog::information_schema::INFORMATION_SCHEMA_TABLES
                .iter()
                .map(|n| ("information_schema", *n)),
        );
    !hidden
        .into_iter()
        .any(|(s, n)| i64::from(rel_oid(s, n)) == oid)
}

/// `information_schema.columns`' `data_type` and `udt_name` of a PostgreSQL type name as
/// `format_type` prints it (`numeric(10,2)`, `timestamp with time zone`).
fn info_type(regtype: &str) -> (String, String) {
    let base = regtype.split('(').next().unwrap_or(regtype).trim();
    let udt = match base {
        "smallint" => "int2",
        "integer" => "int4",
        "bigint" => "int8",
        "real" => "float4",
        "double precision" => "float8",
        "boolean" => "bool",
        "timestamp with time zone" => "timestamptz",
        "timestamp without time zone" => "timestamp",
        "time without time zone" => "time",
        "character varying" => "varchar",
        "character" => "bpchar",
        other => other,
    };
    (base.to_string(), udt.to_string())
}

/// `pg_attribute.atttypid` of a column of type `regtype` (as `format_type` prints it):
/// the crate derives it from the Arrow type, which loses `jsonb`/`json` (text). (The
/// column's `atttypmod` is `strata_pgtypes::oid::type_modifier`, as in RowDescription.)
fn type_oid(regtype: &str) -> Option<i32> {
    let base = regtype.split('(').next().unwrap_or(regtype).trim();
    let oid = match base {
        "smallint" => 21,
        "integer" => 23,
        "bigint" => 20,
        "real" => 700,
        "double precision" => 701,
        "numeric" => 1700,
        "text" => 25,
        "boolean" => 16,
        "date" => 1082,
        "timestamp with time zone" => 1184,
        "timestamp without time zone" => 1114,
        "time without time zone" => 1083,
        "interval" => 1186,
        "bytea" => 17,
        "json" => 114,
        "jsonb" => 3802,
        "uuid" => 2950,
        "character varying" => 1043,
        "character" => 1042,
        _ => return None,
    };
    Some(oid)
}

fn user_tables(cat: &CatalogState) -> impl Iterator<Item = &Arc<TableDef>> {
    cat.tables.iter().filter(|t| !t.internal)
}

/// Name PostgreSQL gives a table's primary key (`<table>_pkey`).
fn pkey_name(t: &TableDef) -> String {
    format!("{}_pkey", t.name)
}

fn key_columns(t: &TableDef) -> String {
    t.primary_key
        .iter()
        .map(|c| crate::pg_functions::quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `pg_get_indexdef(oid)` of a primary key index, PostgreSQL's text: the table is
/// schema-qualified unless `pretty` (then only when not visible; `public` is).
fn index_def(t: &TableDef, pretty: bool) -> String {
    format!(
        "CREATE UNIQUE INDEX {} ON {}{} USING btree ({})",
        crate::pg_functions::quote_ident(&pkey_name(t)),
        if pretty {
            String::new()
        } else {
            format!("{SCHEMA}.")
        },
        crate::pg_functions::quote_ident(&t.name),
        key_columns(t)
    )
}

/// A column default as `pg_get_expr` prints it: numbers and booleans bare (negative
/// numbers as a cast literal), other constants as `'text'::type`, `now()`.
fn default_text(t: &TableDef, i: usize) -> Option<String> {
    let c = t.columns.get(i)?;
    let ty = crate::pg_functions::regtype_name(&c.arrow_field());
    Some(match c.default.as_ref()? {
        ColumnDefault::Now => "now()".to_string(),
        ColumnDefault::Literal(v) => {
            let numeric = matches!(
                ty.as_str(),
                "smallint" | "integer" | "bigint" | "real" | "double precision"
            ) || ty.starts_with("numeric");
            if numeric && v.parse::<f64>().is_ok_and(|x| x >= 0.0) && !v.contains(['e', 'E']) {
                v.clone()
            } else if ty == "boolean" && matches!(v.as_str(), "true" | "false") {
                v.clone()
            } else {
                format!("'{}'::{}", v.replace('\'', "''"), ty)
            }
        }
    })
}

/// Index and constraint definitions by oid, for `pg_get_indexdef`/`pg_get_constraintdef`.
fn definition(
    cat: &CatalogState,
    oid_value: i64,
    index: bool,
    column: i64,
    pretty: bool,
) -> Option<String> {
    let slot = if index { INDEX_SLOT } else { CONSTRAINT_SLOT };
    let t = user_tables(cat)
        .filter(|t| !t.primary_key.is_empty())
        .find(|t| oid(t, slot).map(i64::from) == Some(oid_value))?;
    if !index {
        return Some(format!("PRIMARY KEY ({})", key_columns(t)));
    }
    if column > 0 {
        let c = t.primary_key.get(usize::try_from(column - 1).ok()?)?;
        return Some(crate::pg_functions::quote_ident(c));
    }
    Some(index_def(t, pretty))
}

/// The facts the catalog views join with.
#[derive(Debug, Clone, Copy)]
enum Facts {
    /// One row per column of a user table.
    Columns,
    /// One row per primary key.
    Keys,
    /// One row per column of a primary key.
    KeyColumns,
    /// One row per user table, with its row count.
    Tables,
}

impl Facts {
    fn schema(self) -> SchemaRef {
        let s = |n: &str| Field::new(n, DataType::Utf8, true);
        let i32f = |n: &str| Field::new(n, DataType::Int32, true);
        Arc::new(Schema::new(match self {
            Facts::Columns => vec![
                s("nspname"),
                s("relname"),
                s("attname"),
                Field::new("attnum", DataType::Int16, true),
                Field::new("notnull", DataType::Boolean, true),
                s("defexpr"),
                i32f("def_oid"),
                s("data_type"),
                s("udt_name"),
                i32f("typid"),
                i32f("typmod"),
            ],
            Facts::Keys => vec![
                s("nspname"),
                s("relname"),
                s("conname"),
                i32f("index_oid"),
                i32f("con_oid"),
                Field::new("nkeys", DataType::Int16, true),
                s("indkey"),
                s("conkey"),
            ],
            Facts::KeyColumns => vec![
                s("nspname"),
                s("relname"),
                s("conname"),
                s("attname"),
                i32f("position"),
            ],
            Facts::Tables => vec![
                s("nspname"),
                s("relname"),
                Field::new("rows", DataType::Int64, true),
            ],
        }))
    }

    fn rows(self, storage: &Storage) -> DfResult<RecordBatch> {
        let cat = storage.catalog();
        let schema = self.schema();
        let cols: Vec<ArrayRef> = match self {
            Facts::Columns => {
                let mut rel = vec![];
                let mut att = vec![];
                let mut num = vec![];
                let mut nn = vec![];
                let mut def = vec![];
                let mut def_oid = vec![];
                let mut data_type = vec![];
                let mut udt = vec![];
                let mut typid = vec![];
                let mut typmod = vec![];
                for t in user_tables(&cat) {
                    for (i, c) in t.columns.iter().enumerate() {
                        let field = c.arrow_field();
                        let regtype = crate::pg_functions::regtype_name(&field);
                        let id = type_oid(&regtype);
                        // numeric(p, s), varchar(n), char(n): what RowDescription sends too
                        let m = id.map(|_| strata_pgtypes::oid::type_modifier(&field));
                        typid.push(id);
                        typmod.push(m);
                        let (d, u) = info_type(&regtype);
                        data_type.push(d);
                        udt.push(u);
                        let attnum = i16::try_from(i + 1).ok();
                        rel.push(t.name.clone());
                        att.push(c.name.clone());
                        num.push(attnum);
                        nn.push(!c.nullable);
                        let d = default_text(t, i);
                        def_oid.push(d.as_ref().and_then(|_| oid(t, i as i64 + 1)));
                        def.push(d);
                    }
                }
                let n = rel.len();
                vec![
                    Arc::new(StringArray::from(vec![SCHEMA; n])),
                    Arc::new(StringArray::from(rel)),
                    Arc::new(StringArray::from(att)),
                    Arc::new(Int16Array::from(num)),
                    Arc::new(BooleanArray::from(nn)),
                    Arc::new(StringArray::from(def)),
                    Arc::new(Int32Array::from(def_oid)),
                    Arc::new(StringArray::from(data_type)),
                    Arc::new(StringArray::from(udt)),
                    Arc::new(Int32Array::from(typid)),
                    Arc::new(Int32Array::from(typmod)),
                ]
            }
            Facts::Keys => {
                let mut rel = vec![];
                let mut con = vec![];
                let mut idx_oid = vec![];
                let mut con_oid = vec![];
                let mut nkeys = vec![];
                let mut indkey = vec![];
                let mut conkey = vec![];
                for t in user_tables(&cat).filter(|t| !t.primary_key.is_empty()) {
                    let nums: Vec<String> = t
                        .primary_key
                        .iter()
                        .filter_map(|k| t.columns.iter().position(|c| &c.name == k))
                        .map(|p| (p + 1).to_string())
                        .collect();
                    rel.push(t.name.clone());
                    con.push(pkey_name(t));
                    idx_oid.push(oid(t, INDEX_SLOT));
                    con_oid.push(oid(t, CONSTRAINT_SLOT));
                    nkeys.push(i16::try_from(nums.len()).ok());
                    indkey.push(nums.join(" "));
                    conkey.push(format!("{{{}}}", nums.join(",")));
                }
                let n = rel.len();
                vec![
                    Arc::new(StringArray::from(vec![SCHEMA; n])),
                    Arc::new(StringArray::from(rel)),
                    Arc::new(StringArray::from(con)),
                    Arc::new(Int32Array::from(idx_oid)),
                    Arc::new(Int32Array::from(con_oid)),
                    Arc::new(Int16Array::from(nkeys)),
                    Arc::new(StringArray::from(indkey)),
                    Arc::new(StringArray::from(conkey)),
                ]
            }
            Facts::KeyColumns => {
                let mut rel = vec![];
                let mut con = vec![];
                let mut att = vec![];
                let mut pos = vec![];
                for t in user_tables(&cat) {
                    for (i, k) in t.primary_key.iter().enumerate() {
                        rel.push(t.name.clone());
                        con.push(pkey_name(t));
                        att.push(k.clone());
                        pos.push(i32::try_from(i + 1).ok());
                    }
                }
                let n = rel.len();
                vec![
                    Arc::new(StringArray::from(vec![SCHEMA; n])),
                    Arc::new(StringArray::from(rel)),
                    Arc::new(StringArray::from(con)),
                    Arc::new(StringArray::from(att)),
                    Arc::new(Int32Array::from(pos)),
                ]
            }
            Facts::Tables => {
                let mut rel = vec![];
                let mut rows = vec![];
                for t in user_tables(&cat) {
                    rel.push(t.name.clone());
                    rows.push(crate::sizes::sizes(storage, &t.name).ok().map(|s| s.rows));
                }
                let n = rel.len();
                vec![
                    Arc::new(StringArray::from(vec![SCHEMA; n])),
                    Arc::new(StringArray::from(rel)),
                    Arc::new(arrow::array::Int64Array::from(rows)),
                ]
            }
        };
        Ok(RecordBatch::try_new(schema, cols)?)
    }

    fn provider(self, storage: &Arc<Storage>) -> DfResult<Arc<dyn TableProvider>> {
        let schema = self.schema();
        Ok(Arc::new(StreamingTable::try_new(
            Arc::clone(&schema),
            vec![Arc::new(LiveFacts {
                facts: self,
                schema,
                storage: Arc::clone(storage),
            })],
        )?))
    }
}

#[derive(Debug)]
struct LiveFacts {
    facts: Facts,
    schema: SchemaRef,
    storage: Arc<Storage>,
}

impl PartitionStream for LiveFacts {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (facts, storage) = (self.facts, Arc::clone(&self.storage));
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            futures::stream::once(async move { facts.rows(&storage) }),
        ))
    }
}

/// `SELECT <one expression per column of target> FROM <from>`: a column named in
/// `overrides` gets that expression, any other `<fallback>.<column>` (or NULL without a
/// fallback), each cast to the target column's type so that the result has its schema.
fn select_as(
    target: &SchemaRef,
    overrides: &[(&str, &str)],
    fallback: Option<&str>,
    from: &str,
) -> String {
    let items: Vec<String> = target
        .fields()
        .iter()
        .map(|f| {
            let e = match overrides.iter().find(|(n, _)| *n == f.name()) {
                Some((_, e)) => e.to_string(),
                None => match fallback {
                    Some(q) => format!("{q}.\"{}\"", f.name()),
                    None => "NULL".to_string(),
                },
            };
            match f.data_type() {
                DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::Boolean
                | DataType::Utf8
                | DataType::Float32
                | DataType::Float64 => {
                    format!("arrow_cast({e}, '{}') AS \"{}\"", f.data_type(), f.name())
                }
                _ => format!("{e} AS \"{}\"", f.name()),
            }
        })
        .collect();
    format!("SELECT {} FROM {from}", items.join(", "))
}

/// A view planned from `sql` (a [`select_as`] of `target`) over the given tables.
async fn view(
    sql: &str,
    target: &SchemaRef,
    tables: Vec<(&str, Arc<dyn TableProvider>)>,
) -> DfResult<Arc<dyn TableProvider>> {
    let ctx = SessionContext::new();
    ctx.register_udf(rel_oid_udf());
    for (n, t) in tables {
        ctx.register_table(n, t)?;
    }
    let plan = ctx.sql(sql).await?.into_unoptimized_plan();
    Ok(Arc::new(ViewTable::new(
        with_metadata_of(plan, target)?,
        None,
    )))
}

/// `plan` with the field metadata of `target`'s fields of the same names, which the casts
/// of [`select_as`] drop: the crate's marks on oid columns (`pg_class.oid`,
/// `pg_attribute.atttypid`, ...), which make clients see them as `oid`.
fn with_metadata_of(plan: LogicalPlan, target: &SchemaRef) -> DfResult<LogicalPlan> {
    if target.fields().iter().all(|f| f.metadata().is_empty()) {
        return Ok(plan);
    }
    let exprs: Vec<Expr> = plan
        .schema()
        .iter()
        .map(|(q, f)| {
            let c = Expr::Column(Column::from((q, f)));
            match target.field_with_name(f.name()) {
                Ok(t) if !t.metadata().is_empty() => {
                    c.alias_with_metadata(f.name(), Some(FieldMetadata::from(t.metadata().clone())))
                }
                _ => c,
            }
        })
        .collect();
    LogicalPlanBuilder::from(plan).project(exprs)?.build()
}

/// The stable oid of relation `c` in schema `n` (see [`rel_oid`]).
const REL_OID: &str = "coalesce(strata_rel_oid(n.nspname, c.relname), c.oid)";

/// Joins relation `c` (a `pg_class`) with its schema's name, for joining with the facts.
const CLASS_NS: &str = "pg_class_src c JOIN pg_namespace_src n ON n.oid = c.relnamespace";

/// The replacement for `pg_catalog.<name>`, if Strata overrides it. `class` is the
/// `pg_class` to show (already with materialized views), `inner` the crate's schema.
pub async fn overlay(
    name: &str,
    inner: &dyn SchemaProvider,
    class: Arc<dyn TableProvider>,
    storage: &Arc<Storage>,
) -> DfResult<Option<Arc<dyn TableProvider>>> {
    let Some(ns) = inner.table("pg_namespace").await? else {
        return Ok(None);
    };
    let columns = || Facts::Columns.provider(storage);
    let keys = || Facts::Keys.provider(storage);
    match name {
        "pg_class" => {
            // `reloptions` (none: NULL, as for a PostgreSQL table without WITH options),
            // which the crate's pg_class lacks (psql's `\d+`).
            let mut fields: Vec<Field> = class
                .schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            fields.push(Field::new(
                "reloptions",
                DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
                true,
            ));
            let schema: SchemaRef = Arc::new(Schema::new(fields));
            let index_rows = select_as(
                &schema,
                &[
                    ("oid", "k.index_oid"),
                    ("relname", "k.conname"),
                    ("relkind", "'i'"),
                    ("relam", "403"),
                    ("reltype", "0"),
                    ("relnatts", "k.nkeys"),
                    ("relhasindex", "false"),
                    ("relchecks", "0"),
                    ("reloptions", NO_OPTIONS),
                ],
                Some("c"),
                &format!(
                    "{CLASS_NS} JOIN strata_keys k ON k.nspname = n.nspname AND k.relname = c.relname"
                ),
            );
            let relations = select_as(
                &schema,
                &[
                    ("oid", REL_OID),
                    ("relhasindex", "c.relhasindex OR k.conname IS NOT NULL"),
                    ("reloptions", NO_OPTIONS),
                    // Tables and materialized views use the `heap` access method (psql's
                    // `\d+` prints it).
                    (
                        "relam",
                        "CASE WHEN c.relkind IN ('r', 'm') THEN 2 ELSE c.relam END",
                    ),
                ],
                Some("c"),
                "pg_class_src c LEFT JOIN pg_namespace_src n ON n.oid = c.relnamespace \
                 LEFT JOIN strata_keys k ON k.nspname = n.nspname AND k.relname = c.relname",
            );
            let sql = format!("{relations} UNION ALL {index_rows}");
            Ok(Some(
                view(
                    &sql,
                    &schema,
                    vec![
                        ("pg_class_src", class),
                        ("pg_namespace_src", ns),
                        ("strata_keys", keys()?),
                    ],
                )
                .await?,
            ))
        }
        // No row-level security policies; the crate's empty table types `polroles` as
        // text, which psql's `\d+` compares with `oid = any (pol.polroles)`.
        "pg_policy" => {
            let Some(src) = inner.table(name).await? else {
                return Ok(None);
            };
            let fields: Vec<Field> = src
                .schema()
                .fields()
                .iter()
                .map(|f| match f.name().as_str() {
                    "polroles" => Field::new(
                        "polroles",
                        DataType::List(Arc::new(Field::new_list_field(DataType::Int32, true))),
                        true,
                    ),
                    _ => f.as_ref().clone(),
                })
                .collect();
            let schema: SchemaRef = Arc::new(Schema::new(fields));
            let sql = select_as(
                &schema,
                &[("polroles", "CAST(NULL AS INT[])")],
                Some("p"),
                "policy_src p",
            );
            Ok(Some(view(&sql, &schema, vec![("policy_src", src)]).await?))
        }
        // The crate reports every table owned by `postgres`; the one role owns them.
        "pg_tables" => {
            let Some(src) = inner.table(name).await? else {
                return Ok(None);
            };
            let owner = format!("'{}'", crate::tsdb_info::OWNER);
            let sql = select_as(
                &src.schema(),
                &[("tableowner", &owner)],
                Some("t"),
                "tables_src t",
            );
            Ok(Some(
                view(&sql, &src.schema(), vec![("tables_src", src)]).await?,
            ))
        }
        // One row per user table: counters 0 (Strata keeps none), `n_live_tup` its rows.
        "pg_stat_user_tables" => {
            let Some(src) = inner.table(name).await? else {
                return Ok(None);
            };
            let schema = src.schema();
            let mut overrides: Vec<(&str, &str)> = schema
                .fields()
                .iter()
                .filter(|f| f.data_type() == &DataType::Int64)
                .map(|f| (f.name().as_str(), "0"))
                .collect();
            overrides.retain(|(n, _)| *n != "n_live_tup");
            overrides.extend([
                ("relid", "strata_rel_oid(t.nspname, t.relname)"),
                ("schemaname", "t.nspname"),
                ("relname", "t.relname"),
                ("n_live_tup", "t.rows"),
            ]);
            let sql = select_as(&schema, &overrides, None, "strata_tables t");
            Ok(Some(
                view(
                    &sql,
                    &schema,
                    vec![("strata_tables", Facts::Tables.provider(storage)?)],
                )
                .await?,
            ))
        }
        // `public` belongs to pg_database_owner in PostgreSQL 15 (`\dn`).
        "pg_namespace" => {
            let sql = select_as(
                &ns.schema(),
                &[(
                    "nspowner",
                    &format!(
                        "CASE WHEN n.nspname = '{SCHEMA}' THEN {} ELSE n.nspowner END",
                        crate::pg_functions::PG_DATABASE_OWNER
                    ),
                )],
                Some("n"),
                "pg_namespace_src n",
            );
            Ok(Some(
                view(&sql, &ns.schema(), vec![("pg_namespace_src", ns)]).await?,
            ))
        }
        "pg_attribute" => {
            let Some(attr) = inner.table("pg_attribute").await? else {
                return Ok(None);
            };
            let attr_schema = attr.schema();
            let sql = select_as(
                &attr.schema(),
                &[
                    (
                        "attrelid",
                        "coalesce(strata_rel_oid(r.nspname, r.relname), a.attrelid)",
                    ),
                    ("atttypid", "coalesce(s.typid, a.atttypid)"),
                    ("atttypmod", "coalesce(s.typmod, a.atttypmod)"),
                    // A view's columns are never NOT NULL in PostgreSQL (the crate takes
                    // the nullability of the view's plan: `count(*)`, constants).
                    (
                        "attnotnull",
                        "coalesce(s.notnull, CASE WHEN r.relkind = 'v' THEN false ELSE a.attnotnull END)",
                    ),
                    ("atthasdef", "coalesce(s.defexpr IS NOT NULL, a.atthasdef)"),
                ],
                Some("a"),
                &format!(
                    "attr a LEFT JOIN ({}) r ON r.oid = a.attrelid \
                     LEFT JOIN strata_cols s ON s.nspname = r.nspname AND s.relname = r.relname \
                     AND s.attname = a.attname",
                    "SELECT c.oid, n.nspname, c.relname, c.relkind FROM pg_class_src c \
                     JOIN pg_namespace_src n ON n.oid = c.relnamespace"
                ),
            );
            // A primary key index's columns: its table's key columns, numbered in key order.
            let index_sql = select_as(
                &attr.schema(),
                &[
                    ("attrelid", "k.index_oid"),
                    ("attnum", "kc.position"),
                    ("atttypid", "coalesce(s.typid, a.atttypid)"),
                    ("atttypmod", "coalesce(s.typmod, a.atttypmod)"),
                    ("attnotnull", "coalesce(s.notnull, a.attnotnull)"),
                    ("atthasdef", "false"),
                ],
                Some("a"),
                "attr a JOIN (SELECT c.oid, n.nspname, c.relname FROM pg_class_src c \
                 JOIN pg_namespace_src n ON n.oid = c.relnamespace) r ON r.oid = a.attrelid \
                 JOIN strata_cols s ON s.nspname = r.nspname AND s.relname = r.relname \
                 AND s.attname = a.attname \
                 JOIN strata_key_columns kc ON kc.nspname = r.nspname \
                 AND kc.relname = r.relname AND kc.attname = a.attname \
                 JOIN strata_keys k ON k.nspname = r.nspname AND k.relname = r.relname",
            );
            Ok(Some(
                view(
                    &format!("{sql} UNION ALL {index_sql}"),
                    &attr_schema,
                    vec![
                        ("attr", attr),
                        ("pg_class_src", class),
                        ("pg_namespace_src", ns),
                        ("strata_cols", columns()?),
                        ("strata_keys", keys()?),
                        ("strata_key_columns", Facts::KeyColumns.provider(storage)?),
                    ],
                )
                .await?,
            ))
        }
        "pg_attrdef" | "pg_index" | "pg_constraint" => {
            let Some(src) = inner.table(name).await? else {
                return Ok(None);
            };
            let (overrides, from): (&[(&str, &str)], &str) = match name {
                "pg_attrdef" => (
                    &[
                        ("oid", "s.def_oid"),
                        ("adrelid", REL_OID),
                        ("adnum", "s.attnum"),
                        ("adbin", "s.defexpr"),
                    ],
                    "strata_cols s ON s.nspname = n.nspname AND s.relname = c.relname \
                     WHERE s.defexpr IS NOT NULL",
                ),
                "pg_index" => (
                    &[
                        ("indexrelid", "k.index_oid"),
                        ("indrelid", REL_OID),
                        ("indnatts", "k.nkeys"),
                        ("indnkeyatts", "k.nkeys"),
                        ("indisunique", "true"),
                        ("indnullsnotdistinct", "false"),
                        ("indisprimary", "true"),
                        ("indisexclusion", "false"),
                        ("indimmediate", "true"),
                        ("indisclustered", "false"),
                        ("indisvalid", "true"),
                        ("indcheckxmin", "false"),
                        ("indisready", "true"),
                        ("indislive", "true"),
                        ("indisreplident", "false"),
                        ("indkey", "k.indkey"),
                    ],
                    "strata_keys k ON k.nspname = n.nspname AND k.relname = c.relname",
                ),
                _ => (
                    &[
                        ("oid", "k.con_oid"),
                        ("conname", "k.conname"),
                        ("connamespace", "n.oid"),
                        ("contype", "'p'"),
                        ("condeferrable", "false"),
                        ("condeferred", "false"),
                        ("convalidated", "true"),
                        ("conrelid", REL_OID),
                        ("contypid", "0"),
                        ("conindid", "k.index_oid"),
                        ("conparentid", "0"),
                        ("confrelid", "0"),
                        ("confupdtype", "' '"),
                        ("confdeltype", "' '"),
                        ("confmatchtype", "' '"),
                        ("conislocal", "true"),
                        ("coninhcount", "0"),
                        ("connoinherit", "true"),
                        ("conkey", "k.conkey"),
                    ],
                    "strata_keys k ON k.nspname = n.nspname AND k.relname = c.relname",
                ),
            };
            let sql = select_as(
                &src.schema(),
                overrides,
                None,
                &format!("{CLASS_NS} JOIN {from}"),
            );
            Ok(Some(
                view(
                    &sql,
                    &src.schema(),
                    vec![
                        ("pg_class_src", class),
                        ("pg_namespace_src", ns),
                        ("strata_cols", columns()?),
                        ("strata_keys", keys()?),
                    ],
                )
                .await?,
            ))
        }
        _ => Ok(None),
    }
}

/// `information_schema` views about primary keys (PostgreSQL also lists NOT NULL columns
/// as CHECK constraints in `table_constraints`; Strata lists keys only).
pub const KEY_VIEWS: &[&str] = &["table_constraints", "key_column_usage"];

/// `information_schema.table_constraints` / `key_column_usage` (see [`KEY_VIEWS`]) over
/// Strata's primary keys; None for other names.
pub async fn key_view(
    name: &str,
    storage: &Arc<Storage>,
) -> DfResult<Option<Arc<dyn TableProvider>>> {
    let sql = match name {
        "table_constraints" => format!(
            "SELECT '{DATABASE}' AS constraint_catalog, k.nspname AS constraint_schema, \
             k.conname AS constraint_name, '{DATABASE}' AS table_catalog, \
             k.nspname AS table_schema, k.relname AS table_name, \
             'PRIMARY KEY' AS constraint_type, 'NO' AS is_deferrable, \
             'NO' AS initially_deferred, 'YES' AS enforced, \
             arrow_cast(NULL, 'Utf8') AS nulls_distinct FROM strata_keys k"
        ),
        "key_column_usage" => format!(
            "SELECT '{DATABASE}' AS constraint_catalog, k.nspname AS constraint_schema, \
             k.conname AS constraint_name, '{DATABASE}' AS table_catalog, \
             k.nspname AS table_schema, k.relname AS table_name, \
             k.attname AS column_name, k.position AS ordinal_position, \
             arrow_cast(NULL, 'Int32') AS position_in_unique_constraint \
             FROM strata_key_columns k"
        ),
        _ => return Ok(None),
    };
    let ctx = SessionContext::new();
    ctx.register_table("strata_keys", Facts::Keys.provider(storage)?)?;
    ctx.register_table("strata_key_columns", Facts::KeyColumns.provider(storage)?)?;
    let plan = ctx.sql(&sql).await?.into_unoptimized_plan();
    Ok(Some(Arc::new(ViewTable::new(plan, None))))
}

/// Registers `pg_get_indexdef` and `pg_get_constraintdef` answering for primary keys
/// (NULL for any other oid), replacing the NULL-only ones of `pg_functions`, and
/// `pg_table_is_visible` (by schema).
pub fn register(ctx: &SessionContext, storage: &Arc<Storage>) {
    use arrow::array::AsArray;
    use arrow::compute::cast;
    let visible = crate::pg_functions::array_udf(
        "pg_table_is_visible",
        datafusion::logical_expr::Signature::exact(
            vec![DataType::Int64],
            datafusion::logical_expr::Volatility::Stable,
        ),
        DataType::Boolean,
        |a, _| {
            let oids = cast(&a[0], &DataType::Int64)?;
            let out: BooleanArray = oids
                .as_primitive::<arrow::datatypes::Int64Type>()
                .iter()
                .map(|v| v.map(table_is_visible))
                .collect();
            Ok(Arc::new(out) as ArrayRef)
        },
    );
    ctx.register_udf(visible.with_aliases(["pg_catalog.pg_table_is_visible"]));
    // Every function is pg_catalog's (none is user-defined).
    ctx.register_udf(
        crate::pg_functions::array_udf(
            "pg_function_is_visible",
            datafusion::logical_expr::Signature::exact(
                vec![DataType::Int64],
                datafusion::logical_expr::Volatility::Stable,
            ),
            DataType::Boolean,
            |a, _| {
                let out: BooleanArray = (0..a[0].len())
                    .map(|i| (!a[0].is_null(i)).then_some(true))
                    .collect();
                Ok(Arc::new(out) as ArrayRef)
            },
        )
        .with_aliases(["pg_catalog.pg_function_is_visible"]),
    );
    ctx.register_udf(rel_oid_udf());
    let catalog_tables: Arc<Vec<String>> = Arc::new(
        ctx.catalog(DATABASE)
            .and_then(|c| c.schema("pg_catalog"))
            .map(|s| s.table_names())
            .unwrap_or_default(),
    );
    let (st, names) = (Arc::clone(storage), Arc::clone(&catalog_tables));
    ctx.register_udf(crate::pg_functions::array_udf(
        crate::regcast::REGCLASS_FN,
        crate::pg_functions::any_signature(&[1]),
        DataType::Int32,
        move |a, n| {
            if a[0].data_type().is_integer() || a[0].data_type() == &DataType::Null {
                return Ok(cast(&a[0], &DataType::Int32)?);
            }
            let text = cast(&a[0], &DataType::Utf8)?;
            let text = text.as_string::<i32>();
            let rels = relations(&st, &names);
            let out = (0..n)
                .map(|i| {
                    if text.is_null(i) {
                        Ok(None)
                    } else {
                        regclass_of(&rels, text.value(i)).map(Some)
                    }
                })
                .collect::<DfResult<Int32Array>>()?;
            Ok(Arc::new(out) as ArrayRef)
        },
    ));
    let (st, names) = (Arc::clone(storage), catalog_tables);
    ctx.register_udf(crate::pg_functions::array_udf(
        crate::regcast::REGCLASS_NAME_FN,
        crate::pg_functions::any_signature(&[1]),
        DataType::Utf8,
        move |a, _| {
            let oids = cast(&a[0], &DataType::Int64)?;
            let rels = relations(&st, &names);
            let out: StringArray = oids
                .as_primitive::<arrow::datatypes::Int64Type>()
                .iter()
                .map(|v| v.map(|v| regclass_name(&rels, v)))
                .collect();
            Ok(Arc::new(out) as ArrayRef)
        },
    ));
    for (name, index, arities) in [
        ("pg_get_indexdef", true, &[1usize, 3][..]),
        ("pg_get_constraintdef", false, &[1, 2][..]),
    ] {
        let st = Arc::clone(storage);
        ctx.register_udf(crate::pg_functions::array_udf(
            name,
            crate::pg_functions::any_signature(arities),
            DataType::Utf8,
            move |a, n| {
                let cat = st.catalog();
                let oids = cast(&a[0], &DataType::Int64)?;
                let oids = oids.as_primitive::<arrow::datatypes::Int64Type>();
                let cols = match a.get(1).filter(|_| index) {
                    Some(c) => Some(cast(c, &DataType::Int64)?),
                    None => None,
                };
                let pretty = match a.get(if index { 2 } else { 1 }) {
                    Some(p) => Some(cast(p, &DataType::Boolean)?),
                    None => None,
                };
                let out: StringArray = (0..n)
                    .map(|i| {
                        if oids.is_null(i) {
                            return None;
                        }
                        let col = cols
                            .as_ref()
                            .map(|c| c.as_primitive::<arrow::datatypes::Int64Type>().value(i))
                            .unwrap_or(0);
                        let pretty = pretty
                            .as_ref()
                            .is_some_and(|p| p.as_boolean().value(i) && !p.is_null(i));
                        definition(&cat, oids.value(i), index, col, pretty)
                    })
                    .collect();
                Ok(Arc::new(out) as ArrayRef)
            },
        ));
    }
}
