//! Server configuration: command-line flags, an optional TOML file, and defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub pg_addr: SocketAddr,
    /// Memory for memtables before writers wait for a flush.
    pub memtable_budget_bytes: usize,
    /// Memory for query execution.
    pub query_memory_bytes: usize,
    /// Seconds after which a memtable is flushed even if small.
    pub flush_interval_secs: u64,
    /// `always` (default) or `never` (acknowledge before fsync; for bulk loads).
    pub fsync: String,
    /// Largest protocol message accepted from a client.
    pub max_message_bytes: usize,
    /// Maximum concurrent client connections.
    pub max_connections: usize,
    /// Where cold partitions go: `file:///dir`, `s3://bucket/prefix`, `gs://...`,
    /// `az://...`. `None`: `<data_dir>/cold`.
    pub cold_store: Option<String>,
    /// object_store options for the cold store (`aws_endpoint`, `aws_region`, ...), on
    /// top of the environment.
    pub cold_store_options: Vec<(String, String)>,
    /// Memory for cached blocks of cold files that queries read.
    pub cold_cache_bytes: usize,
    /// `trust`, `password` or `scram`; `None`: trust when `pg_addr` is a loopback
    /// address, scram otherwise (see [`Config::auth_method`]).
    pub auth: Option<AuthMethod>,
    /// File whose first line is the password of the superuser `strata` (the
    /// `STRATA_PASSWORD` environment variable is the other way to give it).
    pub password_file: Option<PathBuf>,
    /// PEM certificate chain and private key: clients may then use TLS.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Refuse connections that do not use TLS.
    pub tls_required: bool,
}

/// How clients prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// Anyone who can reach the port is whoever they say.
    Trust,
    /// The client sends the password (in clear text: use TLS off loopback); checked
    /// against the role's SCRAM verifier.
    Password,
    /// SCRAM-SHA-256: the password never crosses the wire.
    Scram,
}

impl std::str::FromStr for AuthMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "trust" => Ok(AuthMethod::Trust),
            "password" => Ok(AuthMethod::Password),
            "scram" | "scram-sha-256" => Ok(AuthMethod::Scram),
            _ => Err(format!(
                "auth must be 'trust', 'password' or 'scram', not {s:?}"
            )),
        }
    }
}

impl std::fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuthMethod::Trust => "trust",
            AuthMethod::Password => "password",
            AuthMethod::Scram => "scram",
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./strata-data"),
            pg_addr: "127.0.0.1:5433"
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 5433))),
            memtable_budget_bytes: 512 * 1024 * 1024,
            query_memory_bytes: 2 * 1024 * 1024 * 1024,
            flush_interval_secs: 300,
            fsync: "always".into(),
            max_message_bytes: 64 * 1024 * 1024,
            max_connections: 256,
            cold_store: None,
            cold_store_options: vec![],
            cold_cache_bytes: 256 * 1024 * 1024,
            auth: None,
            password_file: None,
            tls_cert: None,
            tls_key: None,
            tls_required: false,
        }
    }
}

/// The `[server]`-less flat TOML file format; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    pg_addr: Option<String>,
    memtable_budget_mb: Option<usize>,
    query_memory_mb: Option<usize>,
    flush_interval_secs: Option<u64>,
    fsync: Option<String>,
    max_message_mb: Option<usize>,
    max_connections: Option<usize>,
    cold_store: Option<String>,
    cold_cache_mb: Option<usize>,
    /// `[cold_store_options]` table: object_store keys and string values.
    cold_store_options: Option<std::collections::BTreeMap<String, String>>,
    auth: Option<String>,
    password_file: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_required: Option<bool>,
}

impl Config {
    /// Applies a TOML config file on top of the defaults.
    pub fn load_file(mut self, path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        let f: FileConfig = toml::from_str(&text)
            .map_err(|e| format!("invalid config file {}: {e}", path.display()))?;
        if let Some(v) = f.data_dir {
            self.data_dir = v;
        }
        if let Some(v) = f.pg_addr {
            self.pg_addr = v
                .parse()
                .map_err(|e| format!("invalid pg_addr {v:?} in {}: {e}", path.display()))?;
        }
        if let Some(v) = f.memtable_budget_mb {
            self.memtable_budget_bytes = v * 1024 * 1024;
        }
        if let Some(v) = f.query_memory_mb {
            self.query_memory_bytes = v * 1024 * 1024;
        }
        if let Some(v) = f.flush_interval_secs {
            self.flush_interval_secs = v;
        }
        if let Some(v) = f.fsync {
            self.fsync = v;
        }
        if let Some(v) = f.max_message_mb {
            self.max_message_bytes = v * 1024 * 1024;
        }
        if let Some(v) = f.max_connections {
            self.max_connections = v;
        }
        if let Some(v) = f.cold_store {
            self.cold_store = Some(v);
        }
        if let Some(v) = f.cold_cache_mb {
            self.cold_cache_bytes = v * 1024 * 1024;
        }
        if let Some(v) = f.cold_store_options {
            self.cold_store_options = v.into_iter().collect();
        }
        if let Some(v) = f.auth {
            self.auth = Some(
                v.parse()
                    .map_err(|e| format!("invalid auth in {}: {e}", path.display()))?,
            );
        }
        // Relative paths in the file are relative to the file.
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        if let Some(v) = f.password_file {
            self.password_file = Some(base.join(v));
        }
        if let Some(v) = f.tls_cert {
            self.tls_cert = Some(base.join(v));
        }
        if let Some(v) = f.tls_key {
            self.tls_key = Some(base.join(v));
        }
        if let Some(v) = f.tls_required {
            self.tls_required = v;
        }
        self.validate()?;
        Ok(self)
    }

