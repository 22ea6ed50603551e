//! `cargo xtask cluster start|status|kill|restart|stop`: one ensemble per directory, found again
//! through its cluster.json by every later invocation.

use std::fs;
use std::path::Path;

use anyhow::{Context, bail};

use super::ensemble::{Cluster, Options, ServerCommand};
use super::{DirArg, build, state_file};

/// Under target/ when `--dir` is not given.
const DEFAULT_DIR: &str = "cluster";

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Build zk-server, start an ensemble, wait until every node answers ruok, print the
    /// connect string.
    Start(StartArgs),
    /// Every node's id, pid, role, last zxid, client port and process state.
    Status(DirArg),
    /// SIGKILL node N.
    Kill(NodeArgs),
    /// Start node N again with its config and data (SIGKILL first if it still runs).
    Restart(NodeArgs),
    /// SIGTERM every node; SIGKILL those still running after 10 s.
    Stop(DirArg),
}

#[derive(Debug, clap::Args)]
struct StartArgs {
    /// Voting members.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=99))]
    size: u8,
    /// Observers, in addition to the voting members (ids after theirs).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=99))]
    observers: u8,
    /// tickTime in milliseconds.
    #[arg(long, default_value_t = 2000)]
    tick_time: u32,
    /// Build and run the release zk-server.
    #[arg(long)]
    release: bool,
    /// Run this program (given a zoo.cfg) instead of building zk-server, e.g. a script that
    /// execs Apache ZooKeeper.
    #[arg(long)]
    server_bin: Option<std::path::PathBuf>,
    #[command(flatten)]
    dir: DirArg,
}

#[derive(Debug, clap::Args)]
struct NodeArgs {
    /// The server id.
    id: u64,
    #[command(flatten)]
    dir: DirArg,
}

pub fn main(args: Args) -> anyhow::Result<()> {
    match args.action {
        Action::Start(args) => start(&args),
        Action::Status(dir) => status(&dir.resolve(DEFAULT_DIR)?),
        Action::Kill(node) => {
            let dir = node.dir.resolve(DEFAULT_DIR)?;
            change(&dir, |cluster| Ok(cluster.kill(node.id)?))
        }
        Action::Restart(node) => {
            let dir = node.dir.resolve(DEFAULT_DIR)?;
            change(&dir, |cluster| Ok(cluster.restart(node.id)?))
        }
        Action::Stop(dir) => change(&dir.resolve(DEFAULT_DIR)?, |cluster| Ok(cluster.stop()?)),
    }
}

fn start(args: &StartArgs) -> anyhow::Result<()> {
    let dir = args.dir.resolve(DEFAULT_DIR)?;
    clear(&dir)?;
    let server = match &args.server_bin {
        Some(program) => ServerCommand::program(std::path::absolute(program)?),
        None => ServerCommand::program(build::zk_server(args.release)?),
    };
    let mut options = Options::new(&dir, usize::from(args.size), server);
    options.observers = usize::from(args.observers);
    options.tick_time_ms = args.tick_time;
    let mut cluster = Cluster::create(&options)?;
    for id in cluster.start_order() {
        let started = cluster.start_node(id);
        // Recorded node by node: an interrupted start leaves processes `stop` can find.
        state_file::save(&dir, cluster.state())?;
        if let Err(error) = started {
            cluster.stop()?;
            state_file::save(&dir, cluster.state())?;
            return Err(error.into());
        }
    }
    let connect = cluster.connect_string();
    let state = cluster.detach();
    state_file::save(&dir, &state)?;
    eprintln!(
        "xtask cluster: {} nodes running in {}",
        state.nodes.len(),
        dir.display()
    );
    println!("{connect}");
    Ok(())
}

/// Makes `dir` ready for a new ensemble: refuses while one runs there, and never deletes a
/// directory that is not an ensemble's.
fn clear(dir: &Path) -> anyhow::Result<()> {
    if let Some(state) = state_file::load(dir)? {
        let cluster = Cluster::attach(dir, state);
        let running: Vec<_> = cluster
            .ids()
            .into_iter()
            .filter(|id| cluster.node(*id).is_ok_and(|node| node.pid().is_some()))
            .collect();
        if !running.is_empty() {
            bail!(
                "nodes {running:?} of an ensemble still run in {}: `cargo xtask cluster stop` first",
                dir.display()
            );
        }
    } else if fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        bail!(
            "{} is not empty and holds no cluster.json: choose another --dir",
            dir.display()
        );
    }
    if dir.exists() {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("node") && entry.file_type()?.is_dir() {
                fs::remove_dir_all(entry.path())?;
            }
        }
        let _ = fs::remove_file(state_file::path(dir));
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

/// Loads the ensemble in `dir`, applies `action`, and records the outcome (pids) even when the
/// action failed half-way.
fn change(
    dir: &Path,
    action: impl FnOnce(&mut Cluster) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut cluster = Cluster::attach(dir, state_file::require(dir)?);
    let outcome = action(&mut cluster);
    state_file::save(dir, &cluster.detach())?;
    outcome?;
    status(dir)
}

fn status(dir: &Path) -> anyhow::Result<()> {
    let cluster = Cluster::attach(dir, state_file::require(dir)?);
    println!(
        "{:>3}  {:<11}  {:>8}  {:<10}  {:<12}  {:>6}  {:>6}  process",
        "id", "member", "pid", "role", "zxid", "client", "admin"
    );
    for id in cluster.ids() {
        let node = cluster.node(id)?;
        let pid = node.pid();
        let status = node.status();
        println!(
            "{:>3}  {:<11}  {:>8}  {:<10}  {:<12}  {:>6}  {:>6}  {}",
            id,
            if node.is_observer() {
                "observer"
            } else {
                "participant"
            },
            pid.map_or_else(|| "-".to_owned(), |pid| pid.to_string()),
            status.role,
            status
                .zxid
                .map_or_else(|| "-".to_owned(), |zxid| format!("{zxid:#x}")),
            node.client_port(),
            match node.admin_port() {
                0 => "-".to_owned(),
                port => port.to_string(),
            },
            if pid.is_some() { "up" } else { "down" },
        );
    }
    Ok(())
}
