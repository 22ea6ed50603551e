//! `cargo xtask sim`: FastLeaderElection's deterministic simulator over many seeds (release
//! build). CI runs a few thousand seeds per voter count in `cargo test`; this runs millions.

use crate::util::{cargo, run};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runs per voter count (3, 5 and 7 voters).
    #[arg(long, default_value_t = 1_000_000)]
    pub seeds: u64,
    /// First seed, so that runs can be split or resumed.
    #[arg(long, default_value_t = 0)]
    pub start: u64,
}

pub fn main(args: Args) -> anyhow::Result<()> {
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
