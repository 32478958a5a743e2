//! Errors of the SQL layer and the one place where every error gets its SQLSTATE.
//!
//! The wire layer turns an [`Error`] into an ErrorResponse with `error.sqlstate()` and
//! `error.to_string()`; nothing else decides a SQLSTATE. Internal errors (bugs, I/O) keep
//! their message so an operator can act on it, but are tagged XX000/58030.

use datafusion::error::DataFusionError;

/// A PostgreSQL SQLSTATE that Strata emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SqlState {
    SyntaxError,
    UndefinedTable,
    UndefinedColumn,
    UndefinedFunction,
    UndefinedObject,
    /// 3F000 (e.g. `'x'::regnamespace` for a schema that does not exist).
    InvalidSchemaName,
    DuplicateTable,
    DuplicateColumn,
    DuplicateObject,
    DatatypeMismatch,
    InvalidTextRepresentation,
    InvalidDatetimeFormat,
    DatetimeFieldOverflow,
    NumericValueOutOfRange,
    StringDataRightTruncation,
    InvalidParameterValue,
    NotNullViolation,
    UniqueViolation,
    CardinalityViolation,
    DivisionByZero,
    InvalidArgumentForPowerFunction,
    FeatureNotSupported,
    QueryCanceled,
    OutOfMemory,
    ProtocolViolation,
    InvalidColumnReference,
    WrongObjectType,
    InvalidTableDefinition,
    BadCopyFileFormat,
    InsufficientPrivilege,
    InvalidTransactionState,
    ReadOnlySqlTransaction,
    DataCorrupted,
    IoError,
    Internal,
    AmbiguousColumn,
    GroupingError,
    InFailedTransaction,
    InvalidRowCountInLimit,
    DependentObjectsStillExist,
    ProgramLimitExceeded,
    StatementTooComplex,
    NoActiveSqlTransaction,
    ActiveSqlTransaction,
    DuplicateCursor,
    InvalidCursorName,
    InvalidSqlStatementName,
    DuplicatePreparedStatement,
    UndefinedParameter,
}

