//! The QuorumPeer main loop (quorum spec §4): LOOKING runs FastLeaderElection; its decision makes
//! this server a leader, follower or observer; when that role ends the peer looks again.

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zk_election::driver::{self, DriverError, ElectionEvent, ElectionHandle};
use zk_election::{Decision, Election, InitialVote, LearnerType, ServerState};

use crate::config::EnsembleConfig;
use crate::leader::{Acceptor, TermSlot, lead};
use crate::learner;
use crate::learners::Learners;
use crate::membership::Membership;
use crate::network::{GrpcNetwork, PeerNetwork, QuorumDialer};
use crate::replica::{Replica, Serving};
use crate::status::{PeerMetrics, PeerStatus, Role};

/// Why a peer could not start.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("cannot listen on the quorum address {address}: {source}")]
    QuorumBind {
        address: String,
        source: std::io::Error,
    },
    #[error("cannot start the election connection manager: {0}")]
    Election(#[from] zk_cnxmgr::CnxError),
}

/// A running peer.
pub struct QuorumPeer {
    status: watch::Receiver<PeerStatus>,
    membership: Arc<Membership>,
    metrics: Arc<PeerMetrics>,
    learners: Arc<Learners>,
    main: JoinHandle<()>,
    stop: Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>,
    term: TermSlot,
}

impl std::fmt::Debug for QuorumPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuorumPeer")
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

impl QuorumPeer {
    /// Binds the quorum and election addresses, then starts looking for a leader with the
    /// history in `replica`.
    pub async fn start(
        config: EnsembleConfig,
        replica: Arc<dyn Replica>,
    ) -> Result<QuorumPeer, PeerError> {
        QuorumPeer::start_on(GrpcNetwork, config, replica).await
    }

    /// [`QuorumPeer::start`] over another network (a simulation's).
    pub async fn start_on<N: PeerNetwork>(
        network: N,
        config: EnsembleConfig,
        replica: Arc<dyn Replica>,
    ) -> Result<QuorumPeer, PeerError> {
        let config = Arc::new(config);
        let membership = Arc::new(Membership::stored_in(config.clone(), replica.clone()));
        // A reconfig the log holds may not have committed: elections count its quorums too.
        if let Some(text) = replica.logged_membership() {
            membership.see(&text);
        }
        let term: TermSlot = Arc::new(Mutex::new(None));
        let metrics = Arc::new(PeerMetrics::default());
        let learners = Arc::new(Learners::default());
        let acceptor = Acceptor::new(
            membership.clone(),
            replica.clone(),
            term.clone(),
            metrics.clone(),
            learners.clone(),
        );
        let endpoints = network.start(config.clone(), acceptor).await?;
        let installing = membership.election();
        let installed = installing.versions;
        let election = Election::new(config.myid, installing.quorums)
            .with_learner_type(installing.learner_type);
        let election = driver::spawn(election, endpoints.election);
        let (status_tx, status) = watch::channel(PeerStatus::looking());
        let main = tokio::spawn(run(
            membership.clone(),
            (election, installed),
            replica,
            endpoints.dialer,
            term.clone(),
            Published {
                status: status_tx,
                metrics: metrics.clone(),
            },
        ));
        Ok(QuorumPeer {
            status,
            membership,
            metrics,
            learners,
            main,
            stop: endpoints.stop,
            term,
        })
    }

    /// The peer's state as of now, and a way to wait for changes.
    pub fn status(&self) -> watch::Receiver<PeerStatus> {
        self.status.clone()
    }

    /// The ensemble's membership as this peer knows it (reconfigs change it).
    pub fn membership(&self) -> Arc<Membership> {
        self.membership.clone()
    }

    /// The peer's election counters.
    pub fn metrics(&self) -> Arc<PeerMetrics> {
        self.metrics.clone()
    }

    /// The learners connected while this peer leads (empty otherwise).
    pub fn learners(&self) -> Arc<Learners> {
        self.learners.clone()
    }

    /// Stops the peer: its role, its election and its listeners.
    pub async fn shutdown(self) {
        self.main.abort();
        // Once the main task is gone, so is everything it owned (the election with it): a
        // stopped peer must not go on voting or following.
        let _ = self.main.await;
        // Learner handlers run in tasks of their own: ending the term closes them.
        if let Some(term) = self.term.lock().ok().and_then(|mut slot| slot.take()) {
            term.end("shutting down");
        }
        (self.stop)().await;
    }
}

/// The vote this peer starts an election with: its newest logged zxid and its currentEpoch.
fn initial_vote(replica: &dyn Replica) -> Result<InitialVote, String> {
    let epochs = replica.epochs().map_err(|e| e.to_string())?;
    Ok(InitialVote {
        last_logged_zxid: replica.last_logged_zxid().max(replica.last_applied()),
        current_epoch: epochs.current,
    })
}

/// Serves read-only clients once the peer has looked for a leader for the grace period.
fn spawn_read_only(config: &EnsembleConfig, replica: &Arc<dyn Replica>) -> JoinHandle<()> {
    let grace = config.read_only_grace();
    let replica = replica.clone();
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        tracing::info!("no leader within the grace period: serving read-only clients");
        replica.serve(Serving::ReadOnly);
    })
}

/// What the main loop publishes: its state, and its election counters.
struct Published {
    status: watch::Sender<PeerStatus>,
    metrics: Arc<PeerMetrics>,
}

/// The versions of the configurations installed in the election (see
/// [`crate::membership::ElectionConfig::versions`]).
type Installed = (i64, i64);

