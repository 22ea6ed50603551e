//! What the peer tests share: ensembles of loopback peers in one process, over toy databases.

#![allow(dead_code, reason = "each test file uses its own part")]

pub mod sim;
pub mod toy;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use zk_peer::{EnsembleConfig, QuorumPeer, Role, ServerSpec};

use toy::Toy;

/// Free loopback ports: bound on port 0, then released for the peers to bind.
fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// `size` members on loopback; the last `observers` of them observe.
pub fn ensemble(size: u64, observers: u64) -> Vec<ServerSpec> {
    let ports = free_ports(size as usize * 2);
    (1..=size)
        .map(|sid| {
            let i = (sid as usize - 1) * 2;
            let mut line = format!("127.0.0.1:{}:{}", ports[i], ports[i + 1]);
            if sid > size - observers {
                line.push_str(":observer");
            }
            ServerSpec::parse(&sid.to_string(), &line).unwrap()
        })
        .collect()
}

pub async fn start_with(specs: &[ServerSpec], sid: u64, replica: Arc<Toy>) -> QuorumPeer {
    QuorumPeer::start(config(specs, sid), replica)
        .await
        .unwrap()
}

/// Like [`start_with`], with `reconfigEnabled`.
pub async fn start_reconfigurable(specs: &[ServerSpec], sid: u64, replica: Arc<Toy>) -> QuorumPeer {
    let config = config(specs, sid).with_reconfig_enabled(true);
    QuorumPeer::start(config, replica).await.unwrap()
}

fn config(specs: &[ServerSpec], sid: u64) -> EnsembleConfig {
    EnsembleConfig::new(sid, specs.to_vec(), Duration::from_millis(100), 10, 5).unwrap()
}

/// Waits for one leader with every running member's toy serving clients.
#[allow(dead_code)]
pub async fn settle(peers: &[QuorumPeer], toys: &[Arc<Toy>], limit: Duration) {
    let tagged: Vec<(u64, &QuorumPeer)> = peers.iter().map(|p| (0, p)).collect();
    wait_for(&tagged, limit, one_leader).await;
    eventually("every member serving", limit, || {
        toys.iter().all(|toy| toy.serving().is_some())
    })
    .await;
}

/// Stops every peer, one after the other.
#[allow(dead_code)]
pub async fn shutdown(peers: Vec<QuorumPeer>) {
    for peer in peers {
        peer.shutdown().await;
    }
}

pub async fn start(specs: &[ServerSpec], sid: u64) -> QuorumPeer {
    start_with(specs, sid, Toy::new()).await
}

/// Waits until `check` holds for the peers' roles, or fails after `limit`.
pub async fn wait_for(
    peers: &[(u64, &QuorumPeer)],
    limit: Duration,
    check: impl Fn(&[Role]) -> bool,
) -> Vec<Role> {
    let deadline = Instant::now() + limit;
    loop {
        let roles: Vec<Role> = peers
            .iter()
            .map(|(_, p)| p.status().borrow().role)
            .collect();
        if check(&roles) {
            return roles;
        }
        assert!(Instant::now() < deadline, "roles stayed {roles:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `check` every 10 ms until it holds, or fails after `limit` with `what`.
pub async fn eventually(what: &str, limit: Duration, check: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn one_leader(roles: &[Role]) -> bool {
    roles.iter().filter(|r| **r == Role::Leading).count() == 1
        && roles
            .iter()
            .all(|r| matches!(r, Role::Leading | Role::Following | Role::Observing))
}