impl SqlState {
    /// The five-character code.
    pub fn code(&self) -> &'static str {
        match self {
            SqlState::SyntaxError => "42601",
            SqlState::UndefinedTable => "42P01",
            SqlState::UndefinedColumn => "42703",
            SqlState::UndefinedFunction => "42883",
            SqlState::UndefinedObject => "42704",
            SqlState::InvalidSchemaName => "3F000",
            SqlState::DuplicateTable => "42P07",
            SqlState::DuplicateColumn => "42701",
            SqlState::DuplicateObject => "42710",
            SqlState::DatatypeMismatch => "42804",
            SqlState::InvalidTextRepresentation => "22P02",
            SqlState::InvalidDatetimeFormat => "22007",
            SqlState::DatetimeFieldOverflow => "22008",
            SqlState::NumericValueOutOfRange => "22003",
            SqlState::StringDataRightTruncation => "22001",
            SqlState::InvalidParameterValue => "22023",
            SqlState::NotNullViolation => "23502",
            SqlState::UniqueViolation => "23505",
            SqlState::CardinalityViolation => "21000",
            SqlState::DivisionByZero => "22012",
            SqlState::InvalidArgumentForPowerFunction => "2201F",
            SqlState::DependentObjectsStillExist => "2BP01",
            SqlState::ProgramLimitExceeded => "54000",
            SqlState::StatementTooComplex => "54001",
            SqlState::FeatureNotSupported => "0A000",
            SqlState::QueryCanceled => "57014",
            SqlState::OutOfMemory => "53200",
            SqlState::ProtocolViolation => "08P01",
            SqlState::UndefinedParameter => "42P02",
            SqlState::InvalidColumnReference => "42P10",
            SqlState::WrongObjectType => "42809",
            SqlState::InvalidTableDefinition => "42P16",
            SqlState::BadCopyFileFormat => "22P04",
            SqlState::InsufficientPrivilege => "42501",
            SqlState::InvalidTransactionState => "25000",
            SqlState::ReadOnlySqlTransaction => "25006",
            SqlState::DataCorrupted => "XX001",
            SqlState::IoError => "58030",
            SqlState::Internal => "XX000",
            SqlState::AmbiguousColumn => "42702",
            SqlState::GroupingError => "42803",
            SqlState::InFailedTransaction => "25P02",
            SqlState::NoActiveSqlTransaction => "25P01",
            SqlState::ActiveSqlTransaction => "25001",
            SqlState::DuplicateCursor => "42P03",
            SqlState::InvalidCursorName => "34000",
            SqlState::InvalidSqlStatementName => "26000",
            SqlState::DuplicatePreparedStatement => "42P05",
            SqlState::InvalidRowCountInLimit => "2201W",
        }
    }

    /// Every variant, for tests.
    pub const ALL: &'static [SqlState] = &[
        SqlState::SyntaxError,
        SqlState::UndefinedTable,
        SqlState::UndefinedColumn,
        SqlState::UndefinedFunction,
        SqlState::UndefinedObject,
        SqlState::InvalidSchemaName,
        SqlState::DuplicateTable,
        SqlState::DuplicateColumn,
        SqlState::DuplicateObject,
        SqlState::DatatypeMismatch,
        SqlState::InvalidTextRepresentation,
        SqlState::InvalidDatetimeFormat,
        SqlState::DatetimeFieldOverflow,
        SqlState::NumericValueOutOfRange,
        SqlState::StringDataRightTruncation,
        SqlState::InvalidParameterValue,
        SqlState::NotNullViolation,
        SqlState::UniqueViolation,
        SqlState::CardinalityViolation,
        SqlState::DivisionByZero,
        SqlState::InvalidArgumentForPowerFunction,
        SqlState::FeatureNotSupported,
        SqlState::QueryCanceled,
        SqlState::OutOfMemory,
        SqlState::ProtocolViolation,
        SqlState::InvalidColumnReference,
        SqlState::WrongObjectType,
        SqlState::InvalidTableDefinition,
        SqlState::BadCopyFileFormat,
        SqlState::InsufficientPrivilege,
        SqlState::InvalidTransactionState,
        SqlState::ReadOnlySqlTransaction,
        SqlState::DataCorrupted,
        SqlState::IoError,
        SqlState::Internal,
        SqlState::AmbiguousColumn,
        SqlState::GroupingError,
        SqlState::InFailedTransaction,
        SqlState::InvalidRowCountInLimit,
        SqlState::DependentObjectsStillExist,
        SqlState::ProgramLimitExceeded,
        SqlState::StatementTooComplex,
        SqlState::NoActiveSqlTransaction,
        SqlState::DuplicateCursor,
        SqlState::InvalidCursorName,
        SqlState::InvalidSqlStatementName,
        SqlState::DuplicatePreparedStatement,
    ];
}

