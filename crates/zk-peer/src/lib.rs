//! QuorumPeer: a member of a ZooKeeper ensemble, running as LOOKING, LEADING, FOLLOWING or
//! OBSERVING (quorum spec §4).
//!
//! A peer elects a leader with FastLeaderElection (`zk-election`) over the election links of
//! `zk-cnxmgr`, then keeps the leader-learner channel (`Quorum.Follow`, proto/zk_peer.proto)
//! alive with pings: a learner whose leader goes silent, or a leader that loses a quorum of
//! followers, goes back to LOOKING. ZAB's discovery, synchronisation and broadcast of
//! transactions build on that channel.

pub mod config;
pub mod leader;
pub mod learner;
pub mod peer;
pub mod status;

pub use config::{ConfigError, EnsembleConfig, ServerSpec};
pub use peer::{PeerError, QuorumPeer};
pub use status::{PeerStatus, Role};
pub use zk_election::{InitialVote, LearnerType};
