//! Models: the registry of trained versions, their files, the names queries use, and training and
//! evaluation, which run as distributed aggregate queries planned here (their one-row results read
//! here too). The statements that train, evaluate, describe and drop models are in
//! [`crate::commands`].

pub(crate) mod importance;
pub mod predictions;
pub(crate) mod references;
pub mod refresh;
pub mod registry;
pub mod serving;
pub mod store;
pub(crate) mod system_table;
pub(crate) mod train;

use std::time::{SystemTime, UNIX_EPOCH};

use datafusion::arrow::array::{Array, AsArray};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::physical_plan::common::collect;

use crate::error::{Result, SquallError};
use crate::session::Session;
use crate::statements::query;

/// Runs `rows` aggregated by one ML aggregate `call` (wherever routing sends it: the executors
/// for table scans) and returns its one Binary value (empty when there were no rows).
pub(crate) async fn aggregate_blob(session: &Session, rows: LogicalPlan, call: Expr) -> Result<Vec<u8>> {
    let plan = LogicalPlanBuilder::from(rows).aggregate(Vec::<Expr>::new(), vec![call])?.build()?;
    let batches = collect(query::stream(session, plan).await?).await?;
    let blob = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .map(|b| b.column(0).clone())
        .ok_or_else(|| SquallError::Internal("a training aggregate returned no row".into()))?;
    let blob = blob.as_binary::<i32>();
    Ok(if blob.is_null(0) { vec![] } else { blob.value(0).to_vec() })
}

pub(crate) fn now_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}
