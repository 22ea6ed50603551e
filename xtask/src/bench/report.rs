//! The results of a bench run and their markdown rendering (pure: no I/O).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::load::Scenario;
use super::server::Flavor;
use super::stats::{RunResult, median};

const MIB: f64 = 1024.0 * 1024.0;

/// Everything measured, by flavour; each list holds one entry per repetition.
#[derive(Debug, Default)]
pub struct Results {
    pub throughput: BTreeMap<(Scenario, usize, Flavor), Vec<RunResult>>,
    pub memory: BTreeMap<Flavor, Vec<MemoryRun>>,
    pub restart: BTreeMap<Flavor, RestartRuns>,
}

/// RSS of a fresh server before and after a bulk load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryRun {
    pub znodes: usize,
    pub rss_before: u64,
    pub rss_after: u64,
}

impl MemoryRun {
    /// Growth in MiB, scaled to 100,000 znodes.
    fn growth_per_100k_mib(&self) -> f64 {
        let growth = self.rss_after.saturating_sub(self.rss_before) as f64 / MIB;
        if self.znodes == 0 {
            0.0
        } else {
            growth * 100_000.0 / self.znodes as f64
        }
    }
}

/// One server loaded once, then restarted several times.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RestartRuns {
    pub znodes: usize,
    pub load_time: Duration,
    pub data_bytes: u64,
    /// SIGTERM to exit.
    pub stops: Vec<Duration>,
    /// Spawn to `imok` and a successful getData of the last node.
    pub restarts: Vec<Duration>,
    /// RSS once serving again.
    pub rss_after_restart: Vec<u64>,
}

/// How the figures were taken, printed above the tables.
#[derive(Debug, Clone)]
pub struct Setup {
    pub machine: String,
    pub repetitions: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub pipeline: usize,
    pub client_threads: usize,
    /// Voting members of each ensemble measured; `None`: standalone servers.
    pub ensemble: Option<u8>,
    pub zookeeper_version: Option<String>,
}

impl Setup {
    /// "standalone" or "3-member ensemble".
    fn deployment(&self) -> String {
        match self.ensemble {
            Some(members) => format!("{members}-member ensemble"),
            None => "standalone".into(),
        }
    }
}

/// `12345.6` → `12,346`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn ratio(ours: f64, theirs: f64) -> String {
    if theirs > 0.0 {
        format!("{:.2}x", ours / theirs)
    } else {
        "n/a".into()
    }
}

fn secs(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64())
}

fn median_duration(values: &[Duration]) -> Option<Duration> {
    median(values.iter().map(Duration::as_secs_f64)).map(Duration::from_secs_f64)
}

fn mib(bytes: f64) -> String {
    format!("{:.1}", bytes / MIB)
}

/// Renders the whole report as markdown.
pub fn render(setup: &Setup, results: &Results) -> String {
    let mut out = String::from("# Benchmarks: zk-server and Apache ZooKeeper\n\n");
    let _ = writeln!(
        out,
        "Produced by `cargo xtask bench`. Machine: {}.",
        setup.machine
    );
    if let Some(version) = &setup.zookeeper_version {
        let _ = writeln!(
            out,
            "Compared with Apache ZooKeeper {version} {} (Debian package, default JVM \
             options), same tickTime, fsync on, each server alone while measured, runs \
             alternating.",
            setup.deployment()
        );
    }
    if let Some(members) = setup.ensemble {
        let _ = writeln!(
            out,
            "Each server runs as a {members}-member ensemble on this one machine (every member \
             fsyncs to the same disk); session i connects to member i mod {members}, so writes \
             sent to followers are forwarded to the leader. CPU is summed over the members."
        );
    }
    let _ = writeln!(
        out,
        "Figures are medians of {} repetition(s). Load generator: Rust, tokio, {} thread(s), one \
         TCP connection per session, {} request(s) in flight per session, 100-byte values; \
         {} s warm-up, then {} s measured. Latencies are round trips in microseconds. CPU is \
         the cores used over the measured window by the server / by the load generator.\n",
        setup.repetitions,
        setup.client_threads,
        setup.pipeline,
        setup.warmup.as_secs_f64(),
        setup.duration.as_secs_f64(),
    );
    render_throughput(&mut out, setup, results);
    render_memory(&mut out, results);
    render_restart(&mut out, results);
    out
}

