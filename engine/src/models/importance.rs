//! Permutation importance, measured after training for the algorithms that have no importance of
//! their own (Naive Bayes, k-means): one distributed pass of `squall_permutation_importance` over
//! the holdout rows (see [`squall_udf::functions::permutation_importance`]).

use datafusion::logical_expr::{Expr, LogicalPlan};
use squall_udf::functions::permutation_importance::{Shuffled, NAME};

use super::train::model_aggregate;
use crate::error::{Result, SquallError};
use crate::session::Session;

/// Each feature's share of the importance, from the loss of `rows` with each feature shuffled;
/// `None` when there are no rows to measure it on.
pub(crate) async fn by_permutation(session: &Session, rows: LogicalPlan, url: &str, target: Option<&Expr>, features: &[Expr]) -> Result<Option<Vec<f64>>> {
    let bytes = model_aggregate(session, rows, NAME, url, target, features).await?;
    if bytes.is_empty() {
        return Ok(None);
    }
    let tallies: Shuffled = serde_json::from_slice(&bytes).map_err(|e| SquallError::Internal(format!("reading the permutation importance: {e}")))?;
    Ok(tallies.importance())
}
