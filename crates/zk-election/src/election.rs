//! FastLeaderElection as a sans-IO state machine (spec §2).
//!
//! The machine owns no socket, clock, thread or randomness. The caller feeds it inputs
//! ([`Election::start`], [`Election::on_notification`], [`Election::on_timeout`], and the
//! role updates) with the current time, then drains [`Election::poll_action`] and arms a
//! timer for [`Election::poll_timeout`]. Upstream's receiver thread (rules R0-R7) and
//! `lookForLeader` (cases L0-L10) run back to back on each input: the receive queue between
//! them is always empty here, so "put the notification back at the tail of the queue" means
//! "process it now".
//!
//! Messages to ourselves never leave the machine: they are looped back internally right after
//! the input that produced them (upstream puts them straight into its own receive queue).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::codec::config_version;
use crate::quorum::QuorumConfig;
use crate::tally::{TalliedVote, VoteTally};
use crate::types::{
    Decision, DecisionPath, InitialVote, LearnerType, NO_LEADER, NONE_I64, Notification,
    ServerState, Sid, Vote,
};

/// Upstream timing constants (spec §2.13); all configurable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long a quorum-backed proposal must stay unchallenged before deciding (200 ms).
    pub finalize_wait: Duration,
    /// First wait for a notification before re-sending (200 ms).
    pub min_notification_interval: Duration,
    /// Cap of the doubling re-send interval (60 s).
    pub max_notification_interval: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            finalize_wait: Duration::from_millis(200),
            min_notification_interval: Duration::from_millis(200),
            max_notification_interval: Duration::from_secs(60),
        }
    }
}

/// What the machine asks its caller to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send `notification` to `to` (never to ourselves). Transports keep only the newest
    /// pending message per peer (spec §3.4).
    Send {
        /// Recipient.
        to: Sid,
        /// The message.
        notification: Notification,
    },
    /// Nothing was received for a while and nothing could be delivered: (re)connect to every
    /// known peer (upstream `connectAll`).
    ConnectAll,
    /// The election ended. The machine now answers LOOKING peers with this vote until the
    /// caller starts a new election.
    Decided(Decision),
    /// We lead and `sid` is LOOKING (upstream `reportLookingSid`, used by the leader's
    /// `maxTimeToWaitForEpoch` check, spec §2.10).
    PeerLooking {
        /// The LOOKING voter.
        sid: Sid,
    },
    /// A LOOKING peer received a configuration newer than its committed one (rule R2). The
    /// machine does not apply it: the caller may install it ([`Election::install_config`]) and
    /// restart the election, as upstream's `processReconfig` does.
    NewConfig {
        /// Who sent it.
        from: Sid,
        /// Its version.
        version: i64,
        /// Its text.
        config: Arc<[u8]>,
    },
}

/// The in-election state of `lookForLeader`.
#[derive(Debug)]
struct Looking {
    /// Votes of the current round (`recvset`).
    recvset: VoteTally,
    /// FOLLOWING/LEADING votes of any round (`outofelection`).
    out_of_election: VoteTally,
    /// Current wait for a notification (doubles on every L0, capped).
    notification_timeout: Duration,
    /// When the pending wait (poll or finalizeWait) ends.
    deadline: Duration,
    /// `Some(supporters)` while in the finalize wait (spec §2.7 step 4).
    finalizing: Option<Vec<Sid>>,
    /// Voters of this round already sent our proposal by rule R5b (at most once each).
    caught_up: Vec<Sid>,
}

#[derive(Debug)]
enum Phase {
    /// Never started, or stopped.
    Idle,
    /// Electing.
    Looking(Box<Looking>),
    /// Not LOOKING: answering LOOKING peers with the current vote.
    Decided(ServerState),
}

/// One server's FastLeaderElection instance. It lives as long as the server and is restarted
/// with [`Election::start`] every time the server goes LOOKING; the logical clock survives.
#[derive(Debug)]
pub struct Election {
    myid: Sid,
    learner_type: LearnerType,
    config: QuorumConfig,
    timing: Timing,
    logical_clock: i64,
    /// `(proposedLeader, proposedZxid, proposedEpoch)`; `election_epoch` is unused.
    proposal: Vote,
    /// The vote this election started from (spec §2.3).
    initial: Vote,
    /// The peer's `currentVote`: what it reports when not LOOKING (and to non-voters).
    current_vote: Option<Vote>,
    phase: Phase,
    /// Highest configuration version already reported through [`Action::NewConfig`].
    reported_config_version: i64,
    actions: VecDeque<Action>,
    loopback: VecDeque<Notification>,
    scratch: Vec<Sid>,
    /// Peers whose link was up and is lost, when the transport knows (see [`Election::set_lost`]).
    lost: Option<Vec<Sid>>,
    /// Peers the caller believes dead, until heard from (see [`Election::suspect`]).
    suspected: Vec<Sid>,
}

