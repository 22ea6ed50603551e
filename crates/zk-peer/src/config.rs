//! The ensemble as configured: `server.N` lines (and `group.N`/`weight.N` for hierarchical
//! quorums), this server's id, and the ZAB timing limits.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use zk_election::{LearnerType, QuorumConfig, QuorumError, QuorumVerifier, Sid};

/// One `server.N=host:quorumPort:electionPort[:role][;[clientHost:]clientPort]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    pub sid: Sid,
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
    pub learner_type: LearnerType,
    /// The client address of the line, when it has one (`;[host:]port`).
    pub client: Option<(String, u16)>,
}

/// Why a `server.N` line or the ensemble as a whole is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("server.{sid}: {reason} in {line:?}")]
    BadServerLine {
        sid: String,
        line: String,
        reason: &'static str,
    },
    #[error("myid {0} has no server.{0} line")]
    NotAMember(Sid),
    #[error("an ensemble needs at least one voting member")]
    NoVoters,
    #[error("hierarchical quorums: {0}")]
    Hierarchy(String),
}

/// ZooKeeper's hierarchical quorums (`group.G=sid:sid:...`, `weight.SID=w`): a quorum is a
/// majority of the groups (of non-zero weight), each by more than half of its weight.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hierarchy {
    pub groups: BTreeMap<u64, Vec<Sid>>,
    /// Weights given; every other grouped server weighs 1.
    pub weights: BTreeMap<Sid, u64>,
}

impl Hierarchy {
    /// Every grouped server's weight, given or 1.
    fn effective_weights(&self) -> BTreeMap<Sid, u64> {
        let mut weights: BTreeMap<Sid, u64> = self
            .groups
            .values()
            .flatten()
            .map(|&sid| (sid, 1))
            .collect();
        weights.extend(&self.weights);
        weights
    }

    /// The `group.G` and `weight.SID` lines, as ZooKeeper writes them after the servers.
    fn write_lines(&self, text: &mut String) {
        for (gid, members) in &self.groups {
            let mut members = members.clone();
            members.sort_unstable();
            let list: Vec<String> = members.iter().map(Sid::to_string).collect();
            let _ = writeln!(text, "group.{gid}={}", list.join(":"));
        }
        for (sid, weight) in self.effective_weights() {
            let _ = writeln!(text, "weight.{sid}={weight}");
        }
    }
}

impl ServerSpec {
    /// Parses the value of a `server.<sid>` line (quorum spec §10.4).
    pub fn parse(sid: &str, line: &str) -> Result<ServerSpec, ConfigError> {
        let bad = |reason| ConfigError::BadServerLine {
            sid: sid.to_owned(),
            line: line.to_owned(),
            reason,
        };
        let id: Sid = sid
            .trim()
            .parse()
            .map_err(|_| bad("the id is not a number"))?;
        let mut parts = line.split(';');
        let addr = parts.next().unwrap_or("").trim();
        let client = parts.next().map(str::trim).filter(|s| !s.is_empty());
        let fields: Vec<&str> = addr.split(':').collect();
        if fields.len() < 3 || fields.len() > 4 {
            return Err(bad("expected host:quorumPort:electionPort[:role]"));
        }
        let port = |s: &str| {
            s.trim()
                .parse::<u16>()
                .map_err(|_| bad("a port is not a number"))
        };
        let learner_type = match fields.get(3).map(|s| s.trim()) {
            None | Some("participant") => LearnerType::Participant,
            Some("observer") => LearnerType::Observer,
            Some(_) => return Err(bad("the role must be participant or observer")),
        };
        let client = match client {
            None => None,
            Some(spec) => Some(match spec.rsplit_once(':') {
                Some((host, port_text)) => (host.to_owned(), port(port_text)?),
                None => ("0.0.0.0".to_owned(), port(spec)?),
            }),
        };
        Ok(ServerSpec {
            sid: id,
            host: fields[0].trim().to_owned(),
            quorum_port: port(fields[1])?,
            election_port: port(fields[2])?,
            learner_type,
            client,
        })
    }

    pub fn quorum_address(&self) -> String {
        format!("{}:{}", self.host, self.quorum_port)
    }

