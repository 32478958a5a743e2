//! Server configuration: command-line flags, an optional TOML file, and defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub pg_addr: SocketAddr,
    /// Memory for memtables before writers wait for a flush.
    pub memtable_budget_bytes: usize,
    /// Memory for query execution.
    pub query_memory_bytes: usize,
    /// Seconds after which a memtable is flushed even if small.
    pub flush_interval_secs: u64,
    /// `always` (default) or `never` (acknowledge before fsync; for bulk loads).
    pub fsync: String,
    /// Largest protocol message accepted from a client.
    pub max_message_bytes: usize,
    /// Maximum concurrent client connections.
    pub max_connections: usize,
    /// Where cold partitions go: `file:///dir`, `s3://bucket/prefix`, `gs://...`,
    /// `az://...`. `None`: `<data_dir>/cold`.
    pub cold_store: Option<String>,
    /// object_store options for the cold store (`aws_endpoint`, `aws_region`, ...), on
    /// top of the environment.
    pub cold_store_options: Vec<(String, String)>,
    /// Memory for cached blocks of cold files that queries read.
    pub cold_cache_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./strata-data"),
            pg_addr: "127.0.0.1:5433"
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 5433))),
            memtable_budget_bytes: 512 * 1024 * 1024,
            query_memory_bytes: 2 * 1024 * 1024 * 1024,
            flush_interval_secs: 300,
            fsync: "always".into(),
            max_message_bytes: 64 * 1024 * 1024,
            max_connections: 256,
            cold_store: None,
            cold_store_options: vec![],
            cold_cache_bytes: 256 * 1024 * 1024,
        }
    }
}

/// The `[server]`-less flat TOML file format; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    pg_addr: Option<String>,
    memtable_budget_mb: Option<usize>,
    query_memory_mb: Option<usize>,
    flush_interval_secs: Option<u64>,
    fsync: Option<String>,
    max_message_mb: Option<usize>,
    max_connections: Option<usize>,
    cold_store: Option<String>,
    cold_cache_mb: Option<usize>,
    /// `[cold_store_options]` table: object_store keys and string values.
    cold_store_options: Option<std::collections::BTreeMap<String, String>>,
}

impl Config {
    /// Applies a TOML config file on top of the defaults.
    pub fn load_file(mut self, path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        let f: FileConfig = toml::from_str(&text)
            .map_err(|e| format!("invalid config file {}: {e}", path.display()))?;
        if let Some(v) = f.data_dir {
            self.data_dir = v;
        }
        if let Some(v) = f.pg_addr {
            self.pg_addr = v
                .parse()
                .map_err(|e| format!("invalid pg_addr {v:?} in {}: {e}", path.display()))?;
        }
        if let Some(v) = f.memtable_budget_mb {
            self.memtable_budget_bytes = v * 1024 * 1024;
        }
        if let Some(v) = f.query_memory_mb {
            self.query_memory_bytes = v * 1024 * 1024;
        }
        if let Some(v) = f.flush_interval_secs {
            self.flush_interval_secs = v;
        }
        if let Some(v) = f.fsync {
            self.fsync = v;
        }
        if let Some(v) = f.max_message_mb {
            self.max_message_bytes = v * 1024 * 1024;
        }
        if let Some(v) = f.max_connections {
            self.max_connections = v;
        }
        if let Some(v) = f.cold_store {
            self.cold_store = Some(v);
        }
        if let Some(v) = f.cold_cache_mb {
            self.cold_cache_bytes = v * 1024 * 1024;
        }
        if let Some(v) = f.cold_store_options {
            self.cold_store_options = v.into_iter().collect();
        }
        self.validate()?;
        Ok(self)
    }

    /// Checks values that cannot be expressed in types.
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.fsync.as_str(), "always" | "never") {
            return Err(format!(
                "fsync must be 'always' or 'never', not {:?}",
                self.fsync
            ));
        }
        if self.memtable_budget_bytes < 1024 * 1024 {
            return Err("memtable budget must be at least 1 MB".into());
        }
        Ok(())
    }
}
