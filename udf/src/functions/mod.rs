//! squall's SQL functions, one file each.

pub mod node_pid;
