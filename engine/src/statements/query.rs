//! Queries: routed to the executors when they read user tables, run on the coordinator
//! otherwise (see [`crate::routing`]).

use std::sync::Arc;

use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use datafusion::execution::{SendableRecordBatchStream, SessionStateBuilder, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::execute_stream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;

use crate::error::Result;
use crate::routing::{route, Route};
use crate::session::{Output, Session};

pub(crate) async fn run(session: &Session, plan: LogicalPlan) -> Result<Output> {
    let schema = Arc::new(plan.schema().as_arrow().clone());
    let rows = stream(session, plan).await?;
    Ok(Output::Rows { schema, rows })
}

/// The rows of `plan`, computed where [`route`] says.
pub(crate) async fn stream(session: &Session, plan: LogicalPlan) -> Result<SendableRecordBatchStream> {
    let route = route(&plan)?;
    let state = match route {
        Route::Coordinator => session.ctx.state(),
        // Built per query from the session's current settings, so `SET` applies to both paths;
        // the job is named after the statement, which SHOW JOBS then shows.
        Route::Executors => {
            let state = session.ctx.state().upgrade_for_ballista(session.engine.scheduler_url.clone())?;
            let sql = session.engine.running_statements.sql(&session.ctx.session_id()).unwrap_or_default();
            let config = state.config().clone().with_ballista_job_name(&sql);
            SessionStateBuilder::new_from_existing(state).with_config(config).build()
        }
    };
    let physical = state.create_physical_plan(&plan).await?;
    let rows = execute_stream(physical, Arc::new(TaskContext::from(&state)))?;
    if matches!(route, Route::Coordinator) {
        return Ok(rows);
    }
    // Until its rows are all read, the query may still fetch results from executors: a drain
    // waits for it.
    let in_flight = session.engine.queries_in_flight.begin();
    let schema = rows.schema();
    Ok(Box::pin(RecordBatchStreamAdapter::new(
        schema,
        rows.map(move |batch| {
            let _held = &in_flight;
            batch
        }),
    )))
}
