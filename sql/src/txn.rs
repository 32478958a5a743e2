//! Transaction blocks: rows written between `BEGIN` and `COMMIT` are buffered in the
//! session and written at `COMMIT` in one WAL record (with the states of every continuous
//! aggregate they feed), so a transaction is atomic and durable at COMMIT, and `ROLLBACK`
//! (or a dropped connection) discards it. Inside the block the session reads its own
//! buffered rows: [`SessionSchema`] overlays them on the tables and views it returns.
//!
//! Not transactional (documented in the README): DDL runs immediately, and DELETE is
//! refused inside a block. Other sessions never see uncommitted rows (read committed).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::SchemaProvider;
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result as DfResult};
use strata_storage::ids::TableId;

use crate::catalog::PublicSchema;
use crate::error::{Error, Result, SqlState};

/// Rows a transaction block has written so far.
#[derive(Debug, Default)]
pub struct TxnBuffer {
    pub writes: Vec<(TableId, RecordBatch)>,
    pub bytes: usize,
}

/// Shared between a session and a COPY in progress on its connection.
pub type TxnHandle = Arc<parking_lot::Mutex<TxnBuffer>>;

/// Largest amount of row data a transaction block may buffer.
pub const MAX_TXN_BYTES: usize = 256 * 1024 * 1024;

impl TxnBuffer {
    /// Buffers rows; fails (54000) past [`MAX_TXN_BYTES`].
    pub fn push(&mut self, table: TableId, batch: RecordBatch) -> Result<()> {
        let n = batch.get_array_memory_size();
        if self.bytes + n > MAX_TXN_BYTES {
            return Err(Error::with_hint(
                SqlState::ProgramLimitExceeded,
                format!(
                    "transaction too large: more than {} MiB of rows written in one transaction block",
                    MAX_TXN_BYTES / (1024 * 1024)
                ),
                "Commit in smaller transactions, or load with COPY outside BEGIN ... COMMIT.",
            ));
        }
        self.bytes += n;
        self.writes.push((table, batch));
        Ok(())
    }

    /// The buffered rows of one table.
    pub fn rows_of(&self, table: TableId) -> Vec<RecordBatch> {
        self.writes
            .iter()
            .filter(|(t, _)| *t == table)
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// Takes everything out (COMMIT / ROLLBACK).
    pub fn take(&mut self) -> Vec<(TableId, RecordBatch)> {
        self.bytes = 0;
        std::mem::take(&mut self.writes)
    }
}

/// A session's view of the `public` schema: the shared catalog plus its own uncommitted
/// rows.
#[derive(Debug)]
pub struct SessionSchema {
    inner: Arc<PublicSchema>,
    txn: TxnHandle,
}

impl SessionSchema {
    pub fn new(inner: Arc<PublicSchema>, txn: TxnHandle) -> Self {
        SessionSchema { inner, txn }
    }
}

#[async_trait]
impl SchemaProvider for SessionSchema {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let Some(t) = self.inner.table(name).await? else {
            return Ok(None);
        };
        if self.txn.lock().writes.is_empty() {
            return Ok(Some(t));
        }
        if let Some(ts) = t.downcast_ref::<crate::table::TsTable>() {
            let rows = self.txn.lock().rows_of(ts.def().id);
            if !rows.is_empty() {
                return Ok(Some(Arc::new(ts.with_overlay(rows))));
            }
        }
        if let Some(cv) = t.downcast_ref::<crate::cagg::CaggTable>() {
            let rows = self.txn.lock().rows_of(cv.raw_table());
            if !rows.is_empty() {
                let extra = cv
                    .states_of(rows)
                    .await
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
                return Ok(Some(Arc::new(cv.with_extra_states(extra))));
            }
        }
        Ok(Some(t))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}