/// An error of the SQL layer, always carrying a SQLSTATE and a user-facing message.
/// The HINT and DETAIL lines of a user-facing error.
#[derive(Debug, Default)]
pub struct Notes {
    pub hint: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A user-facing error with an explicit SQLSTATE.
    #[error("{message}")]
    User {
        state: SqlState,
        message: String,
        /// HINT and DETAIL, boxed: results of `Error` are in every future of the engine,
        /// whose size (stack, in debug builds) this keeps small.
        notes: Option<Box<Notes>>,
    },
    /// An error from the query engine; its SQLSTATE is derived by [`sqlstate_of_datafusion`].
    #[error("{}", clean_datafusion_message(.0))]
    DataFusion(#[from] DataFusionError),
    /// An error from Arrow.
    #[error("{0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// An error from storage.
    #[error("{0}")]
    Storage(#[from] strata_storage::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds a user-facing error.
    pub fn user(state: SqlState, message: impl Into<String>) -> Self {
        Error::User {
            state,
            message: message.into(),
            notes: None,
        }
    }

    /// Builds a user-facing error with a HINT line.
    pub fn with_hint(state: SqlState, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::User {
            state,
            message: message.into(),
            notes: None,
        }
        .and_hint(hint)
    }

    /// Adds a DETAIL line to a user-facing error (other errors are returned unchanged).
    pub fn and_detail(mut self, text: impl Into<String>) -> Self {
        if let Error::User { notes, .. } = &mut self {
            notes.get_or_insert_default().detail = Some(text.into());
        }
        self
    }

    /// Adds a HINT line to a user-facing error (other errors are returned unchanged).
    pub fn and_hint(mut self, text: impl Into<String>) -> Self {
        if let Error::User { notes, .. } = &mut self {
            notes.get_or_insert_default().hint = Some(text.into());
        }
        self
    }

    /// 0A000 naming the unsupported feature.
    pub fn unsupported(feature: impl std::fmt::Display) -> Self {
        Error::user(
            SqlState::FeatureNotSupported,
            format!("{feature} is not supported"),
        )
    }

    /// The SQLSTATE the client sees.
    pub fn sqlstate(&self) -> SqlState {
        match self {
            Error::User { state, .. } => *state,
            Error::DataFusion(e) => sqlstate_of_datafusion(e),
            Error::Arrow(e) => sqlstate_of_datafusion(&DataFusionError::ArrowError(
                Box::new(arrow::error::ArrowError::ComputeError(e.to_string())),
                None,
            )),
            Error::Storage(e) => match e.kind() {
                strata_storage::ErrorKind::NotFound => SqlState::UndefinedTable,
                strata_storage::ErrorKind::AlreadyExists => SqlState::DuplicateTable,
                strata_storage::ErrorKind::InvalidInput => SqlState::InvalidParameterValue,
                strata_storage::ErrorKind::NotNull => SqlState::NotNullViolation,
                strata_storage::ErrorKind::TooLong => SqlState::StringDataRightTruncation,
                strata_storage::ErrorKind::UniqueViolation => SqlState::UniqueViolation,
                strata_storage::ErrorKind::Corrupt => SqlState::DataCorrupted,
                strata_storage::ErrorKind::Io => SqlState::IoError,
                strata_storage::ErrorKind::Unsupported => SqlState::FeatureNotSupported,
                strata_storage::ErrorKind::Internal => SqlState::Internal,
            },
        }
    }

    /// The optional DETAIL: the key of a unique violation, as PostgreSQL words it.
    pub fn detail(&self) -> Option<String> {
        match self {
            Error::User { notes: Some(n), .. } => n.detail.clone(),
            Error::Storage(strata_storage::Error::UniqueViolation { key, .. }) => {
                Some(format!("{} already exists.", key_detail(key)))
            }
            Error::Storage(strata_storage::Error::DuplicateKey { key, .. }) => {
                Some(format!("{} is duplicated.", key_detail(key)))
            }
            _ => None,
        }
    }

    /// The optional HINT.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::User { notes: Some(n), .. } => n.hint.as_deref(),
            _ => None,
        }
    }
}

/// Strips DataFusion's nested "Error during planning: " style prefixes for the client.
fn clean_datafusion_message(e: &DataFusionError) -> String {
    let root = root_error(e);
    let msg = match root {
        DataFusionError::External(inner) => {
            if let Some(err) = inner.downcast_ref::<Error>() {
                return err.to_string();
            }
            inner.to_string()
        }
        other => other.to_string(),
    };
    let s = clean_prefixes(&msg);
    if matches!(root, DataFusionError::ArrowError(e, _) if matches!(**e, arrow::error::ArrowError::DivideByZero))
        || msg.contains("Divide by zero")
    {
        return "division by zero".to_string();
    }
    pg_message(s.trim())
}

