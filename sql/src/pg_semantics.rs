//! PostgreSQL semantics applied to the analysed logical plan (an analyzer rule that runs
//! after DataFusion's type coercion, so every expression's type is known and implicit
//! casts are explicit).
//!
//! **Session time zone.** Strata stores `timestamptz` as `Timestamp(µs, "+00:00")`, and
//! DataFusion/Arrow compute a timestamptz's wall clock in the zone of its *type*. PostgreSQL
//! uses the session `TimeZone`. So, with the session zone `Z` (DataFusion's
//! `execution.time_zone`, kept equal to the session setting):
//! - a string literal cast to `timestamptz`/`timestamp`/`date` (explicit, or implicit as in
//!   `ts > '2024-07-01 12:00'`) is parsed with PostgreSQL's input syntax, a timestamptz
//!   without an explicit zone being local time in `Z` (DST rules included);
//! - the argument of `date_part`, `to_char` and of casts to `timestamp`, `date` and `time`
//!   is relabelled to zone `Z` (a metadata-only cast: the UTC values are unchanged).
//!   (`date_trunc` is Strata's own and reads the session zone itself:
//!   `functions/date_trunc.rs`.)
//!
//! **Integer overflow and division by zero.** `+ - * / %`, unary minus and `abs` on
//! integers become checked functions that raise 22003 `integer out of range` (`smallint`,
//! `bigint`) as PostgreSQL does instead of wrapping; float division by zero raises 22012.
//! They use Arrow's checked kernels, so execution stays vectorised, and only integer (or
//! float division) expressions are touched. DataFusion types integer literals as bigint, so
//! `int4_col + 1` is planned as bigint arithmetic; the rewrite computes it as int4 (as
//! PostgreSQL, whose literal `1` is an integer) and widens the result, so the overflow is
//! reported where PostgreSQL reports it and the plan's types do not change.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::datatypes::{
    DataType, Field, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    IntervalMonthDayNano, IntervalUnit, TimeUnit,
};
use datafusion::arrow::error::ArrowError;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::expr::{Cast, ScalarFunction};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;
use strata_pgtypes::decode::{ScalarLike, parse_text_value};
use strata_pgtypes::tz::TimeZoneSetting;

use crate::error::{Error, SqlState};

/// The analyzer rule; add it with `SessionContext::add_analyzer_rule` (it must run after
/// DataFusion's type coercion, which `add_analyzer_rule` guarantees by appending).
#[derive(Debug)]
pub struct PgSemantics {
    ops: Vec<Arc<ScalarUDF>>,
}

impl Default for PgSemantics {
    fn default() -> Self {
        Self::new()
    }
}

impl PgSemantics {
    pub fn new() -> Self {
        let ops = [
            CheckedOp::Add,
            CheckedOp::Sub,
            CheckedOp::Mul,
            CheckedOp::Div,
            CheckedOp::Rem,
            CheckedOp::Neg,
            CheckedOp::Abs,
            CheckedOp::FloatDiv,
        ]
        .into_iter()
        .map(|op| Arc::new(ScalarUDF::new_from_impl(CheckedUdf::new(op))))
        .collect();
        PgSemantics { ops }
    }

    fn udf(&self, op: CheckedOp) -> Arc<ScalarUDF> {
        Arc::clone(&self.ops[op as usize])
    }
}

struct Ctx<'a> {
    rule: &'a PgSemantics,
    /// The session zone as DataFusion's time zone string (the relabel target).
    label: Option<Arc<str>>,
    zone: TimeZoneSetting,
}

impl AnalyzerRule for PgSemantics {
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        let label: Option<Arc<str>> = config.execution.time_zone.as_deref().map(Arc::from);
        let zone = label
            .as_deref()
            .and_then(TimeZoneSetting::from_arrow_tz)
            .unwrap_or(TimeZoneSetting::UTC);
        let ctx = Ctx {
            rule: self,
            label,
            zone,
        };
        plan.transform_up_with_subqueries(|p| rewrite_plan(p, &ctx))
            .data()
    }

    fn name(&self) -> &str {
        "strata_pg_semantics"
    }
}

fn rewrite_plan(plan: LogicalPlan, ctx: &Ctx<'_>) -> Result<Transformed<LogicalPlan>> {
    rewrite_node_exprs(plan, |e, schema| rewrite_expr(e, schema, ctx))?
        .transform_data(sort_intervals_by_length)
}

/// `ORDER BY` an interval sorts by its length, as PostgreSQL does (see [`IntervalKey`]);
/// the Sort node only orders, so its output is unchanged.
fn sort_intervals_by_length(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let LogicalPlan::Sort(mut sort) = plan else {
        return Ok(Transformed::no(plan));
    };
    let schema = Arc::clone(sort.input.schema());
    let mut changed = false;
    for s in sort.expr.iter_mut() {
        // the key is numeric: a second pass finds nothing to wrap
        if matches!(s.expr.get_type(&schema), Ok(DataType::Interval(_))) {
            s.expr = interval_key(s.expr.clone());
            changed = true;
        }
    }
    let plan = LogicalPlan::Sort(sort);
    Ok(if changed {
        Transformed::yes(plan)
    } else {
        Transformed::no(plan)
    })
}

/// Rewrites the expressions of one plan node bottom-up with `f`, which sees the node's
/// input schema (a table scan's own schema for its filters); output names are kept and
/// the node's schema is recomputed if anything changed.
fn rewrite_node_exprs(
    plan: LogicalPlan,
    f: impl Fn(Expr, &DFSchema) -> Result<Transformed<Expr>>,
) -> Result<Transformed<LogicalPlan>> {
    let mut schema = merge_schema(&plan.inputs());
    if let LogicalPlan::TableScan(ts) = &plan
        && let Ok(s) =
            DFSchema::try_from_qualified_schema(ts.table_name.clone(), &ts.source.schema())
    {
        schema.merge(&s);
    }
    let preserver = NamePreserver::new(&plan);
    let t = plan.map_expressions(|e| {
        let saved = preserver.save(&e);
        let t = e.transform_up(|e| f(e, &schema))?;
        Ok(t.update_data(|e| saved.restore(e)))
    })?;
    if t.transformed {
        t.map_data(|p| p.recompute_schema())
    } else {
        Ok(t)
    }
}

