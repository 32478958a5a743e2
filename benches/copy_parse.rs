//! COPY parsing throughput: TSBS-like rows (timestamptz, 3 text tags, 10 float8) parsed
//! from text and CSV into Arrow batches by `strata_pgtypes::copy::CopyParser`, on one core.
//!
//! ```text
//! cargo bench --bench copy_parse
//! ```
//! Parameters: `STRATA_BENCH_ROWS` (default 1,000,000). Prints rows/s and MB/s per format
//! (best of 3 runs): text and CSV with two-decimal metrics, and text with full-precision
//! metrics (random doubles printed shortest, mostly 16-17 significant digits).

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

/// Rows of TSBS-cpu-like text. `full`: each metric printed as the shortest text that
/// reads back as the double (up to 17 significant digits, as TSBS's generator and most
/// drivers print float8 values); otherwise two decimals.
fn data(n: usize, csv: bool, full: bool) -> Vec<u8> {
    let d = if csv { ',' } else { '\t' };
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut s = String::with_capacity(n * 120);
    for i in 0..n {
        let secs = 1_704_067_200 + (i / 100) as i64 * 10;
        let ts = chrono::DateTime::from_timestamp(secs, 0)
            .unwrap_or_default()
            .format("%Y-%m-%d %H:%M:%S+00");
        let _ = write!(s, "{ts}{d}host_{}{d}us-east-1{d}us-east-1a", i % 100);
        for m in 0..10 {
            if full {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let v = (x >> 11) as f64 / (1u64 << 53) as f64 * 100.0;
                let _ = write!(s, "{d}{v}");
            } else {
                let _ = write!(s, "{d}{}.{}", (i * 7 + m) % 100, (i + m) % 100);
            }
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
    for (csv, full) in [(false, false), (true, false), (false, true)] {
        let bytes = data(n, csv, full);
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
            match (csv, full) {
                (true, _) => "csv ",
                (false, false) => "text",
                (false, true) => "text, 17-digit floats",
            },
            bytes.len() as f64 / 1e6,
            n as f64 / best / 1e6,
            bytes.len() as f64 / best / 1e6
        );
    }
}
