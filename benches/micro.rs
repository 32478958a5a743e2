//! Criterion micro-benchmarks of the hot paths, each on one core and without the network:
//!
//! - `wal`: WAL append + fsync, one writer and 16 concurrent writers (group commit:
//!   the 16 share `fdatasync`s, so per-append cost should fall well below one sync);
//! - `wal_record`: a 64 k-row batch (one COPY batch) encoded as a WAL record and decoded
//!   again, with random metrics of two decimals and of full precision;
//! - `insert_values`: a 1000-row literal `INSERT ... VALUES` recognised and built into an
//!   Arrow batch (what the fast INSERT path does per statement);
//! - `copy_parse`: COPY text and CSV rows parsed into Arrow batches;
//! - `encode`: Arrow columns encoded as pgwire DataRow values, text and binary;
//! - `time_bucket`: `time_bucket(INTERVAL '5 minutes', ts)` over 1 M timestamps;
//! - `date_trunc`: `date_trunc('hour' | 'day' | 'month', ts)` over 1 M timestamps, Strata's
//!   (PostgreSQL's semantics) next to DataFusion's built-in, in UTC and in a DST zone
//!   (DataFusion's reads the zone from the Arrow type: the value is relabelled to the zone
//!   and back, as Strata planned it before it had its own).
//!
//! ```text
//! cargo bench --bench micro                 # all
//! cargo bench --bench micro -- encode       # one group
//! ```
//! Rows are TSBS-cpu-like (timestamptz, 3 text tags, 10 float8 metrics).

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::Schema;
use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use strata_pgtypes::copy::{CopyOptions, CopyParser};
use strata_pgtypes::encode::{ColumnEncoder, TextOptions};
use strata_pgtypes::tz::TimeZoneSetting;
use strata_storage::ids::TableId;
use strata_storage::wal::{FsyncPolicy, Wal, WalConfig, WalRecord};
use strata_storage::{ColumnDef, ColumnType, TableDef};

const START: i64 = 1_704_067_200;

fn tsbs_def() -> TableDef {
    let col = |name: &str, ty: ColumnType| ColumnDef {
        name: name.into(),
        ty,
        nullable: name != "time",
        default: None,
        max_length: None,
    };
    let mut columns = vec![
        col("time", ColumnType::Timestamptz),
        col("hostname", ColumnType::Text),
        col("region", ColumnType::Text),
        col("datacenter", ColumnType::Text),
    ];
    for m in 0..10 {
        columns.push(col(&format!("m{m}"), ColumnType::Float8));
    }
    TableDef {
        id: TableId::new(1),
        name: "cpu".into(),
        columns,
        time_column: Some(0),
        partition_micros: 86_400_000_000,
        primary_key: vec![],
        hypertable: true,
        internal: false,
        raw_schema: None,
        segment_by: vec![],
    }
}

/// Row `i`'s cells as text (100 hosts, 10 s apart).
fn row_cells(i: usize) -> Vec<String> {
    let ts = chrono::DateTime::from_timestamp(START + (i / 100) as i64 * 10, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S+00")
        .to_string();
    let mut v = vec![
        ts,
        format!("host_{}", i % 100),
        "us-east-1".into(),
        "us-east-1a".into(),
    ];
    for m in 0..10 {
        v.push(format!("{}.{}", (i * 7 + m) % 100, (i + m) % 100));
    }
    v
}

fn wal(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = WalConfig::new(dir.path().join("wal"));
    cfg.fsync = FsyncPolicy::Always;
    let wal = Arc::new(Wal::open(cfg).expect("wal"));
    let payload = Bytes::from(vec![7u8; 4096]);
    let mut g = c.benchmark_group("wal");
    g.sample_size(20);
    g.throughput(Throughput::Elements(1));
    g.bench_function("append_4k_fsync_1_writer", |b| {
        b.to_async(&rt)
            .iter(|| async { wal.append(payload.clone()).await.expect("append") })
    });
    g.throughput(Throughput::Elements(16));
    g.bench_function("append_4k_fsync_16_writers", |b| {
        b.to_async(&rt).iter(|| async {
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let (w, p) = (Arc::clone(&wal), payload.clone());
                    tokio::spawn(async move { w.append(p).await })
                })
                .collect();
            for t in tasks {
                t.await.expect("join").expect("append");
            }
        })
    });
    g.finish();
}