fn is_int(t: &DataType) -> bool {
    matches!(t, DataType::Int16 | DataType::Int32 | DataType::Int64)
}

fn is_float(t: &DataType) -> bool {
    matches!(t, DataType::Float32 | DataType::Float64)
}

fn string_literal(e: &Expr) -> Option<&str> {
    match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)),
            _,
        ) => Some(s),
        _ => None,
    }
}

fn rewrite_expr(e: Expr, schema: &DFSchema, ctx: &Ctx<'_>) -> Result<Transformed<Expr>> {
    match e {
        Expr::Cast(Cast { expr, field }) => {
            let data_type = field.data_type().clone();
            if let Some(s) = string_literal(&expr)
                && let Some(v) = parse_datetime_literal(s, &data_type, ctx.zone)?
            {
                return Ok(Transformed::yes(Expr::Literal(v, None)));
            }
            // timestamptz -> timestamp/date/time: the wall clock of the session zone
            if matches!(
                data_type,
                DataType::Timestamp(_, None) | DataType::Date32 | DataType::Time64(_)
            ) && let Ok(DataType::Timestamp(_, Some(_))) = expr.get_type(schema)
            {
                let local = Arc::new(ScalarUDF::new_from_impl(ToLocal::new(ctx.zone)));
                return Ok(Transformed::yes(Expr::Cast(Cast::new(
                    Box::new(local.call(vec![*expr])),
                    data_type,
                ))));
            }
            // array -> text: PostgreSQL's array literal (`{a,"b c"}`), not Arrow's `[a, b c]`;
            // timestamp/interval -> text: PostgreSQL's output (`2024-01-01 12:00:00+00` in
            // the session zone, `1 day 02:00:00`), not Arrow's (`2024-01-01T12:00:00Z`);
            // float -> text: PostgreSQL's (`0`, `1e+20`, `NaN`), not Arrow's (`0.0`,
            // `100000000000000000000`), also where `||` casts a float to text
            if matches!(
                data_type,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) && matches!(
                expr.get_type(schema),
                Ok(DataType::List(_)
                    | DataType::LargeList(_)
                    | DataType::FixedSizeList(..)
                    | DataType::Timestamp(..)
                    | DataType::Interval(_)
                    | DataType::Float32
                    | DataType::Float64)
            ) {
                let text = Arc::new(ScalarUDF::new_from_impl(PgText::new(ctx.zone)));
                return Ok(Transformed::yes(Expr::Cast(Cast::new(
                    Box::new(text.call(vec![*expr])),
                    data_type,
                ))));
            }
            Ok(Transformed::no(Expr::Cast(Cast { expr, field })))
        }
        Expr::ScalarFunction(f) => rewrite_function(f, schema, ctx),
        Expr::BinaryExpr(b) => rewrite_binary(b, schema, ctx),
        Expr::Between(mut b) if matches!(b.expr.get_type(schema), Ok(DataType::Interval(_))) => {
            // compared by length, as in `rewrite_binary`
            for e in [&mut b.expr, &mut b.low, &mut b.high] {
                let inner = std::mem::replace(e.as_mut(), Expr::Literal(ScalarValue::Null, None));
                **e = interval_key(inner);
            }
            Ok(Transformed::yes(Expr::Between(b)))
        }
        Expr::Negative(inner) => match inner.get_type(schema) {
            Ok(t) if is_int(&t) => Ok(Transformed::yes(
                ctx.rule.udf(CheckedOp::Neg).call(vec![*inner]),
            )),
            _ => Ok(Transformed::no(Expr::Negative(inner))),
        },
        other => Ok(Transformed::no(other)),
    }
}

/// `expr` cast to the session zone if it is a timestamptz labelled with another zone.
fn relabel(expr: &Expr, schema: &DFSchema, ctx: &Ctx<'_>) -> Option<Expr> {
    let label = ctx.label.as_ref()?;
    match expr.get_type(schema).ok()? {
        DataType::Timestamp(unit, Some(tz)) if tz.as_ref() != label.as_ref() => {
            Some(Expr::Cast(Cast::new(
                Box::new(expr.clone()),
                DataType::Timestamp(unit, Some(Arc::clone(label))),
            )))
        }
        _ => None,
    }
}

fn rewrite_function(
    mut f: ScalarFunction,
    schema: &DFSchema,
    ctx: &Ctx<'_>,
) -> Result<Transformed<Expr>> {
    let name = f.func.name().to_ascii_lowercase();
    match name.as_str() {
        "date_part" | "datepart" | "to_char" => {
            let mut changed = false;
            for a in f.args.iter_mut() {
                if let Some(r) = relabel(a, schema, ctx) {
                    *a = r;
                    changed = true;
                }
            }
            let e = Expr::ScalarFunction(f);
            Ok(if changed {
                Transformed::yes(e)
            } else {
                Transformed::no(e)
            })
        }
        "abs" if f.args.len() == 1 => match f.args[0].get_type(schema) {
            Ok(t) if is_int(&t) => Ok(Transformed::yes(ctx.rule.udf(CheckedOp::Abs).call(f.args))),
            _ => Ok(Transformed::no(Expr::ScalarFunction(f))),
        },
        _ => Ok(Transformed::no(Expr::ScalarFunction(f))),
    }
}