    /// Checks values that cannot be expressed in types.
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.fsync.as_str(), "always" | "never") {
            return Err(format!(
                "fsync must be 'always' or 'never', not {:?}",
                self.fsync
            ));
        }
        if self.memtable_budget_bytes < 1024 * 1024 {
            return Err("memtable budget must be at least 1 MB".into());
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => {
                return Err("tls_cert is set but tls_key is not: TLS needs both".into());
            }
            (None, Some(_)) => {
                return Err("tls_key is set but tls_cert is not: TLS needs both".into());
            }
            _ => {}
        }
        if self.tls_required && self.tls_cert.is_none() {
            return Err("tls_required needs a certificate and key (tls_cert, tls_key)".into());
        }
        Ok(())
    }

    /// The authentication method in effect: the configured one, else trust when the
    /// listen address is loopback (only local users can connect) and scram otherwise.
    pub fn auth_method(&self) -> AuthMethod {
        self.auth.unwrap_or(if self.pg_addr.ip().is_loopback() {
            AuthMethod::Trust
        } else {
            AuthMethod::Scram
        })
    }

    /// The superuser's password from `STRATA_PASSWORD` (passed in as `env`) or the
    /// password file; an error if both are given or the file cannot be read or is empty.
    pub fn superuser_password(&self, env: Option<String>) -> Result<Option<String>, String> {
        let env = env.filter(|v| !v.is_empty());
        match (&self.password_file, env) {
            (Some(_), Some(_)) => {
                Err("both STRATA_PASSWORD and a password file are given; use one".into())
            }
            (None, env) => Ok(env),
            (Some(path), None) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    format!("cannot read the password file {}: {e}", path.display())
                })?;
                let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
                if line.is_empty() {
                    return Err(format!(
                        "the password file {} is empty (its first line is the password)",
                        path.display()
                    ));
                }
                Ok(Some(line.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(addr: &str) -> Config {
        Config {
            pg_addr: addr.parse().unwrap(),
            ..Config::default()
        }
    }

    #[test]
    fn trust_only_by_default_on_loopback() {
        assert_eq!(at("127.0.0.1:5433").auth_method(), AuthMethod::Trust);
        assert_eq!(at("[::1]:5433").auth_method(), AuthMethod::Trust);
        assert_eq!(at("0.0.0.0:5433").auth_method(), AuthMethod::Scram);
        assert_eq!(at("[::]:5433").auth_method(), AuthMethod::Scram);
        assert_eq!(at("10.1.2.3:5433").auth_method(), AuthMethod::Scram);
        let explicit = Config {
            auth: Some(AuthMethod::Password),
            ..at("127.0.0.1:5433")
        };
        assert_eq!(explicit.auth_method(), AuthMethod::Password);
    }

    #[test]
    fn auth_and_tls_keys_from_the_file_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.toml");
        std::fs::write(
            &file,
            "auth = \"scram\"\npassword_file = \"pw\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\ntls_required = true\n",
        )
        .unwrap();
        let c = Config::default().load_file(&file).unwrap();
        assert_eq!(c.auth, Some(AuthMethod::Scram));
        assert_eq!(c.password_file, Some(dir.path().join("pw")));
        assert_eq!(c.tls_cert, Some(dir.path().join("c.pem")));
        assert!(c.tls_required);
        for (text, err) in [
            ("auth = \"md5\"\n", "auth must be"),
            ("tls_cert = \"c.pem\"\n", "TLS needs both"),
            ("tls_required = true\n", "tls_required needs"),
            ("password = \"x\"\n", "unknown field"),
        ] {
            std::fs::write(&file, text).unwrap();
            let e = Config::default().load_file(&file).unwrap_err();
            assert!(e.contains(err), "{text}: {e}");
        }
    }

    #[test]
    fn superuser_password_sources() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::default();
        assert_eq!(c.superuser_password(None).unwrap(), None);
        assert_eq!(c.superuser_password(Some(String::new())).unwrap(), None);
        assert_eq!(
            c.superuser_password(Some("pw".into())).unwrap().as_deref(),
            Some("pw")
        );
        let f = dir.path().join("pw");
        std::fs::write(&f, "from file\r\nignored\n").unwrap();
        let c = Config {
            password_file: Some(f.clone()),
            ..Config::default()
        };
        assert_eq!(
            c.superuser_password(None).unwrap().as_deref(),
            Some("from file")
        );
        assert!(c.superuser_password(Some("pw".into())).is_err());
        std::fs::write(&f, "\n").unwrap();
        assert!(c.superuser_password(None).unwrap_err().contains("empty"));
    }
}
