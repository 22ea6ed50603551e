//! `cargo xtask bench`: a load generator run against a release zk-server and, with
//! `--vs-zookeeper`, against Apache ZooKeeper 3.8 from the Debian package, side by side; with
//! `--ensemble N`, against N-member ensembles of each, sessions spread over the members.
//!
//! Each server runs alone while measured; with several repetitions the runs alternate (ours,
//! theirs, ours, theirs...) and the report gives medians. The load generator itself always
//! runs optimised: from a debug xtask, the command re-runs itself with `--release`.

mod cpu;
mod deployment;
pub(crate) mod failover_load;
mod load;
mod report;
mod server;
pub(crate) mod server_log;
pub(crate) mod session;
mod stats;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::util::{cargo, run, workspace_root};
use deployment::Deployment;
use load::{LoadSpec, Scenario, Target};
use report::{MemoryRun, RestartRuns, Results, Setup};
use server::{Flavor, JavaLauncher, Launchers, ServerProcess};

/// Sessions and requests in flight per session of the bulk loads (memory, restart): 512
/// outstanding requests, below both servers' globalOutstandingLimit of 1000.
const LOAD_CLIENTS: usize = 16;
const LOAD_PIPELINE: usize = 32;
/// Znodes created before a memory measurement's "before" (see `measure_memory`).
const MEMORY_WARMUP_ZNODES: usize = 1_000;

/// Every freshly started server first runs each scenario this long, unmeasured, so that the
/// JVM's JIT compiler has done its work before ZooKeeper is measured.
const SERVER_WARMUP: Duration = Duration::from_secs(2);
/// The same for each member of an ensemble: three JVMs compiling at once on a small machine
/// need about three times as long.
const ENSEMBLE_WARMUP: Duration = Duration::from_secs(6);
const SERVER_WARMUP_CLIENTS: usize = 16;

/// The workloads, as chosen on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScenarioChoice {
    Create,
    Set,
    Get,
    Mix,
    All,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Workloads to measure, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "all")]
    pub scenario: Vec<ScenarioChoice>,
    /// Concurrent sessions, one run per count, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub clients: Vec<usize>,
    /// Measured seconds per run (after the warm-up).
    #[arg(long, visible_alias = "duration", default_value_t = 5)]
    pub duration_secs: u64,
    /// Warm-up seconds per run, not measured.
    #[arg(long, default_value_t = 1)]
    pub warmup_secs: u64,
    /// Requests each session keeps in flight.
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// Repetitions of every measurement [default: 1, or 3 with --vs-zookeeper].
    #[arg(long)]
    pub repeat: Option<usize>,
    /// Also measure Apache ZooKeeper (Debian package) the same way.
    #[arg(long)]
    pub vs_zookeeper: bool,
    /// Run every server as an ensemble of this many voting members (logs under
    /// target/bench-ensemble), its sessions spread round-robin over the members.
    #[arg(long, value_parser = clap::value_parser!(u8).range(2..=9),
          conflicts_with_all = ["memory", "restart"])]
    pub ensemble: Option<u8>,
    /// Measure RSS growth after creating --memory-znodes znodes.
    #[arg(long)]
    pub memory: bool,
    /// Measure restart time with --restart-znodes znodes.
    #[arg(long)]
    pub restart: bool,
    /// Skip the throughput runs (e.g. for `--memory` alone).
    #[arg(long)]
    pub no_throughput: bool,
    #[arg(long, default_value_t = 100_000)]
    pub memory_znodes: usize,
    #[arg(long, default_value_t = 1_000_000)]
    pub restart_znodes: usize,
    /// Seconds to let a server settle before reading its RSS.
    #[arg(long, default_value_t = 5)]
    pub settle_secs: u64,
    /// Threads of the load generator (it shares the machine with the server under test).
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,
    /// Measure this zk-server binary instead of building the release one from the tree.
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Where Debian's zookeeper.jar and its dependencies are.
    #[arg(long, default_value = "/usr/share/java")]
    pub zookeeper_jars: PathBuf,
    /// log4j configuration for ZooKeeper (used when the file exists).
    #[arg(long, default_value = "/etc/zookeeper/conf/log4j.properties")]
    pub zookeeper_log4j: PathBuf,
    /// Also write the markdown report to this file (e.g. docs/BENCHMARKS.md).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

