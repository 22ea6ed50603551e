//! The leader's side of ZAB (quorum spec §5.1): the acceptor of learners' channels, with one
//! handler per learner (discovery, synchronisation, then broadcast), and the leader's main task, which
//! settles the new epoch, establishes the term, and steps down when a quorum is out of touch.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tonic::Status;
use zk_election::Sid;
use zk_proto::peer::{
    LeaderInfo, LeaderMessage, LearnerMessage, NewLeader, Ping, RevalidateReply, SnapshotChunk,
    Txn, leader_message, learner_message,
};

use crate::blocking;
use crate::broadcast::{Broadcast, LinkSender, committed_messages};
use crate::config::EnsembleConfig;
use crate::learners::{LearnerCounters, Learners};
use crate::membership::Membership;
use crate::network::{LeaderStream, LearnerStream, shared_stream};
use crate::replica::{Replica, ReplicaError, Serving};
use crate::status::PeerMetrics;
use crate::status::{PeerStatus, Role};
use crate::term::{Term, TermError};

/// ZooKeeper's learner protocol version (0x10000).
pub const PROTOCOL_VERSION: i32 = 0x10000;

/// ZooKeeper's opcode of `sync`, which a learner forwards to be answered in order.
pub const OP_SYNC: i32 = 9;

/// The current term, present only while this peer leads.
pub type TermSlot = Arc<Mutex<Option<Term>>>;

/// Takes learners' channels (whatever the network) while this peer leads; refuses them with
/// UNAVAILABLE otherwise.
#[derive(Clone)]
pub struct Acceptor {
    membership: Arc<Membership>,
    replica: Arc<dyn Replica>,
    term: TermSlot,
    metrics: Arc<PeerMetrics>,
    learners: Arc<Learners>,
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor")
            .field("myid", &self.membership.current().myid)
            .finish_non_exhaustive()
    }
}

impl Acceptor {
    pub fn new(
        membership: Arc<Membership>,
        replica: Arc<dyn Replica>,
        term: TermSlot,
        metrics: Arc<PeerMetrics>,
        learners: Arc<Learners>,
    ) -> Self {
        Acceptor {
            membership,
            replica,
            term,
            metrics,
            learners,
        }
    }

    /// Reads the learner's first message (its LearnerInfo), then serves the channel from a
    /// handler task of its own; returns the stream of what the leader sends. `remote`: the
    /// channel's peer address, when the network knows it (for `observers`).
    pub async fn accept(
        &self,
        mut inbound: LearnerStream,
        remote: Option<String>,
    ) -> Result<LeaderStream, Status> {
        let term = self
            .term
            .lock()
            .map_err(|_| Status::internal("leader state poisoned"))?
            .clone()
            .ok_or_else(|| Status::unavailable("not leading"))?;
        let config = self.membership.current();
        let first = tokio::time::timeout(config.init_timeout(), inbound.next())
            .await
            .map_err(|_| Status::deadline_exceeded("no learner info"))?;
        let Some(Ok(LearnerMessage {
            kind: Some(learner_message::Kind::Info(info)),
        })) = first
        else {
            return Err(Status::invalid_argument(
                "the first message must be learner info",
            ));
        };
        let sid = u64::try_from(info.sid)
            .ok()
            .filter(|sid| *sid != config.myid)
            .ok_or_else(|| Status::permission_denied(format!("bad learner sid {}", info.sid)))?;
        // As ZooKeeper's LearnerHandler: any server may learn, a server joining by reconfig
        // among them: it follows (is sent proposals) before a reconfig makes it a voter; only
        // the voters' acknowledgements count.
        let follower = !info.observer;
        let voter = config.is_voter(sid) && follower;
        let (out, out_rx) = mpsc::channel::<Result<LeaderMessage, Status>>(256);
        let counters = self
            .learners
            .register(sid, info.observer, remote, out.clone());
        let handler = LearnerHandler {
            config,
            replica: self.replica.clone(),
            metrics: self.metrics.clone(),
            learners: self.learners.clone(),
            counters,
            term,
            sid,
            voter,
            follower,
            out,
            inbound,
        };
        tracing::info!(sid, voter, "learner connected");
        tokio::spawn(handler.run(info.accepted_zxid >> 32));
        Ok(shared_stream(tokio_stream::wrappers::ReceiverStream::new(
            out_rx,
        )))
    }
}

