//! `REMOVE EXECUTOR 'id'`: stop an executor now. The scheduler is told at once (not after missed
//! heartbeats), so the tasks it was running and the shuffle output it held are computed again on
//! the other executors.

use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpc;
use ballista_core::serde::protobuf::ExecutorStoppedParams;

use crate::error::{Result, SquallError};
use crate::session::{Output, Session};

pub async fn run(session: &Session, id: &str) -> Result<Output> {
    let engine = &session.engine;
    let registered = engine.scheduler.registered_executors().await?.iter().any(|e| e == id);
    let stopped = match engine.launcher() {
        Some(launcher) => launcher.stop(id).await,
        None => false,
    };
    if !registered && !stopped {
        return Err(SquallError::UndefinedObject(format!("executor \"{id}\" does not exist")));
    }
    if !stopped {
        session.notice(format!("executor \"{id}\" was not started by squall: it is removed from the cluster, but its process is not stopped"));
    }
    let request = tonic::Request::new(ExecutorStoppedParams {
        executor_id: id.to_string(),
        reason: "REMOVE EXECUTOR".to_string(),
    });
    SchedulerGrpc::executor_stopped(&engine.scheduler.server, request)
        .await
        .map_err(|e| SquallError::Internal(format!("telling the scheduler executor {id} stopped: {e}")))?;
    Ok(Output::Done { tag: "REMOVE EXECUTOR", rows: None })
}
