//! `cargo xtask bench-failover`: how long writes stop when the leader dies, and whether the
//! ensemble keeps every write it acknowledged.
//!
//! Sessions create sequential znodes without pause, each pinned to one member and moving its
//! session to another member when its own dies. The leader (as `srvr` names it) is SIGKILLed;
//! the window runs from the kill until a create sent after the kill is acknowledged. The killed
//! member is restarted and must rejoin (and every session write again) before the next kill.
//! At the end every member, after `sync`, must hold every acknowledged create. With
//! `--vs-zookeeper` Apache ZooKeeper runs the same rounds on the same zoo.cfg files.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};

use super::DirArg;
use super::bench_election::{ServerChoice, Summary};
use super::ensemble::{Cluster, NodePaths, Options, Roles};
use crate::bench::failover_load::{
    MISSING_SHOWN, Verification, WriteLoad, WriteLog, unexplained_unacknowledged, verify,
};
use crate::bench::server_log::LogFindings;

/// Under target/ when `--dir` is not given.
const DEFAULT_DIR: &str = "bench-failover";
/// Every writer's parent lives under this znode.
const ROOT: &str = "/failover";
/// A fresh ensemble's first election, or a restarted member's return (JVMs included).
const ELECTION_TIMEOUT: Duration = Duration::from_secs(120);
/// A failover, or every session writing again after one.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// Polling of the write log while timing: the resolution of the measurement.
const TIMING_POLL: Duration = Duration::from_millis(1);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Voting members.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(2..=9))]
    size: u8,
    /// Leader kills per server.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    kills: u32,
    /// Writing sessions; session i is pinned to member i mod --size.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    sessions: u16,
    /// Milliseconds of writing by every session before each kill.
    #[arg(long, default_value_t = 1000)]
    settle_ms: u64,
    #[command(flatten)]
    servers: ServerChoice,
    /// tickTime in milliseconds.
    #[arg(long, default_value_t = 2000)]
    tick_time: u32,
    #[command(flatten)]
    dir: DirArg,
}

pub fn main(args: Args) -> anyhow::Result<()> {
    let dir = args
        .dir
        .resolve(DEFAULT_DIR)?
        .join(format!("{}-nodes", args.size));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    let servers = args.servers.servers()?;
    // One set of zoo.cfg files; every server starts on them with empty data.
    let (_, first) = servers.first().context("no server to measure")?;
    let mut options = Options::new(&dir, usize::from(args.size), first.clone());
    options.tick_time_ms = args.tick_time;
    options.start_timeout = ELECTION_TIMEOUT;
    let mut cluster = Cluster::create(&options)?;
    // The writers run on one worker thread while this thread kills, restarts and times.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    for (label, server) in &servers {
        cluster.set_server(server.clone());
        cluster.wipe_data()?;
        eprintln!(
            "xtask bench-failover: {label}, {} members, {} sessions, {} kills",
            args.size, args.sessions, args.kills
        );
        let outcome = measure(&mut cluster, &runtime, &args);
        cluster.stop()?;
        let logs = keep_logs(&cluster, &dir, label)?;
        rows.push(Row {
            server: label,
            outcome,
            logs,
        });
    }
    print!("{}", report(&rows, &args));
    let failed = rows.iter().any(|row| !row.passed());
    if failed {
        bail!(
            "bench-failover failed (see above; node logs under {})",
            dir.display()
        );
    }
    Ok(())
}

/// Renames every node's log after the server that wrote it (the next server starts on the same
/// directories) and returns what they hold.
fn keep_logs(cluster: &Cluster, dir: &Path, label: &str) -> anyhow::Result<LogFindings> {
    let mut findings = LogFindings::default();
    for id in cluster.ids() {
        let paths = NodePaths::new(dir, id);
        let kept = paths.dir.join(format!("{label}.log"));
        if paths.log.exists() {
            std::fs::rename(&paths.log, &kept)
                .with_context(|| format!("cannot rename {}", paths.log.display()))?;
        }
        findings.merge(LogFindings::scan_file(&format!("node{id}"), &kept));
    }
    Ok(findings)
}

/// What one server did under the kills.
#[derive(Debug)]
struct Outcome {
    windows: Vec<Duration>,
    writes: WriteLog,
    verification: Verification,
}

/// Starts the ensemble and the writers, kills the leader `--kills` times, stops the writers and
/// checks every member.
fn measure(
    cluster: &mut Cluster,
    runtime: &tokio::runtime::Runtime,
    args: &Args,
) -> anyhow::Result<Outcome> {
    cluster.start_all()?;
    wait_settled(cluster)?;
    let members = client_addresses(cluster)?;
    let load = runtime.block_on(WriteLoad::start(
        members.clone(),
        usize::from(args.sessions),
        ROOT,
    ))?;
    let windows = kill_leaders(cluster, &load, args);
    // The writers stop whatever happened, so that a failure leaves no task behind.
    let writes = runtime.block_on(load.stop())?;
    let windows = windows?;
    let verification = runtime.block_on(verify(&members, ROOT, &writes.acks))?;
    Ok(Outcome {
        windows,
        writes,
        verification,
    })
}

