//! `squall.cluster_events`: every scale-up, scale-down, removal and replacement, with its time,
//! executor and reason, kept in memory for the coordinator's lifetime.

use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{RecordBatch, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::error::Result;

#[derive(Debug, Clone)]
pub struct ClusterEvent {
    /// Milliseconds since the epoch.
    pub time: i64,
    /// `scale-up`, `scale-down`, `replace`, `add`, `remove`.
    pub kind: &'static str,
    pub executor: String,
    pub reason: String,
}

#[derive(Debug, Default, Clone)]
pub struct ClusterEvents(Arc<Mutex<Vec<ClusterEvent>>>);

impl ClusterEvents {
    pub fn record(&self, kind: &'static str, executor: &str, reason: String) {
        tracing::info!(kind, executor, "{reason}");
        let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(ClusterEvent { time, kind, executor: executor.to_string(), reason });
    }

    pub fn all(&self) -> Vec<ClusterEvent> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("time", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("executor", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
    ]))
}

pub fn to_batch(events: &[ClusterEvent]) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(TimestampMillisecondArray::from_iter_values(events.iter().map(|e| e.time)).with_timezone("UTC")),
            Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.kind))),
            Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.executor.as_str()))),
            Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.reason.as_str()))),
        ],
    )?)
}
