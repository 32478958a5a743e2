//! INSERT, DELETE and UPDATE.
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
    let plan = plan_select(ctx, "*", &def, alias.as_ref(), del.selection.as_ref()).await?;
    let predicate = find_filter(&plan);
    let schema = def.arrow_schema();
    let df_schema = DFSchema::try_from_qualified_schema(def.name.as_str(), schema.as_ref())?;
    let range = predicate_time_range(predicate.as_ref(), &def);
    let phys = match &predicate {
        Some(p) => {
            let p = strip_qualifiers(
                p.clone(),
                alias.as_ref().map(|a| a.name.value.clone()),
                &def.name,
            );
            Some(physical_expr(ctx, p, &df_schema)?)
        }
        None => None,
    };
    let eval = move |b: &RecordBatch| predicate_mask(phys.as_ref(), b);
    crate::cagg::delete_where(engine, def.id, range, &eval).await
}

/// A planned `UPDATE t SET c = e, ... [WHERE w]`: the rows `predicate` selects get the
/// new values of `sets`. The expressions are over the table's columns, qualified by its
/// name. Executed at once outside a transaction block, at COMMIT inside one.
#[derive(Debug)]
pub struct Update {
    pub def: Arc<TableDef>,
    pub predicate: Option<datafusion::logical_expr::Expr>,
    /// Per SET column: its index and the expression of its new value.
    pub sets: Vec<(usize, datafusion::logical_expr::Expr)>,
    /// Time range the WHERE clause implies (all without a time column).
    pub range: strata_storage::TimeRange,
}

/// Plans an UPDATE (parameters already substituted).
pub async fn plan_update(
    ctx: &SessionContext,
    storage: &Storage,
    upd: &ast::Update,
) -> Result<Update> {
    if upd.from.is_some()
        || upd.returning.is_some()
        || upd.limit.is_some()
        || !upd.order_by.is_empty()
        || !upd.table.joins.is_empty()
    {
        return Err(Error::unsupported(
            "UPDATE with FROM, RETURNING, ORDER BY or LIMIT",
        ));
    }
    let ast::TableFactor::Table { name, alias, .. } = &upd.table.relation else {
        return Err(Error::unsupported("UPDATE of a derived table"));
    };
    let tname = object_name(name)?;
    let cat = storage.catalog();
    let Some(def) = cat.table(&tname).cloned() else {
        if cat.view(&tname).is_some() || cat.cagg(&tname).is_some() {
            return Err(Error::user(
                SqlState::WrongObjectType,
                format!("cannot update view \"{tname}\""),
            ));
        }
        return Err(Error::user(
            SqlState::UndefinedTable,
            format!("relation \"{tname}\" does not exist"),
        ));
    };
    if def.internal {
        return Err(Error::user(
            SqlState::WrongObjectType,
            format!("cannot update \"{tname}\": it holds a continuous aggregate's states"),
        ));
    }
    let mut targets = vec![];
    let mut values = vec![];
    for a in &upd.assignments {
        let ast::AssignmentTarget::ColumnName(c) = &a.target else {
            return Err(Error::unsupported("UPDATE SET (a, b) = (...)"));
        };
        let cname =
            c.0.last()
                .and_then(|p| p.as_ident())
                .map(ident_name)
                .unwrap_or_default();
        let Some(i) = def.column_index(&cname) else {
            return Err(Error::user(
                SqlState::UndefinedColumn,
                format!("column \"{cname}\" of relation \"{tname}\" does not exist"),
            ));
        };
        if targets.contains(&i) {
            return Err(Error::user(
                SqlState::SyntaxError,
                format!("multiple assignments to same column \"{cname}\""),
            ));
        }
        if def.time_column == Some(i) || def.primary_key.contains(&cname) {
            let what = if def.time_column == Some(i) {
                "time column"
            } else {
                "primary key column"
            };
            return Err(Error::with_hint(
                SqlState::FeatureNotSupported,
                format!("UPDATE of the {what} \"{cname}\" is not supported"),
                "Rows are placed by their time and key: DELETE the row and INSERT it with the new value.",
            ));
        }
        targets.push(i);
        values.push(a.value.to_string());
    }
    let plan = plan_select(
        ctx,
        &values.join(", "),
        &def,
        alias.as_ref(),
        upd.selection.as_ref(),
    )
    .await?;
    let LogicalPlan::Projection(proj) = &plan else {
        return Err(Error::unsupported("this UPDATE expression"));
    };
    let alias_name = alias.as_ref().map(|a| a.name.value.clone());
    let sets = targets
        .into_iter()
        .zip(proj.expr.iter())
        .map(|(i, e)| {
            (
                i,
                strip_qualifiers(e.clone().unalias(), alias_name.clone(), &def.name),
            )
        })
        .collect();
    let predicate = find_filter(&plan).map(|p| strip_qualifiers(p, alias_name, &def.name));
    let range = predicate_time_range(predicate.as_ref(), &def);
    Ok(Update {
        def,
        predicate,
        sets,
        range,
    })
}

