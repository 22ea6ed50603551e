//! An election that every voter not lost (nor suspected lost) agrees with decides without the
//! finalize wait.

use std::time::Duration;

use zk_election::{
    Action, Election, InitialVote, Notification, QuorumConfig, QuorumVerifier, ServerState, Vote,
};

fn decided(election: &mut Election) -> Option<Vote> {
    while let Some(action) = election.poll_action() {
        if let Action::Decided(decision) = action {
            return Some(decision.vote);
        }
    }
    None
}

fn looking_vote_for(leader: u64, round: i64) -> Notification {
    Notification::new(
        ServerState::Looking,
        Vote {
            leader,
            zxid: 0,
            election_epoch: round,
            peer_epoch: 0,
        },
        None,
    )
}

fn start(lost: Option<Vec<u64>>) -> Election {
    start_suspecting(lost, &[])
}

/// Peer 1 of three starting an election, with what the transport reports lost and the peers
/// it suspects.
fn start_suspecting(lost: Option<Vec<u64>>, suspected: &[u64]) -> Election {
    let mut election = Election::new(1, QuorumConfig::new(QuorumVerifier::majority([1, 2, 3])));
    election.set_lost(lost);
    for &sid in suspected {
        election.suspect(sid);
    }
    election.start(
        Duration::ZERO,
        InitialVote {
            last_logged_zxid: 0,
            current_epoch: 0,
        },
    );
    election
}

#[test]
fn every_voter_not_lost_agreeing_decides_at_once() {
    // Peer 3's link was lost; peer 2 (the best of the rest) votes for itself.
    let mut election = start(Some(vec![3]));
    let round = election.logical_clock();
    election.on_notification(Duration::from_millis(5), 2, looking_vote_for(2, round));
    let vote = decided(&mut election).expect("decided without waiting");
    assert_eq!(vote.leader, 2);
}

#[test]
fn a_voter_never_linked_keeps_the_finalize_wait() {
    // Peer 3 may still be starting: it is not lost, so its vote is awaited.
    let mut election = start(Some(vec![]));
    let round = election.logical_clock();
    election.on_notification(Duration::from_millis(5), 2, looking_vote_for(2, round));
    assert_eq!(
        decided(&mut election),
        None,
        "peer 3 may still send a better vote"
    );
    election.on_timeout(Duration::from_millis(500), true);
    assert_eq!(decided(&mut election).map(|v| v.leader), Some(2));
}

#[test]
fn without_link_knowledge_the_finalize_wait_stays() {
    let mut election = start(None);
    let round = election.logical_clock();
    election.on_notification(Duration::from_millis(5), 2, looking_vote_for(2, round));
    assert_eq!(decided(&mut election), None);
    election.on_timeout(Duration::from_millis(500), true);
    assert_eq!(decided(&mut election).map(|v| v.leader), Some(2));
}

/// Peer 1 after its leader, peer 3, died: it suspects 3, and 2 may or may not have a link to 3
/// (`lost` is what the transport reports).
fn start_suspecting_3(lost: Option<Vec<u64>>) -> Election {
    start_suspecting(lost, &[3])
}

#[test]
fn a_suspected_leader_does_not_delay_the_decision() {
    // The election link to 3 still looks up (or the transport cannot tell): only the suspicion
    // says 3 is gone.
    for lost in [Some(vec![]), None] {
        let mut election = start_suspecting_3(lost.clone());
        assert_eq!(election.suspected(), [3]);
        let round = election.logical_clock();
        election.on_notification(Duration::from_millis(5), 2, looking_vote_for(2, round));
        let vote = decided(&mut election);
        assert_eq!(vote.map(|v| v.leader), Some(2), "lost = {lost:?}");
    }
}

