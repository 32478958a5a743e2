//! A client session: settings, a DataFusion context, and statement dispatch.
//!
//! `execute` routes each parsed statement: our own DDL/DML ([`crate::ddl`],
//! [`crate::dml`], [`crate::fast_insert`]), session statements (SET/SHOW/RESET,
//! transactions), COPY set-up, and everything else to DataFusion, which may only plan
//! queries (no DDL/DML of its own, no file access).

use std::sync::Arc;

use datafusion::arrow::array::{Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use sqlparser::ast::{self, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use strata_storage::TableDef;

use crate::ddl::{self, ident_name, object_name};
use crate::dml;
use crate::engine::Engine;
use crate::error::{Error, Result, SqlState};
pub use crate::settings::Settings;

/// A statement as the session understands it.
#[derive(Debug, Clone)]
pub enum Stmt {
    Sql(Box<Statement>),
    /// `CHECKPOINT` (not in sqlparser's grammar).
    Checkpoint,
    /// A literal-only `INSERT ... VALUES` recognised without sqlparser
    /// ([`crate::fast_scan`]); the SQL text is kept for the cells' byte ranges.
    FastInsert(Arc<(String, crate::fast_scan::RawInsert)>),
    /// `CREATE MATERIALIZED VIEW ... [WITH [NO] DATA]` and `ALTER MATERIALIZED VIEW ...
    /// RENAME TO` (the parts sqlparser does not parse).
    Cagg(Arc<CaggStmt>),
    /// `VACUUM` / `ANALYZE` (see [`crate::utility`]).
    Maintenance(Arc<crate::utility::Maintenance>),
    /// An empty query string.
    Empty,
}

/// Continuous-aggregate statements recognised before sqlparser.
#[derive(Debug, Clone)]
pub enum CaggStmt {
    Create {
        stmt: Box<Statement>,
        with_data: bool,
    },
    Rename {
        from: String,
        to: String,
        if_exists: bool,
    },
}

/// COPY data format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    Text,
    Csv,
    Binary,
}

/// COPY options as given in the statement.
#[derive(Debug, Clone)]
pub struct CopySpec {
    pub format: CopyFormat,
    pub delimiter: Option<char>,
    pub null: Option<String>,
    pub header: bool,
    pub quote: Option<char>,
    pub escape: Option<char>,
}

/// A `COPY t FROM STDIN` waiting for its data.
#[derive(Debug, Clone)]
pub struct CopyIn {
    pub table: Arc<TableDef>,
    /// Indexes of the table columns present in the data, in order.
    pub targets: Vec<usize>,
    pub spec: CopySpec,
    /// Inside a transaction block: where the rows go until COMMIT.
    pub txn: Option<crate::txn::TxnHandle>,
}

/// The result of a statement.
pub enum Output {
    /// Rows of a query.
    Rows {
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
    },
    /// A command completed; `tag` is the full CommandComplete tag. `params` are
    /// ParameterStatus changes to report.
    Command {
        tag: String,
        params: Vec<(String, String)>,
    },
    /// The client must now send COPY data.
    CopyIn(CopyIn),
    /// Rows to send as COPY data.
    CopyOut {
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
        spec: CopySpec,
    },
    /// `DEALLOCATE [PREPARE] name` (`Some`, the folded name) or `DEALLOCATE ALL` (`None`):
    /// the prepared statements live in the connection's protocol state, which the wire
    /// layer removes them from.
    Deallocate(Option<String>),
    /// `DISCARD ALL`, once the session's own state is reset: the wire layer deallocates
    /// the prepared statements as for `DEALLOCATE ALL`.
    DiscardAll,
    /// Empty query.
    Empty,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::Rows { schema, .. } => write!(f, "Rows({schema:?})"),
            Output::Command { tag, .. } => write!(f, "Command({tag})"),
            Output::CopyIn(c) => write!(f, "CopyIn({})", c.table.name),
            Output::CopyOut { .. } => write!(f, "CopyOut"),
            Output::Deallocate(name) => write!(f, "Deallocate({name:?})"),
            Output::DiscardAll => write!(f, "DiscardAll"),
            Output::Empty => write!(f, "Empty"),
        }
    }
}

fn command(tag: impl Into<String>) -> Output {
    Output::Command {
        tag: tag.into(),
        params: vec![],
    }
}

/// A prepared statement (extended protocol).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub stmt: Stmt,
    /// Parameter types, `$1` first.
    pub param_types: Vec<DataType>,
    /// Parameter fields (types plus the PostgreSQL type tag, e.g. jsonb), `$1` first.
    pub param_fields: Vec<Field>,
    /// Schema of the rows it returns (None: returns no rows).
    pub result_schema: Option<SchemaRef>,
    kind: PreparedKind,
    /// How many times it ran (`pg_prepared_statements.generic_plans`).
    pub executions: Arc<crate::prepared_view::Executions>,
}

#[derive(Debug, Clone)]
enum PreparedKind {
    /// A query planned once, re-executed with parameter values.
    Plan(LogicalPlan),
    /// Anything else: executed through `execute` after substituting parameters.
    Statement,
}

/// A client session.
pub struct Session {
    engine: Arc<Engine>,
    ctx: SessionContext,
    pub settings: Settings,
    /// Values at connection start (after start-up parameters): what RESET returns to.
    startup_settings: Settings,
    /// The settings as seen by SQL functions (`current_setting`), updated after each change.
    shared_settings: Arc<parking_lot::RwLock<Settings>>,
    in_transaction: bool,
    /// Set when a statement failed inside a transaction block (25P02 until ROLLBACK).
    failed_transaction: bool,
    /// Where NOTICE messages of the running statement go (the connection sends them).
    notices: Option<tokio::sync::mpsc::UnboundedSender<String>>,
    /// Rows written inside the open transaction block (see [`crate::txn`]).
    txn: crate::txn::TxnHandle,
    /// Open cursors (`DECLARE name CURSOR FOR query`), by name.
    cursors: std::collections::HashMap<String, crate::cursor::Cursor>,
    /// Optimised plans of queries this session sent before.
    plans: crate::plan_cache::PlanCache,
    /// Parsed statements of query strings this session sent before ([`Session::parse`]).
    parsed: std::sync::Mutex<datafusion::common::HashMap<String, Arc<[Stmt]>>>,
    /// Statements prepared by SQL `PREPARE`, by name (see [`crate::sql_prepare`]).
    sql_prepared: std::collections::HashMap<String, Arc<Prepared>>,
    /// Every named prepared statement, SQL's and the protocol's, as
    /// `pg_prepared_statements` shows them.
    prepared_list: crate::prepared_view::PreparedList,
    /// The client's text of the `PREPARE` being run (see [`Session::set_source_text`]).
    source_text: Option<String>,
    /// The task context of `ctx`, made once: building one clones every function registry
    /// of the session state, and dropping it after each statement costs as much (together
    /// ~7 % of the CPU of a one-host query run from the plan cache). Replaced with `ctx`.
    task: std::sync::OnceLock<Arc<datafusion::execution::TaskContext>>,
}

impl Drop for Session {
    fn drop(&mut self) {
        crate::engine::release_context(&self.ctx);
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("settings", &self.settings)
            .finish()
    }
}

impl Session {
    pub(crate) fn new(engine: Arc<Engine>) -> Result<Session> {
        let settings = Settings::default();
        let shared_settings = Arc::new(parking_lot::RwLock::new(settings.clone()));
        let txn = crate::txn::TxnHandle::default();
        let ctx = engine.new_context(
            &settings,
            Arc::clone(&shared_settings),
            Some(Arc::clone(&txn)),
        )?;
        let prepared_list = crate::prepared_view::PreparedList::default();
        crate::prepared_view::register(&ctx, &prepared_list);
        Ok(Session {
            engine,
            ctx,
            startup_settings: settings.clone(),
            settings,
            shared_settings,
            in_transaction: false,
            failed_transaction: false,
            notices: None,
            txn,
            cursors: Default::default(),
            plans: Default::default(),
            parsed: Default::default(),
            sql_prepared: Default::default(),
            prepared_list,
            source_text: None,
            task: std::sync::OnceLock::new(),
        })
    }

    /// The query string the next statements come from, for SQL `PREPARE`:
    /// `pg_prepared_statements.statement` is the client's text, as PostgreSQL keeps it
    /// (the whole query string, as sent). The wire layer sets it only around a `PREPARE`,
    /// and clears it with None; without it the statement is printed back from its parse.
    pub fn set_source_text(&mut self, text: Option<&str>) {
        self.source_text = text.map(str::to_string);
    }

    /// True when SQL `PREPARE` defined a statement of this name (a Parse may not reuse it).
    pub fn has_sql_prepared(&self, name: &str) -> bool {
        self.sql_prepared.contains_key(name)
    }

    /// The statement SQL `PREPARE` defined under `name` (a protocol Bind or Describe may
    /// name it, as in PostgreSQL).
    pub fn sql_prepared(&self, name: &str) -> Option<Arc<Prepared>> {
        self.sql_prepared.get(name).cloned()
    }

    /// Forgets a statement SQL `PREPARE` defined (a protocol Close of its name); true if
    /// there was one.
    pub fn remove_sql_prepared(&mut self, name: &str) -> bool {
        let found = self.sql_prepared.remove(name).is_some();
        if found {
            self.prepared_list.write().remove(name);
        }
        found
    }

    /// Records a statement the protocol's Parse prepared under `name` (the wire layer
    /// keeps the statement itself; None for an empty one): `pg_prepared_statements` lists
    /// it, and `DEALLOCATE ALL` finds its name here.
    pub fn note_protocol_prepared(&self, name: &str, text: &str, prepared: Option<Arc<Prepared>>) {
        self.prepared_list.write().insert(
            name.to_string(),
            crate::prepared_view::PreparedEntry {
                prepared,
                statement: text.to_string(),
                prepare_time: crate::prepared_view::now_micros(),
                from_sql: false,
            },
        );
    }

    /// Forgets a statement the protocol prepared; true if `name` was one.
    pub fn forget_protocol_prepared(&self, name: &str) -> bool {
        let mut list = self.prepared_list.write();
        if list.get(name).is_some_and(|e| !e.from_sql) {
            list.remove(name);
            return true;
        }
        false
    }

    /// Forgets every statement the protocol prepared and returns their names (for the
    /// wire layer to drop: `DEALLOCATE ALL`, `DISCARD ALL`).
    pub fn take_protocol_prepared(&self) -> Vec<String> {
        let mut list = self.prepared_list.write();
        let names: Vec<String> = list
            .iter()
            .filter(|(_, e)| !e.from_sql)
            .map(|(n, _)| n.clone())
            .collect();
        for n in &names {
            list.remove(n);
        }
        names
    }

    /// Forgets every statement SQL `PREPARE` defined.
    fn clear_sql_prepared(&mut self) {
        self.sql_prepared.clear();
        self.prepared_list.write().retain(|_, e| !e.from_sql);
    }

    /// The statement SQL `PREPARE` defined as `EXECUTE`'s `name`, with its folded name.
    fn sql_prepared_named(&self, name: &ast::ObjectName) -> Result<(String, Arc<Prepared>)> {
        let name = match name.0.as_slice() {
            [part] => part.as_ident().map(ident_name),
            _ => None,
        }
        .unwrap_or_else(|| name.to_string());
        match self.sql_prepared.get(&name) {
            Some(p) => Ok((name, Arc::clone(p))),
            None => Err(crate::sql_prepare::no_such_statement(&name)),
        }
    }

