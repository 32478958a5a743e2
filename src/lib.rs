//! # strata (the server)
//!
//! Process architecture: `main` parses the CLI into a [`config::Config`] and calls [`run`],
//! which opens storage (replaying the WAL), builds the SQL [`Engine`](strata_sql::Engine),
//! starts the background flusher and the PostgreSQL listener ([`server::Server`]), and on
//! SIGINT/SIGTERM stops accepting, flushes memtables and closes the WAL.

pub mod config;
pub mod pgwire;
pub mod server;

use std::sync::Arc;
use std::time::Duration;

use strata_sql::roles::SUPERUSER;
use strata_sql::{Engine, EngineOptions};
use strata_storage::wal::FsyncPolicy;
use strata_storage::{Storage, StorageConfig};
use tracing::{error, info, warn};

use crate::config::{AuthMethod, Config};

/// Opens storage and the engine for a configuration.
pub fn open_engine(cfg: &Config) -> Result<Arc<Engine>, String> {
    let mut sc = StorageConfig::new(&cfg.data_dir);
    sc.memtable_budget_bytes = cfg.memtable_budget_bytes;
    sc.flush_max_age = Duration::from_secs(cfg.flush_interval_secs.max(1));
    sc.fsync = if cfg.fsync == "never" {
        FsyncPolicy::Never
    } else {
        FsyncPolicy::Always
    };
    sc.cold_store_url = cfg.cold_store.clone();
    sc.cold_store_options = cfg.cold_store_options.clone();
    sc.cold_cache_bytes = cfg.cold_cache_bytes;
    let storage = Storage::open(sc)
        .map_err(|e| format!("cannot open data directory {}: {e}", cfg.data_dir.display()))?;
    let opts = EngineOptions {
        query_memory_bytes: cfg.query_memory_bytes,
        ..Default::default()
    };
    Engine::new(storage, opts).map_err(|e| format!("cannot start the SQL engine: {e}"))
}

/// Runs the server until SIGINT/SIGTERM.
pub async fn run(cfg: Config) -> Result<(), String> {
    let method = cfg.auth_method();
    let password = cfg.superuser_password(std::env::var("STRATA_PASSWORD").ok())?;
    let tls = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(c), Some(k)) => Some(server::tls_acceptor(c, k)?),
        _ => None,
    };
    if method != AuthMethod::Trust && password.is_none() {
        // A password stored by ALTER ROLE strata PASSWORD also counts. Checked before
        // storage is opened so that a misconfigured server stops at once.
        let stored = strata_sql::roles::Roles::open(&cfg.data_dir)
            .map_err(|e| format!("cannot read the roles: {e}"))?;
        if !stored.has_password(SUPERUSER) {
            let why = if cfg.auth.is_some() {
                format!("--auth {method}")
            } else {
                format!(
                    "authentication is {method} (the default when --pg-addr {} is not a loopback address)",
                    cfg.pg_addr
                )
            };
            return Err(format!(
                "refusing to start: {why} and the superuser {SUPERUSER} has no password; set \
                 STRATA_PASSWORD or --password-file FILE (or listen on 127.0.0.1 only, where \
                 the default is trust)"
            ));
        }
    }
    if method == AuthMethod::Trust && !cfg.pg_addr.ip().is_loopback() {
        warn!(addr = %cfg.pg_addr, "trust authentication on a non-loopback address: anyone who can reach the port can connect as any user");
    }
    if method == AuthMethod::Password && tls.is_none() && !cfg.pg_addr.ip().is_loopback() {
        warn!("password authentication without TLS: passwords cross the network in clear text");
    }
    let engine = open_engine(&cfg)?;
    if let Some(p) = &password {
        engine
            .roles()
            .set_superuser_password(p)
            .map_err(|e| format!("cannot set the superuser's password: {e}"))?;
    }
    engine
        .recover()
        .await
        .map_err(|e| format!("cannot finish work interrupted by a crash: {e}"))?;
    // An unreachable cold store is not fatal: hot data is served, moves fail (and say so
    // in the log and in timescaledb_information.job_stats) until it comes back.
    // Bounded so that a store that is down does not hold the server's start up.
    let check = tokio::time::timeout(Duration::from_secs(20), engine.storage().check_cold_store())
        .await
        .unwrap_or_else(|_| {
            Err(strata_storage::Error::Internal(
                "no answer within 20 seconds".into(),
            ))
        });
    match check {
        Ok(()) => info!(url = %engine.storage().cold().url(), "cold store ready"),
        Err(e) => {
            error!(url = %engine.storage().cold().url(), error = %e, "cold store unreachable: cold partitions cannot be read and tiering jobs will fail until it is back")
        }
    }
    let tls_on = tls.is_some();
    let server = server::Server::bind(Arc::clone(&engine), &cfg, tls).await?;
    info!(addr = %server.local_addr(), data_dir = %cfg.data_dir.display(), auth = %method, tls = tls_on, tls_required = cfg.tls_required, "Strata is ready for PostgreSQL connections");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let bg = tokio::spawn(Arc::clone(engine.storage()).run_background({
        let s = shutdown.clone();
        async move { s.cancelled().await }
    }));
    let policies = tokio::spawn(strata_sql::jobs::run_policies(Arc::clone(&engine), {
        let s = shutdown.clone();
        async move { s.cancelled().await }
    }));
    let serve = tokio::spawn(server.serve(shutdown.clone()));
    wait_for_signal().await;
    info!("shutting down: flushing memtables");
    shutdown.cancel();
    let _ = serve.await;
    let _ = bg.await;
    let _ = policies.await;
    if let Err(e) = engine.storage().shutdown().await {
        error!(error = %e, "flush at shutdown failed; the WAL still holds the data and will be replayed");
    }
    info!("bye");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
