//! How squall's nodes know each other: the cluster secret ([`secret`]) and the credential every
//! internal call carries and every node checks ([`guard`]). A process that does not hold the
//! secret cannot register as an executor, submit a job, report task statuses, or read shuffle
//! output and results from an executor.

pub mod guard;
pub mod secret;

pub use guard::{InternalAuth, Rejection};
pub use secret::ClusterSecret;
