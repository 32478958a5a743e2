//! Writing memtable contents as sorted Parquet files, and reading files back for rewrites.
//!
//! Parquet cannot hold every Arrow type Strata uses: `interval` columns (Arrow
//! `Interval(MonthDayNano)`) have no lossless Parquet type (Parquet's INTERVAL keeps
//! milliseconds only, and the Arrow writer refuses MonthDayNano). [`write_parquet`] stores
//! them as `FixedSizeBinary(16)` (months i32, days i32, nanoseconds i64, little-endian)
//! marked with [`PARQUET_ENCODING_KEY`]; readers turn them back with [`decode_interval`]:
//! [`adapt_batch`] for the storage readers, the SQL layer's file-scan adapter for queries.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeBinaryArray, IntervalMonthDayNanoArray, RecordBatch,
    new_null_array,
};
use arrow::compute::{
    SortColumn, SortOptions, concat_batches, lexsort_to_indices, sort_to_indices, take_record_batch,
};
use arrow::datatypes::{
    DataType, Field, IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit, Schema,
    SchemaRef,
};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::error::{Error, Result};
use crate::fsutil::sync_dir;
use crate::schema::TableDef;

/// Field metadata key marking a Parquet column stored in an encoding of its own; the value
/// names the encoding.
pub const PARQUET_ENCODING_KEY: &str = "strata.parquet_encoding";
/// [`PARQUET_ENCODING_KEY`] value of an `Interval(MonthDayNano)` column stored as
/// `FixedSizeBinary(16)`: months (i32), days (i32), nanoseconds (i64), each little-endian.
pub const INTERVAL_ENCODING: &str = "interval_month_day_nano_le";
const INTERVAL_BYTES: i32 = 16;

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
    /// Numeric columns (integers, floats) get a dictionary only if they seem to hold at
    /// most this many distinct values ([`few_distinct`]); `None` leaves it to the writer
    /// (a dictionary per column chunk until it outgrows 1 MB).
    pub numeric_dictionary_max: Option<usize>,
    /// Float columns written without a dictionary are stored uncompressed: decompressing
    /// them cost more than reading their bytes (below, on [`Layout::HOT`]).
    pub uncompressed_plain_floats: bool,
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
    /// Pages of 4 k rows (Parquet's default is 20 k): in a file sorted by series then
    /// time, an hour of one series (360 rows at 10 s) lies in one or two pages, so the
    /// page index leaves a few thousand rows to decode instead of tens of thousands.
    pub const HOT: Layout = Layout {
        row_group_rows: ROW_GROUP_ROWS,
        page_rows: Some(4 * 1024),
        codec: Codec::Lz4,
        // A reader decodes a column chunk's whole dictionary page before any of its data
        // pages. Measurements and gauges rarely repeat: 10,000 distinct values made an 80 KB
        // dictionary, full-precision floats a 1 MB one (the writer's limit), read in full by
        // a query wanting one host's hour (a 4 k-row page of plain values is 32 KB). So
        // a dictionary only when it is at most half a page of values.
        numeric_dictionary_max: Some(2 * 1024),
        // LZ4 finds little to repeat in a float's mantissa: 1.8x on values with two
        // decimals (TSBS's), less on measured values. Yet decompressing them was 35 % of
        // the CPU of an hourly average of ten float columns over 432 k rows, and 20 % of a
        // scan returning all columns; the pages of an uncompressed column chunk are read
        // where they lie. Measured over pgbench (docs/performance.md, session 17): 25-35 %
        // less time for both, no change for one host's hour; the files are 1.8x larger
        // (67 MB for 864 k rows of ten floats, against PostgreSQL's 494 MB).
        uncompressed_plain_floats: true,
    };
    /// Cold files: written once per partition, stored for years, read by ranged requests.
    /// Large row groups amortise each column chunk's dictionary page (one per row group:
    /// at 128 k rows it costs several bytes per row for high-cardinality floats); small
    /// pages keep the page index able to skip all but the hour a query asks for.
    pub const COLD: Layout = Layout {
        row_group_rows: 1024 * 1024,
        page_rows: Some(16 * 1024),
        codec: Codec::Zstd(3),
        numeric_dictionary_max: None,
        uncompressed_plain_floats: false,
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

/// Where each series' latest rows are in a sorted batch (see [`series_tails`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Tails {
    /// `[first row, row count]` of each series' rows at its latest time, ascending.
    pub ranges: Vec<[u64; 2]>,
    /// Each series' key values, a JSON array of their Arrow display (NULL: `null`).
    pub series: Vec<String>,
    /// Each series' latest time (microseconds).
    pub latest: Vec<i64>,
}

