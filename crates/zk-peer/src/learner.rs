//! The learner's side of ZAB (quorum spec §5.2): connect to the elected leader, settle the epoch
//! (FOLLOWERINFO / LEADERINFO / ACKEPOCH), adopt its history (DIFF, TRUNC or SNAP, then
//! NEWLEADER), and from UPTODATE on log proposals, acknowledge them once durable, apply commits
//! in order, answer pings with session touches, and forward client writes.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use zk_election::{LearnerType, Sid};
use zk_proto::peer::{
    AckEpoch, ForwardedRequest, LeaderMessage, LearnerInfo, LearnerMessage, Ping, Revalidate,
    SnapshotChunk, Txn, leader_message, learner_message,
};

use crate::blocking;
use crate::config::EnsembleConfig;
use crate::leader::PROTOCOL_VERSION;
use crate::membership::Membership;
use crate::network::{LeaderStream, QuorumDialer};
use crate::replica::{Replica, ReplicaError, Serving};
use crate::status::PeerMetrics;

/// Why following ended.
#[derive(Debug, thiserror::Error)]
pub enum LearnerError {
    #[error("leader {0} is not in the configuration")]
    UnknownLeader(Sid),
    #[error("cannot reach the leader at {address} within the init limit: {reason}")]
    Unreachable { address: String, reason: String },
    #[error("the leader refused us: {0}")]
    Refused(tonic::Status),
    #[error("the channel to the leader broke: {}", .0.message())]
    Broken(tonic::Status),
    #[error("the leader went silent past the limit")]
    Silent,
    #[error("the leader closed the channel")]
    Closed,
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("database: {0}")]
    Replica(ReplicaError),
    #[error("a reconfig changed the ensemble: {0}")]
    Reconfigured(&'static str),
}

impl LearnerError {
    /// Whether the leader may be dead: its channel broke, closed or went silent, or it could
    /// not be reached. Then the next election should not wait for its vote (see
    /// `zk_election::Election::suspect`). A refusal, a protocol error or our own database's
    /// failure all mean the leader is (or was just now) alive.
    pub fn leader_may_be_gone(&self) -> bool {
        matches!(
            self,
            LearnerError::Unreachable { .. }
                | LearnerError::Broken(_)
                | LearnerError::Silent
                | LearnerError::Closed
        )
    }
}

/// What the server's write path holds on a learner to send client requests to the leader.
#[derive(Debug, Clone)]
pub struct Forwarder {
    tx: mpsc::UnboundedSender<LearnerMessage>,
}

impl Forwarder {
    /// Queues a request for the leader; `false` when the channel to it is gone.
    pub fn forward(&self, request: ForwardedRequest) -> bool {
        self.tx
            .send(to_leader(learner_message::Kind::Request(request)))
            .is_ok()
    }

    /// Asks the leader whether a session a client resumes here is live (REVALIDATE); the answer
    /// comes back through [`Replica::revalidated`]. `false` when the channel is gone.
    pub fn revalidate(&self, session_id: i64, timeout_ms: i32) -> bool {
        self.tx
            .send(to_leader(learner_message::Kind::Revalidate(Revalidate {
                session_id,
                timeout_ms,
            })))
            .is_ok()
    }
}

/// Follows (or observes) `leader` until the channel fails. `on_serving` runs at UPTODATE, with
/// the epoch this member adopted.
pub async fn follow(
    membership: &Arc<Membership>,
    replica: &Arc<dyn Replica>,
    dialer: &Arc<dyn QuorumDialer>,
    metrics: &Arc<PeerMetrics>,
    leader: Sid,
    observer: bool,
    on_serving: impl FnOnce(i64),
) -> LearnerError {
    let config = membership.current();
    let opened = Session::open(
        &config, membership, replica, dialer, metrics, leader, observer,
    );
    let mut session = match opened.await {
        Ok(session) => session,
        Err(error) => return error,
    };
    let error = match session.run(on_serving).await {
        Ok(never) => match never {},
        Err(error) => error,
    };
    replica.serve(Serving::Nothing);
    error
}

