//! TimescaleDB's gap filling: `time_bucket_gapfill`, `locf` and `interpolate`.
//!
//! ```sql
//! SELECT time_bucket_gapfill('1 hour', ts) AS b, host, avg(v), locf(avg(v)), interpolate(avg(v))
//! FROM t WHERE ts >= '2024-01-01' AND ts < '2024-01-02' GROUP BY b, host ORDER BY b
//! ```
//!
//! returns one row per bucket of `[start, finish)` for every group, with the TimescaleDB 2.x
//! semantics (checked against TimescaleDB 2.23):
//!
//! - `start`/`finish` are the 3rd/4th arguments (4th/5th in the time zone form) or, when
//!   absent or NULL, inferred from the WHERE clause (`ts >= X`, `ts > X`, `ts < Y`,
//!   `ts <= Y`, BETWEEN, either side; the tightest bound wins; `>` and `<=` move the bound
//!   one unit). `start` is aligned with `time_bucket`; rows of buckets outside the range are
//!   passed through unchanged, in time order.
//! - Missing buckets have NULL aggregates (also `count(*)`), except `locf(x [, prev
//!   [, treat_null_as_missing]])`, the last value of `x` in the group (or `prev` for missing
//!   buckets at the start), and `interpolate(x [, prev [, next]])`, linear interpolation
//!   between the neighbouring rows of the group (`prev`/`next` are `(time, value)` rows used
//!   before the first and after the last row). Rows whose value is NULL stop interpolation.
//! - Gap filling happens above HAVING (gap rows are not filtered) and below window functions.
//! - Outside an aggregate query with `time_bucket_gapfill` in its GROUP BY,
//!   `time_bucket_gapfill` is `time_bucket` and `locf`/`interpolate` return their argument, as
//!   in TimescaleDB 2.23.
//!
//! How: [`rule::GapFillRule`] (an analyzer rule) replaces `time_bucket_gapfill` with
//! `time_bucket` in the Aggregate and puts a [`rule::GapFill`] node above it (above HAVING);
//! `locf`/`interpolate` calls above become columns that the node fills. [`exec::GapFillExec`]
//! consumes the aggregate sorted by (groups, time) and emits each group's filled rows when
//! the group ends, so memory is bounded by one group's buckets.

pub mod exec;
pub mod fill;
pub mod rule;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::error::{Error, SqlState};
use crate::functions::TimeBucket;

pub use exec::GapFillPlanner;
pub use rule::GapFillRule;

pub(crate) const GAPFILL: &str = "time_bucket_gapfill";
pub(crate) const LOCF: &str = "locf";
pub(crate) const INTERPOLATE: &str = "interpolate";

pub(crate) fn user_error(state: SqlState, message: impl Into<String>) -> DataFusionError {
    DataFusionError::from(Error::user(state, message))
}

pub(crate) fn user_error_hint(state: SqlState, message: impl Into<String>) -> DataFusionError {
    DataFusionError::from(Error::with_hint(
        state,
        message,
        "Specify start and finish as arguments or in the WHERE clause.",
    ))
}

fn is_string(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// Where the arguments of a `time_bucket_gapfill` call are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GapfillArgs {
    /// Index of the time zone argument (always 2) in the time zone form.
    pub timezone: Option<usize>,
    pub start: Option<usize>,
    pub finish: Option<usize>,
}

impl GapfillArgs {
    /// The form of a call with these argument types: `(width, ts [, start [, finish]])` or
    /// `(width, ts, timezone text [, start [, finish]])`. An untyped literal as third
    /// argument is text, hence a time zone, as in TimescaleDB.
    pub(crate) fn of(arg_types: &[DataType]) -> Result<GapfillArgs> {
        let n = arg_types.len();
        let tz_form = n >= 3 && is_string(&arg_types[2]);
        let max = if tz_form { 5 } else { 4 };
        if !(2..=max).contains(&n) {
            return plan_err!("time_bucket_gapfill expects 2 to {max} arguments, got {n}");
        }
        let first = if tz_form { 3 } else { 2 };
        Ok(GapfillArgs {
            timezone: tz_form.then_some(2),
            start: (n > first).then_some(first),
            finish: (n > first + 1).then_some(first + 1),
        })
    }

    /// Number of leading arguments that are also `time_bucket`'s.
    pub(crate) fn bucket_arg_count(&self) -> usize {
        if self.timezone.is_some() { 3 } else { 2 }
    }
}

/// `time_bucket_gapfill(width, ts [, timezone] [, start [, finish]])`. Evaluated on its own
/// (outside an aggregate query that groups by it) it is `time_bucket(width, ts [, timezone])`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TimeBucketGapfill {
    signature: Signature,
    bucket: TimeBucket,
}

impl Default for TimeBucketGapfill {
    fn default() -> Self {
        Self::new()
    }
}

impl TimeBucketGapfill {
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            bucket: TimeBucket::new(),
        }
    }
}

