//! SQL-layer errors → PostgreSQL ErrorResponse fields.

use pgwire::error::{ErrorInfo, PgWireError};
use strata_sql::{Error, SqlState};

/// The ErrorResponse for an error.
pub fn error_info(e: &Error) -> ErrorInfo {
    let state = e.sqlstate();
    if matches!(
        state,
        SqlState::Internal | SqlState::IoError | SqlState::DataCorrupted
    ) {
        tracing::error!(sqlstate = state.code(), error = %e, "internal error");
    } else {
        tracing::debug!(sqlstate = state.code(), error = %e, "statement failed");
    }
    let mut info = ErrorInfo::new("ERROR".to_string(), state.code().to_string(), e.to_string());
    info.hint = e.hint().map(str::to_string);
    info.detail = e.detail();
    info
}

/// Wraps an error for pgwire.
pub fn to_pgwire(e: &Error) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(e)))
}

/// A user error with an explicit SQLSTATE.
pub fn user(state: SqlState, msg: impl Into<String>) -> PgWireError {
    to_pgwire(&Error::user(state, msg))
}
