//! `squall.cluster_events`: every scale-up, scale-down, drain, loss, replacement, addition and
//! removal, with its time, executor, cause and reason, kept in memory for the coordinator's
//! lifetime.

use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{RecordBatch, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::error::Result;

#[derive(Debug, Clone)]
pub struct ClusterEvent {
    /// Milliseconds since the epoch.
    pub time: i64,
    /// `scale-up`, `scale-down`, `drain`, `drained`, `loss`, `replace`, `add`, `remove`, `hold`
    /// (an operator's command holds the cluster's size), `held` (the hold stopped the autoscaler),
    /// `rejected` (a process without the cluster's credential tried to join or call it).
    pub kind: &'static str,
    /// Why, as a fixed word for metrics: `backlog`, `idle`, `below-min`, `operator`,
    /// `process-exited`, `heartbeat-timeout`, `did-not-register`, `no-longer-needed`,
    /// `operator-hold`, `bad-credential`.
    pub cause: &'static str,
    pub executor: String,
    /// Why, for people: the figures behind the decision.
    pub reason: String,
}

/// Every (kind, cause) pair recorded, for `/metrics`.
pub const KINDS_AND_CAUSES: &[(&str, &str)] = &[
    ("scale-up", "backlog"),
    ("replace", "below-min"),
    ("scale-down", "idle"),
    ("drain", "operator"),
    ("drained", "no-longer-needed"),
    ("loss", "process-exited"),
    ("loss", "heartbeat-timeout"),
    ("loss", "did-not-register"),
    ("add", "operator"),
    ("remove", "operator"),
    ("hold", "operator"),
    ("held", "operator-hold"),
    ("rejected", "bad-credential"),
];

#[derive(Debug, Default, Clone)]
pub struct ClusterEvents(Arc<Mutex<Vec<ClusterEvent>>>);

impl ClusterEvents {
    pub fn record(&self, kind: &'static str, cause: &'static str, executor: &str, reason: String) {
        debug_assert!(KINDS_AND_CAUSES.contains(&(kind, cause)), "unlisted event {kind}/{cause}");
        tracing::info!(kind, cause, executor, "{reason}");
        let time = crate::epoch_ms();
        let event = ClusterEvent { time, kind, cause, executor: executor.to_string(), reason };
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(event);
    }

    /// A call refused for want of the cluster's credential. Only calls that name an executor (it
    /// tried to register, beat or report) are recorded, each executor once, so that a stranger
    /// calling in a loop cannot fill the coordinator's memory; every refusal is logged and counted.
    pub fn record_rejection(&self, call: &crate::internal_auth::Rejection) {
        let Some(executor) = &call.executor else { return };
        let seen = self.0.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|e| e.kind == "rejected" && &e.executor == executor);
        if !seen {
            let peer = call.peer.map(|p| p.to_string()).unwrap_or_else(|| "an unknown address".into());
            self.record("rejected", "bad-credential", executor, format!("{} from {peer} refused: no valid cluster credential", call.call));
        }
    }

    /// Whether squall itself took `executor` out (removed, drained, or already counted as lost).
    pub fn departed(&self, executor: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|e| e.executor == executor && matches!(e.kind, "remove" | "drained" | "loss"))
    }

    pub fn count(&self, kind: &str, cause: &str) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).iter().filter(|e| e.kind == kind && e.cause == cause).count()
    }

    pub fn all(&self) -> Vec<ClusterEvent> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("time", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("cause", DataType::Utf8, false),
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
            Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.cause))),
            Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.executor.as_str()))),
            Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.reason.as_str()))),
        ],
    )?)
}
