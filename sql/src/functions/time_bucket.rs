//! `time_bucket`: TimescaleDB's bucketing function, with TimescaleDB's semantics.
//!
//! Forms (the argument types pick the form, as in TimescaleDB):
//!
//! | call | meaning |
//! | --- | --- |
//! | `time_bucket(width interval, ts)` | buckets aligned on 2000-01-03 00:00 (a Monday) for day/time widths, on 2000-01-01 for month widths |
//! | `time_bucket(width interval, ts, origin)` | origin of the same kind as `ts` (timestamp, timestamptz or date): buckets aligned on it |
//! | `time_bucket(width interval, ts, "offset" interval)` | `bucket(ts - offset) + offset` (PostgreSQL interval arithmetic) |
//! | `time_bucket(width interval, ts timestamptz, timezone text [, origin timestamptz [, "offset" interval]])` | buckets computed on the wall clock of `timezone`; UTC, fixed offsets or a tz database name (`Europe/Berlin`) |
//! | `time_bucket(width int, ts int [, "offset" int])` | integer floor bucketing, for int2/int4/int8 |
//!
//! `ts` may be any Arrow `Timestamp` (any unit, any time zone), `Date32` (`Date64` is cast to
//! `Date32`), or an integer. The result has the type of `ts` (for the timezone form a
//! timestamp without time zone is first read as UTC, as PostgreSQL does in a UTC session, and
//! the result is a timestamptz).
//!
//! Timestamptz values are UTC instants, so without a timezone argument they are bucketed in
//! UTC, whatever the Arrow time-zone string says (that is what TimescaleDB does too: its
//! timestamptz bucketing never looks at the session time zone). Month buckets take the UTC
//! calendar date.
//!
//! NULL in `width` or `ts` (or, for the 3-argument forms, in the third argument) gives NULL.
//! In the timezone form a NULL timezone gives NULL while a NULL origin means the default origin
//! and a NULL offset means no offset, exactly as TimescaleDB's non-strict 5-argument function.
//! Errors (bad width...) are only raised for rows whose `ts` is not NULL, as PostgreSQL never
//! calls a strict function on NULL input.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, PrimitiveArray, new_null_array,
};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, ArrowTimestampType, DataType, Date32Type, Int16Type, Int32Type, Int64Type,
    IntervalMonthDayNano, IntervalUnit, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use strata_pgtypes::calendar;
use strata_pgtypes::tz::TimeZoneSetting;

use crate::error::{Error, SqlState};

const NS_PER_SEC: i128 = 1_000_000_000;
const NS_PER_DAY: i128 = 86_400 * NS_PER_SEC;
/// TimescaleDB's default origin, Monday 2000-01-03 00:00:00, in ns since 1970-01-01.
const DEFAULT_ORIGIN_NS: i128 = 946_857_600 * NS_PER_SEC;
/// Month index (`year * 12 + month - 1`) of 2000-01, the default origin of month buckets.
const DEFAULT_ORIGIN_MONTH: i64 = 2000 * 12;
/// The time zone Strata gives timestamptz values (and the one a naive timestamp is read in
/// when the timezone form needs a timestamptz).
const UTC_TZ: &str = "+00:00";

fn user_error(state: SqlState, message: impl Into<String>) -> DataFusionError {
    DataFusionError::from(Error::user(state, message))
}

fn period_error() -> DataFusionError {
    user_error(
        SqlState::InvalidParameterValue,
        "period must be greater than 0",
    )
}

fn timestamp_out_of_range() -> DataFusionError {
    user_error(SqlState::DatetimeFieldOverflow, "timestamp out of range")
}

fn date_out_of_range() -> DataFusionError {
    user_error(SqlState::DatetimeFieldOverflow, "date out of range")
}

/// The order of a function's second argument (its time) if every other argument is
/// constant, for functions that never decrease when the time grows.
pub(super) fn order_of_second_argument(inputs: &[ExprProperties]) -> SortProperties {
    let others_constant = inputs
        .iter()
        .enumerate()
        .all(|(i, p)| i == 1 || p.sort_properties == SortProperties::Singleton);
    match inputs.get(1) {
        Some(ts) if others_constant => ts.sort_properties,
        _ => SortProperties::Unordered,
    }
}

/// The `time_bucket` scalar function. See the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TimeBucket {
    signature: Signature,
}

impl Default for TimeBucket {
    fn default() -> Self {
        Self::new()
    }
}

