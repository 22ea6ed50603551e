#![allow(clippy::unwrap_used)]

//! Peers in one process elect a leader, keep it while a quorum is in touch, and elect another
//! when it goes away.

use std::time::Duration;

use support::{ensemble, one_leader, start, wait_for};
use zk_peer::Role;

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_peers_elect_the_highest_sid_and_fail_over() {
    let specs = ensemble(3, 0);
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
    let specs = ensemble(3, 0);
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
