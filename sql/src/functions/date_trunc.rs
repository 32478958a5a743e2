//! `date_trunc(unit, value [, zone])` with PostgreSQL 15's semantics (`timestamp_trunc`,
//! `timestamptz_trunc_internal`, `interval_trunc` in `src/backend/utils/adt/timestamp.c`).
//!
//! DataFusion's `date_trunc` differs where Superset, Metabase and hand-written dashboards
//! notice: it knows ten units (PostgreSQL also takes `decade`, `century`, `millennium` and
//! every abbreviation of its interval syntax: `hr`, `mins`, `qtr`, `y`, ...), has no
//! three-argument form with a time zone, no interval form, returns `timestamp` for a
//! `date` (PostgreSQL: `timestamptz`, midnight in the session zone), and truncates a
//! timestamptz on the wall clock of its Arrow type's zone, not the session's. Its errors
//! are internal errors; PostgreSQL's are `22023 unit "x" not recognized for type ...` and
//! `0A000 unit "x" not supported for type ...`.
//!
//! **Units.** The unit is lowercased and looked up in PostgreSQL's table of interval
//! units, comparing at most the first ten characters (`TOKMAXLEN`), so `microseconds`
//! and `millenniums` are accepted and `quarters` is not.
//!
//! **Time zones.** A timestamptz is truncated on its wall clock in the session zone (or
//! the zone given as the third argument). For units up to `hour` the result keeps the
//! offset of the input instant (`date_trunc('hour', ...)` of the two `01:30` of a
//! fall-back night gives the two different `01:00`); from `day` up the truncated wall
//! clock is converted back with the zone's rules for that local time (a midnight inside
//! a spring-forward gap becomes `01:00`).
//!
//! **Speed.** For a fixed-offset zone (UTC, the default, or `+05:30`) every unit up to
//! `week` is integer arithmetic on the stored microseconds, and the calendar units are
//! computed once per day run (consecutive rows of one day share their result). A named
//! zone costs one offset lookup per row, and the conversion back is reused while the
//! truncated wall clock does not change.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, IntervalMonthDayNanoArray, PrimitiveArray, new_null_array,
};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, IntervalMonthDayNano, IntervalMonthDayNanoType,
    IntervalUnit, Time64MicrosecondType, TimeUnit, TimestampMicrosecondType,
};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use strata_pgtypes::calendar::{civil_from_days, days_from_civil};
use strata_pgtypes::tz::TimeZoneSetting;

use crate::error::{Error, SqlState};
use crate::functions::{is_text, no_such_function};

const USECS_PER_SEC: i64 = 1_000_000;
const USECS_PER_MINUTE: i64 = 60 * USECS_PER_SEC;
const USECS_PER_HOUR: i64 = 60 * USECS_PER_MINUTE;
const USECS_PER_DAY: i64 = 24 * USECS_PER_HOUR;
/// PostgreSQL's smallest timestamp, 4714-11-24 00:00:00 BC, in µs since 1970.
const MIN_TIMESTAMP: i64 = -2_440_588 * USECS_PER_DAY;
/// The zone label Strata gives a timestamptz.
const UTC_LABEL: &str = "+00:00";

/// A unit `date_trunc` truncates to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Unit {
    Microsecond,
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
    Decade,
    Century,
    Millennium,
}

/// What PostgreSQL's unit table (`deltatktbl`) says about a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lookup {
    Unit(Unit),
    /// A unit of the table `date_trunc` cannot truncate to (`timezone`, ...).
    Unsupported,
    NotRecognized,
}

