//! The PostgreSQL listener: accept loop, connection limit, graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use strata_sql::Engine;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use std::path::Path;

use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::tokio_rustls::rustls;

use crate::config::Config;
use crate::pgwire::handler::Handlers;
use crate::pgwire::startup::AuthConfig;

/// A bound PostgreSQL listener.
pub struct Server {
    listener: TcpListener,
    handlers: Arc<Handlers>,
    limit: Arc<Semaphore>,
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// Loads a PEM certificate chain and private key into a TLS acceptor (rustls, ring).
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert_pem = std::fs::read(cert)
        .map_err(|e| format!("cannot read the TLS certificate {}: {e}", cert.display()))?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot parse the TLS certificate {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "no certificate in {} (expected PEM: -----BEGIN CERTIFICATE-----)",
            cert.display()
        ));
    }
    let key_pem = std::fs::read(key)
        .map_err(|e| format!("cannot read the TLS key {}: {e}", key.display()))?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        format!(
            "cannot parse the TLS key {} (expected a PEM private key): {e}",
            key.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, private)
        .map_err(|e| {
            format!(
                "the TLS certificate {} and key {} cannot be used: {e}",
                cert.display(),
                key.display()
            )
        })?;
    // PostgreSQL 17 clients may start TLS directly (sslnegotiation=direct) with this ALPN.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl Server {
    /// Binds the listener (port 0 picks a free port; see [`Server::local_addr`]).
    pub async fn bind(
        engine: Arc<Engine>,
        cfg: &Config,
        tls: Option<TlsAcceptor>,
    ) -> Result<Server, String> {
        let listener = TcpListener::bind(cfg.pg_addr)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", cfg.pg_addr))?;
        Ok(Server {
            listener,
            handlers: Arc::new(Handlers::new(
                engine,
                AuthConfig {
                    method: cfg.auth_method(),
                    tls_required: cfg.tls_required,
                },
            )),
            limit: Arc::new(Semaphore::new(cfg.max_connections.max(1))),
            tls,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Accepts connections until `shutdown` is cancelled. Each connection runs in its own
    /// task; a failing connection never affects the others.
    pub async fn serve(self, shutdown: CancellationToken) {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                a = self.listener.accept() => a,
            };
            let (socket, addr) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            let Ok(permit) = Arc::clone(&self.limit).try_acquire_owned() else {
                warn!(%addr, "connection refused: too many connections (max_connections)");
                drop(socket);
                continue;
            };
            let handlers = Arc::clone(&self.handlers);
            let tls = self.tls.clone();
            tokio::spawn(async move {
                let _permit = permit;
                debug!(%addr, "connection opened");
                if let Err(e) = pgwire::tokio::process_socket(socket, tls, handlers).await {
                    debug!(%addr, error = %e, "connection closed with error");
                }
            });
        }
        info!("listener closed");
    }
}
