//! Casts to `char(n)` / `character(n)` / `bpchar`, as PostgreSQL has them.
//!
//! A `char(n)` value is kept the way a `char(n)` column keeps it (see
//! `strata_storage::check_columns`): without trailing blanks, tagged `bpchar` with its
//! length, and blank-padded to `n` only when sent (`strata_pgtypes::encode`). So
//! `'ab'::char(4)` prints `ab  `, while `length`, `=`, `||` and a cast to text see `ab`,
//! as PostgreSQL's bpchar semantics ignore trailing blanks. An explicit cast cuts a longer
//! value to `n` characters (`'abc'::char(2)` is `ab`, no error, as in PostgreSQL);
//! `char` and `character` without a length are `char(1)`; `bpchar` without one keeps
//! every character but its trailing blanks (PostgreSQL prints those).
//!
//! The rewrite (`crate::rewrite`) turns `CAST(x AS char(n))` into
//! `pg_bpchar(CAST(x AS varchar), n)`, `n` = -1 for no length.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

/// The function the rewrite calls for a cast to a blank-padded character type.
pub const NAME: &str = "pg_bpchar";

#[derive(Debug, PartialEq, Eq, Hash)]
struct Bpchar {
    signature: Signature,
}

/// The UDF behind casts to `char(n)`.
pub fn bpchar_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(Bpchar {
        signature: Signature::exact(vec![DataType::Utf8, DataType::Int64], Volatility::Immutable),
    })
}

/// The length argument: a literal, -1 (or any negative) for none. `char(0)` is refused
/// as PostgreSQL refuses it (22023).
fn length_of(arg: Option<&ScalarValue>) -> Result<Option<usize>> {
    match arg {
        Some(ScalarValue::Int64(Some(0))) => Err(DataFusionError::External(Box::new(
            crate::error::Error::user(
                crate::error::SqlState::InvalidParameterValue,
                "length for type char must be at least 1",
            ),
        ))),
        Some(ScalarValue::Int64(Some(n))) => Ok(usize::try_from(*n).ok()),
        _ => plan_err!("{NAME} takes a constant length"),
    }
}

/// `v` as `char(n)` keeps it: at most `n` characters, no trailing blanks.
fn cut(v: &str, n: Option<usize>) -> &str {
    let v = match n.and_then(|n| v.char_indices().nth(n)) {
        Some((end, _)) => &v[..end],
        None => v,
    };
    v.trim_end_matches(' ')
}

impl ScalarUDFImpl for Bpchar {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        let n = length_of(args.scalar_arguments.get(1).copied().flatten())?;
        let mut md = HashMap::from([(
            strata_storage::schema::PG_TYPE_METADATA_KEY.to_string(),
            "bpchar".to_string(),
        )]);
        if let Some(n) = n {
            md.insert(
                strata_storage::schema::CHAR_LENGTH_METADATA_KEY.to_string(),
                n.to_string(),
            );
        }
        Ok(Arc::new(
            Field::new(NAME, DataType::Utf8, true).with_metadata(md),
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = match args.args.get(1) {
            Some(ColumnarValue::Scalar(s)) => length_of(Some(s))?,
            _ => return exec_err!("{NAME} takes a constant length"),
        };
        match args.args.first() {
            Some(ColumnarValue::Scalar(ScalarValue::Utf8(v))) => Ok(ColumnarValue::Scalar(
                ScalarValue::Utf8(v.as_deref().map(|v| cut(v, n).to_string())),
            )),
            Some(ColumnarValue::Array(a)) => {
                let a = a.as_string_opt::<i32>().ok_or_else(|| {
                    DataFusionError::Execution(format!("{NAME} takes text, got {}", a.data_type()))
                })?;
                let mut out = StringBuilder::with_capacity(a.len(), a.values().len());
                for v in a.iter() {
                    out.append_option(v.map(|v| cut(v, n)));
                }
                Ok(ColumnarValue::Array(Arc::new(out.finish())))
            }
            _ => exec_err!("{NAME} takes text"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{cut, length_of};
    use datafusion::common::ScalarValue;

    #[test]
    fn a_length_of_zero_is_refused() {
        let e = length_of(Some(&ScalarValue::Int64(Some(0)))).expect_err("char(0)");
        assert!(e.to_string().contains("at least 1"), "{e}");
        assert_eq!(
            length_of(Some(&ScalarValue::Int64(Some(-1)))).ok(),
            Some(None)
        );
        assert_eq!(
            length_of(Some(&ScalarValue::Int64(Some(3)))).ok(),
            Some(Some(3))
        );
    }

    #[test]
    fn cuts_to_length_and_drops_trailing_blanks() {
        assert_eq!(cut("abc", Some(2)), "ab");
        assert_eq!(cut("ab", Some(4)), "ab");
        assert_eq!(cut("a  b  ", Some(4)), "a  b");
        assert_eq!(cut("ab   x", Some(4)), "ab");
        assert_eq!(cut("éèà", Some(2)), "éè");
        assert_eq!(cut("xy  ", None), "xy");
    }
}
