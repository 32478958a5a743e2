//! Shared by the benchmarks: TSBS-cpu-like rows, loading them over the wire, starting a
//! Strata server, reading a process's peak RSS.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::SinkExt;
use tokio_postgres::NoTls;

pub const METRICS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];
pub const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-south-1"];
pub const START_EPOCH: i64 = 1_704_067_200; // 2024-01-01 00:00:00 UTC

pub fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// Deterministic row `i` as one COPY text line (tab separated) and as a VALUES tuple.
pub fn row(i: u64, hosts: u64, line: &mut String, tuple: Option<&mut String>) {
    let h = i % hosts;
    let t = START_EPOCH + (i / hosts) as i64 * 10;
    let ts = chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S+00");
    let region = REGIONS[(h % 3) as usize];
    let dc = format!("{}{}", region, ['a', 'b', 'c'][(h % 3) as usize]);
    line.clear();
    let _ = write!(line, "{ts}\thost_{h}\t{region}\t{dc}");
    let mut x = i
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut vals = [0f64; 10];
    for v in vals.iter_mut() {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51afd7ed558ccd);
        *v = (x % 10000) as f64 / 100.0;
        let _ = write!(line, "\t{v}");
    }
    line.push('\n');
    if let Some(tp) = tuple {
        let _ = write!(tp, "('{ts}','host_{h}','{region}','{dc}'");
        for v in vals {
            let _ = write!(tp, ",{v}");
        }
        tp.push(')');
    }
}

pub const CREATE: &str = "CREATE TABLE cpu (time timestamptz NOT NULL, hostname text, region text, datacenter text, \
    usage_user double precision, usage_system double precision, usage_idle double precision, usage_nice double precision, \
    usage_iowait double precision, usage_irq double precision, usage_softirq double precision, usage_steal double precision, \
    usage_guest double precision, usage_guest_nice double precision)";

pub fn peak_rss_kb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Sum of the peak RSS of a process and its children (PostgreSQL is multi-process).
pub fn peak_rss_tree_kb(pid: u32) -> u64 {
    let mut total = peak_rss_kb(pid);
    if let Ok(children) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
        for c in children.split_whitespace().filter_map(|c| c.parse().ok()) {
            total += peak_rss_kb(c);
        }
    }
    total
}

pub fn dir_size(p: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let m = match e.metadata() {
                Ok(m) => m,
                Err(_) => continue,
            };
            n += if m.is_dir() {
                dir_size(&e.path())
            } else {
                m.len()
            };
        }
    }
    n
}

pub async fn connect(conn: &str) -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(conn, NoTls).await.expect("connect");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    c
}

const COPY_CHUNK: u64 = 65_536;
const INSERT_BATCH: u64 = 1000;

/// The row ranges `offset..offset + rows` in chunks of `batch`, dealt to `conns`
/// connections in turn (connection `c` takes chunks `c, c + conns, ...`).
fn ranges(rows: u64, batch: u64, conns: usize, offset: u64) -> Vec<Vec<(u64, u64)>> {
    let mut out = vec![vec![]; conns];
    for (k, i) in (0..rows).step_by(batch as usize).enumerate() {
        out[k % conns].push((offset + i, offset + (i + batch).min(rows)));
    }
    out
}

/// Rows `start..end` as COPY text.
fn copy_text(start: u64, end: u64, hosts: u64) -> bytes::Bytes {
    let mut buf = String::with_capacity(((end - start) * 120) as usize);
    let mut line = String::new();
    for r in start..end {
        row(r, hosts, &mut line, None);
        buf.push_str(&line);
    }
    bytes::Bytes::from(buf)
}

/// Rows `start..end` as one INSERT statement.
fn insert_sql(start: u64, end: u64, hosts: u64) -> String {
    let mut sql = String::with_capacity(200 + 150 * (end - start) as usize);
    sql.push_str("INSERT INTO cpu VALUES ");
    let mut line = String::new();
    for r in start..end {
        if r > start {
            sql.push(',');
        }
        row(r, hosts, &mut line, Some(&mut sql));
    }
    sql
}

