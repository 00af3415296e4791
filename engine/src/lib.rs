//! The squall coordinator: the Postgres-wire front end, per-connection sessions, the persistent
//! catalog, the planner that routes queries to the executors, the embedded Ballista scheduler and
//! the executor launcher, and the model registry.

pub mod catalog;
pub mod column_names;
pub mod cluster;
pub mod coordinator;
pub mod engine;
pub mod generic_plans;
pub mod error;
pub mod executors;
pub mod pg_text;
pub mod frontend;
pub mod http;
pub mod interrupts;
pub mod jobs;
pub mod literal_templates;
pub mod last_made;
pub mod launcher;
pub mod models;
pub mod panics;
pub mod parameters;
pub mod pg_functions;
pub mod pg_has_role;
pub mod pg_sleep;
pub mod pg_types;
pub mod pg_rewrite_rules;
pub mod pg_session_user;
pub mod plain_strings;
pub mod planning_state;
pub mod query_log;
pub mod reused_plans;
pub mod routing;
pub mod scheduler;
pub mod session;
pub mod statement_cache;
pub mod statement_jobs;
pub mod access;
pub mod copy;
pub mod pg_settings;
pub mod sql_rewrites;
mod statements;
pub mod system_tables;
pub mod table_cache;
pub mod tables;

pub use coordinator::{run, CoordinatorOptions, LauncherChoice};

/// The user every squall has, a superuser.
pub const BOOTSTRAP_SUPERUSER: &str = "squall";

/// Now, in milliseconds since the Unix epoch (how squall's system tables keep times).
pub(crate) fn epoch_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
