//! The DataFusion and Ballista settings squall chooses, in one place, for every node.
//!
//! - catalog `squall`, schema `public`: what psql shows as the database and its default schema;
//! - `information_schema` on: psql, JDBC and BI tools introspect through it;
//! - everything else is DataFusion's and Ballista's default until a benchmark says otherwise.

use ballista_core::extension::SessionConfigExt;
use datafusion::prelude::SessionConfig;

/// The database name clients see (`current_database()`, psql's `\l`).
pub const DATABASE: &str = "squall";
/// The schema user tables live in.
pub const DEFAULT_SCHEMA: &str = "public";

/// The session configuration of every squall session, on every node.
pub fn session_config() -> SessionConfig {
    SessionConfig::new_with_ballista()
        .with_information_schema(true)
        .with_default_catalog_and_schema(DATABASE, DEFAULT_SCHEMA)
        .with_create_default_catalog_and_schema(true)
}
