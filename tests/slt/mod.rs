//! The sqllogictest database adapter: a tokio-postgres connection speaking the simple query
//! protocol to either Strata or PostgreSQL, plus the `RESTART SERVER` control statement.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Record, RecordOutput};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use crate::common::TestServer;
use crate::common::pg;

/// Longest a single statement may run before the record fails.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Strata,
    Postgres,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Strata => "strata",
            Engine::Postgres => "postgres",
        }
    }
}

/// One file against one engine.
#[derive(Debug, Clone)]
pub struct Job {
    pub file: PathBuf,
    pub engine: Engine,
}

/// The result of one job.
#[derive(Debug)]
pub struct FileReport {
    pub file: String,
    pub engine: Engine,
    pub passed: usize,
    pub skipped: usize,
    /// Rendered failures (location, SQL, expected/actual).
    pub failures: Vec<String>,
    /// A failure that stopped the file (server did not start, parse error).
    pub fatal: Option<String>,
    /// Things that happened to the server (crash, restart) worth showing.
    pub incidents: Vec<String>,
    pub elapsed: Duration,
}

impl FileReport {
    pub fn label(&self) -> String {
        match self.engine {
            Engine::Strata => self.file.clone(),
            Engine::Postgres => format!("{} [postgres]", self.file),
        }
    }

    pub fn print(&self) {
        let mut out = String::new();
        let status = if self.failures.is_empty() && self.fatal.is_none() {
            "ok"
        } else {
            "FAILED"
        };
        out.push_str(&format!(
            "{:<40} {status}: {} passed, {} failed{} ({:.1}s)\n",
            self.label(),
            self.passed,
            self.failures.len(),
            if self.skipped > 0 {
                format!(", {} skipped", self.skipped)
            } else {
                String::new()
            },
            self.elapsed.as_secs_f64()
        ));
        for f in &self.failures {
            for line in f.lines() {
                out.push_str("    ");
                out.push_str(line);
                out.push('\n');
            }
            out.push('\n');
        }
        if let Some(f) = &self.fatal {
            out.push_str(&format!("    FATAL: {f}\n"));
        }
        for i in &self.incidents {
            for line in i.lines() {
                out.push_str("    ! ");
                out.push_str(line);
                out.push('\n');
            }
        }
        print!("{out}");
    }
}

/// The server a file runs against.
enum Target {
    Strata(TestServer),
    Postgres(pg::Cluster),
}

impl Target {
    fn conn_str(&self) -> String {
        match self {
            Target::Strata(s) => s.conn_str(),
            Target::Postgres(p) => p.conn_str(),
        }
    }

    /// `clean`: graceful shutdown (SIGTERM / pg_ctl -m fast); otherwise a crash (SIGKILL /
    /// pg_ctl -m immediate). Then start again on the same data directory.
    fn restart(&mut self, clean: bool) -> Result<(), String> {
        match self {
            Target::Strata(s) => {
                if clean && !s.stop() {
                    return Err(format!(
                        "strata did not exit cleanly on SIGTERM; log tail:\n{}",
                        tail(&s.log(), 30)
                    ));
                }
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.restart())).map_err(
                    |_| format!("strata did not restart; log tail:\n{}", tail(&s.log(), 30)),
                )
            }
            Target::Postgres(p) => p.restart(clean),
        }
    }

    fn log_tail(&self) -> String {
        match self {
            Target::Strata(s) => tail(&s.log(), 30),
            Target::Postgres(p) => p.log_tail(30),
        }
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// State shared by all connections of one file.
struct Backend {
    target: Target,
    /// Bumped on every restart so other connections reconnect.
    generation: u64,
    incidents: Vec<String>,
}

type Shared = Arc<Mutex<Backend>>;

/// The error type handed to sqllogictest: its text is what `statement error <regex>` matches.
#[derive(Debug)]
pub struct SltError(String);

impl fmt::Display for SltError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

/// `db error: ERROR 42P01: relation "x" does not exist` for server errors.
fn render_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "db error: {} {}: {}",
            db.severity(),
            db.code().code(),
            db.message()
        ),
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(c) = src {
                s.push_str(&format!(": {c}"));
                src = c.source();
            }
            s
        }
    }
}

