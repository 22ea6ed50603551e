//! Deterministic simulation of FastLeaderElection: thousands of seeded runs with message loss,
//! delay, reordering, duplication, partitions and crashes; see `support/sim.rs` for the
//! properties checked on every run.
//!
//! * `cargo test -p zk-election --test sim` runs the default budget.
//! * `ZK_SIM_SEEDS=1000000 ZK_SIM_START=0 cargo test -p zk-election --release --test sim many_seeds -- --ignored --nocapture`
//!   runs as many seeds as asked (per voter count).
//! * `ZK_SIM_REPLAY=<seed> [ZK_SIM_VOTERS=5] cargo test -p zk-election --test sim replay -- --nocapture`
//!   replays one seed and prints its event log.
#![allow(clippy::unwrap_used)]

mod support;

use support::sim::{Outcome, Scenario, run, run_reporting, summary};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Runs `count` seeds from `start` for each voter count; panics with a replayable report.
fn sweep(start: u64, count: u64, sizes: &[usize]) -> Vec<Outcome> {
    let mut all = Vec::new();
    for &voters in sizes {
        let mut outcomes = Vec::new();
        for seed in start..start + count {
            match run_reporting(&Scenario::random(seed, voters)) {
                Ok(o) => outcomes.push(o),
                Err(f) => panic!("{voters} voters: {f}\nZK_SIM_VOTERS={voters}"),
            }
        }
        println!("{}", summary(&format!("{voters} voters"), &outcomes));
        all.extend(outcomes);
    }
    all
}

#[test]
fn three_voters() {
    let outcomes = sweep(0, 6000, &[3]);
    assert!(outcomes.iter().all(|o| o.stable_ms.is_some()));
}

#[test]
fn five_voters() {
    let outcomes = sweep(100_000, 3000, &[5]);
    assert!(outcomes.iter().all(|o| o.stable_ms.is_some()));
}

#[test]
fn seven_voters() {
    let outcomes = sweep(200_000, 1500, &[7]);
    assert!(outcomes.iter().all(|o| o.stable_ms.is_some()));
}

/// FLE alone lets two voters decide different leaders in one round when messages are slower
/// than finalizeWait; the faulty scenarios must produce such rounds (and still pass every
/// check), or the checks above would prove little.
#[test]
fn slow_messages_split_rounds_and_zab_recovers() {
    let outcomes = sweep(300_000, 400, &[5]);
    let splits: u64 = outcomes.iter().map(|o| o.split_rounds).sum();
    assert!(splits > 0, "no split round in 400 faulty runs");
    assert!(outcomes.iter().all(|o| o.stable_ms.is_some()));
}

/// Fault-free cold starts (1-5 ms delays) decide in finalizeWait plus a few message delays;
/// a better vote arriving during finalizeWait restarts it, hence the looser maximum.
/// Seed 49887 (5 voters) is a regression: a follower must not give up on a leader still in
/// its finalize wait.
#[test]
fn quiet_elections_agree_quickly() {
    for voters in [3, 5, 7, 9] {
        let mut times: Vec<u64> = (0..100)
            .chain([49_887])
            .map(|seed| {
                let o = run_reporting(&Scenario::quiet(seed, voters, 0.0)).unwrap();
                o.all_decided_ms.unwrap()
            })
            .collect();
        times.sort_unstable();
        let (median, max) = (times[times.len() / 2], times[times.len() - 1]);
        assert!(median <= 200 + 4 * 5, "{voters} voters: median {median} ms");
        assert!(max <= 4 * 200, "{voters} voters: max {max} ms");
    }
}

#[test]
fn same_seed_same_run() {
    let sc = Scenario::random(42, 5);
    let (a, b) = (run(&sc, true).unwrap(), run(&sc, false).unwrap());
    assert_eq!(
        (a.events, a.messages, a.stable_ms),
        (b.events, b.messages, b.stable_ms)
    );
}

#[test]
#[ignore = "long: set ZK_SIM_SEEDS (per voter count) and ZK_SIM_START"]
fn many_seeds() {
    let count = env_u64("ZK_SIM_SEEDS").unwrap_or(100_000);
    let start = env_u64("ZK_SIM_START").unwrap_or(1_000_000);
    sweep(start, count, &[3, 5, 7]);
}

#[test]
fn replay() {
    let Some(seed) = env_u64("ZK_SIM_REPLAY") else {
        return;
    };
    let voters = env_u64("ZK_SIM_VOTERS").unwrap_or(3) as usize;
    match run(&Scenario::random(seed, voters), true) {
        Ok(o) => println!("seed {seed} passed: {o:?}"),
        Err(f) => panic!("{f}"),
    }
}
