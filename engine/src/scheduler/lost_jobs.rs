//! What happens to running jobs when an executor is lost (killed, crashed, removed).
//!
//! Ballista reacts to a lost executor by resetting the tasks whose output it held and rolling back
//! the stages that read it. When a rolled-back stage had already finished some tasks on *other*
//! executors, their output locations stay registered with the stage that reads them, and the rerun
//! registers them again: the reader sees those partitions twice and the query returns duplicated
//! rows (Ballista 55; seen 3 times in 20 kill -9s in `squall-bench autoscale --only kills`). A
//! wrong answer is never acceptable, so squall takes the other road Spark also takes for a failed
//! job: the jobs that had output on the lost executor are cancelled *before* Ballista's reset runs
//! (the scheduler removes an executor from its cluster state, which squall wraps, before it
//! posts the loss), and the query is started again from its plan (up to 3 attempts):
//! [`LostJobs::is_lost`] tells `statements::query` that a failure came from a lost executor, not
//! from the query or a user's cancel. A task that reads from an executor in the instant it dies
//! fails its job before squall notices the loss; that failure is run again too. Results only flow
//! once a job has finished, so no row reaches a client twice.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Per running job, the executors that hold output of its finished tasks; and the jobs cancelled
/// because one of them was lost.
#[derive(Debug, Default, Clone)]
pub struct LostJobs(Arc<Mutex<State>>);

#[derive(Debug, Default)]
struct State {
    outputs: HashMap<String, HashSet<String>>,
    lost: HashSet<String>,
    /// Executors lost so far.
    losses: u64,
}

impl LostJobs {
    /// A task of `job` finished on `executor`: its output lives there now.
    pub fn output_on(&self, job: &str, executor: &str) {
        self.lock().outputs.entry(job.to_string()).or_default().insert(executor.to_string());
    }

    /// The jobs with output on `executor`, now marked as lost; the caller cancels them.
    pub fn lose_jobs_on(&self, executor: &str) -> Vec<String> {
        let mut state = self.lock();
        state.losses += 1;
        let jobs: Vec<String> = state.outputs.iter().filter(|(_, e)| e.contains(executor)).map(|(j, _)| j.clone()).collect();
        for job in &jobs {
            state.outputs.remove(job);
            state.lost.insert(job.clone());
        }
        jobs
    }

    /// The job ended: nothing more to track for it.
    pub fn finished(&self, job: &str) {
        self.lock().outputs.remove(job);
    }

    /// How many executors have been lost so far.
    pub fn losses(&self) -> u64 {
        self.lock().losses
    }

    /// Whether a query that failed with `error`, while `losses_before` executors had been lost
    /// when it started, failed because of a lost executor and is worth running again: its job was
    /// cancelled for one (Ballista reports "Job <id> failed: ..."), an executor was lost meanwhile,
    /// or a task could not reach another executor's output (it died before squall noticed).
    pub fn is_lost(&self, error: &str, losses_before: u64) -> bool {
        let state = self.lock();
        state.lost.iter().any(|job| error.contains(&format!("Job {job} failed")))
            || state.losses > losses_before
            || LOST_CONNECTION.iter().any(|sign| error.contains(sign))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How a failed read of a dead executor's shuffle output shows in a task's error.
const LOST_CONNECTION: &[&str] = &["error reading a body from connection", "tcp connect error", "broken pipe", "Connection reset", "FetchFailed"];

#[cfg(test)]
mod tests {
    use super::LostJobs;

    #[test]
    fn only_jobs_with_output_on_the_lost_executor_are_lost() {
        let jobs = LostJobs::default();
        jobs.output_on("j1", "a");
        jobs.output_on("j1", "b");
        jobs.output_on("j2", "b");
        jobs.output_on("j3", "a");
        jobs.finished("j3");
        let mut lost = jobs.lose_jobs_on("a");
        lost.sort();
        assert_eq!(lost, vec!["j1".to_string()]);
        assert!(jobs.is_lost("Execution error: Job j1 failed: Cancelled", 1));
        assert!(!jobs.is_lost("Execution error: Job j2 failed: Cancelled", 1));
        // A query that started before the loss failed for it, whatever the message.
        assert!(jobs.is_lost("Execution error: Job j2 failed: Cancelled", 0));
        assert!(jobs.is_lost("Job j4 failed: ... h2 protocol error: error reading a body from connection", 1));
        assert!(!jobs.is_lost("Arrow error: Divide by zero error", 1));
        // Each job is lost once.
        assert_eq!(jobs.lose_jobs_on("b"), vec!["j2".to_string()]);
    }
}
