//! The ensemble's membership as this peer knows it now: the configuration file's until a
//! reconfig commits, then that reconfig's. Only committed configurations are put in force: the
//! leader adopts a reconfig as it commits it (or as its new term commits one its history
//! held), a learner as it applies one once up to date, and a looking peer one that another
//! peer's notification carries. Every change reaches the election at once (see
//! [`Membership::subscribe`]). Each adopted configuration is kept durably, for restarts.

use std::sync::{Arc, Mutex, MutexGuard};

use zk_election::{LearnerType, QuorumConfig};

use crate::config::EnsembleConfig;
use crate::replica::Replica;

#[derive(Debug)]
struct Configs {
    current: Arc<EnsembleConfig>,
    /// ZooKeeper's last seen configuration: a reconfig this peer logged that has not
    /// committed (as far as it knows). Elections need its quorums too, so that a leader they
    /// choose has whatever its voters committed once it did commit.
    seen: Option<Arc<EnsembleConfig>>,
}

/// What an election counts in, and how this peer takes part in it.
#[derive(Debug, Clone)]
pub struct ElectionConfig {
    pub quorums: QuorumConfig,
    pub learner_type: LearnerType,
    /// The versions of the configuration in force and of the last seen one (0 for none): a
    /// change of either calls for installing this again.
    pub versions: (i64, i64),
}

/// The configuration in force, shared by the roles of one peer.
pub struct Membership {
    configs: Mutex<Configs>,
    /// Bumped on every change, so that the election hears of it even while a role runs.
    changes: tokio::sync::watch::Sender<u64>,
    /// Where adopted configurations are kept.
    store: Option<Arc<dyn Replica>>,
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership")
            .field("version", &self.current().version)
            .finish_non_exhaustive()
    }
}

impl Membership {
    /// A membership that keeps nothing durably (tests).
    pub fn new(config: Arc<EnsembleConfig>) -> Membership {
        Membership {
            configs: Mutex::new(Configs {
                current: config,
                seen: None,
            }),
            changes: tokio::sync::watch::Sender::new(0),
            store: None,
        }
    }

    /// A membership that keeps each configuration it adopts in `replica`.
    pub fn stored_in(config: Arc<EnsembleConfig>, replica: Arc<dyn Replica>) -> Membership {
        Membership {
            store: Some(replica),
            ..Membership::new(config)
        }
    }

    fn lock(&self) -> MutexGuard<'_, Configs> {
        self.configs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The configuration in force.
    pub fn current(&self) -> Arc<EnsembleConfig> {
        self.lock().current.clone()
    }

    /// A reconfig's configuration this peer logged (a proposal, or its log at start-up):
    /// elections count its quorums as well until it commits.
    pub fn see(&self, text: &[u8]) {
        let mut configs = self.lock();
        let version = crate::config::membership_version(text);
        let newest = configs
            .seen
            .as_ref()
            .map_or(configs.current.version, |s| s.version);
        if version <= newest {
            return;
        }
        match configs.current.reconfigured(text) {
            Ok(seen) => {
                configs.seen = Some(Arc::new(seen));
                self.changes.send_modify(|n| *n += 1);
            }
            Err(error) => tracing::error!(%error, "a proposed configuration is unusable"),
        }
    }

    /// Forgets the last seen configuration, or sets it to `text` (what this peer's history
    /// holds after a leader cut its log's tail away, or replaced it).
    pub fn reset_seen(&self, text: Option<&[u8]>) {
        if self.lock().seen.take().is_some() {
            self.changes.send_modify(|n| *n += 1);
        }
        if let Some(text) = text {
            self.see(text);
        }
    }

    /// Server `sid`'s line in the configuration in force, or in the last seen one (an election
    /// counts that one's voters too).
    pub fn server(&self, sid: zk_election::Sid) -> Option<crate::config::ServerSpec> {
        let configs = self.lock();
        configs
            .current
            .servers
            .get(&sid)
            .or_else(|| configs.seen.as_ref()?.servers.get(&sid))
            .cloned()
    }