/// `x` if `e` is `CAST(x AS bigint)` with `x` an int2/int4 expression (or an int4 literal
/// typed bigint by DataFusion), as an int4 expression.
fn narrow_to_int4(e: &Expr, schema: &DFSchema) -> Option<Expr> {
    match e {
        Expr::Cast(Cast { expr, field }) if field.data_type() == &DataType::Int64 => {
            match expr.get_type(schema).ok()? {
                DataType::Int32 => Some((**expr).clone()),
                DataType::Int16 => Some(Expr::Cast(Cast::new(expr.clone(), DataType::Int32))),
                _ => None,
            }
        }
        Expr::Literal(ScalarValue::Int64(Some(v)), _) => i32::try_from(*v)
            .ok()
            .map(|v| Expr::Literal(ScalarValue::Int32(Some(v)), None)),
        _ => None,
    }
}

/// `= <> < <= > >=` and `IS [NOT] DISTINCT FROM`.
pub(crate) fn is_comparison(op: Operator) -> bool {
    matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom
    )
}

fn rewrite_binary(b: BinaryExpr, schema: &DFSchema, ctx: &Ctx<'_>) -> Result<Transformed<Expr>> {
    if is_comparison(b.op)
        && let (Ok(DataType::Interval(_)), Ok(DataType::Interval(_))) =
            (b.left.get_type(schema), b.right.get_type(schema))
    {
        return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
            Box::new(interval_key(*b.left)),
            b.op,
            Box::new(interval_key(*b.right)),
        ))));
    }
    let op = match b.op {
        Operator::Plus => CheckedOp::Add,
        Operator::Minus => CheckedOp::Sub,
        Operator::Multiply => CheckedOp::Mul,
        Operator::Divide => CheckedOp::Div,
        Operator::Modulo => CheckedOp::Rem,
        _ => return Ok(Transformed::no(Expr::BinaryExpr(b))),
    };
    let (Ok(lt), Ok(rt)) = (b.left.get_type(schema), b.right.get_type(schema)) else {
        return Ok(Transformed::no(Expr::BinaryExpr(b)));
    };
    if lt != rt {
        return Ok(Transformed::no(Expr::BinaryExpr(b)));
    }
    if is_float(&lt) {
        if op == CheckedOp::Div {
            return Ok(Transformed::yes(
                ctx.rule
                    .udf(CheckedOp::FloatDiv)
                    .call(vec![*b.left, *b.right]),
            ));
        }
        return Ok(Transformed::no(Expr::BinaryExpr(b)));
    }
    if !is_int(&lt) {
        return Ok(Transformed::no(Expr::BinaryExpr(b)));
    }
    // int4 op int4 widened to bigint by DataFusion's coercion: compute as int4.
    if lt == DataType::Int64
        && !matches!(
            (&*b.left, &*b.right),
            (Expr::Literal(..), Expr::Literal(..))
        )
        && let (Some(l), Some(r)) = (
            narrow_to_int4(&b.left, schema),
            narrow_to_int4(&b.right, schema),
        )
    {
        let e = ctx.rule.udf(op).call(vec![l, r]);
        return Ok(Transformed::yes(Expr::Cast(Cast::new(
            Box::new(e),
            DataType::Int64,
        ))));
    }
    Ok(Transformed::yes(
        ctx.rule.udf(op).call(vec![*b.left, *b.right]),
    ))
}

/// A string literal cast to a date/time type, parsed with PostgreSQL's input syntax in the
/// session zone. `None` for other target types.
fn parse_datetime_literal(
    s: &str,
    target: &DataType,
    zone: TimeZoneSetting,
) -> Result<Option<ScalarValue>> {
    let (field_type, unit, tz) = match target {
        DataType::Timestamp(unit, tz) => (
            DataType::Timestamp(
                TimeUnit::Microsecond,
                tz.as_ref().map(|_| Arc::from("+00:00")),
            ),
            *unit,
            tz.clone(),
        ),
        DataType::Date32 => (DataType::Date32, TimeUnit::Second, None),
        _ => return Ok(None),
    };
    let field = Field::new("v", field_type, true);
    let v = parse_text_value(s, &field, zone).map_err(|e| {
        DataFusionError::from(Error::user(
            crate::dml::sqlstate_of_code(e.sqlstate),
            e.message,
        ))
    })?;
    let out_of_range = || {
        DataFusionError::from(Error::user(
            SqlState::DatetimeFieldOverflow,
            "timestamp out of range",
        ))
    };
    let us = match v {
        ScalarLike::Date(d) => return Ok(Some(ScalarValue::Date32(Some(d)))),
        ScalarLike::TimestampMicros(us) | ScalarLike::TimestamptzMicros(us) => us,
        _ => return Ok(None),
    };
    let infinite = us == i64::MAX || us == i64::MIN;
    Ok(Some(match unit {
        TimeUnit::Second => ScalarValue::TimestampSecond(Some(us.div_euclid(1_000_000)), tz),
        TimeUnit::Millisecond => ScalarValue::TimestampMillisecond(Some(us.div_euclid(1000)), tz),
        TimeUnit::Microsecond => ScalarValue::TimestampMicrosecond(Some(us), tz),
        TimeUnit::Nanosecond => {
            let ns = if infinite {
                us
            } else {
                us.checked_mul(1000).ok_or_else(out_of_range)?
            };
            ScalarValue::TimestampNanosecond(Some(ns), tz)
        }
    }))
}

