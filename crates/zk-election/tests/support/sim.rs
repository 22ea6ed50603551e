//! A deterministic discrete-event simulator for [`Election`]: N voters plus observers over a
//! network that drops, delays, reorders and duplicates messages, partitions that heal, and
//! peers that crash and restart. No threads, no real time, one seeded PRNG: a seed replays
//! exactly.
//!
//! Above the election sits an abstract ZAB layer so that wrong decisions are corrected the way
//! a real ensemble corrects them (a leader without a quorum of followers, or a follower without
//! a leader, goes back to LOOKING after `init_limit`), and so that data (zxids, epochs) evolves:
//! an established leader picks a new epoch larger than every member's accepted epoch, syncs its
//! followers and commits transactions.
//!
//! # What is checked on every run
//!
//! FastLeaderElection alone does NOT guarantee that all peers of a round decide the same
//! leader: a peer decides after finalizeWait (200 ms) without hearing a better vote, so a
//! message slower than that lets two peers decide differently in the same round (even two
//! LEADING peers, each backed by a quorum whose intersection changed its vote in between).
//! ZAB's epoch agreement makes that safe. What FLE does guarantee, and what is asserted here:
//!
//! * S1 integrity: every supporter of a decision really sent the vote it was counted for (a
//!   notification carrying the decided vote; for LOOKING-quorum decisions the exact vote
//!   including the round), and the supporters form a quorum of the configuration.
//! * S2 dominance: every LOOKING vote a voter sends to a voter ranks at least as high, in
//!   (peerEpoch, zxid, sid) order, as the voter's own data at that moment. With S1: the leader
//!   elected by a LOOKING quorum has (peerEpoch, zxid) >= that of every supporter whose counted
//!   vote was a LOOKING vote - the property ZAB's recovery relies on.
//! * S3 validity: a LOOKING-quorum decision names a voter (never an observer, never a zero
//!   weight) with data it really had: (leader, zxid, peerEpoch) was the initial vote of some
//!   incarnation of the leader. A joining decision (FOLLOWING/LEADING path) names a leader
//!   that itself said LEADING for it (checkLeader), unless the leader is the decider.
//! * S4 monotonicity: within one round, the LOOKING votes a voter sends to voters never
//!   decrease.
//! * Agreement under synchrony (scenarios marked `synchronous`): if all peers start together,
//!   nothing is lost or crashes, and every delay is below finalizeWait, then every peer's first
//!   decision is the highest initial vote, in round 1, and that leader establishes.
//! * Liveness: once faults stop (partitions healed, crashed peers restarted, no loss, delays
//!   <= `max_delay`), the ensemble is stable - one established leader, every peer following or
//!   observing it - within [`Scenario::liveness_bound`] of simulated time, and stays so.
#![allow(dead_code)]

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::fmt::Write as _;
use std::time::Duration;

use zk_election::{
    Action, Decision, DecisionPath, Election, InitialVote, LearnerType, Notification, QuorumConfig,
    QuorumVerifier, ServerState, Sid, Timing, Vote, make_zxid,
};

/// splitmix64: tiny, fast, and good enough to drive a simulation.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }
}

/// One simulated run's parameters.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    pub voters: usize,
    pub observers: usize,
    pub min_delay_ms: u64,
    /// Longest message delay, during faults and after them.
    pub max_delay_ms: u64,
    /// Longest delay while faults are active (may exceed finalizeWait to provoke disagreement).
    pub fault_max_delay_ms: u64,
    pub loss: f64,
    pub dup: f64,
    /// Faults happen in `[0, fault_window_ms)`; at its end everything heals.
    pub fault_window_ms: u64,
    pub crashes: usize,
    pub partitions: usize,
    pub timing: Timing,
    /// How long a new leader waits for a quorum of followers (ZAB initLimit, abstracted).
    pub init_limit_ms: u64,
    /// How often each peer checks its role (ZAB syncLimit, abstracted).
    pub check_every_ms: u64,
    /// Assert agreement on the highest initial vote (only for fault-free, fast networks).
    pub synchronous: bool,
    /// Stop as soon as every peer has decided once (benchmarks).
    pub stop_at_first_decisions: bool,
}

