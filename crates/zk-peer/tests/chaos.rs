#![allow(clippy::unwrap_used)]

//! Seeded fault injection for ZAB: whole peers in one process, over toy databases, while a
//! seeded random schedule proposes batches of writes through whoever leads, kills members
//! (SIGKILL-like: nothing they do after the kill reaches their disk), restarts them over the
//! same disk or over an empty one (disk lost), takes the quorum away and brings it back.
//! Appends become durable after a random few milliseconds, so kills find proposals logged but
//! not yet acknowledged.
//!
//! Every change to a member's applied history is journaled; at the end of each seed the
//! journals, the final histories and the acknowledged writes are checked against ZAB's
//! guarantees (see `verdict`). `ZAB_CHAOS_SEED=<n>` replays one seed; `ZAB_CHAOS_SEEDS=<n>`
//! runs seeds 1..=n (default 5); `ZAB_CHAOS_TRACE=1` prints every seed's trace. The schedule
//! of actions is fixed by the seed; how the actions interleave with the peers' own timers is
//! not, since real sockets and clocks are involved.
//!
//! One directed schedule (`early_ack`) replays a fault sequence that random schedules only
//! rarely hit: a learner's ACK counted before it wrote the new currentEpoch.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use zk_peer::{
    EnsembleConfig, Epochs, QuorumPeer, Replica, ReplicaError, Role, ServerSpec, Serving, Sid,
};
use zk_proto::peer::{ForwardedRequest, SessionTouch};

use support::ensemble;
use support::toy::Toy;

/// A transaction as logs and histories hold it: zxid and data.
type Entry = (i64, Bytes);

/// The support module's tick; every wait below is a bounded multiple of it.
const TICK: Duration = Duration::from_millis(100);
/// Time for an ensemble with a quorum up to elect a leader and have every member serve.
const SETTLE_LIMIT: Duration = Duration::from_secs(15);
/// Time for a quiet ensemble to apply the same history everywhere.
const CONVERGE_LIMIT: Duration = Duration::from_secs(10);
/// A proposal neither committed nor failed after this long is a liveness failure.
const COMMIT_LIMIT: Duration = Duration::from_secs(8);
/// Chaos actions per seed (the final restart, settle and checks come on top).
const STEPS: usize = 24;
/// The slowest simulated fsync.
const FSYNC_MAX_MICROS: u64 = 4_000;
/// Seeds run by a plain `cargo test`.
const DEFAULT_SEEDS: u64 = 5;

// ---------------------------------------------------------------------------------------------
// The journal: what happened to one member's applied history, across its incarnations.
// ---------------------------------------------------------------------------------------------

/// One change to a member's database or client-facing state.
#[derive(Debug, Clone)]
enum Event {
    /// Transactions appended to the applied history (`by`: catch-up, commit, leader-commit).
    Applied {
        incarnation: u32,
        by: &'static str,
        txns: Vec<Entry>,
    },
    /// TRUNC: everything after `to` left the applied history; `log_removed` left the log.
    Truncated { to: i64, log_removed: Vec<Entry> },
    /// SNAP: the applied history replaced; `log_removed` left the log.
    Snapshot {
        after: Vec<Entry>,
        log_removed: Vec<Entry>,
    },
    /// The member started (`true`) or stopped serving clients.
    Serving { incarnation: u32, on: bool },
    /// The process died: it serves nothing and writes nothing from now on.
    Killed { incarnation: u32 },
    /// The member's disk was replaced by an empty one.
    DiskLost,
    /// Power failed: appends not yet durable left the log (and the database).
    PowerLoss { lost: Vec<Entry> },
}

type Journal = Arc<Mutex<Vec<Event>>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------------------------
// A process: one run of a member over its disk (a toy), journaling every change.
// ---------------------------------------------------------------------------------------------

/// One incarnation of a member. The disk outlives it; its serving state does not. Once killed,
/// every change it attempts fails, like writes of a process that no longer exists.
#[derive(Debug)]
struct Process {
    sid: Sid,
    incarnation: u32,
    disk: Arc<Toy>,
    /// The disk's `updatingEpoch` mark (see `Ensemble::recover_epochs`).
    updating_epoch: Arc<AtomicBool>,
    ledger: Arc<Ledger>,
    /// Also the lock that orders every change against `kill`.
    journal: Journal,
    alive: Arc<AtomicBool>,
    serving: Mutex<Option<Serving>>,
    /// When each append becomes durable.
    fsync: Mutex<Fsync>,
    /// While set, writing currentEpoch waits (a stalled epoch-file fsync).
    epoch_writes_held: AtomicBool,
    /// While set, the disk hangs: appends never reach it nor become durable, and applying
    /// fails (the database cannot apply what it could not log).
    disk_stalled: AtomicBool,
}

impl Process {
    fn new(sid: Sid, member: &Member, ledger: Arc<Ledger>, fsync_seed: u64) -> Process {
        Process {
            sid,
            incarnation: member.incarnations,
            disk: member.disk.clone(),
            updating_epoch: member.updating_epoch.clone(),
            journal: member.journal.clone(),
            ledger,
            alive: Arc::new(AtomicBool::new(true)),
            serving: Mutex::new(None),
            fsync: Mutex::new(Fsync {
                latency: StdRng::seed_from_u64(fsync_seed),
                last: Instant::now(),
                unsynced: Vec::new(),
            }),
            epoch_writes_held: AtomicBool::new(false),
            disk_stalled: AtomicBool::new(false),
        }
    }

    /// Runs a change of the disk, unless the process is dead.
    fn change<T>(
        &self,
        change: impl FnOnce(&Toy, &mut Vec<Event>) -> Result<T, ReplicaError>,
    ) -> Result<T, ReplicaError> {
        let mut journal = lock(&self.journal);
        if !self.alive.load(Ordering::SeqCst) {
            return Err("the process was killed".into());
        }
        change(&self.disk, &mut journal)
    }

    /// Runs a change that may only append to the applied history; journals what it appended.
    fn extend(
        &self,
        by: &'static str,
        extend: impl FnOnce(&Toy) -> Result<(), ReplicaError>,
    ) -> Result<(), ReplicaError> {
        let incarnation = self.incarnation;
        self.change(|disk, journal| {
            let before = disk.state().applied.len();
            let result = extend(disk);
            let txns = disk.state().applied[before..].to_vec();
            if !txns.is_empty() {
                journal.push(Event::Applied {
                    incarnation,
                    by,
                    txns,
                });
            }
            result
        })
    }

    /// SIGKILL; with `power_loss`, the appends not yet durable are lost too.
    fn kill(&self, power_loss: bool) {
        let mut journal = lock(&self.journal);
        self.alive.store(false, Ordering::SeqCst);
        *lock(&self.serving) = None;
        journal.push(Event::Killed {
            incarnation: self.incarnation,
        });
        if power_loss {
            let volatile = lock(&self.fsync).volatile();
            let lost: Vec<Entry> = {
                let mut state = self.disk.state();
                let lost = state
                    .log
                    .iter()
                    .filter(|(zxid, _)| volatile.contains(zxid))
                    .cloned()
                    .collect();
                state.log.retain(|(zxid, _)| !volatile.contains(zxid));
                state.applied.retain(|(zxid, _)| !volatile.contains(zxid));
                lost
            };
            if !lost.is_empty() {
                self.ledger.removed(self.sid, "power loss", &lost);
                journal.push(Event::PowerLoss { lost });
            }
        }
    }

    fn serving(&self) -> Option<Serving> {
        lock(&self.serving).clone()
    }

