//! `ts AT TIME ZONE zone`, i.e. PostgreSQL's `timezone(zone, ts)`.
//!
//! PostgreSQL converts between the two timestamp types: a `timestamptz` becomes the
//! `timestamp` its instant shows on the wall clock of `zone` (`'2024-01-01 00:00+00' AT
//! TIME ZONE 'America/New_York'` is `2023-12-31 19:00:00`), and a `timestamp` is read as a
//! wall-clock time of `zone` and becomes that instant, a `timestamptz`. DataFusion plans
//! `AT TIME ZONE` as a cast to `Timestamp(ns, zone)`, the same instant under another
//! label, which Strata prints in the session zone: the wall clock never changed.
//! `rewrite.rs` turns the operator into this function (an untyped literal operand becomes
//! a `timestamptz`, as PostgreSQL resolves it).
//!
//! The zone is a `SET TimeZone` value (an IANA name, `UTC`, a POSIX offset such as
//! `UTC+3`, which is three hours *west*, a number of hours east) or an interval of hours
//! and minutes (`INTERVAL '-08:00'`, east of UTC); anything else is 22023 `time zone "x"
//! not recognized`, as in PostgreSQL. A local time in a spring-forward gap or a
//! fall-back overlap is resolved as PostgreSQL's `DetermineTimeZoneOffset` does
//! (`TimeZoneSetting::local_to_utc_usecs`). A `date` is a `timestamptz` at midnight of
//! the session zone first (PostgreSQL's implicit cast), hence the session zone in the
//! instance, which is registered per session like `date_trunc`.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, PrimitiveArray, TimestampMicrosecondArray, new_null_array,
};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, IntervalMonthDayNanoType, IntervalUnit, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use strata_pgtypes::tz::TimeZoneSetting;

use crate::error::{Error, SqlState};
use crate::functions::{is_text, no_such_function};

const USECS_PER_DAY: i64 = 86_400 * 1_000_000;
/// The zone label Strata gives a timestamptz.
const UTC_LABEL: &str = "+00:00";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AtTimeZone {
    signature: Signature,
    /// The session zone (for a `date` operand only).
    tz: TimeZoneSetting,
}

/// `timezone(zone, ts)` for a session in time zone `tz`.
pub fn at_time_zone_udf(tz: TimeZoneSetting) -> ScalarUDF {
    ScalarUDF::new_from_impl(AtTimeZone {
        signature: Signature::user_defined(Volatility::Stable),
        tz,
    })
}

/// What the second argument is, and so what the result is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// timestamptz (or date) -> timestamp: the wall clock of the zone
    ToLocal,
    /// timestamp -> timestamptz: the wall clock read in the zone
    FromLocal,
}

fn direction(t: &DataType) -> Option<Direction> {
    match t {
        DataType::Timestamp(_, Some(_)) | DataType::Date32 => Some(Direction::ToLocal),
        DataType::Timestamp(_, None) => Some(Direction::FromLocal),
        _ => None,
    }
}

impl ScalarUDFImpl for AtTimeZone {
    fn name(&self) -> &str {
        "timezone"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        // the types are checked in `return_type`, which raises PostgreSQL's error
        Ok(arg_types.to_vec())
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let [zone, ts] = args else {
            return Err(no_such_function("timezone", args));
        };
        if !(is_text(zone) || matches!(zone, DataType::Interval(IntervalUnit::MonthDayNano))) {
            return Err(no_such_function("timezone", args));
        }
        match direction(ts) {
            Some(Direction::ToLocal) => Ok(DataType::Timestamp(TimeUnit::Microsecond, None)),
            Some(Direction::FromLocal) => Ok(DataType::Timestamp(
                TimeUnit::Microsecond,
                Some(UTC_LABEL.into()),
            )),
            None if ts == &DataType::Null => Ok(DataType::Timestamp(TimeUnit::Microsecond, None)),
            None => Err(no_such_function("timezone", args)),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [zone, ts] = args.args.as_slice() else {
            return exec_err!("timezone takes two arguments");
        };
        let rows = args.number_rows;
        let all_scalar =
            matches!(zone, ColumnarValue::Scalar(_)) && matches!(ts, ColumnarValue::Scalar(_));
        let n = if all_scalar { 1 } else { rows };
        let ts = ts.to_array(n)?;
        let out_type = args.return_field.data_type().clone();
        let Some(dir) = direction(ts.data_type()) else {
            return Ok(ColumnarValue::Array(new_null_array(&out_type, n)))
                .and_then(|c| finish(c, all_scalar));
        };
        let micros = to_micros(&ts, self.tz)?;
        let out: TimestampMicrosecondArray = match zone {
            ColumnarValue::Scalar(z) => match Zone::from_scalar(z)? {
                None => TimestampMicrosecondArray::new_null(n),
                Some(z) => micros.unary(|v| z.convert(v, dir)),
            },
            ColumnarValue::Array(zones) => {
                let mut last: Option<(String, Zone)> = None;
                let mut out = Vec::with_capacity(n);
                for (i, v) in micros.iter().enumerate() {
                    let Some(v) = v else {
                        out.push(None);
                        continue;
                    };
                    if zones.is_null(i) {
                        out.push(None);
                        continue;
                    }
                    let z = match zones.data_type() {
                        DataType::Interval(IntervalUnit::MonthDayNano) => Zone::from_interval(
                            zones.as_primitive::<IntervalMonthDayNanoType>().value(i),
                        )?,
                        _ => {
                            let s = text_at(zones, i)?;
                            match &last {
                                Some((name, z)) if name == s => *z,
                                _ => {
                                    let z = Zone::from_name(s)?;
                                    last = Some((s.to_string(), z));
                                    z
                                }
                            }
                        }
                    };
                    out.push(Some(z.convert(v, dir)));
                }
                PrimitiveArray::from(out)
            }
        };
        let label = match &out_type {
            DataType::Timestamp(_, label) => label.clone(),
            _ => None,
        };
        let out: ArrayRef = Arc::new(out.with_timezone_opt(label));
        finish(ColumnarValue::Array(out), all_scalar)
    }
}

fn finish(c: ColumnarValue, scalar: bool) -> Result<ColumnarValue> {
    match c {
        ColumnarValue::Array(a) if scalar => {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&a, 0)?))
        }
        other => Ok(other),
    }
}

