//! PostgreSQL's result types for aggregates where DataFusion's differ and clients notice:
//!
//! | aggregate | PostgreSQL | DataFusion | rewrite |
//! |---|---|---|---|
//! | `sum(int8)` | numeric | int8 | `sum(CAST(x AS numeric(38,0)))` |
//! | `avg(int2/int4/int8)` | numeric (16 decimals shown) | float8 | `avg(CAST(x AS numeric(38,12)))`, whose result has scale 16 |
//!
//! Also `floor`/`ceil`/`round`/`trunc` of a numeric: scale 0 (see `whole_numbers`), and
//! `array_agg`, `ARRAY[...]`, `CASE`, `min`/`max` of oids: `oid`/`oid[]` (see `oid_outputs`).
//!
//! The rewrite runs on the logical plan right after planning, so prepared statements
//! describe the same types they return. The rewritten aggregate keeps its original name
//! (an alias), so the nodes above it still resolve; their schemas are recomputed.

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{
    Aggregate, Expr, ExprSchemable, JoinType, LogicalPlan, Operator, WindowFunctionDefinition, cast,
};

/// The argument cast an aggregate needs, if any.
fn needed_cast(f: &AggregateFunction, agg: &Aggregate) -> Option<DataType> {
    if f.params.args.len() != 1 {
        return None;
    }
    let t = f.params.args[0].get_type(agg.input.schema()).ok()?;
    match f.func.name() {
        "sum" if matches!(t, DataType::Int64 | DataType::UInt64) => {
            Some(DataType::Decimal128(38, 0))
        }
        "avg" | "mean" if t.is_integer() => Some(DataType::Decimal128(38, 12)),
        _ => None,
    }
}

