"""Restart durability: SIGKILL the server, restart it on the same dataDir, and compare every znode."""

import pytest
from kazoo.protocol.states import KazooState
from kazoo.security import make_acl, make_digest_acl

import jute
from zkserver import SUPER_PASSWORD, wait_until


def read_tree(client):
    """{path: (data, stat, acls)} for every znode, read with pipelined async calls."""
    tree = {}
    level = ["/"]
    while level:
        gets = [(p, client.get_async(p), client.get_acls_async(p), client.get_children_async(p)) for p in level]
        level = []
        for path, data, acls, children in gets:
            value, stat = data.get()
            tree[path] = (value, stat, acls.get()[0])
            prefix = path.rstrip("/")
            level.extend(f"{prefix}/{child}" for child in children.get())
    return tree


def wait_all(results):
    return [r.get() for r in results]


@pytest.mark.parametrize("snap_count", [None, "300"], ids=["log-only", "with-snapshots"])
def test_sigkill_restart_keeps_every_znode_and_live_sessions(make_server, clients, snap_count):
    # snapCount 300: snapshots are taken (fuzzily) every 150-300 transactions while the data is written.
    server = make_server(snapCount=snap_count)
    writer = clients.kazoo(server, auth_data=[("digest", "owner:pw")])
    live = clients.kazoo(server)
    reader = clients.kazoo(server, auth_data=[("digest", f"super:{SUPER_PASSWORD}")])

    writer.create("/dur")
    wait_all([writer.create_async(f"/dur/d{i}") for i in range(40)])
    wait_all(
        [
            writer.create_async(f"/dur/d{i}/n{j}", f"{i}-{j}".encode() * (j % 7))
            for i in range(40)
            for j in range(50)
        ]
    )
    writer.create("/dur/seq")
    sequentials = wait_all(
        [writer.create_async("/dur/seq/s-", b"q", sequence=True) for _ in range(300)]
    )
    assert sequentials[-1] == "/dur/seq/s-0000000299"
    writer.create("/dur/acl")
    owner_acl = [make_digest_acl("owner", "pw", all=True), make_acl("world", "anyone", read=True)]
    ip_acl = [make_acl("ip", "127.0.0.1", read=True, write=True, create=True)]
    wait_all(
        [
            writer.create_async(f"/dur/acl/a{k}", b"acl", acl=owner_acl if k % 2 else ip_acl)
            for k in range(200)
        ]
    )
    wait_all([writer.set_async(f"/dur/d{i}/n{j}", b"v2") for i in range(0, 40, 3) for j in range(0, 50, 4)])
    wait_all([writer.set_acls_async(f"/dur/d{i}/n0", ip_acl) for i in range(0, 40, 5)])
    wait_all([writer.delete_async(f"/dur/d{i}/n49") for i in range(0, 40, 2)])
    raw = clients.raw(server)
    assert raw.create("/dur/null", data=None)[0] == jute.OK
    assert raw.create("/dur/container", opcode=jute.OP_CREATE_CONTAINER, flags=jute.CONTAINER)[0] == jute.OK
    assert raw.create("/dur/container/keep")[0] == jute.OK
    err, _, _ = raw.create("/dur/ttl", b"t", flags=jute.PERSISTENT_WITH_TTL, opcode=jute.OP_CREATE_TTL, ttl=3_600_000)
    assert err == jute.OK
    live.create("/dur/live")
    ephemerals = [live.create(f"/dur/live/e{k}", b"eph", ephemeral=True) for k in range(20)]
    ephemerals += [live.create("/dur/live/es-", ephemeral=True, sequence=True) for _ in range(5)]
    session_id = live.client_id[0]

    before = read_tree(reader)
    assert len(before) > 2500
    last_zxid = max(max(stat.czxid, stat.mzxid, stat.pzxid) for _, stat, _ in before.values())

    server.kill()
    server.start()

    wait_until(
        lambda: live.state == KazooState.CONNECTED and live.connected, timeout=20, message="kazoo reconnect"
    )
    assert live.client_id[0] == session_id  # the same session, not a new one
    for path in ephemerals:
        assert live.exists(path).ephemeralOwner == session_id

    wait_until(lambda: reader.connected, timeout=20, message="reader reconnect")
    after = read_tree(reader)
    assert sorted(after) == sorted(before)
    differences = [path for path in before if before[path] != after[path]]
    assert differences == [], f"{len(differences)} znodes differ, e.g. {differences[:3]}"
    assert after["/dur/null"][0] is None  # null data stays null, not empty

    # Counters and zxids carry on from where they were.
    wait_until(lambda: writer.connected, timeout=20, message="writer reconnect")
    assert writer.create("/dur/seq/s-", sequence=True) == "/dur/seq/s-0000000300"
    assert writer.exists("/dur/seq/s-0000000300").czxid > last_zxid
    node_count = int(
        next(line for line in server.flw("srvr").splitlines() if line.startswith("Node count:")).split(":")[1]
    )
    assert node_count == len(after) + 2  # the new node, and the root counted twice


def test_clean_restart_keeps_data_and_sessions(make_server, clients):
    server = make_server()
    live = clients.kazoo(server)
    live.create("/clean", b"1")
    live.create("/clean/e", ephemeral=True)
    session_id = live.client_id[0]
    assert server.stop() is not None
    server.start()
    wait_until(lambda: live.connected, timeout=20, message="kazoo reconnect")
    assert live.client_id[0] == session_id
    assert live.get("/clean")[0] == b"1"
    assert live.exists("/clean/e").ephemeralOwner == session_id
    # mntr's startup summaries (ZooKeeper's startup_*): one load, which replayed the session's
    # creation and both creates from the log (no snapshot was taken).
    mntr = dict(line.split("\t", 1) for line in server.flw("mntr").splitlines())
    assert mntr["zk_cnt_startup_txns_loaded"] == mntr["zk_cnt_startup_snap_load_time"] == "1"
    assert int(mntr["zk_sum_startup_txns_loaded"]) >= 3
    assert int(mntr["zk_max_startup_txns_load_time"]) >= 0
