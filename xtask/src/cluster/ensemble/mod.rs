//! A local ensemble of real server processes — ours or Apache ZooKeeper, started the same way from
//! the same zoo.cfg files — watched only through four-letter words.
//!
//! Only std, serde's derives and thiserror are used here, so that the process-level election
//! tests of crates/zk-server can include this module by path and drive the same code as
//! `cargo xtask cluster` and `cargo xtask bench-election`.

mod four_letter;
mod layout;
mod process;
mod roles;

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::PathBuf;
use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use four_letter::ServerStatus;
pub use layout::{NodePaths, NodeRecord};
pub use process::ServerCommand;
pub use roles::{Role, Roles};

/// How long one four-letter word may take.
const FOUR_LETTER_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a new process may take to show its command line.
const EXEC_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a killed process may take to disappear.
const KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// `stop`: how long SIGTERM is given before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot {action}")]
    Io {
        action: String,
        #[source]
        source: io::Error,
    },
    #[error("an ensemble needs at least one voting member")]
    NoVoters,
    #[error("there is no node {0} in this ensemble")]
    UnknownNode(u64),
    #[error("node {id} is already running (pid {pid})")]
    AlreadyRunning { id: u64, pid: u32 },
    #[error("node {0} is not running")]
    NotRunning(u64),
    #[error("node {id} exited while starting; {log}")]
    Exited { id: u64, log: String },
    #[error("node {id} (pid {pid}) still runs after SIGKILL")]
    Unkillable { id: u64, pid: u32 },
    #[error("gave up after {waited:?} waiting for {what}; last seen: {last}")]
    Timeout {
        what: String,
        waited: Duration,
        last: String,
    },
}

fn io_error(action: impl Into<String>) -> impl FnOnce(io::Error) -> ClusterError {
    let action = action.into();
    move |source| ClusterError::Io { action, source }
}

/// What to create.
#[derive(Debug, Clone)]
pub struct Options {
    /// Holds `node<N>/` per node; made if missing.
    pub dir: PathBuf,
    /// Voting members (ids 1..=voters).
    pub voters: usize,
    /// Observers (the ids after the voters).
    pub observers: usize,
    pub tick_time_ms: u32,
    pub server: ServerCommand,
    /// How long a started node may take to answer `ruok`.
    pub start_timeout: Duration,
}

impl Options {
    pub fn new(dir: impl Into<PathBuf>, voters: usize, server: ServerCommand) -> Self {
        Options {
            dir: dir.into(),
            voters,
            observers: 0,
            tick_time_ms: 2000,
            server,
            start_timeout: Duration::from_secs(60),
        }
    }
}

/// Everything needed to find an ensemble's processes again (the content of cluster.json).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    pub server: ServerCommand,
    pub nodes: Vec<NodeRecord>,
}

/// A local ensemble. Dropping it kills the processes it runs, unless [`Cluster::detach`] handed
/// them over to a later invocation.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    state: ClusterState,
    /// Processes started by this very process: waited for after a kill, so that no zombie
    /// lingers (and looks alive) while a test or benchmark runs on.
    children: HashMap<u64, Child>,
    start_timeout: Duration,
    poll_interval: Duration,
    stop_on_drop: bool,
}

impl Cluster {
    /// Writes every node's zoo.cfg and myid on fresh ports; starts nothing.
    pub fn create(options: &Options) -> Result<Self, ClusterError> {
        if options.voters == 0 {
            return Err(ClusterError::NoVoters);
        }
        let nodes =
            layout::plan(options.voters, options.observers).map_err(io_error("pick free ports"))?;
        for node in &nodes {
            let paths = NodePaths::new(&options.dir, node.id);
            fs::create_dir_all(&paths.data_dir)
                .map_err(io_error(format!("create {}", paths.data_dir.display())))?;
            let cfg = layout::zoo_cfg(node, &nodes, &paths.data_dir, options.tick_time_ms);
            fs::write(&paths.zoo_cfg, cfg)
                .map_err(io_error(format!("write {}", paths.zoo_cfg.display())))?;
            write_myid(&paths, node.id)?;
        }
        Ok(Cluster {
            dir: options.dir.clone(),
            state: ClusterState {
                server: options.server.clone(),
                nodes,
            },
            children: HashMap::new(),
            start_timeout: options.start_timeout,
            poll_interval: Duration::from_millis(50),
            stop_on_drop: true,
        })
    }

