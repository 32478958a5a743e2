//! A per-session cache of optimised logical plans for queries sent again as the same text.
//!
//! Dashboards and monitoring agents send the same queries again and again. Parsing, our
//! rewrites, DataFusion's SQL-to-plan step, its analyzer and its optimiser cost about a
//! millisecond for a TSBS query, as much as reading the rows of a one-hour window.
//! A repeated statement skips all of that, and when its physical plan could be kept
//! ([`crate::scan_exec::reusable`]) physical planning too: the scans take their storage
//! snapshot when they run ([`crate::scan_exec::StorageScanExec`]), so new rows and new files
//! are always read. The kept physical plan is never executed itself; every execution runs
//! a copy with its state reset (DataFusion's `reset_plan_states`).
//!
//! The key is the parsed statement. sqlparser's AST compares and hashes without source
//! positions, so whitespace and letter case of keywords do not matter. A cached plan is
//! used only while nothing it was built from has changed:
//! - **The catalog.** DDL swaps the storage catalog's `Arc`; an entry keeps the `Arc` it was
//!   planned with and is dropped when that is no longer the current one.
//! - **The session's settings.** Any change clears the cache (`Session::rebuild_context`,
//!   `Session::publish_settings`).
//! - **The plan itself.** Only plans that read Strata tables or no table at all (`SELECT
//!   1`; no pg_catalog or information_schema relations, whose rows are built while planning) and
//!   call no function that is not immutable, other than those whose answer depends on the
//!   session's settings only ([`SETTINGS_ONLY`]), are kept. `now()` and `current_setting()`,
//!   for example, are folded to constants by the optimiser, so their plans cannot be kept;
//!   nor can plans with a text literal such as `'now'` or `'today'`, which our analyzer
//!   reads as a date/time from the clock.
//!
//! Transaction blocks are not cached either: a block's own rows are part of the plan.
//!
//! Prepared statements (Parse) use the same cache: a query without parameters found here is
//! prepared from its entry and executed through it, and a query with parameters keeps its
//! prepared form (unoptimised plan, parameter types, described columns) by statement and
//! declared parameter types, under the same rules; its executions bind, optimise and plan
//! physically every time.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{HashMap, ScalarValue};
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use datafusion::physical_plan::ExecutionPlan;
use sqlparser::ast::{self, Statement};
use strata_storage::catalog::CatalogState;

use crate::session::Prepared;
use crate::table::TsTable;

/// Functions that are stable (not immutable) only because they read the session's
/// settings, which are fixed in their instance when the session's context is built: a
/// change of settings clears the cache, so their plans can be kept. `EXTRACT` and
/// `date_trunc` (and `timezone`, `AT TIME ZONE`, and `age`, for a timestamptz or date) read the
/// time zone: Grafana's `$__timeGroup` (`floor(extract(epoch from ts)/300)*300`) was
/// planned anew for every refresh, ~3 ms of a 4 ms query (docs/performance.md,
/// "Session 26").
pub(crate) const SETTINGS_ONLY: &[&str] = &["pg_extract", "date_trunc", "timezone", "age"];

/// At most this many plans per session; a full cache starts over.
const CAPACITY: usize = 128;

#[derive(Debug)]
struct Entry {
    catalog: Arc<CatalogState>,
    plan: LogicalPlan,
    schema: SchemaRef,
    physical: Option<Arc<dyn ExecutionPlan>>,
}

/// What the cache holds for a statement.
#[derive(Debug)]
pub struct Cached {
    /// The optimised logical plan.
    pub plan: LogicalPlan,
    /// The schema the client sees.
    pub schema: SchemaRef,
    /// The physical plan, once planned and if it can be run again.
    pub physical: Option<Arc<dyn ExecutionPlan>>,
}

/// Optimised plans of this session's queries, by statement.
#[derive(Debug, Default)]
pub struct PlanCache {
    /// (`datafusion::common::HashMap`, foldhash: a lookup hashes the whole syntax tree,
    /// and SipHash made that ~2 % of a one-host query's CPU.)
    entries: parking_lot::Mutex<HashMap<Statement, Entry>>,
    /// Prepared queries with parameters, by statement and the parameter types the client
    /// declared: drivers that bind send an unnamed statement's Parse before every
    /// execution.
    /// (Looked up by reference: a Parse does not clone its statement to find it.)
    prepared: parking_lot::Mutex<HashMap<Statement, Vec<PreparedEntry>>>,
}

#[derive(Debug)]
struct PreparedEntry {
    declared: Vec<Option<DataType>>,
    /// The SQL types the parameters are cast to (see `Session::prepare`): Parse's `oid`
    /// and `int8` are both `Int64` in `declared`, and describe differently.
    casts: Vec<Option<ast::DataType>>,
    catalog: Arc<CatalogState>,
    prepared: Prepared,
}

impl PlanCache {
    /// The plans and client-facing schema cached for `stmt`, if it was planned against
    /// `catalog`.
    pub fn get(&self, stmt: &Statement, catalog: &Arc<CatalogState>) -> Option<Cached> {
        let mut entries = self.entries.lock();
        let e = entries.get(stmt)?;
        if Arc::ptr_eq(&e.catalog, catalog) {
            return Some(Cached {
                plan: e.plan.clone(),
                schema: Arc::clone(&e.schema),
                physical: e.physical.clone(),
            });
        }
        entries.remove(stmt);
        None
    }

    /// Keeps the physical plan of `stmt` (planned from its cached logical plan, and
    /// [`crate::scan_exec::reusable`]).
    pub fn set_physical(&self, stmt: &Statement, physical: Arc<dyn ExecutionPlan>) {
        if let Some(e) = self.entries.lock().get_mut(stmt) {
            e.physical = Some(physical);
        }
    }

