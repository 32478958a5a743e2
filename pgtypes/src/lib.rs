//! # strata-pgtypes
//!
//! The PostgreSQL value codec over Arrow, shared by the wire layer (result rows, bind
//! parameters) and the SQL layer (INSERT literals, COPY data):
//!
//! - [`oid`]: Arrow field → PostgreSQL type OID / typlen / name.
//! - [`encode`]: Arrow value → PostgreSQL text (byte-identical to PostgreSQL 15) or binary.
//! - [`decode`]: PostgreSQL text or binary value → Arrow value (builders).
//! - [`copy`]: COPY text/CSV framing → Arrow `RecordBatch`.
//!
//! Why not `arrow-pg`: its text output differs from PostgreSQL where clients notice
//! (timestamps rendered with `.000000`, float8 `4` as `4.0`), and the text output is the
//! contract psql/psycopg/pgjdbc users see. This crate owns that contract.

pub mod calendar;
pub mod copy;
pub mod decode;
pub mod encode;
pub mod oid;
pub mod tz;

#[cfg(test)]
mod test_rng;
