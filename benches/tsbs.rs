//! Side-by-side benchmark: TSBS devops cpu-only data and queries on Strata, PostgreSQL 15
//! and DuckDB, same machine, same run, same rows.
//!
//! ```text
//! cargo bench --bench tsbs                                        # 100 hosts, 1 day
//! STRATA_BENCH_HOSTS=10 STRATA_BENCH_HOURS=6 STRATA_BENCH_RUNS=3 cargo bench --bench tsbs
//! ```
//!
//! Parameters (environment):
//! - `STRATA_BENCH_HOSTS` (100); `STRATA_BENCH_HOURS` or `STRATA_BENCH_DAYS` of data
//!   (default 1 day; one row per host every 10 s, so 100 hosts x 1 day = 864,000 rows);
//! - `STRATA_BENCH_RUNS` timed runs per query after one warm-up run (5; the median is shown);
//! - `STRATA_BENCH_CONNS` client connections while loading (2);
//! - `STRATA_BENCH_PG=0` skips PostgreSQL, `STRATA_BENCH_DUCKDB=0` skips DuckDB;
//! - `STRATA_BENCH_FSYNC` `always` (default) or `never` for Strata (PostgreSQL: fsync on);
//! - `STRATA_BENCH_KEEP_DIR=DIR` moves Strata's data directory to `DIR` (which must not
//!   exist) after its run instead of deleting it, to profile the same files later
//!   (`strata serve --data-dir DIR`).
//!
//! What it does, per system in turn (never two at once):
//! 1. **Load**: the first half of the rows by COPY FROM STDIN (text, 64 k rows per COPY),
//!    the second half by 1000-row INSERT statements, over `STRATA_BENCH_CONNS` connections.
//!    The COPY text and the INSERT statements are generated once before anything is timed
//!    (TSBS, too, generates its data files before loading), so the client's formatting of
//!    rows does not compete with the servers for the two cores; above 12 M rows they are
//!    formatted while sending (the table says which).
//!    Strata gets a hypertable with 1-day chunks; PostgreSQL a plain table with TSBS's two
//!    indexes `(hostname, time DESC)` and `(time DESC)`, then `VACUUM ANALYZE`. Reported:
//!    rows/s per method, peak RSS of the server, bytes on disk after a CHECKPOINT.
//! 2. **Queries**: the TSBS cpu-only query set in TSBS's own TimescaleDB form
//!    (`cmd/tsbs_generate_queries/databases/timescaledb/devops.go`, with `time_bucket`),
//!    one instance of each with hosts and time windows drawn from a fixed seed inside the
//!    loaded range, run over the simple query protocol on one connection. PostgreSQL gets
//!    `time_bucket(interval, timestamptz)` as an inlinable SQL function over `date_bin`, so
//!    both systems run the same text.
//! 3. **DuckDB** (if `python3 -c "import duckdb"` works): the same rows written as a
//!    tab-separated file, loaded in process by `benches/support/duckdb_tsbs.py`, the same
//!    queries (only the time literals' `+0000` offset rewritten as `+00`), timed in process
//!    (no wire, no text encoding: a columnar reference, not a like-for-like client).
//!
//! Results are compared as text, cells normalised (timestamps to UTC, numbers to 6
//! significant digits), row order ignored where the query has no ORDER BY. Errors and
//! mismatches go into the table; the run always finishes. Output: one markdown table on
//! stdout and in `target/tsbs-bench.md`.

#[path = "support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// Strata's table: the TSBS cpu table as a hypertable with 1-day chunks, segmented by
/// host as TSBS's TimescaleDB loader does with compression on (`compress_segmentby`).
const STRATA_CREATE: &str = "CREATE TABLE cpu (time timestamptz NOT NULL, hostname text, region text, datacenter text, \
usage_user float8, usage_system float8, usage_idle float8, usage_nice float8, usage_iowait float8, \
usage_irq float8, usage_softirq float8, usage_steal float8, usage_guest float8, usage_guest_nice float8); \
SELECT create_hypertable('cpu', by_range('time', INTERVAL '1 day')); \
ALTER TABLE cpu SET (timescaledb.compress, timescaledb.compress_segmentby = 'hostname')";

