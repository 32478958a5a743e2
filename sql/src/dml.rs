//! INSERT and DELETE.
//!
//! INSERT has two paths. The fast path ([`crate::fast_insert`]) turns `VALUES` lists of
//! literals and `$n` parameters straight into Arrow arrays with PostgreSQL's input syntax,
//! with no DataFusion planning. Everything else (`INSERT ... SELECT`, expressions in
//! VALUES) is planned by DataFusion, and the result is converted to the table's types.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, new_null_array};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::LogicalPlan;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::prelude::SessionContext;
use sqlparser::ast;
use strata_storage::{ColumnDefault, ColumnType, Storage, TableDef};

use crate::ddl::{ident_name, object_name};
use crate::error::{Error, Result, SqlState};

/// Checks that `s` is valid input for a column of type `ty` (used for DEFAULTs).
pub fn validate_literal(s: &str, ty: ColumnType) -> Result<()> {
    let field = strata_storage::ColumnDef {
        name: "v".into(),
        ty,
        nullable: true,
        default: None,
        max_length: None,
    }
    .arrow_field();
    let mut b = strata_pgtypes::decode::ColumnBuilder::new(
        &field,
        1,
        strata_pgtypes::tz::TimeZoneSetting::UTC,
    );
    b.append_text(s)
        .map_err(|e| Error::user(sqlstate_of_code(e.sqlstate), e.message))
}

/// Maps a five-character code from the codec to our enum.
pub fn sqlstate_of_code(code: &str) -> SqlState {
    SqlState::ALL
        .iter()
        .copied()
        .find(|s| s.code() == code)
        .unwrap_or(SqlState::InvalidTextRepresentation)
}

