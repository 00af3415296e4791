//! Rows arriving by other doors than SQL: `POST /v1/tables/<table>/rows` on the HTTP port
//! ([`http_rows`]) and files landing where a pipe watches ([`pipes`]).

pub mod accounting;
pub mod backpressure;
pub mod formats;
pub mod http_rows;
pub mod pipes;

use std::sync::Arc;
use std::time::Duration;

use crate::copy::from_stdin::Target;
use crate::engine::Engine;
use crate::error::Result;
use crate::storage::delta::grouped_append::Batch;
use crate::storage::delta::producer_batches::Appended;

/// `batch` committed to `target`'s table by its group committer. Plans kept to run again are
/// then stale, as after an INSERT: a query repeated after the commit must see its rows.
pub async fn commit(engine: &Arc<Engine>, target: &Target, batch: Batch) -> Result<Appended> {
    let interval = Duration::from_millis(engine.cluster_settings().commit_interval_ms);
    let appended = engine.tables.append_grouped(&target.url, &target.committer, batch, interval).await;
    engine.plan_changes.note();
    appended
}
