//! `SHOW JOBS`: the distributed jobs queued and running now, oldest first.

/// Planned and run as any query over the system table.
pub(super) const QUERY: &str = "SELECT * FROM squall.jobs ORDER BY started";
