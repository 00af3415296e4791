//! TLS for Postgres clients (`--tls-cert`, `--tls-key`): `sslmode=require`/`verify-full` in libpq,
//! `ssl=true` in JDBC. Any problem with the files stops the server at start-up: serving plaintext
//! to clients that were told to expect TLS would be worse than not serving.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use pgwire::tokio::tokio_rustls::rustls::{
    self,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
};
use pgwire::tokio::TlsAcceptor;

/// The acceptor for a PEM certificate chain and its PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading the TLS certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading the TLS certificate {}", cert.display()))?;
    if chain.is_empty() {
        anyhow::bail!("the TLS certificate file {} holds no PEM certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading the TLS private key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("choosing TLS versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the TLS certificate and key do not go together")?;
    // PostgreSQL 17's direct TLS connections name this protocol.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
