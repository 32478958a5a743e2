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
pub fn register(ctx: &SessionContext, settings: Arc<parking_lot::RwLock<Settings>>) {
    let v = version_string();
    ctx.register_udf(create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_args: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(v.clone()))))
        }),
    ));
    ctx.register_udf(pg_typeof_udf());
    ctx.register_udf(crate::json_ops::json_get_udf(false));
    ctx.register_udf(crate::json_ops::json_get_udf(true));
    let s = settings;
    ctx.register_udf(create_udf(
        "current_setting",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let s = s.read();
            let get = |name: Option<&str>| name.and_then(|n| s.get(n));
            match &args[0] {
                ColumnarValue::Scalar(ScalarValue::Utf8(n)) => {
                    Ok(ColumnarValue::Scalar(ScalarValue::Utf8(get(n.as_deref()))))
                }
                ColumnarValue::Array(a) => {
                    let a = a.as_string::<i32>();
                    let out: StringArray = a.iter().map(get).collect();
                    Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
                }
                other => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(get(other
                    .to_string()
                    .as_str()
                    .into())))),
            }
        }),
    ));
}

/// `pg_typeof(any)`: the PostgreSQL type name of the argument's type, as `regtype` prints.
pub fn pg_typeof_udf() -> datafusion::logical_expr::ScalarUDF {
    use datafusion::logical_expr::{ScalarFunctionArgs, ScalarUDFImpl, Signature};
    #[derive(Debug, PartialEq, Eq, Hash)]
    struct PgTypeOf {
        sig: Signature,
    }
    impl ScalarUDFImpl for PgTypeOf {
        fn name(&self) -> &str {
            "pg_typeof"
        }
        fn signature(&self) -> &Signature {
            &self.sig
        }
        fn return_type(&self, _: &[DataType]) -> datafusion::common::Result<DataType> {
            Ok(DataType::Utf8)
        }
        fn invoke_with_args(
            &self,
            args: ScalarFunctionArgs,
        ) -> datafusion::common::Result<ColumnarValue> {
            let field = &args.arg_fields[0];
            let name = regtype_name(field.as_ref());
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))))
        }
    }
    datafusion::logical_expr::ScalarUDF::new_from_impl(PgTypeOf {
        sig: Signature::any(1, Volatility::Immutable),
    })
}

/// The `regtype` display name of an Arrow field's PostgreSQL type.
pub fn regtype_name(field: &arrow::datatypes::Field) -> String {
    let info = strata_pgtypes::oid::pg_type_of_field(field);
    let base = |n: &str| -> String {
        match n {
            "int2" => "smallint".into(),
            "int4" => "integer".into(),
            "int8" => "bigint".into(),
            "float4" => "real".into(),
            "float8" => "double precision".into(),
            "bool" => "boolean".into(),
            "varchar" => "character varying".into(),
            "timestamp" => "timestamp without time zone".into(),
            "timestamptz" => "timestamp with time zone".into(),
            "time" => "time without time zone".into(),
            "bpchar" => "character".into(),
            other => other.to_string(),
        }
    };
    match info.name.strip_prefix('_') {
        Some(elem) => format!("{}[]", base(elem)),
        None => base(info.name),
    }
}
