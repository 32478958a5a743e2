//! PostgreSQL's `format(formatstr, args...)`, which DataFusion lacks: `%s` (text, NULL as
//! empty), `%I` (identifier, quoted when needed), `%L` (literal, NULL as `NULL`), `%%`, and
//! explicit positions (`%1$s`). Width and `-` flags are refused with 0A000. Arguments are
//! converted to text with Arrow's cast (exactly PostgreSQL's text for strings and
//! integers, the usual use).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::error::{Error, SqlState};
use crate::pg_functions::{quote_ident, quote_literal};

fn user(state: SqlState, msg: impl Into<String>) -> DataFusionError {
    DataFusionError::External(Box::new(Error::user(state, msg)))
}

/// Formats one row.
fn format_row(fmt: &str, args: &[Option<&str>]) -> DfResult<String> {
    let mut out = String::with_capacity(fmt.len());
    let mut chars = fmt.chars().peekable();
    let mut next_arg = 0usize;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        // Optional `n$`.
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        let index = if !digits.is_empty() {
            if chars.next_if_eq(&'$').is_none() {
                return Err(user(
                    SqlState::FeatureNotSupported,
                    "format(): width specifiers are not supported; use %s, %I, %L or %n$s",
                ));
            }
            let n: usize = digits.parse().unwrap_or(0);
            if n == 0 {
                return Err(user(
                    SqlState::InvalidParameterValue,
                    "format specifies argument 0, but arguments are numbered from 1",
                ));
            }
            n - 1
        } else {
            next_arg
        };
        let Some(conv) = chars.next() else {
            return Err(user(
                SqlState::InvalidParameterValue,
                "unterminated format() type specifier",
            ));
        };
        if conv == '%' && digits.is_empty() {
            out.push('%');
            continue;
        }
        if !matches!(conv, 's' | 'I' | 'L') {
            return Err(user(
                SqlState::InvalidParameterValue,
                format!("unrecognized format() type specifier \"{conv}\""),
            ));
        }
        let Some(arg) = args.get(index) else {
            return Err(user(
                SqlState::InvalidParameterValue,
                "too few arguments for format()",
            ));
        };
        next_arg = index + 1;
        match (conv, arg) {
            ('s', Some(v)) => out.push_str(v),
            ('s', None) => {}
            ('I', Some(v)) => out.push_str(&quote_ident(v)),
            ('I', None) => {
                return Err(user(
                    SqlState::InvalidParameterValue,
                    "null values cannot be formatted as an SQL identifier",
                ));
            }
            ('L', Some(v)) => out.push_str(&quote_literal(v)),
            _ => out.push_str("NULL"),
        }
    }
    Ok(out)
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Format {
    sig: Signature,
}

impl ScalarUDFImpl for Format {
    fn name(&self) -> &str {
        "format"
    }

    fn signature(&self) -> &Signature {
        &self.sig
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let n = args.number_rows;
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { n };
        let texts: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| {
                let a = a.to_array(rows)?;
                Ok(arrow::compute::cast(&a, &DataType::Utf8)?)
            })
            .collect::<DfResult<_>>()?;
        let Some((fmt, rest)) = texts.split_first() else {
            return Err(user(
                SqlState::UndefinedFunction,
                "function format() needs a format string",
            ));
        };
        let fmt = fmt.as_string::<i32>();
        let rest: Vec<_> = rest.iter().map(|a| a.as_string::<i32>()).collect();
        let mut out: Vec<Option<String>> = Vec::with_capacity(rows);
        for i in 0..rows {
            if fmt.is_null(i) {
                out.push(None);
                continue;
            }
            let row: Vec<Option<&str>> = rest
                .iter()
                .map(|a| (!a.is_null(i)).then(|| a.value(i)))
                .collect();
            out.push(Some(format_row(fmt.value(i), &row)?));
        }
        let out: ArrayRef = Arc::new(StringArray::from(out));
        if all_scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(out))
    }
}

/// `format(formatstr, args...)`.
pub fn format_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(Format {
        sig: Signature::variadic_any(Volatility::Immutable),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_postgres() {
        let f = |fmt: &str, args: &[Option<&str>]| format_row(fmt, args).unwrap();
        assert_eq!(f("%I", &[Some("metrics")]), "metrics");
        assert_eq!(f("%I", &[Some("My Table")]), "\"My Table\"");
        assert_eq!(
            f("%I.%I", &[Some("public"), Some("Ab\"c")]),
            "public.\"Ab\"\"c\""
        );
        assert_eq!(f("%L", &[Some("it's")]), "'it''s'");
        assert_eq!(f("%L", &[Some("a\\b")]), "E'a\\\\b'");
        assert_eq!(f("%L and %s", &[None, None]), "NULL and ");
        assert_eq!(f("%2$s %1$s %s", &[Some("a"), Some("b")]), "b a b");
        assert_eq!(f("100%%", &[]), "100%");
        assert!(format_row("%I", &[None]).is_err());
        assert!(format_row("%s %s", &[Some("a")]).is_err());
        assert!(format_row("%10s", &[Some("a")]).is_err());
        assert!(format_row("%x", &[Some("a")]).is_err());
    }
}
