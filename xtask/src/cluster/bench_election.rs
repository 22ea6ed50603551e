//! `cargo xtask bench-election`: how fast a new leader takes over. For each ensemble size it
//! SIGKILLs the leader again and again, timing from the kill until `srvr` shows a new leader with
//! a majority of the voters in its quorum; the killed node is restarted and must rejoin before
//! the next round. With `--vs-zookeeper` Apache ZooKeeper runs the same rounds on the same
//! zoo.cfg files.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::ensemble::{Cluster, Options, Roles, ServerCommand};
use super::{DirArg, build, java};

/// Under target/ when `--dir` is not given.
const DEFAULT_DIR: &str = "bench-election";
/// srvr polling while timing: the resolution of the measurement.
const TIMING_POLL: Duration = Duration::from_millis(5);
/// Budget of a first election, a failover, and a restarted node's return.
const ELECTION_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Leader kills per ensemble.
    #[arg(long, default_value_t = 20)]
    kills: usize,
    /// Ensemble sizes (voting members), comma separated.
    #[arg(long, value_delimiter = ',', default_value = "3,5")]
    sizes: Vec<u8>,
    #[command(flatten)]
    servers: ServerChoice,
    /// tickTime in milliseconds.
    #[arg(long, default_value_t = 2000)]
    tick_time: u32,
    #[command(flatten)]
    dir: DirArg,
}

/// Which servers a failover benchmark runs, shared with `bench-failover`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerChoice {
    /// Also run Apache ZooKeeper 3.8 on the same zoo.cfg files.
    #[arg(long)]
    vs_zookeeper: bool,
    /// Only Apache ZooKeeper (with --vs-zookeeper): checks the tool while ours cannot elect.
    #[arg(long, requires = "vs_zookeeper")]
    zookeeper_only: bool,
    /// Where Debian's zookeeper.jar and its dependencies are.
    #[arg(long, default_value = "/usr/share/java")]
    zookeeper_jars: PathBuf,
    /// log4j configuration for ZooKeeper (used when the file exists).
    #[arg(long, default_value = "/etc/zookeeper/conf/log4j.properties")]
    zookeeper_log4j: PathBuf,
    /// A program that runs Apache ZooKeeper on a zoo.cfg, instead of java with --zookeeper-jars.
    #[arg(long)]
    zookeeper_bin: Option<PathBuf>,
    /// Measure this server program instead of building the release zk-server.
    #[arg(long)]
    server_bin: Option<PathBuf>,
}

impl ServerChoice {
    /// The servers to measure, labelled, ours first (building the release zk-server).
    pub fn servers(&self) -> anyhow::Result<Vec<(&'static str, ServerCommand)>> {
        let mut servers = Vec::new();
        if !self.zookeeper_only {
            let ours = match &self.server_bin {
                Some(program) => ServerCommand::program(std::path::absolute(program)?),
                None => ServerCommand::program(build::zk_server(true)?),
            };
            servers.push(("zk-server", ours));
        }
        if self.vs_zookeeper {
            let zookeeper = match &self.zookeeper_bin {
                Some(program) => ServerCommand::program(std::path::absolute(program)?),
                None => java::zookeeper(&self.zookeeper_jars, &self.zookeeper_log4j)?,
            };
            servers.push(("ZooKeeper", zookeeper));
        }
        Ok(servers)
    }
}

pub fn main(args: Args) -> anyhow::Result<()> {
    let dir = args.dir.resolve(DEFAULT_DIR)?;
    let servers = args.servers.servers()?;
    let mut rows = Vec::new();
    for &size in &args.sizes {
        let size_dir = dir.join(format!("{size}-nodes"));
        if size_dir.exists() {
            std::fs::remove_dir_all(&size_dir)
                .with_context(|| format!("cannot clear {}", size_dir.display()))?;
        }
        // One set of zoo.cfg files per size; every server starts on them with empty data.
        let (_, first) = servers.first().context("no server to measure")?;
        let mut options = Options::new(&size_dir, usize::from(size), first.clone());
        options.tick_time_ms = args.tick_time;
        let mut cluster = Cluster::create(&options)?;
        cluster.set_poll_interval(TIMING_POLL);
        for (label, server) in &servers {
            cluster.set_server(server.clone());
            cluster.wipe_data()?;
            eprintln!(
                "xtask bench-election: {label}, {size} nodes, {} kills",
                args.kills
            );
            let outcome = failovers(&mut cluster, args.kills);
            cluster.stop()?;
            rows.push(Row {
                server: label,
                size,
                outcome: outcome.map(|times| Summary::of(&times)),
            });
        }
    }
    print!("{}", table(&rows, args.kills));
    if rows.iter().any(|row| row.outcome.is_err()) {
        anyhow::bail!(
            "some runs failed (see the table; node logs under {})",
            dir.display()
        );
    }
    Ok(())
}

