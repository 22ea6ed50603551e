//! The ensemble's membership as this peer knows it now: the configuration file's until a
//! reconfig commits, then that reconfig's. The leader adopts a reconfig as it commits it, a
//! learner as it applies it; the main loop hands the newest to each election.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::EnsembleConfig;

/// The configuration in force, shared by the roles of one peer.
#[derive(Debug)]
pub struct Membership {
    current: Mutex<Arc<EnsembleConfig>>,
}

impl Membership {
    pub fn new(config: Arc<EnsembleConfig>) -> Membership {
        Membership {
            current: Mutex::new(config),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Arc<EnsembleConfig>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The configuration in force.
    pub fn current(&self) -> Arc<EnsembleConfig> {
        self.lock().clone()
    }

    /// Adopts a committed configuration text (`/zookeeper/config`'s) when it is newer than the
    /// configuration in force; returns the new configuration when it did.
    pub fn adopt_text(&self, text: &[u8]) -> Option<Arc<EnsembleConfig>> {
        let mut current = self.lock();
        if crate::config::membership_version(text) <= current.version {
            return None;
        }
        let next = match current.reconfigured(text) {
            Ok(next) => Arc::new(next),
            Err(error) => {
                tracing::error!(%error, "a committed configuration is unusable; keeping ours");
                return None;
            }
        };
        *current = next.clone();
        drop(current);
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