    /// The DataFusion context of this session.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The cache of this session's query plans (see [`crate::plan_cache`]).
    pub fn plan_cache(&self) -> &crate::plan_cache::PlanCache {
        &self.plans
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Sets where NOTICE messages go while statements run.
    pub fn set_notice_sink(&mut self, sink: Option<tokio::sync::mpsc::UnboundedSender<String>>) {
        self.notices = sink;
    }

    pub(crate) fn notice_fn(&self) -> impl Fn(String) + Send + Sync + use<> {
        let tx = self.notices.clone();
        move |m: String| {
            if let Some(tx) = &tx {
                let _ = tx.send(m);
            }
        }
    }

    /// True inside BEGIN ... COMMIT.
    pub fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    /// Parses a query string into statements.
    ///
    /// A string of queries only (`SELECT`, `WITH`, ...) that this session sent before is
    /// not parsed again: dashboards and drivers send the same text again and again, and
    /// parsing it was ~8% of the CPU of a one-host, one-hour query answered from the plan
    /// cache. Parsing depends on the text alone.
    pub fn parse(&self, sql: &str) -> Result<Vec<Stmt>> {
        Ok(self.parse_shared(sql)?.to_vec())
    }

    /// [`Session::parse`] without a copy of the statements: a query's syntax tree, copied
    /// out of the cache and dropped again, was ~3 % of the CPU of a one-host query.
    pub fn parse_shared(&self, sql: &str) -> Result<Arc<[Stmt]>> {
        const MAX_TEXTS: usize = 64;
        const MAX_TEXT_BYTES: usize = 16 * 1024;
        let cache = |f: &mut dyn FnMut(&mut datafusion::common::HashMap<String, Arc<[Stmt]>>)| {
            if let Ok(mut m) = self.parsed.lock() {
                f(&mut m)
            }
        };
        let mut hit = None;
        cache(&mut |m| hit = m.get(sql).cloned());
        if let Some(stmts) = hit {
            return Ok(stmts);
        }
        let stmts: Arc<[Stmt]> = self.parse_text(sql)?.into();
        let queries = stmts
            .iter()
            .all(|s| matches!(s, Stmt::Sql(s) if matches!(**s, Statement::Query(_))));
        if queries && sql.len() <= MAX_TEXT_BYTES {
            cache(&mut |m| {
                if m.len() >= MAX_TEXTS {
                    m.clear();
                }
                m.insert(sql.to_string(), Arc::clone(&stmts));
            });
        }
        Ok(stmts)
    }

    fn parse_text(&self, sql: &str) -> Result<Vec<Stmt>> {
        let trimmed = sql.trim().trim_end_matches(';').trim();
        if trimmed.is_empty() {
            return Ok(vec![Stmt::Empty]);
        }
        if trimmed.eq_ignore_ascii_case("checkpoint") {
            return Ok(vec![Stmt::Checkpoint]);
        }
        if let Some(raw) = crate::fast_scan::scan(sql) {
            return Ok(vec![Stmt::FastInsert(Arc::new((sql.to_string(), raw)))]);
        }
        // Several statements in one string: each is recognised on its own, so statements
        // sqlparser does not know (CHECKPOINT, continuous aggregate and role DDL) work
        // there too.
        if trimmed.contains(';')
            && let Some(pieces) = split_statements(trimmed)
            && pieces.len() > 1
        {
            let mut out = Vec::with_capacity(pieces.len());
            for p in pieces {
                // A piece of comments only is no statement when others are there.
                out.extend(
                    self.parse(p)?
                        .into_iter()
                        .filter(|s| !matches!(s, Stmt::Empty)),
                );
            }
            if out.is_empty() {
                out.push(Stmt::Empty);
            }
            return Ok(out);
        }
        if let Some(m) = crate::utility::parse_maintenance(trimmed)? {
            return Ok(vec![Stmt::Maintenance(Arc::new(m))]);
        }
        if let Some(c) = parse_cagg_statement(trimmed)? {
            return Ok(vec![Stmt::Cagg(Arc::new(c))]);
        }
        if starts_with_words(trimmed, &["create", "external"])
            || starts_with_words(trimmed, &["create", "unbounded", "external"])
        {
            return Err(external_table_refused());
        }
        if let Some(role_sql) = crate::role_ddl::user_to_role(trimmed) {
            let stmts = Parser::parse_sql(&PostgreSqlDialect {}, &role_sql)
                .map_err(|e| syntax_error(&e.to_string()))?;
            return Ok(stmts.into_iter().map(|s| Stmt::Sql(Box::new(s))).collect());
        }
        let rewritten =
            rewrite_dotted_options(sql).or_else(|| crate::utility::copy_boolean_options(sql));
        let stmts = Parser::parse_sql(&PostgreSqlDialect {}, rewritten.as_deref().unwrap_or(sql))
            .map_err(|e| syntax_error(&e.to_string()))?;
        if stmts.is_empty() {
            return Ok(vec![Stmt::Empty]);
        }
        stmts
            .into_iter()
            .map(|mut s| {
                crate::deep_expr::guard(&mut s)?;
                Ok(Stmt::Sql(Box::new(s)))
            })
            .collect()
    }

    /// Records the outcome of a statement for transaction-block bookkeeping.
    pub fn note_error(&mut self) {
        if self.in_transaction {
            self.failed_transaction = true;
        }
    }

    /// Executes one statement (simple protocol).
    pub async fn execute(&mut self, stmt: &Stmt) -> Result<Output> {
        let s = match stmt {
            Stmt::Empty => return Ok(Output::Empty),
            Stmt::Checkpoint => {
                self.engine.storage().checkpoint().await?;
                return Ok(command("CHECKPOINT"));
            }
            Stmt::FastInsert(fi) => {
                if self.failed_transaction {
                    return Err(Error::user(
                        SqlState::InFailedTransaction,
                        "current transaction is aborted, commands ignored until end of transaction block",
                    ));
                }
                let (sql, raw) = fi.as_ref();
                let storage = self.engine.storage();
                let cat = storage.catalog();
                let built = match cat.table(&raw.table) {
                    Some(def) => {
                        let targets = dml::target_columns(def, &raw.columns)?;
                        crate::fast_insert::build_raw(def, &targets, sql, raw, self.settings.tz)?
                            .map(|b| (Arc::clone(def), b))
                    }
                    None => None,
                };
                if let Some((def, batch)) = built {
                    let n = batch.num_rows();
                    self.write(def.id, batch).await?;
                    return Ok(command(format!("INSERT 0 {n}")));
                }
                // Not for the fast path after all (DEFAULT, unknown table for the error
                // message, a view...): parse it properly.
                let parsed = Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| {
                    Error::user(SqlState::SyntaxError, format!("syntax error: {e}"))
                })?;
                let Some(s) = parsed.into_iter().next() else {
                    return Ok(Output::Empty);
                };
                return Box::pin(self.execute(&Stmt::Sql(Box::new(s)))).await;
            }
            Stmt::Cagg(c) => return self.execute_cagg(c).await,
            Stmt::Maintenance(m) => return self.maintenance(m),
            Stmt::Sql(s) => s.as_ref(),
        };
        if self.failed_transaction
            && !matches!(s, Statement::Rollback { .. } | Statement::Commit { .. })
        {
            return Err(Error::user(
                SqlState::InFailedTransaction,
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
        }
        let storage = Arc::clone(self.engine.storage());
        match s {
            Statement::Query(q) => {
                if let Some(out) = self.set_config(q)? {
                    return Ok(out);
                }
                if let Some(out) = self.special_select(q).await? {
                    return Ok(out);
                }
                self.run_query(s.clone()).await
            }
            Statement::Explain { statement, .. }
                if matches!(statement.as_ref(), Statement::Execute { .. }) =>
            {
                self.sql_prepare_or_execute_boxed(s).await
            }
            Statement::Explain { .. } => self.run_query(s.clone()).await,
            Statement::Call(f) => self.call(f).await,
            Statement::Drop {
                object_type: ast::ObjectType::MaterializedView,
                if_exists,
                names,
                ..
            } => {
                for n in names {
                    let name = object_name(n)?;
                    if storage.catalog().cagg(&name).is_none() && *if_exists {
                        continue;
                    }
                    crate::cagg::drop(&self.engine, &name).await?;
                }
                Ok(command("DROP MATERIALIZED VIEW"))
            }
            Statement::CreateTable(ct) => {
                if ct.external || ct.location.is_some() || ct.file_format.is_some() {
                    return Err(external_table_refused());
                }
                if let Some(q) = &ct.query {
                    // boxed: its future would enlarge every statement's
                    return Box::pin(self.create_table_as(ct, q)).await;
                }
                ddl::create_table(&storage, ct).await?;
                Ok(command("CREATE TABLE"))
            }
            Statement::CreateRole(cr) => crate::role_ddl::create_role(self, cr),
            Statement::AlterRole { name, operation } => {
                crate::role_ddl::alter_role(self, name, operation)
            }
            Statement::Drop {
                object_type: ast::ObjectType::Role | ast::ObjectType::User,
                if_exists,
                names,
                ..
            } => crate::role_ddl::drop_role(self, names, *if_exists),
            Statement::Drop {
                object_type,
                if_exists,
                names,
                cascade,
                ..
            } => {
                let (what, tag) = match object_type {
                    ast::ObjectType::Table => ("table", "DROP TABLE"),
                    ast::ObjectType::View => ("view", "DROP VIEW"),
                    other => return Err(Error::unsupported(format!("DROP {other}"))),
                };
                for n in names {
                    let name = object_name(n)?;
                    let cat = storage.catalog();
                    let exists = if what == "table" {
                        cat.table(&name).is_some()
                    } else {
                        cat.view(&name).is_some()
                    };
                    if !exists {
                        if *if_exists {
                            continue;
                        }
                        if what == "table" && cat.view(&name).is_some() {
                            return Err(Error::with_hint(
                                SqlState::WrongObjectType,
                                format!("\"{name}\" is not a table"),
                                "Use DROP VIEW to remove a view.",
                            ));
                        }
                        if what == "view" && cat.table(&name).is_some() {
                            return Err(Error::with_hint(
                                SqlState::WrongObjectType,
                                format!("\"{name}\" is not a view"),
                                "Use DROP TABLE to remove a table.",
                            ));
                        }
                        let kind = if what == "table" { "table" } else { "view" };
                        return Err(Error::user(
                            SqlState::UndefinedTable,
                            format!("{kind} \"{name}\" does not exist"),
                        ));
                    }
                    if what == "table" {
                        let deps: Vec<String> = cat
                            .caggs
                            .iter()
                            .filter(|c| cat.table(&name).is_some_and(|t| t.id == c.raw_table))
                            .map(|c| c.name.clone())
                            .collect();
                        if !deps.is_empty() && !*cascade {
                            return Err(Error::with_hint(
                                SqlState::DependentObjectsStillExist,
                                format!(
                                    "cannot drop table {name} because other objects depend on it"
                                ),
                                format!(
                                    "continuous aggregate(s) {} depend on it; use DROP TABLE ... CASCADE to drop them too",
                                    deps.join(", ")
                                ),
                            ));
                        }
                        // Views over views first.
                        let mut deps = deps;
                        deps.sort_by_key(|d| {
                            std::cmp::Reverse(
                                cat.caggs.iter().filter(|c| c.source == *d).count() == 0,
                            )
                        });
                        let mut remaining = deps;
                        while !remaining.is_empty() {
                            let cur = storage.catalog();
                            let leaf = remaining
                                .iter()
                                .position(|d| !cur.caggs.iter().any(|c| c.source == *d))
                                .unwrap_or(0);
                            let d = remaining.remove(leaf);
                            crate::cagg::drop(&self.engine, &d).await?;
                        }
                        storage.drop_table(&name).await?;
                    } else {
                        storage.drop_view(&name).await?;
                    }
                }
                Ok(command(tag))
            }
            Statement::AlterTable(at) => {
                let name = object_name(&at.name)?;
                if storage.catalog().table(&name).is_none() {
                    if at.if_exists {
                        return Ok(command("ALTER TABLE"));
                    }
                    return Err(Error::user(
                        SqlState::UndefinedTable,
                        format!("relation \"{name}\" does not exist"),
                    ));
                }
                for op in &at.operations {
                    match op {
                        ast::AlterTableOperation::AddColumn {
                            if_not_exists,
                            column_def,
                            ..
                        } => {
                            let cname = ident_name(&column_def.name);
                            let ty = ddl::column_type(&column_def.data_type)?;
                            let mut default = None;
                            for o in &column_def.options {
                                match &o.option {
                                    ast::ColumnOption::Null => {}
                                    ast::ColumnOption::NotNull => {
                                        return Err(Error::unsupported(
                                            "ADD COLUMN ... NOT NULL (existing rows would violate it; add a nullable column)",
                                        ));
                                    }
                                    ast::ColumnOption::Default(_) => {
                                        default = None;
                                        let _ = &mut default;
                                        return Err(Error::unsupported(
                                            "ADD COLUMN ... DEFAULT (existing rows keep NULL; add the column without DEFAULT)",
                                        ));
                                    }
                                    other => {
                                        return Err(Error::unsupported(format!(
                                            "column option {other} in ADD COLUMN"
                                        )));
                                    }
                                }
                            }
                            let def = storage.catalog().table(&name).cloned();
                            if *if_not_exists
                                && def
                                    .as_ref()
                                    .is_some_and(|d| d.column_index(&cname).is_some())
                            {
                                continue;
                            }
                            if def
                                .as_ref()
                                .is_some_and(|d| d.column_index(&cname).is_some())
                            {
                                return Err(Error::user(
                                    SqlState::DuplicateColumn,
                                    format!(
                                        "column \"{cname}\" of relation \"{name}\" already exists"
                                    ),
                                ));
                            }
                            storage
                                .add_column(
                                    &name,
                                    strata_storage::ColumnDef {
                                        name: cname,
                                        ty,
                                        nullable: true,
                                        default,
                                        max_length: ddl::declared_length(&column_def.data_type)?,
                                    },
                                )
                                .await?;
                        }
                        ast::AlterTableOperation::AddConstraint {
                            constraint: ast::TableConstraint::PrimaryKey(pk),
                            ..
                        } => ddl::add_primary_key(&storage, &name, pk).await?,
                        ast::AlterTableOperation::SetOptionsParens { options } => {
                            // Checked on a copy first, so errors keep their SQLSTATE.
                            let Some(current) = storage.catalog().table(&name).cloned() else {
                                continue;
                            };
                            let mut changed = (*current).clone();
                            for o in options {
                                let (key, value) = ddl::option_key_value(o)?;
                                if !ddl::is_layout_option(&key) {
                                    return Err(Error::unsupported(format!(
                                        "table option \"{key}\""
                                    )));
                                }
                                ddl::apply_layout_option(&mut changed, &key, value)?;
                            }
                            storage.update_table_def(changed).await?;
                        }
                        ast::AlterTableOperation::RenameTable {
                            table_name: ast::RenameTableNameKind::To(to),
                        } if at.operations.len() == 1 => {
                            let to = object_name(to)?;
                            ddl::check_no_dependents(&storage, &name, "rename")?;
                            if storage.catalog().relation_exists(&to) {
                                return Err(Error::user(
                                    SqlState::DuplicateTable,
                                    format!("relation \"{to}\" already exists"),
                                ));
                            }
                            storage.rename_table(&name, &to).await?;
                        }
                        other => return Err(Error::unsupported(format!("ALTER TABLE {other}"))),
                    }
                }
                Ok(command("ALTER TABLE"))
            }
            Statement::CreateView(cv) => {
                if cv.materialized {
                    // Inside a multi-statement query string (a lone statement is
                    // recognised before sqlparser, with its WITH [NO] DATA clause).
                    let c = CaggStmt::Create {
                        stmt: Box::new(s.clone()),
                        with_data: true,
                    };
                    return self.execute_cagg(&c).await;
                }
                let name = object_name(&cv.name)?;
                let sql = cv.query.to_string();
                // Plan it now so a broken view is refused at CREATE time.
                let view = strata_storage::ViewDef {
                    name: name.clone(),
                    sql,
                    columns: cv.columns.iter().map(|c| ident_name(&c.name)).collect(),
                };
                if storage.catalog().view(&name).is_some() && cv.if_not_exists {
                    return Ok(command("CREATE VIEW"));
                }
                self.engine.plan_view(&view).await?;
                storage.create_view(view, cv.or_replace).await?;
                Ok(command("CREATE VIEW"))
            }
            Statement::Insert(ins) => {
                let n = self.insert(ins, None).await?;
                Ok(command(format!("INSERT 0 {n}")))
            }
            Statement::Delete(_) if self.in_transaction => Err(Error::with_hint(
                SqlState::FeatureNotSupported,
                "DELETE inside a transaction block is not supported",
                "Run DELETE outside BEGIN ... COMMIT (it is atomic on its own).",
            )),
            Statement::Delete(del) => {
                let n = dml::delete(&self.ctx, &self.engine, del).await?;
                Ok(command(format!("DELETE {n}")))
            }
            Statement::Copy {
                source,
                to,
                target,
                options,
                legacy_options,
                ..
            } => {
                self.copy(source, *to, target, options, legacy_options)
                    .await
            }
            Statement::Set(set) => self.set(set),
            Statement::ShowVariable { variable } => self.show(variable),
            Statement::Reset(r) => {
                let p = match &r.reset {
                    ast::Reset::ALL => self.settings.reset(None, &self.startup_settings)?,
                    ast::Reset::ConfigurationParameter(n) => self
                        .settings
                        .reset(Some(&n.to_string()), &self.startup_settings)?,
                };
                self.rebuild_context()?;
                Ok(Output::Command {
                    tag: "RESET".into(),
                    params: p.into_iter().collect(),
                })
            }
            Statement::StartTransaction { .. } => {
                if self.in_transaction {
                    (self.notice_fn())("there is already a transaction in progress".into());
                } else {
                    let _ = self.txn.lock().take();
                }
                self.in_transaction = true;
                Ok(command("BEGIN"))
            }
            Statement::Commit { .. } => {
                crate::cursor::end_of_transaction(&mut self.cursors, !self.failed_transaction);
                let failed = self.failed_transaction;
                let was_open = self.in_transaction;
                self.in_transaction = false;
                self.failed_transaction = false;
                let (ops, writes) = self.txn.lock().take();
                if !was_open {
                    (self.notice_fn())("there is no transaction in progress".into());
                }
                if failed {
                    return Ok(command("ROLLBACK"));
                }
                for op in ops {
                    match op {
                        crate::txn::PendingOp::Truncate(t) => self.truncate_now(t).await?,
                        crate::txn::PendingOp::Update(u) => {
                            u.compile(&self.ctx, self.settings.tz)?
                                .run(&self.engine, u.range)
                                .await?;
                        }
                    }
                }
                if !writes.is_empty() {
                    self.engine.write_all(writes).await?;
                }
                Ok(command("COMMIT"))
            }
            Statement::Rollback { .. } => {
                if !self.in_transaction {
                    (self.notice_fn())("there is no transaction in progress".into());
                }
                crate::cursor::end_of_transaction(&mut self.cursors, false);
                self.in_transaction = false;
                self.failed_transaction = false;
                let _ = self.txn.lock().take();
                Ok(command("ROLLBACK"))
            }
            Statement::Declare { stmts } => {
                let [d] = stmts.as_slice() else {
                    return Err(Error::unsupported("DECLARE of several cursors"));
                };
                let Some(q) = &d.for_query else {
                    return Err(Error::unsupported("DECLARE without a cursor query"));
                };
                let name = crate::cursor::declared_name(d)?;
                let hold = d.hold == Some(true);
                if !hold && !self.in_transaction {
                    return Err(Error::user(
                        SqlState::NoActiveSqlTransaction,
                        "DECLARE CURSOR can only be used in transaction blocks",
                    ));
                }
                if self.cursors.contains_key(&name) {
                    return Err(Error::user(
                        SqlState::DuplicateCursor,
                        format!("cursor \"{name}\" already exists"),
                    ));
                }
                let out = Box::pin(self.execute(&Stmt::Sql(Box::new(Statement::Query(q.clone())))))
                    .await?;
                let Output::Rows { schema, stream } = out else {
                    return Err(Error::unsupported("DECLARE CURSOR for this query"));
                };
                self.cursors
                    .insert(name, crate::cursor::Cursor::new(schema, stream, hold));
                Ok(command("DECLARE CURSOR"))
            }
            Statement::Fetch {
                name, direction, ..
            } => {
                let key = crate::cursor::ident_key(name);
                let Some(c) = self.cursors.get_mut(&key) else {
                    return Err(Error::user(
                        SqlState::InvalidCursorName,
                        format!("cursor \"{key}\" does not exist"),
                    ));
                };
                let n = crate::cursor::fetch_count(direction)?;
                let (schema, batches) = c.fetch(n).await?;
                let mem = MemoryStream::try_new(batches, Arc::clone(&schema), None)?;
                Ok(Output::Rows {
                    schema,
                    stream: Box::pin(mem),
                })
            }
            Statement::Close { cursor } => {
                match cursor {
                    ast::CloseCursor::All => self.cursors.clear(),
                    ast::CloseCursor::Specific { name } => {
                        let key = crate::cursor::ident_key(name);
                        if self.cursors.remove(&key).is_none() {
                            return Err(Error::user(
                                SqlState::InvalidCursorName,
                                format!("cursor \"{key}\" does not exist"),
                            ));
                        }
                    }
                }
                Ok(command("CLOSE CURSOR"))
            }
            Statement::Discard { object_type } => match object_type {
                ast::DiscardObject::ALL => {
                    if self.in_transaction {
                        return Err(Error::user(
                            SqlState::ActiveSqlTransaction,
                            "DISCARD ALL cannot run inside a transaction block",
                        ));
                    }
                    self.cursors.clear();
                    self.clear_sql_prepared();
                    self.settings = self.startup_settings.clone();
                    self.rebuild_context()?;
                    // The wire layer also deallocates the prepared statements.
                    Ok(Output::DiscardAll)
                }
                ast::DiscardObject::PLANS => {
                    self.plans.clear();
                    Ok(command("DISCARD PLANS"))
                }
                // No sequences and no temporary tables: nothing to drop.
                ast::DiscardObject::SEQUENCES => Ok(command("DISCARD SEQUENCES")),
                ast::DiscardObject::TEMP => Ok(command("DISCARD TEMP")),
            },
            // `ALL` is a reserved word: only unquoted it means every statement. Statements
            // prepared by SQL are the session's; the wire layer removes those of Parse.
            Statement::Deallocate { name, .. } => {
                if name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all") {
                    self.clear_sql_prepared();
                    return Ok(Output::Deallocate(None));
                }
                let name = ident_name(name);
                if self.remove_sql_prepared(&name) {
                    return Ok(command("DEALLOCATE"));
                }
                Ok(Output::Deallocate(Some(name)))
            }
            Statement::Prepare { .. } | Statement::Execute { .. } => {
                self.sql_prepare_or_execute_boxed(s).await
            }
            Statement::Truncate(t) => self.truncate(t).await,
            Statement::Update(u) => {
                let n = self.update(u).await?;
                Ok(command(format!("UPDATE {n}")))
            }
            other => Err(Error::unsupported(format!(
                "statement {}",
                first_words(&other.to_string())
            ))),
        }
    }

    /// [`Self::sql_prepare_or_execute`], built in its own stack frame: an unoptimised
    /// build gives `execute`'s poll function a stack slot for every future it builds
    /// inline (over 500 KB already), and test threads and tokio's workers have 2 MB.
    #[inline(never)]
    fn sql_prepare_or_execute_boxed<'a>(
        &'a mut self,
        s: &'a Statement,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Output>> + Send + 'a>> {
        Box::pin(self.sql_prepare_or_execute(s))
    }

    /// SQL `PREPARE name [(type, ...)] AS statement` and `EXECUTE name [(arg, ...)]` (see
    /// [`crate::sql_prepare`]).
    async fn sql_prepare_or_execute(&mut self, s: &Statement) -> Result<Output> {
        match s {
            Statement::Prepare {
                name,
                data_types,
                statement,
            } => {
                let name = ident_name(name);
                if self.sql_prepared.contains_key(&name) {
                    return Err(crate::sql_prepare::duplicate_statement(&name));
                }
                let declared = crate::sql_prepare::declared_types(data_types)?;
                let stmt = crate::sql_prepare::preparable(statement)?;
                // PostgreSQL ignores the length of a parameter's type (`varchar(2)`
                // takes 'abcd' whole); the rewrite would cut a cast to `varchar(n)`.
                let casts: Vec<_> = data_types
                    .iter()
                    .map(|t| match crate::rewrite::varchar_length(t) {
                        Some(_) => Some(ast::DataType::Varchar(None)),
                        None => Some(t.clone()),
                    })
                    .collect();
                let p = Arc::new(self.prepare(stmt, &declared, &casts).await?);
                self.prepared_list.write().insert(
                    name.clone(),
                    crate::prepared_view::PreparedEntry {
                        prepared: Some(Arc::clone(&p)),
                        statement: self.source_text.clone().unwrap_or_else(|| s.to_string()),
                        prepare_time: crate::prepared_view::now_micros(),
                        from_sql: true,
                    },
                );
                self.sql_prepared.insert(name, p);
                Ok(command("PREPARE"))
            }
            Statement::Execute { .. }
                if let Some((name, args)) = crate::sql_prepare::plain_execute(s) =>
            {
                let (p, values) = self.execute_arguments(name, args).await?;
                self.execute_prepared(&p, values).await
            }
            Statement::Explain { .. } => {
                let explain = self.explain_execute(s).await?;
                self.run_query(explain).await
            }
            other => Err(Error::unsupported(format!(
                "statement {}",
                first_words(&other.to_string())
            ))),
        }
    }

    /// The statement `EXECUTE name(args)` names and its arguments, evaluated and coerced
    /// to its parameters' types.
    async fn execute_arguments(
        &self,
        name: &ast::ObjectName,
        args: &[ast::Expr],
    ) -> Result<(Arc<Prepared>, Vec<ScalarValue>)> {
        crate::sql_prepare::no_placeholders(args)?;
        let (name, p) = self.sql_prepared_named(name)?;
        crate::sql_prepare::check_arity(&name, p.param_fields.len(), args.len())?;
        let mut values = Vec::with_capacity(args.len());
        for (e, field) in args.iter().zip(&p.param_fields) {
            let v = self.eval_scalar(&format!("SELECT {e}")).await?;
            values.push(crate::sql_prepare::coerce_arg(v, field, self.settings.tz)?);
        }
        Ok((p, values))
    }

    /// `EXPLAIN [ANALYZE] EXECUTE name(args)` as the `EXPLAIN` of the statement it names,
    /// with the arguments in place of its parameters (PostgreSQL shows the plan made for
    /// those values, as here).
    async fn explain_execute(&self, s: &Statement) -> Result<Statement> {
        let Statement::Explain { statement, .. } = s else {
            return Err(Error::unsupported(first_words(&s.to_string())));
        };
        let Some((name, args)) = crate::sql_prepare::plain_execute(statement) else {
            return Err(Error::unsupported(format!(
                "EXPLAIN {}",
                first_words(&statement.to_string())
            )));
        };
        let (p, values) = self.execute_arguments(name, args).await?;
        let Stmt::Sql(target) = &p.stmt else {
            return Err(Error::unsupported("EXPLAIN of this prepared statement"));
        };
        if !matches!(target.as_ref(), Statement::Query(_)) {
            return Err(Error::unsupported(
                "EXPLAIN EXECUTE of a statement other than a query",
            ));
        }
        let target = crate::params::substitute(target, &values)?;
        let mut explain = s.clone();
        if let Statement::Explain { statement, .. } = &mut explain {
            **statement = target;
        }
        Ok(explain)
    }

    /// `VACUUM` / `ANALYZE`: checks the tables exist; nothing else to do.
    fn maintenance(&self, m: &crate::utility::Maintenance) -> Result<Output> {
        if m.tag == "VACUUM" && self.in_transaction {
            return Err(Error::user(
                SqlState::ActiveSqlTransaction,
                "VACUUM cannot run inside a transaction block",
            ));
        }
        let cat = self.engine.storage().catalog();
        for t in &m.tables {
            if cat.table(t).is_none_or(|d| d.internal)
                && cat.view(t).is_none()
                && cat.cagg(t).is_none()
            {
                return Err(Error::user(
                    SqlState::UndefinedTable,
                    format!("relation \"{t}\" does not exist"),
                ));
            }
        }
        Ok(command(m.tag))
    }

    /// `TRUNCATE [TABLE] t, ...`: now, or at COMMIT inside a transaction block.
    async fn truncate(&mut self, t: &ast::Truncate) -> Result<Output> {
        if t.partitions.is_some() || t.on_cluster.is_some() {
            return Err(Error::unsupported("TRUNCATE ... PARTITION / ON CLUSTER"));
        }
        let cat = self.engine.storage().catalog();
        let mut ids = vec![];
        for target in &t.table_names {
            let name = object_name(&target.name)?;
            let Some(def) = cat.table(&name).filter(|d| !d.internal) else {
                if cat.view(&name).is_some() || cat.cagg(&name).is_some() {
                    return Err(Error::user(
                        SqlState::WrongObjectType,
                        format!("\"{name}\" is not a table"),
                    ));
                }
                if t.if_exists {
                    continue;
                }
                return Err(Error::user(
                    SqlState::UndefinedTable,
                    format!("relation \"{name}\" does not exist"),
                ));
            };
            if self.in_transaction && cat.caggs_of(def.id).next().is_some() {
                return Err(Error::with_hint(
                    SqlState::FeatureNotSupported,
                    format!(
                        "TRUNCATE of \"{name}\" inside a transaction block is not supported: continuous aggregates are defined on it"
                    ),
                    "Run TRUNCATE outside BEGIN ... COMMIT (it is atomic on its own).",
                ));
            }
            ids.push(def.id);
        }
        for id in ids {
            if self.in_transaction {
                self.txn.lock().truncate(id);
            } else {
                self.truncate_now(id).await?;
            }
        }
        Ok(command("TRUNCATE TABLE"))
    }

    /// Removes every row of a table: its files are dropped; with continuous aggregates
    /// on it, as a DELETE of every row (their buckets are recomputed).
    async fn truncate_now(&self, table: strata_storage::ids::TableId) -> Result<()> {
        let storage = self.engine.storage();
        if storage.catalog().caggs_of(table).next().is_some() {
            let all =
                |b: &RecordBatch| Ok(arrow::array::BooleanArray::from(vec![true; b.num_rows()]));
            crate::cagg::delete_where(&self.engine, table, strata_storage::TimeRange::ALL, &all)
                .await?;
            return Ok(());
        }
        Ok(storage.truncate(table).await?)
    }

    /// `UPDATE`: now, or inside a transaction block on the block's own rows now and on
    /// the stored rows at COMMIT (see [`crate::txn`]). Returns the number of rows.
    async fn update(&mut self, u: &ast::Update) -> Result<u64> {
        let storage = Arc::clone(self.engine.storage());
        let upd = dml::plan_update(&self.ctx, &storage, u).await?;
        let compiled = upd.compile(&self.ctx, self.settings.tz)?;
        if !self.in_transaction {
            return compiled.run(&self.engine, upd.range).await;
        }
        if storage.catalog().caggs_of(upd.def.id).next().is_some() {
            return Err(Error::with_hint(
                SqlState::FeatureNotSupported,
                format!(
                    "UPDATE of \"{}\" inside a transaction block is not supported: continuous aggregates are defined on it",
                    upd.def.name
                ),
                "Run UPDATE outside BEGIN ... COMMIT (it is atomic on its own).",
            ));
        }
        // The rows it selects as the block sees them (stored rows through earlier pending
        // operations, and the block's own rows).
        let ast::TableFactor::Table { name, alias, .. } = &u.table.relation else {
            return Err(Error::unsupported("UPDATE of a derived table"));
        };
        let alias_sql = alias.as_ref().map(|a| format!(" {a}")).unwrap_or_default();
        let where_sql = u
            .selection
            .as_ref()
            .map(|e| format!(" WHERE {e}"))
            .unwrap_or_default();
        let counted = self
            .ctx
            .sql(&format!(
                "SELECT count(*) FROM {name}{alias_sql}{where_sql}"
            ))
            .await?
            .into_unoptimized_plan();
        let batches = self
            .ctx
            .execute_logical_plan(crate::pg_semantics::float_over_numeric(counted)?)
            .await?
            .collect()
            .await?;
        let n = batches
            .first()
            .and_then(|b| {
                arrow::array::AsArray::as_primitive_opt::<arrow::datatypes::Int64Type>(b.column(0))
            })
            .map_or(0, |a| a.value(0)) as u64;
        self.txn.lock().update(Arc::new(upd), &compiled)?;
        Ok(n)
    }

    /// Rebuilds the DataFusion context after settings changed outside SET (start-up) and
    /// records them as the values RESET returns to.
    pub fn apply_settings(&mut self) -> Result<()> {
        self.startup_settings = self.settings.clone();
        self.rebuild_context()
    }

    fn rebuild_context(&mut self) -> Result<()> {
        self.plans.clear();
        *self.shared_settings.write() = self.settings.clone();
        let ctx = self.engine.new_context(
            &self.settings,
            Arc::clone(&self.shared_settings),
            Some(Arc::clone(&self.txn)),
        )?;
        crate::prepared_view::register(&ctx, &self.prepared_list);
        crate::engine::release_context(&std::mem::replace(&mut self.ctx, ctx));
        self.task = std::sync::OnceLock::new();
        Ok(())
    }

    /// The task context statements of this session run with (see `Session::task`).
    fn task_ctx(&self) -> Arc<datafusion::execution::TaskContext> {
        Arc::clone(self.task.get_or_init(|| self.ctx.task_ctx()))
    }

    fn publish_settings(&self) {
        self.plans.clear();
        *self.shared_settings.write() = self.settings.clone();
    }

    fn set(&mut self, set: &ast::Set) -> Result<Output> {
        let (name, value) = match set {
            ast::Set::SingleAssignment {
                variable, values, ..
            } => {
                let v = values.iter().map(set_value).collect::<Vec<_>>().join(", ");
                (variable.to_string(), v)
            }
            ast::Set::SetTimeZone { value, .. } => ("TimeZone".to_string(), set_value(value)),
            ast::Set::SetNames { charset_name, .. } => {
                ("client_encoding".to_string(), charset_name.value.clone())
            }
            ast::Set::SetSessionParam(_) | ast::Set::SetTransaction { .. } => {
                return Ok(command("SET"));
            }
            other => return Err(Error::unsupported(format!("{other}"))),
        };
        let lname = name.to_lowercase();
        let param = if value.eq_ignore_ascii_case("default") {
            self.settings.reset(Some(&lname), &self.startup_settings)?
        } else {
            self.settings.set(&lname, &value)?
        };
        if matches!(lname.as_str(), "timezone" | "time zone" | "time_zone")
            || value.eq_ignore_ascii_case("default")
        {
            self.rebuild_context()?;
        } else {
            self.publish_settings();
        }
        Ok(Output::Command {
            tag: "SET".into(),
            params: param.into_iter().collect(),
        })
    }

    fn show(&self, variable: &[ast::Ident]) -> Result<Output> {
        let name = variable
            .iter()
            .map(|i| i.value.to_lowercase())
            .collect::<Vec<_>>()
            .join(" ");
        let (col, rows): (String, Vec<String>) = match name.as_str() {
            "all" => {
                return Err(Error::unsupported("SHOW ALL"));
            }
            "transaction isolation level" => (
                "transaction_isolation".into(),
                vec!["read committed".into()],
            ),
            _ => {
                let v = self.settings.get(&name).ok_or_else(|| {
                    Error::user(
                        SqlState::UndefinedObject,
                        format!("unrecognized configuration parameter \"{name}\""),
                    )
                })?;
                let col = match name.as_str() {
                    "timezone" | "time zone" => "TimeZone".to_string(),
                    "datestyle" => "DateStyle".to_string(),
                    "intervalstyle" => "IntervalStyle".to_string(),
                    other => other.to_string(),
                };
                (col, vec![v])
            }
        };
        let schema = Arc::new(Schema::new(vec![Field::new(col, DataType::Utf8, true)]));
        let batch =
            RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(StringArray::from(rows))])
                .map_err(datafusion::error::DataFusionError::from)?;
        let stream = MemoryStream::try_new(vec![batch], Arc::clone(&schema), None)?;
        Ok(Output::Rows {
            schema,
            stream: Box::pin(stream),
        })
    }

    /// Plans a statement with DataFusion, refusing anything but queries.
    async fn plan(&self, s: Statement) -> Result<LogicalPlan> {
        self.plan_in(&self.ctx.state(), s).await
    }

    /// [`Self::plan`] with the session's state already taken (each `SessionContext::state`
    /// clones every function registry: a few percent of a small query's CPU).
    async fn plan_in(&self, state: &SessionState, mut s: Statement) -> Result<LogicalPlan> {
        crate::regcast::resolve(&self.ctx, &self.settings, &mut s).await?;
        if crate::rewrite::mentions_pg_relation(&s)
            && let Some(pg) = self
                .ctx
                .catalog(crate::engine::DATABASE)
                .and_then(|c| c.schema("pg_catalog"))
        {
            crate::rewrite::qualify_pg_catalog(&mut s, &pg.table_names());
        }
        crate::rewrite::rewrite(&mut s);
        crate::params::table_function_datetimes(&mut s, self.settings.tz);
        let is_aggregate = |name: &str| state.aggregate_functions().contains_key(name);
        crate::rewrite::correlated_subqueries(&mut s, &is_aggregate);
        let plan = match state
            .statement_to_plan(DfStatement::Statement(Box::new(s.clone())))
            .await
        {
            Ok(p) => p,
            Err(e) => {
                // A second attempt for what PostgreSQL answers differently (see
                // crate::rewrite::after_plan_error); the first error stands otherwise.
                let empty = crate::rewrite::over_empty_catalog(&s, &is_aggregate);
                let Some(retry) =
                    empty.or_else(|| crate::rewrite::after_plan_error(&s, &e.to_string()))
                else {
                    return Err(e.into());
                };
                match state
                    .statement_to_plan(DfStatement::Statement(Box::new(retry)))
                    .await
                {
                    Ok(p) => p,
                    Err(e2) => {
                        let msg = e2.to_string();
                        if let Some(m) = msg
                            .split("Error during planning: ")
                            .last()
                            .filter(|m| m.starts_with("function ") && m.ends_with("does not exist"))
                        {
                            return Err(Error::with_hint(
                                SqlState::UndefinedFunction,
                                m,
                                "No function matches the given name and argument types. \
                                 You might need to add explicit type casts.",
                            ));
                        }
                        return Err(e2.into());
                    }
                }
            }
        };
        let plan = crate::pg_types::oid_outputs(crate::pg_types::rewrite(plan)?)?;
        let plan = crate::pg_types::char_outputs(plan)?;
        match &plan {
            LogicalPlan::Ddl(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::Statement(_) => Err(Error::user(
                SqlState::InsufficientPrivilege,
                "this statement is not allowed: clients cannot run DataFusion DDL, DML or file access",
            )),
            _ => Ok(plan),
        }
    }

    async fn run_query(&self, s: Statement) -> Result<Output> {
        // A query sent before (and not inside a block, whose own rows are part of the
        // plan) reuses its optimised plan, and its physical plan when that can be run
        // again; see crate::plan_cache.
        let cache = (matches!(s, Statement::Query(_)) && !self.in_transaction)
            .then(|| self.engine.storage().catalog());
        if let Some(catalog) = &cache
            && let Some(hit) = self.plans.get(&s, catalog)
        {
            // A kept plan whose scans were sized for fewer rows than they now read is
            // planned again.
            let task = self.task_ctx();
            let config = task.session_config();
            let physical = match hit.physical {
                Some(p) => crate::scan_exec::partitioned_for_current_rows(
                    &p,
                    config.batch_size(),
                    config.target_partitions(),
                )?
                .then_some(p),
                None => None,
            };
            if let Some(physical) = physical {
                let copy = datafusion::physical_plan::execution_plan::reset_plan_states(physical)?;
                return Ok(self.start_physical(copy, hit.schema));
            }
            return self
                .plan_and_keep(s, self.ctx.state(), hit.plan, hit.schema)
                .await;
        }
        let key = cache.map(|catalog| (s.clone(), catalog));
        let names = match &s {
            Statement::Query(q) => crate::names::pg_names(q),
            _ => None,
        };
        let tags = match &s {
            Statement::Query(q) => crate::names::pg_type_tags(q),
            _ => None,
        };
        let state = self.ctx.state();
        let plan = self.plan_in(&state, s).await?;
        // The client's schema comes from the plan as written (the optimiser keeps names
        // and types, not always field metadata such as type tags).
        let schema = crate::names::apply_type_tags(
            &crate::names::apply_names(
                &Arc::new(plan.schema().as_arrow().clone()),
                names.as_deref(),
            ),
            tags.as_deref(),
        );
        let key = key.filter(|_| crate::plan_cache::cacheable(&plan));
        let plan = state.optimize(&plan)?;
        match key {
            Some((stmt, catalog)) => {
                self.plans.insert(stmt.clone(), catalog, &plan, &schema);
                self.plan_and_keep(stmt, state, plan, schema).await
            }
            None => Ok(self.start(state, plan, schema)),
        }
    }

    /// Plans a cached statement's optimised plan physically, keeps the physical plan if it
    /// can be run again, and runs it.
    async fn plan_and_keep(
        &self,
        stmt: Statement,
        state: SessionState,
        plan: LogicalPlan,
        schema: SchemaRef,
    ) -> Result<Output> {
        let physical = state
            .query_planner()
            .create_physical_plan(&plan, &state)
            .await?;
        // The kept plan is never run itself: this execution runs a copy. A plan that is
        // not kept runs as planned (a reset would also drop its joins' dynamic filters).
        let physical = if crate::scan_exec::reusable(&physical) {
            self.plans.set_physical(&stmt, Arc::clone(&physical));
            datafusion::physical_plan::execution_plan::reset_plan_states(physical)?
        } else {
            physical
        };
        Ok(self.start_physical(physical, schema))
    }

    /// Runs a physical plan that has not run before, whose rows the client sees as
    /// `schema`.
    fn start_physical(&self, physical: Arc<dyn ExecutionPlan>, schema: SchemaRef) -> Output {
        let task = self.task_ctx();
        let batch_size = task.session_config().batch_size();
        let stream = if crate::exec::reads_nothing(&physical)
            || crate::exec::small_read(&physical, batch_size)
        {
            crate::exec::execute_inline(physical, task, Arc::new(schema.as_ref().clone()))
        } else {
            crate::exec::execute_physical(
                self.engine.exec_handle(),
                physical,
                task,
                Arc::new(schema.as_ref().clone()),
            )
        };
        Output::Rows { schema, stream }
    }

    /// Executes a plan; `name` turns DataFusion's output schema into the one the client
    /// sees (PostgreSQL's column names).
    fn execute_plan(
        &self,
        plan: LogicalPlan,
        name: impl FnOnce(SchemaRef) -> SchemaRef,
    ) -> Result<Output> {
        let schema = name(Arc::new(plan.schema().as_arrow().clone()));
        let state = self.ctx.state();
        let plan = state.optimize(&plan)?;
        Ok(self.start(state, plan, schema))
    }

    /// Starts executing an optimised plan whose rows the client sees as `schema`.
    fn start(&self, state: SessionState, plan: LogicalPlan, schema: SchemaRef) -> Output {
        let stream = crate::exec::execute(
            self.engine.exec_handle(),
            state,
            plan,
            Arc::new(schema.as_ref().clone()),
        );
        Output::Rows { schema, stream }
    }

    async fn execute_cagg(&mut self, c: &CaggStmt) -> Result<Output> {
        if self.failed_transaction {
            return Err(Error::user(
                SqlState::InFailedTransaction,
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
        }
        match c {
            CaggStmt::Rename {
                from,
                to,
                if_exists,
            } => {
                if *if_exists && self.engine.storage().catalog().cagg(from).is_none() {
                    return Ok(command("ALTER MATERIALIZED VIEW"));
                }
                crate::cagg::rename(&self.engine, from, to).await?;
                Ok(command("ALTER MATERIALIZED VIEW"))
            }
            CaggStmt::Create { stmt, with_data } => {
                let Statement::CreateView(cv) = stmt.as_ref() else {
                    return Err(Error::user(
                        SqlState::SyntaxError,
                        "expected CREATE MATERIALIZED VIEW",
                    ));
                };
                let mut continuous = false;
                let mut materialized_only = false;
                let opts: &[ast::SqlOption] = match &cv.options {
                    ast::CreateTableOptions::With(o) => o,
                    ast::CreateTableOptions::None => &[],
                    other => {
                        return Err(Error::unsupported(format!(
                            "materialized view options {other}"
                        )));
                    }
                };
                for o in opts {
                    let (key, value) = match o {
                        ast::SqlOption::KeyValue { key, value } => {
                            (key.value.to_lowercase(), Some(value))
                        }
                        ast::SqlOption::Ident(i) => (i.value.to_lowercase(), None),
                        other => {
                            return Err(Error::unsupported(format!(
                                "materialized view option {other}"
                            )));
                        }
                    };
                    let on = match value {
                        None => true,
                        Some(v) => {
                            match ddl::literal_string(v).map(|s| s.to_lowercase()).as_deref() {
                                Some("true" | "on" | "t" | "1" | "yes") => true,
                                Some("false" | "off" | "f" | "0" | "no") => false,
                                _ => {
                                    return Err(Error::user(
                                        SqlState::InvalidParameterValue,
                                        format!("invalid value for option \"{key}\": {v}"),
                                    ));
                                }
                            }
                        }
                    };
                    match key.trim_start_matches("timescaledb_") {
                        "continuous" => continuous = on,
                        "materialized_only" => materialized_only = on,
                        "create_group_indexes" | "compress" | "finalized" | "chunk_interval" => {}
                        other => {
                            return Err(Error::user(
                                SqlState::InvalidParameterValue,
                                format!("unrecognized parameter \"{other}\""),
                            ));
                        }
                    }
                }
                if !continuous {
                    return Err(Error::with_hint(
                        SqlState::FeatureNotSupported,
                        "CREATE MATERIALIZED VIEW is only supported for continuous aggregates",
                        "Add WITH (timescaledb.continuous): Strata keeps it up to date as rows arrive.",
                    ));
                }
                let name = object_name(&cv.name)?;
                let notice = self.notice_fn();
                crate::cagg::create(
                    &self.engine,
                    crate::cagg::CreateOptions {
                        name,
                        columns: cv.columns.iter().map(|c| ident_name(&c.name)).collect(),
                        query: cv.query.clone(),
                        materialized_only,
                        with_data: *with_data,
                        if_not_exists: cv.if_not_exists,
                    },
                    &notice,
                )
                .await?;
                Ok(command("CREATE MATERIALIZED VIEW"))
            }
        }
    }

    /// Evaluates a constant expression given to a TimescaleDB function as a point in time
    /// (µs since the epoch): a timestamp, a string, or an interval meaning "now() minus
    /// it". NULL is `None`.
    async fn eval_time_arg(&self, e: &ast::Expr) -> Result<Option<i64>> {
        let q = format!("SELECT {e}");
        let v = self.eval_scalar(&q).await?;
        let v = match v {
            ScalarValue::IntervalMonthDayNano(_)
            | ScalarValue::IntervalDayTime(_)
            | ScalarValue::IntervalYearMonth(_) => {
                self.eval_scalar(&format!("SELECT now() - ({e})")).await?
            }
            ScalarValue::Utf8(Some(_)) | ScalarValue::Utf8View(Some(_)) => {
                self.eval_scalar(&format!("SELECT CAST(({e}) AS TIMESTAMPTZ)"))
                    .await?
            }
            other => other,
        };
        if v.is_null() {
            return Ok(None);
        }
        let micros = match v {
            ScalarValue::TimestampMicrosecond(Some(x), _) => x,
            ScalarValue::TimestampNanosecond(Some(x), _) => x.div_euclid(1000),
            ScalarValue::TimestampMillisecond(Some(x), _) => x.saturating_mul(1000),
            ScalarValue::TimestampSecond(Some(x), _) => x.saturating_mul(1_000_000),
            ScalarValue::Date32(Some(d)) => (d as i64) * 86_400_000_000,
            other => {
                return Err(Error::user(
                    SqlState::DatatypeMismatch,
                    format!(
                        "expected a timestamp or an interval, got {} ({e})",
                        other.data_type()
                    ),
                ));
            }
        };
        Ok(Some(micros))
    }

    async fn eval_scalar(&self, sql: &str) -> Result<ScalarValue> {
        let stmt = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .map_err(|e| Error::user(SqlState::SyntaxError, format!("syntax error: {e}")))?
            .pop()
            .ok_or_else(|| Error::user(SqlState::SyntaxError, "empty expression"))?;
        let plan = self.plan(stmt).await?;
        let batches = self.ctx.execute_logical_plan(plan).await?.collect().await?;
        match batches.iter().find(|b| b.num_rows() > 0) {
            Some(b) => Ok(ScalarValue::try_from_array(b.column(0), 0)?),
            None => Ok(ScalarValue::Null),
        }
    }

    /// `add_continuous_aggregate_policy(v, start_offset => ..., end_offset => ...,
    /// schedule_interval => ... [, if_not_exists => ...])`: stored, returns the job id.
    async fn add_policy(&self, f: &ast::Function) -> Result<i32> {
        let (pos, named) = ddl::function_args(f)?;
        let arg = |n: &str, i: usize| call_arg(&pos, &named, n, i);
        let view = relation_arg(arg("continuous_aggregate", 0).as_ref()).ok_or_else(|| {
            Error::user(
                SqlState::InvalidParameterValue,
                "add_continuous_aggregate_policy needs a continuous aggregate",
            )
        })?;
        let storage = self.engine.storage();
        let Some(mut def) = storage.catalog().cagg(&view).cloned() else {
            return Err(Error::user(
                SqlState::UndefinedTable,
                format!("relation \"{view}\" does not exist or is not a continuous aggregate"),
            ));
        };
        let offset = |e: Option<ast::Expr>| -> Result<Option<String>> {
            match e {
                None => Err(Error::user(
                    SqlState::InvalidParameterValue,
                    "add_continuous_aggregate_policy needs start_offset and end_offset (NULL for unbounded)",
                )),
                Some(e) if matches!(&e, ast::Expr::Value(v) if matches!(v.value, ast::Value::Null)) => {
                    Ok(None)
                }
                Some(e) => {
                    ddl::interval_micros_of_expr(&e).map_err(|_| {
                        Error::user(
                            SqlState::InvalidParameterValue,
                            format!(
                                "invalid offset {e}: expected an interval such as INTERVAL '1 day'"
                            ),
                        )
                    })?;
                    Ok(Some(interval_text(&e)))
                }
            }
        };
        let start = offset(arg("start_offset", 1))?;
        let end = offset(arg("end_offset", 2))?;
        if let (Some(s), Some(e)) = (&start, &end) {
            let (s, e) = (
                ddl::simple_interval_micros(s).unwrap_or(0),
                ddl::simple_interval_micros(e).unwrap_or(0),
            );
            if s <= e {
                return Err(Error::with_hint(
                    SqlState::InvalidParameterValue,
                    "policy refresh window too small",
                    "The start offset must be larger than the end offset (it is further in the past).",
                ));
            }
        }
        let schedule = match arg("schedule_interval", 3) {
            Some(e) => {
                let m = ddl::interval_micros_of_expr(&e)?;
                if m <= 0 {
                    return Err(Error::user(
                        SqlState::InvalidParameterValue,
                        "schedule_interval must be positive",
                    ));
                }
                interval_text(&e)
            }
            None => "24 hours".to_string(),
        };
        if let Some(p) = &def.policy {
            return self.existing_policy(
                p.job_id,
                flag_arg(&named, "if_not_exists"),
                &format!("continuous aggregate policy already exists for \"{view}\""),
            );
        }
        let job_id = storage.allocate_job_id().await?;
        def.policy = Some(strata_storage::RefreshPolicy {
            job_id,
            start_offset: start,
            end_offset: end,
            schedule_interval: schedule,
        });
        storage.update_cagg(&view, def).await?;
        Ok(job_id as i32)
    }

    /// A policy of this kind already exists: its job id with a NOTICE under
    /// `if_not_exists`, else 42710 with `message`.
    fn existing_policy(&self, job_id: i64, if_not_exists: bool, message: &str) -> Result<i32> {
        if if_not_exists {
            (self.notice_fn())(format!("{message}, skipping"));
            return Ok(job_id as i32);
        }
        Err(Error::user(SqlState::DuplicateObject, message))
    }

    /// `add_retention_policy(relation, drop_after [, if_not_exists => ...,
    /// schedule_interval => ...])`: stored, returns the job id.
    async fn add_retention_policy(&self, f: &ast::Function) -> Result<i32> {
        let (pos, named) = ddl::function_args(f)?;
        let arg = |n: &str, i: usize| call_arg(&pos, &named, n, i);
        let rel = relation_arg(arg("relation", 0).as_ref()).ok_or_else(|| {
            Error::user(
                SqlState::InvalidParameterValue,
                "add_retention_policy needs a hypertable or continuous aggregate",
            )
        })?;
        let storage = self.engine.storage();
        let cat = storage.catalog();
        let is_table = cat
            .table(&rel)
            .is_some_and(|t| !t.internal && t.time_column.is_some());
        if !is_table && cat.cagg(&rel).is_none() {
            return Err(Error::user(
                SqlState::UndefinedTable,
                format!(
                    "relation \"{rel}\" does not exist or is not a hypertable or continuous aggregate"
                ),
            ));
        }
        let Some(drop_after) = arg("drop_after", 1) else {
            return Err(Error::user(
                SqlState::InvalidParameterValue,
                "add_retention_policy needs drop_after, an interval such as INTERVAL '90 days'",
            ));
        };
        let micros = ddl::interval_micros_of_expr(&drop_after).unwrap_or(0);
        if micros <= 0 {
            return Err(Error::user(
                SqlState::InvalidParameterValue,
                format!(
                    "invalid drop_after {drop_after}: use a positive interval of days or hours, such as INTERVAL '90 days'"
                ),
            ));
        }
        let schedule = match arg("schedule_interval", 3) {
            Some(e) => schedule_arg(&e)?,
            None => "1 day".to_string(),
        };
        if let Some(p) = cat.retention.iter().find(|p| p.relation == rel) {
            let if_not_exists = arg("if_not_exists", 2)
                .as_ref()
                .and_then(ddl::literal_string)
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            return self.existing_policy(
                p.job_id,
                if_not_exists,
                &format!("retention policy already exists for hypertable \"{rel}\""),
            );
        }
        let job_id = storage.allocate_job_id().await?;
        storage
            .set_retention(
                &rel,
                Some(strata_storage::RetentionPolicy {
                    job_id,
                    relation: rel.clone(),
                    drop_after: interval_text(&drop_after),
                    schedule_interval: schedule,
                }),
            )
            .await?;
        Ok(job_id as i32)
    }

    /// `remove_retention_policy(relation [, if_exists])` / `remove_tiering_policy(hypertable
    /// [, if_exists])`: 42704 if there is none, a NOTICE with `if_exists`.
    async fn remove_table_policy(&self, f: &ast::Function, kind: PolicyKind) -> Result<()> {
        let (pos, named) = ddl::function_args(f)?;
        let (what, fname) = match kind {
            PolicyKind::Retention => ("retention", "remove_retention_policy"),
            PolicyKind::Tiering => ("tiering", "remove_tiering_policy"),
        };
        let rel = relation_arg(
            call_arg(&pos, &named, "hypertable", 0)
                .or_else(|| call_arg(&pos, &named, "relation", 0))
                .as_ref(),
        )
        .ok_or_else(|| {
            Error::user(
                SqlState::InvalidParameterValue,
                format!("{fname} needs a hypertable or continuous aggregate"),
            )
        })?;
        let if_exists = call_arg(&pos, &named, "if_exists", 1)
            .as_ref()
            .and_then(ddl::literal_string)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let storage = self.engine.storage();
        let cat = storage.catalog();
        let exists = match kind {
            PolicyKind::Retention => cat.retention.iter().any(|p| p.relation == rel),
            PolicyKind::Tiering => cat.tiering.iter().any(|p| p.relation == rel),
        };
        if !exists {
            let msg = format!("{what} policy not found for hypertable \"{rel}\"");
            if if_exists {
                (self.notice_fn())(format!("{msg}, skipping"));
                return Ok(());
            }
            return Err(Error::user(SqlState::UndefinedObject, msg));
        }
        match kind {
            PolicyKind::Retention => storage.set_retention(&rel, None).await?,
            PolicyKind::Tiering => storage.set_tiering(&rel, None).await?,
        }
        Ok(())
    }

    /// `add_tiering_policy(hypertable, move_after [, if_not_exists => ...,
    /// schedule_interval => ...])`: stored, returns the job id. Default schedule: 1 hour.
    async fn add_tiering_policy(&self, f: &ast::Function) -> Result<i32> {
        let (pos, named) = ddl::function_args(f)?;
        let arg = |n: &str, i: usize| call_arg(&pos, &named, n, i);
        let rel = relation_arg(arg("hypertable", 0).or_else(|| arg("relation", 0)).as_ref())
            .ok_or_else(|| {
                Error::user(
                    SqlState::InvalidParameterValue,
                    "add_tiering_policy needs a hypertable, such as add_tiering_policy('metrics', INTERVAL '30 days')",
                )
            })?;
        let storage = self.engine.storage();
        let cat = storage.catalog();
        if let Some(v) = cat.cagg(&rel) {
            return Err(Error::with_hint(
                SqlState::FeatureNotSupported,
                format!(
                    "tiering policies apply to hypertables; \"{rel}\" is a continuous aggregate"
                ),
                format!(
                    "Put a retention policy on the view instead (add_retention_policy('{rel}', ...)), or a tiering policy on the hypertable it reads (\"{}\").",
                    v.source
                ),
            ));
        }
        match cat.table(&rel).filter(|t| !t.internal) {
            None => {
                return Err(Error::user(
                    SqlState::UndefinedTable,
                    format!("relation \"{rel}\" does not exist"),
                ));
            }
            Some(t) if t.time_column.is_none() => {
                return Err(Error::with_hint(
                    SqlState::UndefinedTable,
                    format!("table \"{rel}\" is not a hypertable"),
                    "Tiering moves whole time partitions: make it a hypertable with create_hypertable first.",
                ));
            }
            Some(_) => {}
        }
        let Some(move_after) = arg("move_after", 1) else {
            return Err(Error::user(
                SqlState::InvalidParameterValue,
                "add_tiering_policy needs move_after, an interval such as INTERVAL '30 days'",
            ));
        };
        let micros = ddl::interval_micros_of_expr(&move_after).unwrap_or(0);
        if micros <= 0 || ddl::simple_interval_micros(&interval_text(&move_after)).is_err() {
            return Err(Error::user(
                SqlState::InvalidParameterValue,
                format!(
                    "invalid move_after {move_after}: use a positive interval of days or hours, such as INTERVAL '30 days'"
                ),
            ));
        }
        let schedule = match arg("schedule_interval", 3) {
            Some(e) => schedule_arg(&e)?,
            None => crate::jobs::TIERING_DEFAULT_SCHEDULE.to_string(),
        };
        if let Some(p) = cat.tiering.iter().find(|p| p.relation == rel) {
            let if_not_exists = arg("if_not_exists", 2)
                .as_ref()
                .and_then(ddl::literal_string)
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            return self.existing_policy(
                p.job_id,
                if_not_exists,
                &format!("tiering policy already exists for hypertable \"{rel}\""),
            );
        }
        let job_id = storage.allocate_job_id().await?;
        storage
            .set_tiering(
                &rel,
                Some(strata_storage::TieringPolicy {
                    job_id,
                    relation: rel.clone(),
                    move_after: interval_text(&move_after),
                    schedule_interval: schedule,
                }),
            )
            .await?;
        Ok(job_id as i32)
    }

    /// `alter_job(job_id, schedule_interval => ..., next_start => ..., scheduled => true,
    /// if_exists => ...)`: the job's record as TimescaleDB returns it, in text (NULL for a
    /// missing job under `if_exists`).
    async fn alter_job(&self, f: &ast::Function) -> Result<Option<String>> {
        let (pos, named) = ddl::function_args(f)?;
        let arg = |n: &str, i: usize| call_arg(&pos, &named, n, i);
        let id = arg("job_id", 0)
            .as_ref()
            .and_then(ddl::literal_string)
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| {
                Error::user(
                    SqlState::InvalidParameterValue,
                    "alter_job needs a job id, such as alter_job(1000, schedule_interval => INTERVAL '1 hour')",
                )
            })?;
        const ARGS: &[&str] = &[
            "job_id",
            "schedule_interval",
            "max_runtime",
            "max_retries",
            "retry_period",
            "scheduled",
            "config",
            "next_start",
            "if_exists",
        ];
        if pos.len() > 2 {
            return Err(Error::user(
                SqlState::FeatureNotSupported,
                "alter_job: only job_id and schedule_interval may be given by position; name the others (scheduled => true)",
            ));
        }
        for (k, _) in &named {
            if !ARGS.contains(&k.as_str())
                || matches!(
                    k.as_str(),
                    "max_runtime" | "max_retries" | "retry_period" | "config"
                )
            {
                return Err(Error::with_hint(
                    SqlState::FeatureNotSupported,
                    format!("alter_job: changing {k} is not supported"),
                    "Strata's alter_job changes schedule_interval and next_start; jobs have no runtime limit and are retried at their schedule interval.",
                ));
            }
        }
        let scheduled = match arg("scheduled", usize::MAX) {
            None => None,
            Some(e) => Some(
                ddl::literal_string(&e)
                    .and_then(|v| match v.to_lowercase().as_str() {
                        "true" | "t" | "on" | "yes" | "1" => Some(true),
                        "false" | "f" | "off" | "no" | "0" => Some(false),
                        _ => None,
                    })
                    .ok_or_else(|| {
                        Error::user(
                            SqlState::InvalidParameterValue,
                            "alter_job: scheduled must be true or false",
                        )
                    })?,
            ),
        };
        let storage = self.engine.storage();
        if crate::jobs::find(&storage.catalog(), id).is_none() {
            if flag_arg(&named, "if_exists") {
                (self.notice_fn())(format!("job {id} not found, skipping"));
                return Ok(None);
            }
            return Err(Error::user(
                SqlState::UndefinedObject,
                format!("job {id} not found"),
            ));
        }
        if let Some(e) = arg("schedule_interval", 1) {
            let schedule = schedule_arg(&e)?;
            if !storage.set_job_schedule(id, &schedule).await? {
                return Err(Error::user(
                    SqlState::UndefinedObject,
                    format!("job {id} not found"),
                ));
            }
            // The next run comes one new interval after the last one (or from now).
            let every = ddl::simple_interval_micros(&schedule)?.max(1_000_000);
            let stats = self.engine.jobs().stats(id);
            let from = stats
                .last_finish
                .unwrap_or_else(|| chrono::Utc::now().timestamp_micros());
            self.engine
                .jobs()
                .set_next_start(id, from.saturating_add(every));
        }
        if let Some(e) = arg("next_start", usize::MAX) {
            let at = self.eval_time_arg(&e).await?.ok_or_else(|| {
                Error::user(
                    SqlState::InvalidParameterValue,
                    "alter_job: next_start must be a timestamp with time zone",
                )
            })?;
            self.engine.jobs().set_next_start(id, at);
        }
        if let Some(on) = scheduled {
            storage.set_job_scheduled(id, on).await?;
        }
        let cat = storage.catalog();
        let job = crate::jobs::find(&cat, id)
            .ok_or_else(|| Error::user(SqlState::UndefinedObject, format!("job {id} not found")))?;
        Ok(Some(crate::tsdb_info::alter_job_record(
            &cat,
            self.engine.jobs(),
            &job,
            self.settings.tz,
        )))
    }

    /// `CALL refresh_continuous_aggregate('v', start, end)`.
    async fn call(&mut self, f: &ast::Function) -> Result<Output> {
        let fname = f.name.to_string().to_lowercase();
        let fname = fname.rsplit('.').next().unwrap_or(&fname).to_string();
        match fname.as_str() {
            "refresh_continuous_aggregate" => {
                let (pos, named) = ddl::function_args(f)?;
                let arg = |i: usize, n: &str| {
                    pos.get(i)
                        .cloned()
                        .or_else(|| named.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()))
                };
                let view = arg(0, "continuous_aggregate")
                    .as_ref()
                    .and_then(ddl::literal_string)
                    .ok_or_else(|| {
                        Error::user(
                            SqlState::InvalidParameterValue,
                            "refresh_continuous_aggregate needs the name of a continuous aggregate",
                        )
                    })?;
                let view = view.rsplit('.').next().unwrap_or(&view).to_string();
                let start = match arg(1, "window_start") {
                    Some(e) => self.eval_time_arg(&e).await?,
                    None => None,
                };
                let end = match arg(2, "window_end") {
                    Some(e) => self.eval_time_arg(&e).await?,
                    None => None,
                };
                let notice = self.notice_fn();
                crate::cagg::refresh(&self.engine, &view, start, end, &notice).await?;
                Ok(command("CALL"))
            }
            "run_job" => {
                let (pos, named) = ddl::function_args(f)?;
                let id = pos
                    .first()
                    .or_else(|| named.iter().find(|(k, _)| k == "job_id").map(|(_, v)| v))
                    .and_then(ddl::literal_string)
                    .and_then(|v| v.parse::<i64>().ok())
                    .ok_or_else(|| {
                        Error::user(SqlState::InvalidParameterValue, "run_job needs a job id")
                    })?;
                if !crate::jobs::run_job(&self.engine, id).await? {
                    return Err(Error::user(
                        SqlState::UndefinedObject,
                        format!("job {id} not found"),
                    ));
                }
                Ok(command("CALL"))
            }
            other => Err(Error::user(
                SqlState::UndefinedFunction,
                format!("procedure {other} does not exist"),
            )),
        }
    }

    /// `SELECT create_hypertable(...)` and other TimescaleDB management calls.
    /// `SELECT set_config(name, value, is_local)` with constant arguments (how clients
    /// and dump scripts call it): the same as `SET`, answering the new value. It changes
    /// session state, which a DataFusion function cannot, so it is a statement here.
    /// `is_local` outside a transaction block changes nothing (PostgreSQL: the setting
    /// ends with the statement's own transaction); inside one it acts as `SET LOCAL`
    /// does in Strata, for the session.
    fn set_config(&mut self, q: &ast::Query) -> Result<Option<Output>> {
        let ast::SetExpr::Select(sel) = q.body.as_ref() else {
            return Ok(None);
        };
        if !sel.from.is_empty() || sel.projection.len() != 1 {
            return Ok(None);
        }
        let (f, alias) = match &sel.projection[0] {
            ast::SelectItem::UnnamedExpr(ast::Expr::Function(f)) => (f, None),
            ast::SelectItem::ExprWithAlias {
                expr: ast::Expr::Function(f),
                alias,
            } => (f, Some(alias.value.clone())),
            _ => return Ok(None),
        };
        let fname = f.name.to_string().to_lowercase();
        if fname != "set_config" && fname != "pg_catalog.set_config" {
            return Ok(None);
        }
        let ast::FunctionArguments::List(list) = &f.args else {
            return Ok(None);
        };
        let lit = |a: &ast::FunctionArg| -> Option<String> {
            match a {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(ast::Expr::Value(v))) => {
                    match &v.value {
                        ast::Value::SingleQuotedString(s) => Some(s.clone()),
                        ast::Value::Boolean(b) => Some(b.to_string()),
                        _ => None,
                    }
                }
                _ => None,
            }
        };
        let args: Vec<Option<String>> = list.args.iter().map(lit).collect();
        let [Some(name), Some(value), Some(local)] = args.as_slice() else {
            return Err(Error::user(
                SqlState::FeatureNotSupported,
                "set_config is supported with constant arguments only, as the whole select list",
            ));
        };
        let local = matches!(local.to_lowercase().as_str(), "true" | "t" | "on" | "1");
        let lname = name.to_lowercase();
        let shown = if local && !self.in_transaction {
            let mut probe = self.settings.clone();
            probe.set(&lname, value)?;
            probe.get(&lname).unwrap_or_else(|| value.clone())
        } else {
            let set = ast::Set::SingleAssignment {
                scope: None,
                hivevar: false,
                variable: ast::ObjectName::from(vec![ast::Ident::new(lname.clone())]),
                values: vec![ast::Expr::value(ast::Value::SingleQuotedString(
                    value.clone(),
                ))],
            };
            self.set(&set)?;
            self.settings.get(&lname).unwrap_or_else(|| value.clone())
        };
        Ok(Some(single_text(
            alias.unwrap_or_else(|| "set_config".into()),
            shown,
        )?))
    }

    async fn special_select(&self, q: &ast::Query) -> Result<Option<Output>> {
        let ast::SetExpr::Select(sel) = q.body.as_ref() else {
            return Ok(None);
        };
        if !sel.from.is_empty() || sel.projection.len() != 1 {
            return Ok(None);
        }
        let (expr, alias) = match &sel.projection[0] {
            ast::SelectItem::UnnamedExpr(e) => (e, None),
            ast::SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            _ => return Ok(None),
        };
        let ast::Expr::Function(f) = expr else {
            return Ok(None);
        };
        let fname = f.name.to_string().to_lowercase();
        match fname.as_str() {
            "create_hypertable" => {
                let (id, _name, created) = ddl::create_hypertable(self.engine.storage(), f).await?;
                let legacy = !matches!(
                    ddl::function_args(f)?.0.get(1),
                    Some(ast::Expr::Function(_))
                );
                let text = if legacy {
                    format!(
                        "({id},public,{},{})",
                        _name,
                        if created { "t" } else { "f" }
                    )
                } else {
                    format!("({id},{})", if created { "t" } else { "f" })
                };
                Ok(Some(single_text(alias.unwrap_or(fname), text)?))
            }
            "add_continuous_aggregate_policy" => {
                let id = self.add_policy(f).await?;
                Ok(Some(single_column(
                    alias.unwrap_or(fname),
                    Arc::new(Int32Array::from(vec![id])),
                )?))
            }
            "remove_continuous_aggregate_policy" => {
                let (pos, named) = ddl::function_args(f)?;
                let view = pos
                    .first()
                    .and_then(ddl::literal_string)
                    .map(|v| v.rsplit('.').next().unwrap_or(&v).to_string())
                    .ok_or_else(|| {
                        Error::user(
                            SqlState::InvalidParameterValue,
                            "remove_continuous_aggregate_policy needs a continuous aggregate",
                        )
                    })?;
                let if_exists = flag_arg(&named, "if_exists") || flag_arg(&named, "if_not_exists");
                let storage = self.engine.storage();
                let Some(mut def) = storage.catalog().cagg(&view).cloned() else {
                    return Err(Error::user(
                        SqlState::UndefinedTable,
                        format!(
                            "relation \"{view}\" does not exist or is not a continuous aggregate"
                        ),
                    ));
                };
                if def.policy.is_none() {
                    if if_exists {
                        (self.notice_fn())(format!(
                            "continuous aggregate policy not found for \"{view}\", skipping"
                        ));
                        return Ok(Some(single_text(alias.unwrap_or(fname), String::new())?));
                    }
                    return Err(Error::user(
                        SqlState::UndefinedObject,
                        format!("continuous aggregate policy not found for \"{view}\""),
                    ));
                }
                def.policy = None;
                storage.update_cagg(&view, def).await?;
                Ok(Some(single_text(alias.unwrap_or(fname), String::new())?))
            }
            "add_retention_policy" | "add_tiering_policy" => {
                let id = if fname == "add_retention_policy" {
                    self.add_retention_policy(f).await?
                } else {
                    self.add_tiering_policy(f).await?
                };
                Ok(Some(single_column(
                    alias.unwrap_or(fname),
                    Arc::new(Int32Array::from(vec![id])),
                )?))
            }
            "remove_retention_policy" | "remove_tiering_policy" => {
                let kind = if fname == "remove_retention_policy" {
                    PolicyKind::Retention
                } else {
                    PolicyKind::Tiering
                };
                self.remove_table_policy(f, kind).await?;
                Ok(Some(single_text(alias.unwrap_or(fname), String::new())?))
            }
            "alter_job" => {
                let record = self.alter_job(f).await?;
                Ok(Some(single_column(
                    alias.unwrap_or(fname),
                    Arc::new(StringArray::from(vec![record])),
                )?))
            }
            "drop_chunks" | "show_chunks" => {
                let (pos, named) = ddl::function_args(f)?;
                let table = pos
                    .first()
                    .and_then(ddl::literal_string)
                    .map(|v| v.rsplit('.').next().unwrap_or(&v).to_string())
                    .ok_or_else(|| {
                        Error::user(
                            SqlState::InvalidParameterValue,
                            format!("{fname} needs a hypertable"),
                        )
                    })?;
                let arg = |n: &str, i: usize| {
                    named
                        .iter()
                        .find(|(k, _)| k == n)
                        .map(|(_, v)| v.clone())
                        .or_else(|| pos.get(i).cloned())
                };
                let older = match arg("older_than", 1) {
                    Some(e) => self.eval_time_arg(&e).await?,
                    None => None,
                };
                let newer = match arg("newer_than", 2) {
                    Some(e) => self.eval_time_arg(&e).await?,
                    None => None,
                };
                let storage = self.engine.storage();
                let cat = storage.catalog();
                let Some(def) = cat.table(&table).filter(|t| !t.internal).cloned() else {
                    return Err(Error::user(
                        SqlState::UndefinedTable,
                        format!("relation \"{table}\" does not exist"),
                    ));
                };
                if def.time_column.is_none() {
                    return Err(Error::user(
                        SqlState::UndefinedTable,
                        format!("table \"{table}\" is not a hypertable"),
                    ));
                }
                let parts = if fname == "drop_chunks" {
                    if older.is_none() && newer.is_none() {
                        return Err(Error::with_hint(
                            SqlState::InvalidParameterValue,
                            "invalid time range for dropping chunks",
                            "At least one of older_than and newer_than must be provided.",
                        ));
                    }
                    storage.drop_partitions(def.id, older, newer).await?
                } else {
                    let width = def.partition_micros;
                    storage
                        .partitions_in(def.id, strata_storage::TimeRange::ALL)?
                        .into_iter()
                        .filter(|p| {
                            older.is_none_or(|o| p.saturating_add(width) <= o)
                                && newer.is_none_or(|n| *p >= n)
                        })
                        .collect()
                };
                let names: Vec<String> = parts
                    .iter()
                    .map(|p| chunk_name(def.id.as_u64(), *p, def.partition_micros))
                    .collect();
                Ok(Some(single_column(
                    alias.unwrap_or(fname),
                    Arc::new(StringArray::from(names)),
                )?))
            }
            "set_chunk_time_interval" => {
                let (pos, _) = ddl::function_args(f)?;
                let table = pos.first().and_then(ddl::literal_string).ok_or_else(|| {
                    Error::user(
                        SqlState::InvalidParameterValue,
                        "set_chunk_time_interval needs a table",
                    )
                })?;
                let micros = ddl::interval_micros_of_expr(pos.get(1).ok_or_else(|| {
                    Error::user(
                        SqlState::InvalidParameterValue,
                        "set_chunk_time_interval needs an interval",
                    )
                })?)?;
                let storage = self.engine.storage();
                let def = storage.catalog().table(&table).cloned().ok_or_else(|| {
                    Error::user(
                        SqlState::UndefinedTable,
                        format!("relation \"{table}\" does not exist"),
                    )
                })?;
                let mut d = (*def).clone();
                d.partition_micros = micros;
                storage.update_table_def(d).await?;
                Ok(Some(single_text(alias.unwrap_or(fname), String::new())?))
            }
            _ => Ok(None),
        }
    }

    /// INSERT through the fast path when possible, else DataFusion.
    /// `CREATE TABLE name [(names)] AS query`: the table gets the query's columns (see
    /// [`ddl::create_table_as`]) and its rows; the tag is `SELECT n`, as in PostgreSQL. If
    /// writing the rows fails, the new table is dropped again.
    async fn create_table_as(&mut self, ct: &ast::CreateTable, q: &ast::Query) -> Result<Output> {
        let storage = self.engine.storage();
        let query = Statement::Query(Box::new(q.clone()));
        let plan = self.plan(query).await?;
        let schema = crate::names::pg_client_schema(q, &Arc::new(plan.schema().as_arrow().clone()));
        if !ddl::create_table_as(&storage, ct, &schema).await? {
            (self.notice_fn())(format!(
                "relation \"{}\" already exists, skipping",
                object_name(&ct.name)?
            ));
            return Ok(command("CREATE TABLE AS"));
        }
        let name = object_name(&ct.name)?;
        let written = async {
            let Some(def) = storage.catalog().table(&name).cloned() else {
                return Err(Error::user(
                    SqlState::UndefinedTable,
                    format!("relation \"{name}\" does not exist"),
                ));
            };
            let targets: Vec<usize> = (0..def.columns.len()).collect();
            match dml::insert_from_plan(&self.ctx, &def, &targets, plan, self.settings.tz).await? {
                Some(batch) => self.write_rows(&def, batch, None).await,
                None => Ok(0),
            }
        }
        .await;
        match written {
            Ok(n) => Ok(command(format!("SELECT {n}"))),
            Err(e) => {
                if let Err(d) = storage.drop_table(&name).await {
                    tracing::warn!(table = %name, error = %d, "CREATE TABLE AS: dropping the new table after a failed write");
                }
                Err(e)
            }
        }
    }

    async fn insert(&self, ins: &ast::Insert, params: Option<&[ScalarValue]>) -> Result<u64> {
        if ins.returning.is_some() {
            return Err(Error::unsupported("INSERT ... RETURNING"));
        }
        let storage = self.engine.storage();
        let (def, targets) = dml::insert_target(storage, ins)?;
        let action = match &ins.on {
            Some(on) => {
                let alias = ins.table_alias.as_ref().map(|a| ident_name(&a.alias));
                // `$n` in DO UPDATE SET / WHERE: the bound values, as literals.
                let on = match params {
                    Some(p) if !p.is_empty() => {
                        match crate::params::substitute(&Statement::Insert(ins.clone()), p)? {
                            Statement::Insert(i) => i.on.unwrap_or_else(|| on.clone()),
                            _ => on.clone(),
                        }
                    }
                    _ => on.clone(),
                };
                crate::upsert::plan(&self.ctx, &def, alias.as_deref(), &on, self.settings.tz)?
            }
            None => None,
        };
        let Some(source) = &ins.source else {
            // INSERT INTO t DEFAULT VALUES: one row of defaults.
            let now = chrono::Utc::now().timestamp_micros();
            let batch = dml::complete_batch(&def, &def.arrow_schema(), &[], vec![], 1, now)?;
            return self.write_rows(&def, batch, action.as_ref()).await;
        };
        if let Some(batch) =
            crate::fast_insert::try_build(&def, &targets, source, params, self.settings.tz)?
        {
            return self.write_rows(&def, batch, action.as_ref()).await;
        }
        let mut plan = self.plan(Statement::Query(source.clone())).await?;
        if let Some(p) = params {
            plan = plan.replace_params_with_values(&ParamValues::List(
                p.iter().cloned().map(Into::into).collect(),
            ))?;
        }
        match dml::insert_from_plan(&self.ctx, &def, &targets, plan, self.settings.tz).await? {
            Some(batch) => self.write_rows(&def, batch, action.as_ref()).await,
            None => Ok(0),
        }
    }

    /// Writes the rows of an INSERT, with its ON CONFLICT action if any; returns the
    /// count of the command tag.
    async fn write_rows(
        &self,
        def: &Arc<TableDef>,
        batch: RecordBatch,
        action: Option<&crate::upsert::ConflictAction>,
    ) -> Result<u64> {
        let Some(action) = action else {
            let n = batch.num_rows() as u64;
            self.write(def.id, batch).await?;
            return Ok(n);
        };
        if !self.in_transaction {
            return crate::upsert::write(&self.engine, def, batch, action).await;
        }
        if matches!(action, crate::upsert::ConflictAction::Update(_)) {
            return Err(Error::with_hint(
                SqlState::FeatureNotSupported,
                "INSERT ... ON CONFLICT DO UPDATE inside a transaction block is not supported",
                "Run it outside BEGIN ... COMMIT (it is atomic on its own).",
            ));
        }
        let batch = strata_storage::check_columns(def, batch)?;
        let (pending, truncated) = {
            let txn = self.txn.lock();
            (txn.rows_of(def.id), txn.truncated(def.id))
        };
        let rows =
            crate::upsert::resolve_in_block(&self.engine, def, batch, &pending, true, truncated)
                .await?;
        let n = rows.num_rows() as u64;
        if n > 0 {
            self.txn.lock().push(def.id, rows)?;
        }
        Ok(n)
    }

    /// Writes rows: now, or at COMMIT inside a transaction block.
    async fn write(&self, table: strata_storage::ids::TableId, batch: RecordBatch) -> Result<()> {
        if self.in_transaction {
            // Checked now (NOT NULL, primary key against stored rows and the block's
            // own), so the error comes from the statement; COMMIT checks keys again.
            let def = self.engine.storage().catalog().table_by_id(table).cloned();
            let Some(def) = def else {
                return self.txn.lock().push(table, batch);
            };
            let batch = strata_storage::check_columns(&def, batch)?;
            if !def.primary_key.is_empty() {
                let (pending, truncated) = {
                    let txn = self.txn.lock();
                    (txn.rows_of(table), txn.truncated(table))
                };
                let batch = crate::upsert::resolve_in_block(
                    &self.engine,
                    &def,
                    batch,
                    &pending,
                    false,
                    truncated,
                )
                .await?;
                return self.txn.lock().push(table, batch);
            }
            return self.txn.lock().push(table, batch);
        }
        self.engine.write(table, batch).await
    }

    async fn copy(
        &self,
        source: &ast::CopySource,
        to: bool,
        target: &ast::CopyTarget,
        options: &[ast::CopyOption],
        legacy: &[ast::CopyLegacyOption],
    ) -> Result<Output> {
        let spec = copy_spec(options, legacy)?;
        if to {
            if !matches!(target, ast::CopyTarget::Stdout) {
                return Err(Error::with_hint(
                    SqlState::InsufficientPrivilege,
                    "COPY to a file or program is not allowed",
                    "Use COPY ... TO STDOUT and let the client write the file.",
                ));
            }
            let query = match source {
                ast::CopySource::Query(q) => Statement::Query(q.clone()),
                ast::CopySource::Table {
                    table_name,
                    columns,
                } => {
                    let cols = if columns.is_empty() {
                        "*".to_string()
                    } else {
                        columns
                            .iter()
                            .map(|c| format!("\"{}\"", ident_name(c)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    let t = object_name(table_name)?;
                    self.parse(&format!("SELECT {cols} FROM \"{t}\""))?
                        .into_iter()
                        .next()
                        .and_then(|s| if let Stmt::Sql(s) = s { Some(*s) } else { None })
                        .ok_or_else(|| Error::user(SqlState::Internal, "copy"))?
                }
            };
            let Output::Rows { schema, stream } = self.run_query(query).await? else {
                return Err(Error::user(
                    SqlState::Internal,
                    "COPY query returned no rows",
                ));
            };
            return Ok(Output::CopyOut {
                schema,
                stream,
                spec,
            });
        }
        if !matches!(target, ast::CopyTarget::Stdin) {
            return Err(Error::with_hint(
                SqlState::InsufficientPrivilege,
                "COPY from a file or program is not allowed",
                "Use COPY ... FROM STDIN (psql: \\copy).",
            ));
        }
        let ast::CopySource::Table {
            table_name,
            columns,
        } = source
        else {
            return Err(Error::user(
                SqlState::SyntaxError,
                "COPY FROM needs a table",
            ));
        };
        let t = object_name(table_name)?;
        let def = self
            .engine
            .storage()
            .catalog()
            .table(&t)
            .cloned()
            .ok_or_else(|| {
                Error::user(
                    SqlState::UndefinedTable,
                    format!("relation \"{t}\" does not exist"),
                )
            })?;
        let names: Vec<String> = columns.iter().map(ident_name).collect();
        let targets = dml::target_columns(&def, &names)?;
        Ok(Output::CopyIn(CopyIn {
            table: def,
            targets,
            spec,
            txn: self.in_transaction.then(|| Arc::clone(&self.txn)),
        }))
    }

    // ------------------------------------------------------------ extended protocol

    /// Prepares a statement: plans queries once, computes parameter and result types.
    /// The parameter types of an UPDATE or DELETE, found by planning `select`, a query
    /// holding its expressions over the same table; none when it does not plan (the
    /// statement reports its own error at execution).
    async fn param_types_via_select(
        &self,
        select: &str,
        declared: &[Option<DataType>],
        stmt: &Statement,
    ) -> Result<Vec<DataType>> {
        if let Ok(Some(Stmt::Sql(q))) = self.parse(select).map(|v| v.into_iter().next())
            && let Ok(plan) = self.plan(*q).await
        {
            return param_types_of_plan(&self.ctx, &plan, declared, stmt);
        }
        Ok(vec![])
    }

    /// Parameter types and result columns of a query with parameters among a table
    /// function's arguments (`generate_series(1, $1)`), which DataFusion cannot plan before
    /// the values are bound: described from a plan with sample values in their place
    /// ([`crate::params::table_function_params`]). Such a statement is planned again with
    /// the values at each Execute, as PostgreSQL makes a custom plan. None: not such a
    /// query, or a parameter's type is unknown (the planning error stands).
    async fn describe_with_samples(
        &self,
        s: &Statement,
        q: &ast::Query,
        declared: &[Option<DataType>],
    ) -> Option<(Vec<DataType>, SchemaRef)> {
        let mut samples = std::collections::HashMap::new();
        for (n, t) in crate::params::table_function_params(s) {
            let t = declared.get(n.checked_sub(1)?).cloned().flatten().or(t)?;
            samples.insert(n, crate::params::sample_value(&t));
        }
        if samples.is_empty() {
            return None;
        }
        let plan = self
            .plan(crate::params::substitute_some(s, &samples))
            .await
            .ok()?;
        let mut types = param_types_of_plan(&self.ctx, &plan, declared, s).ok()?;
        for (n, v) in &samples {
            if types.len() < *n {
                types.resize(*n, DataType::Utf8);
            }
            types[n - 1] = v.data_type();
        }
        let schema = crate::names::pg_client_schema(q, &Arc::new(plan.schema().as_arrow().clone()));
        Some((types, schema))
    }

    /// Prepares a statement. `declared` are the parameter types the client gave (Parse's
    /// type oids, `PREPARE`'s type list); `casts` the same as SQL types, which a query's
    /// placeholders are cast to ([`crate::params::declared_casts`]), so that
    /// `SELECT $1` declared `int8` returns an `int8`, as in PostgreSQL.
    pub async fn prepare(
        &mut self,
        stmt: Stmt,
        declared: &[Option<DataType>],
        casts: &[Option<ast::DataType>],
    ) -> Result<Prepared> {
        // A query with parameters prepared before (drivers that bind send the same Parse
        // before every execution) is taken from the plan cache; see crate::plan_cache.
        let catalog = self.engine.storage().catalog();
        let query = match &stmt {
            Stmt::Sql(s) if matches!(s.as_ref(), Statement::Query(_)) && !self.in_transaction => {
                Some(s.as_ref())
            }
            _ => None,
        };
        if let Some(s) = query
            && let Some(p) = self.plans.get_prepared(s, declared, casts, &catalog)
        {
            return Ok(p);
        }
        let keep = query.is_some();
        let mut p = self.prepare_statement(stmt, declared, casts).await?;
        // A type the client gave stands: `$1::oid` declared `int4` is described as `int4`,
        // and a parameter declared `varchar` (pgjdbc's default for strings) as `varchar`,
        // not `text` (Strata's strings are text either way).
        for ((d, c), f) in declared.iter().zip(casts).zip(p.param_fields.iter_mut()) {
            if d.as_ref() == Some(&DataType::Int32) && f.data_type() == &DataType::Int32 {
                *f = Field::new(f.name(), DataType::Int32, true);
            }
            if c.as_ref()
                .and_then(crate::rewrite::varchar_length)
                .is_some()
                && f.data_type() == &DataType::Utf8
            {
                *f = Field::new(f.name(), DataType::Utf8, true).with_metadata(
                    std::collections::HashMap::from([(
                        strata_storage::schema::PG_TYPE_METADATA_KEY.to_string(),
                        "varchar".to_string(),
                    )]),
                );
            }
        }
        if keep
            && let Stmt::Sql(s) = &p.stmt
            && let PreparedKind::Plan(plan) = &p.kind
            && !p.param_types.is_empty()
            && crate::plan_cache::cacheable_with_parameters(plan)
        {
            self.plans
                .insert_prepared(s, declared, casts, catalog, p.clone());
        }
        Ok(p)
    }

    async fn prepare_statement(
        &mut self,
        stmt: Stmt,
        declared: &[Option<DataType>],
        casts: &[Option<ast::DataType>],
    ) -> Result<Prepared> {
        let Stmt::Sql(s) = &stmt else {
            return Ok(Prepared::new(stmt, vec![], None, PreparedKind::Statement));
        };
        match s.as_ref() {
            Statement::Query(q) if is_special_select(q) => {
                // TimescaleDB management calls: executed at Execute, but their result
                // columns are known now (drivers read them from Describe).
                let result_schema = special_select_schema(q);
                Ok(Prepared::new(
                    stmt,
                    declared
                        .iter()
                        .map(|d| d.clone().unwrap_or(DataType::Utf8))
                        .collect(),
                    result_schema,
                    PreparedKind::Statement,
                ))
            }
            Statement::Query(q) if !is_special_select(q) => {
                // A query the plan cache holds has no parameters and was planned against
                // the current catalog: drivers send a dashboard's queries as unnamed
                // statements, parsed again every time.
                if !self.in_transaction
                    && declared.is_empty()
                    && let Some(hit) = self.plans.get(s, &self.engine.storage().catalog())
                {
                    return Ok(Prepared::new(
                        stmt,
                        vec![],
                        Some(hit.schema),
                        PreparedKind::Plan(hit.plan),
                    ));
                }
                let cast = crate::params::declared_casts(s, casts);
                let planned = cast.as_ref().unwrap_or(s);
                let plan = match self.plan(planned.clone()).await {
                    Ok(plan) => plan,
                    Err(e) => {
                        let Some((types, schema)) =
                            self.describe_with_samples(s, q, declared).await
                        else {
                            return Err(e);
                        };
                        return Ok(Prepared::new(
                            stmt,
                            types,
                            Some(schema),
                            PreparedKind::Statement,
                        ));
                    }
                };
                let param_types = param_types_of_plan(&self.ctx, &plan, declared, planned)?;
                let schema = Arc::new(plan.schema().as_arrow().clone());
                // Names from the query as written (`SELECT $1` is `?column?`), type tags
                // with the declared casts in (`$1` declared varchar returns varchar).
                let result_schema = Some(match planned {
                    Statement::Query(cast_q) if cast.is_some() => crate::names::apply_type_tags(
                        &crate::names::pg_output_schema(q, &schema),
                        crate::names::pg_type_tags(cast_q).as_deref(),
                    ),
                    _ => crate::names::pg_client_schema(q, &schema),
                });
                Ok(
                    Prepared::new(stmt, param_types, result_schema, PreparedKind::Plan(plan))
                        .with_inferred_param_types(),
                )
            }
            // Planned as the EXPLAIN of the statement it executes, arguments given.
            Statement::Explain { statement, .. }
                if matches!(statement.as_ref(), Statement::Execute { .. }) =>
            {
                let explain = self.explain_execute(s).await?;
                let plan = self.plan(explain).await?;
                let result_schema = Some(Arc::new(plan.schema().as_arrow().clone()));
                Ok(Prepared::new(
                    stmt,
                    vec![],
                    result_schema,
                    PreparedKind::Statement,
                ))
            }
            Statement::Explain { .. } => {
                let plan = self.plan((**s).clone()).await?;
                let param_types = param_types_of_plan(&self.ctx, &plan, declared, s)?;
                let result_schema = Some(Arc::new(plan.schema().as_arrow().clone()));
                Ok(Prepared::new(
                    stmt,
                    param_types,
                    result_schema,
                    PreparedKind::Plan(plan),
                ))
            }
            Statement::Insert(ins) => {
                let storage = self.engine.storage();
                let (def, targets) = dml::insert_target(storage, ins)?;
                // Parameters used only in ON CONFLICT DO UPDATE come after those of the rows.
                let conflict_params = match &ins.on {
                    Some(on) => {
                        let alias = ins.table_alias.as_ref().map(|a| ident_name(&a.alias));
                        crate::upsert::param_types(&self.ctx, &def, alias.as_deref(), on)
                    }
                    None => vec![],
                };
                let add_conflict_params = |fields: &mut Vec<Field>| {
                    let known = fields.len();
                    for (n, t) in &conflict_params {
                        if *n > known {
                            while fields.len() < *n {
                                let k = fields.len() + 1;
                                fields.push(Field::new(format!("${k}"), DataType::Utf8, true));
                            }
                            fields[n - 1] = Field::new(format!("${n}"), t.clone(), true);
                        }
                    }
                };
                if let Some(mut fields) =
                    crate::fast_insert::param_fields(&def, &targets, ins.source.as_deref())
                {
                    add_conflict_params(&mut fields);
                    let mut p = Prepared::new(
                        stmt,
                        fields.iter().map(|f| f.data_type().clone()).collect(),
                        None,
                        PreparedKind::Statement,
                    );
                    p.param_fields = fields;
                    for (i, d) in declared.iter().enumerate() {
                        if let (Some(d), Some(f)) = (d, p.param_fields.get_mut(i))
                            && d != f.data_type()
                        {
                            *f = Field::new(f.name(), d.clone(), true);
                            p.param_types[i] = d.clone();
                        }
                    }
                    return Ok(p);
                }
                let mut types = vec![];
                if let Some(src) = &ins.source {
                    let plan = self.plan(Statement::Query(src.clone())).await?;
                    types = param_types_of_plan(&self.ctx, &plan, declared, s)?;
                }
                let mut fields: Vec<Field> = types
                    .iter()
                    .enumerate()
                    .map(|(i, t)| Field::new(format!("${}", i + 1), t.clone(), true))
                    .collect();
                add_conflict_params(&mut fields);
                let types = fields.iter().map(|f| f.data_type().clone()).collect();
                Ok(Prepared::new(
                    stmt,
                    merge_declared(types, declared),
                    None,
                    PreparedKind::Statement,
                ))
            }
            // Described as the statement it executes (its rows), arguments given.
            Statement::Execute {
                name: Some(name),
                parameters,
                ..
            } => {
                crate::sql_prepare::no_placeholders(parameters)?;
                let (_, p) = self.sql_prepared_named(name)?;
                Ok(Prepared::new(
                    stmt,
                    vec![],
                    p.result_schema.clone(),
                    PreparedKind::Statement,
                ))
            }
            Statement::ShowVariable { variable } => {
                let Output::Rows { schema, .. } = self.show(variable)? else {
                    return Err(Error::user(
                        SqlState::Internal,
                        "SHOW returned no row description",
                    ));
                };
                Ok(Prepared::new(
                    stmt,
                    vec![],
                    Some(schema),
                    PreparedKind::Statement,
                ))
            }
            Statement::Query(_) => {
                let schema = Arc::new(Schema::new(vec![Field::new(
                    "create_hypertable",
                    DataType::Utf8,
                    true,
                )]));
                Ok(Prepared::new(
                    stmt,
                    vec![],
                    Some(schema),
                    PreparedKind::Statement,
                ))
            }
            Statement::Update(u) => {
                let values: Vec<String> =
                    u.assignments.iter().map(|a| a.value.to_string()).collect();
                let where_sql = u
                    .selection
                    .as_ref()
                    .map(|e| format!(" WHERE {e}"))
                    .unwrap_or_default();
                let sql = format!(
                    "SELECT {}, 1 FROM {}{where_sql}",
                    values.join(", "),
                    u.table
                );
                let types = self.param_types_via_select(&sql, declared, s).await?;
                Ok(Prepared::new(
                    stmt,
                    merge_declared(types, declared),
                    None,
                    PreparedKind::Statement,
                ))
            }
            Statement::Delete(del) => {
                let mut types = vec![];
                if let (
                    Some(sel),
                    ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t),
                ) = (&del.selection, &del.from)
                    && let Some(tw) = t.first()
                {
                    let sql = format!("SELECT 1 FROM {} WHERE {sel}", tw.relation);
                    types = self.param_types_via_select(&sql, declared, s).await?;
                }
                Ok(Prepared::new(
                    stmt,
                    merge_declared(types, declared),
                    None,
                    PreparedKind::Statement,
                ))
            }
            _ => Ok(Prepared::new(
                stmt,
                declared
                    .iter()
                    .map(|d| d.clone().unwrap_or(DataType::Utf8))
                    .collect(),
                None,
                PreparedKind::Statement,
            )),
        }
    }

    /// `plan` (made when its statement was prepared) with the functions that read the
    /// session's settings ([`crate::plan_cache::SETTINGS_ONLY`]) taken from the current
    /// context: they were built with the settings of the context the statement was
    /// prepared in, and a `SET TimeZone` since must change `EXTRACT`'s answer, as in
    /// PostgreSQL.
    fn with_current_settings(&self, plan: LogicalPlan) -> Result<LogicalPlan> {
        use datafusion::common::tree_node::{Transformed, TreeNode};
        use datafusion::execution::FunctionRegistry;
        use datafusion::logical_expr::Expr;
        use datafusion::logical_expr::expr::ScalarFunction;
        let swapped = plan.transform_up_with_subqueries(|node| {
            node.map_expressions(|e| {
                e.transform_up(|e| match e {
                    Expr::ScalarFunction(f)
                        if crate::plan_cache::SETTINGS_ONLY.contains(&f.func.name()) =>
                    {
                        match self.ctx.udf(f.func.name()) {
                            Ok(udf) if !Arc::ptr_eq(&udf, &f.func) => Ok(Transformed::yes(
                                Expr::ScalarFunction(ScalarFunction::new_udf(udf, f.args)),
                            )),
                            _ => Ok(Transformed::no(Expr::ScalarFunction(f))),
                        }
                    }
                    other => Ok(Transformed::no(other)),
                })
            })
        })?;
        Ok(swapped.data)
    }

    /// Executes a prepared statement with parameter values.
    pub async fn execute_prepared(
        &mut self,
        p: &Prepared,
        params: Vec<ScalarValue>,
    ) -> Result<Output> {
        p.executions.count();
        if params.len() != p.param_types.len() {
            return Err(Error::user(
                SqlState::ProtocolViolation,
                format!(
                    "bind message supplies {} parameters, but prepared statement requires {}",
                    params.len(),
                    p.param_types.len()
                ),
            ));
        }
        match &p.kind {
            PreparedKind::Plan(plan) => {
                if self.failed_transaction {
                    return Err(Error::user(
                        SqlState::InFailedTransaction,
                        "current transaction is aborted, commands ignored until end of transaction block",
                    ));
                }
                // Without parameters, a query the plan cache can keep runs as the same
                // text sent by the simple protocol does, through the cache (see
                // `prepare_statement`). Others (catalog queries) run the plan made at
                // Parse rather than being planned again.
                if params.is_empty()
                    && !self.in_transaction
                    && let Stmt::Sql(s) = &p.stmt
                    && matches!(s.as_ref(), Statement::Query(_))
                    && crate::plan_cache::cacheable(plan)
                {
                    return self.run_query((**s).clone()).await;
                }
                let plan = if params.is_empty() {
                    plan.clone()
                } else {
                    plan.clone().replace_params_with_values(&ParamValues::List(
                        params.into_iter().map(Into::into).collect(),
                    ))?
                };
                let plan = self.with_current_settings(plan)?;
                // The names were worked out once, at prepare time.
                let described = p.result_schema.clone();
                self.execute_plan(plan, move |schema| match described {
                    Some(d) if d.fields().len() == schema.fields().len() => {
                        let names: Vec<Option<String>> =
                            d.fields().iter().map(|f| Some(f.name().clone())).collect();
                        let schema = crate::names::apply_names(&schema, Some(&names));
                        // and the type tags the statement was described with
                        let key = strata_storage::schema::PG_TYPE_METADATA_KEY;
                        let tags: Vec<Option<&'static str>> = d
                            .fields()
                            .iter()
                            .map(|f| match f.metadata().get(key).map(String::as_str) {
                                Some("name") => Some("name"),
                                Some("varchar") => Some("varchar"),
                                Some("json") => Some("json"),
                                Some("jsonb") => Some("jsonb"),
                                Some("numeric") => Some("numeric"),
                                _ => None,
                            })
                            .collect();
                        crate::names::apply_type_tags(&schema, Some(&tags))
                    }
                    _ => schema,
                })
            }
            PreparedKind::Statement => {
                if let Stmt::Sql(s) = &p.stmt
                    && let Statement::Insert(ins) = s.as_ref()
                {
                    if self.failed_transaction {
                        return Err(Error::user(
                            SqlState::InFailedTransaction,
                            "current transaction is aborted, commands ignored until end of transaction block",
                        ));
                    }
                    let n = self.insert(ins, Some(&params)).await?;
                    return Ok(command(format!("INSERT 0 {n}")));
                }
                if params.is_empty() {
                    return self.execute(&p.stmt).await;
                }
                let Stmt::Sql(s) = &p.stmt else {
                    return self.execute(&p.stmt).await;
                };
                let s = crate::params::substitute(s, &params)?;
                self.execute(&Stmt::Sql(Box::new(s))).await
            }
        }
    }
}

/// Recognises `CREATE MATERIALIZED VIEW ... [WITH [NO] DATA]` and `ALTER MATERIALIZED VIEW
/// v RENAME TO w`, which sqlparser does not parse in full.
fn parse_cagg_statement(text: &str) -> Result<Option<CaggStmt>> {
    let words: Vec<String> = text
        .split_whitespace()
        .take(8)
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let starts = |p: &[&str]| words.len() >= p.len() && words.iter().zip(p).all(|(a, b)| a == b);
    if starts(&["alter", "materialized", "view"]) {
        let toks: Vec<&str> = text.split_whitespace().collect();
        let lower: Vec<String> = toks.iter().map(|t| t.to_ascii_lowercase()).collect();
        let (if_exists, rest) = if lower.get(3).map(String::as_str) == Some("if")
            && lower.get(4).map(String::as_str) == Some("exists")
        {
            (true, 5)
        } else {
            (false, 3)
        };
        if toks.len() == rest + 4 && lower[rest + 1] == "rename" && lower[rest + 2] == "to" {
            let ident = |t: &str| {
                let t = t.trim_end_matches(';');
                if let Some(q) = t.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
                    q.to_string()
                } else {
                    let t = t.rsplit('.').next().unwrap_or(t);
                    t.to_lowercase()
                }
            };
            return Ok(Some(CaggStmt::Rename {
                from: ident(toks[rest]),
                to: ident(toks[rest + 3]),
                if_exists,
            }));
        }
        return Err(Error::unsupported(
            "this ALTER MATERIALIZED VIEW (only RENAME TO is supported)",
        ));
    }
    if !starts(&["create", "materialized", "view"]) {
        return Ok(None);
    }
    let mut body = text.trim_end_matches(';').trim_end().to_string();
    let mut with_data = true;
    let tail: Vec<String> = body
        .split_whitespace()
        .rev()
        .take(3)
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let cut = |body: &mut String, n: usize| {
        for _ in 0..n {
            let t = body.trim_end();
            let end = t.rfind(char::is_whitespace).unwrap_or(0);
            body.truncate(end);
        }
    };
    if tail.len() == 3 && tail[0] == "data" && tail[1] == "no" && tail[2] == "with" {
        with_data = false;
        cut(&mut body, 3);
    } else if tail.len() >= 2 && tail[0] == "data" && tail[1] == "with" {
        cut(&mut body, 2);
    }
    // TimescaleDB's short form `WITH (continuous)`.
    let lower = body.to_ascii_lowercase();
    if let Some(i) = lower.find("(continuous")
        && lower[i + "(continuous".len()..]
            .trim_start()
            .starts_with([',', ')'])
    {
        body.replace_range(i + 1..i + "(continuous".len(), "timescaledb.continuous");
    }
    let rewritten = rewrite_dotted_options(&body).unwrap_or(body);
    let mut stmts = Parser::parse_sql(&PostgreSqlDialect {}, &rewritten).map_err(|e| {
        let msg = e.to_string();
        let msg = msg
            .strip_prefix("sql parser error: ")
            .unwrap_or(&msg)
            .to_string();
        Error::user(SqlState::SyntaxError, format!("syntax error: {msg}"))
    })?;
    match (stmts.pop(), stmts.is_empty()) {
        (Some(stmt), true) => Ok(Some(CaggStmt::Create {
            stmt: Box::new(stmt),
            with_data,
        })),
        _ => Err(Error::user(
            SqlState::SyntaxError,
            "CREATE MATERIALIZED VIEW must be sent as a statement of its own",
        )),
    }
}

