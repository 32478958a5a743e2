//! The SQL engine: one per server, shared by all sessions.
//!
//! It owns the storage handle and the DataFusion runtime (memory pool, object stores), and
//! builds a fresh `SessionContext` per client session whose `strata.public` schema is the
//! live storage catalog ([`PublicSchema`]).

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use datafusion::catalog::{
    CatalogProvider, MemoryCatalogProvider, MemoryCatalogProviderList, SchemaProvider,
};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use strata_storage::catalog::CatalogState;
use strata_storage::{Storage, ViewDef};
use url::Url;

use crate::catalog::PublicSchema;
use crate::error::{Error, Result};
use crate::session::{Session, Settings};
use crate::table::HOT_STORE_URL;

/// Name of the (only) database / DataFusion catalog.
pub const DATABASE: &str = "strata";
/// Name of the default schema.
pub const SCHEMA: &str = "public";

/// Engine options.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Memory DataFusion may use for query execution (sorts, joins, aggregates); queries
    /// over it fail with 53200 instead of growing the process.
    pub query_memory_bytes: usize,
    /// Parallelism of a query plan.
    pub target_partitions: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            query_memory_bytes: 2 * 1024 * 1024 * 1024,
            target_partitions: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        }
    }
}

/// The shared SQL engine.
#[derive(Debug)]
pub struct Engine {
    storage: Arc<Storage>,
    runtime: Arc<RuntimeEnv>,
    public: Arc<PublicSchema>,
    options: EngineOptions,
    exec: tokio::runtime::Handle,
    caggs: crate::cagg::Caggs,
    jobs: Arc<crate::jobs::Jobs>,
    roles: Arc<crate::roles::Roles>,
    /// Plans of views, by name (see [`Engine::plan_view`]).
    view_plans: parking_lot::Mutex<HashMap<String, ViewPlan>>,
}

/// A view's plan and what it was planned from: valid while the view's definition and the
/// storage catalog are the same (DDL swaps the catalog's `Arc`).
#[derive(Debug)]
struct ViewPlan {
    view: ViewDef,
    catalog: Arc<CatalogState>,
    plan: LogicalPlan,
}