/// PostgreSQL's interval units (`deltatktbl` in `datetime.c`), tokens of at most ten
/// characters.
const UNITS: &[(&str, Option<Unit>)] = &[
    ("c", Some(Unit::Century)),
    ("cent", Some(Unit::Century)),
    ("centuries", Some(Unit::Century)),
    ("century", Some(Unit::Century)),
    ("d", Some(Unit::Day)),
    ("day", Some(Unit::Day)),
    ("days", Some(Unit::Day)),
    ("dec", Some(Unit::Decade)),
    ("decade", Some(Unit::Decade)),
    ("decades", Some(Unit::Decade)),
    ("decs", Some(Unit::Decade)),
    ("h", Some(Unit::Hour)),
    ("hour", Some(Unit::Hour)),
    ("hours", Some(Unit::Hour)),
    ("hr", Some(Unit::Hour)),
    ("hrs", Some(Unit::Hour)),
    ("m", Some(Unit::Minute)),
    ("microsecon", Some(Unit::Microsecond)),
    ("mil", Some(Unit::Millennium)),
    ("millennia", Some(Unit::Millennium)),
    ("millennium", Some(Unit::Millennium)),
    ("millisecon", Some(Unit::Millisecond)),
    ("mils", Some(Unit::Millennium)),
    ("min", Some(Unit::Minute)),
    ("mins", Some(Unit::Minute)),
    ("minute", Some(Unit::Minute)),
    ("minutes", Some(Unit::Minute)),
    ("mon", Some(Unit::Month)),
    ("mons", Some(Unit::Month)),
    ("month", Some(Unit::Month)),
    ("months", Some(Unit::Month)),
    ("ms", Some(Unit::Millisecond)),
    ("msec", Some(Unit::Millisecond)),
    ("msecond", Some(Unit::Millisecond)),
    ("mseconds", Some(Unit::Millisecond)),
    ("msecs", Some(Unit::Millisecond)),
    ("qtr", Some(Unit::Quarter)),
    ("quarter", Some(Unit::Quarter)),
    ("s", Some(Unit::Second)),
    ("sec", Some(Unit::Second)),
    ("second", Some(Unit::Second)),
    ("seconds", Some(Unit::Second)),
    ("secs", Some(Unit::Second)),
    ("timezone", None),
    ("timezone_h", None),
    ("timezone_m", None),
    ("us", Some(Unit::Microsecond)),
    ("usec", Some(Unit::Microsecond)),
    ("usecond", Some(Unit::Microsecond)),
    ("useconds", Some(Unit::Microsecond)),
    ("usecs", Some(Unit::Microsecond)),
    ("w", Some(Unit::Week)),
    ("week", Some(Unit::Week)),
    ("weeks", Some(Unit::Week)),
    ("y", Some(Unit::Year)),
    ("year", Some(Unit::Year)),
    ("years", Some(Unit::Year)),
    ("yr", Some(Unit::Year)),
    ("yrs", Some(Unit::Year)),
];

/// The unit as PostgreSQL spells it in messages: lowercased (ASCII), at most 63 bytes
/// (`downcase_truncate_identifier`).
fn lowered(unit: &str) -> String {
    let mut end = unit.len().min(63);
    while !unit.is_char_boundary(end) {
        end -= 1;
    }
    unit[..end].to_ascii_lowercase()
}

/// Looks `unit` up as `DecodeUnits` does: lowercased, comparing at most ten characters.
fn lookup(unit: &str) -> Lookup {
    let lower = lowered(unit);
    let key = &lower.as_bytes()[..lower.len().min(10)];
    match UNITS.binary_search_by(|(token, _)| token.as_bytes().cmp(key)) {
        Ok(i) => match UNITS[i].1 {
            Some(u) => Lookup::Unit(u),
            None => Lookup::Unsupported,
        },
        Err(_) => Lookup::NotRecognized,
    }
}

/// The value kinds `date_trunc` accepts, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Timestamp,
    Timestamptz,
    Interval,
}

impl Kind {
    fn pg_name(self) -> &'static str {
        match self {
            Kind::Timestamp => "timestamp without time zone",
            Kind::Timestamptz => "timestamp with time zone",
            Kind::Interval => "interval",
        }
    }
}

fn user_error(state: SqlState, message: impl Into<String>) -> DataFusionError {
    DataFusionError::from(Error::user(state, message))
}

fn out_of_range() -> DataFusionError {
    user_error(SqlState::DatetimeFieldOverflow, "timestamp out of range")
}

/// The unit for a value of `kind`, or PostgreSQL's error.
fn unit_for(unit: &str, kind: Kind) -> Result<Unit> {
    match lookup(unit) {
        Lookup::Unit(Unit::Week) if kind == Kind::Interval => Err(DataFusionError::from(
            Error::user(
                SqlState::FeatureNotSupported,
                format!(
                    "unit \"{}\" not supported for type {}",
                    lowered(unit),
                    kind.pg_name()
                ),
            )
            .and_detail("Months usually have fractional weeks."),
        )),
        Lookup::Unit(u) => Ok(u),
        Lookup::Unsupported => Err(user_error(
            SqlState::FeatureNotSupported,
            format!(
                "unit \"{}\" not supported for type {}",
                lowered(unit),
                kind.pg_name()
            ),
        )),
        Lookup::NotRecognized => Err(user_error(
            SqlState::InvalidParameterValue,
            format!(
                "unit \"{}\" not recognized for type {}",
                lowered(unit),
                kind.pg_name()
            ),
        )),
    }
}

