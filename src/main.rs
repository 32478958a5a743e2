//! The `strata` binary: `strata serve [--data-dir DIR] [--pg-addr HOST:PORT] [--config FILE]`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use strata::config::Config;

/// mimalloc instead of the system allocator. With glibc's malloc, every large buffer of the
/// ingest path (COPY chunks, WAL records, the memtable's concatenations, flush sorts) was a
/// fresh `mmap` whose pages the kernel zeroes on first touch: `perf` showed 44 % of a COPY's
/// server time in `clear_page_erms`. mimalloc keeps freed segments for reuse.
///
/// Built with `no_thp`: mimalloc otherwise asks for transparent huge pages on its arenas,
/// and each first touch of a 2 MiB page (and each touch after mimalloc has purged part of
/// one) makes the kernel zero all of it. A 432 k-row COPY spent 40-70 % of the server's
/// time in `clear_page_erms` under `do_huge_pmd_anonymous_page`; without huge pages the
/// same COPY takes 0.25-0.38 s instead of 0.28-0.46 s (docs/performance.md, "Session 11"),
/// and queries are unchanged.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Strata: a time-series database that speaks the PostgreSQL wire protocol.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the server. Connect with `psql -h 127.0.0.1 -p 5433 -U strata`.
    ///
    /// Authentication: on a loopback address (the default 127.0.0.1) clients are trusted;
    /// on any other address the default is SCRAM-SHA-256 and the server refuses to start
    /// until the superuser `strata` has a password (STRATA_PASSWORD or --password-file).
    /// Other users: CREATE ROLE name LOGIN PASSWORD '...'.
    Serve {
        /// Directory holding the catalog, WAL and Parquet files (created if missing).
        /// Default: ./strata-data
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Address for PostgreSQL clients. Default: 127.0.0.1:5433
        #[arg(long, value_name = "HOST:PORT")]
        pg_addr: Option<SocketAddr>,
        /// TOML file with settings (data_dir, pg_addr, memtable_budget_mb, query_memory_mb,
        /// flush_interval_secs, fsync, max_message_mb, max_connections, cold_store, cold_cache_mb,
        /// auth, password_file, tls_cert, tls_key, tls_required and a [cold_store_options]
        /// table). Flags override it.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// `always` (default): acknowledge writes after fsync. `never`: faster, but a
        /// power loss can lose acknowledged rows.
        #[arg(long, value_name = "always|never")]
        fsync: Option<String>,
        /// Memory (MB) for in-memory tables before writers wait for a flush. Default 512.
        #[arg(long, value_name = "MB")]
        memtable_budget_mb: Option<usize>,
        /// Object store for cold partitions (tiering policies move old partitions there):
        /// file:///dir, s3://bucket/prefix, gs://bucket/prefix, az://container/prefix.
        /// Credentials come from the environment (AWS_ACCESS_KEY_ID, AWS_ENDPOINT, ...).
        /// Default: <data-dir>/cold
        #[arg(long, value_name = "URL")]
        cold_store: Option<String>,
        /// How clients authenticate: `trust` (no password), `password` (cleartext password
        /// message; use with TLS) or `scram` (SCRAM-SHA-256). Default: trust if --pg-addr is
        /// a loopback address, scram otherwise.
        #[arg(long, value_name = "trust|password|scram")]
        auth: Option<String>,
        /// File whose first line is the password of the superuser `strata` (instead of the
        /// STRATA_PASSWORD environment variable).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// PEM certificate (chain) for TLS; clients can then connect with sslmode=require
        /// or verify-full. Needs --tls-key.
        #[arg(long, value_name = "FILE")]
        tls_cert: Option<PathBuf>,
        /// PEM private key of --tls-cert.
        #[arg(long, value_name = "FILE")]
        tls_key: Option<PathBuf>,
        /// Refuse connections that do not use TLS (needs --tls-cert and --tls-key).
        #[arg(long)]
        tls_required: bool,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let Command::Serve {
        data_dir,
        pg_addr,
        config,
        fsync,
        memtable_budget_mb,
        cold_store,
        auth,
        password_file,
        tls_cert,
        tls_key,
        tls_required,
    } = cli.command;
    let mut cfg = Config::default();
    if let Some(path) = config {
        cfg = match cfg.load_file(&path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("strata: {e}");
                return ExitCode::from(2);
            }
        };
    }
    if let Some(d) = data_dir {
        cfg.data_dir = d;
    }
    if let Some(a) = pg_addr {
        cfg.pg_addr = a;
    }
    if let Some(f) = fsync {
        cfg.fsync = f;
    }
    if let Some(c) = cold_store {
        cfg.cold_store = Some(c);
    }
    if let Some(m) = memtable_budget_mb {
        cfg.memtable_budget_bytes = m * 1024 * 1024;
    }
    if let Some(a) = auth {
        cfg.auth = match a.parse() {
            Ok(m) => Some(m),
            Err(e) => {
                eprintln!("strata: {e}");
                return ExitCode::from(2);
            }
        };
    }
    if let Some(p) = password_file {
        cfg.password_file = Some(p);
    }
    if let Some(p) = tls_cert {
        cfg.tls_cert = Some(p);
    }
    if let Some(p) = tls_key {
        cfg.tls_key = Some(p);
    }
    if tls_required {
        cfg.tls_required = true;
    }
    if let Err(e) = cfg.validate() {
        eprintln!("strata: {e}");
        return ExitCode::from(2);
    }
    // Sessions run here: the same stacks as the execution runtime's (an unoptimised
    // build's `Session::execute` alone takes about 0.5 MB).
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(strata_sql::exec::THREAD_STACK_BYTES)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("strata: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(strata::run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strata: {e}");
            ExitCode::FAILURE
        }
    }
}