impl Election {
    /// A participant with default timing that has not started electing.
    pub fn new(myid: Sid, config: QuorumConfig) -> Election {
        let reported_config_version = config.committed().version();
        let nothing = Vote {
            leader: NO_LEADER,
            zxid: NONE_I64,
            election_epoch: 0,
            peer_epoch: NONE_I64,
        };
        Election {
            myid,
            learner_type: LearnerType::Participant,
            config,
            timing: Timing::default(),
            logical_clock: 0,
            proposal: nothing,
            initial: nothing,
            current_vote: None,
            phase: Phase::Idle,
            reported_config_version,
            actions: VecDeque::new(),
            loopback: VecDeque::new(),
            scratch: Vec::new(),
            lost: None,
            suspected: Vec::new(),
        }
    }

    /// Sets the learner type (observers never vote and decide OBSERVING).
    pub fn with_learner_type(mut self, learner_type: LearnerType) -> Election {
        self.learner_type = learner_type;
        self
    }

    /// This server's role after a reconfig changed it (takes effect at the next start).
    pub fn set_learner_type(&mut self, learner_type: LearnerType) {
        self.learner_type = learner_type;
    }

    /// Sets the timing constants.
    pub fn with_timing(mut self, timing: Timing) -> Election {
        self.timing = timing;
        self
    }

    /// This server's id.
    pub fn myid(&self) -> Sid {
        self.myid
    }

    /// The logical clock (round of the current or last election).
    pub fn logical_clock(&self) -> i64 {
        self.logical_clock
    }

    /// The current proposal, stamped with the logical clock.
    pub fn proposal(&self) -> Vote {
        Vote {
            election_epoch: self.logical_clock,
            ..self.proposal
        }
    }

    /// The vote reported when not LOOKING.
    pub fn current_vote(&self) -> Option<Vote> {
        self.current_vote
    }

    /// The peer state as the election sees it; `None` before the first [`Election::start`].
    pub fn state(&self) -> Option<ServerState> {
        match self.phase {
            Phase::Idle => None,
            Phase::Looking(_) => Some(ServerState::Looking),
            Phase::Decided(state) => Some(state),
        }
    }

    /// The configurations in use.
    pub fn config(&self) -> &QuorumConfig {
        &self.config
    }

    /// The next action for the caller, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Election::on_timeout`] must be called next (only while LOOKING).
    pub fn poll_timeout(&self) -> Option<Duration> {
        match &self.phase {
            Phase::Looking(l) => Some(l.deadline),
            _ => None,
        }
    }

    /// Installs a new configuration (after a reconfig); the caller usually restarts the
    /// election next.
    pub fn install_config(&mut self, config: QuorumConfig) {
        self.reported_config_version = self
            .reported_config_version
            .max(config.committed().version());
        self.config = config;
    }

    /// Forgets which newer configurations were reported, so that the next notification that
    /// carries one reports it again (its report could not be delivered).
    pub fn report_configs_again(&mut self) {
        self.reported_config_version = self.config.committed().version();
    }

    /// Starts (or restarts) looking for a leader with this server's own data (spec §2.7 steps
    /// 1-2): next round, proposal := initial vote, notify every voter.
    pub fn start(&mut self, now: Duration, data: InitialVote) {
        self.logical_clock += 1;
        let participant = self.learner_type == LearnerType::Participant;
        self.initial = Vote {
            leader: if self.config.committed().is_voter(self.myid) {
                self.myid
            } else {
                NO_LEADER
            },
            zxid: if participant {
                data.last_logged_zxid
            } else {
                NONE_I64
            },
            election_epoch: 0,
            peer_epoch: if participant {
                data.current_epoch
            } else {
                NONE_I64
            },
        };
        self.proposal = self.initial;
        // Upstream sets currentVote to the server's own data only when the peer first starts
        // looking; afterwards it keeps the last decided vote until a new decision.
        self.current_vote.get_or_insert(Vote {
            leader: self.myid,
            zxid: data.last_logged_zxid,
            election_epoch: -1,
            peer_epoch: data.current_epoch,
        });
        self.loopback.clear();
        self.phase = Phase::Looking(Box::new(Looking {
            recvset: VoteTally::default(),
            out_of_election: VoteTally::default(),
            notification_timeout: self.timing.min_notification_interval,
            deadline: now + self.timing.min_notification_interval,
            finalizing: None,
            caught_up: Vec::new(),
        }));
        trace_event!(myid = self.myid, round = self.logical_clock, "new election");
        self.send_notifications();
        self.drain_loopback(now);
    }

