"""Replicated ensembles (3 and 5 voters, observers) driven by kazoo: visibility across members,
zxid order, watches, session moves, leader failover, catch-up after downtime, loss of quorum, mntr.

Clients are pinned to one member each (hosts = that member only), so every assertion names the
member that served it. Reads that must see another member's write call `sync(path)` first.
"""

import concurrent.futures
import itertools
import queue
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest
from kazoo.exceptions import (
    BadArgumentsError,
    BadVersionError,
    ConnectionLoss,
    KazooException,
    MarshallingError,
    NewConfigNoQuorumError,
    NodeExistsError,
    NoAuthError,
    NotReadOnlyCallError,
)
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import EventType, KazooState, KeeperState

import jute
from conftest import ClientFactory
from zkensemble import ENSEMBLE_CONFIG, Ensemble, EnsembleMember
from zkensemble import distinct_free_ports
from zkserver import SUPER_PASSWORD, four_letter_word, wait_until

FAST_RECONNECT = {"max_tries": -1, "delay": 0.05, "backoff": 1.5, "max_delay": 0.5}
"""kazoo backs off up to an hour by default; an election would leave a client idle for seconds."""

FAILOVER_BOUND = 20.0
"""Seconds a test allows from a SIGKILL until the survivors serve writes again."""


class MemberClients:
    """kazoo and raw clients, each pinned to one member; kazoo ones reconnect quickly.
    (A wrapper, not a ClientFactory: conftest's failure hook expects one server per factory.)"""

    def __init__(self):
        self.factory = ClientFactory(default_server=None)

    def on(self, member, **kwargs):
        kwargs.setdefault("connection_retry", dict(FAST_RECONNECT))
        return self.factory.kazoo(member, **kwargs)

    def raw(self, member, **kwargs):
        return self.factory.raw(member, **kwargs)

    def close_all(self):
        self.factory.close_all()


@pytest.fixture
def clients():
    """Overrides conftest's `clients`, which would start a standalone server."""
    factory = MemberClients()
    try:
        yield factory
    finally:
        factory.close_all()


@pytest.fixture(scope="module")
def trio(tmp_path_factory):
    """Three voters shared by the tests that kill nothing."""
    ensemble = Ensemble(tmp_path_factory.mktemp("trio"), voters=3)
    try:
        ensemble.start()
        yield ensemble
    finally:
        ensemble.stop()


@pytest.fixture
def make_ensemble(tmp_path_factory):
    """`make_ensemble(voters, observers=0)`: a started ensemble of the test's own, stopped at
    teardown."""
    ensembles = []

    def make(voters, observers=0, overrides=None):
        ensemble = Ensemble(
            tmp_path_factory.mktemp("ensemble"),
            voters=voters,
            observers=observers,
            overrides=overrides,
        )
        ensembles.append(ensemble)
        ensemble.start()
        return ensemble

    try:
        yield make
    finally:
        for ensemble in ensembles:
            ensemble.stop()


_counter = itertools.count()


@pytest.fixture
def path(request):
    """A path no other test on the shared ensemble uses (not created yet)."""
    return f"/e{next(_counter)}_{request.node.name[:40]}"


def synced_get(client, path):
    """(data, stat) as the client's member has it once it caught up with the leader."""
    client.sync(path)
    return client.get(path)


def synced_children(client, path):
    """Sorted child names as the client's member has them once it caught up with the leader."""
    client.sync(path)
    return sorted(client.get_children(path))


def wait_connected(client, timeout=FAILOVER_BOUND):
    """Waits for kazoo to have (re)connected its session, e.g. after an election."""
    wait_until(
        lambda: client.state == KazooState.CONNECTED, timeout=timeout, message="client connected"
    )


def mntr(member):
    """mntr as {key: value}."""
    return dict(line.split("\t", 1) for line in member.flw("mntr").splitlines() if "\t" in line)


def sequence_number(path):
    """The 10-digit counter ZooKeeper appends to a sequential node's name."""
    return int(path[-10:])


def create_all(client, paths):
    """Pipelined creates; returns once every one is acknowledged."""
    return [result.get() for result in [client.create_async(p) for p in paths]]


# ----- 1-4, 10: a shared trio -----


def test_create_through_each_member_is_visible_on_every_member(trio, clients, path):
    zks = [clients.on(member) for member in trio.members]
    zks[0].create(path)
    for sid, writer in enumerate(zks, start=1):
        child = writer.create(f"{path}/from{sid}", f"data{sid}".encode())
        views = [synced_get(zk, child) for zk in zks]
        assert [data for data, _ in views] == [f"data{sid}".encode()] * 3
        assert all(stat == views[0][1] for _, stat in views), "Stat differs between members"
        assert [zk.exists(child) for zk in zks] == [views[0][1]] * 3
    assert [synced_children(zk, path) for zk in zks] == [["from1", "from2", "from3"]] * 3

    changed = zks[1].set(f"{path}/from1", b"v2")
    assert changed.version == 1 and changed.mzxid > changed.czxid
    for zk in zks:
        data, stat = synced_get(zk, f"{path}/from1")
        assert (data, stat) == (b"v2", changed)
    parents = [synced_get(zk, path)[1] for zk in zks]
    assert parents[0].numChildren == 3 and parents[0].cversion == 3
    assert parents == [parents[0]] * 3


