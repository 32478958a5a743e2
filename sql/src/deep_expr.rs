//! Deeply nested expressions, which BI tools and ORMs generate (`a = 1 OR a = 2 OR ...`
//! with thousands of terms), must not overflow the server's stack.
//!
//! sqlparser parses a chain of one left-associative operator in a loop, into a tree as
//! deep as the chain is long; every recursive walk afterwards (cloning, visiting,
//! planning, dropping) then needs one stack frame or more per term, and a 5,000-term `OR`
//! overflowed an 8 MB stack. PostgreSQL flattens such chains.
//!
//! [`guard`] runs on every parsed statement:
//! - A long chain of `AND` or of `OR` is rebuilt as a balanced tree (they are
//!   associative, also with NULLs), whose depth is the logarithm of its length.
//! - Any expression still nested more than [`MAX_DEPTH`] levels is refused with 54001,
//!   as PostgreSQL refuses what exceeds its stack depth limit, and taken apart without
//!   recursion.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, Statement, Value, Visit, VisitMut, Visitor, VisitorMut,
};

use crate::error::{Error, Result, SqlState};

/// The deepest expression accepted after balancing.
pub const MAX_DEPTH: usize = 1000;

/// Chains shorter than this are left as written (EXPLAIN shows them as sent).
const BALANCE_FROM: usize = 64;

/// Balances long `AND`/`OR` chains of `stmt`, then refuses it if an expression is still
/// nested more than [`MAX_DEPTH`] levels.
pub fn guard(stmt: &mut Statement) -> Result<()> {
    let _ = VisitMut::visit(stmt, &mut Balance);
    let mut depth = Depth(0);
    if Visit::visit(stmt, &mut depth).is_continue() {
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
    Err(Error::with_hint(
        SqlState::StatementTooComplex,
        format!("expression nested too deeply (more than {MAX_DEPTH} levels)"),
        "Write long lists of values as IN (...) or = ANY(array).",
    ))
}

struct Balance;

impl VisitorMut for Balance {
    type Break = ();

    // Before the visitor goes down, so it never walks the deep chain itself.
    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let op = match e {
            Expr::BinaryOp {
                op: op @ (BinaryOperator::And | BinaryOperator::Or),
                ..
            } => op.clone(),
            _ => return ControlFlow::Continue(()),
        };
        if chain_len(e) < BALANCE_FROM {
            return ControlFlow::Continue(());
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
        *e = balanced(terms, &op);
        ControlFlow::Continue(())
    }
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

/// Stops (breaks) once an expression is nested more than [`MAX_DEPTH`] levels.
struct Depth(usize);

impl Visitor for Depth {
    type Break = ();

    fn pre_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
        self.0 += 1;
        if self.0 > MAX_DEPTH {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
        self.0 -= 1;
        ControlFlow::Continue(())
    }
}

/// Drops `stmt` without deep recursion: each expression deeper than a few levels is
/// moved out of its parent onto a heap stack before its parent is dropped.
fn dismantle(mut stmt: Statement) {
    struct Detach(Vec<Expr>);
    impl VisitorMut for Detach {
        type Break = ();
        fn post_visit_expr(&mut self, _: &mut Expr) -> ControlFlow<()> {
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            // Detach the whole expression; its children are taken apart below.
            self.0.push(std::mem::replace(e, placeholder()));
            ControlFlow::Continue(())
        }
    }
    let mut d = Detach(vec![]);
    let _ = VisitMut::visit(&mut stmt, &mut d);
    drop(stmt);
    let mut todo = d.0;
    while let Some(mut e) = todo.pop() {
        // Move every direct child expression out, then drop the now shallow node.
        let _ = VisitMut::visit(&mut e, &mut Children(&mut todo, 0));
        drop(e);
    }

    /// Moves out the children of the expression it is applied to (depth 1).
    struct Children<'a>(&'a mut Vec<Expr>, usize);
    impl VisitorMut for Children<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            self.1 += 1;
            if self.1 == 2 {
                self.0.push(std::mem::replace(e, placeholder()));
            }
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, _: &mut Expr) -> ControlFlow<()> {
            self.1 -= 1;
            ControlFlow::Continue(())
        }
    }
}