/// PostgreSQL's year truncations on an astronomical year (`tm_year`, 0 = 1 BC), with C's
/// truncating division as in `timestamp_trunc`.
fn trunc_year(unit: Unit, mut y: i64) -> i64 {
    if unit == Unit::Millennium {
        y = if y > 0 {
            ((y + 999) / 1000) * 1000 - 999
        } else {
            -((999 - (y - 1)) / 1000) * 1000 + 1
        };
    }
    if matches!(unit, Unit::Millennium | Unit::Century) {
        y = if y > 0 {
            ((y + 99) / 100) * 100 - 99
        } else {
            -((99 - (y - 1)) / 100) * 100 + 1
        };
    }
    if unit == Unit::Decade {
        y = if y > 0 {
            (y / 10) * 10
        } else {
            -((8 - (y - 1)) / 10) * 10
        };
    }
    y
}

/// The first day (days since 1970) of the `unit` (week or longer) holding day `days`.
fn trunc_days(unit: Unit, days: i64) -> i64 {
    if unit == Unit::Week {
        // ISO weeks start on Monday; 1970-01-01 was a Thursday.
        return days - (days + 3).rem_euclid(7);
    }
    let (y, m, _) = civil_from_days(days);
    let m = match unit {
        Unit::Month => m,
        Unit::Quarter => 3 * ((m - 1) / 3) + 1,
        _ => 1,
    };
    days_from_civil(trunc_year(unit, y), m, 1)
}

/// The length of `unit` in µs, for units that are a fixed number of µs on a wall clock.
fn fixed_len(unit: Unit) -> Option<i64> {
    Some(match unit {
        Unit::Microsecond => 1,
        Unit::Millisecond => 1_000,
        Unit::Second => USECS_PER_SEC,
        Unit::Minute => USECS_PER_MINUTE,
        Unit::Hour => USECS_PER_HOUR,
        Unit::Day => USECS_PER_DAY,
        _ => return None,
    })
}

/// Truncates wall-clock µs values; reuses the last calendar computation while the day
/// does not change (rows of a time-ordered column come in day runs).
struct WallClock {
    unit: Unit,
    len: Option<i64>,
    day: i64,
    day_start: i64,
}

impl WallClock {
    fn new(unit: Unit) -> Self {
        WallClock {
            unit,
            len: fixed_len(unit),
            day: i64::MIN,
            day_start: 0,
        }
    }

    fn trunc(&mut self, local: i64) -> i64 {
        if let Some(len) = self.len {
            return local.wrapping_sub(local.rem_euclid(len));
        }
        let day = local.div_euclid(USECS_PER_DAY);
        if day != self.day {
            self.day = day;
            self.day_start = trunc_days(self.unit, day).wrapping_mul(USECS_PER_DAY);
        }
        self.day_start
    }
}

/// Truncates timestamptz values (µs since 1970 UTC) on the wall clock of `zone`.
struct Zoned {
    clock: WallClock,
    zone: TimeZoneSetting,
    /// The last truncated wall clock converted back with the zone's rules, and the result.
    last: Option<(i64, i64)>,
}

impl Zoned {
    fn new(unit: Unit, zone: TimeZoneSetting) -> Self {
        Zoned {
            clock: WallClock::new(unit),
            zone,
            last: None,
        }
    }

    fn trunc(&mut self, utc: i64) -> Result<i64> {
        if utc == i64::MAX || utc == i64::MIN {
            return Ok(utc);
        }
        let offset = i64::from(self.zone.utc_offset_usecs(utc)) * USECS_PER_SEC;
        let local = utc.checked_add(offset).ok_or_else(out_of_range)?;
        let truncated = self.clock.trunc(local);
        let result = if self.clock.unit < Unit::Day {
            // `timestamptz_trunc_internal` keeps the input's offset below a day
            truncated.wrapping_sub(offset)
        } else {
            match self.last {
                Some((t, r)) if t == truncated => r,
                _ => {
                    let r = self.zone.local_to_utc_usecs(truncated);
                    self.last = Some((truncated, r));
                    r
                }
            }
        };
        if result < MIN_TIMESTAMP {
            return Err(out_of_range());
        }
        Ok(result)
    }
}