/// `msg` without DataFusion's and Arrow's category prefixes ("Arrow error: Cast error: ").
fn clean_prefixes(msg: &str) -> &str {
    let mut s = msg;
    const PREFIXES: [&str; 13] = [
        "Error during planning: ",
        "Execution error: ",
        "Schema error: ",
        "This feature is not implemented: ",
        "SQL error: ",
        "Arrow error: ",
        "Optimizer rule 'type_coercion' failed\ncaused by\n",
        "Invalid argument error: ",
        "Compute error: ",
        "Cast error: ",
        "Parser error: ",
        "Divide by zero error",
        "External error: ",
    ];
    // nested categories ("Arrow error: External error: Execution error: ...")
    while let Some(rest) = PREFIXES.iter().find_map(|p| s.strip_prefix(p)) {
        s = rest;
    }
    s
}

/// `YYYY-MM-DD...` with numbers in the right places: a well-formed date whose fields are
/// out of range (PostgreSQL: 22008), rather than garbage (22P02).
fn looks_like_date(v: &str) -> bool {
    let parts: Vec<&str> = v.splitn(3, '-').collect();
    parts.len() == 3
        && parts[0].len() == 4
        && parts[0].bytes().all(|b| b.is_ascii_digit())
        && !parts[1].is_empty()
        && parts[1].len() <= 2
        && parts[1].bytes().all(|b| b.is_ascii_digit())
        && parts[2].bytes().take_while(u8::is_ascii_digit).count() >= 1
}

/// Rewrites DataFusion's wording into PostgreSQL's for the errors clients match on.
fn pg_message(s: &str) -> String {
    // "table 'strata.public.x' not found" -> relation "x" does not exist
    if let Some(rest) = s.strip_prefix("table '")
        && let Some(end) = rest.find("' not found")
    {
        let name = rest[..end].rsplit('.').next().unwrap_or(&rest[..end]);
        return format!("relation \"{name}\" does not exist");
    }
    // "No field named nope. Did you mean ...?" / "No field named t.nope." -> column "nope" does not exist
    if let Some(rest) = s.strip_prefix("No field named ") {
        let name = rest
            .split(['.', ' '])
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>();
        // The name ends at ". Did you mean ..." or ".\nValid fields are ...".
        let first_line = rest.lines().next().unwrap_or(rest);
        let raw = first_line
            .split(". ")
            .next()
            .unwrap_or(first_line)
            .trim_end_matches('.');
        let col = raw.rsplit('.').next().unwrap_or(raw).trim_matches('"');
        let _ = name;
        return format!("column \"{col}\" does not exist");
    }
    if let Some(rest) = s.strip_prefix("Ambiguous reference to unqualified field ") {
        return format!("column reference \"{}\" is ambiguous", rest.trim());
    }
    // "Can't cast value 3000000000 to type Int32" (a number too large for an integer type)
    if let Some(ty) = cast_overflow_type(s) {
        return format!("{ty} out of range");
    }
    if s.starts_with("LIMIT must be >= 0") {
        return "LIMIT must not be negative".to_string();
    }
    if s.starts_with("OFFSET must be >= 0") {
        return "OFFSET must not be negative".to_string();
    }
    // "Cannot cast string 'abc' to value of Int32 type" -> invalid input syntax for type integer: "abc"
    if let Some(rest) = s.strip_prefix("Cannot cast string '")
        && let Some(end) = rest.find("' to value of ")
    {
        let val = &rest[..end];
        let ty = rest[end + 14..].trim_end_matches(" type");
        if (ty.starts_with("Date") || ty.starts_with("Timestamp")) && looks_like_date(val) {
            return format!("date/time field value out of range: \"{val}\"");
        }
        let pg = match ty {
            "Int16" => "smallint",
            "Int32" => "integer",
            "Int64" => "bigint",
            "Float32" => "real",
            "Float64" => "double precision",
            t if t.starts_with("Decimal") => "numeric",
            t if t.starts_with("Timestamp") => "timestamp",
            "Date32" => "date",
            "Boolean" => "boolean",
            other => other,
        };
        return format!("invalid input syntax for type {pg}: \"{val}\"");
    }
    s.to_string()
}