/// A 64 k-row TSBS batch whose metrics are random, rounded to `decimals` when given.
fn random_metrics_batch(n: usize, decimals: Option<i32>) -> RecordBatch {
    let mut seed = 7u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let v = (seed >> 11) as f64 / (1u64 << 53) as f64 * 100.0;
        match decimals {
            Some(d) => (v * 10f64.powi(d)).round() / 10f64.powi(d),
            None => v,
        }
    };
    let batch = tsbs_batch(n);
    let mut cols: Vec<ArrayRef> = batch.columns()[..4].to_vec();
    for _ in 0..10 {
        cols.push(Arc::new(Float64Array::from_iter_values(
            (0..n).map(|_| next()),
        )));
    }
    RecordBatch::try_new(batch.schema(), cols).expect("batch")
}

fn wal_record(c: &mut Criterion) {
    let mut g = c.benchmark_group("wal_record");
    g.sample_size(20);
    for (name, decimals) in [("two_decimals", Some(2)), ("full_precision", None)] {
        let record = WalRecord::Insert {
            table: TableId::new(1),
            batch: random_metrics_batch(65_536, decimals),
        };
        g.throughput(Throughput::Elements(65_536));
        g.bench_function(format!("encode_64k_rows_{name}"), |b| {
            b.iter(|| record.encode().expect("encode").len())
        });
        let bytes = record.encode().expect("encode");
        g.bench_function(format!("decode_64k_rows_{name}"), |b| {
            b.iter(|| WalRecord::decode(&bytes).expect("decode"))
        });
    }
    g.finish();
}

fn insert_values(c: &mut Criterion) {
    let def = tsbs_def();
    let mut sql = String::from(
        "INSERT INTO cpu (time, hostname, region, datacenter, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9) VALUES ",
    );
    for i in 0..1000 {
        if i > 0 {
            sql.push(',');
        }
        let cells = row_cells(i);
        let _ = write!(
            sql,
            "('{}', '{}', '{}', '{}', {})",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4..].join(", ")
        );
    }
    let targets: Vec<usize> = (0..def.columns.len()).collect();
    let mut g = c.benchmark_group("insert_values");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("scan_and_build_1000_rows", |b| {
        b.iter(|| {
            let raw = strata_sql::fast_scan::scan(&sql).expect("recognised");
            let batch = strata_sql::fast_insert::build_raw(
                &def,
                &targets,
                &sql,
                &raw,
                TimeZoneSetting::UTC,
            )
            .expect("valid")
            .expect("fast path");
            assert_eq!(batch.num_rows(), 1000);
            batch
        })
    });
    g.finish();
}

fn copy_parse(c: &mut Criterion) {
    let schema = tsbs_def().arrow_schema();
    let n = 100_000;
    let mut g = c.benchmark_group("copy_parse");
    g.throughput(Throughput::Elements(n as u64));
    for csv in [false, true] {
        let d = if csv { "," } else { "\t" };
        let data: Vec<u8> = (0..n)
            .map(|i| row_cells(i).join(d) + "\n")
            .collect::<String>()
            .into_bytes();
        let name = if csv {
            "csv_100k_rows"
        } else {
            "text_100k_rows"
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                let opts = if csv {
                    CopyOptions::csv()
                } else {
                    CopyOptions::text()
                };
                let mut p = CopyParser::new(Arc::clone(&schema), opts, 8192, TimeZoneSetting::UTC);
                let mut rows = 0;
                for chunk in data.chunks(65536) {
                    for b in p.feed(chunk).expect("valid") {
                        rows += b.num_rows();
                    }
                }
                if let Some(b) = p.finish().expect("valid") {
                    rows += b.num_rows();
                }
                assert_eq!(rows, n);
            })
        });
    }
    g.finish();
}

fn tsbs_batch(n: usize) -> RecordBatch {
    let schema: Arc<Schema> = tsbs_def().arrow_schema();
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                (0..n).map(|i| (START + (i / 100) as i64 * 10) * 1_000_000),
            )
            .with_timezone("+00:00"),
        ),
        Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| format!("host_{}", i % 100)),
        )),
        Arc::new(StringArray::from_iter_values((0..n).map(|_| "us-east-1"))),
        Arc::new(StringArray::from_iter_values((0..n).map(|_| "us-east-1a"))),
    ];
    for m in 0..10 {
        cols.push(Arc::new(Float64Array::from_iter_values(
            (0..n).map(|i| ((i * 7 + m) % 10_000) as f64 / 100.0),
        )));
    }
    RecordBatch::try_new(schema, cols).expect("batch")
}