impl Scenario {
    /// A fault-free cold start: all peers start at 0 with random data; `loss` may be non-zero.
    pub fn quiet(seed: u64, voters: usize, loss: f64) -> Scenario {
        Scenario {
            seed,
            voters,
            observers: 0,
            min_delay_ms: 1,
            max_delay_ms: 5,
            fault_max_delay_ms: 5,
            loss,
            dup: 0.0,
            fault_window_ms: 0,
            crashes: 0,
            partitions: 0,
            timing: Timing::default(),
            init_limit_ms: 2_000,
            check_every_ms: 500,
            synchronous: loss == 0.0,
            stop_at_first_decisions: true,
        }
    }

    /// A random scenario for `seed` with `voters` voters: one in four is synchronous
    /// (agreement is asserted), the others have loss, duplication, slow messages, partitions
    /// and crashes during a fault window.
    pub fn random(seed: u64, voters: usize) -> Scenario {
        let mut rng = Rng::new(seed ^ 0x5eed_5eed_5eed_5eed);
        let observers = rng.range(0, 2) as usize;
        if rng.range(0, 3) == 0 {
            return Scenario {
                observers,
                max_delay_ms: rng.range(1, 150),
                fault_max_delay_ms: 0,
                dup: 0.1,
                stop_at_first_decisions: false,
                ..Scenario::quiet(seed, voters, 0.0)
            }
            .with_fault_delay_equal();
        }
        Scenario {
            seed,
            voters,
            observers,
            min_delay_ms: 1,
            max_delay_ms: rng.range(1, 50),
            fault_max_delay_ms: rng.range(50, 600),
            loss: [0.0, 0.05, 0.2, 0.4][rng.range(0, 3) as usize],
            dup: 0.1,
            fault_window_ms: rng.range(2_000, 20_000),
            crashes: rng.range(0, 3) as usize,
            partitions: rng.range(0, 3) as usize,
            timing: Timing::default(),
            init_limit_ms: 2_000,
            check_every_ms: 500,
            synchronous: false,
            stop_at_first_decisions: false,
        }
    }

    fn with_fault_delay_equal(mut self) -> Scenario {
        self.fault_max_delay_ms = self.max_delay_ms;
        self
    }

    /// How long after the end of the faults the ensemble must be stable.
    ///
    /// After the faults stop, a LOOKING peer re-sends at the latest after its current poll
    /// interval (at most `max_notification_interval`); one election then takes finalizeWait
    /// plus a few message delays; a wrong decision is undone within `init_limit` (leader
    /// without quorum) plus one role check (its followers), and a follower joins an
    /// established leader at its next role check. We allow the re-send wait once and three
    /// "wrong decision + re-election" cycles:
    /// `max_notification_interval + 3 * (init_limit + 2 * check_every + finalize_wait
    /// + 10 * max_delay)`.
    pub fn liveness_bound_ms(&self) -> u64 {
        let t = &self.timing;
        let cycle = self.init_limit_ms
            + 2 * self.check_every_ms
            + t.finalize_wait.as_millis() as u64
            + 10 * self.max_delay_ms;
        t.max_notification_interval.as_millis() as u64 + 3 * cycle
    }
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub events: u64,
    pub messages: u64,
    /// When every peer had decided at least once (from a cold start).
    pub all_decided_ms: Option<u64>,
    /// End of the fault window.
    pub quiet_ms: u64,
    /// When the ensemble became stable for good (after `quiet_ms`).
    pub stable_ms: Option<u64>,
    pub leader: Option<Sid>,
    pub elections_decided: u64,
    /// Rounds in which two voters decided different leaders through LOOKING quorums: FLE
    /// allows it when messages are slower than finalizeWait; the ZAB layer resolves it.
    pub split_rounds: u64,
}

/// A failed check, with everything needed to replay it.
#[derive(Debug)]
pub struct Failure {
    pub seed: u64,
    pub scenario: String,
    pub message: String,
    pub log: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "simulation failed: seed {} ({})",
            self.seed, self.message
        )?;
        writeln!(f, "scenario: {}", self.scenario)?;
        writeln!(
            f,
            "replay: ZK_SIM_REPLAY={} cargo test -p zk-election --test sim replay -- --nocapture",
            self.seed
        )?;
        let skip = self.log.len().saturating_sub(400);
        if skip > 0 {
            writeln!(f, "... {skip} earlier events omitted ...")?;
        }
        for line in self.log.iter().skip(skip) {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Down,
    Looking,
    Following(Sid),
    Observing(Sid),
    /// `established`: the epoch it established, once a quorum followed it.
    Leading {
        since: u64,
        established: Option<i64>,
    },
}

#[derive(Debug, Clone, Copy)]
struct Data {
    zxid: i64,
    current_epoch: i64,
    accepted_epoch: i64,
}

