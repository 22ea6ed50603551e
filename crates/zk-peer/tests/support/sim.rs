//! A simulated network for whole peers on one single-threaded runtime with a paused clock:
//! election notifications and leader-learner channels go through in-memory queues with seeded
//! delays, and partitions and crashes cut links. Same seed, same run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tonic::Status;
use zk_election::driver::Transport;
use zk_election::{Notification, Sid};
use zk_peer::EnsembleConfig;
use zk_peer::config::ServerSpec;
use zk_peer::leader::Acceptor;
use zk_peer::network::{
    Endpoints, LeaderStream, LearnerStream, PeerNetwork, QuorumDialer, shared_stream,
};
use zk_peer::peer::PeerError;
use zk_proto::peer::LearnerMessage;

/// The switch of one channel: once cut, its relays stop. (A `Notify`, not a `watch`: those wake
/// their waiters in a random order.)
#[derive(Debug, Default)]
struct Cut {
    done: std::sync::atomic::AtomicBool,
    notify: Arc<Notify>,
}

impl Cut {
    fn cut(&self) {
        self.done.store(true, std::sync::atomic::Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    fn is_cut(&self) -> bool {
        self.done.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Completes when the channel is cut after this call.
    fn signal(&self) -> tokio::sync::futures::OwnedNotified {
        self.notify.clone().notified_owned()
    }
}

/// The shared state of the simulated network.
#[derive(Debug)]
struct FabricState {
    rng: StdRng,
    acceptors: BTreeMap<Sid, Acceptor>,
    inboxes: BTreeMap<Sid, mpsc::UnboundedSender<(Sid, Notification)>>,
    /// When set, members on different sides cannot reach each other.
    partition: Option<BTreeSet<Sid>>,
    /// Open leader-learner channels: (learner, leader) and the switch that cuts them.
    channels: Vec<(Sid, Sid, Arc<Cut>)>,
    trace: Vec<String>,
    started: Instant,
}

/// The network all simulated members share.
#[derive(Debug, Clone)]
pub struct Fabric {
    state: Arc<Mutex<FabricState>>,
}

impl Fabric {
    pub fn new(seed: u64) -> Fabric {
        Fabric {
            state: Arc::new(Mutex::new(FabricState {
                rng: StdRng::seed_from_u64(seed),
                acceptors: BTreeMap::new(),
                inboxes: BTreeMap::new(),
                partition: None,
                channels: Vec::new(),
                trace: Vec::new(),
                started: Instant::now(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FabricState> {
        self.state.lock().unwrap()
    }

    /// The network for member `sid`.
    pub fn member(&self, sid: Sid) -> SimNetwork {
        SimNetwork {
            fabric: self.clone(),
            sid,
        }
    }

    /// A number from the run's random sequence.
    pub fn random(&self, range: std::ops::Range<u64>) -> u64 {
        self.lock().rng.random_range(range)
    }

    /// Records an event of the run, with the simulated time.
    pub fn note(&self, event: impl AsRef<str>) {
        let mut state = self.lock();
        let at = state.started.elapsed().as_millis();
        state.trace.push(format!("{at:>7} ms  {}", event.as_ref()));
    }

    pub fn trace(&self) -> Vec<String> {
        self.lock().trace.clone()
    }

    /// Splits the members: `side` cannot reach the others, and channels across are cut.
    pub fn partition(&self, side: BTreeSet<Sid>) {
        let mut state = self.lock();
        state.channels.retain(|(a, b, cut)| {
            let across = side.contains(a) != side.contains(b);
            if across {
                cut.cut();
            }
            !across
        });
        state.partition = Some(side);
    }

    pub fn is_partitioned(&self) -> bool {
        self.lock().partition.is_some()
    }

    pub fn heal(&self) {
        self.lock().partition = None;
    }

    fn reachable(state: &FabricState, a: Sid, b: Sid) -> bool {
        match &state.partition {
            Some(side) => side.contains(&a) == side.contains(&b),
            None => true,
        }
    }

    /// A delay for one message: mostly a few milliseconds, sometimes much more. Whole
    /// milliseconds: the paused clock keeps real time's sub-millisecond offset, and timers round
    /// to milliseconds, so finer delays would round differently from run to run.
    fn delay(state: &mut FabricState) -> Duration {
        let millis = if state.rng.random_ratio(1, 50) {
            state.rng.random_range(10..60)
        } else {
            state.rng.random_range(0..4)
        };
        Duration::from_millis(millis)
    }

    /// Member `sid` went down: it is unreachable and its channels are cut.
    fn leave(&self, sid: Sid) {
        let mut state = self.lock();
        state.acceptors.remove(&sid);
        state.inboxes.remove(&sid);
        state.channels.retain(|(a, b, cut)| {
            let involved = *a == sid || *b == sid;
            if involved {
                cut.cut();
            }
            !involved
        });
    }

    fn send_notification(&self, from: Sid, to: Sid, message: Notification) {
        let (delay, fabric) = {
            let mut state = self.lock();
            if !Fabric::reachable(&state, from, to) || !state.inboxes.contains_key(&to) {
                return;
            }
            (Fabric::delay(&mut state), self.clone())
        };
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let state = fabric.lock();
            if Fabric::reachable(&state, from, to)
                && let Some(inbox) = state.inboxes.get(&to)
            {
                let _ = inbox.send((from, message));
            }
        });
    }

    /// Carries `items` in order, each after a delay, until the channel is cut.
    fn relay<T: Send + 'static>(
        &self,
        mut items: impl futures::Stream<Item = T> + Send + Unpin + 'static,
        cut: Arc<Cut>,
    ) -> mpsc::UnboundedReceiver<T> {
        let (tx, rx) = mpsc::unbounded_channel();
        let fabric = self.clone();
        tokio::spawn(async move {
            let mut not_before = Instant::now();
            loop {
                let cut_now = cut.signal();
                if cut.is_cut() {
                    return;
                }
                let item = tokio::select! {
                    biased;
                    () = cut_now => return,
                    item = items.next() => match item {
                        Some(item) => item,
                        None => return,
                    },
                };
                let delay = Fabric::delay(&mut fabric.lock());
                // In order, as on a TCP connection.
                not_before = not_before.max(Instant::now() + delay);
                let cut_now = cut.signal();
                if cut.is_cut() {
                    return;
                }
                tokio::select! {
                    biased;
                    () = cut_now => return,
                    () = tokio::time::sleep_until(not_before) => {}
                }
                if tx.send(item).is_err() {
                    return;
                }
            }
        });
        rx
    }
}

/// One member's view of the [`Fabric`].
#[derive(Debug, Clone)]
pub struct SimNetwork {
    fabric: Fabric,
    sid: Sid,
}

impl PeerNetwork for SimNetwork {
    type Election = SimElection;

    async fn start(
        self,
        _config: Arc<EnsembleConfig>,
        acceptor: Acceptor,
    ) -> Result<Endpoints<SimElection>, PeerError> {
        let (tx, inbox) = mpsc::unbounded_channel();
        {
            let mut state = self.fabric.lock();
            state.acceptors.insert(self.sid, acceptor);
            state.inboxes.insert(self.sid, tx);
        }
        let fabric = self.fabric.clone();
        let sid = self.sid;
        Ok(Endpoints {
            election: SimElection {
                fabric: self.fabric.clone(),
                sid,
                inbox,
            },
            dialer: Arc::new(self),
            stop: Box::new(move || {
                Box::pin(async move {
                    fabric.leave(sid);
                })
            }),
        })
    }
}

impl QuorumDialer for SimNetwork {
    fn follow(
        &self,
        leader: &ServerSpec,
        outbound: mpsc::UnboundedReceiver<LearnerMessage>,
    ) -> BoxFuture<'static, Result<LeaderStream, Status>> {
        let fabric = self.fabric.clone();
        let (learner, leader) = (self.sid, leader.sid);
        Box::pin(async move {
            let (acceptor, cut, delay) = {
                let mut state = fabric.lock();
                if !Fabric::reachable(&state, learner, leader) {
                    return Err(Status::unavailable("partitioned"));
                }
                let acceptor = state
                    .acceptors
                    .get(&leader)
                    .cloned()
                    .ok_or_else(|| Status::unavailable("leader down"))?;
                let cut = Arc::new(Cut::default());
                state.channels.push((learner, leader, cut.clone()));
                (acceptor, cut, Fabric::delay(&mut state))
            };
            tokio::time::sleep(delay).await;
            let to_leader = fabric.relay(
                tokio_stream::wrappers::UnboundedReceiverStream::new(outbound),
                cut.clone(),
            );
            let inbound: LearnerStream = shared_stream(
                tokio_stream::wrappers::UnboundedReceiverStream::new(to_leader).map(Ok),
            );
            let from_leader = acceptor.accept(inbound, None).await?;
            let to_learner = fabric.relay(from_leader, cut);
            Ok(shared_stream(
                tokio_stream::wrappers::UnboundedReceiverStream::new(to_learner),
            ))
        })
    }
}

/// A member's election links over the [`Fabric`].
#[derive(Debug)]
pub struct SimElection {
    fabric: Fabric,
    sid: Sid,
    inbox: mpsc::UnboundedReceiver<(Sid, Notification)>,
}

impl Transport for SimElection {
    fn send(&self, to: Sid, message: Notification) {
        self.fabric.send_notification(self.sid, to, message);
    }

    fn recv(&mut self) -> impl Future<Output = Option<(Sid, Notification)>> + Send {
        self.inbox.recv()
    }
}
