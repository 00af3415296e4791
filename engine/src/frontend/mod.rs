//! The Postgres wire front end: accepts connections and hands each to pgwire with squall's
//! handlers. A failing connection never disturbs the others.

mod connection;
pub(crate) mod encode;
pub mod errors;
mod handler;
mod statement;
pub mod tls;
mod write_buffer;

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::engine::Engine;
use handler::Handlers;

/// Serves clients on `listener` until the task is dropped; with `tls`, clients may (and, with
/// `sslmode=require`, do) switch to TLS before they start up.
pub async fn serve(listener: TcpListener, engine: Arc<Engine>, tls: Option<pgwire::tokio::TlsAcceptor>) {
    let handlers = Arc::new(Handlers::new(engine));
    loop {
        match listener.accept().await {
            Ok((socket, peer)) => {
                let handlers = handlers.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    if let Err(e) = connection::serve(socket, tls, handlers).await {
                        tracing::debug!(%peer, "connection ended with an error: {e}");
                    }
                });
            }
            Err(e) => {
                tracing::warn!("accepting a connection failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
