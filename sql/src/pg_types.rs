//! PostgreSQL's result types for aggregates where DataFusion's differ and clients notice:
//!
//! | aggregate | PostgreSQL | DataFusion | rewrite |
//! |---|---|---|---|
//! | `sum(int8)` | numeric | int8 | `sum(CAST(x AS numeric(38,0)))` |
//! | `avg(int2/int4/int8)` | numeric (16 decimals shown) | float8 | `avg(CAST(x AS numeric(38,12)))`, whose result has scale 16 |
//!
//! The rewrite runs on the logical plan right after planning, so prepared statements
//! describe the same types they return. The rewritten aggregate keeps its original name
//! (an alias), so the nodes above it still resolve; their schemas are recomputed.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::Result;
use datafusion::logical_expr::expr::AggregateFunction;
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

/// Rewrites a plan's aggregates to PostgreSQL's result types.
pub fn rewrite(plan: LogicalPlan) -> Result<LogicalPlan> {
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
