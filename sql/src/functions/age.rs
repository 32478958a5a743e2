//! `age(a, b)`: the interval from `b` to `a` in years, months and days, as PostgreSQL 15's
//! `timestamp_age` / `timestamptz_age` compute it (`src/backend/utils/adt/timestamp.c`).
//!
//! The two values are broken into calendar fields (a `timestamptz` on the wall clock of
//! the session zone, a `date` at its midnight there, a `timestamp` as it is), subtracted
//! field by field, and negative fields borrow from the next larger one; a day borrows the
//! length of the month of the earlier operand. So `age('2024-03-01', '2024-01-15')` is
//! `1 mon 17 days` and `age('2024-01-31', '2024-02-29')` `-29 days`, not the 30-day
//! months of `a - b` (`justify_days`). The result's months are `years * 12 + months`, its
//! days the days, its time the rest. `age(x)` is `age(current_date, x)` (`rewrite.rs`),
//! as PostgreSQL defines it.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, IntervalMonthDayNanoArray};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, IntervalMonthDayNano, IntervalUnit, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use strata_pgtypes::calendar::civil_from_days;
use strata_pgtypes::tz::TimeZoneSetting;

use crate::functions::no_such_function;

const USECS_PER_SEC: i64 = 1_000_000;
const USECS_PER_DAY: i64 = 86_400 * USECS_PER_SEC;
/// The zone label Strata gives a timestamptz.
const UTC_LABEL: &str = "+00:00";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Age {
    signature: Signature,
    tz: TimeZoneSetting,
}

/// `age(a, b)` for a session in time zone `tz`.
pub fn age_udf(tz: TimeZoneSetting) -> ScalarUDF {
    ScalarUDF::new_from_impl(Age {
        signature: Signature::user_defined(Volatility::Stable),
        tz,
    })
}

fn is_datetime(t: &DataType) -> bool {
    matches!(t, DataType::Timestamp(..) | DataType::Date32)
}

impl ScalarUDFImpl for Age {
    fn name(&self) -> &str {
        "age"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        // an untyped literal (or NULL) next to a date/time value is a timestamptz, as in
        // PostgreSQL; anything else is refused by `return_type`
        Ok(arg_types
            .iter()
            .map(|t| match t {
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null => {
                    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC_LABEL.into()))
                }
                other => other.clone(),
            })
            .collect())
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [a, b] if is_datetime(a) && is_datetime(b) => {
                Ok(DataType::Interval(IntervalUnit::MonthDayNano))
            }
            _ => Err(no_such_function("age", args)),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [a, b] = args.args.as_slice() else {
            return exec_err!("age takes two arguments");
        };
        let scalar = matches!(a, ColumnarValue::Scalar(_)) && matches!(b, ColumnarValue::Scalar(_));
        let n = if scalar { 1 } else { args.number_rows };
        let (a, b) = (a.to_array(n)?, b.to_array(n)?);
        let a = local_micros(&a, self.tz)?;
        let b = local_micros(&b, self.tz)?;
        let out: IntervalMonthDayNanoArray = a
            .iter()
            .zip(b.iter())
            .map(|(x, y)| Some(age((*x)?, (*y)?)))
            .collect();
        let out: ArrayRef = Arc::new(out);
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
        } else {
            ColumnarValue::Array(out)
        })
    }
}