    /// The leader's commit path: applies a committed transaction unless the database already
    /// has it (a new role's catch-up or sync got there first) or the process is dead.
    fn apply_leader_commit(&self, txn: Entry) {
        let _ = self.extend("leader-commit", |disk| {
            let (zxid, data) = txn;
            if zxid > disk.last_applied() {
                disk.apply_committed(vec![zk_peer::Txn {
                    zxid,
                    data,
                    origin: 0,
                    digest: None,
                    config: None,
                }])?;
            }
            Ok(())
        });
    }
}

/// A disk's fsync: appends become durable in order, each a random few milliseconds after it was
/// written (or after the one before it).
#[derive(Debug)]
struct Fsync {
    latency: StdRng,
    /// When the newest append becomes durable.
    last: Instant,
    /// Appends and when each becomes durable; those in the past are durable.
    unsynced: Vec<(i64, Instant)>,
}

impl Fsync {
    /// Schedules the durability of `zxid`.
    fn schedule(&mut self, zxid: i64) -> Instant {
        let now = Instant::now();
        let latency = Duration::from_micros(self.latency.random_range(0..=FSYNC_MAX_MICROS));
        self.last = self.last.max(now + latency);
        self.unsynced.retain(|(_, at)| *at > now);
        self.unsynced.push((zxid, self.last));
        self.last
    }

    /// The appends that are not durable yet.
    fn volatile(&self) -> HashSet<i64> {
        let now = Instant::now();
        self.unsynced
            .iter()
            .filter(|(_, at)| *at > now)
            .map(|(zxid, _)| *zxid)
            .collect()
    }
}

/// The entries of `before` that `after` no longer holds.
fn removed(before: &[Entry], after: &[Entry]) -> Vec<Entry> {
    let kept: HashSet<&Entry> = after.iter().collect();
    before
        .iter()
        .filter(|txn| !kept.contains(txn))
        .cloned()
        .collect()
}

impl Replica for Process {
    fn last_logged_zxid(&self) -> i64 {
        self.disk.last_logged_zxid()
    }

    fn append(
        &self,
        zxid: i64,
        txn: Bytes,
    ) -> Result<BoxFuture<'static, Result<(), ReplicaError>>, ReplicaError> {
        if self.disk_stalled.load(Ordering::SeqCst) {
            return Ok(Box::pin(futures::future::pending()));
        }
        let written = self.change(|disk, _| disk.append(zxid, txn))?;
        // Durable a few milliseconds later, so that kills find proposals logged but not yet
        // acknowledged; a process killed meanwhile never reports it durable.
        let durable_at = lock(&self.fsync).schedule(zxid);
        let alive = self.alive.clone();
        Ok(Box::pin(async move {
            written.await?;
            tokio::time::sleep_until(durable_at).await;
            if alive.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err("the process was killed before the write was durable".into())
            }
        }))
    }

    fn logged_after(&self, after: i64, up_to: i64) -> Result<Option<Vec<Entry>>, ReplicaError> {
        self.disk.logged_after(after, up_to)
    }

    fn logged_before(&self, zxid: i64) -> Result<Option<i64>, ReplicaError> {
        self.disk.logged_before(zxid)
    }

    fn truncate(&self, zxid: i64) -> Result<(), ReplicaError> {
        self.change(|disk, journal| {
            let log_before = disk.state().log.clone();
            disk.truncate(zxid)?;
            let log_removed = removed(&log_before, &disk.state().log);
            self.ledger
                .removed(self.sid, &format!("TRUNC to 0x{zxid:x}"), &log_removed);
            journal.push(Event::Truncated {
                to: zxid,
                log_removed,
            });
            Ok(())
        })
    }

    fn epochs(&self) -> Result<Epochs, ReplicaError> {
        self.disk.epochs()
    }

    fn set_accepted_epoch(&self, epoch: i64) -> Result<(), ReplicaError> {
        self.change(|disk, _| disk.set_accepted_epoch(epoch))
    }

    fn set_current_epoch(&self, epoch: i64) -> Result<(), ReplicaError> {
        // Waits outside the journal lock, so that a kill ends the wait.
        while self.epoch_writes_held.load(Ordering::SeqCst) && self.alive.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(2));
        }
        self.change(|disk, _| {
            disk.set_current_epoch(epoch)?;
            self.updating_epoch.store(false, Ordering::SeqCst);
            Ok(())
        })
    }

    fn begin_epoch_update(&self) -> Result<(), ReplicaError> {
        self.change(|disk, _| {
            disk.begin_epoch_update()?;
            self.updating_epoch.store(true, Ordering::SeqCst);
            Ok(())
        })
    }

    fn last_applied(&self) -> i64 {
        self.disk.last_applied()
    }

    fn catch_up(&self) -> Result<(), ReplicaError> {
        self.extend("catch-up", |disk| disk.catch_up())
    }

    fn apply_committed(&self, txns: Vec<zk_peer::Txn>) -> Result<(), ReplicaError> {
        if self.disk_stalled.load(Ordering::SeqCst) {
            return Err("the disk is stalled".into());
        }
        self.extend("commit", |disk| disk.apply_committed(txns))
    }

    fn write_snapshot(&self, out: &mut dyn Write) -> Result<i64, ReplicaError> {
        self.disk.write_snapshot(out)
    }

    fn install_snapshot(&self, input: &mut dyn Read) -> Result<i64, ReplicaError> {
        // The stream is read before the journal lock is taken: a kill must not wait for it.
        let mut body = Vec::new();
        input.read_to_end(&mut body)?;
        self.change(|disk, journal| {
            let log_before = disk.state().log.clone();
            let zxid = disk.install_snapshot(&mut body.as_slice())?;
            let (after, log_removed) = {
                let state = disk.state();
                (state.applied.clone(), removed(&log_before, &state.log))
            };
            self.ledger.removed(self.sid, "SNAP", &log_removed);
            journal.push(Event::Snapshot { after, log_removed });
            Ok(zxid)
        })
    }

    fn serve(&self, serving: Serving) {
        let mut journal = lock(&self.journal);
        if !self.alive.load(Ordering::SeqCst) {
            return;
        }
        let on = !matches!(serving, Serving::Nothing);
        *lock(&self.serving) = on.then_some(serving);
        journal.push(Event::Serving {
            incarnation: self.incarnation,
            on,
        });
    }

    fn submit_forwarded(&self, from: Sid, request: ForwardedRequest) -> BoxFuture<'static, ()> {
        self.disk.submit_forwarded(from, request)
    }

    fn take_session_touches(&self) -> Vec<SessionTouch> {
        Vec::new()
    }

    fn touch_sessions(&self, _touches: &[SessionTouch]) {}

    fn sync_done(&self) {
        self.disk.sync_done();
    }

    fn revalidate(&self, from: Sid, session_id: i64, timeout_ms: i32) -> bool {
        self.disk.revalidate(from, session_id, timeout_ms)
    }

    fn revalidated(&self, session_id: i64, valid: bool) {
        self.disk.revalidated(session_id, valid);
    }
}

// ---------------------------------------------------------------------------------------------
// The verdict: ZAB's guarantees over final histories, acknowledged writes and journals. Pure.
// ---------------------------------------------------------------------------------------------

mod verdict {
    use super::*;

    pub fn hex(txn: &Entry) -> String {
        format!("0x{:x} {:?}", txn.0, String::from_utf8_lossy(&txn.1))
    }