    /// The peer took a role outside an election (e.g. a reconfig named the leader): answer
    /// LOOKING peers with `vote` in `state` from now on.
    pub fn set_decided(&mut self, state: ServerState, vote: Vote) {
        self.loopback.clear();
        self.current_vote = Some(vote);
        self.phase = match state {
            ServerState::Looking => Phase::Idle,
            other => Phase::Decided(other),
        };
    }

    /// The new epoch is established: report it as the vote's peer epoch from now on, so every
    /// member of the ensemble reports the same `(leader, peerEpoch)` (ZOOKEEPER-1732,
    /// upstream `updateElectionVote`).
    pub fn update_peer_epoch(&mut self, peer_epoch: i64) {
        if let Some(vote) = &mut self.current_vote {
            vote.peer_epoch = peer_epoch;
        }
    }

    /// Stops answering anyone (the server shuts its election down).
    pub fn stop(&mut self) {
        self.loopback.clear();
        self.phase = Phase::Idle;
    }

    /// Tells the machine which peers the transport had a link to and lost (`None`: the
    /// transport cannot tell). When a quorum agrees with our proposal and every other voter is
    /// among it, no better vote can arrive, so the finalize wait is skipped: a failover is then
    /// bounded by message delays, not by finalizeWait. A peer that was never linked (still
    /// starting) is not "lost", so at start-up every voter's vote is awaited as usual. Liveness
    /// only: the rules for which vote wins are unchanged. Peers the caller suspects
    /// ([`Election::suspect`]) count as lost too.
    pub fn set_lost(&mut self, lost: Option<Vec<Sid>>) {
        self.lost = lost;
        self.decide_if_unanimous();
    }

    /// Tells the machine that the caller believes `sid` dead although the transport may not
    /// know yet: typically a learner whose channel to its leader broke, before the election link
    /// to that leader notices. Until a notification from `sid` arrives (proof of life), `sid`
    /// counts as lost for the finalize-wait shortcut of [`Election::set_lost`], so the next
    /// election does not wait finalizeWait for a vote that will never come. Liveness only:
    /// a decision still needs a quorum of matching votes, and a wrongly suspected peer is
    /// counted again from its first message on.
    pub fn suspect(&mut self, sid: Sid) {
        if sid != self.myid && !self.suspected.contains(&sid) {
            trace_event!(myid = self.myid, sid, "peer suspected lost");
            self.suspected.push(sid);
        }
        self.decide_if_unanimous();
    }

    /// Peers currently suspected lost (see [`Election::suspect`]), in the order suspected.
    pub fn suspected(&self) -> &[Sid] {
        &self.suspected
    }

    /// Whether `sid` counts as lost: its link was lost, or it is suspected and not heard from.
    fn counts_as_lost(&self, sid: Sid) -> bool {
        self.suspected.contains(&sid) || self.lost.as_ref().is_some_and(|lost| lost.contains(&sid))
    }

    /// Decides at once when finalizing and every voter not lost supports the proposal.
    fn decide_if_unanimous(&mut self) {
        if self.lost.is_none() && self.suspected.is_empty() {
            return;
        }
        let Phase::Looking(looking) = &self.phase else {
            return;
        };
        let Some(supporters) = &looking.finalizing else {
            return;
        };
        let everyone_in = self
            .config
            .voters()
            .iter()
            .filter(|&&sid| !self.counts_as_lost(sid))
            .all(|sid| supporters.contains(sid));
        if !everyone_in {
            return;
        }
        let supporters = supporters.clone();
        if let Phase::Looking(looking) = &mut self.phase {
            looking.finalizing = None;
        }
        let vote = self.proposal();
        self.decide(vote, DecisionPath::LookingQuorum, supporters);
    }

