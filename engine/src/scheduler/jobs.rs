//! `squall.jobs` / `SHOW JOBS`: the distributed jobs the embedded scheduler has queued or running,
//! then the most recent finished ones, with the SQL and user each came from and its progress.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use ballista_core::serde::protobuf::{job_status, task_status, JobStatus};
use ballista_scheduler::cluster::{JobState, JobStateEvent};
use ballista_scheduler::state::execution_graph::ExecutionGraph;
use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::error::Result;
use futures::StreamExt;

use crate::scheduler::job_slots::JobSlots;
use crate::scheduler::EmbeddedScheduler;

/// How many finished jobs `squall.jobs` remembers.
const HISTORY: usize = 500;

/// What each session is running now, and who it belongs to, so a job shows its SQL and user.
#[derive(Debug, Default, Clone)]
pub struct RunningStatements(Arc<Mutex<HashMap<String, (String, String)>>>);

impl RunningStatements {
    pub fn set(&self, session_id: &str, sql: &str, user: &str) {
        self.lock().insert(session_id.to_string(), (sql.to_string(), user.to_string()));
    }

    pub fn forget(&self, session_id: &str) {
        self.lock().remove(session_id);
    }

    pub fn sql(&self, session_id: &str) -> Option<String> {
        self.lock().get(session_id).map(|(sql, _)| sql.clone())
    }

    /// Who runs `sql` now. Ballista gives each job a session id of its own, so the job is found
    /// by its name (the statement); the same text run by two users at once shows either.
    fn user_running(&self, sql: &str) -> Option<String> {
        self.lock().values().find(|(running, _)| running == sql).map(|(_, user)| user.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, String)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One job, as `squall.jobs` shows it.
#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: String,
    pub query: String,
    pub user: String,
    pub state: &'static str,
    pub stages_done: i64,
    pub stages_total: i64,
    pub tasks_pending: i64,
    pub tasks_running: i64,
    pub tasks_done: i64,
    /// Milliseconds since the epoch.
    pub started: Option<i64>,
    pub elapsed_ms: i64,
}

/// The most recent finished jobs, newest last.
#[derive(Debug, Default, Clone)]
pub struct JobHistory(Arc<Mutex<VecDeque<JobRow>>>);

impl JobHistory {
    /// Follows the scheduler's job events and keeps each job as it ends.
    pub async fn follow(&self, scheduler: &EmbeddedScheduler, statements: RunningStatements) -> crate::error::Result<()> {
        let mut events = scheduler
            .job_state
            .job_state_events()
            .await
            .map_err(|e| crate::error::SquallError::Internal(format!("following the scheduler's jobs: {e}")))?;
        let (history, job_state, lost_jobs) = (self.clone(), scheduler.job_state.clone(), scheduler.lost_jobs.clone());
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                let JobStateEvent::JobUpdated { job_id, status } = event else { continue };
                if !matches!(status.status, Some(job_status::Status::Successful(_) | job_status::Status::Failed(_))) {
                    continue;
                }
                lost_jobs.finished(&job_id.to_string());
                let Ok(Some(graph)) = job_state.get_execution_graph(&job_id).await else { continue };
                let row = row_of(&job_id.to_string(), graph.as_ref(), &status, &statements);
                let mut jobs = history.0.lock().unwrap_or_else(|p| p.into_inner());
                jobs.retain(|j| j.id != row.id);
                jobs.push_back(row);
                while jobs.len() > HISTORY {
                    jobs.pop_front();
                }
            }
        });
        Ok(())
    }

    fn rows(&self) -> Vec<JobRow> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }
}