// ---------------------------------------------------------------------------------------
// Checked arithmetic

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum CheckedOp {
    Add = 0,
    Sub,
    Mul,
    Div,
    Rem,
    Neg,
    Abs,
    FloatDiv,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct CheckedUdf {
    op: CheckedOp,
    sig: Signature,
}

impl CheckedUdf {
    fn new(op: CheckedOp) -> Self {
        let n = if matches!(op, CheckedOp::Neg | CheckedOp::Abs) {
            1
        } else {
            2
        };
        CheckedUdf {
            op,
            sig: Signature::any(n, Volatility::Immutable),
        }
    }
}

fn out_of_range(t: &DataType) -> DataFusionError {
    let name = match t {
        DataType::Int16 => "smallint",
        DataType::Int32 => "integer",
        _ => "bigint",
    };
    DataFusionError::from(Error::user(
        SqlState::NumericValueOutOfRange,
        format!("{name} out of range"),
    ))
}

fn division_by_zero() -> DataFusionError {
    DataFusionError::from(Error::user(SqlState::DivisionByZero, "division by zero"))
}

fn map_arrow(e: ArrowError, t: &DataType) -> DataFusionError {
    match e {
        ArrowError::DivideByZero => division_by_zero(),
        ArrowError::ArithmeticOverflow(_) => out_of_range(t),
        other => DataFusionError::from(other),
    }
}

/// Whether a float divisor (array or scalar) has a non-null zero.
fn has_zero(a: &dyn Array) -> bool {
    fn any_zero<T: arrow::datatypes::ArrowPrimitiveType>(a: &dyn Array, zero: T::Native) -> bool
    where
        T::Native: PartialEq,
    {
        let p = a.as_primitive::<T>();
        if p.null_count() == 0 {
            p.values().iter().any(|v| *v == zero)
        } else {
            p.iter().any(|v| v == Some(zero))
        }
    }
    match a.data_type() {
        DataType::Float64 => any_zero::<Float64Type>(a, 0.0),
        DataType::Float32 => any_zero::<Float32Type>(a, 0.0),
        _ => false,
    }
}

fn checked_abs(a: &dyn Array) -> Result<ArrayRef, ArrowError> {
    use datafusion::arrow::compute::kernels::arity::try_unary;
    let overflow = || ArrowError::ArithmeticOverflow("abs".into());
    Ok(match a.data_type() {
        DataType::Int16 => Arc::new(try_unary::<Int16Type, _, Int16Type>(
            a.as_primitive(),
            |v| v.checked_abs().ok_or_else(overflow),
        )?),
        DataType::Int32 => Arc::new(try_unary::<Int32Type, _, Int32Type>(
            a.as_primitive(),
            |v| v.checked_abs().ok_or_else(overflow),
        )?),
        DataType::Int64 => Arc::new(try_unary::<Int64Type, _, Int64Type>(
            a.as_primitive(),
            |v| v.checked_abs().ok_or_else(overflow),
        )?),
        other => {
            return Err(ArrowError::InvalidArgumentError(format!(
                "abs: unexpected {other}"
            )));
        }
    })
}

impl ScalarUDFImpl for CheckedUdf {
    fn name(&self) -> &str {
        match self.op {
            CheckedOp::Add => "pg_int_add",
            CheckedOp::Sub => "pg_int_sub",
            CheckedOp::Mul => "pg_int_mul",
            CheckedOp::Div => "pg_int_div",
            CheckedOp::Rem => "pg_int_mod",
            CheckedOp::Neg => "pg_int_neg",
            CheckedOp::Abs => "pg_int_abs",
            CheckedOp::FloatDiv => "pg_float_div",
        }
    }

    fn signature(&self) -> &Signature {
        &self.sig
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args.first().cloned().unwrap_or(DataType::Int64))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let t = args.return_field.data_type().clone();
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let n = args.number_rows;
        let result: ArrayRef = match self.op {
            CheckedOp::Neg | CheckedOp::Abs => {
                let a = args.args[0].to_array(if all_scalar { 1 } else { n })?;
                let r = if self.op == CheckedOp::Neg {
                    numeric::neg(&a)
                } else {
                    checked_abs(&a)
                };
                r.map_err(|e| map_arrow(e, &t))?
            }
            _ => {
                let (l, r) = (&args.args[0], &args.args[1]);
                if self.op == CheckedOp::FloatDiv {
                    let zero = match r {
                        ColumnarValue::Array(a) => has_zero(a),
                        ColumnarValue::Scalar(s) => has_zero(&s.to_array()?),
                    };
                    if zero {
                        return Err(division_by_zero());
                    }
                }
                let ld: Box<dyn arrow::array::Datum> = match l {
                    ColumnarValue::Array(a) => Box::new(Arc::clone(a)),
                    ColumnarValue::Scalar(s) => Box::new(s.to_scalar()?),
                };
                let rd: Box<dyn arrow::array::Datum> = match r {
                    ColumnarValue::Array(a) => Box::new(Arc::clone(a)),
                    ColumnarValue::Scalar(s) => Box::new(s.to_scalar()?),
                };
                let f = match self.op {
                    CheckedOp::Add => numeric::add,
                    CheckedOp::Sub => numeric::sub,
                    CheckedOp::Mul => numeric::mul,
                    CheckedOp::Div | CheckedOp::FloatDiv => numeric::div,
                    _ => numeric::rem,
                };
                f(ld.as_ref(), rd.as_ref()).map_err(|e| map_arrow(e, &t))?
            }
        };
        if all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &result, 0,
            )?))
        } else {
            Ok(ColumnarValue::Array(result))
        }
    }
}

// ---------------------------------------------------------------------------------------
// timestamptz -> wall clock of the session zone

/// `pg_text(value)`: a value's PostgreSQL text form, as the wire sends it (for arrays:
/// element quoting, `NULL`, nested braces; for timestamps, the session zone), which is
/// what PostgreSQL's cast to text gives (the type's output function).
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgText {
    zone: TimeZoneSetting,
    sig: Signature,
}

