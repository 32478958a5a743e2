//! PostgreSQL's ordered-set aggregates that DataFusion lacks: `percentile_disc(fraction)
//! WITHIN GROUP (ORDER BY v)` and `mode() WITHIN GROUP (ORDER BY v)`.
//!
//! Both keep the group's non-NULL values (PostgreSQL's ignore NULLs too), sort them once
//! at the end with the `WITHIN GROUP` ordering (`DESC`, any sortable type), and pick:
//! - `percentile_disc`: the first value whose position in the ordering reaches the
//!   fraction, row `ceil(fraction * n)` counted from 1 (the first row for 0), as
//!   `percentile_disc_final` does; a fraction outside [0, 1] is 22003 `percentile value
//!   1.5 is not between 0 and 1`;
//! - `mode`: the most frequent value, the first in the ordering among equally frequent
//!   ones (`mode_final` replaces its candidate only on a strictly larger count).
//!
//! DataFusion's `percentile_cont` takes floats only and has no `_disc` form; `mode` has no
//! counterpart. The values are held as Arrow arrays, so memory grows with the group, as in
//! PostgreSQL's tuplesort (which spills; this does not).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, make_comparator, new_empty_array,
};
use datafusion::arrow::compute::{SortOptions, concat, filter, is_not_null, sort_to_indices, take};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, ColumnarValue, Signature, Volatility,
};

use crate::error::{Error, SqlState};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    PercentileDisc,
    Mode,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct OrderedSet {
    kind: Kind,
    signature: Signature,
}

impl OrderedSet {
    /// `percentile_disc(fraction) WITHIN GROUP (ORDER BY v)`.
    pub fn percentile_disc() -> Self {
        OrderedSet {
            kind: Kind::PercentileDisc,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    /// `mode() WITHIN GROUP (ORDER BY v)`.
    pub fn mode() -> Self {
        OrderedSet {
            kind: Kind::Mode,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn arity(&self) -> usize {
        match self.kind {
            Kind::PercentileDisc => 2,
            Kind::Mode => 1,
        }
    }
}

fn user_error(state: SqlState, msg: impl Into<String>) -> DataFusionError {
    DataFusionError::from(Error::user(state, msg.into()))
}

impl AggregateUDFImpl for OrderedSet {
    fn name(&self) -> &str {
        match self.kind {
            Kind::PercentileDisc => "percentile_disc",
            Kind::Mode => "mode",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != self.arity() {
            return Err(user_error(
                SqlState::UndefinedFunction,
                match self.kind {
                    Kind::PercentileDisc => {
                        "percentile_disc takes one fraction and one WITHIN GROUP (ORDER BY ...) \
                         expression: percentile_disc(0.5) WITHIN GROUP (ORDER BY v)"
                    }
                    Kind::Mode => {
                        "mode takes no argument and one WITHIN GROUP (ORDER BY ...) \
                         expression: mode() WITHIN GROUP (ORDER BY v)"
                    }
                },
            ));
        }
        let mut out = arg_types.to_vec();
        if self.kind == Kind::PercentileDisc {
            out[1] = DataType::Float64;
        }
        Ok(out)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first() {
            Some(t) => Ok(t.clone()),
            None => exec_err!(
                "{} needs a WITHIN GROUP (ORDER BY ...) expression",
                self.name()
            ),
        }
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> Result<Vec<FieldRef>> {
        let t = args.input_fields[0].data_type().clone();
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "values"),
            DataType::List(Arc::new(Field::new_list_field(t, true))),
            true,
        ))])
    }

    fn accumulator(&self, args: AccumulatorArgs<'_>) -> Result<Box<dyn Accumulator>> {
        let fraction = match self.kind {
            Kind::Mode => 0.0,
            Kind::PercentileDisc => {
                // a constant (evaluated without rows), possibly under the cast to float8
                let constant = args.exprs.get(1).and_then(|e| {
                    let empty = RecordBatch::new_empty(Arc::new(Schema::empty()));
                    match e.evaluate(&empty) {
                        Ok(ColumnarValue::Scalar(v)) => Some(v),
                        _ => None,
                    }
                });
                let Some(value) = constant else {
                    return Err(user_error(
                        SqlState::FeatureNotSupported,
                        "percentile_disc takes a constant fraction",
                    ));
                };
                match value.cast_to(&DataType::Float64)? {
                    ScalarValue::Float64(Some(p)) if (0.0..=1.0).contains(&p) => p,
                    ScalarValue::Float64(Some(p)) => {
                        return Err(user_error(
                            SqlState::NumericValueOutOfRange,
                            format!("percentile value {p} is not between 0 and 1"),
                        ));
                    }
                    // a NULL fraction gives NULL
                    _ => f64::NAN,
                }
            }
        };
        let options = args
            .order_bys
            .first()
            .map(|s| SortOptions {
                descending: s.options.descending,
                nulls_first: false,
            })
            .unwrap_or_default();
        Ok(Box::new(OrderedSetAccumulator {
            kind: self.kind,
            fraction,
            options,
            data_type: args.return_field.data_type().clone(),
            values: Vec::new(),
        }))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        // the values are sorted at the end, whatever order they arrive in
        AggregateOrderSensitivity::Insensitive
    }

    fn supports_within_group_clause(&self) -> bool {
        true
    }
}

#[derive(Debug)]
struct OrderedSetAccumulator {
    kind: Kind,
    /// NaN for a NULL fraction.
    fraction: f64,
    options: SortOptions,
    data_type: DataType,
    values: Vec<ArrayRef>,
}

impl OrderedSetAccumulator {
    fn push(&mut self, a: &ArrayRef) -> Result<()> {
        if a.is_empty() {
            return Ok(());
        }
        if a.null_count() == 0 {
            self.values.push(Arc::clone(a));
        } else {
            let keep: BooleanArray = is_not_null(a)?;
            self.values.push(filter(a, &keep)?);
        }
        Ok(())
    }

