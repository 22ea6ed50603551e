//! State shared by the acceptor, the diallers, the links and the handles.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use zk_election::{Notification, Sid};

use crate::config::CnxOptions;
use crate::peer::Peer;
use crate::queue::InboundQueue;

/// Counters of what the manager did, for tests and monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CnxStats {
    /// Links we dialled that the peer accepted.
    pub links_dialled: u64,
    /// Links a peer dialled that we kept.
    pub links_accepted: u64,
    /// Dial-back requests we delivered (we are the smaller sid of the pair).
    pub dial_back_requests_sent: u64,
    /// Dial-back requests we received (we are the larger sid of the pair).
    pub dial_back_requests_received: u64,
    /// Incoming streams refused (unknown or duplicate sid, bad hello).
    pub refused: u64,
    /// Received messages dropped because the receive queue was full.
    pub inbound_dropped: u64,
    /// Received frames dropped as malformed (unknown state code, unexpected frame kind).
    pub invalid_dropped: u64,
    /// Outgoing messages dropped because they exceed the message size limit.
    pub oversized_dropped: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) links_dialled: AtomicU64,
    pub(crate) links_accepted: AtomicU64,
    pub(crate) dial_back_requests_sent: AtomicU64,
    pub(crate) dial_back_requests_received: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) inbound_dropped: AtomicU64,
    pub(crate) invalid_dropped: AtomicU64,
    pub(crate) oversized_dropped: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> CnxStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CnxStats {
            links_dialled: get(&self.links_dialled),
            links_accepted: get(&self.links_accepted),
            dial_back_requests_sent: get(&self.dial_back_requests_sent),
            dial_back_requests_received: get(&self.dial_back_requests_received),
            refused: get(&self.refused),
            inbound_dropped: get(&self.inbound_dropped),
            invalid_dropped: get(&self.invalid_dropped),
            oversized_dropped: get(&self.oversized_dropped),
        }
    }
}

/// Peers outside the configuration that one manager learns at most.
pub(crate) const MAX_LEARNED_PEERS: usize = 64;

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) myid: Sid,
    /// Our election address as announced in hellos.
    pub(crate) advertised: String,
    pub(crate) options: CnxOptions,
    /// Mutual TLS on every link, when configured.
    pub(crate) tls: Option<crate::PeerTls>,
    /// Every configured peer except ourselves, and those learned from their hellos.
    pub(crate) peers: RwLock<HashMap<Sid, Arc<Peer>>>,
    /// How many of `peers` came from the configuration; the rest were learned.
    pub(crate) configured: usize,
    /// One dialler per peer, joined at shutdown.
    pub(crate) dialers: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) inbound: InboundQueue,
    /// Cancelled on shutdown; every link token is a child of it.
    pub(crate) shutdown: CancellationToken,
    pub(crate) counters: Counters,
}

impl Shared {
    /// Queues a received (or looped-back) message for the election.
    pub(crate) fn deliver(&self, from: Sid, msg: Notification) {
        if self.shutdown.is_cancelled() {
            return;
        }
        if self.inbound.push(from, msg) {
            bump(&self.counters.inbound_dropped);
        }
    }

    pub(crate) fn peer(&self, sid: Sid) -> Option<Arc<Peer>> {
        self.peers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&sid)
            .cloned()
    }

    /// Every peer as of now.
    pub(crate) fn peers(&self) -> Vec<Arc<Peer>> {
        self.peers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// The peer `sid`, added with `address` if it is not one yet (a server that joined the
    /// ensemble by reconfig), with a dialler of its own. `None` once [`MAX_LEARNED_PEERS`]
    /// were learned: each one is a dialler that never gives up, so strangers must not be
    /// able to add them without bound.
    pub(crate) fn learn(self: &Arc<Self>, sid: Sid, address: &str) -> Option<Arc<Peer>> {
        let mut peers = self.peers.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(peer) = peers.get(&sid) {
            return Some(peer.clone());
        }
        if peers.len() >= self.configured + MAX_LEARNED_PEERS {
            tracing::warn!(
                peer = sid,
                address,
                "not learning another peer outside the configuration: too many already"
            );
            return None;
        }
        let peer = Arc::new(Peer::new(sid, address.to_owned()));
        peers.insert(sid, peer.clone());
        drop(peers);
        tracing::info!(
            peer = sid,
            address,
            "learned a peer outside the configuration"
        );
        self.spawn_dialer(peer.clone());
        Some(peer)
    }

    /// Starts `peer`'s dialler; [`crate::CnxManager::shutdown`] joins it.
    pub(crate) fn spawn_dialer(self: &Arc<Self>, peer: Arc<Peer>) {
        let task = tokio::spawn(crate::dialer::run(self.clone(), peer));
        self.dialers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(task);
    }

    /// Every dialler started so far, leaving none behind.
    pub(crate) fn take_dialers(&self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut *self.dialers.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Sids with a live link, ascending.
    pub(crate) fn connected_peers(&self) -> Vec<Sid> {
        let mut sids: Vec<Sid> = self
            .peers()
            .iter()
            .filter(|p| p.has_link())
            .map(|p| p.sid)
            .collect();
        sids.sort_unstable();
        sids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CnxOptions;

    fn shared() -> Arc<Shared> {
        let options = CnxOptions::default();
        Arc::new(Shared {
            myid: 1,
            advertised: "127.0.0.1:1".into(),
            inbound: InboundQueue::new(options.inbound_capacity),
            options,
            tls: None,
            peers: RwLock::new(HashMap::new()),
            configured: 0,
            dialers: Default::default(),
            shutdown: CancellationToken::new(),
            counters: Default::default(),
        })
    }

    #[tokio::test]
    async fn learning_stops_at_the_limit_and_every_dialer_is_joined() {
        let shared = shared();
        for sid in 2..2 + MAX_LEARNED_PEERS as Sid {
            assert!(shared.learn(sid, "127.0.0.1:1").is_some(), "sid {sid}");
        }
        assert!(shared.learn(1000, "127.0.0.1:1").is_none());
        // A peer already known is still found.
        assert!(shared.learn(2, "127.0.0.1:1").is_some());
        assert_eq!(shared.peers().len(), MAX_LEARNED_PEERS);
        shared.shutdown.cancel();
        let dialers = shared.take_dialers();
        assert_eq!(dialers.len(), MAX_LEARNED_PEERS);
        for dialer in dialers {
            tokio::time::timeout(std::time::Duration::from_secs(5), dialer)
                .await
                .expect("a dialler outlived the shutdown")
                .expect("a dialler panicked");
        }
    }
}