/// What the acknowledging task does, in log order.
enum AckItem {
    Proposal(i64, BoxFuture<'static, Result<(), ReplicaError>>),
    /// After everything before is durable: adopt the epoch, then acknowledge NEWLEADER.
    NewLeader(i64),
}

/// One connection to the leader.
struct Session {
    config: EnsembleConfig,
    /// The configuration in force, which the transactions this learner applies may change.
    membership: Arc<Membership>,
    leader: Sid,
    /// Past UPTODATE: the leader's term is established, so what it sent is committed.
    up_to_date: bool,
    replica: Arc<dyn Replica>,
    metrics: Arc<PeerMetrics>,
    observer: bool,
    tx: mpsc::UnboundedSender<LearnerMessage>,
    inbound: LeaderStream,
}

fn to_leader(kind: learner_message::Kind) -> LearnerMessage {
    LearnerMessage { kind: Some(kind) }
}

impl Session {
    async fn open(
        config: &EnsembleConfig,
        membership: &Arc<Membership>,
        replica: &Arc<dyn Replica>,
        dialer: &Arc<dyn QuorumDialer>,
        metrics: &Arc<PeerMetrics>,
        leader: Sid,
        observer: bool,
    ) -> Result<Session, LearnerError> {
        let spec = membership
            .server(leader)
            .ok_or(LearnerError::UnknownLeader(leader))?;
        let spec = &spec;
        let deadline = Instant::now() + config.init_timeout();
        let accepted = replica.epochs().map_err(LearnerError::Replica)?.accepted;
        // The leader may be unreachable or not have started its term yet: it answers
        // UNAVAILABLE until it has, within the init limit.
        let mut pause = FIRST_RETRY;
        loop {
            let (tx, rx) = mpsc::unbounded_channel::<LearnerMessage>();
            let info = LearnerInfo {
                sid: i64::try_from(config.myid).unwrap_or(i64::MAX),
                accepted_zxid: accepted << 32,
                protocol_version: PROTOCOL_VERSION,
                config_version: 0,
                observer,
            };
            tx.send(to_leader(learner_message::Kind::Info(info)))
                .map_err(|_| LearnerError::Closed)?;
            match dialer.follow(spec, rx).await {
                Ok(inbound) => {
                    return Ok(Session {
                        config: config.clone(),
                        membership: membership.clone(),
                        leader,
                        up_to_date: false,
                        replica: replica.clone(),
                        metrics: metrics.clone(),
                        observer,
                        tx,
                        inbound,
                    });
                }
                Err(status) if status.code() == tonic::Code::Unavailable => {
                    if Instant::now() >= deadline {
                        return Err(LearnerError::Unreachable {
                            address: spec.quorum_address(),
                            reason: status.message().to_owned(),
                        });
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_RETRY);
                }
                Err(status) => return Err(LearnerError::Refused(status)),
            }
        }
    }

    fn send(&self, kind: learner_message::Kind) -> Result<(), LearnerError> {
        self.tx
            .send(to_leader(kind))
            .map_err(|_| LearnerError::Closed)
    }

    async fn receive(&mut self, within: Duration) -> Result<leader_message::Kind, LearnerError> {
        match tokio::time::timeout(within, self.inbound.next()).await {
            Err(_) => Err(LearnerError::Silent),
            Ok(message) => into_kind(message),
        }
    }

    /// Runs a database operation that may block.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn Replica) -> Result<T, ReplicaError> + Send + 'static,
    ) -> Result<T, LearnerError> {
        blocking::run(&self.replica, work)
            .await
            .map_err(LearnerError::Replica)
    }

