//! Casts to `char(n)` / `character(n)` / `bpchar` and to `varchar(n)`, as PostgreSQL has
//! them.
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
//! A cast to `varchar(n)` cuts the same way and keeps trailing blanks within `n`
//! (`'ab  '::varchar(3)` is `ab `). Both tag the result with its length, which
//! RowDescription reports as the type modifier (`n + 4`), as PostgreSQL does for a cast.
//!
//! The rewrite (`crate::rewrite`) turns `CAST(x AS char(n))` into
//! `pg_bpchar(CAST(x AS varchar), n)`, `n` = -1 for no length, and `CAST(x AS varchar(n))`
//! into `pg_varchar(CAST(x AS varchar), n)`.

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

/// The function the rewrite calls for a cast to `varchar(n)`.
pub const VARCHAR_NAME: &str = "pg_varchar";

#[derive(Debug, PartialEq, Eq, Hash)]
struct Bpchar {
    signature: Signature,
    /// `char(n)` (blank-padded: trailing blanks dropped) rather than `varchar(n)`.
    padded: bool,
}

/// The UDF behind casts to `char(n)`.
pub fn bpchar_udf() -> ScalarUDF {
    character_udf(true)
}

/// The UDF behind casts to `varchar(n)`.
pub fn varchar_udf() -> ScalarUDF {
    character_udf(false)
}

fn character_udf(padded: bool) -> ScalarUDF {
    ScalarUDF::new_from_impl(Bpchar {
        signature: Signature::exact(vec![DataType::Utf8, DataType::Int64], Volatility::Immutable),
        padded,
    })
}

impl Bpchar {
    /// The PostgreSQL type name, in messages and in the result's type tag.
    fn type_name(&self) -> &'static str {
        if self.padded { "bpchar" } else { "varchar" }
    }

    /// The length argument: a literal, -1 (or any negative) for none. A length of 0 is
    /// refused as PostgreSQL refuses it (22023).
    fn length_of(&self, arg: Option<&ScalarValue>) -> Result<Option<usize>> {
        match arg {
            Some(ScalarValue::Int64(Some(0))) => Err(DataFusionError::External(Box::new(
                crate::error::Error::user(
                    crate::error::SqlState::InvalidParameterValue,
                    format!(
                        "length for type {} must be at least 1",
                        if self.padded { "char" } else { "varchar" }
                    ),
                ),
            ))),
            Some(ScalarValue::Int64(Some(n))) => Ok(usize::try_from(*n).ok()),
            _ => plan_err!("{} takes a constant length", self.name()),
        }
    }

    /// `v` as the type keeps it: at most `n` characters, and for `char(n)` no trailing
    /// blanks.
    fn cut<'a>(&self, v: &'a str, n: Option<usize>) -> &'a str {
        let v = match n.and_then(|n| v.char_indices().nth(n)) {
            Some((end, _)) => &v[..end],
            None => v,
        };
        if self.padded {
            v.trim_end_matches(' ')
        } else {
            v
        }
    }
}

impl ScalarUDFImpl for Bpchar {
    fn name(&self) -> &str {
        if self.padded { NAME } else { VARCHAR_NAME }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        let n = self.length_of(args.scalar_arguments.get(1).copied().flatten())?;
        let mut md = HashMap::from([(
            strata_storage::schema::PG_TYPE_METADATA_KEY.to_string(),
            self.type_name().to_string(),
        )]);
        if let Some(n) = n {
            md.insert(
                strata_storage::schema::CHAR_LENGTH_METADATA_KEY.to_string(),
                n.to_string(),
            );
        } else if self.padded
            && let Some(pad) = args
                .arg_fields
                .first()
                .and_then(|f| strata_pgtypes::oid::char_padding(f))
        {
            // `bpchar` without a length keeps a `char(n)` value's blanks, which PostgreSQL
            // stores (`code::bpchar` of a char(4) prints `ab  `), with no type modifier.
            md.insert(
                strata_pgtypes::oid::CHAR_PAD_METADATA_KEY.to_string(),
                pad.to_string(),
            );
        }
        Ok(Arc::new(
            Field::new(self.name(), DataType::Utf8, true).with_metadata(md),
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = match args.args.get(1) {
            Some(ColumnarValue::Scalar(s)) => self.length_of(Some(s))?,
            _ => return exec_err!("{} takes a constant length", self.name()),
        };
        match args.args.first() {
            // an unbounded varchar keeps every value as it is
            Some(v) if n.is_none() && !self.padded => Ok(v.clone()),
            Some(ColumnarValue::Scalar(ScalarValue::Utf8(v))) => Ok(ColumnarValue::Scalar(
                ScalarValue::Utf8(v.as_deref().map(|v| self.cut(v, n).to_string())),
            )),
            Some(ColumnarValue::Array(a)) => {
                let a = a.as_string_opt::<i32>().ok_or_else(|| {
                    DataFusionError::Execution(format!(
                        "{} takes text, got {}",
                        self.name(),
                        a.data_type()
                    ))
                })?;
                let mut out = StringBuilder::with_capacity(a.len(), a.values().len());
                for v in a.iter() {
                    out.append_option(v.map(|v| self.cut(v, n)));
                }
                Ok(ColumnarValue::Array(Arc::new(out.finish())))
            }
            _ => exec_err!("{} takes text", self.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Bpchar;
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::Signature;

    fn udf(padded: bool) -> Bpchar {
        Bpchar {
            signature: Signature::any(2, datafusion::logical_expr::Volatility::Immutable),
            padded,
        }
    }

    #[test]
    fn a_length_of_zero_is_refused() {
        let (c, v) = (udf(true), udf(false));
        let e = c
            .length_of(Some(&ScalarValue::Int64(Some(0))))
            .expect_err("char(0)");
        assert!(
            e.to_string().contains("type char must be at least 1"),
            "{e}"
        );
        let e = v
            .length_of(Some(&ScalarValue::Int64(Some(0))))
            .expect_err("varchar(0)");
        assert!(
            e.to_string().contains("type varchar must be at least 1"),
            "{e}"
        );
        assert_eq!(
            c.length_of(Some(&ScalarValue::Int64(Some(-1)))).ok(),
            Some(None)
        );
        assert_eq!(
            c.length_of(Some(&ScalarValue::Int64(Some(3)))).ok(),
            Some(Some(3))
        );
    }

    #[test]
    fn char_cuts_to_length_and_drops_trailing_blanks() {
        let c = udf(true);
        assert_eq!(c.cut("abc", Some(2)), "ab");
        assert_eq!(c.cut("ab", Some(4)), "ab");
        assert_eq!(c.cut("a  b  ", Some(4)), "a  b");
        assert_eq!(c.cut("ab   x", Some(4)), "ab");
        assert_eq!(c.cut("éèà", Some(2)), "éè");
        assert_eq!(c.cut("xy  ", None), "xy");
    }

    #[test]
    fn varchar_cuts_to_length_and_keeps_blanks() {
        let v = udf(false);
        assert_eq!(v.cut("abc", Some(2)), "ab");
        assert_eq!(v.cut("ab  ", Some(3)), "ab ");
        assert_eq!(v.cut("ab", Some(4)), "ab");
        assert_eq!(v.cut("éèà", Some(2)), "éè");
    }
}
