//! The QuorumPeer main loop (quorum spec §4): LOOKING runs FastLeaderElection; its decision makes
//! this server a leader, follower or observer; when that role ends the peer looks again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use zk_cnxmgr::{CnxConfig, CnxManager, ElectionTransport};
use zk_election::driver::{self, ElectionHandle};
use zk_election::{Election, InitialVote, LearnerType, ServerState};
use zk_proto::peer::quorum_server::QuorumServer;

use crate::config::EnsembleConfig;
use crate::leader::{Learners, QuorumService, Term};
use crate::learner;
use crate::status::{PeerStatus, Role};

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
#[derive(Debug)]
pub struct QuorumPeer {
    status: watch::Receiver<PeerStatus>,
    main: JoinHandle<()>,
    quorum_server: JoinHandle<()>,
    manager: CnxManager,
    term: Arc<Mutex<Option<Term>>>,
}

impl QuorumPeer {
    /// Binds the quorum and election addresses, then starts looking for a leader with this
    /// server's data (`initial`: last logged zxid and currentEpoch).
    pub async fn start(
        config: EnsembleConfig,
        initial: InitialVote,
    ) -> Result<QuorumPeer, PeerError> {
        let config = Arc::new(config);
        let me = config.me().clone();
        let term: Arc<Mutex<Option<Term>>> = Arc::new(Mutex::new(None));
        let address = me.quorum_address();
        let listener =
            TcpListener::bind(&address)
                .await
                .map_err(|source| PeerError::QuorumBind {
                    address: address.clone(),
                    source,
                })?;
        let service = QuorumServer::new(QuorumService::new(config.clone(), term.clone()));
        let quorum_server = tokio::spawn(async move {
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            if let Err(error) = Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await
            {
                tracing::error!(%error, "quorum listener failed");
            }
        });
        let peers = config
            .servers
            .values()
            .map(|spec| (spec.sid, spec.election_address()));
        let (manager, inbox) =
            CnxManager::start(CnxConfig::new(config.myid, me.election_address(), peers)).await?;
        let election =
            Election::new(config.myid, config.quorum_config()).with_learner_type(me.learner_type);
        let election = driver::spawn(election, ElectionTransport::new(manager.handle(), inbox));
        let (status_tx, status) = watch::channel(PeerStatus::looking());
        let main = tokio::spawn(run(config, election, initial, term.clone(), status_tx));
        Ok(QuorumPeer {
            status,
            main,
            quorum_server,
            manager,
            term,
        })
    }

    /// The peer's state as of now, and a way to wait for changes.
    pub fn status(&self) -> watch::Receiver<PeerStatus> {
        self.status.clone()
    }

    /// Stops the peer: its role, its election and its listeners.
    pub async fn shutdown(self) {
        self.main.abort();
        // Learner streams run in tasks of their own: ending the term closes them.
        if let Some(term) = self.term.lock().ok().and_then(|mut slot| slot.take())
            && let Ok(mut learners) = term.lock()
        {
            learners.end();
        }
        self.quorum_server.abort();
        self.manager.shutdown().await;
    }
}

/// LOOKING → role → LOOKING, for ever.
async fn run(
    config: Arc<EnsembleConfig>,
    election: ElectionHandle,
    initial: InitialVote,
    term: Arc<Mutex<Option<Term>>>,
    status: watch::Sender<PeerStatus>,
) {
    loop {
        status.send_replace(PeerStatus::looking());
        let decision = match election.look_for_leader(initial).await {
            Ok(decision) => decision,
            Err(error) => {
                tracing::error!(%error, "the election stopped");
                return;
            }
        };
        let leader = decision.vote.leader;
        tracing::info!(
            myid = config.myid,
            leader,
            round = decision.vote.election_epoch,
            state = ?decision.state,
            "election decided"
        );
        match decision.state {
            ServerState::Leading => lead(&config, &term, &status).await,
            ServerState::Following | ServerState::Observing => {
                let role = if decision.state == ServerState::Following {
                    Role::Following
                } else {
                    Role::Observing
                };
                let observer = config.me().learner_type == LearnerType::Observer;
                let ended = learner::follow(&config, leader, observer, || {
                    status.send_replace(PeerStatus {
                        role,
                        leader: Some(leader),
                        learners: 0,
                        followers: 0,
                    });
                })
                .await;
                tracing::warn!(myid = config.myid, leader, reason = %ended, "stopped following");
            }
            ServerState::Looking => {}
        }
    }
}

/// Leads until a quorum of followers is no longer in touch.
async fn lead(
    config: &EnsembleConfig,
    term_slot: &Mutex<Option<Term>>,
    status: &watch::Sender<PeerStatus>,
) {
    let term: Term = Arc::new(Mutex::new(Learners::default()));
    if let Ok(mut slot) = term_slot.lock() {
        *slot = Some(term.clone());
    }
    let publish = |learners: &Learners, followers: usize| {
        status.send_replace(PeerStatus {
            role: Role::Leading,
            leader: Some(config.myid),
            learners: learners.len(),
            followers,
        });
    };
    // Wait up to initLimit for a quorum of followers to connect, looking often (followers
    // connect within milliseconds of the decision); once established, check every tick/4.
    let connecting_check = Duration::from_millis(5);
    let established_check = (config.tick / 4).max(connecting_check);
    let started = tokio::time::Instant::now();
    let mut established = false;
    loop {
        let within = if established {
            config.sync_timeout()
        } else {
            config.init_timeout()
        };
        let (live, learners_now) = match term.lock() {
            Ok(learners) => (learners.live_followers(within), learners.len()),
            Err(_) => break,
        };
        let mut supporters = live.clone();
        supporters.push(config.myid);
        if config.is_quorum(&supporters) {
            if !established {
                tracing::info!(myid = config.myid, followers = ?live, "leading with a quorum");
            }
            established = true;
            if let Ok(learners) = term.lock() {
                publish(&learners, live.len());
            }
        } else if established || started.elapsed() > config.init_timeout() {
            tracing::warn!(
                myid = config.myid,
                followers = ?live,
                learners = learners_now,
                "not enough followers in touch; leaving the leadership"
            );
            break;
        }
        let pause = if established {
            established_check
        } else {
            connecting_check
        };
        tokio::time::sleep(pause).await;
    }
    if let Ok(mut learners) = term.lock() {
        learners.end();
    }
    if let Ok(mut slot) = term_slot.lock() {
        *slot = None;
    }
}