    pub fn election_address(&self) -> String {
        format!("{}:{}", self.host, self.election_port)
    }

    /// The canonical text form ZooKeeper writes into `/zookeeper/config` and notifications.
    pub fn canonical(&self) -> String {
        let role = match self.learner_type {
            LearnerType::Participant => "participant",
            LearnerType::Observer => "observer",
        };
        let mut out = format!(
            "server.{}={}:{}:{}:{role}",
            self.sid, self.host, self.quorum_port, self.election_port
        );
        if let Some((host, port)) = &self.client {
            let _ = write!(out, ";{host}:{port}");
        }
        out
    }
}

/// The dynamic-config text ZooKeeper keeps in `/zookeeper/config`: a `server.N=...` line per
/// server, then `version=` and the configuration's version (the zxid of the reconfig that made
/// it, 0 for a configuration file's) in hex.
pub fn config_text<'a>(servers: impl IntoIterator<Item = &'a ServerSpec>, version: i64) -> String {
    config_text_with(servers, None, version)
}

/// [`config_text`] with a hierarchy's `group` and `weight` lines after the servers.
fn config_text_with<'a>(
    servers: impl IntoIterator<Item = &'a ServerSpec>,
    hierarchy: Option<&Hierarchy>,
    version: i64,
) -> String {
    let mut text = String::new();
    for spec in servers {
        let _ = writeln!(text, "{}", spec.canonical());
    }
    if let Some(hierarchy) = hierarchy {
        hierarchy.write_lines(&mut text);
    }
    let _ = write!(text, "version={version:x}");
    text
}

/// The servers of a configuration text, in the order of its lines (lines that do not parse
/// are left out: the text is one this server or ZooKeeper wrote).
pub fn membership_servers(text: &[u8]) -> Vec<ServerSpec> {
    String::from_utf8_lossy(text)
        .lines()
        .filter_map(|line| {
            let (key, spec) = line.split_once('=')?;
            let sid = key.trim().strip_prefix("server.")?;
            ServerSpec::parse(sid, spec).ok()
        })
        .collect()
}

/// The version of a configuration text: its `version=<hex>` line (0 without one).
pub fn membership_version(text: &[u8]) -> i64 {
    String::from_utf8_lossy(text)
        .lines()
        .find_map(|line| line.trim().strip_prefix("version="))
        .and_then(|hex| i64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0)
}

/// The majority verifier of a configuration text's voters (a reconfig's: reconfigs of
/// hierarchical quorums are refused), with its version.
pub fn membership_verifier(text: &[u8]) -> QuorumVerifier {
    let servers: BTreeMap<Sid, ServerSpec> = membership_servers(text)
        .into_iter()
        .map(|spec| (spec.sid, spec))
        .collect();
    majority_of(&servers).with_version(membership_version(text))
}

/// A majority of the participants of `servers`, who also name the observers.
fn majority_of(servers: &BTreeMap<Sid, ServerSpec>) -> QuorumVerifier {
    QuorumVerifier::majority(sids_of(servers, LearnerType::Participant))
        .with_observers(sids_of(servers, LearnerType::Observer))
}

/// The ids of the servers of one learner type.
fn sids_of(
    servers: &BTreeMap<Sid, ServerSpec>,
    learner_type: LearnerType,
) -> impl Iterator<Item = Sid> + '_ {
    servers
        .values()
        .filter(move |s| s.learner_type == learner_type)
        .map(|s| s.sid)
}

