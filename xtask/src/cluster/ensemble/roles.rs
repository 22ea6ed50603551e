//! What a server says it is, and one poll of the whole ensemble: the vocabulary the tests and the
//! benchmark state their expectations in.

use std::fmt;

/// A node's role as its `srvr` reply (or the lack of one) shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Leader,
    Follower,
    Observer,
    Standalone,
    ReadOnly,
    /// Answering, but "not currently serving requests": electing, or without a quorum.
    Looking,
    /// Answering with a text we do not understand.
    Unknown,
    /// Not running, or not answering at all.
    Down,
}

impl Role {
    /// The `Mode:` value of `srvr` for the roles that have one.
    pub fn from_mode(mode: &str) -> Role {
        match mode.trim() {
            "leader" => Role::Leader,
            "follower" => Role::Follower,
            "observer" => Role::Observer,
            "standalone" => Role::Standalone,
            "read-only" => Role::ReadOnly,
            _ => Role::Unknown,
        }
    }

    /// Leader and followers: the voters that currently form the quorum.
    pub fn is_voting_member(self) -> bool {
        matches!(self, Role::Leader | Role::Follower)
    }

    /// Part of an established ensemble (voting or not).
    pub fn is_serving(self) -> bool {
        matches!(self, Role::Leader | Role::Follower | Role::Observer)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Leader => "leader",
            Role::Follower => "follower",
            Role::Observer => "observer",
            Role::Standalone => "standalone",
            Role::ReadOnly => "read-only",
            Role::Looking => "looking",
            Role::Unknown => "unknown",
            Role::Down => "down",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that table columns (`{:<10}`) line up.
        f.pad(self.as_str())
    }
}

/// Every node's role at one moment, by server id (ascending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles(Vec<(u64, Role)>);

impl Roles {
    pub fn new(mut roles: Vec<(u64, Role)>) -> Self {
        roles.sort_by_key(|(id, _)| *id);
        Roles(roles)
    }

    pub fn get(&self, id: u64) -> Option<Role> {
        self.0
            .iter()
            .find(|(sid, _)| *sid == id)
            .map(|(_, role)| *role)
    }

    /// The ids that have `role`, ascending.
    pub fn with(&self, role: Role) -> Vec<u64> {
        self.0
            .iter()
            .filter(|(_, r)| *r == role)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The leader, when exactly one node says it leads.
    pub fn sole_leader(&self) -> Option<u64> {
        match self.with(Role::Leader).as_slice() {
            [leader] => Some(*leader),
            _ => None,
        }
    }

    /// Every node belongs to an established ensemble.
    pub fn all_serving(&self) -> bool {
        self.0.iter().all(|(_, role)| role.is_serving())
    }

    /// One leader and every node serving: an ensemble ready for the next measurement.
    pub fn settled(&self) -> bool {
        self.all_serving() && self.sole_leader().is_some()
    }

    /// How many nodes are leader or follower.
    pub fn voting_members(&self) -> usize {
        self.0
            .iter()
            .filter(|(_, role)| role.is_voting_member())
            .count()
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, Role)> + '_ {
        self.0.iter().copied()
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, (id, role)) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{id}={role}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_map_to_roles() {
        assert_eq!(Role::from_mode("leader"), Role::Leader);
        assert_eq!(Role::from_mode(" follower "), Role::Follower);
        assert_eq!(Role::from_mode("observer"), Role::Observer);
        assert_eq!(Role::from_mode("standalone"), Role::Standalone);
        assert_eq!(Role::from_mode("read-only"), Role::ReadOnly);
        assert_eq!(Role::from_mode("leading"), Role::Unknown);
    }

    #[test]
    fn a_poll_knows_its_leader_and_quorum() {
        let roles = Roles::new(vec![
            (3, Role::Leader),
            (1, Role::Follower),
            (4, Role::Observer),
            (2, Role::Down),
        ]);
        assert_eq!(roles.to_string(), "1=follower 2=down 3=leader 4=observer");
        assert_eq!(roles.sole_leader(), Some(3));
        assert_eq!(roles.voting_members(), 2);
        assert!(!roles.all_serving());
        assert!(!roles.settled());
        assert!(Roles::new(vec![(1, Role::Follower), (2, Role::Leader)]).settled());
        assert_eq!(roles.get(4), Some(Role::Observer));
        assert_eq!(roles.get(5), None);
        assert_eq!(roles.with(Role::Down), vec![2]);

        let split = Roles::new(vec![(1, Role::Leader), (2, Role::Leader)]);
        assert_eq!(split.sole_leader(), None);
        let none = Roles::new(vec![(1, Role::Looking)]);
        assert_eq!(none.sole_leader(), None);
        assert!(!split.settled());
        assert!(!none.settled());
        assert!(Roles::new(vec![(1, Role::Leader), (2, Role::Observer)]).all_serving());
    }
}
