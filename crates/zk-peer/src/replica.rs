//! What ZAB needs from the server's database. ZAB moves opaque transactions between members and
//! decides when each one is committed; the server owns their meaning, its log and its tree.

use std::io::{Read, Write};

use bytes::Bytes;
use futures::future::BoxFuture;
use zk_election::Sid;
use zk_proto::peer::{ForwardedRequest, SessionTouch};

/// A transaction as ZAB carries it: zxid, the server's bytes, and the member whose client asked.
pub use zk_proto::peer::Txn;

use crate::broadcast::Proposer;
use crate::learner::Forwarder;

/// A failure of the database underneath ZAB (disk, decoding). It ends the peer's role.
pub type ReplicaError = Box<dyn std::error::Error + Send + Sync>;

/// Both epoch files (quorum spec §1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epochs {
    /// `acceptedEpoch`: the highest epoch this server promised to in discovery.
    pub accepted: i64,
    /// `currentEpoch`: the epoch of the last leader whose history this server adopted.
    pub current: i64,
}

/// How the server should treat clients, given the peer's role.
#[derive(Debug, Clone)]
pub enum Serving {
    /// No established role: refuse sessions, drop connected clients.
    Nothing,
    /// Leading an established term: prepare writes with zxids above `epoch << 32` and propose them.
    Leader { epoch: i64, proposer: Proposer },
    /// Following or observing an up-to-date leader: forward writes, serve reads locally.
    Learner {
        forwarder: Forwarder,
        observer: bool,
    },
    /// Looking for a leader for longer than the grace period, with read-only mode enabled:
    /// serve reads to clients that accept a read-only server, refuse writes.
    ReadOnly,
}

/// The database of one member, as ZAB sees it.
pub trait Replica: Send + Sync + 'static {
    /// Highest durable zxid in the log (0 when empty).
    fn last_logged_zxid(&self) -> i64;

    /// Appends a transaction to the log; the future resolves when it is durable.
    fn append(
        &self,
        zxid: i64,
        txn: Bytes,
    ) -> Result<BoxFuture<'static, Result<(), ReplicaError>>, ReplicaError>;

    /// The logged transactions after `after` up to `up_to`, when the log holds `after` itself
    /// (so the caller knows it shares that history); `None` when it does not.
    fn logged_after(
        &self,
        after: i64,
        up_to: i64,
    ) -> Result<Option<Vec<(i64, Bytes)>>, ReplicaError>;

    /// The highest logged zxid below `zxid`, when the log reaches back that far.
    fn logged_before(&self, zxid: i64) -> Result<Option<i64>, ReplicaError>;

    /// Keeps exactly the logged transactions up to `zxid` (TRUNC) and rebuilds the database.
    fn truncate(&self, zxid: i64) -> Result<(), ReplicaError>;

    fn epochs(&self) -> Result<Epochs, ReplicaError>;
    fn set_accepted_epoch(&self, epoch: i64) -> Result<(), ReplicaError>;
    /// Persists currentEpoch, ending an update begun with [`Replica::begin_epoch_update`].
    fn set_current_epoch(&self, epoch: i64) -> Result<(), ReplicaError>;

    /// A learner is about to log a new leader's history, whose records may be durable before
    /// currentEpoch is: persist a mark that lets start-up finish the update.
    fn begin_epoch_update(&self) -> Result<(), ReplicaError>;

    /// The zxid of the last transaction applied to the database.
    fn last_applied(&self) -> i64;

    /// Applies every logged transaction the database does not have yet: what a member's log
    /// holds beyond its database is part of the history it adopts (a new leader's, or what the
    /// leader confirmed with DIFF or TRUNC).
    fn catch_up(&self) -> Result<(), ReplicaError>;

    /// Applies committed transactions, in zxid order (a learner's COMMITs and INFORMs). Those
    /// whose `origin` is this member answer the clients that asked for them.
    fn apply_committed(&self, txns: Vec<Txn>) -> Result<(), ReplicaError>;

    /// Writes the database as it is now (SNAP, leader side); returns its zxid.
    fn write_snapshot(&self, out: &mut dyn Write) -> Result<i64, ReplicaError>;

    /// Replaces the database with a streamed snapshot (SNAP, learner side), keeps it durably,
    /// and returns its zxid.
    fn install_snapshot(&self, input: &mut dyn Read) -> Result<i64, ReplicaError>;

    /// Tells the client side what the peer's role allows now.
    fn serve(&self, serving: Serving);

    /// Leader: a client request a learner forwarded; queued behind earlier ones.
    fn submit_forwarded(&self, from: Sid, request: ForwardedRequest) -> BoxFuture<'static, ()>;

    /// Learner: the sessions its clients kept alive since the last call (sent with pings).
    fn take_session_touches(&self) -> Vec<SessionTouch>;

    /// Leader: sessions a learner's clients kept alive.
    fn touch_sessions(&self, touches: &[SessionTouch]);

    /// Learner: the leader answered this learner's oldest outstanding sync.
    fn sync_done(&self);

    /// Leader: a client of learner `from` resumes `session_id` there. True when the session is
    /// live; it is then owned by `from` (requests for it from elsewhere get SESSIONMOVED).
    fn revalidate(&self, from: Sid, session_id: i64, timeout_ms: i32) -> bool;

    /// Learner: the leader's answer to this learner's REVALIDATE.
    fn revalidated(&self, session_id: i64, valid: bool);

    /// The configuration text the database holds (`/zookeeper/config`) when a reconfig in its
    /// history made it newer than `version`; `None` otherwise, and for a database that knows
    /// no reconfig (a simulation's). The history may hold it uncommitted (a log replayed at
    /// start-up, a leader's recovery): callers decide when it is committed.
    fn membership_after(&self, _version: i64) -> Option<Bytes> {
        None
    }

    /// The configuration a logged transaction puts in force, when it is a reconfig: a leader
    /// sends it along as it synchronises a learner, which must count that configuration's
    /// quorums from then on (ZooKeeper's learner sets its last seen configuration from such a
    /// proposal).
    fn reconfig_in(&self, _txn: &Bytes) -> Option<Bytes> {
        None
    }

    /// The newest configuration the log holds, committed or not (at start-up, when the
    /// server's tree is its replayed log: [`Replica::membership_after`] of 0).
    fn logged_membership(&self) -> Option<Bytes> {
        self.membership_after(0)
    }

    /// Keeps the committed configuration this peer put in force, durably (ZooKeeper's dynamic
    /// configuration file): a restart runs it.
    fn store_membership(&self, _text: &[u8]) -> Result<(), ReplicaError> {
        Ok(())
    }

    /// The configuration [`Replica::store_membership`] kept last.
    fn stored_membership(&self) -> Option<Bytes> {
        None
    }

    /// Whether the operations above are cheap enough to run on the async task that needs them
    /// (an in-memory database in a deterministic simulation); otherwise the ones that touch the
    /// disk run on blocking threads, and snapshots stream between threads.
    fn runs_inline(&self) -> bool {
        false
    }
}