#[derive(Debug)]
struct Node {
    sid: Sid,
    observer: bool,
    election: Election,
    role: Role,
    data: Data,
    /// Bumped on every restart and every re-armed timer, to drop stale timer events.
    timer_gen: u64,
    armed: Option<u64>,
    incarnation: u32,
    /// (round, vote) of the last LOOKING vote sent to a voter, for S4.
    last_looking: Option<(i64, Vote)>,
    decided_once: bool,
    /// When the current role was taken.
    role_since: u64,
}

#[derive(Debug, Clone)]
enum Event {
    Deliver {
        from: usize,
        to: usize,
        n: Notification,
    },
    Timer {
        node: usize,
        generation: u64,
    },
    Check {
        node: usize,
        incarnation: u32,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
        newer: bool,
    },
    Partition {
        sides: Vec<u8>,
    },
    Heal,
    Quiet,
}

#[derive(Debug)]
struct Entry {
    at: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

struct World {
    sc: Scenario,
    rng: Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Entry>,
    nodes: Vec<Node>,
    config: QuorumConfig,
    sides: Vec<u8>,
    quiet: bool,
    /// Every (state, vote) each sender ever sent.
    sent: HashMap<Sid, HashSet<(ServerState, Vote)>>,
    /// Every (sid, zxid, epoch) a peer ever started an election with.
    initial_votes: HashSet<(Sid, i64, i64)>,
    /// Leader of the first LOOKING-quorum decision of each round, for `split_rounds`.
    round_leaders: HashMap<i64, Sid>,
    /// The highest initial vote of the cold start.
    cold_best: Option<Vote>,
    /// First decisions of the cold start, for the agreement check.
    first_decisions: HashMap<Sid, (Vote, DecisionPath)>,
    outcome: Outcome,
    log: Option<Vec<String>>,
}

/// Runs one scenario; `Err` on the first failed check (with the event log if `trace`).
pub fn run(sc: &Scenario, trace: bool) -> Result<Outcome, Failure> {
    let mut world = World::new(sc.clone(), trace);
    match world.run() {
        Ok(()) => Ok(world.outcome),
        Err(message) => Err(Failure {
            seed: sc.seed,
            scenario: format!("{sc:?}"),
            message,
            log: world.log.unwrap_or_default(),
        }),
    }
}

/// Runs a scenario and, if it fails, runs it again with the trace on to report the event log.
pub fn run_reporting(sc: &Scenario) -> Result<Outcome, Failure> {
    run(sc, false).map_err(|_| match run(sc, true) {
        Err(f) => f,
        Ok(_) => Failure {
            seed: sc.seed,
            scenario: format!("{sc:?}"),
            message: "failure did not replay: nondeterminism".into(),
            log: Vec::new(),
        },
    })
}

/// A run that needs more events than this is a message storm, not an election.
const MAX_EVENTS: u64 = 2_000_000;

/// How long a stable ensemble is watched before the run ends.
const STABLE_FOR_MS: u64 = 10_000;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn initial_rank(node: &Node, config: &QuorumConfig) -> Vote {
    Vote {
        leader: if config.committed().is_voter(node.sid) {
            node.sid
        } else {
            zk_election::NO_LEADER
        },
        zxid: node.data.zxid,
        election_epoch: 0,
        peer_epoch: node.data.current_epoch,
    }
}

impl World {
    fn new(sc: Scenario, trace: bool) -> World {
        let mut rng = Rng::new(sc.seed);
        let voters: Vec<Sid> = (1..=sc.voters as u64).collect();
        let observers: Vec<Sid> = (0..sc.observers as u64).map(|i| 100 + i).collect();
        let config = QuorumConfig::new(
            QuorumVerifier::majority(voters.iter().copied()).with_observers(observers.clone()),
        )
        .with_config_text(&b"version=0"[..]);
        let mut nodes = Vec::new();
        for (i, sid) in voters.iter().chain(observers.iter()).enumerate() {
            let observer = i >= sc.voters;
            // Random but consistent data: epochs 1..=3, zxids within the epoch.
            let epoch = rng.range(1, 3) as i64;
            let zxid = make_zxid(epoch - rng.range(0, 1) as i64, rng.range(0, 20) as u32);
            let learner = if observer {
                LearnerType::Observer
            } else {
                LearnerType::Participant
            };
            nodes.push(Node {
                sid: *sid,
                observer,
                election: Election::new(*sid, config.clone())
                    .with_learner_type(learner)
                    .with_timing(sc.timing),
                role: Role::Down,
                data: Data {
                    zxid,
                    current_epoch: epoch,
                    accepted_epoch: epoch,
                },
                timer_gen: 0,
                armed: None,
                incarnation: 0,
                last_looking: None,
                decided_once: false,
                role_since: 0,
            });
        }
        // ZAB invariant: some quorum promised the newest epoch anyone has adopted.
        let newest = nodes
            .iter()
            .map(|n| n.data.current_epoch)
            .max()
            .unwrap_or(0);
        for node in &mut nodes {
            node.data.accepted_epoch = newest;
        }
        let n = nodes.len();
        let cold_best = nodes
            .iter()
            .filter(|n| !n.observer)
            .map(|n| initial_rank(n, &config))
            .max_by(|a, b| a.cmp_rank(b));
        World {
            cold_best,
            round_leaders: HashMap::new(),
            rng,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes,
            config,
            sides: vec![0; n],
            quiet: sc.fault_window_ms == 0,
            sent: HashMap::new(),
            initial_votes: HashSet::new(),
            first_decisions: HashMap::new(),
            outcome: Outcome {
                quiet_ms: sc.fault_window_ms,
                ..Outcome::default()
            },
            log: trace.then(Vec::new),
            sc,
        }
    }