impl PgText {
    fn new(zone: TimeZoneSetting) -> Self {
        PgText {
            zone,
            sig: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for PgText {
    fn name(&self) -> &str {
        "pg_text"
    }

    fn signature(&self) -> &Signature {
        &self.sig
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let a = args.args[0].to_array(if scalar { 1 } else { args.number_rows })?;
        let field = args
            .arg_fields
            .first()
            .map(|f| f.as_ref().clone())
            .unwrap_or_else(|| Field::new("a", a.data_type().clone(), true));
        let opts = strata_pgtypes::encode::TextOptions {
            timezone: self.zone,
            ..Default::default()
        };
        let encoder = strata_pgtypes::encode::ColumnEncoder::new(&field, false, &opts);
        let mut out = StringBuilder::new();
        let mut buf = Vec::new();
        for row in 0..a.len() {
            buf.clear();
            let present = encoder
                .encode(a.as_ref(), row, &mut buf)
                .map_err(|e| DataFusionError::Execution(format!("cast to text: {e}")))?;
            if present {
                out.append_value(String::from_utf8_lossy(&buf));
            } else {
                out.append_null();
            }
        }
        let r: ArrayRef = Arc::new(out.finish());
        if scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&r, 0)?))
        } else {
            Ok(ColumnarValue::Array(r))
        }
    }
}

/// PostgreSQL's `array_length(array, dimension)`, in place of DataFusion's: `integer`,
/// not an unsigned 64-bit count (which clients are told is `numeric`), and NULL for an
/// empty array or a dimension the array lacks (an empty array has no dimensions in
/// PostgreSQL; DataFusion answers 0). The counting is DataFusion's.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgArrayLength {
    sig: Signature,
    aliases: Vec<String>,
}

impl PgArrayLength {
    pub fn udf() -> ScalarUDF {
        let datafusion = datafusion::functions_nested::length::array_length_udf();
        ScalarUDF::new_from_impl(PgArrayLength {
            sig: datafusion.signature().clone(),
            aliases: datafusion.aliases().to_vec(),
        })
    }
}

impl ScalarUDFImpl for PgArrayLength {
    fn name(&self) -> &str {
        "array_length"
    }

    /// DataFusion's alias too: a state rebuilt from an existing one
    /// (`SessionStateBuilder::new_from_existing`) registers its functions again in hash
    /// order, and DataFusion's function, still registered under `list_length`, would take
    /// back `array_length` in some processes and not others.
    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.sig
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let counts = datafusion::functions_nested::length::array_length_udf()
            .inner()
            .invoke_with_args(args)?
            .into_array(1)?;
        let counts = cast(&counts, &DataType::Int32)?;
        let counts = counts.as_primitive::<Int32Type>();
        let r: ArrayRef = Arc::new(
            counts
                .iter()
                .map(|n| n.filter(|&n| n != 0))
                .collect::<Int32Array>(),
        );
        if scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&r, 0)?))
        } else {
            Ok(ColumnarValue::Array(r))
        }
    }
}

/// `pg_to_local(timestamptz)`: the session zone's wall-clock time as a timestamp without
/// time zone (what PostgreSQL's timestamptz -> timestamp cast gives).
#[derive(Debug, PartialEq, Eq, Hash)]
struct ToLocal {
    zone: TimeZoneSetting,
    sig: Signature,
}

impl ToLocal {
    fn new(zone: TimeZoneSetting) -> Self {
        ToLocal {
            zone,
            sig: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for ToLocal {
    fn name(&self) -> &str {
        "pg_to_local"
    }

    fn signature(&self) -> &Signature {
        &self.sig
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args.first() {
            Some(DataType::Timestamp(unit, _)) => Ok(DataType::Timestamp(*unit, None)),
            _ => Ok(DataType::Timestamp(TimeUnit::Microsecond, None)),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use datafusion::arrow::array::PrimitiveArray;
        use datafusion::arrow::datatypes::{
            ArrowPrimitiveType, TimestampMicrosecondType, TimestampMillisecondType,
            TimestampNanosecondType, TimestampSecondType,
        };
        fn shift<T: ArrowPrimitiveType<Native = i64>>(
            a: &dyn Array,
            per_sec: i64,
            zone: TimeZoneSetting,
        ) -> ArrayRef {
            let p = a.as_primitive::<T>();
            let out: PrimitiveArray<T> = p.unary(|v| {
                if v == i64::MAX || v == i64::MIN {
                    return v;
                }
                let off = zone.utc_offset(v.div_euclid(per_sec)) as i64;
                v.saturating_add(off * per_sec)
            });
            Arc::new(out)
        }
        let scalar = matches!(args.args[0], ColumnarValue::Scalar(_));
        let a = args.args[0].to_array(if scalar { 1 } else { args.number_rows })?;
        let zone = self.zone;
        let r = match a.data_type() {
            DataType::Timestamp(TimeUnit::Second, _) => shift::<TimestampSecondType>(&a, 1, zone),
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                shift::<TimestampMillisecondType>(&a, 1000, zone)
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                shift::<TimestampMicrosecondType>(&a, 1_000_000, zone)
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                shift::<TimestampNanosecondType>(&a, 1_000_000_000, zone)
            }
            other => {
                return Err(DataFusionError::Execution(format!(
                    "pg_to_local: unexpected {other}"
                )));
            }
        };
        if scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&r, 0)?))
        } else {
            Ok(ColumnarValue::Array(r))
        }
    }
}

// ---------------------------------------------------------------------------------------
// interval * number, interval / number

/// `pg_interval_mul(interval, float8)` / `pg_interval_div(interval, float8)`: PostgreSQL's
/// `interval_mul` / `interval_div` (fractional months cascade into days at 30 days a month,
/// fractional days into time, rounded to the microsecond). The SQL rewrite
/// ([`crate::rewrite`]) produces the calls from `interval * n`, `n * interval`,
/// `interval / n`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IntervalScale {
    divide: bool,
    sig: Signature,
}

impl IntervalScale {
    pub fn udf(divide: bool) -> ScalarUDF {
        ScalarUDF::new_from_impl(IntervalScale {
            divide,
            sig: Signature::exact(
                vec![
                    DataType::Interval(IntervalUnit::MonthDayNano),
                    DataType::Float64,
                ],
                Volatility::Immutable,
            ),
        })
    }
}

