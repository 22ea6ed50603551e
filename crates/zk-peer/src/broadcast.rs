//! The leader's atomic broadcast (quorum spec §5.3): outstanding proposals, their acks, and
//! commits strictly in zxid order.
//!
//! A proposal commits once the leader's own log has it durably and a quorum of voters (the
//! leader included) acknowledged it; COMMIT goes to followers, INFORM (with the transaction) to
//! observers. The leader keeps the most recent commits in memory so that a learner synchronising
//! while writes flow can be handed everything after the point its disk-read DIFF ended.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use zk_election::{QuorumVerifier, Sid};
use zk_proto::peer::{LeaderMessage, Txn, leader_message};

use crate::config::{EnsembleConfig, membership_verifier};
use crate::membership::Membership;
use crate::replica::Replica;
use crate::status::PeerMetrics;

/// Messages queued for one learner, in the order it must see them.
pub type LinkSender = mpsc::UnboundedSender<LeaderMessage>;

/// Commits kept in memory for learners that synchronise while writes flow.
const RECENT_COMMITS: usize = 4096;

/// Why a proposal could not be made or committed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProposeError {
    #[error("this leadership term has ended")]
    TermEnded,
    #[error("the local log refused the proposal: {0}")]
    Log(String),
}

#[derive(Debug)]
struct Link {
    tx: LinkSender,
    /// A follower (sent proposals and commits), not an observer (sent informs). Whether its
    /// acknowledgements count is the verifiers' business: a server joining by reconfig
    /// follows before it votes.
    follower: bool,
}

/// The membership a reconfig proposes, in force once it commits.
#[derive(Debug)]
struct NextConfig {
    verifier: QuorumVerifier,
    /// The configuration text, as `/zookeeper/config` will hold it.
    text: Bytes,
}

#[derive(Debug)]
struct Outstanding {
    txn: Txn,
    /// Members that logged it, each once: a handful, so a vector beats a set.
    acks: Vec<Sid>,
    done: Option<oneshot::Sender<()>>,
    /// Learners whose sync waits for this proposal to commit.
    syncs: Vec<Sid>,
    /// A reconfig's new membership: the proposal commits once a quorum of the configuration
    /// in force and one of the new configuration have it (ZooKeeper's two ack sets).
    next: Option<NextConfig>,
}

#[derive(Debug)]
struct State {
    /// Which acknowledgements commit: the configuration in force.
    verifier: QuorumVerifier,
    /// Ordered, so that messages go out in the same order on every run.
    links: BTreeMap<Sid, Link>,
    outstanding: VecDeque<Outstanding>,
    /// The newest commits, oldest first.
    recent: VecDeque<Txn>,
    /// The last commit before the first of `recent`.
    recent_floor: i64,
    last_committed: i64,
    last_proposed: i64,
    ended: bool,
}

/// A leadership term's broadcast. Cheap to clone; all clones share the state.
#[derive(Clone)]
pub struct Broadcast {
    config: Arc<EnsembleConfig>,
    membership: Arc<Membership>,
    replica: Arc<dyn Replica>,
    metrics: Arc<PeerMetrics>,
    state: Arc<Mutex<State>>,
    /// Signalled when a reconfig commits.
    reconfigured: Arc<tokio::sync::Notify>,
    local_acks: mpsc::UnboundedSender<(i64, BoxFuture<'static, Result<(), String>>)>,
}

impl std::fmt::Debug for Broadcast {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broadcast")
            .field("myid", &self.config.myid)
            .finish_non_exhaustive()
    }
}

/// What the server's write path holds to propose transactions.
#[derive(Debug, Clone)]
pub struct Proposer {
    broadcast: Broadcast,
}

