//! `GET /metrics`: the coordinator's counters and the cluster's state in Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

use crate::cluster::executors;
use crate::engine::Engine;
use crate::session::metrics::LATENCY_BUCKETS;

pub async fn metrics(State(engine): State<Arc<Engine>>) -> impl IntoResponse {
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
    let predictions = engine.predictions.totals().into_iter().map(|(model, rows)| (format!("{{model=\"{model}\"}}"), rows as f64)).collect::<Vec<_>>();
    gauge("squall_predictions_total", "Rows predicted, per model, since the server started.", "counter", &predictions);
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
