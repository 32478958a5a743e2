//! `INSERT ... ON CONFLICT` on tables with a primary key.
//!
//! The clause is checked against the table's key as PostgreSQL does (42P10 when the
//! conflict target is not the key, 42704 for an unknown constraint name), then the rows
//! are resolved under the table's key lock ([`strata_storage::KeyGuard`]):
//!
//! * `DO NOTHING`: rows whose key is stored, and repeats of an earlier row of the
//!   statement, are dropped (first write wins); only the rows written are counted, logged
//!   and fed to continuous aggregates.
//! * `DO UPDATE SET col = expr, ... [WHERE cond]`: the stored row is replaced by itself
//!   with the assignments applied (last write wins); expressions see the stored row's
//!   columns (qualified by the table name or alias) and `EXCLUDED.col`, the row
//!   proposed for insertion. Two rows of one statement with the same key fail with 21000
//!   as in PostgreSQL. Replacing rows of a table with continuous aggregates marks the
//!   affected buckets dirty, writes, and recomputes them (as DELETE does).

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::compute::{filter_record_batch, take_record_batch};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt32Array};
use datafusion::arrow::datatypes::{Schema, TimestampMicrosecondType};
use datafusion::common::tree_node::TreeNode;
use datafusion::common::{DFSchema, TableReference};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;
use sqlparser::ast;
use strata_storage::TableDef;

use crate::ddl::ident_name;
use crate::error::{Error, Result, SqlState};

/// What to do with a row whose key is taken.
#[derive(Debug)]
pub enum ConflictAction {
    /// First write wins.
    Nothing,
    /// Last write wins, with these assignments.
    Update(UpdateSpec),
}

/// Compiled `DO UPDATE SET ... [WHERE ...]`.
#[derive(Debug)]
pub struct UpdateSpec {
    /// Target column index and its expression over (stored row ++ excluded row).
    sets: Vec<(usize, Arc<dyn PhysicalExpr>)>,
    filter: Option<Arc<dyn PhysicalExpr>>,
    /// Schema of the evaluation batch: the table's columns twice.
    eval_schema: Arc<Schema>,
    tz: strata_pgtypes::tz::TimeZoneSetting,
}

fn no_matching_constraint() -> Error {
    Error::user(
        SqlState::InvalidColumnReference,
        "there is no unique or exclusion constraint matching the ON CONFLICT specification",
    )
}

/// Checks an `ON CONFLICT` clause against `def`'s primary key and compiles it. None: the
/// clause cannot apply (`DO NOTHING` without a target on a table without a key, which
/// PostgreSQL accepts as a plain insert).
pub fn plan(
    ctx: &SessionContext,
    def: &TableDef,
    alias: Option<&str>,
    on: &ast::OnInsert,
    tz: strata_pgtypes::tz::TimeZoneSetting,
) -> Result<Option<ConflictAction>> {
    let ast::OnInsert::OnConflict(oc) = on else {
        return Err(Error::unsupported("ON DUPLICATE KEY UPDATE"));
    };
    match &oc.conflict_target {
        None => {
            if matches!(oc.action, ast::OnConflictAction::DoUpdate(_)) {
                return Err(Error::with_hint(
                    SqlState::SyntaxError,
                    "ON CONFLICT DO UPDATE requires inference specification or constraint name",
                    "For example, ON CONFLICT (column_name).",
                ));
            }
            if def.primary_key.is_empty() {
                return Ok(None);
            }
        }
        Some(ast::ConflictTarget::Columns(cols)) => {
            let mut names = vec![];
            for c in cols {
                let n = ident_name(c);
                if def.column_index(&n).is_none() {
                    return Err(Error::user(
                        SqlState::UndefinedColumn,
                        format!("column \"{n}\" does not exist"),
                    ));
                }
                names.push(n);
            }
            names.sort();
            names.dedup();
            let mut pk = def.primary_key.clone();
            pk.sort();
            if pk.is_empty() || names != pk {
                return Err(no_matching_constraint());
            }
        }
        Some(ast::ConflictTarget::OnConstraint(name)) => {
            let n = name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(ident_name)
                .unwrap_or_default();
            if def.primary_key.is_empty() || n != format!("{}_pkey", def.name) {
                return Err(Error::user(
                    SqlState::UndefinedObject,
                    format!(
                        "constraint \"{n}\" for table \"{}\" does not exist",
                        def.name
                    ),
                ));
            }
        }
    }
    let ast::OnConflictAction::DoUpdate(du) = &oc.action else {
        return Ok(Some(ConflictAction::Nothing));
    };
    Ok(Some(ConflictAction::Update(compile_update(
        ctx, def, alias, du, tz,
    )?)))
}

