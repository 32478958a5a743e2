//! PostgreSQL's result types for aggregates where DataFusion's differ and clients notice:
//!
//! | aggregate | PostgreSQL | DataFusion | rewrite |
//! |---|---|---|---|
//! | `sum(int8)` | numeric | int8 | `sum(CAST(x AS numeric(38,0)))` |
//! | `avg(int2/int4/int8)` | numeric (16 decimals shown) | float8 | `avg(CAST(x AS numeric(38,12)))`, whose result has scale 16 |
//!
//! Also `floor`/`ceil`/`round`/`trunc` of a numeric: scale 0 (see `whole_numbers`).
//!
//! The rewrite runs on the logical plan right after planning, so prepared statements
//! describe the same types they return. The rewritten aggregate keeps its original name
//! (an alias), so the nodes above it still resolve; their schemas are recomputed.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::DFSchema;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::Result;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{Aggregate, Expr, ExprSchemable, LogicalPlan, cast};

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
    let mut found = false;
    let _ = plan.apply_with_subqueries(|p| {
        let schema = merge_schema(&p.inputs());
        let _ = p.apply_expressions(|e| {
            e.apply(|x| {
                if fractional_whole_number(x, &schema).is_some() {
                    found = true;
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
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
            let t = e.transform_up(|x| match fractional_whole_number(&x, &schema) {
                Some((prec, _)) => Ok(Transformed::yes(cast(x, DataType::Decimal128(prec, 0)))),
                None => Ok(Transformed::no(x)),
            })?;
            Ok(t.update_data(|e| saved.restore(e)))
        })?;
        Ok(Transformed::yes(t.data.recompute_schema()?))
    })
    .map(|t| t.data)
}

/// A numeric cast to an integer type rounds half away from zero in PostgreSQL
/// (`2.5::int` is 3); DataFusion's cast truncates: the argument is rounded first.
fn rounded_integer_casts(plan: LogicalPlan) -> Result<LogicalPlan> {
    let is_target = |x: &Expr, schema: &DFSchema| {
        matches!(x, Expr::Cast(c) if c.field.data_type().is_integer()
            && matches!(c.expr.get_type(schema), Ok(DataType::Decimal128(_, s)) if s > 0))
    };
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
                if !is_target(&x, &schema) {
                    return Ok(Transformed::no(x));
                }
                let Expr::Cast(mut c) = x else {
                    return Ok(Transformed::no(x));
                };
                c.expr = Box::new(datafusion::functions::math::expr_fn::round(vec![*c.expr]));
                Ok(Transformed::yes(Expr::Cast(c)))
            })?;
            Ok(t.update_data(|e| saved.restore(e)))
        })?;
        Ok(Transformed::yes(t.data.recompute_schema()?))
    })
    .map(|t| t.data)
}

/// Rewrites a plan's aggregates to PostgreSQL's result types.
pub fn rewrite(plan: LogicalPlan) -> Result<LogicalPlan> {
    let plan = rounded_integer_casts(whole_numbers(plan)?)?;
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
