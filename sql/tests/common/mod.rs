//! Set-up shared by the engine-level tests: an engine on a temporary data directory (no
//! fsync, no network) and a single-threaded runtime to drive it.
#![allow(dead_code)] // each test file uses its own part

use std::sync::Arc;

use datafusion::arrow::util::pretty::pretty_format_batches;
use futures::TryStreamExt;
use strata_sql::{Engine, EngineOptions, Output, Session};
use strata_storage::wal::FsyncPolicy;
use strata_storage::{Storage, StorageConfig};

/// An engine, the runtime that drives it and its data directory (removed on drop).
pub struct TestEngine {
    pub rt: tokio::runtime::Runtime,
    pub engine: Arc<Engine>,
    _dir: tempfile::TempDir,
}

impl TestEngine {
    /// A fresh engine whose queries may use `query_memory_bytes`, on two partitions.
    pub fn new(query_memory_bytes: usize) -> TestEngine {
        TestEngine::with_partitions(query_memory_bytes, 2)
    }

    /// A fresh engine whose queries may use `query_memory_bytes` and `target_partitions`
    /// partitions (one, as on a one-core machine).
    pub fn with_partitions(query_memory_bytes: usize, target_partitions: usize) -> TestEngine {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = StorageConfig::new(dir.path());
        cfg.fsync = FsyncPolicy::Never;
        let storage = Storage::open(cfg).expect("open storage");
        let engine = Engine::new(
            storage,
            EngineOptions {
                query_memory_bytes,
                target_partitions,
            },
        )
        .expect("engine");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        TestEngine {
            rt,
            engine,
            _dir: dir,
        }
    }
}

/// Runs every statement of `sql`; the text of the last one's rows.
pub async fn run(session: &mut Session, sql: &str) -> String {
    let stmts = session.parse(sql).expect("parse");
    let mut out = String::new();
    for s in &stmts {
        out = match session.execute(s).await.expect("execute") {
            Output::Rows { stream, .. } => {
                let batches: Vec<_> = stream.try_collect().await.expect("rows");
                pretty_format_batches(&batches).expect("format").to_string()
            }
            _ => String::new(),
        };
    }
    out
}