/// The rows at each series' latest time in `batch`, sorted by the `keys` columns then the
/// `time` column (ascending, as [`sort_batches`] sorts): the rows of each run of equal
/// keys whose time equals the run's last. None when there are no keys, the time column
/// is not a timestamp, or there are more than `max` series.
pub fn series_tails(
    batch: &RecordBatch,
    keys: &[usize],
    time: usize,
    max: usize,
) -> Result<Option<Tails>> {
    if keys.is_empty() || batch.num_rows() == 0 {
        return Ok(None);
    }
    let Some(t) = batch
        .column(time)
        .as_primitive_opt::<arrow::datatypes::TimestampMicrosecondType>()
    else {
        return Ok(None);
    };
    let columns: Vec<ArrayRef> = keys.iter().map(|&k| Arc::clone(batch.column(k))).collect();
    let runs = arrow::compute::partition(&columns)?;
    if runs.len() > max {
        return Ok(None);
    }
    let options = arrow::util::display::FormatOptions::default();
    let formatters = columns
        .iter()
        .map(|c| arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let same = |a: usize, b: usize| t.is_valid(a) == t.is_valid(b) && t.value(a) == t.value(b);
    let mut out = Tails {
        ranges: Vec::with_capacity(runs.len()),
        series: Vec::with_capacity(runs.len()),
        latest: Vec::with_capacity(runs.len()),
    };
    for r in runs.ranges() {
        let last = r.end - 1;
        let mut first = last;
        while first > r.start && same(first - 1, last) {
            first -= 1;
        }
        out.ranges.push([first as u64, (r.end - first) as u64]);
        let values: Vec<serde_json::Value> = columns
            .iter()
            .zip(&formatters)
            .map(|(c, f)| match c.is_null(last) {
                true => serde_json::Value::Null,
                false => serde_json::Value::String(f.value(last).to_string()),
            })
            .collect();
        out.series.push(
            serde_json::to_string(&values)
                .map_err(|e| Error::Internal(format!("series key: {e}")))?,
        );
        out.latest.push(if t.is_valid(last) {
            t.value(last)
        } else {
            i64::MIN
        });
    }
    Ok(Some(out))
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
    let batch = encode_for_parquet(batch)?;
    // Timestamps as deltas, not through a dictionary. A time column has about as many
    // distinct values as rows per series, so its dictionary page was large (8,640
    // timestamps of a day at 10 s: 69 KB), and every read of any of its pages, however
    // few rows it wanted, decompressed and decoded that whole dictionary first. Deltas of
    // times sorted within a series pack into a few bits each and need no page but their own.
    for f in batch.schema().fields() {
        if matches!(f.data_type(), DataType::Timestamp(..)) {
            let path = parquet::schema::types::ColumnPath::from(f.name().as_str());
            props = props
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_encoding(path, parquet::basic::Encoding::DELTA_BINARY_PACKED);
        }
    }
    if let Some(max) = layout.numeric_dictionary_max {
        for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
            if is_plain_numeric(f.data_type()) && !few_distinct(c.as_ref(), max) {
                let path = parquet::schema::types::ColumnPath::from(f.name().as_str());
                props = props.set_column_dictionary_enabled(path.clone(), false);
                if layout.uncompressed_plain_floats
                    && matches!(f.data_type(), DataType::Float32 | DataType::Float64)
                {
                    props = props.set_column_compression(path, Compression::UNCOMPRESSED);
                }
            }
        }
    }
    {
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props.build()))?;
        writer.write(&batch)?;
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

/// Integer and float columns (not timestamps, which have their own encoding).
fn is_plain_numeric(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Float32 | DataType::Float64
    )
}

