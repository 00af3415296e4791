//! squall's end-to-end tests: ONE binary, a module per area. Every test starts the real `squall`
//! binary (with separate executor processes) and talks to it as a user does: tokio-postgres over
//! the simple and extended protocols, and psql.

mod access;
mod cancel;
mod clients;
mod cluster;
mod cluster_security;
mod copy;
mod delta_tables;
mod differential;
mod in_lists;
mod ingest;
mod integer_casts;
mod pipes;
mod prediction_api;
mod joins;
mod errors;
mod flight_sql;
mod model_refresh;
mod models;
mod processes;
mod query_log;
mod psql_client;
mod queries;
mod status_page;
mod robustness;
mod subqueries;
mod tables;
mod tpch;
mod training;
mod user_limits;

use squall_tests::ServerBuilder;

/// A server builder for the `squall` binary cargo built for this test run.
pub fn squall() -> ServerBuilder {
    // The tests are about the distributed path unless they ask for squall's default routing,
    // which runs queries over small tables (as test tables are) in the coordinator.
    ServerBuilder::new(env!("CARGO_BIN_EXE_squall")).local_scan_limit("0")
}
