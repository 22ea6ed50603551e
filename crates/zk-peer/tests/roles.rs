#![allow(clippy::unwrap_used)]

//! Peers in one process elect a leader, keep it while a quorum is in touch, and elect another
//! when it goes away.

use std::time::Duration;

use tokio::time::Instant;
use zk_peer::{EnsembleConfig, InitialVote, QuorumPeer, Role, ServerSpec};

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

fn ensemble(size: u64) -> Vec<ServerSpec> {
    let ports = free_ports(size as usize * 2);
    (1..=size)
        .map(|sid| {
            let i = (sid as usize - 1) * 2;
            let line = format!("127.0.0.1:{}:{}", ports[i], ports[i + 1]);
            ServerSpec::parse(&sid.to_string(), &line).unwrap()
        })
        .collect()
}

async fn start(specs: &[ServerSpec], sid: u64) -> QuorumPeer {
    let config =
        EnsembleConfig::new(sid, specs.to_vec(), Duration::from_millis(100), 10, 5).unwrap();
    let initial = InitialVote {
        last_logged_zxid: 0,
        current_epoch: 0,
    };
    QuorumPeer::start(config, initial).await.unwrap()
}

/// Waits until `check` holds for the peers' roles, or fails after `limit`.
async fn wait_for(
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

fn one_leader(roles: &[Role]) -> bool {
    roles.iter().filter(|r| **r == Role::Leading).count() == 1
        && roles
            .iter()
            .all(|r| matches!(r, Role::Leading | Role::Following))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_peers_elect_the_highest_sid_and_fail_over() {
    let specs = ensemble(3);
    let p1 = start(&specs, 1).await;
    let p2 = start(&specs, 2).await;
    let p3 = start(&specs, 3).await;
    let all = [(1, &p1), (2, &p2), (3, &p3)];
    let roles = wait_for(&all, Duration::from_secs(10), one_leader).await;
    assert_eq!(
        roles[2],
        Role::Leading,
        "equal zxids: the highest sid leads"
    );
    assert_eq!(p1.status().borrow().leader, Some(3));

    p3.shutdown().await;
    let rest = [(1, &p1), (2, &p2)];
    let roles = wait_for(&rest, Duration::from_secs(10), one_leader).await;
    assert_eq!(roles, [Role::Following, Role::Leading]);

    // The old leader comes back and joins the new one.
    let p3 = start(&specs, 3).await;
    let all = [(1, &p1), (2, &p2), (3, &p3)];
    let roles = wait_for(&all, Duration::from_secs(10), one_leader).await;
    assert_eq!(roles, [Role::Following, Role::Leading, Role::Following]);
    for peer in [p1, p2, p3] {
        peer.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minority_never_elects() {
    let specs = ensemble(3);
    let p1 = start(&specs, 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(p1.status().borrow().role, Role::Looking);
    let p2 = start(&specs, 2).await;
    let both = [(1, &p1), (2, &p2)];
    let roles = wait_for(&both, Duration::from_secs(10), one_leader).await;
    assert_eq!(roles, [Role::Following, Role::Leading]);
    // A leader that loses its only follower steps down.
    p1.shutdown().await;
    let alone = [(2, &p2)];
    wait_for(&alone, Duration::from_secs(10), |r| r == [Role::Looking]).await;
    p2.shutdown().await;
}
