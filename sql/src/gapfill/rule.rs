//! The analyzer rule that turns an aggregate grouped by `time_bucket_gapfill` into
//! `GapFill(Aggregate grouped by time_bucket)`, and the [`GapFill`] logical node.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, DFSchemaRef, Result, ScalarValue, internal_err};
use datafusion::logical_expr::expr::{Alias, ScalarFunction};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{
    Aggregate, Between, BinaryExpr, Expr, ExprSchemable, Extension, Filter, LogicalPlan, Operator,
    Projection, UserDefinedLogicalNodeCore,
};
use datafusion::optimizer::AnalyzerRule;

use super::{FillKind, GAPFILL, GapfillArgs, INTERPOLATE, LOCF, user_error, user_error_hint};
use crate::error::SqlState;
use crate::functions::time_bucket_udf;

/// Prefix of the columns the rule adds for `locf`/`interpolate` arguments.
const ARG_PREFIX: &str = "__gapfill_";

/// A bound of the gap-filled range.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub enum Bound {
    /// Given as an argument of `time_bucket_gapfill`.
    Explicit(Expr),
    /// Inferred from the WHERE clause: candidates, `true` when the bound is one unit past the
    /// value (`ts > x` for start, `ts <= x` for finish). The tightest candidate wins.
    Inferred(Vec<(Expr, bool)>),
}

impl Bound {
    fn exprs(&self) -> Vec<Expr> {
        match self {
            Bound::Explicit(e) => vec![e.clone()],
            Bound::Inferred(v) => v.iter().map(|(e, _)| e.clone()).collect(),
        }
    }

    fn with_exprs(&self, exprs: &mut impl Iterator<Item = Expr>) -> Result<Bound> {
        let mut next = || match exprs.next() {
            Some(e) => Ok(e),
            None => internal_err!("GapFill: missing expression"),
        };
        Ok(match self {
            Bound::Explicit(_) => Bound::Explicit(next()?),
            Bound::Inferred(v) => Bound::Inferred(
                v.iter()
                    .map(|(_, adjust)| Ok((next()?, *adjust)))
                    .collect::<Result<_>>()?,
            ),
        })
    }
}

/// One filled column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct Fill {
    pub kind: FillKind,
    /// The column filled (in place).
    pub column: Column,
    /// Column holding `prev` (locf: a value; interpolate: a `(time, value)` struct).
    pub prev: Option<Column>,
    /// Column holding interpolate's `next`.
    pub next: Option<Column>,
    pub treat_null_as_missing: bool,
}

/// The gap-filling node: its output has the schema of its input, with a row for every bucket
/// of the range in every group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GapFill {
    pub input: LogicalPlan,
    /// The input's schema with every column but the time and group columns nullable (gap rows
    /// have NULLs there).
    pub schema: DFSchemaRef,
    /// The bucket column.
    pub time: Column,
    /// The other GROUP BY columns.
    pub groups: Vec<Column>,
    /// `time_bucket` arguments other than `ts`: the width and, in the time zone form, the
    /// time zone.
    pub bucket_args: Vec<Expr>,
    pub start: Bound,
    pub finish: Bound,
    pub fills: Vec<Fill>,
}

impl PartialOrd for GapFill {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (self == other).then_some(Ordering::Equal)
    }
}

