//! [`CnxManager`]: the listener, the diallers and the handles of one server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use prost::Message;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use zk_election::{Notification, Sid};
use zk_proto::peer::election_server::ElectionServer;

use crate::acceptor::ElectionService;
use crate::config::{CnxConfig, CnxOptions};
use crate::error::CnxError;
use crate::link::notification_frame;
use crate::peer::Peer;
use crate::queue::InboundQueue;
use crate::shared::{CnxStats, Shared, bump};

/// How long [`CnxManager::shutdown`] lets the server close its connections politely.
const SERVER_STOP_GRACE: Duration = Duration::from_secs(1);

/// The election connection manager of one server: listens on its election address, keeps
/// one link per peer and moves notifications. Dropping it (or [`CnxManager::shutdown`])
/// closes the listener and every link; handles then go inert and [`Inbox::recv`] returns
/// `None`.
#[derive(Debug)]
pub struct CnxManager {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    server: Option<JoinHandle<()>>,
}

/// The sending side of a [`CnxManager`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct CnxHandle {
    shared: Arc<Shared>,
}

/// The receiving side of a [`CnxManager`]: every notification received, with its sender.
#[derive(Debug)]
pub struct Inbox {
    shared: Arc<Shared>,
}

impl CnxManager {
    /// Binds `config.address` (retrying while the port is busy) and starts the manager.
    pub async fn start(config: CnxConfig) -> Result<(CnxManager, Inbox), CnxError> {
        let address = config.listen.as_deref().unwrap_or(&config.address);
        let listener = bind(address, &config.options).await?;
        CnxManager::run(config, listener)
    }

    /// Starts the manager on a listener bound by the caller (e.g. on port 0 before every
    /// peer's address was known).
    pub async fn start_with_listener(
        config: CnxConfig,
        listener: std::net::TcpListener,
    ) -> Result<(CnxManager, Inbox), CnxError> {
        listener.set_nonblocking(true).map_err(CnxError::Listener)?;
        let listener = TcpListener::from_std(listener).map_err(CnxError::Listener)?;
        CnxManager::run(config, listener)
    }

    fn run(config: CnxConfig, listener: TcpListener) -> Result<(CnxManager, Inbox), CnxError> {
        let local_addr = listener.local_addr().map_err(CnxError::Listener)?;
        let peers: HashMap<Sid, Arc<Peer>> = config
            .peers
            .into_iter()
            .filter(|(sid, _)| *sid != config.myid)
            .map(|(sid, address)| (sid, Arc::new(Peer::new(sid, address))))
            .collect();
        let configured = peers.len();
        let shared = Arc::new(Shared {
            myid: config.myid,
            advertised: advertised_address(&config.address, local_addr),
            inbound: InboundQueue::new(config.options.inbound_capacity),
            options: config.options,
            tls: config.tls,
            peers: RwLock::new(peers),
            configured,
            dialers: Default::default(),
            shutdown: CancellationToken::new(),
            counters: Default::default(),
        });
        let server = tokio::spawn(serve(shared.clone(), listener));
        for peer in shared.peers() {
            shared.spawn_dialer(peer);
        }
        tracing::info!(myid = shared.myid, %local_addr, "election connection manager started");
        let inbox = Inbox {
            shared: shared.clone(),
        };
        let manager = CnxManager {
            shared,
            local_addr,
            server: Some(server),
        };
        Ok((manager, inbox))
    }

    /// This server's sid.
    pub fn myid(&self) -> Sid {
        self.shared.myid
    }

    /// The address the listener is bound to (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle for sending.
    pub fn handle(&self) -> CnxHandle {
        CnxHandle {
            shared: self.shared.clone(),
        }
    }

    /// Peers with a live link, ascending (at most one link per peer exists at any time).
    pub fn connected_peers(&self) -> Vec<Sid> {
        self.shared.connected_peers()
    }

    /// What the manager has done so far.
    pub fn stats(&self) -> CnxStats {
        self.shared.counters.snapshot()
    }

    /// Closes the listener and every link, and waits for the tasks to end.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        for dialer in self.shared.take_dialers() {
            let _ = dialer.await;
        }
        if let Some(mut server) = self.server.take() {
            if tokio::time::timeout(SERVER_STOP_GRACE, &mut server)
                .await
                .is_err()
            {
                server.abort();
                let _ = server.await;
            }
        }
        tracing::info!(
            myid = self.shared.myid,
            "election connection manager stopped"
        );
    }
}

impl Drop for CnxManager {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
        for dialer in self.shared.take_dialers() {
            dialer.abort();
        }
    }
}