/// Whether the numeric column `col` seems to hold at most `max` distinct values: counted
/// over up to `4 * max` values at pseudo-random positions (nulls count as their slot's
/// value, so they may add one). A column with at most `max - 1` values always passes; one
/// with many more shows more than `max` among the samples (3,000 values spread evenly
/// show ~2,800 in 8,192 samples).
fn few_distinct(col: &dyn Array, max: usize) -> bool {
    fn bits<T: arrow::datatypes::ArrowPrimitiveType>(
        col: &dyn Array,
        to_bits: impl Fn(T::Native) -> u64,
        picks: impl Iterator<Item = usize>,
    ) -> Option<Vec<u64>> {
        let values = col.as_primitive_opt::<T>()?.values();
        Some(picks.map(|i| to_bits(values[i])).collect())
    }
    use arrow::datatypes::{Float32Type, Float64Type, Int16Type, Int32Type, Int64Type};
    let len = col.len();
    let samples = len.min(max.saturating_mul(4));
    if samples <= max {
        return true;
    }
    // Positions from a fixed pseudo-random sequence (splitmix64): even steps alias with
    // values that repeat in a period sharing a factor with the step.
    let picks = (1..=samples as u64).map(|k| {
        let mut z = k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % len as u64) as usize
    });
    let seen = match col.data_type() {
        DataType::Int16 => bits::<Int16Type>(col, |v| v as u64, picks),
        DataType::Int32 => bits::<Int32Type>(col, |v| v as u64, picks),
        DataType::Int64 => bits::<Int64Type>(col, |v| v as u64, picks),
        DataType::Float32 => bits::<Float32Type>(col, |v| u64::from(v.to_bits()), picks),
        DataType::Float64 => bits::<Float64Type>(col, f64::to_bits, picks),
        _ => None,
    };
    let Some(mut seen) = seen else {
        return true;
    };
    seen.sort_unstable();
    seen.dedup();
    seen.len() <= max
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
            let target: SchemaRef = Arc::new(Schema::new(
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

/// Adapts a batch written under an older schema (or read from a file) to `schema`: columns
/// are matched by name; columns the batch lacks (added by ALTER TABLE ADD COLUMN) become
/// NULL; encoded interval columns are decoded.
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
                } else if is_encoded_interval(bs.field(i), f.data_type()) {
                    decode_interval(c.as_ref())
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

/// `batch` with its columns that Parquet cannot store replaced by their encoding (see the
/// module documentation); other columns are shared, not copied.
fn encode_for_parquet(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    if !schema
        .fields()
        .iter()
        .any(|f| f.data_type() == &DataType::Interval(IntervalUnit::MonthDayNano))
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut cols = Vec::with_capacity(batch.num_columns());
    for (f, c) in schema.fields().iter().zip(batch.columns()) {
        match c.as_primitive_opt::<IntervalMonthDayNanoType>() {
            Some(iv) => {
                let mut md = f.metadata().clone();
                md.insert(
                    PARQUET_ENCODING_KEY.to_string(),
                    INTERVAL_ENCODING.to_string(),
                );
                fields.push(
                    Field::new(
                        f.name(),
                        DataType::FixedSizeBinary(INTERVAL_BYTES),
                        f.is_nullable(),
                    )
                    .with_metadata(md),
                );
                let mut bytes = Vec::with_capacity(iv.len() * INTERVAL_BYTES as usize);
                for v in iv.values() {
                    bytes.extend_from_slice(&v.months.to_le_bytes());
                    bytes.extend_from_slice(&v.days.to_le_bytes());
                    bytes.extend_from_slice(&v.nanoseconds.to_le_bytes());
                }
                cols.push(Arc::new(FixedSizeBinaryArray::try_new(
                    INTERVAL_BYTES,
                    bytes.into(),
                    iv.nulls().cloned(),
                )?) as ArrayRef);
            }
            None => {
                fields.push(f.as_ref().clone());
                cols.push(Arc::clone(c));
            }
        }
    }
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())),
        cols,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )?)
}

/// Whether the file column `file` holds intervals encoded by [`write_parquet`], to be read
/// as a column of type `target`.
pub fn is_encoded_interval(file: &Field, target: &DataType) -> bool {
    target == &DataType::Interval(IntervalUnit::MonthDayNano)
        && file.data_type() == &DataType::FixedSizeBinary(INTERVAL_BYTES)
        && file
            .metadata()
            .get(PARQUET_ENCODING_KEY)
            .is_some_and(|e| e == INTERVAL_ENCODING)
}

