//! `make_interval(years, months, weeks, days, hours, mins, secs)`, PostgreSQL's: months
//! are `years * 12 + months`, days `weeks * 7 + days`, the time `hours`, `mins` and
//! `secs` (a float, rounded to the microsecond) together; an overflow is 22008
//! `interval out of range`. PostgreSQL's arguments are optional and usually named
//! (`make_interval(hours => 3)`); `rewrite.rs` (`PgFunctionForms`) passes all seven.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, IntervalMonthDayNanoArray};
use datafusion::arrow::datatypes::{
    DataType, Float64Type, Int64Type, IntervalMonthDayNano, IntervalUnit,
};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

use crate::error::{Error, SqlState};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MakeInterval {
    signature: Signature,
}

/// `make_interval` with its seven arguments.
pub fn make_interval_udf() -> Arc<ScalarUDF> {
    let mut types = vec![DataType::Int64; 6];
    types.push(DataType::Float64);
    Arc::new(ScalarUDF::new_from_impl(MakeInterval {
        signature: Signature::new(TypeSignature::Exact(types), Volatility::Immutable),
    }))
}

fn out_of_range() -> DataFusionError {
    DataFusionError::from(Error::user(
        SqlState::DatetimeFieldOverflow,
        "interval out of range",
    ))
}

fn make(v: [i64; 6], secs: f64) -> Result<IntervalMonthDayNano> {
    let [years, months, weeks, days, hours, mins] = v;
    let month = years
        .checked_mul(12)
        .and_then(|m| m.checked_add(months))
        .and_then(|m| i32::try_from(m).ok())
        .ok_or_else(out_of_range)?;
    let day = weeks
        .checked_mul(7)
        .and_then(|d| d.checked_add(days))
        .and_then(|d| i32::try_from(d).ok())
        .ok_or_else(out_of_range)?;
    let secs = (secs * 1e6).round_ties_even();
    if !secs.is_finite() || secs.abs() >= 9.2e18 {
        return Err(out_of_range());
    }
    let micros = hours
        .checked_mul(3_600_000_000)
        .and_then(|t| t.checked_add(mins.checked_mul(60_000_000)?))
        .and_then(|t| t.checked_add(secs as i64))
        .ok_or_else(out_of_range)?;
    let nanos = micros.checked_mul(1000).ok_or_else(out_of_range)?;
    Ok(IntervalMonthDayNano::new(month, day, nanos))
}

impl ScalarUDFImpl for MakeInterval {
    fn name(&self) -> &str {
        "make_interval"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Interval(IntervalUnit::MonthDayNano))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if args.args.len() != 7 {
            return exec_err!("make_interval takes seven arguments");
        }
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let n = if scalar { 1 } else { args.number_rows };
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(n))
            .collect::<Result<_>>()?;
        let ints: Vec<_> = arrays[..6]
            .iter()
            .map(|a| a.as_primitive::<Int64Type>())
            .collect();
        let secs = arrays[6].as_primitive::<Float64Type>();
        let mut out = Vec::with_capacity(n);
        for row in 0..n {
            if ints.iter().any(|a| a.is_null(row)) || secs.is_null(row) {
                out.push(None);
                continue;
            }
            let v: [i64; 6] = std::array::from_fn(|i| ints[i].value(row));
            out.push(Some(make(v, secs.value(row))?));
        }
        let out: ArrayRef = Arc::new(IntervalMonthDayNanoArray::from(out));
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
        } else {
            ColumnarValue::Array(out)
        })
    }
}
