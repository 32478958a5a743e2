//! PostgreSQL's JSON field operators `->` and `->>` (DataFusion has none): the SQL rewrite
//! (`crate::rewrite`) turns `a -> k` into `pg_json_get(a, k)` and `a ->> k` into
//! `pg_json_get_text(a, k)`. `k` is an object key (text) or an array index (integer,
//! negative from the end). `->` returns jsonb; `->>` returns text: a JSON string's
//! contents, NULL for JSON null, otherwise the value as jsonb text. A missing key, an
//! index out of range, a NULL input or text that is not JSON gives NULL (PostgreSQL errors
//! on text that is not JSON, but json/jsonb columns always hold valid JSON here).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

/// `pg_json_get` (`->`, jsonb result) or `pg_json_get_text` (`->>`).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct JsonGet {
    text: bool,
    signature: Signature,
}

/// The UDF behind `->` (`text = false`) or `->>` (`text = true`).
pub fn json_get_udf(text: bool) -> ScalarUDF {
    ScalarUDF::new_from_impl(JsonGet {
        text,
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

impl ScalarUDFImpl for JsonGet {
    fn name(&self) -> &str {
        if self.text {
            "pg_json_get_text"
        } else {
            "pg_json_get"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 {
            return datafusion::common::plan_err!("-> and ->> take two operands");
        }
        let key = if arg_types[1].is_integer() {
            DataType::Int64
        } else {
            DataType::Utf8
        };
        Ok(vec![DataType::Utf8, key])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        let f = Field::new(self.name(), DataType::Utf8, true);
        Ok(Arc::new(if self.text {
            f
        } else {
            f.with_metadata(HashMap::from([(
                strata_storage::schema::PG_TYPE_METADATA_KEY.to_string(),
                "jsonb".to_string(),
            )]))
        }))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let docs = args.args[0].to_array(n)?;
        let keys = args.args[1].to_array(n)?;
        let docs = cast_utf8(&docs)?;
        let docs = docs.as_string::<i32>();
        let mut out = StringBuilder::with_capacity(n, n * 8);
        for i in 0..n {
            if docs.is_null(i) || keys.is_null(i) {
                out.append_null();
                continue;
            }
            let Ok(v) = serde_json::from_str::<serde_json::Value>(docs.value(i)) else {
                out.append_null();
                continue;
            };
            let got = match keys.data_type() {
                DataType::Int64 => {
                    let k = keys.as_primitive::<arrow::datatypes::Int64Type>().value(i);
                    v.as_array().and_then(|a| {
                        let idx = if k < 0 { a.len() as i64 + k } else { k };
                        usize::try_from(idx).ok().and_then(|i| a.get(i))
                    })
                }
                _ => {
                    let k = keys.as_string::<i32>().value(i);
                    v.as_object().and_then(|o| o.get(k))
                }
            };
            match (got, self.text) {
                (None, _) | (Some(serde_json::Value::Null), true) => out.append_null(),
                (Some(serde_json::Value::String(s)), true) => out.append_value(s),
                (Some(v), true) => {
                    let t = v.to_string();
                    out.append_value(strata_pgtypes::encode::jsonb_text(&t).unwrap_or(t));
                }
                (Some(v), false) => out.append_value(v.to_string()),
            }
        }
        let arr: ArrayRef = Arc::new(out.finish());
        Ok(
            if args
                .args
                .iter()
                .all(|a| matches!(a, ColumnarValue::Scalar(_)))
            {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&arr, 0)?)
            } else {
                ColumnarValue::Array(arr)
            },
        )
    }
}

fn cast_utf8(a: &ArrayRef) -> Result<ArrayRef> {
    Ok(match a.data_type() {
        DataType::Utf8 => Arc::clone(a),
        _ => arrow::compute::cast(a, &DataType::Utf8)?,
    })
}

/// `'…'::json` / `'…'::jsonb` literals: the rewrite (`crate::rewrite`) parses the text
/// with PostgreSQL's input syntax and wraps it in `pg_json_literal` / `pg_jsonb_literal`,
/// which return it unchanged in a field tagged json/jsonb, so that clients see the type
/// (psycopg decodes a jsonb result into a dict). Volatile so that constant folding does
/// not turn the call into an untagged literal.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct JsonLiteral {
    jsonb: bool,
    signature: Signature,
}

/// The UDF behind a json (`jsonb = false`) or jsonb literal.
pub fn json_literal_udf(jsonb: bool) -> ScalarUDF {
    ScalarUDF::new_from_impl(JsonLiteral {
        jsonb,
        signature: Signature::exact(vec![DataType::Utf8], Volatility::Volatile),
    })
}

impl ScalarUDFImpl for JsonLiteral {
    fn name(&self) -> &str {
        if self.jsonb {
            "pg_jsonb_literal"
        } else {
            "pg_json_literal"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        Ok(json_field(self.name(), self.jsonb))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match args.args.into_iter().next() {
            Some(v) => Ok(v),
            None => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None))),
        }
    }
}

