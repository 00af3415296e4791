//! The autoscaler's loop: every quarter second it notices executors that left without being
//! asked, moves drains on, reads the embedded scheduler's backlog and applies what the
//! [`policy`](super::policy) decides through the launcher. With the `external` launcher it only
//! does the first two: Kubernetes/KEDA or an operator start executors from `/metrics`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::policy::{Action, ExecutorView, Observation, Policy};
use crate::engine::Engine;
use crate::cluster::executors;
use crate::cluster::launcher::LaunchedBy;

const TICK: Duration = Duration::from_millis(250);

/// How long a launched executor may take to register before it is given up as lost.
const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(60);

pub fn spawn(engine: Arc<Engine>) {
    tokio::spawn(async move {
        let mut autoscaler = Autoscaler::default();
        loop {
            tokio::time::sleep(TICK).await;
            if let Err(e) = autoscaler.tick(&engine).await {
                tracing::warn!("autoscaler: {e}");
            }
        }
    });
}

#[derive(Default)]
struct Autoscaler {
    policy: Policy,
    /// The executors registered at the last tick.
    registered: HashSet<String>,
}

impl Autoscaler {
    async fn tick(&mut self, engine: &Arc<Engine>) -> crate::error::Result<()> {
        self.notice_losses(engine).await?;
        super::drain::progress(engine).await?;
        let Some(launcher) = engine.launcher() else { return Ok(()) };

        let launched = launcher.launched();
        let listed = executors::list(&engine.scheduler, &launched).await?;
        let signal = engine.scheduler.signal().await;
        let live: Vec<&executors::ExecutorRow> = listed.iter().filter(|e| e.state != "lost").collect();
        let seen = Observation {
            now: Instant::now(),
            pending_tasks: signal.pending_tasks as u64,
            queued_jobs: signal.queued_jobs as u64,
            executors: live
                .iter()
                .map(|e| ExecutorView {
                    id: e.id.clone(),
                    running_tasks: e.running_tasks.max(0) as u64,
                    ours: launched.contains_key(&e.id),
                    draining: e.state == "draining",
                })
                .collect(),
            starting: launched.keys().filter(|id| !listed.iter().any(|e| &e.id == *id)).count() as u64,
            slots_per_executor: live.iter().map(|e| e.slots as u64).max().unwrap_or(launcher.slots_per_executor()),
            hold: engine.operator_hold.current(),
        };
        for action in self.policy.decide(&engine.cluster_settings(), &seen) {
            match action {
                Action::Launch { count, kind, reason } => {
                    let cause = if kind == "replace" { "below-min" } else { "backlog" };
                    for _ in 0..count {
                        let id = launcher.launch(LaunchedBy::Autoscaler)?;
                        engine.cluster_events.record(kind, cause, &id, reason.clone());
                    }
                }
                Action::Drain { id, reason } => {
                    if engine.scheduler.drains.start(&id) {
                        engine.cluster_events.record("scale-down", "idle", &id, format!("{reason}; draining"));
                    }
                }
                Action::Held { reason } => engine.cluster_events.record("held", "operator-hold", "", reason),
            }
        }
        Ok(())
    }

    /// Executors that went away without squall taking them out: a local process that exited
    /// (known at once from its exit status, not from missed heartbeats), one the scheduler expired
    /// after missed heartbeats, or one launched that never registered. The scheduler is told at
    /// once, so their tasks run again elsewhere, and each is recorded as a loss.
    async fn notice_losses(&mut self, engine: &Arc<Engine>) -> crate::error::Result<()> {
        if let Some(launcher) = engine.launcher() {
            for (id, status) in launcher.reap_exited() {
                super::stop_executor(engine, &id, "process exited").await?;
                engine.cluster_events.record("loss", "process-exited", &id, format!("executor process exited ({status})"));
            }
        }
        let registered: HashSet<String> = engine.scheduler.registered_executors().await?.into_iter().collect();
        for id in self.registered.difference(&registered) {
            if !engine.cluster_events.departed(id) {
                super::stop_executor(engine, id, "heartbeat timed out").await?;
                engine.cluster_events.record("loss", "heartbeat-timeout", id, "no heartbeat within the timeout".into());
            }
        }
        if let Some(launcher) = engine.launcher() {
            let now = crate::epoch_ms();
            for (id, launched) in launcher.launched() {
                let waited = Duration::from_millis((now - launched.started_at).max(0) as u64);
                if !registered.contains(&id) && !self.registered.contains(&id) && waited > REGISTRATION_TIMEOUT {
                    super::stop_executor(engine, &id, "did not register").await?;
                    engine.cluster_events.record(
                        "loss",
                        "did-not-register",
                        &id,
                        format!("not registered {} s after launch; see its log under the data directory's executors/", waited.as_secs()),
                    );
                }
            }
        }
        self.registered = registered;
        Ok(())
    }
}

