//! Test support: a real `strata` server process on a free port with its own data directory.
//!
//! `TestServer::start()` runs the binary Cargo built for this test run
//! (`CARGO_BIN_EXE_strata`), waits until it accepts PostgreSQL connections, and kills it
//! on drop. `kill9()` + `restart()` simulate a crash on the same data directory.

#![allow(dead_code)]

pub mod moto;
pub mod pg;
pub mod pki;
pub mod transcript;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server.
pub struct TestServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    extra_args: Vec<String>,
    extra_env: Vec<(String, String)>,
}

/// A free TCP port on loopback (bind :0, read it, release it).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind :0");
    l.local_addr().expect("addr").port()
}

impl TestServer {
    /// Starts a server on a fresh data directory.
    pub fn start() -> TestServer {
        Self::start_with(&[])
    }

    /// Starts a server with extra `serve` arguments.
    pub fn start_with(args: &[&str]) -> TestServer {
        Self::start_with_env(args, &[])
    }

    /// Starts a server with extra `serve` arguments and environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = TestServer {
            child: None,
            port: 0,
            dir,
            extra_args: args.iter().map(|s| s.to_string()).collect(),
            extra_env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        s.spawn();
        s
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn spawn(&mut self) {
        for _ in 0..5 {
            let port = free_port();
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.path().join("server.log"))
                .expect("log");
            let child = Command::new(env!("CARGO_BIN_EXE_strata"))
                .arg("serve")
                .arg("--data-dir")
                .arg(self.data_dir())
                .arg("--pg-addr")
                .arg(format!("127.0.0.1:{port}"))
                .args(&self.extra_args)
                .envs(self.extra_env.iter().map(|(k, v)| (k, v)))
                .env(
                    "RUST_LOG",
                    std::env::var("STRATA_TEST_LOG").unwrap_or_else(|_| "warn".into()),
                )
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn strata");
            self.child = Some(child);
            self.port = port;
            if self.wait_ready(Duration::from_secs(30)) {
                return;
            }
            self.kill9();
        }
        panic!("strata did not start; log:\n{}", self.log());
    }

    fn wait_ready(&mut self, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(_)) = c.try_wait()
            {
                return false;
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// A libpq-style connection string.
    pub fn conn_str(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=strata dbname=strata",
            self.port
        )
    }

    /// Connects with tokio-postgres (the connection task is spawned).
    pub async fn connect(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.conn_str(), tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }

    /// SIGKILL: no flush, no clean shutdown.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns whether it exited successfully.
    pub fn stop(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return true;
        };
        unsafe_sigterm(c.id());
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    /// Starts the server again on the same data directory (after `kill9` or `stop`).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Runs psql against the server with `args`, returning (status ok, stdout, stderr).
    pub fn psql(&self, args: &[&str]) -> (bool, String, String) {
        psql_at(self.port, args)
    }
}

/// Sends SIGTERM using the `kill` command (no libc dependency in tests).
fn unsafe_sigterm(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

/// Runs psql against 127.0.0.1:`port`.
pub fn psql_at(port: u16, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("psql")
        .args([
            "-X",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "strata",
            "-d",
            "strata",
            "-v",
            "ON_ERROR_STOP=1",
        ])
        .args(args)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("run psql");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// True if `path` exists (helper for recovery tests).
pub fn exists(p: &Path) -> bool {
    p.exists()
}