fn compile_update(
    ctx: &SessionContext,
    def: &TableDef,
    alias: Option<&str>,
    du: &ast::DoUpdate,
    tz: strata_pgtypes::tz::TimeZoneSetting,
) -> Result<UpdateSpec> {
    let df_schema = eval_df_schema(def)?;
    let compile = |e: &ast::Expr| -> Result<Arc<dyn PhysicalExpr>> {
        let e = qualify(e.clone(), def, alias);
        let logical = ctx.state().create_logical_expr_from_sql_expr(
            ast::ExprWithAlias {
                expr: e,
                alias: None,
            },
            &df_schema,
        )?;
        // Simplified first: some functions (coalesce, ...) only plan after rewriting.
        let simplifier = ExprSimplifier::new(
            SimplifyContext::builder()
                .with_schema(Arc::new(df_schema.clone()))
                .with_config_options(Arc::clone(ctx.state().config_options()))
                .with_current_time()
                .build(),
        );
        let logical = simplifier.simplify(simplifier.coerce(logical, &df_schema)?)?;
        Ok(ctx.create_physical_expr(logical, &df_schema)?)
    };
    let mut sets: Vec<(usize, Arc<dyn PhysicalExpr>)> = vec![];
    for a in &du.assignments {
        let ast::AssignmentTarget::ColumnName(name) = &a.target else {
            return Err(Error::unsupported(
                "assigning a tuple in ON CONFLICT DO UPDATE",
            ));
        };
        let n = name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(ident_name)
            .unwrap_or_default();
        let Some(ci) = def.column_index(&n) else {
            return Err(Error::user(
                SqlState::UndefinedColumn,
                format!("column \"{n}\" of relation \"{}\" does not exist", def.name),
            ));
        };
        if sets.iter().any(|(c, _)| *c == ci) {
            return Err(Error::user(
                SqlState::SyntaxError,
                format!("multiple assignments to same column \"{n}\""),
            ));
        }
        sets.push((ci, compile(&a.value)?));
    }
    let filter = du.selection.as_ref().map(&compile).transpose()?;
    Ok(UpdateSpec {
        sets,
        filter,
        eval_schema: Arc::new(df_schema.as_arrow().clone()),
        tz,
    })
}

/// The columns DO UPDATE expressions see: the stored row's, qualified by the table's
/// name, then the proposed row's, qualified by `excluded`.
fn eval_df_schema(def: &TableDef) -> Result<DFSchema> {
    let schema = def.arrow_schema();
    let target = TableReference::bare(def.name.clone());
    let excluded = TableReference::bare("excluded");
    let fields: Vec<(Option<TableReference>, Arc<arrow::datatypes::Field>)> = schema
        .fields()
        .iter()
        .map(|f| (Some(target.clone()), Arc::clone(f)))
        .chain(
            schema
                .fields()
                .iter()
                .map(|f| (Some(excluded.clone()), Arc::clone(f))),
        )
        .collect();
    Ok(DFSchema::new_with_metadata(fields, HashMap::new())?)
}

