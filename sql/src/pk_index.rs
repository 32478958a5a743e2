//! Primary keys in the emulated catalog, as PostgreSQL shows them: an index
//! `<table>_pkey` (a `pg_class` row with `relkind = 'i'`) and its `pg_index` row
//! (`indisprimary`, `indkey` = the key's attnums), which pgjdbc's `getPrimaryKeys` (and so
//! DBeaver and Metabase) reads with `information_schema._pg_expandarray(i.indkey)`.
//!
//! The index's oid is its table's plus [`INDEX_OID_OFFSET`].

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int16Array, Int16Builder, Int32Builder, ListArray, RecordBatch,
    StringArray, StructArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields, Schema};
use datafusion::catalog::MemTable;
use datafusion::catalog::view::ViewTable;
use datafusion::common::{Column, ScalarValue, plan_err};
use datafusion::datasource::{TableProvider, provider_as_source};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, Expr, JoinType, LogicalPlan, LogicalPlanBuilder, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility, cast, lit,
};
use strata_storage::Storage;

use crate::engine::SCHEMA;

/// Added to a table's oid to make its primary key index's oid.
pub const INDEX_OID_OFFSET: i32 = 1_000_000;

/// `(table, index name, indkey, number of key columns)` of every primary key, joined to
/// the table's `pg_class` row (`c`).
fn keys_with_class(
    storage: &Storage,
    class: Arc<dyn TableProvider>,
    ns: Arc<dyn TableProvider>,
) -> DfResult<LogicalPlan> {
    let (mut rels, mut names, mut keys, mut natts) = (vec![], vec![], vec![], vec![]);
    for t in storage.catalog().tables.iter().filter(|t| !t.internal) {
        if t.primary_key.is_empty() {
            continue;
        }
        let nums: Vec<String> = t
            .primary_key
            .iter()
            .filter_map(|k| t.column_index(k).map(|i| (i + 1).to_string()))
            .collect();
        rels.push(t.name.clone());
        names.push(format!("{}_pkey", t.name));
        keys.push(nums.join(" "));
        natts.push(i16::try_from(nums.len()).unwrap_or(i16::MAX));
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("pk_rel", DataType::Utf8, false),
        Field::new("pk_name", DataType::Utf8, false),
        Field::new("pk_key", DataType::Utf8, false),
        Field::new("pk_natts", DataType::Int16, false),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from(rels)),
            Arc::new(StringArray::from(names)),
            Arc::new(StringArray::from(keys)),
            Arc::new(Int16Array::from(natts)),
        ],
    )?;
    let pk = MemTable::try_new(schema, vec![vec![batch]])?;
    let qcol = |q: &str, name: &str| Expr::Column(Column::new(Some(q), name));
    let ns = LogicalPlanBuilder::scan("pkn", provider_as_source(ns), None)?
        .filter(qcol("pkn", "nspname").eq(lit(SCHEMA)))?
        .project(vec![qcol("pkn", "oid").alias("pk_ns_oid")])?
        .build()?;
    LogicalPlanBuilder::scan("pk", provider_as_source(Arc::new(pk)), None)?
        .join(
            LogicalPlanBuilder::scan("c", provider_as_source(class), None)?.build()?,
            JoinType::Inner,
            (
                vec![Column::new(Some("pk"), "pk_rel")],
                vec![Column::new(Some("c"), "relname")],
            ),
            None,
        )?
        .join(
            ns,
            JoinType::Inner,
            (
                vec![Column::new(Some("c"), "relnamespace")],
                vec![Column::from_name("pk_ns_oid")],
            ),
            None,
        )?
        .build()
}

fn pk(name: &str) -> Expr {
    Expr::Column(Column::new(Some("pk"), name))
}

fn index_oid(dt: &DataType) -> Expr {
    cast(
        Expr::Column(Column::new(Some("c"), "oid")) + lit(INDEX_OID_OFFSET),
        dt.clone(),
    )
}

/// A typed NULL, or an empty value for a column that may not be NULL.
fn filler(f: &Field) -> DfResult<Expr> {
    let v = if f.is_nullable() {
        ScalarValue::try_from(f.data_type())?
    } else {
        match f.data_type() {
            DataType::Utf8 => ScalarValue::Utf8(Some(String::new())),
            DataType::Boolean => ScalarValue::Boolean(Some(false)),
            other => ScalarValue::new_zero(other)?,
        }
    };
    Ok(lit(v))
}