    async fn run(
        &mut self,
        on_serving: impl FnOnce(i64),
    ) -> Result<std::convert::Infallible, LearnerError> {
        let init = self.config.init_timeout();
        let new_epoch = match self.receive(init).await? {
            leader_message::Kind::LeaderInfo(info) => info.zxid >> 32,
            other => {
                return Err(LearnerError::Protocol(format!(
                    "expected LEADERINFO, got {other:?}"
                )));
            }
        };
        let epochs = self.replica.epochs().map_err(LearnerError::Replica)?;
        let current_epoch = if new_epoch > epochs.accepted {
            self.blocking(move |replica| replica.set_accepted_epoch(new_epoch))
                .await?;
            epochs.current
        } else if new_epoch == epochs.accepted {
            -1
        } else {
            return Err(LearnerError::Protocol(format!(
                "the leader's epoch {new_epoch} is older than our accepted epoch {}",
                epochs.accepted
            )));
        };
        if new_epoch > epochs.current {
            self.blocking(|replica| replica.begin_epoch_update())
                .await?;
        }
        self.send(learner_message::Kind::AckEpoch(AckEpoch {
            last_logged_zxid: self.replica.last_logged_zxid(),
            current_epoch,
        }))?;

        let (acks, mut failed) = self.spawn_acknowledger(new_epoch);
        let mut pending: VecDeque<Txn> = VecDeque::new();
        let mut on_serving = Some(on_serving);
        let mut limit = init;
        // Committed transactions not applied yet: applied together when the stream has nothing
        // more ready, or before anything that must see them.
        let mut committed: Vec<Txn> = Vec::new();
        // What NEWLEADER announced, put in force at UPTODATE.
        let mut announced: Option<Bytes> = None;
        loop {
            let kind = match self.inbound.next().now_or_never() {
                Some(message) => into_kind(message)?,
                None => {
                    self.apply(std::mem::take(&mut committed))?;
                    tokio::select! {
                        // In this order, so that a deterministic simulation replays exactly.
                        biased;
                        kind = self.receive(limit) => kind?,
                        error = &mut failed => {
                            return Err(error.unwrap_or(LearnerError::Closed));
                        }
                    }
                }
            };
            if !matches!(
                kind,
                leader_message::Kind::Commit(_)
                    | leader_message::Kind::Proposal(_)
                    | leader_message::Kind::Ping(_)
            ) {
                self.apply(std::mem::take(&mut committed))?;
            }
            match kind {
                leader_message::Kind::Diff(_) => {
                    // The leader holds our whole log: all of it is history to apply.
                    self.blocking(|replica| replica.catch_up()).await?;
                }
                leader_message::Kind::Trunc(zxid) => {
                    tracing::info!(zxid = format_args!("0x{zxid:x}"), "truncating our log");
                    self.blocking(move |replica| {
                        replica.truncate(zxid)?;
                        replica.catch_up()
                    })
                    .await?;
                    self.reset_seen();
                }
                leader_message::Kind::Snap(_) => {
                    self.receive_snapshot(init).await?;
                    self.reset_seen();
                }
                leader_message::Kind::Proposal(txn) => {
                    PeerMetrics::count(&self.metrics.learner_proposal_received_count, 1);
                    if let Some(config) = &txn.config {
                        self.membership.see(config);
                    }
                    let durable = self
                        .replica
                        .append(txn.zxid, txn.data.clone())
                        .map_err(LearnerError::Replica)?;
                    let _ = acks.send(AckItem::Proposal(txn.zxid, durable));
                    pending.push_back(txn);
                }
                leader_message::Kind::Commit(zxid) => {
                    PeerMetrics::count(&self.metrics.learner_commit_received_count, 1);
                    take_committed(&mut pending, zxid, &mut committed)?;
                    if committed.len() >= MAX_APPLY_BATCH {
                        self.apply(std::mem::take(&mut committed))?;
                    }
                }
                leader_message::Kind::Inform(txn) => {
                    PeerMetrics::count(&self.metrics.learner_commit_received_count, 1);
                    // Observers: committed already; logged for recovery, applied at once.
                    let _durable = self
                        .replica
                        .append(txn.zxid, txn.data.clone())
                        .map_err(LearnerError::Replica)?;
                    self.apply(vec![txn])?;
                }
                leader_message::Kind::NewLeader(new_leader) => {
                    let _ = acks.send(AckItem::NewLeader(new_leader.zxid));
                    announced = Some(new_leader.config);
                }
                leader_message::Kind::UpToDate(_) => {
                    // Synchronisation may have brought a reconfig this learner had not seen:
                    // committed now that the leader's term is established.
                    self.up_to_date = true;
                    // The configuration the leader's term put in force (ZooKeeper's
                    // processReconfig of NEWLEADER's at UPTODATE), then any the history
                    // committed beyond it.
                    self.adopt(announced.take().filter(|text| !text.is_empty()))?;
                    self.check_membership()?;
                    let forwarder = Forwarder {
                        tx: self.tx.clone(),
                    };
                    self.replica.serve(Serving::Learner {
                        forwarder,
                        observer: self.observer,
                    });
                    if let Some(on_serving) = on_serving.take() {
                        on_serving(new_epoch);
                    }
                    limit = self.config.sync_timeout();
                    tracing::info!(
                        myid = self.config.myid,
                        epoch = new_epoch,
                        last_applied = format_args!("0x{:x}", self.replica.last_applied()),
                        "up to date with the leader; serving clients"
                    );
                }
                leader_message::Kind::Ping(ping) => {
                    let touches = self.replica.take_session_touches();
                    self.send(learner_message::Kind::Ping(Ping {
                        zxid: ping.zxid,
                        touches,
                    }))?;
                }
                leader_message::Kind::Sync(_) => self.replica.sync_done(),
                leader_message::Kind::Revalidate(reply) => {
                    self.replica.revalidated(reply.session_id, reply.valid);
                }
                other => {
                    return Err(LearnerError::Protocol(format!("unexpected {other:?}")));
                }
            }
        }
    }

