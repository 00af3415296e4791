//! The cluster secret: 32 random bytes every node of one cluster shares, and the credential each
//! internal call carries, derived from it.
//!
//! `squall serve` and `squall scheduler` create it on first start as `<data-dir>/cluster.secret`
//! (64 hex digits, mode 0600) unless they are given one; executors read it from
//! `--cluster-secret-file` / `SQUALL_CLUSTER_SECRET_FILE`, or take it as the value of
//! `SQUALL_CLUSTER_SECRET` (how a Kubernetes Secret reaches a pod). The secret itself never
//! travels: calls carry HMAC-SHA256(secret, a fixed label), which proves the caller holds it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use aws_lc_rs::hmac;
use base64::Engine as _;

use crate::error::{Result, SquallError};

/// The secret's file under the data directory.
pub const FILE_NAME: &str = "cluster.secret";

/// The environment variable that may hold the secret itself.
pub const ENV_VALUE: &str = "SQUALL_CLUSTER_SECRET";

/// What each internal call's credential is an HMAC of: a label, so that the same secret could
/// derive other keys (a TLS key, a later credential version) without them being related.
const CALL_LABEL: &[u8] = b"squall internal call v1";

/// A secret shorter than this (in bytes, as given) is refused: a guessable one protects nothing.
const MIN_LEN: usize = 32;

#[derive(Clone)]
pub struct ClusterSecret {
    key: hmac::Key,
    /// Where it was read from, for messages.
    pub origin: String,
}

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClusterSecret(from {})", self.origin)
    }
}

impl ClusterSecret {
    fn from_bytes(bytes: &[u8], origin: String) -> Result<Self> {
        let bytes = bytes.trim_ascii();
        if bytes.len() < MIN_LEN {
            return Err(SquallError::InvalidParameter(format!(
                "the cluster secret from {origin} is {} bytes long; it must be at least {MIN_LEN} (squall creates one of 64 hex digits)",
                bytes.len()
            )));
        }
        Ok(Self { key: hmac::Key::new(hmac::HMAC_SHA256, bytes), origin })
    }

    /// The secret in `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| {
            SquallError::InvalidParameter(format!("cannot read the cluster secret file {}: {e}", path.display()))
        })?;
        Self::from_bytes(&bytes, path.display().to_string())
    }

    /// The secret given as a value (the `SQUALL_CLUSTER_SECRET` environment variable).
    pub fn from_value(value: &str, origin: &str) -> Result<Self> {
        Self::from_bytes(value.as_bytes(), origin.to_string())
    }

    /// The secret in `data_dir/cluster.secret`, created (readable by its owner only) when there is
    /// none. Returns the file's path too, which executors squall launches are given.
    pub fn load_or_create(data_dir: &Path) -> Result<(Self, PathBuf)> {
        let path = data_dir.join(FILE_NAME);
        if !path.exists() {
            let mut random = [0u8; 32];
            aws_lc_rs::rand::fill(&mut random).expect("the system random source works");
            let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
            // Written whole or not at all, so that a crash never leaves a short secret.
            crate::storage::catalog::write_private(&path, format!("{hex}\n").as_bytes())?;
            tracing::info!(path = %path.display(), "created the cluster secret");
        }
        let mode = std::fs::metadata(&path)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(SquallError::InvalidParameter(format!(
                "the cluster secret {} can be read by other users (mode {:o}); chmod 600 it",
                path.display(),
                mode & 0o777
            )));
        }
        Ok((Self::read(&path)?, path))
    }

    /// The secret a node runs with: the file it is given (`--cluster-secret-file`), else the
    /// value of `SQUALL_CLUSTER_SECRET`, else (a coordinator) the one in its data directory,
    /// created on first start. Also the file's path, when the secret is in one: the executors a
    /// coordinator launches are given it.
    pub fn resolve(file: Option<&Path>, data_dir: Option<&Path>) -> Result<(Self, Option<PathBuf>)> {
        if let Some(file) = file {
            return Ok((Self::read(file)?, Some(file.to_path_buf())));
        }
        if let Ok(value) = std::env::var(ENV_VALUE) {
            return Ok((Self::from_value(&value, ENV_VALUE)?, None));
        }
        match data_dir {
            Some(dir) => Self::load_or_create(dir).map(|(secret, path)| (secret, Some(path))),
            None => Err(SquallError::InvalidParameter(format!(
                "an executor needs its cluster's secret: --cluster-secret-file FILE (SQUALL_CLUSTER_SECRET_FILE) or \
                 {ENV_VALUE}; the coordinator keeps it in DATA_DIR/{FILE_NAME}"
            ))),
        }
    }

    /// The credential an internal call carries: the secret's HMAC of a fixed label, base64.
    pub fn credential(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hmac::sign(&self.key, CALL_LABEL).as_ref())
    }

    /// Whether `credential` was derived from this secret (in constant time).
    pub fn verifies(&self, credential: &str) -> bool {
        match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(credential) {
            Ok(tag) => hmac::verify(&self.key, CALL_LABEL, &tag).is_ok(),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_secret_is_private_stable_and_verifies_only_its_own_credential() {
        let dir = tempfile::tempdir().unwrap();
        let (secret, path) = ClusterSecret::load_or_create(dir.path()).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let (again, _) = ClusterSecret::load_or_create(dir.path()).unwrap();
        assert_eq!(secret.credential(), again.credential());
        assert!(again.verifies(&secret.credential()));
        let other = ClusterSecret::from_value(&"x".repeat(40), "test").unwrap();
        assert!(!secret.verifies(&other.credential()));
        assert!(!secret.verifies(""));
        assert!(!secret.verifies("not base64 !"));
    }

    #[test]
    fn short_or_readable_secrets_are_refused() {
        assert!(ClusterSecret::from_value("short", "test").is_err());
        let dir = tempfile::tempdir().unwrap();
        let (_, path) = ClusterSecret::load_or_create(dir.path()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = ClusterSecret::load_or_create(dir.path()).unwrap_err().to_string();
        assert!(error.contains("chmod 600"), "{error}");
    }
}
