//! Ensemble mode: `server.N` lines with at least two voters (or `standaloneEnabled=false`) make
//! this server a member of an ensemble, run by zk-peer, instead of a standalone server.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use zk_peer::membership::Membership;
use zk_peer::{EnsembleConfig, Hierarchy, LearnerType, QuorumPeer, ServerSpec};

use crate::config::Config;
use crate::replica::ServerReplica;
use crate::server::Shared;

/// The ensemble this configuration describes, or `None` for a standalone server.
pub fn ensemble_config(config: &Config) -> anyhow::Result<Option<EnsembleConfig>> {
    if config.servers.is_empty() {
        return Ok(None);
    }
    let specs = config
        .servers
        .iter()
        .map(|(sid, line)| ServerSpec::parse(sid, line))
        .collect::<Result<Vec<_>, _>>()?;
    let voters = specs
        .iter()
        .filter(|s| s.learner_type == LearnerType::Participant)
        .count();
    if voters < 2 && config.standalone_enabled {
        tracing::info!("one voting member: running standalone");
        return Ok(None);
    }
    let myid = match config.my_id {
        Some(id) => id,
        None => read_myid(&config.data_dir)?,
    };
    let ensemble = EnsembleConfig::new(
        myid,
        specs,
        Duration::from_millis(config.tick_time),
        config.init_limit,
        config.sync_limit,
    )?
    .with_read_only_mode(config.read_only_mode_enabled)
    .with_reconfig_enabled(config.reconfig_enabled)
    .with_tls(quorum_tls(config)?)
    .with_listen_on_all_ips(config.quorum_listen_on_all_ips);
    let ensemble = match hierarchy(config)? {
        Some(hierarchy) => ensemble.with_hierarchy(hierarchy)?,
        None => ensemble,
    };
    Ok(Some(ensemble))
}

/// The hierarchical quorums that `group.G` and `weight.SID` lines describe; as in ZooKeeper,
/// any one of them makes the quorums hierarchical.
fn hierarchy(config: &Config) -> anyhow::Result<Option<Hierarchy>> {
    if config.quorum_groups.is_empty() && config.quorum_weights.is_empty() {
        return Ok(None);
    }
    let number = |key: &str, text: &str| {
        text.trim()
            .parse::<u64>()
            .with_context(|| format!("{key}: {text:?} is not a number"))
    };
    let mut hierarchy = Hierarchy::default();
    for (gid, members) in &config.quorum_groups {
        let key = format!("group.{gid}");
        let members = members
            .split(':')
            .map(|sid| number(&key, sid))
            .collect::<anyhow::Result<Vec<_>>>()?;
        hierarchy.groups.insert(number(&key, gid)?, members);
    }
    for (sid, weight) in &config.quorum_weights {
        let key = format!("weight.{sid}");
        hierarchy
            .weights
            .insert(number(&key, sid)?, number(&key, weight)?);
    }
    Ok(Some(hierarchy))
}

/// The members' mutual TLS (`sslQuorum`), read from its PEM files.
fn quorum_tls(config: &Config) -> anyhow::Result<Option<zk_peer::PeerTls>> {
    let (true, Some(key_store), Some(trust_store)) = (
        config.ssl_quorum,
        &config.ssl_quorum_key_store_location,
        &config.ssl_quorum_trust_store_location,
    ) else {
        return Ok(None);
    };
    let read = |path: &Path| {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    };
    let tls = zk_peer::PeerTls::from_pem(
        read(key_store)?,
        read(trust_store)?,
        config.quorum_tls_settings(),
    )
    .map_err(|e| anyhow::anyhow!("sslQuorum: {e}"))?;
    Ok(Some(tls))
}

