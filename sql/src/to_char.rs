//! PostgreSQL's `to_char(timestamp, template)`, `to_timestamp(text, template)` and
//! `to_date(text, template)`: DataFusion's functions take chrono format strings, so the
//! template (a literal, a parameter or a column) is translated at execution and the call
//! handed to DataFusion's function. DataFusion's `to_timestamp` reads the text in the
//! session time zone (`execution.time_zone`) and answers a timestamptz, as PostgreSQL's.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

/// PostgreSQL's `to_char(timestamp, template)` template as a chrono format (DataFusion's
/// `to_char` takes chrono's). Handles the common patterns: `YYYY YY IYYY IW MM DDD DD ID
/// HH24 HH12 HH MI SS MS US AM PM am pm Mon Month Dy Day TZ`, the `FM` prefix (no
/// padding), `"quoted text"` and `\` escapes; other characters are literal. Differences
/// kept: `Month`/`Day` are not blank-padded to 9 characters (PostgreSQL pads them unless
/// `FM`), upper-case name patterns (`MON`, `MONTH`, `DY`, `DAY`) are not upper-cased.
pub fn pg_to_chrono_format(t: &str) -> String {
    const PATTERNS: &[(&str, &str, &str)] = &[
        // (PostgreSQL, chrono, chrono with FM)
        ("HH24", "%H", "%-H"),
        ("HH12", "%I", "%-I"),
        ("IYYY", "%G", "%G"),
        ("YYYY", "%Y", "%Y"),
        ("MONTH", "%B", "%B"),
        ("Month", "%B", "%B"),
        ("month", "%B", "%B"),
        ("DDD", "%j", "%-j"),
        ("MON", "%b", "%b"),
        ("Mon", "%b", "%b"),
        ("mon", "%b", "%b"),
        ("DAY", "%A", "%A"),
        ("Day", "%A", "%A"),
        ("day", "%A", "%A"),
        ("A.M.", "%p", "%p"),
        ("P.M.", "%p", "%p"),
        ("HH", "%I", "%-I"),
        ("MI", "%M", "%-M"),
        ("SS", "%S", "%-S"),
        ("MS", "%3f", "%3f"),
        ("US", "%6f", "%6f"),
        ("AM", "%p", "%p"),
        ("PM", "%p", "%p"),
        ("am", "%P", "%P"),
        ("pm", "%P", "%P"),
        ("YY", "%y", "%y"),
        ("IW", "%V", "%-V"),
        ("MM", "%m", "%-m"),
        ("DD", "%d", "%-d"),
        ("DY", "%a", "%a"),
        ("Dy", "%a", "%a"),
        ("dy", "%a", "%a"),
        ("ID", "%u", "%u"),
        ("TZ", "%Z", "%Z"),
    ];
    let mut out = String::with_capacity(t.len() + 8);
    let mut rest = t;
    let mut fm = false;
    while let Some(c) = rest.chars().next() {
        if c == '"' {
            // Quoted literal text up to the closing quote.
            let body = &rest[1..];
            let end = body.find('"').unwrap_or(body.len());
            out.push_str(&body[..end].replace('%', "%%"));
            rest = body.get(end + 1..).unwrap_or("");
            continue;
        }
        if c == '\\' {
            let mut it = rest.chars();
            it.next();
            if let Some(n) = it.next() {
                if n == '%' {
                    out.push_str("%%");
                } else {
                    out.push(n);
                }
            }
            rest = it.as_str();
            continue;
        }
        if rest.get(..2).is_some_and(|x| x.eq_ignore_ascii_case("FM")) {
            fm = true;
            rest = &rest[2..];
            continue;
        }
        let hit = PATTERNS.iter().find(|(p, _, _)| {
            rest.len() >= p.len()
                && rest.is_char_boundary(p.len())
                && (rest[..p.len()] == **p
                    || (p
                        .chars()
                        .all(|c| !c.is_ascii_alphabetic() || c.is_ascii_uppercase())
                        && !matches!(*p, "MON" | "MONTH" | "DAY" | "DY" | "AM" | "PM")
                        && rest[..p.len()].eq_ignore_ascii_case(p)))
        });
        match hit {
            Some((p, plain, no_pad)) => {
                out.push_str(if fm { no_pad } else { plain });
                rest = &rest[p.len()..];
            }
            None => {
                if c == '%' {
                    out.push_str("%%");
                } else {
                    out.push(c);
                }
                rest = &rest[c.len_utf8()..];
            }
        }
        fm = false;
    }
    out
}