/// The PostgreSQL name of the integer type of Arrow's "Can't cast value N to type IntX"
/// when N is a number (a value out of the type's range, 22003 in PostgreSQL).
fn cast_overflow_type(s: &str) -> Option<&'static str> {
    let rest = s.strip_prefix("Can't cast value ")?;
    let (value, ty) = rest.split_once(" to type ")?;
    value.parse::<f64>().ok()?;
    match ty.trim() {
        "Int16" => Some("smallint"),
        "Int32" => Some("integer"),
        "Int64" => Some("bigint"),
        _ => None,
    }
}

fn root_error(e: &DataFusionError) -> &DataFusionError {
    let mut cur = e;
    loop {
        match cur {
            DataFusionError::Context(_, inner) => cur = inner,
            DataFusionError::Shared(inner) => cur = inner,
            DataFusionError::Diagnostic(_, inner) => cur = inner,
            // a DataFusion error carried as an external one (a function's error raised
            // inside another operator): its own category and message
            DataFusionError::External(inner) => match inner.downcast_ref::<DataFusionError>() {
                Some(d) => cur = d,
                None => return cur,
            },
            _ => return cur,
        }
    }
}

/// Picks the SQLSTATE for a DataFusion error from its category and message.
pub fn sqlstate_of_datafusion(e: &DataFusionError) -> SqlState {
    let root = root_error(e);
    let msg = root.to_string();
    let lower = msg.to_lowercase();
    if lower.contains("divide by zero") || lower.contains("division by zero") {
        return SqlState::DivisionByZero;
    }
    // An unknown function is a user error whichever DataFusion category carries it (it
    // arrives as an internal error from some planning paths).
    if lower.starts_with("invalid function '") || lower.contains(": invalid function '") {
        return SqlState::UndefinedFunction;
    }
    if cast_overflow_type(clean_prefixes(&msg)).is_some() {
        return SqlState::NumericValueOutOfRange;
    }
    // DataFusion's `sqrt` raises PostgreSQL's message for a negative argument
    if lower.contains("cannot take square root of a negative number") {
        return SqlState::InvalidArgumentForPowerFunction;
    }
    match root {
        DataFusionError::SQL(..) => SqlState::SyntaxError,
        DataFusionError::NotImplemented(_) => SqlState::FeatureNotSupported,
        DataFusionError::ResourcesExhausted(_) => SqlState::OutOfMemory,
        DataFusionError::External(inner) => {
            if let Some(err) = inner.downcast_ref::<Error>() {
                err.sqlstate()
            } else if let Some(err) = inner.downcast_ref::<strata_storage::Error>() {
                Error::user(SqlState::Internal, "").sqlstate_storage(err)
            } else {
                SqlState::Internal
            }
        }
        _ if lower.contains("table '") && lower.contains("' not found") => SqlState::UndefinedTable,
        _ if lower.contains("cannot cast string") => {
            let val = msg
                .split("string '")
                .nth(1)
                .and_then(|r| r.split('\'').next())
                .unwrap_or("");
            if (lower.contains("date") || lower.contains("timestamp")) && looks_like_date(val) {
                SqlState::DatetimeFieldOverflow
            } else {
                SqlState::InvalidTextRepresentation
            }
        }
        DataFusionError::Plan(_) | DataFusionError::SchemaError(..) => {
            if lower.contains("limit must be >= 0") || lower.contains("offset must be >= 0") {
                SqlState::InvalidRowCountInLimit
            } else if lower.contains("ambiguous") {
                SqlState::AmbiguousColumn
            } else if lower.contains("must be in group by")
                || lower.contains("must appear in the group by")
                || lower.contains("group by or an aggregate")
            {
                SqlState::GroupingError
            } else if lower.contains("cannot coerce") {
                SqlState::UndefinedFunction
            } else if lower.contains("table")
                && (lower.contains("not found") || lower.contains("does not exist"))
            {
                SqlState::UndefinedTable
            } else if lower.contains("no field named")
                || lower.contains("column") && lower.contains("not found")
            {
                SqlState::UndefinedColumn
            } else if lower.contains("invalid function")
                || lower.contains("no function matches")
                || lower.contains("function") && lower.contains("does not exist")
            {
                SqlState::UndefinedFunction
            } else if lower.contains("cannot infer common")
                || lower.contains("coercion")
                || lower.contains("cannot be cast")
                || lower.contains("does not support")
            {
                SqlState::UndefinedFunction
            } else if lower.contains("already exists") {
                SqlState::DuplicateTable
            } else {
                SqlState::SyntaxError
            }
        }
        DataFusionError::ArrowError(ae, _) => match &**ae {
            arrow::error::ArrowError::DivideByZero => SqlState::DivisionByZero,
            arrow::error::ArrowError::CastError(_) | arrow::error::ArrowError::ParseError(_) => {
                SqlState::InvalidTextRepresentation
            }
            arrow::error::ArrowError::ArithmeticOverflow(_) => SqlState::NumericValueOutOfRange,
            _ => SqlState::Internal,
        },
        DataFusionError::Execution(_) => {
            if lower.contains("cast") || lower.contains("parse") || lower.contains("invalid") {
                SqlState::InvalidTextRepresentation
            } else if lower.contains("overflow") {
                SqlState::NumericValueOutOfRange
            } else {
                SqlState::Internal
            }
        }
        _ => SqlState::Internal,
    }
}

