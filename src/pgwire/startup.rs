//! Connection start-up: parameters, per-connection state and cancel keys.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::{
    ServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{ClientInfo, PidSecretKeyGenerator, RandomPidSecretKeyGenerator};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use strata_sql::{Engine, Session};
use tokio::sync::Notify;

/// Cancellation flag of one connection, fired by a CancelRequest.
#[derive(Debug, Default)]
pub struct CancelFlag {
    canceled: AtomicBool,
    notify: Notify,
}

impl CancelFlag {
    /// Clears the flag at the start of a statement.
    pub fn reset(&self) {
        self.canceled.store(false, Ordering::SeqCst);
    }

    /// Fires the flag.
    pub fn cancel(&self) {
        self.canceled.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Resolves when the flag fires (immediately if it already has).
    pub async fn wait(&self) {
        loop {
            let n = self.notify.notified();
            if self.canceled.load(Ordering::SeqCst) {
                return;
            }
            n.await;
        }
    }

    pub fn is_canceled(&self) -> bool {
        self.canceled.load(Ordering::SeqCst)
    }
}

/// All connections' cancel keys.
#[derive(Debug, Default)]
pub struct CancelRegistry {
    map: parking_lot::Mutex<HashMap<(i32, Vec<u8>), Arc<CancelFlag>>>,
}

impl CancelRegistry {
    pub fn cancel(&self, pid: i32, key: &[u8]) {
        if let Some(f) = self.map.lock().get(&(pid, key.to_vec())) {
            f.cancel();
        }
    }
}

/// Removes a connection's cancel key when the connection ends.
#[derive(Debug)]
pub struct CancelGuard {
    registry: Arc<CancelRegistry>,
    key: (i32, Vec<u8>),
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        self.registry.map.lock().remove(&self.key);
    }
}

/// Per-connection state, stored in pgwire's session extensions.
#[derive(Debug)]
pub struct ConnState {
    pub session: tokio::sync::Mutex<Session>,
    pub cancel: Arc<CancelFlag>,
    pub copy: tokio::sync::Mutex<Option<crate::pgwire::handler::CopyState>>,
    /// Set when a result stream failed after the statement returned (the session could
    /// not see it); the next statement marks the transaction block failed.
    pub stream_failed: Arc<AtomicBool>,
    _guard: CancelGuard,
}

/// Start-up handler: trust authentication (loopback default), Strata's ParameterStatus.
#[derive(Debug)]
pub struct StrataStartup {
    pub engine: Arc<Engine>,
    pub registry: Arc<CancelRegistry>,
    pub pid_gen: RandomPidSecretKeyGenerator,
}

struct Params {
    user: String,
    app: String,
    timezone: String,
}

impl ServerParameterProvider for Params {
    fn server_parameters<C>(&self, _client: &C) -> Option<HashMap<String, String>>
    where
        C: ClientInfo,
    {
        let mut p = HashMap::new();
        p.insert(
            "server_version".into(),
            strata_sql::settings::SERVER_VERSION.into(),
        );
        p.insert("server_encoding".into(), "UTF8".into());
        p.insert("client_encoding".into(), "UTF8".into());
        p.insert("DateStyle".into(), "ISO, MDY".into());
        p.insert("TimeZone".into(), self.timezone.clone());
        p.insert("integer_datetimes".into(), "on".into());
        p.insert("standard_conforming_strings".into(), "on".into());
        p.insert("IntervalStyle".into(), "postgres".into());
        p.insert("is_superuser".into(), "on".into());
        p.insert("session_authorization".into(), self.user.clone());
        p.insert("application_name".into(), self.app.clone());
        p.insert("default_transaction_read_only".into(), "off".into());
        p.insert("in_hot_standby".into(), "off".into());
        Some(p)
    }
}

#[async_trait]
impl StartupHandler for StrataStartup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let PgWireFrontendMessage::Startup(ref startup) = message else {
            return Ok(());
        };
        protocol_negotiation(client, startup).await?;
        save_startup_parameters_to_metadata(client, startup);
        let (pid, key) = self.pid_gen.generate(client);
        client.set_pid_and_secret_key(pid, key.clone());
        let mut session = self
            .engine
            .new_session()
            .map_err(|e| crate::pgwire::error::to_pgwire(&e))?;
        // Apply start-up parameters the way PostgreSQL does (unknown or unsupported
        // values are ignored with a log line rather than refusing the connection).
        let md = client.metadata().clone();
        for (k, v) in &md {
            let name = k.as_str();
            if matches!(name, "user" | "database" | "replication" | "options") {
                continue;
            }
            if let Err(e) = session.settings.set(name, v) {
                tracing::debug!(param = name, value = %v, error = %e, "ignoring start-up parameter");
            }
        }
        if let Some(u) = md.get("user") {
            session.settings.user = u.clone();
        }
        if let Some(opts) = md.get("options") {
            for (k, v) in parse_options(opts) {
                if let Err(e) = session.settings.set(&k, &v) {
                    tracing::debug!(param = %k, value = %v, error = %e, "ignoring -c option");
                }
            }
        }
        if let Err(e) = session.apply_settings() {
            return Err(crate::pgwire::error::to_pgwire(&e));
        }
        if md
            .get("replication")
            .is_some_and(|v| v != "false" && v != "off" && v != "0")
        {
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "08P01".into(),
                "replication connections are not supported".into(),
            ))));
        }
        let cancel = Arc::new(CancelFlag::default());
        let key_bytes = key.to_bytes().to_vec();
        self.registry
            .map
            .lock()
            .insert((pid, key_bytes.clone()), Arc::clone(&cancel));
        let params = Params {
            user: md.get("user").cloned().unwrap_or_else(|| "strata".into()),
            app: session.settings.application_name.clone(),
            timezone: session.settings.timezone.clone(),
        };
        client.session_extensions().insert(ConnState {
            session: tokio::sync::Mutex::new(session),
            cancel,
            copy: tokio::sync::Mutex::new(None),
            stream_failed: Arc::new(AtomicBool::new(false)),
            _guard: CancelGuard {
                registry: Arc::clone(&self.registry),
                key: (pid, key_bytes),
            },
        });
        finish_authentication(client, &params).await
    }
}

/// Parses libpq's `options` start-up parameter: `-c name=value -c other=value`.
fn parse_options(s: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut toks = s.split_whitespace().peekable();
    while let Some(t) = toks.next() {
        let kv = if t == "-c" {
            toks.next().map(str::to_string)
        } else {
            t.strip_prefix("-c")
                .or_else(|| t.strip_prefix("--"))
                .map(str::to_string)
        };
        if let Some(kv) = kv
            && let Some((k, v)) = kv.split_once('=')
        {
            out.push((k.replace('-', "_"), v.to_string()));
        }
    }
    out
}
