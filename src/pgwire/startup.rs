//! Connection start-up: parameters, per-connection state and cancel keys.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::PgWireConnectionState;
use pgwire::api::auth::{
    ServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{ClientInfo, PidSecretKeyGenerator, RandomPidSecretKeyGenerator};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::Authentication;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use strata_sql::roles::{ScramError, ScramServer};
use strata_sql::{Engine, Session};

use crate::config::AuthMethod;
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

/// How connections authenticate (from the server configuration).
#[derive(Debug, Clone, Copy)]
pub struct AuthConfig {
    pub method: AuthMethod,
    /// Refuse connections that are not TLS.
    pub tls_required: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            method: AuthMethod::Trust,
            tls_required: false,
        }
    }
}

/// Start-up handler: authentication (trust, cleartext password or SCRAM-SHA-256 against
/// the roles' verifiers), then Strata's ParameterStatus and the session.
#[derive(Debug)]
pub struct StrataStartup {
    pub engine: Arc<Engine>,
    pub registry: Arc<CancelRegistry>,
    pub pid_gen: RandomPidSecretKeyGenerator,
    pub auth: AuthConfig,
}

/// Where a connection is in its authentication exchange (a session extension: the
/// start-up handler is shared by all connections).
#[derive(Debug, Default)]
struct AuthProgress(parking_lot::Mutex<AuthPhase>);

#[derive(Debug, Default)]
enum AuthPhase {
    #[default]
    None,
    AwaitPassword,
    AwaitSaslInitial,
    AwaitSaslFinal(Box<ScramServer>),
}

fn fatal(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".into(),
        code.into(),
        message.into(),
    )))
}

/// PostgreSQL's message for every failed password check (wrong password, unknown role,
/// role without password), so that clients cannot probe which roles exist.
fn auth_failed(user: &str) -> PgWireError {
    tracing::info!(user, "password authentication failed");
    fatal(
        "28P01",
        format!("password authentication failed for user \"{user}\""),
    )
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
        // Every error before the session exists ends the connection: pgwire would
        // otherwise answer an ERROR with ReadyForQuery and leave the connection open
        // without authentication.
        self.startup(client, message).await.map_err(|e| {
            let mut info = ErrorInfo::from(e);
            info.severity = "FATAL".into();
            PgWireError::UserError(Box::new(info))
        })
    }
}

impl StrataStartup {
    async fn startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                if self.auth.tls_required && !client.is_secure() {
                    let user = client.metadata().get("user").cloned().unwrap_or_default();
                    let database = client
                        .metadata()
                        .get("database")
                        .cloned()
                        .unwrap_or_else(|| user.clone());
                    tracing::info!(addr = %client.socket_addr(), user, "connection without TLS refused (tls_required): the client must connect with sslmode=require or stronger");
                    // PostgreSQL's words for a `hostssl`-only pg_hba.conf, which clients and
                    // their users know.
                    return Err(fatal(
                        "28000",
                        format!(
                            "no pg_hba.conf entry for host \"{}\", user \"{user}\", database \"{database}\", no encryption",
                            client.socket_addr().ip()
                        ),
                    ));
                }
                let (phase, request) = match self.auth.method {
                    AuthMethod::Trust => return self.complete(client).await,
                    AuthMethod::Password => {
                        (AuthPhase::AwaitPassword, Authentication::CleartextPassword)
                    }
                    AuthMethod::Scram => (
                        AuthPhase::AwaitSaslInitial,
                        Authentication::SASL(vec!["SCRAM-SHA-256".to_string()]),
                    ),
                };
                *client
                    .session_extensions()
                    .get_or_insert_with(AuthProgress::default)
                    .0
                    .lock() = phase;
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client
                    .send(PgWireBackendMessage::Authentication(request))
                    .await?;
                Ok(())
            }
            PgWireFrontendMessage::PasswordMessageFamily(msg) => {
                let progress = client
                    .session_extensions()
                    .get::<AuthProgress>()
                    .ok_or_else(|| fatal("08P01", "unexpected password message"))?;
                let phase = std::mem::take(&mut *progress.0.lock());
                let user = client.metadata().get("user").cloned().unwrap_or_default();
                let roles = self.engine.roles();
                match phase {
                    AuthPhase::None => Err(fatal("08P01", "unexpected password message")),
                    AuthPhase::AwaitPassword => {
                        let pw = msg.into_password()?;
                        if pw.password.is_empty() {
                            // libpq never sends an empty password; PostgreSQL refuses it.
                            return Err(auth_failed(&user));
                        }
                        let (roles2, user2, pw) = (Arc::clone(roles), user.clone(), pw.password);
                        // PBKDF2 (4096 rounds) off the protocol threads.
                        let ok =
                            tokio::task::spawn_blocking(move || roles2.check_password(&user2, &pw))
                                .await
                                .unwrap_or(false);
                        if !ok {
                            return Err(auth_failed(&user));
                        }
                        self.complete(client).await
                    }
                    AuthPhase::AwaitSaslInitial => {
                        let init = msg.into_sasl_initial_response()?;
                        if init.auth_method != "SCRAM-SHA-256" {
                            return Err(fatal(
                                "08P01",
                                format!(
                                    "client selected an invalid SASL authentication mechanism {:?}",
                                    init.auth_method
                                ),
                            ));
                        }
                        let data = init.data.unwrap_or_default();
                        let (server, first) = roles
                            .scram_start(&user, &data)
                            .map_err(|e| scram_error(e, &user))?;
                        *progress.0.lock() = AuthPhase::AwaitSaslFinal(Box::new(server));
                        client
                            .send(PgWireBackendMessage::Authentication(
                                Authentication::SASLContinue(first.into_bytes().into()),
                            ))
                            .await?;
                        Ok(())
                    }
                    AuthPhase::AwaitSaslFinal(server) => {
                        let resp = msg.into_sasl_response()?;
                        let last = server
                            .finish(&resp.data)
                            .map_err(|e| scram_error(e, &user))?;
                        client
                            .send(PgWireBackendMessage::Authentication(
                                Authentication::SASLFinal(last.into_bytes().into()),
                            ))
                            .await?;
                        self.complete(client).await
                    }
                }
            }
            _ if matches!(
                client.state(),
                PgWireConnectionState::AuthenticationInProgress
            ) =>
            {
                Err(fatal(
                    "08P01",
                    "expected a password response during authentication",
                ))
            }
            _ => Ok(()),
        }
    }
}

fn scram_error(e: ScramError, user: &str) -> PgWireError {
    match e {
        ScramError::Failed => auth_failed(user),
        ScramError::Malformed(m) => fatal("08P01", m),
    }
}

impl StrataStartup {
    /// After authentication: checks the role may log in, opens the session, sends
    /// AuthenticationOk, ParameterStatus and ReadyForQuery.
    async fn complete<C>(&self, client: &mut C) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let user = client.metadata().get("user").cloned().unwrap_or_default();
        if self.auth.method != AuthMethod::Trust
            && self.engine.roles().login_target(&user).login_refused
        {
            return Err(fatal(
                "28000",
                format!("role \"{user}\" is not permitted to log in"),
            ));
        }
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
