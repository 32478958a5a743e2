//! Arrow record batches → pgwire `DataRow`s, using the PostgreSQL codec of
//! `strata-pgtypes` (byte-identical text output, binary `send` format).

use arrow::array::RecordBatch;
use arrow::datatypes::{Field, SchemaRef};
use bytes::BytesMut;
use pgwire::api::Type;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::messages::data::DataRow;
use strata_pgtypes::encode::{ColumnEncoder, TextOptions};
use strata_pgtypes::oid::pg_type_of_field;

/// Format code of column `idx` given the Bind result-format codes (none = all text, one =
/// all columns, else per column).
pub fn format_of(codes: &[i16], idx: usize) -> FieldFormat {
    match codes.len() {
        0 => FieldFormat::Text,
        1 => FieldFormat::from(codes[0]),
        _ => FieldFormat::from(codes.get(idx).copied().unwrap_or(0)),
    }
}

/// The pgwire type of an Arrow field.
pub fn pg_type(field: &Field) -> Type {
    let info = pg_type_of_field(field);
    Type::from_oid(info.oid).unwrap_or(Type::TEXT)
}

/// RowDescription fields for a schema.
pub fn field_infos(schema: &SchemaRef, codes: &[i16]) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let info = pg_type_of_field(f);
            FieldInfo::new(
                f.name().clone(),
                None,
                None,
                Type::from_oid(info.oid).unwrap_or(Type::TEXT),
                format_of(codes, i),
            )
            .with_type_size(info.typlen)
            .with_type_modifier(strata_pgtypes::oid::type_modifier(f))
        })
        .collect()
}

/// Encodes the rows of one batch.
#[derive(Debug)]
pub struct BatchEncoder {
    encoders: Vec<ColumnEncoder>,
}

impl BatchEncoder {
    pub fn new(schema: &SchemaRef, codes: &[i16], opts: &TextOptions) -> Self {
        let encoders = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| ColumnEncoder::new(f, format_of(codes, i) == FieldFormat::Binary, opts))
            .collect();
        BatchEncoder { encoders }
    }

    /// Encodes every row of `batch` into DataRow messages. All rows are written into one
    /// buffer and split into messages without copying.
    pub fn encode(
        &self,
        batch: &RecordBatch,
    ) -> Result<Vec<DataRow>, strata_pgtypes::encode::EncodeError> {
        let n = batch.num_rows();
        let mut rows = Vec::with_capacity(n);
        let mut buf: Vec<u8> = Vec::with_capacity(n * 16 * self.encoders.len().max(1));
        let mut ends = Vec::with_capacity(n);
        if batch.num_columns() != self.encoders.len() {
            return Err(strata_pgtypes::encode::EncodeError::Unsupported(format!(
                "a batch of {} columns for a result of {}",
                batch.num_columns(),
                self.encoders.len()
            )));
        }
        let cols: Vec<_> = self
            .encoders
            .iter()
            .zip(batch.columns())
            .map(|(enc, col)| enc.bind(col.as_ref()))
            .collect();
        for r in 0..n {
            for col in &cols {
                col.encode_with_len(r, &mut buf)?;
            }
            ends.push(buf.len());
        }
        // Zero-copy: the Vec becomes the BytesMut (unique owner).
        let mut all = bytes::Bytes::from(buf)
            .try_into_mut()
            .unwrap_or_else(|b| BytesMut::from(&b[..]));
        let mut start = 0;
        for end in ends {
            rows.push(DataRow::new(
                all.split_to(end - start),
                self.encoders.len() as i16,
            ));
            start = end;
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, StringArray};
    use arrow::datatypes::{DataType, Schema};

    use super::*;

    #[test]
    fn rows_are_encoded_per_column_and_a_short_batch_is_refused() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("v", DataType::Float64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let enc = BatchEncoder::new(&schema, &[], &TextOptions::default());
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Float64Array::from(vec![Some(58.25), None])),
                Arc::new(StringArray::from(vec![Some("a"), Some("")])),
            ],
        )
        .unwrap();
        let rows = enc.encode(&batch).unwrap();
        let bytes: Vec<Vec<u8>> = rows.iter().map(|r| r.data.to_vec()).collect();
        assert_eq!(
            bytes,
            vec![
                [&5i32.to_be_bytes()[..], b"58.25", &1i32.to_be_bytes(), b"a"].concat(),
                [&(-1i32).to_be_bytes()[..], &0i32.to_be_bytes()].concat(),
            ]
        );
        let short = batch.project(&[0]).unwrap();
        assert!(enc.encode(&short).is_err());
    }
}