/// The rows `offset..offset + rows` as COPY text: for each of `conns` connections, its
/// 64 k-row COPY payloads.
pub fn copy_payloads(rows: u64, hosts: u64, conns: usize, offset: u64) -> Vec<Vec<bytes::Bytes>> {
    per_connection(rows, COPY_CHUNK, conns, offset, |a, b| {
        copy_text(a, b, hosts)
    })
}

/// The rows `offset..offset + rows` as 1000-row INSERT statements, split over `conns`
/// connections as [`copy_payloads`] does.
pub fn insert_statements(rows: u64, hosts: u64, conns: usize, offset: u64) -> Vec<Vec<String>> {
    per_connection(rows, INSERT_BATCH, conns, offset, |a, b| {
        insert_sql(a, b, hosts)
    })
}

/// For each of `conns` connections, `make` of each of its `chunk`-row ranges ([`ranges`]).
fn per_connection<T>(
    rows: u64,
    chunk: u64,
    conns: usize,
    offset: u64,
    make: impl Fn(u64, u64) -> T,
) -> Vec<Vec<T>> {
    ranges(rows, chunk, conns, offset)
        .into_iter()
        .map(|rs| rs.into_iter().map(|(a, b)| make(a, b)).collect())
        .collect()
}

/// One `COPY cpu FROM STDIN` of `data`.
async fn copy_one(client: &tokio_postgres::Client, data: bytes::Bytes) {
    let sink = client
        .copy_in("COPY cpu FROM STDIN")
        .await
        .expect("copy_in");
    let mut sink = Box::pin(sink);
    sink.send(data).await.expect("copy data");
    sink.as_mut().finish().await.expect("copy finish");
}

/// Runs `work(client, c)` on `conns` connections at once; returns the wall time.
async fn on_connections<F, Fut>(conn: &str, conns: usize, work: F) -> Duration
where
    F: Fn(tokio_postgres::Client, usize) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let start = Instant::now();
    let mut tasks = vec![];
    for c in 0..conns {
        let client = connect(conn).await;
        tasks.push(tokio::spawn(work(client, c)));
    }
    for t in tasks {
        t.await.expect("load task");
    }
    start.elapsed()
}

/// Sends prepared COPY payloads, one connection per element of `payloads`, all at once;
/// returns the wall time. Only the sending is timed, as TSBS's loaders read
/// pre-generated data.
pub async fn send_copy(conn: &str, payloads: &[Vec<bytes::Bytes>]) -> Duration {
    on_connections(conn, payloads.len(), |client, c| {
        let chunks = payloads[c].clone();
        async move {
            for data in chunks {
                copy_one(&client, data).await;
            }
        }
    })
    .await
}

/// Sends prepared INSERT statements as [`send_copy`] sends COPY payloads.
pub async fn send_inserts(conn: &str, statements: &std::sync::Arc<Vec<Vec<String>>>) -> Duration {
    on_connections(conn, statements.len(), |client, c| {
        let statements = std::sync::Arc::clone(statements);
        async move {
            for sql in &statements[c] {
                client.batch_execute(sql).await.expect("insert");
            }
        }
    })
    .await
}

/// Generates and sends rows by COPY, chunk by chunk (generation inside the timing, so
/// memory stays flat for loads of tens of millions of rows).
pub async fn load_copy(conn: &str, rows: u64, hosts: u64, conns: usize) -> Duration {
    let parts = ranges(rows, COPY_CHUNK, conns, 0);
    on_connections(conn, conns, |client, c| {
        let mine = parts[c].clone();
        async move {
            for (a, b) in mine {
                copy_one(&client, copy_text(a, b, hosts)).await;
            }
        }
    })
    .await
}