/// TimescaleDB's `WITH (tsdb.hypertable, timescaledb.continuous, ...)` options have dotted
/// keys that sqlparser does not accept; they are rewritten to `tsdb_hypertable` before
/// parsing (outside string literals and quoted identifiers only). None if nothing changed.
fn rewrite_dotted_options(sql: &str) -> Option<String> {
    // Cheap pre-check without allocating: most statements have no dotted option at all.
    let has = |needle: &[u8]| {
        sql.as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    };
    if !has(b"tsdb.") && !has(b"timescaledb.") {
        return None;
    }
    let lower = sql.to_ascii_lowercase();
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<u8> = None;
    let mut j = 0;
    while j < b.len() {
        let c = b[j];
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            out.push(c as char);
            j += 1;
            continue;
        }
        if c == b'\'' || c == b'"' {
            quote = Some(c);
            out.push(c as char);
            j += 1;
            continue;
        }
        let prev_ident = j > 0 && (b[j - 1].is_ascii_alphanumeric() || b[j - 1] == b'_');
        let mut matched = false;
        for prefix in ["timescaledb.", "tsdb."] {
            if !prev_ident && lower[j..].starts_with(prefix) {
                out.push_str(&sql[j..j + prefix.len() - 1]);
                out.push('_');
                j += prefix.len();
                // The option name itself.
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    out.push(b[j] as char);
                    j += 1;
                }
                // A bare flag (`tsdb.hypertable,`) becomes `tsdb_hypertable = true`.
                let mut k = j;
                while k < b.len() && b[k].is_ascii_whitespace() {
                    k += 1;
                }
                if k < b.len() && (b[k] == b',' || b[k] == b')') {
                    out.push_str(" = true");
                }
                matched = true;
                break;
            }
        }
        if !matched {
            // Copy one UTF-8 character.
            let ch = sql[j..].chars().next().unwrap_or(' ');
            out.push(ch);
            j += ch.len_utf8();
        }
    }
    Some(out)
}

