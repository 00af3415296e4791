//! How squall's nodes know each other: the cluster secret ([`secret`]), the credential every
//! internal call carries and every node checks ([`guard`]), and TLS between them ([`tls`]). A process that does not hold the
//! secret cannot register as an executor, submit a job, report task statuses, or read shuffle
//! output and results from an executor.

pub mod guard;
pub mod secret;
pub mod tls;

pub use guard::{InternalAuth, Rejection};
pub use secret::ClusterSecret;
pub use tls::{InternalTls, TlsFiles};

use std::path::PathBuf;

/// What an executor that a coordinator launches is handed to join it: the files of the cluster
/// secret and of internal TLS, as the environment variables `squall executor` reads.
#[derive(Debug, Clone, Default)]
pub struct ExecutorAccess {
    /// `None` when the secret is in the environment (`SQUALL_CLUSTER_SECRET`), which children
    /// inherit.
    pub secret_file: Option<PathBuf>,
    pub tls: Option<TlsFiles>,
}

impl ExecutorAccess {
    pub fn env(&self) -> Vec<(&'static str, PathBuf)> {
        let mut env = Vec::new();
        if let Some(file) = &self.secret_file {
            env.push(("SQUALL_CLUSTER_SECRET_FILE", file.clone()));
        }
        if let Some(tls) = &self.tls {
            env.push(("SQUALL_INTERNAL_TLS", PathBuf::from("true")));
            env.push(("SQUALL_INTERNAL_TLS_CERT", tls.cert.clone()));
            env.push(("SQUALL_INTERNAL_TLS_KEY", tls.key.clone()));
            env.push(("SQUALL_INTERNAL_TLS_CA", tls.ca.clone()));
        }
        env
    }
}