    /// Creates the ensemble and starts every node ([`Cluster::start_all`]).
    pub fn start(options: &Options) -> Result<Self, ClusterError> {
        let mut cluster = Cluster::create(options)?;
        cluster.start_all()?;
        Ok(cluster)
    }

    /// Starts every node that is not running, one at a time in [`Cluster::start_order`], each
    /// answering `ruok` before the next starts.
    pub fn start_all(&mut self) -> Result<(), ClusterError> {
        for id in self.start_order() {
            if self.node(id)?.pid().is_none() {
                self.start_node(id)?;
            }
        }
        Ok(())
    }

    /// Highest id first: then whichever majority comes up first contains the highest id, and a
    /// fresh ensemble elects it however slowly each process starts (JVMs started together come
    /// up in any order).
    pub fn start_order(&self) -> Vec<u64> {
        let mut ids = self.ids();
        ids.reverse();
        ids
    }

    /// An ensemble started earlier (by another process), as recorded in its state.
    pub fn attach(dir: impl Into<PathBuf>, state: ClusterState) -> Self {
        Cluster {
            dir: dir.into(),
            state,
            children: HashMap::new(),
            start_timeout: Duration::from_secs(60),
            poll_interval: Duration::from_millis(50),
            stop_on_drop: false,
        }
    }

    /// Leaves the processes running past this value's life; returns what finds them again.
    pub fn detach(mut self) -> ClusterState {
        self.stop_on_drop = false;
        self.state.clone()
    }

    pub fn state(&self) -> &ClusterState {
        &self.state
    }

    /// Between two polls of [`Cluster::wait_for`] (default 50 ms).
    pub fn set_poll_interval(&mut self, interval: Duration) {
        self.poll_interval = interval;
    }

    /// Runs later (re)starts with another server, e.g. Apache ZooKeeper on the same zoo.cfg files.
    pub fn set_server(&mut self, server: ServerCommand) {
        self.state.server = server;
    }

    pub fn ids(&self) -> Vec<u64> {
        self.state.nodes.iter().map(|node| node.id).collect()
    }

    /// Voting members only.
    pub fn voter_ids(&self) -> Vec<u64> {
        let voters = self.state.nodes.iter().filter(|node| !node.observer);
        voters.map(|node| node.id).collect()
    }

    /// A majority of the voting members.
    pub fn quorum_size(&self) -> usize {
        self.voter_ids().len() / 2 + 1
    }

