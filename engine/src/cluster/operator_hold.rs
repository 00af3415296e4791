//! What an operator's explicit change holds against the autoscaler.
//!
//! An operator who runs `ADD EXECUTOR` expects the capacity they added, not to see an idle
//! executor drained seconds later because its idle clock started before the ADD; one who runs
//! `REMOVE EXECUTOR` or `DRAIN EXECUTOR` expects the cluster not to grow straight back. So each
//! such command holds the cluster at the size it left, for `idle_timeout` from the command (the
//! time the autoscaler would otherwise wait before acting on idleness): after an ADD, idle
//! scale-down stops at that size; after a REMOVE or DRAIN, scale-up for a backlog stops at it.
//! `min_executors` and `max_executors` still bound the cluster (a lost executor below the floor
//! is replaced at once). The hold shows in `SHOW CLUSTER` (`operator_hold`) and in
//! `squall.cluster_events` (`hold`, and `held` when it stopped the autoscaler).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Which way the operator moved the cluster, so which of the autoscaler's moves the hold stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Against {
    /// After `ADD EXECUTOR`: idle executors are not drained below `size`.
    ScaleDown,
    /// After `REMOVE` / `DRAIN EXECUTOR`: a backlog does not start executors past `size`.
    ScaleUp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hold {
    pub against: Against,
    /// Executors the cluster is held at (counting those starting, not those draining).
    pub size: u64,
    pub until: Instant,
    /// The same instant, in milliseconds since the epoch, for people.
    pub until_ms: i64,
    /// The command that set it.
    pub by: &'static str,
}

impl Hold {
    pub fn active(&self, now: Instant) -> bool {
        now < self.until
    }

    /// As `SHOW CLUSTER` and the cluster events tell it.
    pub fn describe(&self) -> String {
        let what = match self.against {
            Against::ScaleDown => "against idle scale-down",
            Against::ScaleUp => "against scale-up",
        };
        let until = chrono::DateTime::from_timestamp_millis(self.until_ms).map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string());
        format!(
            "{} executor{} held {what} until {} (set by {})",
            self.size,
            if self.size == 1 { "" } else { "s" },
            until.unwrap_or_default(),
            self.by
        )
    }
}

/// The cluster's hold, if an operator set one (the last command's replaces the one before).
#[derive(Debug, Default, Clone)]
pub struct OperatorHold(Arc<Mutex<Option<Hold>>>);

impl OperatorHold {
    /// Holds the cluster at `size` for `duration`, against the autoscaler's move `against`.
    pub fn set(&self, against: Against, size: u64, duration: Duration, by: &'static str) -> Hold {
        let hold = Hold {
            against,
            size,
            until: Instant::now() + duration,
            until_ms: crate::epoch_ms() + duration.as_millis() as i64,
            by,
        };
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(hold.clone());
        hold
    }

    /// The hold in force now, if any.
    pub fn current(&self) -> Option<Hold> {
        let now = Instant::now();
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone().filter(|h| h.active(now))
    }
}

/// Holds the cluster at its size now (registered executors not draining, and those launched and
/// not yet registered) against the autoscaler's move `against`, for `idle_timeout`, and records
/// the hold in `squall.cluster_events`. `by`: the command.
pub async fn hold_current_size(engine: &crate::engine::Engine, against: Against, by: &'static str) -> crate::error::Result<Hold> {
    let launched = engine.launched();
    let listed = super::executors::list(&engine.scheduler, &launched).await?;
    let registered = listed.iter().filter(|e| e.state == "active").count() as u64;
    let starting = launched.keys().filter(|id| !listed.iter().any(|e| &e.id == *id)).count() as u64;
    let duration = Duration::from_millis(engine.cluster_settings().idle_timeout_ms);
    let hold = engine.operator_hold.set(against, registered + starting, duration, by);
    engine.cluster_events.record("hold", "operator", "", hold.describe());
    Ok(hold)
}
