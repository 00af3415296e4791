//! `REMOVE EXECUTOR 'id'`: stop an executor now. The scheduler is told at once (not after missed
//! heartbeats), so the tasks it was running and the shuffle output it held are computed again on
//! the other executors.

use crate::error::{Result, SquallError};
use crate::session::{Output, Session};

pub async fn run(session: &Session, id: &str) -> Result<Output> {
    let engine = &session.engine;
    let registered = engine.scheduler.registered_executors().await?.iter().any(|e| e == id);
    let ours = engine.launched().contains_key(id);
    if !registered && !ours {
        return Err(SquallError::UndefinedObject(format!("executor \"{id}\" does not exist")));
    }
    // Recorded first, so the autoscaler does not take its departure for a loss.
    engine.cluster_events.record("remove", "operator", id, "REMOVE EXECUTOR".into());
    if !super::stop_executor(engine, id, "REMOVE EXECUTOR").await? {
        session.notice(format!("executor \"{id}\" was not started by squall: it was asked to shut down and is removed from the cluster"));
    }
    // The scheduler forgets it in the background; answer once it has, so that what the operator
    // reads next no longer lists it.
    engine.scheduler.wait_for_executors(std::time::Duration::from_secs(5), |ids| !ids.iter().any(|e| e == id)).await?;
    Ok(Output::Done { tag: "REMOVE EXECUTOR", rows: None })
}
