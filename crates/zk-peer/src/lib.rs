//! QuorumPeer: a member of a ZooKeeper ensemble, running as LOOKING, LEADING, FOLLOWING or
//! OBSERVING (quorum spec §4).
//!
//! A peer elects a leader with FastLeaderElection (`zk-election`) over the election links of
//! `zk-cnxmgr`, then runs ZAB over the leader-learner channel (`Quorum.Follow`,
//! proto/zk_peer.proto): discovery settles a new epoch, synchronisation gives every learner the
//! leader's history, and broadcast commits each transaction once a quorum logged it. A learner
//! whose leader goes silent, or a leader that loses a quorum of followers, goes back to LOOKING.
//! The database itself is the server's, behind the [`Replica`] trait.

mod blocking;
pub mod broadcast;
pub mod config;
pub mod leader;
pub mod learner;
pub mod learners;
pub mod membership;
pub mod network;
pub mod peer;
pub mod replica;
pub mod status;
pub mod term;

pub use broadcast::{ProposeError, Proposer};
pub use config::{
    ConfigError, EnsembleConfig, Hierarchy, ServerSpec, config_text, membership_servers,
    membership_verifier, membership_version,
};
pub use learner::Forwarder;
pub use learners::{LearnerInfo, Learners};
pub use peer::{PeerError, QuorumPeer};
pub use replica::{Epochs, Replica, ReplicaError, Serving, Txn};
pub use status::{PeerMetrics, PeerStatus, Role};
pub use zk_cnxmgr::{ClientAuth, PeerTls, PeerTlsSettings, TlsChoice};
pub use zk_election::{InitialVote, LearnerType, Sid};
