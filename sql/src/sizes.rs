//! TimescaleDB's size functions, as SQL functions that read storage when they execute, so
//! they work anywhere in a query (`SELECT hypertable_name,
//! hypertable_size(format('%I', hypertable_name)) FROM timescaledb_information.hypertables`):
//!
//! - `hypertable_size(relation)` (bigint): bytes of the table's Parquet files on both tiers
//!   (rows still in memory are not counted: they are in the WAL, which is shared).
//! - `hypertable_detailed_size(relation)`: `(table_bytes, index_bytes, toast_bytes,
//!   total_bytes, node_name)`. As a scalar (`SELECT hypertable_detailed_size('t')`) it is
//!   the record in text, as psql shows it; in FROM (`SELECT * FROM
//!   hypertable_detailed_size('t')`) it is a one-row table (with the argument a literal).
//!   Hot and cold files are both `table_bytes`; Strata has no indexes or TOAST (0).
//! - `approximate_row_count(relation)` (bigint): rows in files (from their metadata) plus
//!   rows in memory; exact unless a DELETE is being applied.
//!
//! The relation is a table or a continuous aggregate (its materialized states), named as
//! `regclass` text: `'t'`, `'public.t'`, `'"MixedCase"'`. An unknown name is 42P01.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use strata_storage::Storage;

use crate::error::{Error, SqlState};

/// The sizes of one relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    pub bytes: i64,
    pub rows: i64,
}

/// The table id behind a `regclass` text, or 42P01.
fn resolve(storage: &Storage, name: &str) -> Result<strata_storage::ids::TableId, Error> {
    let unquote = |s: &str| -> String {
        let s = s.trim();
        match s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            Some(q) => q.replace("\"\"", "\""),
            None => s.to_lowercase(),
        }
    };
    let bare = match name.trim().split_once('.') {
        Some((schema, rest)) if unquote(schema) == crate::engine::SCHEMA => unquote(rest),
        _ => unquote(name),
    };
    let cat = storage.catalog();
    if let Some(v) = cat.cagg(&bare) {
        return Ok(v.state_table);
    }
    match cat.table(&bare).filter(|t| !t.internal) {
        Some(t) => Ok(t.id),
        None => Err(Error::user(
            SqlState::UndefinedTable,
            format!("relation \"{name}\" does not exist"),
        )),
    }
}

/// Bytes (files on both tiers) and rows (files and memory) of a relation.
pub fn sizes(storage: &Storage, name: &str) -> Result<Sizes, Error> {
    let id = resolve(storage, name)?;
    let chunks = storage.chunks(id)?;
    Ok(Sizes {
        bytes: chunks
            .iter()
            .map(|c| i64::try_from(c.bytes).unwrap_or(i64::MAX))
            .fold(0, i64::saturating_add),
        rows: chunks
            .iter()
            .map(|c| i64::try_from(c.rows).unwrap_or(i64::MAX))
            .fold(0, i64::saturating_add),
    })
}

fn df(e: Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// The record text of `hypertable_detailed_size`.
fn detailed_text(s: Sizes) -> String {
    format!("({},0,0,{},)", s.bytes, s.bytes)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Size,
    DetailedSize,
    RowCount,
}

#[derive(Debug)]
struct SizeUdf {
    kind: Kind,
    storage: Arc<Storage>,
    sig: Signature,
}

impl PartialEq for SizeUdf {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && Arc::ptr_eq(&self.storage, &other.storage)
    }
}

impl Eq for SizeUdf {}

impl std::hash::Hash for SizeUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
    }
}

impl ScalarUDFImpl for SizeUdf {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Size => "hypertable_size",
            Kind::DetailedSize => "hypertable_detailed_size",
            Kind::RowCount => "approximate_row_count",
        }
    }

    fn signature(&self) -> &Signature {
        &self.sig
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(match self.kind {
            Kind::DetailedSize => DataType::Utf8,
            _ => DataType::Int64,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let names = args.args[0].to_array(args.number_rows)?;
        let names = arrow::compute::cast(&names, &DataType::Utf8)?;
        let names = names.as_string::<i32>();
        let mut ints: Vec<Option<i64>> = Vec::with_capacity(names.len());
        let mut texts: Vec<Option<String>> = Vec::with_capacity(names.len());
        for name in names.iter() {
            let Some(name) = name else {
                ints.push(None);
                texts.push(None);
                continue;
            };
            let s = sizes(&self.storage, name).map_err(df)?;
            ints.push(Some(match self.kind {
                Kind::RowCount => s.rows,
                _ => s.bytes,
            }));
            texts.push(Some(detailed_text(s)));
        }
        let out: ArrayRef = match self.kind {
            Kind::DetailedSize => Arc::new(StringArray::from(texts)),
            _ => Arc::new(Int64Array::from(ints)),
        };
        if matches!(args.args[0], ColumnarValue::Scalar(_)) {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(out))
    }
}

/// `SELECT * FROM hypertable_detailed_size('t')`.
#[derive(Debug)]
struct DetailedSizeTable {
    storage: Arc<Storage>,
}

impl TableFunctionImpl for DetailedSizeTable {
    fn call_with_args(&self, args: TableFunctionArgs<'_, '_>) -> DfResult<Arc<dyn TableProvider>> {
        let name = match args.exprs() {
            [Expr::Literal(ScalarValue::Utf8(Some(s)), _)]
            | [Expr::Literal(ScalarValue::Utf8View(Some(s)), _)]
            | [Expr::Literal(ScalarValue::LargeUtf8(Some(s)), _)] => s.clone(),
            _ => {
                return Err(df(Error::user(
                    SqlState::FeatureNotSupported,
                    "hypertable_detailed_size in FROM takes one string literal, such as hypertable_detailed_size('metrics'); use it in the select list for other arguments",
                )));
            }
        };
        let s = sizes(&self.storage, &name).map_err(df)?;
        let schema = Arc::new(Schema::new(vec![
            Field::new("table_bytes", DataType::Int64, true),
            Field::new("index_bytes", DataType::Int64, true),
            Field::new("toast_bytes", DataType::Int64, true),
            Field::new("total_bytes", DataType::Int64, true),
            Field::new("node_name", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(vec![s.bytes])),
                Arc::new(Int64Array::from(vec![0])),
                Arc::new(Int64Array::from(vec![0])),
                Arc::new(Int64Array::from(vec![s.bytes])),
                Arc::new(StringArray::from(vec![None::<&str>])),
            ],
        )?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

/// Registers the size functions on a session context.
pub fn register(ctx: &SessionContext, storage: &Arc<Storage>) {
    for kind in [Kind::Size, Kind::DetailedSize, Kind::RowCount] {
        ctx.register_udf(ScalarUDF::new_from_impl(SizeUdf {
            kind,
            storage: Arc::clone(storage),
            // Volatile: evaluated when the query runs, never folded at planning.
            sig: Signature::string(1, Volatility::Volatile),
        }));
    }
    ctx.register_udtf(
        "hypertable_detailed_size",
        Arc::new(DetailedSizeTable {
            storage: Arc::clone(storage),
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detailed_size_prints_as_a_record() {
        assert_eq!(
            detailed_text(Sizes {
                bytes: 8192,
                rows: 3
            }),
            "(8192,0,0,8192,)"
        );
    }
}
