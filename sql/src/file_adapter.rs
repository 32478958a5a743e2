//! How a Parquet scan reads columns that storage keeps in an encoding of its own.
//!
//! Storage writes `interval` columns as marked `FixedSizeBinary(16)` (Parquet has no lossless
//! interval type; see `strata_storage::parquet_io`). [`FileColumnAdapterFactory`] is
//! DataFusion's [`DefaultPhysicalExprAdapter`] — which fills missing columns with NULL and
//! casts changed types — plus one step: references to an encoded column are wrapped in
//! [`DecodeInterval`], which calls storage's decoder. Projections and filters pushed into the
//! scan see the table's `interval` type; pruning by statistics simply does not apply to such
//! a column, and still applies to the others.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{FieldRef, Schema, SchemaRef};
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr_adapter::{
    DefaultPhysicalExprAdapter, PhysicalExprAdapter, PhysicalExprAdapterFactory,
};
use strata_storage::parquet_io::{decode_interval, is_encoded_interval};

/// Adapts scan expressions from a table's schema to one file's schema (see the module
/// documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct FileColumnAdapterFactory;

impl PhysicalExprAdapterFactory for FileColumnAdapterFactory {
    fn create(
        &self,
        logical_file_schema: SchemaRef,
        physical_file_schema: SchemaRef,
    ) -> DfResult<Arc<dyn PhysicalExprAdapter>> {
        // The encoded columns, by name, with the table's field each decodes to.
        let encoded: Vec<(String, FieldRef)> = physical_file_schema
            .fields()
            .iter()
            .filter_map(|pf| {
                let lf = logical_file_schema.field_with_name(pf.name()).ok()?;
                is_encoded_interval(pf, lf.data_type())
                    .then(|| (pf.name().clone(), Arc::new(lf.clone())))
            })
            .collect();
        // The default adapter sees the decoded type in place of the encoding, so it leaves
        // those columns alone (and adapts everything else as usual).
        let decoded_schema = if encoded.is_empty() {
            Arc::clone(&physical_file_schema)
        } else {
            let fields: Vec<FieldRef> = physical_file_schema
                .fields()
                .iter()
                .map(|pf| {
                    encoded
                        .iter()
                        .find(|(n, _)| n == pf.name())
                        .map_or_else(|| Arc::clone(pf), |(_, lf)| Arc::clone(lf))
                })
                .collect();
            Arc::new(Schema::new_with_metadata(
                fields,
                physical_file_schema.metadata().clone(),
            ))
        };
        Ok(Arc::new(FileColumnAdapter {
            inner: DefaultPhysicalExprAdapter::new(logical_file_schema, decoded_schema),
            encoded,
        }))
    }
}

#[derive(Debug)]
struct FileColumnAdapter {
    inner: DefaultPhysicalExprAdapter,
    encoded: Vec<(String, FieldRef)>,
}

impl PhysicalExprAdapter for FileColumnAdapter {
    fn rewrite(&self, expr: Arc<dyn PhysicalExpr>) -> DfResult<Arc<dyn PhysicalExpr>> {
        let expr = self.inner.rewrite(expr)?;
        if self.encoded.is_empty() {
            return Ok(expr);
        }
        expr.transform_up(|e| {
            let Some(c) = e.downcast_ref::<Column>() else {
                return Ok(Transformed::no(e));
            };
            match self.encoded.iter().find(|(n, _)| n == c.name()) {
                Some((_, field)) => Ok(Transformed::yes(Arc::new(DecodeInterval {
                    input: Arc::clone(&e),
                    field: Arc::clone(field),
                })
                    as Arc<dyn PhysicalExpr>)),
                None => Ok(Transformed::no(e)),
            }
        })
        .data()
    }
}

/// An interval column read in storage's encoding, decoded to the table's `interval` type.
#[derive(Debug, Eq)]
pub struct DecodeInterval {
    input: Arc<dyn PhysicalExpr>,
    field: FieldRef,
}

impl PartialEq for DecodeInterval {
    fn eq(&self, other: &Self) -> bool {
        self.input.eq(&other.input) && self.field == other.field
    }
}

impl Hash for DecodeInterval {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.input.hash(state);
        self.field.hash(state);
    }
}

impl fmt::Display for DecodeInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "decode_interval({})", self.input)
    }
}

impl PhysicalExpr for DecodeInterval {
    fn return_field(&self, _input_schema: &Schema) -> DfResult<FieldRef> {
        Ok(Arc::clone(&self.field))
    }

    fn evaluate(&self, batch: &RecordBatch) -> DfResult<ColumnarValue> {
        let arr = self.input.evaluate(batch)?.into_array(batch.num_rows())?;
        decode_interval(arr.as_ref())
            .map(ColumnarValue::Array)
            .map_err(|e| crate::error::Error::from(e).into())
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> DfResult<Arc<dyn PhysicalExpr>> {
        let [input] = <[_; 1]>::try_from(children).map_err(|c| {
            DataFusionError::Internal(format!("decode_interval takes 1 input, not {}", c.len()))
        })?;
        Ok(Arc::new(DecodeInterval {
            input,
            field: Arc::clone(&self.field),
        }))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.input.fmt_sql(f)
    }
}