/// Why a learner's handler stopped.
#[derive(Debug, thiserror::Error)]
enum HandlerError {
    #[error(transparent)]
    Term(#[from] TermError),
    #[error("the learner closed the channel")]
    Closed,
    #[error("the learner's stream failed: {0}")]
    Stream(#[from] Status),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("the learner went silent past the limit")]
    Silent,
    #[error("database: {0}")]
    Replica(ReplicaError),
}

/// One learner's session with this leader.
struct LearnerHandler {
    config: Arc<EnsembleConfig>,
    replica: Arc<dyn Replica>,
    metrics: Arc<PeerMetrics>,
    learners: Arc<Learners>,
    counters: Arc<LearnerCounters>,
    term: Term,
    sid: Sid,
    /// A voter of the configuration this term began with: it takes part in discovery.
    voter: bool,
    /// Connected as a follower, not an observer.
    follower: bool,
    /// The stream to the learner; this handler is its only writer.
    out: mpsc::Sender<Result<LeaderMessage, Status>>,
    inbound: LearnerStream,
}

/// The zxid a message to a learner carries, or 0 (ZooKeeper's LearnerHandler keeps the last).
fn zxid_of(message: &LeaderMessage) -> i64 {
    use leader_message::Kind;
    match &message.kind {
        Some(Kind::Proposal(txn) | Kind::Inform(txn)) => txn.zxid,
        Some(Kind::Commit(zxid) | Kind::Trunc(zxid)) => *zxid,
        Some(Kind::Ping(ping)) => ping.zxid,
        Some(Kind::NewLeader(new_leader)) => new_leader.zxid,
        _ => 0,
    }
}

fn message(kind: leader_message::Kind) -> LeaderMessage {
    LeaderMessage { kind: Some(kind) }
}

impl LearnerHandler {
    async fn run(mut self, accepted_epoch: i64) {
        let (link, mut link_rx) = mpsc::unbounded_channel();
        let result = self.serve(accepted_epoch, &link, &mut link_rx).await;
        let sid = self.sid;
        let broadcast = self.term.update(|state| {
            state.seen.remove(&sid);
            state.broadcast.clone()
        });
        if let Some(broadcast) = broadcast {
            broadcast.detach(sid, &link);
        }
        self.learners.remove(sid, &self.counters);
        match result {
            Ok(()) => tracing::info!(sid, "learner disconnected"),
            Err(error) => tracing::info!(sid, %error, "learner disconnected"),
        }
    }

    async fn send(&self, message: LeaderMessage) -> Result<(), HandlerError> {
        self.counters.sent(zxid_of(&message));
        self.out
            .send(Ok(message))
            .await
            .map_err(|_| HandlerError::Closed)
    }

    async fn receive(&mut self, within: Duration) -> Result<learner_message::Kind, HandlerError> {
        match tokio::time::timeout(within, self.inbound.next()).await {
            Err(_) => Err(HandlerError::Silent),
            Ok(None) => Err(HandlerError::Closed),
            Ok(Some(Err(status))) => Err(HandlerError::Stream(status)),
            Ok(Some(Ok(LearnerMessage { kind: None }))) => {
                Err(HandlerError::Protocol("empty message".into()))
            }
            Ok(Some(Ok(LearnerMessage { kind: Some(kind) }))) => {
                self.counters.received(false);
                Ok(kind)
            }
        }
    }

    async fn serve(
        &mut self,
        accepted_epoch: i64,
        link: &LinkSender,
        link_rx: &mut mpsc::UnboundedReceiver<LeaderMessage>,
    ) -> Result<(), HandlerError> {
        let init = self.config.init_timeout();
        let sid = self.sid;
        // Discovery: announce our epoch, learn the new one, get the learner's history summary.
        if self.voter {
            self.term.update(|state| {
                state.accepted.insert(sid, accepted_epoch);
            });
        }
        let epoch = self
            .term
            .wait_for("a quorum's epochs", init, |state| state.epoch)
            .await?;
        self.send(message(leader_message::Kind::LeaderInfo(LeaderInfo {
            zxid: epoch << 32,
            protocol_version: PROTOCOL_VERSION,
        })))
        .await?;
        let ack = match self.receive(init).await? {
            learner_message::Kind::AckEpoch(ack) => ack,
            other => {
                return Err(HandlerError::Protocol(format!(
                    "expected ACKEPOCH, got {other:?}"
                )));
            }
        };
        if self.voter {
            self.check_not_ahead(ack.current_epoch, ack.last_logged_zxid)?;
            self.term.update(|state| {
                state.epoch_acks.insert(sid);
            });
        }
        // Synchronisation, once the leader's database holds its whole history.
        let (broadcast, config) = self
            .term
            .wait_for("the leader's database", init, |state| {
                let broadcast = state.broadcast.clone()?;
                Some((broadcast, state.newleader_config.clone()))
            })
            .await?;
        let new_leader = message(leader_message::Kind::NewLeader(NewLeader {
            zxid: epoch << 32,
            config,
        }));
        self.synchronise(&broadcast, ack.last_logged_zxid, link, new_leader)
            .await?;
        self.broadcast_loop(&broadcast, epoch << 32, link, link_rx)
            .await
    }

    /// A follower whose history is newer than the leader's means the election went wrong:
    /// leading would lose its transactions.
    fn check_not_ahead(&self, current_epoch: i64, last_zxid: i64) -> Result<(), HandlerError> {
        if current_epoch < 0 {
            return Ok(());
        }
        let ours = self.replica.epochs().map_err(HandlerError::Replica)?;
        let our_last = self.replica.last_logged_zxid();
        if (current_epoch, last_zxid) > (ours.current, our_last) {
            let reason = format!(
                "follower {} is ahead (epoch {current_epoch}, zxid 0x{last_zxid:x}) of the leader (epoch {}, zxid 0x{our_last:x})",
                self.sid, ours.current
            );
            self.term.end(reason.clone());
            return Err(HandlerError::Protocol(reason));
        }
        Ok(())
    }

    /// Brings the learner's history to the leader's: DIFF, TRUNC then DIFF, or SNAP; then
    /// attaches it to the broadcast, queueing NEWLEADER.
    async fn synchronise(
        &mut self,
        broadcast: &Broadcast,
        peer_last: i64,
        link: &LinkSender,
        new_leader: LeaderMessage,
    ) -> Result<(), HandlerError> {
        let committed = broadcast.last_committed();
        let plan = self.plan(peer_last, committed).await?;
        tracing::info!(
            sid = self.sid,
            peer_last = format_args!("0x{peer_last:x}"),
            committed = format_args!("0x{committed:x}"),
            plan = plan.name(),
            "synchronising learner"
        );
        let sync_kind = match plan {
            Plan::Snap => &self.metrics.snap_count,
            Plan::Diff { .. } | Plan::Trunc { .. } => &self.metrics.diff_count,
        };
        PeerMetrics::count(sync_kind, 1);
        let mut base = match plan {
            Plan::Diff { records } => {
                self.send(message(leader_message::Kind::Diff(committed)))
                    .await?;
                self.send_committed(records).await?;
                committed
            }
            Plan::Trunc { to, records } => {
                self.send(message(leader_message::Kind::Trunc(to))).await?;
                self.send_committed(records).await?;
                committed
            }
            Plan::Snap => self.send_snapshot().await?,
        };
        loop {
            let attached = broadcast
                .attach(self.sid, self.follower, base, link, new_leader.clone())
                .map_err(|e| HandlerError::Protocol(e.to_string()))?;
            if attached {
                return Ok(());
            }
            // Writes moved past what the leader keeps in memory: send more from the log.
            let committed = broadcast.last_committed();
            let records = self
                .read_log(base, committed)
                .await?
                .ok_or_else(|| HandlerError::Protocol(format!("0x{base:x} left the log")))?;
            self.send_committed(records).await?;
            base = committed;
        }
    }

    async fn plan(&self, peer_last: i64, committed: i64) -> Result<Plan, HandlerError> {
        if peer_last == committed {
            return Ok(Plan::Diff {
                records: Vec::new(),
            });
        }
        if peer_last < committed
            && let Some(records) = self.read_log(peer_last, committed).await?
        {
            return Ok(Plan::Diff { records });
        }
        // The learner has transactions the leader's history does not: cut them off.
        let before = blocking::run(&self.replica, move |replica| {
            replica.logged_before(peer_last)
        })
        .await
        .map_err(HandlerError::Replica)?;
        if let Some(to) = before.map(|to| to.min(committed))
            && let Some(records) = self.read_log(to, committed).await?
        {
            return Ok(Plan::Trunc { to, records });
        }
        Ok(Plan::Snap)
    }

    async fn read_log(
        &self,
        after: i64,
        up_to: i64,
    ) -> Result<Option<Vec<(i64, Bytes)>>, HandlerError> {
        if after == up_to {
            return Ok(Some(Vec::new()));
        }
        blocking::run(&self.replica, move |replica| {
            replica.logged_after(after, up_to)
        })
        .await
        .map_err(HandlerError::Replica)
    }

    async fn send_committed(&self, records: Vec<(i64, Bytes)>) -> Result<(), HandlerError> {
        for (zxid, data) in records {
            // Read back from the log: whoever asked was answered long ago.
            let txn = Txn {
                zxid,
                config: self.replica.reconfig_in(&data),
                data,
                origin: 0,
                digest: None,
            };
            for message in committed_messages(txn) {
                self.send(message).await?;
            }
        }
        Ok(())
    }

    /// Streams the leader's database in chunks; returns the zxid it was taken at.
    async fn send_snapshot(&self) -> Result<i64, HandlerError> {
        self.send(message(leader_message::Kind::Snap(
            self.replica.last_applied(),
        )))
        .await?;
        if self.replica.runs_inline() {
            // A cheap in-memory database: written whole, then sent in the same chunks.
            let mut whole = Vec::new();
            let zxid = self
                .replica
                .write_snapshot(&mut whole)
                .map_err(HandlerError::Replica)?;
            let mut rest = Bytes::from(whole);
            loop {
                let data = rest.split_to(rest.len().min(CHUNK));
                let last = rest.is_empty();
                let chunk = SnapshotChunk { data, last };
                self.send(message(leader_message::Kind::SnapshotChunk(chunk)))
                    .await?;
                if last {
                    return Ok(zxid);
                }
            }
        }
        let replica = self.replica.clone();
        let out = self.out.clone();
        let written = tokio::task::spawn_blocking(move || {
            let mut writer = ChunkWriter {
                out,
                buffer: BytesMut::with_capacity(CHUNK),
            };
            let zxid = replica.write_snapshot(&mut writer)?;
            writer.finish()?;
            Ok::<i64, ReplicaError>(zxid)
        })
        .await
        .map_err(|e| HandlerError::Protocol(e.to_string()))?;
        written.map_err(HandlerError::Replica)
    }

    /// After synchronisation: relays the broadcast's messages, pings, and handles what the
    /// learner sends, until the learner or the term goes away.
    async fn broadcast_loop(
        &mut self,
        broadcast: &Broadcast,
        new_leader_zxid: i64,
        link: &LinkSender,
        link_rx: &mut mpsc::UnboundedReceiver<LeaderMessage>,
    ) -> Result<(), HandlerError> {
        let sid = self.sid;
        let started = Instant::now();
        let mut changed = Box::pin(self.term.next_change());
        let mut ticker = tokio::time::interval(self.config.tick / 2);
        let mut acked_new_leader = false;
        let mut up_to_date = false;
        let mut last_heard = Instant::now();
        loop {
            if acked_new_leader && !up_to_date && self.term.lock().established {
                let _ = link.send(message(leader_message::Kind::UpToDate(true)));
                up_to_date = true;
                self.term.update(|state| {
                    state.seen.insert(sid, (Instant::now(), self.follower));
                });
            }
            tokio::select! {
                // In this order, so that a deterministic simulation replays exactly.
                biased;
                queued = link_rx.recv() => match queued {
                    Some(queued) => self.send(queued).await?,
                    None => return Err(HandlerError::Closed),
                },
                () = &mut changed => {
                    changed = Box::pin(self.term.next_change());
                    if let Some(reason) = self.term.ended() {
                        return Err(TermError::Ended(reason).into());
                    }
                }
                _ = ticker.tick() => {
                    if let Some(reason) = self.term.ended() {
                        return Err(TermError::Ended(reason).into());
                    }
                    if !up_to_date {
                        if started.elapsed() > self.config.init_timeout() {
                            return Err(HandlerError::Silent);
                        }
                        continue;
                    }
                    if last_heard.elapsed() > self.config.sync_timeout() {
                        return Err(HandlerError::Silent);
                    }
                    let ping = Ping { zxid: broadcast.last_proposed(), touches: Vec::new() };
                    self.send(message(leader_message::Kind::Ping(ping))).await?;
                }
                received = self.inbound.next() => {
                    let kind = match received {
                        None => return Err(HandlerError::Closed),
                        Some(Err(status)) => return Err(status.into()),
                        Some(Ok(LearnerMessage { kind })) => kind,
                    };
                    let request = matches!(kind, Some(learner_message::Kind::Request(_)));
                    self.counters.received(request);
                    last_heard = Instant::now();
                    // A refresh, not a change anyone waits for: no wake-up on every message.
                    if up_to_date && let Some(seen) = self.term.lock().seen.get_mut(&sid) {
                        seen.0 = last_heard;
                    }
                    match kind {
                        Some(learner_message::Kind::Ack(zxid)) if zxid == new_leader_zxid => {
                            // Any learner's: the term's configuration and its history's (a
                            // reconfig's, whose voters may not vote in this term, or observe
                            // in it) decide whom they count.
                            if !acked_new_leader {
                                let follower = self.follower;
                                self.term.update(|state| {
                                    state.newleader_acks.insert(sid, follower);
                                });
                            }
                            acked_new_leader = true;
                        }
                        // Acks count only from a learner that adopted this epoch.
                        Some(learner_message::Kind::Ack(zxid)) if acked_new_leader => {
                            broadcast.ack(sid, zxid);
                        }
                        Some(learner_message::Kind::Ack(_)) => {}
                        Some(learner_message::Kind::Ping(ping)) => {
                            self.replica.touch_sessions(&ping.touches);
                        }
                        Some(learner_message::Kind::Request(request)) => {
                            if request.op_type == OP_SYNC {
                                broadcast.sync(sid);
                            } else {
                                self.replica.submit_forwarded(sid, request).await;
                            }
                        }
                        Some(learner_message::Kind::Revalidate(revalidate)) => {
                            let valid = self.replica.revalidate(
                                sid,
                                revalidate.session_id,
                                revalidate.timeout_ms,
                            );
                            let reply = RevalidateReply { session_id: revalidate.session_id, valid };
                            let _ = link.send(message(leader_message::Kind::Revalidate(reply)));
                        }
                        other => {
                            return Err(HandlerError::Protocol(format!("unexpected {other:?}")));
                        }
                    }
                }
            }
        }
    }
}

/// How a learner is brought up to date.
#[derive(Debug)]
enum Plan {
    /// The learner's history is a prefix of ours: send what follows.
    Diff { records: Vec<(i64, Bytes)> },
    /// The learner has transactions we do not: cut them, then send what follows.
    Trunc { to: i64, records: Vec<(i64, Bytes)> },
    /// Our log does not reach back to the learner's history: send the whole database.
    Snap,
}

impl Plan {
    fn name(&self) -> &'static str {
        match self {
            Plan::Diff { .. } => "DIFF",
            Plan::Trunc { .. } => "TRUNC",
            Plan::Snap => "SNAP",
        }
    }
}

/// Snapshot chunks of this size stream to a learner.
const CHUNK: usize = 256 * 1024;

/// Writes a snapshot into the learner's stream as chunks, waiting when the stream is full.
struct ChunkWriter {
    out: mpsc::Sender<Result<LeaderMessage, Status>>,
    buffer: BytesMut,
}

impl ChunkWriter {
    fn send(&mut self, last: bool) -> std::io::Result<()> {
        let data = self.buffer.split().freeze();
        let chunk = message(leader_message::Kind::SnapshotChunk(SnapshotChunk {
            data,
            last,
        }));
        self.out
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "learner gone"))
    }

    fn finish(mut self) -> std::io::Result<()> {
        self.send(true)
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.send(false)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Leads one term: settles the new epoch with a quorum, makes the database hold the whole
/// history, establishes the term once a quorum acknowledged NEWLEADER, then serves until a
/// quorum of followers is no longer in touch.
pub async fn lead(
    membership: &Arc<Membership>,
    replica: &Arc<dyn Replica>,
    slot: &TermSlot,
    status: &watch::Sender<PeerStatus>,
    metrics: &Arc<PeerMetrics>,
    on_established: impl FnOnce(i64),
) -> String {
    let term = Term::default();
    if let Ok(mut current) = slot.lock() {
        *current = Some(term.clone());
    }
    let reason = match lead_term(membership, replica, &term, status, metrics, on_established).await
    {
        Ok(never) => match never {},
        Err(reason) => reason,
    };
    replica.serve(Serving::Nothing);
    term.end(reason.clone());
    if let Ok(mut current) = slot.lock() {
        *current = None;
    }
    reason
}

async fn lead_term(
    membership: &Arc<Membership>,
    replica: &Arc<dyn Replica>,
    term: &Term,
    status: &watch::Sender<PeerStatus>,
    metrics: &Arc<PeerMetrics>,
    on_established: impl FnOnce(i64),
) -> Result<std::convert::Infallible, String> {
    // The term's configuration: the one its election ran with.
    let config = membership.current();
    let myid = config.myid;
    let init = config.init_timeout();
    let epochs = replica.epochs().map_err(|e| e.to_string())?;
    term.update(|state| {
        state.accepted.insert(myid, epochs.accepted);
    });
    let epoch = term
        .wait_for("a quorum of followers", init, |state| {
            let sids: Vec<Sid> = state.accepted.keys().copied().collect();
            config
                .is_quorum(&sids)
                .then(|| state.accepted.values().copied().max().unwrap_or(0) + 1)
        })
        .await
        .map_err(|e| e.to_string())?;
    replica
        .set_accepted_epoch(epoch)
        .map_err(|e| e.to_string())?;
    term.update(|state| {
        state.epoch = Some(epoch);
        state.epoch_acks.insert(myid);
    });
    term.wait_for("a quorum to acknowledge the epoch", init, |state| {
        let sids: Vec<Sid> = state.epoch_acks.iter().copied().collect();
        config.is_quorum(&sids).then_some(())
    })
    .await
    .map_err(|e| e.to_string())?;
    // The leader takes the new epoch's history as its own before any follower can (as
    // ZooKeeper's does, before NEWLEADER goes out): a follower that acknowledged NEWLEADER of
    // a term that then failed would otherwise outrank, in the next election, the leader whose
    // history it holds, and a follower that proposes no leader of its own (a non-voting
    // participant a reconfig in flight needs) would never take up that leader's vote.
    replica
        .set_current_epoch(epoch)
        .map_err(|e| e.to_string())?;
    // Everything in the leader's log is now part of the new epoch's history, a reconfig
    // among it too: the term then needs quorums of both configurations to establish itself
    // (ZooKeeper's NEWLEADER acknowledged by the last seen configuration as well), and puts
    // that configuration in force only once they did: until then it is not committed.
    replica.catch_up().map_err(|e| e.to_string())?;
    // With reconfigs enabled, a term that runs the configuration file's membership (version
    // 0) gives it the version of its NEWLEADER, as ZooKeeper does (ZOOKEEPER-1783): once
    // established it then takes precedence over the files of servers that join by reconfig,
    // which list themselves, and which adopt it as they synchronise. (Not with hierarchical
    // quorums, which a configuration text here does not carry.)
    let reconfigured = replica.membership_after(config.version).or_else(|| {
        (config.reconfig_enabled && config.version == 0 && config.hierarchy.is_none())
            .then(|| Bytes::from(config.config_text_at(epoch << 32)))
    });
    let history = match &reconfigured {
        Some(text) => Arc::new(config.reconfigured(text).map_err(|e| e.to_string())?),
        None => config.clone(),
    };
    let broadcast = Broadcast::new(
        membership.clone(),
        history.verifier().clone(),
        replica.clone(),
        metrics.clone(),
        replica.last_applied(),
    );
    let announced = reconfigured
        .clone()
        .unwrap_or_else(|| Bytes::from(config.config_text()));
    term.update(|state| {
        state.broadcast = Some(broadcast.clone());
        state.newleader_config = announced;
        state.newleader_acks.insert(myid, true);
    });
    term.wait_for("a quorum to acknowledge NEWLEADER", init, |state| {
        let sids: Vec<Sid> = state.newleader_acks.keys().copied().collect();
        (config.is_quorum(&sids) && history.is_quorum(&sids)).then_some(())
    })
    .await
    .map_err(|e| e.to_string())?;
    if let Some(text) = &reconfigured {
        // A leader this makes a non-voter steps down once established (see watch_quorum).
        membership.adopt_text(text);
    }
    replica.serve(Serving::Leader {
        epoch,
        proposer: broadcast.proposer(),
    });
    term.update(|state| {
        state.established = true;
        // Learners count as in touch from the moment they acknowledged NEWLEADER.
        let now = Instant::now();
        for (sid, follower) in state.newleader_acks.clone() {
            if sid != myid {
                state.seen.entry(sid).or_insert((now, follower));
            }
        }
    });
    on_established(epoch);
    tracing::info!(myid, epoch, "leading an established term");
    watch_quorum(&config, membership, replica, term, &broadcast, status).await
}

/// Publishes the leader's status and returns once a quorum of followers has been out of touch
/// for the sync limit, the broadcast failed (the leader's own log refused a write), or a
/// reconfig made this server something other than a voter.
async fn watch_quorum(
    config: &EnsembleConfig,
    membership: &Membership,
    replica: &Arc<dyn Replica>,
    term: &Term,
    broadcast: &Broadcast,
    status: &watch::Sender<PeerStatus>,
) -> Result<std::convert::Infallible, String> {
    let check = (config.tick / 4).max(Duration::from_millis(5));
    loop {
        if broadcast.is_ended() {
            return Err("the broadcast failed; leaving the leadership".into());
        }
        let in_force = membership.current();
        if !in_force.is_voter(config.myid) {
            // The reconfig's client hears of its commit before this server stops serving.
            let deadline = Instant::now() + config.tick;
            while replica.last_applied() < broadcast.last_committed() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            return Err(
                "a reconfig made this server no longer a voter; leaving the leadership".into(),
            );
        }
        let (live, learners) = {
            let state = term.lock();
            if let Some(reason) = &state.ended {
                return Err(reason.clone());
            }
            (
                state.live_followers(config.sync_timeout()),
                state.seen.len(),
            )
        };
        let mut supporters = live.clone();
        supporters.push(config.myid);
        if !broadcast.is_quorum(&supporters) {
            return Err(format!(
                "not enough followers in touch ({live:?}); leaving the leadership"
            ));
        }
        status.send_if_modified(|current| {
            let next = PeerStatus {
                role: Role::Leading,
                leader: Some(config.myid),
                learners,
                followers: live.len(),
                non_voting_followers: live.iter().filter(|sid| !in_force.is_voter(**sid)).count(),
            };
            let changed = *current != next;
            *current = next;
            changed
        });
        // Learners joining or leaving show in the status at once; silence, by the clock.
        let changed = term.next_change();
        tokio::select! {
            // In this order, so that a deterministic simulation replays exactly.
            biased;
            () = changed => {}
            () = broadcast.reconfigured() => {}
            () = tokio::time::sleep(check) => {}
        }
    }
}