impl Error {
    fn sqlstate_storage(&self, e: &strata_storage::Error) -> SqlState {
        Error::Storage(strata_storage::Error::clone_kind(e)).sqlstate()
    }
}

impl From<Error> for DataFusionError {
    fn from(e: Error) -> Self {
        match e {
            Error::DataFusion(e) => e,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sqlstate_is_five_chars() {
        for s in SqlState::ALL {
            assert_eq!(s.code().len(), 5, "{s:?}");
        }
    }

    #[test]
    fn unknown_column_names_the_column() {
        assert_eq!(
            pg_message("No field named zzz.\nValid fields are m2.ts, m2.a, m2.bbb."),
            "column \"zzz\" does not exist"
        );
        assert_eq!(
            pg_message("No field named zzz. Did you mean 'm2.bbb'?."),
            "column \"zzz\" does not exist"
        );
    }

    #[test]
    fn datafusion_categories_map() {
        let e = DataFusionError::Plan("table 'strata.public.nope' not found".into());
        assert_eq!(sqlstate_of_datafusion(&e), SqlState::UndefinedTable);
        let e = DataFusionError::NotImplemented("LATERAL".into());
        assert_eq!(sqlstate_of_datafusion(&e), SqlState::FeatureNotSupported);
        let e = DataFusionError::ArrowError(Box::new(arrow::error::ArrowError::DivideByZero), None);
        assert_eq!(sqlstate_of_datafusion(&e), SqlState::DivisionByZero);
    }
}

/// `Key (ts, host)=(2024-01-01 00:00:00+00, a)`: the key columns and their values in
/// PostgreSQL's text output (UTC), the start of the DETAIL of key errors.
pub fn key_detail(key: &arrow::array::RecordBatch) -> String {
    let schema = key.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let opts = strata_pgtypes::encode::TextOptions::default();
    let values: Vec<String> = (0..key.num_columns())
        .map(|i| {
            let mut out = vec![];
            match strata_pgtypes::encode::encode_text(
                key.column(i).as_ref(),
                schema.field(i),
                0,
                &opts,
                &mut out,
            ) {
                Ok(true) => String::from_utf8_lossy(&out).into_owned(),
                _ => "null".to_string(),
            }
        })
        .collect();
    format!("Key ({})=({})", names.join(", "), values.join(", "))
}
