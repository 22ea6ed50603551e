//! One test per FLE rule: lookForLeader cases L0-L10, receiver rules R2-R7 (and our R5b), the
//! vote order, quorum counting over the committed and next configuration, checkLeader, observers.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use zk_election::{
    Action, Decision, DecisionPath, Election, InitialVote, LearnerType, NO_LEADER, NONE_I64,
    Notification, QuorumConfig, QuorumVerifier, ServerState, Sid, Timing, Vote,
};

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn vote(leader: Sid, zxid: i64, round: i64, epoch: i64) -> Vote {
    Vote {
        leader,
        zxid,
        election_epoch: round,
        peer_epoch: epoch,
    }
}

fn note(state: ServerState, v: Vote) -> Notification {
    Notification::new(state, v, Some(Arc::from(&b""[..])))
}

fn looking(leader: Sid, zxid: i64, round: i64, epoch: i64) -> Notification {
    note(ServerState::Looking, vote(leader, zxid, round, epoch))
}

fn majority(voters: &[Sid]) -> QuorumConfig {
    QuorumConfig::new(QuorumVerifier::majority(voters.iter().copied()))
}

fn data(zxid: i64, epoch: i64) -> InitialVote {
    InitialVote {
        last_logged_zxid: zxid,
        current_epoch: epoch,
    }
}

/// A started voter `myid` of {1,2,3} with the given data; its start-up actions are drained.
fn started(myid: Sid, zxid: i64, epoch: i64) -> Election {
    let mut e = Election::new(myid, majority(&[1, 2, 3]));
    e.start(ms(0), data(zxid, epoch));
    drain(&mut e);
    e
}

fn drain(e: &mut Election) -> Vec<Action> {
    std::iter::from_fn(|| e.poll_action()).collect()
}

fn sends(actions: &[Action]) -> Vec<(Sid, Notification)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { to, notification } => Some((*to, notification.clone())),
            _ => None,
        })
        .collect()
}

fn decision(actions: &[Action]) -> Option<Decision> {
    actions.iter().find_map(|a| match a {
        Action::Decided(d) => Some(d.clone()),
        _ => None,
    })
}

#[test]
fn start_proposes_own_vote_to_every_other_voter() {
    let mut e = Election::new(2, majority(&[1, 2, 3]));
    e.start(ms(0), data(7, 1));
    let actions = drain(&mut e);
    let out = sends(&actions);
    assert_eq!(
        out.iter().map(|(to, _)| *to).collect::<Vec<_>>(),
        vec![1, 3]
    );
    for (_, n) in &out {
        assert_eq!(
            (n.state, n.vote()),
            (ServerState::Looking, vote(2, 7, 1, 1))
        );
        assert_eq!(n.version, 2);
    }
    assert_eq!(e.state(), Some(ServerState::Looking));
    assert_eq!(e.poll_timeout(), Some(ms(200)));
    e.start(ms(10), data(7, 1));
    assert_eq!(e.logical_clock(), 2, "each election starts a new round");
}

#[test]
fn initial_vote_of_observers_and_non_voting_participants() {
    let cfg = QuorumConfig::new(QuorumVerifier::majority([1, 2, 3]).with_observers([9]));
    let mut observer = Election::new(9, cfg.clone()).with_learner_type(LearnerType::Observer);
    observer.start(ms(0), data(50, 4));
    assert_eq!(observer.proposal(), vote(NO_LEADER, NONE_I64, 1, NONE_I64));
    let mut non_voter = Election::new(8, cfg);
    non_voter.start(ms(0), data(50, 4));
    assert_eq!(non_voter.proposal(), vote(NO_LEADER, 50, 1, 4));
    let targets: Vec<Sid> = sends(&drain(&mut non_voter))
        .iter()
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(
        targets,
        vec![1, 2, 3],
        "non-voters send to every voter, not to themselves"
    );
}

