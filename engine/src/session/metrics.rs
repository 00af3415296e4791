//! The statement counters the coordinator keeps, which `GET /metrics` (see [`crate::http`])
//! writes in Prometheus text format.

use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the statement latency histogram's buckets.
pub(crate) const LATENCY_BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0];

/// Counters the coordinator keeps for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub(crate) statements: AtomicU64,
    pub(crate) failed_statements: AtomicU64,
    /// Per bucket of LATENCY_BUCKETS (and one for +Inf): statements that took at most that long.
    pub(crate) latency_buckets: [AtomicU64; 11],
    /// Sum of statement durations, in microseconds.
    pub(crate) latency_sum_us: AtomicU64,
    /// The last failures: when (ms since the epoch) and their SQLSTATE, oldest first.
    failures: std::sync::Mutex<std::collections::VecDeque<(i64, &'static str)>>,
}

/// Failures kept for [`Metrics::failures_since`].
const FAILURES_KEPT: usize = 10_000;

impl Metrics {
    pub fn statement_started(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }

    pub fn statement_failed(&self, sqlstate: &'static str) {
        self.failed_statements.fetch_add(1, Ordering::Relaxed);
        self.failure_seen(sqlstate);
    }

    /// A statement failed, whether at its execution or before (parsing, planning): for the
    /// status page's errors by SQLSTATE.
    pub fn failure_seen(&self, sqlstate: &'static str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() == FAILURES_KEPT {
            failures.pop_front();
        }
        failures.push_back((crate::epoch_ms(), sqlstate));
    }

    /// Failed statements since `since_ms` by SQLSTATE: (code, count, last at ms), most frequent
    /// first.
    pub fn failures_since(&self, since_ms: i64) -> Vec<(&'static str, u64, i64)> {
        let mut by_code: std::collections::BTreeMap<&'static str, (u64, i64)> = Default::default();
        for (at, code) in self.failures.lock().unwrap_or_else(|p| p.into_inner()).iter().filter(|(at, _)| *at >= since_ms) {
            let entry = by_code.entry(code).or_default();
            entry.0 += 1;
            entry.1 = entry.1.max(*at);
        }
        let mut rows: Vec<_> = by_code.into_iter().map(|(code, (n, last))| (code, n, last)).collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        rows
    }

    /// Records how long a statement took until its result was ready to send.
    pub fn statement_took(&self, took: std::time::Duration) {
        let seconds = took.as_secs_f64();
        let at = LATENCY_BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(LATENCY_BUCKETS.len());
        self.latency_buckets[at].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }
}
