//! Storage errors. Each carries an [`ErrorKind`] that the SQL layer maps to a SQLSTATE.

use std::path::PathBuf;

/// Coarse classification of a storage error, for SQLSTATE mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    AlreadyExists,
    InvalidInput,
    NotNull,
    /// A value longer than its column's declared length (SQLSTATE 22001).
    TooLong,
    /// A primary key value is already stored (SQLSTATE 23505).
    UniqueViolation,
    Corrupt,
    Io,
    Unsupported,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("relation \"{0}\" does not exist")]
    TableNotFound(String),
    #[error("relation \"{0}\" already exists")]
    TableExists(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error(
        "null value in column \"{column}\" of relation \"{table}\" violates not-null constraint"
    )]
    NotNull { table: String, column: String },
    /// A value longer than a `varchar(n)` column allows; `ty` is the type as PostgreSQL
    /// names it (`character varying(20)`).
    #[error("value too long for type {ty}")]
    TooLong { ty: String },
    /// A row's primary key is already stored (or repeated in the same write). `key` is
    /// one row holding the key columns of the offending row, for the error's DETAIL.
    #[error("duplicate key value violates unique constraint \"{constraint}\"")]
    UniqueViolation {
        constraint: String,
        key: arrow::array::RecordBatch,
    },
    /// ADD PRIMARY KEY over a column holding NULLs.
    #[error("column \"{column}\" of relation \"{table}\" contains null values")]
    NullsInKey { table: String, column: String },
    /// ADD PRIMARY KEY over rows with a repeated key; `key` is one row holding it.
    #[error("could not create unique index \"{index}\"")]
    DuplicateKey {
        index: String,
        key: arrow::array::RecordBatch,
    },
    #[error("corrupt {what} at {path}: {detail}")]
    Corrupt {
        what: &'static str,
        path: PathBuf,
        detail: String,
    },
    #[error(
        "{what} has format version {found}, but this Strata binary understands versions up to {supported}; upgrade Strata to open this data directory"
    )]
    UnsupportedVersion {
        what: String,
        found: u32,
        supported: u32,
    },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("Parquet error: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("object store error: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("serialization error: {0}")]
    Serde(#[from] serde_json::Error),
    #[error("storage is shutting down")]
    ShuttingDown,
    #[error("internal storage error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Classifies the error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::TableNotFound(_) => ErrorKind::NotFound,
            Error::TableExists(_) => ErrorKind::AlreadyExists,
            Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::NotNull { .. } | Error::NullsInKey { .. } => ErrorKind::NotNull,
            Error::UniqueViolation { .. } | Error::DuplicateKey { .. } => {
                ErrorKind::UniqueViolation
            }
            Error::TooLong { .. } => ErrorKind::TooLong,
            Error::Corrupt { .. } | Error::Serde(_) => ErrorKind::Corrupt,
            Error::UnsupportedVersion { .. } => ErrorKind::Unsupported,
            Error::Io { .. } | Error::ObjectStore(_) => ErrorKind::Io,
            Error::Arrow(_) | Error::Parquet(_) | Error::ShuttingDown | Error::Internal(_) => {
                ErrorKind::Internal
            }
        }
    }

    /// A copy carrying the same kind and message (errors with sources are not `Clone`).
    pub fn clone_kind(e: &Error) -> Error {
        match e {
            Error::TableNotFound(s) => Error::TableNotFound(s.clone()),
            Error::TableExists(s) => Error::TableExists(s.clone()),
            Error::InvalidInput(s) => Error::InvalidInput(s.clone()),
            Error::NotNull { table, column } => Error::NotNull {
                table: table.clone(),
                column: column.clone(),
            },
            Error::TooLong { ty } => Error::TooLong { ty: ty.clone() },
            Error::UniqueViolation { constraint, key } => Error::UniqueViolation {
                constraint: constraint.clone(),
                key: key.clone(),
            },
            Error::NullsInKey { table, column } => Error::NullsInKey {
                table: table.clone(),
                column: column.clone(),
            },
            Error::DuplicateKey { index, key } => Error::DuplicateKey {
                index: index.clone(),
                key: key.clone(),
            },
            Error::Corrupt { what, path, detail } => Error::Corrupt {
                what,
                path: path.clone(),
                detail: detail.clone(),
            },
            Error::UnsupportedVersion {
                what,
                found,
                supported,
            } => Error::UnsupportedVersion {
                what: what.clone(),
                found: *found,
                supported: *supported,
            },
            Error::Io { path, source } => Error::Io {
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            other => Error::Internal(other.to_string()),
        }
    }

    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
