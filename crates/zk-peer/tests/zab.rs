#![allow(clippy::unwrap_used)]

//! ZAB between whole peers in one process, over toy databases: what a leader commits every
//! member applies, in the same order; members that missed writes catch up by DIFF, by SNAP, or
//! by TRUNC of a tail no quorum ever acknowledged; learners' requests, syncs and session
//! revalidations reach the leader and come back.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use support::toy::Toy;
use support::{ensemble, eventually, settle, shutdown, start_with};
use zk_peer::{QuorumPeer, Replica, Role, Serving};
use zk_proto::peer::ForwardedRequest;

mod support;

const LIMIT: Duration = Duration::from_secs(15);

/// Starts every member of `specs` over its toy; waits until all serve under one leader.
async fn start_all(specs: &[zk_peer::ServerSpec], toys: &[Arc<Toy>]) -> Vec<QuorumPeer> {
    let mut peers = Vec::new();
    for (i, toy) in toys.iter().enumerate() {
        peers.push(start_with(specs, i as u64 + 1, toy.clone()).await);
    }
    settle(&peers, toys, LIMIT).await;
    peers
}

/// The toy of the member that leads.
fn leader_of(toys: &[Arc<Toy>]) -> Arc<Toy> {
    toys.iter()
        .find(|toy| matches!(toy.serving(), Some(Serving::Leader { .. })))
        .cloned()
        .expect("a leading member")
}

/// The digest the leader proposes transaction `zxid` with (any value the learners must get).
fn digest_of(zxid: i64) -> Option<i64> {
    Some(zxid.wrapping_mul(31))
}

/// Proposes `count` transactions through the leader and applies each to the leader's own toy
/// once committed, as the server's commit path does.
async fn write(leader: &Toy, count: usize, tag: &str) {
    let Some(Serving::Leader { epoch, proposer }) = leader.serving() else {
        panic!("not leading");
    };
    let first = leader.last_logged_zxid().max(epoch << 32) + 1;
    let mut pending = Vec::new();
    for i in 0..count {
        let zxid = first + i as i64;
        let data = Bytes::from(format!("{tag}-{i}"));
        pending.push((
            zxid,
            data.clone(),
            proposer.propose(zxid, data, 0, digest_of(zxid)).unwrap(),
        ));
    }
    for (zxid, data, committed) in pending {
        committed.await.unwrap();
        let txn = zk_peer::Txn {
            zxid,
            data,
            origin: 0,
            digest: digest_of(zxid),
            config: None,
        };
        leader.apply_committed(vec![txn]).unwrap();
    }
}