impl TimeBucket {
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for TimeBucket {
    fn name(&self) -> &str {
        "time_bucket"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(coerce_arguments(arg_types)?.swap_remove(1))
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_arguments(arg_types)
    }

    /// With constant width/origin/offset/timezone, `time_bucket` never decreases when `ts`
    /// grows (even with month offsets, whose clamping is monotone), so it keeps the order of
    /// `ts` (not strictly: many values share a bucket).
    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        Ok(order_of_second_argument(inputs))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ScalarFunctionArgs {
            args, number_rows, ..
        } = args;
        if !(2..=5).contains(&args.len()) {
            return exec_err!("time_bucket expects 2 to 5 arguments, got {}", args.len());
        }
        let all_scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { number_rows };
        let ts = args[1].to_array(rows)?;
        let result = if ts.data_type().is_integer() {
            eval_integer(&args, &ts)?
        } else {
            eval_temporal(&args, &ts)?
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

// ---------------------------------------------------------------------------------------------
// Argument types
// ---------------------------------------------------------------------------------------------

fn is_string(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

fn is_temporal(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
    )
}

/// The signed integer type an integer `ts` is bucketed in (at least int2, as PostgreSQL has
/// no 1-byte integer).
fn integer_target(dt: &DataType) -> DataType {
    match dt {
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => DataType::Int16,
        DataType::Int32 | DataType::UInt16 => DataType::Int32,
        _ => DataType::Int64,
    }
}

const MDN: DataType = DataType::Interval(IntervalUnit::MonthDayNano);

/// Maps the argument types to the ones `time_bucket` computes with; element 1 is also the
/// return type.
///
/// The integer form buckets in the type of `ts` (the width and offset are cast to it): unlike
/// PostgreSQL, which would use the common type of all arguments, because DataFusion types
/// every integer literal as int8 and `time_bucket(10, int4_column)` should stay int4.
fn coerce_arguments(arg_types: &[DataType]) -> Result<Vec<DataType>> {
    let n = arg_types.len();
    if !(2..=5).contains(&n) {
        return plan_err!("time_bucket expects 2 to 5 arguments, got {n}");
    }
    let (w, t) = (&arg_types[0], &arg_types[1]);
    let integer_form = t.is_integer() || (t == &DataType::Null && w.is_integer());
    if integer_form {
        if n > 3 {
            return plan_err!("time_bucket on integers takes 2 or 3 arguments, got {n}");
        }
        for (i, dt) in arg_types.iter().enumerate() {
            if !(dt.is_integer() || dt == &DataType::Null) {
                return plan_err!(
                    "time_bucket on integers needs integer arguments, argument {} is {dt}",
                    i + 1
                );
            }
        }
        let target = if t == &DataType::Null {
            integer_target(w)
        } else {
            integer_target(t)
        };
        return Ok(vec![target; n]);
    }

    let width = match w {
        DataType::Interval(_) | DataType::Null => MDN,
        s if is_string(s) => MDN,
        other => {
            return plan_err!("time_bucket: bucket_width must be an interval, got {other}");
        }
    };
    let mut ts = match t {
        DataType::Timestamp(..) | DataType::Date32 => t.clone(),
        DataType::Date64 => DataType::Date32,
        DataType::Null => DataType::Timestamp(TimeUnit::Microsecond, None),
        other => {
            return plan_err!(
                "time_bucket: ts must be a timestamp, timestamptz, date or integer, got {other}"
            );
        }
    };
    let timezone_form = n >= 4 || (n == 3 && is_string(&arg_types[2]));
    let mut out = vec![width, ts.clone()];
    if timezone_form {
        ts = match ts {
            DataType::Timestamp(unit, Some(tz)) => DataType::Timestamp(unit, Some(tz)),
            DataType::Timestamp(unit, None) => DataType::Timestamp(unit, Some(UTC_TZ.into())),
            _ => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC_TZ.into())),
        };
        out[1] = ts.clone();
        let tz = &arg_types[2];
        if !(is_string(tz) || tz == &DataType::Null) {
            return plan_err!("time_bucket: timezone must be text, got {tz}");
        }
        out.push(DataType::Utf8);
        if n >= 4 {
            let origin = &arg_types[3];
            if !(is_temporal(origin) || origin == &DataType::Null) {
                return plan_err!("time_bucket: origin must be a timestamptz, got {origin}");
            }
            out.push(ts.clone());
        }
        if n == 5 {
            let offset = &arg_types[4];
            if !(matches!(offset, DataType::Interval(_) | DataType::Null) || is_string(offset)) {
                return plan_err!("time_bucket: offset must be an interval, got {offset}");
            }
            out.push(MDN);
        }
    } else if n == 3 {
        match &arg_types[2] {
            DataType::Interval(_) | DataType::Null => out.push(MDN),
            dt if is_temporal(dt) => out.push(ts),
            other => {
                return plan_err!(
                    "time_bucket: the third argument must be an interval (offset), a value of \
                     the type of ts (origin) or a text time zone, got {other}"
                );
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Calendar helpers (proleptic Gregorian, days since 1970-01-01)
// ---------------------------------------------------------------------------------------------

/// Days since 1970-01-01 of a civil date, on `i64` months and days (month 1..=12).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    // callers pass a month in 1..=12 and a day in 1..=31
    calendar::days_from_civil(y, m as u32, d as u32)
}

/// Civil date (year, month 1..=12, day 1..=31) of a day number since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let (y, m, d) = calendar::civil_from_days(z);
    (y, i64::from(m), i64::from(d))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// `year * 12 + month - 1` of the day containing `t_ns`.
fn month_index_ns(t_ns: i128) -> i64 {
    let (y, m, _) = civil_from_days(t_ns.div_euclid(NS_PER_DAY) as i64);
    y * 12 + m - 1
}

/// First day (days since epoch) of a month index.
fn month_start_days(index: i64) -> i64 {
    days_from_civil(index.div_euclid(12), index.rem_euclid(12) + 1, 1)
}

/// PostgreSQL's `timestamp + interval`: months first (clamping the day to the month's
/// length), then days (24 hours each: the computation is on a wall clock without DST), then
/// the time part.
fn add_interval(t_ns: i128, iv: IntervalMonthDayNano) -> i128 {
    let mut t = t_ns;
    if iv.months != 0 {
        let day = t.div_euclid(NS_PER_DAY);
        let time_of_day = t.rem_euclid(NS_PER_DAY);
        let (y, m, d) = civil_from_days(day as i64);
        let total = y * 12 + (m - 1) + iv.months as i64;
        let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) + 1);
        let nd = d.min(days_in_month(ny, nm));
        t = days_from_civil(ny, nm, nd) as i128 * NS_PER_DAY + time_of_day;
    }
    t + iv.days as i128 * NS_PER_DAY + iv.nanoseconds as i128
}

fn negate(iv: IntervalMonthDayNano) -> IntervalMonthDayNano {
    IntervalMonthDayNano::new(-iv.months, -iv.days, -iv.nanoseconds)
}

// ---------------------------------------------------------------------------------------------
// Time zones
// ---------------------------------------------------------------------------------------------

/// Parses a fixed-offset PostgreSQL time zone into its offset east of UTC, in ns: UTC and its aliases, the fixed zones
/// `Etc/GMT±N`, `EST`, `MST`, `HST`, and POSIX-style fixed offsets `NAME±hh[:mm[:ss]]` or
/// `±hh[:mm[:ss]]`. As in PostgreSQL, POSIX offsets count positive *west* of Greenwich:
/// `'UTC+3'` and `'+03:00'` are three hours behind UTC.
fn parse_fixed_timezone(name: &str) -> Option<i128> {
    let lower = name.to_ascii_lowercase();
    let hour = 3600 * NS_PER_SEC;
    let utc_aliases = [
        "utc",
        "gmt",
        "z",
        "zulu",
        "uct",
        "universal",
        "greenwich",
        "gmt0",
        "gmt+0",
        "gmt-0",
        "utc0",
        "etc/utc",
        "etc/gmt",
        "etc/uct",
        "etc/universal",
        "etc/zulu",
        "etc/greenwich",
        "etc/gmt0",
        "etc/gmt+0",
        "etc/gmt-0",
    ];
    if utc_aliases.contains(&lower.as_str()) {
        return Some(0);
    }
    match lower.as_str() {
        "est" => return Some(-5 * hour),
        "mst" => return Some(-7 * hour),
        "hst" => return Some(-10 * hour),
        _ => {}
    }
    if let Some(rest) = lower.strip_prefix("etc/gmt") {
        // Etc/GMT+5 is five hours *behind* UTC (POSIX sign), whole hours from -14 to +12.
        if let Some(west) = parse_posix_offset(rest)
            && west % hour == 0
            && (-14 * hour..=12 * hour).contains(&west)
            && (rest.starts_with('+') || rest.starts_with('-'))
        {
            return Some(-west);
        }
    }
    // POSIX "STDoffset" without a DST part: a name of letters then an offset.
    let letters = lower
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    if let Some(west) = parse_posix_offset(&lower[letters..]) {
        return Some(-west);
    }
    None
}

/// Parses a PostgreSQL time zone name: the fixed forms above, else an IANA zone name
/// (case-insensitive) from the tz database.
pub(crate) fn parse_timezone(name: &str) -> Result<TimeZoneSetting> {
    if let Some(east_ns) = parse_fixed_timezone(name) {
        return Ok(TimeZoneSetting::fixed((east_ns / NS_PER_SEC) as i32));
    }
    match strata_pgtypes::tz::lookup_name(name.trim()) {
        Some(tz) => Ok(TimeZoneSetting::named(tz)),
        None => Err(user_error(
            SqlState::InvalidParameterValue,
            format!("time zone \"{name}\" not recognized"),
        )),
    }
}

/// `[+-]hh[:mm[:ss]]` (or `[+-]hhmm`) in ns, positive as written; `None` if it is not one.
fn parse_posix_offset(s: &str) -> Option<i128> {
    let (sign, digits) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => (1, s),
    };
    let parts: Vec<&str> = digits.split(':').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let number = |p: &str, max_len: usize| -> Option<i128> {
        if p.is_empty() || p.len() > max_len || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    let (h, m, sec) = if parts.len() == 1 && parts[0].len() == 4 {
        (number(&parts[0][..2], 2)?, number(&parts[0][2..], 2)?, 0)
    } else {
        let h = number(parts[0], 3)?;
        let m = if parts.len() > 1 {
            number(parts[1], 2)?
        } else {
            0
        };
        let sec = if parts.len() > 2 {
            number(parts[2], 2)?
        } else {
            0
        };
        (h, m, sec)
    };
    if h > 167 || m > 59 || sec > 59 {
        return None;
    }
    Some(sign * ((h * 3600 + m * 60 + sec) * NS_PER_SEC))
}

// ---------------------------------------------------------------------------------------------
// Bucketing of timestamps and dates
// ---------------------------------------------------------------------------------------------

/// How a temporal `ts` is stored: its unit in ns, and whether it is a date (whose results are
/// whole days, as PostgreSQL converts the bucketed timestamp back to a date).
#[derive(Debug, Clone, Copy)]
struct TimeKind {
    unit_ns: i128,
    is_date: bool,
}

fn time_kind(dt: &DataType) -> Result<TimeKind> {
    Ok(match dt {
        DataType::Timestamp(TimeUnit::Second, _) => TimeKind {
            unit_ns: NS_PER_SEC,
            is_date: false,
        },
        DataType::Timestamp(TimeUnit::Millisecond, _) => TimeKind {
            unit_ns: 1_000_000,
            is_date: false,
        },
        DataType::Timestamp(TimeUnit::Microsecond, _) => TimeKind {
            unit_ns: 1_000,
            is_date: false,
        },
        DataType::Timestamp(TimeUnit::Nanosecond, _) => TimeKind {
            unit_ns: 1,
            is_date: false,
        },
        DataType::Date32 => TimeKind {
            unit_ns: NS_PER_DAY,
            is_date: true,
        },
        other => return exec_err!("time_bucket: unexpected ts type {other}"),
    })
}

#[derive(Debug, Clone, Copy)]
enum Width {
    /// A fixed period in ns (days count 24 hours).
    Fixed(i128),
    /// A number of calendar months.
    Months(i64),
}

/// Checks a bucket width as TimescaleDB does, in the same order, with the same messages.
fn validate_width(iv: IntervalMonthDayNano, kind: TimeKind) -> Result<Width> {
    if iv.months != 0 {
        if iv.days != 0 || iv.nanoseconds != 0 {
            return Err(user_error(
                SqlState::FeatureNotSupported,
                "month intervals cannot have day or time component",
            ));
        }
        if iv.months < 0 {
            return Err(period_error());
        }
        return Ok(Width::Months(iv.months as i64));
    }
    let period = iv.days as i128 * NS_PER_DAY + iv.nanoseconds as i128;
    if kind.is_date {
        if period < NS_PER_DAY {
            return Err(user_error(
                SqlState::FeatureNotSupported,
                "interval must not have sub-day precision",
            ));
        }
        if period % NS_PER_DAY != 0 {
            return Err(user_error(
                SqlState::FeatureNotSupported,
                "interval must be a multiple of a day",
            ));
        }
    }
    if period <= 0 {
        return Err(period_error());
    }
    Ok(Width::Fixed(period))
}

/// Everything needed to bucket one value, validated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    width: Width,
    /// For a fixed width, the origin modulo the period (ns, on the bucketing wall clock); for
    /// month widths, the month index of the origin.
    align: i128,
    offset: Option<IntervalMonthDayNano>,
    /// Offset east of UTC of the wall clock buckets are computed on (timezone form), in ns.
    tz_east_ns: i128,
    /// A zone with rules (timezone form with an IANA name): the offset depends on the instant.
    named: Option<TimeZoneSetting>,
    kind: TimeKind,
    fast: Option<Fast>,
}

/// Integer-only versions of [`Spec::apply_ns`] for the common cases, in units of `ts`.
#[derive(Debug, Clone, Copy)]
enum Fast {
    /// result = v - (v - shift) mod period
    Fixed { period: i64, shift: i64 },
    Months {
        months: i64,
        origin_index: i64,
        units_per_day: i64,
        tz: i64,
    },
}

impl Fast {
    /// `None` when an intermediate value overflows: the caller then takes the general path.
    #[inline]
    fn apply(&self, v: i64) -> Option<i64> {
        match *self {
            Fast::Fixed { period, shift } => {
                v.checked_sub(v.checked_sub(shift)?.rem_euclid(period))
            }
            Fast::Months {
                months,
                origin_index,
                units_per_day,
                tz,
            } => {
                let local = v.checked_add(tz)?;
                let (y, m, _) = civil_from_days(local.div_euclid(units_per_day));
                let index = y * 12 + m - 1;
                let bucket = index - (index - origin_index).rem_euclid(months);
                month_start_days(bucket)
                    .checked_mul(units_per_day)?
                    .checked_sub(tz)
            }
        }
    }
}

impl Spec {
    /// `origin_local_ns`: the origin on the bucketing wall clock, `None` for the default.
    fn new(
        width: IntervalMonthDayNano,
        kind: TimeKind,
        origin_local_ns: Option<i128>,
        offset: Option<IntervalMonthDayNano>,
        tz_east_ns: i128,
        named: Option<TimeZoneSetting>,
    ) -> Result<Self> {
        let width = validate_width(width, kind)?;
        let align = match width {
            Width::Fixed(p) => origin_local_ns.unwrap_or(DEFAULT_ORIGIN_NS).rem_euclid(p),
            Width::Months(_) => match origin_local_ns {
                None => DEFAULT_ORIGIN_MONTH as i128,
                Some(o) => month_index_ns(o) as i128,
            },
        };
        let mut spec = Spec {
            width,
            align,
            offset,
            tz_east_ns,
            named,
            kind,
            fast: None,
        };
        spec.fast = spec.fast_path();
        Ok(spec)
    }

