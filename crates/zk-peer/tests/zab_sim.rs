#![allow(clippy::unwrap_used)]

//! Deterministic simulation of whole peers: the real election, discovery, synchronisation and
//! broadcast code of every member, over toy databases and a simulated network, on one thread
//! with a paused clock. A seeded random schedule crashes and restarts members (with their disks,
//! or with a lost disk), partitions the network, writes through whoever leads, and reconfigures
//! the voters and observers (a member left out follows on without a vote, and may be brought
//! back; one may change role). Some runs
//! have spare servers outside the first configuration: each starts, when the schedule first
//! brings it up, with the configuration then committed plus itself (as an operator starts a
//! joiner in ZooKeeper), follows without a vote, and may be reconfigured in. At the end
//! ZAB's guarantees must hold: every member applied the same history; every acknowledged write
//! is in it, once, in acknowledgement order; zxids only grow; nothing acknowledged was ever
//! truncated away.
//!
//! `ZAB_SIM_SEEDS=N` runs N seeds (default 200) from `ZAB_SIM_START` (default 0);
//! `ZAB_SIM_SEED=S` replays one and prints its
//! trace and the peers' logs (`ZAB_SIM_LOG` sets their filter, `info` by default). A failing
//! seed prints its trace too.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use support::sim::Fabric;
use support::toy::Toy;
use tokio::sync::mpsc;
use zk_peer::{EnsembleConfig, LearnerType, QuorumPeer, Replica, Role, ServerSpec, Serving, Txn};

mod support;

/// The members of a simulated ensemble of `size` voters (addresses are never dialled).
fn specs(size: u64) -> Vec<ServerSpec> {
    (1..=size)
        .map(|sid| {
            let line = format!("10.0.0.{sid}:2888:3888");
            ServerSpec::parse(&sid.to_string(), &line).unwrap()
        })
        .collect()
}

struct Member {
    toy: Arc<Toy>,
    peer: Option<QuorumPeer>,
    /// The servers of its configuration file: the first voters for those, and for a spare
    /// the configuration committed when it first started, plus itself.
    file: Option<Vec<ServerSpec>>,
}

/// A proposed write whose commit is awaited.
type Proposed = (
    i64,
    Bytes,
    futures::future::BoxFuture<'static, Result<(), zk_peer::ProposeError>>,
);

struct Run {
    fabric: Fabric,
    /// Every server's line: the first voters', then the spares'.
    specs: Vec<ServerSpec>,
    members: Vec<Member>,
    /// Writes the ensemble acknowledged, in acknowledgement order.
    acknowledged: Arc<Mutex<Vec<(i64, Bytes)>>>,
    writes: u64,
    /// The commit path of the current leader's term: (member, epoch, its queue).
    applier: Option<(usize, i64, mpsc::UnboundedSender<Proposed>)>,
}

impl Run {
    async fn start(&mut self, index: usize) {
        let sid = index as u64 + 1;
        let file = match &self.members[index].file {
            Some(file) => file.clone(),
            None => {
                let mut file = self.committed_servers();
                file.push(self.specs[index].clone());
                self.fabric.note(format!(
                    "spare {sid} joins {:?}",
                    file.iter().map(|spec| spec.sid).collect::<Vec<_>>()
                ));
                self.members[index].file = Some(file.clone());
                file
            }
        };
        let mut config = EnsembleConfig::new(sid, file, Duration::from_millis(100), 10, 5)
            .unwrap()
            .with_reconfig_enabled(true);
        let toy = self.members[index].toy.clone();
        // As the server does: the committed configuration it kept, not the file's.
        if let Some(text) = toy.stored_membership() {
            config = config.reconfigured(&text).unwrap();
        }
        let peer = QuorumPeer::start_on(self.fabric.member(sid), config, toy)
            .await
            .unwrap();
        self.members[index].peer = Some(peer);
        self.fabric.note(format!("start {sid}"));
    }

