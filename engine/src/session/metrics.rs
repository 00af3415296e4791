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
}

impl Metrics {
    pub fn statement_started(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }

    pub fn statement_failed(&self) {
        self.failed_statements.fetch_add(1, Ordering::Relaxed);
    }

    /// Records how long a statement took until its result was ready to send.
    pub fn statement_took(&self, took: std::time::Duration) {
        let seconds = took.as_secs_f64();
        let at = LATENCY_BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(LATENCY_BUCKETS.len());
        self.latency_buckets[at].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }
}
