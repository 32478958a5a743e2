//! A throwaway PostgreSQL 15 cluster: the reference for `pg_compat_*.slt` files and for the
//! client transcripts (`transcript.rs`).
//!
//! `initdb` runs once per test run into a template directory (trust auth, superuser
//! `strata`, C locale, UTF8); each file gets a copy of the template, started with
//! `pg_ctl` on a free loopback port, its Unix socket in its own directory, TimeZone UTC,
//! and a database `strata`. PostgreSQL refuses to run as root: when the runner is root it
//! runs the server commands as the user `pgtest` (created with `useradd -m pgtest` if
//! missing).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use super::free_port;

#[derive(Debug, Clone)]
pub struct Binaries {
    pub initdb: PathBuf,
    pub pg_ctl: PathBuf,
    pub version: String,
}

fn in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// initdb and pg_ctl from PATH, else from /usr/lib/postgresql/*/bin (newest first).
pub fn find_binaries() -> Option<Binaries> {
    let (initdb, pg_ctl) = match (in_path("initdb"), in_path("pg_ctl")) {
        (Some(i), Some(p)) => (i, p),
        _ => {
            let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                .ok()?
                .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .collect();
            dirs.sort();
            let d = dirs
                .into_iter()
                .rev()
                .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())?;
            (d.join("initdb"), d.join("pg_ctl"))
        }
    };
    let out = Command::new(&initdb).arg("--version").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Some(Binaries {
        initdb,
        pg_ctl,
        version,
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The user the PostgreSQL commands run as (None: the current user) and its uid/gid.
fn run_as() -> Result<Option<(String, u32, u32)>, String> {
    if !is_root() {
        return Ok(None);
    }
    let user = "pgtest";
    let id = |flag: &str| -> Option<u32> {
        let o = Command::new("id").arg(flag).arg(user).output().ok()?;
        if !o.status.success() {
            return None;
        }
        String::from_utf8_lossy(&o.stdout).trim().parse().ok()
    };
    if id("-u").is_none() {
        let st = Command::new("useradd")
            .args(["-m", user])
            .status()
            .map_err(|e| format!("useradd: {e}"))?;
        if !st.success() {
            return Err(format!("useradd -m {user} failed"));
        }
    }
    match (id("-u"), id("-g")) {
        (Some(u), Some(g)) => Ok(Some((user.to_string(), u, g))),
        _ => Err(format!("no uid for {user}")),
    }
}

fn command(user: &Option<(String, u32, u32)>, program: &Path) -> Command {
    match user {
        None => Command::new(program),
        Some((u, _, _)) => {
            let mut c = Command::new("runuser");
            c.args(["-u", u, "--"]).arg(program);
            c
        }
    }
}

fn run(mut c: Command, what: &str) -> Result<(), String> {
    let out = c.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn chown(p: &Path, user: &Option<(String, u32, u32)>) -> Result<(), String> {
    if let Some((_, uid, gid)) = user {
        std::os::unix::fs::chown(p, Some(*uid), Some(*gid))
            .map_err(|e| format!("chown {}: {e}", p.display()))?;
    }
    Ok(())
}

struct Template {
    bins: Binaries,
    user: Option<(String, u32, u32)>,
    dir: tempfile::TempDir,
}

impl Template {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

static TEMPLATE: OnceLock<Mutex<Option<Result<Template, String>>>> = OnceLock::new();

fn template_cell() -> &'static Mutex<Option<Result<Template, String>>> {
    TEMPLATE.get_or_init(|| Mutex::new(None))
}

/// Prefix of template directories; the creating process's id follows it.
const TEMPLATE_PREFIX: &str = "slt-pg-template-";

/// Removes the template directories of test processes that have exited. A template lives
/// in a static, which is never dropped: only the SQL suite removes its own at the end
/// ([`cleanup_template`]), so every other test binary that started a cluster left ~40 MB
/// in the temporary directory on each run (hundreds of them filled a CI disk).
fn remove_stale_templates() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(TEMPLATE_PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn make_template() -> Result<Template, String> {
    let bins = find_binaries().ok_or("PostgreSQL binaries not found")?;
    let user = run_as()?;
    remove_stale_templates();
    let dir = tempfile::Builder::new()
        .prefix(&format!("{TEMPLATE_PREFIX}{}-", std::process::id()))
        .tempdir()
        .map_err(|e| e.to_string())?;
    chown(dir.path(), &user)?;
    let t = Template { bins, user, dir };
    let mut c = command(&t.user, &t.bins.initdb);
    c.arg("-D").arg(t.data()).args([
        "-U",
        "strata",
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
    ]);
    run(c, "initdb")?;
    Ok(t)
}

/// Removes the template directory (call once at the end of the run).
pub fn cleanup_template() {
    if let Some(cell) = TEMPLATE.get() {
        cell.lock().unwrap().take();
    }
}

/// A running PostgreSQL cluster with its own data directory.
#[derive(Debug)]
pub struct Cluster {
    pg_ctl: PathBuf,
    user: Option<(String, u32, u32)>,
    dir: tempfile::TempDir,
    port: u16,
    running: bool,
}

impl Cluster {
    /// Copies the template and starts a server on a free port with a database `strata`.
    pub async fn start() -> Result<Cluster, String> {
        Cluster::start_prepared(|_, _| Ok(())).await
    }

    /// [`Cluster::start`] with TLS on (`ssl = on` with this certificate and key) and only
    /// TLS connections accepted to the database `strata` (`hostssl` in `pg_hba.conf`): what
    /// Strata's `--tls-cert`, `--tls-key` and `--tls-required` do.
    pub async fn start_tls_required(cert: &Path, key: &Path) -> Result<Cluster, String> {
        let (cert, key) = (cert.to_path_buf(), key.to_path_buf());
        Cluster::start_prepared(move |data, user| {
            for (from, to) in [(&cert, "server.crt"), (&key, "server.key")] {
                let to = data.join(to);
                std::fs::copy(from, &to).map_err(|e| format!("copy {}: {e}", from.display()))?;
                std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                    .map_err(|e| format!("chmod {}: {e}", to.display()))?;
                chown(&to, user)?;
            }
            let conf = data.join("postgresql.conf");
            let mut text = std::fs::read_to_string(&conf).map_err(|e| e.to_string())?;
            text.push_str(
                "\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
            );
            std::fs::write(&conf, text).map_err(|e| e.to_string())?;
            // The harness creates the database `strata` over a plain connection to `postgres`.
            std::fs::write(
                data.join("pg_hba.conf"),
                "host postgres all 127.0.0.1/32 trust\nhostssl all all 127.0.0.1/32 trust\n",
            )
            .map_err(|e| e.to_string())
        })
        .await
    }

    /// Copies the template, lets `prepare` change the data directory, then starts it.
    async fn start_prepared(
        prepare: impl Fn(&Path, &Option<(String, u32, u32)>) -> Result<(), String>,
    ) -> Result<Cluster, String> {
        let (pg_ctl, user, template_data) = {
            let mut cell = template_cell().lock().unwrap();
            if cell.is_none() {
                *cell = Some(make_template());
            }
            match cell.as_ref().unwrap() {
                Ok(t) => (t.bins.pg_ctl.clone(), t.user.clone(), t.data()),
                Err(e) => return Err(e.clone()),
            }
        };
        let dir = tempfile::Builder::new()
            .prefix("slt-pg")
            .tempdir()
            .map_err(|e| e.to_string())?;
        chown(dir.path(), &user)?;
        let mut c = match &user {
            None => Command::new("cp"),
            Some((u, _, _)) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--", "cp"]);
                c
            }
        };
        c.arg("-a").arg(&template_data).arg(dir.path().join("data"));
        run(c, "copy template")?;
        prepare(&dir.path().join("data"), &user)?;
        let mut cluster = Cluster {
            pg_ctl,
            user,
            dir,
            port: 0,
            running: false,
        };
        let mut last = String::new();
        for _ in 0..3 {
            cluster.port = free_port();
            match cluster.pg_start() {
                Ok(()) => {
                    cluster.create_db().await?;
                    return Ok(cluster);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg_start(&mut self) -> Result<(), String> {
        let mut c = command(&self.user, &self.pg_ctl);
        c.arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.data().join("server.log"))
            .args(["-w", "-t", "60", "-o"])
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c TimeZone=UTC -c lc_messages=C",
                self.port,
                self.dir.path().display()
            ))
            .arg("start");
        run(c, "pg_ctl start")?;
        self.running = true;
        Ok(())
    }

    fn pg_stop(&mut self, mode: &str) -> Result<(), String> {
        if !self.running {
            return Ok(());
        }
        let mut c = command(&self.user, &self.pg_ctl);
        c.arg("-D")
            .arg(self.data())
            .args(["-w", "-t", "60", "-m", mode, "stop"]);
        let r = run(c, "pg_ctl stop");
        self.running = false;
        r
    }

    async fn create_db(&self) -> Result<(), String> {
        let cs = format!(
            "host=127.0.0.1 port={} user=strata dbname=postgres",
            self.port
        );
        let (client, conn) = tokio_postgres::connect(&cs, tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("connect to postgres: {e}"))?;
        let task = tokio::spawn(conn);
        let r = client
            .batch_execute("CREATE DATABASE strata")
            .await
            .map_err(|e| format!("CREATE DATABASE strata: {e}"));
        drop(client);
        let _ = task.await;
        r
    }

    /// The loopback port the cluster listens on (user `strata`, database `strata`).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn conn_str(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=strata dbname=strata",
            self.port
        )
    }

    /// `clean`: `pg_ctl stop -m fast`; else `-m immediate` (crash-like). Then start again.
    pub fn restart(&mut self, clean: bool) -> Result<(), String> {
        self.pg_stop(if clean { "fast" } else { "immediate" })?;
        self.pg_start()
    }

    pub fn log_tail(&self, n: usize) -> String {
        let s = std::fs::read_to_string(self.data().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.pg_stop("immediate");
    }
}
