//! TLS for the traffic between squall's nodes (the scheduler's gRPC, the executors' Flight):
//! with `--internal-tls`, and by default when the scheduler listens on a non-loopback address.
//!
//! Certificates are the operator's (`--internal-tls-cert/key/ca`: a PEM certificate chain and key
//! every node serves with, and the CA that signed it) or, when none are given, made by the
//! coordinator on first start under `<data-dir>/internal-tls/`: a CA, and a node certificate it
//! signs (the CA's key is not kept, so nothing else can be signed with it). The executors the
//! coordinator launches are given the same files; executors elsewhere need a copy of them.
//!
//! Every node checks the certificate of the node it calls against the CA, under one name,
//! [`SERVER_NAME`] (not the host's: executors on any host share the node certificate, as Trino's
//! internal TLS shares one keystore). An operator's certificate must name it among its DNS names.
//! Who may call is decided by the cluster credential ([`super::guard`]), which TLS keeps secret.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::error::{Result, SquallError};

/// The name every node's certificate carries and every client checks.
pub const SERVER_NAME: &str = "squall-cluster";

/// The directory under the data directory where generated certificates live.
const GENERATED_DIR: &str = "internal-tls";

/// The three PEM files a node's TLS needs.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// A node's TLS identity and the CA it trusts.
#[derive(Debug, Clone)]
pub struct InternalTls {
    identity: Identity,
    ca: Certificate,
    /// Where they were read from (handed to the executors a coordinator launches).
    pub files: TlsFiles,
}

/// tonic's TLS takes rustls's process-wide provider, which rustls cannot choose on its own when
/// (as here, through other crates) both of its providers are built in: squall's is aws-lc-rs.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

impl InternalTls {
    /// Reads the operator's (or generated) PEM files.
    pub fn load(files: TlsFiles) -> Result<Self> {
        install_crypto_provider();
        let read = |path: &Path, what: &str| {
            std::fs::read(path).map_err(|e| {
                SquallError::InvalidParameter(format!("cannot read the internal TLS {what} {}: {e}", path.display()))
            })
        };
        let identity = Identity::from_pem(read(&files.cert, "certificate")?, read(&files.key, "key")?);
        let ca = Certificate::from_pem(read(&files.ca, "CA certificate")?);
        Ok(Self { identity, ca, files })
    }

    /// The certificates in `data_dir/internal-tls/`, made on first use.
    pub fn generated(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join(GENERATED_DIR);
        let files = TlsFiles { cert: dir.join("node.pem"), key: dir.join("node.key"), ca: dir.join("ca.pem") };
        if !files.ca.exists() {
            std::fs::create_dir_all(&dir)?;
            generate(&files).map_err(|e| SquallError::Internal(format!("making the internal TLS certificates: {e}")))?;
            tracing::info!(dir = %dir.display(), "made internal TLS certificates");
        }
        Self::load(files)
    }

    pub fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new().identity(self.identity.clone())
    }

    pub fn client_config(&self) -> ClientTlsConfig {
        ClientTlsConfig::new().ca_certificate(self.ca.clone()).domain_name(SERVER_NAME)
    }
}

/// A CA and a node certificate it signs, for [`SERVER_NAME`] (and localhost). The CA's file is
/// written last: its presence says the set is complete.
fn generate(files: &TlsFiles) -> std::result::Result<(), Box<dyn std::error::Error>> {
    use crate::storage::catalog::{write_atomically, write_private};
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name.push(DnType::CommonName, "squall internal CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

    let mut node_params = CertificateParams::new(vec![SERVER_NAME.to_string(), "localhost".to_string()])?;
    node_params.distinguished_name.push(DnType::CommonName, SERVER_NAME);
    let node_key = KeyPair::generate()?;
    let node = node_params.signed_by(&node_key, &ca)?;

    write_atomically(&files.cert, node.pem().as_bytes())?;
    write_private(&files.key, node_key.serialize_pem().as_bytes())?;
    write_atomically(&files.ca, ca.pem().as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificates_are_made_once_and_their_key_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let tls = InternalTls::generated(dir.path()).unwrap();
        let ca = std::fs::read(&tls.files.ca).unwrap();
        assert_eq!(std::fs::metadata(&tls.files.key).unwrap().permissions().mode() & 0o777, 0o600);
        InternalTls::generated(dir.path()).unwrap();
        assert_eq!(std::fs::read(&tls.files.ca).unwrap(), ca, "not made again");
        let _ = (tls.server_config(), tls.client_config());
    }
}
