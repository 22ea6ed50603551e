//! ZooKeeper's FastLeaderElection (FLE) as a reusable, sans-IO state machine.
//!
//! * [`Election`] is the pure state machine: feed it notifications and timeouts with the current
//!   time, drain its [`Action`]s. It follows upstream ZooKeeper rule by rule (receiver rules
//!   R0-R7 and `lookForLeader` cases L0-L10 of the project spec, §2).
//! * [`QuorumVerifier`] / [`QuorumConfig`]: majority and hierarchical quorums, with the
//!   committed and the next configuration counted together while a reconfig is in flight.
//! * [`Notification`] has the reference byte encoding (44 + config bytes; the 28 and 40-byte
//!   legacy forms are accepted), but transports may carry its fields any way they like.
//! * With the `tokio` feature: [`driver`], an async loop over a small [`driver::Transport`]
//!   trait, and an in-memory transport for tests and examples.
//!
//! Not implemented: the 2-node oracle quorum (L11) and applying reconfigurations, which the
//! machine only reports as [`Action::NewConfig`].

/// Debug-level event when the `tracing` feature is on; nothing otherwise.
macro_rules! trace_event {
    ($($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        tracing::debug!($($arg)*);
    };
}

pub mod codec;
#[cfg(feature = "tokio")]
pub mod driver;
mod election;
pub mod quorum;
pub mod tally;
mod types;

pub use codec::{DecodeError, config_version};
pub use election::{Action, Election, Timing, check_leader};
pub use quorum::{QuorumConfig, QuorumError, QuorumVerifier};
pub use types::{
    Decision, DecisionPath, InitialVote, LearnerType, NO_LEADER, NONE_I64, NOTIFICATION_VERSION,
    Notification, ServerState, Sid, Vote, Zxid, epoch_of, make_zxid,
};