#[test]
fn total_order_predicate_table() {
    let hier =
        QuorumConfig::new(QuorumVerifier::hierarchical([(1, vec![1, 2, 3])], [(3, 0)]).unwrap());
    let maj = Election::new(1, majority(&[1, 2, 3]));
    let weighted = Election::new(1, hier);
    #[rustfmt::skip]
    let cases = [
        // (new, cur, wins) with new/cur as (leader, zxid, epoch)
        (&maj, (1, 5, 2), (2, 9, 1), true),   // higher peer epoch wins over a higher zxid
        (&maj, (1, 9, 1), (2, 5, 1), true),   // same epoch, higher zxid
        (&maj, (2, 5, 1), (1, 5, 1), true),   // same epoch and zxid, higher sid
        (&maj, (1, 5, 1), (1, 5, 1), false),  // equal is not better
        (&maj, (1, 9, 0), (2, 5, 1), false),  // ZOOKEEPER-1419: zxid only within an epoch
        (&maj, (1, 0, 0), (NO_LEADER, NONE_I64, NONE_I64), true), // anything beats "no vote"
        (&maj, (2, 5, 1), (NO_LEADER, 5, 1), true), // sids compare signed: MIN loses
        (&weighted, (3, 99, 9), (1, 0, 0), false), // zero weight never wins
        (&weighted, (2, 99, 9), (1, 0, 0), true),
    ];
    for (i, (e, new, cur, want)) in cases.into_iter().enumerate() {
        let new = vote(new.0, new.1, 1, new.2);
        let cur = vote(cur.0, cur.1, 1, cur.2);
        assert_eq!(e.beats(&new, &cur), want, "case {i}");
    }
}

#[test]
fn l0_timeout_resends_or_connects_with_capped_backoff() {
    let timing = Timing {
        max_notification_interval: ms(1000),
        ..Timing::default()
    };
    let mut e = Election::new(1, majority(&[1, 2, 3])).with_timing(timing);
    e.start(ms(0), data(1, 1));
    drain(&mut e);
    e.on_timeout(ms(199), true);
    assert!(drain(&mut e).is_empty(), "early timeouts are ignored");
    let mut now = ms(200);
    let mut waits = Vec::new();
    for _ in 0..5 {
        e.on_timeout(now, true);
        assert_eq!(
            sends(&drain(&mut e)).len(),
            2,
            "re-sends the vote to both peers"
        );
        let next = e.poll_timeout().unwrap();
        waits.push((next - now).as_millis());
        now = next;
    }
    assert_eq!(waits, vec![400, 800, 1000, 1000, 1000]);
    e.on_timeout(now, false);
    assert_eq!(drain(&mut e), vec![Action::ConnectAll]);
}

#[test]
fn any_notification_restarts_the_poll_wait() {
    let mut e = started(1, 1, 1);
    e.on_notification(ms(150), 2, looking(1, 1, 1, 1));
    drain(&mut e);
    // 1 and 2 agree on 1: finalize wait.
    assert_eq!(e.poll_timeout(), Some(ms(350)));
    let mut e = started(3, 9, 1);
    e.on_notification(ms(150), 2, note(ServerState::Observing, vote(2, 1, 1, 1)));
    assert_eq!(e.poll_timeout(), Some(ms(350)));
}

#[test]
fn l1_votes_from_or_for_non_voters_are_ignored() {
    let cfg = QuorumConfig::new(QuorumVerifier::majority([1, 2, 3]).with_observers([9]));
    let mut e = Election::new(1, cfg);
    e.start(ms(0), data(1, 1));
    drain(&mut e);
    // A vote for sid 7 (not a member) from voter 2: not adopted, not counted.
    e.on_notification(ms(1), 2, looking(7, 100, 1, 5));
    assert!(drain(&mut e).is_empty());
    assert_eq!(e.proposal().leader, 1);
    // The observer's own vote is never counted (and R3 answers it).
    e.on_notification(ms(2), 9, looking(9, 100, 1, 5));
    let out = drain(&mut e);
    assert_eq!(sends(&out).len(), 1);
    assert_eq!(e.proposal().leader, 1);
}

