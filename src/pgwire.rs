//! The PostgreSQL front end: protocol handlers over [`strata_sql::Session`].
//!
//! - [`startup`]: connection start-up, ParameterStatus, per-connection state, cancel keys.
//! - [`handler`]: simple and extended query, COPY, cancel; thin: parse → session → encode.
//! - [`encode`]: Arrow batches → DataRow messages (text or binary per column).
//! - [`error`]: the only place a `PgWireError` is built from an SQL-layer error.

pub mod encode;
pub mod error;
pub mod handler;
pub mod startup;