impl Args {
    fn scenarios(&self) -> Vec<Scenario> {
        if self.no_throughput {
            return Vec::new();
        }
        Scenario::ALL
            .into_iter()
            .filter(|scenario| {
                self.scenario.iter().any(|choice| match choice {
                    ScenarioChoice::All => true,
                    ScenarioChoice::Create => *scenario == Scenario::Create,
                    ScenarioChoice::Set => *scenario == Scenario::Set,
                    ScenarioChoice::Get => *scenario == Scenario::Get,
                    ScenarioChoice::Mix => *scenario == Scenario::Mix,
                })
            })
            .collect()
    }

    fn repetitions(&self) -> usize {
        self.repeat
            .unwrap_or(if self.vs_zookeeper { 3 } else { 1 })
            .max(1)
    }

    fn flavors(&self) -> Vec<Flavor> {
        if self.vs_zookeeper {
            vec![Flavor::Ours, Flavor::ZooKeeper]
        } else {
            vec![Flavor::Ours]
        }
    }
}

pub fn main(args: Args) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        // A debug load generator would measure itself: re-run this command optimised.
        eprintln!("xtask bench: re-running in release mode");
        return run(cargo()
            .args(["run", "--release", "--quiet", "--package", "xtask", "--"])
            .args(std::env::args_os().skip(1)));
    }
    let launchers = Launchers {
        ours: match &args.server_bin {
            Some(binary) => std::path::absolute(binary)?,
            None => build_server()?,
        },
        zookeeper: if args.vs_zookeeper {
            Some(JavaLauncher::find(
                &args.zookeeper_jars,
                &args.zookeeper_log4j,
            )?)
        } else {
            None
        },
    };
    let runtime = if args.client_threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.client_threads)
            .enable_all()
            .build()?
    };
    let results = runtime.block_on(measure(&args, &launchers))?;
    let setup = Setup {
        machine: machine_description(),
        repetitions: args.repetitions(),
        warmup: Duration::from_secs(args.warmup_secs),
        duration: Duration::from_secs(args.duration_secs),
        pipeline: args.pipeline,
        client_threads: args.client_threads.max(1),
        ensemble: args.ensemble,
        zookeeper_version: launchers.zookeeper.as_ref().map(|z| z.version.clone()),
    };
    let text = report::render(&setup, &results);
    println!("{text}");
    if let Some(path) = &args.output {
        std::fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("xtask bench: wrote {}", path.display());
    }
    Ok(())
}

/// Builds zk-server in release and returns the binary's path.
fn build_server() -> anyhow::Result<PathBuf> {
    run(cargo().args([
        "build",
        "--release",
        "--package",
        "zk-server",
        "--bin",
        "zk-server",
    ]))?;
    // cargo runs in the workspace root, so a relative CARGO_TARGET_DIR is relative to it.
    let root = workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| root.join(dir))
        .unwrap_or_else(|| root.join("target"));
    let binary = target.join("release").join("zk-server");
    anyhow::ensure!(
        binary.is_file(),
        "built zk-server, but {} is missing",
        binary.display()
    );
    Ok(binary)
}

/// "2 cores, <model name>" from /proc/cpuinfo.
fn machine_description() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores, {model}")
}

async fn measure(args: &Args, launchers: &Launchers) -> anyhow::Result<Results> {
    let mut results = Results::default();
    let scenarios = args.scenarios();
    if !scenarios.is_empty() {
        measure_throughput(args, launchers, &scenarios, &mut results).await?;
    }
    if args.memory {
        measure_memory(args, launchers, &mut results).await?;
    }
    if args.restart {
        measure_restart(args, launchers, &mut results).await?;
    }
    Ok(results)
}

