//! Shared helpers: loopback clusters on ports chosen at run time, votes, and polling.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::TcpListener;
use std::time::Duration;

use zk_cnxmgr::{CnxConfig, CnxManager, CnxOptions, Inbox};
use zk_election::{Notification, ServerState, Sid, Vote};

/// Options that keep tests quick: short backoff and dial-back wait.
pub fn fast_options() -> CnxOptions {
    CnxOptions {
        connect_timeout: Duration::from_secs(2),
        handshake_timeout: Duration::from_secs(2),
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(300),
        dial_back_wait: Duration::from_millis(500),
        bind_retry_delay: Duration::from_millis(200),
        ..CnxOptions::default()
    }
}

/// Servers `sids` on 127.0.0.1, each listening on a port bound before any of them starts.
pub struct Cluster {
    pub addresses: BTreeMap<Sid, String>,
    pub managers: BTreeMap<Sid, CnxManager>,
    /// Inboxes not taken by an election driver.
    pub inboxes: BTreeMap<Sid, Inbox>,
}

impl Cluster {
    pub async fn start(sids: &[Sid]) -> Cluster {
        let listeners: Vec<(Sid, TcpListener)> = sids
            .iter()
            .map(|&sid| (sid, TcpListener::bind("127.0.0.1:0").unwrap()))
            .collect();
        let addresses: BTreeMap<Sid, String> = listeners
            .iter()
            .map(|(sid, l)| (*sid, l.local_addr().unwrap().to_string()))
            .collect();
        let mut cluster = Cluster {
            addresses,
            managers: BTreeMap::new(),
            inboxes: BTreeMap::new(),
        };
        for (sid, listener) in listeners {
            let config = config_for(sid, &cluster.addresses);
            let (manager, inbox) = CnxManager::start_with_listener(config, listener)
                .await
                .unwrap();
            cluster.managers.insert(sid, manager);
            cluster.inboxes.insert(sid, inbox);
        }
        cluster
    }

    pub fn manager(&self, sid: Sid) -> &CnxManager {
        &self.managers[&sid]
    }

    pub fn inbox(&mut self, sid: Sid) -> &mut Inbox {
        self.inboxes.get_mut(&sid).unwrap()
    }

    /// Stops `sid` (if running) and starts a fresh manager for it on the same address.
    pub async fn restart(&mut self, sid: Sid) {
        if self.managers.contains_key(&sid) {
            self.stop(sid).await;
        }
        let config = config_for(sid, &self.addresses);
        let (manager, inbox) = CnxManager::start(config).await.unwrap();
        assert_eq!(manager.local_addr().to_string(), self.addresses[&sid]);
        self.managers.insert(sid, manager);
        self.inboxes.insert(sid, inbox);
    }

    pub async fn stop(&mut self, sid: Sid) {
        self.inboxes.remove(&sid);
        self.managers.remove(&sid).unwrap().shutdown().await;
    }

    /// Waits until every pair of running servers is linked.
    pub async fn fully_linked(&self) -> bool {
        eventually(Duration::from_secs(10), || {
            self.managers.iter().all(|(sid, manager)| {
                let others: Vec<Sid> = self.managers.keys().copied().filter(|s| s != sid).collect();
                manager.connected_peers() == others
            })
        })
        .await
    }
}

pub fn config_for(sid: Sid, addresses: &BTreeMap<Sid, String>) -> CnxConfig {
    CnxConfig::new(sid, &addresses[&sid], addresses.clone()).with_options(fast_options())
}

/// A LOOKING vote for `leader` in round `round`.
pub fn vote(leader: Sid, round: i64) -> Notification {
    Notification::new(
        ServerState::Looking,
        Vote {
            leader,
            zxid: 0x1_0000_0000 + round,
            election_epoch: round,
            peer_epoch: 1,
        },
        Some(b"version=100000000".as_slice().into()),
    )
}

/// Polls `condition` every 10 ms until it holds (true) or `limit` passes (false).
pub async fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The next received message, or `None` after `limit`.
pub async fn recv_within(inbox: &mut Inbox, limit: Duration) -> Option<(Sid, Notification)> {
    tokio::time::timeout(limit, inbox.recv())
        .await
        .ok()
        .flatten()
}

/// Awaits `future` or fails the test after `limit`.
pub async fn within<T>(limit: Duration, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, future)
        .await
        .expect("timed out")
}
