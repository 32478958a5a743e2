//! Tiered-storage benchmark, over the wire, one run:
//!
//! 1. **Cold bytes per row**: TSBS-cpu-like rows (100 hosts, 10 s, `STRATA_BENCH_DAYS`
//!    days) loaded into Strata and moved to the cold store by a tiering policy; the cold
//!    objects' bytes per row against PostgreSQL 15's table + TSBS indexes for the same rows
//!    (`pg_total_relation_size`). Target: >= 10x smaller.
//! 2. **Cold query**: one hour of one day, per-host max/avg, run while the data is hot and
//!    again once it is cold (first run = nothing cached, then the median of
//!    `STRATA_BENCH_QUERY_RUNS`). Target: cold within 3x of hot.
//!
//! The cold store is a real S3 API (`moto_server`, started on a free port) when moto is
//! installed, else a local directory (`file://`).
//!
//! ```text
//! cargo bench --bench tiering
//! STRATA_BENCH_DAYS=7 cargo bench --bench tiering
//! ```
//!
//! `STRATA_BENCH_COLD=file` puts the cold store on local disk instead (what the object
//! store's latency costs), `STRATA_BENCH_PG=0` skips PostgreSQL. Writes a markdown summary
//! to `target/tiering-bench.md`.

#[path = "support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use support::*;

const BUCKET: &str = "strata-bench";

struct Moto(Child, u16);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto() -> Option<Moto> {
    let port = free_port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let m = Moto(child, port);
    wait_port(port);
    let ok = Command::new("curl")
        .args([
            "-sf",
            "-X",
            "PUT",
            &format!("http://127.0.0.1:{port}/{BUCKET}"),
        ])
        .status()
        .ok()?
        .success();
    ok.then_some(m)
}

async fn median_ms(c: &tokio_postgres::Client, sql: &str, runs: usize) -> (f64, Vec<String>) {
    let (t, rows) = timed(c, sql, runs).await;
    (t.as_secs_f64() * 1e3, rows)
}

fn median_of_ms(v: impl IntoIterator<Item = f64>) -> f64 {
    let d = v
        .into_iter()
        .map(|ms| std::time::Duration::from_secs_f64(ms / 1e3))
        .collect();
    median(d).as_secs_f64() * 1e3
}

