//! sqllogictest runner for Strata (harness = false).
//!
//! Every `.slt` file under `sqllogictest/` runs against a fresh `strata serve` (fresh data
//! directory). Files named `pg_compat_*.slt` run a second time against a real PostgreSQL
//! started by this runner (skipped with a notice when no PostgreSQL binaries are found), and
//! must produce the same results there.
//!
//! Usage: `cargo test --test sqllogictests [-- [FILTER...] [--skip S] [--jobs N] [--no-pg] [--pg-only]]`
//! (FILTER: a substring of the file name; libtest flags such as `--nocapture` or
//! `--test-threads=2` are accepted and ignored). See `sqllogictest/README.md`.

mod common;
mod slt;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use slt::{Engine, FileReport, Job};

fn usage() -> &'static str {
    "usage: sqllogictests [FILTER...] [--skip SUBSTRING] [--jobs N] [--no-pg] [--pg-only] [--list]"
}

struct Args {
    filters: Vec<String>,
    skips: Vec<String>,
    jobs: usize,
    no_pg: bool,
    /// Run every selected file against PostgreSQL only (to check expectations by hand).
    pg_only: bool,
    list: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        filters: vec![],
        skips: vec![],
        jobs: 2,
        no_pg: false,
        pg_only: false,
        list: false,
    };
    if let Ok(j) = std::env::var("SLT_JOBS")
        && let Ok(n) = j.parse::<usize>()
    {
        a.jobs = n.max(1);
    }
    if std::env::var("SLT_NO_PG").is_ok_and(|v| v == "1") {
        a.no_pg = true;
    }
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--skip" => a.skips.extend(it.next()),
            "--jobs" | "-j" => {
                if let Some(n) = it.next().and_then(|v| v.parse::<usize>().ok()) {
                    a.jobs = n.max(1);
                }
            }
            "--no-pg" => a.no_pg = true,
            "--pg-only" => a.pg_only = true,
            "--list" => a.list = true,
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            // libtest flags that take a value: swallow the value.
            "--test-threads" | "--color" | "--format" | "--logfile" | "-Z" | "--report-time"
            | "--shuffle-seed" => {
                let _ = it.next();
            }
            s if s.starts_with("--jobs=") => {
                if let Ok(n) = s["--jobs=".len()..].parse::<usize>() {
                    a.jobs = n.max(1);
                }
            }
            s if s.starts_with("--skip=") => a.skips.push(s["--skip=".len()..].to_string()),
            // Any other flag (--nocapture, --test-threads=N, --exact, -q, --ignored, ...) is ignored.
            s if s.starts_with('-') => {}
            s => a.filters.push(s.to_string()),
        }
    }
    a
}

fn slt_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .collect();
    files.sort();
    files
}

fn main() {
    let args = parse_args();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sqllogictest");
    let files: Vec<PathBuf> = slt_files(&dir)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            (args.filters.is_empty() || args.filters.iter().any(|f| name.contains(f.as_str())))
                && !args.skips.iter().any(|s| name.contains(s.as_str()))
        })
        .collect();

    let mut jobs: Vec<Job> = if args.pg_only {
        vec![]
    } else {
        files
            .iter()
            .map(|f| Job {
                file: f.clone(),
                engine: Engine::Strata,
            })
            .collect()
    };
    let pg_files: Vec<&PathBuf> = files
        .iter()
        .filter(|f| {
            args.pg_only
                || f.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("pg_compat_")
        })
        .collect();
    if args.list {
        for j in &jobs {
            println!("{}: test", j.file.file_name().unwrap().to_string_lossy());
        }
        for f in &pg_files {
            println!(
                "{} [postgres]: test",
                f.file_name().unwrap().to_string_lossy()
            );
        }
        return;
    }
    if !pg_files.is_empty() {
        if args.no_pg {
            println!("note: --no-pg given; pg_compat files run against Strata only");
        } else {
            match common::pg::find_binaries() {
                Some(bins) => {
                    println!(
                        "note: pg_compat files also run against PostgreSQL ({})",
                        bins.version
                    );
                    // PostgreSQL runs are quick; queue them last.
                    jobs.extend(pg_files.iter().map(|f| Job {
                        file: (*f).clone(),
                        engine: Engine::Postgres,
                    }));
                }
                None => println!(
                    "NOTICE: PostgreSQL binaries (initdb, pg_ctl) not found; pg_compat files run against Strata only"
                ),
            }
        }
    }

    let started = Instant::now();
    let total_jobs = jobs.len();
    let queue = Arc::new(Mutex::new(
        jobs.into_iter()
            .collect::<std::collections::VecDeque<Job>>(),
    ));
    let reports: Arc<Mutex<Vec<FileReport>>> = Arc::new(Mutex::new(vec![]));
    let workers = args.jobs.min(total_jobs.max(1));
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let queue = Arc::clone(&queue);
            let reports = Arc::clone(&reports);
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                loop {
                    let Some(job) = queue.lock().unwrap().pop_front() else {
                        break;
                    };
                    let report = rt.block_on(slt::run_job(&job));
                    report.print();
                    reports.lock().unwrap().push(report);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("worker thread panicked");
    }
    common::pg::cleanup_template();

    let reports = reports.lock().unwrap();
    let passed: usize = reports.iter().map(|r| r.passed).sum();
    let failed: usize = reports
        .iter()
        .map(|r| r.failures.len() + usize::from(r.fatal.is_some()))
        .sum();
    let skipped: usize = reports.iter().map(|r| r.skipped).sum();
    let bad_files: Vec<String> = reports
        .iter()
        .filter(|r| !r.failures.is_empty() || r.fatal.is_some())
        .map(|r| r.label())
        .collect();
    println!();
    println!(
        "{} file run(s) in {:.1}s; {} with failures{}",
        reports.len(),
        started.elapsed().as_secs_f64(),
        bad_files.len(),
        if bad_files.is_empty() {
            String::new()
        } else {
            format!(": {}", bad_files.join(", "))
        }
    );
    println!("sqllogictests: {passed} passed, {failed} failed, {skipped} skipped");
    if failed > 0 || !bad_files.is_empty() {
        std::process::exit(1);
    }
}
