//! The cluster: the executors as squall knows them, the launcher that starts them, the autoscaler
//! and its policy, draining, the settings ALTER CLUSTER changes, and the events they record. The commands an operator runs in SQL are in [`crate::commands`].

pub mod autoscaler;
pub mod drain;
pub mod events;
pub mod executors;
pub mod launcher;
pub mod operator_hold;
pub mod policy;
pub mod settings;

use crate::error::{Result, SquallError};

/// Stops an executor and tells the scheduler at once, so its tasks and shuffle output are
/// computed again elsewhere. One squall launched is stopped by its launcher; any other is told to
/// stop by its next orders (see `scheduler::executor_orders`) and refused work meanwhile. False if
/// squall did not launch it.
pub(crate) async fn stop_executor(engine: &crate::engine::Engine, id: &str, reason: &str) -> Result<bool> {
    use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpc;
    use ballista_core::serde::protobuf::ExecutorStoppedParams;
    // First, so that no message it sent before dying registers it again.
    engine.scheduler.stopped.insert(id);
    let stopped = match engine.launcher() {
        Some(launcher) => launcher.stop(id).await,
        None => false,
    };
    if !stopped {
        engine.scheduler.stop_orders.order(id, reason);
    }
    let request = tonic::Request::new(ExecutorStoppedParams { executor_id: id.to_string(), reason: reason.to_string() });
    SchedulerGrpc::executor_stopped(&engine.scheduler.server, request)
        .await
        .map_err(|e| SquallError::Internal(format!("telling the scheduler executor {id} stopped: {e}")))?;
    Ok(stopped)
}