#[test]
fn l2_uninitialised_database_ignores_looking_votes_but_can_join() {
    let mut e = started(1, -1, 0);
    e.on_notification(ms(1), 2, looking(2, 5, 1, 1));
    e.on_notification(ms(1), 3, looking(2, 5, 1, 1));
    assert!(decision(&drain(&mut e)).is_none());
    assert_eq!(e.proposal().leader, 1, "no LOOKING vote influences it");
    e.on_notification(ms(2), 2, note(ServerState::Leading, vote(2, 5, 4, 1)));
    e.on_notification(ms(2), 3, note(ServerState::Following, vote(2, 5, 4, 1)));
    let d = decision(&drain(&mut e)).unwrap();
    assert_eq!(
        (d.state, d.vote.leader, d.path),
        (ServerState::Following, 2, DecisionPath::OutOfElection)
    );
}

#[test]
fn l3_votes_with_zxid_minus_one_are_ignored() {
    let mut e = started(1, 1, 1);
    e.on_notification(ms(1), 3, looking(3, -1, 1, 9));
    assert!(drain(&mut e).is_empty());
    assert_eq!(e.proposal().leader, 1);
}

#[test]
fn l4_newer_round_restarts_from_the_initial_vote() {
    // Five voters, so that two agreeing votes are not yet a quorum.
    let mut e = Election::new(1, majority(&[1, 2, 3, 4, 5]));
    e.start(ms(0), data(5, 1));
    drain(&mut e);
    // Round 1: adopt 3's better vote.
    e.on_notification(ms(1), 3, looking(3, 10, 1, 1));
    assert_eq!(e.proposal().leader, 3);
    drain(&mut e);
    // Round 2 from 2 (zxid 7): compared with our initial vote (zxid 5), not with 3's.
    e.on_notification(ms(2), 2, looking(2, 7, 2, 1));
    assert_eq!((e.logical_clock(), e.proposal()), (2, vote(2, 7, 2, 1)));
    let out = sends(&drain(&mut e));
    assert_eq!(out.len(), 4);
    assert!(out.iter().all(|(_, n)| n.vote() == vote(2, 7, 2, 1)));
    // A newer round with a worse vote keeps our own.
    e.on_notification(ms(3), 2, looking(2, 1, 3, 1));
    assert_eq!(e.proposal(), vote(1, 5, 3, 1));
    // The tally was cleared: round-3 votes for 1 from 2 and 3 plus our own make the quorum.
    e.on_notification(ms(4), 2, looking(1, 5, 3, 1));
    e.on_notification(ms(5), 3, looking(1, 5, 3, 1));
    e.on_timeout(ms(205), true);
    assert_eq!(decision(&drain(&mut e)).unwrap().supporters, vec![1, 2, 3]);
}

#[test]
fn l5_older_round_is_ignored_and_answered_r5() {
    let mut e = started(1, 5, 1);
    e.on_notification(ms(1), 2, looking(2, 1, 4, 1));
    drain(&mut e);
    e.on_notification(ms(2), 3, looking(3, 99, 2, 9));
    let out = sends(&drain(&mut e));
    assert_eq!(
        out,
        vec![(3, looking(1, 5, 4, 1))],
        "R5: our proposal in our round"
    );
    assert_eq!(e.proposal().leader, 1, "L5: the stale vote is not adopted");
}

#[test]
fn l6_adopts_only_better_votes() {
    let mut e = started(2, 5, 1);
    e.on_notification(ms(1), 1, looking(1, 4, 1, 1));
    assert_eq!(
        sends(&drain(&mut e)),
        vec![(1, looking(2, 5, 1, 1))],
        "R5b: a worse voter of our round gets our proposal"
    );
    e.on_notification(ms(1), 1, looking(1, 4, 1, 1));
    assert!(sends(&drain(&mut e)).is_empty(), "R5b: once per round");
    assert_eq!(e.proposal().leader, 2);
    e.on_notification(ms(2), 3, looking(3, 5, 1, 1));
    assert_eq!(sends(&drain(&mut e)).len(), 2);
    assert_eq!(e.proposal(), vote(3, 5, 1, 1));
}

#[test]
fn l6_quorum_then_finalize_wait_then_decide() {
    let mut e = started(1, 5, 1);
    e.on_notification(ms(10), 3, looking(3, 6, 1, 1));
    drain(&mut e);
    // Our own (looped-back) vote for 3 plus 3's vote: a quorum of {1,2,3}.
    assert_eq!(e.poll_timeout(), Some(ms(210)));
    e.on_timeout(ms(209), true);
    assert!(drain(&mut e).is_empty());
    e.on_timeout(ms(210), true);
    let d = decision(&drain(&mut e)).unwrap();
    assert_eq!(
        d,
        Decision {
            state: ServerState::Following,
            vote: vote(3, 6, 1, 1),
            supporters: vec![1, 3],
            path: DecisionPath::LookingQuorum,
        }
    );
    assert_eq!(
        (e.state(), e.poll_timeout()),
        (Some(ServerState::Following), None)
    );
}

