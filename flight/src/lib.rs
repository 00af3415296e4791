//! The squall executor process: a Ballista executor with squall's functions and object stores,
//! serving its shuffle output to other executors and to the coordinator over Arrow Flight; and the
//! coordinator's Arrow Flight SQL endpoint for clients ([`sql`]).

pub mod client_pool;
pub mod cooperative;
pub mod executor;
pub mod guarded_flight;
pub mod kept_training_rows;
pub mod orders;
pub mod pass_through;
pub mod process;
pub mod running_tasks;
pub mod sql;
