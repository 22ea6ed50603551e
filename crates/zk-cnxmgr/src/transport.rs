//! [`ElectionTransport`]: a [`CnxManager`](crate::CnxManager) seen through
//! `zk_election`'s [`Transport`] trait, so that `zk_election::driver::spawn` runs
//! FastLeaderElection over real sockets.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Mutex;

use zk_election::driver::Transport;
use zk_election::{Notification, Sid};

use crate::manager::{CnxHandle, Inbox};

/// A sending handle and the inbox of one connection manager.
#[derive(Debug)]
pub struct ElectionTransport {
    handle: CnxHandle,
    inbox: Inbox,
    /// Peers we have had a link to at some point: a missing link to one of them is a loss.
    ever_linked: Mutex<BTreeSet<Sid>>,
}

impl ElectionTransport {
    /// Pairs a manager's handle with its inbox.
    pub fn new(handle: CnxHandle, inbox: Inbox) -> ElectionTransport {
        ElectionTransport {
            handle,
            inbox,
            ever_linked: Mutex::default(),
        }
    }
}

impl Transport for ElectionTransport {
    fn send(&self, to: Sid, msg: Notification) {
        self.handle.send(to, msg);
    }

    fn recv(&mut self) -> impl Future<Output = Option<(Sid, Notification)>> + Send {
        self.inbox.recv()
    }

    fn connect_all(&self) {
        self.handle.connect_all();
    }

    fn have_delivered(&self) -> bool {
        self.handle.have_delivered()
    }

    fn lost_peers(&self) -> Option<Vec<Sid>> {
        let connected = self.handle.connected_peers();
        let mut ever = self.ever_linked.lock().ok()?;
        ever.extend(connected.iter().copied());
        Some(
            ever.iter()
                .copied()
                .filter(|sid| !connected.contains(sid))
                .collect(),
        )
    }
}