/// Puts the configurations in force into the election when they are not the installed ones.
fn install(election: &ElectionHandle, membership: &Membership, installed: &mut Installed) {
    let next = membership.election();
    if next.versions != *installed {
        let _ = election.install_config(next.quorums, next.learner_type);
        *installed = next.versions;
    }
}

/// Runs an election. A notification that carries a newer committed configuration (a reconfig
/// this server missed while it was down) puts that one in force and starts the election again
/// under it, as ZooKeeper's FastLeaderElection does.
async fn look(
    election: &mut ElectionHandle,
    membership: &Membership,
    installed: &mut Installed,
    initial: InitialVote,
) -> Result<Decision, DriverError> {
    loop {
        let mut looking = std::pin::pin!(election.look_for_leader(initial));
        let restart = loop {
            tokio::select! {
                // In this order, so that a deterministic simulation replays exactly.
                biased;
                decided = &mut looking => return decided,
                event = election.next_event() => match event {
                    Some(ElectionEvent::NewConfig { config, from, .. }) => {
                        if membership.adopt_text(&config).is_some() {
                            tracing::info!(from, "a peer's notification brought a newer configuration");
                            break true;
                        }
                    }
                    Some(ElectionEvent::PeerLooking(_)) => {}
                    None => break false,
                },
            }
        };
        if !restart {
            // No more events: the election's decision is all there is to wait for.
            return looking.await;
        }
        install(election, membership, installed);
    }
}

/// Runs `role`, keeping the election's configurations those in force meanwhile: the
/// notifications it answers while this peer leads or follows carry the configuration, and a
/// peer that missed a reconfig learns it from them.
async fn keeping_installed<T>(
    role: impl Future<Output = T>,
    election: &ElectionHandle,
    membership: &Membership,
    installed: &mut Installed,
) -> T {
    let mut changes = membership.subscribe();
    let mut role = std::pin::pin!(role);
    loop {
        tokio::select! {
            // In this order, so that a deterministic simulation replays exactly.
            biased;
            ended = &mut role => return ended,
            changed = changes.changed() => {
                if changed.is_err() {
                    return role.await;
                }
                install(election, membership, installed);
            }
        }
    }
}

/// LOOKING → role → LOOKING, for ever.
async fn run(
    membership: Arc<Membership>,
    (mut election, mut installed): (ElectionHandle, Installed),
    replica: Arc<dyn Replica>,
    dialer: Arc<dyn QuorumDialer>,
    term: TermSlot,
    published: Published,
) {
    let Published { status, metrics } = published;
    loop {
        status.send_replace(PeerStatus::looking());
        // The configuration in force: a reconfig may have changed it during the last role.
        install(&election, &membership, &mut installed);
        let config = membership.current();
        PeerMetrics::count(&metrics.looking_count, 1);
        let looking_since = std::time::Instant::now();
        let initial = match initial_vote(replica.as_ref()) {
            Ok(initial) => initial,
            Err(error) => {
                tracing::error!(%error, "cannot read this server's history; not voting");
                return;
            }
        };
        let read_only = config
            .read_only_mode
            .then(|| spawn_read_only(&config, &replica));
        let decided = look(&mut election, &membership, &mut installed, initial).await;
        // The election may have brought a newer configuration.
        let config = membership.current();
        if let Some(read_only) = read_only {
            // Awaited, so that its serve() cannot land after ours.
            read_only.abort();
            let _ = read_only.await;
            replica.serve(Serving::Nothing);
        }
        let decision = match decided {
            Ok(decision) => decision,
            Err(error) => {
                tracing::error!(%error, "the election stopped");
                return;
            }
        };
        // As ZooKeeper's ELECTION_TIME: from looking to the role the election gave.
        metrics
            .election_time
            .record(u64::try_from(looking_since.elapsed().as_millis()).unwrap_or(u64::MAX));
        let leader = decision.vote.leader;
        tracing::info!(
            myid = config.myid,
            leader,
            round = decision.vote.election_epoch,
            state = ?decision.state,
            "election decided"
        );
        match decision.state {
            ServerState::Leading => {
                // The vote LOOKING peers hear from us carries the epoch we established (as
                // ZooKeeper's updateElectionVote): all members of a term then report one vote.
                let adopt = |epoch| {
                    let _ = election.update_peer_epoch(epoch);
                };
                let leading = lead(&membership, &replica, &term, &status, &metrics, adopt);
                let reason =
                    keeping_installed(leading, &election, &membership, &mut installed).await;
                tracing::warn!(myid = config.myid, %reason, "stopped leading");
            }
            ServerState::Following | ServerState::Observing => {
                // By this server's own type: one a reconfig left out elects as an observer
                // but follows.
                let observer = config.me().learner_type == LearnerType::Observer;
                let role = if observer {
                    Role::Observing
                } else {
                    Role::Following
                };
                let following = learner::follow(
                    &membership,
                    &replica,
                    &dialer,
                    &metrics,
                    leader,
                    observer,
                    |epoch| {
                        let _ = election.update_peer_epoch(epoch);
                        status.send_replace(PeerStatus {
                            role,
                            leader: Some(leader),
                            learners: 0,
                            followers: 0,
                            non_voting_followers: 0,
                        });
                    },
                );
                let ended =
                    keeping_installed(following, &election, &membership, &mut installed).await;
                tracing::warn!(myid = config.myid, leader, reason = %ended, "stopped following");
                if ended.leader_may_be_gone() {
                    // Our election link to the leader may not have noticed yet: without this,
                    // the next election waits finalizeWait for the dead leader's vote.
                    let _ = election.suspect(leader);
                }
            }
            ServerState::Looking => {}
        }
    }
}
