//! Where squall keeps what it is told to keep: the persistent catalog of tables and views
//! ([`catalog`]) and the managed tables' files ([`tables`]).

pub mod catalog;
pub mod tables;