    /// Whether a log (in zxid order) holds `txn`.
    pub fn logged(log: &[Entry], txn: &Entry) -> bool {
        log.binary_search_by_key(&txn.0, |(zxid, _)| *zxid)
            .is_ok_and(|at| log[at] == *txn)
    }

    /// Zxids strictly increase and no transaction appears twice.
    pub fn increasing(who: &str, history: &[Entry]) -> Vec<String> {
        let mut violations = Vec::new();
        for pair in history.windows(2) {
            if pair[0].0 >= pair[1].0 {
                violations.push(format!(
                    "{who}: zxids do not increase: {} then {}",
                    hex(&pair[0]),
                    hex(&pair[1])
                ));
            }
        }
        let mut seen = HashSet::new();
        for txn in history {
            if !seen.insert(&txn.1) {
                violations.push(format!("{who}: {} applied twice", hex(txn)));
            }
        }
        violations
    }

    /// Every acknowledged write is in `history` exactly once, at its zxid, in the order the
    /// writes were acknowledged.
    pub fn holds_acknowledged(who: &str, history: &[Entry], acked: &[Entry]) -> Vec<String> {
        let mut violations = Vec::new();
        let mut positions: HashMap<&Bytes, Vec<usize>> = HashMap::new();
        for (at, (_, data)) in history.iter().enumerate() {
            positions.entry(data).or_default().push(at);
        }
        let mut previous: Option<usize> = None;
        for txn in acked {
            match positions.get(&txn.1).map(Vec::as_slice) {
                None | Some([]) => {
                    violations.push(format!("{who}: acknowledged {} is missing", hex(txn)));
                }
                Some([at]) => {
                    if history[*at] != *txn {
                        violations.push(format!(
                            "{who}: acknowledged {} sits at another zxid: {}",
                            hex(txn),
                            hex(&history[*at])
                        ));
                    }
                    if previous.is_some_and(|previous| previous > *at) {
                        violations.push(format!(
                            "{who}: acknowledged {} comes before an earlier acknowledged write",
                            hex(txn)
                        ));
                    }
                    previous = Some(*at);
                }
                Some(many) => violations.push(format!(
                    "{who}: acknowledged {} appears {} times",
                    hex(txn),
                    many.len()
                )),
            }
        }
        violations
    }

    /// What the journals saw happen, summed over members.
    #[derive(Debug, Default)]
    pub struct Tally {
        pub truncs: usize,
        pub snaps: usize,
        /// Transactions TRUNC or SNAP removed from a log, never acknowledged.
        pub dropped: usize,
        /// Transactions TRUNC or SNAP removed from a log that were acknowledged (before or
        /// after): outstanding proposals cut by TRUNC, then sent again to the learner.
        pub resent: usize,
        /// Appends lost to power failures before they were durable.
        pub power_lost: usize,
    }

    impl Tally {
        pub fn add(&mut self, events: &[Event], acked: &HashSet<Entry>) {
            for event in events {
                let log_removed = match event {
                    Event::Truncated { log_removed, .. } => {
                        self.truncs += 1;
                        log_removed
                    }
                    Event::Snapshot { log_removed, .. } => {
                        self.snaps += 1;
                        log_removed
                    }
                    Event::PowerLoss { lost } => {
                        self.power_lost += lost.len();
                        continue;
                    }
                    _ => continue,
                };
                let resent = log_removed
                    .iter()
                    .filter(|txn| acked.contains(*txn))
                    .count();
                self.resent += resent;
                self.dropped += log_removed.len() - resent;
            }
        }
    }

    /// Replays one member's journal against the final history:
    /// - its applied history only ever grows, in zxid order, except by TRUNC, SNAP or disk loss
    ///   (whether those keep acknowledged writes on a quorum is the ledger's live check);
    /// - whenever it serves clients, everything it applied is a prefix of the final history
    ///   (no client ever sees a transaction that the ensemble later drops);
    /// - the replay ends where the member's database ends (the journal missed nothing).
    pub fn journal(
        who: &str,
        events: &[Event],
        history: &[Entry],
        ends_with: &[Entry],
    ) -> Vec<String> {
        let mut violations = Vec::new();
        let mut applied: Vec<Entry> = Vec::new();
        // How many leading entries of `applied` agree with `history`.
        let mut agreed = 0;
        // The incarnation serving clients, if any.
        let mut serving: Option<u32> = None;
        let mut reported_serving = false;
        let mut grown = Vec::new();
        for (index, event) in events.iter().enumerate() {
            match event {
                Event::Applied {
                    incarnation,
                    by,
                    txns,
                } => {
                    for txn in txns {
                        if let Some(last) = applied.last()
                            && last.0 >= txn.0
                        {
                            grown.push(format!(
                                "{who} (incarnation {incarnation}, {by}): applied {} after {}",
                                hex(txn),
                                hex(last)
                            ));
                        }
                        if agreed == applied.len() && history.get(agreed) == Some(txn) {
                            agreed += 1;
                        }
                        applied.push(txn.clone());
                    }
                }
                Event::Truncated { to, .. } => {
                    applied.retain(|txn| txn.0 <= *to);
                    agreed = agreed.min(applied.len());
                }
                Event::Snapshot { after, .. } => {
                    applied = after.clone();
                    agreed = applied
                        .iter()
                        .zip(history)
                        .take_while(|(ours, theirs)| ours == theirs)
                        .count();
                }
                Event::Serving { incarnation, on } => serving = on.then_some(*incarnation),
                Event::Killed { incarnation } => {
                    if serving == Some(*incarnation) {
                        serving = None;
                    }
                }
                Event::DiskLost => {
                    applied.clear();
                    agreed = 0;
                }
                Event::PowerLoss { lost } => {
                    applied.retain(|txn| !lost.contains(txn));
                    agreed = agreed.min(applied.len());
                }
            }
            if let Some(incarnation) = serving
                && agreed < applied.len()
                && !reported_serving
            {
                reported_serving = true;
                violations.push(format!(
                    "{who} (incarnation {incarnation}): served {} (event #{index}), which is not in the final history at that place",
                    hex(&applied[agreed])
                ));
            }
        }
        violations.extend(grown);
        if applied != ends_with {
            violations.push(format!(
                "{who}: the journal replays to {} txns but the database holds {} (harness bug)",
                applied.len(),
                ends_with.len()
            ));
        }
        violations
    }
}

// ---------------------------------------------------------------------------------------------
// The ledger: shared facts, and the live durability check.
// ---------------------------------------------------------------------------------------------

/// What every process, the writer and the driver share: each member's disk, the acknowledged
/// writes, the trace and the violations. It checks ZAB's durability promise as things happen:
/// from the moment a write is acknowledged, it is on the logs of a quorum of members.
#[derive(Debug)]
struct Ledger {
    started: Instant,
    quorum: usize,
    disks: Mutex<BTreeMap<Sid, Arc<Toy>>>,
    /// Writes whose commit resolved Ok, in the order they did.
    acked: Mutex<Vec<Entry>>,
    acked_set: Mutex<HashSet<Entry>>,
    trace: Mutex<Vec<String>>,
    /// Liveness or safety failures seen along the way.
    violations: Mutex<Vec<String>>,
}

impl Ledger {
    fn new(quorum: usize) -> Ledger {
        Ledger {
            started: Instant::now(),
            quorum,
            disks: Mutex::default(),
            acked: Mutex::default(),
            acked_set: Mutex::default(),
            trace: Mutex::default(),
            violations: Mutex::default(),
        }
    }

    fn note(&self, line: impl fmt::Display) {
        let at = self.started.elapsed().as_millis();
        lock(&self.trace).push(format!("{at:>6} ms  {line}"));
    }