    fn fast_path(&self) -> Option<Fast> {
        if self.named.is_some() {
            return None;
        }
        let unit = self.kind.unit_ns;
        match self.width {
            Width::Fixed(p) => {
                let offset_ns = match self.offset {
                    None => 0,
                    Some(o) if o.months == 0 => o.days as i128 * NS_PER_DAY + o.nanoseconds as i128,
                    Some(_) => return None,
                };
                let shift = (self.align + offset_ns - self.tz_east_ns).rem_euclid(p);
                if p % unit != 0 || shift % unit != 0 {
                    return None;
                }
                Some(Fast::Fixed {
                    period: i64::try_from(p / unit).ok()?,
                    shift: i64::try_from(shift / unit).ok()?,
                })
            }
            Width::Months(months) => {
                if self.offset.is_some_and(|o| o != IntervalMonthDayNano::ZERO)
                    || self.tz_east_ns % unit != 0
                {
                    return None;
                }
                Some(Fast::Months {
                    months,
                    origin_index: self.align as i64,
                    units_per_day: (NS_PER_DAY / unit) as i64,
                    tz: (self.tz_east_ns / unit) as i64,
                })
            }
        }
    }

    /// The bucket of a UTC (or naive) instant in ns, exactly as TimescaleDB computes it:
    /// to the wall clock, minus offset, bucket, plus offset, back from the wall clock.
    fn apply_ns(&self, ts_ns: i128) -> i128 {
        let mut t = ts_ns + self.east_ns_at_utc(ts_ns);
        if let Some(o) = self.offset {
            t = add_interval(t, negate(o));
        }
        t = match self.width {
            Width::Fixed(p) => t - (t - self.align).rem_euclid(p),
            Width::Months(months) => {
                let index = month_index_ns(t);
                let bucket = index - (index - self.align as i64).rem_euclid(months);
                month_start_days(bucket) as i128 * NS_PER_DAY
            }
        };
        if let Some(o) = self.offset {
            t = add_interval(t, o);
        }
        match self.named {
            // back from the wall clock with PostgreSQL's rules for DST gaps and overlaps
            Some(z) => t - z.local_offset(secs_of(t)) as i128 * NS_PER_SEC,
            None => t - self.tz_east_ns,
        }
    }