/// A text result field tagged json or jsonb, so clients are told that type.
fn json_field(name: &str, jsonb: bool) -> FieldRef {
    let tag = if jsonb { "jsonb" } else { "json" };
    Arc::new(
        Field::new(name, DataType::Utf8, true).with_metadata(HashMap::from([(
            strata_storage::schema::PG_TYPE_METADATA_KEY.to_string(),
            tag.to_string(),
        )])),
    )
}

/// `json_build_object(k1, v1, k2, v2, ...)` (SQLAlchemy's `get_columns` builds identity
/// and collation details with it): a json object in PostgreSQL's json output form
/// (`{"k1" : v1, "k2" : v2}`). Keys are text (a NULL key is 22023, as in PostgreSQL);
/// values are JSON by their type: NULL `null`, booleans and numbers as such (a non-finite
/// float as a string), json/jsonb values as they are, anything else its text as a string.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct JsonBuildObject {
    signature: Signature,
}

/// The UDF behind `json_build_object`.
pub fn json_build_object_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(JsonBuildObject {
        signature: Signature::one_of(
            vec![
                datafusion::logical_expr::TypeSignature::VariadicAny,
                datafusion::logical_expr::TypeSignature::Nullary,
            ],
            Volatility::Stable,
        ),
    })
}

/// Appends the JSON form of `a[i]` (see [`JsonBuildObject`]); `json` tells a json/jsonb
/// argument, whose text is JSON already.
fn push_json_value(out: &mut String, a: &ArrayRef, i: usize, json: bool) -> Result<()> {
    if a.logical_nulls().is_some_and(|n| n.is_null(i)) {
        out.push_str("null");
        return Ok(());
    }
    match a.data_type() {
        DataType::Boolean => out.push_str(if a.as_boolean().value(i) {
            "true"
        } else {
            "false"
        }),
        t if t.is_integer() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) => {
            let s = arrow::util::display::array_value_to_string(a, i)?;
            out.push_str(&s)
        }
        t if t.is_floating() => {
            let f = arrow::compute::cast(a, &DataType::Float64)?;
            let s = arrow::util::display::array_value_to_string(a, i)?;
            if f.as_primitive::<arrow::datatypes::Float64Type>()
                .value(i)
                .is_finite()
            {
                out.push_str(&s)
            } else {
                out.push_str(&serde_json::Value::from(s).to_string())
            }
        }
        _ => {
            let s = cast_utf8(a)?;
            let s = s.as_string::<i32>().value(i);
            if json {
                out.push_str(s)
            } else {
                out.push_str(&serde_json::Value::from(s).to_string())
            }
        }
    }
    Ok(())
}