#[test]
fn leader_decides_leading_with_its_supporters() {
    let mut e = started(3, 9, 2);
    e.on_notification(ms(1), 1, looking(3, 9, 1, 2));
    e.on_timeout(ms(201), true);
    let d = decision(&drain(&mut e)).unwrap();
    assert_eq!((d.state, d.supporters), (ServerState::Leading, vec![1, 3]));
}

#[test]
fn finalize_is_abandoned_for_a_better_vote() {
    let mut e = started(1, 5, 1);
    e.on_notification(ms(10), 2, looking(2, 6, 1, 1));
    assert_eq!(e.poll_timeout(), Some(ms(210)));
    drain(&mut e);
    // A worse vote is consumed and restarts the wait (its sender gets our proposal, R5b).
    e.on_notification(ms(100), 3, looking(1, 5, 1, 1));
    assert_eq!(e.poll_timeout(), Some(ms(300)));
    assert_eq!(sends(&drain(&mut e)), vec![(3, looking(2, 6, 1, 1))]);
    // A better one goes back to the loop: adopted and re-broadcast, no decision at the deadline.
    e.on_notification(ms(150), 3, looking(3, 7, 1, 1));
    assert_eq!(e.proposal().leader, 3);
    assert_eq!(sends(&drain(&mut e)).len(), 2);
    // 1 (self) and 3 now agree on 3: a fresh finalize wait from 150.
    assert_eq!(e.poll_timeout(), Some(ms(350)));
    e.on_timeout(ms(350), true);
    assert_eq!(decision(&drain(&mut e)).unwrap().vote.leader, 3);
}

#[test]
fn l7_observing_notifications_are_ignored() {
    let mut e = started(1, 5, 1);
    e.on_notification(ms(1), 2, note(ServerState::Observing, vote(3, 99, 1, 9)));
    assert!(drain(&mut e).is_empty());
    assert_eq!(e.proposal().leader, 1);
}

#[test]
fn l9_same_round_needs_quorum_and_the_leaders_own_report() {
    let mut e = started(1, 5, 1);
    let v = vote(3, 9, 1, 1);
    e.on_notification(ms(1), 2, note(ServerState::Following, v));
    assert!(
        decision(&drain(&mut e)).is_none(),
        "one follower is not a quorum"
    );
    // 2 follows 3 and 1's own LOOKING vote does not match; 3 says LEADING: quorum {2,3} + checkLeader.
    e.on_notification(ms(2), 3, note(ServerState::Leading, v));
    let d = decision(&drain(&mut e)).unwrap();
    assert_eq!(
        (d.path, d.vote, d.supporters),
        (DecisionPath::SameRound, v, vec![2, 3])
    );
}

#[test]
fn check_leader_blocks_followers_of_a_silent_leader() {
    let mut e = Election::new(1, majority(&[1, 2, 3, 4, 5]));
    e.start(ms(0), data(1, 1));
    drain(&mut e);
    for from in [2, 4, 5] {
        e.on_notification(ms(1), from, note(ServerState::Following, vote(3, 9, 7, 2)));
    }
    assert!(
        decision(&drain(&mut e)).is_none(),
        "3 itself never said LEADING"
    );
    e.on_notification(ms(2), 3, note(ServerState::Leading, vote(3, 9, 7, 2)));
    let d = decision(&drain(&mut e)).unwrap();
    assert_eq!(
        (d.path, e.logical_clock()),
        (DecisionPath::OutOfElection, 7)
    );
}

