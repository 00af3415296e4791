//! Stage plans that stop when their task is cancelled.
//!
//! Ballista cancels a task by aborting its future. That alone stopped nothing: a cancelled
//! `statement_timeout` query kept both executors at 100% CPU for two more minutes, because
//! (1) the shuffle writer runs the stage in tokio tasks of its own, which outlive the aborted
//! future, and (2) a stage whose operators never wait (a join over local shuffle files producing
//! many rows per row read, the aggregate above it) never yields its thread, so even the abort
//! could not run. Here, on the executor, before Ballista runs a stage:
//! - every join and every leaf that does not spend tokio's task budget (the shuffle reads Ballista
//!   plans; DataFusion's scans already do) gets DataFusion's `CooperativeExec` above it, which
//!   yields the thread once the budget is spent;
//! - and a [`StopWhenCancelled`] that ends its stream with an error once the task's future is
//!   dropped, which ends the writer's own tasks at their next batch.

use std::fmt::{self, Debug, Display};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ballista_core::serde::protobuf::{RuntimeStatsReport, ShuffleWritePartition, TaskColumnStats, WindowStateReport};
use ballista_core::JobId;
use ballista_executor::execution_engine::{DefaultExecutionEngine, ExecutionEngine, QueryStageExecutor};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::execution_plan::{replace_children_if_necessary, SchedulingType};
use datafusion::physical_plan::joins::{CrossJoinExec, HashJoinExec, NestedLoopJoinExec, SortMergeJoinExec, SymmetricHashJoinExec};
use datafusion::physical_plan::metrics::MetricsSet;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use futures::Stream;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::kept_training_rows::keep_training_rows;
use crate::pass_through::{Above, PassThrough};
use crate::running_tasks::RunningTasks;
use squall_engine::scheduler::executor_orders::RunningTask;

/// Ballista's execution engine, running stages that stop when cancelled (and whose training
/// passes replay the rows this executor kept: [`crate::kept_training_rows`]).
pub struct CooperativeStages {
    inner: DefaultExecutionEngine,
    /// Each task's stop token, for the scheduler's orders (see [`crate::orders`]).
    tasks: RunningTasks,
    /// Rung when a task is over: its status is then waiting to be reported (see
    /// [`crate::process`]).
    finished: Arc<Notify>,
}

impl CooperativeStages {
    pub fn new(tasks: RunningTasks, finished: Arc<Notify>) -> Self {
        // Shuffle reads from other executors reuse their connections (see `client_pool`).
        let clients = Arc::new(crate::client_pool::FlightClients::default());
        Self { inner: DefaultExecutionEngine::with_client_pool(clients), tasks, finished }
    }
}

impl ExecutionEngine for CooperativeStages {
    fn create_query_stage_exec(
        &self,
        job_id: JobId,
        stage_id: usize,
        task_id: usize,
        global_output_partition_ids: Vec<usize>,
        plan: Arc<dyn ExecutionPlan>,
        work_dir: &str,
        config: &SessionConfig,
    ) -> Result<Arc<dyn QueryStageExecutor>> {
        let cancelled = CancellationToken::new();
        let task = RunningTask { job_id: job_id.to_string(), stage_id: stage_id as u32, task_id: task_id as u32 };
        let plan = cooperative(keep_training_rows(plan)?, &cancelled)?;
        let inner = self.inner.create_query_stage_exec(job_id, stage_id, task_id, global_output_partition_ids, plan, work_dir, config)?;
        self.tasks.started(task.clone(), cancelled.clone());
        Ok(Arc::new(CancellableStage { inner, cancelled, task, tasks: self.tasks.clone(), finished: Arc::clone(&self.finished) }))
    }
}

/// `stage` with the yield and stop points described above. Its root, the shuffle writer Ballista
/// runs the stage through, stays the root.
pub fn cooperative(stage: Arc<dyn ExecutionPlan>, cancelled: &CancellationToken) -> Result<Arc<dyn ExecutionPlan>> {
    let children = stage
        .children()
        .into_iter()
        .map(|child| {
            Arc::clone(child)
                .transform_up(|node| {
                    let wrap = if node.children().is_empty() {
                        node.properties().scheduling_type == SchedulingType::NonCooperative
                    } else {
                        is_join(&node)
                    };
                    if !wrap {
                        return Ok(Transformed::no(node));
                    }
                    let node: Arc<dyn ExecutionPlan> = Arc::new(CooperativeExec::new(node));
                    Ok(Transformed::yes(Arc::new(StopWhenCancelled::new(node, cancelled.clone())) as Arc<dyn ExecutionPlan>))
                })
                .map(|t| t.data)
        })
        .collect::<Result<Vec<_>>>()?;
    if children.is_empty() {
        return Ok(stage);
    }
    replace_children_if_necessary(stage, children)
}

fn is_join(node: &Arc<dyn ExecutionPlan>) -> bool {
    node.is::<HashJoinExec>()
        || node.is::<NestedLoopJoinExec>()
        || node.is::<CrossJoinExec>()
        || node.is::<SortMergeJoinExec>()
        || node.is::<SymmetricHashJoinExec>()
}

/// A stage whose stop points fire when its execution is dropped (Ballista aborting the task) or
/// when the scheduler's orders stop it.
struct CancellableStage {
    inner: Arc<dyn QueryStageExecutor>,
    cancelled: CancellationToken,
    task: RunningTask,
    tasks: RunningTasks,
    finished: Arc<Notify>,
}