/// TSBS's indexes on PostgreSQL (as `tsbs_load_timescaledb` creates them by default).
const PG_INDEXES: &str =
    "CREATE INDEX ON cpu (hostname, time DESC); CREATE INDEX ON cpu (time DESC);";

/// PostgreSQL has no `time_bucket` (it is TimescaleDB's): the same function over `date_bin`
/// (PostgreSQL 14+), with TimescaleDB's default origin (Monday 2000-01-03), as an inlinable
/// SQL function so the queries' text is the same on both systems.
const PG_TIME_BUCKET: &str = "CREATE FUNCTION time_bucket(bucket interval, ts timestamptz) \
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE \
AS $$ SELECT date_bin(bucket, ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') $$";

// ------------------------------------------------------------------ queries

struct Query {
    name: &'static str,
    sql: String,
    /// The result order is defined by the query (ORDER BY), so it is compared too.
    ordered: bool,
}

/// splitmix64: the fixed-seed generator of hosts and windows.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// TSBS's time literal format (`2006-01-02 15:04:05.999999 -0700` in Go).
fn tsbs_time(epoch: i64) -> String {
    chrono::DateTime::from_timestamp(epoch, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S +0000")
        .to_string()
}

struct Gen {
    rng: Rng,
    hosts: u64,
    /// Seconds of data loaded, from `START_EPOCH`.
    span: i64,
}

impl Gen {
    /// A window of `secs` (clamped to the loaded span) starting at a random second inside
    /// the loaded range, like TSBS's `Interval.MustRandWindow`.
    fn window(&mut self, secs: i64) -> (String, String) {
        let d = secs.min(self.span);
        let start = START_EPOCH + self.rng.below((self.span - d + 1) as u64) as i64;
        (tsbs_time(start), tsbs_time(start + d))
    }

    /// `hostname IN ('host_a', ...)` with `n` distinct random hosts (TSBS's default form).
    fn hosts_where(&mut self, n: usize) -> String {
        let mut all: Vec<u64> = (0..self.hosts).collect();
        let n = n.min(all.len());
        for i in 0..n {
            let j = i + self.rng.below((all.len() - i) as u64) as usize;
            all.swap(i, j);
        }
        let names: Vec<String> = all[..n].iter().map(|h| format!("'host_{h}'")).collect();
        format!("hostname IN ({})", names.join(","))
    }
}

fn select_aggs(agg: &str, metrics: &[&str]) -> String {
    metrics
        .iter()
        .map(|m| format!("{agg}({m}) as {agg}_{m}"))
        .collect::<Vec<_>>()
        .join(", ")
}

const HOUR: i64 = 3600;

/// The TSBS devops cpu-only query set, TimescaleDB templates with `time_bucket`.
fn tsbs_queries(hosts: u64, span: i64) -> Vec<Query> {
    let mut g = Gen {
        rng: Rng(20_240_101),
        hosts,
        span,
    };
    let mut out = vec![];
    // single-groupby-M-H-T: max of M metrics per minute, H hosts, T hours.
    for (name, metrics, nhosts, hours) in [
        ("single-groupby-1-1-1", 1, 1, 1),
        ("single-groupby-1-1-12", 1, 1, 12),
        ("single-groupby-5-1-12", 5, 1, 12),
    ] {
        let (lo, hi) = g.window(hours * HOUR);
        let sql = format!(
            "SELECT time_bucket('60 seconds', time) AS minute, {} FROM cpu \
             WHERE {} AND time >= '{lo}' AND time < '{hi}' GROUP BY minute ORDER BY minute ASC",
            select_aggs("max", &METRICS[..metrics]),
            g.hosts_where(nhosts)
        );
        out.push(Query {
            name,
            sql,
            ordered: true,
        });
    }
    // cpu-max-all-H: max of all ten metrics per hour, H hosts, 8 hours.
    for (name, nhosts) in [("cpu-max-all-1", 1), ("cpu-max-all-8", 8)] {
        let (lo, hi) = g.window(8 * HOUR);
        let sql = format!(
            "SELECT time_bucket('3600 seconds', time) AS hour, {} FROM cpu \
             WHERE {} AND time >= '{lo}' AND time < '{hi}' GROUP BY hour ORDER BY hour",
            select_aggs("max", &METRICS),
            g.hosts_where(nhosts)
        );
        out.push(Query {
            name,
            sql,
            ordered: true,
        });
    }
    // double-groupby-M: mean of M metrics per hour and host, all hosts, 12 hours.
    for (name, metrics) in [("double-groupby-1", 1), ("double-groupby-all", 10)] {
        let (lo, hi) = g.window(12 * HOUR);
        let avgs: Vec<String> = METRICS[..metrics]
            .iter()
            .map(|m| format!("avg({m}) as mean_{m}"))
            .collect();
        let means: Vec<String> = METRICS[..metrics]
            .iter()
            .map(|m| format!("mean_{m}"))
            .collect();
        let sql = format!(
            "WITH cpu_avg AS (SELECT time_bucket('3600 seconds', time) as hour, hostname, {} \
             FROM cpu WHERE time >= '{lo}' AND time < '{hi}' GROUP BY 1, 2) \
             SELECT hour, hostname, {} FROM cpu_avg ORDER BY hour, hostname",
            avgs.join(", "),
            means.join(", ")
        );
        out.push(Query {
            name,
            sql,
            ordered: true,
        });
    }
    // high-cpu-H: rows with usage_user > 90 over 12 hours, for 1 host or all hosts.
    for (name, nhosts) in [("high-cpu-1", 1), ("high-cpu-all", 0)] {
        let (lo, hi) = g.window(12 * HOUR);
        let hw = if nhosts == 0 {
            String::new()
        } else {
            format!(" AND {}", g.hosts_where(nhosts))
        };
        let sql = format!(
            "SELECT * FROM cpu WHERE usage_user > 90.0 and time >= '{lo}' AND time < '{hi}'{hw}"
        );
        out.push(Query {
            name,
            sql,
            ordered: false,
        });
    }
    out.push(Query {
        name: "lastpoint",
        sql: "SELECT DISTINCT ON (hostname) * FROM cpu ORDER BY hostname, time DESC".into(),
        ordered: true,
    });
    let (_, hi) = g.window(HOUR);
    out.push(Query {
        name: "groupby-orderby-limit",
        sql: format!(
            "SELECT time_bucket('60 seconds', time) AS minute, max(usage_user) FROM cpu \
             WHERE time < '{hi}' GROUP BY minute ORDER BY minute DESC LIMIT 5"
        ),
        ordered: true,
    });
    out
}

/// DuckDB's dialect: it reads `+00` but not `+0000` as an offset in a timestamp literal.
fn duckdb_sql(sql: &str) -> String {
    sql.replace(" +0000'", "+00'")
}

// ------------------------------------------------------------------ running

enum Outcome {
    Ok { ms: f64, rows: Vec<Vec<String>> },
    Err(String),
    Skipped,
}

struct Load {
    name: String,
    copy_rps: Option<f64>,
    insert_rps: Option<f64>,
    rss_load_mb: f64,
    rss_end_mb: f64,
    disk_mb: f64,
    note: String,
}

fn err_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{}: {}", d.code().code(), d.message()),
        None => e.to_string(),
    }
}