    async fn crash(&mut self, index: usize) {
        if let Some(peer) = self.members[index].peer.take() {
            peer.shutdown().await;
            self.members[index].toy.serve(Serving::Nothing);
            self.fabric.note(format!("crash {}", index + 1));
        }
    }

    /// The servers of the newest configuration any member keeps as committed (what an
    /// operator reads from `/zookeeper/config`), or the first voters'.
    fn committed_servers(&self) -> Vec<ServerSpec> {
        self.members
            .iter()
            .filter_map(|member| member.toy.stored_membership())
            .max_by_key(|text| zk_peer::membership_version(text))
            .map(|text| zk_peer::membership_servers(&text))
            .unwrap_or_else(|| {
                self.members
                    .iter()
                    .find_map(|member| member.file.clone())
                    .unwrap_or_default()
            })
    }

    fn running(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&i| self.members[i].peer.is_some())
            .collect()
    }

    fn leader(&self) -> Option<(usize, i64, zk_peer::Proposer, Arc<Toy>)> {
        self.members
            .iter()
            .enumerate()
            .find_map(|(index, member)| match member.toy.serving() {
                Some(Serving::Leader { epoch, proposer }) if member.peer.is_some() => {
                    Some((index, epoch, proposer, member.toy.clone()))
                }
                _ => None,
            })
    }

    /// The queue of the leader's commit path: one task per term awaits each proposal in zxid
    /// order, applies it to the leader's own database (as the server's commit task does) and
    /// records it as acknowledged.
    fn applier(
        &mut self,
        index: usize,
        epoch: i64,
        toy: Arc<Toy>,
    ) -> mpsc::UnboundedSender<Proposed> {
        if let Some((member, term, queue)) = &self.applier
            && *member == index
            && *term == epoch
        {
            return queue.clone();
        }
        let (queue, mut proposed) = mpsc::unbounded_channel::<Proposed>();
        let acknowledged = self.acknowledged.clone();
        tokio::spawn(async move {
            while let Some((zxid, data, committed)) = proposed.recv().await {
                if committed.await.is_err() {
                    return;
                }
                let txn = Txn {
                    zxid,
                    data: data.clone(),
                    origin: 0,
                    digest: None,
                    config: None,
                };
                if toy.apply_committed(vec![txn]).is_err() {
                    return;
                }
                acknowledged.lock().unwrap().push((zxid, data));
            }
        });
        self.applier = Some((index, epoch, queue.clone()));
        queue
    }

    /// Proposes a burst through the current leader.
    fn write_burst(&mut self, count: u64) {
        let Some((index, epoch, proposer, toy)) = self.leader() else {
            return;
        };
        let queue = self.applier(index, epoch, toy.clone());
        let first = toy.last_logged_zxid().max(epoch << 32) + 1;
        let mut proposed = 0;
        for i in 0..count {
            let zxid = first + i as i64;
            self.writes += 1;
            let data = Bytes::from(format!("w{}", self.writes));
            match proposer.propose(zxid, data.clone(), 0, None) {
                Ok(committed) => {
                    proposed += 1;
                    let _ = queue.send((zxid, data, committed));
                }
                Err(_) => break,
            }
        }
        self.fabric.note(format!(
            "member {} proposes {proposed} from 0x{first:x}",
            index + 1
        ));
    }

    /// Has the leader propose a new set of voters and observers (ZooKeeper's checks first: no
    /// reconfig in progress, and a synced quorum of the new voters).
    fn reconfigure(&mut self, voters: &[u64], observers: &[u64]) {
        let Some((index, epoch, proposer, toy)) = self.leader() else {
            return;
        };
        let zxid = toy.last_logged_zxid().max(epoch << 32) + 1;
        let members: Vec<ServerSpec> = self
            .specs
            .iter()
            .filter_map(|spec| {
                let learner_type = if voters.contains(&spec.sid) {
                    LearnerType::Participant
                } else if observers.contains(&spec.sid) {
                    LearnerType::Observer
                } else {
                    return None;
                };
                Some(ServerSpec {
                    learner_type,
                    ..spec.clone()
                })
            })
            .collect();
        let text = zk_peer::config_text(&members, zxid);
        if proposer.reconfig_in_progress() || !proposer.is_quorum_synced(text.as_bytes()) {
            self.fabric.note(format!(
                "reconfig to voters {voters:?}, observers {observers:?} refused"
            ));
            return;
        }
        let queue = self.applier(index, epoch, toy);
        self.writes += 1;
        // A write like the others (acknowledged in order), whose data the toy reads as the
        // membership.
        let data = Bytes::from(format!("reconfig:{text}\nw{}", self.writes));
        if let Ok(committed) =
            proposer.propose_reconfig(zxid, data.clone(), 0, None, Bytes::from(text))
        {
            let _ = queue.send((zxid, data, committed));
            self.fabric.note(format!(
                "member {} proposes voters {voters:?}, observers {observers:?} at 0x{zxid:x}",
                index + 1
            ));
        }
    }

    /// Whether `index`'s disk can be lost without losing an acknowledged write. ZAB (like
    /// ZooKeeper) assumes a member keeps its disk: one that comes back empty under the same id
    /// while an election is under way can be voted leader on its old data's behalf, and its
    /// empty database then overwrites the others. So only into a settled ensemble, whose every
    /// member runs, is reachable and holds every acknowledged write.
    fn may_lose_disk(&self, index: usize) -> bool {
        let acknowledged = self.acknowledged.lock().unwrap().clone();
        !self.fabric.is_partitioned()
            && self.settled()
            && self.members.iter().enumerate().all(|(other, member)| {
                other == index
                    || member.file.is_none()
                    || (member.peer.is_some()
                        && acknowledged
                            .iter()
                            .all(|txn| member.toy.state().log.contains(txn)))
            })
    }

    fn settled(&self) -> bool {
        let running = self.running();
        let leaders = running
            .iter()
            .filter(|&&i| {
                let peer = self.members[i].peer.as_ref().unwrap();
                peer.status().borrow().role == Role::Leading
            })
            .count();
        leaders == 1
            && running
                .iter()
                .all(|&i| self.members[i].toy.serving().is_some())
    }

    async fn wait_settled(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if self.settled() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

/// One seeded run; `Err` describes the broken property.
async fn simulate(seed: u64) -> (Result<(), String>, Vec<String>) {
    let fabric = Fabric::new(seed);
    let size = if fabric.random(0..3) == 0 { 5 } else { 3 };
    let spares = fabric.random(0..3);
    let total = size + spares;
    let first_voters = specs(size);
    let mut run = Run {
        fabric: fabric.clone(),
        specs: specs(total),
        members: (0..total)
            .map(|index| Member {
                toy: Toy::new(),
                peer: None,
                file: (index < size).then(|| first_voters.clone()),
            })
            .collect(),
        acknowledged: Arc::new(Mutex::new(Vec::new())),
        writes: 0,
        applier: None,
    };
    fabric.note(format!("seed {seed}: {size} voters, {spares} spares"));
    for index in 0..size as usize {
        run.start(index).await;
    }
    let quorum = size as usize / 2 + 1;
    for _ in 0..40 {
        match fabric.random(0..10) {
            0..=3 => {
                let count = fabric.random(1..40);
                run.write_burst(count);
            }
            4 => {
                // Crash someone: the leader more often than not.
                let running = run.running();
                let leader = running.iter().copied().find(|&i| {
                    matches!(run.members[i].toy.serving(), Some(Serving::Leader { .. }))
                });
                let victim = match leader {
                    Some(leader) if fabric.random(0..3) > 0 => Some(leader),
                    _ if !running.is_empty() => {
                        Some(running[fabric.random(0..running.len() as u64) as usize])
                    }
                    _ => None,
                };
                // Mostly keep a quorum; sometimes not.
                if let Some(victim) = victim
                    && (running.len() > quorum || fabric.random(0..4) == 0)
                {
                    run.crash(victim).await;
                }
            }
            5 => {
                let down: Vec<usize> = (0..total as usize)
                    .filter(|&i| run.members[i].peer.is_none())
                    .collect();
                if !down.is_empty() {
                    let index = down[fabric.random(0..down.len() as u64) as usize];
                    // Rarely, its disk is lost (see `may_lose_disk` for when that is fair).
                    if run.may_lose_disk(index) && fabric.random(0..5) == 0 {
                        run.members[index].toy = Toy::new();
                        fabric.note(format!("disk of {} lost", index + 1));
                    }
                    run.start(index).await;
                }
            }
            6 => {
                let side: BTreeSet<u64> =
                    (1..=total).filter(|_| fabric.random(0..2) == 0).collect();
                fabric.note(format!("partition {side:?}"));
                fabric.partition(side);
            }
            7 => {
                fabric.note("heal");
                fabric.heal();
            }
            8 if fabric.random(0..2) == 0 => {
                // Any two or more of the servers as the new voters; some of the others as
                // observers (a voter made one, or one made a voter, changes role).
                let (voters, observers) = loop {
                    let (mut voters, mut observers) = (Vec::new(), Vec::new());
                    for sid in 1..=total {
                        match fabric.random(0..6) {
                            0..=3 => voters.push(sid),
                            4 => observers.push(sid),
                            _ => {}
                        }
                    }
                    if voters.len() >= 2 {
                        break (voters, observers);
                    }
                };
                run.reconfigure(&voters, &observers);
            }
            _ => {
                let pause = fabric.random(10..800);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(fabric.random(1..50))).await;
    }

    // Heal everything, bring everyone back, and let the ensemble settle and converge.
    fabric.note("heal and restart everyone");
    fabric.heal();
    for index in 0..total as usize {
        if run.members[index].peer.is_none() {
            run.start(index).await;
        }
    }
    let outcome = check_final(&mut run).await;
    for index in 0..total as usize {
        run.crash(index).await;
    }
    (outcome, fabric.trace())
}

async fn check_final(run: &mut Run) -> Result<(), String> {
    if !run.wait_settled(Duration::from_secs(120)).await {
        let states: Vec<String> = run
            .members
            .iter()
            .map(|member| {
                let role = member.peer.as_ref().map(|peer| peer.status().borrow().role);
                let serving = match member.toy.serving() {
                    Some(Serving::Leader { epoch, .. }) => format!("leading epoch {epoch}"),
                    Some(Serving::Learner { .. }) => "learning".into(),
                    Some(Serving::ReadOnly) => "read-only".into(),
                    Some(Serving::Nothing) | None => "not serving".into(),
                };
                let epochs = member.toy.epochs().unwrap();
                format!(
                    "{role:?}, {serving}, epochs {}/{}, last 0x{:x}",
                    epochs.accepted,
                    epochs.current,
                    member.toy.last_logged_zxid()
                )
            })
            .collect();
        return Err(format!(
            "the ensemble did not settle within 120 s of simulated time: {states:?}"
        ));
    }
    // One more write commits through the final leader, so every member has every commit. A
    // reconfig still in flight may end that leader's term first (one that removes it): then
    // the next leader gets the write.
    let mut last_written = false;
    for _ in 0..5 {
        run.write_burst(1);
        let expected_acks = run.writes;
        let acknowledged = || {
            run.acknowledged
                .lock()
                .unwrap()
                .last()
                .is_some_and(|(_, data)| *data == format!("w{expected_acks}"))
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !acknowledged() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        last_written = acknowledged();
        if last_written || !run.wait_settled(Duration::from_secs(120)).await {
            break;
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let histories: Vec<Vec<(i64, Bytes)>> = run
            .members
            .iter()
            .map(|member| member.toy.applied())
            .collect();
        if last_written && histories.iter().all(|h| *h == histories[0]) {
            return check_history(run, &histories[0]);
        }
        if tokio::time::Instant::now() > deadline {
            let ends: Vec<String> = histories
                .iter()
                .map(|h| format!("{} txns, last 0x{:x}", h.len(), h.last().map_or(0, |t| t.0)))
                .collect();
            return Err(format!(
                "members did not converge (final write acknowledged: {last_written}): {ends:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn check_history(run: &Run, history: &[(i64, Bytes)]) -> Result<(), String> {
    if let Some(pair) = history.windows(2).find(|w| w[0].0 >= w[1].0) {
        return Err(format!(
            "zxids do not grow: 0x{:x} then 0x{:x}",
            pair[0].0, pair[1].0
        ));
    }
    let acknowledged = run.acknowledged.lock().unwrap().clone();
    let mut position = 0;
    for (zxid, data) in &acknowledged {
        match history[position..].iter().position(|txn| txn.0 == *zxid) {
            Some(offset) if history[position + offset].1 == *data => position += offset + 1,
            Some(_) => return Err(format!("acknowledged 0x{zxid:x} has other data")),
            None => {
                let around = |list: &[(i64, Bytes)]| -> Vec<String> {
                    list.iter()
                        .filter(|t| (t.0 - zxid).abs() < 4)
                        .map(|t| format!("0x{:x}={:?}", t.0, t.1))
                        .collect()
                };
                let mut detail = format!("history near it: {:?}\n", around(history));
                for (index, member) in run.members.iter().enumerate() {
                    let state = member.toy.state();
                    detail += &format!(
                        "member {}: log {:?} removed {:?}\n  events {:?}\n",
                        index + 1,
                        around(&state.log),
                        around(&state.removed),
                        state.events
                    );
                }
                return Err(format!(
                    "acknowledged 0x{zxid:x} ({data:?}) is missing or out of order\n{detail}"
                ));
            }
        }
    }
    let mut seen = BTreeSet::new();
    if let Some(duplicate) = history.iter().find(|txn| !seen.insert(&txn.1)) {
        return Err(format!("0x{:x} applied twice", duplicate.0));
    }
    for (index, member) in run.members.iter().enumerate() {
        let state = member.toy.state();
        if let Some(lost) = state.removed.iter().find(|txn| acknowledged.contains(txn)) {
            return Err(format!(
                "member {} truncated acknowledged 0x{:x}",
                index + 1,
                lost.0
            ));
        }
    }
    Ok(())
}

fn run_seed(seed: u64) -> (Result<(), String>, Vec<String>) {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(simulate(seed))
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn zab_keeps_its_guarantees_across_seeded_failures() {
    let seeds: Vec<u64> = match env_number("ZAB_SIM_SEED") {
        Some(seed) => vec![seed],
        None => {
            let start = env_number("ZAB_SIM_START").unwrap_or(0);
            (start..start + env_number("ZAB_SIM_SEEDS").unwrap_or(200)).collect()
        }
    };
    let replay = seeds.len() == 1;
    if replay {
        // The peers' own logs, in simulated order, along with the trace.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .without_time()
            .with_env_filter(std::env::var("ZAB_SIM_LOG").unwrap_or_else(|_| "info".into()))
            .try_init();
    }
    for seed in seeds {
        let (outcome, trace) = run_seed(seed);
        if replay || outcome.is_err() {
            eprintln!("--- trace of seed {seed} ---\n{}", trace.join("\n"));
        }
        if let Err(broken) = outcome {
            panic!("seed {seed}: {broken} (replay with ZAB_SIM_SEED={seed})");
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_run() {
    for seed in [3, 7, 11] {
        let (first, first_trace) = run_seed(seed);
        let (second, second_trace) = run_seed(seed);
        assert_eq!(first, second);
        assert_eq!(first_trace, second_trace, "seed {seed}");
    }
}