    fn apply(&self, txns: Vec<Txn>) -> Result<(), LearnerError> {
        if txns.is_empty() {
            return Ok(());
        }
        self.replica
            .apply_committed(txns)
            .map_err(LearnerError::Replica)?;
        if self.up_to_date {
            self.check_membership()?;
        }
        Ok(())
    }

    /// A reconfig this learner saw may have been cut from its log: what its history holds now
    /// is the last seen configuration.
    fn reset_seen(&self) {
        let current = self.membership.current();
        let text = self.replica.membership_after(current.version);
        self.membership.reset_seen(text.as_deref());
    }

    /// Adopts a configuration the applied transactions committed. This learner goes on in its
    /// role when it keeps it under a leader that is still a voter (a follower the reconfig
    /// removed among them, without a vote, as in ZooKeeper); otherwise it stops and looks
    /// again, where the new configuration decides.
    fn check_membership(&self) -> Result<(), LearnerError> {
        let current = self.membership.current().version;
        self.adopt(self.replica.membership_after(current))
    }

    /// Puts `text`, a committed configuration, in force when it is newer than the one in
    /// force; see [`Session::check_membership`] for what happens then.
    fn adopt(&self, text: Option<Bytes>) -> Result<(), LearnerError> {
        let Some(next) = text.and_then(|text| self.membership.adopt_text(&text)) else {
            return Ok(());
        };
        // A follower left out of the configuration follows on without a vote.
        let observer = next.me().learner_type == LearnerType::Observer;
        if observer != self.observer {
            Err(LearnerError::Reconfigured("this server's role changed"))
        } else if !next.is_voter(self.leader) {
            Err(LearnerError::Reconfigured(
                "the leader is no longer a voter",
            ))
        } else {
            Ok(())
        }
    }

    /// Acknowledges proposals in log order once each is durable; NEWLEADER once everything
    /// before it is durable and the epoch adopted. The returned future resolves if that fails.
    fn spawn_acknowledger(
        &self,
        epoch: i64,
    ) -> (
        mpsc::UnboundedSender<AckItem>,
        oneshot::Receiver<LearnerError>,
    ) {
        let (acks, mut items) = mpsc::unbounded_channel::<AckItem>();
        let (failed_tx, failed_rx) = oneshot::channel::<LearnerError>();
        let tx = self.tx.clone();
        let replica = self.replica.clone();
        let observer = self.observer;
        tokio::spawn(async move {
            // Acks are cumulative: one for the newest durable proposal of each burst.
            let mut durable_up_to = None;
            // No proposal is acknowledged before NEWLEADER: until this member has adopted the
            // new epoch, its vote could lose an election to a member without the proposal, and
            // an acknowledged (so maybe committed) transaction would be truncated away.
            let mut adopted = false;
            loop {
                let item = match items.try_recv() {
                    Ok(item) => item,
                    Err(mpsc::error::TryRecvError::Disconnected) => return,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        if adopted
                            && let Some(zxid) = durable_up_to.take()
                            && tx
                                .send(to_leader(learner_message::Kind::Ack(zxid)))
                                .is_err()
                        {
                            return;
                        }
                        match items.recv().await {
                            Some(item) => item,
                            None => return,
                        }
                    }
                };
                let outcome = match item {
                    AckItem::Proposal(zxid, durable) => match durable.await {
                        Ok(()) => {
                            if !observer {
                                durable_up_to = Some(zxid);
                            }
                            Ok(())
                        }
                        Err(error) => Err(LearnerError::Replica(error)),
                    },
                    AckItem::NewLeader(zxid) => {
                        match blocking::run(&replica, move |replica| {
                            replica.set_current_epoch(epoch)
                        })
                        .await
                        {
                            Ok(()) => {
                                adopted = true;
                                tx.send(to_leader(learner_message::Kind::Ack(zxid)))
                                    .map_err(|_| LearnerError::Closed)
                            }
                            Err(error) => Err(LearnerError::Replica(error)),
                        }
                    }
                };
                if let Err(error) = outcome {
                    let _ = failed_tx.send(error);
                    return;
                }
            }
        });
        (acks, failed_rx)
    }

    /// Receives a streamed snapshot and installs it while it arrives.
    async fn receive_snapshot(&mut self, within: Duration) -> Result<(), LearnerError> {
        let zxid = if self.replica.runs_inline() {
            // A cheap in-memory database: gathered whole, then installed.
            let mut whole = Vec::new();
            loop {
                let chunk = self.next_chunk(within).await?;
                whole.extend_from_slice(&chunk.data);
                if chunk.last {
                    break;
                }
            }
            self.replica
                .install_snapshot(&mut &whole[..])
                .map_err(LearnerError::Replica)?
        } else {
            let (chunks, chunk_rx) = mpsc::channel::<Option<Bytes>>(8);
            let installing = {
                let replica = self.replica.clone();
                tokio::task::spawn_blocking(move || {
                    let mut reader = ChunkReader {
                        chunks: chunk_rx,
                        current: Bytes::new(),
                        finished: false,
                    };
                    replica.install_snapshot(&mut reader)
                })
            };
            loop {
                let chunk = self.next_chunk(within).await?;
                if chunks.send(Some(chunk.data)).await.is_err() {
                    break;
                }
                if chunk.last {
                    let _ = chunks.send(None).await;
                    break;
                }
            }
            drop(chunks);
            installing
                .await
                .map_err(|e| LearnerError::Protocol(e.to_string()))?
                .map_err(LearnerError::Replica)?
        };
        tracing::info!(
            zxid = format_args!("0x{zxid:x}"),
            "installed the leader's snapshot"
        );
        Ok(())
    }

    /// The next piece of a SNAP transfer; anything else breaks the protocol.
    async fn next_chunk(&mut self, within: Duration) -> Result<SnapshotChunk, LearnerError> {
        match self.receive(within).await? {
            leader_message::Kind::SnapshotChunk(chunk) => Ok(chunk),
            other => Err(LearnerError::Protocol(format!(
                "expected a snapshot chunk, got {other:?}"
            ))),
        }
    }
}

