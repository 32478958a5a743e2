//! `avg`: DataFusion's function in every respect (types, states, row accumulator, window
//! use), except the grouped accumulator of a float8 average.
//!
//! Why not DataFusion's: time-series rows arrive sorted by series and time (Strata's files
//! are sorted so, see `TableDef::series_columns`), so consecutive rows belong to the same
//! group of a `GROUP BY time_bucket(...), series`. DataFusion's accumulator adds every row
//! into `sums[group]` in memory; with the same group row after row, each addition waits for
//! the previous one's store to reach the load (a loop-carried dependency through memory),
//! and ten `avg`s over 432 k rows took a quarter of double-groupby-all's CPU in `perf`
//! (`NullState::accumulate`). This accumulator adds a run of rows of one group in a
//! register and stores once per run. The additions happen in the same order as
//! DataFusion's, so every sum, and every average, is bit for bit the same.
//!
//! Groups that saw no value have a count of 0: their state and their average are NULL, as
//! DataFusion's (which tracks that in a separate bitmap).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, UInt64Array};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, FieldRef, Float64Type, UInt64Type};
use datafusion::common::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator,
    ReversedUDAF, Signature,
};

/// `avg` (alias `mean`), see the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Avg;

impl AggregateUDFImpl for Avg {
    fn name(&self) -> &str {
        "avg"
    }

    fn aliases(&self) -> &[String] {
        inner().aliases()
    }

    fn signature(&self) -> &Signature {
        inner().signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        inner().inner().return_type(arg_types)
    }

    fn accumulator(&self, args: AccumulatorArgs<'_>) -> Result<Box<dyn Accumulator>> {
        inner().inner().accumulator(args)
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> Result<Vec<FieldRef>> {
        inner().inner().state_fields(args)
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs<'_>) -> bool {
        inner().inner().groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs<'_>,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        match (
            args.expr_fields.first().map(|f| f.data_type()),
            args.return_field.data_type(),
        ) {
            (Some(DataType::Float64), DataType::Float64) if !args.is_distinct => {
                Ok(Box::<FloatAvgGroups>::default())
            }
            _ => inner().inner().create_groups_accumulator(args),
        }
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }

    fn documentation(&self) -> Option<&Documentation> {
        inner().documentation()
    }
}

/// DataFusion's `avg`, which every method but the grouped float8 accumulator delegates to.
fn inner() -> &'static AggregateUDF {
    static INNER: std::sync::OnceLock<Arc<AggregateUDF>> = std::sync::OnceLock::new();
    INNER
        .get_or_init(datafusion::functions_aggregate::average::avg_udaf)
        .as_ref()
}

/// Sum and count of each group's float8 values.
#[derive(Debug, Default)]
struct FloatAvgGroups {
    sums: Vec<f64>,
    counts: Vec<u64>,
}

impl FloatAvgGroups {
    fn resize(&mut self, groups: usize) {
        self.sums.resize(groups, 0.0);
        self.counts.resize(groups, 0);
    }
}

/// NULL where a group saw no value.
fn seen(counts: &[u64]) -> Option<NullBuffer> {
    counts
        .contains(&0)
        .then(|| NullBuffer::from_iter(counts.iter().map(|&c| c != 0)))
}

/// Whether row `i` counts: a value, not filtered out.
fn counts_row(values: &Float64Array, filter: Option<&BooleanArray>, i: usize) -> bool {
    values.is_valid(i) && filter.is_none_or(|f| f.is_valid(i) && f.value(i))
}

