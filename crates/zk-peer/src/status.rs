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
