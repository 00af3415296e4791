//! Work for idle executors without waiting: under pull scheduling an executor that finds no task
//! sleeps 50 ms before it asks again (Ballista's poll loop), so every stage boundary and every new
//! job would wait for that. Instead the scheduler holds an idle executor's empty poll open (up to
//! [`HOLD`]) and answers it as soon as tasks can be bound: it asks again every 2 ms for 50 ms after
//! anything that can make tasks runnable (a task status, a job submitted), which Ballista's event
//! loop turns into runnable tasks within a few milliseconds, and otherwise waits for such a signal.
//!
//! Only polls of executors with every slot free are held: such an executor runs no task, so a
//! held poll delays no task status (a status it reports with the poll is taken at once).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// The longest an empty poll is held; the executor's liveness (its polls are its heartbeats) is
/// judged over 30 s.
pub const HOLD: Duration = Duration::from_millis(250);
/// How long after a signal tasks may still become runnable from it.
const FRESH: i64 = 50;
/// How often a held poll asks again while a signal is fresh.
const TICK: Duration = Duration::from_millis(2);

#[derive(Debug, Default)]
pub struct WorkSignal {
    notify: Notify,
    /// When the last signal came, in milliseconds since the epoch.
    last: AtomicI64,
}

impl WorkSignal {
    /// Something may have made tasks runnable.
    pub fn raise(&self) {
        self.last.store(crate::epoch_ms(), Ordering::Relaxed);
        self.notify.notify_waiters();
    }

    /// Waits until it is worth asking again for tasks, or `deadline`; false at the deadline.
    pub async fn wait(&self, deadline: tokio::time::Instant) -> bool {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return false;
        }
        let fresh = crate::epoch_ms() - self.last.load(Ordering::Relaxed) < FRESH;
        let until = if fresh { (now + TICK).min(deadline) } else { deadline };
        tokio::select! {
            _ = self.notify.notified() => {}
            _ = tokio::time::sleep_until(until) => {}
        }
        tokio::time::Instant::now() < deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_raise_wakes_a_waiter_and_keeps_it_ticking_while_fresh() {
        let signal = std::sync::Arc::new(WorkSignal::default());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let waiter = {
            let signal = signal.clone();
            tokio::spawn(async move { signal.wait(deadline).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        signal.raise();
        assert!(waiter.await.unwrap(), "woken before the deadline");
        let started = std::time::Instant::now();
        assert!(signal.wait(deadline).await);
        assert!(started.elapsed() < Duration::from_millis(500), "a fresh signal ticks: {:?}", started.elapsed());
        let past = tokio::time::Instant::now();
        assert!(!signal.wait(past).await, "nothing to wait for at the deadline");
    }
}
