//! `GET /health`: what a load balancer or an orchestrator asks before sending work. 200 `ok`
//! when the scheduler answers, at least `min_executors` executors are active and the data
//! directory takes a file; otherwise 503 naming the checks that failed.

use serde::Serialize;

use crate::cluster::executors;
use crate::engine::Engine;

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

pub async fn checks(engine: &Engine) -> Vec<Check> {
    let listed = executors::list(&engine.scheduler, &engine.launched()).await;
    checks_of(engine, listed.as_deref())
}

/// The checks, the executors already listed (or the scheduler's failure to list them).
pub fn checks_of<E: std::fmt::Display>(engine: &Engine, listed: Result<&[executors::ExecutorRow], &E>) -> Vec<Check> {
    let minimum = engine.cluster_settings().min_executors as usize;
    let (scheduler, executors) = match listed {
        Ok(list) => {
            let active = list.iter().filter(|e| e.state == "active").count();
            (
                Check { name: "scheduler", ok: true, detail: "answering".into() },
                Check { name: "executors", ok: active >= minimum, detail: format!("{active} active, min_executors {minimum}") },
            )
        }
        Err(e) => (
            Check { name: "scheduler", ok: false, detail: format!("not answering: {e}") },
            Check { name: "executors", ok: false, detail: "unknown: the scheduler does not answer".into() },
        ),
    };
    let probe = engine.data_dir.join(format!(".health-{}", std::process::id()));
    let writable = match std::fs::write(&probe, b"ok").and_then(|_| std::fs::remove_file(&probe)) {
        Ok(()) => Check { name: "data_directory", ok: true, detail: "writable".into() },
        Err(e) => Check { name: "data_directory", ok: false, detail: format!("{}: {e}", engine.data_dir.display()) },
    };
    vec![scheduler, executors, writable]
}
