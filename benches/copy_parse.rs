//! COPY parsing throughput: TSBS-like rows (timestamptz, 3 text tags, 10 float8) parsed
//! from text and CSV into Arrow batches by `strata_pgtypes::copy::CopyParser`, on one core.
//!
//! ```text
//! cargo bench --bench copy_parse
//! ```
//! Parameters: `STRATA_BENCH_ROWS` (default 1,000,000). Prints rows/s and MB/s per format
//! (best of 3 runs).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use strata_pgtypes::copy::{CopyOptions, CopyParser};

fn schema() -> Arc<Schema> {
    let mut f = vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            true,
        ),
        Field::new("hostname", DataType::Utf8, true),
        Field::new("region", DataType::Utf8, true),
        Field::new("datacenter", DataType::Utf8, true),
    ];
    for i in 0..10 {
        f.push(Field::new(format!("m{i}"), DataType::Float64, true));
    }
    Arc::new(Schema::new(f))
}

fn data(n: usize, csv: bool) -> Vec<u8> {
    let d = if csv { ',' } else { '\t' };
    let mut s = String::with_capacity(n * 120);
    for i in 0..n {
        let secs = 1_704_067_200 + (i / 100) as i64 * 10;
        let ts = chrono::DateTime::from_timestamp(secs, 0)
            .unwrap_or_default()
            .format("%Y-%m-%d %H:%M:%S+00");
        let _ = write!(s, "{ts}{d}host_{}{d}us-east-1{d}us-east-1a", i % 100);
        for m in 0..10 {
            let _ = write!(s, "{d}{}.{}", (i * 7 + m) % 100, (i + m) % 100);
        }
        s.push('\n');
    }
    s.into_bytes()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: usize = std::env::var("STRATA_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    for csv in [false, true] {
        let bytes = data(n, csv);
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            let mut p = CopyParser::new(
                schema(),
                if csv {
                    CopyOptions::csv()
                } else {
                    CopyOptions::text()
                },
                8192,
                strata_pgtypes::tz::TimeZoneSetting::UTC,
            );
            let mut rows = 0;
            for chunk in bytes.chunks(65536) {
                for b in p.feed(chunk).expect("valid input") {
                    rows += b.num_rows();
                }
            }
            if let Some(b) = p.finish().expect("valid input") {
                rows += b.num_rows();
            }
            assert_eq!(rows, n);
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "copy_parse {}: {n} rows, {:.1} MB: {:.2} M rows/s, {:.0} MB/s",
            if csv { "csv " } else { "text" },
            bytes.len() as f64 / 1e6,
            n as f64 / best / 1e6,
            bytes.len() as f64 / best / 1e6
        );
    }
}