    fn trace(&mut self, line: impl FnOnce() -> String) {
        if let Some(log) = &mut self.log {
            log.push(format!("{:>8}ms {}", self.now, line()));
        }
    }

    fn push(&mut self, at: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Entry {
            at,
            seq: self.seq,
            event,
        });
    }

    fn schedule_faults(&mut self) {
        let w = self.sc.fault_window_ms;
        if w == 0 {
            return;
        }
        let n = self.nodes.len();
        for _ in 0..self.sc.crashes {
            let node = self.rng.range(0, n as u64 - 1) as usize;
            let at = self.rng.range(0, w - 1);
            let down = self.rng.range(100, 5_000);
            let newer = self.rng.chance(0.5);
            self.push(at, Event::Crash { node });
            if at + down < w {
                self.push(at + down, Event::Restart { node, newer });
            }
        }
        for _ in 0..self.sc.partitions {
            let at = self.rng.range(0, w - 1);
            let sides = (0..n).map(|_| self.rng.range(0, 1) as u8).collect();
            let heal = at + self.rng.range(200, 8_000);
            self.push(at, Event::Partition { sides });
            if heal < w {
                self.push(heal, Event::Heal);
            }
        }
        self.push(w, Event::Quiet);
    }

    fn run(&mut self) -> Result<(), String> {
        for i in 0..self.nodes.len() {
            self.start_election(i)?;
            let first_check = self.sc.check_every_ms + self.rng.range(0, 100);
            let incarnation = self.nodes[i].incarnation;
            self.push(
                first_check,
                Event::Check {
                    node: i,
                    incarnation,
                },
            );
        }
        self.schedule_faults();
        let end = self.outcome.quiet_ms + self.sc.liveness_bound_ms();
        while let Some(entry) = self.queue.pop() {
            if entry.at > end {
                break;
            }
            self.now = entry.at;
            self.outcome.events += 1;
            if self.outcome.events > MAX_EVENTS {
                return Err(format!("more than {MAX_EVENTS} events: message storm"));
            }
            self.handle(entry.event)?;
            if self.sc.stop_at_first_decisions && self.outcome.all_decided_ms.is_some() {
                return Ok(());
            }
            self.track_stability();
            // Stable for a while after the faults: nothing can change any more.
            if self
                .outcome
                .stable_ms
                .is_some_and(|t| self.now > t + STABLE_FOR_MS)
            {
                break;
            }
        }
        if self.sc.stop_at_first_decisions {
            return match self.outcome.all_decided_ms {
                Some(_) => Ok(()),
                None => Err("not every peer decided".into()),
            };
        }
        let bound = self.sc.liveness_bound_ms();
        match self.outcome.stable_ms {
            Some(at) if at - self.outcome.quiet_ms <= bound => Ok(()),
            other => Err(format!(
                "liveness: not stable within {bound} ms after the faults stopped at {} ms (stable since {other:?})",
                self.outcome.quiet_ms
            )),
        }
    }

