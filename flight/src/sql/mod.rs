//! squall's Arrow Flight SQL endpoint (`--flight-sql-listen`, default 127.0.0.1:32010): Arrow-native
//! clients (ADBC's Flight SQL driver, the Flight SQL JDBC driver, pyarrow's Flight client) run
//! statements and read results as Arrow batches, never converted to rows. Users, passwords and
//! GRANTs are squall's ([`clients`]); TLS uses the Postgres port's certificate (`--tls-cert`,
//! `--tls-key`); errors carry their SQLSTATE ([`status`]).

pub mod clients;
pub mod metadata;
pub mod results;
pub mod service;
pub mod status;

use std::path::Path;
use std::sync::Arc;

use arrow_flight::flight_service_server::FlightServiceServer;
use squall_engine::engine::Engine;
use tokio::net::TcpListener;
use tonic::transport::{Identity, Server, ServerTlsConfig};

/// The TLS identity of the Postgres port's certificate and key.
pub fn tls(cert: &Path, key: &Path) -> anyhow::Result<ServerTlsConfig> {
    squall_engine::internal_auth::tls::install_crypto_provider();
    let read = |path: &Path| std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()));
    Ok(ServerTlsConfig::new().identity(Identity::from_pem(read(cert)?, read(key)?)))
}

/// Serves Flight SQL on `listener` until the process ends.
pub async fn serve(listener: TcpListener, engine: Arc<Engine>, tls: Option<ServerTlsConfig>) -> anyhow::Result<()> {
    let service = FlightServiceServer::new(service::SquallFlightSql::new(engine))
        .max_decoding_message_size(squall_udf::settings::MAX_FLIGHT_MESSAGE)
        .max_encoding_message_size(squall_udf::settings::MAX_FLIGHT_MESSAGE);
    let mut server = Server::builder();
    if let Some(tls) = tls {
        server = server.tls_config(tls)?;
    }
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    server.add_service(service).serve_with_incoming(incoming).await?;
    Ok(())
}
