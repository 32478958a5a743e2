//! `first(value, time)` and `last(value, time)`: TimescaleDB's bookend aggregates.
//!
//! `first` returns the `value` of the row with the smallest `time`, `last` the one of the row
//! with the largest `time`. Rows whose `time` is NULL are ignored; a NULL `value` at the
//! extreme time is returned as NULL (it is not skipped). Ties keep the row met first (the
//! comparison is strict, as TimescaleDB's transition function), which under parallel
//! execution means an unspecified one of the tied rows. No row with a non-NULL time gives
//! NULL. `value` can be of any type; `time` of any orderable type.
//!
//! The intermediate state is `(value, time)`, so partial aggregates merge exactly like input
//! rows. For integer-like time types (integers, timestamps, dates, times, durations) a
//! [`GroupsAccumulator`] is used so that `GROUP BY` with many groups stays fast; other time
//! types (text, floats, decimals...) use a plain [`Accumulator`].

use std::cmp::Ordering;
use std::mem::size_of;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, make_array, make_comparator,
    new_empty_array,
};
use datafusion::arrow::compute::{SortOptions, cast, not, nullif, prep_null_mask_filter};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

/// Which bookend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Which {
    First,
    Last,
}

impl Which {
    /// Whether a row whose time compares `o` to the current best replaces it.
    #[inline]
    fn better(self, o: Ordering) -> bool {
        match self {
            Which::First => o == Ordering::Less,
            Which::Last => o == Ordering::Greater,
        }
    }
}

/// The `first` / `last` aggregate function. See the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FirstLast {
    which: Which,
    signature: Signature,
}

impl FirstLast {
    /// `first(value, time)`.
    pub fn first() -> Self {
        Self {
            which: Which::First,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }

    /// `last(value, time)`.
    pub fn last() -> Self {
        Self {
            which: Which::Last,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for FirstLast {
    fn name(&self) -> &str {
        match self.which {
            Which::First => "first",
            Which::Last => "last",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn accumulator(&self, args: AccumulatorArgs<'_>) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(FirstLastAccumulator::try_new(
            self.which,
            args.expr_fields[0].data_type(),
            args.expr_fields[1].data_type(),
        )?))
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "value"),
                args.input_fields[0].data_type().clone(),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "time"),
                args.input_fields[1].data_type().clone(),
                true,
            )),
        ])
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs<'_>) -> bool {
        integer_like(args.expr_fields[1].data_type())
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs<'_>,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(FirstLastGroups::try_new(
            self.which,
            args.expr_fields[0].data_type(),
            args.expr_fields[1].data_type(),
        )?))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }
}

// ---------------------------------------------------------------------------------------------
// Accumulator (any time type)
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct FirstLastAccumulator {
    which: Which,
    time_type: DataType,
    /// The best time so far as a one-row array (compared with Arrow's comparator, so that the
    /// order is the same within a batch and across batches), `None` before any row.
    best_time: Option<ArrayRef>,
    best_value: ScalarValue,
}

impl FirstLastAccumulator {
    fn try_new(which: Which, value_type: &DataType, time_type: &DataType) -> Result<Self> {
        Ok(Self {
            which,
            time_type: time_type.clone(),
            best_time: None,
            best_value: ScalarValue::try_from(value_type)?,
        })
    }

    /// Folds rows (or partial states, which have the same shape) into the accumulator.
    fn consume(&mut self, values: &ArrayRef, times: &ArrayRef) -> Result<()> {
        if times.is_empty() || times.data_type() == &DataType::Null {
            return Ok(());
        }
        let nulls = times.logical_nulls();
        let cmp = make_comparator(times.as_ref(), times.as_ref(), SortOptions::default())?;
        let mut best: Option<usize> = None;
        for i in 0..times.len() {
            if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                continue;
            }
            best = match best {
                Some(b) if !self.which.better(cmp(i, b)) => Some(b),
                _ => Some(i),
            };
        }
        let Some(i) = best else { return Ok(()) };
        let replace = match &self.best_time {
            None => true,
            Some(current) => {
                let cmp =
                    make_comparator(times.as_ref(), current.as_ref(), SortOptions::default())?;
                self.which.better(cmp(i, 0))
            }
        };
        if replace {
            // Copied out of the batch so the accumulator does not keep the batch alive.
            self.best_time = Some(ScalarValue::try_from_array(times, i)?.to_array()?);
            self.best_value = ScalarValue::try_from_array(values, i)?;
        }
        Ok(())
    }
}

