//! `cargo xtask`: the project's automation, in Rust so that it runs wherever cargo does.

mod ci;
mod fuzz;
mod interop;
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
    /// Everything CI checks: formatting, clippy with warnings denied, and every test.
    Ci(ci::Args),
    /// Run a fuzz target for a bounded time (needs cargo-fuzz; installs it when missing).
    Fuzz(fuzz::Args),
    /// Real clients (kazoo, zkCli.sh, raw sockets) against a real zk-server: tests/interop.
    Interop(interop::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Ci(args) => ci::main(args),
        Command::Fuzz(args) => fuzz::main(args),
        Command::Interop(args) => interop::main(args),
    }
}
