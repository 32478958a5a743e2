//! Continuous-aggregate benchmark, over the wire, one run:
//!
//! 1. **Ingest cost of views**: the same TSBS-cpu-like rows loaded by COPY and by 1000-row
//!    INSERTs into a fresh server without views, then into a fresh server with three
//!    continuous aggregates on the table. Target: >= 70% of the rate without views.
//! 2. **Dashboard query**: 3 days of data (100 hosts, one row per host every 10 s), a
//!    1-minute view; the fleet's per-minute CPU for a 6-hour window, read from the view
//!    and computed from the raw table (same result, checked). Target: view < 50 ms and
//!    >= 20x faster than raw.
//!
//! ```text
//! cargo bench --bench cagg
//! STRATA_BENCH_ROWS=2000000 STRATA_BENCH_QUERY_RUNS=50 cargo bench --bench cagg
//! ```
//!
//! Environment: `STRATA_BENCH_ROWS` rows per ingest load (default 1,000,000),
//! `STRATA_BENCH_HOSTS` (100), `STRATA_BENCH_CONNS` (2), `STRATA_BENCH_DAYS` (3),
//! `STRATA_BENCH_QUERY_RUNS` (30), `STRATA_BENCH_FSYNC` (`always`),
//! `STRATA_BENCH_SKIP_INGEST` (query part only), `STRATA_BENCH_EXPLAIN` (print both
//! plans with EXPLAIN ANALYZE). Writes a markdown
//! summary to `target/cagg-bench.md`.

#[path = "support/mod.rs"]
mod support;

use std::fmt::Write as _;

use support::*;

const CREATE: &str = "CREATE TABLE cpu (time timestamptz NOT NULL, hostname text, region text, datacenter text, \
usage_user float8, usage_system float8, usage_idle float8, usage_nice float8, usage_iowait float8, \
usage_irq float8, usage_softirq float8, usage_steal float8, usage_guest float8, usage_guest_nice float8); \
SELECT create_hypertable('cpu', by_range('time', INTERVAL '1 day'))";

/// Three views of the kind dashboards read.
const VIEWS: [&str; 3] = [
    "CREATE MATERIALIZED VIEW cpu_1m WITH (timescaledb.continuous) AS \
     SELECT time_bucket('1 minute', time) AS bucket, hostname, max(usage_user) AS max_user, \
     avg(usage_user) AS avg_user, sum(usage_user) AS sum_user, min(usage_idle) AS min_idle, \
     count(*) AS n \
     FROM cpu GROUP BY bucket, hostname",
    "CREATE MATERIALIZED VIEW cpu_1h WITH (timescaledb.continuous) AS \
     SELECT time_bucket('1 hour', time) AS bucket, hostname, avg(usage_system) AS avg_system, \
     max(usage_iowait) AS max_iowait, last(usage_user, time) AS last_user \
     FROM cpu GROUP BY bucket, hostname",
    "CREATE MATERIALIZED VIEW cpu_region_5m WITH (timescaledb.continuous) AS \
     SELECT time_bucket('5 minutes', time) AS bucket, region, avg(usage_user) AS avg_user, \
     sum(usage_steal) AS steal, approx_distinct(hostname) AS hosts \
     FROM cpu GROUP BY bucket, region",
];

struct Ingest {
    copy_rps: f64,
    insert_rps: f64,
}

async fn ingest(views: bool, rows: u64, hosts: u64, conns: usize, fsync: &str) -> Ingest {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, port) = start_strata(dir.path(), fsync);
    let conn = format!("host=127.0.0.1 port={port} user=strata");
    let c = connect(&conn).await;
    c.batch_execute(CREATE).await.expect("create");
    if views {
        for v in VIEWS {
            c.batch_execute(v).await.expect("create view");
        }
    }
    let copy = load_copy(&conn, rows, hosts, conns).await;
    let insert = load_insert(&conn, rows, hosts, conns, rows).await;
    if views {
        // The views hold what was loaded (a cheap sanity check of the run).
        let n: i64 = c
            .query_one("SELECT sum(n)::int8 FROM cpu_1m", &[])
            .await
            .expect("count")
            .get(0);
        assert_eq!(n as u64, 2 * rows, "cpu_1m does not hold every row");
    }
    let _ = child.kill();
    let _ = child.wait();
    Ingest {
        copy_rps: rows as f64 / copy.as_secs_f64(),
        insert_rps: rows as f64 / insert.as_secs_f64(),
    }
}