async fn measure_throughput(
    args: &Args,
    launchers: &Launchers,
    scenarios: &[Scenario],
    results: &mut Results,
) -> anyhow::Result<()> {
    let ensemble_dir = workspace_root().join("target").join("bench-ensemble");
    for repetition in 1..=args.repetitions() {
        for flavor in args.flavors() {
            let deployment =
                Deployment::start(flavor, launchers, args.ensemble, &ensemble_dir).await?;
            let target = deployment.target();
            let warmup = if args.ensemble.is_some() {
                ENSEMBLE_WARMUP
            } else {
                SERVER_WARMUP
            };
            warm_up(&target, flavor, scenarios, args.pipeline, warmup).await?;
            for &scenario in scenarios {
                for &clients in &args.clients {
                    let spec = LoadSpec {
                        scenario,
                        clients,
                        pipeline: args.pipeline,
                        warmup: Duration::from_secs(args.warmup_secs),
                        duration: Duration::from_secs(args.duration_secs),
                    };
                    let what = format!(
                        "{} {clients} clients on {}",
                        scenario.name(),
                        flavor.label()
                    );
                    // ZooKeeper now and then drops a session under load; one more try, said
                    // out loud, keeps a long side-by-side run from dying of it.
                    let result = match load::run(&target, spec).await {
                        Ok(result) => result,
                        Err(error) => {
                            eprintln!("xtask bench: {what} failed ({error:#}); measuring again");
                            load::run(&target, spec).await.context(what)?
                        }
                    };
                    eprintln!(
                        "xtask bench: [{repetition}] {:<9} {:<18} {clients:>3} clients: \
                         {:>8.0} ops/s  p50 {:>6.0} µs  p99 {:>6.0} µs{}",
                        flavor.label(),
                        scenario.name(),
                        result.ops_per_sec,
                        result.p50_us,
                        result.p99_us,
                        if result.errors > 0 {
                            format!("  ({} errors)", result.errors)
                        } else {
                            String::new()
                        }
                    );
                    results
                        .throughput
                        .entry((scenario, clients, flavor))
                        .or_default()
                        .push(result);
                }
            }
            deployment.stop().await?;
        }
    }
    Ok(())
}

/// Runs each scenario for `duration` and forgets the figures.
async fn warm_up(
    target: &Target,
    flavor: Flavor,
    scenarios: &[Scenario],
    pipeline: usize,
    duration: Duration,
) -> anyhow::Result<()> {
    for &scenario in scenarios {
        let spec = LoadSpec {
            scenario,
            clients: SERVER_WARMUP_CLIENTS,
            pipeline,
            warmup: Duration::ZERO,
            duration,
        };
        // Not sampled: the target's pids would be, for nothing.
        let unsampled = Target {
            pids: Vec::new(),
            ..target.clone()
        };
        load::run(&unsampled, spec)
            .await
            .with_context(|| format!("warming up {}", flavor.label()))?;
    }
    Ok(())
}

async fn measure_memory(
    args: &Args,
    launchers: &Launchers,
    results: &mut Results,
) -> anyhow::Result<()> {
    let settle = Duration::from_secs(args.settle_secs);
    for repetition in 1..=args.repetitions() {
        for flavor in args.flavors() {
            let mut server = ServerProcess::start(flavor, launchers).await?;
            // A few writes first, so that "before" already holds what the first writes cost
            // once (code paged in, per-thread allocator arenas, the JVM's compiled create
            // path): the growth is then what the znodes themselves take.
            load::bulk_create(
                server.addr(),
                "/memory-warmup",
                MEMORY_WARMUP_ZNODES,
                LOAD_CLIENTS,
                LOAD_PIPELINE,
            )
            .await
            .with_context(|| format!("warming up {}", flavor.label()))?;
            tokio::time::sleep(settle).await;
            let rss_before = server.rss_bytes()?;
            load::bulk_create(
                server.addr(),
                "/memory",
                args.memory_znodes,
                LOAD_CLIENTS,
                LOAD_PIPELINE,
            )
            .await
            .with_context(|| format!("loading {}", flavor.label()))?;
            tokio::time::sleep(settle).await;
            let rss_after = server.rss_bytes()?;
            server.stop().await?;
            eprintln!(
                "xtask bench: [{repetition}] {:<9} memory: RSS {:.1} → {:.1} MiB",
                flavor.label(),
                rss_before as f64 / 1048576.0,
                rss_after as f64 / 1048576.0
            );
            results.memory.entry(flavor).or_default().push(MemoryRun {
                znodes: args.memory_znodes,
                rss_before,
                rss_after,
            });
        }
    }
    Ok(())
}