/// `f` of every non-null value (`PrimitiveArray::try_unary` takes no state).
fn map_values(
    v: &PrimitiveArray<TimestampMicrosecondType>,
    mut f: impl FnMut(i64) -> Result<i64>,
) -> Result<PrimitiveArray<TimestampMicrosecondType>> {
    let nulls = v.nulls().cloned();
    let mut out = Vec::with_capacity(v.len());
    match &nulls {
        None => {
            for &t in v.values() {
                out.push(f(t)?);
            }
        }
        Some(n) => {
            for (i, &t) in v.values().iter().enumerate() {
                out.push(if n.is_valid(i) { f(t)? } else { 0 });
            }
        }
    }
    Ok(PrimitiveArray::new(out.into(), nulls))
}

/// `value` as the array type `coerce_types` gave it (microsecond timestamps and times,
/// month-day-nano intervals, dates).
fn coerced<T: ArrowPrimitiveType>(value: &ArrayRef) -> Result<&PrimitiveArray<T>> {
    match value.as_primitive_opt::<T>() {
        Some(v) => Ok(v),
        None => exec_err!("date_trunc: unexpected argument type {}", value.data_type()),
    }
}

/// `date_trunc` of timestamp values without time zone.
fn trunc_naive(unit: Unit, v: &PrimitiveArray<TimestampMicrosecondType>) -> Result<ArrayRef> {
    Ok(Arc::new(trunc_zoned(unit, TimeZoneSetting::UTC, v)?))
}

/// `date_trunc` of timestamptz values (µs since 1970 UTC) in `zone`.
fn trunc_zoned(
    unit: Unit,
    zone: TimeZoneSetting,
    v: &PrimitiveArray<TimestampMicrosecondType>,
) -> Result<PrimitiveArray<TimestampMicrosecondType>> {
    if let Some(secs) = zone.fixed_offset() {
        // A fixed offset: the wall clock is the stored value shifted, for every unit.
        let offset = i64::from(secs) * USECS_PER_SEC;
        let finish = |t: i64, r: i64| {
            if t == i64::MAX || t == i64::MIN {
                Ok(t)
            } else if r < MIN_TIMESTAMP {
                Err(out_of_range())
            } else {
                Ok(r)
            }
        };
        if let Some(len) = fixed_len(unit) {
            // no state: one pass of integer arithmetic (stored values are within
            // PostgreSQL's range, far from overflow, except the infinities)
            return v.try_unary(|t| {
                let local = t.wrapping_add(offset);
                finish(
                    t,
                    local
                        .wrapping_sub(local.rem_euclid(len))
                        .wrapping_sub(offset),
                )
            });
        }
        let mut clock = WallClock::new(unit);
        return map_values(v, |t| {
            let local = t.wrapping_add(offset);
            finish(t, clock.trunc(local).wrapping_sub(offset))
        });
    }
    let mut zoned = Zoned::new(unit, zone);
    map_values(v, |t| zoned.trunc(t))
}

/// PostgreSQL's `interval_trunc`: the interval is split into years, months, days, hours,
/// minutes, seconds and microseconds with C's truncating division (`interval2tm`), the
/// fields below `unit` are zeroed and the interval rebuilt.
fn trunc_interval(unit: Unit, iv: IntervalMonthDayNano) -> IntervalMonthDayNano {
    if unit == Unit::Microsecond {
        return iv;
    }
    let months = i64::from(iv.months);
    let (mut years, mut mon) = (months / 12, months % 12);
    let mut days = i64::from(iv.days);
    let time = iv.nanoseconds / 1_000;
    let (mut hour, rest) = (time / USECS_PER_HOUR, time % USECS_PER_HOUR);
    let (mut min, rest) = (rest / USECS_PER_MINUTE, rest % USECS_PER_MINUTE);
    let (mut sec, mut fsec) = (rest / USECS_PER_SEC, rest % USECS_PER_SEC);
    match unit {
        Unit::Millennium => years = (years / 1000) * 1000,
        Unit::Century => years = (years / 100) * 100,
        Unit::Decade => years = (years / 10) * 10,
        _ => {}
    }
    if unit >= Unit::Year {
        mon = 0;
    }
    if unit == Unit::Quarter {
        mon = 3 * (mon / 3);
    }
    if unit >= Unit::Month {
        days = 0;
    }
    if unit >= Unit::Day {
        hour = 0;
    }
    if unit >= Unit::Hour {
        min = 0;
    }
    if unit >= Unit::Minute {
        sec = 0;
    }
    if unit >= Unit::Second {
        fsec = 0;
    } else {
        fsec = (fsec / 1000) * 1000;
    }
    let time = ((hour * 60 + min) * 60 + sec) * USECS_PER_SEC + fsec;
    // Only fields are dropped: every value fits where the input's did.
    IntervalMonthDayNano::new(
        (years * 12 + mon) as i32,
        days as i32,
        time.saturating_mul(1_000),
    )
}