/// Waits until every toy in `toys` applied exactly what `reference` applied.
async fn converge(toys: &[Arc<Toy>], reference: &Toy) {
    let expected = reference.applied();
    eventually("every member to apply the same history", LIMIT, || {
        toys.iter().all(|toy| toy.applied() == expected)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_reach_every_member_in_order() {
    let specs = ensemble(3, 0);
    let toys: Vec<Arc<Toy>> = (0..3).map(|_| Toy::new()).collect();
    let peers = start_all(&specs, &toys).await;
    let leader = leader_of(&toys);
    write(&leader, 300, "a").await;
    assert_eq!(leader.applied().len(), 300);
    converge(&toys, &leader).await;
    // zxids are strictly increasing and all of the leader's epoch.
    let applied = leader.applied();
    assert!(applied.windows(2).all(|w| w[0].0 < w[1].0));
    // Each learner got every transaction with the digest it was proposed with.
    for toy in toys.iter().filter(|toy| !Arc::ptr_eq(toy, &leader)) {
        let digests = toy.state().digests.clone();
        assert_eq!(digests.len(), 300);
        assert!(
            digests
                .iter()
                .all(|(zxid, digest)| *digest == digest_of(*zxid))
        );
    }
    let epoch = leader.epochs().unwrap().current;
    assert!(applied.iter().all(|(zxid, _)| zxid >> 32 == epoch));
    shutdown(peers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_missed_writes_catches_up_by_diff_or_snap() {
    let specs = ensemble(3, 0);
    let mut toys: Vec<Arc<Toy>> = (0..3).map(|_| Toy::new()).collect();
    let mut peers = start_all(&specs, &toys).await;
    let leader = leader_of(&toys);
    write(&leader, 50, "before").await;
    converge(&toys, &leader).await;

    // A follower goes down, misses writes, and comes back with its log: DIFF.
    let down = (0..3).find(|&i| !Arc::ptr_eq(&toys[i], &leader)).unwrap();
    peers.remove(down).shutdown().await;
    write(&leader, 100, "while-down").await;
    peers.insert(
        down,
        start_with(&specs, down as u64 + 1, toys[down].clone()).await,
    );
    converge(&toys, &leader).await;

    // Its disk is lost: it comes back empty and gets the whole database: SNAP.
    peers.remove(down).shutdown().await;
    toys[down] = Toy::new();
    peers.insert(
        down,
        start_with(&specs, down as u64 + 1, toys[down].clone()).await,
    );
    converge(&toys, &leader).await;
    assert_eq!(toys[down].applied().len(), 150);
    shutdown(peers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_keeps_every_commit_and_truncates_an_unacknowledged_tail() {
    let specs = ensemble(3, 0);
    let toys: Vec<Arc<Toy>> = (0..3).map(|_| Toy::new()).collect();
    let mut peers = start_all(&specs, &toys).await;
    let old = leader_of(&toys);
    write(&old, 80, "first-term").await;
    let committed = old.applied();
    let old_index = toys.iter().position(|t| Arc::ptr_eq(t, &old)).unwrap();
    peers.remove(old_index).shutdown().await;
    // The old leader had logged one more proposal that nobody else saw.
    let stray = old.last_logged_zxid() + 1;
    old.append(stray, Bytes::from_static(b"never acknowledged"))
        .unwrap()
        .await
        .unwrap();

    let rest: Vec<Arc<Toy>> = toys
        .iter()
        .filter(|t| !Arc::ptr_eq(t, &old))
        .cloned()
        .collect();
    settle(&peers, &rest, LIMIT).await;
    let new = leader_of(&rest);
    assert!(
        new.applied().starts_with(&committed),
        "the new leader's history holds every commit of the old term"
    );
    write(&new, 40, "second-term").await;

    peers.insert(
        old_index,
        start_with(&specs, old_index as u64 + 1, old.clone()).await,
    );
    settle(&peers, &toys, LIMIT).await;
    converge(&toys, &new).await;
    assert!(
        !old.state().log.iter().any(|(zxid, _)| *zxid == stray),
        "the unacknowledged proposal was truncated"
    );
    shutdown(peers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observers_apply_commits_and_learners_forward_requests_syncs_and_revalidations() {
    let specs = ensemble(4, 1);
    let toys: Vec<Arc<Toy>> = (0..4).map(|_| Toy::new()).collect();
    let peers = start_all(&specs, &toys).await;
    let observer = &toys[3];
    assert!(matches!(
        observer.serving(),
        Some(Serving::Learner { observer: true, .. })
    ));
    assert_eq!(peers[3].status().borrow().role, Role::Observing);
    let leader = leader_of(&toys);
    write(&leader, 60, "x").await;
    converge(&toys, &leader).await;

    let Some(Serving::Learner { forwarder, .. }) = observer.serving() else {
        panic!("the observer serves as a learner");
    };
    let request = ForwardedRequest {
        session_id: 7,
        cxid: 1,
        op_type: 1,
        body: Bytes::from_static(b"create"),
        auth: Vec::new(),
    };
    assert!(forwarder.forward(request.clone()));
    eventually("the leader to receive the request", LIMIT, || {
        leader
            .state()
            .forwarded
            .iter()
            .any(|(from, r)| *from == 4 && *r == request)
    })
    .await;
    let sync = ForwardedRequest {
        op_type: zk_peer::leader::OP_SYNC,
        ..request
    };
    assert!(forwarder.forward(sync));
    eventually("the sync to come back", LIMIT, || {
        observer.state().syncs_done == 1
    })
    .await;
    // REVALIDATE: the leader's answer comes back to the learner that asked.
    assert!(forwarder.revalidate(42, 30_000));
    assert!(forwarder.revalidate(-1, 30_000));
    eventually("the revalidation answers", LIMIT, || {
        observer.state().revalidated == [(42, true), (-1, false)]
    })
    .await;
    shutdown(peers).await;
}