    fn violation(&self, text: impl Into<String>) {
        let text = text.into();
        self.note(format!("VIOLATION: {text}"));
        lock(&self.violations).push(text);
    }

    fn acknowledge(&self, txn: Entry) {
        lock(&self.acked).push(txn.clone());
        lock(&self.acked_set).insert(txn.clone());
        self.check_on_quorum(&txn, "when acknowledged");
    }

    /// A TRUNC, a SNAP or a power loss took `txns` out of member `sid`'s log.
    fn removed(&self, sid: Sid, what: &str, txns: &[Entry]) {
        let acked: Vec<Entry> = {
            let acked = lock(&self.acked_set);
            txns.iter()
                .filter(|txn| acked.contains(*txn))
                .cloned()
                .collect()
        };
        for txn in &acked {
            self.note(format!(
                "  s{sid}'s {what} removed the acknowledged {}",
                verdict::hex(txn)
            ));
            self.check_on_quorum(txn, &format!("after s{sid}'s {what}"));
        }
    }

    fn check_on_quorum(&self, txn: &Entry, when: &str) {
        let disks: Vec<(Sid, Arc<Toy>)> = lock(&self.disks)
            .iter()
            .map(|(sid, disk)| (*sid, disk.clone()))
            .collect();
        let holders: Vec<Sid> = disks
            .iter()
            .filter(|(_, disk)| verdict::logged(&disk.state().log, txn))
            .map(|(sid, _)| *sid)
            .collect();
        if holders.len() < self.quorum {
            self.violation(format!(
                "acknowledged {} is on the logs of {holders:?} only, {when}",
                verdict::hex(txn)
            ));
        }
    }
}

/// What the driver and the writer share.
#[derive(Debug)]
struct Shared {
    /// The running process of each member.
    processes: Mutex<BTreeMap<Sid, Arc<Process>>>,
    ledger: Arc<Ledger>,
}

impl Shared {
    fn note(&self, line: impl fmt::Display) {
        self.ledger.note(line);
    }

    fn violation(&self, text: impl Into<String>) {
        self.ledger.violation(text);
    }

    /// The process serving as leader of the newest epoch, if any.
    fn leader(&self) -> Option<(Sid, Arc<Process>, i64, zk_peer::Proposer)> {
        lock(&self.processes)
            .iter()
            .filter_map(|(sid, process)| match process.serving() {
                Some(Serving::Leader { epoch, proposer }) => {
                    Some((*sid, process.clone(), epoch, proposer))
                }
                _ => None,
            })
            .max_by_key(|(_, _, epoch, _)| *epoch)
    }
}

// ---------------------------------------------------------------------------------------------
// The writer: proposes batches through whoever leads, one batch at a time.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct Batch {
    id: u64,
    size: usize,
    /// Proposals made back to back before the writer pauses (so kills land mid-batch).
    burst: usize,
}

async fn writer(
    shared: Arc<Shared>,
    mut batches: mpsc::UnboundedReceiver<Batch>,
    done: watch::Sender<u64>,
) {
    while let Some(batch) = batches.recv().await {
        write_batch(&shared, batch).await;
        done.send_replace(batch.id);
    }
}