    /// Keeps the optimised `plan` of `stmt`, planned against `catalog` (the caller checked
    /// [`cacheable`] on the plan before optimisation).
    pub fn insert(
        &self,
        stmt: Statement,
        catalog: Arc<CatalogState>,
        plan: &LogicalPlan,
        schema: &SchemaRef,
    ) {
        let mut entries = self.entries.lock();
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(
            stmt,
            Entry {
                catalog,
                plan: plan.clone(),
                schema: Arc::clone(schema),
                physical: None,
            },
        );
    }

    /// The prepared form of `stmt` with the `declared` parameter types (cast to `casts`),
    /// if it was prepared against `catalog`.
    pub fn get_prepared(
        &self,
        stmt: &Statement,
        declared: &[Option<DataType>],
        casts: &[Option<ast::DataType>],
        catalog: &Arc<CatalogState>,
    ) -> Option<Prepared> {
        let entries = self.prepared.lock();
        entries
            .get(stmt)?
            .iter()
            .find(|e| {
                e.declared == declared && e.casts == casts && Arc::ptr_eq(&e.catalog, catalog)
            })
            .map(|e| e.prepared.clone())
    }

    /// Keeps `prepared`, the prepared form of `stmt` with the `declared` parameter types
    /// (its plan passed [`cacheable_with_parameters`]); it replaces one prepared against an
    /// older catalog.
    pub fn insert_prepared(
        &self,
        stmt: &Statement,
        declared: &[Option<DataType>],
        casts: &[Option<ast::DataType>],
        catalog: Arc<CatalogState>,
        prepared: Prepared,
    ) {
        let mut entries = self.prepared.lock();
        if !entries.contains_key(stmt) && entries.len() >= CAPACITY {
            entries.clear();
        }
        let forms = entries.entry(stmt.clone()).or_default();
        forms.retain(|e| e.declared != declared || e.casts != casts);
        forms.push(PreparedEntry {
            declared: declared.to_vec(),
            casts: casts.to_vec(),
            catalog,
            prepared,
        });
    }

    /// How many plans are kept.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// How many statements keep a physical plan too.
    pub fn physical_len(&self) -> usize {
        self.entries
            .lock()
            .values()
            .filter(|e| e.physical.is_some())
            .count()
    }

    /// How many prepared queries with parameters are kept.
    pub fn prepared_len(&self) -> usize {
        self.prepared.lock().values().map(Vec::len).sum()
    }

    /// Whether no plan is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.lock().is_empty()
    }

    /// Forgets every plan (the session's settings changed).
    pub fn clear(&self) {
        self.entries.lock().clear();
        self.prepared.lock().clear();
    }
}

/// Whether `v` is text that PostgreSQL reads as a moment relative to the clock
/// (`'now'`, `'today'`, `'tomorrow'`, `'yesterday'`): our analyzer turns such a literal
/// compared with or cast to a date/time into a constant while optimising. Any text holding
/// one of these words counts, which keeps a few plans out of the cache for nothing.
fn names_a_relative_time(v: &ScalarValue) -> bool {
    let (ScalarValue::Utf8(Some(t))
    | ScalarValue::LargeUtf8(Some(t))
    | ScalarValue::Utf8View(Some(t))) = v
    else {
        return false;
    };
    t.split(|c: char| !c.is_ascii_alphabetic()).any(|w| {
        ["now", "today", "tomorrow", "yesterday"]
            .iter()
            .any(|r| w.eq_ignore_ascii_case(r))
    })
}

/// Whether a plan, once optimised, may be executed again later: it reads at least one
/// Strata table and nothing else, and every function it calls is immutable. This must look
/// at the plan before optimisation, which folds `now()` into a constant.
pub fn cacheable(plan: &LogicalPlan) -> bool {
    reusable_plan(plan, false)
}

/// Whether a prepared query's plan (with its parameters not bound yet) may be kept for the
/// next Parse of the same statement: as [`cacheable`], parameters allowed.
pub fn cacheable_with_parameters(plan: &LogicalPlan) -> bool {
    reusable_plan(plan, true)
}

fn reusable_plan(plan: &LogicalPlan, parameters: bool) -> bool {
    let mut ok = true;
    let walked = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let ours = source_as_provider(&scan.source)
                .is_ok_and(|p| p.downcast_ref::<TsTable>().is_some());
            if !ours {
                ok = false;
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        if matches!(node, LogicalPlan::Values(_) | LogicalPlan::Extension(_)) {
            // VALUES lists and our own plan nodes: nothing to gain, and an extension node
            // may hold state of its own.
            ok = false;
            return Ok(TreeNodeRecursion::Stop);
        }
        node.apply_expressions(|e| {
            e.apply(|e| {
                let immutable = match e {
                    Expr::ScalarFunction(f) => {
                        f.func.signature().volatility == Volatility::Immutable
                            || SETTINGS_ONLY.contains(&f.func.name())
                    }
                    Expr::AggregateFunction(f) => {
                        f.func.signature().volatility == Volatility::Immutable
                    }
                    Expr::WindowFunction(_) => true,
                    Expr::Placeholder(_) => parameters,
                    Expr::Literal(v, _) => !names_a_relative_time(v),
                    _ => true,
                };
                if immutable {
                    Ok(TreeNodeRecursion::Continue)
                } else {
                    ok = false;
                    Ok(TreeNodeRecursion::Stop)
                }
            })
        })?;
        Ok(if ok {
            TreeNodeRecursion::Continue
        } else {
            TreeNodeRecursion::Stop
        })
    });
    walked.is_ok() && ok
}
