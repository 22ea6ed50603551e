"""Stat fields and zxid accounting, exactly (client-protocol.md §8, §16)."""

import time

from kazoo.security import READ_ACL_UNSAFE

import jute


def test_builtin_nodes_on_a_fresh_server(make_server, clients):
    server = make_server()
    raw = clients.raw(server)
    err, data, root = raw.get_data("/")
    assert (err, data) == (jute.OK, b"")
    assert (root.cversion, root.num_children, root.version, root.aversion) == (-1, 1, 0, 0)
    assert (root.czxid, root.mzxid, root.pzxid, root.ephemeral_owner) == (0, 0, 0, 0)

    err, zookeeper = raw.exists("/zookeeper")
    assert (zookeeper.cversion, zookeeper.num_children, zookeeper.aversion) == (-2, 2, 0)
    assert raw.get_children("/zookeeper") == (jute.OK, ["config", "quota"])
    assert raw.get_children("/") == (jute.OK, ["zookeeper"])

    err, config = raw.exists("/zookeeper/config")
    assert (config.aversion, config.cversion, config.version, config.num_children) == (-1, 0, 0, 0)
    assert raw.get_acl("/zookeeper/config")[1] == [jute.Acl(1, "world", "anyone")]
    assert raw.get_acl("/zookeeper/quota")[1] == jute.OPEN_ACL_UNSAFE
    assert raw.get_acl("/")[1] == jute.OPEN_ACL_UNSAFE
    assert raw.get_data("/zookeeper/config")[1] == b""
    # READ-only: nobody may write it.
    assert raw.set_data("/zookeeper/config", b"x")[0] == jute.NO_AUTH
    # The lookup key "" is an alias of "/".
    assert raw.get_data("")[2] == root
    assert raw.get_all_children_number("/") == (jute.OK, 3)


def test_zxid_moves_by_one_per_write_failed_writes_included(clients, base):
    raw = clients.raw()
    err, _, z1 = raw.create(f"{base}/a")
    assert err == jute.OK
    err, _, z2 = raw.create(f"{base}/a")
    assert (err, z2) == (jute.NODE_EXISTS, z1 + 1)
    err, _, z3 = raw.create(f"{base}/b", b"1")
    assert (err, z3) == (jute.OK, z1 + 2)
    assert raw.exists(f"{base}/b")[1].czxid == z1 + 2

    reply = raw.call(jute.OP_SET_DATA, jute.encode_string(f"{base}/b") + jute.encode_buffer(b"2") + jute.encode_int(-1))
    assert (reply.err, reply.zxid) == (jute.OK, z1 + 3)
    assert reply.body.stat().mzxid == z1 + 3
    reply = raw.call(jute.OP_SET_DATA, jute.encode_string(f"{base}/b") + jute.encode_buffer(b"3") + jute.encode_int(7))
    assert (reply.err, reply.zxid) == (jute.BAD_VERSION, z1 + 4)
    reply = raw.call(jute.OP_DELETE, jute.encode_string(f"{base}/nothere") + jute.encode_int(-1))
    assert (reply.err, reply.zxid) == (jute.NO_NODE, z1 + 5)
    reply = raw.call(jute.OP_SET_ACL, jute.encode_string(f"{base}/b") + jute.encode_acls(jute.OPEN_ACL_UNSAFE) + jute.encode_int(-1))
    assert (reply.err, reply.zxid) == (jute.OK, z1 + 6)
    # A failed multi takes one zxid as well; a successful one takes one for all its ops.
    err, _ = raw.multi([(jute.OP_DELETE, jute.encode_string(f"{base}/nothere") + jute.encode_int(-1))])
    assert raw.last_zxid == z1 + 7
    raw.multi([(jute.OP_CREATE, jute.create_body(f"{base}/m1")), (jute.OP_CREATE, jute.create_body(f"{base}/m2"))])
    assert raw.last_zxid == z1 + 8
    assert raw.exists(f"{base}/m1")[1].czxid == raw.exists(f"{base}/m2")[1].czxid == z1 + 8

    # Reads, sync and ping take none; their replies carry the current zxid.
    for reply in [
        raw.call(jute.OP_EXISTS, jute.encode_string(base) + jute.encode_bool(False)),
        raw.call(jute.OP_GET_DATA, jute.encode_string(f"{base}/nothere") + jute.encode_bool(False)),
        raw.call(jute.OP_SYNC, jute.encode_string(base)),
        raw.ping(),
    ]:
        assert reply.zxid == z1 + 8
    # A body that cannot be parsed is refused, the connection stays usable. (Whether that refusal
    # takes a zxid differs between 3.8 and 3.9, so only the next write's zxid is checked.)
    reply = raw.call(jute.OP_CREATE, b"\x00\x00")
    assert reply.err == jute.MARSHALLING_ERROR
    assert raw.create(f"{base}/c")[2] == reply.zxid + 1