impl Update {
    /// The new value of column `i` for every row: `CASE WHEN predicate THEN value ELSE
    /// column END` (the value is only evaluated for the selected rows).
    fn column_expr(&self, i: usize) -> datafusion::logical_expr::Expr {
        use datafusion::logical_expr::{Expr, when};
        let c = || {
            Expr::Column(datafusion::common::Column::new(
                Some(self.def.name.as_str()),
                self.def.columns[i].name.as_str(),
            ))
        };
        let Some((_, v)) = self.sets.iter().find(|(j, _)| *j == i) else {
            return c();
        };
        match &self.predicate {
            Some(p) => when(p.clone(), v.clone())
                .otherwise(c())
                .unwrap_or_else(|_| v.clone()),
            None => v.clone(),
        }
    }

    /// The table's columns after this UPDATE, as a projection over the table (how a
    /// transaction block reads its own pending UPDATEs).
    pub fn projection(&self) -> Vec<datafusion::logical_expr::Expr> {
        let schema = self.def.arrow_schema();
        (0..self.def.columns.len())
            .map(|i| {
                let f = schema.field(i);
                let e = self.column_expr(i);
                let e = if self.sets.iter().any(|(j, _)| *j == i) {
                    datafusion::logical_expr::cast(e, f.data_type().clone())
                } else {
                    e
                };
                e.alias_with_metadata(
                    f.name(),
                    Some(datafusion::common::metadata::FieldMetadata::from(f)),
                )
            })
            .collect()
    }

