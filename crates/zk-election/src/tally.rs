//! Vote tallies (`recvset`, `outofelection`) and the rule that decides when two votes agree.

use crate::quorum::QuorumConfig;
use crate::types::{ServerState, Sid, Vote};

/// A vote as stored in a tally: the vote, the state its sender was in, and the message
/// format version (which matters for matching non-LOOKING votes, see [`TalliedVote::matches`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TalliedVote {
    /// The vote.
    pub vote: Vote,
    /// The sender's state when it sent it.
    pub state: ServerState,
    /// The message format version recorded with it.
    pub version: i32,
}

impl TalliedVote {
    /// A LOOKING vote (the LOOKING branch records every vote this way, ignoring the version).
    pub fn looking(vote: Vote) -> TalliedVote {
        TalliedVote {
            vote,
            state: ServerState::Looking,
            version: 0,
        }
    }

    /// Upstream `Vote.equals` (spec §2.5): if either side is LOOKING, all four vote fields must
    /// be equal. Otherwise only the leader and the peer epoch (ZOOKEEPER-1805: the zxid and the
    /// round of established members legitimately differ), and only the leader when exactly one
    /// side has format version 0 (rolling upgrades past ZOOKEEPER-1732).
    pub fn matches(&self, other: &TalliedVote) -> bool {
        let (a, b) = (&self.vote, &other.vote);
        if self.state == ServerState::Looking || other.state == ServerState::Looking {
            a == b
        } else if (self.version > 0) != (other.version > 0) {
            a.leader == b.leader
        } else {
            a.leader == b.leader && a.peer_epoch == b.peer_epoch
        }
    }
}

/// Votes keyed by sender. Small (one entry per voter), so a sorted vector beats a map.
#[derive(Debug, Clone, Default)]
pub struct VoteTally {
    entries: Vec<(Sid, TalliedVote)>,
}

impl VoteTally {
    /// Records `sid`'s latest vote, replacing its previous one.
    pub fn insert(&mut self, sid: Sid, vote: TalliedVote) {
        match self.entries.binary_search_by_key(&sid, |(s, _)| *s) {
            Ok(i) => {
                if let Some(slot) = self.entries.get_mut(i) {
                    slot.1 = vote;
                }
            }
            Err(i) => self.entries.insert(i, (sid, vote)),
        }
    }

    /// `sid`'s recorded vote.
    pub fn get(&self, sid: Sid) -> Option<&TalliedVote> {
        self.entries
            .binary_search_by_key(&sid, |(s, _)| *s)
            .ok()
            .and_then(|i| self.entries.get(i))
            .map(|(_, v)| v)
    }

    /// Forgets every vote.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Number of senders recorded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The senders whose vote matches `target`, ascending, written into `out` (cleared first).
    pub fn supporters_into(&self, target: &TalliedVote, out: &mut Vec<Sid>) {
        out.clear();
        out.extend(
            self.entries
                .iter()
                .filter(|(_, v)| v.matches(target))
                .map(|(s, _)| *s),
        );
    }

    /// Upstream `getVoteTracker(votes, target).hasAllQuorums()`: the matching senders form a
    /// quorum in every tracked configuration. Returns the supporters if they do.
    pub fn quorum_for(&self, config: &QuorumConfig, target: &TalliedVote) -> Option<Vec<Sid>> {
        let mut supporters = Vec::with_capacity(self.entries.len());
        self.supporters_into(target, &mut supporters);
        config.has_all_quorums(&supporters).then_some(supporters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum::QuorumVerifier;

    fn vote(leader: Sid, zxid: i64, round: i64, epoch: i64) -> Vote {
        Vote {
            leader,
            zxid,
            election_epoch: round,
            peer_epoch: epoch,
        }
    }

    fn tallied(state: ServerState, version: i32, v: Vote) -> TalliedVote {
        TalliedVote {
            vote: v,
            state,
            version,
        }
    }

    #[test]
    fn vote_matching_table() {
        use ServerState::*;
        let base = vote(3, 100, 7, 2);
        let other_zxid_round = vote(3, 999, 1, 2);
        let other_epoch = vote(3, 100, 7, 5);
        let other_leader = vote(4, 100, 7, 2);
        #[rustfmt::skip]
        let cases = [
            // Either side LOOKING: all four fields must agree.
            (tallied(Looking, 2, base), tallied(Looking, 2, base), true),
            (tallied(Looking, 0, base), tallied(Following, 2, base), true),
            (tallied(Looking, 2, base), tallied(Looking, 2, other_zxid_round), false),
            (tallied(Following, 2, base), tallied(Looking, 2, other_epoch), false),
            // Both established, same version class: leader and peer epoch.
            (tallied(Following, 2, base), tallied(Leading, 2, other_zxid_round), true),
            (tallied(Following, 2, base), tallied(Leading, 2, other_epoch), false),
            (tallied(Following, 0, base), tallied(Following, 0, other_epoch), false),
            (tallied(Following, 2, base), tallied(Following, 2, other_leader), false),
            // Exactly one side with version 0: leader alone.
            (tallied(Following, 0, base), tallied(Leading, 2, other_epoch), true),
            (tallied(Following, 2, base), tallied(Leading, 0, other_leader), false),
        ];
        for (i, (a, b, want)) in cases.iter().enumerate() {
            assert_eq!(a.matches(b), *want, "case {i}");
            assert_eq!(b.matches(a), *want, "case {i} (symmetric)");
        }
    }

    #[test]
    fn tally_replaces_and_counts_quorums() {
        let cfg = QuorumConfig::new(QuorumVerifier::majority([1, 2, 3]));
        let target = TalliedVote::looking(vote(3, 10, 1, 1));
        let mut tally = VoteTally::default();
        tally.insert(1, target);
        assert_eq!(tally.quorum_for(&cfg, &target), None);
        tally.insert(2, TalliedVote::looking(vote(2, 10, 1, 1)));
        assert_eq!(tally.quorum_for(&cfg, &target), None);
        tally.insert(2, target);
        assert_eq!(tally.quorum_for(&cfg, &target), Some(vec![1, 2]));
        assert_eq!((tally.len(), tally.get(2)), (2, Some(&target)));
        tally.clear();
        assert!(tally.is_empty());
    }
}
