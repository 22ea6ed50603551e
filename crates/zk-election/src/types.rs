//! The vocabulary of the election: server ids, states, votes and notifications.
//!
//! These types are independent of any encoding: the reference byte layout lives in
//! [`crate::codec`], and transports that speak protobuf map the same fields.

use std::cmp::Ordering;
use std::sync::Arc;

/// A server id (`myid`). Upstream uses a signed Java `long`; we keep the bit pattern in a `u64`
/// and compare ids as signed values where the algorithm orders them (see [`Vote::order_key`]).
pub type Sid = u64;

/// A transaction id: epoch in the high 32 bits, counter in the low 32 bits, compared as signed.
pub type Zxid = i64;

/// The "no value" placeholder that observers and non-voting participants put in their votes
/// (Java's `Long.MIN_VALUE`). Any real vote beats it.
pub const NONE_I64: i64 = i64::MIN;

/// The sid placeholder of a vote made by a server that is not a voting member.
pub const NO_LEADER: Sid = i64::MIN as u64;

/// Version of the notification format written by this crate (upstream `Notification.CURRENTVERSION`).
pub const NOTIFICATION_VERSION: i32 = 2;

/// The epoch part of a zxid (high 32 bits), used for 28-byte notifications that carry no peer epoch.
pub fn epoch_of(zxid: Zxid) -> i64 {
    zxid >> 32
}

/// Builds a zxid from an epoch and a counter.
pub fn make_zxid(epoch: i64, counter: u32) -> Zxid {
    (epoch << 32) | i64::from(counter)
}

/// The state of a peer, with the wire numbers of the notification `state` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServerState {
    /// Electing (0).
    Looking,
    /// Following a leader (1).
    Following,
    /// Leading (2).
    Leading,
    /// Observing a leader without voting (3).
    Observing,
}

impl ServerState {
    /// The number carried on the wire.
    pub fn wire(self) -> i32 {
        match self {
            ServerState::Looking => 0,
            ServerState::Following => 1,
            ServerState::Leading => 2,
            ServerState::Observing => 3,
        }
    }

    /// Parses a wire number; `None` for codes outside 0..=3 (rule R4 drops those messages).
    pub fn from_wire(code: i32) -> Option<ServerState> {
        match code {
            0 => Some(ServerState::Looking),
            1 => Some(ServerState::Following),
            2 => Some(ServerState::Leading),
            3 => Some(ServerState::Observing),
            _ => None,
        }
    }
}

/// Whether this server may vote and lead (participant) or only learns the leader (observer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LearnerType {
    /// Votes (if it is a voting member of the configuration) and may lead.
    #[default]
    Participant,
    /// Never votes, never leads; decides OBSERVING.
    Observer,
}

/// An election vote: who should lead, with the data that ranks the candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vote {
    /// The proposed (or elected) leader.
    pub leader: Sid,
    /// The leader's last logged zxid, as known when the vote was made.
    pub zxid: Zxid,
    /// The election round (logical clock) this vote belongs to.
    pub election_epoch: i64,
    /// The leader's `currentEpoch`.
    pub peer_epoch: i64,
}

impl Vote {
    /// The key of the total order on votes: `(peerEpoch, zxid, sid)`, all compared as signed
    /// 64-bit numbers like upstream (ZOOKEEPER-1082, ZOOKEEPER-1419).
    pub fn order_key(&self) -> (i64, i64, i64) {
        (self.peer_epoch, self.zxid, self.leader as i64)
    }

    /// Compares two votes by [`Vote::order_key`]; the round is not part of the order.
    pub fn cmp_rank(&self, other: &Vote) -> Ordering {
        self.order_key().cmp(&other.order_key())
    }
}

/// One election message. There are no acks: every message is a complete statement of the
/// sender's state and vote, so duplicates and reordering are harmless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The sender's state.
    pub state: ServerState,
    /// The sender's proposed or elected leader.
    pub leader: Sid,
    /// The zxid attached to that vote.
    pub zxid: Zxid,
    /// The round of the vote.
    pub election_epoch: i64,
    /// The epoch attached to the vote.
    pub peer_epoch: i64,
    /// Message format version (0 for the 28/40-byte legacy forms, 2 today).
    pub version: i32,
    /// The sender's committed configuration as text (version >= 2 only).
    pub config: Option<Arc<[u8]>>,
}

impl Notification {
    /// A current-format notification carrying `vote` in `state`.
    pub fn new(state: ServerState, vote: Vote, config: Option<Arc<[u8]>>) -> Notification {
        Notification {
            state,
            leader: vote.leader,
            zxid: vote.zxid,
            election_epoch: vote.election_epoch,
            peer_epoch: vote.peer_epoch,
            version: NOTIFICATION_VERSION,
            config,
        }
    }

    /// The vote this notification carries.
    pub fn vote(&self) -> Vote {
        Vote {
            leader: self.leader,
            zxid: self.zxid,
            election_epoch: self.election_epoch,
            peer_epoch: self.peer_epoch,
        }
    }
}

/// What a server starts an election with (spec §2.3): its own data, before any vote is adopted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InitialVote {
    /// The last zxid in the transaction log (`-1` if the database was never initialised).
    pub last_logged_zxid: Zxid,
    /// The persisted `currentEpoch`.
    pub current_epoch: i64,
}

/// The outcome of an election.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// LEADING, FOLLOWING or OBSERVING.
    pub state: ServerState,
    /// The elected vote; its `election_epoch` is the round the decision was made in.
    pub vote: Vote,
    /// The voters whose matching votes formed the quorum (upstream's `leadingVoteSet`).
    pub supporters: Vec<Sid>,
    /// Which rule decided.
    pub path: DecisionPath,
}

/// The rule of `lookForLeader` that produced a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecisionPath {
    /// A quorum of LOOKING votes agreed with our proposal and finalizeWait passed quietly (L6).
    LookingQuorum,
    /// A quorum of FOLLOWING/LEADING votes of our own round named a leader that said LEADING (L9).
    SameRound,
    /// A quorum of FOLLOWING/LEADING votes of any round named a leader that said LEADING (L10):
    /// how a restarted or late server joins an established ensemble.
    OutOfElection,
}