    fn handle(&mut self, event: Event) -> Result<(), String> {
        match event {
            Event::Deliver { from, to, n } => {
                if !self.connected(from, to) || self.nodes[to].role == Role::Down {
                    self.trace(|| format!("drop {}->{} (down or cut)", from + 1, to + 1));
                    return Ok(());
                }
                let (fs, ts) = (self.nodes[from].sid, self.nodes[to].sid);
                self.trace(|| format!("deliver {fs}->{ts} {:?} {:?}", n.state, n.vote()));
                self.nodes[to].election.on_notification(ms(self.now), fs, n);
                self.after_input(to)?;
            }
            Event::Timer { node, generation } => {
                let nd = &mut self.nodes[node];
                if nd.timer_gen != generation || nd.role == Role::Down {
                    return Ok(());
                }
                nd.armed = None;
                let delivered = self.has_live_link(node);
                self.trace(|| format!("timeout {} delivered={delivered}", node + 1));
                self.nodes[node]
                    .election
                    .on_timeout(ms(self.now), delivered);
                self.after_input(node)?;
            }
            Event::Check { node, incarnation } => {
                if self.nodes[node].incarnation != incarnation
                    || self.nodes[node].role == Role::Down
                {
                    return Ok(());
                }
                self.check_role(node)?;
                let next = self.now + self.sc.check_every_ms;
                self.push(next, Event::Check { node, incarnation });
            }
            Event::Crash { node } => {
                if self.nodes[node].role == Role::Down {
                    return Ok(());
                }
                self.trace(|| format!("crash {}", node + 1));
                let nd = &mut self.nodes[node];
                nd.role = Role::Down;
                nd.election.stop();
                nd.incarnation += 1;
                nd.timer_gen += 1;
                nd.armed = None;
            }
            Event::Restart { node, newer } => self.restart(node, newer)?,
            Event::Partition { sides } => {
                self.trace(|| format!("partition {sides:?}"));
                self.sides = sides;
            }
            Event::Heal => {
                self.trace(|| "heal".into());
                self.sides.iter_mut().for_each(|s| *s = 0);
            }
            Event::Quiet => {
                self.trace(|| "quiet: faults stop".into());
                self.quiet = true;
                self.sides.iter_mut().for_each(|s| *s = 0);
                for node in 0..self.nodes.len() {
                    if self.nodes[node].role == Role::Down {
                        self.restart(node, false)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn restart(&mut self, node: usize, newer: bool) -> Result<(), String> {
        if self.nodes[node].role != Role::Down {
            return Ok(());
        }
        let timing = self.sc.timing;
        let nd = &mut self.nodes[node];
        if newer && !nd.observer {
            // A proposal it had logged but not reported: a newer zxid in its current epoch.
            let epoch = nd.data.current_epoch;
            nd.data.zxid = nd.data.zxid.max(make_zxid(epoch, 0)) + 1;
        }
        let learner = if nd.observer {
            LearnerType::Observer
        } else {
            LearnerType::Participant
        };
        nd.election = Election::new(nd.sid, self.config.clone())
            .with_learner_type(learner)
            .with_timing(timing);
        nd.last_looking = None;
        let (sid, data) = (nd.sid, nd.data);
        self.trace(|| format!("restart {sid} with {data:?}"));
        self.start_election(node)?;
        let incarnation = self.nodes[node].incarnation;
        let at = self.now + self.sc.check_every_ms;
        self.push(at, Event::Check { node, incarnation });
        Ok(())
    }

    fn start_election(&mut self, node: usize) -> Result<(), String> {
        let nd = &mut self.nodes[node];
        nd.role = Role::Looking;
        nd.last_looking = None;
        let data = InitialVote {
            last_logged_zxid: nd.data.zxid,
            current_epoch: nd.data.current_epoch,
        };
        self.initial_votes
            .insert((nd.sid, nd.data.zxid, nd.data.current_epoch));
        nd.election.start(ms(self.now), data);
        let sid = nd.sid;
        self.trace(|| format!("{sid} starts looking with {data:?}"));
        self.after_input(node)
    }

    fn connected(&self, a: usize, b: usize) -> bool {
        self.sides[a] == self.sides[b]
    }

    fn has_live_link(&self, node: usize) -> bool {
        (0..self.nodes.len())
            .any(|j| j != node && self.connected(node, j) && self.nodes[j].role != Role::Down)
    }

    fn is_voter(&self, node: usize) -> bool {
        !self.nodes[node].observer
    }

    fn index_of(&self, sid: Sid) -> Option<usize> {
        self.nodes.iter().position(|n| n.sid == sid)
    }

    fn after_input(&mut self, node: usize) -> Result<(), String> {
        while let Some(action) = self.nodes[node].election.poll_action() {
            match action {
                Action::Send { to, notification } => self.send(node, to, notification)?,
                Action::ConnectAll => self.trace(|| format!("{} connectAll", node + 1)),
                Action::Decided(d) => self.decided(node, d)?,
                Action::PeerLooking { .. } => {}
                Action::NewConfig { .. } => return Err("unexpected NewConfig".into()),
            }
        }
        let deadline = self.nodes[node]
            .election
            .poll_timeout()
            .map(|d| d.as_millis() as u64);
        if deadline != self.nodes[node].armed {
            let nd = &mut self.nodes[node];
            nd.timer_gen += 1;
            nd.armed = deadline;
            let generation = nd.timer_gen;
            if let Some(at) = deadline {
                self.push(at.max(self.now), Event::Timer { node, generation });
            }
        }
        Ok(())
    }

    fn send(&mut self, from: usize, to: Sid, n: Notification) -> Result<(), String> {
        let Some(to_idx) = self.index_of(to) else {
            return Err(format!("send to unknown sid {to}"));
        };
        let vote = n.vote();
        let from_sid = self.nodes[from].sid;
        self.sent
            .entry(from_sid)
            .or_default()
            .insert((n.state, vote));
        if n.state == ServerState::Looking && self.is_voter(from) && self.is_voter(to_idx) {
            // S2: LOOKING votes between voters dominate the sender's own data.
            let own = initial_rank(&self.nodes[from], &self.config);
            if vote.cmp_rank(&own) == Ordering::Less {
                return Err(format!(
                    "S2: {from_sid} sent LOOKING {vote:?} below its own data {own:?}"
                ));
            }
            // S4: non-decreasing within a round.
            if let Some((round, last)) = self.nodes[from].last_looking {
                if round == vote.election_epoch && vote.cmp_rank(&last) == Ordering::Less {
                    return Err(format!(
                        "S4: {from_sid} sent {vote:?} after {last:?} in round {round}"
                    ));
                }
            }
            self.nodes[from].last_looking = Some((vote.election_epoch, vote));
        }
        self.outcome.messages += 1;
        // Without a fault window, `loss` is the steady state (benchmarks); with one, the
        // network is lossless once the faults stop.
        let steady_loss = self.sc.fault_window_ms == 0;
        let (loss, max_delay) = if self.quiet {
            let loss = if steady_loss { self.sc.loss } else { 0.0 };
            (loss, self.sc.max_delay_ms)
        } else {
            (
                self.sc.loss,
                self.sc.fault_max_delay_ms.max(self.sc.max_delay_ms),
            )
        };
        let copies = if self.rng.chance(self.sc.dup) { 2 } else { 1 };
        for _ in 0..copies {
            if self.rng.chance(loss) {
                self.trace(|| format!("lost {from_sid}->{to}"));
                continue;
            }
            let at = self.now + self.rng.range(self.sc.min_delay_ms, max_delay);
            self.push(
                at,
                Event::Deliver {
                    from,
                    to: to_idx,
                    n: n.clone(),
                },
            );
        }
        Ok(())
    }

    fn sent_any(&self, sid: Sid, pred: impl Fn(ServerState, &Vote) -> bool) -> bool {
        self.sent
            .get(&sid)
            .is_some_and(|set| set.iter().any(|(state, vote)| pred(*state, vote)))
    }

    fn decided(&mut self, node: usize, d: Decision) -> Result<(), String> {
        let sid = self.nodes[node].sid;
        self.trace(|| {
            format!(
                "{sid} DECIDED {:?} {:?} via {:?} by {:?}",
                d.state, d.vote, d.path, d.supporters
            )
        });
        self.outcome.elections_decided += 1;
        let leader = d.vote.leader;
        let Some(leader_idx) = self.index_of(leader) else {
            return Err(format!("S3: {sid} decided unknown leader {leader}"));
        };
        if self.nodes[leader_idx].observer {
            return Err(format!("S3: {sid} elected observer {leader}"));
        }
        if !self.config.has_all_quorums(&d.supporters) {
            return Err(format!(
                "S1: supporters {:?} are not a quorum",
                d.supporters
            ));
        }
        for &q in &d.supporters {
            let ok = match d.path {
                DecisionPath::LookingQuorum => self.sent.get(&q).is_some_and(|set| {
                    [
                        ServerState::Looking,
                        ServerState::Following,
                        ServerState::Leading,
                    ]
                    .iter()
                    .any(|st| set.contains(&(*st, d.vote)))
                }),
                _ => self.sent_any(q, |state, v| {
                    v.leader == leader && (state != ServerState::Looking || *v == d.vote)
                }),
            };
            if !ok {
                return Err(format!(
                    "S1: supporter {q} of {sid} never sent {:?}",
                    d.vote
                ));
            }
        }
        if d.path == DecisionPath::LookingQuorum && !self.nodes[node].observer {
            let first = *self
                .round_leaders
                .entry(d.vote.election_epoch)
                .or_insert(leader);
            if first != leader {
                self.outcome.split_rounds += 1;
            }
        }
        match d.path {
            DecisionPath::LookingQuorum => {
                if !self.nodes[node].observer
                    && !self
                        .initial_votes
                        .contains(&(leader, d.vote.zxid, d.vote.peer_epoch))
                {
                    return Err(format!("S3: {:?} is not data {leader} ever had", d.vote));
                }
            }
            DecisionPath::SameRound | DecisionPath::OutOfElection => {
                if leader != sid
                    && !self.sent_any(leader, |state, v| {
                        state == ServerState::Leading && v.leader == leader
                    })
                {
                    return Err(format!("S3: {leader} never said LEADING"));
                }
            }
        }
        let want = match (d.state, self.nodes[node].observer) {
            (ServerState::Leading, false) => leader == sid,
            (ServerState::Following, false) => leader != sid,
            (ServerState::Observing, true) => true,
            _ => false,
        };
        if !want {
            return Err(format!("{sid} decided inconsistent state {:?}", d.state));
        }
        let nd = &mut self.nodes[node];
        nd.role_since = self.now;
        nd.role = match d.state {
            ServerState::Leading => Role::Leading {
                since: self.now,
                established: None,
            },
            ServerState::Observing => Role::Observing(leader),
            _ => Role::Following(leader),
        };
        if !nd.decided_once {
            nd.decided_once = true;
            self.first_decisions.insert(sid, (d.vote, d.path));
            if self.nodes.iter().all(|n| n.decided_once) {
                self.outcome.all_decided_ms = Some(self.now);
                self.check_agreement()?;
            }
        }
        Ok(())
    }

    /// Agreement under synchrony: everyone's first decision is the highest initial vote.
    fn check_agreement(&self) -> Result<(), String> {
        if !self.sc.synchronous {
            return Ok(());
        }
        let best = self.cold_best.ok_or("no voters")?;
        for (sid, (vote, path)) in &self.first_decisions {
            // Peers that join after the leader established see the new epoch in its vote.
            let joined = *path != DecisionPath::LookingQuorum;
            let same = vote.leader == best.leader
                && (joined || (vote.zxid == best.zxid && vote.peer_epoch == best.peer_epoch));
            if !same || vote.election_epoch != 1 {
                return Err(format!(
                    "agreement: {sid} first decided {vote:?}, the best initial vote is {best:?}"
                ));
            }
        }
        Ok(())
    }

    fn revert_to_looking(&mut self, node: usize, why: &str) -> Result<(), String> {
        let sid = self.nodes[node].sid;
        self.trace(|| format!("{sid} back to LOOKING: {why}"));
        self.start_election(node)
    }

    fn followers_of(&self, leader: usize) -> Vec<Sid> {
        let sid = self.nodes[leader].sid;
        let mut out: Vec<Sid> = (0..self.nodes.len())
            .filter(|&j| {
                j != leader
                    && !self.nodes[j].observer
                    && self.connected(leader, j)
                    && self.nodes[j].role == Role::Following(sid)
            })
            .map(|j| self.nodes[j].sid)
            .collect();
        out.push(sid);
        out
    }

    /// The abstract ZAB layer.
    fn check_role(&mut self, node: usize) -> Result<(), String> {
        let state = self.nodes[node].election.state();
        match self.nodes[node].role {
            Role::Down => {}
            Role::Looking => {
                if state != Some(ServerState::Looking) {
                    return Err(format!("role LOOKING but election says {state:?}"));
                }
            }
            Role::Leading { since, established } => {
                let members = self.followers_of(node);
                let quorum = self.config.has_all_quorums(&members);
                match established {
                    None if quorum => self.establish(node, &members),
                    None if self.now >= since + self.sc.init_limit_ms => {
                        self.revert_to_looking(node, "no quorum of followers within initLimit")?;
                    }
                    None => {}
                    Some(_) if !quorum => self.revert_to_looking(node, "lost its quorum")?,
                    Some(epoch) => self.commit_txn(node, epoch, &members),
                }
            }
            Role::Following(leader) | Role::Observing(leader) => {
                let Some(l) = self.index_of(leader) else {
                    return Err(format!("following unknown {leader}"));
                };
                let leading = matches!(self.nodes[l].role, Role::Leading { .. });
                // Like a learner retrying to connect, give the leader initLimit to show up.
                let patient = self.now < self.nodes[node].role_since + self.sc.init_limit_ms;
                if !leading || !self.connected(node, l) {
                    if !patient {
                        self.revert_to_looking(node, "no leader")?;
                    }
                } else if let Role::Leading {
                    established: Some(epoch),
                    ..
                } = self.nodes[l].role
                {
                    // Every learner that joins an established leader syncs and rewrites its
                    // vote's epoch (ZOOKEEPER-1732), including late joiners.
                    let nd = &self.nodes[node];
                    let reported = nd.election.current_vote().map(|v| v.peer_epoch);
                    if nd.data.current_epoch != epoch || reported != Some(epoch) {
                        self.sync_from(l, node, epoch);
                    }
                }
            }
        }
        Ok(())
    }

    fn establish(&mut self, leader: usize, members: &[Sid]) {
        let idx: Vec<usize> = members.iter().filter_map(|&s| self.index_of(s)).collect();
        let epoch = 1 + idx
            .iter()
            .map(|&j| self.nodes[j].data.accepted_epoch)
            .max()
            .unwrap_or(0);
        for &j in &idx {
            self.sync_from(leader, j, epoch);
        }
        if let Role::Leading { established, .. } = &mut self.nodes[leader].role {
            *established = Some(epoch);
        }
        let sid = self.nodes[leader].sid;
        self.trace(|| format!("{sid} ESTABLISHED epoch {epoch} with {members:?}"));
    }

    /// ZAB sync: the learner adopts the leader's history and epoch; its vote reports the epoch.
    fn sync_from(&mut self, leader: usize, node: usize, epoch: i64) {
        let zxid = self.nodes[leader].data.zxid;
        let nd = &mut self.nodes[node];
        nd.data.accepted_epoch = nd.data.accepted_epoch.max(epoch);
        nd.data.current_epoch = epoch;
        if !nd.observer || leader == node {
            nd.data.zxid = zxid;
        }
        nd.election.update_peer_epoch(epoch);
    }

    fn commit_txn(&mut self, leader: usize, epoch: i64, members: &[Sid]) {
        let zxid = self.nodes[leader].data.zxid.max(make_zxid(epoch, 0)) + 1;
        self.nodes[leader].data.zxid = zxid;
        for &s in members {
            if let Some(j) = self.index_of(s) {
                if self.rng.chance(0.7) {
                    self.nodes[j].data.zxid = zxid;
                }
            }
        }
    }

    fn track_stability(&mut self) {
        if !self.quiet || self.now < self.outcome.quiet_ms {
            return;
        }
        let leader = self.nodes.iter().find_map(|n| match n.role {
            Role::Leading {
                established: Some(_),
                ..
            } => Some(n.sid),
            _ => None,
        });
        let stable = leader.is_some_and(|l| {
            self.nodes.iter().all(|n| match n.role {
                Role::Leading { established, .. } => n.sid == l && established.is_some(),
                Role::Following(x) => x == l && !n.observer,
                Role::Observing(x) => x == l && n.observer,
                _ => false,
            })
        });
        match (stable, self.outcome.stable_ms) {
            (true, None) => {
                self.outcome.stable_ms = Some(self.now);
                self.outcome.leader = leader;
            }
            (false, Some(_)) => {
                self.outcome.stable_ms = None;
                self.outcome.leader = None;
            }
            _ => {}
        }
    }
}

/// Formats a short summary line for a batch of outcomes.
pub fn summary(label: &str, outcomes: &[Outcome]) -> String {
    let mut s = String::new();
    let worst = outcomes
        .iter()
        .filter_map(|o| o.stable_ms.map(|t| t - o.quiet_ms))
        .max()
        .unwrap_or(0);
    let events: u64 = outcomes.iter().map(|o| o.events).sum();
    let splits: u64 = outcomes.iter().map(|o| o.split_rounds).sum();
    let _ = write!(
        s,
        "{label}: {} runs, {events} events, {splits} split rounds, worst stabilisation after faults {worst} ms",
        outcomes.len()
    );
    s
}