fn client_addresses(cluster: &Cluster) -> anyhow::Result<Vec<SocketAddr>> {
    cluster
        .ids()
        .into_iter()
        .map(|id| {
            let port = cluster.node(id)?.client_port();
            Ok(SocketAddr::from(([127, 0, 0, 1], port)))
        })
        .collect()
}

fn wait_settled(cluster: &Cluster) -> anyhow::Result<Roles> {
    Ok(cluster.wait_for(
        "one leader, every member serving",
        ELECTION_TIMEOUT,
        Roles::settled,
    )?)
}

/// Waits until every session has had a create acknowledged since `since`.
fn wait_all_writing(load: &WriteLoad, since: Instant) -> anyhow::Result<()> {
    let writing = load.wait_for(RECOVERY_TIMEOUT, TIMING_POLL, |log| {
        log.all_writing_since(since).then_some(())
    });
    writing.with_context(|| {
        format!("not every session wrote again within {RECOVERY_TIMEOUT:?} of a settled ensemble")
    })
}

/// The kill rounds; returns each failover window. Ends with every member back and writing.
fn kill_leaders(
    cluster: &mut Cluster,
    load: &WriteLoad,
    args: &Args,
) -> anyhow::Result<Vec<Duration>> {
    let settle = Duration::from_millis(args.settle_ms);
    let mut windows = Vec::new();
    for round in 1..=args.kills {
        wait_settled(cluster)?;
        wait_all_writing(load, Instant::now())?;
        std::thread::sleep(settle);
        // Asked again right before the kill: the leader named earlier may have changed.
        let roles = wait_settled(cluster)?;
        let leader = roles.sole_leader().context("the leader went away")?;
        let killed_at = Instant::now();
        cluster.kill(leader)?;
        // Only once the process is gone (kill(1) takes a few milliseconds to run) is every
        // create sent later sure to need a new leader.
        let dead_at = Instant::now();
        let resumed_at = load
            .wait_for(RECOVERY_TIMEOUT, TIMING_POLL, |log| {
                log.first_ack_of_sent_after(dead_at)
            })
            .with_context(|| {
                format!("round {round}: no create acknowledged within {RECOVERY_TIMEOUT:?} of killing leader {leader}")
            })?;
        let window = resumed_at - killed_at;
        eprintln!(
            "  round {round}: leader {leader} killed, writes resumed after {}",
            ms(window)
        );
        windows.push(window);
        cluster.restart(leader)?;
    }
    wait_settled(cluster)?;
    wait_all_writing(load, Instant::now())?;
    Ok(windows)
}

#[derive(Debug)]
struct Row {
    server: &'static str,
    outcome: anyhow::Result<Outcome>,
    logs: LogFindings,
}

impl Row {
    /// Measured, nothing acknowledged lost, members in agreement, no node from nowhere.
    fn passed(&self) -> bool {
        self.outcome.as_ref().is_ok_and(|outcome| {
            let verification = &outcome.verification;
            verification.lost().is_empty()
                && verification.members_agree()
                && !verification
                    .members
                    .iter()
                    .any(|member| unexplained_unacknowledged(member, outcome.writes.interrupted))
        })
    }
}

/// `HH:MM:SS.mmm` of a wall-clock time, in UTC as both servers log it.
fn utc_time_of_day(at: SystemTime) -> String {
    let since_epoch = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        since_epoch.subsec_millis()
    )
}

fn ms(duration: Duration) -> String {
    format!("{:.0} ms", duration.as_secs_f64() * 1000.0)
}

/// Error replies as `code×count`, e.g. `-112×2`.
fn error_counts(errors: &BTreeMap<i32, u64>) -> String {
    if errors.is_empty() {
        return "0".into();
    }
    let parts: Vec<String> = errors
        .iter()
        .map(|(code, count)| format!("{code}×{count}"))
        .collect();
    parts.join(" ")
}