impl ScalarUDFImpl for JsonBuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        if !args.arg_fields.len().is_multiple_of(2) {
            return Err(datafusion::error::DataFusionError::External(Box::new(
                crate::error::Error::user(
                    crate::error::SqlState::InvalidParameterValue,
                    "argument list must have even number of elements".to_string(),
                ),
            )));
        }
        Ok(json_field(self.name(), false))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let is_json: Vec<bool> = args
            .arg_fields
            .iter()
            .map(|f| {
                f.metadata()
                    .get(strata_storage::schema::PG_TYPE_METADATA_KEY)
                    .is_some_and(|t| t == "json" || t == "jsonb")
            })
            .collect();
        crate::pg_functions::invoke_on_arrays(&args.args, args.number_rows, |arrays, n| {
            let mut out = StringBuilder::with_capacity(n, n * 32);
            for i in 0..n {
                let mut s = String::from("{");
                for (k, pair) in arrays.chunks(2).enumerate() {
                    let [key, value] = pair else { continue };
                    if key.logical_nulls().is_some_and(|n| n.is_null(i)) {
                        return Err(datafusion::error::DataFusionError::External(Box::new(
                            crate::error::Error::user(
                                crate::error::SqlState::InvalidParameterValue,
                                format!("argument {} cannot be null", 2 * k + 1),
                            ),
                        )));
                    }
                    if k > 0 {
                        s.push_str(", ");
                    }
                    let key = cast_utf8(key)?;
                    s.push_str(
                        &serde_json::Value::from(key.as_string::<i32>().value(i)).to_string(),
                    );
                    s.push_str(" : ");
                    push_json_value(&mut s, value, i, is_json[2 * k + 1])?;
                }
                s.push('}');
                out.append_value(s);
            }
            Ok(Arc::new(out.finish()) as ArrayRef)
        })
    }
}

