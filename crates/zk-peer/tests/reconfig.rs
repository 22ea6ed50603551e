#![allow(clippy::unwrap_used)]

//! Reconfigs that change the voters, between whole peers over toy databases: a server that
//! joined as a follower becomes a voter whose acknowledgements count, removed members follow
//! on without a vote (as ZooKeeper's), and a leader a reconfig removes hands the ensemble to
//! the new voters and follows the new leader.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use support::toy::Toy;
use support::{ensemble, eventually, settle, shutdown, start_reconfigurable};
use zk_peer::{QuorumPeer, Replica, Role, ServerSpec, Serving, Txn};

mod support;

const LIMIT: Duration = Duration::from_secs(15);

/// The index of the toy that leads.
fn leader_index(toys: &[Arc<Toy>]) -> usize {
    toys.iter()
        .position(|toy| matches!(toy.serving(), Some(Serving::Leader { .. })))
        .expect("a leading member")
}

/// Proposes one transaction through the leader (a reconfig when `members` is given) and
/// applies it to the leader's toy once committed, as the server's commit path does.
async fn commit(leader: &Toy, data: String, members: Option<&[ServerSpec]>) {
    let Some(Serving::Leader { epoch, proposer }) = leader.serving() else {
        panic!("not leading");
    };
    let zxid = leader.last_logged_zxid().max(epoch << 32) + 1;
    let (data, committed) = match members {
        Some(members) => {
            let text = zk_peer::config_text(members, zxid);
            let data = Bytes::from(format!("reconfig:{text}"));
            let committed = proposer
                .propose_reconfig(zxid, data.clone(), 0, None, Bytes::from(text))
                .unwrap();
            (data, committed)
        }
        None => {
            let data = Bytes::from(data);
            (data.clone(), proposer.propose(zxid, data, 0, None).unwrap())
        }
    };
    tokio::time::timeout(LIMIT, committed)
        .await
        .expect("committed in time")
        .unwrap();
    let txn = Txn {
        zxid,
        data,
        origin: 0,
        digest: None,
        config: None,
    };
    leader.apply_committed(vec![txn]).unwrap();
}

