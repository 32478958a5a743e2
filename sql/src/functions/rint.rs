//! `pg_rint(float)`: rounds to the nearest integer, halves to even, as C's `rint` does.
//!
//! PostgreSQL rounds a float with `rint` where DataFusion rounds halves away from zero or
//! truncates: `round(2.5::float8)` is 2 (DataFusion 3), `3.5::float8::int` is 4
//! (DataFusion's cast truncates to 3). `pg_types` puts this function under `round(x)` of
//! a float and under a float's cast to an integer type (the cast then reports a value out
//! of the type's range, which `error.rs` words as PostgreSQL does: `integer out of range`).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Rint {
    signature: Signature,
}

impl Rint {
    pub fn new() -> Self {
        Rint {
            signature: Signature::new(
                TypeSignature::Uniform(1, vec![DataType::Float64, DataType::Float32]),
                Volatility::Immutable,
            ),
        }
    }
}

impl Default for Rint {
    fn default() -> Self {
        Self::new()
    }
}

/// `pg_rint(x)`.
pub fn rint_udf() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(Rint::new()))
}

impl ScalarUDFImpl for Rint {
    fn name(&self) -> &str {
        "pg_rint"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [t @ (DataType::Float64 | DataType::Float32)] => Ok(t.clone()),
            other => exec_err!("pg_rint takes one float argument, not {other:?}"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return exec_err!("pg_rint takes one argument");
        };
        Ok(match arg {
            ColumnarValue::Scalar(ScalarValue::Float64(v)) => {
                ColumnarValue::Scalar(ScalarValue::Float64(v.map(f64::round_ties_even)))
            }
            ColumnarValue::Scalar(ScalarValue::Float32(v)) => {
                ColumnarValue::Scalar(ScalarValue::Float32(v.map(f32::round_ties_even)))
            }
            ColumnarValue::Scalar(other) => {
                return exec_err!("pg_rint takes a float, not {}", other.data_type());
            }
            ColumnarValue::Array(a) => {
                let out: ArrayRef = match a.data_type() {
                    DataType::Float64 => Arc::new(
                        a.as_primitive::<Float64Type>()
                            .unary::<_, Float64Type>(f64::round_ties_even),
                    ),
                    DataType::Float32 => Arc::new(
                        a.as_primitive::<Float32Type>()
                            .unary::<_, Float32Type>(f32::round_ties_even),
                    ),
                    other => return exec_err!("pg_rint takes a float, not {other}"),
                };
                ColumnarValue::Array(out)
            }
        })
    }

    fn output_ordering(&self, input: &[ExprProperties]) -> Result<SortProperties> {
        // monotonic: rounding keeps the order (ties become equal)
        Ok(input
            .first()
            .map(|p| p.sort_properties)
            .unwrap_or(SortProperties::Unordered))
    }
}
