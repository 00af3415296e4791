//! The HTTP listener: `GET /health` for load balancers and orchestrators, `GET /metrics` in
//! Prometheus text format for monitoring.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use crate::engine::Engine;
use crate::executors;

/// Counters the coordinator keeps for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    statements: AtomicU64,
    failed_statements: AtomicU64,
}

impl Metrics {
    pub fn statement_started(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }

    pub fn statement_failed(&self) {
        self.failed_statements.fetch_add(1, Ordering::Relaxed);
    }
}

pub async fn serve(listener: TcpListener, engine: Arc<Engine>) {
    let app = Router::new().route("/health", get(health)).route("/metrics", get(metrics)).with_state(engine);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!("HTTP listener stopped: {e}");
    }
}

async fn health() -> &'static str {
    "ok\n"
}

async fn metrics(State(engine): State<Arc<Engine>>) -> impl IntoResponse {
    let executors = match executors::list(&engine.scheduler, &engine.launched()).await {
        Ok(rows) => rows,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("listing executors: {e}\n")).into_response(),
    };
    let mut text = String::new();
    let mut gauge = |name: &str, help: &str, kind: &str, samples: &[(String, f64)]| {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(text, "{name}{labels} {value}");
        }
    };
    let m = &engine.metrics;
    gauge("squall_statements_total", "Statements executed.", "counter", &[(String::new(), m.statements.load(Ordering::Relaxed) as f64)]);
    gauge("squall_statement_errors_total", "Statements that failed.", "counter", &[(String::new(), m.failed_statements.load(Ordering::Relaxed) as f64)]);
    let by_state = ["active", "terminating", "lost"]
        .iter()
        .map(|s| (format!("{{state=\"{s}\"}}"), executors.iter().filter(|e| e.state == *s).count() as f64))
        .collect::<Vec<_>>();
    gauge("squall_executors", "Executors by state.", "gauge", &by_state);
    let running: i64 = executors.iter().map(|e| e.running_tasks).sum();
    gauge("squall_running_tasks", "Tasks running on executors.", "gauge", &[(String::new(), running as f64)]);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
