//! The `public` schema as DataFusion sees it: tables and views from the storage catalog,
//! looked up on every statement so DDL in one session is visible to all others.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::catalog::SchemaProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result as DfResult};
use strata_storage::Storage;

use crate::engine::Engine;
use crate::table::TsTable;

/// Schema provider over the storage catalog.
#[derive(Debug)]
pub struct PublicSchema {
    storage: Arc<Storage>,
    engine: Weak<Engine>,
}

impl PublicSchema {
    pub fn new(storage: Arc<Storage>, engine: Weak<Engine>) -> Self {
        PublicSchema { storage, engine }
    }
}

#[async_trait]
impl SchemaProvider for PublicSchema {
    fn table_names(&self) -> Vec<String> {
        let cat = self.storage.catalog();
        cat.tables
            .iter()
            .filter(|t| !t.internal)
            .map(|t| t.name.clone())
            .chain(cat.views.iter().map(|v| v.name.clone()))
            .chain(cat.caggs.iter().map(|v| v.name.clone()))
            .collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let cat = self.storage.catalog();
        if let Some(def) = cat.table(name).filter(|d| !d.internal) {
            return Ok(Some(Arc::new(
                TsTable::new(Arc::clone(&self.storage), Arc::clone(def)).snapshot_at_execution(),
            )));
        }
        if let Some(view) = cat.view(name) {
            let engine = self
                .engine
                .upgrade()
                .ok_or_else(|| DataFusionError::Execution("engine is shutting down".into()))?;
            let plan = engine.plan_view(view).await?;
            return Ok(Some(Arc::new(ViewTable::new(plan, Some(view.sql.clone())))));
        }
        if let Some(cagg) = cat.cagg(name) {
            let engine = self
                .engine
                .upgrade()
                .ok_or_else(|| DataFusionError::Execution("engine is shutting down".into()))?;
            let compiled = engine
                .caggs()
                .compiled(&engine, cagg)
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            return Ok(Some(Arc::new(crate::cagg::CaggTable::new(
                Arc::clone(&self.storage),
                compiled,
            ))));
        }
        Ok(None)
    }

    fn table_exist(&self, name: &str) -> bool {
        let cat = self.storage.catalog();
        cat.relation_exists(name) && !cat.table(name).is_some_and(|t| t.internal)
    }
}
