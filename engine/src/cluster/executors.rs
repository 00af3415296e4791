//! What squall knows of its executors, as rows: `SHOW EXECUTORS` and `squall.executors`.

use std::collections::HashMap;
use std::sync::Arc;

use ballista_core::serde::protobuf::executor_status;
use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray, UInt32Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};

use crate::cluster::launcher::Launched;
use crate::scheduler::EmbeddedScheduler;

/// One executor, as an operator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorRow {
    pub id: String,
    /// `host:port` of its Arrow Flight service.
    pub address: String,
    pub slots: u32,
    /// `active`, `draining` or `lost` (no heartbeat within the timeout).
    pub state: String,
    pub running_tasks: i64,
    pub completed_tasks: i64,
    pub failed_tasks: i64,
    /// Milliseconds since the epoch.
    pub last_heartbeat: Option<i64>,
    /// `autoscaler` or `operator` for executors squall started, `external` for the others.
    pub launched_by: String,
    /// When squall started it (milliseconds since the epoch); unknown for external executors.
    pub started_at: Option<i64>,
}

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("address", DataType::Utf8, false),
        Field::new("slots", DataType::UInt32, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("running_tasks", DataType::Int64, false),
        Field::new("completed_tasks", DataType::Int64, false),
        Field::new("failed_tasks", DataType::Int64, false),
        Field::new("last_heartbeat", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), true),
        Field::new("launched_by", DataType::Utf8, false),
        Field::new("started_at", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), true),
    ]))
}

/// The executors registered with the scheduler now, ordered by id; `launched` says which of them
/// squall started, when and why.
pub async fn list(scheduler: &EmbeddedScheduler, launched: &HashMap<String, Launched>) -> Result<Vec<ExecutorRow>> {
    let state = &scheduler.server.state;
    let running = running_tasks_by_executor(scheduler).await;
    let executors = state
        .executor_manager
        .get_executors_state()
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let mut rows: Vec<ExecutorRow> = executors
        .into_iter()
        .map(|(metadata, heartbeat_age, _metrics)| {
            let heartbeat = state.executor_manager.get_executor_hearbeat(&metadata.id);
            let status = heartbeat.as_ref().and_then(|h| h.status.as_ref()).and_then(|s| s.status.as_ref());
            let state = match status {
                _ if scheduler.drains.contains(&metadata.id) => "draining",
                Some(executor_status::Status::Active(_)) | None => "active",
                // Shutting down on its own: as good as draining for an operator.
                Some(executor_status::Status::Terminating(_)) => "draining",
                Some(executor_status::Status::Dead(_)) => "lost",
                Some(executor_status::Status::Unknown(_)) => "unknown",
            };
            let counts = scheduler.ledger.counts(&metadata.id);
            let ours = launched.get(&metadata.id);
            ExecutorRow {
                launched_by: ours.map(|l| l.by.name()).unwrap_or("external").to_string(),
                started_at: ours.map(|l| l.started_at),
                address: format!("{}:{}", metadata.host, metadata.port),
                slots: metadata.specification.vcores,
                state: state.to_string(),
                running_tasks: running.get(&metadata.id).copied().unwrap_or(0),
                completed_tasks: counts.completed as i64,
                failed_tasks: counts.failed as i64,
                last_heartbeat: heartbeat_age.map(|d| d.as_millis() as i64),
                id: metadata.id,
            }
        })
        .collect();
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(rows)
}

/// Tasks running now, per executor, from the scheduler's execution graphs.
async fn running_tasks_by_executor(scheduler: &EmbeddedScheduler) -> HashMap<String, i64> {
    let mut running = HashMap::new();
    for job in scheduler.server.state.task_manager.get_running_job_cache().values() {
        for task in job.execution_graph.read().await.running_tasks() {
            *running.entry(task.executor_id).or_insert(0) += 1;
        }
    }
    running
}

pub fn to_batch(rows: &[ExecutorRow]) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.id.as_str()))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.address.as_str()))),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.slots))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.state.as_str()))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.running_tasks))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.completed_tasks))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.failed_tasks))),
        Arc::new(TimestampMillisecondArray::from(rows.iter().map(|r| r.last_heartbeat).collect::<Vec<_>>()).with_timezone("UTC")),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.launched_by.as_str()))),
        Arc::new(TimestampMillisecondArray::from(rows.iter().map(|r| r.started_at).collect::<Vec<_>>()).with_timezone("UTC")),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}