/// Everything a peer needs to know about its ensemble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnsembleConfig {
    pub myid: Sid,
    /// This server's own line: its entry of `servers`, or, once a reconfig left it out, the
    /// line it had (as a non-voting participant, see [`EnsembleConfig::is_member`]).
    me: ServerSpec,
    pub servers: BTreeMap<Sid, ServerSpec>,
    pub tick: Duration,
    /// Ticks a learner may take to connect and sync.
    pub init_limit: u32,
    /// Ticks a learner may lag or stay silent once synced.
    pub sync_limit: u32,
    /// `readonlymode.enabled`: serve read-only clients while looking for a leader.
    pub read_only_mode: bool,
    /// `reconfigEnabled`: a term that runs the configuration file's membership gives it a
    /// version (see `leader::lead`), as ZooKeeper does then.
    pub reconfig_enabled: bool,
    /// `sslQuorum`: mutual TLS on the election and quorum channels.
    pub tls: Option<zk_cnxmgr::PeerTls>,
    /// `quorumListenOnAllIPs`: the quorum and election ports listen on every address, not
    /// only on the host of this member's server line.
    pub listen_on_all_ips: bool,
    /// `group.N`/`weight.N`, when the quorums are hierarchical.
    pub hierarchy: Option<Hierarchy>,
    /// Which sets of voters are quorums: a majority, or the hierarchy's rule.
    verifier: QuorumVerifier,
    /// The configuration's version: 0 for the configuration file's, else the zxid of the
    /// reconfig that made it.
    pub version: i64,
}

impl EnsembleConfig {
    pub fn new(
        myid: Sid,
        servers: impl IntoIterator<Item = ServerSpec>,
        tick: Duration,
        init_limit: u32,
        sync_limit: u32,
    ) -> Result<EnsembleConfig, ConfigError> {
        let servers: BTreeMap<Sid, ServerSpec> =
            servers.into_iter().map(|spec| (spec.sid, spec)).collect();
        let me = servers
            .get(&myid)
            .cloned()
            .ok_or(ConfigError::NotAMember(myid))?;
        if sids_of(&servers, LearnerType::Participant).next().is_none() {
            return Err(ConfigError::NoVoters);
        }
        let verifier = majority_of(&servers);
        Ok(EnsembleConfig {
            myid,
            me,
            servers,
            tick,
            init_limit: init_limit.max(1),
            sync_limit: sync_limit.max(1),
            read_only_mode: false,
            reconfig_enabled: false,
            tls: None,
            listen_on_all_ips: false,
            hierarchy: None,
            verifier,
            version: 0,
        })
    }

    /// This configuration with the membership of a committed configuration text (as
    /// `/zookeeper/config` holds it: `server.N` lines and `version=`); every other setting is
    /// kept. A text without this server makes it a non-voting participant, as in ZooKeeper: it
    /// goes on learning from the leader but votes for nothing.
    pub fn reconfigured(&self, text: &[u8]) -> Result<EnsembleConfig, ConfigError> {
        let version = membership_version(text);
        let mut servers = membership_servers(text);
        let member = servers.iter().any(|spec| spec.sid == self.myid);
        if !member {
            servers.push(ServerSpec {
                learner_type: LearnerType::Participant,
                ..self.me.clone()
            });
        }
        let mut next = EnsembleConfig::new(
            self.myid,
            servers,
            self.tick,
            self.init_limit,
            self.sync_limit,
        )?;
        if !member {
            next.servers.remove(&self.myid);
            next.verifier = majority_of(&next.servers);
        }
        next.verifier = next.verifier.with_version(version);
        next.version = version;
        next.read_only_mode = self.read_only_mode;
        next.reconfig_enabled = self.reconfig_enabled;
        next.tls = self.tls.clone();
        next.listen_on_all_ips = self.listen_on_all_ips;
        Ok(next)
    }

    /// With hierarchical quorums, checked as ZooKeeper's QuorumHierarchical checks them: every
    /// participant in exactly one group. Observers may not be grouped (their acknowledgements
    /// never come, so a group holding one could never reach its weight).
    pub fn with_hierarchy(mut self, hierarchy: Hierarchy) -> Result<Self, ConfigError> {
        let bad = |message: String| ConfigError::Hierarchy(message);
        for (gid, members) in &hierarchy.groups {
            for sid in members {
                match self.servers.get(sid) {
                    None => {
                        return Err(bad(format!(
                            "group.{gid} names server {sid}, which has no server line"
                        )));
                    }
                    Some(spec) if spec.learner_type == LearnerType::Observer => {
                        return Err(bad(format!("group.{gid} names server {sid}, an observer")));
                    }
                    Some(_) => {}
                }
            }
        }
        let grouped: Vec<Sid> = hierarchy.groups.values().flatten().copied().collect();
        if let Some(sid) = self.voters().find(|sid| !grouped.contains(sid)) {
            return Err(bad(format!("server {sid} is not in a group")));
        }
        let verifier = QuorumVerifier::hierarchical(
            hierarchy
                .groups
                .iter()
                .map(|(gid, members)| (*gid, members.clone())),
            hierarchy
                .weights
                .iter()
                .map(|(sid, weight)| (*sid, *weight)),
        )
        .map_err(|e: QuorumError| bad(e.to_string()))?;
        self.verifier = verifier.with_observers(self.observers());
        self.hierarchy = Some(hierarchy);
        Ok(self)
    }