#[test]
fn check_leader_for_myself_requires_my_round() {
    // Peers report that I (3) lead in round 5, but I am in round 1: I must not lead from it.
    let mut e = started(3, 9, 1);
    e.on_notification(ms(1), 1, note(ServerState::Following, vote(3, 9, 5, 1)));
    e.on_notification(ms(1), 2, note(ServerState::Following, vote(3, 9, 5, 1)));
    assert!(decision(&drain(&mut e)).is_none());
    // In my own round it is enough.
    let mut e = started(3, 9, 1);
    e.on_notification(ms(1), 1, note(ServerState::Following, vote(3, 9, 1, 1)));
    e.on_notification(ms(1), 2, note(ServerState::Following, vote(3, 9, 1, 1)));
    assert_eq!(
        decision(&drain(&mut e)).unwrap().state,
        ServerState::Leading
    );
}

#[test]
fn l10_matches_established_votes_on_leader_and_peer_epoch() {
    let mut e = started(1, 5, 1);
    e.on_notification(ms(1), 3, note(ServerState::Leading, vote(3, 9, 4, 2)));
    // Same leader, different peer epoch: does not count with 3's report.
    e.on_notification(ms(1), 2, note(ServerState::Following, vote(3, 9, 4, 1)));
    assert!(decision(&drain(&mut e)).is_none());
    // Same leader and epoch, different zxid and round (ZOOKEEPER-1805): counts.
    e.on_notification(ms(2), 2, note(ServerState::Following, vote(3, 77, 3, 2)));
    let d = decision(&drain(&mut e)).unwrap();
    assert_eq!(
        (d.path, d.vote),
        (DecisionPath::OutOfElection, vote(3, 77, 3, 2))
    );
    assert_eq!(e.logical_clock(), 3, "the clock jumps to the decided round");
}

#[test]
fn votes_must_have_a_quorum_in_the_next_config_too() {
    let committed = QuorumVerifier::majority([1, 2, 3]).with_version(1);
    let next = QuorumVerifier::majority([1, 4, 5]).with_version(2);
    let cfg = QuorumConfig::new(committed).with_next(next);
    let mut e = Election::new(1, cfg);
    e.start(ms(0), data(1, 1));
    let targets: Vec<Sid> = sends(&drain(&mut e)).iter().map(|(t, _)| *t).collect();
    assert_eq!(
        targets,
        vec![2, 3, 4, 5],
        "votes go to the union of both configs"
    );
    e.on_notification(ms(1), 2, looking(5, 9, 1, 1));
    e.on_notification(ms(1), 3, looking(5, 9, 1, 1));
    drain(&mut e);
    // {1,2,3} is a quorum of the committed config only.
    e.on_timeout(ms(300), true);
    assert!(decision(&drain(&mut e)).is_none());
    e.on_notification(ms(301), 4, looking(5, 9, 1, 1));
    e.on_timeout(ms(501), true);
    let d = decision(&drain(&mut e)).unwrap();
    assert_eq!(d.supporters, vec![1, 2, 3, 4]);
}

#[test]
fn an_established_leader_is_joined_by_the_committed_config_alone() {
    // Server 1 logged a reconfig to {1, 4, 5} that never committed; {1, 2, 3} follow 3.
    let committed = QuorumVerifier::majority([1, 2, 3]).with_version(1);
    let next = QuorumVerifier::majority([1, 4, 5]).with_version(2);
    let mut e = Election::new(1, QuorumConfig::new(committed).with_next(next));
    e.start(ms(0), data(5, 1));
    drain(&mut e);
    e.on_notification(ms(1), 3, note(ServerState::Leading, vote(3, 9, 1, 2)));
    assert!(
        decision(&drain(&mut e)).is_none(),
        "3's report alone is no quorum"
    );
    e.on_notification(ms(2), 2, note(ServerState::Following, vote(3, 9, 1, 2)));
    let d = decision(&drain(&mut e)).unwrap();
    assert_eq!((d.state, d.vote.leader), (ServerState::Following, 3));
}