impl Prepared {
    fn new(
        stmt: Stmt,
        param_types: Vec<DataType>,
        result_schema: Option<SchemaRef>,
        kind: PreparedKind,
    ) -> Self {
        let oids = match &stmt {
            Stmt::Sql(s) => oid_placeholders(s),
            _ => vec![],
        };
        let param_fields = param_types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let f = Field::new(format!("${}", i + 1), t.clone(), true);
                // `$n::oid`: described as the cast's type
                if oids.contains(&format!("${}", i + 1)) {
                    as_oid(f)
                } else {
                    f
                }
            })
            .collect();
        Prepared {
            stmt,
            param_types,
            param_fields,
            result_schema,
            kind,
            executions: Default::default(),
        }
    }

    /// Also describes as `oid` or `bpchar` the parameters of a planned query that
    /// DataFusion typed from an oid or `char(n)` column (`WHERE oid = $1`, `WHERE code =
    /// $1`: the placeholder takes the column's field, type tag included), as PostgreSQL
    /// infers the parameter's type from the column. A `bpchar` parameter has no length
    /// (PostgreSQL's has no modifier either) and is read as text; the plan drops its
    /// trailing blanks (`pg_types::blank_trimmed_literal`).
    fn with_inferred_param_types(mut self) -> Self {
        let PreparedKind::Plan(plan) = &self.kind else {
            return self;
        };
        let Ok(fields) = plan.get_parameter_fields() else {
            return self;
        };
        for (id, f) in fields {
            let Some(f) = f else { continue };
            let Some(p) = crate::params::param_number(&id)
                .and_then(|i| i.checked_sub(1))
                .and_then(|i| self.param_fields.get_mut(i))
            else {
                continue;
            };
            let oid = strata_pgtypes::oid::pg_type_of_field(&f).oid;
            if oid == strata_pgtypes::oid::PgTypeInfo::OID.oid {
                *p = as_oid(p.clone());
            } else if oid == strata_pgtypes::oid::PgTypeInfo::BPCHAR.oid
                && p.data_type() == &DataType::Utf8
                && !p
                    .metadata()
                    .contains_key(strata_storage::schema::PG_TYPE_METADATA_KEY)
            {
                *p = p.clone().with_metadata(std::collections::HashMap::from([(
                    strata_storage::schema::PG_TYPE_METADATA_KEY.to_string(),
                    "bpchar".to_string(),
                )]));
            }
        }
        self
    }
}

