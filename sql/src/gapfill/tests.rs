//! Unit tests of the fill computations and of `GapFillExec` on in-memory input.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use datafusion::common::ScalarValue;
use datafusion::physical_expr::expressions::lit;
use datafusion::physical_plan::test::TestMemoryExec;
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::SessionContext;

use super::FillKind;
use super::exec::{FillColumn, GapFillExec, GapFillSpec, PhysicalBound};
use super::fill::{Num, Slot, interpolate_at, layout, locf_indices};

#[test]
fn layout_keeps_rows_outside_the_grid_and_fills_gaps() {
    let grid = [10, 20, 30, 40];
    let got = layout(&[0, 20, 50], &grid);
    assert_eq!(
        got,
        vec![
            (0, Slot::Row(0)),
            (10, Slot::Gap),
            (20, Slot::Row(1)),
            (30, Slot::Gap),
            (40, Slot::Gap),
            (50, Slot::Row(2)),
        ]
    );
    assert_eq!(layout(&[], &[1, 2]), vec![(1, Slot::Gap), (2, Slot::Gap)]);
}

#[test]
fn locf_carries_nulls_unless_told_and_uses_prev_once() {
    // rows at 20 (value), 30 (NULL); grid 10..50
    let values = Float64Array::from(vec![Some(1.0), None]);
    let l = layout(&[20, 30], &[10, 20, 30, 40]);
    let prev = values.len() as u32;
    assert_eq!(
        locf_indices(&l, &values, false, false, 10),
        vec![None, Some(0), Some(1), None]
    );
    assert_eq!(
        locf_indices(&l, &values, true, false, 10),
        vec![Some(prev), Some(0), Some(1), None]
    );
    assert_eq!(
        locf_indices(&l, &values, true, true, 10),
        vec![Some(prev), Some(0), Some(0), Some(0)]
    );
    // prev only applies at the start
    assert_eq!(
        locf_indices(&l, &values, true, false, 0),
        vec![None, Some(0), Some(1), None]
    );
}

#[test]
fn interpolation_rounds_integers_and_keeps_float_formula() {
    assert_eq!(
        interpolate_at(1, (0, Num::Int(1)), (3, Num::Int(2))),
        Some(Num::Int(1))
    );
    assert_eq!(
        interpolate_at(2, (0, Num::Int(1)), (3, Num::Int(2))),
        Some(Num::Int(2))
    );
    // half away from zero
    assert_eq!(
        interpolate_at(1, (0, Num::Int(-1)), (2, Num::Int(-2))),
        Some(Num::Int(-2))
    );
    assert_eq!(
        interpolate_at(1, (0, Num::F64(2.0)), (3, Num::F64(4.0))),
        Some(Num::F64(2.6666666666666665))
    );
    assert_eq!(
        interpolate_at(5, (0, Num::F64(0.1)), (9, Num::F64(0.1))),
        Some(Num::F64(0.1))
    );
}

fn input(rows: &[(&str, i64, Option<f64>)]) -> (Arc<dyn ExecutionPlan>, Arc<Schema>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("host", DataType::Utf8, false),
        Field::new("b", DataType::Int64, false),
        Field::new("v", DataType::Float64, true),
        Field::new("prev", DataType::Float64, true),
    ]));
    let host: ArrayRef = Arc::new(StringArray::from(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
    ));
    let b: ArrayRef = Arc::new(Int64Array::from(
        rows.iter().map(|r| r.1).collect::<Vec<_>>(),
    ));
    let v: ArrayRef = Arc::new(Float64Array::from(
        rows.iter().map(|r| r.2).collect::<Vec<_>>(),
    ));
    let prev: ArrayRef = Arc::new(Float64Array::from(vec![Some(-1.0); rows.len()]));
    let batch = RecordBatch::try_new(Arc::clone(&schema), vec![host, b, v, prev]).unwrap();
    // Two batches, so that a group spans batches.
    let (first, second) = (batch.slice(0, 2), batch.slice(2, batch.num_rows() - 2));
    let exec =
        TestMemoryExec::try_new_exec(&[vec![first, second]], Arc::clone(&schema), None).unwrap();
    (exec, schema)
}

fn spec(fills: Vec<FillColumn>) -> GapFillSpec {
    GapFillSpec {
        time: 1,
        groups: vec![0],
        bucket_args: vec![lit(ScalarValue::Int64(Some(10)))],
        start: PhysicalBound::Explicit(lit(ScalarValue::Int64(Some(0)))),
        // inferred form: `b <= 35` -> finish 36
        finish: PhysicalBound::Inferred(vec![
            (lit(ScalarValue::Int64(Some(50))), false),
            (lit(ScalarValue::Int64(Some(35))), true),
        ]),
        fills,
    }
}

#[tokio::test]
async fn exec_fills_every_group_over_batches() {
    // The input is sorted by (host, b), as the planner guarantees; group "a" spans batches.
    let (exec, _) = input(&[
        ("a", 10, Some(1.0)),
        ("a", 30, Some(3.0)),
        ("b", 0, None),
        ("b", 60, Some(6.0)),
    ]);
    let locf = FillColumn {
        kind: FillKind::Locf,
        column: 2,
        prev: Some(3),
        next: None,
        treat_null_as_missing: true,
    };
    let plan = Arc::new(GapFillExec::try_new(exec, spec(vec![locf])).unwrap());
    assert!(plan.schema().field(2).is_nullable());
    let ctx = SessionContext::new();
    let batches = collect(plan, ctx.task_ctx()).await.unwrap();
    let mut got = vec![];
    for b in &batches {
        let host = b.column(0).as_string::<i32>();
        let t = b.column(1).as_primitive::<Int64Type>();
        let v = b.column(2).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            got.push((
                host.value(i).to_string(),
                t.value(i),
                (!v.is_null(i)).then(|| v.value(i)),
            ));
        }
    }
    let s = |h: &str| h.to_string();
    assert_eq!(
        got,
        vec![
            (s("a"), 0, Some(-1.0)),
            (s("a"), 10, Some(1.0)),
            (s("a"), 20, Some(1.0)),
            (s("a"), 30, Some(3.0)),
            (s("b"), 0, Some(-1.0)),
            (s("b"), 10, Some(-1.0)),
            (s("b"), 20, Some(-1.0)),
            (s("b"), 30, Some(-1.0)),
            (s("b"), 60, Some(6.0)),
        ]
    );
}

#[tokio::test]
async fn exec_rejects_a_zero_width() {
    let ctx = SessionContext::new();
    let (exec, _) = input(&[("a", 10, Some(1.0)), ("a", 20, Some(2.0))]);
    let mut bad = spec(vec![]);
    bad.bucket_args = vec![lit(ScalarValue::Int64(Some(0)))];
    let plan = Arc::new(GapFillExec::try_new(exec, bad).unwrap());
    let err = collect(plan, ctx.task_ctx()).await.unwrap_err();
    let err = crate::error::Error::DataFusion(err);
    assert_eq!(err.sqlstate().code(), "22023");
    assert!(
        err.to_string()
            .contains("bucket_width must be greater than 0")
    );
}