async fn measure_restart(
    args: &Args,
    launchers: &Launchers,
    results: &mut Results,
) -> anyhow::Result<()> {
    // Load every server first (one at a time), then alternate the restarts.
    let mut loaded = Vec::new();
    for flavor in args.flavors() {
        let mut server = ServerProcess::start(flavor, launchers).await?;
        let load = load::bulk_create(
            server.addr(),
            "/restart",
            args.restart_znodes,
            LOAD_CLIENTS,
            LOAD_PIPELINE,
        )
        .await
        .with_context(|| format!("loading {}", flavor.label()))?;
        server.stop().await?;
        eprintln!(
            "xtask bench: {:<9} loaded {} znodes in {:.1} s",
            flavor.label(),
            args.restart_znodes,
            load.elapsed.as_secs_f64()
        );
        results.restart.insert(
            flavor,
            RestartRuns {
                znodes: args.restart_znodes,
                load_time: load.elapsed,
                data_bytes: server.data_bytes(),
                ..RestartRuns::default()
            },
        );
        loaded.push((server, load.last_path));
    }
    for repetition in 1..=args.repetitions() {
        for (server, last_path) in &mut loaded {
            let flavor = server.flavor();
            let restart = server.launch_and_wait(last_path).await?;
            let rss = server.rss_bytes()?;
            let stop = server.stop().await?;
            eprintln!(
                "xtask bench: [{repetition}] {:<9} restart {:.2} s (stop {:.2} s)",
                flavor.label(),
                restart.as_secs_f64(),
                stop.as_secs_f64()
            );
            if let Some(runs) = results.restart.get_mut(&flavor) {
                runs.restarts.push(restart);
                runs.stops.push(stop);
                runs.rss_after_restart.push(rss);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(line: &[&str]) -> Args {
        Cli::parse_from(std::iter::once("bench").chain(line.iter().copied())).args
    }

    #[test]
    fn defaults_are_a_short_run_of_every_scenario() {
        let args = parse(&[]);
        assert_eq!(args.scenarios(), Scenario::ALL.to_vec());
        assert_eq!(args.clients, vec![1, 16, 64]);
        assert_eq!(args.repetitions(), 1);
        assert_eq!(args.flavors(), vec![Flavor::Ours]);
        assert_eq!(args.pipeline, 1);
    }

    #[test]
    fn the_comparison_alternates_and_repeats() {
        let args = parse(&[
            "--vs-zookeeper",
            "--scenario",
            "get,create",
            "--clients",
            "64",
        ]);
        assert_eq!(args.flavors(), vec![Flavor::Ours, Flavor::ZooKeeper]);
        assert_eq!(args.repetitions(), 3);
        assert_eq!(args.scenarios(), vec![Scenario::Create, Scenario::Get]);
        assert_eq!(args.clients, vec![64]);
        assert_eq!(parse(&["--vs-zookeeper", "--repeat", "5"]).repetitions(), 5);
    }

    #[test]
    fn an_ensemble_run_names_its_size_and_excludes_the_standalone_measurements() {
        let args = parse(&["--ensemble", "3", "--vs-zookeeper", "--duration", "3"]);
        assert_eq!(args.ensemble, Some(3));
        assert_eq!(args.duration_secs, 3);
        assert_eq!(parse(&[]).ensemble, None);
        let parse_err = |line: &[&str]| {
            Cli::try_parse_from(std::iter::once("bench").chain(line.iter().copied())).is_err()
        };
        assert!(parse_err(&["--ensemble", "1"]));
        assert!(parse_err(&["--ensemble", "3", "--memory"]));
        assert!(parse_err(&["--ensemble", "3", "--restart"]));
    }

    #[test]
    fn no_throughput_leaves_only_the_other_measurements() {
        let args = parse(&["--no-throughput", "--memory"]);
        assert!(args.scenarios().is_empty());
        assert!(args.memory);
    }
}
