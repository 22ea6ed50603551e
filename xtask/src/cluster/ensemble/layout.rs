//! Where each node lives and how it is configured: server ids, loopback ports, and the zoo.cfg
//! every node gets (one file format for ours and for Apache ZooKeeper).

use std::fmt::Write as _;
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One node of the ensemble as recorded in cluster.json.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// The server id (`myid`, `server.<id>`).
    pub id: u64,
    pub observer: bool,
    pub client_port: u16,
    pub quorum_port: u16,
    pub election_port: u16,
    /// The AdminServer's HTTP port; 0 (as in a cluster.json written before it had one) keeps
    /// the AdminServer off.
    #[serde(default)]
    pub admin_port: u16,
    /// The running process, if this tool started one.
    pub pid: Option<u32>,
}

/// Ids 1..=voters are participants, the next `observers` ids observers; every node gets four
/// fresh loopback ports (client, quorum, election, admin).
pub fn plan(voters: usize, observers: usize) -> io::Result<Vec<NodeRecord>> {
    let ports = free_ports(4 * (voters + observers))?;
    Ok(ports
        .chunks_exact(4)
        .zip(1u64..)
        .map(|(ports, id)| NodeRecord {
            id,
            observer: id > voters as u64,
            client_port: ports[0],
            quorum_port: ports[1],
            election_port: ports[2],
            admin_port: ports[3],
            pid: None,
        })
        .collect())
}

/// `count` distinct ports that were free a moment ago: all are bound at once (so none repeats)
/// and released together.
fn free_ports(count: usize) -> io::Result<Vec<u16>> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|listener| listener.local_addr().map(|address| address.port()))
        .collect()
}

/// Paths of one node under the cluster directory.
#[derive(Debug, Clone)]
pub struct NodePaths {
    pub dir: PathBuf,
    pub zoo_cfg: PathBuf,
    pub data_dir: PathBuf,
    pub myid: PathBuf,
    pub log: PathBuf,
}

impl NodePaths {
    pub fn new(cluster_dir: &Path, id: u64) -> Self {
        let dir = cluster_dir.join(format!("node{id}"));
        let data_dir = dir.join("data");
        NodePaths {
            zoo_cfg: dir.join("zoo.cfg"),
            myid: data_dir.join("myid"),
            log: dir.join("zookeeper.log"),
            data_dir,
            dir,
        }
    }
}

/// The zoo.cfg of `node` in `ensemble`.
pub fn zoo_cfg(
    node: &NodeRecord,
    ensemble: &[NodeRecord],
    data_dir: &Path,
    tick_time_ms: u32,
) -> String {
    let mut cfg = format!(
        "# Written by cargo xtask cluster: node {id} of a local ensemble.\n\
         tickTime={tick_time_ms}\n\
         initLimit=5\n\
         syncLimit=2\n\
         dataDir={data_dir}\n\
         clientPort={client_port}\n\
         clientPortAddress=127.0.0.1\n\
         4lw.commands.whitelist=*\n\
         znode.container.checkIntervalMs=1000\n\
         extendedTypesEnabled=true\n",
        id = node.id,
        data_dir = data_dir.display(),
        client_port = node.client_port,
    );
    if node.admin_port == 0 {
        cfg.push_str("admin.enableServer=false\n");
    } else {
        let _ = write!(
            cfg,
            "admin.enableServer=true\nadmin.serverAddress=127.0.0.1\nadmin.serverPort={}\n",
            node.admin_port
        );
    }
    if node.observer {
        cfg.push_str("peerType=observer\n");
    }
    for server in ensemble {
        let role = if server.observer { ":observer" } else { "" };
        // Writing to a String cannot fail.
        let _ = writeln!(
            cfg,
            "server.{}=127.0.0.1:{}:{}{role}",
            server.id, server.quorum_port, server.election_port
        );
    }
    cfg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_voters_then_observers_on_distinct_ports() {
        let nodes = plan(3, 1).unwrap();
        let ids: Vec<_> = nodes.iter().map(|n| (n.id, n.observer)).collect();
        assert_eq!(ids, vec![(1, false), (2, false), (3, false), (4, true)]);
        let mut ports: Vec<_> = nodes
            .iter()
            .flat_map(|n| [n.client_port, n.quorum_port, n.election_port, n.admin_port])
            .collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 16);
        assert!(ports.iter().all(|port| *port != 0));
    }

    #[test]
    fn every_node_gets_the_whole_ensemble() {
        let node = |id, observer, base| NodeRecord {
            id,
            observer,
            client_port: base,
            quorum_port: base + 1,
            election_port: base + 2,
            admin_port: base + 3,
            pid: None,
        };
        let ensemble = [node(1, false, 5000), node(2, true, 6000)];
        let cfg = zoo_cfg(&ensemble[1], &ensemble, Path::new("/c/node2/data"), 500);
        let lines: Vec<_> = cfg.lines().filter(|line| !line.starts_with('#')).collect();
        assert_eq!(
            lines,
            vec![
                "tickTime=500",
                "initLimit=5",
                "syncLimit=2",
                "dataDir=/c/node2/data",
                "clientPort=6000",
                "clientPortAddress=127.0.0.1",
                "4lw.commands.whitelist=*",
                "znode.container.checkIntervalMs=1000",
                "extendedTypesEnabled=true",
                "admin.enableServer=true",
                "admin.serverAddress=127.0.0.1",
                "admin.serverPort=6003",
                "peerType=observer",
                "server.1=127.0.0.1:5001:5002",
                "server.2=127.0.0.1:6001:6002:observer",
            ]
        );
        assert!(!zoo_cfg(&ensemble[0], &ensemble, Path::new("/d"), 2000).contains("peerType"));
        let without_admin = NodeRecord {
            admin_port: 0,
            ..ensemble[0].clone()
        };
        let cfg = zoo_cfg(&without_admin, &ensemble, Path::new("/d"), 2000);
        assert!(cfg.contains("admin.enableServer=false\n"));
    }

    #[test]
    fn paths_follow_the_documented_layout() {
        let paths = NodePaths::new(Path::new("/c"), 2);
        assert_eq!(paths.zoo_cfg, Path::new("/c/node2/zoo.cfg"));
        assert_eq!(paths.myid, Path::new("/c/node2/data/myid"));
        assert_eq!(paths.log, Path::new("/c/node2/zookeeper.log"));
    }
}
