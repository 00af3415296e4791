//! `SHOW EXECUTORS`: the live executors, with their state, slots and tasks.

/// Planned and run as any query over the system table (so it can be filtered as one can).
pub(super) const QUERY: &str = "SELECT * FROM squall.executors ORDER BY id";