/// An `int4` parameter field described as `oid` (other types are left as they are).
fn as_oid(f: Field) -> Field {
    if f.data_type() != &DataType::Int32 {
        return f;
    }
    f.with_metadata(std::collections::HashMap::from([(
        strata_storage::schema::PG_TYPE_METADATA_KEY.to_string(),
        "oid".to_string(),
    )]))
}

/// The result column of a TimescaleDB management call (see [`is_special_select`]).
fn special_select_schema(q: &ast::Query) -> Option<SchemaRef> {
    let ast::SetExpr::Select(sel) = q.body.as_ref() else {
        return None;
    };
    let (f, alias) = match sel.projection.first()? {
        ast::SelectItem::UnnamedExpr(ast::Expr::Function(f)) => (f, None),
        ast::SelectItem::ExprWithAlias {
            expr: ast::Expr::Function(f),
            alias,
        } => (f, Some(alias.value.clone())),
        _ => return None,
    };
    let fname = f.name.to_string().to_lowercase();
    let ty = match fname.as_str() {
        "add_continuous_aggregate_policy" | "add_retention_policy" | "add_tiering_policy" => {
            DataType::Int32
        }
        _ => DataType::Utf8,
    };
    Some(Arc::new(Schema::new(vec![Field::new(
        alias.unwrap_or(fname),
        ty,
        true,
    )])))
}

