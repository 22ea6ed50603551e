//! Election benchmarks (custom harness, about a minute in release):
//! * simulated cold-start elections per second of wall time, and simulated time until every
//!   peer decided, for 3/5/7/9 voters with no loss and with 10% loss (1-5 ms delays);
//! * raw notifications per second through one state machine on one core.
//!
//! `cargo bench -p zk-election`
#![allow(clippy::unwrap_used)]

#[path = "../tests/support/sim.rs"]
mod sim;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use zk_election::{
    Election, InitialVote, Notification, QuorumConfig, QuorumVerifier, ServerState, Vote,
};

const PER_CASE: Duration = Duration::from_secs(3);

fn elections(voters: usize, loss: f64) {
    let started = Instant::now();
    let mut times = Vec::new();
    let mut messages = 0;
    let mut seed = 0;
    while started.elapsed() < PER_CASE {
        let outcome = sim::run(&sim::Scenario::quiet(seed, voters, loss), false).unwrap();
        times.push(outcome.all_decided_ms.unwrap());
        messages += outcome.messages;
        seed += 1;
    }
    let wall = started.elapsed().as_secs_f64();
    times.sort_unstable();
    let n = times.len();
    let mean = times.iter().sum::<u64>() as f64 / n as f64;
    println!(
        "{voters} voters, {:>3.0}% loss: {:>8.0} elections/s | simulated time to all decided: mean {mean:.0} ms, p50 {} ms, p99 {} ms, max {} ms | {:.0} msgs/election",
        loss * 100.0,
        n as f64 / wall,
        times[n / 2],
        times[n * 99 / 100],
        times[n - 1],
        messages as f64 / n as f64,
    );
}

fn looking(leader: u64, zxid: i64, round: i64) -> Notification {
    Notification::new(
        ServerState::Looking,
        Vote {
            leader,
            zxid,
            election_epoch: round,
            peer_epoch: 1,
        },
        Some(Arc::from(&b"version=0"[..])),
    )
}

/// Notifications that are recorded and counted but never change the proposal.
fn raw_tally() {
    let config = QuorumConfig::new(QuorumVerifier::majority([1, 2, 3, 4, 5]));
    let mut e = Election::new(5, config);
    let now = Duration::ZERO;
    e.start(
        now,
        InitialVote {
            last_logged_zxid: 100,
            current_epoch: 1,
        },
    );
    while e.poll_action().is_some() {}
    let inputs: Vec<(u64, Notification)> = (1..=4).map(|s| (s, looking(s, 50, 1))).collect();
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < Duration::from_secs(2) {
        for _ in 0..10_000 {
            for (from, n) in &inputs {
                e.on_notification(now, *from, n.clone());
                while let Some(a) = e.poll_action() {
                    black_box(a);
                }
                count += 1;
            }
        }
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    println!("raw, recorded and counted (5 voters): {rate:>12.0} notifications/s");
}

/// Every notification starts a newer round with a better vote: clear, adopt, re-broadcast.
fn raw_adopt() {
    let config = QuorumConfig::new(QuorumVerifier::majority([1, 2, 3, 4, 5]));
    let mut e = Election::new(1, config);
    let now = Duration::ZERO;
    e.start(
        now,
        InitialVote {
            last_logged_zxid: 1,
            current_epoch: 1,
        },
    );
    while e.poll_action().is_some() {}
    let started = Instant::now();
    let mut count = 0u64;
    let mut round = 1;
    while started.elapsed() < Duration::from_secs(2) {
        for _ in 0..10_000 {
            round += 1;
            e.on_notification(now, 2, looking(2, 5, round));
            while let Some(a) = e.poll_action() {
                black_box(a);
            }
            count += 1;
        }
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    println!("raw, new round + adopt + broadcast to 4:  {rate:>8.0} notifications/s");
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    for voters in [3, 5, 7, 9] {
        for loss in [0.0, 0.1] {
            elections(voters, loss);
        }
    }
    raw_tally();
    raw_adopt();
}