#[test]
fn leading_by_followers_reports_needs_the_next_config_too() {
    // Server 1 logged a reconfig to {1, 4, 5}; 2 and 3, which did not, chose 1 and follow it.
    // The committed config alone would make 1 lead, but 4 and 5, which may have committed
    // what 1 lacks, did not choose it.
    let committed = QuorumVerifier::majority([1, 2, 3]).with_version(1);
    let next = QuorumVerifier::majority([1, 4, 5]).with_version(2);
    let mut e = Election::new(1, QuorumConfig::new(committed).with_next(next));
    e.start(ms(0), data(5, 1));
    drain(&mut e);
    let round = e.logical_clock();
    e.on_notification(ms(1), 2, note(ServerState::Following, vote(1, 5, round, 1)));
    e.on_notification(ms(1), 3, note(ServerState::Following, vote(1, 5, round, 1)));
    assert!(
        decision(&drain(&mut e)).is_none(),
        "no quorum of the next config chose server 1"
    );
    e.on_notification(ms(2), 4, note(ServerState::Following, vote(1, 5, round, 1)));
    let d = decision(&drain(&mut e)).unwrap();
    assert_eq!((d.state, d.vote.leader), (ServerState::Leading, 1));
}

#[test]
fn a_non_voting_participants_newer_round_is_joined_but_its_vote_ignored() {
    // Server 3 votes in the next configuration only; it proposes no leader, in round 5.
    let committed = QuorumVerifier::majority([1, 2]).with_version(1);
    let next = QuorumVerifier::majority([1, 3]).with_version(2);
    let mut e = Election::new(1, QuorumConfig::new(committed).with_next(next));
    e.start(ms(0), data(5, 1));
    drain(&mut e);
    e.on_notification(ms(1), 3, looking(NO_LEADER, 3, 5, 1));
    assert_eq!(e.logical_clock(), 5, "the newer round is joined");
    let sent = sends(&drain(&mut e));
    assert!(
        sent.iter()
            .any(|(to, n)| *to == 3 && n.leader == 1 && n.election_epoch == 5),
        "server 3 hears our vote in its round: {sent:?}"
    );
    assert_eq!(
        e.proposal().leader,
        1,
        "its vote for no leader is not taken up"
    );
}

#[test]
fn r2_newer_config_is_reported_once_while_looking() {
    let cfg = majority(&[1, 2, 3]);
    let mut e = Election::new(1, cfg);
    e.start(ms(0), data(1, 1));
    drain(&mut e);
    let mut n = looking(2, 1, 1, 1);
    n.config = Some(Arc::from(&b"server.1=a:1:2\nversion=5"[..]));
    e.on_notification(ms(1), 2, n.clone());
    let out = drain(&mut e);
    assert!(matches!(
        out.first(),
        Some(Action::NewConfig {
            from: 2,
            version: 5,
            ..
        })
    ));
    e.on_notification(ms(2), 3, n.clone());
    assert!(
        !drain(&mut e)
            .iter()
            .any(|a| matches!(a, Action::NewConfig { .. }))
    );
    // Not LOOKING: ignored (R2b).
    let mut f = Election::new(1, majority(&[1, 2, 3]));
    f.set_decided(ServerState::Following, vote(3, 1, 1, 1));
    n.config = Some(Arc::from(&b"version=9"[..]));
    f.on_notification(ms(1), 2, n);
    assert!(
        !drain(&mut f)
            .iter()
            .any(|a| matches!(a, Action::NewConfig { .. }))
    );
}

#[test]
fn r3_non_voters_get_current_vote_with_logical_clock() {
    let cfg = QuorumConfig::new(QuorumVerifier::majority([1, 2, 3]).with_observers([9]));
    let mut e = Election::new(1, cfg.clone());
    e.set_decided(ServerState::Following, vote(3, 40, 2, 5));
    e.on_notification(ms(1), 9, looking(NO_LEADER, NONE_I64, 1, NONE_I64));
    let out = sends(&drain(&mut e));
    // The logical clock (0: never started) is reported, not the decided round.
    assert_eq!(
        out,
        vec![(9, note(ServerState::Following, vote(3, 40, 0, 5)))]
    );
    // A LOOKING voter answers with its state, its current vote and its clock.
    let mut l = Election::new(2, cfg);
    l.start(ms(0), data(7, 1));
    drain(&mut l);
    l.on_notification(ms(1), 9, looking(NO_LEADER, NONE_I64, 1, NONE_I64));
    assert_eq!(sends(&drain(&mut l)), vec![(9, looking(2, 7, 1, 1))]);
    // A decided non-voter gets no answer: no R3/R6 ping-pong with an observer.
    l.on_notification(ms(2), 9, note(ServerState::Observing, vote(2, 7, 1, 1)));
    assert!(drain(&mut l).is_empty());
}

