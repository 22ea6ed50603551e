//! Mutual TLS between peers (ZooKeeper's `sslQuorum`): every member presents its certificate,
//! accepts only peers whose certificates chain to its trust store, and checks that a peer it
//! dials is named by that peer's certificate. The election links here and zk-peer's quorum
//! channels both use it.

use std::fmt;

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// A member's TLS material, as PEM text.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerTls {
    /// The private key and certificate chain (ZooKeeper's PEM key store holds both).
    key_store: Vec<u8>,
    /// The certificates that vouch for peers.
    trust_store: Vec<u8>,
}

impl fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PeerTls { .. }")
    }
}

impl PeerTls {
    pub fn from_pem(key_store: Vec<u8>, trust_store: Vec<u8>) -> PeerTls {
        PeerTls {
            key_store,
            trust_store,
        }
    }

    /// For a listener: our certificate, and a trusted certificate required of every peer.
    pub fn server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity())
            .client_ca_root(Certificate::from_pem(&self.trust_store))
    }

    /// For dialling `address` (`host:port`): the peer's certificate must be trusted and name
    /// `host`; ours goes along.
    pub fn client(&self, address: &str) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .identity(self.identity())
            .ca_certificate(Certificate::from_pem(&self.trust_store))
            .domain_name(host_of(address))
    }

    fn identity(&self) -> Identity {
        Identity::from_pem(&self.key_store, &self.key_store)
    }
}

/// The URL of a peer's gRPC endpoint at `address`.
pub fn url(address: &str, tls: Option<&PeerTls>) -> String {
    let scheme = if tls.is_some() { "https" } else { "http" };
    format!("{scheme}://{address}")
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
    fn hosts_and_urls() {
        assert_eq!(host_of("127.0.0.1:2888"), "127.0.0.1");
        assert_eq!(host_of("zk1.example.com:3888"), "zk1.example.com");
        assert_eq!(host_of("[::1]:3888"), "::1");
        assert_eq!(url("zk1:3888", None), "http://zk1:3888");
        let tls = PeerTls::from_pem(Vec::new(), Vec::new());
        assert_eq!(url("zk1:3888", Some(&tls)), "https://zk1:3888");
        assert_eq!(format!("{tls:?}"), "PeerTls { .. }");
    }
}
