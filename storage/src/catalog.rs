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
pub const CATALOG_FORMAT_VERSION: u32 = 1;

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

    /// True if a table or view has this name.
    pub fn relation_exists(&self, name: &str) -> bool {
        self.table(name).is_some() || self.view(name).is_some()
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
        }),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Persists the catalog atomically.
pub fn store(data_dir: &Path, state: &CatalogState) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(state)?;
    write_atomic(&catalog_path(data_dir), &bytes)
}
