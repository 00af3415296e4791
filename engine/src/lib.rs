//! The squall coordinator: the Postgres-wire front end, per-connection sessions, the planner (a
//! statement's text to a plan), the routing of a query to the coordinator or the executors, the
//! persistent catalog, the embedded Ballista scheduler and the executor launcher, and the model
//! registry.

pub mod catalog;
pub mod cluster;
pub mod commands;
pub mod coordinator;
pub mod engine;
pub mod error;
pub mod executors;
pub mod frontend;
pub mod http;
pub mod interrupts;
pub mod launcher;
pub mod models;
pub mod panics;
pub mod pg;
pub mod planner;
pub mod plans;
pub mod query_log;
pub mod routing;
pub mod scheduler;
pub mod session;
pub mod access;
pub mod copy;
mod statements;
pub mod system_tables;
pub mod tables;

pub use coordinator::{run, CoordinatorOptions, LauncherChoice};

/// The user every squall has, a superuser.
pub const BOOTSTRAP_SUPERUSER: &str = "squall";

/// Now, in milliseconds since the Unix epoch (how squall's system tables keep times).
pub(crate) fn epoch_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