/// The `date_trunc` function for a session in time zone `tz`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DateTrunc {
    signature: Signature,
    aliases: Vec<String>,
    tz: TimeZoneSetting,
}

impl DateTrunc {
    pub fn new(tz: TimeZoneSetting) -> Self {
        DateTrunc {
            signature: Signature::user_defined(Volatility::Stable),
            aliases: vec!["datetrunc".into()],
            tz,
        }
    }
}

/// `date_trunc(unit, value [, zone])` for a session in time zone `tz`.
pub fn date_trunc_udf(tz: TimeZoneSetting) -> ScalarUDF {
    ScalarUDF::new_from_impl(DateTrunc::new(tz))
}

impl ScalarUDFImpl for DateTrunc {
    fn name(&self) -> &str {
        "date_trunc"
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        // Types with no date_trunc are passed through: `return_type` reports them with
        // PostgreSQL's message (an error here reaches the client wrapped in DataFusion's).
        Ok(arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| match (i, t) {
                (0 | 2, t) if is_text(t) => DataType::Utf8,
                (1, DataType::Timestamp(_, tz)) => {
                    DataType::Timestamp(TimeUnit::Microsecond, tz.clone())
                }
                (1, DataType::Date32 | DataType::Date64) => DataType::Date32,
                (1, DataType::Interval(_)) => DataType::Interval(IntervalUnit::MonthDayNano),
                // PostgreSQL casts a time to interval (implicitly) for date_trunc
                (1, DataType::Time32(_) | DataType::Time64(_)) => {
                    DataType::Time64(TimeUnit::Microsecond)
                }
                // an untyped literal or NULL: timestamptz, PostgreSQL's preferred type
                (1, t) if is_text(t) => {
                    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC_LABEL.into()))
                }
                (_, t) => t.clone(),
            })
            .collect())
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let three = arg_types.len() == 3;
        let valid = (2..=3).contains(&arg_types.len())
            && arg_types[0] == DataType::Utf8
            && arg_types.get(2).is_none_or(|t| *t == DataType::Utf8);
        Ok(match arg_types.get(1) {
            Some(DataType::Timestamp(TimeUnit::Microsecond, None)) if valid && !three => {
                DataType::Timestamp(TimeUnit::Microsecond, None)
            }
            Some(DataType::Timestamp(TimeUnit::Microsecond, Some(tz))) if valid => {
                DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::clone(tz)))
            }
            // the three-argument form is PostgreSQL's date_trunc(text, timestamptz, text)
            Some(DataType::Timestamp(TimeUnit::Microsecond, None) | DataType::Date32) if valid => {
                DataType::Timestamp(TimeUnit::Microsecond, Some(UTC_LABEL.into()))
            }
            Some(DataType::Interval(IntervalUnit::MonthDayNano))
            | Some(DataType::Time64(TimeUnit::Microsecond))
                if valid && !three =>
            {
                DataType::Interval(IntervalUnit::MonthDayNano)
            }
            _ => return Err(no_such_function("date_trunc", arg_types)),
        })
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        // Truncation on a wall clock at a fixed offset never reverses two values; across a
        // named zone's offset changes it can (an offset that drops by minutes just after a
        // unit boundary), so then the order is not claimed.
        Ok(if inputs.len() == 2 && self.tz.fixed_offset().is_some() {
            super::time_bucket::order_of_second_argument(inputs)
        } else {
            SortProperties::Unordered
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ScalarFunctionArgs {
            args,
            number_rows,
            return_field,
            ..
        } = args;
        if !(2..=3).contains(&args.len()) {
            return exec_err!("date_trunc expects 2 or 3 arguments, got {}", args.len());
        }
        let all_scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { number_rows };
        let out_type = return_field.data_type().clone();
        let value = args[1].to_array(rows)?;
        let unit = text_arg(&args[0]);
        let zone = args.get(2).map(text_arg);
        let result = match (unit, zone) {
            (TextArg::Scalar(Some(unit)), None) => self.trunc(&unit, None, &value, &out_type)?,
            (TextArg::Scalar(Some(unit)), Some(TextArg::Scalar(Some(zone)))) => {
                self.trunc(&unit, Some(parse_zone(&zone)?), &value, &out_type)?
            }
            (TextArg::Scalar(None), _) | (_, Some(TextArg::Scalar(None))) => {
                new_null_array(&out_type, value.len())
            }
            (unit, zone) => self.trunc_rows(&unit, zone.as_ref(), &value, &out_type)?,
        };
        if all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
                &result, 0,
            )?))
        } else {
            Ok(ColumnarValue::Array(result))
        }
    }
}