    /// With read-only mode on or off.
    pub fn with_read_only_mode(mut self, enabled: bool) -> Self {
        self.read_only_mode = enabled;
        self
    }

    /// With dynamic reconfiguration on or off (`reconfigEnabled`).
    pub fn with_reconfig_enabled(mut self, enabled: bool) -> Self {
        self.reconfig_enabled = enabled;
        self
    }

    /// Listening on every address, or on this member's own.
    pub fn with_listen_on_all_ips(mut self, enabled: bool) -> Self {
        self.listen_on_all_ips = enabled;
        self
    }

    /// Where a listener for `port` of this member binds: its server line's host, or every
    /// address of the host's family with `quorumListenOnAllIPs`.
    pub fn listen_address(&self, port: u16) -> String {
        let host = &self.me().host;
        match (self.listen_on_all_ips, host.contains(':')) {
            (false, _) => format!("{host}:{port}"),
            (true, false) => format!("0.0.0.0:{port}"),
            (true, true) => format!("[::]:{port}"),
        }
    }

    /// With mutual TLS between peers, or without.
    pub fn with_tls(mut self, tls: Option<zk_cnxmgr::PeerTls>) -> Self {
        self.tls = tls;
        self
    }

    /// How long a peer looks for a leader before it serves read-only clients.
    pub fn read_only_grace(&self) -> Duration {
        self.tick.max(Duration::from_secs(2))
    }

    pub fn me(&self) -> &ServerSpec {
        &self.me
    }

    /// Whether this server is in the configuration (a reconfig may have left it out).
    pub fn is_member(&self) -> bool {
        self.servers.contains_key(&self.myid)
    }

