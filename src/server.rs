//! The PostgreSQL listener: accept loop, connection limit, graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use strata_sql::Engine;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::pgwire::handler::Handlers;

/// A bound PostgreSQL listener.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    handlers: Arc<Handlers>,
    limit: Arc<Semaphore>,
}

impl Server {
    /// Binds the listener (port 0 picks a free port; see [`Server::local_addr`]).
    pub async fn bind(engine: Arc<Engine>, cfg: &Config) -> Result<Server, String> {
        let listener = TcpListener::bind(cfg.pg_addr)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", cfg.pg_addr))?;
        Ok(Server {
            listener,
            handlers: Arc::new(Handlers::new(engine)),
            limit: Arc::new(Semaphore::new(cfg.max_connections.max(1))),
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
            tokio::spawn(async move {
                let _permit = permit;
                debug!(%addr, "connection opened");
                if let Err(e) = pgwire::tokio::process_socket(socket, None, handlers).await {
                    debug!(%addr, error = %e, "connection closed with error");
                }
            });
        }
        info!("listener closed");
    }
}
