//! `REMOVE EXECUTOR 'id'` and `DRAIN EXECUTOR 'id'`: an operator takes an executor out of the
//! cluster, at once or once no running job needs it. Superusers only. The cluster is then held at
//! its smaller size against scale-up for `idle_timeout` ([`crate::cluster::operator_hold`]).

use crate::access::checks::require_superuser;
use crate::cluster::operator_hold::{hold_current_size, Against};
use crate::error::{Result, SquallError};
use crate::session::{Output, Session};

/// `REMOVE EXECUTOR`: stop the executor now. The scheduler is told at once (not after missed
/// heartbeats), so the tasks it was running and the shuffle output it held are computed again on
/// the other executors.
pub(super) async fn remove(session: &Session, id: &str) -> Result<Output> {
    require_superuser(session, "REMOVE EXECUTOR")?;
    let engine = &session.engine;
    let registered = engine.scheduler.registered_executors().await?.iter().any(|e| e == id);
    let ours = engine.launched().contains_key(id);
    if !registered && !ours {
        return Err(SquallError::UndefinedObject(format!("executor \"{id}\" does not exist")));
    }
    // Recorded first, so the autoscaler does not take its departure for a loss.
    engine.cluster_events.record("remove", "operator", id, "REMOVE EXECUTOR".into());
    if !crate::cluster::stop_executor(engine, id, "REMOVE EXECUTOR").await? {
        session.notice(format!("executor \"{id}\" was not started by squall: it was asked to shut down and is removed from the cluster"));
    }
    // The scheduler forgets it in the background; answer once it has, so that what the operator
    // reads next no longer lists it.
    engine.scheduler.wait_for_executors(std::time::Duration::from_secs(5), |ids| !ids.iter().any(|e| e == id)).await?;
    hold_current_size(engine, Against::ScaleUp, "REMOVE EXECUTOR").await?;
    Ok(Output::Done { tag: "REMOVE EXECUTOR", rows: None })
}

/// `DRAIN EXECUTOR`: from now on the executor gets no new tasks; the autoscaler's tick stops it
/// once no running job needs it (see [`crate::cluster::drain`]). Answers at once;
/// `squall.executors` shows it as `draining` until it leaves, and `squall.cluster_events` records
/// when it did.
pub(super) async fn drain(session: &Session, id: &str) -> Result<Output> {
    require_superuser(session, "DRAIN EXECUTOR")?;
    let engine = &session.engine;
    if !engine.scheduler.registered_executors().await?.iter().any(|e| e == id) {
        return Err(SquallError::UndefinedObject(format!("executor \"{id}\" does not exist")));
    }
    if engine.scheduler.drains.start(id) {
        engine.cluster_events.record("drain", "operator", id, "DRAIN EXECUTOR".into());
        hold_current_size(engine, Against::ScaleUp, "DRAIN EXECUTOR").await?;
    } else {
        session.notice(format!("executor \"{id}\" is already draining"));
    }
    Ok(Output::Done { tag: "DRAIN EXECUTOR", rows: None })
}