    /// The offset east of UTC of the bucketing wall clock at the UTC instant `ts_ns`.
    fn east_ns_at_utc(&self, ts_ns: i128) -> i128 {
        match self.named {
            Some(z) => z.utc_offset(secs_of(ts_ns)) as i128 * NS_PER_SEC,
            None => self.tz_east_ns,
        }
    }

    /// Buckets one value given in units of `ts`.
    #[inline]
    fn bucket(&self, v: i64) -> Result<i64> {
        if let Some(fast) = self.fast
            && let Some(r) = fast.apply(v)
        {
            return Ok(r);
        }
        let unit = self.kind.unit_ns;
        let r = self.apply_ns(v as i128 * unit);
        let r = if self.kind.is_date {
            r.div_euclid(NS_PER_DAY) * (NS_PER_DAY / unit)
        } else {
            r.div_euclid(unit)
        };
        i64::try_from(r).map_err(|_| timestamp_out_of_range())
    }
}

/// Whole seconds of an instant in ns, clamped to i64.
fn secs_of(ns: i128) -> i64 {
    ns.div_euclid(NS_PER_SEC)
        .clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

fn scalar_interval(v: &ScalarValue) -> Result<Option<IntervalMonthDayNano>> {
    match v {
        ScalarValue::IntervalMonthDayNano(iv) => Ok(*iv),
        v if v.is_null() => Ok(None),
        other => exec_err!("time_bucket: expected an interval, got {other:?}"),
    }
}

/// A timestamp or date scalar as ns since the epoch (UTC for timestamptz).
fn scalar_instant_ns(v: &ScalarValue) -> Result<Option<i128>> {
    Ok(match v {
        ScalarValue::TimestampSecond(x, _) => x.map(|x| x as i128 * NS_PER_SEC),
        ScalarValue::TimestampMillisecond(x, _) => x.map(|x| x as i128 * 1_000_000),
        ScalarValue::TimestampMicrosecond(x, _) => x.map(|x| x as i128 * 1_000),
        ScalarValue::TimestampNanosecond(x, _) => x.map(|x| x as i128),
        ScalarValue::Date32(x) => x.map(|x| x as i128 * NS_PER_DAY),
        v if v.is_null() => None,
        other => return exec_err!("time_bucket: expected a timestamp or date, got {other:?}"),
    })
}

fn scalar_string(v: &ScalarValue) -> Result<Option<String>> {
    match v {
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => {
            Ok(s.clone())
        }
        v if v.is_null() => Ok(None),
        other => exec_err!("time_bucket: expected a text time zone, got {other:?}"),
    }
}

/// The [`Spec`] for one set of non-`ts` arguments (`rest` = arguments 3.. of the call), or
/// `None` when the result is NULL.
fn build_spec(
    kind: TimeKind,
    timezone_form: bool,
    width: &ScalarValue,
    rest: &[ScalarValue],
) -> Result<Option<Spec>> {
    let Some(width) = scalar_interval(width)? else {
        return Ok(None);
    };
    if timezone_form {
        let Some(tz) = scalar_string(&rest[0])? else {
            return Ok(None);
        };
        let zone = parse_timezone(&tz)?;
        let (tz_east_ns, named) = match zone.fixed_offset() {
            Some(secs) => (secs as i128 * NS_PER_SEC, None),
            None => (0, Some(zone)),
        };
        let origin = match rest.get(1) {
            Some(o) => scalar_instant_ns(o)?.map(|o| match named {
                Some(z) => o + z.utc_offset(secs_of(o)) as i128 * NS_PER_SEC,
                None => o + tz_east_ns,
            }),
            None => None,
        };
        let offset = match rest.get(2) {
            Some(o) => scalar_interval(o)?,
            None => None,
        };
        return Spec::new(width, kind, origin, offset, tz_east_ns, named).map(Some);
    }
    match rest.first() {
        None => Spec::new(width, kind, None, None, 0, None).map(Some),
        Some(ScalarValue::IntervalMonthDayNano(None)) => Ok(None),
        Some(ScalarValue::IntervalMonthDayNano(Some(offset))) => {
            Spec::new(width, kind, None, Some(*offset), 0, None).map(Some)
        }
        Some(origin) => match scalar_instant_ns(origin)? {
            None => Ok(None),
            Some(o) => Spec::new(width, kind, Some(o), None, 0, None).map(Some),
        },
    }
}

/// Applies `f(row, value)` to the non-null values of a timestamp/date array, keeping its type.
/// `f` returning `Ok(None)` makes the row NULL.
fn map_temporal_rows(
    ts: &ArrayRef,
    f: &mut dyn FnMut(usize, i64) -> Result<Option<i64>>,
) -> Result<ArrayRef> {
    fn rows<T: ArrowPrimitiveType<Native = i64>>(
        a: &PrimitiveArray<T>,
        f: &mut dyn FnMut(usize, i64) -> Result<Option<i64>>,
    ) -> Result<PrimitiveArray<T>> {
        let mut out = Vec::with_capacity(a.len());
        for i in 0..a.len() {
            out.push(if a.is_null(i) {
                None
            } else {
                f(i, a.value(i))?
            });
        }
        Ok(out.into_iter().collect())
    }
    Ok(match ts.data_type() {
        DataType::Date32 => {
            let a = ts.as_primitive::<Date32Type>();
            let mut out = Vec::with_capacity(a.len());
            for i in 0..a.len() {
                out.push(
                    match if a.is_null(i) {
                        None
                    } else {
                        f(i, a.value(i) as i64)?
                    } {
                        None => None,
                        Some(d) => Some(i32::try_from(d).map_err(|_| date_out_of_range())?),
                    },
                );
            }
            Arc::new(Date32Array::from(out))
        }
        DataType::Timestamp(unit, tz) => match unit {
            TimeUnit::Second => Arc::new(
                rows(ts.as_primitive::<TimestampSecondType>(), f)?.with_timezone_opt(tz.clone()),
            ),
            TimeUnit::Millisecond => Arc::new(
                rows(ts.as_primitive::<TimestampMillisecondType>(), f)?
                    .with_timezone_opt(tz.clone()),
            ),
            TimeUnit::Microsecond => Arc::new(
                rows(ts.as_primitive::<TimestampMicrosecondType>(), f)?
                    .with_timezone_opt(tz.clone()),
            ),
            TimeUnit::Nanosecond => Arc::new(
                rows(ts.as_primitive::<TimestampNanosecondType>(), f)?
                    .with_timezone_opt(tz.clone()),
            ),
        },
        other => return exec_err!("time_bucket: unexpected ts type {other}"),
    })
}

/// Buckets a whole timestamp/date array with one [`Spec`] (the vectorised common case).
fn map_temporal(ts: &ArrayRef, spec: &Spec) -> Result<ArrayRef> {
    fn unary<T: ArrowTimestampType>(
        ts: &ArrayRef,
        tz: &Option<Arc<str>>,
        spec: &Spec,
    ) -> Result<ArrayRef> {
        let out: PrimitiveArray<T> = ts.as_primitive::<T>().try_unary(|v| spec.bucket(v))?;
        Ok(Arc::new(out.with_timezone_opt(tz.clone())))
    }
    match ts.data_type() {
        DataType::Date32 => {
            let out: Date32Array = ts.as_primitive::<Date32Type>().try_unary(|d| {
                i32::try_from(spec.bucket(d as i64)?).map_err(|_| date_out_of_range())
            })?;
            Ok(Arc::new(out))
        }
        DataType::Timestamp(TimeUnit::Second, tz) => unary::<TimestampSecondType>(ts, tz, spec),
        DataType::Timestamp(TimeUnit::Millisecond, tz) => {
            unary::<TimestampMillisecondType>(ts, tz, spec)
        }
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            unary::<TimestampMicrosecondType>(ts, tz, spec)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, tz) => {
            unary::<TimestampNanosecondType>(ts, tz, spec)
        }
        other => exec_err!("time_bucket: unexpected ts type {other}"),
    }
}

/// The value of argument `arg` for row `row` (scalars are shared by all rows).
fn arg_value(arg: &ColumnarValue, row: usize) -> Result<ScalarValue> {
    match arg {
        ColumnarValue::Scalar(s) => Ok(s.clone()),
        ColumnarValue::Array(a) => ScalarValue::try_from_array(a, row),
    }
}

fn eval_temporal(args: &[ColumnarValue], ts: &ArrayRef) -> Result<ArrayRef> {
    let kind = time_kind(ts.data_type())?;
    let timezone_form = args.len() >= 4 || (args.len() == 3 && is_string(&args[2].data_type()));
    let others_scalar = args
        .iter()
        .enumerate()
        .all(|(i, a)| i == 1 || matches!(a, ColumnarValue::Scalar(_)));
    if others_scalar {
        let width = arg_value(&args[0], 0)?;
        let rest = args[2..]
            .iter()
            .map(|a| arg_value(a, 0))
            .collect::<Result<Vec<_>>>()?;
        return match build_spec(kind, timezone_form, &width, &rest) {
            Ok(Some(spec)) => map_temporal(ts, &spec),
            Ok(None) => Ok(new_null_array(ts.data_type(), ts.len())),
            // As PostgreSQL never calls a strict function on NULL input, an invalid width or
            // time zone is no error if every ts is NULL.
            Err(_) if ts.null_count() == ts.len() => Ok(new_null_array(ts.data_type(), ts.len())),
            Err(e) => Err(e),
        };
    }
    // Some width/origin/offset/timezone varies by row: one Spec per distinct argument set.
    let mut cached: Option<(Vec<ScalarValue>, Option<Spec>)> = None;
    map_temporal_rows(ts, &mut |row, v| {
        let key = args
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .map(|(_, a)| arg_value(a, row))
            .collect::<Result<Vec<_>>>()?;
        let spec = match &cached {
            Some((k, spec)) if *k == key => *spec,
            _ => {
                let spec = build_spec(kind, timezone_form, &key[0], &key[1..])?;
                cached = Some((key, spec));
                spec
            }
        };
        spec.map(|s| s.bucket(v)).transpose()
    })
}

// ---------------------------------------------------------------------------------------------
// Integers
// ---------------------------------------------------------------------------------------------

/// TimescaleDB's `TIME_BUCKET` macro for integers of range `min..=max`.
fn integer_bucket(period: i64, ts: i64, offset: i64, min: i64, max: i64) -> Result<i64> {
    if period <= 0 {
        return Err(period_error());
    }
    let mut ts = ts;
    let mut offset = offset;
    if offset != 0 {
        offset %= period;
        if (offset > 0 && ts < min + offset) || (offset < 0 && ts > max + offset) {
            return Err(timestamp_out_of_range());
        }
        ts -= offset;
    }
    let mut result = (ts / period) * period;
    if ts < 0 && ts % period != 0 {
        if result < min + period {
            return Err(timestamp_out_of_range());
        }
        result -= period;
    }
    let result = result + offset;
    if result < min || result > max {
        return Err(timestamp_out_of_range());
    }
    Ok(result)
}

fn scalar_i64(v: &ScalarValue) -> Result<Option<i64>> {
    Ok(match v {
        ScalarValue::Int8(x) => x.map(i64::from),
        ScalarValue::Int16(x) => x.map(i64::from),
        ScalarValue::Int32(x) => x.map(i64::from),
        ScalarValue::Int64(x) => *x,
        v if v.is_null() => None,
        other => return exec_err!("time_bucket: expected an integer, got {other:?}"),
    })
}

fn eval_integer(args: &[ColumnarValue], ts: &ArrayRef) -> Result<ArrayRef> {
    fn typed<T>(args: &[ColumnarValue], ts: &ArrayRef) -> Result<ArrayRef>
    where
        T: ArrowPrimitiveType,
        T::Native: Into<i64> + TryFrom<i64>,
    {
        let (min, max) = match T::DATA_TYPE {
            DataType::Int16 => (i16::MIN as i64, i16::MAX as i64),
            DataType::Int32 => (i32::MIN as i64, i32::MAX as i64),
            _ => (i64::MIN, i64::MAX),
        };
        let narrow = |r: i64| T::Native::try_from(r).map_err(|_| timestamp_out_of_range());
        let a = ts.as_primitive::<T>();
        let others_scalar = args
            .iter()
            .enumerate()
            .all(|(i, a)| i == 1 || matches!(a, ColumnarValue::Scalar(_)));
        if others_scalar {
            let period = scalar_i64(&arg_value(&args[0], 0)?)?;
            let offset = match args.get(2) {
                Some(o) => scalar_i64(&arg_value(o, 0)?)?,
                None => Some(0),
            };
            let (Some(period), Some(offset)) = (period, offset) else {
                return Ok(new_null_array(ts.data_type(), ts.len()));
            };
            let out: PrimitiveArray<T> =
                a.try_unary(|v| narrow(integer_bucket(period, v.into(), offset, min, max)?))?;
            return Ok(Arc::new(out));
        }
        let mut out: Vec<Option<T::Native>> = Vec::with_capacity(a.len());
        for i in 0..a.len() {
            if a.is_null(i) {
                out.push(None);
                continue;
            }
            let period = scalar_i64(&arg_value(&args[0], i)?)?;
            let offset = match args.get(2) {
                Some(o) => scalar_i64(&arg_value(o, i)?)?,
                None => Some(0),
            };
            out.push(match (period, offset) {
                (Some(p), Some(o)) => {
                    Some(narrow(integer_bucket(p, a.value(i).into(), o, min, max)?)?)
                }
                _ => None,
            });
        }
        Ok(Arc::new(out.into_iter().collect::<PrimitiveArray<T>>()))
    }
    match ts.data_type() {
        DataType::Int16 => typed::<Int16Type>(args, ts),
        DataType::Int32 => typed::<Int32Type>(args, ts),
        DataType::Int64 => typed::<Int64Type>(args, ts),
        other => exec_err!("time_bucket: unexpected integer type {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Bucket grids (for gap filling)
// ---------------------------------------------------------------------------------------------

/// Buckets values of one `ts` type with fixed arguments, and steps from one bucket to the
/// next: what `time_bucket_gapfill` needs to lay out the buckets between start and finish.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bucketer {
    Temporal(Spec),
    Integer { period: i64, min: i64, max: i64 },
}

impl Bucketer {
    /// `ts_type` is the (coerced) type of `ts`, `width` the bucket width and `rest` the
    /// arguments after `ts` of the equivalent `time_bucket` call (a time zone, an origin or an
    /// offset). `Ok(None)` when an argument is NULL.
    pub(crate) fn new(
        ts_type: &DataType,
        width: &ScalarValue,
        rest: &[ScalarValue],
    ) -> Result<Option<Bucketer>> {
        if ts_type.is_integer() {
            let Some(period) = scalar_i64(width)? else {
                return Ok(None);
            };
            if period <= 0 {
                return Err(period_error());
            }
            let (min, max) = match ts_type {
                DataType::Int16 => (i16::MIN as i64, i16::MAX as i64),
                DataType::Int32 => (i32::MIN as i64, i32::MAX as i64),
                _ => (i64::MIN, i64::MAX),
            };
            return Ok(Some(Bucketer::Integer { period, min, max }));
        }
        let kind = time_kind(ts_type)?;
        let timezone_form = rest.first().is_some_and(|r| is_string(&r.data_type()));
        Ok(build_spec(kind, timezone_form, width, rest)?.map(Bucketer::Temporal))
    }

    /// The bucket of `v` (in units of `ts`: days for dates).
    pub(crate) fn bucket(&self, v: i64) -> Result<i64> {
        match *self {
            Bucketer::Temporal(spec) => spec.bucket(v),
            Bucketer::Integer { period, min, max } => integer_bucket(period, v, 0, min, max),
        }
    }

    /// The bucket after the bucket starting at `bucket`.
    pub(crate) fn next(&self, bucket: i64) -> Result<i64> {
        let overflow = || timestamp_out_of_range();
        match *self {
            Bucketer::Integer { period, max, .. } => match bucket.checked_add(period) {
                Some(n) if n <= max => Ok(n),
                _ => Err(overflow()),
            },
            Bucketer::Temporal(spec) => {
                let unit = spec.kind.unit_ns;
                // A point inside the next bucket: one period on for fixed widths, 31 days a
                // month on for month widths (n months <= 31n days < 2n months).
                let step_ns = match spec.width {
                    Width::Fixed(p) => p,
                    Width::Months(m) => m as i128 * 31 * NS_PER_DAY,
                };
                let step = i64::try_from((step_ns + unit - 1) / unit).map_err(|_| overflow())?;
                spec.bucket(bucket.checked_add(step).ok_or_else(overflow)?)
            }
        }
    }
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for day in (-800_000..800_000).step_by(37) {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
            assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 1, 3), 10_959);
        assert_eq!(DEFAULT_ORIGIN_NS, 10_959 * NS_PER_DAY);
    }

    #[test]
    fn integer_bucket_matches_timescaledb_macro() {
        // Values observed on TimescaleDB 2.23 (see tests.rs).
        let (min, max) = (i16::MIN as i64, i16::MAX as i64);
        assert_eq!(integer_bucket(10, 7, 0, min, max).unwrap(), 0);
        assert_eq!(integer_bucket(10, -7, 0, min, max).unwrap(), -10);
        assert_eq!(integer_bucket(10, -10, 0, min, max).unwrap(), -10);
        assert_eq!(integer_bucket(5, 7, -12, min, max).unwrap(), 3);
        assert_eq!(integer_bucket(10, 32767, 0, min, max).unwrap(), 32760);
        assert_eq!(integer_bucket(10, 32765, 7, min, max).unwrap(), 32757);
        assert_eq!(integer_bucket(10, 32760, -7, min, max).unwrap(), 32753);
        assert!(integer_bucket(10, -32760, 7, min, max).is_err());
        assert!(integer_bucket(10, -32765, 0, min, max).is_err());
        assert!(integer_bucket(0, 1, 0, min, max).is_err());
        assert!(integer_bucket(10, i64::MIN, 0, i64::MIN, i64::MAX).is_err());
    }

    #[test]
    fn posix_time_zones() {
        let h = 3600 * NS_PER_SEC;
        let parse_timezone = |v: &str| parse_fixed_timezone(v).ok_or(());
        assert_eq!(parse_timezone("UTC").unwrap(), 0);
        assert_eq!(parse_timezone("utc").unwrap(), 0);
        assert_eq!(parse_timezone("Etc/GMT+2").unwrap(), -2 * h);
        assert_eq!(parse_timezone("Etc/GMT-2").unwrap(), 2 * h);
        assert_eq!(parse_timezone("UTC+3").unwrap(), -3 * h);
        assert_eq!(
            parse_timezone("UTC-05:30").unwrap(),
            5 * h + 30 * 60 * NS_PER_SEC
        );
        assert_eq!(
            parse_timezone("+05:30").unwrap(),
            -(5 * h + 30 * 60 * NS_PER_SEC)
        );
        assert_eq!(parse_timezone("-8").unwrap(), 8 * h);
        assert_eq!(parse_timezone("8").unwrap(), -8 * h);
        assert_eq!(parse_timezone("EST").unwrap(), -5 * h);
        assert_eq!(parse_timezone("XY+2").unwrap(), -2 * h);
        assert_eq!(
            parse_timezone("UTC+03:30:15").unwrap(),
            -(3 * h + (30 * 60 + 15) * NS_PER_SEC)
        );
        assert!(parse_timezone("Europe/Berlin").is_err());
        assert!(parse_timezone("EST5EDT").is_err());
        // zone names are looked up in the tz database
        let named = |v: &str| super::parse_timezone(v).ok().and_then(|z| z.iana_name());
        assert_eq!(named("europe/berlin"), Some("Europe/Berlin"));
        assert_eq!(named("EST5EDT"), Some("EST5EDT"));
        assert!(super::parse_timezone("nonsense").is_err());
        assert!(parse_timezone("").is_err());
        assert!(parse_timezone("nonsense").is_err());
    }
}