impl Accumulator for FirstLastAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.consume(&values[0], &values[1])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.consume(&states[0], &states[1])
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let time = match &self.best_time {
            Some(t) => ScalarValue::try_from_array(t, 0)?,
            None => ScalarValue::try_from(&self.time_type)?,
        };
        Ok(vec![self.best_value.clone(), time])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.best_value.clone())
    }

    fn size(&self) -> usize {
        size_of::<Self>() - size_of::<ScalarValue>()
            + self.best_value.size()
            + self
                .best_time
                .as_ref()
                .map_or(0, |t| t.get_array_memory_size())
    }
}

// ---------------------------------------------------------------------------------------------
// GroupsAccumulator (integer-like time types)
// ---------------------------------------------------------------------------------------------

/// Time types whose order is the order of their integer representation.
fn integer_like(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::Timestamp(..)
            | DataType::Date32
            | DataType::Date64
            | DataType::Time32(_)
            | DataType::Time64(_)
            | DataType::Duration(_)
    )
}

/// Reinterprets an array as another type with the same physical layout.
fn reinterpret(array: &ArrayRef, to: DataType) -> Result<ArrayRef> {
    Ok(make_array(
        array.to_data().into_builder().data_type(to).build()?,
    ))
}

/// An integer-like time array as i64 (nulls kept).
fn times_as_i64(times: &ArrayRef) -> Result<Int64Array> {
    let as_i64 = match times.data_type() {
        DataType::Timestamp(..)
        | DataType::Date64
        | DataType::Time64(_)
        | DataType::Duration(_) => reinterpret(times, DataType::Int64)?,
        DataType::Date32 | DataType::Time32(_) => {
            cast(&reinterpret(times, DataType::Int32)?, &DataType::Int64)?
        }
        _ => cast(times, &DataType::Int64)?,
    };
    Ok(as_i64.as_primitive::<Int64Type>().clone())
}

/// The inverse of [`times_as_i64`].
fn times_from_i64(times: Int64Array, to: &DataType) -> Result<ArrayRef> {
    let times: ArrayRef = Arc::new(times);
    match to {
        DataType::Timestamp(..)
        | DataType::Date64
        | DataType::Time64(_)
        | DataType::Duration(_) => reinterpret(&times, to.clone()),
        DataType::Date32 | DataType::Time32(_) => {
            reinterpret(&cast(&times, &DataType::Int32)?, to.clone())
        }
        _ => Ok(cast(&times, to)?),
    }
}

const NO_ROW: usize = usize::MAX;

struct FirstLastGroups {
    which: Which,
    value_type: DataType,
    time_type: DataType,
    /// Per group: the best time so far (meaningful where `has` is set).
    times: Vec<i64>,
    has: Vec<bool>,
    /// Per group: the value at the best time (a typed NULL before any row).
    values: Vec<ScalarValue>,
    /// Heap + inline bytes of `values`, kept up to date for `size()`.
    values_bytes: usize,
    /// Per group, during one batch: the batch row holding the group's new best, or `NO_ROW`.
    pending: Vec<usize>,
    /// Groups whose `pending` is set in the current batch.
    touched: Vec<usize>,
    null_value: ScalarValue,
}

impl std::fmt::Debug for FirstLastGroups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstLastGroups")
            .field("which", &self.which)
            .field("value_type", &self.value_type)
            .field("time_type", &self.time_type)
            .field("groups", &self.times.len())
            .finish()
    }
}

impl FirstLastGroups {
    fn try_new(which: Which, value_type: &DataType, time_type: &DataType) -> Result<Self> {
        Ok(Self {
            which,
            value_type: value_type.clone(),
            time_type: time_type.clone(),
            times: Vec::new(),
            has: Vec::new(),
            values: Vec::new(),
            values_bytes: 0,
            pending: Vec::new(),
            touched: Vec::new(),
            null_value: ScalarValue::try_from(value_type)?,
        })
    }