def test_cversion_is_twice_creates_minus_children(zk, base):
    for name in ["a", "b", "c"]:
        zk.create(f"{base}/{name}")
    zk.delete(f"{base}/b")
    stat = zk.exists(base)
    assert (stat.cversion, stat.numChildren) == (4, 2)
    assert stat.pzxid == zk.exists(f"{base}/c").czxid + 1  # the delete was the next write
    assert stat.version == 0 and stat.mzxid == stat.czxid
    zk.create(f"{base}/d")
    zk.delete(f"{base}/a")
    zk.delete(f"{base}/c")
    stat = zk.exists(base)
    assert (stat.cversion, stat.numChildren) == (7, 1)
    # The create counter still feeds sequential suffixes.
    assert zk.create(f"{base}/s", sequence=True) == f"{base}/s0000000004"


def test_set_acl_moves_aversion_only(zk, base):
    path = zk.create(f"{base}/n", b"d")
    before = zk.exists(path)
    after = zk.set_acls(path, READ_ACL_UNSAFE)
    assert after.aversion == before.aversion + 1
    assert (after.version, after.mzxid, after.mtime, after.pzxid) == (
        before.version,
        before.mzxid,
        before.mtime,
        before.pzxid,
    )


def test_times_and_lengths(zk, base):
    start_ms = int(time.time() * 1000)
    path, created = zk.create(f"{base}/t", b"12345", include_data=True)
    assert start_ms - 5000 <= created.ctime <= int(time.time() * 1000) + 5000
    assert created.mtime == created.ctime
    time.sleep(0.02)
    changed = zk.set(path, b"1234567")
    assert changed.ctime == created.ctime
    assert changed.mtime > created.mtime
    assert changed.dataLength == 7
    assert changed.pzxid == created.pzxid


def test_child_changes_move_parent_pzxid_not_mzxid(zk, base):
    parent = zk.exists(base)
    _, child = zk.create(f"{base}/c", include_data=True)
    after_create = zk.exists(base)
    assert after_create.pzxid == child.czxid
    assert after_create.mzxid == parent.mzxid
    zk.delete(f"{base}/c")
    after_delete = zk.exists(base)
    assert after_delete.pzxid > child.czxid
    assert after_delete.mzxid == parent.mzxid
    assert after_delete.cversion == 2


def test_ephemeral_removal_sets_parent_pzxid_to_close_zxid(clients, zk, base):
    raw = clients.raw()
    raw.create(f"{base}/e", flags=jute.EPHEMERAL)
    assert raw.close_session() == jute.OK
    close_zxid = raw.last_zxid
    stat = zk.exists(base)
    assert zk.exists(f"{base}/e") is None
    assert stat.pzxid == close_zxid
    assert stat.cversion == 2


def test_srvr_zxid_matches_last_write(server, clients, base):
    raw = clients.raw()
    _, _, zxid = raw.create(f"{base}/z")
    lines = server.flw("srvr").splitlines()
    assert f"Zxid: {hex(zxid)}" in lines
