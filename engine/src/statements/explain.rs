//! EXPLAIN and EXPLAIN ANALYZE as squall answers them: DataFusion's plans (and Ballista's stages
//! for a query that runs on the executors), with first a `squall_route` row that says where the
//! query runs and why (`coordinator: reads 912 kB of Parquet columns, at most
//! squall.local_scan_limit 16 MB`, `executors: 2 stages, 2 executors: reads more than ...`), as
//! [`crate::routing`] and the query's placing decided it. EXPLAIN ANALYZE of a distributed query
//! also ends with one `stage N` row per stage, from the job's execution graph in the embedded
//! scheduler: its tasks and the executors they ran on, the rows and bytes it wrote to the shuffle
//! (or as the result), and its time — what Spark's UI and Trino's EXPLAIN ANALYZE show per stage.

use std::collections::BTreeSet;
use std::sync::Arc;

use ballista_core::serde::protobuf::task_status;
use ballista_scheduler::cluster::JobState;
use ballista_scheduler::state::execution_stage::ExecutionStage;
use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::TryStreamExt;

use crate::error::Result;
use crate::routing::Route;
use crate::session::Session;

/// What kind of EXPLAIN a plan is, if it is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Explained {
    Plan,
    Analyze,
}

impl Explained {
    pub(crate) fn of(plan: &LogicalPlan) -> Option<Explained> {
        match plan {
            LogicalPlan::Explain(_) => Some(Explained::Plan),
            LogicalPlan::Analyze(_) => Some(Explained::Analyze),
            _ => None,
        }
    }

    /// The EXPLAIN's rows, with the route row first and, for EXPLAIN ANALYZE on the executors,
    /// the stages' rows last. `statement`: the id the job was submitted under.
    pub(crate) async fn annotate(
        self,
        session: &Session,
        route: Route,
        reason: &str,
        statement: Option<String>,
        rows: SendableRecordBatchStream,
    ) -> Result<SendableRecordBatchStream> {
        let schema = rows.schema();
        let batches: Vec<RecordBatch> = rows.try_collect().await?;
        let mut kinds: Vec<String> = Vec::new();
        let mut plans: Vec<String> = Vec::new();
        for batch in &batches {
            let (kind, plan) = (batch.column(0).as_string::<i32>(), batch.column(1).as_string::<i32>());
            for row in 0..batch.num_rows() {
                kinds.push(kind.value(row).to_string());
                plans.push(if plan.is_valid(row) { plan.value(row).to_string() } else { String::new() });
            }
        }
        let route_line = match route {
            Route::Coordinator => format!("coordinator: {reason}"),
            Route::Executors => {
                // Ballista's stages, as EXPLAIN's distributed plan or EXPLAIN ANALYZE's plan lists them.
                let stages = plans.iter().map(|p| p.lines().filter(|l| l.starts_with("=========") && l.contains("Stage[")).count()).sum::<usize>();
                let executors = session.engine.scheduler.registered_executors().await?.len();
                format!("executors: {stages} stage{}, {executors} executor{}: {reason}", plural(stages), plural(executors))
            }
        };
        kinds.insert(0, "squall_route".into());
        plans.insert(0, route_line);
        if self == Explained::Analyze && route == Route::Executors {
            for (stage, summary) in stage_rows(session, statement.as_deref()).await {
                kinds.push(stage);
                plans.push(summary);
            }
        }
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(StringArray::from(kinds)), Arc::new(StringArray::from(plans))])?;
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, futures::stream::iter([Ok(batch)]))))
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// One row per stage of the jobs `statement` submitted, in stage order.
async fn stage_rows(session: &Session, statement: Option<&str>) -> Vec<(String, String)> {
    let Some(statement) = statement else { return vec![] };
    let scheduler = &session.engine.scheduler;
    let mut rows = Vec::new();
    for job in scheduler.statement_jobs.jobs(statement) {
        let Ok(Some(graph)) = scheduler.job_state.get_execution_graph(&job).await else { continue };
        let mut stages: Vec<(&usize, &ExecutionStage)> = graph.stages().iter().collect();
        stages.sort_by_key(|(id, _)| **id);
        // Stages another stage reads wrote to the shuffle; the last one wrote the result.
        let read: BTreeSet<usize> = stages
            .iter()
            .filter_map(|(_, stage)| match stage {
                ExecutionStage::Successful(s) => Some(s.inputs.keys().copied()),
                _ => None,
            })
            .flatten()
            .collect();
        for (id, stage) in stages {
            let ExecutionStage::Successful(stage) = stage else {
                rows.push((format!("stage {id}"), format!("{} (did not finish)", stage.variant_name())));
                continue;
            };
            let mut executors = BTreeSet::new();
            let (mut tasks, mut out_rows, mut out_bytes, mut task_ms) = (0, 0u64, 0u64, 0u128);
            let (mut first, mut last) = (u128::MAX, 0u128);
            for task in &stage.task_infos {
                let task_status::Status::Successful(done) = &task.task_status else { continue };
                tasks += 1;
                executors.insert(done.executor_id.clone());
                out_rows += done.partitions.iter().map(|p| p.num_rows).sum::<u64>();
                out_bytes += done.partitions.iter().map(|p| p.num_bytes).sum::<u64>();
                task_ms += task.end_exec_time.saturating_sub(task.start_exec_time);
                first = first.min(task.start_exec_time);
                last = last.max(task.end_exec_time);
            }
            let written = if read.contains(id) { "to the shuffle" } else { "as the result" };
            rows.push((
                format!("stage {id}"),
                format!(
                    "{} partition{} in {tasks} task{} on {} executor{}; {out_rows} rows, {} {written}; {} ms (tasks {task_ms} ms in all)",
                    stage.partitions,
                    plural(stage.partitions),
                    plural(tasks),
                    executors.len(),
                    plural(executors.len()),
                    crate::pg::functions::size_pretty(out_bytes as i64),
                    last.saturating_sub(first.min(last)),
                ),
            ));
        }
    }
    rows
}