def test_writes_through_a_follower_reply_with_increasing_zxids(trio, clients, path):
    follower = trio.followers()[0]
    other = clients.on(trio.leader())
    raw = clients.raw(follower)
    assert raw.create(path)[0] == jute.OK
    zxids = []
    for i in range(20):
        err, created, zxid = raw.create(f"{path}/n{i}", b"x")
        assert (err, created) == (jute.OK, f"{path}/n{i}")
        zxids.append(zxid)
        other.set(path, str(i).encode())  # another member's write between two of the follower's
        err, stat = raw.set_data(f"{path}/n{i}", b"y")
        assert err == jute.OK
        zxids.append(stat.mzxid)
    assert zxids == sorted(set(zxids)), "write zxids must strictly increase"
    for i in range(20):
        assert synced_get(other, f"{path}/n{i}")[1].czxid == zxids[2 * i]


def test_sequential_nodes_from_different_members_are_distinct_and_ordered(trio, clients, path):
    zks = [clients.on(member) for member in trio.members]
    zks[0].create(path)
    one_at_a_time = [zks[i % 3].create(f"{path}/s-", sequence=True) for i in range(9)]
    assert [sequence_number(p) for p in one_at_a_time] == list(range(9))

    pending = {zk: [zk.create_async(f"{path}/s-", sequence=True) for _ in range(30)] for zk in zks}
    created = {
        zk: [sequence_number(result.get()) for result in results] for zk, results in pending.items()
    }
    for numbers in created.values():
        assert numbers == sorted(numbers), "one session's creates are numbered in its order"
    everything = sorted(n for numbers in created.values() for n in numbers)
    assert everything == list(range(9, 99))
    assert all(len(synced_children(zk, path)) == 99 for zk in zks)


def test_watch_fires_on_one_member_for_a_change_written_through_another(trio, clients, path):
    watcher, writer = clients.on(trio.member(1)), clients.on(trio.member(2))
    writer.create(path, b"v0")
    synced_get(watcher, path)
    events = queue.Queue()
    watcher.get(path, watch=events.put)
    watcher.get_children(path, watch=events.put)
    assert watcher.exists(f"{path}/child", watch=events.put) is None

    writer.set(path, b"v1")
    changed = events.get(timeout=10)
    assert (changed.type, changed.path) == (EventType.CHANGED, path)
    writer.create(f"{path}/child")
    first, second = events.get(timeout=10), events.get(timeout=10)
    assert {(first.type, first.path), (second.type, second.path)} == {
        (EventType.CREATED, f"{path}/child"),
        (EventType.CHILD, path),
    }
    assert events.empty()


def test_session_moves_to_another_member_with_its_ephemerals(trio, clients, path):
    first, second, third = trio.members
    observer = clients.on(third)
    observer.create(path)
    raw = clients.raw(first, timeout_ms=10000)
    assert raw.create(f"{path}/eph", flags=jute.EPHEMERAL)[0] == jute.OK
    raw.close()  # the connection ends, the session does not

    moved = clients.on(second, client_id=(raw.session_id, raw.passwd))
    assert moved.client_id[0] == raw.session_id
    assert moved.exists(f"{path}/eph").ephemeralOwner == raw.session_id
    moved.create(f"{path}/eph2", ephemeral=True)
    for name in ("eph", "eph2"):
        assert synced_get(observer, f"{path}/{name}")[1].ephemeralOwner == raw.session_id

    moved.stop()  # closes the session: its ephemerals go on every member
    for zk in (observer, clients.on(first), clients.on(second)):
        assert synced_children(zk, path) == []


def test_a_request_from_the_member_a_session_moved_away_from_gets_no_reply(trio, clients, path):
    """SESSIONMOVED: the client resumed its session on another member while its old connection
    stayed open; a write on the old connection is answered by closing it, and has no effect."""
    first, second, third = trio.members
    old = clients.raw(first, timeout_ms=10000)
    new = clients.raw(second, connect=False)
    new.connect(timeout_ms=10000, session_id=old.session_id, passwd=old.passwd)
    assert new.create(path)[0] == jute.OK
    old.send_request(jute.OP_CREATE, jute.create_body(f"{path}/from-old"))
    with pytest.raises(jute.ConnectionClosed):
        old.read_frame()
    checker = clients.on(third)
    assert synced_children(checker, path) == []