/// The markdown table and, per server, the verdict on acknowledged writes.
fn report(rows: &[Row], args: &Args) -> String {
    let mut out = format!(
        "\nWrite failover: {} members, {} sessions creating sequential znodes (one pinned per \
         member, moving on failure), leader SIGKILLed {} times; window = kill until the first \
         create sent after the kill is acknowledged\n\n\
         | server | median | best | worst | creates acknowledged | lost | applied unacknowledged / interrupted | sessions moved | sessions expired | error replies |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        args.size, args.sessions, args.kills
    );
    for row in rows {
        // Writing to a String cannot fail.
        let _ = match &row.outcome {
            Ok(outcome) => {
                let summary = Summary::of(&outcome.windows);
                let unacknowledged = outcome
                    .verification
                    .members
                    .iter()
                    .map(|member| member.unacknowledged)
                    .max()
                    .unwrap_or(0);
                writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {unacknowledged} / {} | {} | {} | {} |",
                    row.server,
                    ms(summary.median),
                    ms(summary.best),
                    ms(summary.worst),
                    outcome.writes.acks.len(),
                    outcome.verification.lost().len(),
                    outcome.writes.interrupted,
                    outcome.writes.reconnects,
                    outcome.writes.expiries.len(),
                    error_counts(&outcome.writes.errors),
                )
            }
            Err(error) => writeln!(out, "| {} | failed: {error:#} |", row.server),
        };
    }
    out.push('\n');
    for row in rows {
        let Ok(outcome) = &row.outcome else {
            let _ = writeln!(out, "{}: FAILED before the check", row.server);
            continue;
        };
        let verification = &outcome.verification;
        let lost = verification.lost();
        let _ = writeln!(
            out,
            "{}: acknowledged writes lost: {}",
            row.server,
            lost.len()
        );
        for path in lost.iter().take(MISSING_SHOWN) {
            let _ = writeln!(out, "  LOST {path}");
        }
        if !verification.members_agree() {
            let _ = writeln!(out, "  MEMBERS DISAGREE on the children of {ROOT}");
        }
        for expiry in &outcome.writes.expiries {
            let _ = writeln!(
                out,
                "  session 0x{:x} refused as expired by {} at {} UTC",
                expiry.session_id,
                expiry.member,
                utc_time_of_day(expiry.at)
            );
        }
        for member in &verification.members {
            if unexplained_unacknowledged(member, outcome.writes.interrupted) {
                let _ = writeln!(
                    out,
                    "  {} holds {} unacknowledged creates, more than the {} interrupted",
                    member.addr, member.unacknowledged, outcome.writes.interrupted
                );
            }
        }
    }
    for row in rows {
        let _ = writeln!(out, "{}: {}", row.server, row.logs);
    }
    out
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::bench::failover_load::Expiry;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(line: &[&str]) -> Result<Args, clap::Error> {
        Cli::try_parse_from(std::iter::once("bench-failover").chain(line.iter().copied()))
            .map(|cli| cli.args)
    }

    #[test]
    fn defaults_are_three_members_twenty_kills_eight_sessions() {
        let args = parse(&[]).unwrap();
        assert_eq!((args.size, args.kills, args.sessions), (3, 20, 8));
        assert_eq!(args.settle_ms, 1000);
        let args = parse(&["--size", "5", "--kills", "3", "--vs-zookeeper"]).unwrap();
        assert_eq!((args.size, args.kills), (5, 3));
        assert!(parse(&["--size", "1"]).is_err());
        assert!(parse(&["--kills", "0"]).is_err());
        assert!(parse(&["--sessions", "0"]).is_err());
        assert!(
            parse(&["--zookeeper-only"]).is_err(),
            "needs --vs-zookeeper"
        );
    }

    #[test]
    fn wall_clock_times_print_as_utc_time_of_day() {
        let at = UNIX_EPOCH + Duration::from_millis(((3 * 24 + 4) * 3600 + 5 * 60 + 6) * 1000 + 78);
        assert_eq!(utc_time_of_day(at), "04:05:06.078");
        assert_eq!(utc_time_of_day(UNIX_EPOCH), "00:00:00.000");
    }

    #[test]
    fn error_replies_are_listed_by_code() {
        assert_eq!(error_counts(&BTreeMap::new()), "0");
        let errors = BTreeMap::from([(-112, 2), (-4, 1)]);
        assert_eq!(error_counts(&errors), "-112×2 -4×1");
    }

    #[test]
    fn a_clean_run_reports_its_windows_and_no_loss() {
        let mut writes = WriteLog::default();
        writes.expiries.push(Expiry {
            member: SocketAddr::from(([127, 0, 0, 1], 2181)),
            session_id: 0x1a,
            at: UNIX_EPOCH + Duration::from_secs(61),
        });
        let row = Row {
            server: "ZooKeeper",
            outcome: Ok(Outcome {
                windows: [900, 700, 1200].map(Duration::from_millis).to_vec(),
                writes,
                verification: Verification::default(),
            }),
            logs: LogFindings::scan("node1", "x WARN y\n"),
        };
        assert!(row.passed());
        let text = report(&[row], &parse(&["--kills", "3"]).unwrap());
        assert!(
            text.contains("| ZooKeeper | 900 ms | 700 ms | 1200 ms | 0 | 0 | 0 / 0 | 0 | 1 | 0 |"),
            "{text}"
        );
        assert!(
            text.contains("ZooKeeper: acknowledged writes lost: 0\n"),
            "{text}"
        );
        assert!(
            text.contains("session 0x1a refused as expired by 127.0.0.1:2181 at 00:01:01.000 UTC"),
            "{text}"
        );
        assert!(
            text.contains("ZooKeeper: 0 ERROR and 1 WARN lines"),
            "{text}"
        );
    }

    #[test]
    fn a_failed_run_is_reported_and_fails() {
        let row = Row {
            server: "zk-server",
            outcome: Err(anyhow::anyhow!("no leader")),
            logs: LogFindings::default(),
        };
        assert!(!row.passed());
        let args = parse(&["--kills", "2"]).unwrap();
        let text = report(&[row], &args);
        assert!(text.contains("| zk-server | failed: no leader |"), "{text}");
        assert!(
            text.contains("zk-server: FAILED before the check"),
            "{text}"
        );
        assert!(text.contains("leader SIGKILLed 2 times"), "{text}");
    }
}