/// A text argument: one value for all rows, or one per row.
enum TextArg {
    Scalar(Option<String>),
    Array(ArrayRef),
}

impl TextArg {
    fn get(&self, row: usize) -> Option<String> {
        match self {
            TextArg::Scalar(s) => s.clone(),
            TextArg::Array(a) => ScalarValue::try_from_array(a, row)
                .ok()
                .and_then(|v| match v {
                    ScalarValue::Utf8(s) | ScalarValue::Utf8View(s) | ScalarValue::LargeUtf8(s) => {
                        s
                    }
                    _ => None,
                }),
        }
    }
}

fn text_arg(v: &ColumnarValue) -> TextArg {
    match v {
        ColumnarValue::Scalar(
            ScalarValue::Utf8(s) | ScalarValue::Utf8View(s) | ScalarValue::LargeUtf8(s),
        ) => TextArg::Scalar(s.clone()),
        ColumnarValue::Scalar(_) => TextArg::Scalar(None),
        ColumnarValue::Array(a) => TextArg::Array(Arc::clone(a)),
    }
}

/// The zone of the three-argument form (PostgreSQL's rules: fixed offsets, POSIX forms,
/// abbreviations, IANA names).
fn parse_zone(name: &str) -> Result<TimeZoneSetting> {
    super::time_bucket::parse_timezone(name)
}

impl DateTrunc {
    /// Truncates every value of `value` to `unit` (in `zone` if given).
    fn trunc(
        &self,
        unit: &str,
        zone: Option<TimeZoneSetting>,
        value: &ArrayRef,
        out_type: &DataType,
    ) -> Result<ArrayRef> {
        match value.data_type() {
            DataType::Interval(_) => {
                let unit = unit_for(unit, Kind::Interval)?;
                let out: IntervalMonthDayNanoArray = coerced::<IntervalMonthDayNanoType>(value)?
                    .unary(|iv| trunc_interval(unit, iv));
                Ok(Arc::new(out))
            }
            DataType::Time64(_) => {
                // a time is the interval since midnight
                let unit = unit_for(unit, Kind::Interval)?;
                let out: IntervalMonthDayNanoArray = coerced::<Time64MicrosecondType>(value)?
                    .unary(|us| trunc_interval(unit, IntervalMonthDayNano::new(0, 0, us * 1_000)));
                Ok(Arc::new(out))
            }
            DataType::Timestamp(_, None) if zone.is_none() => {
                let unit = unit_for(unit, Kind::Timestamp)?;
                trunc_naive(unit, coerced(value)?)
            }
            DataType::Timestamp(..) | DataType::Date32 => {
                let unit = unit_for(unit, Kind::Timestamptz)?;
                let utc = self.as_timestamptz(value)?;
                let out = trunc_zoned(unit, zone.unwrap_or(self.tz), &utc)?;
                Ok(Arc::new(out.with_data_type(out_type.clone())))
            }
            t => exec_err!("date_trunc: unexpected argument type {t}"),
        }
    }