fn render_throughput(out: &mut String, setup: &Setup, results: &Results) {
    if results.throughput.is_empty() {
        return;
    }
    let compare = results
        .throughput
        .keys()
        .any(|(_, _, flavor)| *flavor == Flavor::ZooKeeper);
    if setup.ensemble.is_some() {
        let _ = writeln!(out, "## Throughput and latency, {}\n", setup.deployment());
    } else {
        out.push_str("## Throughput and latency\n\n");
    }
    if compare {
        out.push_str(
            "| Scenario | Clients | zk-server ops/s | p50 µs | p99 µs | CPU | ZooKeeper ops/s \
             | p50 µs | p99 µs | CPU | ops/s ours/ZK | p99 ours/ZK |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
    } else {
        out.push_str(
            "| Scenario | Clients | zk-server ops/s | p50 µs | p99 µs | CPU |\n\
             |---|---:|---:|---:|---:|---:|\n",
        );
    }
    let mut rows: Vec<(Scenario, usize)> = results
        .throughput
        .keys()
        .map(|&(scenario, clients, _)| (scenario, clients))
        .collect();
    rows.dedup();
    for (scenario, clients) in rows {
        let cell = |flavor| {
            results
                .throughput
                .get(&(scenario, clients, flavor))
                .and_then(|runs| RunResult::median_of(runs))
        };
        let ours = cell(Flavor::Ours);
        let _ = write!(out, "| {} | {clients} ", scenario.name());
        write_cells(out, ours.as_ref());
        if compare {
            let theirs = cell(Flavor::ZooKeeper);
            write_cells(out, theirs.as_ref());
            match (ours, theirs) {
                (Some(ours), Some(theirs)) => {
                    let _ = write!(
                        out,
                        "| {} | {} ",
                        ratio(ours.ops_per_sec, theirs.ops_per_sec),
                        ratio(ours.p99_us, theirs.p99_us)
                    );
                }
                _ => out.push_str("| | "),
            }
        }
        out.push_str("|\n");
    }
    out.push('\n');
}

fn write_cells(out: &mut String, run: Option<&RunResult>) {
    match run {
        Some(run) => {
            let errors = if run.errors > 0 {
                format!(" ({} errors)", run.errors)
            } else {
                String::new()
            };
            let _ = write!(
                out,
                "| {}{errors} | {:.0} | {:.0} | {:.2}/{:.2} ",
                thousands(run.ops_per_sec),
                run.p50_us,
                run.p99_us,
                run.server_cores,
                run.client_cores
            );
        }
        None => out.push_str("| | | | "),
    }
}

fn render_memory(out: &mut String, results: &Results) {
    if results.memory.is_empty() {
        return;
    }
    out.push_str(
        "## Memory\n\nRSS (VmRSS) of a fresh server that has created 1,000 znodes, after a \
         settle period, before and after creating persistent znodes of 100 bytes (16 sessions, \
         pipelined); MiB, and the growth also in MB (10^6 bytes).\n\n\
         | Server | znodes | RSS before | RSS after | growth per 100,000 znodes | in MB |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for (flavor, runs) in &results.memory {
        let before = median(runs.iter().map(|r| r.rss_before as f64)).unwrap_or(0.0);
        let after = median(runs.iter().map(|r| r.rss_after as f64)).unwrap_or(0.0);
        let growth = median(runs.iter().map(MemoryRun::growth_per_100k_mib)).unwrap_or(0.0);
        let znodes = runs.first().map_or(0, |r| r.znodes);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {growth:.1} | {:.1} |",
            flavor.label(),
            thousands(znodes as f64),
            mib(before),
            mib(after),
            growth * MIB / 1e6,
        );
    }
    out.push('\n');
}