impl ScalarUDFImpl for TimeBucketGapfill {
    fn name(&self) -> &str {
        GAPFILL
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let form = GapfillArgs::of(arg_types)?;
        self.bucket
            .return_type(&arg_types[..form.bucket_arg_count()])
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let form = GapfillArgs::of(arg_types)?;
        let k = form.bucket_arg_count();
        let mut out = self.bucket.coerce_types(&arg_types[..k])?;
        // start and finish have the type of the result (the bucketed ts).
        let ts = out[1].clone();
        out.extend(std::iter::repeat_n(ts, arg_types.len() - k));
        Ok(out)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let k = GapfillArgs::of(
            &args
                .arg_fields
                .iter()
                .map(|f| f.data_type().clone())
                .collect::<Vec<_>>(),
        )?
        .bucket_arg_count();
        let ScalarFunctionArgs {
            mut args,
            mut arg_fields,
            number_rows,
            return_field,
            config_options,
        } = args;
        args.truncate(k);
        arg_fields.truncate(k);
        self.bucket.invoke_with_args(ScalarFunctionArgs {
            args,
            arg_fields,
            number_rows,
            return_field,
            config_options,
        })
    }
}

/// Which fill a marker function asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum FillKind {
    Locf,
    Interpolate,
}

impl FillKind {
    pub fn name(&self) -> &'static str {
        match self {
            FillKind::Locf => LOCF,
            FillKind::Interpolate => INTERPOLATE,
        }
    }
}

/// `locf(value [, prev [, treat_null_as_missing]])` and `interpolate(value [, prev [, next]])`.
/// They mark a column for the gap-fill node; evaluated anywhere else they return `value`, as in
/// TimescaleDB 2.23.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FillMarker {
    kind: FillKind,
    signature: Signature,
}

impl FillMarker {
    pub fn new(kind: FillKind) -> Self {
        Self {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

pub(crate) fn is_interpolable(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Float32 | DataType::Float64
    )
}

/// PostgreSQL's name of a type, for "function f(type) does not exist".
pub(crate) fn pg_type_name(dt: &DataType) -> String {
    match dt {
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "integer".into(),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "bigint".into(),
        DataType::Float32 => "real".into(),
        DataType::Float64 => "double precision".into(),
        DataType::Decimal128(..) | DataType::Decimal256(..) => "numeric".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Timestamp(_, Some(_)) => "timestamp with time zone".into(),
        DataType::Timestamp(_, None) => "timestamp without time zone".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Interval(_) => "interval".into(),
        other => other.to_string(),
    }
}

impl ScalarUDFImpl for FillMarker {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Checked here rather than in `coerce_types`, whose errors DataFusion wraps in its own
    /// message.
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let value = self.coerce_types(arg_types)?.swap_remove(0);
        if self.kind == FillKind::Interpolate && !is_interpolable(&value) {
            let list = arg_types
                .iter()
                .map(pg_type_name)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(DataFusionError::from(Error::with_hint(
                SqlState::UndefinedFunction,
                format!("function interpolate({list}) does not exist"),
                "No function matches the given name and argument types. You might need to \
                 add explicit type casts.",
            )));
        }
        Ok(value)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let n = arg_types.len();
        if !(1..=3).contains(&n) {
            return plan_err!("{} expects 1 to 3 arguments, got {n}", self.name());
        }
        let mut out = arg_types.to_vec();
        match self.kind {
            FillKind::Locf => {
                if n >= 2 && arg_types[1] == DataType::Null {
                    out[1] = arg_types[0].clone();
                }
                if n == 3 {
                    out[2] = DataType::Boolean;
                }
            }
            FillKind::Interpolate => {
                let v = &arg_types[0];
                // numeric has an implicit cast to double precision in PostgreSQL, which picks
                // interpolate(double precision) for it.
                if matches!(
                    v,
                    DataType::Null | DataType::Decimal128(..) | DataType::Decimal256(..)
                ) {
                    out[0] = DataType::Float64;
                }
                for (i, t) in arg_types.iter().enumerate().skip(1) {
                    if !matches!(t, DataType::Struct(_) | DataType::Null) {
                        return Err(user_error(
                            SqlState::DatatypeMismatch,
                            format!(
                                "interpolate: argument {} must be a (time, value) record, got {}",
                                i + 1,
                                pg_type_name(t)
                            ),
                        ));
                    }
                }
            }
        }
        Ok(out)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match args.args.into_iter().next() {
            Some(v) => Ok(v),
            None => plan_err!("{} expects an argument", self.name()),
        }
    }
}

/// `time_bucket_gapfill` as a DataFusion UDF.
pub fn time_bucket_gapfill_udf() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(TimeBucketGapfill::new()))
}

/// `locf` as a DataFusion UDF.
pub fn locf_udf() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(FillMarker::new(FillKind::Locf)))
}

/// `interpolate` as a DataFusion UDF.
pub fn interpolate_udf() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(FillMarker::new(
        FillKind::Interpolate,
    )))
}
