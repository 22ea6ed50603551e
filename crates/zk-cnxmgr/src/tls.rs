//! Mutual TLS between peers (ZooKeeper's `sslQuorum`): every member presents its certificate,
//! accepts peers whose certificates chain to its trust store (as `ssl.quorum.clientAuth`
//! asks: required by default, wanted, or not requested), and (unless
//! `ssl.quorum.hostnameVerification` is off) checks that a peer it dials is named by that
//! peer's certificate. Both directions speak only the versions and cipher suites of
//! `ssl.quorum.protocol`, `ssl.quorum.enabledProtocols` and `ssl.quorum.ciphersuites`. The
//! election links here and zk-peer's quorum channels both use it.
//!
//! Dialling goes through our own connector, since tonic's cannot leave the name check out;
//! listeners accept through [`crate::incoming`], since tonic's cannot choose versions or suites.

use std::fmt;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error, RootCertStore, ServerConfig,
    SignatureScheme,
};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tonic::transport::{Channel, Endpoint, Uri};

use crate::tls_settings::{ClientAuth, TlsChoice};

/// How a member speaks TLS to its peers, besides its certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerTlsSettings {
    /// `ssl.quorum.hostnameVerification`: a dialled peer's certificate must name its host.
    pub verify_names: bool,
    /// `ssl.quorum.clientAuth`: what the listeners ask of the peers that dial them.
    pub client_auth: ClientAuth,
    /// The versions and cipher suites spoken, both ways.
    pub choice: TlsChoice,
}

impl Default for PeerTlsSettings {
    /// ZooKeeper's defaults: names checked, certificates required, its versions and suites.
    fn default() -> Self {
        PeerTlsSettings {
            verify_names: true,
            client_auth: ClientAuth::Need,
            choice: TlsChoice::defaults("ssl.quorum."),
        }
    }
}

/// A member's TLS material: its key store (private key and certificate chain, PEM), the
/// certificates that vouch for peers, and how it speaks to them.
#[derive(Clone)]
pub struct PeerTls {
    key_store: Vec<u8>,
    trust_store: Vec<u8>,
    settings: PeerTlsSettings,
    connector: TlsConnector,
    acceptor: TlsAcceptor,
}

impl fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerTls")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl PartialEq for PeerTls {
    fn eq(&self, other: &Self) -> bool {
        (&self.key_store, &self.trust_store, &self.settings)
            == (&other.key_store, &other.trust_store, &other.settings)
    }
}

impl Eq for PeerTls {}

impl PeerTls {
    /// Reads the PEM texts and builds both sides' TLS configurations (so that unusable
    /// material or settings fail here, at start-up).
    pub fn from_pem(
        key_store: Vec<u8>,
        trust_store: Vec<u8>,
        settings: PeerTlsSettings,
    ) -> Result<PeerTls, String> {
        let certs = CertificateDer::pem_slice_iter(&key_store)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("bad certificate in the key store: {e}"))?;
        if certs.is_empty() {
            return Err("no certificate in the key store".into());
        }
        let key = PrivateKeyDer::from_pem_slice(&key_store)
            .map_err(|e| format!("no usable private key in the key store: {e}"))?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&trust_store) {
            let cert = cert.map_err(|e| format!("bad certificate in the trust store: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("unusable certificate in the trust store: {e}"))?;
        }
        if roots.is_empty() {
            return Err("no certificate in the trust store".into());
        }
        let roots = Arc::new(roots);
        let defaults = ring::default_provider();
        let versions = settings.choice.versions()?;
        let provider = Arc::new(CryptoProvider {
            cipher_suites: settings.choice.suites(&defaults.cipher_suites, &versions)?,
            ..defaults
        });

        let webpki = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| format!("trust store: {e}"))?;
        let verifier: Arc<dyn ServerCertVerifier> = if settings.verify_names {
            webpki
        } else {
            Arc::new(AnyName(webpki))
        };
        let mut dialling = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| format!("TLS versions: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(certs.clone(), key.clone_key())
            .map_err(|e| format!("the key store's key and certificate: {e}"))?;
        dialling.alpn_protocols = vec![b"h2".to_vec()];

        let listening = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| format!("TLS versions: {e}"))?;
        let listening = match settings.client_auth {
            ClientAuth::None => listening.with_no_client_auth(),
            wanted => {
                let peers = WebPkiClientVerifier::builder_with_provider(roots, provider);
                let peers = if wanted == ClientAuth::Want {
                    peers.allow_unauthenticated()
                } else {
                    peers
                };
                let peers = peers.build().map_err(|e| format!("trust store: {e}"))?;
                listening.with_client_cert_verifier(peers)
            }
        };
        let mut listening = listening
            .with_single_cert(certs, key)
            .map_err(|e| format!("the key store's key and certificate: {e}"))?;
        listening.alpn_protocols = vec![b"h2".to_vec()];

        Ok(PeerTls {
            key_store,
            trust_store,
            settings,
            connector: TlsConnector::from(Arc::new(dialling)),
            acceptor: TlsAcceptor::from(Arc::new(listening)),
        })
    }

    /// For a listener: completes the TLS handshake of a peer that dialled us.
    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Opens `endpoint` (made from `http://{address}`) inside TLS to `address` (`host:port`).
    pub async fn connect(
        &self,
        endpoint: Endpoint,
        address: &str,
    ) -> Result<Channel, tonic::transport::Error> {
        let connector = self.connector.clone();
        let address = address.to_owned();
        endpoint
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let (connector, address) = (connector.clone(), address.clone());
                async move {
                    let name = ServerName::try_from(host_of(&address).to_owned())
                        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                    let tcp = TcpStream::connect(&address).await?;
                    tcp.set_nodelay(true)?;
                    let tls = connector.connect(name, tcp).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(tls))
                }
            }))
            .await
    }
}

/// Trusts what webpki trusts, whatever host the certificate names
/// (`ssl.quorum.hostnameVerification=false`).
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        // webpki checks the chain before the name: a name error means the chain was trusted.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The host of `host:port` (an IPv6 host without its brackets).
fn host_of(address: &str) -> &str {
    let host = address
        .rsplit_once(':')
        .map_or(address, |(host, _port)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_addresses() {
        assert_eq!(host_of("127.0.0.1:2888"), "127.0.0.1");
        assert_eq!(host_of("zk1.example.com:3888"), "zk1.example.com");
        assert_eq!(host_of("[::1]:3888"), "::1");
    }

    #[test]
    fn unusable_material_is_refused() {
        let error =
            PeerTls::from_pem(Vec::new(), Vec::new(), PeerTlsSettings::default()).unwrap_err();
        assert!(error.contains("no certificate in the key store"), "{error}");
    }
}
