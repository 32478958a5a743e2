//! [`GapFillExec`]: the physical gap-filling operator, and its planner.
//!
//! The input (the aggregate, sorted by the group columns then the bucket, in one partition)
//! is cut into groups as it streams; each group is filled when its last row has arrived, so
//! the operator holds one group (plus the bucket grid, shared by all groups) at a time.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, Date32Array, Int64Array, PrimitiveArray, RecordBatch, RecordBatchOptions,
    UInt32Array, new_null_array,
};
use datafusion::arrow::compute::{SortOptions, cast, concat, concat_batches, take};
use datafusion::arrow::datatypes::{
    DataType, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::arrow::row::{OwnedRow, RowConverter, SortField};
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, Result, ScalarValue, internal_err};
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{LogicalPlan, UserDefinedLogicalNode};
use datafusion::physical_expr::expressions::Column as PhysicalColumn;
use datafusion::physical_expr::{
    EquivalenceProperties, LexOrdering, LexRequirement, OrderingRequirements, PhysicalExpr,
    PhysicalSortExpr, PhysicalSortRequirement,
};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, Partitioning, PlanProperties,
};
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use futures::StreamExt;

use super::fill::{self, Slot};
use super::rule::{Bound, GapFill};
use super::{FillKind, user_error, user_error_hint};
use crate::error::SqlState;
use crate::functions::Bucketer;

/// A bound of the range, planned.
#[derive(Debug, Clone)]
pub enum PhysicalBound {
    Explicit(Arc<dyn PhysicalExpr>),
    /// Candidates (`true`: one unit past the value); the tightest wins.
    Inferred(Vec<(Arc<dyn PhysicalExpr>, bool)>),
}

/// One filled column, by index in the input schema.
#[derive(Debug, Clone)]
pub struct FillColumn {
    pub kind: FillKind,
    pub column: usize,
    pub prev: Option<usize>,
    pub next: Option<usize>,
    pub treat_null_as_missing: bool,
}

/// What the operator needs besides its input.
#[derive(Debug, Clone)]
pub struct GapFillSpec {
    pub time: usize,
    pub groups: Vec<usize>,
    /// Constant `time_bucket` arguments other than `ts` (width [, time zone]).
    pub bucket_args: Vec<Arc<dyn PhysicalExpr>>,
    pub start: PhysicalBound,
    pub finish: PhysicalBound,
    pub fills: Vec<FillColumn>,
}

/// The physical gap-filling operator. See the module documentation.
#[derive(Debug)]
pub struct GapFillExec {
    input: Arc<dyn ExecutionPlan>,
    /// The input schema with the filled columns nullable.
    schema: SchemaRef,
    spec: Arc<GapFillSpec>,
    props: Arc<PlanProperties>,
}

impl GapFillExec {
    pub fn try_new(input: Arc<dyn ExecutionPlan>, spec: GapFillSpec) -> Result<Self> {
        let schema = input.schema();
        let n = schema.fields().len();
        let fill_cols = spec
            .fills
            .iter()
            .flat_map(|f| [Some(f.column), f.prev, f.next])
            .flatten();
        if spec
            .groups
            .iter()
            .copied()
            .chain([spec.time])
            .chain(fill_cols)
            .any(|i| i >= n)
        {
            return internal_err!("GapFillExec: column index out of range");
        }
        let fields: Vec<_> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if i == spec.time || spec.groups.contains(&i) {
                    Arc::clone(f)
                } else {
                    Arc::new(f.as_ref().clone().with_nullable(true))
                }
            })
            .collect();
        let schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
        // The output is in the order the input is required to have (groups, then time).
        let options = SortOptions {
            descending: false,
            nulls_first: false,
        };
        let ordering = LexOrdering::new(spec.groups.iter().chain([&spec.time]).map(|&i| {
            PhysicalSortExpr::new(
                Arc::new(PhysicalColumn::new(schema.field(i).name(), i)),
                options,
            )
        }));
        let props = PlanProperties::new(
            EquivalenceProperties::new_with_orderings(Arc::clone(&schema), ordering),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(GapFillExec {
            input,
            schema,
            spec: Arc::new(spec),
            props: Arc::new(props),
        })
    }

    fn sort_requirement(&self) -> Option<LexRequirement> {
        let schema = self.input.schema();
        let options = SortOptions {
            descending: false,
            nulls_first: false,
        };
        LexRequirement::new(self.spec.groups.iter().chain([&self.spec.time]).map(|&i| {
            PhysicalSortRequirement::new(
                Arc::new(PhysicalColumn::new(schema.field(i).name(), i)),
                Some(options),
            )
        }))
    }
}