    fn all(&self) -> Result<Option<ArrayRef>> {
        let parts: Vec<&dyn Array> = self.values.iter().map(|a| a.as_ref()).collect();
        if parts.iter().all(|a| a.is_empty()) {
            return Ok(None);
        }
        Ok(Some(concat(&parts)?))
    }
}

impl Accumulator for OrderedSetAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        match values.first() {
            Some(a) => self.push(a),
            None => Ok(()),
        }
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(lists) = states.first() else {
            return Ok(());
        };
        let lists = lists.as_list::<i32>();
        for i in 0..lists.len() {
            if lists.is_valid(i) {
                self.push(&lists.value(i))?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let all = match self.all()? {
            Some(a) => a,
            None => new_empty_array(&self.data_type),
        };
        self.values = vec![Arc::clone(&all)];
        Ok(vec![ScalarValue::List(Arc::new(
            datafusion::common::utils::SingleRowListArrayBuilder::new(all).build_list_array(),
        ))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let Some(all) = self.all()? else {
            return ScalarValue::try_from(&self.data_type);
        };
        if self.fraction.is_nan() {
            return ScalarValue::try_from(&self.data_type);
        }
        let order = sort_to_indices(&all, Some(self.options), None)?;
        let sorted = take(&all, &order, None)?;
        let n = sorted.len();
        let pick = match self.kind {
            Kind::PercentileDisc => {
                let row = (self.fraction * n as f64).ceil() as usize;
                row.clamp(1, n) - 1
            }
            Kind::Mode => {
                let cmp = make_comparator(sorted.as_ref(), sorted.as_ref(), self.options)?;
                let (mut best, mut best_count) = (0, 0);
                let mut start = 0;
                for i in 1..=n {
                    if i == n || cmp(start, i).is_ne() {
                        if i - start > best_count {
                            best = start;
                            best_count = i - start;
                        }
                        start = i;
                    }
                }
                best
            }
        };
        ScalarValue::try_from_array(&sorted, pick)
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + self
                .values
                .iter()
                .map(|a| a.get_array_memory_size())
                .sum::<usize>()
    }
}