fn plan_needs_rewrite(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply(|p| {
        if let LogicalPlan::Aggregate(agg) = p
            && agg.aggr_expr.iter().any(|e| matches!(strip_alias(e), Expr::AggregateFunction(f) if needed_cast(f, agg).is_some()))
        {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

fn strip_alias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => &a.expr,
        other => other,
    }
}

/// Whether `e` is `floor`/`ceil`/`round`/`trunc` of one numeric with a fractional scale.
fn fractional_whole_number(e: &Expr, schema: &DFSchema) -> Option<(u8, i8)> {
    let Expr::ScalarFunction(f) = e else {
        return None;
    };
    if f.args.len() != 1
        || !matches!(
            f.func.name().to_ascii_lowercase().as_str(),
            "floor" | "ceil" | "ceiling" | "round" | "trunc"
        )
    {
        return None;
    }
    match e.get_type(schema).ok()? {
        DataType::Decimal128(p, s) if s > 0 => Some((p, s)),
        _ => None,
    }
}

/// floor/ceil/round/trunc of a numeric are whole numbers, numeric with scale 0 in
/// PostgreSQL (Grafana's `floor(extract(epoch from ts)/300)*300` prints `1704067200`);
/// DataFusion keeps the argument's scale (`1704067200.0000000000`): such a call is cast
/// to scale 0, and every node's schema recomputed.
fn whole_numbers(plan: LogicalPlan) -> Result<LogicalPlan> {
    rewrite_matching(
        plan,
        |x, schema| fractional_whole_number(x, schema).is_some(),
        |x, schema| match fractional_whole_number(&x, schema) {
            Some((prec, _)) => match epoch_step_micros(&x, schema) {
                Some((ts, step)) => crate::extract::epoch_steps(ts, step, 1, prec, 0),
                None => cast(x, DataType::Decimal128(prec, 0)),
            },
            None => x,
        },
    )
}

/// Of `floor(extract(epoch from ts) / step)`, for a timestamp `ts` and a positive
/// constant `step` with at most six decimals (Grafana's `$__timeGroup`): `ts` and the
/// step in microseconds. [`whole_numbers`] plans it as `pg_epoch_steps`, an integer
/// floor division of the stored microseconds (see [`crate::extract::epoch_steps`]).
fn epoch_step_micros(e: &Expr, schema: &DFSchema) -> Option<(Expr, i64)> {
    let Expr::ScalarFunction(floor) = e else {
        return None;
    };
    if floor.func.name() != "floor" {
        return None;
    }
    let Some(Expr::BinaryExpr(div)) = floor.args.first() else {
        return None;
    };
    if div.op != Operator::Divide {
        return None;
    }
    let Expr::ScalarFunction(extract) = div.left.as_ref() else {
        return None;
    };
    if extract.func.name() != "pg_extract" || extract.args.len() != 2 {
        return None;
    }
    match extract.args.first() {
        Some(Expr::Literal(ScalarValue::Utf8(Some(f)), _)) if f.eq_ignore_ascii_case("epoch") => {}
        _ => return None,
    }
    let ts = &extract.args[1];
    if !matches!(ts.get_type(schema).ok()?, DataType::Timestamp(..)) {
        return None;
    }
    let (unscaled, scale) = exact_constant(&div.right)?;
    // The step in microseconds, if whole and positive.
    let micros = if scale <= 6 {
        unscaled.checked_mul(10i128.checked_pow(u32::try_from(6 - scale).ok()?)?)?
    } else {
        let d = 10i128.checked_pow(u32::try_from(scale - 6).ok()?)?;
        (unscaled % d == 0).then_some(unscaled / d)?
    };
    let micros = i64::try_from(micros).ok().filter(|m| *m > 0)?;
    Some((ts.clone(), micros))
}

/// `pg_epoch_steps(..) * c` (or `c * ..`) for a constant `c`: the `*step` of
/// `$__timeGroup`, folded into the call's factor (an `i64` product that always fits
/// `numeric(38, s)`), with the multiplication's type. Left alone when the product's
/// type is not the one exact multiplication gives (scales added).
fn scaled_epoch_steps(e: &Expr, schema: &DFSchema) -> Option<Expr> {
    let Expr::BinaryExpr(mul) = e else {
        return None;
    };
    if mul.op != Operator::Multiply {
        return None;
    }
    let (steps, c) = match (
        crate::extract::epoch_steps_args(&mul.left),
        crate::extract::epoch_steps_args(&mul.right),
    ) {
        (Some(a), None) => (a, &mul.right),
        (None, Some(a)) => (a, &mul.left),
        _ => return None,
    };
    let (ts, step, factor, _, scale) = steps;
    let (c, c_scale) = exact_constant(c)?;
    let c = i64::try_from(c).ok()?;
    let DataType::Decimal128(p, s) = e.get_type(schema).ok()? else {
        return None;
    };
    if i16::from(s) != i16::from(scale) + i16::from(c_scale) {
        return None;
    }
    Some(crate::extract::epoch_steps(
        ts.clone(),
        step,
        factor.checked_mul(c)?,
        p,
        s,
    ))
}

/// An integer or numeric constant as its unscaled value and scale.
fn exact_constant(e: &Expr) -> Option<(i128, i8)> {
    match constant(e)? {
        ScalarValue::Decimal128(Some(v), _, s) => Some((v, s)),
        ScalarValue::Int64(Some(v)) => Some((i128::from(v), 0)),
        ScalarValue::Int32(Some(v)) => Some((i128::from(v), 0)),
        ScalarValue::Int16(Some(v)) => Some((i128::from(v), 0)),
        _ => None,
    }
}

/// The value of a literal, possibly under casts (type coercion casts the `300` of `/ 300`
/// to `int4` and then to `numeric`).
fn constant(e: &Expr) -> Option<ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v.clone()),
        Expr::Cast(c) => constant(&c.expr)?.cast_to(c.field.data_type()).ok(),
        _ => None,
    }
}

/// See [`scaled_epoch_steps`]; after [`whole_numbers`], which makes the calls.
fn scaled_epoch_steps_in(plan: LogicalPlan) -> Result<LogicalPlan> {
    rewrite_matching(
        plan,
        |x, schema| scaled_epoch_steps(x, schema).is_some(),
        |x, schema| scaled_epoch_steps(&x, schema).unwrap_or(x),
    )
}

/// A numeric cast to an integer type rounds half away from zero in PostgreSQL
/// (`2.5::int` is 3), a float's rounds half to even (`rint`: `2.5::float8::int` is 2,
/// `3.5::float8::int` 4), and `round(x)` of a float is `rint` as well; DataFusion's cast
/// truncates and its `round` takes halves away from zero: the argument is rounded first.
fn rounded_integer_casts(plan: LogicalPlan) -> Result<LogicalPlan> {
    rewrite_matching(
        plan,
        |x, schema| rounding(x, schema).is_some(),
        |x, schema| match (rounding(&x, schema), x) {
            (Some(Rounding::Numeric), Expr::Cast(mut c)) => {
                c.expr = Box::new(datafusion::functions::math::expr_fn::round(vec![*c.expr]));
                Expr::Cast(c)
            }
            (Some(Rounding::Float), Expr::Cast(mut c)) => {
                c.expr = Box::new(crate::functions::rint_udf().call(vec![*c.expr]));
                Expr::Cast(c)
            }
            (Some(Rounding::Float), Expr::ScalarFunction(f)) => {
                crate::functions::rint_udf().call(f.args)
            }
            (_, other) => other,
        },
    )
}

