//! Rows arriving by other doors than SQL: `POST /v1/tables/<table>/rows` on the HTTP port
//! ([`http_rows`]).

pub mod accounting;
pub mod backpressure;
pub mod http_credentials;
pub mod http_rows;