def test_mntr_reports_the_leader_and_its_synced_followers(trio, clients, path):
    leader = trio.leader()
    clients.on(leader).create(path, b"counted")
    wanted = {
        "zk_server_state": "leader",
        "zk_peer_state": "leading - broadcast",
        "zk_quorum_size": "3",
        "zk_learners": "2",
        "zk_synced_followers": "2",
        "zk_synced_non_voting_followers": "0",
        "zk_synced_observers": "0",
        "zk_pending_syncs": "0",
    }
    report = mntr(leader)
    assert {key: report.get(key) for key in wanted} == wanted
    assert list(report)[:2] == ["zk_version", "zk_server_state"]
    for follower in trio.followers():
        report = mntr(follower)
        states = (report["zk_server_state"], report["zk_peer_state"])
        assert states == ("follower", "following - broadcast")
        assert not {"zk_synced_followers", "zk_learners", "zk_synced_observers"} & set(report)
    # Every member looked for a leader and took a role at least once (ZooKeeper's looking_count
    # and election_time).
    for member in trio.members:
        report = mntr(member)
        assert int(report["zk_looking_count"]) >= 1
        assert int(report["zk_cnt_election_time"]) >= 1
        assert int(report["zk_max_election_time"]) >= int(report["zk_min_election_time"]) >= 0
    # The write above: proposed and committed by the leader, received by each follower; and the
    # leader synchronised each follower once at least (by DIFF, or by SNAP).
    report = mntr(leader)
    assert int(report["zk_proposal_count"]) >= 1 and int(report["zk_commit_count"]) >= 1
    assert int(report["zk_diff_count"]) + int(report["zk_snap_count"]) >= 2
    for follower in trio.followers():

        def counted_commit(member=follower):
            report = mntr(member)
            return report if int(report["zk_learner_commit_received_count"]) >= 1 else None

        report = wait_until(counted_commit, timeout=10, message="the follower counted the commit")
        assert int(report["zk_learner_proposal_received_count"]) >= 1


def test_every_member_publishes_the_ensemble_configuration_in_zookeeper_config(trio, clients):
    """ZooKeeper's initConfigInZKDatabase: each member writes the configuration itself (not a
    transaction), as `server.N=host:quorum:election:role` lines and the version in hex."""
    wanted = "\n".join(
        f"server.{member.sid}={member.server_line}:participant" for member in trio.members
    )
    wanted += "\nversion=0"
    for member in trio.members:
        data, stat = clients.on(member).get("/zookeeper/config")
        assert data.decode() == wanted, member
        assert (stat.version, stat.aversion, stat.mzxid) == (-1, -1, 0), member
        assert stat.data_length == len(wanted)