enum Rounding {
    Numeric,
    Float,
}

/// How [`rounded_integer_casts`] rounds `e`, if it is a cast of a fractional number to an
/// integer type or `round` of one float.
fn rounding(e: &Expr, schema: &DFSchema) -> Option<Rounding> {
    match e {
        Expr::Cast(c) if c.field.data_type().is_integer() => match c.expr.get_type(schema).ok()? {
            DataType::Decimal128(_, s) if s > 0 => Some(Rounding::Numeric),
            DataType::Float64 | DataType::Float32 => Some(Rounding::Float),
            _ => None,
        },
        Expr::ScalarFunction(f)
            if f.args.len() == 1
                && f.func.name() == "round"
                && matches!(
                    f.args[0].get_type(schema),
                    Ok(DataType::Float64 | DataType::Float32)
                ) =>
        {
            Some(Rounding::Float)
        }
        _ => None,
    }
}

/// `char(n)` semantics that depend on the blanks Strata does not store (a `char(n)` value
/// is kept without its trailing blanks, see `crate::bpchar`):
/// - a string literal compared with a `char(n)` value is a `char(n)` in PostgreSQL, whose
///   trailing blanks do not count (`code = 'ab  '` finds `ab`): the literal's trailing
///   blanks are dropped (`=`, `<>`, `<`, `<=`, `>`, `>=`, `IS [NOT] DISTINCT FROM`, `IN`);
/// - `octet_length`, `concat`, `concat_ws`, `format` and `LIKE` see the padded value in
///   PostgreSQL (`octet_length('ab'::char(4))` is 4, `concat(code, '|')` is `ab  |`): the
///   value is padded to `n` with `rpad` there.
///
/// Other uses (`||`, `length`, casts to text, `upper`) see the value without its blanks
/// in PostgreSQL too. A literal typed text (`'ab '::text`) cannot be told from an untyped
/// one after planning and is trimmed as well.
fn padded_chars(plan: LogicalPlan) -> Result<LogicalPlan> {
    rewrite_matching(
        plan,
        |x, schema| padded_char_use(x, schema).is_some(),
        |x, schema| padded_char_use(&x, schema).unwrap_or(x),
    )
}

/// The declared length of a `char(n)` value (a column, a cast, `max` of one).
fn char_length_of(e: &Expr, schema: &DFSchema) -> Option<usize> {
    let (_, f) = e.to_field(schema).ok()?;
    strata_pgtypes::oid::char_padding(&f)
}

/// A string literal (possibly under a cast) whose trailing blanks are dropped, if it has
/// any, or a bare parameter whose blanks are dropped when it is bound.
fn blank_trimmed_literal(e: &Expr) -> Option<Expr> {
    match e {
        Expr::Literal(v, md) => {
            let t = match v {
                ScalarValue::Utf8(Some(t))
                | ScalarValue::Utf8View(Some(t))
                | ScalarValue::LargeUtf8(Some(t)) => t,
                _ => return None,
            };
            let trimmed = t.trim_end_matches(' ');
            if trimmed.len() == t.len() {
                return None;
            }
            let v = match v {
                ScalarValue::Utf8View(_) => ScalarValue::Utf8View(Some(trimmed.to_string())),
                ScalarValue::LargeUtf8(_) => ScalarValue::LargeUtf8(Some(trimmed.to_string())),
                _ => ScalarValue::Utf8(Some(trimmed.to_string())),
            };
            Some(Expr::Literal(v, md.clone()))
        }
        // A parameter (`code = $1`): its value is not known until Bind, so its trailing
        // blanks are dropped when the statement runs, as PostgreSQL does for a parameter
        // it types `char(n)` from the comparison, or one sent as `varchar` (pgjdbc's
        // `setString`). A cast one (`$1::text`) is left alone, like a cast literal.
        Expr::Placeholder(_) => Some(datafusion::functions::string::expr_fn::rtrim(vec![
            e.clone(),
            datafusion::logical_expr::lit(" "),
        ])),
        Expr::Cast(c) if matches!(c.expr.as_ref(), Expr::Placeholder(_)) => None,
        Expr::Cast(c) => blank_trimmed_literal(&c.expr).map(|inner| {
            let mut c = c.clone();
            c.expr = Box::new(inner);
            Expr::Cast(c)
        }),
        _ => None,
    }
}