    /// Sees every change of the configurations from now on.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// What an election counts in: the configuration in force, and the last seen one while
    /// it is newer; and the role this peer votes in: its own, or a participant's when neither
    /// has it (ZooKeeper's non-voting participant: it proposes no leader of its own, takes up
    /// the voters' choice, and its vote counts where a last seen configuration has it).
    pub fn election(&self) -> ElectionConfig {
        let configs = self.lock();
        let current = &configs.current;
        let seen = configs
            .seen
            .as_ref()
            .filter(|s| s.version > current.version);
        let mut quorums = current.quorum_config();
        if let Some(seen) = seen {
            quorums = quorums.with_next(seen.verifier().clone());
        }
        let learner_type = if current.is_member() {
            current.me().learner_type
        } else {
            LearnerType::Participant
        };
        ElectionConfig {
            quorums,
            learner_type,
            versions: (current.version, seen.map_or(0, |s| s.version)),
        }
    }

    /// Adopts a committed configuration text (`/zookeeper/config`'s) when it is newer than the
    /// configuration in force; returns the new configuration when it did.
    pub fn adopt_text(&self, text: &[u8]) -> Option<Arc<EnsembleConfig>> {
        let mut configs = self.lock();
        if crate::config::membership_version(text) <= configs.current.version {
            return None;
        }
        let next = match configs.current.reconfigured(text) {
            Ok(next) => Arc::new(next),
            Err(error) => {
                tracing::error!(%error, "a committed configuration is unusable; keeping ours");
                return None;
            }
        };
        if let Some(store) = &self.store
            && let Err(error) = store.store_membership(text)
        {
            tracing::error!(%error, "cannot keep the new configuration for restarts");
        }
        if configs
            .seen
            .as_ref()
            .is_some_and(|s| s.version <= next.version)
        {
            configs.seen = None;
        }
        configs.current = next.clone();
        drop(configs);
        self.changes.send_modify(|n| *n += 1);
        if next.is_member() {
            tracing::info!(
                myid = next.myid,
                version = format_args!("{:x}", next.version),
                voters = ?next.voters().collect::<Vec<_>>(),
                "adopted a new ensemble configuration"
            );
        } else {
            tracing::warn!(
                myid = next.myid,
                version = format_args!("{:x}", next.version),
                "a reconfig removed this server from the ensemble: it goes on as a non-voting \
                 participant, as ZooKeeper's do, until it is stopped"
            );
        }
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::ServerSpec;

    fn trio(myid: u64) -> Arc<EnsembleConfig> {
        let specs = (1..=3).map(|sid| {
            ServerSpec::parse(&sid.to_string(), &format!("h:{}:{}", 100 + sid, 200 + sid))
                .expect("spec")
        });
        Arc::new(
            EnsembleConfig::new(myid, specs, Duration::from_millis(100), 5, 2).expect("config"),
        )
    }

    #[test]
    fn newer_texts_are_adopted_and_older_ones_ignored() {
        let membership = Membership::new(trio(1));
        let four = b"server.1=h:101:201:participant\nserver.2=h:102:202:participant\n\
                     server.3=h:103:203:participant\nserver.4=h:104:204:participant\nversion=100000002";
        let next = membership
            .adopt_text(four)
            .expect("a newer configuration is adopted");
        assert_eq!(next.version, 0x1_0000_0002);
        assert_eq!(next.voters().collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(membership.current().voters().count(), 4);
        let older = b"server.1=h:101:201:participant\nserver.2=h:102:202:participant\nversion=1";
        assert!(membership.adopt_text(older).is_none());
        assert_eq!(membership.current().voters().count(), 4);
    }

    #[test]
    fn a_server_left_out_goes_on_without_a_vote() {
        let membership = Membership::new(trio(3));
        let pair =
            b"server.1=h:101:201:participant\nserver.2=h:102:202:participant\nversion=100000003";
        let next = membership.adopt_text(pair).expect("adopted");
        assert!(!next.is_member());
        assert!(!next.is_voter(3));
        assert_eq!(next.me().quorum_port, 103);
        assert_eq!(next.voters().collect::<Vec<_>>(), [1, 2]);
        assert!(next.is_quorum(&[1, 2]) && !next.is_quorum(&[1, 3]));
        assert_eq!(membership.current().version, 0x1_0000_0003);
    }
}