fn role(peer: &QuorumPeer) -> Role {
    peer.status().borrow().role
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_voter_counts_and_removed_voters_follow_without_a_vote() {
    let specs = ensemble(4, 0);
    let trio = &specs[..3];
    let toys: Vec<Arc<Toy>> = (0..4).map(|_| Toy::new()).collect();
    let mut peers = Vec::new();
    for (i, toy) in toys.iter().take(3).enumerate() {
        peers.push(start_reconfigurable(trio, i as u64 + 1, toy.clone()).await);
    }
    settle(&peers, &toys[..3], LIMIT).await;
    // Server 4 knows the trio and itself: it follows the leader without a vote yet, having
    // adopted the configuration the leader's term gave a version (ZOOKEEPER-1783), in which
    // it is absent.
    peers.push(start_reconfigurable(&specs, 4, toys[3].clone()).await);
    eventually("server 4 to follow", LIMIT, || toys[3].serving().is_some()).await;
    let adopted = toys[3]
        .stored_membership()
        .expect("the term's configuration");
    assert!(zk_peer::membership_version(&adopted) >> 32 >= 1);
    let listed: Vec<u64> = zk_peer::membership_servers(&adopted)
        .iter()
        .map(|spec| spec.sid)
        .collect();
    assert_eq!(listed, [1, 2, 3]);
    let at = leader_index(&toys);
    let leader = toys[at].clone();
    let leader_sid = at as u64 + 1;
    commit(&leader, "before".into(), None).await;

    let Some(Serving::Leader { proposer, .. }) = leader.serving() else {
        panic!("not leading");
    };
    let pair: Vec<ServerSpec> = specs
        .iter()
        .filter(|spec| spec.sid == leader_sid || spec.sid == 4)
        .cloned()
        .collect();
    assert!(proposer.is_quorum_synced(zk_peer::config_text(&pair, 1).as_bytes()));
    let mut stranger = pair.clone();
    stranger[1] = ServerSpec::parse("9", "127.0.0.1:1:2").unwrap();
    assert!(
        !proposer.is_quorum_synced(zk_peer::config_text(&stranger, 1).as_bytes()),
        "server 9 is not synced, so the leader alone is half of the voters"
    );
    assert!(!proposer.reconfig_in_progress());

    // The voters become the leader and server 4; the other two follow on without a vote.
    commit(&leader, String::new(), Some(&pair)).await;
    let removed: Vec<usize> = (0..3).filter(|&i| i != at).collect();
    commit(&leader, "removed".into(), None).await;
    let expected = leader.applied();
    eventually("the removed members to follow on", LIMIT, || {
        removed
            .iter()
            .all(|&i| toys[i].applied() == expected && role(&peers[i]) == Role::Following)
    })
    .await;
    assert_eq!(role(&peers[at]), Role::Leading);
    // With both removed members gone, the leader and server 4 are the whole quorum: a write
    // commits, which it could not with two of the old three voters down.
    for i in removed.into_iter().rev() {
        peers.remove(i).shutdown().await;
    }
    commit(&leader, "after".into(), None).await;
    let expected = leader.applied();
    eventually("server 4 to apply the same history", LIMIT, || {
        toys[3].applied() == expected
    })
    .await;
    shutdown(peers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_removed_by_reconfig_hands_over_to_the_new_voters() {
    let specs = ensemble(3, 0);
    let toys: Vec<Arc<Toy>> = (0..3).map(|_| Toy::new()).collect();
    let mut peers = Vec::new();
    for (i, toy) in toys.iter().enumerate() {
        peers.push(start_reconfigurable(&specs, i as u64 + 1, toy.clone()).await);
    }
    settle(&peers, &toys, LIMIT).await;
    let at = leader_index(&toys);
    let old_leader = toys[at].clone();
    commit(&old_leader, "before".into(), None).await;
    let others: Vec<ServerSpec> = specs
        .iter()
        .filter(|spec| spec.sid != at as u64 + 1)
        .cloned()
        .collect();
    commit(&old_leader, String::new(), Some(&others)).await;

    eventually("a new leader among the remaining voters", LIMIT, || {
        (0..3)
            .filter(|&i| i != at)
            .any(|i| role(&peers[i]) == Role::Leading)
    })
    .await;
    assert_ne!(role(&peers[at]), Role::Leading);
    let remaining: Vec<Arc<Toy>> = (0..3)
        .filter(|&i| i != at)
        .map(|i| toys[i].clone())
        .collect();
    eventually("both remaining voters serving", LIMIT, || {
        remaining.iter().all(|toy| toy.serving().is_some())
    })
    .await;
    let new_leader = remaining
        .iter()
        .find(|toy| matches!(toy.serving(), Some(Serving::Leader { .. })))
        .cloned()
        .expect("a leading member");
    commit(&new_leader, "after".into(), None).await;
    let expected = new_leader.applied();
    assert!(
        expected
            .iter()
            .any(|(_, data)| data.starts_with(b"reconfig:"))
    );
    eventually("the remaining voters to agree", LIMIT, || {
        remaining.iter().all(|toy| toy.applied() == expected)
    })
    .await;
    // Its history can be whole before its role is (it applies what synchronisation brings
    // before UPTODATE).
    eventually("the removed leader to follow the new one", LIMIT, || {
        old_leader.applied() == expected && role(&peers[at]) == Role::Following
    })
    .await;
    peers.remove(at).shutdown().await;
    shutdown(peers).await;
}

/// A reconfig that voters logged but never committed, which makes the observer a voter: the
/// next term needs that observer's NEWLEADER acknowledgement, which counts where the reconfig
/// has it as a voter (as in ZooKeeper); once the term is established the reconfig is in force
/// and the former observer votes: with one of four voters down, its acknowledgement (or its
/// leadership) is needed to commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_that_a_logged_reconfig_makes_a_voter_counts_for_the_next_term() {
    let specs = ensemble(4, 1);
    let zxid = 1 << 32 | 1;
    let all_voters: Vec<ServerSpec> = specs
        .iter()
        .map(|spec| ServerSpec {
            learner_type: zk_peer::LearnerType::Participant,
            ..spec.clone()
        })
        .collect();
    let text = zk_peer::config_text(&all_voters, zxid);
    let toys: Vec<Arc<Toy>> = (0..4).map(|_| Toy::new()).collect();
    for toy in &toys[..3] {
        let mut state = toy.state();
        state
            .log
            .push((zxid, Bytes::from(format!("reconfig:{text}"))));
        state.epochs = Some(zk_peer::Epochs {
            accepted: 1,
            current: 1,
        });
    }
    // Server 3 stays down: the reconfig's quorum (three of four) needs the observer.
    let mut peers = Vec::new();
    for sid in [1, 2, 4] {
        peers.push(start_reconfigurable(&specs, sid, toys[sid as usize - 1].clone()).await);
    }
    eventually("a term with server 4 as a voter", LIMIT, || {
        matches!(role(&peers[2]), Role::Following | Role::Leading)
            && [0, 1, 3].iter().all(|&i| toys[i].serving().is_some())
    })
    .await;
    let leader = toys
        .iter()
        .find(|toy| matches!(toy.serving(), Some(Serving::Leader { .. })))
        .cloned()
        .expect("a leading member");
    assert!(
        leader.applied().iter().any(|(at, _)| *at == zxid),
        "the reconfig committed with the term"
    );
    // With the reconfig in force, a write needs three of the four voters.
    commit(&leader, "after".into(), None).await;
    let expected = leader.applied();
    eventually(
        "the three running servers to apply the write",
        LIMIT,
        || [0, 1, 3].iter().all(|&i| toys[i].applied() == expected),
    )
    .await;
    shutdown(peers).await;
}
