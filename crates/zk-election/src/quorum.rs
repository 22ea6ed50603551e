//! Quorum verifiers (spec §2.12) and the configuration pair the election counts in (§2.5, §11.1).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use thiserror::Error;

use crate::types::Sid;

/// Why a hierarchical configuration was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QuorumError {
    /// A participant appears in two groups.
    #[error("server {0} is in more than one group")]
    DuplicateMember(Sid),
    /// A weight was given for a server that is in no group.
    #[error("server {0} has a weight but is in no group")]
    WeightWithoutGroup(Sid),
    /// No voting member at all.
    #[error("configuration has no voting member")]
    NoVoters,
}

/// The quorum rule of one configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    /// `|set| > floor(voters / 2)`; every sid weighs 1.
    Majority { half: usize },
    /// Weighted majority of groups: see [`QuorumVerifier::contains_quorum`].
    Hierarchical {
        group_of: BTreeMap<Sid, u64>,
        group_weight: BTreeMap<u64, u64>,
        /// Groups with non-zero total weight.
        counted_groups: usize,
    },
}

/// One membership configuration: voters (with weights), observers, the quorum rule and the
/// configuration version (the zxid of the reconfig that created it, 0 for static files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumVerifier {
    version: i64,
    weights: BTreeMap<Sid, u64>,
    observers: BTreeSet<Sid>,
    rule: Rule,
}

impl QuorumVerifier {
    /// A majority configuration over `voters` (version 0, no observers).
    pub fn majority(voters: impl IntoIterator<Item = Sid>) -> QuorumVerifier {
        let weights: BTreeMap<Sid, u64> = voters.into_iter().map(|sid| (sid, 1)).collect();
        let half = weights.len() / 2;
        QuorumVerifier {
            version: 0,
            weights,
            observers: BTreeSet::new(),
            rule: Rule::Majority { half },
        }
    }

    /// A hierarchical configuration: `groups` partitions the voters, `weights` overrides the
    /// default weight 1 of some of them (weight 0 = votes count for nothing and never leads).
    pub fn hierarchical(
        groups: impl IntoIterator<Item = (u64, Vec<Sid>)>,
        weights: impl IntoIterator<Item = (Sid, u64)>,
    ) -> Result<QuorumVerifier, QuorumError> {
        let mut group_of = BTreeMap::new();
        for (gid, members) in groups {
            for sid in members {
                if group_of.insert(sid, gid).is_some() {
                    return Err(QuorumError::DuplicateMember(sid));
                }
            }
        }
        if group_of.is_empty() {
            return Err(QuorumError::NoVoters);
        }
        let mut server_weight: BTreeMap<Sid, u64> = group_of.keys().map(|&sid| (sid, 1)).collect();
        for (sid, weight) in weights {
            let slot = server_weight
                .get_mut(&sid)
                .ok_or(QuorumError::WeightWithoutGroup(sid))?;
            *slot = weight;
        }
        let mut group_weight: BTreeMap<u64, u64> = BTreeMap::new();
        for (sid, gid) in &group_of {
            let w = server_weight.get(sid).copied().unwrap_or(0);
            *group_weight.entry(*gid).or_insert(0) += w;
        }
        let counted_groups = group_weight.values().filter(|&&w| w > 0).count();
        Ok(QuorumVerifier {
            version: 0,
            weights: server_weight,
            observers: BTreeSet::new(),
            rule: Rule::Hierarchical {
                group_of,
                group_weight,
                counted_groups,
            },
        })
    }

    /// The same configuration with observers.
    pub fn with_observers(mut self, observers: impl IntoIterator<Item = Sid>) -> QuorumVerifier {
        self.observers = observers.into_iter().collect();
        self
    }

    /// The same configuration with a version.
    pub fn with_version(mut self, version: i64) -> QuorumVerifier {
        self.version = version;
        self
    }

