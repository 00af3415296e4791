//! Users, passwords and privileges: who may connect ([`startup`]), what they may read, write and
//! use ([`checks`]); the SQL that changes it is in [`crate::commands`]. The rules are PostgreSQL's, for
//! the objects squall has: superusers may do everything; other users read a table or view with
//! `SELECT`, insert with `INSERT`, use a model (PREDICT, EVALUATE, DESCRIBE) with `USAGE` (and no
//! SQL calls the internal functions that read models by URL: [`internal_functions`]); only
//! superusers create or drop objects (squall has one schema and, as in PostgreSQL 15's `public`,
//! only its owner creates there), manage users, or run cluster commands.

pub mod checks;
pub mod connections;
pub mod internal_functions;
pub mod scram;
pub mod startup;
pub mod users;

pub use users::Users;