/// A DataFusion function whose arguments after the first are PostgreSQL templates:
/// `to_char` (Superset and Grafana format times with it), `to_timestamp` and `to_date`
/// (Superset's time range filters: `TO_TIMESTAMP('2024-05-01 00:00:00.000000',
/// 'YYYY-MM-DD HH24:MI:SS.US')`, `TO_DATE('2024-05-01', 'YYYY-MM-DD')`); a one-argument
/// call (`to_timestamp(epoch)`) is DataFusion's. The wrapper also takes DataFusion's
/// aliases (`date_format` for `to_char`), so that DataFusion's own function is no longer
/// registered under any name (a registry entry left under an alias was found by name
/// lookups that scan the registry, nondeterministically). Differences kept: a template
/// is parsed as chrono parses its translation, so `US` wants exactly six digits and
/// `MS` three, and separators must match (PostgreSQL skips or mixes them unless `FX`).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgTemplated {
    inner: Arc<ScalarUDF>,
    aliases: Vec<String>,
}

impl PgTemplated {
    fn wrap(inner: Arc<ScalarUDF>) -> ScalarUDF {
        let aliases = inner.aliases().to_vec();
        ScalarUDF::new_from_impl(PgTemplated { inner, aliases })
    }

    /// `to_char`, `to_timestamp` and `to_date` with PostgreSQL templates.
    pub fn udfs() -> Vec<Arc<ScalarUDF>> {
        use datafusion::functions::datetime;
        // Configured for the session when registered (`crate::functions::register_all`).
        let config = ConfigOptions::default();
        [
            datetime::to_char(),
            datetime::to_timestamp(&config),
            datetime::to_date(),
        ]
        .into_iter()
        .map(|f| Arc::new(Self::wrap(f)))
        .collect()
    }
}

fn translate(v: &ColumnarValue) -> Result<ColumnarValue> {
    Ok(match v {
        ColumnarValue::Scalar(ScalarValue::Utf8(s)) => {
            ColumnarValue::Scalar(ScalarValue::Utf8(s.as_deref().map(pg_to_chrono_format)))
        }
        ColumnarValue::Scalar(ScalarValue::LargeUtf8(s)) => ColumnarValue::Scalar(
            ScalarValue::LargeUtf8(s.as_deref().map(pg_to_chrono_format)),
        ),
        ColumnarValue::Scalar(ScalarValue::Utf8View(s)) => {
            ColumnarValue::Scalar(ScalarValue::Utf8View(s.as_deref().map(pg_to_chrono_format)))
        }
        ColumnarValue::Array(a) => {
            let a = arrow::compute::cast(a, &DataType::Utf8)?;
            let out: StringArray = a
                .as_string::<i32>()
                .iter()
                .map(|v| v.map(pg_to_chrono_format))
                .collect();
            ColumnarValue::Array(Arc::new(out) as ArrayRef)
        }
        other => other.clone(),
    })
}

impl ScalarUDFImpl for PgTemplated {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    /// `to_timestamp` follows the session time zone (`execution.time_zone`).
    fn with_updated_config(&self, config: &ConfigOptions) -> Option<ScalarUDF> {
        let inner = self.inner.inner().with_updated_config(config)?;
        Some(Self::wrap(Arc::new(inner)))
    }

    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        for i in 1..args.args.len() {
            let t = translate(&args.args[i])?;
            let is_array = matches!(t, ColumnarValue::Array(ref a) if !a.is_empty());
            args.args[i] = t;
            if is_array
                && let Some(f) = args.arg_fields.get_mut(i)
                && f.data_type() != &DataType::Utf8
            {
                *f = Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8));
            }
        }
        self.inner.invoke_with_args(args)
    }
}

#[cfg(test)]
mod to_char_tests {
    use super::pg_to_chrono_format as f;

    #[test]
    fn templates() {
        assert_eq!(f("YYYY-MM-DD HH24:MI:SS"), "%Y-%m-%d %H:%M:%S");
        assert_eq!(f("yyyy-mm-dd"), "%Y-%m-%d");
        assert_eq!(f("FMDD Mon YYYY, HH12:MI AM"), "%-d %b %Y, %I:%M %p");
        assert_eq!(f("\"Week\" IW, 100%"), "Week %V, 100%%");
        assert_eq!(f("HH24:MI:SS.MS"), "%H:%M:%S.%3f");
        assert_eq!(f("HH:MI pm"), "%I:%M %P");
        assert_eq!(f("Fé YYYY"), "Fé %Y");
    }
}