/// Types of the `$n` parameters of a DO UPDATE clause, as far as they can be inferred
/// (for a prepared statement's description): `SET col = $n` takes the column's type, `$n`
/// beside a column in an expression that column's type. Others are left out.
pub fn param_types(
    ctx: &SessionContext,
    def: &TableDef,
    alias: Option<&str>,
    on: &ast::OnInsert,
) -> Vec<(usize, arrow::datatypes::DataType)> {
    let ast::OnInsert::OnConflict(oc) = on else {
        return vec![];
    };
    let ast::OnConflictAction::DoUpdate(du) = &oc.action else {
        return vec![];
    };
    let Ok(df_schema) = eval_df_schema(def) else {
        return vec![];
    };
    let placeholder = |e: &ast::Expr| match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Placeholder(p) => p.strip_prefix('$').and_then(|n| n.parse().ok()),
            _ => None,
        },
        _ => None,
    };
    let mut out = vec![];
    let mut infer = |e: &ast::Expr| {
        let e = qualify(e.clone(), def, alias);
        let Ok(logical) = ctx.state().create_logical_expr_from_sql_expr(
            ast::ExprWithAlias {
                expr: e,
                alias: None,
            },
            &df_schema,
        ) else {
            return;
        };
        let Ok((logical, _)) = logical.infer_placeholder_types(&df_schema) else {
            return;
        };
        let _ = logical.apply(|x| {
            if let datafusion::logical_expr::Expr::Placeholder(p) = x
                && let Some(f) = &p.field
                && let Some(n) = p.id.strip_prefix('$').and_then(|n| n.parse().ok())
            {
                out.push((n, f.data_type().clone()));
            }
            Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
        });
    };
    let mut direct = vec![];
    for a in &du.assignments {
        let ast::AssignmentTarget::ColumnName(name) = &a.target else {
            continue;
        };
        let col = name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(ident_name)
            .and_then(|n| def.column_index(&n));
        match (col, placeholder(&a.value)) {
            (Some(ci), Some(n)) => direct.push((n, def.columns[ci].ty.arrow_type())),
            _ => infer(&a.value),
        }
    }
    if let Some(w) = &du.selection {
        infer(w);
    }
    out.extend(direct);
    out
}