/// One connection (sqllogictest's `connection NAME` records make more than one).
pub struct Conn {
    shared: Shared,
    engine: Engine,
    client: Option<Client>,
    generation: u64,
}

async fn connect(conn_str: &str) -> Result<Client, String> {
    let mut cfg: tokio_postgres::Config = conn_str
        .parse()
        .map_err(|e: tokio_postgres::Error| e.to_string())?;
    cfg.connect_timeout(Duration::from_secs(10));
    let (client, connection) = tokio::time::timeout(Duration::from_secs(15), cfg.connect(NoTls))
        .await
        .map_err(|_| "timed out connecting".to_string())?
        .map_err(|e| render_error(&e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

impl Conn {
    async fn new(shared: Shared, engine: Engine) -> Result<Conn, SltError> {
        let mut c = Conn {
            shared,
            engine,
            client: None,
            generation: 0,
        };
        c.ensure_connected().await?;
        Ok(c)
    }

    /// (Re)connects when there is no usable client or the server was restarted. If the server
    /// cannot be reached (it crashed), records an incident and restarts it.
    async fn ensure_connected(&mut self) -> Result<(), SltError> {
        let (conn_str, generation) = {
            let b = self.shared.lock().unwrap();
            (b.target.conn_str(), b.generation)
        };
        if generation == self.generation
            && let Some(c) = &self.client
            && !c.is_closed()
        {
            return Ok(());
        }
        self.client = None;
        match connect(&conn_str).await {
            Ok(c) => {
                self.client = Some(c);
                self.generation = generation;
                Ok(())
            }
            Err(first) => {
                // The server is gone: note it, restart it, and carry on with the file.
                let (conn_str, generation) = {
                    let mut b = self.shared.lock().unwrap();
                    let note = format!(
                        "server unreachable ({first}); restarting it. Log tail:\n{}",
                        b.target.log_tail()
                    );
                    b.incidents.push(note);
                    if let Err(e) = b.target.restart(false) {
                        b.incidents.push(e.clone());
                        return Err(SltError(format!(
                            "server down and could not be restarted: {e}"
                        )));
                    }
                    b.generation += 1;
                    (b.target.conn_str(), b.generation)
                };
                let c = connect(&conn_str).await.map_err(SltError)?;
                self.client = Some(c);
                self.generation = generation;
                Ok(())
            }
        }
    }

    async fn restart_server(&mut self, clean: bool) -> Result<(), SltError> {
        self.client = None;
        {
            let mut b = self.shared.lock().unwrap();
            b.target.restart(clean).map_err(SltError)?;
            b.generation += 1;
        }
        self.ensure_connected().await
    }
}

/// Recognizes the restart control statements: `RESTART SERVER` (crash: SIGKILL) and
/// `RESTART SERVER CLEAN` (graceful: SIGTERM, wait for exit).
fn restart_control(sql: &str) -> Option<bool> {
    let norm = sql
        .trim()
        .trim_end_matches(';')
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase();
    match norm.as_str() {
        "RESTART SERVER" => Some(false),
        "RESTART SERVER CLEAN" => Some(true),
        _ => None,
    }
}

fn value_text(v: Option<&str>) -> String {
    match v {
        None => "NULL".to_string(),
        Some("") => "(empty)".to_string(),
        Some(s) => s.to_string(),
    }
}

#[async_trait]
impl AsyncDB for Conn {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        if let Some(clean) = restart_control(sql) {
            self.restart_server(clean).await?;
            return Ok(DBOutput::StatementComplete(0));
        }
        self.ensure_connected().await?;
        let client = self.client.as_ref().expect("connected");
        let msgs = match tokio::time::timeout(STATEMENT_TIMEOUT, client.simple_query(sql)).await {
            Err(_) => {
                self.client = None;
                return Err(SltError(format!(
                    "statement timed out after {}s",
                    STATEMENT_TIMEOUT.as_secs()
                )));
            }
            Ok(Err(e)) => {
                if e.as_db_error().is_none() {
                    // Connection-level failure: make the next record reconnect.
                    self.client = None;
                }
                return Err(SltError(render_error(&e)));
            }
            Ok(Ok(m)) => m,
        };
        // The last statement of the string decides the output.
        let mut columns: Option<usize> = None;
        let mut rows: Vec<Vec<String>> = vec![];
        let mut count = 0u64;
        for m in msgs {
            match m {
                SimpleQueryMessage::RowDescription(cols) => {
                    columns = Some(cols.len());
                    rows.clear();
                }
                SimpleQueryMessage::Row(r) => {
                    if columns.is_none() {
                        columns = Some(r.len());
                    }
                    rows.push((0..r.len()).map(|i| value_text(r.get(i))).collect());
                }
                SimpleQueryMessage::CommandComplete(n) => count = n,
                _ => {}
            }
        }
        match columns {
            Some(n) => Ok(DBOutput::Rows {
                types: vec![DefaultColumnType::Any; n],
                rows,
            }),
            None => Ok(DBOutput::StatementComplete(count)),
        }
    }

    async fn shutdown(&mut self) {
        self.client = None;
    }

    fn engine_name(&self) -> &str {
        self.engine.name()
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await;
    }
}

/// Runs one file against a fresh server of the job's engine.
pub async fn run_job(job: &Job) -> FileReport {
    let started = Instant::now();
    let file = job.file.file_name().unwrap().to_string_lossy().to_string();
    let mut report = FileReport {
        file,
        engine: job.engine,
        passed: 0,
        skipped: 0,
        failures: vec![],
        fatal: None,
        incidents: vec![],
        elapsed: Duration::ZERO,
    };

    let records = match sqllogictest::parse_file::<DefaultColumnType>(&job.file) {
        Ok(r) => r,
        Err(e) => {
            report.fatal = Some(format!("parse error: {e}"));
            return report;
        }
    };

    let target = match job.engine {
        Engine::Strata => match std::panic::catch_unwind(TestServer::start) {
            Ok(s) => Target::Strata(s),
            Err(_) => {
                report.fatal = Some("strata did not start".into());
                return report;
            }
        },
        Engine::Postgres => match pg::Cluster::start().await {
            Ok(c) => Target::Postgres(c),
            Err(e) => {
                report.fatal = Some(format!("postgres did not start: {e}"));
                return report;
            }
        },
    };
    let shared: Shared = Arc::new(Mutex::new(Backend {
        target,
        generation: 0,
        incidents: vec![],
    }));
    let engine = job.engine;
    let make = {
        let shared = Arc::clone(&shared);
        move || {
            let shared = Arc::clone(&shared);
            async move { Conn::new(shared, engine).await }
        }
    };
    let mut runner = sqllogictest::Runner::new(make);
    runner.add_label(engine.name());

    for record in records {
        if matches!(record, Record::Halt { .. }) {
            break;
        }
        let counts = matches!(
            record,
            Record::Statement { .. } | Record::Query { .. } | Record::System { .. }
        );
        match runner.run_async(record).await {
            Ok(RecordOutput::Nothing) => {
                if counts {
                    report.skipped += 1;
                }
            }
            Ok(_) => report.passed += 1,
            Err(e) => report.failures.push(e.display(false).to_string()),
        }
    }
    runner.shutdown_async().await;
    drop(runner);
    let backend = Arc::try_unwrap(shared)
        .ok()
        .map(|m| m.into_inner().unwrap());
    if let Some(b) = backend {
        report.incidents = b.incidents;
        drop(b.target);
    }
    report.elapsed = started.elapsed();
    report
}