/// `e` rewritten for the blanks of a `char(n)` value it uses (see [`padded_chars`]).
fn padded_char_use(e: &Expr, schema: &DFSchema) -> Option<Expr> {
    let padded = |x: &Expr| -> Option<Expr> {
        let n = char_length_of(x, schema)?;
        Some(datafusion::functions::unicode::expr_fn::rpad(vec![
            x.clone(),
            datafusion::logical_expr::lit(n as i64),
        ]))
    };
    match e {
        Expr::BinaryExpr(b) if crate::pg_semantics::is_comparison(b.op) => {
            // Nothing is cloned unless there is a literal to trim: this runs on every
            // comparison of every plan.
            let char_left = char_length_of(&b.left, schema).is_some();
            if !char_left && char_length_of(&b.right, schema).is_none() {
                return None;
            }
            let literal = if char_left { &b.right } else { &b.left };
            let trimmed = Box::new(blank_trimmed_literal(literal)?);
            let mut b = b.clone();
            if char_left {
                b.right = trimmed;
            } else {
                b.left = trimmed;
            }
            Some(Expr::BinaryExpr(b))
        }
        Expr::InList(l) if char_length_of(&l.expr, schema).is_some() => {
            let list = changed_items(&l.list, |_, v| blank_trimmed_literal(v))?;
            let mut l = l.clone();
            l.list = list;
            Some(Expr::InList(l))
        }
        Expr::Like(l) => {
            let expr = Box::new(padded(&l.expr)?);
            let mut l = l.clone();
            l.expr = expr;
            Some(Expr::Like(l))
        }
        Expr::ScalarFunction(f)
            if matches!(
                f.func.name(),
                "octet_length" | "concat" | "concat_ws" | "format"
            ) =>
        {
            // The separator of `concat_ws` and the format string of `format` are `text`.
            let first = usize::from(!matches!(f.func.name(), "octet_length" | "concat"));
            let args = changed_items(&f.args, |i, a| (i >= first).then(|| padded(a)).flatten())?;
            let mut f = f.clone();
            f.args = args;
            Some(Expr::ScalarFunction(f))
        }
        _ => None,
    }
}

/// `items` with each one `change` (given its index) has a replacement for replaced; None if
/// none has.
fn changed_items(
    items: &[Expr],
    change: impl Fn(usize, &Expr) -> Option<Expr>,
) -> Option<Vec<Expr>> {
    let mut changed = false;
    let out = items
        .iter()
        .enumerate()
        .map(|(i, x)| match change(i, x) {
            Some(y) => {
                changed = true;
                y
            }
            None => x.clone(),
        })
        .collect();
    changed.then_some(out)
}

/// Replaces every expression of `plan` (subqueries included) for which `is_target` holds,
/// in the schema of its node's inputs, with `rewrite` of it, bottom-up, keeping the output
/// names and recomputing every node's schema. When nothing matches (most plans), the plan
/// is returned as it is, without rebuilding its nodes.
fn rewrite_matching(
    plan: LogicalPlan,
    is_target: impl Fn(&Expr, &DFSchema) -> bool,
    rewrite: impl Fn(Expr, &DFSchema) -> Expr,
) -> Result<LogicalPlan> {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|p| {
        let schema = merge_schema(&p.inputs());
        let _ = p.apply_expressions(|e| {
            e.apply(|x| {
                found |= is_target(x, &schema);
                Ok(if found {
                    TreeNodeRecursion::Stop
                } else {
                    TreeNodeRecursion::Continue
                })
            })
        });
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    if !found {
        return Ok(plan);
    }
    plan.transform_up_with_subqueries(|p| {
        let schema = merge_schema(&p.inputs());
        let preserver = NamePreserver::new(&p);
        let t = p.map_expressions(|e| {
            let saved = preserver.save(&e);
            let t = e.transform_up(|x| {
                Ok(if is_target(&x, &schema) {
                    Transformed::yes(rewrite(x, &schema))
                } else {
                    Transformed::no(x)
                })
            })?;
            Ok(t.update_data(|e| saved.restore(e)))
        })?;
        Ok(Transformed::yes(t.data.recompute_schema()?))
    })
    .map(|t| t.data)
}

/// What an oid-typed value is in PostgreSQL: an `oid` or an `oid[]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OidShape {
    Scalar,
    Array,
}