fn text_at(a: &ArrayRef, i: usize) -> Result<&str> {
    Ok(match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().value(i),
        DataType::LargeUtf8 => a.as_string::<i64>().value(i),
        DataType::Utf8View => a.as_string_view().value(i),
        other => return exec_err!("timezone: a zone of type {other}"),
    })
}

/// The operand in microseconds (its Arrow unit may be another: typed literals are
/// nanoseconds); a date is midnight of the session zone.
fn to_micros(ts: &ArrayRef, session: TimeZoneSetting) -> Result<TimestampMicrosecondArray> {
    Ok(match ts.data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, _) => ts
            .as_primitive::<TimestampMicrosecondType>()
            .clone()
            .with_timezone_opt(None::<&str>),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => ts
            .as_primitive::<TimestampNanosecondType>()
            .unary(|v| v.div_euclid(1000)),
        DataType::Timestamp(TimeUnit::Millisecond, _) => ts
            .as_primitive::<TimestampMillisecondType>()
            .unary(|v| v.saturating_mul(1000)),
        DataType::Timestamp(TimeUnit::Second, _) => ts
            .as_primitive::<TimestampSecondType>()
            .unary(|v| v.saturating_mul(1_000_000)),
        DataType::Date32 => ts
            .as_primitive::<Date32Type>()
            .unary(|d| session.local_to_utc_usecs(i64::from(d) * USECS_PER_DAY)),
        other => return exec_err!("timezone: an operand of type {other}"),
    })
}

/// A zone to convert with: a `SET TimeZone` value, or an interval's fixed offset.
#[derive(Clone, Copy)]
struct Zone(TimeZoneSetting);

impl Zone {
    fn from_scalar(z: &ScalarValue) -> Result<Option<Zone>> {
        Ok(match z {
            ScalarValue::Utf8(s) | ScalarValue::Utf8View(s) | ScalarValue::LargeUtf8(s) => {
                match s {
                    Some(s) => Some(Zone::from_name(s)?),
                    None => None,
                }
            }
            ScalarValue::IntervalMonthDayNano(v) => match v {
                Some(v) => Some(Zone::from_interval(*v)?),
                None => None,
            },
            ScalarValue::Null => None,
            other => return exec_err!("timezone: a zone of type {}", other.data_type()),
        })
    }

    fn from_name(s: &str) -> Result<Zone> {
        TimeZoneSetting::parse(s).map(Zone).ok_or_else(|| {
            DataFusionError::from(Error::user(
                SqlState::InvalidParameterValue,
                format!("time zone \"{s}\" not recognized"),
            ))
        })
    }

    /// PostgreSQL's `timestamptz_izone`: an interval of hours and minutes east of UTC.
    fn from_interval(v: arrow::datatypes::IntervalMonthDayNano) -> Result<Zone> {
        if v.months != 0 || v.days != 0 {
            return Err(DataFusionError::from(Error::user(
                SqlState::InvalidParameterValue,
                "interval time zone must not include months or days",
            )));
        }
        let secs = v.nanoseconds.div_euclid(1_000_000_000);
        let secs = i32::try_from(secs).map_err(|_| {
            DataFusionError::from(Error::user(
                SqlState::InvalidParameterValue,
                "interval time zone is out of range",
            ))
        })?;
        Ok(Zone(TimeZoneSetting::fixed(secs)))
    }

    fn convert(&self, micros: i64, dir: Direction) -> i64 {
        match dir {
            Direction::ToLocal => self.0.utc_to_local_usecs(micros),
            Direction::FromLocal => self.0.local_to_utc_usecs(micros),
        }
    }
}
