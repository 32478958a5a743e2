//! Per-table manifest: the list of published Parquet files, in `tables/<id>/manifest.json`.
//!
//! Invariant: a Parquet file is visible to readers iff the manifest lists it. Files are
//! written under a temporary name, fsynced and renamed before the manifest that lists them
//! is published; files not listed in the manifest at start-up are leftovers of a crash and
//! are deleted. Paths are relative to the data directory (no absolute paths persisted).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::ids::{FileId, SegmentId, TableId};

/// Version of `manifest.json` this binary writes and the newest it reads. Version 2 adds
/// `tier` to files; a manifest without cold files is still written as version 1, so an
/// older binary can open a data directory that never used the cold store.
pub const MANIFEST_FORMAT_VERSION: u32 = 2;

/// Where a file lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Local disk, under the data directory.
    #[default]
    Hot,
    /// The cold object store, under its prefix (same relative path).
    Cold,
}

impl Tier {
    pub fn is_hot(&self) -> bool {
        *self == Tier::Hot
    }

    /// `hot` or `cold`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Tier::Hot => "hot",
            Tier::Cold => "cold",
        }
    }
}

/// One published Parquet file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileMeta {
    pub id: FileId,
    /// Path relative to the data directory, `/`-separated.
    pub path: String,
    /// Start of the time partition this file belongs to (microseconds since epoch).
    pub partition: i64,
    /// Min and max of the time column in the file (microseconds); for tables without a
    /// time column both are 0.
    pub min_time: i64,
    pub max_time: i64,
    pub rows: u64,
    pub size_bytes: u64,
    #[serde(default, skip_serializing_if = "Tier::is_hot")]
    pub tier: Tier,
}

/// The manifest of one table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub table: TableId,
    pub next_file_id: u64,
    /// WAL records of this table in segments before this one are already in `files`.
    pub replay_from: SegmentId,
    pub files: Vec<FileMeta>,
}

impl Manifest {
    /// An empty manifest for a new table.
    pub fn new(table: TableId, replay_from: SegmentId) -> Self {
        Manifest {
            format_version: MANIFEST_FORMAT_VERSION,
            table,
            next_file_id: 1,
            replay_from,
            files: vec![],
        }
    }

    /// Allocates the next file id.
    pub fn allocate_file_id(&mut self) -> FileId {
        let id = FileId::new(self.next_file_id);
        self.next_file_id += 1;
        id
    }
}

/// Directory of a table inside the data directory (relative).
pub fn table_dir_rel(table: TableId) -> String {
    format!("tables/{:010}", table.as_u64())
}

/// Path of the manifest of a table.
pub fn manifest_path(data_dir: &Path, table: TableId) -> PathBuf {
    data_dir.join(table_dir_rel(table)).join("manifest.json")
}

/// Relative path of a new Parquet file.
pub fn file_path_rel(table: TableId, partition: i64, file: FileId) -> String {
    format!(
        "{}/p{}/{:020}.parquet",
        table_dir_rel(table),
        partition,
        file.as_u64()
    )
}

/// Loads a table's manifest; a missing one is an empty manifest.
pub fn load(data_dir: &Path, table: TableId) -> Result<Manifest> {
    let path = manifest_path(data_dir, table);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let v: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                    what: "manifest",
                    path: path.clone(),
                    detail: e.to_string(),
                })?;
            let version = v
                .get("format_version")
                .and_then(|v| v.as_u64())
                .unwrap_or(0) as u32;
            if version > MANIFEST_FORMAT_VERSION || version == 0 {
                return Err(Error::UnsupportedVersion {
                    what: format!("manifest {}", path.display()),
                    found: version,
                    supported: MANIFEST_FORMAT_VERSION,
                });
            }
            serde_json::from_value(v).map_err(|e| Error::Corrupt {
                what: "manifest",
                path,
                detail: e.to_string(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(Manifest::new(table, SegmentId::new(0)))
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Publishes a manifest atomically.
pub fn store(data_dir: &Path, m: &Manifest) -> Result<()> {
    let path = manifest_path(data_dir, m.table);
    let mut m = m.clone();
    m.format_version = if m.files.iter().any(|f| !f.tier.is_hot()) {
        2
    } else {
        1
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    write_atomic(&path, &serde_json::to_vec_pretty(&m)?)
}
