//! The end-to-end harness: start the real `squall` binary on free ports with a temporary data
//! directory, connect with real clients (tokio-postgres, psql), make real Parquet and CSV files.

pub mod data;
pub mod differential;
pub mod postgres;
pub mod psql;
pub mod s3;
pub mod server;
pub mod tls;
pub mod tpch;

pub use server::{Server, ServerBuilder};