/// The wall-clock microseconds of each value: a timestamptz in the session zone, a date
/// at its midnight, a timestamp as it is.
fn local_micros(a: &ArrayRef, tz: TimeZoneSetting) -> Result<Vec<Option<i64>>> {
    fn each<T: ArrowPrimitiveType<Native = i64>>(
        a: &ArrayRef,
        f: impl Fn(i64) -> i64,
    ) -> Vec<Option<i64>> {
        a.as_primitive::<T>().iter().map(|v| v.map(&f)).collect()
    }
    let zoned = |utc: i64, zone: bool| {
        if zone {
            tz.utc_to_local_usecs(utc)
        } else {
            utc
        }
    };
    Ok(match a.data_type() {
        DataType::Timestamp(unit, label) => {
            let z = label.is_some();
            match unit {
                TimeUnit::Microsecond => each::<TimestampMicrosecondType>(a, |v| zoned(v, z)),
                TimeUnit::Nanosecond => {
                    each::<TimestampNanosecondType>(a, |v| zoned(v.div_euclid(1000), z))
                }
                TimeUnit::Millisecond => {
                    each::<TimestampMillisecondType>(a, |v| zoned(v.saturating_mul(1000), z))
                }
                TimeUnit::Second => {
                    each::<TimestampSecondType>(a, |v| zoned(v.saturating_mul(USECS_PER_SEC), z))
                }
            }
        }
        DataType::Date32 => a
            .as_primitive::<Date32Type>()
            .iter()
            .map(|d| d.map(|d| i64::from(d) * USECS_PER_DAY))
            .collect(),
        other => return exec_err!("age: an argument of type {other}"),
    })
}

/// Calendar fields of a wall-clock time: (year, month 1-12, day, hour, minute, second,
/// microsecond).
fn fields(local: i64) -> [i64; 7] {
    let days = local.div_euclid(USECS_PER_DAY);
    let t = local.rem_euclid(USECS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let secs = t / USECS_PER_SEC;
    [
        y,
        i64::from(m),
        i64::from(d),
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        t % USECS_PER_SEC,
    ]
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    const DAYS: [i64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if m == 2 && is_leap(y) {
        29
    } else {
        DAYS[((m - 1).rem_euclid(12)) as usize]
    }
}

/// `a - b` symbolically (PostgreSQL's `timestamp_age`), from wall-clock microseconds.
fn age(a: i64, b: i64) -> IntervalMonthDayNano {
    let (f1, f2) = (fields(a), fields(b));
    let mut d: [i64; 7] = std::array::from_fn(|i| f1[i] - f2[i]);
    let flip = a < b;
    if flip {
        d.iter_mut().for_each(|x| *x = -*x);
    }
    let [year, mon, mday, hour, min, sec, usec] = &mut d;
    while *usec < 0 {
        *usec += USECS_PER_SEC;
        *sec -= 1;
    }
    while *sec < 0 {
        *sec += 60;
        *min -= 1;
    }
    while *min < 0 {
        *min += 60;
        *hour -= 1;
    }
    while *hour < 0 {
        *hour += 24;
        *mday -= 1;
    }
    while *mday < 0 {
        // the length of the earlier operand's month
        let (y, m) = if flip { (f1[0], f1[1]) } else { (f2[0], f2[1]) };
        *mday += days_in_month(y, m);
        *mon -= 1;
    }
    while *mon < 0 {
        *mon += 12;
        *year -= 1;
    }
    if flip {
        d.iter_mut().for_each(|x| *x = -*x);
    }
    let [year, mon, mday, hour, min, sec, usec] = d;
    let micros = ((hour * 60 + min) * 60 + sec) * USECS_PER_SEC + usec;
    IntervalMonthDayNano::new(
        (year * 12 + mon) as i32,
        mday as i32,
        micros.saturating_mul(1000),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i64, m: u32, d: u32, h: i64) -> i64 {
        strata_pgtypes::calendar::days_from_civil(y, m, d) * USECS_PER_DAY
            + h * 3600 * USECS_PER_SEC
    }

    #[test]
    fn borrows_like_postgres() {
        // values from PostgreSQL 15
        let a = age(at(2024, 3, 1, 0), at(2024, 1, 15, 0));
        assert_eq!((a.months, a.days, a.nanoseconds), (1, 17, 0));
        let a = age(at(2024, 1, 31, 0), at(2024, 2, 29, 0));
        assert_eq!((a.months, a.days, a.nanoseconds), (0, -29, 0));
        let a = age(at(2001, 4, 10, 0), at(1957, 6, 13, 0));
        assert_eq!((a.months, a.days, a.nanoseconds), (43 * 12 + 9, 27, 0));
        let a = age(at(2024, 1, 1, 1), at(2023, 12, 31, 23));
        assert_eq!(
            (a.months, a.days, a.nanoseconds),
            (0, 0, 2 * 3600 * 1_000_000_000)
        );
    }
}
