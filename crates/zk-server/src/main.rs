//! `zk-server`: a ZooKeeper-compatible server.
//!
//! `zk-server` alone serves on 127.0.0.1:2181 with its data in ./zk-data. `zk-server zoo.cfg`
//! (or `--config FILE`) reads a ZooKeeper zoo.cfg or a TOML file; `ZK_*` variables and flags
//! override it. `--export-zookeeper DIR` writes the database as ZooKeeper's snapshot instead.

use std::path::PathBuf;

use clap::Parser;
use figment::providers::Serialized;
use serde::Serialize;
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;
use zk_server::{Config, Server, audit};

#[derive(Debug, Parser, Serialize)]
#[command(
    name = "zk-server",
    version,
    about = "A ZooKeeper-compatible coordination server"
)]
struct Args {
    /// Configuration file (zoo.cfg or .toml), as ZooKeeper's QuorumPeerMain takes it.
    #[serde(skip)]
    config_file: Option<PathBuf>,
    /// Configuration file (zoo.cfg or .toml).
    #[arg(long = "config", value_name = "FILE")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Client port (clientPort).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    client_port: Option<u16>,
    /// Address to listen on for clients (clientPortAddress).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    client_port_address: Option<String>,
    /// Data directory (dataDir).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
    /// Milliseconds per tick (tickTime).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    tick_time: Option<u64>,
    /// Instead of serving: write the database as Apache ZooKeeper's snapshot into
    /// DIR/version-2 (for ZooKeeper with dataDir=DIR), then exit. Run it with the server
    /// stopped.
    #[arg(long, value_name = "DIR")]
    #[serde(skip)]
    export_zookeeper: Option<PathBuf>,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("ZK_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let file = args.config.clone().or_else(|| args.config_file.clone());
    let config = match Config::load(file.as_deref(), Serialized::globals(&args)) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("zk-server: {error}");
            std::process::exit(2);
        }
    };
    if let Some(to) = &args.export_zookeeper {
        match zk_server::export::export_zookeeper_data(&config, to) {
            Ok(path) => println!("{}", path.display()),
            Err(error) => {
                eprintln!("zk-server: {error:#}");
                std::process::exit(1);
            }
        }
        return;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.worker_threads())
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("zk-server: cannot start the runtime: {error}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(serve(config)) {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("zk-server: {error:#}");
            1
        }
    };
    // Every acknowledged write is already durable, so there is nothing to flush: exit without
    // freeing the data tree node by node, which takes seconds for millions of znodes.
    std::process::exit(code);
}

/// The audit line of the server starting or stopping (no session, no znode).
fn audit_lifecycle(operation: &'static str, outcome: audit::Outcome) {
    audit::emit(&audit::server_event(operation, None, None, outcome));
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let audit = config.audit_enable;
    let server = Server::bind(config).await?;
    if audit {
        audit_lifecycle("serverStart", audit::Outcome::Success);
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        if audit {
            audit_lifecycle("serverStop", audit::Outcome::Invoked);
        }
        let _ = stop_tx.send(true);
    });
    server.run(stop_rx).await
}

/// SIGTERM or Ctrl-C.
async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupt received"),
    }
}
