//! `SHOW MODELS`: the current version of each model, with its holdout metrics.

/// Planned and run as any query over the system table.
pub(super) const QUERY: &str = "SELECT name, version, algorithm, task, target, features, rows_used, \
     created_at, holdout_accuracy, holdout_r2 FROM squall.models WHERE current ORDER BY name";
