//! Deeply nested expressions, which BI tools and ORMs generate (`a = 1 OR a = 2 OR ...`
//! with thousands of terms), must not overflow the server's stack.
//!
//! sqlparser parses a chain of one left-associative operator in a loop, into a tree as
//! deep as the chain is long; every recursive walk afterwards (cloning, visiting,
//! planning, dropping) then needs one stack frame or more per term, and a 5,000-term `OR`
//! overflowed an 8 MB stack. PostgreSQL flattens such chains.
//!
//! The same holds for a chain of set operations (`SELECT 1 UNION ALL SELECT 2 ...`,
//! which crashed the server at 1,000 terms).
//!
//! [`guard`] runs on every parsed statement:
//! - A long chain of `AND` or of `OR`, or of one `UNION [ALL]` or `INTERSECT [ALL]`, is
//!   rebuilt as a balanced tree (they are associative, also with NULLs and duplicates;
//!   the first operand stays first, so column names do not change), whose depth is the
//!   logarithm of its length.
//! - Any expression or set operation still nested more than [`MAX_DEPTH`] levels is
//!   refused with 54001, as PostgreSQL refuses what exceeds its stack depth limit, and
//!   taken apart without recursion.
//! - Balancing is not enough for DataFusion: its filter push-down joins a filter's
//!   conjuncts again left-deep, and its simplifier then recurses once per term (a
//!   10,000-term `AND` overflowed a release build's 8 MB stack). So a long `OR` of
//!   `x = constant` with the same `x` becomes `x IN (...)`, and a long `AND` of `x <>
//!   constant` becomes `x NOT IN (...)` (the same three-valued logic, NULLs included,
//!   and one node however long the list); any other chain of more than
//!   [`MAX_CHAIN_TERMS`] terms is refused with 54001.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, Query, SetExpr, SetOperator, SetQuantifier, Statement, Value, VisitMut,
    VisitorMut,
};

use crate::error::{Error, Result, SqlState};

/// The deepest nesting of expressions, or of set operations, accepted after balancing.
pub const MAX_DEPTH: usize = 1000;

/// Chains shorter than this are left as written (EXPLAIN shows them as sent).
const BALANCE_FROM: usize = 64;

/// The longest `AND`/`OR` chain accepted when it is not a list of values (see the module
/// documentation); a debug build optimises 5,000 terms within its 16 MB stack.
pub const MAX_CHAIN_TERMS: usize = 4000;

/// Balances long `AND`/`OR` and `UNION`/`INTERSECT` chains of `stmt`, then refuses it if
/// an expression or a set operation is still nested more than [`MAX_DEPTH`] levels.
pub fn guard(stmt: &mut Statement) -> Result<()> {
    let mut g = Guard {
        depth: 0,
        too_many_terms: false,
    };
    if VisitMut::visit(stmt, &mut g).is_continue() {
        return Ok(());
    }
    // Dropping the statement would recurse as deep as it is nested: take it apart first.
    dismantle(std::mem::replace(
        stmt,
        Statement::Commit {
            chain: false,
            end: false,
            modifier: None,
        },
    ));
    let what = if g.too_many_terms {
        format!(
            "statement too complex (an AND/OR chain of more than {MAX_CHAIN_TERMS} terms that are not one column compared with a list of values)"
        )
    } else {
        format!(
            "statement nested too deeply (more than {MAX_DEPTH} levels of expressions or set operations)"
        )
    };
    Err(Error::with_hint(
        SqlState::StatementTooComplex,
        what,
        "Write long lists of values as IN (...) or = ANY(array).",
    ))
}

/// Balances chains before going down into them (so it never walks a deep chain itself),
/// and stops (breaks) once expressions or set operations nest more than [`MAX_DEPTH`]
/// levels: one walk over the statement.
struct Guard {
    depth: usize,
    /// Set when it stopped at a chain of more than [`MAX_CHAIN_TERMS`] terms.
    too_many_terms: bool,
}