/// First pause before asking again a leader that answered UNAVAILABLE. A follower usually
/// decides one election message before its leader does, so it often asks a moment before the
/// leader has started its term: a fixed 20 ms pause added up to 20 ms to a failover.
const FIRST_RETRY: Duration = Duration::from_millis(1);
/// Longest pause between two attempts: the pace at which an unreachable leader is retried.
const MAX_RETRY: Duration = Duration::from_millis(20);

/// Most commits applied as one batch: bounds the reply latency of the first one.
const MAX_APPLY_BATCH: usize = 1000;

/// What the leader's stream yielded, as a message kind.
fn into_kind(
    message: Option<Result<LeaderMessage, tonic::Status>>,
) -> Result<leader_message::Kind, LearnerError> {
    match message {
        None => Err(LearnerError::Closed),
        Some(Err(status)) => Err(LearnerError::Broken(status)),
        Some(Ok(LeaderMessage { kind: None })) => {
            Err(LearnerError::Protocol("empty message".into()))
        }
        Some(Ok(LeaderMessage { kind: Some(kind) })) => Ok(kind),
    }
}

/// Moves the proposals a COMMIT covers (every one up to its zxid, which must be pending) to
/// `committed`.
fn take_committed(
    pending: &mut VecDeque<Txn>,
    zxid: i64,
    committed: &mut Vec<Txn>,
) -> Result<(), LearnerError> {
    if !pending.iter().any(|txn| txn.zxid == zxid) {
        return Err(LearnerError::Protocol(format!(
            "COMMIT of 0x{zxid:x}, which is not a pending proposal"
        )));
    }
    while let Some(front) = pending.front()
        && front.zxid <= zxid
    {
        committed.extend(pending.pop_front());
    }
    Ok(())
}

/// Reads a snapshot from the chunks the async side receives.
struct ChunkReader {
    /// Chunks, then `None` after the last one: a channel that closes without it means the
    /// transfer broke off, which must fail the install rather than end the snapshot early.
    chunks: mpsc::Receiver<Option<Bytes>>,
    current: Bytes,
    finished: bool,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            if self.finished {
                return Ok(0);
            }
            match self.chunks.blocking_recv() {
                Some(Some(chunk)) => self.current = chunk,
                Some(None) => self.finished = true,
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the snapshot transfer broke off",
                    ));
                }
            }
        }
        let n = buf.len().min(self.current.len());
        let taken = self.current.split_to(n);
        buf[..n].copy_from_slice(&taken);
        Ok(n)
    }
}
