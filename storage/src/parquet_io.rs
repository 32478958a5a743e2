//! Writing memtable contents as sorted Parquet files, and reading files back for rewrites.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, new_null_array};
use arrow::compute::{
    SortColumn, SortOptions, concat_batches, lexsort_to_indices, sort_to_indices, take_record_batch,
};
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::error::{Error, Result};
use crate::fsutil::sync_dir;
use crate::schema::TableDef;

/// Rows per Parquet row group: small enough that time-range pruning skips most of a
/// partition, large enough for good compression.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// How a Parquet file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub row_group_rows: usize,
    /// Rows per data page at most (the page index prunes by page).
    pub page_rows: Option<usize>,
    pub codec: Codec,
}

/// How column chunks are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// LZ4 (raw): fast to decode, and a reader sets it up for free. A ZSTD reader creates a
    /// compression and a decompression context per column chunk, which profiled at ~8% of
    /// the CPU of a small query over local files.
    Lz4,
    /// ZSTD at this level: smallest files.
    Zstd(i32),
}

impl Layout {
    /// Local files: written on every flush, read often; cheap to write and to read.
    pub const HOT: Layout = Layout {
        row_group_rows: ROW_GROUP_ROWS,
        page_rows: None,
        codec: Codec::Lz4,
    };
    /// Cold files: written once per partition, stored for years, read by ranged requests.
    /// Large row groups amortise each column chunk's dictionary page (one per row group:
    /// at 128 k rows it costs several bytes per row for high-cardinality floats); small
    /// pages keep the page index able to skip all but the hour a query asks for.
    pub const COLD: Layout = Layout {
        row_group_rows: 1024 * 1024,
        page_rows: Some(16 * 1024),
        codec: Codec::Zstd(3),
    };
}

/// Concatenates `batches` (all in `schema`) and sorts them by the table's sort columns
/// ([`TableDef::sort_columns`]: segment-by columns, then time), if any.
pub fn sort_batches(
    def: &TableDef,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<RecordBatch> {
    let batch = concat_batches(schema, batches)?;
    let cols = def.sort_columns();
    if batch.num_rows() <= 1 || cols.is_empty() {
        return Ok(batch);
    }
    let options = Some(SortOptions {
        descending: false,
        nulls_first: true,
    });
    let idx = if let [c] = cols[..] {
        sort_to_indices(batch.column(c).as_ref(), options, None)?
    } else {
        let keys: Vec<SortColumn> = cols
            .iter()
            .map(|&c| SortColumn {
                values: Arc::clone(batch.column(c)),
                options,
            })
            .collect();
        lexsort_to_indices(&keys, None)?
    };
    Ok(take_record_batch(&batch, &idx)?)
}

/// Writes `batch` as a Parquet file at `path` durably: written to `path.tmp`, fsynced,
/// renamed, directory fsynced. Returns the file size.
pub fn write_parquet(
    path: &Path,
    batch: &RecordBatch,
    sorted_by: &[usize],
    layout: Layout,
) -> Result<u64> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::Internal(format!("no parent for {}", path.display())))?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = path.with_extension("parquet.tmp");
    let mut props = WriterProperties::builder()
        .set_compression(match layout.codec {
            Codec::Lz4 => Compression::LZ4_RAW,
            Codec::Zstd(level) => Compression::ZSTD(ZstdLevel::try_new(level)?),
        })
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(layout.row_group_rows));
    if let Some(n) = layout.page_rows {
        props = props.set_data_page_row_count_limit(n);
    }
    if !sorted_by.is_empty() {
        props = props.set_sorting_columns(Some(
            sorted_by
                .iter()
                .map(|&c| parquet::file::metadata::SortingColumn {
                    column_idx: c as i32,
                    descending: false,
                    nulls_first: true,
                })
                .collect(),
        ));
    }
    {
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props.build()))?;
        writer.write(batch)?;
        let file = writer.into_inner()?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    sync_dir(dir)?;
    let size = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    Ok(size)
}

/// Reads a whole Parquet file and adapts it to `schema` (columns matched by name, missing
/// columns filled with NULL).
pub fn read_parquet(path: &Path, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    read_all(file, schema)
}

/// Reads a whole Parquet file held in memory (a cold object) and adapts it to `schema`.
pub fn read_parquet_bytes(bytes: bytes::Bytes, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
    read_all(bytes, schema)
}

fn read_all<R: parquet::file::reader::ChunkReader + 'static>(
    input: R,
    schema: &SchemaRef,
) -> Result<Vec<RecordBatch>> {
    read_columns(input, schema, None)
}

/// Reads the columns `names` (all of `schema` if None) of a whole Parquet file, adapted
/// to those columns of `schema` (missing ones NULL).
pub fn read_columns<R: parquet::file::reader::ChunkReader + 'static>(
    input: R,
    schema: &SchemaRef,
    names: Option<&[String]>,
) -> Result<Vec<RecordBatch>> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(input)?.with_batch_size(64 * 1024);
    let (builder, target) = match names {
        None => (builder, Arc::clone(schema)),
        Some(names) => {
            let target: SchemaRef = Arc::new(arrow::datatypes::Schema::new(
                names
                    .iter()
                    .map(|n| {
                        schema
                            .field_with_name(n)
                            .cloned()
                            .map_err(|e| Error::Internal(e.to_string()))
                    })
                    .collect::<Result<Vec<_>>>()?,
            ));
            let fschema = Arc::clone(builder.schema());
            let idx: Vec<usize> = names
                .iter()
                .filter_map(|n| fschema.index_of(n).ok())
                .collect();
            let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), idx);
            (builder.with_projection(mask), target)
        }
    };
    let mut out = vec![];
    for b in builder.build()? {
        out.push(adapt_batch(&b?, &target)?);
    }
    Ok(out)
}

/// Adapts a batch written under an older schema to `schema`: columns are matched by
/// name; columns the batch lacks (added by ALTER TABLE ADD COLUMN) become NULL.
pub fn adapt_batch(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema().fields() == schema.fields() {
        return Ok(RecordBatch::try_new(
            Arc::clone(schema),
            batch.columns().to_vec(),
        )?);
    }
    let bs = batch.schema();
    let cols: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| match bs.index_of(f.name()) {
            Ok(i) => {
                let c = batch.column(i);
                if c.data_type() == f.data_type() {
                    Ok(Arc::clone(c))
                } else {
                    Ok(arrow::compute::cast(c.as_ref(), f.data_type())?)
                }
            }
            Err(_) => Ok(new_null_array(f.data_type(), batch.num_rows())),
        })
        .collect::<Result<_>>()?;
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        cols,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )?)
}