/// Generates and sends rows by 1000-row INSERTs, statement by statement (as [`load_copy`]).
pub async fn load_insert(conn: &str, rows: u64, hosts: u64, conns: usize, offset: u64) -> Duration {
    let parts = ranges(rows, INSERT_BATCH, conns, offset);
    on_connections(conn, conns, |client, c| {
        let mine = parts[c].clone();
        async move {
            for (a, b) in mine {
                client
                    .batch_execute(&insert_sql(a, b, hosts))
                    .await
                    .expect("insert");
            }
        }
    })
    .await
}

pub fn start_strata(dir: &Path, fsync: &str) -> (Child, u16) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["serve", "--data-dir"])
        .arg(dir)
        .args(["--pg-addr", &format!("127.0.0.1:{port}"), "--fsync", fsync])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start strata");
    wait_port(port);
    (child, port)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub fn wait_port(port: u16) {
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "server on {port} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs `sql` `runs` times over the simple protocol: the median time and the last result
/// (rows as `a|b|c` text).
pub async fn timed(c: &tokio_postgres::Client, sql: &str, runs: usize) -> (Duration, Vec<String>) {
    let mut times = Vec::with_capacity(runs);
    let mut last = vec![];
    for _ in 0..runs {
        let t = Instant::now();
        let rows = c.simple_query(sql).await.expect("query");
        times.push(t.elapsed());
        last = rows
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                    (0..r.len())
                        .map(|i| r.get(i).unwrap_or("NULL").to_string())
                        .collect::<Vec<_>>()
                        .join("|"),
                ),
                _ => None,
            })
            .collect();
    }
    (median(times), last)
}

// ------------------------------------------------------------------ PostgreSQL 15

/// Runs a command as the unprivileged `postgres`-like user `pgbench` (PostgreSQL refuses root).
pub fn as_pg_user(cmd: &str) -> Command {
    let root = std::env::var("USER").map(|u| u == "root").unwrap_or(false) || unsafe_is_root();
    if root {
        let _ = Command::new("useradd")
            .args(["-m", "strata_pg"])
            .stderr(Stdio::null())
            .status();
        let mut c = Command::new("runuser");
        c.args(["-u", "strata_pg", "--", "bash", "-c", cmd]);
        c
    } else {
        let mut c = Command::new("bash");
        c.args(["-c", cmd]);
        c
    }
}

pub fn unsafe_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

pub fn start_postgres(dir: &Path) -> Option<(u16, PathBuf)> {
    let bin = ["/usr/lib/postgresql/15/bin", "/usr/local/bin", "/usr/bin"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("initdb").exists())?;
    let _ = std::fs::create_dir_all(dir);
    let _ = Command::new("chmod").args(["777"]).arg(dir).status();
    let port = free_port();
    let data = dir.join("pgdata");
    let d = data.display();
    let b = bin.display();
    let ok = as_pg_user(&format!(
        "{b}/initdb -D {d} -U strata --auth=trust -E UTF8 >/dev/null"
    ))
    .status()
    .ok()?
    .success();
    if !ok {
        return None;
    }
    let ok = as_pg_user(&format!(
        "{b}/pg_ctl -D {d} -l {d}/log -o \"-p {port} -k {d} -c listen_addresses=127.0.0.1 -c shared_buffers=1GB -c max_wal_size=4GB -c fsync=on -c synchronous_commit=on\" -w start >/dev/null"
    ))
    .status()
    .ok()?
    .success();
    ok.then_some((port, data))
}

pub fn stop_postgres(data: &Path) {
    let bin = ["/usr/lib/postgresql/15/bin", "/usr/local/bin", "/usr/bin"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("pg_ctl").exists());
    if let Some(b) = bin {
        let _ = as_pg_user(&format!(
            "{}/pg_ctl -D {} -m fast stop >/dev/null",
            b.display(),
            data.display()
        ))
        .status();
    }
}

pub fn pg_postmaster_pid(data: &Path) -> u32 {
    std::fs::read_to_string(data.join("postmaster.pid"))
        .ok()
        .and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok()))
        .unwrap_or(0)
}
