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

/// Upper bounds (seconds) of the statement latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0];

/// Counters the coordinator keeps for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    statements: AtomicU64,
    failed_statements: AtomicU64,
    /// Per bucket of LATENCY_BUCKETS (and one for +Inf): statements that took at most that long.
    latency_buckets: [AtomicU64; 11],
    /// Sum of statement durations, in microseconds.
    latency_sum_us: AtomicU64,
}

impl Metrics {
    pub fn statement_started(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }

    pub fn statement_failed(&self) {
        self.failed_statements.fetch_add(1, Ordering::Relaxed);
    }

    /// Records how long a statement took until its result was ready to send.
    pub fn statement_took(&self, took: std::time::Duration) {
        let seconds = took.as_secs_f64();
        let at = LATENCY_BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(LATENCY_BUCKETS.len());
        self.latency_buckets[at].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
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