impl Proposer {
    /// Logs `txn` locally and proposes it to the followers; `origin` is the learner that
    /// forwarded the request behind it (0 for none). The future resolves once the transaction
    /// is committed, or fails when the term ends first.
    /// `digest`: the data tree's digest after the transaction, which learners check theirs
    /// against once they apply it.
    pub fn propose(
        &self,
        zxid: i64,
        txn: Bytes,
        origin: Sid,
        digest: Option<i64>,
    ) -> Result<BoxFuture<'static, Result<(), ProposeError>>, ProposeError> {
        self.broadcast
            .propose(proposal(zxid, txn, origin, digest, None), None)
    }

    /// [`Proposer::propose`] for a reconfig whose new membership is `config_text`: it commits
    /// once quorums of both the configuration in force and the new one have logged it, and
    /// the new one is in force from then on.
    pub fn propose_reconfig(
        &self,
        zxid: i64,
        txn: Bytes,
        origin: Sid,
        digest: Option<i64>,
        config_text: Bytes,
    ) -> Result<BoxFuture<'static, Result<(), ProposeError>>, ProposeError> {
        self.broadcast.membership.see(&config_text);
        let txn = proposal(zxid, txn, origin, digest, Some(config_text.clone()));
        let next = NextConfig {
            verifier: membership_verifier(&config_text),
            text: config_text,
        };
        self.broadcast.propose(txn, Some(next))
    }

    /// Whether a reconfig was proposed and has not committed yet (ZooKeeper then refuses
    /// another with RECONFIGINPROGRESS).
    pub fn reconfig_in_progress(&self) -> bool {
        self.broadcast
            .lock()
            .outstanding
            .iter()
            .any(|p| p.next.is_some())
    }

    /// Whether the voters of `config_text` that are synced with this leader (it included)
    /// make a quorum of that configuration, as ZooKeeper's `isQuorumSynced` asks before a
    /// reconfig.
    pub fn is_quorum_synced(&self, config_text: &[u8]) -> bool {
        let next = membership_verifier(config_text);
        let myid = self.broadcast.config.myid;
        let state = self.broadcast.lock();
        let synced: Vec<Sid> = state
            .links
            .iter()
            .filter(|(_, link)| link.follower)
            .map(|(sid, _)| *sid)
            .chain(std::iter::once(myid))
            .collect();
        next.contains_quorum(&synced)
    }

    /// Learners' syncs waiting for outstanding proposals to commit (`mntr`'s pending syncs).
    pub fn pending_syncs(&self) -> usize {
        self.broadcast
            .lock()
            .outstanding
            .iter()
            .map(|p| p.syncs.len())
            .sum()
    }
}

fn proposal(
    zxid: i64,
    data: Bytes,
    origin: Sid,
    digest: Option<i64>,
    config: Option<Bytes>,
) -> Txn {
    Txn {
        zxid,
        data,
        origin: i64::try_from(origin).unwrap_or(0),
        digest,
        config,
    }
}