async fn run_query(
    c: &tokio_postgres::Client,
    sql: &str,
) -> Result<(Duration, Vec<Vec<String>>), String> {
    let t = Instant::now();
    let msgs = c.simple_query(sql).await.map_err(|e| err_text(&e))?;
    let el = t.elapsed();
    let rows = msgs
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL").to_string())
                    .collect(),
            ),
            _ => None,
        })
        .collect();
    Ok((el, rows))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

struct Target<'a> {
    name: &'a str,
    conn: String,
    pid: u32,
    data_dir: PathBuf,
    pg: bool,
}

/// The load, generated once before any system is timed (as TSBS generates its data files
/// before `tsbs_load`), so the load rates measure the servers, not the client's formatting.
/// Above [`PREGENERATED_MAX_ROWS`] rows (about 1.8 GB of text) the rows are formatted
/// while sending instead, as `cargo bench --bench load` does, and the report says so.
enum Payload {
    Pregenerated {
        copy_rows: u64,
        insert_rows: u64,
        copy: Vec<Vec<bytes::Bytes>>,
        insert: std::sync::Arc<Vec<Vec<String>>>,
    },
    Streamed {
        copy_rows: u64,
        insert_rows: u64,
        hosts: u64,
        conns: usize,
    },
}

const PREGENERATED_MAX_ROWS: u64 = 12_000_000;

