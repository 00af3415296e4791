//! The cluster: the commands an operator runs in SQL (one file each), the autoscaler and its
//! policy, draining, and the events they record.

mod add_executors;
pub mod autoscaler;
mod cancel_job;
pub mod drain;
mod drain_executor;
pub mod events;
pub mod policy;
mod remove_executor;
pub mod settings;
mod show_cluster;

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use squall_sql::Command;

use crate::error::{Result, SquallError};
use crate::session::{Output, Session};

/// The columns a cluster command answers with (`None`: a command tag).
pub fn result_schema(command: &Command) -> Option<SchemaRef> {
    match command {
        Command::AddExecutors { .. } => Some(Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)]))),
        Command::ShowCluster => Some(show_cluster::schema()),
        _ => None,
    }
}

/// Whether `command` is one of this module's.
pub fn handles(command: &Command) -> bool {
    matches!(
        command,
        Command::AddExecutors { .. }
            | Command::RemoveExecutor { .. }
            | Command::DrainExecutor { .. }
            | Command::ShowCluster
            | Command::AlterCluster { .. }
            | Command::CancelJob { .. }
    )
}

/// The commands that change or reveal the cluster's make-up: superusers only.
fn needs_superuser(command: &Command) -> Option<&'static str> {
    match command {
        Command::AddExecutors { .. } => Some("ADD EXECUTOR"),
        Command::RemoveExecutor { .. } => Some("REMOVE EXECUTOR"),
        Command::DrainExecutor { .. } => Some("DRAIN EXECUTOR"),
        Command::ShowCluster => Some("SHOW CLUSTER"),
        Command::AlterCluster { .. } => Some("ALTER CLUSTER"),
        _ => None,
    }
}

pub async fn run(session: &Session, command: &Command) -> Result<Output> {
    if let Some(name) = needs_superuser(command) {
        if !session.is_superuser() {
            return Err(SquallError::InsufficientPrivilege(format!("permission denied: {name} needs a superuser")));
        }
    }
    match command {
        Command::AddExecutors { count } => add_executors::run(session, *count).await,
        Command::RemoveExecutor { id } => remove_executor::run(session, id).await,
        Command::DrainExecutor { id } => drain_executor::run(session, id).await,
        Command::ShowCluster => {
            let batch = show_cluster::rows(session).await?;
            Output::from_batches(batch.schema(), vec![batch])
        }
        Command::CancelJob { id } => cancel_job::run(session, id).await,
        Command::AlterCluster { options } => {
            session.engine.alter_cluster(options)?;
            Ok(Output::Done { tag: "ALTER CLUSTER", rows: None })
        }
        other => Err(SquallError::Internal(format!("{other:?} is not a cluster command"))),
    }
}

/// Stops an executor and tells the scheduler at once, so its tasks and shuffle output are
/// computed again elsewhere. One squall launched is stopped by its launcher; any other is asked to
/// shut down over its gRPC service. False if squall did not launch it.
pub(crate) async fn stop_executor(engine: &crate::engine::Engine, id: &str, reason: &str) -> Result<bool> {
    use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpc;
    use ballista_core::serde::protobuf::ExecutorStoppedParams;
    let stopped = match engine.launcher() {
        Some(launcher) => launcher.stop(id).await,
        None => false,
    };
    if !stopped {
        engine.scheduler.server.state.executor_manager.stop_executor(id, reason.to_string()).await;
    }
    let request = tonic::Request::new(ExecutorStoppedParams { executor_id: id.to_string(), reason: reason.to_string() });
    SchedulerGrpc::executor_stopped(&engine.scheduler.server, request)
        .await
        .map_err(|e| SquallError::Internal(format!("telling the scheduler executor {id} stopped: {e}")))?;
    Ok(stopped)
}
