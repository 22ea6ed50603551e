//! State shared by the acceptor, the diallers, the links and the handles.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

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

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) myid: Sid,
    /// Our election address as announced in hellos.
    pub(crate) advertised: String,
    pub(crate) options: CnxOptions,
    /// Every configured peer except ourselves, and those learned from their hellos.
    pub(crate) peers: RwLock<HashMap<Sid, Arc<Peer>>>,
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
    /// ensemble by reconfig); true when it was added.
    pub(crate) fn learn(&self, sid: Sid, address: &str) -> (Arc<Peer>, bool) {
        let mut peers = self.peers.write().unwrap_or_else(PoisonError::into_inner);
        match peers.get(&sid) {
            Some(peer) => (peer.clone(), false),
            None => {
                let peer = Arc::new(Peer::new(sid, address.to_owned()));
                peers.insert(sid, peer.clone());
                (peer, true)
            }
        }
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