fn row_of(id: &str, graph: &dyn ExecutionGraph, status: &JobStatus, statements: &RunningStatements) -> JobRow {
    let (state, ended) = match &status.status {
        Some(job_status::Status::Queued(_)) => ("queued", None),
        Some(job_status::Status::Running(_)) => ("running", None),
        Some(job_status::Status::Successful(s)) => ("done", Some(s.ended_at as i64)),
        Some(job_status::Status::Failed(f)) if f.error.contains("Cancelled") => ("cancelled", Some(f.ended_at as i64)),
        Some(job_status::Status::Failed(f)) => ("failed", Some(f.ended_at as i64)),
        None => ("unknown", None),
    };
    let started = graph.start_time() as i64;
    let tasks_done = graph
        .stages()
        .values()
        .filter_map(|s| s.task_infos())
        .flatten()
        .filter(|t| matches!(t.task_status, task_status::Status::Successful(_)))
        .count();
    // The job name is the statement's SQL (set per query in `statements::query`).
    let query = graph.job_name().to_string();
    JobRow {
        id: id.to_string(),
        user: statements.user_running(&query).unwrap_or_default(),
        query,
        state,
        stages_done: graph.completed_stages() as i64,
        stages_total: graph.stage_count() as i64,
        tasks_pending: graph.available_tasks() as i64,
        tasks_running: graph.running_tasks().len() as i64,
        tasks_done: tasks_done as i64,
        started: (started > 0).then_some(started),
        elapsed_ms: if started > 0 { ended.unwrap_or_else(crate::epoch_ms) - started } else { 0 },
    }
}

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("query", DataType::Utf8, false),
        Field::new("user", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("stages_done", DataType::Int64, false),
        Field::new("stages_total", DataType::Int64, false),
        Field::new("tasks_pending", DataType::Int64, false),
        Field::new("tasks_running", DataType::Int64, false),
        Field::new("tasks_done", DataType::Int64, false),
        Field::new("started", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), true),
        Field::new("elapsed_ms", DataType::Int64, false),
    ]))
}

/// Jobs queued and running now (oldest first), then finished ones (oldest first).
pub async fn to_batch(scheduler: &EmbeddedScheduler, statements: &RunningStatements, history: &JobHistory, slots: &JobSlots) -> Result<RecordBatch> {
    let rows = list(scheduler, statements, history, slots).await;
    let strings = |f: fn(&JobRow) -> &str| Arc::new(StringArray::from_iter_values(rows.iter().map(f)));
    let ints = |f: fn(&JobRow) -> i64| Arc::new(Int64Array::from_iter_values(rows.iter().map(f)));
    Ok(RecordBatch::try_new(
        schema(),
        vec![
            strings(|r| &r.id),
            strings(|r| &r.query),
            strings(|r| &r.user),
            strings(|r| r.state),
            ints(|r| r.stages_done),
            ints(|r| r.stages_total),
            ints(|r| r.tasks_pending),
            ints(|r| r.tasks_running),
            ints(|r| r.tasks_done),
            Arc::new(TimestampMillisecondArray::from(rows.iter().map(|r| r.started).collect::<Vec<_>>()).with_timezone("UTC")),
            ints(|r| r.elapsed_ms),
        ],
    )?)
}

/// Jobs queued and running now (oldest first), then finished ones (oldest first).
pub async fn list(scheduler: &EmbeddedScheduler, statements: &RunningStatements, history: &JobHistory, slots: &JobSlots) -> Vec<JobRow> {
    // Statements waiting for one of their user's job slots (MAX_JOBS): no job yet.
    let now = crate::epoch_ms();
    let mut rows: Vec<JobRow> = slots
        .waiting()
        .into_iter()
        .map(|w| JobRow {
            id: w.statement,
            query: w.sql,
            user: w.user,
            state: "queued",
            stages_done: 0,
            stages_total: 0,
            tasks_pending: 0,
            tasks_running: 0,
            tasks_done: 0,
            started: Some(w.since),
            elapsed_ms: now - w.since,
        })
        .collect();
    for (id, job) in scheduler.server.state.task_manager.get_running_job_cache().iter() {
        let graph = job.execution_graph.read().await;
        rows.push(row_of(&id.to_string(), graph.as_ref(), graph.status(), statements));
    }
    rows.sort_by_key(|r| r.started);
    let finished = history.rows();
    rows.extend(finished.into_iter().filter(|f| !rows.iter().any(|r: &JobRow| r.id == f.id)).collect::<Vec<_>>());
    rows
}

/// Jobs by state, for `/metrics`: queued and running now, finished ones remembered.
pub fn counts_by_state(scheduler: &EmbeddedScheduler, history: &JobHistory) -> Vec<(&'static str, usize)> {
    let finished = history.rows();
    let count = |state: &str| finished.iter().filter(|r| r.state == state).count();
    let task_manager = &scheduler.server.state.task_manager;
    vec![
        ("queued", task_manager.pending_job_number()),
        ("running", task_manager.get_running_job_cache().len()),
        ("done", count("done")),
        ("failed", count("failed")),
        ("cancelled", count("cancelled")),
    ]
}