#[test]
fn a_notification_from_a_suspected_peer_restores_its_vote() {
    let mut election = start_suspecting_3(Some(vec![]));
    let round = election.logical_clock();
    // 3 is alive after all (LOOKING, with a vote that does not beat 2's).
    election.on_notification(Duration::from_millis(1), 3, looking_vote_for(1, round));
    assert!(election.suspected().is_empty());
    election.on_notification(Duration::from_millis(5), 2, looking_vote_for(2, round));
    assert_eq!(
        decided(&mut election),
        None,
        "3 may still send a better vote: the finalize wait is back"
    );
    election.on_timeout(Duration::from_millis(500), true);
    assert_eq!(decided(&mut election).map(|v| v.leader), Some(2));
}

#[test]
fn suspecting_during_the_finalize_wait_decides_at_once() {
    let mut election = start(Some(vec![]));
    let round = election.logical_clock();
    election.on_notification(Duration::from_millis(5), 2, looking_vote_for(2, round));
    assert_eq!(decided(&mut election), None);
    election.suspect(3);
    assert_eq!(decided(&mut election).map(|v| v.leader), Some(2));
}

#[test]
fn suspicion_never_replaces_a_quorum() {
    // Both others suspected: our own vote is not a quorum, whatever the wait.
    let mut election = start_suspecting_3(None);
    election.suspect(2);
    election.suspect(1);
    assert_eq!(election.suspected(), [3, 2], "we never suspect ourselves");
    assert_eq!(decided(&mut election), None);
    for ms in [200, 600, 1400, 3000] {
        election.on_timeout(Duration::from_millis(ms), true);
        assert_eq!(decided(&mut election), None);
    }
}

/// Delivers every queued message between `a` and `b` (messages to anyone else are dropped, as
/// to a dead peer) until both are quiet; returns the decisions seen, in order.
fn exchange(now: Duration, a: &mut Election, b: &mut Election) -> Vec<(u64, Vote)> {
    let mut decisions = Vec::new();
    while pump(now, a, b, &mut decisions) | pump(now, b, a, &mut decisions) {}
    decisions
}

/// Delivers what `from` has queued for `to`; returns whether anything was delivered.
fn pump(
    now: Duration,
    from: &mut Election,
    to: &mut Election,
    decisions: &mut Vec<(u64, Vote)>,
) -> bool {
    let mut moved = false;
    while let Some(action) = from.poll_action() {
        match action {
            Action::Send {
                to: sid,
                notification,
            } if sid == to.myid() => {
                to.on_notification(now, from.myid(), notification);
                moved = true;
            }
            Action::Decided(decision) => decisions.push((from.myid(), decision.vote)),
            _ => {}
        }
    }
    moved
}

#[test]
fn a_follower_that_looks_late_still_hears_the_better_vote_at_once() {
    // 1 and 2 followed 3, which died. 2 (the better vote) looks first; its notification reaches
    // 1 while 1 still follows, so 1 answers FOLLOWING (R6) and keeps no vote. Then 1 looks.
    let config = QuorumConfig::new(QuorumVerifier::majority([1, 2, 3]));
    let followed = Vote {
        leader: 3,
        zxid: 5,
        election_epoch: 1,
        peer_epoch: 1,
    };
    let data = |zxid| InitialVote {
        last_logged_zxid: zxid,
        current_epoch: 1,
    };
    let mut one = Election::new(1, config.clone());
    let mut two = Election::new(2, config);
    for peer in [&mut one, &mut two] {
        peer.start(Duration::ZERO, data(5));
        peer.set_decided(ServerState::Following, followed);
        while peer.poll_action().is_some() {}
        peer.suspect(3);
    }
    let t = Duration::from_millis(1000);
    two.start(t, data(7));
    assert!(exchange(t, &mut one, &mut two).is_empty());
    one.start(t, data(6));
    // R5b: 2 sends its proposal back to 1 at once, instead of both waiting out the poll timeout.
    let decided = exchange(t, &mut one, &mut two);
    let leaders: Vec<(u64, u64)> = decided.iter().map(|(sid, v)| (*sid, v.leader)).collect();
    assert_eq!(leaders, [(1, 2), (2, 2)]);
}