/// PostgreSQL compares intervals by their length with 30-day months and 24-hour days
/// (`interval_cmp_value`): `'1 day' = '24 hours'`, `'1 mon' < '31 days'`. Arrow compares
/// the fields one after the other (months, then days, then nanoseconds), so `'25 hours' >
/// '1 day'` was false, and `now() - ts > interval '1 day'` (a difference of timestamps is
/// all nanoseconds) never true. Both sides of a comparison of intervals become this key:
/// the length in nanoseconds, an `i128` (as `numeric(38, 0)`), exact for every interval.
#[derive(Debug, PartialEq, Eq, Hash)]
struct IntervalKey {
    sig: Signature,
}

/// `pg_interval_key(e)`: the length of interval `e`, to compare or sort by.
fn interval_key(e: Expr) -> Expr {
    Arc::new(ScalarUDF::new_from_impl(IntervalKey::new())).call(vec![e])
}

impl IntervalKey {
    fn new() -> Self {
        IntervalKey {
            sig: Signature::exact(
                vec![DataType::Interval(IntervalUnit::MonthDayNano)],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for IntervalKey {
    fn name(&self) -> &str {
        "pg_interval_key"
    }

    fn signature(&self) -> &Signature {
        &self.sig
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Decimal128(38, 0))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        const NS_PER_DAY: i128 = 86_400 * 1_000_000_000;
        let key = |iv: IntervalMonthDayNano| {
            (i128::from(iv.months) * 30 + i128::from(iv.days)) * NS_PER_DAY
                + i128::from(iv.nanoseconds)
        };
        match &args.args[0] {
            ColumnarValue::Scalar(ScalarValue::IntervalMonthDayNano(v)) => Ok(
                ColumnarValue::Scalar(ScalarValue::Decimal128(v.map(key), 38, 0)),
            ),
            ColumnarValue::Array(a) => {
                let out: arrow::array::Decimal128Array = a
                    .as_primitive::<arrow::datatypes::IntervalMonthDayNanoType>()
                    .unary(key);
                Ok(ColumnarValue::Array(Arc::new(
                    out.with_precision_and_scale(38, 0)?,
                )))
            }
            other => datafusion::common::exec_err!(
                "pg_interval_key: unexpected argument {:?}",
                other.data_type()
            ),
        }
    }
}

fn interval_out_of_range() -> DataFusionError {
    DataFusionError::from(Error::user(
        SqlState::DatetimeFieldOverflow,
        "interval out of range",
    ))
}

/// `TSROUND`: round to microseconds.
fn tsround(v: f64) -> f64 {
    (v * 1e6).round_ties_even() / 1e6
}

/// PostgreSQL 15 `interval_mul` (`divide` = false, factor applied by multiplication) or
/// `interval_div`; `iv` in Arrow's months/days/nanoseconds (µs precision).
fn scale_interval(
    iv: IntervalMonthDayNano,
    factor: f64,
    divide: bool,
) -> Result<IntervalMonthDayNano> {
    const DAYS_PER_MONTH: f64 = 30.0;
    const SECS_PER_DAY: f64 = 86_400.0;
    if divide && factor == 0.0 {
        return Err(division_by_zero());
    }
    let apply = |x: f64| if divide { x / factor } else { x * factor };
    let fits_i32 = |v: f64| !v.is_nan() && v >= i32::MIN as f64 && v < -(i32::MIN as f64);
    let m = apply(iv.months as f64);
    let d = apply(iv.days as f64);
    if !fits_i32(m) || !fits_i32(d) {
        return Err(interval_out_of_range());
    }
    let months = m as i32;
    let mut days = d as i32;
    let month_remainder_days = tsround((m - months as f64) * DAYS_PER_MONTH);
    let mut sec_remainder = tsround(
        (d - days as f64 + month_remainder_days - month_remainder_days.trunc()) * SECS_PER_DAY,
    );
    if sec_remainder.abs() >= SECS_PER_DAY {
        let whole = (sec_remainder / SECS_PER_DAY) as i32;
        days = days.checked_add(whole).ok_or_else(interval_out_of_range)?;
        sec_remainder -= whole as f64 * SECS_PER_DAY;
    }
    days = days
        .checked_add(month_remainder_days as i32)
        .ok_or_else(interval_out_of_range)?;
    let usecs = (iv.nanoseconds / 1000) as f64;
    let t = (apply(usecs) + sec_remainder * 1e6).round_ties_even();
    if t.is_nan() || t < i64::MIN as f64 || t >= -(i64::MIN as f64) {
        return Err(interval_out_of_range());
    }
    let nanos = (t as i64)
        .checked_mul(1000)
        .ok_or_else(interval_out_of_range)?;
    Ok(IntervalMonthDayNano::new(months, days, nanos))
}

impl ScalarUDFImpl for IntervalScale {
    fn name(&self) -> &str {
        if self.divide {
            "pg_interval_div"
        } else {
            "pg_interval_mul"
        }
    }

    fn signature(&self) -> &Signature {
        &self.sig
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Interval(IntervalUnit::MonthDayNano))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use datafusion::arrow::array::IntervalMonthDayNanoArray;
        use datafusion::arrow::datatypes::IntervalMonthDayNanoType;
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let n = if all_scalar { 1 } else { args.number_rows };
        let iv = args.args[0].to_array(n)?;
        let f = args.args[1].to_array(n)?;
        let iv = iv.as_primitive::<IntervalMonthDayNanoType>();
        let f = f.as_primitive::<Float64Type>();
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            if iv.is_null(i) || f.is_null(i) {
                out.push(None);
            } else {
                out.push(Some(scale_interval(iv.value(i), f.value(i), self.divide)?));
            }
        }
        let r: ArrayRef = Arc::new(IntervalMonthDayNanoArray::from(out));
        if all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&r, 0)?))
        } else {
            Ok(ColumnarValue::Array(r))
        }
    }
}

