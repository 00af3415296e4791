//! Which Ballista jobs each running statement submitted, so stopping the statement can cancel
//! them. Ballista tells its client a job's id only when the job ends; the embedded scheduler's
//! submission handler ([`crate::scheduler`]) learns it at submission and records it here, under
//! the statement id the query was planned with (its Ballista session id).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ballista_core::JobId;

#[derive(Debug, Default, Clone)]
pub struct StatementJobs(Arc<Mutex<HashMap<String, Entry>>>);

#[derive(Debug, Default)]
struct Entry {
    jobs: Vec<JobId>,
    stopped: bool,
    /// The user who runs the statement (CANCEL JOB lets them cancel their own jobs).
    user: String,
}

impl StatementJobs {
    /// Records that `statement` submitted `job`; `false` when the statement was stopped already
    /// (the job was submitted while it was being stopped), in which case the caller cancels it.
    pub fn submitted(&self, statement: &str, job: JobId) -> bool {
        let mut map = self.lock();
        let entry = map.entry(statement.to_string()).or_default();
        if entry.stopped {
            return false;
        }
        entry.jobs.push(job);
        true
    }

    /// Notes who runs `statement`, before it submits anything.
    pub fn started_by(&self, statement: &str, user: &str) {
        self.lock().entry(statement.to_string()).or_default().user = user.to_string();
    }

    /// The jobs `statement` submitted so far.
    pub fn jobs(&self, statement: &str) -> Vec<JobId> {
        self.lock().get(statement).map(|e| e.jobs.clone()).unwrap_or_default()
    }

    /// The user whose running statement submitted `job`.
    pub fn user_of(&self, job: &str) -> Option<String> {
        self.lock().values().find(|e| e.jobs.iter().any(|j| j.to_string() == job)).map(|e| e.user.clone())
    }

    /// Marks `statement` stopped and returns the jobs it submitted.
    pub fn stop(&self, statement: &str) -> Vec<JobId> {
        let mut map = self.lock();
        let entry = map.entry(statement.to_string()).or_default();
        entry.stopped = true;
        std::mem::take(&mut entry.jobs)
    }

    /// The statement is over: forget it.
    pub fn forget(&self, statement: &str) {
        self.lock().remove(statement);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_submitted_after_the_stop_are_refused() {
        let jobs = StatementJobs::default();
        assert!(jobs.submitted("s1", JobId::new("a")));
        assert!(jobs.submitted("s2", JobId::new("b")));
        assert_eq!(jobs.stop("s1"), vec![JobId::new("a")]);
        assert!(!jobs.submitted("s1", JobId::new("c")), "s1 is stopped");
        assert_eq!(jobs.stop("s2"), vec![JobId::new("b")]);
        jobs.forget("s1");
        assert!(jobs.submitted("s1", JobId::new("d")), "a forgotten id starts afresh");
    }
}