impl VisitorMut for Guard {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return ControlFlow::Break(());
        }
        if !balance_expr(e) {
            self.too_many_terms = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _: &mut Expr) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        balance_set(q);
        if set_depth(&q.body) > MAX_DEPTH {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

/// A long `AND`/`OR` chain at `e` rebuilt as an `IN` list or balanced; false when it is
/// too long to be planned safely (more than [`MAX_CHAIN_TERMS`] terms, not a list).
fn balance_expr(e: &mut Expr) -> bool {
    let op = match e {
        Expr::BinaryOp {
            op: op @ (BinaryOperator::And | BinaryOperator::Or),
            ..
        } => op.clone(),
        _ => return true,
    };
    if chain_len(e) < BALANCE_FROM {
        return true;
    }
    let mut terms = vec![];
    let mut todo = vec![std::mem::replace(e, placeholder())];
    while let Some(x) = todo.pop() {
        match x {
            Expr::BinaryOp { left, op: o, right } if o == op => {
                todo.push(*right);
                todo.push(*left);
            }
            other => terms.push(other),
        }
    }
    match in_list(terms, &op) {
        Ok(list) => *e = list,
        Err(terms) => {
            let fits = terms.len() <= MAX_CHAIN_TERMS;
            *e = balanced(terms, &op);
            return fits;
        }
    }
    true
}

/// `x = c1 OR x = c2 ...` as `x IN (c1, c2, ...)`, `x <> c1 AND x <> c2 ...` as `x NOT IN
/// (c1, c2, ...)`: the same `x` throughout, each `c` a literal or a parameter. The terms
/// back when they are not such a list.
fn in_list(terms: Vec<Expr>, op: &BinaryOperator) -> std::result::Result<Expr, Vec<Expr>> {
    let (cmp, negated) = match op {
        BinaryOperator::Or => (BinaryOperator::Eq, false),
        BinaryOperator::And => (BinaryOperator::NotEq, true),
        _ => return Err(terms),
    };
    let first = match terms.first() {
        Some(Expr::BinaryOp { left, op: o, .. }) if *o == cmp => left.as_ref().clone(),
        _ => return Err(terms),
    };
    let is_list = terms.iter().all(|t| {
        matches!(t, Expr::BinaryOp { left, op: o, right }
            if *o == cmp && **left == first && matches!(right.as_ref(), Expr::Value(_)))
    });
    if !is_list {
        return Err(terms);
    }
    let list = terms
        .into_iter()
        .filter_map(|t| match t {
            Expr::BinaryOp { right, .. } => Some(*right),
            _ => None,
        })
        .collect();
    Ok(Expr::InList {
        expr: Box::new(first),
        list,
        negated,
    })
}

/// A long chain of one `UNION [ALL]` / `INTERSECT [ALL]` in `q`'s body rebuilt balanced.
fn balance_set(q: &mut Query) {
    let (op, quantifier) = match q.body.as_ref() {
        SetExpr::SetOperation {
            op: op @ (SetOperator::Union | SetOperator::Intersect),
            set_quantifier,
            ..
        } => (op.clone(), *set_quantifier),
        _ => return,
    };
    let same = |x: &SetExpr| matches!(x, SetExpr::SetOperation { op: o, set_quantifier: k, .. } if *o == op && *k == quantifier);
    if set_chain_len(&q.body, &same) < BALANCE_FROM {
        return;
    }
    let mut terms = vec![];
    let mut todo = vec![std::mem::replace(q.body.as_mut(), empty_set())];
    while let Some(x) = todo.pop() {
        match x {
            SetExpr::SetOperation {
                left,
                op: o,
                set_quantifier: k,
                right,
            } if o == op && k == quantifier => {
                todo.push(*right);
                todo.push(*left);
            }
            other => terms.push(other),
        }
    }
    *q.body = balanced_set(terms, &op, quantifier);
}

/// How many operands the chain of one set operation at `body` has (up to the threshold).
fn set_chain_len(body: &SetExpr, same: &dyn Fn(&SetExpr) -> bool) -> usize {
    let mut n = 0;
    let mut todo = vec![body];
    while let Some(x) = todo.pop() {
        match x {
            SetExpr::SetOperation { left, right, .. } if same(x) => {
                todo.push(right);
                todo.push(left);
            }
            _ => n += 1,
        }
        if n >= BALANCE_FROM {
            break;
        }
    }
    n
}

/// `terms` joined by `op` in a balanced tree, in their order.
fn balanced_set(mut terms: Vec<SetExpr>, op: &SetOperator, quantifier: SetQuantifier) -> SetExpr {
    if terms.len() <= 1 {
        return terms.pop().unwrap_or_else(empty_set);
    }
    let right = terms.split_off(terms.len() / 2);
    SetExpr::SetOperation {
        left: Box::new(balanced_set(terms, op, quantifier)),
        op: op.clone(),
        set_quantifier: quantifier,
        right: Box::new(balanced_set(right, op, quantifier)),
    }
}

/// A leaf standing in for a set expression moved out.
fn empty_set() -> SetExpr {
    SetExpr::Values(sqlparser::ast::Values {
        explicit_row: false,
        value_keyword: false,
        rows: vec![],
    })
}

/// How deep the set operations at `body` nest (counted without recursion).
fn set_depth(body: &SetExpr) -> usize {
    let mut max = 0;
    let mut todo = vec![(body, 1)];
    while let Some((x, d)) = todo.pop() {
        max = max.max(d);
        if let SetExpr::SetOperation { left, right, .. } = x {
            todo.push((left, d + 1));
            todo.push((right, d + 1));
        }
    }
    max
}

/// How many terms the chain of `e`'s operator starting at `e` has (along both sides).
fn chain_len(e: &Expr) -> usize {
    let Expr::BinaryOp { op, .. } = e else {
        return 1;
    };
    let mut n = 0;
    let mut todo = vec![e];
    while let Some(x) = todo.pop() {
        match x {
            Expr::BinaryOp { left, op: o, right } if o == op => {
                todo.push(right);
                todo.push(left);
            }
            _ => n += 1,
        }
        if n >= BALANCE_FROM {
            break;
        }
    }
    n
}

/// `terms` joined by `op` in a balanced tree, in their order.
fn balanced(mut terms: Vec<Expr>, op: &BinaryOperator) -> Expr {
    if terms.len() <= 1 {
        return terms.pop().unwrap_or_else(placeholder);
    }
    let right = terms.split_off(terms.len() / 2);
    Expr::BinaryOp {
        left: Box::new(balanced(terms, op)),
        op: op.clone(),
        right: Box::new(balanced(right, op)),
    }
}

fn placeholder() -> Expr {
    Expr::value(Value::Null)
}

/// Drops `stmt` without deep recursion: expressions and query bodies are moved out of
/// their parents onto heap stacks, and each is taken apart one level at a time.
fn dismantle(mut stmt: Statement) {
    let mut d = Detach::default();
    let _ = VisitMut::visit(&mut stmt, &mut d);
    drop(stmt);
    loop {
        if let Some(set) = d.sets.pop() {
            match set {
                SetExpr::SetOperation { left, right, .. } => {
                    d.sets.push(*left);
                    d.sets.push(*right);
                }
                mut leaf => {
                    let _ = VisitMut::visit(&mut leaf, &mut d);
                }
            }
        } else if let Some(mut e) = d.exprs.pop() {
            // Its direct children go onto the stacks; the node itself is then shallow.
            d.depth = 0;
            d.children_of_root = true;
            let _ = VisitMut::visit(&mut e, &mut d);
            d.children_of_root = false;
        } else {
            break;
        }
    }
}

/// Moves expressions and query bodies out of what it visits (with `children_of_root`,
/// the children of the expression visited first, not that expression itself).
#[derive(Default)]
struct Detach {
    exprs: Vec<Expr>,
    sets: Vec<SetExpr>,
    depth: usize,
    children_of_root: bool,
}

impl VisitorMut for Detach {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        self.depth += 1;
        if !self.children_of_root || self.depth == 2 {
            self.exprs.push(std::mem::replace(e, placeholder()));
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _: &mut Expr) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        self.sets
            .push(std::mem::replace(q.body.as_mut(), empty_set()));
        ControlFlow::Continue(())
    }
}
