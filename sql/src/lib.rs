//! # strata-sql
//!
//! Turns SQL into work on `strata-storage`:
//!
//! - [`session::Session::parse`] parses with sqlparser's PostgreSQL dialect.
//! - Our own statements: DDL ([`ddl`]: CREATE/DROP/ALTER TABLE, views, `create_hypertable`),
//!   INSERT ([`fast_insert`] builds Arrow arrays straight from VALUES; [`dml`] handles
//!   `INSERT ... SELECT`), DELETE, COPY set-up, SET/SHOW/RESET ([`settings`]).
//! - Queries are planned by DataFusion over [`table::TsTable`] providers that prune time
//!   partitions and files by the filters and union memtables with Parquet.
//! - [`cagg`]: continuous aggregates, maintained in the write path as partial states.
//! - [`jobs`]: policies (refresh, retention, tiering) run on schedule, with their statistics.
//! - [`error`] maps every failure to a SQLSTATE, in one place.

pub mod bpchar;
pub mod cagg;
pub mod catalog;
pub mod cursor;
pub mod ddl;
pub mod deep_expr;
pub mod dml;
pub mod engine;
pub mod error;
pub mod exec;
pub mod expandarray;
pub mod extract;
pub mod fast_insert;
pub mod fast_scan;
pub mod file_adapter;
pub mod functions;
pub mod gapfill;
pub mod hot_store;
pub mod info_schema;
pub mod jobs;
pub mod json_ops;
pub mod latest_per_series;
pub mod names;
pub mod params;
pub mod pg_format;
pub mod pg_functions;
pub mod pg_relations;
pub mod pg_roles;
pub mod pg_semantics;
pub mod pg_types;
pub mod plan_cache;
pub mod prepared_view;
pub mod regcast;
pub mod rewrite;
pub mod role_ddl;
pub mod roles;
pub mod row_estimate;
pub mod scan_exec;
pub mod series_scan;
pub mod session;
pub mod settings;
pub mod sizes;
pub mod sql_prepare;
pub mod table;
pub mod to_char;
pub mod tsdb_info;
pub mod txn;
pub mod upsert;
pub mod utility;
pub mod viewdef;

pub use engine::{Engine, EngineOptions};
pub use error::{Error, Result, SqlState};
pub use session::{CopyFormat, CopyIn, CopySpec, Output, Prepared, Session, Stmt};
