//! The HTTP listener: `GET /health` for load balancers and orchestrators, `GET /metrics` in
//! Prometheus text format for monitoring, `POST /v1/tables/<table>/rows` for rows sent by
//! applications ([`crate::ingest::http_rows`]).

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use crate::cluster::executors;
use crate::engine::Engine;
use crate::session::metrics::LATENCY_BUCKETS;

pub async fn serve(listener: TcpListener, engine: Arc<Engine>) {
    let app = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        // A batch of rows may be larger than axum's 2 MB default.
        .route(
            "/v1/tables/{table}/rows",
            axum::routing::post(crate::ingest::http_rows::post_rows),
        )
        .with_state(engine);
    // The peer's address decides whether a user without a password is trusted (loopback only).
    if let Err(e) = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await {
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
    let by_state = ["active", "draining", "lost"]
        .iter()
        .map(|s| (format!("{{state=\"{s}\"}}"), executors.iter().filter(|e| e.state == *s).count() as f64))
        .collect::<Vec<_>>();
    gauge("squall_executors", "Executors by state.", "gauge", &by_state);
    let signal = engine.scheduler.signal().await;
    let one = |v: usize| [(String::new(), v as f64)];
    gauge("squall_pending_tasks", "Runnable tasks waiting for an executor slot, summed over running jobs (the autoscaler's signal).", "gauge", &one(signal.pending_tasks));
    gauge("squall_running_tasks", "Tasks running on executors.", "gauge", &one(signal.running_tasks));
    gauge("squall_queued_jobs", "Jobs submitted and not yet running.", "gauge", &one(signal.queued_jobs));
    gauge("squall_running_jobs", "Jobs running.", "gauge", &one(engine.scheduler.server.state.task_manager.get_running_job_cache().len()));
    let settings = engine.cluster_settings();
    gauge("squall_min_executors", "The autoscaler's floor.", "gauge", &one(settings.min_executors as usize));
    gauge("squall_max_executors", "The autoscaler's ceiling.", "gauge", &one(settings.max_executors as usize));
    let by_kind = crate::cluster::events::KINDS_AND_CAUSES
        .iter()
        .map(|(kind, cause)| (format!("{{kind=\"{kind}\",reason=\"{cause}\"}}"), engine.cluster_events.count(kind, cause) as f64))
        .collect::<Vec<_>>();
    gauge("squall_cluster_events_total", "Executor scale events (scale-up, scale-down, drain, loss, replace, add, remove) by reason.", "counter", &by_kind);
    gauge(
        "squall_internal_calls_rejected_total",
        "Calls to the scheduler refused for want of the cluster's credential.",
        "counter",
        &one(engine.scheduler.auth.rejected() as usize),
    );
    let jobs = crate::scheduler::jobs::counts_by_state(&engine.scheduler, &engine.job_history)
        .into_iter()
        .map(|(state, n)| (format!("{{state=\"{state}\"}}"), n as f64))
        .collect::<Vec<_>>();
    gauge("squall_jobs", "Distributed jobs by state: queued and running now, finished ones among the last 500.", "gauge", &jobs);
    let mut cumulative = 0u64;
    let mut buckets = Vec::new();
    for (i, bound) in LATENCY_BUCKETS.iter().map(|b| b.to_string()).chain(std::iter::once("+Inf".to_string())).enumerate() {
        cumulative += m.latency_buckets[i].load(Ordering::Relaxed);
        buckets.push((format!("{{le=\"{bound}\"}}"), cumulative as f64));
    }
    let _ = writeln!(text, "# HELP squall_statement_duration_seconds Time from a statement's arrival to its result being ready.\n# TYPE squall_statement_duration_seconds histogram");
    for (labels, value) in buckets {
        let _ = writeln!(text, "squall_statement_duration_seconds_bucket{labels} {value}");
    }
    let _ = writeln!(text, "squall_statement_duration_seconds_sum {}", m.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6);
    let _ = writeln!(text, "squall_statement_duration_seconds_count {cumulative}");
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
