//! PostgreSQL functions that clients call on connect and that DataFusion lacks or
//! answers differently: `version()` (SQLAlchemy and pgjdbc parse it), `current_setting`.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;

use crate::session::Settings;

/// The `version()` banner: PostgreSQL's shape, so drivers that parse it accept it.
pub fn version_string() -> String {
    format!(
        "PostgreSQL {} on {}-pc-linux-gnu, compiled by rustc, 64-bit",
        crate::settings::SERVER_VERSION,
        std::env::consts::ARCH
    )
}

/// Registers the functions into a session context.
pub fn register(ctx: &SessionContext, settings: &Settings) {
    let v = version_string();
    ctx.register_udf(create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_args: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(v.clone()))))),
    ));
    let s = settings.clone();
    ctx.register_udf(create_udf(
        "current_setting",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let get = |name: Option<&str>| name.and_then(|n| s.get(n));
            match &args[0] {
                ColumnarValue::Scalar(ScalarValue::Utf8(n)) => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(get(n.as_deref())))),
                ColumnarValue::Array(a) => {
                    let a = a.as_string::<i32>();
                    let out: StringArray = a.iter().map(get).collect();
                    Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
                }
                other => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(get(other.to_string().as_str().into())))),
            }
        }),
    ));
}
