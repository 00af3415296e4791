//! What every squall node installs, so that a plan means the same thing on the coordinator, the
//! scheduler and every executor: the SQL functions squall adds to DataFusion's, and the object
//! stores that table locations may point into.
//!
//! Nothing here knows about networking or processes; the engine and the executor binary call
//! [`registry::function_registry`] and [`object_stores::runtime_env`] when they build a session.

pub mod functions;
pub mod global_aggregate_filters;
pub mod in_lists;
pub mod interval_arithmetic;
pub mod ml;
pub mod object_stores;
pub mod outer_join_constants;
pub mod pg_casts;
pub mod pg_integer_casts;
pub mod physical_rules;
pub mod registry;
pub mod repeated_names;
pub mod settings;
pub mod subqueries;