/// Resolves the INSERT target: table definition and the target column indexes in order.
pub fn insert_target(storage: &Storage, ins: &ast::Insert) -> Result<(Arc<TableDef>, Vec<usize>)> {
    let name = match &ins.table {
        ast::TableObject::TableName(n) => object_name(n)?,
        other => return Err(Error::unsupported(format!("INSERT INTO {other}"))),
    };
    let cat = storage.catalog();
    let Some(def) = cat.table(&name) else {
        if cat.view(&name).is_some() {
            return Err(Error::user(
                SqlState::WrongObjectType,
                format!("cannot insert into view \"{name}\""),
            ));
        }
        return Err(Error::user(
            SqlState::UndefinedTable,
            format!("relation \"{name}\" does not exist"),
        ));
    };
    let cols = target_columns(
        def,
        &ins.columns
            .iter()
            .map(|c| {
                c.0.last()
                    .and_then(|p| p.as_ident())
                    .map(ident_name)
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>(),
    )?;
    Ok((Arc::clone(def), cols))
}

/// Indexes of named target columns (all columns if `names` is empty).
pub fn target_columns(def: &TableDef, names: &[String]) -> Result<Vec<usize>> {
    if names.is_empty() {
        return Ok((0..def.columns.len()).collect());
    }
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        let Some(i) = def.column_index(n) else {
            return Err(Error::user(
                SqlState::UndefinedColumn,
                format!("column \"{n}\" of relation \"{}\" does not exist", def.name),
            ));
        };
        if out.contains(&i) {
            return Err(Error::user(
                SqlState::DuplicateColumn,
                format!("column \"{n}\" specified more than once"),
            ));
        }
        out.push(i);
    }
    Ok(out)
}

/// Builds a full-table batch from columns for `targets`, filling the others with their
/// DEFAULT (or NULL). `now_micros` is the statement's timestamp for `DEFAULT now()`.
pub fn complete_batch(
    def: &TableDef,
    schema: &SchemaRef,
    targets: &[usize],
    cols: Vec<ArrayRef>,
    rows: usize,
    now_micros: i64,
) -> Result<RecordBatch> {
    let mut out: Vec<Option<ArrayRef>> = vec![None; def.columns.len()];
    for (t, c) in targets.iter().zip(cols) {
        out[*t] = Some(c);
    }
    let columns = out
        .into_iter()
        .enumerate()
        .map(|(i, c)| match c {
            Some(c) => Ok(c),
            None => default_array(def, schema, i, rows, now_micros),
        })
        .collect::<Result<Vec<_>>>()?;
    let opts = arrow::array::RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(
        RecordBatch::try_new_with_options(Arc::clone(schema), columns, &opts)
            .map_err(datafusion::error::DataFusionError::from)?,
    )
}

fn default_array(
    def: &TableDef,
    schema: &SchemaRef,
    i: usize,
    rows: usize,
    now_micros: i64,
) -> Result<ArrayRef> {
    let field = schema.field(i);
    match &def.columns[i].default {
        None => Ok(new_null_array(field.data_type(), rows)),
        Some(ColumnDefault::Now) => {
            let v = match field.data_type() {
                DataType::Timestamp(_, tz) => {
                    ScalarValue::TimestampMicrosecond(Some(now_micros), tz.clone())
                }
                DataType::Date32 => {
                    ScalarValue::Date32(Some(now_micros.div_euclid(86_400_000_000) as i32))
                }
                other => {
                    return Err(Error::user(
                        SqlState::DatatypeMismatch,
                        format!("DEFAULT now() on a column of type {other}"),
                    ));
                }
            };
            Ok(v.to_array_of_size(rows)?)
        }
        Some(ColumnDefault::Literal(s)) => {
            let mut b = strata_pgtypes::decode::ColumnBuilder::new(
                field,
                rows,
                strata_pgtypes::tz::TimeZoneSetting::UTC,
            );
            for _ in 0..rows {
                b.append_text(s)
                    .map_err(|e| Error::user(sqlstate_of_code(e.sqlstate), e.message))?;
            }
            Ok(b.finish())
        }
    }
}

/// Converts a column computed by DataFusion to the storage type of the target column.
/// Strings go through PostgreSQL's input syntax (so `'2024-01-01 00:00:00+00'` works for
/// timestamptz); other types through Arrow's cast, with range checks.
pub fn convert_column(
    array: &ArrayRef,
    field: &arrow::datatypes::Field,
    tz: strata_pgtypes::tz::TimeZoneSetting,
) -> Result<ArrayRef> {
    if array.data_type() == field.data_type() {
        return Ok(Arc::clone(array));
    }
    let is_str = matches!(
        array.data_type(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    if is_str && !matches!(field.data_type(), DataType::Utf8) {
        let strings = arrow::compute::cast(array, &DataType::Utf8)?;
        let strings = strings.as_string::<i32>();
        let mut b = strata_pgtypes::decode::ColumnBuilder::new(field, strings.len(), tz);
        for v in strings.iter() {
            match v {
                Some(s) => b
                    .append_text(s)
                    .map_err(|e| Error::user(sqlstate_of_code(e.sqlstate), e.message))?,
                None => b.append_null(),
            }
        }
        return Ok(b.finish());
    }
    if matches!(array.data_type(), DataType::Null) {
        return Ok(new_null_array(field.data_type(), array.len()));
    }
    let opts = arrow::compute::CastOptions {
        safe: false,
        ..Default::default()
    };
    arrow::compute::cast_with_options(array, field.data_type(), &opts).map_err(|e| {
        let msg = e.to_string();
        if msg.contains("overflow")
            || msg.contains("Overflow")
            || msg.contains("out of range")
            || msg.contains("Can't cast value")
        {
            Error::user(
                SqlState::NumericValueOutOfRange,
                format!(
                    "value out of range for column \"{}\" of type {}",
                    field.name(),
                    pg_type_name(field)
                ),
            )
        } else {
            Error::user(
                SqlState::DatatypeMismatch,
                format!(
                    "column \"{}\" is of type {} but expression is of type {}",
                    field.name(),
                    pg_type_name(field),
                    array.data_type()
                ),
            )
        }
    })
}

fn pg_type_name(field: &arrow::datatypes::Field) -> &'static str {
    strata_storage::schema::column_type_of_field(field)
        .map(|t| t.pg_name())
        .unwrap_or("unknown")
}

/// Executes the rows of an `INSERT ... SELECT` / complex VALUES planned by DataFusion and
/// returns them in the table's schema (None: no rows); the caller writes them.
pub async fn insert_from_plan(
    ctx: &SessionContext,
    def: &TableDef,
    targets: &[usize],
    plan: LogicalPlan,
    tz: strata_pgtypes::tz::TimeZoneSetting,
) -> Result<Option<RecordBatch>> {
    let n_src = plan.schema().fields().len();
    if n_src > targets.len() {
        return Err(Error::user(
            SqlState::SyntaxError,
            "INSERT has more expressions than target columns",
        ));
    }
    if n_src < targets.len() {
        return Err(Error::user(
            SqlState::SyntaxError,
            "INSERT has more target columns than expressions",
        ));
    }
    let df = ctx.execute_logical_plan(plan).await?;
    let batches = df.collect().await?;
    let schema = def.arrow_schema();
    let now = chrono::Utc::now().timestamp_micros();
    let mut out = vec![];
    for b in batches {
        if b.num_rows() == 0 {
            continue;
        }
        let cols = b
            .columns()
            .iter()
            .zip(targets)
            .map(|(c, t)| convert_column(c, schema.field(*t), tz))
            .collect::<Result<Vec<_>>>()?;
        out.push(complete_batch(
            def,
            &schema,
            targets,
            cols,
            b.num_rows(),
            now,
        )?);
    }
    if out.is_empty() {
        return Ok(None);
    }
    let batch = arrow::compute::concat_batches(&schema, &out)
        .map_err(datafusion::error::DataFusionError::from)?;
    Ok(Some(batch))
}

/// `DELETE FROM t [WHERE ...]`: durable, rewrites affected files. Returns rows deleted.
pub async fn delete(
    ctx: &SessionContext,
    engine: &crate::engine::Engine,
    del: &ast::Delete,
) -> Result<u64> {
    let storage = engine.storage();
    if del.using.is_some()
        || del.returning.is_some()
        || del.limit.is_some()
        || !del.order_by.is_empty()
    {
        return Err(Error::unsupported(
            "DELETE with USING, RETURNING, ORDER BY or LIMIT",
        ));
    }
    let tables = match &del.from {
        ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t) => t,
    };
    let [twj] = tables.as_slice() else {
        return Err(Error::unsupported("DELETE from several tables"));
    };
    let ast::TableFactor::Table { name, alias, .. } = &twj.relation else {
        return Err(Error::unsupported("DELETE from a derived table"));
    };
    let tname = object_name(name)?;
    let def = storage.catalog().table(&tname).cloned().ok_or_else(|| {
        Error::user(
            SqlState::UndefinedTable,
            format!("relation \"{tname}\" does not exist"),
        )
    })?;
    let alias_sql = alias
        .as_ref()
        .map(|a| format!(" AS {a}"))
        .unwrap_or_default();
    let where_sql = del
        .selection
        .as_ref()
        .map(|e| format!(" WHERE {e}"))
        .unwrap_or_default();
    let plan = ctx
        .sql(&format!(
            "SELECT * FROM \"{}\"{alias_sql}{where_sql}",
            def.name
        ))
        .await?
        .into_unoptimized_plan();
    let predicate = find_filter(&plan);
    let schema = def.arrow_schema();
    let df_schema = DFSchema::try_from_qualified_schema(def.name.as_str(), schema.as_ref())?;
    let range = match (&predicate, def.time_column_def()) {
        (Some(p), Some(tc)) => crate::table::time_range(
            &split_conjunction(p)
                .into_iter()
                .cloned()
                .collect::<Vec<_>>(),
            &tc.name,
        ),
        _ => strata_storage::TimeRange::ALL,
    };
    let phys = match &predicate {
        Some(p) => {
            let p = strip_qualifiers(
                p.clone(),
                alias.as_ref().map(|a| a.name.value.clone()),
                &def.name,
            );
            Some(ctx.create_physical_expr(p, &df_schema)?)
        }
        None => None,
    };
    let eval = move |b: &RecordBatch| -> strata_storage::Result<arrow::array::BooleanArray> {
        match &phys {
            None => Ok(arrow::array::BooleanArray::from(vec![true; b.num_rows()])),
            Some(p) => {
                let v = p
                    .evaluate(b)
                    .map_err(|e| strata_storage::Error::InvalidInput(e.to_string()))?;
                let a = v
                    .into_array(b.num_rows())
                    .map_err(|e| strata_storage::Error::InvalidInput(e.to_string()))?;
                a.as_boolean_opt().cloned().ok_or_else(|| {
                    strata_storage::Error::InvalidInput("WHERE clause must be boolean".into())
                })
            }
        }
    };
    crate::cagg::delete_where(engine, def.id, range, &eval).await
}

fn find_filter(plan: &LogicalPlan) -> Option<datafusion::logical_expr::Expr> {
    match plan {
        LogicalPlan::Filter(f) => Some(f.predicate.clone()),
        other => other.inputs().into_iter().find_map(find_filter),
    }
}

fn strip_qualifiers(
    e: datafusion::logical_expr::Expr,
    alias: Option<String>,
    table: &str,
) -> datafusion::logical_expr::Expr {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    e.transform(|e| {
        Ok(match e {
            datafusion::logical_expr::Expr::Column(mut c) => {
                if c.relation
                    .as_ref()
                    .is_some_and(|r| Some(r.table().to_string()) == alias || r.table() == table)
                {
                    c.relation = Some(table.into());
                }
                Transformed::yes(datafusion::logical_expr::Expr::Column(c))
            }
            other => Transformed::no(other),
        })
    })
    .map(|t| t.data)
    .unwrap_or_else(|_| datafusion::logical_expr::lit(false))
}