impl DisplayAs for GapFillExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let schema = self.input.schema();
        let name = |i: usize| schema.field(i).name().clone();
        write!(
            f,
            "GapFillExec: time={}, groups=[{}]",
            name(self.spec.time),
            self.spec
                .groups
                .iter()
                .map(|&i| name(i))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        for fill in &self.spec.fills {
            write!(f, ", {}({})", fill.kind.name(), name(fill.column))?;
        }
        Ok(())
    }
}

impl ExecutionPlan for GapFillExec {
    fn name(&self) -> &str {
        "GapFillExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition]
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        vec![self.sort_requirement().map(OrderingRequirements::new)]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        let bounds = |b: &PhysicalBound| match b {
            PhysicalBound::Explicit(e) => vec![Arc::clone(e)],
            PhysicalBound::Inferred(v) => v.iter().map(|(e, _)| Arc::clone(e)).collect(),
        };
        let mut all = self.spec.bucket_args.clone();
        all.extend(bounds(&self.spec.start));
        all.extend(bounds(&self.spec.finish));
        crate::scan_exec::apply_each(&all, f)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(input) = children.into_iter().next() else {
            return internal_err!("GapFillExec needs one child");
        };
        Ok(Arc::new(GapFillExec::try_new(
            input,
            self.spec.as_ref().clone(),
        )?))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return internal_err!("GapFillExec has one partition, asked for {partition}");
        }
        let input = self.input.execute(0, Arc::clone(&context))?;
        let schema = Arc::clone(&self.schema);
        let reservation = MemoryConsumer::new("GapFillExec").register(context.memory_pool());
        let state = FillState {
            input,
            schema: Arc::clone(&schema),
            spec: Arc::clone(&self.spec),
            batch_size: context.session_config().batch_size().max(1),
            grid: None,
            converter: None,
            key: None,
            buffer: vec![],
            ready: VecDeque::new(),
            seen_rows: false,
            done: false,
            reservation,
        };
        let stream = futures::stream::try_unfold(state, |mut st| async move {
            loop {
                if let Some(batch) = st.ready.pop_front() {
                    return Ok(Some((batch, st)));
                }
                if st.done {
                    return Ok(None);
                }
                if st.grid.is_none() {
                    st.grid = Some(Grid::new(&st.spec, &st.schema, &st.reservation)?);
                }
                match st.input.next().await {
                    Some(batch) => st.push(batch?)?,
                    None => {
                        st.finish()?;
                        st.done = true;
                    }
                }
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// The buckets of `[start, finish)`, in units of the time column.
#[derive(Debug, Clone)]
pub struct Grid {
    pub buckets: Vec<i64>,
    /// The aligned start (where `prev` values apply).
    pub start: i64,
}

fn eval_const(e: &Arc<dyn PhysicalExpr>) -> Result<ScalarValue> {
    let batch = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )?;
    e.evaluate(&batch)?.to_scalar_value(0)
}

trait ToScalar {
    fn to_scalar_value(self, row: usize) -> Result<ScalarValue>;
}

impl ToScalar for datafusion::logical_expr::ColumnarValue {
    fn to_scalar_value(self, row: usize) -> Result<ScalarValue> {
        match self {
            datafusion::logical_expr::ColumnarValue::Scalar(s) => Ok(s),
            datafusion::logical_expr::ColumnarValue::Array(a) => {
                ScalarValue::try_from_array(&a, row)
            }
        }
    }
}

fn width_error() -> datafusion::common::DataFusionError {
    user_error(
        SqlState::InvalidParameterValue,
        "invalid time_bucket_gapfill argument: bucket_width must be greater than 0",
    )
}

/// Evaluates a bound to a time value in units of `ts_type`.
fn bound_value(bound: &PhysicalBound, ts_type: &DataType, what: &str, start: bool) -> Result<i64> {
    let value = |e: &Arc<dyn PhysicalExpr>| -> Result<i64> {
        let v = eval_const(e)?;
        let v = if v.is_null() { v } else { v.cast_to(ts_type)? };
        match fill::scalar_time(&v)? {
            Some(t) => Ok(t),
            None => Err(user_error_hint(
                SqlState::InvalidParameterValue,
                format!("invalid time_bucket_gapfill argument: {what} cannot be NULL"),
            )),
        }
    };
    match bound {
        PhysicalBound::Explicit(e) => value(e),
        PhysicalBound::Inferred(candidates) => {
            let mut best: Option<i64> = None;
            for (e, adjust) in candidates {
                let v = value(e)?.saturating_add(i64::from(*adjust));
                best = Some(match best {
                    None => v,
                    Some(b) if start => b.max(v),
                    Some(b) => b.min(v),
                });
            }
            match best {
                Some(b) => Ok(b),
                None => internal_err!("GapFillExec: no {what} candidate"),
            }
        }
    }
}

impl Grid {
    fn new(
        spec: &GapFillSpec,
        schema: &SchemaRef,
        reservation: &MemoryReservation,
    ) -> Result<Grid> {
        let ts_type = schema.field(spec.time).data_type();
        let mut args = spec
            .bucket_args
            .iter()
            .map(eval_const)
            .collect::<Result<Vec<_>>>()?;
        if args.is_empty() {
            return internal_err!("GapFillExec: no bucket width");
        }
        let width = args.remove(0);
        if width.is_null() {
            return Err(user_error(
                SqlState::InvalidParameterValue,
                "invalid time_bucket_gapfill argument: bucket_width cannot be NULL",
            ));
        }
        match &width {
            ScalarValue::IntervalMonthDayNano(Some(iv)) => {
                if iv.months < 0
                    || iv.days < 0
                    || iv.nanoseconds < 0
                    || (iv.months == 0 && iv.days == 0 && iv.nanoseconds < 1000)
                {
                    return Err(width_error());
                }
            }
            ScalarValue::Int16(Some(w)) if *w <= 0 => return Err(width_error()),
            ScalarValue::Int32(Some(w)) if *w <= 0 => return Err(width_error()),
            ScalarValue::Int64(Some(w)) if *w <= 0 => return Err(width_error()),
            _ => {}
        }
        if args.first().is_some_and(|tz| tz.is_null()) {
            return Err(user_error(
                SqlState::InvalidParameterValue,
                "invalid time_bucket_gapfill argument: timezone cannot be NULL",
            ));
        }
        let Some(bucketer) = Bucketer::new(ts_type, &width, &args)? else {
            return internal_err!("GapFillExec: NULL bucket argument");
        };
        let start = bound_value(&spec.start, ts_type, "start", true)?;
        let start = bucketer.bucket(start)?;
        let finish = bound_value(&spec.finish, ts_type, "finish", false)?;
        let mut buckets = vec![];
        let mut cur = start;
        while cur < finish {
            if buckets.len() == buckets.capacity() {
                reservation.try_resize((buckets.len() * 2 + 1024) * size_of::<i64>())?;
                buckets.reserve(buckets.len() + 1024);
            }
            buckets.push(cur);
            match bucketer.next(cur) {
                Ok(n) if n > cur => cur = n,
                // The end of the time type's range.
                _ => break,
            }
        }
        Ok(Grid { buckets, start })
    }
}

struct FillState {
    input: SendableRecordBatchStream,
    schema: SchemaRef,
    spec: Arc<GapFillSpec>,
    batch_size: usize,
    grid: Option<Grid>,
    converter: Option<RowConverter>,
    /// Group key of the rows in `buffer`.
    key: Option<OwnedRow>,
    buffer: Vec<RecordBatch>,
    ready: VecDeque<RecordBatch>,
    seen_rows: bool,
    done: bool,
    reservation: MemoryReservation,
}

impl FillState {
    fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.seen_rows = true;
        if self.spec.groups.is_empty() {
            self.buffer.push(batch);
            return Ok(());
        }
        if self.converter.is_none() {
            let fields = self
                .spec
                .groups
                .iter()
                .map(|&i| SortField::new(self.schema.field(i).data_type().clone()))
                .collect();
            self.converter = Some(RowConverter::new(fields)?);
        }
        let Some(converter) = &self.converter else {
            return internal_err!("GapFillExec: no row converter");
        };
        let columns: Vec<ArrayRef> = self
            .spec
            .groups
            .iter()
            .map(|&i| Arc::clone(batch.column(i)))
            .collect();
        let rows = converter.convert_columns(&columns)?;
        let mut segment_start = 0;
        for i in 1..=batch.num_rows() {
            if i < batch.num_rows() && rows.row(i) == rows.row(i - 1) {
                continue;
            }
            let key = rows.row(segment_start);
            let same = self.key.as_ref().is_some_and(|k| k.row() == key);
            if !same {
                self.flush_group()?;
                self.key = Some(key.owned());
            }
            self.buffer
                .push(batch.slice(segment_start, i - segment_start));
            segment_start = i;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        if !self.seen_rows && self.spec.groups.is_empty() {
            // No rows and no groups: one group of gaps, as in TimescaleDB.
            self.buffer
                .push(RecordBatch::new_empty(Arc::clone(&self.schema)));
        }
        self.flush_group()
    }

    fn flush_group(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let group = concat_batches(&self.schema, &self.buffer)?;
        self.buffer.clear();
        let Some(grid) = &self.grid else {
            return internal_err!("GapFillExec: no grid");
        };
        let out = fill_group(&self.spec, &self.schema, grid, &group)?;
        let mut offset = 0;
        while offset < out.num_rows() {
            let len = self.batch_size.min(out.num_rows() - offset);
            self.ready.push_back(out.slice(offset, len));
            offset += len;
        }
        Ok(())
    }
}

/// Times of a time column as i64 in its own unit.
fn time_values(col: &ArrayRef) -> Result<Vec<i64>> {
    if col.null_count() > 0 {
        return Err(user_error(
            SqlState::InvalidParameterValue,
            "invalid time_bucket_gapfill argument: ts cannot be NULL",
        ));
    }
    let ints = match col.data_type() {
        DataType::Date32 => cast(&cast(col, &DataType::Int32)?, &DataType::Int64)?,
        _ => cast(col, &DataType::Int64)?,
    };
    let Some(ints) = ints.as_any().downcast_ref::<Int64Array>() else {
        return internal_err!("GapFillExec: time column is not integer-like");
    };
    Ok(ints.values().to_vec())
}

/// A time column of type `dt` from i64 values in its unit.
fn time_array(values: Vec<i64>, dt: &DataType) -> Result<ArrayRef> {
    Ok(match dt {
        DataType::Date32 => Arc::new(
            values
                .into_iter()
                .map(|v| i32::try_from(v).ok())
                .collect::<Date32Array>(),
        ),
        DataType::Timestamp(unit, tz) => match unit {
            TimeUnit::Second => Arc::new(
                PrimitiveArray::<TimestampSecondType>::from(values).with_timezone_opt(tz.clone()),
            ),
            TimeUnit::Millisecond => Arc::new(
                PrimitiveArray::<TimestampMillisecondType>::from(values)
                    .with_timezone_opt(tz.clone()),
            ),
            TimeUnit::Microsecond => Arc::new(
                PrimitiveArray::<TimestampMicrosecondType>::from(values)
                    .with_timezone_opt(tz.clone()),
            ),
            TimeUnit::Nanosecond => Arc::new(
                PrimitiveArray::<TimestampNanosecondType>::from(values)
                    .with_timezone_opt(tz.clone()),
            ),
        },
        other => cast(&(Arc::new(Int64Array::from(values)) as ArrayRef), other)?,
    })
}

/// The filled rows of one group (`group`: its rows, sorted by time).
pub fn fill_group(
    spec: &GapFillSpec,
    schema: &SchemaRef,
    grid: &Grid,
    group: &RecordBatch,
) -> Result<RecordBatch> {
    let ts_type = schema.field(spec.time).data_type();
    let times = time_values(group.column(spec.time))?;
    let layout = fill::layout(&times, &grid.buckets);
    let n = layout.len();
    let rows = group.num_rows();
    let row_index: UInt32Array = layout
        .iter()
        .map(|(_, s)| match s {
            Slot::Row(i) => Some(*i as u32),
            Slot::Gap => None,
        })
        .collect();
    let first_value = |col: Option<usize>| -> Result<ScalarValue> {
        match col {
            Some(c) if rows > 0 => ScalarValue::try_from_array(group.column(c), 0),
            _ => Ok(ScalarValue::Null),
        }
    };
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (c, field) in schema.fields().iter().enumerate() {
        let col = group.column(c);
        let array: ArrayRef = if c == spec.time {
            time_array(layout.iter().map(|(t, _)| *t).collect(), ts_type)?
        } else if spec.groups.contains(&c) {
            if rows == 0 {
                new_null_array(field.data_type(), n)
            } else {
                take(col.as_ref(), &UInt32Array::from(vec![0u32; n]), None)?
            }
        } else if let Some(f) = spec.fills.iter().find(|f| f.column == c) {
            match f.kind {
                FillKind::Locf => {
                    let prev = first_value(f.prev)?;
                    let has_prev = f.prev.is_some() && !prev.is_null();
                    let prev = if has_prev {
                        prev.cast_to(field.data_type())?.to_array_of_size(1)?
                    } else {
                        new_null_array(field.data_type(), 1)
                    };
                    let extended = concat(&[col.as_ref(), prev.as_ref()])?;
                    let indices: UInt32Array = fill::locf_indices(
                        &layout,
                        col.as_ref(),
                        has_prev,
                        f.treat_null_as_missing,
                        grid.start,
                    )
                    .into_iter()
                    .collect();
                    take(extended.as_ref(), &indices, None)?
                }
                FillKind::Interpolate => {
                    let (mul, div) = fill::pg_units(ts_type);
                    let xs: Vec<i64> = layout
                        .iter()
                        .map(|(t, _)| t.saturating_mul(mul).div_euclid(div))
                        .collect();
                    let sample = |col: Option<usize>| -> Result<Option<fill::Sample>> {
                        fill::struct_sample(&first_value(col)?, ts_type, field.data_type())
                    };
                    let values = take(col.as_ref(), &row_index, None)?;
                    // `values` is laid out already: rows are at their own positions.
                    let identity: Vec<(i64, Slot)> = layout
                        .iter()
                        .enumerate()
                        .map(|(k, (t, s))| {
                            (
                                *t,
                                match s {
                                    Slot::Row(_) => Slot::Row(k),
                                    Slot::Gap => Slot::Gap,
                                },
                            )
                        })
                        .collect();
                    fill::interpolate_column(
                        &identity,
                        &xs,
                        &values,
                        sample(f.prev)?,
                        sample(f.next)?,
                        grid.start,
                    )?
                }
            }
        } else {
            take(col.as_ref(), &row_index, None)?
        };
        columns.push(array);
    }
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// Plans [`GapFill`] nodes as [`GapFillExec`].
#[derive(Debug, Default)]
pub struct GapFillPlanner;

#[async_trait]
impl ExtensionPlanner for GapFillPlanner {
    async fn plan_extension(
        &self,
        planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        session: &dyn Session,
        planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(g) = node.as_any().downcast_ref::<GapFill>() else {
            return Ok(None);
        };
        let (Some(logical), Some(input)) = (logical_inputs.first(), physical_inputs.first()) else {
            return internal_err!("GapFill needs one input");
        };
        let schema = logical.schema();
        let index = |c: &datafusion::common::Column| schema.index_of_column(c);
        let empty = DFSchema::empty();
        let physical = |e: &datafusion::logical_expr::Expr| {
            planner.create_physical_expr(e, &empty, session, planning_ctx)
        };
        let bound = |b: &Bound| -> Result<PhysicalBound> {
            Ok(match b {
                Bound::Explicit(e) => PhysicalBound::Explicit(physical(e)?),
                Bound::Inferred(v) => PhysicalBound::Inferred(
                    v.iter()
                        .map(|(e, adjust)| Ok((physical(e)?, *adjust)))
                        .collect::<Result<_>>()?,
                ),
            })
        };
        let spec = GapFillSpec {
            time: index(&g.time)?,
            groups: g.groups.iter().map(index).collect::<Result<_>>()?,
            bucket_args: g.bucket_args.iter().map(physical).collect::<Result<_>>()?,
            start: bound(&g.start)?,
            finish: bound(&g.finish)?,
            fills: g
                .fills
                .iter()
                .map(|f| {
                    Ok(FillColumn {
                        kind: f.kind,
                        column: index(&f.column)?,
                        prev: f.prev.as_ref().map(index).transpose()?,
                        next: f.next.as_ref().map(index).transpose()?,
                        treat_null_as_missing: f.treat_null_as_missing,
                    })
                })
                .collect::<Result<_>>()?,
        };
        Ok(Some(Arc::new(GapFillExec::try_new(
            Arc::clone(input),
            spec,
        )?)))
    }
}

/// DataFusion's physical planner with [`GapFillPlanner`].
#[derive(Debug, Default)]
pub struct GapFillQueryPlanner;

#[async_trait]
impl QueryPlanner for GapFillQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(GapFillPlanner)])
            .create_physical_plan(logical_plan, session)
            .await
    }
}