impl Broadcast {
    /// A broadcast whose history ends (committed) at `last_committed`, whose commits count
    /// acknowledgements with `verifier` (the configuration of that history).
    pub fn new(
        membership: Arc<Membership>,
        verifier: QuorumVerifier,
        replica: Arc<dyn Replica>,
        metrics: Arc<PeerMetrics>,
        last_committed: i64,
    ) -> Broadcast {
        let (local_acks, mut pending) =
            mpsc::unbounded_channel::<(i64, BoxFuture<'static, Result<(), String>>)>();
        let config = membership.current();
        let broadcast = Broadcast {
            membership,
            replica,
            metrics,
            state: Arc::new(Mutex::new(State {
                verifier,
                links: BTreeMap::new(),
                outstanding: VecDeque::new(),
                recent: VecDeque::new(),
                recent_floor: last_committed,
                last_committed,
                last_proposed: last_committed,
                ended: false,
            })),
            local_acks,
            config,
            reconfigured: Arc::default(),
        };
        // The leader's own acks, in log order: one task awaits each append's durability.
        let acker = broadcast.clone();
        let myid = broadcast.config.myid;
        tokio::spawn(async move {
            while let Some((zxid, durable)) = pending.recv().await {
                match durable.await {
                    Ok(()) => acker.ack(myid, zxid),
                    Err(error) => {
                        tracing::error!(%error, zxid, "the leader's log failed; ending the term");
                        acker.end();
                        return;
                    }
                }
            }
        });
        broadcast
    }

    pub fn proposer(&self) -> Proposer {
        Proposer {
            broadcast: self.clone(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn last_committed(&self) -> i64 {
        self.lock().last_committed
    }

    pub fn is_ended(&self) -> bool {
        self.lock().ended
    }

    /// Ends the term: outstanding proposals fail, learner links close.
    pub fn end(&self) {
        let mut state = self.lock();
        state.ended = true;
        state.links.clear();
        state.outstanding.clear();
    }

    fn propose(
        &self,
        txn: Txn,
        next: Option<NextConfig>,
    ) -> Result<BoxFuture<'static, Result<(), ProposeError>>, ProposeError> {
        let (done, committed) = oneshot::channel();
        let zxid = txn.zxid;
        {
            let mut state = self.lock();
            if state.ended {
                return Err(ProposeError::TermEnded);
            }
            let durable = self
                .replica
                .append(zxid, txn.data.clone())
                .map_err(|e| ProposeError::Log(e.to_string()))?;
            PeerMetrics::count(&self.metrics.proposal_count, 1);
            let durable: BoxFuture<'static, Result<(), String>> =
                Box::pin(async move { durable.await.map_err(|e| e.to_string()) });
            if self.local_acks.send((zxid, durable)).is_err() {
                return Err(ProposeError::TermEnded);
            }
            let proposal = LeaderMessage {
                kind: Some(leader_message::Kind::Proposal(txn.clone())),
            };
            for link in state.links.values().filter(|link| link.follower) {
                let _ = link.tx.send(proposal.clone());
            }
            state.last_proposed = zxid;
            state.outstanding.push_back(Outstanding {
                txn,
                acks: Vec::new(),
                done: Some(done),
                syncs: Vec::new(),
                next,
            });
        }
        Ok(Box::pin(async move {
            committed.await.map_err(|_| ProposeError::TermEnded)
        }))
    }

    /// Records that `sid` logged every proposal up to `zxid` (acks are cumulative: a member
    /// logs in zxid order) and commits every proposal at the front that now has a quorum.
    pub fn ack(&self, sid: Sid, zxid: i64) {
        let mut state = self.lock();
        if state.ended {
            return;
        }
        for proposal in state
            .outstanding
            .iter_mut()
            .take_while(|p| p.txn.zxid <= zxid)
        {
            if !proposal.acks.contains(&sid) {
                proposal.acks.push(sid);
            }
        }
        let myid = self.config.myid;
        let mut committed = Vec::new();
        // Committed reconfigs' configurations, adopted once the lock is released: adopting
        // one writes it to the replica, which must not wait for the database's lock while a
        // request being prepared under that lock waits for ours.
        let mut adopted = Vec::new();
        while let Some(front) = state.outstanding.front() {
            let quorums = state.verifier.contains_quorum(&front.acks)
                && front
                    .next
                    .as_ref()
                    .is_none_or(|next| next.verifier.contains_quorum(&front.acks));
            if !front.acks.contains(&myid) || !quorums {
                break;
            }
            let Some(proposal) = state.outstanding.pop_front() else {
                break;
            };
            if let Some(next) = &proposal.next {
                // In force at once: the proposals behind it commit by the new quorums.
                state.verifier = next.verifier.clone();
                adopted.push(next.text.clone());
            }
            committed.push(proposal);
        }
        if !committed.is_empty() {
            PeerMetrics::count(
                &self.metrics.commit_count,
                u64::try_from(committed.len()).unwrap_or(u64::MAX),
            );
            commit(&mut state, committed);
        }
        drop(state);
        for text in adopted {
            self.membership.adopt_text(&text);
            self.reconfigured.notify_one();
        }
    }

    /// A learner's sync: answered after the newest outstanding proposal commits, or now.
    pub fn sync(&self, sid: Sid) {
        let mut state = self.lock();
        match state.outstanding.back_mut() {
            Some(newest) => newest.syncs.push(sid),
            None => {
                if let Some(link) = state.links.get(&sid) {
                    let _ = link.tx.send(sync_message());
                }
            }
        }
    }

    /// Finishes a learner's synchronisation and attaches it to the broadcast, atomically with
    /// respect to commits: queues every commit after `base` that the caller has not sent, the
    /// outstanding proposals, and NEWLEADER; from then on the learner gets every proposal.
    /// Returns `false` when the in-memory commits no longer reach back to `base` (the caller
    /// sends more from the log and tries again).
    pub fn attach(
        &self,
        sid: Sid,
        follower: bool,
        base: i64,
        tx: &LinkSender,
        new_leader: LeaderMessage,
    ) -> Result<bool, ProposeError> {
        let mut state = self.lock();
        if state.ended {
            return Err(ProposeError::TermEnded);
        }
        if state.recent_floor > base {
            return Ok(false);
        }
        // Acks of an earlier connection of this learner no longer count: synchronisation may
        // have cut those proposals from its log, and it acknowledges them again.
        for proposal in state.outstanding.iter_mut() {
            proposal.acks.retain(|acked| *acked != sid);
        }
        for txn in state.recent.iter().filter(|txn| txn.zxid > base) {
            for message in committed_messages(txn.clone()) {
                let _ = tx.send(message);
            }
        }
        if follower {
            for proposal in &state.outstanding {
                let _ = tx.send(LeaderMessage {
                    kind: Some(leader_message::Kind::Proposal(proposal.txn.clone())),
                });
            }
        }
        let _ = tx.send(new_leader);
        state.links.insert(
            sid,
            Link {
                tx: tx.clone(),
                follower,
            },
        );
        Ok(true)
    }

    /// Detaches a learner whose channel ended.
    pub fn detach(&self, sid: Sid, tx: &LinkSender) {
        let mut state = self.lock();
        if state
            .links
            .get(&sid)
            .is_some_and(|link| link.tx.same_channel(tx))
        {
            state.links.remove(&sid);
        }
    }

    /// Resolves once a reconfig committed since the last time it resolved.
    pub async fn reconfigured(&self) {
        self.reconfigured.notified().await;
    }

    /// Whether `sids` make a quorum of the configuration in force, and of the one an
    /// outstanding reconfig proposes (as ZooKeeper's leader checks its synced learners against
    /// both): a reconfig whose new voters are out of touch could never commit, and every
    /// proposal behind it would wait for ever.
    pub fn is_quorum(&self, sids: &[Sid]) -> bool {
        let state = self.lock();
        state.verifier.contains_quorum(sids)
            && state
                .outstanding
                .iter()
                .filter_map(|p| p.next.as_ref())
                .all(|next| next.verifier.contains_quorum(sids))
    }

    /// The zxid of the newest proposal.
    pub fn last_proposed(&self) -> i64 {
        self.lock().last_proposed
    }

    /// Outstanding proposals (for `mntr`).
    pub fn outstanding(&self) -> usize {
        self.lock().outstanding.len()
    }
}

/// Commits proposals (oldest first): one cumulative COMMIT to each follower, an INFORM per
/// transaction to each observer, then the syncs that waited for them, then the proposers.
fn commit(state: &mut State, proposals: Vec<Outstanding>) {
    let Some(last) = proposals.last().map(|p| p.txn.zxid) else {
        return;
    };
    state.last_committed = last;
    let commit = LeaderMessage {
        kind: Some(leader_message::Kind::Commit(last)),
    };
    for link in state.links.values() {
        if link.follower {
            let _ = link.tx.send(commit.clone());
        } else {
            for proposal in &proposals {
                let _ = link.tx.send(LeaderMessage {
                    kind: Some(leader_message::Kind::Inform(proposal.txn.clone())),
                });
            }
        }
    }
    for mut proposal in proposals {
        for sid in proposal.syncs.drain(..) {
            if let Some(link) = state.links.get(&sid) {
                let _ = link.tx.send(sync_message());
            }
        }
        if let Some(done) = proposal.done.take() {
            let _ = done.send(());
        }
        state.recent.push_back(proposal.txn);
    }
    while state.recent.len() > RECENT_COMMITS {
        if let Some(evicted) = state.recent.pop_front() {
            state.recent_floor = evicted.zxid;
        }
    }
}

fn sync_message() -> LeaderMessage {
    LeaderMessage {
        kind: Some(leader_message::Kind::Sync(true)),
    }
}

/// A committed transaction as synchronisation sends it: PROPOSAL then COMMIT.
pub fn committed_messages(txn: Txn) -> [LeaderMessage; 2] {
    let zxid = txn.zxid;
    [
        LeaderMessage {
            kind: Some(leader_message::Kind::Proposal(txn)),
        },
        LeaderMessage {
            kind: Some(leader_message::Kind::Commit(zxid)),
        },
    ]
}