/// Starts every node, then `kills` rounds of: kill the leader, time the takeover, restart the
/// killed node and wait until the whole ensemble serves again.
fn failovers(cluster: &mut Cluster, kills: usize) -> anyhow::Result<Vec<Duration>> {
    cluster.start_all()?;
    let mut times = Vec::with_capacity(kills);
    for round in 1..=kills {
        let roles = cluster.wait_for("one leader, every node serving", ELECTION_TIMEOUT, |r| {
            r.all_serving() && r.sole_leader().is_some()
        })?;
        let leader = roles.sole_leader().context("the leader went away")?;
        let quorum = cluster.quorum_size();
        let killed_at = Instant::now();
        cluster.kill(leader)?;
        cluster.wait_for("a new leader on a majority", ELECTION_TIMEOUT, |r| {
            took_over(r, leader, quorum)
        })?;
        let elapsed = killed_at.elapsed();
        eprintln!("  round {round}: leader {leader} killed, new leader after {elapsed:.0?}");
        times.push(elapsed);
        cluster.restart(leader)?;
    }
    Ok(times)
}

/// A leader other than the killed one, with at least `quorum` voters leading or following.
fn took_over(roles: &Roles, killed: u64, quorum: usize) -> bool {
    roles.sole_leader().is_some_and(|leader| leader != killed) && roles.voting_members() >= quorum
}

/// Median, best and worst of a series of timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub median: Duration,
    pub best: Duration,
    pub worst: Duration,
}

impl Summary {
    pub fn of(times: &[Duration]) -> Summary {
        let mut sorted = times.to_vec();
        sorted.sort_unstable();
        // The middle element, or the mean of the two middle ones.
        let lower = sorted.get(sorted.len().saturating_sub(1) / 2);
        let upper = sorted.get(sorted.len() / 2);
        let median = match (lower, upper) {
            (Some(lower), Some(upper)) => (*lower + *upper) / 2,
            _ => Duration::ZERO,
        };
        Summary {
            median,
            best: sorted.first().copied().unwrap_or_default(),
            worst: sorted.last().copied().unwrap_or_default(),
        }
    }
}

#[derive(Debug)]
struct Row {
    server: &'static str,
    size: u8,
    outcome: anyhow::Result<Summary>,
}

fn table(rows: &[Row], kills: usize) -> String {
    let mut out = format!(
        "\nLeader failover: SIGKILL the leader, time until srvr shows a new leader on a majority ({kills} kills each)\n\n\
         | server    | nodes | median    | best      | worst     |\n\
         |-----------|------:|----------:|----------:|----------:|\n"
    );
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    for row in rows {
        // Writing to a String cannot fail.
        let _ = match &row.outcome {
            Ok(summary) => writeln!(
                out,
                "| {:<9} | {:>5} | {:>9} | {:>9} | {:>9} |",
                row.server,
                row.size,
                ms(summary.median),
                ms(summary.best),
                ms(summary.worst)
            ),
            Err(error) => writeln!(
                out,
                "| {:<9} | {:>5} | failed: {error:#} |",
                row.server, row.size
            ),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::ensemble::Role;
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().copied().map(Duration::from_millis).collect()
    }

    #[test]
    fn summarises_odd_and_even_counts() {
        let odd = Summary::of(&ms(&[30, 10, 20]));
        assert_eq!(
            odd,
            Summary {
                median: Duration::from_millis(20),
                best: Duration::from_millis(10),
                worst: Duration::from_millis(30),
            }
        );
        assert_eq!(
            Summary::of(&ms(&[40, 10, 20, 30])).median,
            Duration::from_millis(25)
        );
        assert_eq!(Summary::of(&[]).worst, Duration::ZERO);
    }

    #[test]
    fn a_takeover_needs_a_new_leader_and_a_majority() {
        let roles = |list: &[(u64, Role)]| Roles::new(list.to_vec());
        let after = roles(&[(1, Role::Follower), (2, Role::Leader), (3, Role::Down)]);
        assert!(took_over(&after, 3, 2));
        let electing = roles(&[(1, Role::Looking), (2, Role::Leader), (3, Role::Down)]);
        assert!(!took_over(&electing, 3, 2));
        let stale = roles(&[(1, Role::Follower), (2, Role::Follower), (3, Role::Leader)]);
        assert!(!took_over(&stale, 3, 2));
    }

    #[test]
    fn the_table_shows_figures_and_failures() {
        let rows = [
            Row {
                server: "zk-server",
                size: 3,
                outcome: Ok(Summary::of(&ms(&[100, 200, 300]))),
            },
            Row {
                server: "ZooKeeper",
                size: 5,
                outcome: Err(anyhow::anyhow!("no leader")),
            },
        ];
        let text = table(&rows, 3);
        assert!(
            text.contains("| zk-server |     3 |    200 ms |    100 ms |    300 ms |"),
            "{text}"
        );
        assert!(
            text.contains("| ZooKeeper |     5 | failed: no leader |"),
            "{text}"
        );
    }
}
