//! A query whose subqueries cannot all be turned into joins, run with its uncorrelated subqueries
//! answered first ([`squall_udf::subqueries::answered_first`]): each expression that reads no
//! column and holds them is run as a query of its own, `SELECT expression`, and its value put in
//! its place, as PostgreSQL computes such a subquery once (an InitPlan) and Spark runs it before
//! the query.
//!
//! Only for what would be refused otherwise: the values are the tables' of now, so the plan made
//! with them is never kept for a prepared statement to run again.

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::LogicalPlan;
use futures::TryStreamExt;
use squall_udf::subqueries::answered_first::{computing, uncorrelated_subqueries, with_answers};

use crate::error::Result;
use crate::session::Session;

/// `plan` with its uncorrelated subqueries' values in their place; `None` if it has none.
pub(super) async fn with_uncorrelated_answered(session: &Session, plan: &LogicalPlan) -> Result<Option<LogicalPlan>> {
    let constants = uncorrelated_subqueries(plan);
    if constants.is_empty() {
        return Ok(None);
    }
    let mut answers = Vec::with_capacity(constants.len());
    for expr in constants {
        let value = scalar(session, computing(&expr)?).await?;
        answers.push((expr, value));
    }
    Ok(Some(with_answers(plan.clone(), &answers)?))
}

/// The value of `plan`'s one column: its one row's, NULL for no row, 21000 for more than one
/// (a scalar subquery's rule; `SELECT expression` has one row).
async fn scalar(session: &Session, plan: LogicalPlan) -> Result<ScalarValue> {
    let data_type = plan.schema().field(0).data_type().clone();
    let rows = rows(session, plan).await?;
    match rows.as_slice() {
        [] => Ok(ScalarValue::try_from(&data_type)?),
        [(batch, row)] => Ok(ScalarValue::try_from_array(batch.column(0), *row)?),
        _ => Err(squall_udf::subqueries::single_row_value::too_many_rows().into()),
    }
}

/// The rows of `plan` (each a batch and its row), at most two: a third tells nothing more.
async fn rows(session: &Session, plan: LogicalPlan) -> Result<Vec<(RecordBatch, usize)>> {
    // Boxed: the subquery's own planning may answer subqueries first in turn.
    let mut batches = Box::pin(super::query::stream(session, plan)).await?;
    let mut rows = vec![];
    while let Some(batch) = batches.try_next().await? {
        rows.extend((0..batch.num_rows()).map(|row| (batch.clone(), row)));
        if rows.len() > 1 {
            break;
        }
    }
    Ok(rows)
}
