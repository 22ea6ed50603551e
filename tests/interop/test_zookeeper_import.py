"""Moving from Apache ZooKeeper with the data, and back: ZooKeeper 3.8 (Debian's package) serves
a workload on a dataDir, then zk-server starts on the same zoo.cfg and must serve the very same
tree (data, every Stat field, ACLs), keep the ZooKeeper client's session with its ephemerals, and
go on from ZooKeeper's zxids; and ZooKeeper must do the same from `zk-server --export-zookeeper`.
A missing ZooKeeper is a failure, not a skip: CI installs it."""

import shutil
import subprocess
from pathlib import Path

import pytest
from kazoo.client import KazooClient, KazooState
from kazoo.security import make_digest_acl

import jute
from zkensemble import Ensemble
from zkserver import ZkServer, server_binary, wait_until

JAVA_DIR = Path("/usr/share/java")


def zookeeper_command():
    """Apache ZooKeeper's QuorumPeerMain from Debian's jars (zookeeper.jar's manifest names its
    dependencies), logging to the console."""
    java = shutil.which("java")
    if java is None or not (JAVA_DIR / "zookeeper.jar").is_file():
        pytest.fail("Apache ZooKeeper not found: install Debian's `zookeeper` package")
    jars = [JAVA_DIR / name for name in ("zookeeper.jar", "slf4j-log4j12.jar", "log4j-1.2.jar")]
    flags = ["-Dzookeeper.root.logger=INFO,CONSOLE"]
    if Path("/etc/zookeeper/conf/log4j.properties").is_file():
        flags.append("-Dlog4j.configuration=file:/etc/zookeeper/conf/log4j.properties")
    classpath = ":".join(str(jar) for jar in jars if jar.is_file())
    return [java, "-cp", classpath, *flags, "org.apache.zookeeper.server.quorum.QuorumPeerMain"]


def everything(client):
    """Every node but /zookeeper/config (each server publishes its own): path -> (data, Stat,
    ACL)."""
    found = {}
    pending = ["/"]
    while pending:
        path = pending.pop()
        if path == "/zookeeper/config":
            continue
        data, stat = client.get(path)
        acl, _ = client.get_acls(path)
        found[path] = (data, tuple(stat), sorted((a.perms, a.id.scheme, a.id.id) for a in acl))
        prefix = path.rstrip("/")
        pending.extend(f"{prefix}/{child}" for child in client.get_children(path))
    return found


def close_quietly(clients):
    for client in clients:
        if client is None:
            continue
        try:
            client.stop()
            client.close()
        except Exception:  # the server may be gone already
            pass


def workload(client, port):
    """Enough writes for ZooKeeper to snapshot and roll its log several times (snapCount 40),
    touching every kind of node and transaction."""
    client.create("/app", b"config")
    for i in range(60):
        client.create(f"/app/n{i:02d}", str(i).encode())
    for i in range(0, 60, 3):
        client.set(f"/app/n{i:02d}", b"changed")
        client.set(f"/app/n{i:02d}", b"changed again")
    for i in range(0, 60, 7):
        client.delete(f"/app/n{i:02d}")
    client.create("/queue/item-", b"q", sequence=True, makepath=True)
    client.create("/queue/item-", b"q", sequence=True)
    client.add_auth("digest", "ops:secret")
    client.create("/secret", b"hidden", acl=[make_digest_acl("ops", "secret", all=True)])
    client.set_acls("/secret", [make_digest_acl("ops", "secret", read=True, write=True, admin=True)])
    # kazoo cannot create containers or TTL nodes: the raw client does.
    raw = jute.RawClient(port)
    try:
        raw.connect()
        err, _, _ = raw.create("/box", flags=jute.CONTAINER, opcode=jute.OP_CREATE_CONTAINER)
        assert err == jute.OK
        err, _, _ = raw.create("/ttl", flags=jute.PERSISTENT_WITH_TTL, opcode=jute.OP_CREATE_TTL, ttl=3_600_000)
        assert err == jute.OK
    finally:
        raw.close()
    client.create("/box/item", b"")
    client.create("/mine/e1", b"eph", ephemeral=True, makepath=True)
    client.create("/mine/e2", b"eph", ephemeral=True)
    transaction = client.transaction()
    transaction.create("/tx", b"1")
    transaction.set_data("/app", b"config 2")
    transaction.delete("/app/n01")
    results = transaction.commit()
    assert results[0] == "/tx" and results[2] is True, results
    failed = client.transaction()
    failed.create("/never", b"")
    failed.check("/app", 99)
    failed.commit()
    client.set("/app/n02", b"last")


