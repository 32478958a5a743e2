//! `information_schema._pg_expandarray(a)`, which pgjdbc's `getPrimaryKeys` (and so DBeaver
//! and Metabase) applies to `pg_index.indkey`: the elements of an `int2vector` or an array
//! with their 1-based positions.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int16Builder, Int32Builder, ListArray, StructArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::plan_err;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// Name of the function `information_schema._pg_expandarray(a)` becomes (inside
/// `unnest(...)`, see `crate::rewrite`): the elements of an `int2vector` (text `"1 2"`) or
/// an array with their 1-based positions, as a list of `(x, n)` structs.
pub const EXPANDARRAY_FN: &str = "pg_expandarray";

#[derive(Debug, PartialEq, Eq, Hash)]
struct ExpandArray {
    sig: Signature,
}

fn struct_fields() -> Fields {
    Fields::from(vec![
        Field::new("x", DataType::Int16, true),
        Field::new("n", DataType::Int32, true),
    ])
}

fn item_field() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Struct(struct_fields()), true))
}

impl ScalarUDFImpl for ExpandArray {
    fn name(&self) -> &str {
        EXPANDARRAY_FN
    }
    fn signature(&self) -> &Signature {
        &self.sig
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::List(item_field()))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let n = args.number_rows;
        let Some(arg) = args.args.first() else {
            return plan_err!("_pg_expandarray takes one argument");
        };
        let a = arg.to_array(n)?;
        let texts = arrow::compute::cast(&a, &DataType::Utf8)?;
        let texts = texts.as_string::<i32>();
        let (mut xs, mut ns) = (Int16Builder::new(), Int32Builder::new());
        let mut lengths = Vec::with_capacity(n);
        for i in 0..n {
            if texts.is_null(i) {
                lengths.push(0);
                continue;
            }
            let body = texts
                .value(i)
                .trim()
                .trim_start_matches('{')
                .trim_end_matches('}');
            let mut len = 0;
            for (k, part) in body.split([' ', ',']).filter(|p| !p.is_empty()).enumerate() {
                xs.append_option(part.trim().parse::<i16>().ok());
                ns.append_value(i32::try_from(k + 1).unwrap_or(i32::MAX));
                len += 1;
            }
            lengths.push(len);
        }
        let structs = StructArray::try_new(
            struct_fields(),
            vec![Arc::new(xs.finish()) as ArrayRef, Arc::new(ns.finish())],
            None,
        )?;
        let list = ListArray::try_new(
            item_field(),
            OffsetBuffer::from_lengths(lengths),
            Arc::new(structs),
            texts.nulls().cloned(),
        )?;
        Ok(ColumnarValue::Array(Arc::new(list)))
    }
}

/// The `pg_expandarray` function.
pub fn expandarray_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(ExpandArray {
        sig: Signature::any(1, Volatility::Immutable),
    })
}
