//! `cargo xtask sim`: the deterministic simulators over many seeds (release build) —
//! FastLeaderElection's (`--election`, the default) and whole peers running ZAB (`--zab`). CI runs
//! a few thousand election seeds per voter count and 200 ZAB seeds in `cargo test`.

use crate::util::{cargo, run};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runs per voter count (3, 5 and 7 voters) of the election simulator.
    #[arg(long, default_value_t = 1_000_000)]
    pub seeds: u64,
    /// First seed, so that runs can be split or resumed.
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// Simulate whole peers (election, discovery, synchronisation, broadcast) instead, for this
    /// many seeds.
    #[arg(long)]
    pub zab: Option<u64>,
}

pub fn main(args: Args) -> anyhow::Result<()> {
    if let Some(seeds) = args.zab {
        return run(cargo()
            .env("ZAB_SIM_SEEDS", seeds.to_string())
            .env("ZAB_SIM_START", args.start.to_string())
            .args([
                "test",
                "--release",
                "--package",
                "zk-peer",
                "--test",
                "zab_sim",
                "zab_keeps",
            ]));
    }
    run(cargo()
        .env("ZK_SIM_SEEDS", args.seeds.to_string())
        .env("ZK_SIM_START", args.start.to_string())
        .args([
            "test",
            "--release",
            "--package",
            "zk-election",
            "--test",
            "sim",
            "many_seeds",
            "--",
            "--ignored",
            "--nocapture",
        ]))
}