impl Payload {
    fn new(total: u64, hosts: u64, conns: usize) -> Self {
        let copy_rows = total / 2;
        let insert_rows = total - copy_rows;
        if total > PREGENERATED_MAX_ROWS {
            return Payload::Streamed {
                copy_rows,
                insert_rows,
                hosts,
                conns,
            };
        }
        Payload::Pregenerated {
            copy_rows,
            insert_rows,
            copy: copy_payloads(copy_rows, hosts, conns, 0),
            insert: std::sync::Arc::new(insert_statements(insert_rows, hosts, conns, copy_rows)),
        }
    }

    fn rows(&self) -> (u64, u64) {
        match self {
            Payload::Pregenerated {
                copy_rows,
                insert_rows,
                ..
            }
            | Payload::Streamed {
                copy_rows,
                insert_rows,
                ..
            } => (*copy_rows, *insert_rows),
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Payload::Pregenerated { .. } => "both generated before timing",
            Payload::Streamed { .. } => "rows formatted while sending, on the same cores",
        }
    }

    async fn copy(&self, conn: &str) -> Duration {
        match self {
            Payload::Pregenerated { copy, .. } => send_copy(conn, copy).await,
            Payload::Streamed {
                copy_rows,
                hosts,
                conns,
                ..
            } => load_copy(conn, *copy_rows, *hosts, *conns).await,
        }
    }

    async fn insert(&self, conn: &str) -> Duration {
        match self {
            Payload::Pregenerated { insert, .. } => send_inserts(conn, insert).await,
            Payload::Streamed {
                copy_rows,
                insert_rows,
                hosts,
                conns,
            } => load_insert(conn, *insert_rows, *hosts, *conns, *copy_rows).await,
        }
    }
}

