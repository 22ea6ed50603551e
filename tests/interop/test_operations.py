"""Every kazoo operation against the server, with exact results (client-protocol.md §7, §9)."""

import pytest
from kazoo.exceptions import (
    BadVersionError,
    NoNodeError,
    NotEmptyError,
    NodeExistsError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.security import OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, make_acl

import jute


def test_create_persistent_and_get(zk, base):
    path = zk.create(f"{base}/a", b"hello")
    assert path == f"{base}/a"
    data, stat = zk.get(path)
    assert data == b"hello"
    assert stat.version == 0
    assert stat.cversion == 0
    assert stat.aversion == 0
    assert stat.dataLength == 5
    assert stat.numChildren == 0
    assert stat.ephemeralOwner == 0
    assert stat.czxid == stat.mzxid == stat.pzxid
    assert stat.ctime == stat.mtime
    assert zk.exists(path) == stat


def test_create_ephemeral_belongs_to_session(zk, clients, base):
    path = zk.create(f"{base}/e", b"x", ephemeral=True)
    assert path == f"{base}/e"
    session_id = zk.client_id[0]
    other = clients.kazoo()
    stat = other.exists(path)
    assert stat.ephemeralOwner == session_id
    assert stat.ephemeralOwner != 0


def test_sequential_suffix_comes_from_parent_counter(zk, base):
    first = zk.create(f"{base}/s-", sequence=True)
    second = zk.create(f"{base}/s-", sequence=True)
    assert first == f"{base}/s-0000000000"
    assert second == f"{base}/s-0000000001"
    zk.create(f"{base}/plain")  # a plain create moves the counter too
    zk.delete(first)  # deletes do not move it back
    third = zk.create(f"{base}/other-", sequence=True)
    assert third == f"{base}/other-0000000003"
    assert sorted(zk.get_children(base)) == ["other-0000000003", "plain", "s-0000000001"]


def test_sequential_with_trailing_slash_uses_bare_counter(clients, zk, base):
    raw = clients.raw()
    err, path, _ = raw.create(f"{base}/", flags=jute.PERSISTENT_SEQUENTIAL)
    assert (err, path) == (jute.OK, f"{base}/0000000000")
    assert zk.get_children(base) == ["0000000000"]


def test_failed_create_does_not_move_the_sequence_counter(zk, base):
    zk.create(f"{base}/dup")
    with pytest.raises(NodeExistsError):
        zk.create(f"{base}/dup")
    assert zk.create(f"{base}/q", sequence=True) == f"{base}/q0000000001"


def test_ephemeral_sequential(zk, base):
    path = zk.create(f"{base}/es-", b"v", ephemeral=True, sequence=True)
    assert path == f"{base}/es-0000000000"
    assert zk.exists(path).ephemeralOwner == zk.client_id[0]


def test_create_makepath_creates_empty_parents(zk, base):
    path = zk.create(f"{base}/x/y/z", b"leaf", makepath=True)
    assert path == f"{base}/x/y/z"
    assert zk.get(f"{base}/x")[0] == b""
    assert zk.get(f"{base}/x/y")[1].numChildren == 1
    assert zk.get(path)[0] == b"leaf"


def test_create_include_data_returns_create2_stat(zk, base):
    path, stat = zk.create(f"{base}/c2", b"abc", include_data=True)
    assert path == f"{base}/c2"
    assert stat.czxid == stat.mzxid == stat.pzxid
    assert stat.version == 0 and stat.cversion == 0 and stat.aversion == 0
    assert stat.dataLength == 3 and stat.numChildren == 0 and stat.ephemeralOwner == 0
    assert zk.exists(path) == stat


def test_create2_sequential_ephemeral_include_data(zk, base):
    path, stat = zk.create(f"{base}/n", ephemeral=True, sequence=True, include_data=True)
    assert path == f"{base}/n0000000000"
    assert stat.ephemeralOwner == zk.client_id[0]


def test_delete_versions_and_errors(zk, base):
    path = zk.create(f"{base}/d", b"1")
    zk.set(path, b"2")
    with pytest.raises(BadVersionError):
        zk.delete(path, version=0)
    zk.delete(path, version=1)
    assert zk.exists(path) is None
    with pytest.raises(NoNodeError):
        zk.delete(path)
    zk.create(f"{base}/full/child", makepath=True)
    with pytest.raises(NotEmptyError):
        zk.delete(f"{base}/full")
    assert zk.exists(f"{base}/full/child") is not None


def test_exists_get_and_set(zk, base):
    path = f"{base}/v"
    assert zk.exists(path) is None
    with pytest.raises(NoNodeError):
        zk.get(path)
    with pytest.raises(NoNodeError):
        zk.set(path, b"x")
    created = zk.create(path, b"a", include_data=True)[1]
    stat = zk.set(path, b"bb")
    assert stat.version == 1
    assert stat.dataLength == 2
    assert stat.mzxid > stat.czxid == created.czxid
    assert stat.ctime == created.ctime and stat.mtime >= created.mtime
    with pytest.raises(BadVersionError):
        zk.set(path, b"ccc", version=0)
    stat = zk.set(path, b"ccc", version=1)
    assert stat.version == 2
    assert zk.get(path) == (b"ccc", stat)
    stat = zk.set(path, b"")
    assert zk.get(path)[0] == b""
    assert stat.dataLength == 0 and stat.version == 3


def test_get_children_with_and_without_stat(zk, base):
    for name in ["b", "a", "c"]:
        zk.create(f"{base}/{name}")
    assert sorted(zk.get_children(base)) == ["a", "b", "c"]
    children, stat = zk.get_children(base, include_data=True)
    assert sorted(children) == ["a", "b", "c"]
    assert stat.numChildren == 3
    assert stat.cversion == 3
    assert stat == zk.exists(base)
    assert zk.get_children(f"{base}/a") == []
    with pytest.raises(NoNodeError):
        zk.get_children(f"{base}/missing")


def test_get_and_set_acls(zk, base):
    path = zk.create(f"{base}/acl")
    acls, stat = zk.get_acls(path)
    assert acls == OPEN_ACL_UNSAFE
    assert stat.aversion == 0
    mixed = [make_acl("world", "anyone", read=True, write=True), make_acl("ip", "127.0.0.1", all=True)]
    stat = zk.set_acls(path, mixed)
    assert stat.aversion == 1
    assert stat.version == 0
    acls, stat2 = zk.get_acls(path)
    assert acls == mixed
    assert stat2 == stat
    with pytest.raises(BadVersionError):
        zk.set_acls(path, READ_ACL_UNSAFE, version=0)
    assert zk.set_acls(path, READ_ACL_UNSAFE, version=1).aversion == 2
    assert zk.get_acls(path)[0] == READ_ACL_UNSAFE
    with pytest.raises(NoNodeError):
        zk.get_acls(f"{base}/missing")


def test_sync_echoes_the_path(zk, base):
    assert zk.sync(base) == base
    assert zk.sync(f"{base}/not/there") == f"{base}/not/there"


def test_transaction_success(zk, base):
    zk.create(f"{base}/old", b"o")
    zk.create(f"{base}/gone")
    tx = zk.transaction()
    tx.create(f"{base}/new", b"n")
    tx.create(f"{base}/new/child")
    tx.set_data(f"{base}/old", b"o2")
    tx.check(f"{base}/old", 1)
    tx.delete(f"{base}/gone")
    results = tx.commit()
    assert results[0] == f"{base}/new"
    assert results[1] == f"{base}/new/child"
    assert results[2].version == 1 and results[2].dataLength == 2
    assert results[3:] == [True, True]
    new_stat = zk.exists(f"{base}/new")
    child_stat = zk.exists(f"{base}/new/child")
    # One transaction, one zxid.
    assert new_stat.czxid == child_stat.czxid == results[2].mzxid
    assert zk.exists(f"{base}/gone") is None
    assert zk.get(f"{base}/old")[0] == b"o2"


def test_transaction_failure_rolls_back(zk, base):
    zk.create(f"{base}/m", b"m")
    tx = zk.transaction()
    tx.create(f"{base}/m2")
    tx.delete(f"{base}/nothere")
    tx.set_data(f"{base}/m", b"changed")
    results = tx.commit()
    assert [type(r) for r in results] == [RolledBackError, NoNodeError, RuntimeInconsistency]
    assert zk.exists(f"{base}/m2") is None
    data, stat = zk.get(f"{base}/m")
    assert (data, stat.version) == (b"m", 0)


def test_transaction_check_version_failure(zk, base):
    zk.create(f"{base}/c", b"1")
    tx = zk.transaction()
    tx.check(f"{base}/c", 5)
    tx.create(f"{base}/never")
    results = tx.commit()
    assert [type(r) for r in results] == [BadVersionError, RuntimeInconsistency]
    assert zk.exists(f"{base}/never") is None


def test_transaction_sees_its_own_earlier_ops(zk, base):
    zk.create(f"{base}/p")
    tx = zk.transaction()
    tx.delete(f"{base}/p")
    tx.create(f"{base}/p", b"again")
    tx.create(f"{base}/p/s-", sequence=True)
    tx.create(f"{base}/p/s-", sequence=True)
    results = tx.commit()
    assert results == [True, f"{base}/p", f"{base}/p/s-0000000000", f"{base}/p/s-0000000001"]
    assert zk.get(f"{base}/p")[0] == b"again"


def test_ensure_path(zk, base):
    assert zk.ensure_path(f"{base}/e1/e2/e3") == f"{base}/e1/e2/e3"
    assert zk.exists(f"{base}/e1/e2/e3") is not None
    assert zk.ensure_path(f"{base}/e1/e2/e3") is True
    assert zk.get_children(f"{base}/e1") == ["e2"]


def test_delete_recursive(zk, base):
    for path in ["r/a/b", "r/a/c", "r/d"]:
        zk.create(f"{base}/{path}", b"x", makepath=True)
    zk.delete(f"{base}/r", recursive=True)
    assert zk.exists(f"{base}/r") is None
    assert zk.get_children(base) == []


def test_null_data_is_kept_as_null(clients, base):
    raw = clients.raw()
    err, _, _ = raw.create(f"{base}/null", data=None)
    assert err == jute.OK
    err, data, stat = raw.get_data(f"{base}/null")
    assert (err, data, stat.data_length) == (jute.OK, None, 0)
    err, stat = raw.set_data(f"{base}/null", b"")
    assert err == jute.OK
    assert raw.get_data(f"{base}/null")[1] == b""


def test_large_value_round_trips(zk, base):
    value = bytes(range(256)) * 4000  # 1 024 000 bytes, under jute.maxbuffer
    path = zk.create(f"{base}/big", value)
    data, stat = zk.get(path)
    assert data == value
    assert stat.dataLength == len(value)


def test_get_ephemerals_all_children_number_and_who_am_i(clients, base):
    raw = clients.raw()
    raw.create(f"{base}/p")
    raw.create(f"{base}/p/q")
    raw.create(f"{base}/p/q/r")
    raw.create(f"{base}/e1", flags=jute.EPHEMERAL)
    raw.create(f"{base}/p/e2", flags=jute.EPHEMERAL)
    assert raw.get_all_children_number(f"{base}/p") == (jute.OK, 3)
    assert raw.get_all_children_number(f"{base}/nothere")[0] == jute.NO_NODE
    assert raw.get_ephemerals("/") == (jute.OK, [f"{base}/e1", f"{base}/p/e2"])
    assert raw.get_ephemerals(f"{base}/p") == (jute.OK, [f"{base}/p/e2"])
    assert raw.who_am_i() == [("ip", "127.0.0.1")]
    assert raw.add_auth("digest", b"user:password") == jute.OK
    assert raw.who_am_i() == [("digest", "user"), ("ip", "127.0.0.1")]


def test_multi_read(clients, base):
    raw = clients.raw()
    raw.create(f"{base}/m", b"data")
    ops = [
        (jute.OP_GET_DATA, jute.encode_string(f"{base}/m") + jute.encode_bool(False)),
        (jute.OP_GET_CHILDREN, jute.encode_string(f"{base}/nothere") + jute.encode_bool(False)),
        (jute.OP_GET_CHILDREN, jute.encode_string(f"{base}/m") + jute.encode_bool(False)),
    ]
    reply = raw.call(jute.OP_MULTI_READ, jute.multi_body(ops))
    assert reply.err == jute.OK
    results = jute.parse_multi_response(reply.body)
    assert results[0][0:2] == (jute.OP_GET_DATA, 0)
    assert results[0][2][0] == b"data"
    assert results[1][0:2] == (-1, jute.NO_NODE)
    assert results[2] == (jute.OP_GET_CHILDREN, 0, [])


def test_large_multi(zk, clients, base):
    raw = clients.raw()
    ops = [(jute.OP_CREATE, jute.create_body(f"{base}/n{k}", b"v")) for k in range(1000)]
    ops += [(jute.OP_SET_DATA, jute.encode_string(f"{base}/n{k}") + jute.encode_buffer(b"w") + jute.encode_int(0)) for k in range(0, 1000, 2)]
    err, results = raw.multi(ops)
    assert err == jute.OK
    assert len(results) == 1500
    assert all(op_err == 0 for _, op_err, _ in results)
    stat = zk.exists(base)
    assert (stat.numChildren, stat.cversion) == (1000, 1000)
    assert zk.get(f"{base}/n998") == (b"w", zk.exists(f"{base}/n998"))
    assert zk.exists(f"{base}/n998").mzxid == zk.exists(f"{base}/n0").czxid