    /// Compiles the predicate and the new values for `ctx`: the closures storage calls
    /// per batch (see [`strata_storage::Storage::update_where`]).
    pub fn compile(
        &self,
        ctx: &SessionContext,
        tz: strata_pgtypes::tz::TimeZoneSetting,
    ) -> Result<CompiledUpdate> {
        let schema = self.def.arrow_schema();
        let df_schema =
            DFSchema::try_from_qualified_schema(self.def.name.as_str(), schema.as_ref())?;
        let predicate = match &self.predicate {
            Some(p) => Some(physical_expr(ctx, p.clone(), &df_schema)?),
            None => None,
        };
        let sets = self
            .sets
            .iter()
            .map(|(i, _)| Ok((*i, physical_expr(ctx, self.column_expr(*i), &df_schema)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(CompiledUpdate {
            def: Arc::clone(&self.def),
            schema,
            predicate,
            sets,
            tz,
        })
    }
}

/// An [`Update`] ready to run over batches of its table.
#[derive(Debug)]
pub struct CompiledUpdate {
    def: Arc<TableDef>,
    schema: SchemaRef,
    predicate: Option<Arc<dyn datafusion::physical_plan::PhysicalExpr>>,
    sets: Vec<(usize, Arc<dyn datafusion::physical_plan::PhysicalExpr>)>,
    tz: strata_pgtypes::tz::TimeZoneSetting,
}

impl CompiledUpdate {
    /// The rows the UPDATE selects (NULL: not selected).
    pub fn mask(&self, b: &RecordBatch) -> Result<arrow::array::BooleanArray> {
        Ok(predicate_mask(self.predicate.as_ref(), b)?)
    }

    /// `b` with the selected rows changed.
    pub fn apply(&self, b: &RecordBatch) -> Result<RecordBatch> {
        let mut cols = b.columns().to_vec();
        for (i, e) in &self.sets {
            let v = e.evaluate(b)?.into_array(b.num_rows())?;
            cols[*i] = convert_column(&v, self.schema.field(*i), self.tz)?;
        }
        let out = RecordBatch::try_new(Arc::clone(&self.schema), cols)
            .map_err(datafusion::error::DataFusionError::from)?;
        Ok(strata_storage::check_columns(&self.def, out)?)
    }

    /// Applies the UPDATE to rows held in memory (a transaction block's own rows);
    /// returns how many rows it changed.
    pub fn apply_in_place(&self, batches: &mut [RecordBatch]) -> Result<u64> {
        let mut n = 0;
        for b in batches.iter_mut() {
            let mask = self.mask(b)?;
            if mask.true_count() == 0 {
                continue;
            }
            n += mask.true_count() as u64;
            *b = self.apply(b)?;
        }
        Ok(n)
    }

    /// Runs the UPDATE on the stored rows (views over the table are recomputed); returns
    /// how many rows it changed.
    pub async fn run(
        &self,
        engine: &crate::engine::Engine,
        range: strata_storage::TimeRange,
    ) -> Result<u64> {
        // Storage calls back with its own error type: keep ours (with its SQLSTATE).
        let failed: parking_lot::Mutex<Option<Error>> = parking_lot::Mutex::new(None);
        let keep = |e: Error| {
            let msg = e.to_string();
            failed.lock().get_or_insert(e);
            strata_storage::Error::InvalidInput(msg)
        };
        let pred = |b: &RecordBatch| self.mask(b).map_err(keep);
        let update = |b: &RecordBatch, _: &arrow::array::BooleanArray| self.apply(b).map_err(keep);
        let r = crate::cagg::change_where(engine, self.def.id, range, &pred, Some(&update)).await;
        match failed.into_inner() {
            Some(e) => Err(e),
            None => r,
        }
    }
}

/// Compiles an expression over a table's rows. Simplified first: some functions
/// (`coalesce`, ...) exist in physical form only after the simplifier rewrote them.
fn physical_expr(
    ctx: &SessionContext,
    e: datafusion::logical_expr::Expr,
    schema: &DFSchema,
) -> Result<Arc<dyn datafusion::physical_plan::PhysicalExpr>> {
    use datafusion::optimizer::simplify_expressions::ExprSimplifier;
    let state = ctx.state();
    let simplifier = ExprSimplifier::new(
        datafusion::logical_expr::simplify::SimplifyContext::builder()
            .with_schema(Arc::new(schema.clone()))
            .with_config_options(Arc::clone(state.config_options()))
            .with_query_execution_start_time(state.execution_props().query_execution_start_time)
            .build(),
    );
    let e = simplifier.simplify(simplifier.coerce(e, schema)?)?;
    Ok(ctx.create_physical_expr(e, schema)?)
}

/// Evaluates a WHERE clause over a batch (no clause: every row).
fn predicate_mask(
    p: Option<&Arc<dyn datafusion::physical_plan::PhysicalExpr>>,
    b: &RecordBatch,
) -> strata_storage::Result<arrow::array::BooleanArray> {
    match p {
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
}

/// Plans `SELECT <items> FROM <table> [alias] [WHERE selection]`: how DELETE and UPDATE
/// have DataFusion type-check their WHERE clause (and UPDATE its SET expressions).
async fn plan_select(
    ctx: &SessionContext,
    items: &str,
    def: &TableDef,
    alias: Option<&ast::TableAlias>,
    selection: Option<&ast::Expr>,
) -> Result<LogicalPlan> {
    let alias_sql = alias.map(|a| format!(" {a}")).unwrap_or_default();
    let where_sql = selection.map(|e| format!(" WHERE {e}")).unwrap_or_default();
    let plan = ctx
        .sql(&format!(
            "SELECT {items} FROM \"{}\"{alias_sql}{where_sql}",
            def.name.replace('"', "\"\"")
        ))
        .await?
        .into_unoptimized_plan();
    Ok(crate::pg_semantics::float_over_numeric(plan)?)
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

/// The time range a DELETE or UPDATE predicate selects (all time when it has none or the
/// table has no time column): only partitions overlapping it are rewritten.
fn predicate_time_range(
    predicate: Option<&datafusion::logical_expr::Expr>,
    def: &TableDef,
) -> strata_storage::TimeRange {
    match (predicate, def.time_column_def()) {
        (Some(p), Some(tc)) => crate::table::time_range(
            &split_conjunction(p)
                .into_iter()
                .cloned()
                .collect::<Vec<_>>(),
            &tc.name,
        ),
        _ => strata_storage::TimeRange::ALL,
    }
}