    /// A notification arrived from `from` (receiver rules R2-R7, then `lookForLeader`). It
    /// proves `from` alive: a suspicion of it ends.
    pub fn on_notification(&mut self, now: Duration, from: Sid, n: Notification) {
        self.suspected.retain(|&sid| sid != from);
        self.receive(now, from, n);
        self.drain_loopback(now);
    }

    /// Time passed. `have_delivered` is the transport's answer to "has any outgoing queue
    /// drained?" (spec §3.7): on a poll timeout (L0) we re-send our vote if so, otherwise ask
    /// for [`Action::ConnectAll`]. Early calls are ignored.
    pub fn on_timeout(&mut self, now: Duration, have_delivered: bool) {
        let Phase::Looking(looking) = &mut self.phase else {
            return;
        };
        if now < looking.deadline {
            return;
        }
        if let Some(supporters) = looking.finalizing.take() {
            let vote = self.proposal();
            self.decide(vote, DecisionPath::LookingQuorum, supporters);
            return;
        }
        looking.notification_timeout = (looking.notification_timeout * 2)
            .min(self.timing.max_notification_interval)
            .max(self.timing.min_notification_interval);
        looking.deadline = now + looking.notification_timeout;
        if have_delivered {
            self.send_notifications();
        } else {
            self.actions.push_back(Action::ConnectAll);
        }
        self.drain_loopback(now);
    }

    fn drain_loopback(&mut self, now: Duration) {
        while let Some(n) = self.loopback.pop_front() {
            self.receive(now, self.myid, n);
        }
    }

    fn my_state(&self) -> Option<ServerState> {
        self.state()
    }

    fn send(&mut self, to: Sid, notification: Notification) {
        if to == self.myid {
            self.loopback.push_back(notification);
        } else {
            self.actions.push_back(Action::Send { to, notification });
        }
    }

    /// `sendNotifications()`: our proposal, in our round, to every voter (ourselves included).
    fn send_notifications(&mut self) {
        let n = Notification::new(
            ServerState::Looking,
            self.proposal(),
            Some(self.config.config_text().clone()),
        );
        for i in 0..self.config.voters().len() {
            if let Some(&sid) = self.config.voters().get(i) {
                self.send(sid, n.clone());
            }
        }
    }

    /// Upstream `totalOrderPredicate`: `new` beats `cur` iff its leader has a non-zero weight
    /// and `(peerEpoch, zxid, sid)` is strictly greater.
    pub fn beats(&self, new: &Vote, cur: &Vote) -> bool {
        self.config.committed().weight(new.leader) != 0 && new.order_key() > cur.order_key()
    }

    /// Receiver rules R2-R7 (R0/R1/R4 are decoding failures, handled by the codec).
    fn receive(&mut self, now: Duration, from: Sid, n: Notification) {
        let Some(my_state) = self.my_state() else {
            return;
        };
        // R2: surface a newer configuration (LOOKING only).
        if my_state == ServerState::Looking {
            self.check_config(from, &n);
        }
        // R3: non-voters get our current vote at once and are never counted. Unlike upstream
        // we answer only a LOOKING non-voter: a decided observer has no use for the answer,
        // and answering it lets a LOOKING voter and an OBSERVING observer bounce messages
        // at network speed until the voter decides (spec §2.9 notes allow rate-limiting).
        if !self.config.is_voter(from) {
            if n.state != ServerState::Looking {
                return;
            }
            if let Some(cv) = self.current_vote {
                let reply = Vote {
                    election_epoch: self.logical_clock,
                    ..cv
                };
                let text = self.config.config_text().clone();
                self.send(from, Notification::new(my_state, reply, Some(text)));
            }
            return;
        }
        match my_state {
            ServerState::Looking => {
                // R5: a LOOKING peer in an older round gets our proposal to catch up. Unlike
                // upstream, only voters answer: a voter never reads a non-voter's vote, and a
                // LOOKING observer answering a voter's R3 reply (which carries the voter's
                // older round) would start an endless R3/R5 ping-pong.
                if n.state == ServerState::Looking
                    && n.election_epoch < self.logical_clock
                    && self.config.is_voter(self.myid)
                {
                    let text = self.config.config_text().clone();
                    let proposal = self.proposal();
                    self.send(
                        from,
                        Notification::new(ServerState::Looking, proposal, Some(text)),
                    );
                }
                self.catch_up_same_round(from, &n);
                self.look(now, from, n);
            }
            decided if n.state == ServerState::Looking => {
                // R6: answer with the vote we decided, in the round we decided it.
                if decided == ServerState::Leading {
                    self.actions.push_back(Action::PeerLooking { sid: from });
                }
                if let Some(cv) = self.current_vote {
                    let text = self.config.config_text().clone();
                    self.send(from, Notification::new(decided, cv, Some(text)));
                }
            }
            // R7: neither of us is LOOKING.
            _ => {}
        }
    }

