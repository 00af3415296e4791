//! The DataFusion and Ballista settings squall chooses, in one place, for every node.
//!
//! - catalog `squall`, schema `public`: what psql shows as the database and its default schema;
//! - `information_schema` on: psql, JDBC and BI tools introspect through it;
//! - Arrow Flight messages up to 1 GiB (Ballista's default is 16 MiB): a training sample (up to
//!   `max_training_rows` rows) travels as one Binary value of the sampling aggregate, through the
//!   shuffle and back to the coordinator, and one value cannot be split across messages;
//! - Ballista's adaptive query planner (AQE) stays on (its default): TPC-H SF1 takes 13.2 s with
//!   it against 23.9 s without (2 executors). On its own it could leave a job waiting forever after
//!   an executor loss; squall cancels and re-runs jobs that had output on a lost executor before
//!   Ballista's recovery runs (engine/src/cluster/lost_jobs.rs), which avoids that path: 40 of 40
//!   kill -9s answered correctly with AQE on (`squall-bench autoscale --only kills`, twice);
//! - everything else is DataFusion's and Ballista's default until a benchmark says otherwise.

use ballista_core::extension::SessionConfigExt;
use datafusion::prelude::SessionConfig;

/// The database name clients see (`current_database()`, psql's `\l`).
pub const DATABASE: &str = "squall";
/// The schema user tables live in.
pub const DEFAULT_SCHEMA: &str = "public";

/// See the module docs: the largest Arrow Flight message a node accepts.
pub const MAX_FLIGHT_MESSAGE: usize = 1 << 30;

/// The session configuration of every squall session, on every node.
pub fn session_config() -> SessionConfig {
    SessionConfig::new_with_ballista()
        .with_ballista_grpc_client_max_message_size(MAX_FLIGHT_MESSAGE)
        .with_information_schema(true)
        .with_default_catalog_and_schema(DATABASE, DEFAULT_SCHEMA)
        .with_create_default_catalog_and_schema(true)
}