fn encode(c: &mut Criterion) {
    let batch = tsbs_batch(8192);
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(batch.num_rows() as u64));
    for binary in [false, true] {
        let encoders: Vec<ColumnEncoder> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| ColumnEncoder::new(f, binary, &TextOptions::default()))
            .collect();
        let name = if binary {
            "datarows_binary_8192"
        } else {
            "datarows_text_8192"
        };
        g.bench_function(name, |b| {
            b.iter_batched_ref(
                || Vec::with_capacity(2 << 20),
                |out: &mut Vec<u8>| {
                    out.clear();
                    // As the server does: each column bound to its encoder once per batch.
                    let cols: Vec<_> = batch
                        .columns()
                        .iter()
                        .zip(&encoders)
                        .map(|(col, e)| e.bind(col.as_ref()))
                        .collect();
                    for row in 0..batch.num_rows() {
                        for col in &cols {
                            col.encode_with_len(row, out).expect("encode");
                        }
                    }
                    out.len()
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn time_bucket(c: &mut Criterion) {
    use datafusion::prelude::SessionContext;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ctx = SessionContext::new();
    strata_sql::functions::register_all(&ctx);
    let n = 1_000_000;
    let schema = tsbs_def().arrow_schema();
    let batch = tsbs_batch(n);
    let table = datafusion::datasource::MemTable::try_new(Arc::clone(&schema), vec![vec![batch]])
        .expect("table");
    ctx.register_table("cpu", Arc::new(table))
        .expect("register");
    let mut g = c.benchmark_group("time_bucket");
    g.sample_size(20);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("5_minutes_1m_rows", |b| {
        b.to_async(&rt).iter(|| async {
            let rows: usize = ctx
                .sql("SELECT time_bucket(INTERVAL '5 minutes', time) FROM cpu")
                .await
                .expect("plan")
                .collect()
                .await
                .expect("run")
                .iter()
                .map(|b| b.num_rows())
                .sum();
            assert_eq!(rows, n);
        })
    });
    g.finish();
}

fn date_trunc(c: &mut Criterion) {
    use datafusion::prelude::SessionContext;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let n = 1_000_000;
    let schema = tsbs_def().arrow_schema();
    let batch = tsbs_batch(n);
    let context = |strata_zone: Option<TimeZoneSetting>| {
        let ctx = SessionContext::new();
        if let Some(zone) = strata_zone {
            ctx.register_udf(strata_sql::functions::date_trunc_udf(zone));
        }
        let table = datafusion::datasource::MemTable::try_new(
            Arc::clone(&schema),
            vec![vec![batch.clone()]],
        )
        .expect("table");
        ctx.register_table("cpu", Arc::new(table))
            .expect("register");
        ctx
    };
    let new_york = TimeZoneSetting::parse("America/New_York").expect("zone");
    let cases = [
        ("strata_utc", context(Some(TimeZoneSetting::UTC)), "time"),
        ("datafusion_utc", context(None), "time"),
        ("strata_new_york", context(Some(new_york)), "time"),
        (
            "datafusion_new_york",
            context(None),
            "arrow_cast(time, 'Timestamp(Microsecond, Some(\"America/New_York\"))')",
        ),
    ];
    let mut g = c.benchmark_group("date_trunc");
    g.sample_size(20);
    g.throughput(Throughput::Elements(n as u64));
    for unit in ["hour", "day", "month"] {
        for (name, ctx, arg) in &cases {
            let sql = format!("SELECT date_trunc('{unit}', {arg}) FROM cpu");
            g.bench_function(format!("{unit}/{name}"), |b| {
                b.to_async(&rt).iter(|| async {
                    let rows: usize = ctx
                        .sql(&sql)
                        .await
                        .expect("plan")
                        .collect()
                        .await
                        .expect("run")
                        .iter()
                        .map(|b| b.num_rows())
                        .sum();
                    assert_eq!(rows, n);
                })
            });
        }
    }
    g.finish();
}

criterion_group!(
    benches,
    wal,
    wal_record,
    insert_values,
    copy_parse,
    encode,
    time_bucket,
    date_trunc
);
criterion_main!(benches);
