//! The tokio driver over the in-memory transport.
#![cfg(feature = "tokio")]
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use zk_election::driver::{self, ElectionEvent, InMemoryNetwork};
use zk_election::{Election, InitialVote, QuorumConfig, QuorumVerifier, ServerState, make_zxid};

fn data(counter: u32) -> InitialVote {
    InitialVote {
        last_logged_zxid: make_zxid(2, counter),
        current_epoch: 2,
    }
}

/// Elections of peers 1, 2 and 3 on one in-memory network.
fn three_peers() -> (QuorumConfig, InMemoryNetwork, Vec<driver::ElectionHandle>) {
    let config = QuorumConfig::new(QuorumVerifier::majority([1, 2, 3]));
    let net = InMemoryNetwork::new();
    let handles = [1, 2, 3]
        .iter()
        .map(|&sid| driver::spawn(Election::new(sid, config.clone()), net.join(sid)))
        .collect();
    (config, net, handles)
}

#[tokio::test(start_paused = true)]
async fn three_peers_elect_the_most_up_to_date_and_a_restarted_peer_rejoins() {
    let (config, net, mut handles) = three_peers();
    let pending: Vec<_> = handles
        .iter()
        .zip([5, 9, 7])
        .map(|(h, c)| h.look_for_leader(data(c)))
        .collect();
    let mut decisions = Vec::new();
    for p in pending {
        decisions.push(p.await.unwrap());
    }
    let states: Vec<_> = decisions.iter().map(|d| (d.state, d.vote.leader)).collect();
    assert_eq!(
        states,
        vec![
            (ServerState::Following, 2),
            (ServerState::Leading, 2),
            (ServerState::Following, 2)
        ]
    );

    // Peer 3 restarts (new process: fresh election, logical clock 0) and joins via L10,
    // which the leader reports as a LOOKING peer.
    let old = handles.pop().unwrap();
    old.shutdown().await;
    net.leave(3);
    let again = driver::spawn(Election::new(3, config.clone()), net.join(3));
    let joined = tokio::time::timeout(Duration::from_secs(5), again.look_for_leader(data(7)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (joined.state, joined.vote.leader),
        (ServerState::Following, 2)
    );
    assert_eq!(
        handles[1].next_event().await,
        Some(ElectionEvent::PeerLooking(3))
    );
}

/// Peers 1 and 3 after their leader 2 died, re-electing with `suspect_leader` or not; returns
/// the decisions and how long (virtual time) the election took.
async fn reelect_without_leader(suspect_leader: bool) -> (Vec<(ServerState, u64)>, Duration) {
    let (_, net, mut handles) = three_peers();
    let first: Vec<_> = handles
        .iter()
        .zip([5, 9, 7])
        .map(|(h, c)| h.look_for_leader(data(c)))
        .collect();
    for decision in first {
        assert_eq!(decision.await.unwrap().vote.leader, 2);
    }
    let leader = handles.remove(1);
    leader.shutdown().await;
    net.leave(2);
    let started = tokio::time::Instant::now();
    let again: Vec<_> = handles
        .iter()
        .map(|h| {
            if suspect_leader {
                h.suspect(2).unwrap();
            }
            h.look_for_leader(data(9))
        })
        .collect();
    let mut decisions = Vec::new();
    for decision in again {
        let decision = decision.await.unwrap();
        decisions.push((decision.state, decision.vote.leader));
    }
    (decisions, started.elapsed())
}

#[tokio::test(start_paused = true)]
async fn a_suspected_dead_leader_is_not_waited_for() {
    let elected = vec![(ServerState::Following, 3), (ServerState::Leading, 3)];
    let (decisions, took) = reelect_without_leader(true).await;
    assert_eq!(decisions, elected);
    assert!(took < Duration::from_millis(10), "took {took:?}");
    // Without the suspicion the in-memory transport cannot tell that 2 is gone: finalizeWait.
    let (decisions, took) = reelect_without_leader(false).await;
    assert_eq!(decisions, elected);
    assert!(took >= Duration::from_millis(200), "took {took:?}");
}

#[tokio::test]
async fn a_stopped_driver_reports_stopped() {
    let config = QuorumConfig::new(QuorumVerifier::majority([1]));
    let net = InMemoryNetwork::new();
    let handle = driver::spawn(Election::new(1, config), net.join(1));
    let alone = handle.look_for_leader(data(1)).await.unwrap();
    assert_eq!(
        alone.state,
        ServerState::Leading,
        "a one-voter ensemble elects itself"
    );
    net.leave(1);
    let err = handle.look_for_leader(data(1)).await;
    assert_eq!(err, Err(driver::DriverError::Stopped));
}
