//! The persisted catalog: table definitions and view definitions, in `catalog.json`.
//!
//! The whole catalog is rewritten atomically (`fsutil::write_atomic`) on every DDL
//! statement; DDL is rare, so simplicity wins over incremental updates. Readers take an
//! `Arc<CatalogState>` snapshot; writers build a new state and swap it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::ids::TableId;
use crate::schema::TableDef;

/// Version of `catalog.json` this binary writes and the newest it reads.
/// 2 added continuous aggregates and internal tables; version 1 directories open as is.
pub const CATALOG_FORMAT_VERSION: u32 = 2;

/// A continuous aggregate (`CREATE MATERIALIZED VIEW ... WITH (timescaledb.continuous)`).
///
/// Storage keeps its definition and its internal state table; the SQL layer plans the
/// query, computes state rows for every batch written to `raw_table` and finalises them
/// on read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContinuousAggDef {
    pub name: String,
    /// The defining query as the user wrote it (after `AS`).
    pub sql: String,
    /// Column names given in `CREATE MATERIALIZED VIEW v (a, b)`, if any.
    #[serde(default)]
    pub columns: Vec<String>,
    /// The relation named in FROM: a hypertable, or another continuous aggregate.
    pub source: String,
    /// The query the states are computed from, over `raw_table` (equal to `sql` unless
    /// the view is defined over another continuous aggregate).
    pub raw_sql: String,
    /// The table whose writes maintain this view.
    pub raw_table: TableId,
    /// The internal table holding the partial aggregate states.
    pub state_table: TableId,
    /// `timescaledb.materialized_only` (reported; every view is always fresh).
    #[serde(default)]
    pub materialized_only: bool,
    /// Refresh policy (`add_continuous_aggregate_policy`), if any.
    #[serde(default)]
    pub policy: Option<RefreshPolicy>,
    /// Bucket ranges `[start, end)` (µs) whose states must be recomputed from raw data:
    /// written before a DELETE or refresh starts, cleared when it has finished, so a crash
    /// in between is repaired at the next start.
    #[serde(default)]
    pub dirty: Vec<(i64, i64)>,
}

/// A retention policy (`add_retention_policy`): partitions of `relation` (a table, or a
/// continuous aggregate's states) entirely older than `drop_after` are dropped on schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    pub job_id: i64,
    /// The table or continuous aggregate, by name.
    pub relation: String,
    /// The interval as the user gave it (`90 days`).
    pub drop_after: String,
    pub schedule_interval: String,
}

/// A tiering policy (`add_tiering_policy`): partitions of a table entirely older than
/// `move_after` are moved to the cold object store on schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TieringPolicy {
    pub job_id: i64,
    /// The table, by name.
    pub relation: String,
    /// The interval as the user gave it (`7 days`).
    pub move_after: String,
    pub schedule_interval: String,
}

/// A continuous aggregate refresh policy, as given to `add_continuous_aggregate_policy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshPolicy {
    pub job_id: i64,
    /// Offsets as the user gave them (interval text, or NULL).
    pub start_offset: Option<String>,
    pub end_offset: Option<String>,
    pub schedule_interval: String,
}

/// A persisted SQL view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewDef {
    pub name: String,
    /// The view's defining query, as the user wrote it (after `AS`).
    pub sql: String,
    /// Column names given in `CREATE VIEW v (a, b)`, if any.
    #[serde(default)]
    pub columns: Vec<String>,
}

/// An immutable snapshot of the catalog.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CatalogState {
    pub format_version: u32,
    pub next_table_id: u64,
    pub tables: Vec<Arc<TableDef>>,
    #[serde(default)]
    pub views: Vec<ViewDef>,
    #[serde(default)]
    pub caggs: Vec<ContinuousAggDef>,
    #[serde(default)]
    pub retention: Vec<RetentionPolicy>,
    #[serde(default)]
    pub tiering: Vec<TieringPolicy>,
    /// Jobs paused by `alter_job(id, scheduled => false)`: the scheduler skips them
    /// (`CALL run_job` still runs them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paused_jobs: Vec<i64>,
    /// Next job id for policies (TimescaleDB numbers its jobs from 1000).
    #[serde(default = "first_job_id")]
    pub next_job_id: i64,
}

fn first_job_id() -> i64 {
    1000
}

impl CatalogState {
    /// Looks a table up by name.
    pub fn table(&self, name: &str) -> Option<&Arc<TableDef>> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Looks a table up by id.
    pub fn table_by_id(&self, id: TableId) -> Option<&Arc<TableDef>> {
        self.tables.iter().find(|t| t.id == id)
    }

    /// Looks a view up by name.
    pub fn view(&self, name: &str) -> Option<&ViewDef> {
        self.views.iter().find(|v| v.name == name)
    }

    /// Looks a continuous aggregate up by name.
    pub fn cagg(&self, name: &str) -> Option<&ContinuousAggDef> {
        self.caggs.iter().find(|v| v.name == name)
    }

    /// The continuous aggregates maintained by writes to `table`.
    pub fn caggs_of(&self, table: TableId) -> impl Iterator<Item = &ContinuousAggDef> {
        self.caggs.iter().filter(move |c| c.raw_table == table)
    }

    /// True if a table, view or continuous aggregate has this name.
    pub fn relation_exists(&self, name: &str) -> bool {
        self.table(name).is_some() || self.view(name).is_some() || self.cagg(name).is_some()
    }
}

/// Where the catalog lives in a data directory.
pub fn catalog_path(data_dir: &Path) -> PathBuf {
    data_dir.join("catalog.json")
}

/// Loads the catalog, or returns an empty one if the directory is new.
pub fn load(data_dir: &Path) -> Result<CatalogState> {
    let path = catalog_path(data_dir);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let v: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                    what: "catalog",
                    path: path.clone(),
                    detail: e.to_string(),
                })?;
            let version = v
                .get("format_version")
                .and_then(|v| v.as_u64())
                .unwrap_or(0) as u32;
            if version > CATALOG_FORMAT_VERSION || version == 0 {
                return Err(Error::UnsupportedVersion {
                    what: format!("catalog {}", path.display()),
                    found: version,
                    supported: CATALOG_FORMAT_VERSION,
                });
            }
            serde_json::from_value(v).map_err(|e| Error::Corrupt {
                what: "catalog",
                path,
                detail: e.to_string(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CatalogState {
            format_version: CATALOG_FORMAT_VERSION,
            next_table_id: 1,
            tables: vec![],
            views: vec![],
            caggs: vec![],
            retention: vec![],
            tiering: vec![],
            paused_jobs: vec![],
            next_job_id: first_job_id(),
        }),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Persists the catalog atomically.
pub fn store(data_dir: &Path, state: &CatalogState) -> Result<()> {
    let mut state = state.clone();
    state.format_version = CATALOG_FORMAT_VERSION;
    let bytes = serde_json::to_vec_pretty(&state)?;
    write_atomic(&catalog_path(data_dir), &bytes)
}
