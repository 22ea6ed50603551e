//! The TLS client port (`secureClientPort`): the same protocol inside TLS, with the server's key
//! and certificate read from ZooKeeper's PEM key store (`ssl.keyStore.location`), and the
//! clients' certificates checked against its PEM trust store (`ssl.trustStore.location`) as
//! `ssl.clientAuth` asks: required (ZooKeeper's default), wanted, or not requested. A client
//! whose certificate passes is authenticated in the `x509` scheme (see [`crate::x509`]).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, SubjectPublicKeyInfoDer, UnixTime};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::client::danger::HandshakeSignatureValid;
use tokio_rustls::rustls::crypto::{WebPkiSupportedAlgorithms, ring};
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, PeerMisbehaved,
    ServerConfig, SignatureScheme,
};
use x509_parser::time::ASN1Time;
pub use zk_peer::{ClientAuth, TlsChoice};

use crate::acl::AuthId;

/// Builds the acceptor from a PEM file holding the private key (PKCS#8) and the certificate
/// chain and, unless `client_auth` is `None`, the PEM file of the certificates trusted to vouch
/// for clients.
pub fn acceptor(
    key_store: &Path,
    trust_store: Option<&Path>,
    client_auth: ClientAuth,
    choice: &TlsChoice,
) -> anyhow::Result<TlsAcceptor> {
    let certs = read_certificates(key_store)?;
    let key = PrivateKeyDer::from_pem_file(key_store)
        .with_context(|| format!("no usable private key in {}", key_store.display()))?;
    let defaults = ring::default_provider();
    let versions = choice.versions().map_err(anyhow::Error::msg)?;
    let suites = choice
        .suites(&defaults.cipher_suites, &versions)
        .map_err(anyhow::Error::msg)?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::CryptoProvider {
        cipher_suites: suites,
        ..defaults
    });
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .with_context(|| format!("unsupported private key in {}", key_store.display()))?;
    // rustls's `with_single_cert` re-parses the certificate with webpki, which refuses X.509 v1
    // certificates; Java and OpenSSL accept them (kazoo's test CA issues v1 server certificates),
    // so the key pair is handed over as is.
    let certified = Arc::new(CertifiedKey::new(certs, signing_key));
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .context("TLS protocol versions")?;
    let builder = match (client_auth, trust_store) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (_, None) => anyhow::bail!(
            "ssl.clientAuth asks for client certificates but ssl.trustStore.location is not set"
        ),
        (wanted, Some(trust_store)) => {
            let verifier = TrustedClients::load(
                trust_store,
                wanted == ClientAuth::Need,
                provider.signature_verification_algorithms,
            )?;
            builder.with_client_cert_verifier(Arc::new(verifier))
        }
    };
    let config = builder.with_cert_resolver(Arc::new(OneCertificate(certified)));
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The certificates of a PEM file, at least one.
fn read_certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read certificates from {}", path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("bad certificate in {}", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("no certificate in {}", path.display());
    }
    Ok(certs)
}

/// The identities a verified client certificate gives its connection: `x509` with the
/// subject's name, and `super` too when that name is `X509AuthenticationProvider.superUser`.
pub fn identities(chain: Option<&[CertificateDer<'_>]>, super_user: Option<&str>) -> Vec<AuthId> {
    let Some(name) = chain
        .and_then(|chain| chain.first())
        .and_then(|cert| crate::x509::subject_name(cert).ok())
    else {
        return Vec::new();
    };
    let is_super = super_user == Some(name.as_str());
    tracing::info!(id = %name, is_super, "client authenticated by certificate (x509)");
    let mut ids = Vec::new();
    if is_super {
        ids.push(AuthId::new("super", name.clone()));
    }
    ids.push(AuthId::new("x509", name));
    ids
}

/// Accepts client certificates that chain to the trust store's, of any X.509 version.
#[derive(Debug)]
struct TrustedClients {
    anchors: Vec<CertificateDer<'static>>,
    /// The anchors' subjects, sent to clients as the issuers we accept.
    subjects: Vec<DistinguishedName>,
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl TrustedClients {
    fn load(
        trust_store: &Path,
        mandatory: bool,
        algorithms: WebPkiSupportedAlgorithms,
    ) -> anyhow::Result<TrustedClients> {
        let anchors = read_certificates(trust_store)?;
        let subjects = anchors
            .iter()
            .map(|cert| {
                crate::x509::subject_der(cert)
                    .map(DistinguishedName::from)
                    .with_context(|| format!("unreadable certificate in {}", trust_store.display()))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(TrustedClients {
            anchors,
            subjects,
            mandatory,
            algorithms,
        })
    }

    /// The public key a handshake signature must verify under: the client certificate's.
    fn public_key(cert: &CertificateDer<'_>) -> Result<SubjectPublicKeyInfoDer<'static>, Error> {
        crate::x509::public_key_info(cert)
            .map(SubjectPublicKeyInfoDer::from)
            .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))
    }
}

impl ClientCertVerifier for TrustedClients {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.subjects
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let chain: Vec<&[u8]> = std::iter::once(end_entity.as_ref())
            .chain(intermediates.iter().map(|cert| cert.as_ref()))
            .collect();
        let anchors: Vec<&[u8]> = self.anchors.iter().map(|cert| cert.as_ref()).collect();
        let now = i64::try_from(now.as_secs())
            .ok()
            .and_then(|secs| ASN1Time::from_timestamp(secs).ok())
            .ok_or(Error::FailedToGetCurrentTime)?;
        crate::x509::verify_chain(&chain, &anchors, now)
            .map(|()| ClientCertVerified::assertion())
            .map_err(|reason| {
                tracing::info!(%reason, "client certificate refused");
                Error::InvalidCertificate(CertificateError::UnknownIssuer)
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let spki = Self::public_key(cert)?;
        let key = webpki::RawPublicKeyEntity::try_from(&spki)
            .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let candidates = self
            .algorithms
            .mapping
            .iter()
            .find(|(scheme, _)| *scheme == dss.scheme)
            .map(|(_, algorithms)| *algorithms)
            .ok_or(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme)?;
        // TLS 1.2 names the hash, not the key type: try each algorithm the scheme may mean.
        for algorithm in candidates {
            match key.verify_signature(*algorithm, message, dss.signature()) {
                Ok(()) => return Ok(HandshakeSignatureValid::assertion()),
                Err(webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_)) => {}
                Err(_) => break,
            }
        }
        Err(Error::InvalidCertificate(CertificateError::BadSignature))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let spki = Self::public_key(cert)?;
        tokio_rustls::rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &spki,
            dss,
            &self.algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Serves the same certificate to every client.
#[derive(Debug)]
struct OneCertificate(Arc<CertifiedKey>);

impl ResolvesServerCert for OneCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}