    pub fn voters(&self) -> impl Iterator<Item = Sid> + '_ {
        sids_of(&self.servers, LearnerType::Participant)
    }

    pub fn observers(&self) -> impl Iterator<Item = Sid> + '_ {
        sids_of(&self.servers, LearnerType::Observer)
    }

    pub fn is_voter(&self, sid: Sid) -> bool {
        self.servers
            .get(&sid)
            .is_some_and(|s| s.learner_type == LearnerType::Participant)
    }

    /// The dynamic-config text of the servers, with this configuration's version.
    pub fn config_text(&self) -> String {
        self.config_text_at(self.version)
    }

    /// The dynamic-config text of the servers, with `version`.
    pub fn config_text_at(&self, version: i64) -> String {
        config_text_with(self.servers.values(), self.hierarchy.as_ref(), version)
    }

    /// The quorum verifier and the text the election sends along.
    pub fn quorum_config(&self) -> QuorumConfig {
        QuorumConfig::new(self.verifier.clone()).with_config_text(self.config_text().into_bytes())
    }

    /// Which sets of voters are quorums.
    pub fn verifier(&self) -> &QuorumVerifier {
        &self.verifier
    }

    /// Is `set` (sids; non-voters count for nothing) a quorum: a majority of the voters, or
    /// the hierarchy's rule?
    pub fn is_quorum(&self, set: &[Sid]) -> bool {
        self.verifier.contains_quorum(set)
    }

    pub fn init_timeout(&self) -> Duration {
        self.tick * self.init_limit
    }

    pub fn sync_timeout(&self) -> Duration {
        self.tick * self.sync_limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_lines() {
        let spec = ServerSpec::parse("2", "localhost:2888:3888:observer;2182").unwrap();
        assert_eq!(spec.sid, 2);
        assert_eq!(spec.quorum_address(), "localhost:2888");
        assert_eq!(spec.election_address(), "localhost:3888");
        assert_eq!(spec.learner_type, LearnerType::Observer);
        assert_eq!(spec.client, Some(("0.0.0.0".into(), 2182)));
        assert_eq!(
            spec.canonical(),
            "server.2=localhost:2888:3888:observer;0.0.0.0:2182"
        );
        let plain = ServerSpec::parse("1", "10.0.0.1:2888:3888").unwrap();
        assert_eq!(plain.learner_type, LearnerType::Participant);
        assert!(ServerSpec::parse("x", "h:1:2").is_err());
        assert!(ServerSpec::parse("1", "h:1").is_err());
        assert!(ServerSpec::parse("1", "h:1:2:boss").is_err());
        assert!(ServerSpec::parse("1", "h:1:99999").is_err());
    }

    #[test]
    fn quorums_count_voters_only() {
        let servers = [
            ServerSpec::parse("1", "h:1:2").unwrap(),
            ServerSpec::parse("2", "h:3:4").unwrap(),
            ServerSpec::parse("3", "h:5:6").unwrap(),
            ServerSpec::parse("4", "h:7:8:observer").unwrap(),
        ];
        let config = EnsembleConfig::new(1, servers, Duration::from_millis(100), 5, 2).unwrap();
        assert!(config.is_quorum(&[1, 2]));
        assert!(!config.is_quorum(&[1, 4]));
        assert!(config.config_text().ends_with("version=0"));
        assert!(EnsembleConfig::new(9, [], Duration::from_millis(1), 1, 1).is_err());
    }

    fn trio_and_observer() -> EnsembleConfig {
        let servers = [
            ServerSpec::parse("1", "h:1:2").unwrap(),
            ServerSpec::parse("2", "h:3:4").unwrap(),
            ServerSpec::parse("3", "h:5:6").unwrap(),
            ServerSpec::parse("4", "h:7:8:observer").unwrap(),
        ];
        EnsembleConfig::new(1, servers, Duration::from_millis(100), 5, 2).unwrap()
    }

    #[test]
    fn hierarchical_quorums_weigh_their_members() {
        let hierarchy = Hierarchy {
            groups: BTreeMap::from([(1, vec![3, 1, 2])]),
            weights: BTreeMap::from([(1, 2)]),
        };
        let config = trio_and_observer().with_hierarchy(hierarchy).unwrap();
        // Weights 2, 1, 1: a quorum needs more than 2 of the 4.
        assert!(config.is_quorum(&[1, 2]));
        assert!(config.is_quorum(&[1, 3]));
        assert!(
            !config.is_quorum(&[2, 3]),
            "a majority of members, not of weight"
        );
        assert!(!config.is_quorum(&[1, 4]));
        assert!(config.quorum_config().committed().contains_quorum(&[1, 3]));
        assert!(!config.quorum_config().committed().contains_quorum(&[2, 3]));
        assert_eq!(
            config.config_text(),
            "server.1=h:1:2:participant\nserver.2=h:3:4:participant\nserver.3=h:5:6:participant\n\
             server.4=h:7:8:observer\ngroup.1=1:2:3\nweight.1=2\nweight.2=1\nweight.3=1\nversion=0"
        );
    }

    #[test]
    fn hierarchies_zookeeper_refuses_are_refused() {
        let groups = |groups: Vec<(u64, Vec<Sid>)>| Hierarchy {
            groups: groups.into_iter().collect(),
            weights: BTreeMap::new(),
        };
        let refused = |hierarchy: Hierarchy| {
            let error = trio_and_observer().with_hierarchy(hierarchy).unwrap_err();
            error.to_string()
        };
        assert!(refused(groups(vec![(1, vec![1, 2])])).contains("server 3 is not in a group"));
        assert!(
            refused(groups(vec![(1, vec![1, 2]), (2, vec![2, 3])])).contains("more than one group")
        );
        assert!(refused(groups(vec![(1, vec![1, 2, 3, 4])])).contains("an observer"));
        assert!(refused(groups(vec![(1, vec![1, 2, 3, 9])])).contains("no server line"));
        let mut weighted = groups(vec![(1, vec![1, 2, 3])]);
        weighted.weights.insert(7, 3);
        assert!(refused(weighted).contains("no group"));
    }
}