/// `polroles = '{0}'` (psql's `\d+`): PostgreSQL gives an untyped literal compared with an
/// array the array's type; DataFusion cannot compare a list with text. At planning, where
/// the other side's type is known, a string literal compared with a list becomes that
/// list (its PostgreSQL array syntax parsed, the elements cast to the element type).
/// Likewise `ix.indisprimary = 'f'` (SQLAlchemy 1.4's `get_indexes`): a string literal
/// compared with a boolean is read as a boolean (`'t'`, `'off'`, ...; 22P02 otherwise),
/// and one compared with a timestamp or date as that type.
#[derive(Debug)]
pub struct UntypedLiteralComparison;

impl datafusion::logical_expr::planner::ExprPlanner for UntypedLiteralComparison {
    fn plan_binary_op(
        &self,
        expr: datafusion::logical_expr::planner::RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<
        datafusion::logical_expr::planner::PlannerResult<
            datafusion::logical_expr::planner::RawBinaryExpr,
        >,
    > {
        use datafusion::logical_expr::planner::PlannerResult;
        use sqlparser::ast::BinaryOperator as B;
        if expr.op == B::Plus {
            // `ts + '1 hour'`: PostgreSQL has `timestamp + interval` only, so the literal is
            // an interval (DataFusion could not coerce `timestamp + Utf8`). `ts - '...'`
            // is `ts - ts` in PostgreSQL and `date + '...'` ambiguous: both left alone.
            let is_timestamp = |e: &Expr| matches!(e.get_type(schema), Ok(DataType::Timestamp(..)));
            let mut expr = expr;
            if is_timestamp(&expr.left)
                && let Some(iv) = interval_literal(&expr.right)?
            {
                expr.right = iv;
            } else if is_timestamp(&expr.right)
                && let Some(iv) = interval_literal(&expr.left)?
            {
                expr.left = iv;
            }
            return Ok(PlannerResult::Original(expr));
        }
        if !matches!(
            expr.op,
            B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq
        ) {
            return Ok(PlannerResult::Original(expr));
        }
        let list_of = |e: &Expr| match e.get_type(schema) {
            Ok(t @ (DataType::List(_) | DataType::LargeList(_))) => Some(t),
            _ => None,
        };
        let as_list = |e: &Expr, t: &DataType| {
            let items = crate::rewrite::parse_array_literal(string_literal(e)?)?;
            let elems = items
                .into_iter()
                .map(|i| Expr::Literal(ScalarValue::Utf8(i), None))
                .collect();
            Some(Expr::Cast(Cast::new(
                Box::new(datafusion::functions_nested::expr_fn::make_array(elems)),
                t.clone(),
            )))
        };
        let is_bool = |e: &Expr| matches!(e.get_type(schema), Ok(DataType::Boolean));
        let as_bool = |e: &Expr| -> Result<Option<Expr>> {
            let Some(s) = string_literal(e) else {
                return Ok(None);
            };
            let field = Field::new("v", DataType::Boolean, true);
            match parse_text_value(s, &field, TimeZoneSetting::UTC) {
                Ok(ScalarLike::Bool(b)) => {
                    Ok(Some(Expr::Literal(ScalarValue::Boolean(Some(b)), None)))
                }
                Ok(_) => Ok(None),
                Err(e) => Err(DataFusionError::from(Error::user(
                    crate::dml::sqlstate_of_code(e.sqlstate),
                    e.message,
                ))),
            }
        };
        // A date/time expression compared with a string literal: the literal is read as
        // that type (with PostgreSQL's input syntax, in `PgSemantics`), as PostgreSQL
        // types an unknown literal. DataFusion's coercion would read it as a nanosecond
        // timestamp first, limited to the years 1677-2262 (`ts < '1500-01-01'` failed).
        let temporal_of = |e: &Expr| match e.get_type(schema) {
            Ok(t @ (DataType::Timestamp(..) | DataType::Date32)) => Some(t),
            _ => None,
        };
        let as_temporal = |e: &Expr, t: &DataType| {
            string_literal(e)?;
            Some(Expr::Cast(Cast::new(Box::new(e.clone()), t.clone())))
        };
        let mut expr = expr;
        if let Some(t) = temporal_of(&expr.left)
            && let Some(l) = as_temporal(&expr.right, &t)
        {
            expr.right = l;
        } else if let Some(t) = temporal_of(&expr.right)
            && let Some(l) = as_temporal(&expr.left, &t)
        {
            expr.left = l;
        } else if let Some(t) = list_of(&expr.left)
            && let Some(l) = as_list(&expr.right, &t)
        {
            expr.right = l;
        } else if let Some(t) = list_of(&expr.right)
            && let Some(l) = as_list(&expr.left, &t)
        {
            expr.left = l;
        } else if is_bool(&expr.left)
            && let Some(b) = as_bool(&expr.right)?
        {
            expr.right = b;
        } else if is_bool(&expr.right)
            && let Some(b) = as_bool(&expr.left)?
        {
            expr.left = b;
        }
        Ok(PlannerResult::Original(expr))
    }
}

/// A string literal read as an interval with PostgreSQL's input syntax.
fn interval_literal(e: &Expr) -> Result<Option<Expr>> {
    let Some(text) = string_literal(e) else {
        return Ok(None);
    };
    let field = Field::new("v", DataType::Interval(IntervalUnit::MonthDayNano), true);
    match parse_text_value(text, &field, TimeZoneSetting::UTC) {
        Ok(ScalarLike::IntervalMDN {
            months,
            days,
            nanos,
        }) => Ok(Some(Expr::Literal(
            ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(months, days, nanos))),
            None,
        ))),
        Ok(_) => Ok(None),
        Err(e) => Err(DataFusionError::from(Error::user(
            crate::dml::sqlstate_of_code(e.sqlstate),
            e.message,
        ))),
    }
}

