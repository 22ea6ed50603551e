//! `cargo xtask fuzz`: runs a cargo-fuzz target of zk-proto for a bounded time.
//!
//! The machine has one stable toolchain; cargo-fuzz needs nightly flags, so they are
//! unlocked with `RUSTC_BOOTSTRAP=1` for this command only.

use crate::util::{cargo, run, workspace_root};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The fuzz target (see crates/zk-proto/fuzz/fuzz_targets).
    #[arg(default_value = "decode_request")]
    pub target: String,
    /// How long to fuzz, in seconds.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
}

pub fn main(args: Args) -> anyhow::Result<()> {
    let has_cargo_fuzz = cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !has_cargo_fuzz {
        run(cargo().args(["install", "--locked", "cargo-fuzz"]))?;
    }
    let fuzz_dir = workspace_root().join("crates/zk-proto/fuzz");
    run(cargo()
        .env("RUSTC_BOOTSTRAP", "1")
        .arg("fuzz")
        .arg("run")
        .arg("--fuzz-dir")
        .arg(&fuzz_dir)
        .arg(&args.target)
        .arg("--")
        .arg(format!("-max_total_time={}", args.seconds)))
}
