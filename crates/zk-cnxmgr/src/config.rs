//! Who we are, who our peers are, and the knobs of the connection manager.

use std::collections::BTreeMap;
use std::time::Duration;

use zk_election::Sid;

/// Upstream's frame limit (spec §3.1): larger notifications are refused.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 512 * 1024;

/// Upstream's limit on the address string of a handshake (spec §3.2).
pub const MAX_HELLO_ADDRESS_LEN: usize = 2048;

/// The membership seen by one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CnxConfig {
    /// This server's sid (`myid`).
    pub myid: Sid,
    /// This server's election address as `host:port` (bound by [`crate::CnxManager::start`]
    /// and sent to peers in the hello so that they can dial back).
    pub address: String,
    /// Every member's election address (`SocketAddr` or `host:port`); an entry for `myid`
    /// is ignored. Streams from sids not listed here are refused.
    pub peers: BTreeMap<Sid, String>,
    /// Timeouts, backoff and limits.
    pub options: CnxOptions,
    /// Mutual TLS on every link (`sslQuorum`); plain HTTP/2 when `None`.
    pub tls: Option<crate::PeerTls>,
    /// Where to listen, when not on `address` (`quorumListenOnAllIPs`: every address); the
    /// hello still announces `address`.
    pub listen: Option<String>,
}

impl CnxConfig {
    /// A configuration with default options.
    pub fn new<A: ToString>(
        myid: Sid,
        address: impl ToString,
        peers: impl IntoIterator<Item = (Sid, A)>,
    ) -> CnxConfig {
        CnxConfig {
            myid,
            address: address.to_string(),
            peers: peers
                .into_iter()
                .map(|(sid, addr)| (sid, addr.to_string()))
                .collect(),
            options: CnxOptions::default(),
            tls: None,
            listen: None,
        }
    }

    /// Listens on `listen` instead of `address`.
    pub fn with_listen(mut self, listen: Option<String>) -> CnxConfig {
        self.listen = listen;
        self
    }

    /// Runs every link inside mutual TLS.
    pub fn with_tls(mut self, tls: Option<crate::PeerTls>) -> CnxConfig {
        self.tls = tls;
        self
    }

    /// Replaces the options.
    pub fn with_options(mut self, options: CnxOptions) -> CnxConfig {
        self.options = options;
        self
    }
}

/// Timeouts, backoff and limits (upstream defaults where upstream has one, spec §3.6 and §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CnxOptions {
    /// TCP connect timeout (`zookeeper.cnxTimeout`, 5 s).
    pub connect_timeout: Duration,
    /// How long an acceptor waits for the hello, and a dialler for the acceptor's answer.
    pub handshake_timeout: Duration,
    /// First reconnect delay.
    pub initial_backoff: Duration,
    /// Reconnect delay cap.
    pub max_backoff: Duration,
    /// After prompting a larger sid to dial back, how long to wait for its link before
    /// prompting again. A prompt does not close a link younger than this: it crossed it.
    pub dial_back_wait: Duration,
    /// HTTP/2 keep-alive ping interval, so that half-open links are noticed.
    pub keepalive_interval: Duration,
    /// How long a keep-alive ping may stay unanswered before the link is closed.
    pub keepalive_timeout: Duration,
    /// Largest encoded message accepted or sent (512 KiB, like upstream's frame limit).
    pub max_message_size: usize,
    /// Capacity of the shared receive queue (100; the oldest message is dropped when full).
    pub inbound_capacity: usize,
    /// Extra bind attempts when the election port is busy (`electionPortBindRetry`, 3).
    pub bind_retries: u32,
    /// Delay between bind attempts.
    pub bind_retry_delay: Duration,
}

impl Default for CnxOptions {
    fn default() -> CnxOptions {
        CnxOptions {
            connect_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(5),
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
            dial_back_wait: Duration::from_secs(2),
            keepalive_interval: Duration::from_secs(5),
            keepalive_timeout: Duration::from_secs(10),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            inbound_capacity: 100,
            bind_retries: 3,
            bind_retry_delay: Duration::from_millis(500),
        }
    }
}