@pytest.mark.slow
@pytest.mark.parametrize("compression", [None, "gz", "snappy"])
def test_zk_server_takes_over_zookeepers_data_and_sessions(tmp_path, compression):
    """`compression`: zookeeper.snapshot.compression.method, ZooKeeper's snapshot format."""
    config = {"snapCount": "40", "snapshot.compression.method": compression}
    server = ZkServer(tmp_path / "node", config, command=zookeeper_command())
    server.start(timeout=60)
    keeper = KazooClient(hosts=server.hosts, timeout=30)
    closer = KazooClient(hosts=server.hosts, timeout=30)
    observer = None
    try:
        keeper.start(timeout=30)
        closer.start(timeout=30)
        closer.create("/gone", b"", ephemeral=True)
        closer.stop()  # a closeSession in ZooKeeper's log
        workload(keeper, server.port)
        before = everything(keeper)
        session = keeper.client_id[0]
        zookeepers_zxid = max(stat[1] for _, stat, _ in before.values())
        version_2 = server.data_dir / "version-2"
        snapshots = list(version_2.glob("snapshot.*"))
        assert len(snapshots) >= 2, sorted(version_2.iterdir())
        suffix = {None: "", "gz": ".gz", "snappy": ".snappy"}[compression]
        assert all(path.name.endswith(suffix) for path in snapshots), snapshots
        assert len(list(version_2.glob("log.*"))) >= 2, sorted(version_2.iterdir())

        server.stop()
        server.command = None
        server.start()

        # The client that was on ZooKeeper reconnects to the same session, its ephemerals kept.
        wait_until(lambda: keeper.state == KazooState.CONNECTED, timeout=30, message="reconnect")
        assert keeper.client_id[0] == session
        observer = KazooClient(hosts=server.hosts, timeout=30)
        observer.start(timeout=30)
        observer.add_auth("digest", "ops:secret")
        after = everything(observer)
        assert set(after) == set(before)
        for path in sorted(before):
            assert after[path] == before[path], path
        assert before["/mine/e1"][1][7] == session  # ephemeralOwner
        assert "/gone" not in after and "/never" not in after

        # Writes go on from ZooKeeper's zxids; the import happened once and is not repeated.
        stat = keeper.set("/app", b"after the move")
        assert stat.mzxid > zookeepers_zxid
        log = server.log_tail(200)
        assert "imported Apache ZooKeeper's data" in log
        # ZooKeeper's own integrity check: its recorded tree digest equals the imported tree's.
        assert 'digest="matches ZooKeeper\'s"' in log, log
        assert not (server.data_dir / "snapshots" / "zookeeper-import.incomplete").exists()
        observer.stop()
        observer = None
        server.restart()
        observer = KazooClient(hosts=server.hosts, timeout=30)
        observer.start(timeout=30)
        assert observer.get("/app")[0] == b"after the move"
        assert observer.exists("/app/n59") is not None
        assert observer.exists("/mine/e1").ephemeralOwner == session
    finally:
        close_quietly([keeper, observer])
        server.stop()


def connected(hosts, auth=True):
    client = KazooClient(hosts=hosts, timeout=30)
    client.start(timeout=30)
    if auth:
        client.add_auth("digest", "ops:secret")
    return client


