//! What a throughput run loads: one standalone server, or an ensemble of several members
//! started by the cluster tooling (ours, or Apache ZooKeeper on the same zoo.cfg files).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use zk_proto::{GetDataRequest, Request};

use super::load::Target;
use super::server::{Flavor, Launchers, ServerProcess};
use super::server_log::LogFindings;
use super::session::Session;
use crate::cluster::ensemble::{Cluster, NodePaths, Options, Roles, ServerCommand};

/// A fresh ensemble's first election, JVMs included.
const ELECTION_TIMEOUT: Duration = Duration::from_secs(120);
/// Every member answering `ruok` (a JVM takes seconds).
const MEMBER_START_TIMEOUT: Duration = Duration::from_secs(120);

/// The servers under test while one flavour is measured.
#[derive(Debug)]
pub enum Deployment {
    Standalone(ServerProcess),
    Ensemble(EnsembleUnderTest),
}

impl Deployment {
    /// A standalone server, or with `members` an ensemble of that many voters in `dir`.
    pub async fn start(
        flavor: Flavor,
        launchers: &Launchers,
        members: Option<u8>,
        dir: &Path,
    ) -> anyhow::Result<Self> {
        Ok(match members {
            None => Deployment::Standalone(ServerProcess::start(flavor, launchers).await?),
            Some(members) => Deployment::Ensemble(
                EnsembleUnderTest::start(
                    server_command(flavor, launchers)?,
                    usize::from(members),
                    dir.join(flavor.label()),
                )
                .await
                .with_context(|| format!("starting a {members}-member {}", flavor.label()))?,
            ),
        })
    }

    pub fn target(&self) -> Target {
        match self {
            Deployment::Standalone(server) => Target {
                members: vec![server.addr()],
                pids: server.pid().into_iter().collect(),
            },
            Deployment::Ensemble(ensemble) => ensemble.target(),
        }
    }

    /// Stops every server; for an ensemble, says what its logs hold.
    pub async fn stop(self) -> anyhow::Result<()> {
        match self {
            Deployment::Standalone(mut server) => {
                server.stop().await?;
            }
            Deployment::Ensemble(ensemble) => {
                let findings = ensemble.stop().await?;
                eprintln!("xtask bench: {findings}");
            }
        }
        Ok(())
    }
}

/// How each flavour runs as an ensemble member.
fn server_command(flavor: Flavor, launchers: &Launchers) -> anyhow::Result<ServerCommand> {
    Ok(match flavor {
        Flavor::Ours => ServerCommand::program(&launchers.ours),
        Flavor::ZooKeeper => launchers
            .zookeeper
            .as_ref()
            .context("ZooKeeper was not located")?
            .server_command(),
    })
}

/// An ensemble on loopback, fresh data, every member serving.
#[derive(Debug)]
pub struct EnsembleUnderTest {
    cluster: Cluster,
    dir: PathBuf,
}

impl EnsembleUnderTest {
    /// Writes zoo.cfg files under `dir` (emptied first), starts every member and waits until
    /// one leads and each serves a session.
    pub async fn start(server: ServerCommand, voters: usize, dir: PathBuf) -> anyhow::Result<Self> {
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        let mut options = Options::new(&dir, voters, server);
        options.start_timeout = MEMBER_START_TIMEOUT;
        let cluster = tokio::task::spawn_blocking(move || {
            let cluster = Cluster::start(&options)?;
            cluster.wait_for(
                "one leader, every member serving",
                ELECTION_TIMEOUT,
                Roles::settled,
            )?;
            anyhow::Ok(cluster)
        })
        .await
        .context("the ensemble starter panicked")??;
        let ensemble = EnsembleUnderTest { cluster, dir };
        for addr in ensemble.target().members {
            probe(addr)
                .await
                .with_context(|| format!("the member on {addr} does not serve sessions"))?;
        }
        Ok(ensemble)
    }

    pub fn target(&self) -> Target {
        let ids = self.cluster.ids();
        let nodes = ids.iter().filter_map(|&id| self.cluster.node(id).ok());
        let (members, pids) = nodes
            .map(|node| {
                (
                    SocketAddr::from(([127, 0, 0, 1], node.client_port())),
                    node.pid(),
                )
            })
            .unzip::<_, _, Vec<_>, Vec<_>>();
        Target {
            members,
            pids: pids.into_iter().flatten().collect(),
        }
    }

    /// SIGTERM to every member (SIGKILL after a grace period), then the ERROR and WARN lines of
    /// their logs, which stay under the ensemble's directory.
    pub async fn stop(self) -> anyhow::Result<LogFindings> {
        let EnsembleUnderTest { mut cluster, dir } = self;
        let ids = cluster.ids();
        tokio::task::spawn_blocking(move || cluster.stop())
            .await
            .context("the ensemble stopper panicked")??;
        let mut findings = LogFindings::default();
        for id in ids {
            let log = NodePaths::new(&dir, id).log;
            findings.merge(LogFindings::scan_file(&format!("node{id}"), &log));
        }
        Ok(findings)
    }
}

/// A session on `addr` that reads `/`: a member that answers `srvr` may not take sessions yet.
async fn probe(addr: SocketAddr) -> anyhow::Result<()> {
    let mut session = Session::connect(addr).await?;
    let request = Request::GetData(GetDataRequest {
        path: "/".into(),
        watch: false,
    });
    session.call_accepting(&request, &[]).await?;
    session.close().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_flavour_runs_its_own_program() {
        let launchers = Launchers {
            ours: PathBuf::from("bin/zk-server"),
            zookeeper: None,
        };
        let ours = server_command(Flavor::Ours, &launchers).unwrap();
        assert_eq!(ours, ServerCommand::program("bin/zk-server"));
        assert!(server_command(Flavor::ZooKeeper, &launchers).is_err());
    }
}
