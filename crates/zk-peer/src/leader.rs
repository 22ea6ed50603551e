//! The leader's side of the leader-learner channel (`Quorum.Follow`).
//!
//! This is the part of ZAB that keeps an ensemble's roles honest: learners register, the leader
//! pings them every half tick, and a leader that cannot keep a quorum of followers in touch
//! within the sync limit steps down (quorum spec §5.1 step 11, §5.13, §6). Discovery,
//! synchronisation and broadcast of transactions build on this channel.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::{Request, Response, Status, Streaming};
use zk_election::Sid;
use zk_proto::peer::quorum_server::Quorum;
use zk_proto::peer::{LeaderMessage, LearnerMessage, Ping, leader_message, learner_message};

use crate::config::EnsembleConfig;

/// The learners connected to the current leadership term.
#[derive(Debug, Default)]
pub struct Learners {
    /// sid → when we last heard from it, and whether it votes.
    seen: HashMap<Sid, (Instant, bool)>,
    /// Set when the term ends: its learner streams close.
    ended: bool,
}

impl Learners {
    /// Ends the term: every learner stream of it closes at its next tick.
    pub fn end(&mut self) {
        self.ended = true;
        self.seen.clear();
    }

    /// Voting followers heard from within `within`.
    pub fn live_followers(&self, within: Duration) -> Vec<Sid> {
        let now = Instant::now();
        self.seen
            .iter()
            .filter(|(_, (at, voter))| *voter && now.duration_since(*at) <= within)
            .map(|(sid, _)| *sid)
            .collect()
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// A leadership term: which learners are attached to it. Present only while this peer leads.
pub type Term = Arc<Mutex<Learners>>;

/// The gRPC service on the quorum port. It accepts learners only while this peer leads.
#[derive(Debug)]
pub struct QuorumService {
    config: Arc<EnsembleConfig>,
    term: Arc<Mutex<Option<Term>>>,
}

impl QuorumService {
    pub fn new(config: Arc<EnsembleConfig>, term: Arc<Mutex<Option<Term>>>) -> Self {
        QuorumService { config, term }
    }
}

type LeaderStream = Pin<Box<dyn Stream<Item = Result<LeaderMessage, Status>> + Send>>;

#[tonic::async_trait]
impl Quorum for QuorumService {
    type FollowStream = LeaderStream;

    async fn follow(
        &self,
        request: Request<Streaming<LearnerMessage>>,
    ) -> Result<Response<LeaderStream>, Status> {
        let term = self
            .term
            .lock()
            .map_err(|_| Status::internal("leader state poisoned"))?
            .clone()
            .ok_or_else(|| Status::unavailable("not leading"))?;
        let mut inbound = request.into_inner();
        let first = tokio::time::timeout(self.config.init_timeout(), inbound.next())
            .await
            .map_err(|_| Status::deadline_exceeded("no learner info"))?;
        let info = match first {
            Some(Ok(LearnerMessage {
                kind: Some(learner_message::Kind::Info(info)),
            })) => info,
            _ => {
                return Err(Status::invalid_argument(
                    "the first message must be learner info",
                ));
            }
        };
        let sid = u64::try_from(info.sid)
            .ok()
            .filter(|sid| self.config.servers.contains_key(sid))
            .ok_or_else(|| Status::permission_denied(format!("unknown sid {}", info.sid)))?;
        let voter = self.config.is_voter(sid) && !info.observer;
        register(&term, sid, voter);
        tracing::info!(sid, voter, "learner connected");

        let (tx, rx) = mpsc::channel::<Result<LeaderMessage, Status>>(64);
        let ping_every = self.config.tick / 2;
        let silence_limit = self.config.sync_timeout();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(ping_every);
            let mut last_heard = Instant::now();
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        if term.lock().map(|l| l.ended).unwrap_or(true) {
                            break;
                        }
                        if last_heard.elapsed() > silence_limit {
                            tracing::warn!(sid, "learner silent past the sync limit; dropping it");
                            break;
                        }
                        let ping = LeaderMessage {
                            kind: Some(leader_message::Kind::Ping(Ping { zxid: 0, touches: Vec::new() })),
                        };
                        if tx.send(Ok(ping)).await.is_err() {
                            break;
                        }
                    }
                    message = inbound.next() => match message {
                        Some(Ok(_)) => {
                            last_heard = Instant::now();
                            register(&term, sid, voter);
                        }
                        Some(Err(status)) => {
                            tracing::info!(sid, %status, "learner stream failed");
                            break;
                        }
                        None => break,
                    },
                }
            }
            if let Ok(mut learners) = term.lock() {
                learners.seen.remove(&sid);
            }
            tracing::info!(sid, "learner disconnected");
        });
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        Ok(Response::new(Box::pin(stream)))
    }
}

fn register(term: &Term, sid: Sid, voter: bool) {
    if let Ok(mut learners) = term.lock()
        && !learners.ended
    {
        learners.seen.insert(sid, (Instant::now(), voter));
    }
}
