//! Transaction blocks: rows written between `BEGIN` and `COMMIT` are buffered in the
//! session and written at `COMMIT` in one WAL record (with the states of every continuous
//! aggregate they feed), so a transaction is atomic and durable at COMMIT, and `ROLLBACK`
//! (or a dropped connection) discards it. Inside the block the session reads its own
//! buffered rows: [`SessionSchema`] overlays them on the tables and views it returns.
//!
//! UPDATE and TRUNCATE inside a block are kept as [`PendingOp`]s: the block's own rows are
//! changed at once (an UPDATE rewrites the buffered rows it selects, a TRUNCATE drops the
//! buffered rows of its table), the stored rows at COMMIT, before the buffered rows are
//! written. Meanwhile the session reads stored rows through the pending operations
//! ([`SessionSchema`] plans an UPDATE as a projection over the table). At COMMIT each
//! UPDATE is evaluated again over the rows then stored, so it also changes rows that
//! other sessions committed in between (as PostgreSQL's READ COMMITTED re-checks rows
//! updated concurrently). COMMIT applies the operations one by one: each is atomic and
//! durable, but a crash or an error in the middle of a COMMIT can leave the earlier ones
//! applied and the later ones and the block's new rows not.
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

/// A change of stored rows made inside a transaction block, applied at COMMIT.
#[derive(Debug, Clone)]
pub enum PendingOp {
    Truncate(TableId),
    Update(Arc<crate::dml::Update>),
}

impl PendingOp {
    fn table(&self) -> TableId {
        match self {
            PendingOp::Truncate(t) => *t,
            PendingOp::Update(u) => u.def.id,
        }
    }
}

/// Rows a transaction block has written so far, and its pending UPDATEs and TRUNCATEs.
#[derive(Debug, Default)]
pub struct TxnBuffer {
    pub writes: Vec<(TableId, RecordBatch)>,
    pub bytes: usize,
    pub ops: Vec<PendingOp>,
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

    /// Takes everything out (COMMIT / ROLLBACK): the pending operations, to apply first,
    /// and the rows.
    pub fn take(&mut self) -> (Vec<PendingOp>, Vec<(TableId, RecordBatch)>) {
        self.bytes = 0;
        (
            std::mem::take(&mut self.ops),
            std::mem::take(&mut self.writes),
        )
    }

    /// TRUNCATE inside the block: drops the block's rows of `table`.
    pub fn truncate(&mut self, table: TableId) {
        self.writes.retain(|(t, _)| *t != table);
        self.bytes = self
            .writes
            .iter()
            .map(|(_, b)| b.get_array_memory_size())
            .sum();
        self.ops.push(PendingOp::Truncate(table));
    }

    /// UPDATE inside the block: changes the block's rows it selects (`compiled`) now and
    /// keeps `update` for the stored rows. Returns how many of the block's rows changed.
    pub fn update(
        &mut self,
        update: Arc<crate::dml::Update>,
        compiled: &crate::dml::CompiledUpdate,
    ) -> Result<u64> {
        let table = update.def.id;
        let mut n = 0;
        for (t, b) in self.writes.iter_mut() {
            if *t == table {
                n += compiled.apply_in_place(std::slice::from_mut(b))?;
            }
        }
        self.ops.push(PendingOp::Update(update));
        Ok(n)
    }

    /// Was `table` truncated in this block? (Its stored rows are then invisible.)
    pub fn truncated(&self, table: TableId) -> bool {
        self.ops
            .iter()
            .any(|o| matches!(o, PendingOp::Truncate(t) if *t == table))
    }

    /// The pending UPDATEs of `table` since its last TRUNCATE in the block, in order.
    fn updates_of(&self, table: TableId) -> Vec<Arc<crate::dml::Update>> {
        let ops: Vec<&PendingOp> = self.ops.iter().filter(|o| o.table() == table).collect();
        let from = ops
            .iter()
            .rposition(|o| matches!(o, PendingOp::Truncate(_)))
            .map_or(0, |i| i + 1);
        ops[from..]
            .iter()
            .filter_map(|o| match o {
                PendingOp::Update(u) => Some(Arc::clone(u)),
                PendingOp::Truncate(_) => None,
            })
            .collect()
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
        {
            let txn = self.txn.lock();
            if txn.writes.is_empty() && txn.ops.is_empty() {
                return Ok(Some(t));
            }
        }
        if let Some(ts) = t.downcast_ref::<crate::table::TsTable>() {
            let id = ts.def().id;
            let (rows, truncated, updates) = {
                let txn = self.txn.lock();
                (txn.rows_of(id), txn.truncated(id), txn.updates_of(id))
            };
            if truncated || !updates.is_empty() {
                return Ok(Some(pending_view(&t, ts, rows, truncated, &updates)?));
            }
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

/// A table as a transaction block with pending TRUNCATE/UPDATEs sees it: the stored rows
/// (none after a TRUNCATE) through the UPDATEs' projections, plus the block's own rows.
fn pending_view(
    stored: &Arc<dyn TableProvider>,
    ts: &crate::table::TsTable,
    rows: Vec<RecordBatch>,
    truncated: bool,
    updates: &[Arc<crate::dml::Update>],
) -> DfResult<Arc<dyn TableProvider>> {
    use datafusion::datasource::{MemTable, ViewTable, provider_as_source};
    use datafusion::logical_expr::LogicalPlanBuilder;
    let def = ts.def();
    let schema = def.arrow_schema();
    let own = Arc::new(MemTable::try_new(Arc::clone(&schema), vec![rows])?);
    if truncated {
        return Ok(own);
    }
    let mut plan = LogicalPlanBuilder::scan(
        def.name.as_str(),
        provider_as_source(Arc::clone(stored)),
        None,
    )?;
    for u in updates {
        // Each projection keeps the table's name as the qualifier of its columns.
        plan = plan.project(u.projection())?.alias(def.name.as_str())?;
    }
    let plan = plan
        .union(
            LogicalPlanBuilder::scan(def.name.as_str(), provider_as_source(own), None)?.build()?,
        )?
        .build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}
