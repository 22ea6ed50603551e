//! The TLS client port (`secureClientPort`): the same protocol inside TLS, with the server's key
//! and certificate read from ZooKeeper's PEM key store (`ssl.keyStore.location`).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

/// Builds the acceptor from a PEM file holding the private key (PKCS#8) and the certificate chain.
///
/// Client certificates are not requested: ZooKeeper's x509 authentication is not offered yet, so
/// clients authenticate with digest or SASL inside the TLS session.
pub fn acceptor(key_store: &Path) -> anyhow::Result<TlsAcceptor> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(key_store)
        .with_context(|| format!("cannot read certificates from {}", key_store.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("bad certificate in {}", key_store.display()))?;
    if certs.is_empty() {
        anyhow::bail!("no certificate in {}", key_store.display());
    }
    let key = PrivateKeyDer::from_pem_file(key_store)
        .with_context(|| format!("no usable private key in {}", key_store.display()))?;
    let provider = Arc::new(ring::default_provider());
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .with_context(|| format!("unsupported private key in {}", key_store.display()))?;
    // rustls's `with_single_cert` re-parses the certificate with webpki, which refuses X.509 v1
    // certificates; Java and OpenSSL accept them (kazoo's test CA issues v1 server certificates),
    // so the key pair is handed over as is.
    let certified = Arc::new(CertifiedKey::new(certs, signing_key));
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(OneCertificate(certified)));
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves the same certificate to every client.
#[derive(Debug)]
struct OneCertificate(Arc<CertifiedKey>);

impl ResolvesServerCert for OneCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}