impl UserDefinedLogicalNodeCore for GapFill {
    fn name(&self) -> &str {
        "GapFill"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        let mut out = self.bucket_args.clone();
        out.extend(self.start.exprs());
        out.extend(self.finish.exprs());
        out
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GapFill: time={}, groups=[", self.time)?;
        for (i, g) in self.groups.iter().enumerate() {
            write!(f, "{}{g}", if i > 0 { ", " } else { "" })?;
        }
        write!(f, "], range=[{:?}, {:?})", self.start, self.finish)?;
        for fill in &self.fills {
            write!(f, ", {}({})", fill.kind.name(), fill.column)?;
        }
        Ok(())
    }

    fn with_exprs_and_inputs(&self, exprs: Vec<Expr>, inputs: Vec<LogicalPlan>) -> Result<Self> {
        let Some(input) = inputs.into_iter().next() else {
            return internal_err!("GapFill needs one input");
        };
        let n = self.bucket_args.len();
        let mut rest = exprs.into_iter();
        let bucket_args: Vec<Expr> = rest.by_ref().take(n).collect();
        if bucket_args.len() != n {
            return internal_err!("GapFill: missing expression");
        }
        let start = self.start.with_exprs(&mut rest)?;
        let finish = self.finish.with_exprs(&mut rest)?;
        Ok(GapFill {
            schema: output_schema(&input, &self.time, &self.groups)?,
            input,
            bucket_args,
            start,
            finish,
            ..self.clone()
        })
    }
}

/// The schema of a gap-fill node over `input`.
pub(crate) fn output_schema(
    input: &LogicalPlan,
    time: &Column,
    groups: &[Column],
) -> Result<DFSchemaRef> {
    let schema = input.schema();
    let fields = schema
        .iter()
        .map(|(q, f)| {
            let column = Column::new(q.cloned(), f.name());
            let keep = &column == time || groups.contains(&column);
            let field = if keep {
                Arc::clone(f)
            } else {
                Arc::new(f.as_ref().clone().with_nullable(true))
            };
            (q.cloned(), field)
        })
        .collect();
    Ok(Arc::new(DFSchema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    )?))
}

fn as_gapfill(plan: &LogicalPlan) -> Option<&GapFill> {
    match plan {
        LogicalPlan::Extension(e) => e.node.as_any().downcast_ref::<GapFill>(),
        _ => None,
    }
}

fn extension(node: GapFill) -> LogicalPlan {
    LogicalPlan::Extension(Extension {
        node: Arc::new(node),
    })
}

/// The analyzer rule. See the module documentation of [`super`].
#[derive(Debug, Default)]
pub struct GapFillRule;

impl AnalyzerRule for GapFillRule {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(rewrite_node)
            .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "gap_fill"
    }
}

fn rewrite_node(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    match &plan {
        LogicalPlan::Aggregate(agg) if agg.group_expr.iter().any(contains_gapfill) => {
            Ok(Transformed::yes(gapfill_aggregate(agg)?))
        }
        // HAVING: gap rows are added after it, as in TimescaleDB.
        LogicalPlan::Filter(f) if as_gapfill(&f.input).is_some() => {
            let Some(g) = as_gapfill(&f.input) else {
                return Ok(Transformed::no(plan));
            };
            let filter = Filter::try_new(f.predicate.clone(), Arc::new(g.input.clone()))?;
            let input = LogicalPlan::Filter(filter);
            Ok(Transformed::yes(extension(GapFill {
                schema: output_schema(&input, &g.time, &g.groups)?,
                input,
                ..g.clone()
            })))
        }
        LogicalPlan::Projection(_) | LogicalPlan::Window(_)
            if plan.expressions().iter().any(contains_marker) =>
        {
            apply_fills(plan)
        }
        _ => Ok(Transformed::no(plan)),
    }
}

fn is_call(e: &Expr, name: &str) -> bool {
    matches!(e, Expr::ScalarFunction(f) if f.name() == name)
}

fn is_marker(e: &Expr) -> bool {
    is_call(e, LOCF) || is_call(e, INTERPOLATE)
}

fn count(e: &Expr, pred: impl Fn(&Expr) -> bool) -> usize {
    let mut n = 0;
    let _ = e.apply(|e| {
        if pred(e) {
            n += 1;
        }
        Ok(TreeNodeRecursion::Continue)
    });
    n
}

fn contains_gapfill(e: &Expr) -> bool {
    count(e, |e| is_call(e, GAPFILL)) > 0
}

fn contains_marker(e: &Expr) -> bool {
    count(e, is_marker) > 0
}

fn strip_casts(e: &Expr) -> &Expr {
    match e {
        Expr::Cast(c) => strip_casts(&c.expr),
        Expr::TryCast(c) => strip_casts(&c.expr),
        other => other,
    }
}

fn is_null_literal(e: &Expr) -> bool {
    matches!(strip_casts(e), Expr::Literal(v, _) if v.is_null())
}

