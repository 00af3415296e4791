//! The autoscaler: every quarter second it reads the embedded scheduler's backlog (runnable tasks
//! waiting for a slot, summed over running jobs) and acts as Spark's dynamic allocation does.
//!
//! - Tasks have waited longer than `scale_up_after`: request executors, doubling the request each
//!   consecutive round (1, 2, 4, ...), capped by what the backlog needs (pending tasks / slots per
//!   executor) and by `max_executors`.
//! - An executor idle for `idle_timeout` is stopped, down to `min_executors`, and only while no
//!   job runs, so no running job loses shuffle output it still needs.
//! - Fewer than `min_executors` (one was lost or removed): start replacements. A local executor
//!   process that exits is noticed at the next tick and the scheduler told at once, so its tasks
//!   run again elsewhere within a second rather than after the heartbeat timeout.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::Engine;
use crate::executors;
use crate::launcher::LaunchedBy;

const TICK: Duration = Duration::from_millis(250);

pub fn spawn(engine: Arc<Engine>) {
    tokio::spawn(async move {
        let mut state = State::default();
        loop {
            tokio::time::sleep(TICK).await;
            if let Err(e) = state.tick(&engine).await {
                tracing::warn!("autoscaler: {e}");
            }
        }
    });
}

#[derive(Default)]
struct State {
    /// Since when runnable tasks have waited without a break.
    pending_since: Option<Instant>,
    /// Consecutive scale-up rounds (the request doubles each round).
    round: u32,
    last_scale_up: Option<Instant>,
    /// Since when each executor has had no running task.
    idle_since: HashMap<String, Instant>,
}

impl State {
    async fn tick(&mut self, engine: &Arc<Engine>) -> crate::error::Result<()> {
        let Some(launcher) = engine.launcher() else { return Ok(()) };
        // A local executor that died is known from its exit at once, not from missed heartbeats.
        for (id, status) in launcher.reap_exited() {
            super::stop_executor(engine, &id, "process exited").await?;
            engine.cluster_events.record("loss", &id, format!("executor process exited ({status})"));
        }
        let settings = engine.cluster_settings();
        let signal = engine.scheduler.signal().await;
        let launched = launcher.launched();
        let listed = executors::list(&engine.scheduler, &launched).await?;
        let active: Vec<&executors::ExecutorRow> = listed.iter().filter(|e| e.state == "active").collect();
        // Executors squall started that have not registered yet count as coming.
        let starting = launched.keys().filter(|id| !listed.iter().any(|e| &e.id == *id)).count() as u64;
        let current = active.len() as u64 + starting;
        let slots = active.iter().map(|e| e.slots as u64).max().unwrap_or(launcher.slots_per_executor()).max(1);
        let now = Instant::now();
        let scale_up_after = Duration::from_millis(settings.scale_up_after_ms);

        // Below the floor: replace.
        if current < settings.min_executors {
            for _ in current..settings.min_executors {
                let id = launcher.launch(LaunchedBy::Autoscaler)?;
                engine.cluster_events.record("replace", &id, format!("{current} executors, min_executors is {}", settings.min_executors));
            }
            return Ok(());
        }

        // Scale up on a backlog that has lasted.
        if signal.pending_tasks == 0 {
            self.pending_since = None;
            self.round = 0;
        } else {
            let since = *self.pending_since.get_or_insert(now);
            let waited = now.duration_since(since);
            let rested = self.last_scale_up.is_none_or(|t| now.duration_since(t) >= scale_up_after);
            if waited >= scale_up_after && rested && current < settings.max_executors {
                let needed = (signal.pending_tasks as u64).div_ceil(slots);
                let request = (1u64 << self.round.min(10)).min(needed).min(settings.max_executors - current).max(1);
                let reason = format!(
                    "pending tasks {} for {:.1} s, {} executors of {slots} slots",
                    signal.pending_tasks,
                    waited.as_secs_f64(),
                    active.len()
                );
                for _ in 0..request {
                    let id = launcher.launch(LaunchedBy::Autoscaler)?;
                    engine.cluster_events.record("scale-up", &id, reason.clone());
                }
                self.round += 1;
                self.last_scale_up = Some(now);
            }
        }

        // Scale down idle executors, never below the floor and never while a job runs.
        let idle_timeout = Duration::from_millis(settings.idle_timeout_ms);
        for e in &active {
            if e.running_tasks > 0 {
                self.idle_since.remove(&e.id);
            } else {
                self.idle_since.entry(e.id.clone()).or_insert(now);
            }
        }
        self.idle_since.retain(|id, _| active.iter().any(|e| &e.id == id));
        let jobs_running = signal.running_tasks > 0 || signal.pending_tasks > 0 || signal.queued_jobs > 0;
        if jobs_running || starting > 0 {
            return Ok(());
        }
        let mut remaining = current;
        let mut idle: Vec<(&String, &Instant)> = self.idle_since.iter().collect();
        idle.sort_by_key(|(_, since)| **since);
        let mut stopped = Vec::new();
        for (id, since) in idle {
            if remaining <= settings.min_executors {
                break;
            }
            if now.duration_since(*since) < idle_timeout || !launched.contains_key(id) {
                continue;
            }
            if super::stop_executor(engine, id, "idle").await? {
                engine.cluster_events.record("scale-down", id, format!("idle for {:.1} s", now.duration_since(*since).as_secs_f64()));
                stopped.push(id.clone());
                remaining -= 1;
            }
        }
        for id in stopped {
            self.idle_since.remove(&id);
        }
        Ok(())
    }
}