@pytest.mark.slow
@pytest.mark.parametrize("dynamic_config", [False, True], ids=["static", "dynamicConfigFile"])
def test_an_ensemble_moves_over_with_its_data(tmp_path, dynamic_config):
    """Three ZooKeeper members stop; three zk-server members start on their files (and their
    zoo.cfg, with the server lines inline or in a dynamicConfigFile), elect a leader and serve
    the same tree on every member, under a new epoch, to the same session."""
    ensemble = Ensemble(
        tmp_path / "trio", voters=3, overrides={"snapCount": "40"}, dynamic_config=dynamic_config
    )
    for member in ensemble.members:
        member.command = zookeeper_command()
    clients = []
    try:
        ensemble.start(timeout=90)
        leader = ensemble.leader(timeout=60)
        keeper = connected(",".join(member.hosts for member in ensemble.members), auth=False)
        clients.append(keeper)
        workload(keeper, leader.port)
        keeper.sync("/")
        before = everything(keeper)
        session = keeper.client_id[0]
        zookeepers_zxid = max(stat[1] for _, stat, _ in before.values())

        ensemble.stop()
        for member in ensemble.members:
            member.command = None
        ensemble.start()
        ensemble.leader()

        wait_until(lambda: keeper.state == KazooState.CONNECTED, timeout=30, message="reconnect")
        assert keeper.client_id[0] == session
        for member in ensemble.members:
            client = connected(member.hosts)
            clients.append(client)
            client.sync("/")
            after = everything(client)
            assert set(after) == set(before), member
            for path in sorted(before):
                assert after[path] == before[path], (member, path)
        stat = keeper.set("/app", b"after the move")
        assert stat.mzxid >> 32 > zookeepers_zxid >> 32, "a new epoch"
        assert keeper.exists("/mine/e1").ephemeralOwner == session
    finally:
        close_quietly(clients)
        ensemble.stop()


@pytest.mark.slow
def test_zookeeper_takes_over_an_export(tmp_path):
    """Back to ZooKeeper: the export of a stopped zk-server, loaded by ZooKeeper 3.8, is the same
    tree, and the client's session and ephemerals carry on there."""
    server = ZkServer(tmp_path / "node")
    server.start()
    keeper = connected(server.hosts, auth=False)
    observer = None
    try:
        workload(keeper, server.port)
        before = everything(keeper)
        session = keeper.client_id[0]
        last_zxid = max(stat[1] for _, stat, _ in before.values())
        server.stop()

        exported = tmp_path / "for-zookeeper"
        result = subprocess.run(
            [server_binary(), "--export-zookeeper", str(exported), str(server.cfg_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        snapshot = Path(result.stdout.strip())
        assert snapshot.parent == exported / "version-2" and snapshot.is_file()
        # Exporting again into the same place is refused rather than overwriting.
        again = subprocess.run(
            [server_binary(), "--export-zookeeper", str(exported), str(server.cfg_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert again.returncode != 0 and "already holds ZooKeeper data" in again.stderr

        server.config["dataDir"] = str(exported)
        server.command = zookeeper_command()
        server.start(timeout=60)
        wait_until(lambda: keeper.state == KazooState.CONNECTED, timeout=30, message="reconnect")
        assert keeper.client_id[0] == session
        observer = connected(server.hosts)
        after = everything(observer)
        assert set(after) == set(before)
        for path in sorted(before):
            assert after[path] == before[path], path
        # ZooKeeper checked our export against the digest it carries, and found it equal.
        zookeeper_log = server.log_tail(400)
        assert "The digest in the snapshot has digest version of 2" in zookeeper_log
        assert "Digests are not matching" not in zookeeper_log
        mntr = dict(line.split("\t", 1) for line in server.flw("mntr").splitlines())
        assert mntr["zk_digest_mismatches_count"] == "0"
        stat = keeper.set("/app", b"back on ZooKeeper")
        assert stat.mzxid > last_zxid
        assert keeper.exists("/mine/e1").ephemeralOwner == session
    finally:
        close_quietly([keeper, observer])
        server.stop()


def test_a_damaged_zookeeper_snapshot_is_refused_loudly(tmp_path):
    """ZooKeeper's files that cannot be read stop the start with the reason, rather than serving
    an empty tree in their place."""
    server = ZkServer(tmp_path / "node")
    version_2 = server.data_dir / "version-2"
    version_2.mkdir(parents=True)
    (version_2 / "snapshot.0").write_bytes(b"not a snapshot")
    with pytest.raises(RuntimeError) as failure:
        server.start(timeout=20)
    assert "cannot import Apache ZooKeeper's data" in str(failure.value)