    /// R5b (not upstream): a LOOKING voter of our round whose vote ours beats has not seen our
    /// proposal, or it would have adopted it (L6). Typically it started this round just after
    /// our notification reached it while it still followed a leader that has just died, and
    /// dropped it (R6). Upstream leaves both sides to the poll timeout (200 ms, doubling) to
    /// re-send; we send it our proposal at once, at most once per voter and round so that two
    /// peers that rank votes differently (mismatched configurations) cannot bounce messages.
    fn catch_up_same_round(&mut self, from: Sid, n: &Notification) {
        if n.state != ServerState::Looking
            || n.election_epoch != self.logical_clock
            || !self.config.is_voter(self.myid)
            || self.initial.zxid == -1
        {
            return;
        }
        let proposal = self.proposal();
        if !self.beats(&proposal, &n.vote()) {
            return;
        }
        let Phase::Looking(looking) = &mut self.phase else {
            return;
        };
        if looking.caught_up.contains(&from) {
            return;
        }
        looking.caught_up.push(from);
        let text = self.config.config_text().clone();
        self.send(
            from,
            Notification::new(ServerState::Looking, proposal, Some(text)),
        );
    }

    fn check_config(&mut self, from: Sid, n: &Notification) {
        let Some(config) = &n.config else {
            return;
        };
        let Some(version) = config_version(config) else {
            return;
        };
        if version > self.reported_config_version {
            self.reported_config_version = version;
            self.actions.push_back(Action::NewConfig {
                from,
                version,
                config: config.clone(),
            });
        }
    }

    /// `lookForLeader`'s handling of one dequeued notification (table §2.8).
    fn look(&mut self, now: Duration, from: Sid, n: Notification) {
        let vote = n.vote();
        let proposal = self.proposal;
        let beats_proposal = self.beats(&vote, &proposal);
        let Phase::Looking(looking) = &mut self.phase else {
            return;
        };
        if looking.finalizing.is_some() {
            if !beats_proposal {
                // Finalize: a vote that does not beat ours is consumed; the wait restarts.
                looking.deadline = now + self.timing.finalize_wait;
                return;
            }
            // A better vote: back to the main loop with it (it would be at the queue's tail).
            looking.finalizing = None;
        }
        looking.deadline = now + looking.notification_timeout;
        // L1: sender or proposed leader not a voter.
        if !self.config.is_voter(from) {
            return;
        }
        if !self.config.is_voter(n.leader) {
            // A non-voting participant (a voter of a reconfig not yet committed) proposes no
            // leader. Its vote counts for nothing, but its newer round is joined, as L4 joins
            // one: otherwise it would wait in that round for votes it ignores as older, and
            // the voters (whose next configuration needs its vote) would never hear it.
            if n.state == ServerState::Looking
                && n.election_epoch > self.logical_clock
                && self.initial.zxid != -1
            {
                self.join_round(n.election_epoch, None);
            }
            return;
        }
        match n.state {
            ServerState::Looking => self.look_looking(now, from, vote),
            // L7: observers' votes never count.
            ServerState::Observing => {}
            ServerState::Following | ServerState::Leading => {
                self.look_established(from, &n);
            }
        }
    }

