//! What a peer is doing, published for the client side (four-letter words, serving decisions).

use std::sync::atomic::{AtomicU64, Ordering};

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
    pub looking_count: AtomicU64,
    /// Milliseconds from starting to look to taking a role, per election.
    pub election_time: zk_txnlog::Series,
    /// As leader: transactions proposed and committed, and learners synchronised by snapshot
    /// or otherwise (DIFF, TRUNC).
    pub proposal_count: AtomicU64,
    pub commit_count: AtomicU64,
    pub snap_count: AtomicU64,
    pub diff_count: AtomicU64,
    /// As learner: PROPOSALs, and COMMITs or INFORMs, received from the leader.
    pub learner_proposal_received_count: AtomicU64,
    pub learner_commit_received_count: AtomicU64,
}

impl PeerMetrics {
    pub fn reset(&self) {
        for counter in self.counters() {
            counter.1.store(0, Ordering::Relaxed);
        }
        self.election_time.reset();
    }

    /// Every counter with its mntr key (without `zk_`).
    pub fn counters(&self) -> [(&'static str, &AtomicU64); 7] {
        [
            ("looking_count", &self.looking_count),
            ("proposal_count", &self.proposal_count),
            ("commit_count", &self.commit_count),
            ("snap_count", &self.snap_count),
            ("diff_count", &self.diff_count),
            (
                "learner_proposal_received_count",
                &self.learner_proposal_received_count,
            ),
            (
                "learner_commit_received_count",
                &self.learner_commit_received_count,
            ),
        ]
    }

    pub(crate) fn count(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
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
    /// Followers among them (observers are not).
    pub followers: usize,
    /// Followers without a vote among those (servers joining or left out by reconfig).
    pub non_voting_followers: usize,
}

impl PeerStatus {
    pub fn looking() -> PeerStatus {
        PeerStatus {
            role: Role::Looking,
            leader: None,
            learners: 0,
            followers: 0,
            non_voting_followers: 0,
        }
    }
}
