//! Draining an executor (`DRAIN EXECUTOR 'id'`, and the autoscaler's scale-down): it is offered no
//! new tasks (see [`crate::scheduler::draining_state`]), its running tasks finish, and it keeps serving its
//! shuffle output until no running job needs it; then it is stopped and leaves the cluster.
//!
//! "Needed" is read from the scheduler's execution graphs: a running job needs an executor while
//! a task runs there, while a stage that has not finished reads partitions it holds, or while it
//! holds output of a stage whose consumers have not all finished (the final stage's output is
//! read by the coordinator's client after the job ends, so distributed queries still streaming
//! their results count too: see [`crate::scheduler::draining_state::QueriesInFlight`]).


use ballista_core::serde::protobuf::task_status;
use ballista_scheduler::state::execution_stage::{ExecutionStage, TaskInfo};

use crate::engine::Engine;
use crate::error::Result;
use crate::scheduler::EmbeddedScheduler;

/// Moves every drain on: those no running job needs any more are stopped. Called on each
/// autoscaler tick.
pub async fn progress(engine: &Engine) -> Result<()> {
    let drains = &engine.scheduler.drains;
    let draining = drains.snapshot();
    if draining.is_empty() {
        return Ok(());
    }
    let registered = engine.scheduler.registered_executors().await?;
    for (id, drain) in draining {
        if !registered.contains(&id) {
            // Gone from the scheduler: stopped here, lost, or removed meanwhile.
            drains.forget(&id);
            continue;
        }
        if drain.stopped {
            continue;
        }
        if needed(&engine.scheduler, &id).await {
            drains.needed_now(&id);
            continue;
        }
        // A job that needed it may have ended with its client still reading the final output.
        if engine.queries_in_flight.any_started_before(drain.last_needed) {
            continue;
        }
        super::stop_executor(engine, &id, "drained").await?;
        drains.stopped(&id);
        engine.cluster_events.record(
            "drained",
            "no-longer-needed",
            &id,
            format!("no running job needs it; drained in {:.1} s", drain.started.elapsed().as_secs_f64()),
        );
    }
    Ok(())
}

/// Whether a running job still needs executor `id`: a task running there, partitions there that
/// an unfinished stage reads, or output there of a stage whose consumers have not all finished.
async fn needed(scheduler: &EmbeddedScheduler, id: &str) -> bool {
    for job in scheduler.server.state.task_manager.get_running_job_cache().values() {
        let graph = job.execution_graph.read().await;
        let stages = graph.stages();
        for stage in stages.values() {
            let inputs = match stage {
                ExecutionStage::UnResolved(s) => Some(&s.inputs),
                ExecutionStage::Resolved(s) => Some(&s.inputs),
                ExecutionStage::Running(s) => Some(&s.inputs),
                ExecutionStage::Successful(_) | ExecutionStage::Failed(_) => None,
            };
            let reads_from_it = inputs.is_some_and(|inputs| {
                inputs.values().flat_map(|o| o.partition_locations.values().flatten()).any(|l| l.executor_meta.id == id)
            });
            if reads_from_it {
                return true;
            }
            let ran_there = stage.task_infos().is_some_and(|tasks| tasks.iter().any(|t| ran_on(t, id)));
            let consumers_pending = stage.output_links().is_empty()
                || stage.output_links().iter().any(|l| !matches!(stages.get(l), Some(ExecutionStage::Successful(_))));
            if ran_there && consumers_pending {
                return true;
            }
        }
    }
    false
}

fn ran_on(task: &TaskInfo, id: &str) -> bool {
    match &task.task_status {
        task_status::Status::Running(r) => r.executor_id == id,
        task_status::Status::Successful(s) => s.executor_id == id,
        _ => false,
    }
}
