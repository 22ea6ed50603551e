//! `cargo xtask`: the project's automation, in Rust so that it runs wherever cargo does.

mod bench;
mod ci;
mod cluster;
mod debian_zookeeper;
mod fuzz;
mod interop;
mod sim;
mod util;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    about = "Project automation for the ZooKeeper-compatible server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load generator: throughput, latency, memory and restart, optionally vs Apache ZooKeeper.
    Bench(bench::Args),
    /// Everything CI checks: formatting, clippy with warnings denied, and every test.
    Ci(ci::Args),
    #[command(flatten)]
    Cluster(cluster::Command),
    /// Run a fuzz target for a bounded time (needs cargo-fuzz; installs it when missing).
    Fuzz(fuzz::Args),
    /// Real clients (kazoo, zkCli.sh, raw sockets) against a real zk-server: tests/interop.
    Interop(interop::Args),
    /// FastLeaderElection's deterministic simulator over millions of seeds (release build).
    Sim(sim::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Bench(args) => bench::main(args),
        Command::Ci(args) => ci::main(args),
        Command::Cluster(command) => cluster::main(command),
        Command::Fuzz(args) => fuzz::main(args),
        Command::Interop(args) => interop::main(args),
        Command::Sim(args) => sim::main(args),
    }
}
