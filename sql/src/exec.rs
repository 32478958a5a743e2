//! Query execution on a dedicated runtime.
//!
//! DataFusion operators are CPU-bound and do not always yield; run on the same tokio
//! runtime as the protocol handlers, a heavy join could keep every worker busy so that a
//! CancelRequest or `statement_timeout` is noticed seconds late and other connections
//! stall. Queries therefore execute on their own runtime, and batches reach the
//! connection's task through a small channel. Dropping the stream (cancel, timeout, client
//! gone) aborts the producer task; DataFusion's own spawned tasks are aborted with it.
//! Two kinds of plan run on the connection's task instead: plans that read nothing, and
//! small reads of at most one batch of rows ([`small_read`]), whose work is shorter than
//! the hand-offs; their series reads `pread` pages, normally from the page cache, on
//! that task's thread.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::session_state::SessionState;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use futures::StreamExt;
use tokio::runtime::Handle;

/// Stack size of the server's threads (tokio's default is 2 MB): planning and execution
/// recurse over expression trees, so a long generated `OR` chain or deeply nested query
/// needs the room (only the pages touched are resident). `crate::deep_expr` balances
/// long `AND`/`OR` chains, but DataFusion's filter push-down rebuilds a filter's
/// conjunction left-deep (`conjunction` folds left), and its expression simplifier then
/// recurses once per term: a 5,000-term `AND` took about 8 MB of a debug build's stack
/// while optimising on the connection's thread, hence twice that.
pub const THREAD_STACK_BYTES: usize = 16 * 1024 * 1024;

/// Creates the execution runtime (it lives as long as the process).
///
/// It has more threads than cores: a cancelled query's operators stop only at their next
/// yield point (a nested-loop join may compute a whole batch first), and the extra threads
/// let the next queries run meanwhile instead of queueing behind the abandoned work.
pub fn new_runtime(parallelism: usize) -> std::io::Result<Handle> {
    // One per process: engines (one per server; many in tests) share it, so creating
    // engines does not accumulate threads.
    static EXEC: std::sync::OnceLock<Handle> = std::sync::OnceLock::new();
    if let Some(h) = EXEC.get() {
        return Ok(h.clone());
    }
    let threads = parallelism.max(1) * 2 + 2;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_stack_size(THREAD_STACK_BYTES)
        .thread_name("strata-exec")
        .enable_all()
        .build()?;
    let handle = rt.handle().clone();
    // The runtime must outlive every engine and cannot be dropped from async code.
    std::mem::forget(rt);
    Ok(EXEC.get_or_init(|| handle).clone())
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Plans `plan` (already optimised: see [`SessionState::optimize`]) physically and
/// executes it on `exec`, returning a stream of its batches.
pub fn execute(
    exec: &Handle,
    state: SessionState,
    plan: LogicalPlan,
    schema: SchemaRef,
) -> SendableRecordBatchStream {
    spawn(exec, schema, async move {
        let physical = state
            .query_planner()
            .create_physical_plan(&plan, &state)
            .await?;
        Ok((physical, state.task_ctx()))
    })
}

/// Executes a physical plan on `exec` (a plan kept by the plan cache: a reset copy, never
/// the kept plan itself), returning a stream of its batches.
pub fn execute_physical(
    exec: &Handle,
    plan: Arc<dyn ExecutionPlan>,
    ctx: Arc<TaskContext>,
    schema: SchemaRef,
) -> SendableRecordBatchStream {
    spawn(exec, schema, async move { Ok((plan, ctx)) })
}

/// Whether `plan` reads no table: its leaves are a placeholder row or nothing (`SELECT
/// 1`). Such a plan computes a few expressions over at most one row, cheaper than the two
/// thread hand-offs of running it on the execution runtime (5-10 us of `SELECT 1`'s 0.08
/// ms when its plan comes from the plan cache), so [`execute_inline`] runs it on the
/// connection's task.
pub fn reads_nothing(plan: &Arc<dyn ExecutionPlan>) -> bool {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::physical_plan::empty::EmptyExec;
    use datafusion::physical_plan::placeholder_row::PlaceholderRowExec;
    let mut only_constants = true;
    let _ = plan.apply(|node| {
        if node.children().is_empty()
            && node.downcast_ref::<PlaceholderRowExec>().is_none()
            && node.downcast_ref::<EmptyExec>().is_none()
        {
            only_constants = false;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    only_constants
}

/// Whether `plan` is a small read best run where it was asked for: one chain of
/// operators (no joins or unions), each on one partition, over one storage scan expected
/// to read at most `batch_size` rows (`crate::row_estimate`: such a scan was planned on
/// one partition, and a kept plan is planned again when its rows outgrow that). A
/// dashboard's query for one host's hour is 0.3 ms, and running it on the execution
/// runtime cost two thread hand-offs (docs/performance.md, "Session 16").
pub fn small_read(plan: &Arc<dyn ExecutionPlan>, batch_size: usize) -> bool {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    let mut small = true;
    let _ = plan.apply(|node| {
        let fits = node.children().len() <= 1
            && node.properties().output_partitioning().partition_count() == 1
            && (!node.children().is_empty()
                || node
                    .downcast_ref::<crate::scan_exec::StorageScanExec>()
                    .is_some_and(|s| s.expected_rows() <= batch_size as u64));
        if !fits {
            small = false;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    small
}

/// Executes `plan` on the calling task, its scans bound to one storage snapshot per table:
/// for plans that [`reads_nothing`] or are a [`small_read`].
pub fn execute_inline(
    plan: Arc<dyn ExecutionPlan>,
    ctx: Arc<TaskContext>,
    schema: SchemaRef,
) -> SendableRecordBatchStream {
    match crate::scan_exec::bind_snapshots(&plan).and_then(|()| execute_stream(plan, ctx)) {
        Ok(s) => Box::pin(RecordBatchStreamAdapter::new(schema, s)),
        Err(e) => Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::once(async move { Err(e) }),
        )),
    }
}

/// Runs the plan `start` yields on `exec`, its scans bound to one storage snapshot per
/// table ([`crate::scan_exec::bind_snapshots`]), and streams its batches back.
fn spawn(
    exec: &Handle,
    schema: SchemaRef,
    start: impl Future<Output = Result<(Arc<dyn ExecutionPlan>, Arc<TaskContext>), DataFusionError>>
    + Send
    + 'static,
) -> SendableRecordBatchStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<_, DataFusionError>>(2);
    let task = exec.spawn(async move {
        let started = match start.await {
            Ok((physical, ctx)) => crate::scan_exec::bind_snapshots(&physical)
                .and_then(|()| execute_stream(physical, ctx)),
            Err(e) => Err(e),
        };
        match started {
            Ok(mut s) => {
                while let Some(b) = s.next().await {
                    let stop = b.is_err();
                    if tx.send(b).await.is_err() || stop {
                        break;
                    }
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
            }
        }
    });
    let guard = Arc::new(AbortOnDrop(task));
    let stream = futures::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        rx.recv().await.map(|b| (b, (rx, guard)))
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, stream))
}