    /// Cases L2-L6 and the recording step.
    fn look_looking(&mut self, now: Duration, from: Sid, vote: Vote) {
        // L2: a server with an uninitialised database takes no part in LOOKING votes.
        // L3: nor does a vote for one.
        if self.initial.zxid == -1 || vote.zxid == -1 {
            return;
        }
        if vote.election_epoch > self.logical_clock {
            // L4: a newer round: join it, starting over from our own initial vote.
            self.join_round(vote.election_epoch, Some(vote));
        } else if vote.election_epoch < self.logical_clock {
            // L5: stale round (R5 already answered).
            return;
        } else if self.beats(&vote, &self.proposal.clone()) {
            // L6: a better vote in our round.
            self.proposal = vote;
            self.send_notifications();
        }
        let target = TalliedVote::looking(self.proposal());
        let Phase::Looking(looking) = &mut self.phase else {
            return;
        };
        looking.recvset.insert(from, TalliedVote::looking(vote));
        looking.recvset.supporters_into(&target, &mut self.scratch);
        if self.config.has_all_quorums(&self.scratch) {
            looking.finalizing = Some(self.scratch.clone());
            looking.deadline = now + self.timing.finalize_wait;
            self.decide_if_unanimous();
        }
    }

    /// L4: joins round `round`, starting over from this server's initial vote, or from
    /// `vote` when it beats that; tells every voter.
    fn join_round(&mut self, round: i64, vote: Option<Vote>) {
        self.logical_clock = round;
        if let Phase::Looking(looking) = &mut self.phase {
            looking.recvset.clear();
            looking.caught_up.clear();
        }
        let initial = self.initial;
        self.proposal = match vote {
            Some(vote) if self.beats(&vote, &initial) => vote,
            _ => initial,
        };
        self.send_notifications();
    }

    /// Cases L9 and L10: FOLLOWING/LEADING notifications. Following a leader whose term a
    /// quorum already established counts in the committed configuration alone: a server that
    /// logged a reconfig that never committed (its proposer lost its quorum) would otherwise
    /// wait for that configuration's quorum for ever, where following the leader and
    /// synchronising cuts the reconfig from its log. Leading counts in every configuration
    /// tracked, as a LOOKING quorum does (ZooKeeper's hasAllQuorums): a server whose last seen
    /// configuration's voters did not choose it may lack what they committed, and its term
    /// would raise its own and its followers' currentEpoch above theirs.
    fn look_established(&mut self, from: Sid, n: &Notification) {
        let vote = n.vote();
        let established = if vote.leader == self.myid {
            self.config.clone()
        } else {
            QuorumConfig::new(self.config.committed().clone())
        };
        let target = TalliedVote {
            vote,
            state: n.state,
            version: n.version,
        };
        let Phase::Looking(looking) = &mut self.phase else {
            return;
        };
        if vote.election_epoch == self.logical_clock {
            // L9. Upstream stores these with format version 0 (so, against the version-2
            // target, they match on the leader alone); we keep that.
            looking.recvset.insert(
                from,
                TalliedVote {
                    version: 0,
                    ..target
                },
            );
            if let Some(supporters) = looking.recvset.quorum_for(&established, &target) {
                if check_leader(&looking.recvset, self.myid, self.logical_clock, &vote) {
                    self.decide(vote, DecisionPath::SameRound, supporters);
                    return;
                }
            }
        }
        // L10: any round; needs the leader's own LEADING report (ZOOKEEPER-1732).
        looking.out_of_election.insert(from, target);
        if let Some(supporters) = looking.out_of_election.quorum_for(&established, &target) {
            if check_leader(
                &looking.out_of_election,
                self.myid,
                self.logical_clock,
                &vote,
            ) {
                self.logical_clock = vote.election_epoch;
                self.decide(vote, DecisionPath::OutOfElection, supporters);
            }
        }
    }

    fn decide(&mut self, vote: Vote, path: DecisionPath, supporters: Vec<Sid>) {
        let state = if vote.leader == self.myid {
            ServerState::Leading
        } else if self.learner_type == LearnerType::Participant {
            ServerState::Following
        } else {
            ServerState::Observing
        };
        trace_event!(
            myid = self.myid,
            leader = vote.leader,
            round = vote.election_epoch,
            ?state,
            "decided"
        );
        self.current_vote = Some(vote);
        self.phase = Phase::Decided(state);
        self.loopback.clear();
        self.actions.push_back(Action::Decided(Decision {
            state,
            vote,
            supporters,
            path,
        }));
    }
}

/// Upstream `checkLeader` (spec §2.6): another leader must itself have said LEADING in `votes`;
/// we may only lead from a tally of our own current round.
pub fn check_leader(votes: &VoteTally, myid: Sid, logical_clock: i64, vote: &Vote) -> bool {
    if vote.leader == myid {
        logical_clock == vote.election_epoch
    } else {
        votes
            .get(vote.leader)
            .is_some_and(|v| v.state == ServerState::Leading)
    }
}