fn render_restart(out: &mut String, results: &Results) {
    if results.restart.is_empty() {
        return;
    }
    out.push_str(
        "## Restart\n\nLoaded once with persistent znodes of 100 bytes (16 sessions, pipelined), \
         then stopped with SIGTERM and started again, several times; restart = spawn until \
         `ruok` answers `imok` and a getData of the last node created succeeds.\n\n\
         | Server | znodes | load (s) | creates/s while loading | data dir (MiB) | SIGTERM to exit (s) \
         | restart (s) | RSS after restart (MiB) |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (flavor, runs) in &results.restart {
        let load_secs = runs.load_time.as_secs_f64();
        let rate = if load_secs > 0.0 {
            runs.znodes as f64 / load_secs
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            flavor.label(),
            thousands(runs.znodes as f64),
            secs(runs.load_time),
            thousands(rate),
            mib(runs.data_bytes as f64),
            median_duration(&runs.stops).map_or_else(String::new, secs),
            median_duration(&runs.restarts).map_or_else(String::new, secs),
            median(runs.rss_after_restart.iter().map(|&b| b as f64)).map_or_else(String::new, mib),
        );
    }
    let restart = |flavor| {
        results
            .restart
            .get(&flavor)
            .and_then(|runs| median_duration(&runs.restarts))
    };
    if let (Some(ours), Some(theirs)) = (restart(Flavor::Ours), restart(Flavor::ZooKeeper)) {
        let _ = writeln!(
            out,
            "\nRestart time ours/ZooKeeper: {}.",
            ratio(ours.as_secs_f64(), theirs.as_secs_f64())
        );
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> Setup {
        Setup {
            machine: "2 cores".into(),
            repetitions: 3,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(5),
            pipeline: 1,
            client_threads: 1,
            ensemble: None,
            zookeeper_version: Some("3.8.0".into()),
        }
    }

    fn run(ops_per_sec: f64, p99_us: f64) -> RunResult {
        RunResult {
            ops_per_sec,
            p50_us: p99_us / 2.0,
            p99_us,
            errors: 0,
            server_cores: 1.25,
            client_cores: 0.5,
        }
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1_234_567.4), "1,234,567");
    }

    #[test]
    fn throughput_rows_show_medians_and_ratios() {
        let mut results = Results::default();
        results.throughput.insert(
            (Scenario::Get, 64, Flavor::Ours),
            vec![
                run(80_000.0, 900.0),
                run(90_000.0, 1000.0),
                run(70_000.0, 800.0),
            ],
        );
        results.throughput.insert(
            (Scenario::Get, 64, Flavor::ZooKeeper),
            vec![run(40_000.0, 2000.0)],
        );
        let text = render(&setup(), &results);
        assert!(
            text.contains(
                "| getData | 64 | 80,000 | 450 | 900 | 1.25/0.50 | 40,000 | 1000 | 2000 | 1.25/0.50 | 2.00x | 0.45x |"
            ),
            "{text}"
        );
        assert!(text.contains("medians of 3 repetition(s)"));
    }

    #[test]
    fn an_ensemble_run_says_so_in_its_heading() {
        let mut results = Results::default();
        results.throughput.insert(
            (Scenario::Create, 16, Flavor::Ours),
            vec![run(3000.0, 9000.0)],
        );
        let standalone = render(&setup(), &results);
        assert!(
            standalone.contains("## Throughput and latency\n"),
            "{standalone}"
        );
        assert!(standalone.contains("ZooKeeper 3.8.0 standalone"));
        let ensemble = render(
            &Setup {
                ensemble: Some(3),
                ..setup()
            },
            &results,
        );
        assert!(
            ensemble.contains("## Throughput and latency, 3-member ensemble\n"),
            "{ensemble}"
        );
        assert!(ensemble.contains("ZooKeeper 3.8.0 3-member ensemble"));
        assert!(ensemble.contains("member i mod 3"));
        assert!(ensemble.contains("| create | 16 | 3,000 |"));
    }

    #[test]
    fn without_zookeeper_only_our_columns_are_printed() {
        let mut results = Results::default();
        results
            .throughput
            .insert((Scenario::Set, 1, Flavor::Ours), vec![run(5000.0, 300.0)]);
        let text = render(&setup(), &results);
        assert!(
            text.contains("| setData | 1 | 5,000 | 150 | 300 | 1.25/0.50 |\n"),
            "{text}"
        );
        assert!(!text.contains("ours/ZK"));
    }

    #[test]
    fn memory_growth_is_scaled_to_100k_znodes() {
        let mut results = Results::default();
        results.memory.insert(
            Flavor::Ours,
            vec![MemoryRun {
                znodes: 50_000,
                rss_before: 10 * 1024 * 1024,
                rss_after: 20 * 1024 * 1024,
            }],
        );
        let text = render(&setup(), &results);
        assert!(
            text.contains("| zk-server | 50,000 | 10.0 | 20.0 | 20.0 |"),
            "{text}"
        );
    }

    #[test]
    fn restart_reports_medians_and_the_ratio() {
        let mut results = Results::default();
        let runs = |restarts: &[u64]| RestartRuns {
            znodes: 1000,
            load_time: Duration::from_secs(2),
            data_bytes: 3 * 1024 * 1024,
            stops: vec![Duration::from_millis(100)],
            restarts: restarts
                .iter()
                .map(|&ms| Duration::from_millis(ms))
                .collect(),
            rss_after_restart: vec![64 * 1024 * 1024],
        };
        results.restart.insert(Flavor::Ours, runs(&[500, 900, 700]));
        results.restart.insert(Flavor::ZooKeeper, runs(&[2100]));
        let text = render(&setup(), &results);
        assert!(
            text.contains("| zk-server | 1,000 | 2.00 | 500 | 3.0 | 0.10 | 0.70 | 64.0 |"),
            "{text}"
        );
        assert!(
            text.contains("Restart time ours/ZooKeeper: 0.33x."),
            "{text}"
        );
    }
}
