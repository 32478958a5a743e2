//! Strata's SQL functions beyond DataFusion's built-ins: TimescaleDB's `time_bucket`,
//! `first` and `last`; and `avg`, DataFusion's with a faster grouped accumulator;
//! PostgreSQL's `AT TIME ZONE` (`timezone`), `age`, `make_interval`, `percentile_disc`,
//! `mode` and the `rint` rounding of floats, which DataFusion lacks or computes
//! differently.
//!
//! Register them on a context with [`register_all`] (or on a `SessionState` with
//! [`register_all_state`]). `date_trunc` is PostgreSQL's (`date_trunc.rs`: every unit and
//! alias, the time zone form, intervals, the session time zone); DataFusion's own
//! `date_bin`, `extract`/`date_part` and `now()` are used as they are; `tests.rs` pins how
//! they compare with PostgreSQL.
//!
//! Errors a user can cause carry their SQLSTATE (a [`crate::error::Error::User`] inside
//! `DataFusionError::External`), with TimescaleDB's messages, e.g. `period must be greater
//! than 0` (22023) or `month intervals cannot have day or time component` (0A000).

mod age;
mod at_time_zone;
mod avg;
mod date_trunc;
mod first_last;
mod make_interval;
mod ordered_set;
mod rint;
mod time_bucket;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::FunctionRegistry;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

pub use age::age_udf;
pub use at_time_zone::at_time_zone_udf;
pub use date_trunc::{DateTrunc, date_trunc_udf};
pub use first_last::FirstLast;
pub use make_interval::make_interval_udf;
pub use ordered_set::OrderedSet;
pub use rint::rint_udf;
pub(crate) use time_bucket::Bucketer;
pub use time_bucket::TimeBucket;

/// Whether an argument is text (or an untyped NULL) for a function's signature.
pub(crate) fn is_text(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null
    )
}

/// PostgreSQL's 42883 `function name(types) does not exist` for arguments a function of
/// ours does not take (DataFusion's own error is an internal one with Arrow's types).
pub(crate) fn no_such_function(name: &str, arg_types: &[DataType]) -> DataFusionError {
    let names: Vec<String> = arg_types
        .iter()
        .map(|t| match t {
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => "text".to_string(),
            DataType::Null => "unknown".to_string(),
            t => crate::pg_functions::regtype_name(&arrow::datatypes::Field::new(
                "",
                t.clone(),
                true,
            )),
        })
        .collect();
    DataFusionError::from(crate::error::Error::with_hint(
        crate::error::SqlState::UndefinedFunction,
        format!("function {name}({}) does not exist", names.join(", ")),
        "No function matches the given name and argument types. You might need to add \
         explicit type casts.",
    ))
}

/// `time_bucket(bucket_width, ts [, origin | offset | timezone [, origin [, offset]]])`.
pub fn time_bucket_udf() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(TimeBucket::new()))
}

/// `first(value, time)`: the value at the smallest time.
pub fn first_udaf() -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::new_from_impl(FirstLast::first()))
}

/// `last(value, time)`: the value at the largest time.
pub fn last_udaf() -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::new_from_impl(FirstLast::last()))
}

/// Every scalar function of this module (and gap filling's, see [`crate::gapfill`]).
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    let mut v = vec![
        time_bucket_udf(),
        rint_udf(),
        // in UTC; a session registers its own zone's (`Engine::session_context`)
        Arc::new(date_trunc_udf(strata_pgtypes::tz::TimeZoneSetting::UTC)),
        Arc::new(at_time_zone_udf(strata_pgtypes::tz::TimeZoneSetting::UTC)),
        Arc::new(age_udf(strata_pgtypes::tz::TimeZoneSetting::UTC)),
        make_interval_udf(),
        crate::gapfill::time_bucket_gapfill_udf(),
        crate::gapfill::locf_udf(),
        crate::gapfill::interpolate_udf(),
    ];
    v.extend(crate::to_char::PgTemplated::udfs());
    v
}

/// PostgreSQL's `variance` (= `var_samp`), which DataFusion does not name.
pub fn variance_udaf() -> Arc<AggregateUDF> {
    Arc::new(
        datafusion::functions_aggregate::variance::var_samp_udaf()
            .as_ref()
            .clone()
            .with_aliases(["variance"]),
    )
}

/// TimescaleDB Toolkit's / other databases' `approx_count_distinct` (= `approx_distinct`,
/// HyperLogLog).
pub fn approx_count_distinct_udaf() -> Arc<AggregateUDF> {
    Arc::new(
        datafusion::functions_aggregate::approx_distinct::approx_distinct_udaf()
            .as_ref()
            .clone()
            .with_aliases(["approx_count_distinct"]),
    )
}

/// `avg`, DataFusion's with a faster grouped float8 accumulator (see `avg.rs`).
pub fn avg_udaf() -> Arc<AggregateUDF> {
    Arc::new(AggregateUDF::new_from_impl(avg::Avg))
}

/// Every aggregate function of this module.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    vec![
        avg_udaf(),
        first_udaf(),
        last_udaf(),
        variance_udaf(),
        approx_count_distinct_udaf(),
        Arc::new(AggregateUDF::new_from_impl(OrderedSet::percentile_disc())),
        Arc::new(AggregateUDF::new_from_impl(OrderedSet::mode())),
    ]
}

/// Registers every function of this module on `ctx`.
pub fn register_all(ctx: &SessionContext) {
    let config = Arc::clone(ctx.state().config_options());
    for f in scalar_functions() {
        ctx.register_udf(configured(&f, &config));
    }
    for f in aggregate_functions() {
        ctx.register_udaf(f.as_ref().clone());
    }
}

/// `f` as configured for the session (`to_timestamp` reads text in the session time
/// zone); DataFusion reconfigures registered functions only when the configuration
/// changes later.
fn configured(f: &Arc<ScalarUDF>, config: &ConfigOptions) -> ScalarUDF {
    f.inner()
        .with_updated_config(config)
        .unwrap_or_else(|| f.as_ref().clone())
}

/// Registers every function of this module on a `SessionState` (for code that builds its
/// state before the context).
pub fn register_all_state(state: &mut SessionState) -> Result<()> {
    let config = Arc::clone(state.config_options());
    for f in scalar_functions() {
        state.register_udf(Arc::new(configured(&f, &config)))?;
    }
    for f in aggregate_functions() {
        state.register_udaf(f)?;
    }
    Ok(())
}