    /// The configuration version.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// Voting members in ascending sid order.
    pub fn voting_members(&self) -> impl Iterator<Item = Sid> + '_ {
        self.weights.keys().copied()
    }

    /// Observers in ascending sid order.
    pub fn observers(&self) -> impl Iterator<Item = Sid> + '_ {
        self.observers.iter().copied()
    }

    /// Whether `sid` is a voting member.
    pub fn is_voter(&self, sid: Sid) -> bool {
        self.weights.contains_key(&sid)
    }

    /// The weight used by the vote order: upstream's majority verifier answers 1 for any sid;
    /// the hierarchical one answers the configured weight (0 for unknown sids, where upstream
    /// would fail).
    pub fn weight(&self, sid: Sid) -> u64 {
        match self.rule {
            Rule::Majority { .. } => 1,
            Rule::Hierarchical { .. } => self.weights.get(&sid).copied().unwrap_or(0),
        }
    }

    /// Whether `set` (sids; non-voters are ignored) is a quorum. Hierarchical: the set is a
    /// quorum iff, counting only groups of non-zero weight, more than half of the groups have
    /// a summed weight in the set strictly greater than half of the group's weight.
    pub fn contains_quorum(&self, set: &[Sid]) -> bool {
        match &self.rule {
            Rule::Majority { half } => set.iter().filter(|&&s| self.is_voter(s)).count() > *half,
            Rule::Hierarchical {
                group_of,
                group_weight,
                counted_groups,
            } => {
                if set.is_empty() {
                    return false;
                }
                let mut expansion: BTreeMap<u64, u64> = BTreeMap::new();
                for sid in set {
                    if let Some(gid) = group_of.get(sid) {
                        let w = self.weights.get(sid).copied().unwrap_or(0);
                        *expansion.entry(*gid).or_insert(0) += w;
                    }
                }
                let majority_groups = expansion
                    .iter()
                    .filter(|(gid, sum)| **sum > group_weight.get(gid).copied().unwrap_or(0) / 2)
                    .count();
                majority_groups > counted_groups / 2
            }
        }
    }
}

/// The configurations an election counts in: the committed one and, while a reconfig is in
/// flight, the last seen (next) one. Also carries the committed configuration's text, which
/// every outgoing notification includes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumConfig {
    committed: QuorumVerifier,
    next: Option<QuorumVerifier>,
    config_text: Arc<[u8]>,
    voters: Vec<Sid>,
}

impl QuorumConfig {
    /// A configuration with no reconfig in flight and an empty config text.
    pub fn new(committed: QuorumVerifier) -> QuorumConfig {
        let mut cfg = QuorumConfig {
            committed,
            next: None,
            config_text: Arc::from(&b""[..]),
            voters: Vec::new(),
        };
        cfg.refresh_voters();
        cfg
    }

    /// Adds the last seen (proposed) configuration.
    pub fn with_next(mut self, next: QuorumVerifier) -> QuorumConfig {
        self.next = Some(next);
        self.refresh_voters();
        self
    }

    /// Sets the committed configuration text sent in notifications (spec §11.1 form).
    pub fn with_config_text(mut self, text: impl Into<Arc<[u8]>>) -> QuorumConfig {
        self.config_text = text.into();
        self
    }

    fn refresh_voters(&mut self) {
        let mut voters: Vec<Sid> = self.committed.voting_members().collect();
        if let Some(next) = &self.next {
            voters.extend(next.voting_members());
        }
        voters.sort_unstable();
        voters.dedup();
        self.voters = voters;
    }

    /// The committed configuration.
    pub fn committed(&self) -> &QuorumVerifier {
        &self.committed
    }

    /// The last seen configuration, if any.
    pub fn next(&self) -> Option<&QuorumVerifier> {
        self.next.as_ref()
    }

    /// The committed configuration's text.
    pub fn config_text(&self) -> &Arc<[u8]> {
        &self.config_text
    }

    /// Voting members of the committed and the next configuration (upstream
    /// `getCurrentAndNextConfigVoters`), ascending: who receives our votes and whose votes count.
    pub fn voters(&self) -> &[Sid] {
        &self.voters
    }

    /// Whether `sid` is in [`QuorumConfig::voters`].
    pub fn is_voter(&self, sid: Sid) -> bool {
        self.voters.binary_search(&sid).is_ok()
    }

    /// The configurations a vote tally must have a quorum in: the committed one, plus the next
    /// one only if its version is higher (spec §2.5 step 1).
    pub fn tracked(&self) -> impl Iterator<Item = &QuorumVerifier> {
        let next = self
            .next
            .as_ref()
            .filter(|n| n.version() > self.committed.version());
        std::iter::once(&self.committed).chain(next)
    }

