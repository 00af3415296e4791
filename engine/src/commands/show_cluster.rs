//! `SHOW CLUSTER`: the autoscale settings, then the live signal the autoscaler reads from the
//! embedded scheduler: runnable tasks waiting for a slot, running tasks, queued jobs, executors by
//! state, and the hold an operator's last ADD / REMOVE / DRAIN EXECUTOR put on the autoscaler.
//! Superusers only.

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::access::checks::require_superuser;
use crate::error::Result;
use crate::cluster::executors;
use crate::session::{Output, Session};

pub(super) fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("setting", DataType::Utf8, false), Field::new("value", DataType::Utf8, false)]))
}

pub(super) async fn run(session: &Session) -> Result<Output> {
    require_superuser(session, "SHOW CLUSTER")?;
    let engine = &session.engine;
    let mut rows = engine.cluster_settings().rows();
    let signal = engine.scheduler.signal().await;
    rows.push(("pending_tasks".into(), signal.pending_tasks.to_string()));
    rows.push(("running_tasks".into(), signal.running_tasks.to_string()));
    rows.push(("queued_jobs".into(), signal.queued_jobs.to_string()));
    let listed = executors::list(&engine.scheduler, &engine.launched()).await?;
    for state in ["active", "draining", "lost"] {
        rows.push((format!("executors_{state}"), listed.iter().filter(|e| e.state == state).count().to_string()));
    }
    rows.push(("operator_hold".into(), engine.operator_hold.current().map_or_else(|| "none".into(), |h| h.describe())));
    let (setting, value): (Vec<String>, Vec<String>) = rows.into_iter().unzip();
    let batch = RecordBatch::try_new(schema(), vec![Arc::new(StringArray::from(setting)), Arc::new(StringArray::from(value))])?;
    Output::from_batches(schema(), vec![batch])
}