/// Is `e`, evaluated over `input`, an oid (`Scalar`) or an array of oids (`Array`) in
/// PostgreSQL: a value whose field says so (a catalog oid column, a `::oid` or `::oid[]`
/// cast), an `array_agg` of oids, an `ARRAY[...]` of oids (also a `'{1,2}'::oid[]`
/// literal), `min`/`max` of oids, reached through aliases, `CASE` branches, `coalesce`,
/// scalar subqueries and columns of the nodes below?
fn oid_expr(e: &Expr, input: &LogicalPlan, shape: OidShape) -> bool {
    let by_field = e.to_field(input.schema()).is_ok_and(|(_, f)| match shape {
        OidShape::Scalar => is_oid_field(&f),
        OidShape::Array => {
            matches!(f.data_type(), DataType::List(item) if is_oid_field(item))
        }
    });
    by_field
        || match e {
            Expr::Alias(a) => oid_expr(&a.expr, input, shape),
            Expr::Column(c) => input
                .schema()
                .index_of_column(c)
                .is_ok_and(|i| oid_column(input, i, shape)),
            Expr::Case(c) => {
                c.when_then_expr
                    .iter()
                    .any(|(_, t)| oid_expr(t, input, shape))
                    || c.else_expr
                        .as_ref()
                        .is_some_and(|x| oid_expr(x, input, shape))
            }
            Expr::ScalarFunction(f) => match (f.func.name(), shape) {
                ("coalesce", _) => f.args.iter().any(|a| oid_expr(a, input, shape)),
                ("make_array", OidShape::Array) => {
                    f.args.iter().any(|a| oid_expr(a, input, OidShape::Scalar))
                }
                _ => false,
            },
            Expr::ScalarSubquery(s) => oid_column(&s.subquery, 0, shape),
            Expr::AggregateFunction(f) => {
                let of_oids = |a: &[Expr]| matches!(a, [x] if oid_expr(x, input, OidShape::Scalar));
                match (f.func.name(), shape) {
                    ("array_agg", OidShape::Array) => of_oids(&f.params.args),
                    ("min" | "max", OidShape::Scalar) => of_oids(&f.params.args),
                    _ => false,
                }
            }
            _ => false,
        }
}

fn is_oid_field(f: &Field) -> bool {
    strata_pgtypes::oid::pg_type_of_field(f) == strata_pgtypes::oid::PgTypeInfo::OID
}

/// [`oid_expr`] for output column `i` of `plan`.
fn oid_column(plan: &LogicalPlan, i: usize, shape: OidShape) -> bool {
    trace_column(plan, i, &|e, input| oid_expr(e, input, shape).then_some(())).is_some()
}

/// What `judge` says of the expression that computes output column `i` of `plan` (with
/// the plan that expression reads), found through the nodes that pass columns on
/// unchanged (filters, sorts, limits, aliases, joins, the first branch of a union that
/// has an answer).
fn trace_column<T>(
    plan: &LogicalPlan,
    i: usize,
    judge: &dyn Fn(&Expr, &LogicalPlan) -> Option<T>,
) -> Option<T> {
    match plan {
        LogicalPlan::Projection(p) => p.expr.get(i).and_then(|e| judge(e, &p.input)),
        LogicalPlan::Aggregate(a) => {
            let n_group = a.schema.fields().len() - a.aggr_expr.len();
            match i.checked_sub(n_group) {
                None => a.group_expr.get(i).and_then(|e| judge(e, &a.input)),
                Some(j) => a.aggr_expr.get(j).and_then(|e| judge(e, &a.input)),
            }
        }
        LogicalPlan::Join(j) => {
            let left = j.left.schema().fields().len();
            match j.join_type {
                JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => {
                    trace_column(&j.left, i, judge)
                }
                JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => {
                    trace_column(&j.right, i, judge)
                }
                _ if i < left => trace_column(&j.left, i, judge),
                _ => trace_column(&j.right, i - left, judge),
            }
        }
        LogicalPlan::Window(w) => {
            let n_input = w.input.schema().fields().len();
            match i.checked_sub(n_input) {
                None => trace_column(&w.input, i, judge),
                Some(j) => w.window_expr.get(j).and_then(|e| judge(e, &w.input)),
            }
        }
        LogicalPlan::RecursiveQuery(r) => trace_column(&r.static_term, i, judge),
        LogicalPlan::Union(u) => u.inputs.iter().find_map(|p| trace_column(p, i, judge)),
        LogicalPlan::Filter(_)
        | LogicalPlan::Sort(_)
        | LogicalPlan::Limit(_)
        | LogicalPlan::SubqueryAlias(_)
        | LogicalPlan::Distinct(datafusion::logical_expr::Distinct::All(_))
        | LogicalPlan::Repartition(_) => plan
            .inputs()
            .first()
            .and_then(|p| trace_column(p, i, judge)),
        _ => None,
    }
}