    /// `value` as timestamptz µs since 1970 UTC: a date is midnight and a timestamp
    /// without time zone a wall clock in the session zone (PostgreSQL's casts).
    fn as_timestamptz(&self, value: &ArrayRef) -> Result<PrimitiveArray<TimestampMicrosecondType>> {
        let local = |t: i64| {
            if t == i64::MAX || t == i64::MIN {
                return Ok(t);
            }
            let r = self.tz.local_to_utc_usecs(t);
            if r < MIN_TIMESTAMP {
                return Err(out_of_range());
            }
            Ok(r)
        };
        match value.data_type() {
            DataType::Date32 => coerced::<Date32Type>(value)?.try_unary(|d| {
                if d == i32::MAX {
                    return Ok(i64::MAX);
                }
                if d == i32::MIN {
                    return Ok(i64::MIN);
                }
                let range = || {
                    user_error(
                        SqlState::DatetimeFieldOverflow,
                        "date out of range for timestamp",
                    )
                };
                let t = i64::from(d).checked_mul(USECS_PER_DAY).ok_or_else(range)?;
                local(t).map_err(|_| range())
            }),
            DataType::Timestamp(_, None) => {
                coerced::<TimestampMicrosecondType>(value)?.try_unary(local)
            }
            // a timestamptz: its values are UTC whatever its label (an Arc clone)
            _ => Ok(coerced::<TimestampMicrosecondType>(value)?.clone()),
        }
    }

    /// The slow path: a unit or zone that changes from row to row.
    fn trunc_rows(
        &self,
        unit: &TextArg,
        zone: Option<&TextArg>,
        value: &ArrayRef,
        out_type: &DataType,
    ) -> Result<ArrayRef> {
        let mut out = Vec::with_capacity(value.len());
        for row in 0..value.len() {
            let (Some(u), z) = (unit.get(row), zone.map(|z| z.get(row))) else {
                out.push(ScalarValue::try_from(out_type)?);
                continue;
            };
            let zone = match z {
                None => None,
                Some(None) => {
                    out.push(ScalarValue::try_from(out_type)?);
                    continue;
                }
                Some(Some(z)) => Some(parse_zone(&z)?),
            };
            let one = self.trunc(&u, zone, &value.slice(row, 1), out_type)?;
            out.push(ScalarValue::try_from_array(&one, 0)?);
        }
        if out.is_empty() {
            return Ok(new_null_array(out_type, 0));
        }
        ScalarValue::iter_to_array(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_looked_up_as_postgres_does() {
        assert_eq!(lookup("HOUR"), Lookup::Unit(Unit::Hour));
        assert_eq!(lookup("microseconds"), Lookup::Unit(Unit::Microsecond));
        assert_eq!(lookup("milliseconds"), Lookup::Unit(Unit::Millisecond));
        assert_eq!(lookup("millenniums"), Lookup::Unit(Unit::Millennium));
        assert_eq!(lookup("quarters"), Lookup::NotRecognized);
        assert_eq!(lookup(" hour"), Lookup::NotRecognized);
        assert_eq!(lookup("epoch"), Lookup::NotRecognized);
        assert_eq!(lookup("timezone_hour"), Lookup::Unsupported);
        assert_eq!(lookup(""), Lookup::NotRecognized);
        // the table must stay sorted for the binary search
        assert!(UNITS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn years_truncate_as_postgres_does() {
        // astronomical years: 0 is 1 BC, -49 is 50 BC
        assert_eq!(trunc_year(Unit::Decade, 2024), 2020);
        assert_eq!(trunc_year(Unit::Century, 2024), 2001);
        assert_eq!(trunc_year(Unit::Millennium, 2000), 1001);
        assert_eq!(trunc_year(Unit::Century, -49), -99); // 50 BC -> 100 BC
        assert_eq!(trunc_year(Unit::Decade, -4), -10); // 5 BC -> 11 BC
        assert_eq!(trunc_year(Unit::Millennium, -1499), -1999); // 1500 BC -> 2000 BC
    }

    #[test]
    fn weeks_start_on_monday() {
        // 2024-05-15 is a Wednesday; 2021-01-01 a Friday (ISO week 53 of 2020)
        let d = days_from_civil(2024, 5, 15);
        assert_eq!(civil_from_days(trunc_days(Unit::Week, d)), (2024, 5, 13));
        let d = days_from_civil(2021, 1, 1);
        assert_eq!(civil_from_days(trunc_days(Unit::Week, d)), (2020, 12, 28));
    }
}