def test_zkcli_config_shows_the_ensemble_on_every_member(trio):
    """zkCli's `config` (ZooKeeper's getConfig) reads /zookeeper/config; `-c` prints only the
    client connection string, which needs client addresses the server lines here do not have."""
    from test_zkcli import zkcli_path

    wanted = [f"server.{member.sid}={member.server_line}:participant" for member in trio.members]
    for member in trio.members:
        result = subprocess.run(
            [zkcli_path(), "-server", member.hosts, "config"],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stderr
        lines = [line for line in result.stdout.splitlines() if line.startswith(("server.", "version="))]
        assert lines == wanted + ["version=0"], (member, result.stdout)


def test_conf_and_srvr_report_the_member_as_zookeeper_does(trio):
    """conf adds the member's limits, ports, role and the configuration it serves; srvr on the
    leader adds proposal sizes; four-letter words count as packets received and sent."""
    membership = "\n".join(
        f"server.{member.sid}={member.server_line}:participant" for member in trio.members
    )
    for member in trio.members:
        conf = member.flw("conf")
        head, _, tail = conf.partition("membership: \n")
        assert tail == membership + "\nversion=0", member
        values = dict(line.split("=", 1) for line in head.splitlines())
        quorum, election = member.server_line.split(":")[1:3]
        wanted = {
            "serverId": str(member.sid),
            "initLimit": "10",
            "syncLimit": "5",
            "electionAlg": "3",
            "electionPort": election,
            "quorumPort": quorum,
            "peerType": "0",
        }
        assert {key: values.get(key) for key in wanted} == wanted, member
    leader = trio.leader()
    summary = leader.flw("srvr").splitlines()
    assert summary[-1].startswith("Proposal sizes last/min/max: "), summary
    for member in trio.followers():
        assert not any(line.startswith("Proposal sizes") for line in member.flw("srvr").splitlines())

    def packets(member):
        lines = dict(line.split(": ", 1) for line in member.flw("srvr").splitlines() if ": " in line)
        return int(lines["Received"]), int(lines["Sent"])

    before = packets(leader)
    after = packets(leader)
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


def test_dump_on_a_follower_lists_the_global_sessions_and_their_ephemerals(trio, clients, path):
    """A learner's session tracker is ZooKeeper's LearnerSessionTracker: every session of the
    database with its timeout, then the ephemerals as on any member."""
    owner = clients.on(trio.leader())
    owner.create(path, ephemeral=True)
    session = owner.client_id[0]
    follower = trio.followers()[0]
    synced_get(clients.on(follower), path)
    lines = follower.flw("dump").splitlines()
    assert lines[0] == "SessionTracker dump:"
    assert lines[1].startswith("Global Sessions(") and lines[1].endswith("):"), lines
    count = int(lines[1][len("Global Sessions(") : -2])
    listed = dict(line.split("\t") for line in lines[2 : 2 + count])
    assert listed[f"0x{session:x}"] == f"{owner._session_timeout}ms"
    rest = lines[2 + count :]
    assert rest[0] == "ephemeral nodes dump:"
    at = rest.index(f"0x{session:x}:")
    assert rest[at + 1] == f"\t{path}"


# ----- 5-9: ensembles of their own -----


@pytest.mark.slow
def test_leader_sigkill_elects_a_new_leader_and_keeps_acknowledged_writes(make_ensemble, clients):
    ensemble = make_ensemble(3)
    old_leader = ensemble.leader()
    survivors = [member for member in ensemble.members if member is not old_leader]
    writer, reader = clients.on(survivors[0]), clients.on(survivors[1])
    writer.create("/failover")
    before = [f"before{i}" for i in range(200)]
    create_all(writer, [f"/failover/{name}" for name in before])

    old_leader.kill()
    deadline = time.monotonic() + FAILOVER_BOUND
    new_leader = ensemble.leader(timeout=FAILOVER_BOUND)
    assert new_leader in survivors
    for zk in (writer, reader):
        wait_connected(zk, timeout=deadline - time.monotonic())
    writer.create_async("/failover/after0").get(timeout=max(deadline - time.monotonic(), 0.1))
    expected = sorted(before + ["after0"])
    assert [synced_children(zk, "/failover") for zk in (writer, reader)] == [expected] * 2

    after = [f"after{i}" for i in range(100)]
    create_all(reader, [f"/failover/{name}" for name in after[1:]])
    old_leader.restart()
    assert old_leader.mode() == "follower"
    rejoined = clients.on(old_leader)
    assert synced_children(rejoined, "/failover") == sorted(before + after)
    parents = [synced_get(zk, "/failover")[1] for zk in (writer, reader, rejoined)]
    assert parents == [parents[0]] * 3


@pytest.mark.slow
def test_follower_down_during_10000_writes_catches_up_after_restart(make_ensemble, clients):
    ensemble = make_ensemble(3)
    leader = ensemble.leader()
    down, up = ensemble.followers()
    writer = clients.on(leader)
    writer.create("/bulk")

    down.kill()
    wait_until(
        lambda: mntr(leader).get("zk_synced_followers") == "1", timeout=10, message="1 synced follower"
    )
    for start in range(0, 10_000, 2_000):
        create_all(writer, [f"/bulk/n{i}" for i in range(start, start + 2_000)])
    down.restart()

    zks = [writer, clients.on(up), clients.on(down)]
    counts = [synced_get(zk, "/bulk")[1].numChildren for zk in zks]
    assert counts == [10_000] * 3
    assert len(synced_children(zks[2], "/bulk")) == 10_000
    assert synced_get(zks[2], "/bulk")[1] == synced_get(writer, "/bulk")[1]


def write_until(client, tag, stop, acknowledged):
    """Creates /load/<tag>-<n> one after another until `stop` is set; records each create the
    ensemble acknowledged. A create lost with its connection is simply not recorded."""
    n = 0
    while not stop.is_set():
        name = f"/load/{tag}-{n}"
        n += 1
        try:
            client.create(name)
        except NodeExistsError:
            pass  # an earlier attempt went through after all
        except KazooException:
            time.sleep(0.02)
            continue
        acknowledged.append(name)


@pytest.mark.slow
def test_every_acknowledged_write_survives_a_leader_sigkill_under_load(make_ensemble, clients):
    ensemble = make_ensemble(3)
    leader = ensemble.leader()
    followers = ensemble.followers()
    writers = [clients.on(member) for member in followers for _ in range(2)]
    writers[0].create("/load")
    stop = threading.Event()
    acknowledged = [[] for _ in writers]
    threads = [
        threading.Thread(target=write_until, args=(zk, i, stop, acknowledged[i]), daemon=True)
        for i, zk in enumerate(writers)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    leader.kill()
    ensemble.leader(timeout=FAILOVER_BOUND)
    before = sum(len(names) for names in acknowledged)
    wait_until(
        lambda: sum(len(names) for names in acknowledged) > before + 50,
        timeout=FAILOVER_BOUND,
        message="writes to flow again after the failover",
    )
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    written = set(itertools.chain.from_iterable(acknowledged))
    assert len(written) > 100

    leader.restart()
    for member in ensemble.members:
        present = set(synced_children(clients.on(member), "/load"))
        missing = {name for name in written if name.rsplit("/", 1)[1] not in present}
        assert not missing, f"{member}: acknowledged writes lost: {sorted(missing)[:5]}"


@pytest.mark.slow
def test_a_member_that_lost_its_disk_rejoins_with_the_whole_database(make_ensemble, clients):
    ensemble = make_ensemble(3)
    leader = ensemble.leader()
    lost = ensemble.followers()[0]
    writer = clients.on(leader)
    writer.create("/kept", b"data")
    create_all(writer, [f"/kept/n{i}" for i in range(500)])

    lost.kill()
    shutil.rmtree(lost.data_dir)
    writer.set("/kept", b"changed while it was gone")
    lost.restart()
    rejoined = clients.on(lost)
    data, stat = synced_get(rejoined, "/kept")
    assert data == b"changed while it was gone"
    assert stat == synced_get(writer, "/kept")[1]
    assert len(synced_children(rejoined, "/kept")) == 500


@pytest.mark.slow
def test_ephemerals_survive_a_change_of_leader(make_ensemble, clients):
    ensemble = make_ensemble(3)
    old_leader = ensemble.leader()
    follower, other = ensemble.followers()
    session = clients.on(follower, timeout=12.0)
    states = []
    session.add_listener(states.append)
    session_id = session.client_id[0]
    session.create("/eph", ephemeral=True)

    old_leader.kill()
    ensemble.leader(timeout=FAILOVER_BOUND)
    wait_connected(session)
    assert KazooState.SUSPENDED in states, "a follower drops its clients when it loses the leader"
    assert KazooState.LOST not in states
    assert session.client_id[0] == session_id
    assert session.exists("/eph").ephemeralOwner == session_id
    session.create("/eph-after", ephemeral=True)
    witness = clients.on(other)
    for name in ("/eph", "/eph-after"):
        assert synced_get(witness, name)[1].ephemeralOwner == session_id


@pytest.mark.slow
def test_observer_serves_reads_and_writes(make_ensemble, clients):
    ensemble = make_ensemble(3, observers=1)
    observer, leader = ensemble.member(4), ensemble.leader()
    assert "Mode: observer\n" in observer.flw("srvr")
    through_observer, through_leader = clients.on(observer), clients.on(leader)

    through_observer.create("/obs", b"from observer")
    assert synced_get(through_leader, "/obs")[0] == b"from observer"
    stat = through_leader.set("/obs", b"from leader")
    assert synced_get(through_observer, "/obs") == (b"from leader", stat)

    report = mntr(leader)
    learners = [report[key] for key in ("zk_learners", "zk_synced_followers", "zk_synced_observers")]
    assert learners == ["3", "2", "1"]
    report = mntr(observer)
    states = (report["zk_server_state"], report["zk_peer_state"])
    assert states == ("observer", "observing - broadcast")
    assert report["zk_observer_master_id"] == str(leader.sid)


def write_fails(client, path, seconds=4.0):
    """True if a create does not succeed within `seconds`: it times out or loses its connection."""
    try:
        client.create_async(path).get(timeout=seconds)
    except (KazooTimeoutError, ConnectionLoss):
        return True
    except KazooException as error:
        raise AssertionError(f"unexpected {error!r}") from error
    return False


@pytest.mark.slow
def test_five_members_keep_writing_with_two_down_and_stop_without_quorum(make_ensemble, clients):
    ensemble = make_ensemble(5)
    zks = [clients.on(member) for member in ensemble.members]
    for sid, zk in enumerate(zks, start=1):
        zk.create(f"/m{sid}", str(sid).encode())
    for zk in zks:
        assert synced_children(zk, "/") == ["m1", "m2", "m3", "m4", "m5", "zookeeper"]

    leader = ensemble.leader()
    writer = zks[leader.sid - 1]
    first, second, third, _ = ensemble.followers()
    first.kill()
    second.kill()
    writer.create_async("/two-down").get(timeout=10)
    assert synced_get(zks[third.sid - 1], "/two-down")[1].czxid > 0

    third.kill()
    assert write_fails(writer, "/no-quorum")
    wait_until(lambda: leader.mode() is None, timeout=10, message="the leader to stop serving")

    first.restart()
    new_leader = ensemble.leader()
    revived = clients.on(new_leader)
    revived.create_async("/quorum-again").get(timeout=FAILOVER_BOUND)
    for member in ensemble.running:
        zk = clients.on(member)
        assert {"m1", "two-down", "quorum-again"} <= set(synced_children(zk, "/"))


def test_hierarchical_quorums_count_weight_not_members(make_ensemble, clients):
    """ZooKeeper's hierarchical quorums: with `group.1=1:2:3` and `weight.1=2`, members 2 and 3
    hold 2 of the weight's 4, not more than half, so without member 1 no leader is elected,
    where a majority of members would have sufficed; members 1 and 2 (3 of 4) are a quorum.
    Every member publishes the groups and weights in /zookeeper/config."""
    ensemble = make_ensemble(3, overrides={"group.1": "1:2:3", "weight.1": "2"})
    one, two, three = ensemble.members
    writer = clients.on(two)
    writer.create("/weighted", b"x")
    config = synced_get(writer, "/zookeeper/config")[0].decode()
    assert "group.1=1:2:3" in config.splitlines(), config
    assert {"weight.1=2", "weight.2=1", "weight.3=1"} <= set(config.splitlines()), config

    one.kill()
    wait_until(
        lambda: two.mode() is None and three.mode() is None,
        timeout=10,
        message="members 2 and 3 to stop serving",
    )
    time.sleep(3)
    assert two.mode() is None and three.mode() is None, "2 and 3 alone elected a leader"

    one.restart()
    ensemble.leader()
    three.kill()
    survivor = clients.on(one)
    survivor.create_async("/without-three").get(timeout=FAILOVER_BOUND)
    assert synced_get(clients.on(two), "/without-three")[1].czxid > 0


def test_a_member_cut_off_from_the_quorum_serves_read_only_clients(make_ensemble, clients):
    """readonlymode.enabled: a member looking for a leader past the grace period (2 s) serves
    clients that accept a read-only server: reads work, writes get NOTREADONLY."""
    # ZooKeeper serves read-only clients only with local sessions (they cannot be global there).
    overrides = {"readonlymode.enabled": "true", "localSessionsEnabled": "true"}
    ensemble = make_ensemble(3, overrides=overrides)
    leader = ensemble.leader()
    alone = ensemble.followers()[0]
    writer = clients.on(leader)
    writer.create("/ro", b"before the partition")
    clients.on(alone).sync("/ro")

    for member in ensemble.members:
        if member is not alone:
            member.kill()
    wait_until(
        lambda: four_letter_word(alone.port, "isro") == "ro", timeout=15, message="read-only mode"
    )
    assert "Mode: read-only" in four_letter_word(alone.port, "srvr")
    reader = clients.on(alone, read_only=True)
    assert reader.client_state == KeeperState.CONNECTED_RO
    assert reader.get("/ro")[0] == b"before the partition"
    with pytest.raises(NotReadOnlyCallError):
        reader.create("/ro/refused")

    for member in ensemble.members:
        if member is not alone:
            member.restart()
    wait_until(
        lambda: four_letter_word(alone.port, "isro") == "rw", timeout=FAILOVER_BOUND,
        message="read/write again",
    )


@pytest.fixture(scope="module")
def reconfigurable(tmp_path_factory):
    """Three voters with reconfigEnabled, shared by the reconfig tests."""
    ensemble = Ensemble(
        tmp_path_factory.mktemp("reconfig"), voters=3, overrides={"reconfigEnabled": "true"}
    )
    try:
        ensemble.start()
        yield ensemble
    finally:
        ensemble.stop()


def joining_observer():
    quorum, election, client = distinct_free_ports(3)
    return f"server.100=0.0.0.0:{quorum}:{election}:observer;0.0.0.0:{client}"


def joining_member(ensemble, workdir, sid, observer=False):
    """Server `sid`, not started, configured as ZooKeeper's guide asks of a server that joins by
    reconfig: with the ensemble's members and itself. Returns it and its `server.<sid>` entry
    for the reconfig."""
    member = EnsembleMember(
        workdir / f"member{sid}", sid, observer, {**ENSEMBLE_CONFIG, "reconfigEnabled": "true"}
    )
    client, quorum, election = distinct_free_ports(3)
    member.port, member.quorum_port, member.election_port = client, quorum, election
    member.config["clientPort"] = str(client)
    member.config.update({f"server.{m.sid}": m.server_line for m in ensemble.members})
    member.config[f"server.{sid}"] = member.server_line
    role = "observer" if observer else "participant"
    joining = f"server.{sid}=127.0.0.1:{quorum}:{election}:{role};127.0.0.1:{client}"
    return member, joining


def read_synced(clients, member, path):
    """`path`'s data on `member` once that member caught up with the leader (sync, then get)."""
    zk = clients.on(member)
    zk.sync(path)
    return zk.get(path)[0]


def lists_server(config, sid):
    return any(line.startswith(f"server.{sid}=") for line in config.decode().splitlines())


def test_with_reconfig_enabled_a_term_gives_the_configuration_a_version(tmp_path, clients):
    """With reconfigEnabled, the first term gives the configuration file's membership the
    version of its NEWLEADER (ZooKeeper's ZOOKEEPER-1783), so that it takes precedence over the
    file of a server that joins by reconfig; every member publishes it in /zookeeper/config,
    its mzxid the version."""
    ensemble = Ensemble(tmp_path / "voters", voters=3, overrides={"reconfigEnabled": "true"})
    try:
        ensemble.start()
        servers = [f"server.{m.sid}={m.server_line}:participant" for m in ensemble.members]
        for member in ensemble.members:
            zk = clients.on(member)
            zk.sync("/zookeeper/config")
            data, stat = zk.get("/zookeeper/config")
            *lines, version = data.decode().splitlines()
            assert lines == servers, member
            assert version == f"version={stat.mzxid:x}", member
            assert stat.mzxid >> 32 >= 1 and stat.mzxid & 0xFFFFFFFF == 0, hex(stat.mzxid)
    finally:
        ensemble.stop()


def test_reconfig_requests_are_checked_as_zookeeper_checks_them(reconfigurable, clients):
    """Through the leader and through a follower: server lists ZooKeeper cannot parse, or that
    would leave fewer than two voters, are BADARGUMENTS; a change from another configuration
    version is BADVERSION; only a super user may reconfigure (NOAUTH)."""
    for member in (reconfigurable.leader(), reconfigurable.followers()[0]):
        zk = clients.on(member)
        with pytest.raises(BadArgumentsError):
            zk.reconfig(joining="some thing", leaving=None, new_members=None)
        with pytest.raises(BadArgumentsError):
            zk.reconfig(joining=None, leaving="2,3", new_members=None)
        # ZooKeeper's Long.parseLong throws on a bad id, and its catch-all answers MARSHALLINGERROR.
        with pytest.raises(MarshallingError):
            zk.reconfig(joining=None, leaving="one", new_members=None)
        with pytest.raises(NoAuthError):
            zk.reconfig(joining=joining_observer(), leaving=None, new_members=None)
        admin = clients.on(member, auth_data=[("digest", f"super:{SUPER_PASSWORD}")])
        with pytest.raises(BadVersionError):
            admin.reconfig(
                joining=joining_observer(), leaving=None, new_members=None, from_config=0x1234
            )


def test_an_observer_joins_and_leaves_by_reconfig(reconfigurable, clients, tmp_path):
    """kazoo's TestReconfig.test_add_remove_observer, taken further: the reconfig answers the new
    configuration (its version is the reconfig's zxid), every member serves it, the observer it
    added starts, syncs, serves reads and forwards writes; a member restarted afterwards serves the
    committed configuration, not its file's; the observer leaves by reconfig again."""
    leader = reconfigurable.leader()
    follower = reconfigurable.followers()[0]
    admin = clients.on(follower, auth_data=[("digest", f"super:{SUPER_PASSWORD}")])
    admin.create("/joined", b"before the observer")

    observer, joining = joining_member(reconfigurable, tmp_path, 4, observer=True)

    data, stat = admin.reconfig(joining=joining, leaving=None, new_members=None)
    lines = data.decode().splitlines()
    assert joining in lines
    assert lines[-1] == f"version={stat.mzxid:x}"
    assert (stat.version, stat.mtime > 0) == (-1, True)
    for member in reconfigurable.members:
        zk = clients.on(member)
        zk.sync("/zookeeper/config")
        assert zk.get("/zookeeper/config") == (data, stat), member
    try:
        observer.start()
        assert observer.mode() == "observer"
        reader = clients.on(observer)
        assert reader.get("/joined")[0] == b"before the observer"
        reader.set("/joined", b"through the observer")
        on_leader = clients.on(leader)
        on_leader.sync("/joined")
        assert on_leader.get("/joined")[0] == b"through the observer"
        assert reader.get("/zookeeper/config")[0] == data

        left, left_stat = admin.reconfig(
            joining=None, leaving="4", new_members=None, from_config=stat.mzxid
        )
        assert joining not in left.decode().splitlines()
        assert left.decode().splitlines()[-1] == f"version={left_stat.mzxid:x}"
        with pytest.raises(BadVersionError):
            admin.reconfig(
                joining=joining, leaving=None, new_members=None, from_config=stat.mzxid
            )
    finally:
        observer.stop()

    follower.kill()
    follower.start()
    restarted = clients.on(follower)
    restarted.sync("/zookeeper/config")
    assert restarted.get("/zookeeper/config")[0] == left


def test_voters_join_and_leave_by_reconfig(tmp_path, clients):
    """ZooKeeper's dynamic reconfiguration of voters. A server started with the members and
    itself follows without a vote; a reconfig whose new voters are not synced enough is refused
    with NEWCONFIGNOQUORUM; one makes the server a voter, another removes a follower, which
    (as in ZooKeeper) goes on following without a vote. The new configuration is the one whose
    quorums count: with two of the three original voters down, the leader and the new voter
    carry on; restarted from their unchanged files, they run it still."""
    ensemble = Ensemble(tmp_path / "voters", voters=3, overrides={"reconfigEnabled": "true"})
    joiner = None
    try:
        ensemble.start()
        joiner, joining = joining_member(ensemble, tmp_path, 4)
        joiner.start()
        assert joiner.mode() == "follower"
        leader = ensemble.leader()
        removed, other = [m for m in ensemble.followers() if m is not joiner]
        admin = clients.on(leader, auth_data=[("digest", f"super:{SUPER_PASSWORD}")])
        admin.create("/voters", b"three")
        quorum_facts = ("zk_quorum_size", "zk_synced_followers", "zk_synced_non_voting_followers")

        def leader_reports(*values):
            wait_until(
                lambda: tuple(mntr(leader).get(key) for key in quorum_facts) == values,
                timeout=5, message=f"mntr's {quorum_facts} to be {values}",
            )

        leader_reports("3", "3", "1")

        strangers = [
            f"server.{sid}=127.0.0.1:{quorum}:{election}:participant"
            for sid, (quorum, election) in ((8, distinct_free_ports(2)), (9, distinct_free_ports(2)))
        ]
        new_members = ",".join([f"server.{leader.sid}={leader.server_line}", *strangers])
        with pytest.raises(NewConfigNoQuorumError):
            admin.reconfig(joining=None, leaving=None, new_members=new_members)

        data, stat = admin.reconfig(joining=joining, leaving=None, new_members=None)
        assert joining in data.decode().splitlines()
        leader_reports("4", "3", "0")
        data, stat = admin.reconfig(
            joining=None, leaving=str(removed.sid), new_members=None, from_config=stat.mzxid
        )
        assert not lists_server(data, removed.sid)
        assert data.decode().splitlines()[-1] == f"version={stat.mzxid:x}"
        for member in (leader, other, joiner):
            assert read_synced(clients, member, "/zookeeper/config") == data, member
        assert removed.mode() == "follower"
        leader_reports("3", "3", "1")
        admin.set("/voters", b"removed")
        assert read_synced(clients, removed, "/voters") == b"removed"

        # Under the old configuration the leader alone would be one voter of three.
        removed.stop()
        other.stop()
        clients.on(joiner).set("/voters", b"the leader and server 4")
        assert read_synced(clients, leader, "/voters") == b"the leader and server 4"

        leader.kill()
        joiner.kill()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            restarts = [pool.submit(m.start, rewrite_config=False) for m in (leader, joiner)]
            for started in restarts:
                started.result()
        assert read_synced(clients, leader, "/zookeeper/config") == data
        assert read_synced(clients, leader, "/voters") == b"the leader and server 4"
        clients.on(joiner).create("/voters/after-restart")
    finally:
        if joiner is not None:
            joiner.stop()
        ensemble.stop()


def test_a_leader_reconfigured_out_hands_over_to_the_new_voters(tmp_path, clients):
    """A reconfig that removes the leader commits, and the remaining voters elect a leader
    among themselves and go on serving; the old leader follows the new one without a vote."""
    ensemble = Ensemble(tmp_path / "voters", voters=3, overrides={"reconfigEnabled": "true"})
    try:
        ensemble.start()
        leader = ensemble.leader()
        remaining = ensemble.followers()
        admin = clients.on(leader, auth_data=[("digest", f"super:{SUPER_PASSWORD}")])
        admin.create("/handover", b"before")
        data, _ = admin.reconfig(joining=None, leaving=str(leader.sid), new_members=None)
        assert not lists_server(data, leader.sid)

        wait_until(
            lambda: sorted(m.mode() or "" for m in remaining) == ["follower", "leader"],
            timeout=FAILOVER_BOUND,
            message="a leader among the remaining voters",
        )
        wait_until(
            lambda: leader.mode() == "follower", timeout=FAILOVER_BOUND,
            message="the old leader follows the new one",
        )
        writer = clients.on(remaining[0])
        writer.set("/handover", b"after")
        for member in (remaining[1], leader):
            assert read_synced(clients, member, "/handover") == b"after", member
            assert read_synced(clients, member, "/zookeeper/config") == data, member
    finally:
        ensemble.stop()


def test_a_reconfig_moves_a_members_client_port(tmp_path, clients):
    """A reconfig that gives a member another client address: as in ZooKeeper, the member
    listens there instead (a session it served before stays connected), `conf` names the new
    port, and a restart from the files the server left serves there still."""
    ensemble = Ensemble(tmp_path / "voters", voters=3, overrides={"reconfigEnabled": "true"})
    try:
        ensemble.start()
        leader = ensemble.leader()
        moved = ensemble.followers()[0]
        admin = clients.on(leader, auth_data=[("digest", f"super:{SUPER_PASSWORD}")])
        admin.create("/moved", b"before")
        earlier = clients.on(moved)
        assert earlier.get("/moved")[0] == b"before"
        old_port, (new_port,) = moved.port, distinct_free_ports(1)
        entry = (
            f"server.{moved.sid}=127.0.0.1:{moved.quorum_port}:{moved.election_port}"
            f":participant;127.0.0.1:{new_port}"
        )
        data, _ = admin.reconfig(joining=entry, leaving=None, new_members=None)
        assert entry in data.decode().splitlines()

        wait_until(
            lambda: reachable(new_port), timeout=10,
            message="the member listening on its new client port",
        )
        assert four_letter_word(new_port, "ruok") == "imok"
        wait_until(
            lambda: not reachable(old_port), timeout=10,
            message="the old client port closed",
        )
        assert f"clientPort={new_port}" in four_letter_word(new_port, "conf").splitlines()
        moved.port = new_port
        admin.set("/moved", b"after")
        assert read_synced(clients, moved, "/moved") == b"after"
        earlier.sync("/moved")
        assert earlier.get("/moved")[0] == b"after", "the earlier session stays connected"

        earlier.stop()
        moved.kill()
        moved.start(rewrite_config=False)
        assert read_synced(clients, moved, "/zookeeper/config") == data
        assert not reachable(old_port)
    finally:
        ensemble.stop()


def reachable(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_zkcli_reconfigures_the_voters(tmp_path):
    """zkCli.sh's `reconfig -remove` through the leader answers the committed configuration as
    ZooKeeper's CLI prints it, and `config` on another member shows the same."""
    from test_zkcli import NOISE, zkcli_path

    ensemble = Ensemble(
        tmp_path / "voters", voters=3, overrides={"reconfigEnabled": "true", "skipACL": "yes"}
    )

    def zkcli(member, *args):
        result = subprocess.run(
            [zkcli_path(), "-server", member.hosts, *args],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return [line for line in result.stdout.splitlines() if not NOISE.match(line)]

    try:
        ensemble.start()
        leader = ensemble.leader()
        removed, other = ensemble.followers()
        out = zkcli(leader, "reconfig", "-remove", str(removed.sid))
        kept = sorted(m.sid for m in (leader, other))
        assert out[0] == "Committed new configuration:", out
        assert [line.split("=")[0] for line in out[1:-1]] == [f"server.{sid}" for sid in kept]
        assert re.fullmatch(r"version=[0-9a-f]+", out[-1]), out
        wait_until(
            lambda: zkcli(other, "config")[-len(out) + 1:] == out[1:], timeout=10,
            message="the other member's config",
        )
    finally:
        ensemble.stop()


def reachable_from_another_loopback_address(port):
    """Whether `port` accepts a connection to 127.0.0.2, which only a listener on every address
    (not one on 127.0.0.1) takes."""
    try:
        socket.create_connection(("127.0.0.2", port), timeout=2).close()
        return True
    except OSError:
        return False


def test_quorum_listen_on_all_ips(tmp_path_factory, trio, clients):
    """quorumListenOnAllIPs=true: every member's quorum and election ports take connections on
    any address, and the ensemble works as usual; without it they listen on the server line's
    host only."""
    ensemble = Ensemble(
        tmp_path_factory.mktemp("all-ips"), voters=3, overrides={"quorumListenOnAllIPs": "true"}
    )
    try:
        ensemble.start()
        writer = clients.on(ensemble.followers()[0])
        writer.create("/all-ips", b"v")
        for member in ensemble.members:
            assert reachable_from_another_loopback_address(member.election_port), member
            assert clients.on(member).get("/all-ips")[0] == b"v"
        assert reachable_from_another_loopback_address(ensemble.leader().quorum_port)
    finally:
        ensemble.stop()
    for member in trio.members:
        assert not reachable_from_another_loopback_address(member.election_port), member
    assert not reachable_from_another_loopback_address(trio.leader().quorum_port)