/// The PostgreSQL character type of a text value whose field lost it, as a field tag:
/// `min`/`max` of a `char(n)` value is `bpchar` (no type modifier, but the value keeps
/// the blanks PostgreSQL stores: [`strata_pgtypes::oid::CHAR_PAD_METADATA_KEY`]), and
/// `coalesce` of `varchar` values and untyped literals is `varchar` (of a `varchar` and a
/// `char(n)` too: PostgreSQL casts the `char(n)` to `varchar`). `min`/`max` of a `varchar`
/// is `text` in PostgreSQL too.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CharType {
    Bpchar { pad: usize },
    Varchar,
}

fn char_type(e: &Expr, input: &LogicalPlan) -> Option<CharType> {
    let tag_of = |x: &Expr| -> Option<String> {
        let (_, f) = x.to_field(input.schema()).ok()?;
        f.metadata()
            .get(strata_storage::schema::PG_TYPE_METADATA_KEY)
            .cloned()
    };
    match e {
        Expr::Alias(a) => char_type(&a.expr, input),
        Expr::Column(c) => {
            let i = input.schema().index_of_column(c).ok()?;
            trace_column(input, i, &char_type)
        }
        Expr::AggregateFunction(f)
            if matches!(f.func.name(), "min" | "max") && f.params.args.len() == 1 =>
        {
            let (_, field) = f.params.args[0].to_field(input.schema()).ok()?;
            strata_pgtypes::oid::char_padding(&field).map(|pad| CharType::Bpchar { pad })
        }
        // `max(code) OVER (...)`: the same as the aggregate.
        Expr::WindowFunction(w) => match &w.fun {
            WindowFunctionDefinition::AggregateUDF(f)
                if matches!(f.name(), "min" | "max") && w.params.args.len() == 1 =>
            {
                let (_, field) = w.params.args[0].to_field(input.schema()).ok()?;
                strata_pgtypes::oid::char_padding(&field).map(|pad| CharType::Bpchar { pad })
            }
            _ => None,
        },
        Expr::ScalarFunction(f) if f.func.name() == "coalesce" => {
            let mut varchar = false;
            for a in &f.args {
                match a {
                    Expr::Literal(v, _)
                        if v.is_null()
                            || matches!(
                                v.data_type(),
                                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
                            ) => {}
                    _ => match tag_of(a).as_deref() {
                        Some("varchar") => varchar = true,
                        Some("bpchar") => {}
                        _ => return None,
                    },
                }
            }
            varchar.then_some(CharType::Varchar)
        }
        _ => None,
    }
}

/// Output text columns whose PostgreSQL type is `bpchar` or `varchar` (see [`CharType`])
/// but whose field says text, tagged in a projection on top of the plan.
pub fn char_outputs(plan: LogicalPlan) -> Result<LogicalPlan> {
    let targets: Vec<(usize, CharType)> = (0..plan.schema().fields().len())
        .filter_map(|i| {
            let f = plan.schema().field(i);
            let untagged = matches!(
                f.data_type(),
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
            ) && !f
                .metadata()
                .contains_key(strata_storage::schema::PG_TYPE_METADATA_KEY);
            untagged
                .then(|| trace_column(&plan, i, &char_type))
                .flatten()
                .map(|t| (i, t))
        })
        .collect();
    tag_outputs(plan, &targets, |md, t| match t {
        CharType::Bpchar { pad } => {
            md.insert(tag_key(), "bpchar".to_string());
            md.insert(
                strata_pgtypes::oid::CHAR_PAD_METADATA_KEY.to_string(),
                pad.to_string(),
            );
        }
        CharType::Varchar => {
            md.insert(tag_key(), "varchar".to_string());
        }
    })
}