fn is_special_select(q: &ast::Query) -> bool {
    let ast::SetExpr::Select(sel) = q.body.as_ref() else {
        return false;
    };
    if !sel.from.is_empty() || sel.projection.len() != 1 {
        return false;
    }
    let e = match &sel.projection[0] {
        ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return false,
    };
    matches!(e, ast::Expr::Function(f) if matches!(f.name.to_string().to_lowercase().as_str(), "create_hypertable" | "set_chunk_time_interval" | "add_continuous_aggregate_policy" | "remove_continuous_aggregate_policy" | "add_retention_policy" | "remove_retention_policy" | "add_tiering_policy" | "remove_tiering_policy" | "alter_job" | "drop_chunks" | "show_chunks" | "set_config" | "pg_catalog.set_config"))
}

fn merge_declared(mut types: Vec<DataType>, declared: &[Option<DataType>]) -> Vec<DataType> {
    if types.len() < declared.len() {
        types.resize(declared.len(), DataType::Utf8);
    }
    for (i, d) in declared.iter().enumerate() {
        if let Some(d) = d {
            types[i] = d.clone();
        }
    }
    types
}

/// Parameter types `$1..$n` of a plan; `$n::type` casts in the statement fill the ones
/// DataFusion cannot infer; unknown ones are text.
fn param_types_of_plan(
    ctx: &SessionContext,
    plan: &LogicalPlan,
    declared: &[Option<DataType>],
    stmt: &Statement,
) -> Result<Vec<DataType>> {
    let mut map = plan.get_parameter_types()?;
    for (k, t) in placeholder_casts(stmt) {
        let e = map.entry(k).or_insert(None);
        if e.is_none() {
            *e = Some(t);
        }
    }
    if map.values().any(|v| v.is_none()) {
        for (k, t) in any_array_placeholders(plan)
            .into_iter()
            .chain(coerced_placeholders(ctx, plan))
        {
            if let Some(e) = map.get_mut(&k)
                && e.is_none()
            {
                *e = Some(t);
            }
        }
    }
    let mut n = declared.len();
    for k in map.keys() {
        if let Some(i) = crate::params::param_number(k) {
            n = n.max(i);
        }
    }
    let mut out = vec![DataType::Utf8; n];
    for (k, v) in map {
        if let Some(i) = crate::params::param_number(&k)
            && i >= 1
            && let Some(t) = v
        {
            // DataFusion's string functions take `Utf8View` (`upper($1)`); the client
            // sends text either way, decoded as `Utf8`.
            out[i - 1] = match t {
                DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
                t => t,
            };
        }
    }
    for (i, d) in declared.iter().enumerate() {
        if let Some(d) = d {
            out[i] = d.clone();
        }
    }
    Ok(out)
}