/// Floats mixed with `numeric` are computed in `float8`, as PostgreSQL does: it has no
/// float-numeric operators and casts numeric to float8 implicitly, so `usage_user > 90.0`
/// (the literal is numeric) compares floats. DataFusion's type coercion goes the other
/// way and casts the float to a decimal type: every row was converted, a value of 1e15 or
/// more failed with an overflow error, and `0.1::float8 + 0.2 = 0.3` was true.
///
/// Runs on the plan as SQL planning leaves it, before DataFusion's analyzer (so the types
/// the client is told are the ones computed): wherever operands are coerced to one type
/// (binary operators, `BETWEEN`, `IN` lists, `CASE` results and operands,
/// `coalesce`/`greatest`/`least`/`nullif`) and a float meets a decimal, the decimal
/// operands are cast to `float8`.
pub fn float_over_numeric(plan: LogicalPlan) -> Result<LogicalPlan> {
    if !mentions_decimal(&plan)? {
        return Ok(plan);
    }
    // Once an expression changed type, every node visited after it (its ancestors among
    // them) recomputes its schema, so outer projections, aliases and aggregates describe
    // the new type.
    let mut changed = false;
    plan.transform_up_with_subqueries(|p| {
        let t = rewrite_node_exprs(p, float_over_numeric_expr)?;
        changed |= t.transformed;
        if changed && !t.transformed && !matches!(t.data, LogicalPlan::TableScan(_)) {
            return Ok(Transformed::yes(t.data.recompute_schema()?));
        }
        Ok(t)
    })
    .data()
}

/// Whether a decimal value can appear in `plan`: a decimal column in a node's schema, a
/// decimal literal or a cast to a decimal type. Most statements have none, and are left
/// alone without typing their expressions.
fn mentions_decimal(plan: &LogicalPlan) -> Result<bool> {
    plan.exists(|p| {
        if p.schema()
            .fields()
            .iter()
            .any(|f| f.data_type().is_decimal())
        {
            return Ok(true);
        }
        let mut found = false;
        p.apply_expressions(|e| {
            found = e.exists(|x| {
                Ok(match x {
                    Expr::Literal(v, _) => v.data_type().is_decimal(),
                    Expr::Cast(c) => c.field.data_type().is_decimal(),
                    Expr::TryCast(c) => c.field.data_type().is_decimal(),
                    _ => false,
                })
            })?;
            Ok(if found {
                TreeNodeRecursion::Stop
            } else {
                TreeNodeRecursion::Continue
            })
        })?;
        Ok(found)
    })
}

/// Operands that are coerced to one type. An operator compares or computes a float with
/// a numeric in float8 (PostgreSQL resolves `float4 > numeric` to `float48gt`); a common
/// type (`CASE` results, `coalesce`, `greatest`, `least`) is the float type of the
/// operands, so `least(real_col, 2.5)` stays `real`, as in PostgreSQL.
struct Operands<'a> {
    exprs: Vec<&'a mut Expr>,
    common_type: bool,
}

/// The groups of operands of `e` that are coerced to one type, if it has such.
fn coerced_together(e: &mut Expr) -> Vec<Operands<'_>> {
    let operator = |exprs| Operands {
        exprs,
        common_type: false,
    };
    match e {
        Expr::BinaryExpr(b) => vec![operator(vec![b.left.as_mut(), b.right.as_mut()])],
        Expr::Between(b) => vec![operator(vec![
            b.expr.as_mut(),
            b.low.as_mut(),
            b.high.as_mut(),
        ])],
        Expr::InList(l) => {
            let mut v = vec![l.expr.as_mut()];
            v.extend(l.list.iter_mut());
            vec![operator(v)]
        }
        Expr::Case(c) => {
            let mut results: Vec<&mut Expr> = vec![];
            let mut operands: Vec<&mut Expr> = vec![];
            let simple = c.expr.is_some();
            if let Some(x) = c.expr.as_mut() {
                operands.push(x.as_mut());
            }
            for (w, t) in c.when_then_expr.iter_mut() {
                if simple {
                    operands.push(w.as_mut());
                }
                results.push(t.as_mut());
            }
            if let Some(x) = c.else_expr.as_mut() {
                results.push(x.as_mut());
            }
            vec![
                Operands {
                    exprs: results,
                    common_type: true,
                },
                operator(operands),
            ]
        }
        Expr::ScalarFunction(f) => {
            let common_type = match f.name() {
                "nullif" => false,
                "coalesce" | "greatest" | "least" => true,
                _ => return vec![],
            };
            vec![Operands {
                exprs: f.args.iter_mut().collect(),
                common_type,
            }]
        }
        _ => vec![],
    }
}

fn float_over_numeric_expr(mut e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let is_decimal = |t: &DataType| t.is_decimal();
    let mut changed = false;
    for group in coerced_together(&mut e) {
        let types: Vec<Option<DataType>> = group
            .exprs
            .iter()
            .map(|x| x.get_type(schema).ok())
            .collect();
        let floats: Vec<&DataType> = types.iter().flatten().filter(|t| t.is_floating()).collect();
        if floats.is_empty() || !types.iter().flatten().any(is_decimal) {
            continue;
        }
        let target = if group.common_type && floats.iter().all(|t| **t != DataType::Float64) {
            DataType::Float32
        } else {
            DataType::Float64
        };
        for (x, t) in group.exprs.into_iter().zip(&types) {
            if t.as_ref().is_some_and(is_decimal) {
                let inner = std::mem::replace(x, Expr::Literal(ScalarValue::Null, None));
                *x = Expr::Cast(Cast::new(Box::new(inner), target.clone()));
                changed = true;
            }
        }
    }
    Ok(if changed {
        Transformed::yes(e)
    } else {
        Transformed::no(e)
    })
}
