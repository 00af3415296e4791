//! `ADD EXECUTOR` / `ADD EXECUTORS n`: start executors through the launcher and answer with their
//! ids once they have registered with the scheduler (so the next query can use them). From then
//! the cluster is held at its new size against idle scale-down for `idle_timeout`
//! ([`crate::cluster::operator_hold`]).

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::access::checks::require_superuser;
use crate::error::{Result, SquallError};
use crate::cluster::launcher::LaunchedBy;
use crate::cluster::operator_hold::{hold_current_size, Against};
use crate::session::{Output, Session};

/// How long a new executor may take to register before ADD EXECUTOR reports it.
const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(30);

/// One row per executor started: its id.
pub(super) fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)]))
}

/// Superusers only.
pub(super) async fn run(session: &Session, count: u64) -> Result<Output> {
    require_superuser(session, "ADD EXECUTOR")?;
    let engine = &session.engine;
    let launcher = engine
        .launcher()
        .ok_or_else(|| SquallError::Unsupported("this coordinator has no executor launcher".into()))?;
    if count > 64 {
        return Err(SquallError::InvalidParameter(format!("ADD EXECUTORS {count}: at most 64 at a time")));
    }
    let ids: Vec<String> = (0..count).map(|_| launcher.launch(LaunchedBy::Operator)).collect::<Result<_>>()?;
    for id in &ids {
        engine.cluster_events.record("add", "operator", id, "ADD EXECUTOR".into());
    }
    session.notice(format!("started {}; waiting for them to register", ids.join(", ")));
    let registered = |listed: &[String]| ids.iter().all(|id| listed.contains(id));
    if !engine.scheduler.wait_for_executors(REGISTRATION_TIMEOUT, registered).await? {
        let listed = engine.scheduler.registered_executors().await?;
        let missing: Vec<&String> = ids.iter().filter(|id| !listed.contains(id)).collect();
        return Err(SquallError::Internal(format!(
            "executors {missing:?} started but did not register within {}s; see their logs under the data directory's executors/",
            REGISTRATION_TIMEOUT.as_secs()
        )));
    }
    // Held from when the capacity is there to use.
    let hold = hold_current_size(engine, Against::ScaleDown, "ADD EXECUTOR").await?;
    session.notice(hold.describe());
    let schema = schema();
    let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(StringArray::from(ids))])?;
    Output::from_batches(schema, vec![batch])
}
