//! The HTTP listener: the status page at `/` and its JSON at `/api/status` ([`crate::status`]),
//! `GET /health` for load balancers and orchestrators, `GET /metrics` in
//! Prometheus text format for monitoring ([`metrics`]), `POST /v1/tables/<table>/rows` for rows
//! sent by applications ([`crate::ingest::http_rows`]), `POST /v1/models/<name>/predict` for
//! predictions ([`crate::models::serving`]).

pub mod credentials;
pub mod failure;
mod metrics;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use crate::engine::Engine;

pub async fn serve(listener: TcpListener, engine: Arc<Engine>) {
    let app = Router::new()
        .route("/", get(crate::status::page))
        .route("/api/status", get(crate::status::api))
        .route("/health", get(crate::status::health))
        .route("/metrics", get(metrics::metrics))
        // A batch of rows may be larger than axum's 2 MB default.
        .route(
            "/v1/tables/{table}/rows",
            axum::routing::post(crate::ingest::http_rows::post_rows),
        )
        .route(
            "/v1/models/{reference}/predict",
            axum::routing::post(crate::models::serving::post_predict).layer(axum::extract::DefaultBodyLimit::max(crate::models::serving::MAX_BODY)),
        )
        .with_state(engine);
    // The peer's address decides whether a user without a password is trusted (loopback only).
    if let Err(e) = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await {
        tracing::error!("HTTP listener stopped: {e}");
    }
}

