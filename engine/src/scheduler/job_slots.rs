//! Per-user caps on cluster jobs running at once (`ALTER USER u WITH MAX_JOBS n`): a user's
//! further distributed queries wait their turn, in `squall.jobs` / SHOW JOBS as `queued`, so one
//! user cannot crowd the others out of the cluster. A waiting statement is stopped as a running
//! one is (cancel request, statement_timeout), and leaves the queue when it is. The slot is the
//! statement's: a statement that starts another job while one of its jobs is still read (so that
//! it would wait for itself under MAX_JOBS 1) runs it in the slot it holds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// A statement waiting for one of its user's job slots.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub statement: String,
    pub sql: String,
    pub user: String,
    /// Milliseconds since the epoch.
    pub since: i64,
}

#[derive(Debug, Default)]
pub struct JobSlots {
    running: Mutex<HashMap<String, u32>>,
    /// The statements holding a slot, with how many of their jobs are open.
    holders: Mutex<HashMap<String, u32>>,
    waiting: Mutex<Vec<Waiting>>,
    freed: Notify,
}

/// One running job's slot, given back when dropped (when the query's rows are read or dropped).
#[derive(Debug)]
pub struct JobSlot {
    slots: Arc<JobSlots>,
    user: String,
    statement: String,
}

impl JobSlots {
    /// A slot for `waiting.user`'s job, once fewer than `limit()` of theirs run (`None`: no limit;
    /// asked again each time a slot frees, so ALTER USER applies to those waiting).
    pub async fn acquire(self: &Arc<Self>, waiting: Waiting, limit: impl Fn() -> Option<u32>) -> JobSlot {
        let user = waiting.user.clone();
        let statement = waiting.statement.clone();
        if let Some(open) = self.lock_holders().get_mut(&statement) {
            *open += 1;
            return JobSlot { slots: Arc::clone(self), user, statement };
        }
        let mut queued = None;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if self.try_take(&user, limit()) {
                drop(queued);
                self.lock_holders().insert(statement.clone(), 1);
                return JobSlot { slots: Arc::clone(self), user, statement };
            }
            if queued.is_none() {
                self.lock_waiting().push(waiting.clone());
                queued = Some(Queued { slots: Arc::clone(self), statement: statement.clone() });
            }
            freed.await;
        }
    }

    /// Statements waiting for a slot, oldest first.
    pub fn waiting(&self) -> Vec<Waiting> {
        self.lock_waiting().clone()
    }

    fn try_take(&self, user: &str, limit: Option<u32>) -> bool {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let count = running.entry(user.to_string()).or_insert(0);
        if limit.is_some_and(|limit| *count >= limit) {
            return false;
        }
        *count += 1;
        true
    }

    fn lock_holders(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.holders.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_waiting(&self) -> std::sync::MutexGuard<'_, Vec<Waiting>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A statement's place in the queue, left when it gets its slot or is stopped.
struct Queued {
    slots: Arc<JobSlots>,
    statement: String,
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.slots.lock_waiting().retain(|w| w.statement != self.statement);
    }
}

impl Drop for JobSlot {
    fn drop(&mut self) {
        {
            let mut holders = self.slots.lock_holders();
            let open = holders.entry(self.statement.clone()).or_insert(1);
            *open -= 1;
            if *open > 0 {
                return;
            }
            holders.remove(&self.statement);
        }
        {
            let mut running = self.slots.running.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(count) = running.get_mut(&self.user) {
                *count = count.saturating_sub(1);
            }
        }
        self.slots.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn waiting(statement: &str, user: &str) -> Waiting {
        Waiting { statement: statement.into(), sql: format!("SELECT {statement}"), user: user.into(), since: 0 }
    }

    #[tokio::test]
    async fn a_capped_users_third_job_waits_in_the_queue_while_others_run() {
        let slots = Arc::new(JobSlots::default());
        let first = slots.acquire(waiting("a", "bob"), || Some(2)).await;
        let _second = slots.acquire(waiting("b", "bob"), || Some(2)).await;
        let _other = slots.acquire(waiting("x", "carol"), || Some(2)).await;
        let third = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire(waiting("c", "bob"), || Some(2)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(slots.waiting().iter().map(|w| w.statement.as_str()).collect::<Vec<_>>(), ["c"]);
        assert!(!third.is_finished());
        drop(first);
        let _third = tokio::time::timeout(Duration::from_secs(5), third).await.unwrap().unwrap();
        assert!(slots.waiting().is_empty());
    }

    #[tokio::test]
    async fn a_statement_never_waits_for_its_own_slot() {
        let slots = Arc::new(JobSlots::default());
        let outer = slots.acquire(waiting("s", "bob"), || Some(1)).await;
        let inner = tokio::time::timeout(Duration::from_secs(1), slots.acquire(waiting("s", "bob"), || Some(1))).await.expect("its own slot");
        drop(outer);
        let other = slots.acquire(waiting("t", "bob"), || Some(1));
        assert!(tokio::time::timeout(Duration::from_millis(50), other).await.is_err(), "still held by the inner job");
        drop(inner);
        tokio::time::timeout(Duration::from_secs(1), slots.acquire(waiting("t", "bob"), || Some(1))).await.expect("freed");
    }

    #[tokio::test]
    async fn a_stopped_waiter_leaves_the_queue() {
        let slots = Arc::new(JobSlots::default());
        let _only = slots.acquire(waiting("a", "bob"), || Some(1)).await;
        let wait = slots.acquire(waiting("b", "bob"), || Some(1));
        assert!(tokio::time::timeout(Duration::from_millis(50), wait).await.is_err());
        assert!(slots.waiting().is_empty());
    }
}
