//! An async driver for [`Election`] over any [`Transport`], plus an in-memory transport.
//!
//! [`spawn`] moves the machine into a tokio task that feeds it messages and timeouts and
//! executes its actions. The task keeps running after a decision so that it answers LOOKING
//! peers (rules R3/R6); [`ElectionHandle::look_for_leader`] starts the next election.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::election::{Action, Election};
use crate::quorum::QuorumConfig;
use crate::types::{Decision, InitialVote, LearnerType, Notification, ServerState, Sid, Vote};

/// How election messages reach other servers. `zk-cnxmgr` implements it over gRPC; the
/// semantics expected are those of upstream's connection manager (spec §3.4): `send` never
/// blocks, and a transport may keep only the newest pending message per peer.
pub trait Transport: Send + 'static {
    /// Queues `msg` for `to`. Never called with our own sid (the machine loops those back).
    fn send(&self, to: Sid, msg: Notification);

    /// The next message and its sender; `None` once the transport is closed. Must be
    /// cancel-safe: the driver polls it inside `select!`.
    fn recv(&mut self) -> impl Future<Output = Option<(Sid, Notification)>> + Send;

    /// Dial every known peer that has no connection (upstream `connectAll`).
    fn connect_all(&self) {}

    /// Whether any peer's outgoing queue is empty (upstream `haveDelivered`, spec §3.7).
    fn have_delivered(&self) -> bool {
        true
    }

    /// Peers whose link was up and is now lost, if the transport knows; lets an election that
    /// every other voter agrees with skip the finalize wait (see [`Election::set_lost`]).
    fn lost_peers(&self) -> Option<Vec<Sid>> {
        None
    }
}

/// Why the driver could not answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DriverError {
    /// The driver task ended (shut down, or its transport closed).
    #[error("election driver stopped")]
    Stopped,
    /// A newer `look_for_leader` call replaced this one.
    #[error("election restarted before it decided")]
    Superseded,
}

/// Things the machine reports besides decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElectionEvent {
    /// See [`Action::PeerLooking`].
    PeerLooking(Sid),
    /// See [`Action::NewConfig`].
    NewConfig {
        /// Sender.
        from: Sid,
        /// Version of the received configuration.
        version: i64,
        /// Its text.
        config: Arc<[u8]>,
    },
}

/// Capacity of the event channel; events beyond it are dropped (they are advisory).
const EVENT_CAPACITY: usize = 64;

enum Command {
    Look(InitialVote, oneshot::Sender<Result<Decision, DriverError>>),
    SetDecided(ServerState, Vote),
    UpdatePeerEpoch(i64),
    Suspect(Sid),
    Install(Box<QuorumConfig>, LearnerType),
}

/// Control of a spawned election task. Dropping it stops the task.
#[derive(Debug)]
pub struct ElectionHandle {
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::Receiver<ElectionEvent>,
    /// `None` only once shut down.
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Look(data, _) => write!(f, "Look({data:?})"),
            Command::SetDecided(state, vote) => write!(f, "SetDecided({state:?}, {vote:?})"),
            Command::UpdatePeerEpoch(epoch) => write!(f, "UpdatePeerEpoch({epoch})"),
            Command::Suspect(sid) => write!(f, "Suspect({sid})"),
            Command::Install(config, learner_type) => write!(
                f,
                "Install(version {:x}, {learner_type:?})",
                config.committed().version()
            ),
        }
    }
}

impl Drop for ElectionHandle {
    /// The election stops with its handle, at once: a stopped server must not go on voting.
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl ElectionHandle {
    /// Goes LOOKING with this server's data at once, and returns a future of the decision
    /// (so several peers can be started before any is awaited).
    pub fn look_for_leader(
        &self,
        data: InitialVote,
    ) -> impl Future<Output = Result<Decision, DriverError>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let sent = self.commands.send(Command::Look(data, tx)).is_ok();
        async move {
            if !sent {
                return Err(DriverError::Stopped);
            }
            rx.await.map_err(|_| DriverError::Stopped)?
        }
    }

    /// See [`Election::set_decided`].
    pub fn set_decided(&self, state: ServerState, vote: Vote) -> Result<(), DriverError> {
        self.commands
            .send(Command::SetDecided(state, vote))
            .map_err(|_| DriverError::Stopped)
    }

    /// See [`Election::update_peer_epoch`].
    pub fn update_peer_epoch(&self, epoch: i64) -> Result<(), DriverError> {
        self.commands
            .send(Command::UpdatePeerEpoch(epoch))
            .map_err(|_| DriverError::Stopped)
    }

    /// See [`Election::suspect`]: `sid` is believed dead until a notification from it arrives.
    /// Call it before [`ElectionHandle::look_for_leader`] so that the election it starts
    /// already knows (commands are handled in order).
    pub fn suspect(&self, sid: Sid) -> Result<(), DriverError> {
        self.commands
            .send(Command::Suspect(sid))
            .map_err(|_| DriverError::Stopped)
    }