/// PostgreSQL's JSON constructors DataFusion lacks, in their json or jsonb form:
/// - `to_json(v)` / `to_jsonb(v)`: a value as JSON (see [`push_json_value`]; SQL NULL
///   stays NULL);
/// - `json_build_array(...)` / `jsonb_build_array(...)`: `[v1, v2]`;
/// - `jsonb_build_object(k1, v1, ...)`: `{"k1": v1}` with jsonb's key order (shorter keys
///   first, then bytewise; a repeated key keeps its last value), where
///   `json_build_object` keeps the order given and writes `{"k1" : v1}`;
/// - `pg_json_array(list, jsonb)`: what `json_agg(x [ORDER BY ...])` and `jsonb_agg`
///   become (`rewrite::PgFunctionForms` turns them into `array_agg`, whose ordering and
///   partial aggregation DataFusion already does right, under this function): the list
///   as a JSON array, NULL elements `null`, NULL for no rows.
///
/// The results are text tagged json/jsonb, so clients get the type they expect (psycopg
/// decodes them into Python objects).
#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
enum JsonCtor {
    ToJson,
    BuildArray,
    BuildObject,
    ArrayOf,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct JsonConstructor {
    kind: JsonCtor,
    jsonb: bool,
    signature: Signature,
}

/// Every constructor of [`JsonConstructor`].
pub fn json_constructor_udfs() -> Vec<ScalarUDF> {
    let variadic = || {
        Signature::one_of(
            vec![
                datafusion::logical_expr::TypeSignature::VariadicAny,
                datafusion::logical_expr::TypeSignature::Nullary,
            ],
            Volatility::Stable,
        )
    };
    let mut v = vec![];
    for jsonb in [false, true] {
        v.push((
            JsonCtor::ToJson,
            jsonb,
            Signature::any(1, Volatility::Stable),
        ));
        v.push((JsonCtor::BuildArray, jsonb, variadic()));
        v.push((
            JsonCtor::ArrayOf,
            jsonb,
            Signature::any(1, Volatility::Stable),
        ));
    }
    v.push((JsonCtor::BuildObject, true, variadic()));
    v.into_iter()
        .map(|(kind, jsonb, signature)| {
            ScalarUDF::new_from_impl(JsonConstructor {
                kind,
                jsonb,
                signature,
            })
        })
        .collect()
}

fn is_json_field(f: &Field) -> bool {
    f.metadata()
        .get(strata_storage::schema::PG_TYPE_METADATA_KEY)
        .is_some_and(|t| t == "json" || t == "jsonb")
}

/// jsonb's order of object keys: shorter first, then bytewise.
fn jsonb_key_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

impl ScalarUDFImpl for JsonConstructor {
    fn name(&self) -> &str {
        match (self.kind, self.jsonb) {
            (JsonCtor::ToJson, false) => "to_json",
            (JsonCtor::ToJson, true) => "to_jsonb",
            (JsonCtor::BuildArray, false) => "json_build_array",
            (JsonCtor::BuildArray, true) => "jsonb_build_array",
            (JsonCtor::BuildObject, _) => "jsonb_build_object",
            (JsonCtor::ArrayOf, false) => "pg_json_array",
            (JsonCtor::ArrayOf, true) => "pg_jsonb_array",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> Result<FieldRef> {
        if self.kind == JsonCtor::BuildObject && !args.arg_fields.len().is_multiple_of(2) {
            return Err(datafusion::error::DataFusionError::External(Box::new(
                crate::error::Error::user(
                    crate::error::SqlState::InvalidParameterValue,
                    "argument list must have even number of elements".to_string(),
                ),
            )));
        }
        Ok(json_field(self.name(), self.jsonb))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let is_json: Vec<bool> = args.arg_fields.iter().map(|f| is_json_field(f)).collect();
        let (kind, jsonb) = (self.kind, self.jsonb);
        crate::pg_functions::invoke_on_arrays(&args.args, args.number_rows, |arrays, n| {
            let mut out = StringBuilder::with_capacity(n, n * 16);
            for i in 0..n {
                match kind {
                    JsonCtor::ToJson => {
                        let a = &arrays[0];
                        if a.logical_nulls().is_some_and(|nulls| nulls.is_null(i)) {
                            out.append_null();
                            continue;
                        }
                        let mut s = String::new();
                        push_json_value(&mut s, a, i, is_json[0])?;
                        out.append_value(s);
                    }
                    JsonCtor::BuildArray => {
                        let mut s = String::from("[");
                        for (k, a) in arrays.iter().enumerate() {
                            if k > 0 {
                                s.push_str(", ");
                            }
                            push_json_value(&mut s, a, i, is_json[k])?;
                        }
                        s.push(']');
                        out.append_value(s);
                    }
                    JsonCtor::BuildObject => {
                        let mut pairs: Vec<(String, String)> = vec![];
                        for (k, pair) in arrays.chunks(2).enumerate() {
                            let [key, value] = pair else { continue };
                            if key.logical_nulls().is_some_and(|nulls| nulls.is_null(i)) {
                                return Err(datafusion::error::DataFusionError::External(
                                    Box::new(crate::error::Error::user(
                                        crate::error::SqlState::InvalidParameterValue,
                                        format!("argument {} cannot be null", 2 * k + 1),
                                    )),
                                ));
                            }
                            let key = cast_utf8(key)?.as_string::<i32>().value(i).to_string();
                            let mut v = String::new();
                            push_json_value(&mut v, value, i, is_json[2 * k + 1])?;
                            match pairs.iter_mut().find(|(k, _)| *k == key) {
                                Some(p) => p.1 = v,
                                None => pairs.push((key, v)),
                            }
                        }
                        pairs.sort_by(|a, b| jsonb_key_order(&a.0, &b.0));
                        let mut s = String::from("{");
                        for (k, (key, v)) in pairs.iter().enumerate() {
                            if k > 0 {
                                s.push_str(", ");
                            }
                            s.push_str(&serde_json::Value::from(key.as_str()).to_string());
                            s.push_str(": ");
                            s.push_str(v);
                        }
                        s.push('}');
                        out.append_value(s);
                    }
                    JsonCtor::ArrayOf => {
                        let a = &arrays[0];
                        if a.logical_nulls().is_some_and(|nulls| nulls.is_null(i)) {
                            out.append_null();
                            continue;
                        }
                        let (values, item_json) = match a.data_type() {
                            DataType::List(item) => {
                                (a.as_list::<i32>().value(i), is_json_field(item))
                            }
                            DataType::LargeList(item) => {
                                (a.as_list::<i64>().value(i), is_json_field(item))
                            }
                            other => {
                                return datafusion::common::exec_err!(
                                    "{}: a list expected, not {other}",
                                    if jsonb { "jsonb_agg" } else { "json_agg" }
                                );
                            }
                        };
                        let mut s = String::from("[");
                        for k in 0..values.len() {
                            if k > 0 {
                                s.push_str(", ");
                            }
                            push_json_value(&mut s, &values, k, item_json || is_json[0])?;
                        }
                        s.push(']');
                        out.append_value(s);
                    }
                }
            }
            Ok(Arc::new(out.finish()) as ArrayRef)
        })
    }
}