fn main() {
    let days = env_usize("STRATA_BENCH_DAYS", 3) as u64;
    let hosts = env_usize("STRATA_BENCH_HOSTS", 100) as u64;
    let runs = env_usize("STRATA_BENCH_QUERY_RUNS", 20);
    let rows = days * 8640 * hosts;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let tmp = tempfile::tempdir().expect("tempdir");
    // STRATA_BENCH_COLD=file: the cold store on local disk (no object-store latency).
    let moto = if std::env::var("STRATA_BENCH_COLD").as_deref() == Ok("file") {
        None
    } else {
        start_moto()
    };
    let store = match &moto {
        Some(m) => format!("moto S3 on 127.0.0.1:{}", m.1),
        None => "local directory (file://)".into(),
    };
    let mut out = String::new();
    rt.block_on(async {
        // Strata, with the cold store on moto (or a directory).
        let dir = tmp.path().join("strata");
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
        cmd.args(["serve", "--data-dir"])
            .arg(&dir)
            .args(["--pg-addr", &format!("127.0.0.1:{port}")])
            .env(
                "RUST_LOG",
                std::env::var("STRATA_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null());
        if let Some(m) = &moto {
            cmd.args(["--cold-store", &format!("s3://{BUCKET}/bench")])
                .env("AWS_ENDPOINT", format!("http://127.0.0.1:{}", m.1))
                .env("AWS_ALLOW_HTTP", "true")
                .env("AWS_ACCESS_KEY_ID", "bench")
                .env("AWS_SECRET_ACCESS_KEY", "bench")
                .env("AWS_REGION", "us-east-1");
        }
        let mut child = cmd.spawn().expect("start strata");
        wait_port(port);
        let conn = format!("host=127.0.0.1 port={port} user=strata");
        let c = connect(&conn).await;
        c.batch_execute(&format!(
            "{CREATE}; SELECT create_hypertable('cpu', by_range('time', INTERVAL '1 day'))"
        ))
        .await
        .expect("create");
        println!("loading {rows} rows ({days} days x {hosts} hosts x 10 s)...");
        load_copy(&conn, rows, hosts, 2).await;
        c.batch_execute("CHECKPOINT").await.expect("checkpoint");

        // One hour (10:00-11:00) of each day: each day is its own cold file, so each is a
        // first read once; the figures are medians over the days.
        let ts = |s: i64| {
            chrono::DateTime::from_timestamp(s, 0)
                .unwrap_or_default()
                .format("%Y-%m-%d %H:%M:%S+00")
                .to_string()
        };
        let queries: Vec<String> = (0..days as i64)
            .map(|d| {
                let lo = START_EPOCH + d * 86_400 + 10 * 3600;
                format!(
                    "SELECT hostname, max(usage_user), round(avg(usage_system)::numeric, 6) FROM cpu \
                     WHERE time >= '{}' AND time < '{}' GROUP BY hostname ORDER BY hostname",
                    ts(lo),
                    ts(lo + 3600)
                )
            })
            .collect();
        let mut hot = vec![];
        for q in &queries {
            let _ = median_ms(&c, q, 2).await;
            hot.push(median_ms(&c, q, runs).await);
        }
        let hot_ms = median_of_ms(hot.iter().map(|h| h.0));

        let job: i32 = c
            .query_one("SELECT add_tiering_policy('cpu', INTERVAL '1 day')", &[])
            .await
            .expect("policy")
            .get(0);
        let t = Instant::now();
        c.execute(&format!("CALL run_job({job})"), &[])
            .await
            .expect("move");
        let move_s = t.elapsed().as_secs_f64();
        let (cold_chunks, cold_rows, cold_bytes): (i64, i64, i64) = {
            let r = c
                .query_one(
                    "SELECT count(*), sum(rows)::int8, sum(bytes)::int8 FROM timescaledb_information.chunks \
                     WHERE hypertable_name = 'cpu' AND tier = 'cold'",
                    &[],
                )
                .await
                .expect("chunks");
            (r.get(0), r.get(1), r.get(2))
        };
        assert_eq!(cold_rows as u64, rows, "every row is cold");
        let mut first = vec![];
        for (q, h) in queries.iter().zip(&hot) {
            let (ms, rows) = median_ms(&c, q, 1).await;
            assert_eq!(h.1, rows, "cold and hot answers differ");
            first.push(ms);
        }
        let first_ms = median_of_ms(first.iter().copied());
        let mut repeated = vec![];
        for (q, h) in queries.iter().zip(&hot) {
            let (ms, rows) = median_ms(&c, q, runs).await;
            assert_eq!(h.1, rows, "cold and hot answers differ");
            repeated.push(ms);
        }
        let cold_ms = median_of_ms(repeated);
        let groups = hot[0].1.len();
        let _ = child.kill();
        let _ = child.wait();

        // PostgreSQL 15 with TSBS's indexes, same rows.
        let pg = if std::env::var("STRATA_BENCH_PG").as_deref() == Ok("0") {
            None
        } else {
            start_postgres(&tmp.path().join("pg"))
        };
        let pg_bytes = match &pg {
            Some((port, _)) => {
                let conn = format!("host=127.0.0.1 port={port} user=strata dbname=postgres");
                let p = connect(&conn).await;
                p.batch_execute(CREATE).await.expect("pg create");
                println!("loading the same rows into PostgreSQL 15...");
                load_copy(&conn, rows, hosts, 2).await;
                // One statement each: VACUUM cannot run in the implicit transaction of a
                // multi-statement query.
                for sql in [
                    "CREATE INDEX ON cpu (hostname, time DESC)",
                    "CREATE INDEX ON cpu (time DESC)",
                    "VACUUM ANALYZE cpu",
                ] {
                    p.batch_execute(sql).await.expect("pg index");
                }
                let b: i64 = p
                    .query_one("SELECT pg_total_relation_size('cpu')", &[])
                    .await
                    .expect("size")
                    .get(0);
                Some(b)
            }
            None => None,
        };
        if let Some((_, data)) = &pg {
            stop_postgres(data);
        }

        let per_row = cold_bytes as f64 / rows as f64;
        let _ = writeln!(
            out,
            "# Tiered storage\n\n{rows} rows ({days} days x {hosts} hosts x 10 s), cold store: {store}\n\n\
             Move to the cold store: {cold_chunks} chunks in {move_s:.1} s\n\n\
             | storage | bytes | bytes/row |\n|---|---:|---:|\n\
             | Strata cold (Parquet, ZSTD) | {cold_bytes} | {per_row:.1} |"
        );
        if let Some(b) = pg_bytes {
            let _ = writeln!(
                out,
                "| PostgreSQL 15 (heap + 2 TSBS indexes) | {b} | {:.1} |\n\nPostgreSQL / Strata cold: {:.1}x",
                b as f64 / rows as f64,
                b as f64 / cold_bytes as f64
            );
        }
        let _ = writeln!(
            out,
            "\nOne hour of a day, per-host max/avg ({groups} groups). Hot and repeated: median of \
             {runs} runs per day, then median over the {days} days; first read: each day's file \
             read once, median over the days ({first:.2?} ms):\n\n\
             | data | time | vs hot |\n|---|---:|---:|\n\
             | hot (local Parquet) | {hot_ms:.2} ms | 1.0x |\n\
             | cold, first read (nothing cached) | {first_ms:.2} ms | {:.1}x |\n\
             | cold, repeated (block cache) | {cold_ms:.2} ms | {:.1}x |",
            first_ms / hot_ms,
            cold_ms / hot_ms
        );
    });
    println!("{out}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tiering-bench.md");
    let _ = std::fs::create_dir_all(path.parent().unwrap_or(std::path::Path::new(".")));
    let _ = std::fs::write(&path, &out);
}
