//! The squall coordinator's engine (the `squall` command's `src/coordinator.rs` starts it). Its
//! modules, in the order a statement meets them:
//!
//! - [`frontend`]: the Postgres wire (pgwire): connections, messages, results encoded as rows.
//! - [`session`]: one connection's state and a statement's run: checked, interrupted, logged.
//! - [`planner`]: a statement's text to a plan, with PostgreSQL's rewrites ([`pg`]).
//! - [`commands`]: squall's own commands (TRAIN MODEL, ADD EXECUTOR, ...), one file each.
//! - [`statements`]: DDL, INSERT, SET and queries; [`routing`] sends a query to the coordinator or
//!   the executors, [`plans`] keeps plans to run again.
//! - [`scheduler`]: the embedded Ballista scheduler and the jobs it runs; [`internal_auth`]: the
//!   cluster secret and the credential every call between squall's own nodes carries.
//! - [`cluster`]: the executors, their launcher and the autoscaler; [`http`]: health and metrics.
//! - [`engine`]: the state every session shares; [`storage`]: the catalog and managed tables;
//!   [`system_tables`]: the `squall` schema; [`models`]: trained models; [`access`]: users and
//!   privileges; [`copy`]: COPY's formats; [`error`]: errors and their SQLSTATEs.

pub mod access;
pub mod cluster;
pub mod commands;
pub mod copy;
pub mod engine;
pub mod error;
pub mod frontend;
pub mod http;
pub mod ingest;
pub mod internal_auth;
pub mod models;
pub mod pg;
pub mod planner;
pub mod plans;
pub mod routing;
pub mod scheduler;
pub mod session;
pub mod status;
mod statements;
pub mod storage;
pub mod system_tables;

/// The user every squall has, a superuser.
pub const BOOTSTRAP_SUPERUSER: &str = "squall";

/// Now, in milliseconds since the Unix epoch (how squall's system tables keep times).
pub(crate) fn epoch_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