/// A constant expression: no columns, subqueries, aggregates or window functions (what
/// TimescaleDB calls a simple expression).
fn is_simple(e: &Expr) -> bool {
    let mut simple = true;
    let _ = e.apply(|e| {
        if matches!(
            e,
            Expr::Column(_)
                | Expr::OuterReferenceColumn(..)
                | Expr::ScalarSubquery(_)
                | Expr::Exists(_)
                | Expr::InSubquery(_)
                | Expr::AggregateFunction(_)
                | Expr::WindowFunction(_)
        ) {
            simple = false;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    simple
}

fn require_simple(e: &Expr, what: &str) -> Result<()> {
    if is_simple(e) {
        Ok(())
    } else {
        Err(user_error(
            SqlState::InvalidParameterValue,
            format!("invalid time_bucket_gapfill argument: {what} must be a simple expression"),
        ))
    }
}

/// Rewrites an aggregate grouped by `time_bucket_gapfill(...)` into
/// `GapFill(Aggregate grouped by time_bucket(...))`.
fn gapfill_aggregate(agg: &Aggregate) -> Result<LogicalPlan> {
    let calls: usize = agg
        .group_expr
        .iter()
        .chain(agg.aggr_expr.iter())
        .map(|e| count(e, |e| is_call(e, GAPFILL)))
        .sum();
    if calls > 1 {
        return Err(user_error(
            SqlState::FeatureNotSupported,
            "multiple time_bucket_gapfill calls not allowed",
        ));
    }
    if agg
        .group_expr
        .iter()
        .any(|e| matches!(e, Expr::GroupingSet(_)))
    {
        return Err(user_error(
            SqlState::FeatureNotSupported,
            "time_bucket_gapfill with GROUPING SETS, ROLLUP or CUBE is not supported",
        ));
    }
    let found = agg.group_expr.iter().enumerate().find_map(|(i, e)| {
        let inner = match e {
            Expr::Alias(Alias { expr, .. }) => expr.as_ref(),
            other => other,
        };
        match inner {
            Expr::ScalarFunction(f) if f.name() == GAPFILL => Some((i, f)),
            _ => None,
        }
    });
    let Some((k, call)) = found else {
        return Err(user_error(
            SqlState::InvalidParameterValue,
            "no top level time_bucket_gapfill in group by clause",
        ));
    };
    let schema = agg.input.schema();
    let types = call
        .args
        .iter()
        .map(|a| a.get_type(schema))
        .collect::<Result<Vec<_>>>()?;
    let form = GapfillArgs::of(&types)?;
    let bucket_n = form.bucket_arg_count();
    let width = &call.args[0];
    require_simple(width, "bucket_width")?;
    if let Some(tz) = form.timezone {
        require_simple(&call.args[tz], "timezone")?;
        if is_null_literal(&call.args[tz]) {
            return Err(user_error(
                SqlState::InvalidParameterValue,
                "invalid time_bucket_gapfill argument: timezone cannot be NULL",
            ));
        }
    }
    let explicit = |i: Option<usize>, what: &str| -> Result<Option<Expr>> {
        match i.map(|i| &call.args[i]) {
            Some(e) if !is_null_literal(e) => {
                require_simple(e, what)?;
                Ok(Some(e.clone()))
            }
            _ => Ok(None),
        }
    };
    let start = explicit(form.start, "start")?;
    let finish = explicit(form.finish, "finish")?;
    let (start, finish) = match (start, finish) {
        (Some(s), Some(f)) => (Bound::Explicit(s), Bound::Explicit(f)),
        (s, f) => {
            let (starts, finishes) = infer_bounds(&call.args[1], &agg.input)?;
            let start = match s {
                Some(s) => Bound::Explicit(s),
                None if starts.is_empty() => return Err(missing("start")),
                None => Bound::Inferred(starts),
            };
            let finish = match f {
                Some(f) => Bound::Explicit(f),
                None if finishes.is_empty() => return Err(missing("finish")),
                None => Bound::Inferred(finishes),
            };
            (start, finish)
        }
    };

    // The group expression with time_bucket, under the name of the original.
    let bucket = Expr::ScalarFunction(ScalarFunction::new_udf(
        time_bucket_udf(),
        call.args[..bucket_n].to_vec(),
    ));
    let mut group_expr = agg.group_expr.clone();
    let (relation, name) = group_expr[k].qualified_name();
    group_expr[k] = bucket.alias_qualified(relation, name);
    let new_agg = Aggregate::try_new(Arc::clone(&agg.input), group_expr, agg.aggr_expr.clone())?;
    let old = agg.schema.fields();
    let new = new_agg.schema.fields();
    if old.len() != new.len()
        || old
            .iter()
            .zip(new.iter())
            .any(|(a, b)| a.name() != b.name() || a.data_type() != b.data_type())
    {
        return internal_err!("time_bucket_gapfill: the aggregate's schema changed");
    }
    let out_schema = Arc::clone(&new_agg.schema);
    let column = |i: usize| Column::from(out_schema.qualified_field(i));
    let groups: Vec<Column> = (0..agg.group_expr.len())
        .filter(|&i| i != k)
        .map(column)
        .collect();
    let time = column(k);
    let input = LogicalPlan::Aggregate(new_agg);
    Ok(extension(GapFill {
        schema: output_schema(&input, &time, &groups)?,
        input,
        time,
        groups,
        bucket_args: std::iter::once(&call.args[0])
            .chain(form.timezone.map(|i| &call.args[i]))
            .cloned()
            .collect(),
        start,
        finish,
        fills: vec![],
    }))
}

fn missing(what: &str) -> datafusion::common::DataFusionError {
    user_error_hint(
        SqlState::InvalidParameterValue,
        format!("missing time_bucket_gapfill argument: could not infer {what} from WHERE clause"),
    )
}

/// Start and finish candidates from the WHERE clause right below the aggregate: comparisons
/// of the `ts` column with simple expressions, AND-ed at the top level.
type Candidates = Vec<(Expr, bool)>;

fn infer_bounds(ts: &Expr, input: &LogicalPlan) -> Result<(Candidates, Candidates)> {
    let Expr::Column(ts_col) = strip_casts(ts) else {
        return Err(user_error_hint(
            SqlState::InvalidParameterValue,
            "invalid time_bucket_gapfill argument: ts needs to refer to a single column if no \
             start or finish is supplied",
        ));
    };
    let is_ts = |e: &Expr| matches!(strip_casts(e), Expr::Column(c) if c == ts_col);
    let (mut starts, mut finishes) = (vec![], vec![]);
    let LogicalPlan::Filter(filter) = input else {
        return Ok((starts, finishes));
    };
    for conjunct in split_conjunction(&filter.predicate) {
        match conjunct {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (value, op) = if is_ts(left) && is_simple(right) {
                    (right.as_ref(), *op)
                } else if is_ts(right) && is_simple(left) {
                    match op.swap() {
                        Some(op) => (left.as_ref(), op),
                        None => continue,
                    }
                } else {
                    continue;
                };
                match op {
                    Operator::GtEq => starts.push((value.clone(), false)),
                    Operator::Gt => starts.push((value.clone(), true)),
                    Operator::Lt => finishes.push((value.clone(), false)),
                    Operator::LtEq => finishes.push((value.clone(), true)),
                    _ => {}
                }
            }
            Expr::Between(Between {
                expr,
                negated: false,
                low,
                high,
            }) if is_ts(expr) && is_simple(low) && is_simple(high) => {
                starts.push((low.as_ref().clone(), false));
                finishes.push((high.as_ref().clone(), true));
            }
            _ => {}
        }
    }
    Ok((starts, finishes))
}

/// The nodes between a projection/window and the gap-fill node below it (window functions
/// and HAVING), top first, and the gap-fill node.
fn find_gapfill(plan: &LogicalPlan) -> Option<(Vec<LogicalPlan>, GapFill)> {
    let mut chain = vec![];
    let mut cur = plan.inputs().into_iter().next()?;
    loop {
        if let Some(g) = as_gapfill(cur) {
            return Some((chain, g.clone()));
        }
        match cur {
            LogicalPlan::Window(_) | LogicalPlan::Filter(_) => {
                chain.push(cur.clone());
                cur = cur.inputs().into_iter().next()?;
            }
            _ => return None,
        }
    }
}

/// Turns the `locf`/`interpolate` calls of a projection or window node above a gap-fill node
/// into columns filled by that node.
fn apply_fills(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let Some((chain, mut gapfill)) = find_gapfill(&plan) else {
        // Not a gap-fill query: the markers return their argument, as in TimescaleDB.
        return Ok(Transformed::no(plan));
    };
    let exprs = plan.expressions();
    if let LogicalPlan::Projection(_) = plan {
        for e in &exprs {
            let n = count(e, is_marker);
            if n > 1 {
                return Err(user_error(
                    SqlState::FeatureNotSupported,
                    "multiple interpolate/locf function calls per resultset column not supported",
                ));
            }
            let top = match e {
                Expr::Alias(Alias { expr, .. }) => expr.as_ref(),
                other => other,
            };
            if n == 1 && !is_marker(top) {
                let name = if count(e, |e| is_call(e, LOCF)) > 0 {
                    LOCF
                } else {
                    INTERPOLATE
                };
                return Err(user_error(
                    SqlState::FeatureNotSupported,
                    format!("{name} must be toplevel function call"),
                ));
            }
        }
    }
    let base_schema = Arc::clone(gapfill.input.schema());
    let mut arg_exprs: Vec<Expr> = vec![];
    let mut next_id = gapfill.fills.len();
    let preserver = NamePreserver::new(&plan);
    let mut new_exprs = Vec::with_capacity(exprs.len());
    for e in exprs {
        let saved = preserver.save(&e);
        let rewritten = e.transform_up(|e| {
            let Expr::ScalarFunction(f) = &e else {
                return Ok(Transformed::no(e));
            };
            let kind = match f.name() {
                LOCF => FillKind::Locf,
                INTERPOLATE => FillKind::Interpolate,
                _ => return Ok(Transformed::no(e)),
            };
            for c in f.args.iter().flat_map(|a| a.column_refs()) {
                if !base_schema.has_column(c) {
                    return Err(user_error(
                        SqlState::FeatureNotSupported,
                        format!("window functions must not be below {}", kind.name()),
                    ));
                }
            }
            let id = next_id;
            next_id += 1;
            let mut arg_column = |expr: &Expr, suffix: &str| {
                let name = format!("{ARG_PREFIX}{id}{suffix}");
                arg_exprs.push(expr.clone().alias(name.clone()));
                Column::new_unqualified(name)
            };
            let column = arg_column(&f.args[0], "");
            let optional = |i: usize| f.args.get(i).filter(|a| !is_null_literal(a));
            let prev = optional(1).map(|a| arg_column(a, "_prev"));
            let (next, treat_null_as_missing) = match kind {
                FillKind::Interpolate => (optional(2).map(|a| arg_column(a, "_next")), false),
                FillKind::Locf => (None, treat_null_literal(f.args.get(2))?),
            };
            gapfill.fills.push(Fill {
                kind,
                column: column.clone(),
                prev,
                next,
                treat_null_as_missing,
            });
            Ok(Transformed::yes(Expr::Column(column)))
        })?;
        new_exprs.push(saved.restore(rewritten.data));
    }
    if arg_exprs.is_empty() {
        return Ok(Transformed::no(plan));
    }
    // The arguments are computed below the gap-fill node, from the aggregate's output.
    let mut projection: Vec<Expr> = base_schema
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    projection.extend(arg_exprs);
    gapfill.input = LogicalPlan::Projection(Projection::try_new(
        projection,
        Arc::new(gapfill.input.clone()),
    )?);
    gapfill.schema = output_schema(&gapfill.input, &gapfill.time, &gapfill.groups)?;
    let mut input = extension(gapfill);
    for node in chain.into_iter().rev() {
        input = node.with_new_exprs(node.expressions(), vec![input])?;
    }
    Ok(Transformed::yes(
        plan.with_new_exprs(new_exprs, vec![input])?,
    ))
}

/// `treat_null_as_missing` must be a boolean literal (TimescaleDB's rule).
fn treat_null_literal(arg: Option<&Expr>) -> Result<bool> {
    match arg.map(strip_casts) {
        None => Ok(false),
        Some(Expr::Literal(ScalarValue::Boolean(b), _)) => Ok(b.unwrap_or(false)),
        Some(Expr::Literal(v, _)) if v.is_null() => Ok(false),
        Some(_) => Err(user_error(
            SqlState::FeatureNotSupported,
            "invalid locf argument: treat_null_as_missing must be a BOOL literal",
        )),
    }
}