    fn resize(&mut self, total_num_groups: usize) {
        if self.times.len() < total_num_groups {
            let added = total_num_groups - self.times.len();
            self.times.resize(total_num_groups, 0);
            self.has.resize(total_num_groups, false);
            self.values
                .resize(total_num_groups, self.null_value.clone());
            self.values_bytes += added * self.null_value.size();
            self.pending.resize(total_num_groups, NO_ROW);
        }
    }

    fn consume(
        &mut self,
        values: &ArrayRef,
        times: &ArrayRef,
        group_indices: &[usize],
        filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let times = times_as_i64(times)?;
        let time_values = times.values();
        let time_nulls = times.nulls();
        for (row, &group) in group_indices.iter().enumerate() {
            if time_nulls.is_some_and(|n| n.is_null(row))
                || filter.is_some_and(|f| !f.is_valid(row) || !f.value(row))
            {
                continue;
            }
            let t = time_values[row];
            let replace = !self.has[group]
                || match self.which {
                    Which::First => t < self.times[group],
                    Which::Last => t > self.times[group],
                };
            if replace {
                self.times[group] = t;
                self.has[group] = true;
                if self.pending[group] == NO_ROW {
                    self.touched.push(group);
                }
                self.pending[group] = row;
            }
        }
        let mut touched = std::mem::take(&mut self.touched);
        let mut result = Ok(());
        for &group in &touched {
            let row = std::mem::replace(&mut self.pending[group], NO_ROW);
            if result.is_err() {
                continue;
            }
            match ScalarValue::try_from_array(values, row) {
                Ok(v) => {
                    self.values_bytes = self.values_bytes + v.size() - self.values[group].size();
                    self.values[group] = v;
                }
                Err(e) => result = Err(e),
            }
        }
        touched.clear();
        self.touched = touched;
        result
    }

    /// Removes the emitted groups, returning (values, times) for them.
    fn take(&mut self, emit_to: EmitTo) -> (Vec<ScalarValue>, Int64Array) {
        let values = emit_to.take_needed(&mut self.values);
        let times = emit_to.take_needed(&mut self.times);
        let has = emit_to.take_needed(&mut self.has);
        emit_to.take_needed(&mut self.pending);
        let emitted_bytes: usize = values.iter().map(ScalarValue::size).sum();
        self.values_bytes = self.values_bytes.saturating_sub(emitted_bytes);
        let times = times
            .into_iter()
            .zip(has)
            .map(|(t, h)| h.then_some(t))
            .collect::<Int64Array>();
        (values, times)
    }

    fn values_array(&self, values: Vec<ScalarValue>) -> Result<ArrayRef> {
        if values.is_empty() {
            Ok(new_empty_array(&self.value_type))
        } else {
            ScalarValue::iter_to_array(values)
        }
    }
}

impl GroupsAccumulator for FirstLastGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.consume(
            &values[0],
            &values[1],
            group_indices,
            opt_filter,
            total_num_groups,
        )
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (values, _) = self.take(emit_to);
        self.values_array(values)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (values, times) = self.take(emit_to);
        Ok(vec![
            self.values_array(values)?,
            times_from_i64(times, &self.time_type)?,
        ])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.consume(
            &values[0],
            &values[1],
            group_indices,
            None,
            total_num_groups,
        )
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let times = match opt_filter {
            None => Arc::clone(&values[1]),
            Some(filter) => {
                let dropped = not(&prep_null_mask_filter(filter))?;
                nullif(&values[1], &dropped)?
            }
        };
        Ok(vec![Arc::clone(&values[0]), times])
    }

    fn size(&self) -> usize {
        self.times.capacity() * size_of::<i64>()
            + self.has.capacity()
            + self.pending.capacity() * size_of::<usize>()
            + self.touched.capacity() * size_of::<usize>()
            + (self.values.capacity() - self.values.len()) * size_of::<ScalarValue>()
            + self.values_bytes
    }
}
