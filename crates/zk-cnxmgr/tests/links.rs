//! Link management over loopback: the sid rule, restarts, latest-wins queues, refusals.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::time::Duration;

use support::{Cluster, config_for, eventually, recv_within, vote};
use zk_cnxmgr::{CnxManager, Inbox};
use zk_election::{Notification, Sid};

const WAIT: Duration = Duration::from_secs(5);

/// Receives until `expected` arrives from `from`, skipping re-sent older votes.
async fn expect_message(inbox: &mut Inbox, from: Sid, expected: Notification) {
    loop {
        let (sender, n) = recv_within(inbox, WAIT).await.unwrap();
        if (sender, &n) == (from, &expected) {
            return;
        }
        assert!(
            n.election_epoch < expected.election_epoch,
            "unexpected {n:?} from {sender}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_dials_leave_exactly_one_link_per_pair() {
    let sids: [Sid; 4] = [1, 2, 3, 4];
    let mut cluster = Cluster::start(&sids).await;
    // Everybody sends to everybody at once: smaller sids prompt, larger sids dial.
    for &from in &sids {
        let handle = cluster.manager(from).handle();
        for &to in sids.iter().filter(|&&to| to != from) {
            handle.send(to, vote(from, 1));
        }
    }
    assert!(cluster.fully_linked().await, "not every pair got linked");
    for &sid in &sids {
        let inbox = cluster.inbox(sid);
        let mut senders = BTreeSet::new();
        while senders.len() < sids.len() - 1 {
            // A link replaced during the race re-sends its last message: duplicates are fine.
            let (from, n) = recv_within(inbox, WAIT).await.unwrap();
            assert_eq!(n, vote(from, 1));
            senders.insert(from);
        }
        assert!(!senders.contains(&sid));
    }

    // Only links dialled by the larger sid exist: the smallest server never dials one, the
    // largest never keeps an accepted one.
    assert_eq!(cluster.manager(1).stats().links_dialled, 0);
    assert_eq!(cluster.manager(4).stats().links_accepted, 0);
    let dialled: u64 = sids
        .iter()
        .map(|&s| cluster.manager(s).stats().links_dialled)
        .sum();
    let accepted: u64 = sids
        .iter()
        .map(|&s| cluster.manager(s).stats().links_accepted)
        .sum();
    assert_eq!(dialled, accepted);

    // The links are stable: more traffic flows over them without any new link.
    let before: Vec<_> = sids.iter().map(|&s| cluster.manager(s).stats()).collect();
    cluster.manager(1).handle().send(4, vote(1, 2));
    cluster.manager(4).handle().send(1, vote(4, 2));
    expect_message(cluster.inbox(4), 1, vote(1, 2)).await;
    expect_message(cluster.inbox(1), 4, vote(4, 2)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after: Vec<_> = sids.iter().map(|&s| cluster.manager(s).stats()).collect();
    assert_eq!(
        before.iter().map(|s| s.links_dialled).collect::<Vec<_>>(),
        after.iter().map(|s| s.links_dialled).collect::<Vec<_>>()
    );
    assert!(cluster.fully_linked().await);
}

/// Restarts `restarted` of a two-server ensemble: it reconnects, traffic flows both ways,
/// and the survivor re-sends its last message over the new link (spec §3.5).
async fn restart_and_talk(restarted: Sid) {
    let survivor = 3 - restarted;
    let mut cluster = Cluster::start(&[1, 2]).await;
    cluster
        .manager(survivor)
        .handle()
        .send(restarted, vote(survivor, 7));
    let got = recv_within(cluster.inbox(restarted), WAIT).await;
    assert_eq!(got, Some((survivor, vote(survivor, 7))));

    cluster.restart(restarted).await;
    cluster
        .manager(restarted)
        .handle()
        .send(survivor, vote(restarted, 8));
    let got = recv_within(cluster.inbox(survivor), WAIT).await;
    assert_eq!(got, Some((restarted, vote(restarted, 8))));
    // Nothing new was queued for the restarted server: it gets the last message again.
    let got = recv_within(cluster.inbox(restarted), WAIT).await;
    assert_eq!(got, Some((survivor, vote(survivor, 7))));

    cluster
        .manager(survivor)
        .handle()
        .send(restarted, vote(survivor, 9));
    let got = recv_within(cluster.inbox(restarted), WAIT).await;
    assert_eq!(got, Some((survivor, vote(survivor, 9))));
    assert!(cluster.fully_linked().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_larger_peer_reconnects() {
    restart_and_talk(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_smaller_peer_reconnects() {
    restart_and_talk(1).await;
}

/// While `down` is stopped, `sender` queues three votes; only the newest arrives.
async fn newest_queued_message_wins(sender: Sid, down: Sid) {
    let mut cluster = Cluster::start(&[1, 2]).await;
    cluster.manager(sender).handle().send(down, vote(sender, 1));
    assert!(recv_within(cluster.inbox(down), WAIT).await.is_some());

    cluster.stop(down).await;
    let manager = &cluster.manager(sender);
    assert!(eventually(WAIT, || manager.connected_peers().is_empty()).await);
    let handle = manager.handle();
    for round in 10..13 {
        handle.send(down, vote(sender, round));
    }
    assert!(
        !handle.have_delivered(),
        "the only peer has a pending message"
    );

    cluster.restart(down).await;
    let inbox = cluster.inbox(down);
    assert_eq!(
        recv_within(inbox, WAIT).await,
        Some((sender, vote(sender, 12)))
    );
    assert_eq!(recv_within(inbox, Duration::from_millis(500)).await, None);
    assert!(cluster.manager(sender).handle().have_delivered());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newest_message_wins_when_the_smaller_sid_queues() {
    newest_queued_message_wins(1, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newest_message_wins_when_the_larger_sid_queues() {
    newest_queued_message_wins(2, 1).await;
}

/// A server outside the configuration that announces its address (one joining by reconfig)
/// becomes a peer, whichever sid is larger: messages flow both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_that_announce_an_address_are_learned() {
    let mut cluster = Cluster::start(&[1, 5]).await;
    for (round, stranger) in [(1, 9), (2, 0)] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut addresses: BTreeMap<Sid, String> = cluster.addresses.clone();
        addresses.insert(stranger, listener.local_addr().unwrap().to_string());
        let (manager, mut inbox) =
            CnxManager::start_with_listener(config_for(stranger, &addresses), listener)
                .await
                .unwrap();
        manager.handle().send(1, vote(stranger, round));
        expect_message(cluster.inbox(1), stranger, vote(stranger, round)).await;
        let member = cluster.manager(1);
        assert!(member.connected_peers().contains(&stranger));
        member.handle().send(stranger, vote(1, round));
        expect_message(&mut inbox, 1, vote(1, round)).await;
        manager.shutdown().await;
    }
    assert_eq!(cluster.manager(1).stats().refused, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_messages_loop_back_and_oversized_ones_are_dropped() {
    let mut cluster = Cluster::start(&[1, 2]).await;
    let handle = cluster.manager(1).handle();
    handle.send(1, vote(1, 3));
    assert_eq!(
        recv_within(cluster.inbox(1), WAIT).await,
        Some((1, vote(1, 3)))
    );

    let mut huge = vote(1, 4);
    huge.config = Some(vec![b'x'; zk_cnxmgr::DEFAULT_MAX_MESSAGE_SIZE].into());
    handle.send(2, huge);
    assert_eq!(cluster.manager(1).stats().oversized_dropped, 1);
    handle.send(2, vote(1, 5));
    let got = recv_within(cluster.inbox(2), WAIT).await;
    assert_eq!(got, Some((1, vote(1, 5))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_the_inbox_and_frees_the_port() {
    let mut cluster = Cluster::start(&[1, 2]).await;
    let address = cluster.addresses[&1].clone();
    cluster.manager(2).handle().send(1, vote(2, 1));
    assert!(cluster.fully_linked().await);
    let mut inbox = cluster.inboxes.remove(&1).unwrap();
    cluster.managers.remove(&1).unwrap().shutdown().await;
    assert_eq!(recv_within(&mut inbox, WAIT).await, None);
    let survivor = &cluster.manager(2);
    assert!(eventually(WAIT, || survivor.connected_peers().is_empty()).await);
    TcpListener::bind(&address).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_link_from_the_same_sid_replaces_the_older_one() {
    let mut cluster = Cluster::start(&[1, 2]).await;
    cluster.manager(2).handle().send(1, vote(2, 1));
    expect_message(cluster.inbox(1), 2, vote(2, 1)).await;
    assert!(cluster.fully_linked().await);

    // A second server claiming sid 2 (as a restarted one would) dials 1 from elsewhere.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut addresses = cluster.addresses.clone();
    addresses.insert(2, listener.local_addr().unwrap().to_string());
    let (newer, mut newer_inbox) =
        CnxManager::start_with_listener(config_for(2, &addresses), listener)
            .await
            .unwrap();
    newer.handle().send(1, vote(2, 2));
    expect_message(cluster.inbox(1), 2, vote(2, 2)).await;

    // Server 1 keeps exactly one link for sid 2: the newer one; the older one was closed.
    let older = cluster.manager(2);
    assert!(eventually(WAIT, || older.connected_peers().is_empty()).await);
    assert_eq!(cluster.manager(1).connected_peers(), vec![2]);
    assert_eq!(cluster.manager(1).stats().links_accepted, 2);
    cluster.manager(1).handle().send(2, vote(1, 3));
    expect_message(&mut newer_inbox, 1, vote(1, 3)).await;
    newer.shutdown().await;
}