/// Untyped placeholders that type coercion casts to a type, as a function argument
/// (`time_bucket($1, ts)`: interval) or an operand: the type they are cast to, as
/// PostgreSQL infers an unknown parameter's type from the function or operator it feeds.
fn coerced_placeholders(ctx: &SessionContext, plan: &LogicalPlan) -> Vec<(String, DataType)> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    let state = ctx.state();
    let Ok(analyzed) =
        state
            .analyzer()
            .execute_and_check(plan.clone(), state.config_options(), |_, _| {})
    else {
        return vec![];
    };
    let mut out = vec![];
    let _ = analyzed.apply(|node| {
        for e in node.expressions() {
            let _ = e.apply(|e| {
                if let datafusion::logical_expr::Expr::Cast(c) = e
                    && let datafusion::logical_expr::Expr::Placeholder(p) = c.expr.as_ref()
                    && p.field.is_none()
                {
                    out.push((p.id.clone(), c.field.data_type().clone()));
                }
                Ok(TreeNodeRecursion::Continue)
            });
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// `x = ANY($n)` (planned as `array_has($n, x)`): `$n` is an array of `x`'s type, as
/// PostgreSQL infers it (asyncpg passes Python lists this way).
fn any_array_placeholders(plan: &LogicalPlan) -> Vec<(String, DataType)> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::{Expr, ExprSchemable};
    let mut out = vec![];
    let _ = plan.apply(|node| {
        let inputs = node.inputs();
        for e in node.expressions() {
            let _ = e.apply(|e| {
                if let Expr::ScalarFunction(f) = e
                    && f.func.name() == "array_has"
                    && let [Expr::Placeholder(p), needle] = f.args.as_slice()
                    && p.field.is_none()
                {
                    let ty = inputs
                        .iter()
                        .map(|i| i.schema())
                        .chain(std::iter::once(node.schema()))
                        .find_map(|s| needle.get_type(s.as_ref()).ok());
                    if let Some(t) = ty.filter(|t| !t.is_null()) {
                        out.push((
                            p.id.clone(),
                            DataType::List(Arc::new(Field::new_list_field(t, true))),
                        ));
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            });
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// `$n::type` / `CAST($n AS type)` in a statement: the types they name.
fn placeholder_casts(stmt: &Statement) -> Vec<(String, DataType)> {
    placeholder_cast_types(stmt)
        .into_iter()
        .filter_map(|(p, t)| Some((p, ddl::column_type(&t).ok()?.arrow_type())))
        .collect()
}

/// The placeholders of `$n::oid` casts in a statement.
fn oid_placeholders(stmt: &Statement) -> Vec<String> {
    placeholder_cast_types(stmt)
        .into_iter()
        .filter(|(_, t)| matches!(t, ast::DataType::Custom(name, _) if name.to_string().eq_ignore_ascii_case("oid")))
        .map(|(p, _)| p)
        .collect()
}

/// Each `$n::type` / `CAST($n AS type)` in a statement, with the type as written.
fn placeholder_cast_types(stmt: &Statement) -> Vec<(String, ast::DataType)> {
    use sqlparser::ast::Visit;
    struct V(Vec<(String, ast::DataType)>);
    impl ast::Visitor for V {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &ast::Expr) -> std::ops::ControlFlow<()> {
            if let ast::Expr::Cast {
                expr, data_type, ..
            } = e
                && let ast::Expr::Value(v) = expr.as_ref()
                && let ast::Value::Placeholder(p) = &v.value
            {
                self.0.push((p.clone(), data_type.clone()));
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut v = V(vec![]);
    let _ = stmt.visit(&mut v);
    v.0
}

/// A parser error as PostgreSQL words it: `syntax error at or near "X"` (the token the
/// parser stopped at) or `syntax error at end of input`; other parser messages keep
/// their text after `syntax error: `.
fn syntax_error(parser_msg: &str) -> Error {
    let msg = parser_msg
        .strip_prefix("sql parser error: ")
        .unwrap_or(parser_msg);
    let near = msg
        .rsplit_once(", found: ")
        .map(|(_, f)| f.rsplit_once(" at Line: ").map_or(f, |(t, _)| t));
    let text = match near {
        Some("EOF") => "syntax error at end of input".to_string(),
        Some(t) => format!("syntax error at or near \"{}\"", t.trim_matches('\'')),
        None => format!("syntax error: {msg}"),
    };
    Error::user(SqlState::SyntaxError, text)
}

fn set_value(e: &ast::Expr) -> String {
    ddl::literal_string(e).unwrap_or_else(|| e.to_string())
}

fn first_words(s: &str) -> String {
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// Argument `name` of a call, given by name or at position `i`.
fn call_arg(
    pos: &[ast::Expr],
    named: &[(String, ast::Expr)],
    name: &str,
    i: usize,
) -> Option<ast::Expr> {
    named
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .or_else(|| pos.get(i).cloned())
}

/// A boolean named argument given as `true` (`if_exists => true`).
fn flag_arg(named: &[(String, ast::Expr)], name: &str) -> bool {
    named
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| ddl::literal_string(v))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// A relation named by a string argument (`'t'`, `'public.t'`).
fn relation_arg(e: Option<&ast::Expr>) -> Option<String> {
    e.and_then(ddl::literal_string)
        .map(|v| v.rsplit('.').next().unwrap_or(&v).to_string())
}

/// TimescaleDB-style chunk name of a time partition.
fn chunk_name(table: u64, partition_start: i64, width: i64) -> String {
    crate::tsdb_info::chunk_qualified_name(table, partition_start, width)
}

/// A `schedule_interval` argument: a positive interval, as text.
fn schedule_arg(e: &ast::Expr) -> Result<String> {
    let text = interval_text(e);
    if ddl::interval_micros_of_expr(e).unwrap_or(0) <= 0
        || ddl::simple_interval_micros(&text).is_err()
    {
        return Err(Error::user(
            SqlState::InvalidParameterValue,
            format!(
                "invalid schedule_interval {e}: use a positive interval such as INTERVAL '1 hour'"
            ),
        ));
    }
    Ok(text)
}

/// The text of an interval argument (`INTERVAL '1 day'` or `'1 day'`).
fn interval_text(e: &ast::Expr) -> String {
    match e {
        ast::Expr::Interval(iv) => {
            let s = ddl::literal_string(&iv.value).unwrap_or_default();
            match &iv.leading_field {
                Some(f) => format!("{s} {f}").to_lowercase(),
                None => s,
            }
        }
        ast::Expr::Cast { expr, .. } => interval_text(expr),
        other => ddl::literal_string(other).unwrap_or_else(|| other.to_string()),
    }
}

fn single_text(col: String, text: String) -> Result<Output> {
    single_column(col, Arc::new(StringArray::from(vec![text])))
}

/// A result of one column (named `col`) with the values of `values`.
fn single_column(col: String, values: arrow::array::ArrayRef) -> Result<Output> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        col,
        values.data_type().clone(),
        true,
    )]));
    let batch = RecordBatch::try_new(Arc::clone(&schema), vec![values])
        .map_err(datafusion::error::DataFusionError::from)?;
    let stream = MemoryStream::try_new(vec![batch], Arc::clone(&schema), None)?;
    Ok(Output::Rows {
        schema,
        stream: Box::pin(stream),
    })
}

fn copy_spec(options: &[ast::CopyOption], legacy: &[ast::CopyLegacyOption]) -> Result<CopySpec> {
    let mut spec = CopySpec {
        format: CopyFormat::Text,
        delimiter: None,
        null: None,
        header: false,
        quote: None,
        escape: None,
    };
    for o in options {
        match o {
            ast::CopyOption::Format(f) => {
                spec.format = match f.value.to_lowercase().as_str() {
                    "text" => CopyFormat::Text,
                    "csv" => CopyFormat::Csv,
                    "binary" => CopyFormat::Binary,
                    other => {
                        return Err(Error::user(
                            SqlState::InvalidParameterValue,
                            format!("COPY format \"{other}\" not recognized"),
                        ));
                    }
                }
            }
            ast::CopyOption::Delimiter(c) => spec.delimiter = Some(*c),
            ast::CopyOption::Null(s) => spec.null = Some(s.clone()),
            ast::CopyOption::Header(h) => spec.header = *h,
            ast::CopyOption::Quote(c) => spec.quote = Some(*c),
            ast::CopyOption::Escape(c) => spec.escape = Some(*c),
            ast::CopyOption::Encoding(e)
                if e.eq_ignore_ascii_case("utf8") || e.eq_ignore_ascii_case("utf-8") => {}
            ast::CopyOption::Freeze(_) => {}
            other => return Err(Error::unsupported(format!("COPY option {other}"))),
        }
    }
    for o in legacy {
        match o {
            ast::CopyLegacyOption::Binary => spec.format = CopyFormat::Binary,
            ast::CopyLegacyOption::Delimiter(c) => spec.delimiter = Some(*c),
            ast::CopyLegacyOption::Null(s) => spec.null = Some(s.clone()),
            ast::CopyLegacyOption::Csv(opts) => {
                spec.format = CopyFormat::Csv;
                for c in opts {
                    match c {
                        ast::CopyLegacyCsvOption::Header => spec.header = true,
                        ast::CopyLegacyCsvOption::Quote(q) => spec.quote = Some(*q),
                        ast::CopyLegacyCsvOption::Escape(q) => spec.escape = Some(*q),
                        other => return Err(Error::unsupported(format!("COPY option {other}"))),
                    }
                }
            }
            other => return Err(Error::unsupported(format!("COPY option {other}"))),
        }
    }
    if spec.header && spec.format == CopyFormat::Text {
        return Err(Error::user(
            SqlState::FeatureNotSupported,
            "COPY HEADER available only in CSV mode",
        ));
    }
    Ok(spec)
}

/// The table policies that share add/remove plumbing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PolicyKind {
    Retention,
    Tiering,
}

/// The statements of `sql`, split at top-level semicolons (sqlparser's tokenizer skips
/// those inside quotes, dollar quotes and comments); pieces with nothing but whitespace
/// are dropped. None if the text does not tokenize (the parser then reports the error).
fn split_statements(sql: &str) -> Option<Vec<&str>> {
    use sqlparser::tokenizer::{Token, Tokenizer};
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize_with_location()
        .ok()?;
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    // Byte offset of a 1-based (line, column in characters) location.
    let offset = |line: u64, column: u64| -> Option<usize> {
        let start = *line_starts.get(usize::try_from(line).ok()?.checked_sub(1)?)?;
        let col = usize::try_from(column).ok()?.checked_sub(1)?;
        sql[start..].char_indices().nth(col).map(|(i, _)| start + i)
    };
    let mut pieces = vec![];
    let mut from = 0;
    for t in &tokens {
        if t.token == Token::SemiColon {
            let at = offset(t.span.start.line, t.span.start.column)?;
            pieces.push(&sql[from..at]);
            from = at + 1;
        }
    }
    pieces.push(&sql[from.min(sql.len())..]);
    Some(
        pieces
            .into_iter()
            .filter(|p| !p.trim().is_empty())
            .collect(),
    )
}

/// True if `sql` begins with these words (case-insensitive, any whitespace between).
pub(crate) fn starts_with_words(sql: &str, words: &[&str]) -> bool {
    let mut toks = sql.split_whitespace();
    words
        .iter()
        .all(|w| toks.next().is_some_and(|t| t.eq_ignore_ascii_case(w)))
}

/// SQL may not read or write the server's files: no external tables.
fn external_table_refused() -> Error {
    Error::with_hint(
        SqlState::InsufficientPrivilege,
        "CREATE EXTERNAL TABLE is not allowed: SQL cannot read the server's files",
        "Create a table with CREATE TABLE and load it with COPY ... FROM STDIN (psql: \\copy) or INSERT.",
    )
}