/// `pg_index` plus a row for every primary key.
pub fn pg_index_with_keys(
    index: Arc<dyn TableProvider>,
    class: Arc<dyn TableProvider>,
    ns: Arc<dyn TableProvider>,
    storage: &Storage,
) -> DfResult<Arc<dyn TableProvider>> {
    let schema = index.schema();
    let mut exprs = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let e = match f.name().as_str() {
            "indexrelid" => index_oid(f.data_type()),
            "indrelid" => cast(
                Expr::Column(Column::new(Some("c"), "oid")),
                f.data_type().clone(),
            ),
            "indnatts" | "indnkeyatts" => cast(pk("pk_natts"), f.data_type().clone()),
            "indisunique" | "indisprimary" | "indimmediate" | "indisvalid" | "indisready"
            | "indislive" => lit(true),
            "indkey" => pk("pk_key"),
            _ => filler(f)?,
        };
        exprs.push(e.alias(f.name()));
    }
    let keys = LogicalPlanBuilder::from(keys_with_class(storage, class, ns)?)
        .project(exprs)?
        .build()?;
    let plan = LogicalPlanBuilder::scan("i", provider_as_source(index), None)?
        .union(keys)?
        .build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}

/// `pg_class` (`class_view`, what clients see) plus an index row for every primary key
/// (`class` is the table the keys' tables are looked up in).
pub fn pg_class_with_keys(
    class_view: Arc<dyn TableProvider>,
    class: Arc<dyn TableProvider>,
    ns: Arc<dyn TableProvider>,
    storage: &Storage,
) -> DfResult<Arc<dyn TableProvider>> {
    let schema = class_view.schema();
    let mut exprs = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let e = match f.name().as_str() {
            "oid" => index_oid(f.data_type()),
            "relname" => pk("pk_name"),
            "relkind" => lit("i"),
            "relnatts" => cast(pk("pk_natts"), f.data_type().clone()),
            // btree
            "relam" => cast(lit(403), f.data_type().clone()),
            "reltype" | "relhasindex" | "relpages" | "reltuples" | "relallvisible" => filler(f)?,
            name => cast(
                Expr::Column(Column::new(Some("c"), name)),
                f.data_type().clone(),
            ),
        };
        exprs.push(e.alias(f.name()));
    }
    let keys = LogicalPlanBuilder::from(keys_with_class(storage, class, ns)?)
        .project(exprs)?
        .build()?;
    let plan = LogicalPlanBuilder::scan("cv", provider_as_source(class_view), None)?
        .union(keys)?
        .build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}

// ------------------------------------------------------------ _pg_expandarray

/// Name of the function `information_schema._pg_expandarray(a)` becomes (inside
/// `unnest(...)`, see `crate::rewrite`): the elements of an `int2vector` (text `"1 2"`) or
/// an array with their 1-based positions, as a list of `(x, n)` structs.
pub const EXPANDARRAY_FN: &str = "pg_expandarray";

#[derive(Debug, PartialEq, Eq, Hash)]
struct ExpandArray {
    sig: Signature,
}

fn struct_fields() -> Fields {
    Fields::from(vec![
        Field::new("x", DataType::Int16, true),
        Field::new("n", DataType::Int32, true),
    ])
}

fn item_field() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Struct(struct_fields()), true))
}

impl ScalarUDFImpl for ExpandArray {
    fn name(&self) -> &str {
        EXPANDARRAY_FN
    }
    fn signature(&self) -> &Signature {
        &self.sig
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::List(item_field()))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let n = args.number_rows;
        let Some(arg) = args.args.first() else {
            return plan_err!("_pg_expandarray takes one argument");
        };
        let a = arg.to_array(n)?;
        let texts = arrow::compute::cast(&a, &DataType::Utf8)?;
        let texts = texts.as_string::<i32>();
        let (mut xs, mut ns) = (Int16Builder::new(), Int32Builder::new());
        let mut lengths = Vec::with_capacity(n);
        for i in 0..n {
            if texts.is_null(i) {
                lengths.push(0);
                continue;
            }
            let body = texts.value(i).trim().trim_start_matches('{').trim_end_matches('}');
            let mut len = 0;
            for (k, part) in body
                .split([' ', ','])
                .filter(|p| !p.is_empty())
                .enumerate()
            {
                xs.append_option(part.trim().parse::<i16>().ok());
                ns.append_value(i32::try_from(k + 1).unwrap_or(i32::MAX));
                len += 1;
            }
            lengths.push(len);
        }
        let structs = StructArray::try_new(
            struct_fields(),
            vec![Arc::new(xs.finish()) as ArrayRef, Arc::new(ns.finish())],
            None,
        )?;
        let list = ListArray::try_new(
            item_field(),
            OffsetBuffer::from_lengths(lengths),
            Arc::new(structs),
            texts.nulls().cloned(),
        )?;
        Ok(ColumnarValue::Array(Arc::new(list)))
    }
}

/// The `pg_expandarray` function.
pub fn expandarray_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(ExpandArray {
        sig: Signature::any(1, Volatility::Immutable),
    })
}