/// Ballista drops a task's stage after it has queued the task's status and freed its slot: the
/// poll loop is woken to report it now.
impl Drop for CancellableStage {
    fn drop(&mut self) {
        self.tasks.finished(&self.task);
        self.finished.notify_one();
    }
}

impl Debug for CancellableStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Debug::fmt(&self.inner, f)
    }
}

impl Display for CancellableStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Display::fmt(&self.inner, f)
    }
}

#[async_trait::async_trait]
impl QueryStageExecutor for CancellableStage {
    async fn execute_query_stage(&self, task_id: usize, context: Arc<TaskContext>) -> Result<Vec<ShuffleWritePartition>> {
        // Cancels when this future is dropped, finished or not: by then nothing reads the stage.
        let _stop_on_drop = self.cancelled.clone().drop_guard();
        let written = self.inner.execute_query_stage(task_id, context).await;
        self.tasks.finished(&self.task);
        written
    }

    fn collect_plan_metrics(&self) -> Vec<MetricsSet> {
        self.inner.collect_plan_metrics()
    }

    fn collect_runtime_stats_reports(&self) -> Vec<RuntimeStatsReport> {
        self.inner.collect_runtime_stats_reports()
    }

    fn collect_window_state_reports(&self) -> Result<Vec<WindowStateReport>> {
        self.inner.collect_window_state_reports()
    }

    fn collect_column_stats(&self) -> Vec<TaskColumnStats> {
        self.inner.collect_column_stats()
    }
}

/// Passes its input through until its task is cancelled, then ends with an error.
#[derive(Debug, Clone)]
pub struct StopWhenCancelled {
    cancelled: CancellationToken,
}

impl StopWhenCancelled {
    fn new(input: Arc<dyn ExecutionPlan>, cancelled: CancellationToken) -> Above<Self> {
        Above::new(input, Self { cancelled })
    }
}

impl PassThrough for StopWhenCancelled {
    const NAME: &'static str = "StopWhenCancelled";

    fn execute(&self, input: &Arc<dyn ExecutionPlan>, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        Ok(Box::pin(StoppingStream { input: input.execute(partition, context)?, cancelled: self.cancelled.clone() }))
    }
}

struct StoppingStream {
    input: SendableRecordBatchStream,
    cancelled: CancellationToken,
}

impl Stream for StoppingStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.cancelled.is_cancelled() {
            return Poll::Ready(Some(Err(DataFusionError::Execution("task cancelled".into()))));
        }
        self.input.as_mut().poll_next(cx)
    }
}

impl RecordBatchStream for StoppingStream {
    fn schema(&self) -> SchemaRef {
        self.input.schema()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_expr::expressions::Column;
    use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
    use ballista_core::execution_plans::ShuffleReaderExec;
    use datafusion::physical_plan::Partitioning;
    use datafusion::physical_plan::joins::PartitionMode;
    use datafusion::physical_plan::displayable;
    use datafusion::common::NullEquality;
    use datafusion::logical_expr::JoinType;

    #[test]
    fn joins_and_non_cooperative_leaves_get_yield_and_stop_points_and_the_root_stays() {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        // Shuffle reads: leaves that do not spend the task budget.
        let read = || -> Arc<dyn ExecutionPlan> { Arc::new(ShuffleReaderExec::try_new(1, vec![vec![]], schema.clone(), Partitioning::UnknownPartitioning(1)).unwrap()) };
        let (left, right) = (read(), read());
        let on = vec![(Arc::new(Column::new("k", 0)) as _, Arc::new(Column::new("k", 0)) as _)];
        let join = HashJoinExec::try_new(left, right, on, None, &JoinType::Inner, None, PartitionMode::CollectLeft, NullEquality::NullEqualsNothing, false)
            .unwrap();
        let stage: Arc<dyn ExecutionPlan> = Arc::new(CoalescePartitionsExec::new(Arc::new(join)));
        let text = displayable(cooperative(stage, &CancellationToken::new()).unwrap().as_ref()).indent(false).to_string();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        assert!(lines[0].starts_with("CoalescePartitionsExec"), "{text}");
        assert_eq!(lines[1..3], ["StopWhenCancelled", "CooperativeExec"], "{text}");
        assert!(lines[3].starts_with("HashJoinExec"), "{text}");
        assert_eq!(lines[4..6], ["StopWhenCancelled", "CooperativeExec"], "{text}");
        assert!(lines[6].starts_with("ShuffleReaderExec"), "{text}");
        let leaves = lines.iter().filter(|l| l.starts_with("ShuffleReaderExec")).count();
        let yields = lines.iter().filter(|l| **l == "CooperativeExec").count();
        assert_eq!((leaves, yields), (2, 3), "{text}");
    }
}

#[cfg(test)]
mod stop_tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::memory::MemorySourceConfig;
    use futures::StreamExt;

    #[tokio::test]
    async fn the_stream_ends_with_an_error_once_cancelled() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![1, 2, 3]))]).unwrap();
        let source = MemorySourceConfig::try_new_exec(&[vec![batch.clone(), batch]], schema, None).unwrap();
        let cancelled = CancellationToken::new();
        let plan = StopWhenCancelled::new(source, cancelled.clone());
        let mut rows = plan.execute(0, Arc::new(TaskContext::default())).unwrap();
        assert_eq!(rows.next().await.unwrap().unwrap().num_rows(), 3);
        drop(cancelled.clone().drop_guard());
        let err = rows.next().await.unwrap().expect_err("stopped");
        assert!(err.to_string().contains("task cancelled"), "{err}");
    }
}