    /// `127.0.0.1:p1,127.0.0.1:p2,...` for clients.
    pub fn connect_string(&self) -> String {
        let hosts: Vec<_> = self
            .state
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.client_port))
            .collect();
        hosts.join(",")
    }

    pub fn node(&self, id: u64) -> Result<Node<'_>, ClusterError> {
        self.record(id).map(|record| Node {
            record,
            paths: NodePaths::new(&self.dir, id),
        })
    }

    fn record(&self, id: u64) -> Result<&NodeRecord, ClusterError> {
        let found = self.state.nodes.iter().find(|node| node.id == id);
        found.ok_or(ClusterError::UnknownNode(id))
    }

    fn record_mut(&mut self, id: u64) -> Result<&mut NodeRecord, ClusterError> {
        let found = self.state.nodes.iter_mut().find(|node| node.id == id);
        found.ok_or(ClusterError::UnknownNode(id))
    }

    /// Starts node `id` (which must not be running) and waits until it answers `ruok`.
    pub fn start_node(&mut self, id: u64) -> Result<(), ClusterError> {
        self.spawn(id)?;
        self.wait_answering(id)
    }

    fn spawn(&mut self, id: u64) -> Result<(), ClusterError> {
        let node = self.node(id)?;
        if let Some(pid) = node.pid() {
            return Err(ClusterError::AlreadyRunning { id, pid });
        }
        let paths = node.paths;
        let child = process::spawn(&self.state.server, &paths.zoo_cfg, &paths.dir, &paths.log)
            .map_err(io_error(format!(
                "start {} for node {id}",
                self.state.server.program.display()
            )))?;
        let pid = child.id();
        self.record_mut(id)?.pid = Some(pid);
        self.children.insert(id, child);
        // Until its execve is through, the process does not show its zoo.cfg (see
        // process::runs_config); only a recognisable process counts as this node.
        let deadline = Instant::now() + EXEC_TIMEOUT;
        while !process::runs_config(pid, &paths.zoo_cfg) {
            if !process::is_alive(pid) || Instant::now() >= deadline {
                return Err(ClusterError::Timeout {
                    what: format!("node {id} (pid {pid}) to start"),
                    waited: EXEC_TIMEOUT,
                    last: self.log_tail(id, 5),
                });
            }
            thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// Waits until node `id` answers `ruok` (it may still be electing).
    fn wait_answering(&self, id: u64) -> Result<(), ClusterError> {
        let node = self.node(id)?;
        let deadline = Instant::now() + self.start_timeout;
        while !node.answers_ruok() {
            // Not `node.pid()`: a launcher script that execs the server briefly shows no
            // command line.
            if !node.record.pid.is_some_and(process::is_alive) {
                return Err(ClusterError::Exited {
                    id,
                    log: self.log_tail(id, 10),
                });
            }
            if Instant::now() >= deadline {
                return Err(ClusterError::Timeout {
                    what: format!("node {id} to answer ruok"),
                    waited: self.start_timeout,
                    last: self.log_tail(id, 10),
                });
            }
            thread::sleep(self.poll_interval);
        }
        Ok(())
    }

    /// SIGKILL to node `id`, then waits until the process is gone.
    pub fn kill(&mut self, id: u64) -> Result<(), ClusterError> {
        let pid = self.node(id)?.pid().ok_or(ClusterError::NotRunning(id))?;
        process::send(pid, process::Signal::Kill).map_err(io_error(format!("kill node {id}")))?;
        self.wait_gone(id, pid, KILL_TIMEOUT)?;
        Ok(())
    }

    /// Starts node `id` again on its zoo.cfg and data (SIGKILLing it first if it still runs).
    pub fn restart(&mut self, id: u64) -> Result<(), ClusterError> {
        if self.node(id)?.pid().is_some() {
            self.kill(id)?;
        }
        self.record_mut(id)?.pid = None;
        self.start_node(id)
    }

    /// SIGTERM to every running node; SIGKILL to those still there after 10 s.
    pub fn stop(&mut self) -> Result<(), ClusterError> {
        let running: Vec<(u64, u32)> = self
            .ids()
            .into_iter()
            .filter_map(|id| Some((id, self.node(id).ok()?.pid()?)))
            .collect();
        for &(id, pid) in &running {
            process::send(pid, process::Signal::Term)
                .map_err(io_error(format!("stop node {id}")))?;
        }
        let deadline = Instant::now() + STOP_GRACE;
        for &(id, pid) in &running {
            let left = deadline.saturating_duration_since(Instant::now());
            if self.wait_gone(id, pid, left).is_err() {
                process::send(pid, process::Signal::Kill)
                    .map_err(io_error(format!("kill node {id}")))?;
                self.wait_gone(id, pid, KILL_TIMEOUT)?;
            }
        }
        for node in &mut self.state.nodes {
            node.pid = None;
        }
        Ok(())
    }

    /// Waits until `pid` no longer runs node `id`'s config; reaps it if it is our child.
    fn wait_gone(&mut self, id: u64, pid: u32, timeout: Duration) -> Result<(), ClusterError> {
        let zoo_cfg = NodePaths::new(&self.dir, id).zoo_cfg;
        let deadline = Instant::now() + timeout;
        loop {
            // A child of ours stays a zombie (and its cmdline empty) until waited for.
            let exited = self
                .children
                .get_mut(&id)
                .is_some_and(|child| matches!(child.try_wait(), Ok(Some(_))));
            if exited {
                self.children.remove(&id);
            }
            if !process::runs_config(pid, &zoo_cfg) {
                self.record_mut(id)?.pid = None;
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ClusterError::Unkillable { id, pid });
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Every node's role right now.
    pub fn roles(&self) -> Roles {
        Roles::new(
            self.state
                .nodes
                .iter()
                .map(|record| (record.id, self.node_of(record).status().role))
                .collect(),
        )
    }

    fn node_of<'a>(&'a self, record: &'a NodeRecord) -> Node<'a> {
        Node {
            record,
            paths: NodePaths::new(&self.dir, record.id),
        }
    }

    /// Polls the roles until `done` holds for them; `what` names the wait in the error.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Roles) -> bool,
    ) -> Result<Roles, ClusterError> {
        let started = Instant::now();
        loop {
            let roles = self.roles();
            if done(&roles) {
                return Ok(roles);
            }
            if started.elapsed() >= timeout {
                return Err(ClusterError::Timeout {
                    what: what.to_owned(),
                    waited: timeout,
                    last: roles.to_string(),
                });
            }
            thread::sleep(self.poll_interval);
        }
    }

    /// Removes every node's data (keeping myid), for a fresh start on the same zoo.cfg files.
    /// Nodes must be stopped.
    pub fn wipe_data(&self) -> Result<(), ClusterError> {
        for node in &self.state.nodes {
            if let Some(pid) = self.node_of(node).pid() {
                return Err(ClusterError::AlreadyRunning { id: node.id, pid });
            }
            let paths = NodePaths::new(&self.dir, node.id);
            fs::remove_dir_all(&paths.data_dir)
                .map_err(io_error(format!("remove {}", paths.data_dir.display())))?;
            fs::create_dir_all(&paths.data_dir)
                .map_err(io_error(format!("create {}", paths.data_dir.display())))?;
            write_myid(&paths, node.id)?;
        }
        Ok(())
    }

    /// The last `lines` lines of node `id`'s log, for error messages.
    pub fn log_tail(&self, id: u64, lines: usize) -> String {
        let log = NodePaths::new(&self.dir, id).log;
        let text = fs::read(&log).map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
        match text {
            Ok(text) => {
                let all: Vec<_> = text.lines().collect();
                let tail = all
                    .get(all.len().saturating_sub(lines)..)
                    .unwrap_or_default();
                format!("{} ends with:\n{}", log.display(), tail.join("\n"))
            }
            Err(error) => format!("{}: {error}", log.display()),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.stop_on_drop {
            return;
        }
        for id in self.ids() {
            if let Some(pid) = self.node(id).ok().and_then(|node| node.pid()) {
                let _ = process::send(pid, process::Signal::Kill);
            }
        }
        for (_, mut child) in self.children.drain() {
            let _ = child.wait();
        }
    }
}

fn write_myid(paths: &NodePaths, id: u64) -> Result<(), ClusterError> {
    fs::write(&paths.myid, format!("{id}\n"))
        .map_err(io_error(format!("write {}", paths.myid.display())))
}

/// One node of a [`Cluster`].
#[derive(Debug)]
pub struct Node<'a> {
    record: &'a NodeRecord,
    paths: NodePaths,
}

impl Node<'_> {
    pub fn is_observer(&self) -> bool {
        self.record.observer
    }

    pub fn client_port(&self) -> u16 {
        self.record.client_port
    }

    /// The AdminServer's port, 0 when it is off.
    pub fn admin_port(&self) -> u16 {
        self.record.admin_port
    }

    /// The recorded pid, if that process still runs this node's config.
    pub fn pid(&self) -> Option<u32> {
        self.record
            .pid
            .filter(|pid| process::runs_config(*pid, &self.paths.zoo_cfg))
    }

    /// `srvr`: role and last zxid (`Down` when the process is gone or does not answer).
    pub fn status(&self) -> ServerStatus {
        if self.pid().is_none() {
            return ServerStatus::DOWN;
        }
        ServerStatus::query(self.record.client_port, FOUR_LETTER_TIMEOUT)
    }

    pub fn role(&self) -> Role {
        self.status().role
    }

    pub fn answers_ruok(&self) -> bool {
        four_letter::ask(self.record.client_port, "ruok", FOUR_LETTER_TIMEOUT)
            .is_ok_and(|reply| reply.starts_with("imok"))
    }
}
