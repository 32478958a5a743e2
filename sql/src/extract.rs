//! `EXTRACT(field FROM value)` with PostgreSQL's result type: numeric.
//!
//! DataFusion's `date_part` returns integers (and drops the fraction of `second`) or a
//! double for `epoch`; PostgreSQL 14+ returns numeric with scale 6 for `second`/`epoch`
//! (`56.500000`, `1704067200.000000`), 3 for `milliseconds`, 0 otherwise. `EXTRACT` is
//! rewritten to `pg_extract('field', value)` (see [`crate::rewrite`]); `date_part(...)`
//! keeps DataFusion's behaviour (PostgreSQL's `date_part` returns double precision).
//! Fields of a timestamptz are taken in the session time zone, as in PostgreSQL.

use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Decimal128Array, Decimal128Builder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{DataFusionError, ScalarValue, exec_err, plan_err};

use crate::error::{Error, SqlState};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use strata_pgtypes::tz::TimeZoneSetting;

/// Scale of the numeric result for a field.
fn scale_of(field: &str) -> i8 {
    match field {
        "second" | "seconds" | "epoch" => 6,
        "millisecond" | "milliseconds" => 3,
        _ => 0,
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgExtract {
    sig: Signature,
    tz: TimeZoneSetting,
}

fn field_name(args: &[ScalarValue]) -> Option<String> {
    match args.first() {
        Some(ScalarValue::Utf8(Some(s)))
        | Some(ScalarValue::Utf8View(Some(s)))
        | Some(ScalarValue::LargeUtf8(Some(s))) => Some(s.to_lowercase()),
        _ => None,
    }
}

/// Value of `field` for a wall-clock datetime with `micros` fractional microseconds, or
/// None for an unknown field. Returned as an unscaled integer at `scale_of(field)`.
fn extract(
    field: &str,
    dt: NaiveDateTime,
    epoch_micros: i64,
    offset_secs: Option<i32>,
) -> Option<i128> {
    let us_in_min = dt.second() as i128 * 1_000_000 + (dt.nanosecond() / 1000) as i128;
    Some(match field {
        "year" | "years" => dt.year() as i128,
        "month" | "months" => dt.month() as i128,
        "day" | "days" => dt.day() as i128,
        "hour" | "hours" => dt.hour() as i128,
        "minute" | "minutes" => dt.minute() as i128,
        "second" | "seconds" => us_in_min,
        "millisecond" | "milliseconds" => us_in_min,
        "microsecond" | "microseconds" => us_in_min,
        "epoch" => epoch_micros as i128,
        "dow" | "dayofweek" => dt.weekday().num_days_from_sunday() as i128,
        "isodow" => dt.weekday().number_from_monday() as i128,
        "doy" | "dayofyear" => dt.ordinal() as i128,
        "week" | "weeks" => dt.iso_week().week() as i128,
        "isoyear" => dt.iso_week().year() as i128,
        "quarter" => ((dt.month() - 1) / 3 + 1) as i128,
        "decade" => dt.year().div_euclid(10) as i128,
        "century" => {
            let y = dt.year();
            if y > 0 {
                ((y + 99) / 100) as i128
            } else {
                -(((99 - (y - 1)) / 100) as i128)
            }
        }
        "millennium" => {
            let y = dt.year();
            if y > 0 {
                ((y + 999) / 1000) as i128
            } else {
                -(((999 - (y - 1)) / 1000) as i128)
            }
        }
        "timezone" => offset_secs? as i128,
        // C division truncates toward zero
        "timezone_hour" => (offset_secs? / 3600) as i128,
        "timezone_minute" => ((offset_secs? / 60) % 60) as i128,
        _ => return None,
    })
}

/// What [`extract_interval`] says of a field an interval has no value for.
enum NoIntervalField {
    /// a date field of PostgreSQL's (`dow`, `week`, ...): 0A000 `not supported`
    NotSupported,
    /// 22023 `not recognized`
    NotRecognized,
}

/// Value of `field` of an interval (PostgreSQL's `interval_part`, fields as
/// `interval2itm` computes them: C's truncating division, so each keeps the interval's
/// sign), as an unscaled integer at `scale_of(field)`.
fn extract_interval(
    field: &str,
    months: i32,
    days: i32,
    micros: i64,
) -> Result<i128, NoIntervalField> {
    const USECS_PER_SEC: i128 = 1_000_000;
    let (months, days, time) = (i128::from(months), i128::from(days), i128::from(micros));
    let year = months / 12;
    let in_min = time % (60 * USECS_PER_SEC);
    Ok(match field {
        "year" | "years" => year,
        "month" | "months" => months % 12,
        "day" | "days" => days,
        "hour" | "hours" => time / (3600 * USECS_PER_SEC),
        "minute" | "minutes" => time / (60 * USECS_PER_SEC) % 60,
        "second" | "seconds" | "millisecond" | "milliseconds" | "microsecond" | "microseconds" => {
            in_min
        }
        "quarter" => months % 12 / 3 + 1,
        "decade" => year / 10,
        "century" => year / 100,
        "millennium" => year / 1000,
        // a year is 365.25 days, a month 30, a day 24 hours (`DAYS_PER_YEAR`, ...)
        "epoch" => {
            time + (year * 31_557_600 + months % 12 * 2_592_000 + days * 86_400) * USECS_PER_SEC
        }
        "dow" | "dayofweek" | "isodow" | "doy" | "dayofyear" | "week" | "weeks" | "isoyear"
        | "timezone" | "timezone_hour" | "timezone_minute" | "julian" => {
            return Err(NoIntervalField::NotSupported);
        }
        _ => return Err(NoIntervalField::NotRecognized),
    })
}

/// `EXTRACT` of an interval, or of a duration (the difference of two timestamps, which
/// PostgreSQL gives as an interval of days and time, `justify_hours`).
fn extract_intervals(field: &str, arr: &ArrayRef, scale: i8) -> Result<ColumnarValue> {
    use datafusion::arrow::datatypes::{
        DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType,
        DurationSecondType, IntervalMonthDayNanoType,
    };
    const USECS_PER_DAY: i64 = 86_400_000_000;
    let parts: Vec<Option<(i32, i32, i64)>> = match arr.data_type() {
        DataType::Interval(arrow::datatypes::IntervalUnit::MonthDayNano) => arr
            .as_primitive::<IntervalMonthDayNanoType>()
            .iter()
            .map(|v| v.map(|v| (v.months, v.days, v.nanoseconds / 1000)))
            .collect(),
        DataType::Duration(unit) => {
            let micros: Vec<Option<i64>> = match unit {
                TimeUnit::Microsecond => arr
                    .as_primitive::<DurationMicrosecondType>()
                    .iter()
                    .collect(),
                TimeUnit::Nanosecond => arr
                    .as_primitive::<DurationNanosecondType>()
                    .iter()
                    .map(|v| v.map(|v| v / 1000))
                    .collect(),
                TimeUnit::Millisecond => arr
                    .as_primitive::<DurationMillisecondType>()
                    .iter()
                    .map(|v| v.map(|v| v.saturating_mul(1000)))
                    .collect(),
                TimeUnit::Second => arr
                    .as_primitive::<DurationSecondType>()
                    .iter()
                    .map(|v| v.map(|v| v.saturating_mul(1_000_000)))
                    .collect(),
            };
            micros
                .into_iter()
                .map(|v| v.map(|us| (0, (us / USECS_PER_DAY) as i32, us % USECS_PER_DAY)))
                .collect()
        }
        other => return exec_err!("EXTRACT from {other}"),
    };
    let mut b =
        Decimal128Builder::with_capacity(parts.len()).with_precision_and_scale(38, scale)?;
    for p in parts {
        let Some((months, days, micros)) = p else {
            b.append_null();
            continue;
        };
        match extract_interval(field, months, days, micros) {
            Ok(v) => b.append_value(v),
            Err(e) => {
                let (state, what) = match e {
                    NoIntervalField::NotSupported => (SqlState::FeatureNotSupported, "supported"),
                    NoIntervalField::NotRecognized => {
                        (SqlState::InvalidParameterValue, "recognized")
                    }
                };
                return Err(DataFusionError::from(Error::user(
                    state,
                    format!("unit \"{field}\" not {what} for type interval"),
                )));
            }
        }
    }
    Ok(ColumnarValue::Array(Arc::new(b.finish())))
}

impl ScalarUDFImpl for PgExtract {
    fn name(&self) -> &str {
        "pg_extract"
    }

    fn signature(&self) -> &Signature {
        &self.sig
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Decimal128(38, 6))
    }

    fn return_field_from_args(
        &self,
        args: ReturnFieldArgs<'_>,
    ) -> Result<Arc<arrow::datatypes::Field>> {
        let field = args
            .scalar_arguments
            .first()
            .and_then(|v| v.and_then(|v| field_name(std::slice::from_ref(v))));
        let Some(field) = field else {
            return plan_err!("EXTRACT needs a literal field name");
        };
        Ok(Arc::new(arrow::datatypes::Field::new(
            self.name(),
            DataType::Decimal128(38, scale_of(&field)),
            true,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let DataType::Decimal128(_, scale) = args.return_field.data_type().clone() else {
            return exec_err!("pg_extract: unexpected return type");
        };
        let field = match &args.args[0] {
            ColumnarValue::Scalar(s) => field_name(std::slice::from_ref(s)),
            _ => None,
        };
        let Some(field) = field else {
            return exec_err!("EXTRACT needs a literal field name");
        };
        let n = args.number_rows;
        let arr: ArrayRef = args.args[1].clone().into_array(n)?;
        if matches!(
            arr.data_type(),
            DataType::Interval(_) | DataType::Duration(_)
        ) {
            return extract_intervals(&field, &arr, scale);
        }
        let (micros, is_tz, is_date): (ArrayRef, bool, bool) = match arr.data_type() {
            DataType::Timestamp(_, tz) => (
                cast(&arr, &DataType::Timestamp(TimeUnit::Microsecond, None))?,
                tz.is_some(),
                false,
            ),
            DataType::Date32 | DataType::Date64 => (
                cast(
                    &cast(&arr, &DataType::Date32)?,
                    &DataType::Timestamp(TimeUnit::Microsecond, None),
                )?,
                false,
                true,
            ),
            other => {
                return exec_err!(
                    "EXTRACT from {other} is not supported; extract from a timestamp, timestamptz, date or interval"
                );
            }
        };
        let ts = micros.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        if field == "epoch" {
            // Microseconds since 1970 as stored, whatever the time zone: no calendar
            // fields to compute (Grafana's `$__timeGroup` extracts it from every row).
            let epoch: Decimal128Array = ts.unary(i128::from);
            return Ok(ColumnarValue::Array(Arc::new(
                epoch.with_precision_and_scale(38, scale)?,
            )));
        }
        let mut b = Decimal128Builder::with_capacity(n).with_precision_and_scale(38, scale)?;
        for i in 0..n {
            if ts.is_null(i) {
                b.append_null();
                continue;
            }
            let utc = ts.value(i);
            let offset = if is_tz {
                self.tz.utc_offset_usecs(utc)
            } else {
                0
            };
            let local = utc.saturating_add(offset as i64 * 1_000_000);
            let Some(dt) = DateTime::from_timestamp_micros(local).map(|d| d.naive_utc()) else {
                b.append_null();
                continue;
            };
            let Some(v) = extract(&field, dt, utc, is_tz.then_some(offset)) else {
                return exec_err!(
                    "unit \"{field}\" not supported for type {}",
                    if is_date {
                        "date"
                    } else if is_tz {
                        "timestamp with time zone"
                    } else {
                        "timestamp without time zone"
                    }
                );
            };
            // Fields in µs (second/millisecond/epoch) carry 6 fractional digits of input;
            // scale them to the result's scale. Others are whole numbers.
            let unscaled = match field.as_str() {
                "second" | "seconds" | "epoch" => v, // µs at scale 6
                "millisecond" | "milliseconds" => v, // µs = ms at scale 3
                _ => v,                              // integer at scale 0
            };
            b.append_value(unscaled);
        }
        Ok(ColumnarValue::Array(Arc::new(b.finish())))
    }
}

/// The `pg_extract` function for a session in time zone `tz`.
pub fn pg_extract_udf(tz: TimeZoneSetting) -> ScalarUDF {
    ScalarUDF::new_from_impl(PgExtract {
        sig: Signature::any(2, Volatility::Stable),
        tz,
    })
}

/// `floor(extract(epoch from ts) / step) * factor` for constants `step` (in whole
/// microseconds, > 0) and `factor` (an unscaled `numeric` at `scale`):
/// `pg_epoch_steps(ts, step_micros, factor, precision, scale)`, a `numeric(precision,
/// scale)`. A bare `floor(...)` is the same with `factor` 1 and scale 0.
///
/// Grafana's PostgreSQL data source groups every time series panel by
/// `floor(extract(epoch from ts)/300)*300` (`$__timeGroup`). As written, that is
/// `numeric` arithmetic on every row: a `Decimal128` division, a `floor`, a cast and a
/// multiplication, each with `i128` divisions or precision checks, more than half of the
/// CPU of a panel over many rows. The epoch is the stored microseconds, so the number of
/// whole steps is one integer floor division, exact for every value, and the product an
/// `i64` times an `i64`, which always fits `numeric(38, s)`. The rewrite
/// (`pg_types::epoch_steps`) gives the call the type the expression had, so clients see
/// the same type and values. Not a user-callable function: only the rewrite builds it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct EpochSteps {
    sig: Signature,
}

/// The constant `i`-th argument of a `pg_epoch_steps` call.
fn int_arg(args: &[Option<&ScalarValue>], i: usize) -> Option<i64> {
    match args.get(i).copied().flatten() {
        Some(ScalarValue::Int64(Some(v))) => Some(*v),
        _ => None,
    }
}

/// Precision and scale of a `pg_epoch_steps` call's result.
fn steps_type(args: &[Option<&ScalarValue>]) -> Option<(u8, i8)> {
    let p = u8::try_from(int_arg(args, 3)?).ok()?;
    let s = i8::try_from(int_arg(args, 4)?).ok()?;
    (1..=38).contains(&p).then_some((p, s))
}

impl ScalarUDFImpl for EpochSteps {
    fn name(&self) -> &str {
        "pg_epoch_steps"
    }

    fn signature(&self) -> &Signature {
        &self.sig
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Decimal128(38, 0))
    }

    fn return_field_from_args(
        &self,
        args: ReturnFieldArgs<'_>,
    ) -> Result<Arc<arrow::datatypes::Field>> {
        let Some((p, s)) = steps_type(args.scalar_arguments) else {
            return plan_err!("pg_epoch_steps needs a constant precision and scale");
        };
        Ok(Arc::new(arrow::datatypes::Field::new(
            self.name(),
            DataType::Decimal128(p, s),
            true,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let DataType::Decimal128(p, s) = args.return_field.data_type().clone() else {
            return exec_err!("pg_epoch_steps: unexpected return type");
        };
        let constant = |i: usize| match args.args.get(i) {
            Some(ColumnarValue::Scalar(ScalarValue::Int64(Some(v)))) => Some(*v),
            _ => None,
        };
        let (Some(step), Some(factor)) = (constant(1).filter(|s| *s > 0), constant(2)) else {
            return exec_err!("pg_epoch_steps needs a positive constant step and a factor");
        };
        let arr: ArrayRef = args.args[0].clone().into_array(args.number_rows)?;
        if !matches!(arr.data_type(), DataType::Timestamp(..)) {
            return exec_err!("pg_epoch_steps needs a timestamp, not {}", arr.data_type());
        }
        // The same conversion to microseconds as `EXTRACT` makes.
        let micros = cast(&arr, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
        let ts = micros.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        let factor = i128::from(factor);
        let out: Decimal128Array = ts
            .unary(|us| i128::from(us.div_euclid(step)) * factor)
            .with_precision_and_scale(p, s)?;
        // |i64 * i64| < 10^38: only a narrower type can overflow.
        if p < 38 {
            out.validate_decimal_precision(p)?;
        }
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `pg_epoch_steps(ts, step_micros, factor, precision, scale)`; see [`EpochSteps`].
pub fn epoch_steps(ts: Expr, step_micros: i64, factor: i64, precision: u8, scale: i8) -> Expr {
    let udf = Arc::new(ScalarUDF::new_from_impl(EpochSteps {
        sig: Signature::any(5, Volatility::Immutable),
    }));
    let lit = |v: i64| Expr::Literal(ScalarValue::Int64(Some(v)), None);
    Expr::ScalarFunction(datafusion::logical_expr::expr::ScalarFunction::new_udf(
        udf,
        vec![
            ts,
            lit(step_micros),
            lit(factor),
            lit(i64::from(precision)),
            lit(i64::from(scale)),
        ],
    ))
}

/// The arguments of a `pg_epoch_steps` call: time, step, factor, precision, scale.
pub fn epoch_steps_args(e: &Expr) -> Option<(&Expr, i64, i64, u8, i8)> {
    let Expr::ScalarFunction(f) = e else {
        return None;
    };
    if f.func.name() != "pg_epoch_steps" || f.args.len() != 5 {
        return None;
    }
    let int = |i: usize| match &f.args[i] {
        Expr::Literal(ScalarValue::Int64(Some(v)), _) => Some(*v),
        _ => None,
    };
    Some((
        &f.args[0],
        int(1)?,
        int(2)?,
        u8::try_from(int(3)?).ok()?,
        i8::try_from(int(4)?).ok()?,
    ))
}
