//! Where squall keeps what it is told to keep: the persistent catalog of tables and views
//! ([`catalog`]) and the tables themselves, Delta Lake tables ([`delta`]).

pub mod catalog;
pub mod delta;
