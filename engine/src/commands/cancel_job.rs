//! `CANCEL JOB 'id'`: the scheduler cancels the job and its tasks on the executors; the client
//! that ran it gets 57014.

use crate::error::{Result, SquallError};
use crate::session::{Output, Session};

pub(super) async fn run(session: &Session, id: &str) -> Result<Output> {
    let server = &session.engine.scheduler.server;
    if !server.state.task_manager.get_running_job_cache().contains_key(id) {
        return Err(SquallError::UndefinedObject(format!("job \"{id}\" is not queued or running")));
    }
    // As pg_cancel_backend: your own statements' jobs, or any job for a superuser.
    let owner = session.engine.scheduler.statement_jobs.user_of(id);
    if !session.is_superuser() && owner.as_deref() != Some(session.user.as_str()) {
        return Err(SquallError::InsufficientPrivilege(format!("permission denied to cancel job \"{id}\": it is not yours")));
    }
    server
        .cancel_job(ballista_core::JobId::new(id))
        .await
        .map_err(|e| SquallError::Internal(format!("cancelling job {id}: {e}")))?;
    Ok(Output::Done { tag: "CANCEL JOB", rows: None })
}