/// Makes references to the target table's columns through its alias use its name
/// (`EXCLUDED.col` stays; a bare column is ambiguous, as in PostgreSQL).
fn qualify(mut e: ast::Expr, def: &TableDef, alias: Option<&str>) -> ast::Expr {
    let table = ast::Ident::with_quote('"', def.name.clone());
    let _ = ast::visit_expressions_mut(&mut e, |x| {
        match x {
            ast::Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
                let q = ident_name(&parts[0]);
                if Some(q.as_str()) == alias || (alias.is_none() && q == def.name) {
                    parts[0] = table.clone();
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    e
}

impl UpdateSpec {
    /// The stored rows with the assignments applied, and which of them the WHERE clause
    /// lets be updated.
    fn apply(
        &self,
        def: &TableDef,
        stored: &RecordBatch,
        excluded: &RecordBatch,
    ) -> Result<(RecordBatch, BooleanArray)> {
        let n = stored.num_rows();
        let mut cols: Vec<ArrayRef> = stored.columns().to_vec();
        cols.extend(excluded.columns().iter().cloned());
        let opts = arrow::array::RecordBatchOptions::new().with_row_count(Some(n));
        let eval = RecordBatch::try_new_with_options(Arc::clone(&self.eval_schema), cols, &opts)?;
        let mask = match &self.filter {
            None => BooleanArray::from(vec![true; n]),
            Some(f) => {
                let v = f.evaluate(&eval)?.into_array(n)?;
                let b = v.as_boolean_opt().cloned().ok_or_else(|| {
                    Error::user(
                        SqlState::DatatypeMismatch,
                        "argument of WHERE must be type boolean",
                    )
                })?;
                // NULL is "not updated".
                if b.null_count() > 0 {
                    arrow::compute::prep_null_mask_filter(&b)
                } else {
                    b
                }
            }
        };
        let schema = def.arrow_schema();
        let mut out: Vec<ArrayRef> = stored.columns().to_vec();
        for (ci, e) in &self.sets {
            let v = e.evaluate(&eval)?.into_array(n)?;
            out[*ci] = crate::dml::convert_column(&v, schema.field(*ci), self.tz)?;
        }
        Ok((RecordBatch::try_new_with_options(schema, out, &opts)?, mask))
    }
}

fn take(batch: &RecordBatch, rows: &[usize]) -> Result<RecordBatch> {
    let idx = UInt32Array::from(rows.iter().map(|&i| i as u32).collect::<Vec<_>>());
    Ok(take_record_batch(batch, &idx)?)
}

/// Writes `batch` (rows in `def`'s schema) into a table with a primary key, resolving
/// conflicts per `action`. Returns the row count PostgreSQL reports: rows inserted, plus
/// rows updated for DO UPDATE.
pub async fn write(
    engine: &crate::engine::Engine,
    def: &TableDef,
    batch: RecordBatch,
    action: &ConflictAction,
) -> Result<u64> {
    let storage = engine.storage();
    let views: Vec<_> = storage.catalog().caggs_of(def.id).cloned().collect();
    let update = matches!(action, ConflictAction::Update(_));
    // Replacing rows under views recomputes their buckets, which needs the views' lock
    // exclusively; other writes share it.
    let (_shared, _exclusive) = if update && !views.is_empty() {
        (None, Some(engine.caggs().lock.write().await))
    } else {
        (Some(engine.caggs().lock.read().await), None)
    };
    let g = storage.lock_keys(def.id).await?;
    let look = storage.lookup_keys(&g, &batch, &[]).await?;
    match action {
        ConflictAction::Nothing => {
            let keep: Vec<usize> = (0..batch.num_rows())
                .filter(|&i| !look.exists[i] && look.dup_of[i].is_none())
                .collect();
            if keep.is_empty() {
                return Ok(0);
            }
            let rows = take(&batch, &keep)?;
            storage
                .write_keyed(&g, derive(engine, def, &views, rows).await?, None)
                .await?;
            Ok(keep.len() as u64)
        }
        ConflictAction::Update(spec) => {
            if look.dup_of.iter().any(Option::is_some) {
                return Err(Error::with_hint(
                    SqlState::CardinalityViolation,
                    "ON CONFLICT DO UPDATE command cannot affect row a second time",
                    "Ensure that no rows proposed for insertion within the same command have duplicate constrained values.",
                ));
            }
            let mut new: Vec<usize> = (0..batch.num_rows()).filter(|&i| !look.exists[i]).collect();
            let old: Vec<usize> = (0..batch.num_rows()).filter(|&i| look.exists[i]).collect();
            let (found, idx) = storage.existing_rows(&g, &batch, &old).await?;
            let mut present = vec![];
            let mut at = vec![];
            for (j, i) in old.iter().enumerate() {
                match idx[j] {
                    Some(k) => {
                        present.push(*i);
                        at.push(k);
                    }
                    // Gone meanwhile (a dropped chunk): inserted instead.
                    None => new.push(*i),
                }
            }
            new.sort_unstable();
            let inserts = take(&batch, &new)?;
            let excluded = take(&batch, &present)?;
            let stored = take(&found, &at)?;
            let (updated, mask) = spec.apply(def, &stored, &excluded)?;
            let replaced = filter_record_batch(&updated, &mask)?;
            let kept_excluded = filter_record_batch(&excluded, &mask)?;
            if strata_storage::encode_keys(def, &replaced)?
                != strata_storage::encode_keys(def, &kept_excluded)?
            {
                return Err(Error::unsupported(
                    "changing a primary key column in ON CONFLICT DO UPDATE",
                ));
            }
            let n = (inserts.num_rows() + replaced.num_rows()) as u64;
            if views.is_empty() || replaced.num_rows() == 0 {
                let entries = derive(engine, def, &views, inserts).await?;
                storage.write_keyed(&g, entries, Some(replaced)).await?;
                return Ok(n);
            }
            let (lo, hi) = time_span(def, &[&inserts, &replaced]);
            let marks = crate::cagg::mark_views_dirty(engine, def.id, lo, hi).await?;
            storage
                .write_keyed(&g, vec![(def.id, inserts)], Some(replaced))
                .await?;
            drop(g);
            crate::cagg::recompute_marked(engine, marks).await?;
            Ok(n)
        }
    }
}

/// The rows to write to `def` and the states they add to its views.
async fn derive(
    engine: &crate::engine::Engine,
    def: &TableDef,
    views: &[strata_storage::ContinuousAggDef],
    rows: RecordBatch,
) -> Result<Vec<(strata_storage::ids::TableId, RecordBatch)>> {
    let mut entries = vec![(def.id, rows.clone())];
    for v in views {
        let c = engine.caggs().compiled(engine, v).await?;
        if let Some(states) = c.states_of(vec![rows.clone()]).await? {
            entries.push((v.state_table, states));
        }
    }
    Ok(entries)
}

/// Min and max of the time column over `batches` (the whole range without one).
fn time_span(def: &TableDef, batches: &[&RecordBatch]) -> (i64, i64) {
    let Some(tc) = def.time_column else {
        return (i64::MIN, i64::MAX - 1);
    };
    let mut lo = i64::MAX;
    let mut hi = i64::MIN;
    for b in batches {
        if let Some(t) = b.column(tc).as_primitive_opt::<TimestampMicrosecondType>() {
            if let Some(v) = arrow::compute::min(t) {
                lo = lo.min(v);
            }
            if let Some(v) = arrow::compute::max(t) {
                hi = hi.max(v);
            }
        }
    }
    if lo > hi { (0, 0) } else { (lo, hi) }
}

/// The keys of `batch` against the block's own rows only.
fn own_keys(
    def: &TableDef,
    batch: &RecordBatch,
    pending: &[RecordBatch],
) -> Result<strata_storage::KeyLookup> {
    let mut seen: std::collections::HashSet<Box<[u8]>> = std::collections::HashSet::new();
    for b in pending {
        seen.extend(strata_storage::encode_keys(def, b)?);
    }
    let mut first: HashMap<Box<[u8]>, usize> = Default::default();
    let keys = strata_storage::encode_keys(def, batch)?;
    let mut exists = Vec::with_capacity(keys.len());
    let mut dup_of = Vec::with_capacity(keys.len());
    for (i, k) in keys.into_iter().enumerate() {
        exists.push(seen.contains(&k));
        dup_of.push(first.get(&k).copied());
        first.entry(k).or_insert(i);
    }
    Ok(strata_storage::KeyLookup { exists, dup_of })
}

/// Inside a transaction block: checks (plain INSERT) or filters (DO NOTHING) the rows
/// of a statement against stored rows (unless the block truncated the table) and the
/// block's own earlier rows (`pending`).
/// Returns the rows to buffer.
pub async fn resolve_in_block(
    engine: &crate::engine::Engine,
    def: &TableDef,
    batch: RecordBatch,
    pending: &[RecordBatch],
    do_nothing: bool,
    truncated: bool,
) -> Result<RecordBatch> {
    let storage = engine.storage();
    let look = if truncated {
        // TRUNCATE earlier in the block: the stored rows are gone for it.
        own_keys(def, &batch, pending)?
    } else {
        let g = storage.lock_keys(def.id).await?;
        storage.lookup_keys(&g, &batch, pending).await?
    };
    if !do_nothing {
        if let Some(i) = look.first_conflict() {
            let cols: Vec<usize> = def
                .primary_key
                .iter()
                .filter_map(|k| def.column_index(k))
                .collect();
            let key = batch.project(&cols)?.slice(i, 1);
            return Err(Error::Storage(strata_storage::Error::UniqueViolation {
                constraint: format!("{}_pkey", def.name),
                key,
            }));
        }
        return Ok(batch);
    }
    let keep: Vec<usize> = (0..batch.num_rows())
        .filter(|&i| !look.exists[i] && look.dup_of[i].is_none())
        .collect();
    take(&batch, &keep)
}