#[test]
fn r6_decided_peers_answer_looking_ones_with_the_decided_round() {
    let mut e = started(3, 9, 1);
    e.on_notification(ms(1), 1, looking(3, 9, 1, 1));
    e.on_timeout(ms(201), true);
    drain(&mut e);
    assert_eq!(e.state(), Some(ServerState::Leading));
    e.update_peer_epoch(2);
    // A LOOKING peer in a later round gets our decided round 1 (ZOOKEEPER-1732), new epoch.
    e.on_notification(ms(500), 2, looking(2, 1, 6, 1));
    let out = drain(&mut e);
    assert_eq!(out.first(), Some(&Action::PeerLooking { sid: 2 }));
    assert_eq!(
        sends(&out),
        vec![(2, note(ServerState::Leading, vote(3, 9, 1, 2)))]
    );
    // R7: non-LOOKING messages are dropped.
    e.on_notification(ms(501), 2, note(ServerState::Following, vote(3, 9, 1, 2)));
    assert!(drain(&mut e).is_empty());
}

#[test]
fn idle_machines_answer_nothing() {
    let mut e = Election::new(1, majority(&[1, 2, 3]));
    e.on_notification(ms(0), 2, looking(2, 1, 1, 1));
    e.on_timeout(ms(1000), true);
    assert!(drain(&mut e).is_empty());
    assert_eq!((e.state(), e.poll_timeout()), (None, None));
    let mut s = started(1, 1, 1);
    s.stop();
    s.on_notification(ms(0), 2, looking(2, 1, 1, 1));
    assert!(drain(&mut s).is_empty());
}

#[test]
fn observer_learns_the_leader_and_decides_observing() {
    let cfg = QuorumConfig::new(QuorumVerifier::majority([1, 2, 3]).with_observers([9]));
    let mut o = Election::new(9, cfg).with_learner_type(LearnerType::Observer);
    o.start(ms(0), data(100, 9));
    drain(&mut o);
    // R3 replies of an established ensemble.
    o.on_notification(ms(1), 1, note(ServerState::Following, vote(3, 9, 2, 1)));
    o.on_notification(ms(1), 3, note(ServerState::Leading, vote(3, 9, 2, 1)));
    let d = decision(&drain(&mut o)).unwrap();
    assert_eq!((d.state, d.vote.leader), (ServerState::Observing, 3));
}

#[test]
fn observer_decides_through_looking_quorum_of_voters() {
    let cfg = QuorumConfig::new(QuorumVerifier::majority([1, 2, 3]).with_observers([9]));
    let mut o = Election::new(9, cfg).with_learner_type(LearnerType::Observer);
    o.start(ms(0), data(100, 9));
    drain(&mut o);
    o.on_notification(ms(1), 1, looking(3, 9, 1, 1));
    assert_eq!(
        o.proposal().leader,
        3,
        "anything beats the observer's empty vote"
    );
    o.on_notification(ms(2), 2, looking(3, 9, 1, 1));
    o.on_timeout(ms(202), true);
    let d = decision(&drain(&mut o)).unwrap();
    assert_eq!(
        (d.state, d.supporters),
        (ServerState::Observing, vec![1, 2])
    );
}

#[test]
fn set_decided_looking_means_idle() {
    let mut e = started(1, 1, 1);
    e.set_decided(ServerState::Looking, vote(1, 1, 1, 1));
    assert_eq!(e.state(), None);
}

#[test]
fn non_voters_do_not_answer_older_rounds() {
    let cfg = QuorumConfig::new(QuorumVerifier::majority([1, 2, 3]).with_observers([9]));
    let mut o = Election::new(9, cfg).with_learner_type(LearnerType::Observer);
    o.start(ms(0), data(0, 0));
    o.on_notification(ms(1), 1, looking(3, 9, 4, 1));
    drain(&mut o);
    // A voter's R3 reply from an older round: a voter would answer (R5); an observer does not.
    o.on_notification(ms(2), 2, looking(2, 5, 2, 1));
    assert!(sends(&drain(&mut o)).is_empty());
}
