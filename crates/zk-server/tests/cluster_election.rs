//! Leader election of real zk-server processes, observed from the outside through `srvr`. (What
//! the elected ensembles do for clients is tested with kazoo in tests/interop/test_ensemble.py.)
//! The ensembles are the ones
//! `cargo xtask cluster` starts: the module is shared with xtask by path.
//!
//! `ZK_CLUSTER_SERVER_BIN` runs the tests against another server program taking a zoo.cfg, such
//! as a script that execs Apache ZooKeeper, to check that the expectations are ZooKeeper's.

#![allow(clippy::unwrap_used)]

#[allow(
    dead_code,
    reason = "the module also serves cargo xtask, which uses other parts of it"
)]
#[path = "../../../xtask/src/cluster/ensemble/mod.rs"]
mod ensemble;

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use ensemble::{Cluster, Options, Role, Roles, ServerCommand};

/// A generous bound for one election (a JVM needs seconds to start); ours takes far less.
const ELECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// A cluster in a temporary directory; on a failed test, the end of every node's log is printed.
struct TestCluster {
    // Dropped first: the processes stop before their directory goes.
    cluster: Cluster,
    _dir: tempfile::TempDir,
}

impl TestCluster {
    /// Writes the configs of `voters` + `observers` nodes; starts none of them.
    fn create(voters: usize, observers: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = match std::env::var_os("ZK_CLUSTER_SERVER_BIN") {
            Some(program) => ServerCommand::program(program),
            None => ServerCommand::program(env!("CARGO_BIN_EXE_zk-server")),
        };
        let mut options = Options::new(dir.path(), voters, server);
        options.observers = observers;
        let cluster = Cluster::create(&options).unwrap();
        TestCluster { cluster, _dir: dir }
    }

    /// Creates the ensemble and starts every node (highest id first).
    fn start(voters: usize, observers: usize) -> Self {
        let mut test = TestCluster::create(voters, observers);
        test.cluster.start_all().unwrap();
        test
    }

    /// Waits until every running node serves, under exactly one leader, and returns the roles.
    fn settled(&self, what: &str) -> Roles {
        self.wait_for(what, ELECTION_TIMEOUT, |roles| {
            roles.sole_leader().is_some()
                && roles
                    .iter()
                    .all(|(_, role)| role.is_serving() || role == Role::Down)
        })
        .unwrap()
    }
}

impl Deref for TestCluster {
    type Target = Cluster;
    fn deref(&self) -> &Cluster {
        &self.cluster
    }
}

impl DerefMut for TestCluster {
    fn deref_mut(&mut self) -> &mut Cluster {
        &mut self.cluster
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("roles at failure: {}", self.cluster.roles());
            for id in self.cluster.ids() {
                eprintln!("--- node {id}: {}", self.cluster.log_tail(id, 15));
            }
        }
    }
}

/// Every node: the leader is `leader`, voters follow it, observers observe it.
fn assert_led_by(test: &TestCluster, roles: &Roles, leader: u64) {
    for id in test.ids() {
        let expected = if id == leader {
            Role::Leader
        } else if test.node(id).unwrap().is_observer() {
            Role::Observer
        } else {
            Role::Follower
        };
        assert_eq!(roles.get(id), Some(expected), "node {id} in {roles}");
    }
}

/// The voter FastLeaderElection must pick once `killed` is gone: the highest (zxid, id) among
/// the other voters (all have the same epoch once synced). Followers synced by SNAP and by DIFF
/// can differ in zxid (Apache ZooKeeper shows 0x100000000 and 0x0), so it is not always the
/// highest id.
fn expected_successor(test: &TestCluster, killed: u64) -> u64 {
    let survivors = test.voter_ids().into_iter().filter(|id| *id != killed);
    let ranked = survivors.map(|id| (test.node(id).unwrap().status().zxid.unwrap_or(0), id));
    ranked.max().unwrap().1
}

#[test]
fn three_nodes_elect_the_highest_id() {
    let test = TestCluster::start(3, 0);
    let roles = test.settled("the first election of 3 nodes");
    assert_led_by(&test, &roles, 3);
}

#[test]
fn five_nodes_elect_the_highest_id() {
    let test = TestCluster::start(5, 0);
    let roles = test.settled("the first election of 5 nodes");
    assert_led_by(&test, &roles, 5);
}

#[test]
fn a_killed_leader_is_replaced_by_the_next_in_line_and_rejoins_as_follower() {
    let mut test = TestCluster::start(3, 0);
    assert_led_by(&test, &test.settled("the first election"), 3);

    let successor = expected_successor(&test, 3);
    test.kill(3).unwrap();
    assert_eq!(test.node(3).unwrap().role(), Role::Down);
    let roles = test.settled("a new leader after killing 3");
    assert_eq!(roles.sole_leader(), Some(successor), "{roles}");
    assert_eq!(roles.with(Role::Follower).len(), 1, "{roles}");

    test.restart(3).unwrap();
    let roles = test.wait_for("node 3 to rejoin", ELECTION_TIMEOUT, Roles::all_serving);
    assert_led_by(&test, &roles.unwrap(), successor);
}

#[test]
fn an_observer_never_leads_and_rejoins_as_observer() {
    let mut test = TestCluster::start(3, 1);
    let roles = test.settled("the first election with an observer");
    // Node 4 has the highest id, but as an observer it has no vote and cannot lead.
    assert_led_by(&test, &roles, 3);

    let successor = expected_successor(&test, 3);
    test.kill(3).unwrap();
    let roles = test.settled("a new leader after killing 3");
    assert_eq!(roles.sole_leader(), Some(successor), "{roles}");
    assert_eq!(roles.get(4), Some(Role::Observer), "{roles}");

    test.kill(4).unwrap();
    test.restart(4).unwrap();
    test.restart(3).unwrap();
    let roles = test.wait_for(
        "nodes 3 and 4 to rejoin",
        ELECTION_TIMEOUT,
        Roles::all_serving,
    );
    assert_led_by(&test, &roles.unwrap(), successor);
}

#[test]
fn a_minority_never_elects_and_a_majority_does() {
    let mut test = TestCluster::create(3, 0);
    test.start_node(1).unwrap();
    let alone_until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < alone_until {
        assert_eq!(test.node(1).unwrap().role(), Role::Looking);
        std::thread::sleep(Duration::from_millis(100));
    }

    test.start_node(2).unwrap();
    let roles = test.settled("an election once 2 of 3 nodes run");
    assert_eq!(roles.sole_leader(), Some(2), "{roles}");
    assert_eq!(roles.get(1), Some(Role::Follower), "{roles}");
    assert_eq!(roles.get(3), Some(Role::Down), "{roles}");
}
