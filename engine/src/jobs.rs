//! `squall.jobs` / `SHOW JOBS`: the distributed jobs the embedded scheduler has queued or running,
//! with the SQL each came from (the statement its session is running) and its progress.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ballista_core::serde::protobuf::job_status;
use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::error::Result;

use crate::scheduler::EmbeddedScheduler;

/// What each session is running now, so a job can be shown with its SQL.
#[derive(Debug, Default, Clone)]
pub struct RunningStatements(Arc<Mutex<HashMap<String, String>>>);

impl RunningStatements {
    pub fn set(&self, session_id: &str, sql: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(session_id.to_string(), sql.to_string());
    }

    pub fn forget(&self, session_id: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(session_id);
    }

    pub fn get(&self, session_id: &str) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(session_id).cloned()
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
        Field::new("started", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), true),
        Field::new("elapsed_ms", DataType::Int64, false),
    ]))
}

pub async fn to_batch(scheduler: &EmbeddedScheduler, statements: &RunningStatements) -> Result<RecordBatch> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let mut rows = Vec::new();
    for (id, job) in scheduler.server.state.task_manager.get_running_job_cache().iter() {
        let graph = job.execution_graph.read().await;
        let state = match &graph.status().status {
            Some(job_status::Status::Queued(_)) => "queued",
            Some(job_status::Status::Running(_)) => "running",
            Some(job_status::Status::Failed(_)) => "failed",
            Some(job_status::Status::Successful(_)) => "done",
            None => "unknown",
        };
        let started = graph.start_time() as i64;
        rows.push((
            id.clone(),
            // The job name is the statement's SQL (set per query in `statements::query`).
            match graph.job_name() {
                "" => statements.get(graph.session_id()).unwrap_or_default(),
                name => name.to_string(),
            },
            state,
            graph.completed_stages() as i64,
            graph.stage_count() as i64,
            graph.available_tasks() as i64,
            graph.running_tasks().len() as i64,
            (started > 0).then_some(started),
            if started > 0 { now - started } else { 0 },
        ));
    }
    rows.sort_by_key(|r| r.7);
    Ok(RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0.as_str()))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1.as_str()))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|_| "squall"))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.3))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.4))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.5))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.6))),
            Arc::new(TimestampMillisecondArray::from(rows.iter().map(|r| r.7).collect::<Vec<_>>()).with_timezone("UTC")),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.8))),
        ],
    )?)
}
