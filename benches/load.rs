//! Load benchmark: TSBS-cpu-like rows into Strata and into PostgreSQL 15, same machine,
//! same run, over the wire.
//!
//! ```text
//! cargo bench --bench load                       # 1 M rows, 2 connections
//! STRATA_BENCH_ROWS=50000000 cargo bench --bench load   # the 50 M-row RSS run
//! ```
//!
//! Parameters (environment):
//! - `STRATA_BENCH_ROWS` rows per load (default 1,000,000); `STRATA_BENCH_HOSTS` (100);
//! - `STRATA_BENCH_CONNS` parallel client connections (default 2);
//! - `STRATA_BENCH_PG=0` skips PostgreSQL (default: run it if `initdb` is on PATH);
//! - `STRATA_BENCH_FSYNC` `always` (default) or `never` for Strata.
//!
//! Rows: `time timestamptz, hostname text, region text, datacenter text`, then ten float8
//! metrics (TSBS devops cpu-only), one row per host every 10 s. Loads: COPY FROM STDIN in
//! text format (64 k rows per COPY statement), and INSERT statements of 1000 rows.
//! PostgreSQL gets TSBS's two indexes, `(hostname, time DESC)` and `(time DESC)`.
//! Reported: rows/s per method, peak RSS of the server (VmHWM) and bytes on disk.

#[path = "support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use support::*;

struct Target {
    name: &'static str,
    conn: String,
    pid: u32,
    data_dir: PathBuf,
}

struct Result_ {
    name: &'static str,
    copy_rps: f64,
    insert_rps: f64,
    rss_mb: f64,
    disk_mb: f64,
}

async fn run_target(t: &Target, rows: u64, hosts: u64, conns: usize, pg: bool) -> Result_ {
    let admin = connect(&t.conn).await;
    admin.batch_execute(CREATE).await.expect("create");
    if pg {
        admin
            .batch_execute(
                "CREATE INDEX ON cpu (hostname, time DESC); CREATE INDEX ON cpu (time DESC);",
            )
            .await
            .expect("indexes");
    }
    let copy = load_copy(&t.conn, rows, hosts, conns).await;
    let insert_rows = (rows / 2).max(1000);
    let insert = load_insert(&t.conn, insert_rows, hosts, conns, rows).await;
    let n: i64 = admin
        .query_one("SELECT count(*) FROM cpu", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(
        n as u64,
        rows + insert_rows,
        "{}: row count after load",
        t.name
    );
    if !pg {
        admin.batch_execute("CHECKPOINT").await.expect("checkpoint");
    } else {
        admin.batch_execute("CHECKPOINT").await.expect("checkpoint");
    }
    let rss = if pg {
        peak_rss_tree_kb(t.pid)
    } else {
        peak_rss_kb(t.pid)
    };
    Result_ {
        name: t.name,
        copy_rps: rows as f64 / copy.as_secs_f64(),
        insert_rps: insert_rows as f64 / insert.as_secs_f64(),
        rss_mb: rss as f64 / 1024.0,
        disk_mb: dir_size(&t.data_dir) as f64 / 1e6,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let rows = env_usize("STRATA_BENCH_ROWS", 1_000_000) as u64;
    let hosts = env_usize("STRATA_BENCH_HOSTS", 100) as u64;
    let conns = env_usize("STRATA_BENCH_CONNS", 2);
    let fsync = std::env::var("STRATA_BENCH_FSYNC").unwrap_or_else(|_| "always".into());
    let want_pg = std::env::var("STRATA_BENCH_PG")
        .map(|v| v != "0")
        .unwrap_or(true);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut results = vec![];

    let sdir = tmp.path().join("strata");
    let (mut child, port) = start_strata(&sdir, &fsync);
    let t = Target {
        name: "Strata",
        conn: format!("host=127.0.0.1 port={port} user=strata dbname=strata"),
        pid: child.id(),
        data_dir: sdir.clone(),
    };
    results.push(rt.block_on(run_target(&t, rows, hosts, conns, false)));
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();

    if want_pg {
        let pdir = tmp.path().join("pg");
        match start_postgres(&pdir) {
            Some((port, data)) => {
                let t = Target {
                    name: "PostgreSQL 15",
                    conn: format!("host=127.0.0.1 port={port} user=strata dbname=postgres"),
                    pid: pg_postmaster_pid(&data),
                    data_dir: data.clone(),
                };
                results.push(rt.block_on(run_target(&t, rows, hosts, conns, true)));
                stop_postgres(&data);
            }
            None => eprintln!(
                "PostgreSQL 15 not available (initdb not found or failed): skipping the comparison"
            ),
        }
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "Load: {rows} rows by COPY + {} rows by 1000-row INSERTs, {hosts} hosts, {conns} connections, fsync {fsync} (Strata), fsync on (PostgreSQL)\n",
        (rows / 2).max(1000)
    );
    let _ = writeln!(
        out,
        "| system | COPY rows/s | INSERT rows/s | peak RSS MB | on disk MB |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for r in &results {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {:.0} | {:.1} |",
            r.name, r.copy_rps, r.insert_rps, r.rss_mb, r.disk_mb
        );
    }
    if results.len() == 2 {
        let _ = writeln!(
            out,
            "\nStrata / PostgreSQL: COPY {:.1}x, INSERT {:.1}x",
            results[0].copy_rps / results[1].copy_rps,
            results[0].insert_rps / results[1].insert_rps
        );
    }
    println!("{out}");
    let _ = std::fs::create_dir_all("target");
    let _ = std::fs::write("target/load-bench.md", &out);
}