async fn write_batch(shared: &Shared, batch: Batch) {
    let deadline = Instant::now() + 20 * TICK;
    let (sid, process, epoch, proposer) = loop {
        if let Some(leader) = shared.leader() {
            break leader;
        }
        if Instant::now() > deadline {
            shared.note(format!("batch {}: no leader to write to", batch.id));
            return;
        }
        tokio::time::sleep(TICK / 5).await;
    };
    let first = process.last_logged_zxid().max(epoch << 32) + 1;
    let mut pending = Vec::new();
    let mut refused = None;
    for i in 0..batch.size {
        let txn: Entry = (first + i as i64, Bytes::from(format!("b{}.{i}", batch.id)));
        match proposer.propose(txn.0, txn.1.clone(), 0, None) {
            Ok(committed) => pending.push((txn, committed)),
            Err(error) => {
                refused = Some(error);
                break;
            }
        }
        if (i + 1) % batch.burst == 0 {
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    }
    let proposed = pending.len();
    let (mut acked, mut failed, mut hung) = (0, 0, 0);
    let deadline = Instant::now() + COMMIT_LIMIT;
    for (txn, committed) in pending {
        match tokio::time::timeout_at(deadline, committed).await {
            Ok(Ok(())) => {
                acked += 1;
                shared.ledger.acknowledge(txn.clone());
                process.apply_leader_commit(txn);
            }
            Ok(Err(_)) => failed += 1,
            Err(_) => hung += 1,
        }
    }
    shared.note(format!(
        "batch {}: leader s{sid} epoch {epoch}, zxids 0x{first:x}.., proposed {proposed}/{}{}, acked {acked}, failed {failed}",
        batch.id,
        batch.size,
        refused.map(|e| format!(" (then: {e})")).unwrap_or_default(),
    ));
    if hung > 0 {
        shared.violation(format!(
            "batch {}: {hung} proposals of leader s{sid} neither committed nor failed within {COMMIT_LIMIT:?}",
            batch.id
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// The ensemble: members, their disks, journals and running peers.
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Member {
    disk: Arc<Toy>,
    /// The disk's `updatingEpoch` mark: set when a learner starts adopting a new epoch's
    /// history, cleared when currentEpoch is written.
    updating_epoch: Arc<AtomicBool>,
    journal: Journal,
    incarnations: u32,
    peer: Option<QuorumPeer>,
}

#[derive(Debug)]
struct Ensemble {
    seed: u64,
    /// Members whose next process starts with its currentEpoch writes stalled.
    hold_epoch_writes: HashSet<Sid>,
    specs: Vec<ServerSpec>,
    members: BTreeMap<Sid, Member>,
    shared: Arc<Shared>,
}

impl Ensemble {
    fn new(seed: u64, voters: u64, shared: Arc<Shared>) -> Ensemble {
        let members = (1..=voters)
            .map(|sid| {
                let member = Member {
                    disk: Toy::new(),
                    updating_epoch: Arc::default(),
                    journal: Journal::default(),
                    incarnations: 0,
                    peer: None,
                };
                (sid, member)
            })
            .collect();
        Ensemble {
            seed,
            hold_epoch_writes: HashSet::new(),
            specs: ensemble(voters, 0),
            members,
            shared,
        }
    }

    fn quorum(&self) -> usize {
        self.shared.ledger.quorum
    }

    fn running(&self) -> Vec<Sid> {
        self.members
            .iter()
            .filter(|(_, m)| m.peer.is_some())
            .map(|(sid, _)| *sid)
            .collect()
    }

    fn down(&self) -> Vec<Sid> {
        self.members
            .iter()
            .filter(|(_, m)| m.peer.is_none())
            .map(|(sid, _)| *sid)
            .collect()
    }

    /// Starts member `sid` over its disk (a fresh empty one when `lose_disk`).
    async fn start(&mut self, sid: Sid, lose_disk: bool) -> Result<(), String> {
        let specs = self.specs.clone();
        let member = self.members.get_mut(&sid).ok_or("no such member")?;
        if lose_disk {
            member.disk = Toy::new();
            member.updating_epoch = Arc::default();
            lock(&member.journal).push(Event::DiskLost);
        }
        member.incarnations += 1;
        recover_epochs(sid, member, &self.shared.ledger)?;
        lock(&self.shared.ledger.disks).insert(sid, member.disk.clone());
        let process = Arc::new(Process::new(
            sid,
            member,
            self.shared.ledger.clone(),
            self.seed ^ (sid << 32) ^ u64::from(member.incarnations),
        ));
        if self.hold_epoch_writes.contains(&sid) {
            process.epoch_writes_held.store(true, Ordering::SeqCst);
        }
        // The previous incarnation's ports may take a moment to be released.
        let mut attempts = 0;
        let peer = loop {
            let config =
                EnsembleConfig::new(sid, specs.clone(), TICK, 10, 5).map_err(|e| e.to_string())?;
            match QuorumPeer::start(config, process.clone()).await {
                Ok(peer) => break peer,
                Err(_) if attempts < 40 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => return Err(format!("s{sid} cannot start: {error}")),
            }
        };
        member.peer = Some(peer);
        lock(&self.shared.processes).insert(sid, process);
        Ok(())
    }

    /// SIGKILL: the process stops writing at once, then its tasks and sockets go away.
    async fn kill(&mut self, sid: Sid) {
        self.kill_with(sid, false).await;
    }

    /// Kills `sid`; with `power_loss` its appends not yet durable are lost as well.
    async fn kill_with(&mut self, sid: Sid, power_loss: bool) {
        let process = lock(&self.shared.processes).remove(&sid);
        if let Some(process) = process {
            process.kill(power_loss);
        }
        if let Some(peer) = self.members.get_mut(&sid).and_then(|m| m.peer.take()) {
            peer.shutdown().await;
        }
    }

    fn status(&self, sid: Sid) -> Option<zk_peer::PeerStatus> {
        let peer = self.members.get(&sid)?.peer.as_ref()?;
        Some(*peer.status().borrow())
    }

    fn process(&self, sid: Sid) -> Option<Arc<Process>> {
        lock(&self.shared.processes).get(&sid).cloned()
    }

    /// The leader every running member follows, once each of them serves clients.
    fn settled_leader(&self) -> Option<Sid> {
        let running = self.running();
        let leaders: Vec<Sid> = running
            .iter()
            .copied()
            .filter(|sid| self.status(*sid).is_some_and(|s| s.role == Role::Leading))
            .collect();
        let [leader] = leaders[..] else {
            return None;
        };
        let all_follow = running
            .iter()
            .all(|sid| self.status(*sid).is_some_and(|s| s.leader == Some(leader)));
        let all_serve = running
            .iter()
            .all(|sid| self.process(*sid).is_some_and(|p| p.serving().is_some()));
        let leads = matches!(
            self.process(leader).and_then(|p| p.serving()),
            Some(Serving::Leader { .. })
        );
        (all_follow && all_serve && leads).then_some(leader)
    }

    /// Waits for one leader with every running member serving under it.
    async fn settle(&self) -> Result<Sid, String> {
        let deadline = Instant::now() + SETTLE_LIMIT;
        loop {
            if let Some(leader) = self.settled_leader() {
                return Ok(leader);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no settled leader within {SETTLE_LIMIT:?} with {:?} running",
                    self.running()
                ));
            }
            tokio::time::sleep(TICK / 5).await;
        }
    }

    /// Waits until every running member applied what the leader applied.
    async fn converge(&self, leader: Sid) -> Result<Vec<Entry>, String> {
        let deadline = Instant::now() + CONVERGE_LIMIT;
        let leader_disk = self.members[&leader].disk.clone();
        loop {
            let expected = leader_disk.applied();
            let lagging: Vec<Sid> = self
                .running()
                .into_iter()
                .filter(|sid| self.members[sid].disk.applied() != expected)
                .collect();
            if lagging.is_empty() {
                return Ok(expected);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "members {lagging:?} did not converge on leader s{leader}'s history within {CONVERGE_LIMIT:?}"
                ));
            }
            tokio::time::sleep(TICK / 5).await;
        }
    }

    /// One line per member: role, history and epochs.
    fn describe(&self) -> String {
        let mut lines = Vec::new();
        for (sid, member) in &self.members {
            let state = member.disk.state();
            let last = |list: &[Entry]| list.last().map_or(0, |t| t.0);
            let role = match self.status(*sid) {
                None => "down".to_owned(),
                Some(status) => format!("{:?} (leader {:?})", status.role, status.leader),
            };
            lines.push(format!(
                "  s{sid}: {role}, incarnation {}, applied {} (last 0x{:x}), log {} (last 0x{:x}), epochs {:?}",
                member.incarnations,
                state.applied.len(),
                last(&state.applied),
                state.log.len(),
                last(&state.log),
                state.epochs,
            ));
        }
        lines.join("\n")
    }

    async fn shutdown(&mut self) {
        for sid in self.running() {
            self.kill(sid).await;
        }
    }
}

/// The server's start-up checks of the epoch files (quorum spec §1.5, and the `updatingEpoch`
/// mark): a leftover mark adopts the epoch of the last logged zxid; after that, a currentEpoch
/// older than the log would make the real server refuse to start, a violation.
fn recover_epochs(sid: Sid, member: &Member, ledger: &Ledger) -> Result<(), String> {
    let disk = &member.disk;
    let last_epoch = disk.last_logged_zxid() >> 32;
    let epochs = disk.epochs().map_err(|e| e.to_string())?;
    if member.updating_epoch.swap(false, Ordering::SeqCst) && last_epoch > epochs.current {
        ledger.note(format!(
            "  s{sid} finds its updatingEpoch mark: currentEpoch {} -> {last_epoch}",
            epochs.current
        ));
        disk.set_current_epoch(last_epoch)
            .map_err(|e| e.to_string())?;
    }
    let epochs = disk.epochs().map_err(|e| e.to_string())?;
    if last_epoch > epochs.current {
        ledger.violation(format!(
            "s{sid} would refuse to start: currentEpoch {} is older than its last zxid 0x{:x}",
            epochs.current,
            disk.last_logged_zxid()
        ));
    }
    if epochs.accepted < epochs.current {
        ledger.violation(format!(
            "s{sid} would refuse to start: acceptedEpoch {} < currentEpoch {}",
            epochs.accepted, epochs.current
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The schedule: actions drawn from the seed.
// ---------------------------------------------------------------------------------------------

/// A member to kill, and how.
#[derive(Debug, Clone, Copy)]
struct Kill {
    sid: Sid,
    leader: bool,
    power_loss: bool,
}

impl fmt::Display for Kill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.sid)?;
        match (self.leader, self.power_loss) {
            (true, true) => write!(f, " (the leader, power loss)"),
            (true, false) => write!(f, " (the leader)"),
            (false, true) => write!(f, " (power loss)"),
            (false, false) => Ok(()),
        }
    }
}

#[derive(Debug, Clone)]
enum Action {
    Write {
        size: usize,
        burst: usize,
    },
    /// Kills while a fresh batch of writes is in flight.
    Kill(Kill),
    Restart {
        sid: Sid,
    },
    LoseDisk {
        sid: Sid,
    },
    /// Kills `victims`, while a fresh batch of writes is in flight, so that no quorum runs.
    /// With `swap`, the survivors die too and come back only after the victims re-formed a
    /// quorum without them (their tails get cut).
    Outage {
        victims: Vec<Kill>,
        for_ms: u64,
        swap: bool,
    },
    Settle,
    Pause {
        ms: u64,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Write { size, burst } => {
                write!(f, "write {size} (bursts of {burst})")
            }
            Action::Kill(kill) => write!(f, "kill {kill}"),
            Action::Restart { sid } => write!(f, "restart s{sid} over its disk"),
            Action::LoseDisk { sid } => write!(f, "s{sid} loses its disk and restarts empty"),
            Action::Outage {
                victims,
                for_ms,
                swap,
            } => {
                let victims: Vec<String> = victims.iter().map(Kill::to_string).collect();
                let victims = victims.join(", ");
                write!(f, "quorum outage: kill {victims} for {for_ms} ms")?;
                if *swap {
                    write!(f, ", then swap them with the survivors")?;
                }
                Ok(())
            }
            Action::Settle => write!(f, "settle and check"),
            Action::Pause { ms } => write!(f, "pause {ms} ms"),
        }
    }
}

/// What the schedule may look at: which members run and who leads, as of now.
struct View {
    running: Vec<Sid>,
    down: Vec<Sid>,
    leader: Option<Sid>,
    quorum: usize,
}

fn pick(rng: &mut StdRng, from: &[Sid]) -> Sid {
    from[rng.random_range(0..from.len())]
}

/// How often a kill is a power failure rather than a SIGKILL.
const POWER_LOSS: f64 = 0.35;

fn kill(rng: &mut StdRng, view: &View, sid: Sid) -> Kill {
    Kill {
        sid,
        leader: view.leader == Some(sid),
        power_loss: rng.random_bool(POWER_LOSS),
    }
}

/// Draws the next action. Kills keep a quorum running; only `Outage` takes it away.
fn next_action(rng: &mut StdRng, view: &View) -> Action {
    let can_kill = view.running.len() > view.quorum;
    let roll = rng.random_range(0..100);
    match roll {
        0..=39 => Action::Write {
            size: rng.random_range(5..=60),
            burst: rng.random_range(1..=8),
        },
        40..=59 if can_kill => {
            let sid = match view.leader {
                Some(leader) if rng.random_bool(0.7) => leader,
                _ => pick(rng, &view.running),
            };
            Action::Kill(kill(rng, view, sid))
        }
        60..=77 if !view.down.is_empty() => Action::Restart {
            sid: pick(rng, &view.down),
        },
        78..=80 => Action::LoseDisk {
            sid: rng.random_range(1..=(view.running.len() + view.down.len()) as u64),
        },
        81..=84 => {
            let mut running = view.running.clone();
            let mut victims = Vec::new();
            while running.len() >= view.quorum {
                let at = rng.random_range(0..running.len());
                let sid = running.remove(at);
                victims.push(kill(rng, view, sid));
            }
            Action::Outage {
                victims,
                for_ms: rng.random_range(8..=20) * TICK.as_millis() as u64,
                swap: rng.random_bool(0.5),
            }
        }
        85..=92 => Action::Settle,
        _ if !view.down.is_empty() && !can_kill => Action::Restart {
            sid: pick(rng, &view.down),
        },
        _ => Action::Pause {
            ms: rng.random_range(0..=5) * TICK.as_millis() as u64,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// One seed.
// ---------------------------------------------------------------------------------------------

/// One seed (or the directed schedule): the ensemble, the writer and the schedule's RNG.
struct Run {
    seed: u64,
    rng: StdRng,
    ensemble: Ensemble,
    shared: Arc<Shared>,
    writer: mpsc::UnboundedSender<Batch>,
    done: watch::Receiver<u64>,
    /// The id of the last batch sent to the writer.
    sent: u64,
}

/// What a seed did, for the summary line.
struct Outcome {
    voters: u64,
    acked: usize,
    history: usize,
    tally: verdict::Tally,
}

impl Run {
    /// A run whose ensemble size is drawn from the seed.
    fn new(seed: u64) -> Run {
        let mut rng = StdRng::seed_from_u64(seed);
        let voters = if rng.random_bool(0.3) { 5 } else { 3 };
        Run::with(seed, rng, voters)
    }

    fn with(seed: u64, rng: StdRng, voters: u64) -> Run {
        let quorum = voters as usize / 2 + 1;
        let shared = Arc::new(Shared {
            processes: Mutex::default(),
            ledger: Arc::new(Ledger::new(quorum)),
        });
        let (writer_tx, batch_rx) = mpsc::unbounded_channel();
        let (done_tx, done) = watch::channel(0);
        tokio::spawn(writer(shared.clone(), batch_rx, done_tx));
        Run {
            seed,
            rng,
            ensemble: Ensemble::new(seed, voters, shared.clone()),
            shared,
            writer: writer_tx,
            done,
            sent: 0,
        }
    }

    async fn run(&mut self) -> Result<Outcome, String> {
        let voters = self.ensemble.members.len() as u64;
        self.shared
            .note(format!("seed {}: {voters} voters", self.seed));
        for sid in 1..=voters {
            self.ensemble.start(sid, false).await?;
        }
        self.settle_and_check().await?;
        for step in 1..=STEPS {
            let view = View {
                running: self.ensemble.running(),
                down: self.ensemble.down(),
                leader: self.shared.leader().map(|(sid, ..)| sid),
                quorum: self.ensemble.quorum(),
            };
            let action = next_action(&mut self.rng, &view);
            self.shared.note(format!("step {step}: {action}"));
            self.perform(action).await?;
            self.check_violations()?;
        }
        // The end: everyone back, a last batch that must commit, and the verdict.
        for sid in self.ensemble.down() {
            self.shared.note(format!("final: restart s{sid}"));
            self.ensemble.start(sid, false).await?;
        }
        self.settle_and_check().await?;
        let acked_before = lock(&self.shared.ledger.acked).len();
        self.write(10, 10).await?;
        if lock(&self.shared.ledger.acked).len() == acked_before {
            return Err("the final batch, with every member up, committed nothing".into());
        }
        let history = self.settle_and_check().await?;
        self.check_violations()?;
        self.final_verdict(&history)?;
        let mut tally = verdict::Tally::default();
        let acked: HashSet<Entry> = lock(&self.shared.ledger.acked_set).clone();
        for member in self.ensemble.members.values() {
            tally.add(&lock(&member.journal), &acked);
        }
        Ok(Outcome {
            voters,
            acked: lock(&self.shared.ledger.acked).len(),
            history: history.len(),
            tally,
        })
    }

    async fn perform(&mut self, action: Action) -> Result<(), String> {
        match action {
            Action::Write { size, burst } => {
                self.send(size, burst);
                // Let the batch get going, so that what follows often hits it mid-flight.
                let ms = self.rng.random_range(0..40);
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            Action::Kill(Kill {
                sid, power_loss, ..
            }) => {
                self.load().await;
                self.ensemble.kill_with(sid, power_loss).await;
                self.linger().await;
            }
            Action::Restart { sid } => {
                self.ensemble.start(sid, false).await?;
                self.linger().await;
            }
            Action::LoseDisk { sid } => self.lose_disk(sid).await?,
            Action::Outage {
                victims,
                for_ms,
                swap,
            } => {
                self.load().await;
                for victim in &victims {
                    self.ensemble.kill_with(victim.sid, victim.power_loss).await;
                }
                tokio::time::sleep(Duration::from_millis(for_ms)).await;
                self.check_nobody_serves();
                let survivors = if swap {
                    self.ensemble.running()
                } else {
                    Vec::new()
                };
                for sid in &survivors {
                    self.shared.note(format!("  kill s{sid}"));
                    self.ensemble.kill(*sid).await;
                }
                for sid in self.ensemble.down() {
                    if survivors.contains(&sid) {
                        continue;
                    }
                    self.shared.note(format!("  restart s{sid}"));
                    self.ensemble.start(sid, false).await?;
                    self.linger().await;
                }
                if swap {
                    self.ensemble.settle().await?;
                    for sid in survivors {
                        self.shared.note(format!("  restart s{sid}"));
                        self.ensemble.start(sid, false).await?;
                    }
                }
            }
            Action::Settle => {
                if self.ensemble.running().len() >= self.ensemble.quorum() {
                    self.settle_and_check().await?;
                } else {
                    self.shared.note("  (no quorum running: nothing to settle)");
                }
            }
            Action::Pause { ms } => tokio::time::sleep(Duration::from_millis(ms)).await,
        }
        Ok(())
    }

    /// Lets the ensemble react for up to three ticks before the next action.
    async fn linger(&mut self) {
        let ms = self.rng.random_range(0..=3) * TICK.as_millis() as u64;
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    fn send(&mut self, size: usize, burst: usize) {
        self.sent += 1;
        let batch = Batch {
            id: self.sent,
            size,
            burst,
        };
        let _ = self.writer.send(batch);
    }

    /// Sends a batch of writes, one at a time, and lets it get going.
    async fn load(&mut self) {
        let size = self.rng.random_range(20..=60);
        self.send(size, 1);
        let ms = self.rng.random_range(5..30);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    /// Sends a batch and waits for the writer to finish it.
    async fn write(&mut self, size: usize, burst: usize) -> Result<(), String> {
        self.send(size, burst);
        self.writer_idle().await
    }

    async fn writer_idle(&mut self) -> Result<(), String> {
        let sent = self.sent;
        let limit = COMMIT_LIMIT + SETTLE_LIMIT;
        match tokio::time::timeout(limit, self.done.wait_for(|done| *done >= sent)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(format!(
                "the writer did not finish batch {sent} within {limit:?}"
            )),
        }
    }

    /// Waits until the writer is idle and the running members settled and converged; checks
    /// that the leader's history is consistent and holds every acknowledged write. Returns it.
    async fn settle_and_check(&mut self) -> Result<Vec<Entry>, String> {
        self.writer_idle().await?;
        let leader = self.ensemble.settle().await?;
        let history = self.ensemble.converge(leader).await?;
        let acked = lock(&self.shared.ledger.acked).clone();
        let who = format!("leader s{leader}");
        let mut violations = verdict::increasing(&who, &history);
        violations.extend(verdict::holds_acknowledged(&who, &history, &acked));
        self.shared.note(format!(
            "  settled: leader s{leader}, {} running, history {} txns, {} acked so far",
            self.ensemble.running().len(),
            history.len(),
            acked.len()
        ));
        for violation in violations {
            self.shared.violation(violation);
        }
        self.check_violations()?;
        Ok(history)
    }

    /// Without a quorum nobody may serve: a leader steps down within the sync limit, and its
    /// followers lose it.
    fn check_nobody_serves(&self) {
        self.shared.note(format!(
            "  {:?} running: checking that none serves",
            self.ensemble.running()
        ));
        for sid in self.ensemble.running() {
            if self
                .ensemble
                .process(sid)
                .is_some_and(|p| p.serving().is_some())
            {
                self.shared.violation(format!(
                    "s{sid} still serves clients with only {:?} running",
                    self.ensemble.running()
                ));
            }
        }
    }

    /// Disk loss is outside ZAB's fault model unless the rest of the ensemble holds every
    /// acknowledged write: the member is wiped only when all others run and converged, and the
    /// schedule waits until it caught up before it goes on.
    async fn lose_disk(&mut self, sid: Sid) -> Result<(), String> {
        for down in self.ensemble.down() {
            self.shared.note(format!("  (first restart s{down})"));
            self.ensemble.start(down, false).await?;
        }
        self.settle_and_check().await?;
        self.shared
            .note(format!("  kill s{sid}, wipe its disk, start it"));
        self.ensemble.kill(sid).await;
        self.ensemble.start(sid, true).await?;
        self.settle_and_check().await?;
        Ok(())
    }

    fn check_violations(&self) -> Result<(), String> {
        let violations = lock(&self.shared.ledger.violations);
        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations.join("\n"))
        }
    }

    /// The checks over every member: identical histories, the acknowledged writes in each,
    /// each log equal to its history, and each journal's replay (see `verdict::journal`).
    fn final_verdict(&self, history: &[Entry]) -> Result<(), String> {
        let acked = lock(&self.shared.ledger.acked).clone();
        let mut violations = verdict::increasing("the final history", history);
        for (sid, member) in &self.ensemble.members {
            let who = format!("s{sid}");
            let (applied, log) = {
                let state = member.disk.state();
                (state.applied.clone(), state.log.clone())
            };
            if applied != history {
                violations.push(format!("{who}: its history differs from the leader's"));
            }
            if log != applied {
                violations.push(format!(
                    "{who}: its log ({} txns) differs from its history ({} txns) at rest",
                    log.len(),
                    applied.len()
                ));
            }
            violations.extend(verdict::holds_acknowledged(&who, &applied, &acked));
            let events = lock(&member.journal).clone();
            violations.extend(verdict::journal(&who, &events, history, &applied));
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations.join("\n"))
        }
    }

    /// A directed schedule (quorum spec §5.8, ZOOKEEPER-4643/-4685): learner F joins a term
    /// while proposal X is outstanding and its currentEpoch write is slow. F ACKs X before
    /// NEWLEADER, so X commits on {leader, F}; with both killed before F wrote currentEpoch, F
    /// must not look one epoch old at restart (the `updatingEpoch` mark makes it adopt its last
    /// zxid's epoch), or a member of the term that never saw X wins the election and X is lost.
    async fn early_ack(&mut self) -> Result<(), String> {
        for sid in 1..=3 {
            self.ensemble.start(sid, false).await?;
        }
        let first = self.settled_leader_after_writes().await?;
        // F misses the next epoch.
        let f = if first == 1 { 2 } else { 1 };
        self.shared.note(format!(
            "kill s{f} (F); restart the leader s{first}: a new epoch"
        ));
        self.ensemble.kill(f).await;
        self.ensemble.kill(first).await;
        self.ensemble.start(first, false).await?;
        let leader = self.settled_leader_after_writes().await?;
        let other = (1..=3)
            .find(|sid| *sid != f && *sid != leader)
            .ok_or("no third member")?;
        // X stays outstanding: the leader's only follower never gets it to its disk.
        self.shared.note(format!(
            "stall s{other}'s disk; propose X at s{leader}; start F with its currentEpoch write stalled"
        ));
        self.ensemble
            .process(other)
            .ok_or("the other member is down")?
            .disk_stalled
            .store(true, Ordering::SeqCst);
        let (_, process, epoch, proposer) = self.shared.leader().ok_or("nobody leads")?;
        let x: Entry = (
            process.last_logged_zxid().max(epoch << 32) + 1,
            Bytes::from_static(b"X"),
        );
        let committed = proposer
            .propose(x.0, x.1.clone(), 0, None)
            .map_err(|e| e.to_string())?;
        self.ensemble.hold_epoch_writes.insert(f);
        self.ensemble.start(f, false).await?;
        // Correct: X waits for F's epoch. The bug: F's ACK of X commits it at once.
        let outcome = match tokio::time::timeout(5 * TICK, committed).await {
            Ok(Ok(())) => {
                self.shared.ledger.acknowledge(x.clone());
                process.apply_leader_commit(x.clone());
                "committed"
            }
            Ok(Err(error)) => {
                return Err(format!("the schedule broke: the term ended ({error})"));
            }
            Err(_) => "still uncommitted",
        };
        let f_epochs = self.ensemble.members[&f]
            .disk
            .epochs()
            .map_err(|e| e.to_string())?;
        if f_epochs.accepted != epoch {
            return Err(format!(
                "the schedule broke: F never joined epoch {epoch} ({f_epochs:?})"
            ));
        }
        self.shared.note(format!(
            "X = 0x{:x} {outcome}; F's epochs {f_epochs:?}; kill s{leader}, F and s{other}",
            x.0
        ));
        self.ensemble.kill(leader).await;
        self.ensemble.kill(f).await;
        self.ensemble.kill(other).await;
        self.ensemble.hold_epoch_writes.remove(&f);
        self.shared.note(format!("start s{other} and F"));
        self.ensemble.start(other, false).await?;
        self.ensemble.start(f, false).await?;
        self.settle_and_check().await?;
        self.ensemble.start(leader, false).await?;
        let history = self.settle_and_check().await?;
        self.final_verdict(&history)
    }

    /// Settles, writes one batch, settles again; returns the leader.
    async fn settled_leader_after_writes(&mut self) -> Result<Sid, String> {
        self.settle_and_check().await?;
        self.write(5, 5).await?;
        self.settle_and_check().await?;
        self.ensemble.settle().await
    }

    fn report(&self, failure: &str) -> String {
        let trace = lock(&self.shared.ledger.trace).join("\n");
        format!(
            "ZAB chaos seed {seed} FAILED\n{failure}\n\nmembers:\n{}\n\ntrace:\n{trace}\n\nreplay: ZAB_CHAOS_SEED={seed} cargo test -p zk-peer --test chaos -- --nocapture",
            self.ensemble.describe(),
            seed = self.seed,
        )
    }
}

async fn run_seed(seed: u64) -> Result<String, String> {
    let started = Instant::now();
    let mut run = Run::new(seed);
    let result = run.run().await;
    let report = match &result {
        Ok(outcome) => {
            let tally = &outcome.tally;
            let mut summary = format!(
                "seed {seed}: {} voters, {} acked, final history {} txns; {} TRUNC, {} SNAP; they cut {} unacknowledged txns and {} acknowledged then re-sent; power loss took {}; {:.1} s",
                outcome.voters,
                outcome.acked,
                outcome.history,
                tally.truncs,
                tally.snaps,
                tally.dropped,
                tally.resent,
                tally.power_lost,
                started.elapsed().as_secs_f64()
            );
            if std::env::var_os("ZAB_CHAOS_TRACE").is_some() {
                summary.push('\n');
                summary.push_str(&lock(&run.shared.ledger.trace).join("\n"));
            }
            Ok(summary)
        }
        Err(failure) => Err(run.report(failure)),
    };
    run.ensemble.shutdown().await;
    report
}

/// The seeds to run: `ZAB_CHAOS_SEED=<n>` alone, else 1..=`ZAB_CHAOS_SEEDS` (default 5).
fn seeds() -> Vec<u64> {
    let number = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    match number("ZAB_CHAOS_SEED") {
        Some(seed) => vec![seed],
        None => (1..=number("ZAB_CHAOS_SEEDS").unwrap_or(DEFAULT_SEEDS)).collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zab_keeps_its_guarantees_under_seeded_faults() {
    let mut failures = Vec::new();
    for seed in seeds() {
        match run_seed(seed).await {
            Ok(summary) => eprintln!("{summary}"),
            Err(report) => {
                eprintln!("{report}");
                failures.push(seed);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "failing seeds: {failures:?} (reports above)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_acked_before_the_learner_adopted_the_epoch_survives() {
    let mut run = Run::with(0, StdRng::seed_from_u64(0), 3);
    let result = run.early_ack().await;
    if std::env::var_os("ZAB_CHAOS_TRACE").is_some() {
        eprintln!("{}", lock(&run.shared.ledger.trace).join("\n"));
    }
    let report = result.as_ref().err().map(|failure| run.report(failure));
    run.ensemble.shutdown().await;
    if let Some(report) = report {
        panic!("{report}");
    }
}

// ---------------------------------------------------------------------------------------------
// The verdict itself must catch what it is meant to catch.
// ---------------------------------------------------------------------------------------------

fn txn(zxid: i64, data: &'static str) -> Entry {
    (zxid, Bytes::from_static(data.as_bytes()))
}

#[test]
fn the_verdict_catches_a_lost_or_reordered_acknowledged_write() {
    let history = vec![txn(1, "a"), txn(2, "b"), txn(3, "c")];
    assert!(verdict::holds_acknowledged("h", &history, &[txn(1, "a"), txn(3, "c")]).is_empty());
    let lost = verdict::holds_acknowledged("h", &history, &[txn(4, "d")]);
    assert!(lost[0].contains("missing"), "{lost:?}");
    let reordered = verdict::holds_acknowledged("h", &history, &[txn(3, "c"), txn(1, "a")]);
    assert!(reordered[0].contains("before an earlier"), "{reordered:?}");
    let duplicated = vec![txn(1, "a"), txn(2, "a")];
    assert_eq!(verdict::increasing("h", &duplicated).len(), 1);
    assert_eq!(
        verdict::increasing("h", &[txn(2, "a"), txn(1, "b")]).len(),
        1
    );
}

#[test]
fn the_verdict_catches_a_served_stray_and_a_journal_out_of_step() {
    let history = vec![txn(1, "a"), txn(2, "b")];
    let applied = |txns: Vec<Entry>| Event::Applied {
        incarnation: 1,
        by: "commit",
        txns,
    };
    let serving = Event::Serving {
        incarnation: 1,
        on: true,
    };
    // A stray transaction applied before serving and truncated away: fine.
    let fine = vec![
        applied(vec![txn(1, "a"), txn(5, "stray")]),
        Event::Truncated {
            to: 1,
            log_removed: vec![txn(5, "stray")],
        },
        applied(vec![txn(2, "b")]),
        serving.clone(),
    ];
    assert!(verdict::journal("s1", &fine, &history, &history).is_empty());
    // The same stray, served to clients: a violation.
    let mut served = fine.clone();
    served.insert(1, serving);
    let found = verdict::journal("s1", &served, &history, &history);
    assert!(found[0].contains("served 0x5"), "{found:?}");
    // A database that holds what the journal never saw.
    let found = verdict::journal("s1", &fine, &history, &history[..1]);
    assert!(found[0].contains("harness bug"), "{found:?}");
}

#[test]
fn the_ledger_catches_an_acknowledged_write_that_leaves_a_quorum_of_logs() {
    let ledger = Ledger::new(2);
    let disks: Vec<Arc<Toy>> = (0..3).map(|_| Toy::new()).collect();
    for (sid, disk) in (1..).zip(&disks) {
        lock(&ledger.disks).insert(sid, disk.clone());
    }
    let x = txn(1, "x");
    for disk in &disks[..2] {
        drop(disk.append(x.0, x.1.clone()).unwrap());
    }
    ledger.acknowledge(x.clone());
    ledger.removed(3, "TRUNC", std::slice::from_ref(&x));
    assert!(lock(&ledger.violations).is_empty());
    disks[0].truncate(0).unwrap();
    ledger.removed(1, "TRUNC to 0x0", std::slice::from_ref(&x));
    let violations = lock(&ledger.violations).clone();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("[2] only"), "{violations:?}");
    // Acknowledging a write that is not on a quorum is caught too.
    ledger.acknowledge(txn(2, "y"));
    assert_eq!(lock(&ledger.violations).len(), 2);
}
