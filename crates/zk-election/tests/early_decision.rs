//! An election that every voter not lost agrees with decides without the finalize wait.

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
    let mut election = Election::new(1, QuorumConfig::new(QuorumVerifier::majority([1, 2, 3])));
    election.set_lost(lost);
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