    /// Installs a configuration a reconfig made, and this server's role in it, for the
    /// elections to come (commands are handled in order: call it before looking again).
    pub fn install_config(
        &self,
        config: QuorumConfig,
        learner_type: LearnerType,
    ) -> Result<(), DriverError> {
        self.commands
            .send(Command::Install(Box::new(config), learner_type))
            .map_err(|_| DriverError::Stopped)
    }

    /// The next advisory event (LOOKING peers seen by a leader, newer configurations).
    pub async fn next_event(&mut self) -> Option<ElectionEvent> {
        self.events.recv().await
    }

    /// Stops the task and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

/// Runs `election` over `transport` in a new tokio task.
pub fn spawn<T: Transport>(election: Election, transport: T) -> ElectionHandle {
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (event_tx, events) = mpsc::channel(EVENT_CAPACITY);
    let task = tokio::spawn(run(election, transport, command_rx, event_tx));
    ElectionHandle {
        commands,
        events,
        task: Some(task),
    }
}

async fn run<T: Transport>(
    mut election: Election,
    mut transport: T,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<ElectionEvent>,
) {
    let origin = Instant::now();
    let mut waiting: Option<oneshot::Sender<Result<Decision, DriverError>>> = None;
    loop {
        let deadline = election.poll_timeout().map(|d| origin + d);
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // In this order, so that a deterministic simulation replays exactly.
            biased;
            command = commands.recv() => match command {
                None => break,
                Some(Command::Look(data, reply)) => {
                    if let Some(previous) = waiting.replace(reply) {
                        let _ = previous.send(Err(DriverError::Superseded));
                    }
                    election.start(origin.elapsed(), data);
                }
                Some(Command::SetDecided(state, vote)) => election.set_decided(state, vote),
                Some(Command::UpdatePeerEpoch(epoch)) => election.update_peer_epoch(epoch),
                Some(Command::Suspect(sid)) => election.suspect(sid),
                Some(Command::Install(config, learner_type)) => {
                    election.install_config(*config);
                    election.set_learner_type(learner_type);
                }
            },
            message = transport.recv() => match message {
                None => break,
                Some((from, n)) => {
                    election.set_lost(transport.lost_peers());
                    election.on_notification(origin.elapsed(), from, n);
                }
            },
            () = sleep => election.on_timeout(origin.elapsed(), transport.have_delivered()),
        }
        while let Some(action) = election.poll_action() {
            match action {
                Action::Send { to, notification } => transport.send(to, notification),
                Action::ConnectAll => transport.connect_all(),
                Action::Decided(decision) => {
                    if let Some(reply) = waiting.take() {
                        let _ = reply.send(Ok(decision));
                    }
                }
                Action::PeerLooking { sid } => {
                    let _ = events.try_send(ElectionEvent::PeerLooking(sid));
                }
                Action::NewConfig {
                    from,
                    version,
                    config,
                } => {
                    let event = ElectionEvent::NewConfig {
                        from,
                        version,
                        config,
                    };
                    if events.try_send(event).is_err() {
                        // Advisory events are dropped while nobody reads them, but a newer
                        // configuration must reach the peer once it does.
                        election.report_configs_again();
                    }
                }
            }
        }
    }
}

type Inboxes = HashMap<Sid, mpsc::UnboundedSender<(Sid, Notification)>>;

/// An in-process network: every joined peer can send to every other one. Peers can be cut
/// off and rejoined to simulate failures.
#[derive(Debug, Clone, Default)]
pub struct InMemoryNetwork {
    inboxes: Arc<Mutex<Inboxes>>,
}

impl InMemoryNetwork {
    /// An empty network.
    pub fn new() -> InMemoryNetwork {
        InMemoryNetwork::default()
    }

    /// Adds (or replaces) peer `sid` and returns its transport.
    pub fn join(&self, sid: Sid) -> InMemoryTransport {
        let (tx, rx) = mpsc::unbounded_channel();
        self.inboxes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(sid, tx);
        InMemoryTransport {
            sid,
            network: self.clone(),
            inbox: rx,
        }
    }

    /// Removes peer `sid`: messages to it are dropped and its transport's `recv` ends.
    pub fn leave(&self, sid: Sid) {
        self.inboxes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&sid);
    }

    fn deliver(&self, from: Sid, to: Sid, msg: Notification) {
        let inboxes = self.inboxes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(inbox) = inboxes.get(&to) {
            let _ = inbox.send((from, msg));
        }
    }
}

/// One peer's end of an [`InMemoryNetwork`].
#[derive(Debug)]
pub struct InMemoryTransport {
    sid: Sid,
    network: InMemoryNetwork,
    inbox: mpsc::UnboundedReceiver<(Sid, Notification)>,
}

impl Transport for InMemoryTransport {
    fn send(&self, to: Sid, msg: Notification) {
        self.network.deliver(self.sid, to, msg);
    }

    fn recv(&mut self) -> impl Future<Output = Option<(Sid, Notification)>> + Send {
        self.inbox.recv()
    }
}
