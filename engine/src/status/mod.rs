//! The status page (`GET /` on the HTTP port) and the JSON behind it (`GET /api/status`), for
//! people who do not write SQL: is squall up and since when, how many executors now and over the
//! last hour, tasks waiting and running, jobs running and the last finished, predictions served
//! per model and hour, the models with their holdout metrics, and the errors of the last hour by
//! SQLSTATE. Neither shows a table's rows (nor statements' text, which may hold values: a job shows
//! its statement's first word). When any user has a password, both need HTTP Basic credentials of
//! a squall user; `/health` ([`health`]) does not.
//!
//! `/api/status` fields (all times in seconds since the epoch):
//! - `status`: `up` when every health check passes, else `degraded`; `started_at`,
//!   `uptime_seconds`; `health`: `[{name, ok, detail}]`;
//! - `executors`: `{active, draining, lost, min_executors, max_executors, list: [{id, address,
//!   state, slots, running_tasks, launched_by}]}`;
//! - `pending_tasks`, `running_tasks`, `queued_jobs`: now; `history`: `[{at, executors,
//!   pending_tasks, running_tasks}]` every 10 s over the last hour;
//! - `jobs`: `{running: [...], recent: [...]}` (the last 20 finished), each `{id, statement
//!   (its first word), user, state, started_at, seconds}`;
//! - `models`: `[{name, version, algorithm, task, rows_used, trained_at, metrics: {name: value}}]`
//!   (the current version's holdout metrics);
//! - `predictions`: `{total: {model: rows}, hourly: [{hour, model, rows}]}`: rows through PREDICT,
//!   PREDICT_PROBA, PREDICT_SCORE and the prediction API since the server started, and per hour
//!   over the last 48;
//! - `errors`: `[{sqlstate, count, last_at}]`: statements that failed in the last hour.

pub mod health;
pub mod history;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::cluster::executors;
use crate::engine::Engine;
use crate::http::credentials::authenticate;
use crate::http::failure::Failure;

/// The page: one file, its script and styles inline, nothing fetched but `/api/status`.
const PAGE: &str = include_str!("page.html");

/// Finished jobs the status shows.
const RECENT_JOBS: usize = 20;

/// With passwords set, a squall user's HTTP Basic credentials.
fn admitted(engine: &Engine, headers: &HeaderMap, peer: SocketAddr) -> Result<(), Failure> {
    if !engine.users.any_password() {
        return Ok(());
    }
    authenticate(engine, headers, peer).map(|_| ()).map_err(Failure::unauthorized)
}

pub async fn page(State(engine): State<Arc<Engine>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: HeaderMap) -> Response {
    match admitted(&engine, &headers, peer) {
        Ok(()) => ([(header::CACHE_CONTROL, "no-store")], Html(PAGE)).into_response(),
        Err(failure) => failure.into_response(),
    }
}

pub async fn api(State(engine): State<Arc<Engine>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: HeaderMap) -> Response {
    if let Err(failure) = admitted(&engine, &headers, peer) {
        return failure.into_response();
    }
    match status(&engine).await {
        Ok(status) => ([(header::CACHE_CONTROL, "no-store")], Json(status)).into_response(),
        Err(e) => Failure::from(&e).into_response(),
    }
}

pub async fn health(State(engine): State<Arc<Engine>>) -> Response {
    let checks = health::checks(&engine).await;
    let failing: Vec<String> = checks.iter().filter(|c| !c.ok).map(|c| format!("{}: {}", c.name, c.detail)).collect();
    if failing.is_empty() {
        "ok\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, format!("{}\n", failing.join("\n"))).into_response()
    }
}

async fn status(engine: &Arc<Engine>) -> crate::error::Result<Value> {
    let now_ms = crate::epoch_ms();
    // The executors and the scheduler's signal, read once for the checks, the counts and the sample.
    let listed = executors::list(&engine.scheduler, &engine.launched()).await;
    let checks = health::checks_of(engine, listed.as_deref());
    let list = listed?;
    let count = |state: &str| list.iter().filter(|e| e.state == state).count();
    let settings = engine.cluster_settings();
    let signal = engine.scheduler.signal().await;
    let now = history::Sample::of(&list, &signal);
    let jobs = crate::scheduler::jobs::list(&engine.scheduler, &engine.running_statements, &engine.job_history, &engine.job_slots).await;
    let job = |j: &crate::scheduler::jobs::JobRow| {
        json!({
            "id": j.id,
            "statement": j.query.split_whitespace().next().unwrap_or_default().to_uppercase(),
            "user": j.user,
            "state": j.state,
            "started_at": j.started.map(|ms| ms / 1000),
            "seconds": j.elapsed_ms as f64 / 1000.0,
        })
    };
    let running: Vec<Value> = jobs.iter().filter(|j| matches!(j.state, "queued" | "running")).map(job).collect();
    let finished: Vec<&crate::scheduler::jobs::JobRow> = jobs.iter().filter(|j| !matches!(j.state, "queued" | "running")).collect();
    let recent: Vec<Value> = finished.iter().rev().take(RECENT_JOBS).map(|j| job(j)).collect();
    let models: Vec<Value> = engine
        .models
        .models()
        .iter()
        .filter_map(|m| {
            let v = m.version(m.current)?;
            Some(json!({
                "name": m.name,
                "version": v.version,
                "algorithm": v.algorithm,
                "task": v.task,
                "rows_used": v.rows_used,
                "trained_at": v.created_at as i64,
                "metrics": v.metrics.iter().map(|(k, x)| (k.clone(), json!(x))).collect::<serde_json::Map<_, _>>(),
            }))
        })
        .collect();
    let totals: serde_json::Map<String, Value> = engine.predictions.totals().into_iter().map(|(m, n)| (m, json!(n))).collect();
    let hourly: Vec<Value> = engine.predictions.hourly().into_iter().map(|(hour, model, rows)| json!({"hour": hour, "model": model, "rows": rows})).collect();
    let errors: Vec<Value> = engine
        .metrics
        .failures_since(now_ms - 3_600_000)
        .into_iter()
        .map(|(code, n, last)| json!({"sqlstate": code, "count": n, "last_at": last / 1000}))
        .collect();
    let mut history = engine.status_history.samples();
    history.push(now.clone());
    Ok(json!({
        "status": if checks.iter().all(|c| c.ok) { "up" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": engine.started_at_ms / 1000,
        "uptime_seconds": (now_ms - engine.started_at_ms) / 1000,
        "health": checks,
        "executors": {
            "active": count("active"),
            "draining": count("draining"),
            "lost": count("lost"),
            "min_executors": settings.min_executors,
            "max_executors": settings.max_executors,
            "list": list.iter().map(|e| json!({
                "id": e.id, "address": e.address, "state": e.state, "slots": e.slots,
                "running_tasks": e.running_tasks, "launched_by": e.launched_by,
            })).collect::<Vec<_>>(),
        },
        "pending_tasks": now.pending_tasks,
        "running_tasks": now.running_tasks,
        "queued_jobs": signal.queued_jobs,
        "history": history,
        "jobs": {"running": running, "recent": recent},
        "models": models,
        "predictions": {"total": totals, "hourly": hourly},
        "errors": errors,
    }))
}