/// Decodes an interval column encoded by [`write_parquet`] (see [`is_encoded_interval`]).
pub fn decode_interval(encoded: &dyn Array) -> Result<ArrayRef> {
    let a = encoded
        .as_fixed_size_binary_opt()
        .filter(|a| a.value_length() == INTERVAL_BYTES)
        .ok_or_else(|| {
            Error::Internal(format!(
                "an encoded interval column must be FixedSizeBinary({INTERVAL_BYTES}), not {}",
                encoded.data_type()
            ))
        })?;
    let values = (0..a.len()).map(|i| {
        let b = a.value(i);
        IntervalMonthDayNano::new(
            i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            i64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]),
        )
    });
    Ok(Arc::new(IntervalMonthDayNanoArray::try_new(
        values.collect(),
        a.nulls().cloned(),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, TimestampMicrosecondArray};

    #[test]
    fn intervals_round_trip_through_parquet_exactly() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new(
                "t",
                DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
                true,
            ),
            Field::new("iv", DataType::Interval(IntervalUnit::MonthDayNano), true),
            Field::new("n", DataType::Int64, true),
        ]));
        let ivs = IntervalMonthDayNanoArray::from(vec![
            Some(IntervalMonthDayNano::new(1, 2, 11_045_678_901_000)),
            None,
            Some(IntervalMonthDayNano::new(-14, -3, -1_000)),
            Some(IntervalMonthDayNano::new(i32::MAX, i32::MIN, i64::MIN)),
            Some(IntervalMonthDayNano::new(0, 0, 1)),
        ]);
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(TimestampMicrosecondArray::from(vec![1, 2, 3, 4, 5])),
                Arc::new(ivs),
                Arc::new(Int64Array::from(vec![10, 20, 30, 40, 50])),
            ],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.parquet");
        write_parquet(&path, &batch, &[0], Layout::HOT).unwrap();

        // The file holds the marked encoding, not an Arrow interval.
        let file = File::open(&path).unwrap();
        let fschema = Arc::clone(
            ParquetRecordBatchReaderBuilder::try_new(file)
                .unwrap()
                .schema(),
        );
        let f = fschema.field_with_name("iv").unwrap();
        assert_eq!(f.data_type(), &DataType::FixedSizeBinary(16));
        assert!(is_encoded_interval(f, schema.field(1).data_type()));

        let read = read_parquet(&path, &schema).unwrap();
        assert_eq!(concat_batches(&schema, &read).unwrap(), batch);

        // A projection (as compaction reads) decodes the column too.
        let names = ["iv".to_string()];
        let file = File::open(&path).unwrap();
        let read = read_columns(file, &schema, Some(&names)).unwrap();
        assert_eq!(read[0].column(0).as_ref(), batch.column(1).as_ref());

        // Timestamps are delta-encoded without a dictionary page; other columns keep theirs.
        let file = File::open(&path).unwrap();
        let meta = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .metadata()
            .clone();
        let chunk = meta.row_group(0);
        let t = chunk.column(0);
        assert!(t.dictionary_page_offset().is_none());
        assert!(
            t.encodings()
                .any(|e| e == parquet::basic::Encoding::DELTA_BINARY_PACKED),
            "{:?}",
            t.encodings().collect::<Vec<_>>()
        );
        assert!(chunk.column(2).dictionary_page_offset().is_some());
    }

    /// In hot files a numeric column with many distinct values is written plain, one with
    /// few keeps its dictionary; cold files keep the writer's dictionaries. Values read
    /// back equal either way.
    #[test]
    fn numeric_columns_get_a_dictionary_only_when_they_repeat() {
        use arrow::array::{Float64Array, Int32Array};
        let n = 50_000;
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("many", DataType::Float64, true),
            Field::new("few", DataType::Float64, true),
            Field::new("codes", DataType::Int32, true),
            Field::new("ids", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                // 10,000 values in a scattered order, as the benchmark's metrics
                Arc::new(Float64Array::from_iter_values(
                    (0..n).map(|i| ((i * 7919) % 10_000) as f64 / 100.0),
                )),
                Arc::new(Float64Array::from_iter_values(
                    (0..n).map(|i| (i % 40) as f64 * 0.5),
                )),
                Arc::new(Int32Array::from_iter(
                    (0..n).map(|i| (i % 9 != 0).then_some(200 + (i as i32 % 5))),
                )),
                Arc::new(Int64Array::from_iter_values(0..n as i64)),
            ],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let dictionaries = |layout: Layout| {
            let path = dir.path().join("f.parquet");
            write_parquet(&path, &batch, &[], layout).unwrap();
            let read = read_parquet(&path, &schema).unwrap();
            assert_eq!(concat_batches(&schema, &read).unwrap(), batch);
            let meta = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
                .unwrap()
                .metadata()
                .clone();
            let chunk = meta.row_group(0);
            (0..4)
                .map(|c| {
                    let c = chunk.column(c);
                    (
                        c.dictionary_page_offset().is_some(),
                        c.compression() != Compression::UNCOMPRESSED,
                    )
                })
                .collect::<Vec<_>>()
        };
        // (dictionary, compressed): on hot files the float without a dictionary is stored
        // uncompressed, integers stay compressed
        assert_eq!(
            dictionaries(Layout::HOT),
            [(false, false), (true, true), (true, true), (false, true)]
        );
        assert_eq!(dictionaries(Layout::COLD), [(true, true); 4]);
    }

    #[test]
    fn few_distinct_counts_samples() {
        use arrow::array::Float64Array;
        let spread = |distinct: usize| {
            Float64Array::from_iter_values(
                (0..100_000).map(move |i| ((i * 7919) % distinct) as f64),
            )
        };
        assert!(few_distinct(&spread(2048), 2048));
        assert!(few_distinct(&spread(500), 2048));
        assert!(!few_distinct(&spread(3000), 2048));
        assert!(!few_distinct(&spread(100_000), 2048));
        // Too short to sample: counted as few (the writer's own fallback still applies).
        assert!(few_distinct(&spread(100_000).slice(0, 2000), 2048));
        // A slice is sampled within its own rows.
        assert!(!few_distinct(&spread(100_000).slice(50_000, 50_000), 2048));
        let repeats = spread(100);
        let mut values: Vec<f64> = vec![0.5; 50_000];
        values.extend(repeats.values().iter());
        let tail = Float64Array::from(values).slice(50_000, 100_000);
        assert!(few_distinct(&tail, 2048));
    }

    proptest::proptest! {
        /// The tails are exactly the rows whose time is their series' greatest, for any
        /// rows (ties, one-row series, NULL keys), once sorted as files are.
        #[test]
        fn series_tails_are_the_rows_at_each_series_latest_time(
            rows in proptest::collection::vec((proptest::option::of(0i64..4), 0i64..4, 0i64..6), 1..60)
        ) {
            use arrow::array::Int64Array;
            let schema = Arc::new(Schema::new(vec![
                Field::new("host", DataType::Int64, true),
                Field::new("dc", DataType::Int64, false),
                Field::new("ts", DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None), false),
            ]));
            let batch = RecordBatch::try_new(Arc::clone(&schema), vec![
                Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
                Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
                Arc::new(TimestampMicrosecondArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
            ]).unwrap();
            // sorted as `sort_batches` sorts a file: series columns, then time
            let options = Some(SortOptions { descending: false, nulls_first: true });
            let keys: Vec<SortColumn> = (0..3)
                .map(|c| SortColumn { values: Arc::clone(batch.column(c)), options })
                .collect();
            let sorted = take_record_batch(&batch, &lexsort_to_indices(&keys, None).unwrap()).unwrap();
            let tails = series_tails(&sorted, &[0, 1], 2, usize::MAX).unwrap().unwrap();
            let ranges = &tails.ranges;
            let host = sorted.column(0).as_primitive::<arrow::datatypes::Int64Type>();
            let dc = sorted.column(1).as_primitive::<arrow::datatypes::Int64Type>();
            let ts = sorted.column(2).as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            let key = |i: usize| (host.is_valid(i).then(|| host.value(i)), dc.value(i));
            let latest = |i: usize| (0..sorted.num_rows()).filter(|&j| key(j) == key(i)).map(|j| ts.value(j)).max();
            let expected: Vec<u64> = (0..sorted.num_rows())
                .filter(|&i| Some(ts.value(i)) == latest(i))
                .map(|i| i as u64)
                .collect();
            let got: Vec<u64> = ranges.iter().flat_map(|&[first, n]| first..first + n).collect();
            proptest::prop_assert_eq!(got, expected);
            // one range per series
            let mut series: Vec<_> = (0..sorted.num_rows()).map(key).collect();
            series.dedup();
            proptest::prop_assert_eq!(ranges.len(), series.len());
            // each range's series key and latest time
            for (i, &[first, _]) in ranges.iter().enumerate() {
                let (h, d) = key(first as usize);
                let expected = serde_json::to_string(&[
                    h.map_or(serde_json::Value::Null, |h| h.to_string().into()),
                    d.to_string().into(),
                ]).unwrap();
                proptest::prop_assert_eq!(&tails.series[i], &expected);
                proptest::prop_assert_eq!(Some(tails.latest[i]), latest(first as usize));
            }
        }
    }
}