/// Serves `Election.Connect` through `builder` (TLS already set on it) until shutdown.
async fn serve(shared: Arc<Shared>, listener: TcpListener) {
    let options = &shared.options;
    let incoming = crate::incoming::accept(listener, shared.tls.clone());
    let service = ElectionServer::new(ElectionService::new(shared.clone()))
        .max_decoding_message_size(options.max_message_size)
        .max_encoding_message_size(options.max_message_size);
    let result = Server::builder()
        .http2_keepalive_interval(Some(options.keepalive_interval))
        .http2_keepalive_timeout(Some(options.keepalive_timeout))
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, shared.shutdown.clone().cancelled_owned())
        .await;
    if let Err(error) = result {
        // Upstream exits the process here: a server without a listener cannot be elected.
        tracing::error!(myid = shared.myid, %error, "election listener failed");
    }
}

/// Binds `address`, retrying a few times while the port is busy (upstream
/// `electionPortBindRetry`).
async fn bind(address: &str, options: &CnxOptions) -> Result<TcpListener, CnxError> {
    let mut attempt = 0;
    loop {
        match TcpListener::bind(address).await {
            Ok(listener) => return Ok(listener),
            Err(source) if attempt >= options.bind_retries => {
                return Err(CnxError::Bind {
                    address: address.to_owned(),
                    source,
                });
            }
            Err(error) => {
                attempt += 1;
                tracing::warn!(address, %error, attempt, "cannot bind election address, retrying");
                tokio::time::sleep(options.bind_retry_delay).await;
            }
        }
    }
}

/// What we announce in hellos: the configured address, or the bound one when the
/// configuration gave an IP address (it may have port 0) or nothing.
fn advertised_address(configured: &str, bound: SocketAddr) -> String {
    match configured.parse::<SocketAddr>() {
        // Port 0: the one the system chose.
        Ok(address) if address.port() == 0 => {
            SocketAddr::new(address.ip(), bound.port()).to_string()
        }
        // A listener on every address (quorumListenOnAllIPs) still announces the configured one.
        Ok(_) => configured.to_owned(),
        Err(_) if configured.is_empty() => bound.to_string(),
        Err(_) => configured.to_owned(),
    }
}

impl CnxHandle {
    /// This server's sid.
    pub fn myid(&self) -> Sid {
        self.shared.myid
    }

    /// Queues `msg` for `to`, replacing an unsent older message, and makes sure a link is
    /// being established. A message to ourselves goes straight to the inbox. Messages to
    /// unknown sids, and messages larger than the size limit, are dropped (and logged).
    pub fn send(&self, to: Sid, msg: Notification) {
        let shared = &self.shared;
        if shared.shutdown.is_cancelled() {
            return;
        }
        if to == shared.myid {
            shared.deliver(to, msg);
            return;
        }
        let Some(peer) = shared.peer(to) else {
            tracing::warn!(to, "dropping election message to an unknown sid");
            return;
        };
        let size = notification_frame(&msg).encoded_len();
        if size > shared.options.max_message_size {
            bump(&shared.counters.oversized_dropped);
            tracing::warn!(to, size, "dropping election message over the size limit");
            return;
        }
        peer.slot.put(msg);
        peer.message_queued();
    }

    /// Asks for a link to every peer that has none (upstream `connectAll`).
    pub fn connect_all(&self) {
        for peer in self.shared.peers() {
            peer.request_link();
        }
    }

    /// Whether any peer's send slot is empty (upstream `haveDelivered`, spec §3.7); false
    /// when there are no peers.
    pub fn have_delivered(&self) -> bool {
        self.shared.peers().iter().any(|p| !p.slot.has_pending())
    }

    /// Peers with a live link, ascending.
    pub fn connected_peers(&self) -> Vec<Sid> {
        self.shared.connected_peers()
    }
}

impl Inbox {
    /// The next message and its sender; `None` once the manager is shut down. Cancel-safe.
    pub async fn recv(&mut self) -> Option<(Sid, Notification)> {
        let shared = &self.shared;
        if shared.shutdown.is_cancelled() {
            return None;
        }
        tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => None,
            item = shared.inbound.next() => Some(item),
        }
    }

    /// The next message if one is already queued.
    pub fn try_recv(&mut self) -> Option<(Sid, Notification)> {
        self.shared.inbound.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_address_prefers_the_bound_port_for_ip_addresses() {
        let bound: SocketAddr = "127.0.0.1:4242".parse().unwrap();
        assert_eq!(advertised_address("127.0.0.1:0", bound), "127.0.0.1:4242");
        assert_eq!(advertised_address("", bound), "127.0.0.1:4242");
        assert_eq!(advertised_address("zk1:3888", bound), "zk1:3888");
        let everywhere: SocketAddr = "0.0.0.0:3888".parse().unwrap();
        assert_eq!(
            advertised_address("127.0.0.1:3888", everywhere),
            "127.0.0.1:3888"
        );
    }
}
