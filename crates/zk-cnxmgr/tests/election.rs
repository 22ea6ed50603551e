//! FastLeaderElection end to end: `zk_election`'s driver over real connection managers.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::{Cluster, within};
use zk_cnxmgr::ElectionTransport;
use zk_election::driver::{self, ElectionHandle};
use zk_election::{
    Decision, Election, InitialVote, QuorumConfig, QuorumVerifier, ServerState, Sid, make_zxid,
};

const ELECTION_LIMIT: Duration = Duration::from_secs(20);

/// Runs every election of `elections` concurrently and returns the decisions by sid.
async fn elect(
    elections: &BTreeMap<Sid, ElectionHandle>,
    data: &BTreeMap<Sid, InitialVote>,
) -> BTreeMap<Sid, Decision> {
    let rounds = elections
        .iter()
        .map(|(sid, handle)| async move { (*sid, handle.look_for_leader(data[sid]).await) });
    within(ELECTION_LIMIT, futures::future::join_all(rounds))
        .await
        .into_iter()
        .map(|(sid, decision)| (sid, decision.unwrap()))
        .collect()
}

/// The sid with the highest (epoch, zxid, sid) among `alive`.
fn best(data: &BTreeMap<Sid, InitialVote>, alive: &BTreeMap<Sid, ElectionHandle>) -> Sid {
    *alive
        .keys()
        .max_by_key(|&&sid| (data[&sid].current_epoch, data[&sid].last_logged_zxid, sid))
        .unwrap()
}

fn assert_one_leader(decisions: &BTreeMap<Sid, Decision>, leader: Sid) {
    for (sid, decision) in decisions {
        assert_eq!(decision.vote.leader, leader, "server {sid}");
        let expected = if *sid == leader {
            ServerState::Leading
        } else {
            ServerState::Following
        };
        assert_eq!(decision.state, expected, "server {sid}");
    }
}

async fn elect_then_lose_the_leader(data: BTreeMap<Sid, InitialVote>) {
    let sids: Vec<Sid> = data.keys().copied().collect();
    let config = QuorumConfig::new(QuorumVerifier::majority(sids.iter().copied()));
    let mut cluster = Cluster::start(&sids).await;
    let mut elections: BTreeMap<Sid, ElectionHandle> = BTreeMap::new();
    for (sid, inbox) in std::mem::take(&mut cluster.inboxes) {
        let transport = ElectionTransport::new(cluster.manager(sid).handle(), inbox);
        let election = Election::new(sid, config.clone());
        elections.insert(sid, driver::spawn(election, transport));
    }

    // Link everybody first: FLE may legitimately settle for a lesser leader when the best
    // one is still unheard of after finalizeWait (200 ms), which a loaded machine can cause.
    for manager in cluster.managers.values() {
        manager.handle().connect_all();
    }
    assert!(cluster.fully_linked().await, "the ensemble did not link up");

    let leader = best(&data, &elections);
    assert_one_leader(&elect(&elections, &data).await, leader);

    // The leader goes away; the others start a new election without it.
    elections.remove(&leader).unwrap().shutdown().await;
    cluster.stop(leader).await;
    let next = best(&data, &elections);
    assert_ne!(next, leader);
    assert_one_leader(&elect(&elections, &data).await, next);

    for (_, handle) in elections {
        handle.shutdown().await;
    }
    for sid in sids.iter().filter(|&&s| s != leader) {
        cluster.stop(*sid).await;
    }
}

fn initial(epoch: i64, counter: u32) -> InitialVote {
    InitialVote {
        last_logged_zxid: make_zxid(epoch, counter),
        current_epoch: epoch,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_elect_then_replace_their_leader() {
    // 2 has the most transactions; without it, 1 beats 3 on zxid.
    let data = BTreeMap::from([
        (1, initial(3, 20)),
        (2, initial(3, 40)),
        (3, initial(3, 10)),
    ]);
    elect_then_lose_the_leader(data).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_servers_elect_then_replace_their_leader() {
    // 4 has the newest epoch; then 2 and 5 tie on (epoch, zxid) and the larger sid wins.
    let data = BTreeMap::from([
        (1, initial(2, 90)),
        (2, initial(3, 15)),
        (3, initial(3, 10)),
        (4, initial(4, 1)),
        (5, initial(3, 15)),
    ]);
    elect_then_lose_the_leader(data).await;
}
