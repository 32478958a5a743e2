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

/// Name of the function `unnest(v)` of an `int2vector`/`oidvector` or array catalog column
/// gets wrapped in (`crate::rewrite`): its elements as a list of `int2` (`elem` Int16) or
/// `oid` (Int32). Strata's catalog keeps these columns as their text form (`"1 2"`,
/// `"{1,2}"`), which DataFusion's `unnest` refuses.
pub const INT2_ITEMS_FN: &str = "pg_int2vector_items";
/// Like [`INT2_ITEMS_FN`], for `oidvector` columns.
pub const OID_ITEMS_FN: &str = "pg_oidvector_items";
/// Name of the function `generate_subscripts(a, dim)` becomes (inside `unnest(...)`): the
/// subscripts of `a` along `dim` as a list. An `int2vector`/`oidvector` (text without
/// braces) is indexed from 0, an array from 1, as in PostgreSQL.
pub const SUBSCRIPTS_FN: &str = "pg_subscripts";

/// The elements of a vector's or array's text form (`"1 2"`, `"{1,2}"`); None for NULL.
fn vector_items(a: &ArrayRef, i: usize) -> Option<(bool, Vec<String>)> {
    if a.is_null(i) {
        return None;
    }
    let text = match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().value(i).to_string(),
        DataType::LargeUtf8 => a.as_string::<i64>().value(i).to_string(),
        DataType::Utf8View => a.as_string_view().value(i).to_string(),
        _ => arrow::util::display::array_value_to_string(a, i).ok()?,
    };
    let text = text.trim();
    let braced = text.starts_with('{') || text.starts_with('[');
    let body = text
        .trim_start_matches(['{', '['])
        .trim_end_matches(['}', ']']);
    Some((
        braced,
        body.split([' ', ','])
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect(),
    ))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct VectorItems {
    name: &'static str,
    elem: DataType,
    sig: Signature,
}

impl ScalarUDFImpl for VectorItems {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.sig
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::new_list(self.elem.clone(), true))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let n = args.number_rows;
        let Some(arg) = args.args.first() else {
            return plan_err!("{} takes one argument", self.name);
        };
        let a = arg.to_array(n)?;
        if let DataType::List(_) | DataType::LargeList(_) = a.data_type() {
            let out = arrow::compute::cast(&a, &DataType::new_list(self.elem.clone(), true))?;
            return Ok(ColumnarValue::Array(out));
        }
        let mut b = arrow::array::ListBuilder::new(Int32Builder::new());
        for i in 0..n {
            match vector_items(&a, i) {
                None => b.append_null(),
                Some((_, items)) => {
                    for it in items {
                        b.values().append_option(it.parse::<i32>().ok());
                    }
                    b.append(true);
                }
            }
        }
        let list: ArrayRef = Arc::new(b.finish());
        Ok(ColumnarValue::Array(arrow::compute::cast(
            &list,
            &DataType::new_list(self.elem.clone(), true),
        )?))
    }
}

/// `pg_int2vector_items` and `pg_oidvector_items` (see [`INT2_ITEMS_FN`]).
pub fn vector_items_udfs() -> [ScalarUDF; 2] {
    [
        (INT2_ITEMS_FN, DataType::Int16),
        (OID_ITEMS_FN, DataType::Int32),
    ]
    .map(|(name, elem)| {
        ScalarUDF::new_from_impl(VectorItems {
            name,
            elem,
            sig: Signature::any(1, Volatility::Immutable),
        })
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Subscripts {
    sig: Signature,
}

impl ScalarUDFImpl for Subscripts {
    fn name(&self) -> &str {
        SUBSCRIPTS_FN
    }
    fn signature(&self) -> &Signature {
        &self.sig
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::new_list(DataType::Int32, true))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let n = args.number_rows;
        let [a, dim] = args.args.as_slice() else {
            return plan_err!("generate_subscripts takes two arguments");
        };
        let a = a.to_array(n)?;
        let dim = arrow::compute::cast(&dim.to_array(n)?, &DataType::Int64)?;
        let dim = dim.as_primitive::<arrow::datatypes::Int64Type>();
        let mut b = arrow::array::ListBuilder::new(Int32Builder::new());
        for i in 0..n {
            let len_and_base = match a.data_type() {
                DataType::List(_) => {
                    let l = a.as_list::<i32>();
                    (!l.is_null(i)).then(|| (l.value(i).len(), 1))
                }
                _ => vector_items(&a, i).map(|(braced, it)| (it.len(), if braced { 1 } else { 0 })),
            };
            // One-dimensional values only: another dimension has no subscripts.
            match len_and_base {
                Some((len, base)) if !dim.is_null(i) && dim.value(i) == 1 => {
                    for k in 0..len {
                        b.values()
                            .append_value(i32::try_from(k).unwrap_or(i32::MAX) + base);
                    }
                    b.append(true);
                }
                _ => b.append_null(),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(b.finish())))
    }
}

/// The `pg_subscripts` function (see [`SUBSCRIPTS_FN`]).
pub fn subscripts_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(Subscripts {
        sig: Signature::any(2, Volatility::Immutable),
    })
}
