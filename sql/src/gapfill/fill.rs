//! The per-group computations of gap filling, on plain vectors and Arrow arrays: laying out
//! rows and gaps, LOCF and linear interpolation with TimescaleDB's rules.

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float32Array, Float64Array, Int64Array, new_null_array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type, Int64Type, TimeUnit};
use datafusion::common::{Result, ScalarValue, exec_err};

use super::user_error;
use crate::error::SqlState;

/// One output row of a group: a row of the input (by index) or a gap at a bucket time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Row(usize),
    Gap,
}

/// Lays out one group: `times` are the group's bucket times in ascending order, `grid` the
/// buckets of `[start, finish)`. Every row is kept (also those outside the grid); a grid
/// bucket without a row becomes a gap. Returns `(time, slot)` in time order.
pub fn layout(times: &[i64], grid: &[i64]) -> Vec<(i64, Slot)> {
    let mut out = Vec::with_capacity(times.len().max(grid.len()));
    let (mut i, mut j) = (0, 0);
    while i < times.len() || j < grid.len() {
        match (times.get(i), grid.get(j)) {
            (Some(&t), Some(&g)) if t < g => {
                out.push((t, Slot::Row(i)));
                i += 1;
            }
            (Some(&t), Some(&g)) if t == g => {
                out.push((t, Slot::Row(i)));
                i += 1;
                j += 1;
            }
            (_, Some(&g)) => {
                out.push((g, Slot::Gap));
                j += 1;
            }
            (Some(&t), None) => {
                out.push((t, Slot::Row(i)));
                i += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// Indices for `take` that give the LOCF column of one group over `values` extended by one
/// element at index `values.len()`, the `prev` value (used only when `has_prev`).
///
/// TimescaleDB's rules: a row keeps its value and becomes the last value (even when NULL),
/// except a NULL row with `treat_null_as_missing`, which is filled like a gap; a gap takes the
/// last value; `prev` is used, once, for the gap (or missing row) at `start` when there is no
/// last value yet.
pub fn locf_indices(
    layout: &[(i64, Slot)],
    values: &dyn Array,
    has_prev: bool,
    treat_null_as_missing: bool,
    start: i64,
) -> Vec<Option<u32>> {
    let prev_index = values.len() as u32;
    let mut last: Option<u32> = None;
    let fill = |time: i64, last: &mut Option<u32>| {
        if last.is_none() && has_prev && time == start {
            *last = Some(prev_index);
        }
        *last
    };
    layout
        .iter()
        .map(|&(time, slot)| match slot {
            Slot::Row(i) if values.is_null(i) && treat_null_as_missing => fill(time, &mut last),
            Slot::Row(i) => {
                last = (!values.is_null(i)).then_some(i as u32);
                Some(i as u32)
            }
            Slot::Gap => fill(time, &mut last),
        })
        .collect()
}

/// A number to interpolate, in the arithmetic of its type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    Int(i64),
    F32(f32),
    F64(f64),
}

/// A known point `(x, y)`; `x` in PostgreSQL's internal unit of the time type.
pub type Sample = (i64, Num);

/// Linear interpolation at `x` between `a` and `b`, as TimescaleDB computes it:
/// `(y0 (x1 - x) + y1 (x - x0)) / (x1 - x0)`, exactly and rounded half away from zero for
/// integers, in the float type for floats (returning `y0` when both are equal).
pub fn interpolate_at(x: i64, a: Sample, b: Sample) -> Option<Num> {
    let (x0, y0) = a;
    let (x1, y1) = b;
    if x1 == x0 {
        return None;
    }
    Some(match (y0, y1) {
        (Num::Int(y0), Num::Int(y1)) => {
            let (d1, d0, d) = (
                x1 as i128 - x as i128,
                x as i128 - x0 as i128,
                x1 as i128 - x0 as i128,
            );
            let exact = (y0 as i128)
                .checked_mul(d1)
                .zip((y1 as i128).checked_mul(d0))
                .and_then(|(p, q)| p.checked_add(q));
            let value = match exact {
                Some(num) => {
                    let (num, d) = if d < 0 { (-num, -d) } else { (num, d) };
                    let (q, r) = (num / d, num % d);
                    if 2 * r.abs() >= d {
                        q + num.signum()
                    } else {
                        q
                    }
                }
                None => {
                    let f = (y0 as f64 * d1 as f64 + y1 as f64 * d0 as f64) / d as f64;
                    f.round() as i128
                }
            };
            Num::Int(i64::try_from(value).ok()?)
        }
        (Num::F64(y0), Num::F64(y1)) => {
            if y0 == y1 {
                Num::F64(y0)
            } else {
                Num::F64((y0 * (x1 - x) as f64 + y1 * (x - x0) as f64) / (x1 - x0) as f64)
            }
        }
        (Num::F32(y0), Num::F32(y1)) => {
            if y0 == y1 {
                Num::F32(y0)
            } else {
                Num::F32((y0 * (x1 - x) as f32 + y1 * (x - x0) as f32) / (x1 - x0) as f32)
            }
        }
        _ => return None,
    })
}

/// The values of an interpolable column as [`Num`]s (NULL as `None`).
fn nums(values: &ArrayRef) -> Result<Vec<Option<Num>>> {
    Ok(match values.data_type() {
        DataType::Float64 => values
            .as_primitive::<Float64Type>()
            .iter()
            .map(|v| v.map(Num::F64))
            .collect(),
        DataType::Float32 => values
            .as_primitive::<Float32Type>()
            .iter()
            .map(|v| v.map(Num::F32))
            .collect(),
        DataType::Int16 | DataType::Int32 | DataType::Int64 => cast(values, &DataType::Int64)?
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| v.map(Num::Int))
            .collect(),
        other => return exec_err!("interpolate: unsupported type {other}"),
    })
}

/// A scalar of an interpolable type as a [`Num`].
pub fn scalar_num(v: &ScalarValue) -> Option<Num> {
    match v {
        ScalarValue::Float64(Some(f)) => Some(Num::F64(*f)),
        ScalarValue::Float32(Some(f)) => Some(Num::F32(*f)),
        ScalarValue::Int16(Some(i)) => Some(Num::Int(*i as i64)),
        ScalarValue::Int32(Some(i)) => Some(Num::Int(*i as i64)),
        ScalarValue::Int64(Some(i)) => Some(Num::Int(*i)),
        _ => None,
    }
}

/// The interpolated column of one group. `xs` are the layout's times in PostgreSQL units,
/// `before`/`after` the optional `(time, value)` samples for gaps before the first and after
/// the last row. Rows keep their value; a gap is interpolated between the previous and the
/// next row when both have a value (a NULL row interrupts interpolation), `before` standing
/// for the previous row at `start` and `after` for the next row after the last row.
pub fn interpolate_column(
    layout: &[(i64, Slot)],
    xs: &[i64],
    values: &ArrayRef,
    before: Option<Sample>,
    after: Option<Sample>,
    start: i64,
) -> Result<ArrayRef> {
    let ys = nums(values)?;
    // Index in the layout of the next row, for every position.
    let mut next_row: Vec<Option<usize>> = vec![None; layout.len()];
    let mut upcoming = None;
    for (k, &(_, slot)) in layout.iter().enumerate().rev() {
        next_row[k] = upcoming;
        if let Slot::Row(_) = slot {
            upcoming = Some(k);
        }
    }
    let mut prev: Option<Sample> = None;
    let mut out: Vec<Option<Num>> = Vec::with_capacity(layout.len());
    for (k, &(time, slot)) in layout.iter().enumerate() {
        match slot {
            Slot::Row(i) => {
                prev = ys[i].map(|y| (xs[k], y));
                out.push(ys[i]);
            }
            Slot::Gap => {
                if prev.is_none() && time == start {
                    prev = before;
                }
                let next = match next_row[k] {
                    Some(n) => match layout[n].1 {
                        Slot::Row(i) => ys[i].map(|y| (xs[n], y)),
                        Slot::Gap => None,
                    },
                    None => after,
                };
                out.push(match (prev, next) {
                    (Some(a), Some(b)) => interpolate_at(xs[k], a, b),
                    _ => None,
                });
            }
        }
    }
    let array: ArrayRef = match values.data_type() {
        DataType::Float64 => std::sync::Arc::new(
            out.iter()
                .map(|v| match v {
                    Some(Num::F64(f)) => Some(*f),
                    _ => None,
                })
                .collect::<Float64Array>(),
        ),
        DataType::Float32 => std::sync::Arc::new(
            out.iter()
                .map(|v| match v {
                    Some(Num::F32(f)) => Some(*f),
                    _ => None,
                })
                .collect::<Float32Array>(),
        ),
        dt => {
            let ints: ArrayRef = std::sync::Arc::new(
                out.iter()
                    .map(|v| match v {
                        Some(Num::Int(i)) => Some(*i),
                        _ => None,
                    })
                    .collect::<Int64Array>(),
            );
            if ints.null_count() == ints.len() {
                new_null_array(dt, ints.len())
            } else {
                cast(&ints, dt)?
            }
        }
    };
    Ok(array)
}

/// Multiplier/divisor from a time type's unit to PostgreSQL's internal unit (microseconds
/// for timestamps, days for dates, the value itself for integers), as `(mul, div)`.
pub fn pg_units(dt: &DataType) -> (i64, i64) {
    match dt {
        DataType::Timestamp(TimeUnit::Second, _) => (1_000_000, 1),
        DataType::Timestamp(TimeUnit::Millisecond, _) => (1_000, 1),
        DataType::Timestamp(TimeUnit::Microsecond, _) => (1, 1),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => (1, 1_000),
        _ => (1, 1),
    }
}

/// A `(time, value)` struct scalar (the `prev`/`next` argument of `interpolate`) as a sample,
/// the time converted to `time_type` and then to PostgreSQL units, the value to `value_type`.
pub fn struct_sample(
    v: &ScalarValue,
    time_type: &DataType,
    value_type: &DataType,
) -> Result<Option<Sample>> {
    let ScalarValue::Struct(s) = v else {
        return Ok(None);
    };
    if s.is_null(0) {
        return Ok(None);
    }
    if s.num_columns() != 2 {
        return Err(user_error(
            SqlState::InvalidParameterValue,
            "interpolate RECORD arguments must have 2 elements",
        ));
    }
    let time = ScalarValue::try_from_array(s.column(0), 0)?;
    let value = ScalarValue::try_from_array(s.column(1), 0)?;
    let time = time.cast_to(time_type).map_err(|_| {
        user_error(
            SqlState::InvalidParameterValue,
            "first argument of interpolate returned record must match used timestamp datatype",
        )
    })?;
    let value = value.cast_to(value_type).map_err(|_| {
        user_error(
            SqlState::InvalidParameterValue,
            "second argument of interpolate returned record must match used interpolate \
             datatype",
        )
    })?;
    let Some(x) = scalar_time(&time)? else {
        return Ok(None);
    };
    let (mul, div) = pg_units(time_type);
    Ok(scalar_num(&value).map(|y| (x.saturating_mul(mul).div_euclid(div), y)))
}

/// A time scalar (timestamp, date or integer) as i64 in its own unit.
pub fn scalar_time(v: &ScalarValue) -> Result<Option<i64>> {
    Ok(match v {
        ScalarValue::TimestampSecond(x, _)
        | ScalarValue::TimestampMillisecond(x, _)
        | ScalarValue::TimestampMicrosecond(x, _)
        | ScalarValue::TimestampNanosecond(x, _)
        | ScalarValue::Int64(x) => *x,
        ScalarValue::Date32(x) | ScalarValue::Int32(x) => x.map(i64::from),
        ScalarValue::Int16(x) => x.map(i64::from),
        v if v.is_null() => None,
        other => return exec_err!("time_bucket_gapfill: unexpected time value {other:?}"),
    })
}