impl GroupsAccumulator for FloatAvgGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let values = values[0].as_primitive::<Float64Type>();
        self.resize(total_num_groups);
        let data = values.values();
        if values.null_count() > 0 || opt_filter.is_some() {
            for (i, (&g, &v)) in group_indices.iter().zip(data.iter()).enumerate() {
                if counts_row(values, opt_filter, i) {
                    self.sums[g] += v;
                    self.counts[g] += 1;
                }
            }
            return Ok(());
        }
        let (mut groups, mut data) = (group_indices, &data[..]);
        while let Some(&g) = groups.first() {
            let run = groups.iter().position(|&x| x != g).unwrap_or(groups.len());
            let (run_values, rest) = data.split_at(run);
            let mut sum = self.sums[g];
            for &v in run_values {
                sum += v;
            }
            self.sums[g] = sum;
            self.counts[g] += run as u64;
            groups = &groups[run..];
            data = rest;
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let counts = emit_to.take_needed(&mut self.counts);
        let sums = emit_to.take_needed(&mut self.sums);
        let nulls = seen(&counts);
        let averages: Vec<f64> = sums
            .iter()
            .zip(&counts)
            .map(|(&s, &c)| s / c as f64)
            .collect();
        Ok(Arc::new(Float64Array::new(averages.into(), nulls)))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let counts = emit_to.take_needed(&mut self.counts);
        let sums = emit_to.take_needed(&mut self.sums);
        let nulls = seen(&counts);
        Ok(vec![
            Arc::new(UInt64Array::new(counts.into(), nulls.clone())),
            Arc::new(Float64Array::new(sums.into(), nulls)),
        ])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        let counts = values[0].as_primitive::<UInt64Type>();
        let sums = values[1].as_primitive::<Float64Type>();
        self.resize(total_num_groups);
        for (i, &g) in group_indices.iter().enumerate() {
            if counts.is_valid(i) && sums.is_valid(i) {
                self.counts[g] += counts.value(i);
                self.sums[g] += sums.value(i);
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let values = values[0].as_primitive::<Float64Type>();
        let nulls =
            NullBuffer::from_iter((0..values.len()).map(|i| counts_row(values, opt_filter, i)));
        let counts = UInt64Array::new(vec![1u64; values.len()].into(), Some(nulls.clone()));
        let sums = Float64Array::new(values.values().clone(), Some(nulls));
        Ok(vec![Arc::new(counts), Arc::new(sums)])
    }

    fn size(&self) -> usize {
        self.sums.capacity() * size_of::<f64>() + self.counts.capacity() * size_of::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Float64Array;
    use proptest::prelude::*;

    /// DataFusion's float8 average of `values` per group, by its own accumulator.
    fn datafusion_avg(values: &Float64Array, groups: &[usize], n: usize) -> ArrayRef {
        use datafusion::arrow::datatypes::{Field, Schema};
        let input = Arc::new(Field::new("v", DataType::Float64, true));
        let ret = Arc::new(Field::new("avg", DataType::Float64, true));
        let schema = Schema::new(vec![input.as_ref().clone()]);
        let expr = datafusion::physical_expr::expressions::col("v", &schema).unwrap();
        let args = AccumulatorArgs {
            return_field: ret,
            schema: &schema,
            ignore_nulls: false,
            order_bys: &[],
            is_reversed: false,
            name: "avg",
            is_distinct: false,
            exprs: &[expr],
            expr_fields: &[input],
        };
        let mut acc = inner().inner().create_groups_accumulator(args).unwrap();
        let arr: ArrayRef = Arc::new(values.clone());
        acc.update_batch(&[arr], groups, None, n).unwrap();
        acc.evaluate(EmitTo::All).unwrap()
    }

    proptest! {
        /// Same averages, bit for bit, as DataFusion's accumulator, over runs of groups,
        /// NULLs, empty groups; and through partial states merged in two halves.
        #[test]
        fn same_as_datafusion(
            rows in proptest::collection::vec(
                (0usize..6, proptest::option::weighted(0.9, -1e6f64..1e6)), 0..300),
            runs in 1usize..40,
        ) {
            // groups in runs, as sorted input gives them
            let keys = rows.iter().enumerate().map(|(i, (g, _))| (i / runs + g) % 7);
            // numbered in order of first appearance, as an aggregation numbers its groups
            // (a group is made by its first row)
            let mut seen = vec![];
            let groups: Vec<usize> = keys
                .map(|k| seen.iter().position(|&s| s == k).unwrap_or_else(|| { seen.push(k); seen.len() - 1 }))
                .collect();
            let n = seen.len();
            let values = Float64Array::from(rows.iter().map(|(_, v)| *v).collect::<Vec<_>>());
            let want = datafusion_avg(&values, &groups, n);

            let mut ours = FloatAvgGroups::default();
            let arr: ArrayRef = Arc::new(values.clone());
            ours.update_batch(&[Arc::clone(&arr)], &groups, None, n).unwrap();
            let got = ours.evaluate(EmitTo::All).unwrap();
            prop_assert_eq!(got.as_ref(), want.as_ref());

            let no_nulls = Float64Array::from(rows.iter().map(|(_, v)| v.unwrap_or(0.5)).collect::<Vec<_>>());
            let want = datafusion_avg(&no_nulls, &groups, n);
            let half = groups.len() / 2;
            let mut total = FloatAvgGroups::default();
            for (g, v) in [(&groups[..half], no_nulls.slice(0, half)), (&groups[half..], no_nulls.slice(half, groups.len() - half))] {
                let mut part = FloatAvgGroups::default();
                part.update_batch(&[Arc::new(v) as ArrayRef], g, None, n).unwrap();
                let state = part.state(EmitTo::All).unwrap();
                total.merge_batch(&state, &(0..n).collect::<Vec<_>>(), n).unwrap();
            }
            let got = total.evaluate(EmitTo::All).unwrap();
            let (got, want) = (got.as_primitive::<Float64Type>(), want.as_primitive::<Float64Type>());
            prop_assert_eq!(got.nulls(), want.nulls());
            prop_assert_eq!(got.len(), n);
            for i in 0..n {
                if want.is_valid(i) {
                    let (a, b) = (got.value(i), want.value(i));
                    prop_assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} {b}");
                }
            }
        }
    }
}