fn main() {
    let rows = env_usize("STRATA_BENCH_ROWS", 1_000_000) as u64;
    let hosts = env_usize("STRATA_BENCH_HOSTS", 100) as u64;
    let conns = env_usize("STRATA_BENCH_CONNS", 2);
    let days = env_usize("STRATA_BENCH_DAYS", 3) as u64;
    let runs = env_usize("STRATA_BENCH_QUERY_RUNS", 30);
    let fsync = std::env::var("STRATA_BENCH_FSYNC").unwrap_or_else(|_| "always".into());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let skip_ingest = std::env::var("STRATA_BENCH_SKIP_INGEST").is_ok();
    rt.block_on(async {
        let mut md = String::new();
        let _ = writeln!(
            md,
            "# Continuous aggregates\n\n{rows} rows per load, {hosts} hosts, {conns} connections, fsync {fsync}\n"
        );
        if !skip_ingest {
            println!("ingest without views...");
            let base = ingest(false, rows, hosts, conns, &fsync).await;
            println!("ingest with three views...");
            let with = ingest(true, rows, hosts, conns, &fsync).await;
            let _ = writeln!(
                md,
                "| load | no views (rows/s) | 3 views (rows/s) | ratio |\n|---|---:|---:|---:|"
            );
            for (name, a, b) in [
                ("COPY", base.copy_rps, with.copy_rps),
                ("INSERT 1000 rows", base.insert_rps, with.insert_rps),
            ] {
                let _ = writeln!(md, "| {name} | {a:.0} | {b:.0} | {:.0}% |", 100.0 * b / a);
            }
        }

        // Dashboard query.
        let total = days * 8640 * hosts;
        println!("loading {days} days ({total} rows) for the query benchmark...");
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut child, port) = start_strata(dir.path(), &fsync);
        let conn = format!("host=127.0.0.1 port={port} user=strata");
        let c = connect(&conn).await;
        c.batch_execute(CREATE).await.expect("create");
        c.batch_execute(VIEWS[0]).await.expect("create view");
        load_copy(&conn, total, hosts, conns).await;
        c.batch_execute("CHECKPOINT").await.expect("checkpoint");
        // The last 6 hours of the data.
        let end = START_EPOCH + (days as i64) * 86_400;
        let ts = |s: i64| {
            chrono::DateTime::from_timestamp(s, 0)
                .unwrap_or_default()
                .format("%Y-%m-%d %H:%M:%S+00")
                .to_string()
        };
        let (lo, hi) = (ts(end - 6 * 3600), ts(end));
        let view_sql = format!(
            "SELECT bucket, max(max_user), round(sum(sum_user) / sum(n), 6) FROM cpu_1m \
             WHERE bucket >= '{lo}' AND bucket < '{hi}' GROUP BY bucket ORDER BY bucket"
        );
        let raw_sql = format!(
            "SELECT time_bucket('1 minute', time) AS bucket, max(usage_user), round(avg(usage_user), 6) FROM cpu \
             WHERE time >= '{lo}' AND time < '{hi}' GROUP BY bucket ORDER BY bucket"
        );
        // Warm up both (first plans, page cache).
        let _ = timed(&c, &view_sql, 2).await;
        let _ = timed(&c, &raw_sql, 2).await;
        if std::env::var("STRATA_BENCH_EXPLAIN").is_ok() {
            for q in [&view_sql, &raw_sql] {
                let (_, plan) = timed(&c, &format!("EXPLAIN ANALYZE {q}"), 1).await;
                println!("{}", plan.join("\n"));
            }
        }
        let (tv, rv) = timed(&c, &view_sql, runs).await;
        let (tr, rr) = timed(&c, &raw_sql, runs).await;
        assert_eq!(rv.len(), 360, "a 6-hour window has 360 minutes");
        assert_eq!(rv, rr, "the view and the raw table disagree");
        let _ = child.kill();
        let _ = child.wait();
        let _ = writeln!(
            md,
            "\nDashboard query, fleet CPU per minute over 6 hours ({total} raw rows, median of {runs}):\n\n\
             | source | time | speed-up |\n|---|---:|---:|\n\
             | raw table | {:.2} ms | 1x |\n| 1-minute view | {:.2} ms | {:.1}x |",
            tr.as_secs_f64() * 1e3,
            tv.as_secs_f64() * 1e3,
            tr.as_secs_f64() / tv.as_secs_f64()
        );
        println!("{md}");
        let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/cagg-bench.md");
        let _ = std::fs::create_dir_all(out.parent().unwrap_or(std::path::Path::new(".")));
        let _ = std::fs::write(&out, &md);
    });
}