/// Where this member serves clients: its own `server.N` line's client address when zoo.cfg
/// gives no `clientPort`/`clientPortAddress` (ZooKeeper 3.5's form, common with a
/// `dynamicConfigFile`), or when the line is a committed reconfig's (ZooKeeper then erases the
/// client address from its static file), as ZooKeeper does; the configured one otherwise.
pub fn client_address(config: &Config, ensemble: Option<&EnsembleConfig>) -> (String, u16) {
    let configured = (config.client_port_address.clone(), config.client_port);
    let reconfigured = ensemble.is_some_and(|ensemble| ensemble.version > 0);
    match ensemble.and_then(|ensemble| ensemble.me().client.clone()) {
        Some(line) if !config.client_port_given || reconfigured => line,
        Some(line) => {
            if line != configured {
                tracing::warn!(
                    server_line = %format_args!("{}:{}", line.0, line.1),
                    configured = %format_args!("{}:{}", configured.0, configured.1),
                    "this member's server line names another client address than clientPort; \
                     serving on clientPort's"
                );
            }
            configured
        }
        None => configured,
    }
}

/// The `myid` file of dataDir: the server id in ASCII on its first line.
fn read_myid(data_dir: &Path) -> anyhow::Result<u64> {
    let path = data_dir.join("myid");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("ensemble mode needs {} (or a myid key)", path.display()))?;
    text.lines()
        .next()
        .map(str::trim)
        .and_then(|line| line.parse().ok())
        .with_context(|| format!("{} does not hold a server id", path.display()))
}

/// Starts the peer over this server's database, after ZooKeeper's start-up checks of the
/// epoch files against the last logged zxid.
pub async fn start_peer(
    ensemble: EnsembleConfig,
    shared: &Arc<Shared>,
) -> anyhow::Result<QuorumPeer> {
    let epoch_dir = shared.storage.snapshot_dir();
    let last_zxid = shared
        .storage
        .log
        .last_logged_zxid()
        .max(shared.db.last_zxid());
    let epochs = zk_txnlog::check_epochs(epoch_dir, last_zxid)
        .with_context(|| format!("epoch files in {}", epoch_dir.display()))?;
    tracing::info!(
        myid = ensemble.myid,
        members = ensemble.servers.len(),
        last_zxid = format_args!("0x{last_zxid:x}"),
        current_epoch = epochs.current,
        accepted_epoch = epochs.accepted,
        "starting as an ensemble member"
    );
    let replica = Arc::new(ServerReplica::new(shared.clone(), ensemble.config_text()));
    Ok(QuorumPeer::start(ensemble, replica).await?)
}

/// Watches the membership in force for reconfigs that give this member another client
/// address (ZooKeeper's server then listens there instead).
#[derive(Debug)]
pub struct ClientMoves {
    membership: Arc<Membership>,
    changes: tokio::sync::watch::Receiver<u64>,
    /// This member's client address in the configuration last looked at.
    line: Option<(String, u16)>,
}

impl ClientMoves {
    pub fn new(membership: Arc<Membership>) -> ClientMoves {
        ClientMoves {
            changes: membership.subscribe(),
            line: membership.current().me().client.clone(),
            membership,
        }
    }

    /// The next client address a reconfig gives this member.
    async fn next(&mut self) -> (String, u16) {
        loop {
            if self.changes.changed().await.is_err() {
                return std::future::pending().await;
            }
            let line = self.membership.current().me().client.clone();
            if line != self.line {
                self.line.clone_from(&line);
                if let Some(moved) = line {
                    return moved;
                }
            }
        }
    }
}

/// The next client address a reconfig gives this member; never, for a standalone server.
pub async fn next_move(moves: &mut Option<ClientMoves>) -> (String, u16) {
    match moves {
        Some(moves) => moves.next().await,
        None => std::future::pending().await,
    }
}

/// The configuration to run: the one a reconfig committed, when one did, since a committed
/// reconfig's membership outlives the configuration file, as ZooKeeper's rewritten dynamic
/// configuration file does. (Not the tree's: the log replayed into it may end in a reconfig
/// no quorum committed.)
pub fn in_force(ensemble: EnsembleConfig, epoch_dir: &Path) -> anyhow::Result<EnsembleConfig> {
    let stored = crate::replica::stored_membership(epoch_dir)
        .filter(|text| zk_peer::membership_version(text) > ensemble.version);
    let Some(text) = stored else {
        return Ok(ensemble);
    };
    let next = ensemble.reconfigured(&text).with_context(
        || "the ensemble's committed configuration (a reconfig's) is unusable here",
    )?;
    tracing::info!(
        version = format_args!("{:x}", next.version),
        member = next.is_member(),
        "running the configuration a reconfig committed, not the file's"
    );
    Ok(next)
}
