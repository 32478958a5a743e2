//! # strata-storage
//!
//! Durable storage of time-series tables; knows Arrow, Parquet and the filesystem, no SQL.
//!
//! - Write path: validate → WAL record (Arrow IPC, lz4, CRC32C, group-committed fsync) →
//!   memtable of the time partition → acknowledgement ([`Storage::write`]).
//! - Flush: memtables → sorted Parquet files (ZSTD, page statistics) → manifest published
//!   atomically → WAL segments removed ([`Storage::checkpoint`]).
//! - Read path: [`ReadSnapshot`] = memtable batches + Parquet files of the partitions that
//!   overlap the query's time range, taken under one lock so each row is seen once.
//! - Every persisted format (catalog, manifest, WAL segment) carries a version; a newer
//!   version than this binary knows is refused with a clear error.
//!
//! Data directory layout:
//! ```text
//! catalog.json                        tables and views (atomic rewrite)
//! wal/<segment>.wal                   write-ahead log segments
//! tables/<table id>/manifest.json     published Parquet files of the table
//! tables/<table id>/p<partition start µs>/<file id>.parquet
//! ```
//!
//! Cold files (moved by a tiering policy) live in the cold object store at the same
//! relative path; the manifest marks them `"tier": "cold"` (see [`cold`]).

pub mod catalog;
pub mod cold;
pub mod cold_cache;
pub mod engine;
pub mod error;
pub mod fsutil;
pub mod ids;
pub mod manifest;
pub mod parquet_io;
pub mod schema;
pub mod wal;

pub use catalog::{
    CatalogState, ContinuousAggDef, RefreshPolicy, RetentionPolicy, TieringPolicy, ViewDef,
};
pub use engine::{
    ChunkInfo, Compactor, Extent, KeyGuard, KeyLookup, ReadSnapshot, RowOutline, Storage,
    StorageConfig, StorageStats, TimeRange, UpdateFn, check_columns, encode_keys,
};
pub use error::{Error, ErrorKind, Result};
pub use schema::{ColumnDef, ColumnDefault, ColumnType, RawSchema, TableDef};
