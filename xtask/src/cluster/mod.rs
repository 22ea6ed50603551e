//! `cargo xtask cluster ...` (local ensembles of real server processes),
//! `cargo xtask bench-election` (leader failover time) and `cargo xtask bench-failover` (the
//! write outage a leader's death causes), all built on [`ensemble`].

mod bench_election;
mod bench_failover;
mod build;
mod cli;
#[allow(
    dead_code,
    reason = "part of the API serves only crates/zk-server/tests/cluster_election.rs, which includes the module by path"
)]
pub mod ensemble;
mod java;
mod state_file;

use std::path::PathBuf;

use crate::util::workspace_root;

/// The subcommands this module adds to `cargo xtask` (flattened into its command list).
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Local ensembles of real zk-server processes: start, status, kill, restart, stop.
    Cluster(cli::Args),
    /// Leader failover time: kill -9 the leader repeatedly and time the next election.
    BenchElection(bench_election::Args),
    /// Write failover: kill -9 the leader under a write load, time until writes resume, then
    /// check that every acknowledged write survived on every member.
    BenchFailover(bench_failover::Args),
}

pub fn main(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Cluster(args) => cli::main(args),
        Command::BenchElection(args) => bench_election::main(args),
        Command::BenchFailover(args) => bench_failover::main(args),
    }
}

/// `--dir`, shared by every subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct DirArg {
    /// Directory of the ensemble (default: target/cluster in the workspace).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

impl DirArg {
    /// The directory as an absolute path (zoo.cfg's dataDir must not depend on a cwd).
    pub fn resolve(&self, default_in_target: &str) -> anyhow::Result<PathBuf> {
        let dir = match &self.dir {
            Some(dir) => dir.clone(),
            None => workspace_root().join("target").join(default_in_target),
        };
        Ok(std::path::absolute(dir)?)
    }
}