fn tag_key() -> String {
    strata_storage::schema::PG_TYPE_METADATA_KEY.to_string()
}

/// `plan` under a projection that passes every column on and changes the metadata of
/// the `targets` columns with `tag`; `plan` itself when there are none.
fn tag_outputs<T>(
    plan: LogicalPlan,
    targets: &[(usize, T)],
    tag: impl Fn(&mut std::collections::HashMap<String, String>, &T),
) -> Result<LogicalPlan> {
    if targets.is_empty() {
        return Ok(plan);
    }
    let exprs: Vec<Expr> = plan
        .schema()
        .iter()
        .enumerate()
        .map(|(i, (q, f))| {
            let c = Expr::Column(datafusion::common::Column::from((q, f)));
            let Some((_, t)) = targets.iter().find(|(j, _)| *j == i) else {
                return c;
            };
            let mut md = f.metadata().clone();
            tag(&mut md, t);
            c.alias_qualified_with_metadata(q.cloned(), f.name(), Some(md.into()))
        })
        .collect();
    datafusion::logical_expr::LogicalPlanBuilder::from(plan)
        .project(exprs)?
        .build()
}

/// Output columns that are `oid` or `oid[]` in PostgreSQL but whose field lost the tag:
/// `array_agg` of oids and an `ARRAY[...]` of oids are plain `int4` lists in the plan
/// (asyncpg's type introspection aggregates `pg_attribute.atttypid` and has no codec for
/// `int4[]`), and `CASE`, `min`/`max` over an oid are plain `int4`. Output columns traced
/// back to one (see [`oid_expr`]) are tagged `oid`/`_oid` in a projection on top of the
/// plan (a tag on a list's element type or inside the plan instead would make the Arrow
/// types of the plan's nodes disagree).
pub fn oid_outputs(plan: LogicalPlan) -> Result<LogicalPlan> {
    let targets: Vec<(usize, &str)> = (0..plan.schema().fields().len())
        .filter_map(|i| {
            let f = plan.schema().field(i);
            match f.data_type() {
                DataType::Int32 if !is_oid_field(f) && oid_column(&plan, i, OidShape::Scalar) => {
                    Some((i, "oid"))
                }
                DataType::List(item)
                    if item.data_type() == &DataType::Int32
                        && oid_column(&plan, i, OidShape::Array) =>
                {
                    Some((i, "_oid"))
                }
                _ => None,
            }
        })
        .collect();
    tag_outputs(plan, &targets, |md, tag| {
        md.insert(tag_key(), tag.to_string());
    })
}

/// Rewrites a plan's aggregates and mixed float/numeric expressions to PostgreSQL's
/// result types.
pub fn rewrite(plan: LogicalPlan) -> Result<LogicalPlan> {
    let plan = crate::pg_semantics::float_over_numeric(plan)?;
    let plan = rounded_integer_casts(scaled_epoch_steps_in(whole_numbers(plan)?)?)?;
    let plan = padded_chars(plan)?;
    if !plan_needs_rewrite(&plan) {
        return Ok(plan);
    }
    let out = plan.transform_up(|p| {
        let p = match p {
            LogicalPlan::Aggregate(agg) => {
                let mut exprs = Vec::with_capacity(agg.aggr_expr.len());
                for e in &agg.aggr_expr {
                    let (inner, alias) = match e {
                        Expr::Alias(a) => (a.expr.as_ref(), Some(a.name.clone())),
                        other => (other, None),
                    };
                    match inner {
                        Expr::AggregateFunction(f) if needed_cast(f, &agg).is_some() => {
                            let to = needed_cast(f, &agg).unwrap_or(DataType::Float64);
                            let name = alias.unwrap_or_else(|| e.schema_name().to_string());
                            let mut nf = f.clone();
                            nf.params.args[0] = cast(nf.params.args[0].clone(), to);
                            exprs.push(Expr::AggregateFunction(nf).alias(name));
                        }
                        _ => exprs.push(e.clone()),
                    }
                }
                LogicalPlan::Aggregate(Aggregate::try_new(
                    agg.input.clone(),
                    agg.group_expr.clone(),
                    exprs,
                )?)
            }
            other => other.recompute_schema()?,
        };
        Ok(Transformed::yes(p))
    })?;
    Ok(out.data)
}
