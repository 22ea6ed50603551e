//! One leadership term as its learner handlers and the leader's main task share it: who sent
//! its epoch, who acknowledged the new epoch and NEWLEADER, whether the term is established,
//! and when each learner was last heard from (quorum spec §5.1).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;
use zk_election::Sid;

use crate::broadcast::Broadcast;

/// The facts of a term; every change wakes the tasks waiting on the term.
#[derive(Debug, Default)]
pub struct TermState {
    /// acceptedEpoch of each voter that announced itself (the leader's included).
    pub accepted: BTreeMap<Sid, i64>,
    /// The new epoch, once a quorum announced theirs.
    pub epoch: Option<i64>,
    /// Voters that acknowledged the new epoch.
    pub epoch_acks: BTreeSet<Sid>,
    /// The broadcast learners attach to, once the leader's database holds its whole history.
    pub broadcast: Option<Broadcast>,
    /// The configuration NEWLEADER announces, set with `broadcast`: the one the term puts in
    /// force once established (its history's last reconfig, or the configuration file's with
    /// a version), else the one in force.
    pub newleader_config: Bytes,
    /// Learners that acknowledged NEWLEADER (the leader among them), and whether each follows.
    /// An observer's acknowledgement counts where a configuration it must be counted in has
    /// it as a voter (a reconfig in the history that makes it one), as in ZooKeeper.
    pub newleader_acks: BTreeMap<Sid, bool>,
    /// Set once a quorum acknowledged NEWLEADER: UPTODATE goes out, clients are served.
    pub established: bool,
    /// Why the term ended, once it has.
    pub ended: Option<String>,
    /// Each attached learner: when it was last heard from, and whether it votes.
    pub seen: BTreeMap<Sid, (Instant, bool)>,
}

impl TermState {
    /// Voting learners heard from within `within`.
    pub fn live_followers(&self, within: Duration) -> Vec<Sid> {
        let now = Instant::now();
        self.seen
            .iter()
            .filter(|(_, (at, voter))| *voter && now.duration_since(*at) <= within)
            .map(|(sid, _)| *sid)
            .collect()
    }
}

/// A shared, observable term.
#[derive(Debug, Clone)]
pub struct Term {
    state: Arc<Mutex<TermState>>,
    /// Wakes every waiter on each change, in the order they started waiting (a `watch`
    /// channel would wake them in a random order, which a deterministic simulation cannot have).
    changed: Arc<Notify>,
}

impl Default for Term {
    fn default() -> Self {
        Term {
            state: Arc::new(Mutex::new(TermState::default())),
            changed: Arc::new(Notify::new()),
        }
    }
}

/// The term ended (or a wait for it ran out of time).
#[derive(Debug, thiserror::Error)]
pub enum TermError {
    #[error("the term ended: {0}")]
    Ended(String),
    #[error("timed out waiting for {0}")]
    TimedOut(&'static str),
}

impl Term {
    pub fn lock(&self) -> MutexGuard<'_, TermState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Changes the state and wakes every waiter.
    pub fn update<R>(&self, change: impl FnOnce(&mut TermState) -> R) -> R {
        let result = change(&mut self.lock());
        self.changed.notify_waiters();
        result
    }

    /// Ends the term (first reason wins) and its broadcast.
    pub fn end(&self, reason: impl Into<String>) {
        let broadcast = self.update(|state| {
            state.ended.get_or_insert_with(|| reason.into());
            state.seen.clear();
            state.broadcast.clone()
        });
        if let Some(broadcast) = broadcast {
            broadcast.end();
        }
    }

    /// A future that completes at the next change of the term (it counts from its creation,
    /// even before it is first polled).
    pub fn next_change(&self) -> tokio::sync::futures::OwnedNotified {
        self.changed.clone().notified_owned()
    }

    pub fn ended(&self) -> Option<String> {
        self.lock().ended.clone()
    }

    /// Waits until `ready` gives a value, the term ends, or `within` passes.
    pub async fn wait_for<T>(
        &self,
        what: &'static str,
        within: Duration,
        ready: impl Fn(&TermState) -> Option<T>,
    ) -> Result<T, TermError> {
        let deadline = Instant::now() + within;
        loop {
            let changed = self.next_change();
            {
                let state = self.lock();
                if let Some(reason) = &state.ended {
                    return Err(TermError::Ended(reason.clone()));
                }
                if let Some(value) = ready(&state) {
                    return Ok(value);
                }
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Err(TermError::TimedOut(what));
            }
        }
    }
}