async fn run_target(
    t: &Target<'_>,
    total: u64,
    payload: &Payload,
    queries: &[Query],
    runs: usize,
) -> (Load, Vec<Outcome>) {
    let admin = connect(&t.conn).await;
    if t.pg {
        admin.batch_execute(CREATE).await.expect("create table");
        admin
            .batch_execute(PG_INDEXES)
            .await
            .expect("create indexes");
        admin
            .batch_execute(PG_TIME_BUCKET)
            .await
            .expect("create time_bucket");
    } else {
        admin
            .batch_execute(STRATA_CREATE)
            .await
            .expect("create hypertable");
    }
    let (copy_rows, insert_rows) = payload.rows();
    println!("{}: COPY {copy_rows} rows...", t.name);
    let copy = payload.copy(&t.conn).await;
    println!("{}: INSERT {insert_rows} rows...", t.name);
    let insert = payload.insert(&t.conn).await;
    let mut note = String::new();
    match admin.query_one("SELECT count(*) FROM cpu", &[]).await {
        Ok(r) => {
            let n: i64 = r.get(0);
            if n as u64 != total {
                note = format!("row count after load {n}, expected {total}");
            }
        }
        Err(e) => note = format!("count(*) failed: {}", err_text(&e)),
    }
    if t.pg {
        admin
            .batch_execute("VACUUM ANALYZE cpu")
            .await
            .expect("vacuum analyze");
        let _ = admin.batch_execute("SET TimeZone TO 'UTC'").await;
    }
    admin.batch_execute("CHECKPOINT").await.expect("checkpoint");
    let rss = |pid| {
        if t.pg {
            peak_rss_tree_kb(pid)
        } else {
            peak_rss_kb(pid)
        }
    };
    let rss_load = rss(t.pid);
    let disk = dir_size(&t.data_dir);

    let mut outcomes = vec![];
    for q in queries {
        println!("{}: {}...", t.name, q.name);
        // One warm-up run (plans, caches), then the timed runs.
        let o = match run_query(&admin, &q.sql).await {
            Err(e) => Outcome::Err(e),
            Ok((_, mut rows)) => {
                let mut times = vec![];
                let mut failed = None;
                for _ in 0..runs {
                    match run_query(&admin, &q.sql).await {
                        Ok((d, r)) => {
                            times.push(d.as_secs_f64() * 1e3);
                            rows = r;
                        }
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                match failed {
                    Some(e) => Outcome::Err(format!("failed on a repeat run: {e}")),
                    None if times.is_empty() => Outcome::Err("STRATA_BENCH_RUNS is 0".into()),
                    None => Outcome::Ok {
                        ms: median(times),
                        rows,
                    },
                }
            }
        };
        outcomes.push(o);
    }
    let load = Load {
        name: t.name.to_string(),
        copy_rps: Some(copy_rows as f64 / copy.as_secs_f64()),
        insert_rps: Some(insert_rows as f64 / insert.as_secs_f64()),
        rss_load_mb: rss_load as f64 / 1024.0,
        rss_end_mb: rss(t.pid) as f64 / 1024.0,
        disk_mb: disk as f64 / 1e6,
        note,
    };
    (load, outcomes)
}

fn duckdb_available() -> bool {
    Command::new("python3")
        .args(["-c", "import duckdb"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn run_duckdb(
    dir: &Path,
    total: u64,
    hosts: u64,
    queries: &[Query],
    runs: usize,
) -> Result<(Load, Vec<Outcome>), String> {
    let csv = dir.join("cpu.tsv");
    {
        let f = std::fs::File::create(&csv).map_err(|e| format!("create {csv:?}: {e}"))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        let mut line = String::new();
        for i in 0..total {
            row(i, hosts, &mut line, None);
            w.write_all(line.as_bytes())
                .map_err(|e| format!("write {csv:?}: {e}"))?;
        }
        w.flush().map_err(|e| format!("write {csv:?}: {e}"))?;
    }
    let job = serde_json::json!({
        "csv": csv,
        "db": dir.join("tsbs.duckdb"),
        "runs": runs,
        "queries": queries.iter().map(|q| serde_json::json!({"name": q.name, "sql": duckdb_sql(&q.sql)})).collect::<Vec<_>>(),
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/support/duckdb_tsbs.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("python3: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(job.to_string().as_bytes())
            .map_err(|e| format!("python3 stdin: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("python3: {e}"))?;
    let _ = std::fs::remove_file(&csv);
    if !out.status.success() {
        return Err(format!(
            "duckdb_tsbs.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("duckdb_tsbs.py output: {e}"))?;
    let mut outcomes = vec![];
    for q in v["queries"].as_array().cloned().unwrap_or_default() {
        outcomes.push(match (q["ms"].as_f64(), q["error"].as_str()) {
            (_, Some(e)) => Outcome::Err(e.to_string()),
            (Some(ms), None) => Outcome::Ok {
                ms,
                rows: q["rows"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|r| {
                        r.as_array()
                            .cloned()
                            .unwrap_or_default()
                            .iter()
                            .map(|c| c.as_str().unwrap_or("").to_string())
                            .collect()
                    })
                    .collect(),
            },
            _ => Outcome::Err("no result from duckdb_tsbs.py".into()),
        });
    }
    let load_s = v["load_s"].as_f64().unwrap_or(f64::NAN);
    let rss_mb = v["rss_kb"].as_f64().unwrap_or(0.0) / 1024.0;
    Ok((
        Load {
            name: "DuckDB (in process)".into(),
            copy_rps: Some(total as f64 / load_s),
            insert_rps: None,
            rss_load_mb: f64::NAN,
            rss_end_mb: rss_mb,
            disk_mb: v["db_bytes"].as_f64().unwrap_or(0.0) / 1e6,
            note: "all rows from a local tab-separated file (COPY in process, not over a wire)"
                .into(),
        },
        outcomes,
    ))
}

// ------------------------------------------------------------------ comparing

/// A cell as sorted: timestamps in UTC without offset, numbers to 6 significant digits.
fn norm_cell(s: &str) -> String {
    let b = s.as_bytes();
    if b.len() >= 19 && b[4] == b'-' && (b[10] == b' ' || b[10] == b'T') {
        let t = s.replace('T', " ");
        if let Ok(d) = chrono::DateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f%#z") {
            return d
                .with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S%.f")
                .to_string();
        }
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f") {
            return d.format("%Y-%m-%d %H:%M:%S%.f").to_string();
        }
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => format!("{v:.5e}"),
        _ => s.to_string(),
    }
}

/// Cells equal: numbers within a relative 1e-6 (about 6 significant digits: sums and
/// averages are added up in different orders), anything else as normalised text.
fn cell_eq(a: &str, b: &str) -> bool {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) if x.is_finite() && y.is_finite() => {
            (x - y).abs() <= 1e-6 * x.abs().max(y.abs()).max(1e-12)
        }
        _ => norm_cell(a) == norm_cell(b),
    }
}

/// Rows equal, cell by cell (on the raw text of (normalised, raw) pairs).
fn row_eq(p: &(String, String), q: &(String, String)) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (p.1.split('|').collect(), q.1.split('|').collect());
    a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| cell_eq(x, y))
}

/// Each row as (normalised, raw) text; the normalised text is the sort key.
fn norm_rows(rows: &[Vec<String>]) -> Vec<(String, String)> {
    rows.iter()
        .map(|r| {
            let n = r.iter().map(|c| norm_cell(c)).collect::<Vec<_>>().join("|");
            (n, r.join("|"))
        })
        .collect()
}

/// `None` when equal; otherwise what differs (first differing cell, raw values).
fn compare(a: &[Vec<String>], b: &[Vec<String>], ordered: bool) -> Option<String> {
    let (mut x, mut y) = (norm_rows(a), norm_rows(b));
    let same = |x: &[(String, String)], y: &[(String, String)]| {
        x.len() == y.len() && x.iter().zip(y).all(|(p, q)| row_eq(p, q))
    };
    if ordered && same(&x, &y) {
        return None;
    }
    x.sort();
    y.sort();
    if same(&x, &y) {
        return if ordered {
            Some("same rows, different order".into())
        } else {
            None
        };
    }
    if x.len() != y.len() {
        return Some(format!("{} rows vs {}", x.len(), y.len()));
    }
    let Some(i) = (0..x.len()).find(|&i| !row_eq(&x[i], &y[i])) else {
        return Some("rows differ".into());
    };
    // The first differing cell, with the row's first two cells as its key.
    let split = |s: &str| s.split('|').map(str::to_string).collect::<Vec<_>>();
    let (pn, qn, pr, qr) = (
        split(&x[i].0),
        split(&y[i].0),
        split(&x[i].1),
        split(&y[i].1),
    );
    let c = (0..pn.len().max(qn.len()))
        .find(|&c| match (pr.get(c), qr.get(c)) {
            (Some(p), Some(q)) => !cell_eq(p, q),
            _ => true,
        })
        .unwrap_or(0);
    let none = String::from("(none)");
    Some(format!(
        "sorted row {i} ({}), column {}: {} vs {}",
        pr.iter().take(2).cloned().collect::<Vec<_>>().join(", "),
        c + 1,
        pr.get(c).unwrap_or(&none),
        qr.get(c).unwrap_or(&none)
    ))
}

fn cell_text(s: &str) -> String {
    let s: String = s.replace('|', "/").replace(['\n', '\r'], " ");
    if s.chars().count() > 160 {
        format!("{}...", s.chars().take(160).collect::<String>())
    } else {
        s
    }
}

fn ms_text(o: &Outcome) -> String {
    match o {
        Outcome::Ok { ms, .. } => format!("{ms:.2}"),
        Outcome::Err(_) => "error".into(),
        Outcome::Skipped => "-".into(),
    }
}

fn ratio(strata: &Outcome, other: &Outcome) -> Option<f64> {
    match (strata, other) {
        (Outcome::Ok { ms: s, .. }, Outcome::Ok { ms: o, .. }) if *s > 0.0 => Some(o / s),
        _ => None,
    }
}

fn geomean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp())
}

// ------------------------------------------------------------------ main

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let hosts = env_usize("STRATA_BENCH_HOSTS", 100).max(1) as u64;
    let hours = match std::env::var("STRATA_BENCH_HOURS") {
        Ok(_) => env_usize("STRATA_BENCH_HOURS", 24),
        Err(_) => env_usize("STRATA_BENCH_DAYS", 1) * 24,
    }
    .max(1) as u64;
    let runs = env_usize("STRATA_BENCH_RUNS", 5);
    let conns = env_usize("STRATA_BENCH_CONNS", 2).max(1);
    let fsync = std::env::var("STRATA_BENCH_FSYNC").unwrap_or_else(|_| "always".into());
    let flag = |k: &str| std::env::var(k).map(|v| v != "0").unwrap_or(true);
    let (want_pg, want_duck) = (flag("STRATA_BENCH_PG"), flag("STRATA_BENCH_DUCKDB"));
    let total = hours * 360 * hosts;
    let span = hours as i64 * HOUR;
    let queries = tsbs_queries(hosts, span);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut notes: Vec<String> = vec![];
    let mut loads = vec![];
    println!("TSBS cpu-only: {hosts} hosts x {hours} h = {total} rows, {runs} runs per query");
    let payload = Payload::new(total, hosts, conns);

    // Strata.
    let sdir = tmp.path().join("strata");
    let (mut child, port) = start_strata(&sdir, &fsync);
    let t = Target {
        name: "Strata",
        conn: format!("host=127.0.0.1 port={port} user=strata dbname=strata"),
        pid: child.id(),
        data_dir: sdir.clone(),
        pg: false,
    };
    let (load, strata) = rt.block_on(run_target(&t, total, &payload, &queries, runs));
    loads.push(load);
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    match std::env::var_os("STRATA_BENCH_KEEP_DIR") {
        Some(keep) => match std::fs::rename(&sdir, &keep) {
            Ok(()) => notes.push(format!(
                "Strata's data directory kept in {}",
                Path::new(&keep).display()
            )),
            Err(e) => notes.push(format!(
                "could not keep Strata's data directory in {}: {e}",
                Path::new(&keep).display()
            )),
        },
        None => {
            let _ = std::fs::remove_dir_all(&sdir);
        }
    }

    // PostgreSQL 15.
    let mut pg: Vec<Outcome> = queries.iter().map(|_| Outcome::Skipped).collect();
    if want_pg {
        let pdir = tmp.path().join("pg");
        match start_postgres(&pdir) {
            Some((port, data)) => {
                let t = Target {
                    name: "PostgreSQL 15",
                    conn: format!("host=127.0.0.1 port={port} user=strata dbname=postgres"),
                    pid: pg_postmaster_pid(&data),
                    data_dir: data.clone(),
                    pg: true,
                };
                let (load, o) = rt.block_on(run_target(&t, total, &payload, &queries, runs));
                loads.push(load);
                pg = o;
                stop_postgres(&data);
                let _ = std::fs::remove_dir_all(&pdir);
            }
            None => notes
                .push("PostgreSQL 15 not available (initdb not found or failed): skipped".into()),
        }
    } else {
        notes.push("PostgreSQL skipped (STRATA_BENCH_PG=0)".into());
    }

    // DuckDB.
    let mut duck: Vec<Outcome> = queries.iter().map(|_| Outcome::Skipped).collect();
    if !want_duck {
        notes.push("DuckDB skipped (STRATA_BENCH_DUCKDB=0)".into());
    } else if !duckdb_available() {
        notes.push(
            "DuckDB skipped: `python3 -c \"import duckdb\"` fails (`pip install duckdb` to include it)"
                .into(),
        );
    } else {
        println!("DuckDB: writing {total} rows to a file, loading, querying...");
        match run_duckdb(tmp.path(), total, hosts, &queries, runs) {
            Ok((load, o)) => {
                loads.push(load);
                duck = o;
                duck.resize_with(queries.len(), || Outcome::Skipped);
            }
            Err(e) => notes.push(format!("DuckDB failed: {e}")),
        }
    }

    // The report.
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# TSBS devops cpu-only: Strata, PostgreSQL 15, DuckDB\n\n\
         {hosts} hosts x {hours} h = {total} rows (one per host every 10 s). Load: first half by COPY, \
         second half by 1000-row INSERTs ({}), {conns} connections, \
         fsync {fsync} (Strata), fsync on (PostgreSQL).\n",
        payload.describe()
    );
    let _ = writeln!(
        md,
        "| system | COPY rows/s | INSERT rows/s | peak RSS after load MB | peak RSS at end MB | on disk MB | note |\n|---|---:|---:|---:|---:|---:|---|"
    );
    let opt = |v: Option<f64>| v.map(|x| format!("{x:.0}")).unwrap_or_else(|| "-".into());
    let mb = |x: f64| {
        if x.is_finite() {
            format!("{x:.0}")
        } else {
            "-".into()
        }
    };
    for l in &loads {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {:.1} | {} |",
            l.name,
            opt(l.copy_rps),
            opt(l.insert_rps),
            mb(l.rss_load_mb),
            mb(l.rss_end_mb),
            l.disk_mb,
            cell_text(&l.note)
        );
    }
    let _ = writeln!(
        md,
        "\nQueries: TSBS TimescaleDB templates, one instance each (fixed seed), median of {runs} runs \
         after a warm-up; Strata and PostgreSQL over the wire (simple protocol, one connection), \
         DuckDB in process. Speed-up = other system's time / Strata's time (above 1: Strata is faster).\n"
    );
    let _ = writeln!(
        md,
        "| query | Strata ms | PostgreSQL ms | DuckDB ms | Strata vs PG | Strata vs DuckDB | rows | results equal? |\n|---|---:|---:|---:|---:|---:|---:|---|"
    );
    let (mut vs_pg, mut vs_duck) = (vec![], vec![]);
    let mut failed = vec![];
    let mut mismatched = vec![];
    for (i, q) in queries.iter().enumerate() {
        let (s, p, d) = (&strata[i], &pg[i], &duck[i]);
        let rp = ratio(s, p);
        let rd = ratio(s, d);
        vs_pg.extend(rp);
        vs_duck.extend(rd);
        let x = |r: Option<f64>| r.map(|r| format!("{r:.2}x")).unwrap_or_else(|| "-".into());
        let nrows = match (s, p, d) {
            (Outcome::Ok { rows, .. }, _, _)
            | (_, Outcome::Ok { rows, .. }, _)
            | (_, _, Outcome::Ok { rows, .. }) => rows.len().to_string(),
            _ => "-".into(),
        };
        let mut eq = vec![];
        if let Outcome::Err(e) = s {
            eq.push(format!("Strata error: {e}"));
            failed.push(q.name);
        }
        for (other, o) in [("PostgreSQL", p), ("DuckDB", d)] {
            match (s, o) {
                (Outcome::Ok { rows: a, .. }, Outcome::Ok { rows: b, .. }) => {
                    match compare(a, b, q.ordered) {
                        None => eq.push(format!("= {other}")),
                        Some(diff) => {
                            eq.push(format!("MISMATCH vs {other}: {diff}"));
                            mismatched.push(format!("{} vs {other}", q.name));
                        }
                    }
                }
                (_, Outcome::Err(e)) => eq.push(format!("{other} error: {e}")),
                _ => {}
            }
        }
        if let (Outcome::Err(_), Outcome::Ok { rows: a, .. }, Outcome::Ok { rows: b, .. }) =
            (s, p, d)
        {
            eq.push(match compare(a, b, q.ordered) {
                None => "PostgreSQL = DuckDB".into(),
                Some(diff) => format!("PostgreSQL vs DuckDB: {diff}"),
            });
        }
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            q.name,
            ms_text(s),
            ms_text(p),
            ms_text(d),
            x(rp),
            x(rd),
            nrows,
            cell_text(&eq.join("; "))
        );
    }
    let g = |v: &[f64]| {
        geomean(v)
            .map(|g| format!("**{g:.2}x** ({} queries)", v.len()))
            .unwrap_or_else(|| "-".into())
    };
    let _ = writeln!(
        md,
        "| **geometric mean** | | | | {} | {} | | |",
        g(&vs_pg),
        g(&vs_duck)
    );
    let _ = writeln!(
        md,
        "\nFailed on Strata: {}. Mismatches: {}.",
        if failed.is_empty() {
            "none".to_string()
        } else {
            failed.join(", ")
        },
        if mismatched.is_empty() {
            "none".to_string()
        } else {
            mismatched.join(", ")
        }
    );
    for n in &notes {
        let _ = writeln!(md, "\nNote: {n}");
    }
    if std::env::var("STRATA_BENCH_SHOW_SQL").is_ok() {
        let _ = writeln!(md, "\n## Queries\n");
        for q in &queries {
            let _ = writeln!(md, "- {}: `{}`", q.name, q.sql);
        }
    }
    println!("\n{md}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tsbs-bench.md");
    let _ = std::fs::create_dir_all(out.parent().unwrap_or(Path::new(".")));
    let _ = std::fs::write(&out, &md);
}
