//! `DRAIN EXECUTOR 'id'`: from now on the executor gets no new tasks; the autoscaler's tick stops it
//! once no running job needs it (see [`super::drain`]). Answers at once; `squall.executors` shows it
//! as `draining` until it leaves, and `squall.cluster_events` records when it did.

use crate::error::{Result, SquallError};
use crate::session::{Output, Session};

pub async fn run(session: &Session, id: &str) -> Result<Output> {
    let engine = &session.engine;
    if !engine.scheduler.registered_executors().await?.iter().any(|e| e == id) {
        return Err(SquallError::UndefinedObject(format!("executor \"{id}\" does not exist")));
    }
    if engine.scheduler.drains.start(id) {
        engine.cluster_events.record("drain", "operator", id, "DRAIN EXECUTOR".into());
    } else {
        session.notice(format!("executor \"{id}\" is already draining"));
    }
    Ok(Output::Done { tag: "DRAIN EXECUTOR", rows: None })
}
