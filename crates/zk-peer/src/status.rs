//! What a peer is doing, published for the client side (four-letter words, serving decisions).

use zk_election::Sid;

/// The peer's role (ZooKeeper's ServerState), as `srvr` and `mntr` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Looking,
    Leading,
    Following,
    Observing,
}

impl Role {
    /// The word `srvr` prints after `Mode:` and `mntr` as `zk_server_state`.
    pub fn mode(self) -> &'static str {
        match self {
            Role::Looking => "looking",
            Role::Leading => "leader",
            Role::Following => "follower",
            Role::Observing => "observer",
        }
    }
}

/// Counters of the peer's elections (ZooKeeper's `looking_count` and `election_time`), shared
/// with whoever reports them.
#[derive(Debug, Default)]
pub struct PeerMetrics {
    /// Times the peer started looking for a leader.
    pub looking_count: std::sync::atomic::AtomicU64,
    /// Milliseconds from starting to look to taking a role, per election.
    pub election_time: zk_txnlog::Series,
}

impl PeerMetrics {
    pub fn reset(&self) {
        self.looking_count
            .store(0, std::sync::atomic::Ordering::Relaxed);
        self.election_time.reset();
    }
}

/// A snapshot of the peer's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerStatus {
    pub role: Role,
    /// The leader this peer follows (or is); `None` while looking.
    pub leader: Option<Sid>,
    /// Learners currently connected to this peer when it leads (followers and observers).
    pub learners: usize,
    /// Followers (voters) among them.
    pub followers: usize,
}

impl PeerStatus {
    pub fn looking() -> PeerStatus {
        PeerStatus {
            role: Role::Looking,
            leader: None,
            learners: 0,
            followers: 0,
        }
    }
}