impl Engine {
    /// Builds the engine over an opened storage.
    pub fn new(storage: Arc<Storage>, options: EngineOptions) -> Result<Arc<Engine>> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(options.query_memory_bytes, 1.0)
            .build_arc()?;
        let hot = crate::hot_store::HotStore::new(storage.data_dir())
            .map_err(|e| Error::DataFusion(DataFusionError::ObjectStore(Box::new(e))))?;
        let url = Url::parse(HOT_STORE_URL)
            .map_err(|e| Error::DataFusion(DataFusionError::External(Box::new(e))))?;
        runtime.register_object_store(&url, Arc::new(hot));
        let cold_url = Url::parse(crate::table::COLD_STORE_URL)
            .map_err(|e| Error::DataFusion(DataFusionError::External(Box::new(e))))?;
        runtime.register_object_store(&cold_url, storage.cold().object_store());
        let exec = crate::exec::new_runtime(options.target_partitions)
            .map_err(|e| Error::DataFusion(DataFusionError::External(Box::new(e))))?;
        let roles = Arc::new(crate::roles::Roles::open(storage.data_dir())?);
        Ok(Arc::new_cyclic(|weak: &Weak<Engine>| Engine {
            roles,
            exec,
            public: Arc::new(PublicSchema::new(Arc::clone(&storage), weak.clone())),
            storage,
            runtime,
            options,
            caggs: crate::cagg::Caggs::default(),
            jobs: Arc::new(crate::jobs::Jobs::default()),
            view_plans: parking_lot::Mutex::new(HashMap::new()),
        }))
    }

    /// Continuous aggregates (their lock and compiled plans).
    pub fn caggs(&self) -> &crate::cagg::Caggs {
        &self.caggs
    }

    /// Roles and their password verifiers (see [`crate::roles`]).
    pub fn roles(&self) -> &Arc<crate::roles::Roles> {
        &self.roles
    }

    /// Job statistics (in memory; see [`crate::jobs`]).
    pub fn jobs(&self) -> &Arc<crate::jobs::Jobs> {
        &self.jobs
    }

    /// The DataFusion runtime (memory pool, object stores).
    pub fn runtime(&self) -> &Arc<RuntimeEnv> {
        &self.runtime
    }

    /// Writes rows to a table, maintaining its continuous aggregates in the same WAL
    /// record. Every INSERT/COPY goes through here.
    pub async fn write(
        &self,
        table: strata_storage::ids::TableId,
        batch: arrow::array::RecordBatch,
    ) -> Result<()> {
        crate::cagg::write(self, table, batch).await
    }

    /// Writes the rows of a committed transaction block in one WAL record.
    pub async fn write_all(
        &self,
        writes: Vec<(strata_storage::ids::TableId, arrow::array::RecordBatch)>,
    ) -> Result<()> {
        crate::cagg::write_all(self, writes).await
    }

    /// Work left by a crash: recomputes continuous-aggregate buckets marked dirty.
    pub async fn recover(&self) -> Result<()> {
        self.caggs.compile_all(self).await;
        crate::cagg::recover(self).await
    }

    /// The runtime queries execute on (see [`crate::exec`]).
    pub fn exec_handle(&self) -> &tokio::runtime::Handle {
        &self.exec
    }

    /// The storage handle.
    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    /// Starts a client session.
    pub fn new_session(self: &Arc<Self>) -> Result<Session> {
        Session::new(Arc::clone(self))
    }

    /// Builds a DataFusion context for a session with the given settings.
    pub fn new_context(
        &self,
        settings: &Settings,
        shared: Arc<parking_lot::RwLock<Settings>>,
        txn: Option<crate::txn::TxnHandle>,
    ) -> Result<SessionContext> {
        let mut config = SessionConfig::new()
            .with_default_catalog_and_schema(DATABASE, SCHEMA)
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(false)
            .with_target_partitions(self.options.target_partitions)
            .with_batch_size(8192);
        let opts = config.options_mut();
        opts.sql_parser.dialect = datafusion::config::Dialect::PostgreSQL;
        opts.sql_parser.enable_ident_normalization = true;
        opts.sql_parser.parse_float_as_decimal = true;
        opts.execution.time_zone = Some(settings.datafusion_time_zone());
        // Row-level filter pushdown is chosen per scan (table.rs): on for local files, off
        // for cold ones. A session-wide `true` would force it on every scan.
        opts.execution.parquet.pushdown_filters = false;
        // Aggregates merge their per-partition partial states in one final aggregate
        // instead of hash-repartitioning them across partitions first. Time-series
        // group-bys have few groups (time buckets x series), where the repartition's
        // hashing and channels cost more than they save: -10 to -20 % per TSBS query
        // (docs/performance.md, "Session 7"). Only a GROUP BY with millions of groups
        // would finish faster with the final aggregate split across cores.
        opts.optimizer.repartition_aggregations = false;
        // A scan reports the rows it expects as an estimate (`crate::row_estimate`); a
        // scan of one batch or less stays on one partition instead of being spread by a
        // round-robin repartition.
        opts.execution
            .use_row_number_estimates_to_optimize_partitioning = true;
        let catalog = Arc::new(MemoryCatalogProvider::new());
        let public: Arc<dyn SchemaProvider> = match txn {
            Some(t) => Arc::new(crate::txn::SessionSchema::new(Arc::clone(&self.public), t)),
            None => Arc::clone(&self.public) as Arc<dyn SchemaProvider>,
        };
        catalog.register_schema(SCHEMA, Arc::clone(&public))?;
        // PostgreSQL's information_schema (DataFusion's own is turned off above); also
        // listed in pg_namespace, as in PostgreSQL (pgjdbc's getSchemas).
        catalog.register_schema(
            "information_schema",
            Arc::new(crate::info_schema::InformationSchema::new(
                Arc::clone(&self.storage),
                public,
            )),
        )?;
        let list = Arc::new(MemoryCatalogProviderList::new());
        datafusion::catalog::CatalogProviderList::register_catalog(
            list.as_ref(),
            DATABASE.to_string(),
            catalog,
        );
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(Arc::clone(&self.runtime))
            .with_catalog_list(list)
            .with_default_features()
            .with_optimizer_rules(crate::latest_per_series::optimizer_rules())
            .with_physical_optimizer_rules(crate::latest_per_series::physical_optimizer_rules())
            .with_analyzer_rule(Arc::new(crate::gapfill::GapFillRule))
            .with_query_planner(Arc::new(crate::gapfill::exec::GapFillQueryPlanner))
            .build();
        let mut state = state;
        datafusion::execution::FunctionRegistry::register_expr_planner(
            &mut state,
            Arc::new(crate::pg_semantics::UntypedLiteralComparison),
        )?;
        let ctx = SessionContext::new_with_state(state);
        crate::functions::register_all(&ctx);
        ctx.add_optimizer_rule(Arc::new(crate::cagg::RollupRule));
        crate::pg_functions::register(&ctx, Arc::clone(&shared));
        ctx.register_udf(crate::extract::pg_extract_udf(settings.tz));
        ctx.register_udf(crate::functions::date_trunc_udf(settings.tz));
        ctx.register_udf(crate::functions::at_time_zone_udf(settings.tz));
        ctx.register_udf(crate::functions::age_udf(settings.tz));
        ctx.add_analyzer_rule(Arc::new(crate::pg_semantics::PgSemantics::new()));
        ctx.register_udf(crate::pg_semantics::IntervalScale::udf(false));
        ctx.register_udf(crate::pg_semantics::IntervalScale::udf(true));
        if let Err(e) = datafusion_pg_catalog::pg_catalog::setup_pg_catalog(
            &ctx,
            DATABASE,
            crate::roles::CatalogRoles(Arc::clone(&self.roles)),
        ) {
            tracing::warn!(error = %e, "pg_catalog emulation unavailable");
        }
        crate::regcast::install_type_planner(&ctx);
        crate::pg_functions::register_catalog_functions(&ctx, Arc::clone(&shared));
        ctx.register_udf(crate::expandarray::expandarray_udf());
        for f in crate::expandarray::vector_items_udfs() {
            ctx.register_udf(f);
        }
        ctx.register_udf(crate::expandarray::subscripts_udf());
        crate::tsdb_info::register(&ctx, &self.storage, &self.jobs, &self.roles);
        crate::pg_relations::register(&ctx, &self.storage);
        crate::viewdef::register(&ctx, &self.storage);
        crate::sizes::register(&ctx, &self.storage);
        ctx.register_udf(crate::pg_format::format_udf());
        Ok(ctx)
    }

    /// Plans a stored view's query (used when a statement references the view, and by
    /// every catalog query, which reads the columns of every relation). The plan is kept
    /// for the next time while the view and the catalog stay the same, if it reads Strata
    /// tables only and calls immutable functions only ([`crate::plan_cache::cacheable`]:
    /// a scan reads the table's rows when it runs, not when it is planned); planning
    /// builds a whole `SessionContext`, which made psql's `\d+` take a second with a few
    /// views.
    pub async fn plan_view(&self, view: &ViewDef) -> DfResult<LogicalPlan> {
        let catalog = self.storage.catalog();
        if let Some(p) = self.view_plans.lock().get(&view.name)
            && p.view == *view
            && Arc::ptr_eq(&p.catalog, &catalog)
        {
            return Ok(p.plan.clone());
        }
        let plan = self.plan_view_now(view).await?;
        let mut plans = self.view_plans.lock();
        plans.retain(|_, p| Arc::ptr_eq(&p.catalog, &catalog));
        if crate::plan_cache::cacheable(&plan) {
            plans.insert(
                view.name.clone(),
                ViewPlan {
                    view: view.clone(),
                    catalog,
                    plan: plan.clone(),
                },
            );
        }
        Ok(plan)
    }

    async fn plan_view_now(&self, view: &ViewDef) -> DfResult<LogicalPlan> {
        let s = Settings::default();
        let ctx = self
            .new_context(&s, Arc::new(parking_lot::RwLock::new(s.clone())), None)
            .map_err(DataFusionError::from)?;
        let planned = ctx.sql(&view.sql).await;
        release_context(&ctx);
        let plan = crate::pg_semantics::float_over_numeric(planned?.into_unoptimized_plan())?;
        // Column names: those of `CREATE VIEW v (a, b)`, then PostgreSQL's for unaliased
        // expressions (`count`, where DataFusion says `count(*)`).
        let pg_names = match sqlparser::parser::Parser::parse_sql(
            &sqlparser::dialect::PostgreSqlDialect {},
            &view.sql,
        )
        .ok()
        .and_then(|mut s| s.pop())
        {
            Some(sqlparser::ast::Statement::Query(q)) => crate::names::pg_names(&q),
            _ => None,
        }
        .unwrap_or_default();
        if view.columns.is_empty() && pg_names.iter().all(Option::is_none) {
            return Ok(plan);
        }
        let exprs: Vec<_> = plan
            .schema()
            .columns()
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let name = view
                    .columns
                    .get(i)
                    .cloned()
                    .or_else(|| pg_names.get(i).cloned().flatten())
                    .unwrap_or_else(|| c.name.clone());
                datafusion::prelude::col(c).alias(name)
            })
            .collect();
        datafusion::logical_expr::LogicalPlanBuilder::from(plan)
            .project(exprs)?
            .build()
    }
}

/// Breaks the reference cycle of a context that is no longer used: datafusion-pg-catalog's
/// `pg_catalog` schema holds the context's catalog list, which holds the schema, so a
/// dropped context (with the catalog tables the crate builds, tens of MB) would never be
/// freed. Call before dropping or replacing a context made by [`Engine::new_context`].
pub fn release_context(ctx: &SessionContext) {
    if let Some(catalog) = ctx.catalog(DATABASE) {
        // Only fails for a non-empty schema without cascade.
        let _ = catalog.deregister_schema("pg_catalog", true);
    }
}

impl From<DataFusionError> for Box<Error> {
    fn from(e: DataFusionError) -> Self {
        Box::new(Error::DataFusion(e))
    }
}

/// Used only to silence the unused warning on `CatalogProvider` in some feature sets.
#[allow(dead_code)]
fn _assert_catalog(_: &dyn CatalogProvider) {}