    /// Whether `acks` is a quorum in every tracked configuration (upstream
    /// `SyncedLearnerTracker.hasAllQuorums`; each verifier only counts its own voters).
    pub fn has_all_quorums(&self, acks: &[Sid]) -> bool {
        self.tracked().all(|qv| qv.contains_quorum(acks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_needs_more_than_half() {
        let cases: &[(&[Sid], &[Sid], bool)] = &[
            (&[1, 2, 3], &[1, 2], true),
            (&[1, 2, 3], &[1], false),
            (&[1, 2, 3, 4], &[1, 2], false),
            (&[1, 2, 3, 4], &[1, 2, 3], true),
            (&[1, 2, 3, 4, 5], &[1, 2, 9, 10], false),
            (&[1], &[1], true),
            (&[1, 2, 3], &[], false),
        ];
        for (voters, set, want) in cases {
            let qv = QuorumVerifier::majority(voters.iter().copied());
            assert_eq!(
                qv.contains_quorum(set),
                *want,
                "voters {voters:?} set {set:?}"
            );
        }
    }

    #[test]
    fn majority_weight_is_one_for_every_sid() {
        let qv = QuorumVerifier::majority([1, 2, 3]);
        assert_eq!((qv.weight(1), qv.weight(99)), (1, 1));
    }

    #[test]
    fn hierarchical_counts_group_majorities() {
        // Three groups of three; a quorum needs a weighted majority in 2 of the 3 groups.
        let qv = QuorumVerifier::hierarchical(
            [(1, vec![1, 2, 3]), (2, vec![4, 5, 6]), (3, vec![7, 8, 9])],
            [],
        )
        .unwrap();
        let cases: &[(&[Sid], bool)] = &[
            (&[1, 2, 4, 5], true),
            (&[1, 2, 3, 4], false),
            (&[1, 4, 7, 2], false),
            (&[1, 2, 3, 4, 5, 6], true),
            (&[], false),
            (&[1, 2, 7, 8, 99], true),
        ];
        for (set, want) in cases {
            assert_eq!(qv.contains_quorum(set), *want, "set {set:?}");
        }
    }

    #[test]
    fn hierarchical_weights_and_zero_weight_groups() {
        // Group 1: sid 1 weighs 3, sids 2 and 3 weigh 1 (group weight 5, majority > 2).
        // Group 2: all weights zero, so it is not counted: one counted group, needs > 0 majorities.
        let qv = QuorumVerifier::hierarchical(
            [(1, vec![1, 2, 3]), (2, vec![4, 5])],
            [(1, 3), (4, 0), (5, 0)],
        )
        .unwrap();
        assert!(qv.contains_quorum(&[1]));
        assert!(!qv.contains_quorum(&[2, 3]));
        assert!(!qv.contains_quorum(&[4, 5]));
        assert_eq!((qv.weight(1), qv.weight(4), qv.weight(42)), (3, 0, 0));
    }

    #[test]
    fn hierarchical_rejects_bad_layouts() {
        assert_eq!(
            QuorumVerifier::hierarchical([(1, vec![1, 2]), (2, vec![2])], []),
            Err(QuorumError::DuplicateMember(2))
        );
        assert_eq!(
            QuorumVerifier::hierarchical([(1, vec![1])], [(7, 1)]),
            Err(QuorumError::WeightWithoutGroup(7))
        );
        assert_eq!(
            QuorumVerifier::hierarchical(Vec::<(u64, Vec<Sid>)>::new(), []),
            Err(QuorumError::NoVoters)
        );
    }

    #[test]
    fn config_pair_tracks_next_only_when_newer() {
        let old = QuorumVerifier::majority([1, 2, 3]).with_version(5);
        let newer = QuorumVerifier::majority([3, 4, 5]).with_version(6);
        let cfg = QuorumConfig::new(old.clone()).with_next(newer.clone());
        assert_eq!(cfg.voters(), &[1, 2, 3, 4, 5]);
        assert_eq!(cfg.tracked().count(), 2);
        assert!(
            !cfg.has_all_quorums(&[1, 2]),
            "no quorum of the next config"
        );
        assert!(cfg.has_all_quorums(&[2, 3, 4]));
        let stale = QuorumConfig::new(old).with_next(newer.with_version(4));
        assert_eq!(stale.tracked().count(), 1);
        assert!(stale.has_all_quorums(&[1, 2]));
        assert!(
            stale.is_voter(5),
            "voters are the union even when next is not tracked"
        );
    }
}
