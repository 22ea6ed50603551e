"""Error codes and which check wins when several fail (client-protocol.md §7, §12.3)."""

import pytest
from kazoo.exceptions import (
    BadArgumentsError,
    BadVersionError,
    InvalidACLError,
    NoAuthError,
    NoChildrenForEphemeralsError,
    NoNodeError,
    NodeExistsError,
)
from kazoo.security import CREATOR_ALL_ACL, READ_ACL_UNSAFE, make_acl

import jute

WORLD_BOB = [jute.Acl(31, "world", "bob")]


def test_create_under_missing_parent_is_no_node(zk, base):
    with pytest.raises(NoNodeError):
        zk.create(f"{base}/missing/child")


def test_create_builtin_nodes_is_node_exists(clients):
    raw = clients.raw()
    for path in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"]:
        assert raw.create(path)[0] == jute.NODE_EXISTS, path


def test_create_zookeeper_through_kazoo(zk):
    with pytest.raises(NodeExistsError):
        zk.create("/zookeeper")


@pytest.mark.parametrize("path", ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"])
def test_delete_builtin_nodes_is_bad_arguments(clients, path):
    assert clients.raw().delete(path) == jute.BAD_ARGUMENTS


def test_delete_zookeeper_through_kazoo(zk):
    with pytest.raises(BadArgumentsError):
        zk.delete("/zookeeper")


def test_no_children_for_ephemerals(zk, base):
    zk.create(f"{base}/eph", ephemeral=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(f"{base}/eph/child")


def test_invalid_acl_world_bob(zk, base):
    with pytest.raises(InvalidACLError):
        zk.create(f"{base}/n", acl=[make_acl("world", "bob", all=True)])


def test_invalid_acl_auth_without_identity(zk, base):
    with pytest.raises(InvalidACLError):
        zk.create(f"{base}/n", acl=CREATOR_ALL_ACL)
    assert zk.exists(f"{base}/n") is None


@pytest.mark.parametrize(
    "acl",
    [
        [],
        [jute.Acl(31, "digest", "a:b:c")],
        [jute.Acl(31, "digest", "a:")],
        [jute.Acl(31, "ip", "not-an-address")],
        [jute.Acl(31, "nosuchscheme", "x")],
    ],
    ids=["empty", "digest-three-parts", "digest-empty-password", "bad-ip", "unknown-scheme"],
)
def test_invalid_acl_lists(clients, base, acl):
    raw = clients.raw()
    assert raw.create(f"{base}/n", acl=acl)[0] == jute.INVALID_ACL
    assert raw.set_acl(base, acl)[0] == jute.INVALID_ACL


def test_accepted_odd_acls(clients, base):
    raw = clients.raw()
    acl = [jute.Acl(31, "digest", ":b"), jute.Acl(0, "ip", "10.0.0.0/8"), jute.Acl(31, "world", "anyone")]
    assert raw.create(f"{base}/n", acl=acl)[0] == jute.OK
    assert raw.get_acl(f"{base}/n")[1] == acl


def test_no_auth_on_write_and_create(zk, base):
    path = zk.create(f"{base}/ro", b"r", acl=READ_ACL_UNSAFE)
    with pytest.raises(NoAuthError):
        zk.set(path, b"w")
    with pytest.raises(NoAuthError):
        zk.create(f"{path}/child")
    with pytest.raises(NoAuthError):
        zk.set_acls(path, READ_ACL_UNSAFE)
    assert zk.get(path)[0] == b"r"


def test_no_auth_on_delete_checks_parent(zk, base):
    parent = zk.create(f"{base}/p")
    zk.create(f"{parent}/c", acl=READ_ACL_UNSAFE)  # the child's own ACL does not matter
    zk.delete(f"{parent}/c")
    zk.create(f"{parent}/c2")
    zk.set_acls(parent, [make_acl("world", "anyone", read=True, create=True, admin=True)])
    with pytest.raises(NoAuthError):
        zk.delete(f"{parent}/c2")


def test_no_auth_on_read(zk, base):
    path = zk.create(f"{base}/secret", b"s", acl=[make_acl("world", "anyone", write=True)])
    with pytest.raises(NoAuthError):
        zk.get(path)
    with pytest.raises(NoAuthError):
        zk.get_children(path)
    with pytest.raises(NoAuthError):
        zk.get_acls(path)


class TestCreatePrecedence:
    """create: flags > TTL > path shape > ACL > parent > parent CREATE > final path > exists."""

    def test_bad_flags_before_everything(self, clients):
        raw = clients.raw()
        assert raw.create("/no/parent", flags=7, acl=WORLD_BOB)[0] == jute.BAD_ARGUMENTS

    def test_ttl_flag_on_plain_create_is_bad_arguments(self, clients, base):
        raw = clients.raw()
        assert raw.create(f"{base}/t", flags=jute.PERSISTENT_WITH_TTL)[0] == jute.BAD_ARGUMENTS

    def test_no_slash_is_bad_arguments(self, clients):
        assert clients.raw().create("noslash")[0] == jute.BAD_ARGUMENTS

    def test_invalid_acl_before_missing_parent(self, clients):
        assert clients.raw().create("/no/parent", acl=WORLD_BOB)[0] == jute.INVALID_ACL

    def test_missing_parent_before_bad_final_path(self, clients):
        raw = clients.raw()
        for path in ["/bad/", "/a//b", "/a/.."]:
            assert raw.create(path)[0] == jute.NO_NODE, path

    def test_bad_final_path_is_bad_arguments(self, clients, base):
        raw = clients.raw()
        for path in ["/.", f"{base}/x\u0001", f"{base}/.."]:
            assert raw.create(path)[0] == jute.BAD_ARGUMENTS, path

    def test_no_create_permission_before_node_exists(self, zk, clients, base):
        zk.create(f"{base}/locked/existing", makepath=True)
        zk.set_acls(f"{base}/locked", READ_ACL_UNSAFE)
        assert clients.raw().create(f"{base}/locked/existing")[0] == jute.NO_AUTH

    def test_node_exists_before_ephemeral_parent(self, clients, base):
        raw = clients.raw()
        assert raw.create(f"{base}/e", flags=jute.EPHEMERAL)[0] == jute.OK
        assert raw.create(f"{base}/e")[0] == jute.NODE_EXISTS
        assert raw.create(f"{base}/e/c")[0] == jute.NO_CHILDREN_FOR_EPHEMERALS

    def test_sequential_create_can_hit_node_exists(self, clients, base):
        raw = clients.raw()
        assert raw.create(f"{base}/a")[0] == jute.OK  # counter 0 -> 1
        assert raw.create(f"{base}/s0000000002")[0] == jute.OK  # counter 1 -> 2
        assert raw.create(f"{base}/s", flags=jute.PERSISTENT_SEQUENTIAL)[0] == jute.NODE_EXISTS
        # The failed create left the counter at 2.
        assert raw.create(f"{base}/t", flags=jute.PERSISTENT_SEQUENTIAL)[1] == f"{base}/t0000000002"


class TestDeletePrecedence:
    def test_trailing_slash_is_no_node(self, zk, clients, base):
        zk.create(f"{base}/a")
        assert clients.raw().delete(f"{base}/a/") == jute.NO_NODE

    def test_no_slash_is_bad_arguments(self, clients):
        assert clients.raw().delete("noslash") == jute.BAD_ARGUMENTS

    def test_bad_version_before_not_empty(self, zk, clients, base):
        zk.create(f"{base}/p/c", makepath=True)
        raw = clients.raw()
        assert raw.delete(f"{base}/p", version=3) == jute.BAD_VERSION
        assert raw.delete(f"{base}/p", version=0) == jute.NOT_EMPTY

    def test_parent_permission_before_missing_node(self, zk, clients, base):
        zk.create(f"{base}/p")
        zk.set_acls(f"{base}/p", READ_ACL_UNSAFE)
        assert clients.raw().delete(f"{base}/p/nothere") == jute.NO_AUTH


class TestSetPrecedence:
    def test_set_data_invalid_path_is_bad_arguments(self, clients):
        assert clients.raw().set_data("/a//b", b"x")[0] == jute.BAD_ARGUMENTS

    def test_set_data_no_auth_before_bad_version(self, zk, clients, base):
        zk.create(f"{base}/n", acl=READ_ACL_UNSAFE)
        assert clients.raw().set_data(f"{base}/n", b"x", version=9)[0] == jute.NO_AUTH

    def test_set_acl_invalid_acl_before_missing_node(self, clients, base):
        assert clients.raw().set_acl(f"{base}/nothere", WORLD_BOB)[0] == jute.INVALID_ACL

    def test_set_acl_no_auth_before_bad_version(self, zk, clients, base):
        zk.create(f"{base}/n", acl=READ_ACL_UNSAFE)
        assert clients.raw().set_acl(f"{base}/n", READ_ACL_UNSAFE, version=9)[0] == jute.NO_AUTH

    def test_set_acl_bad_version(self, zk, clients, base):
        zk.create(f"{base}/n")
        assert clients.raw().set_acl(f"{base}/n", READ_ACL_UNSAFE, version=9)[0] == jute.BAD_VERSION
        with pytest.raises(BadVersionError):
            zk.set_acls(f"{base}/n", READ_ACL_UNSAFE, version=9)


def test_exists_with_nul_in_path_is_bad_arguments(clients):
    assert clients.raw().exists("/a\u0000b")[0] == jute.BAD_ARGUMENTS


def test_reads_of_odd_paths_are_no_node(clients):
    raw = clients.raw()
    assert raw.get_data("/a//b")[0] == jute.NO_NODE
    assert raw.exists("/nothere/")[0] == jute.NO_NODE
    assert raw.get_children("/zookeeper/nothere")[0] == jute.NO_NODE


def test_top_level_check_is_unimplemented_then_close(clients, base):
    raw = clients.raw()
    reply = raw.call(jute.OP_CHECK, jute.encode_string(base) + jute.encode_int(-1))
    assert reply.err == jute.UNIMPLEMENTED
    assert raw.wait_closed()


def test_multi_mixing_reads_and_writes_is_marshalling_error(clients, base):
    raw = clients.raw()
    ops = [
        (jute.OP_CREATE, jute.create_body(f"{base}/m")),
        (jute.OP_GET_DATA, jute.encode_string(base) + jute.encode_bool(False)),
    ]
    assert raw.multi(ops)[0] == jute.MARSHALLING_ERROR
    assert raw.exists(f"{base}/m")[0] == jute.NO_NODE


def test_empty_multi_returns_only_the_terminator(clients):
    assert clients.raw().multi([]) == (jute.OK, [])


def test_failed_multi_reply_layout(zk, clients, base):
    zk.create(f"{base}/m")
    ops = [
        (jute.OP_CREATE, jute.create_body(f"{base}/m2")),
        (jute.OP_DELETE, jute.encode_string(f"{base}/nothere") + jute.encode_int(-1)),
        (jute.OP_SET_DATA, jute.encode_string(f"{base}/m") + jute.encode_buffer(b"x") + jute.encode_int(-1)),
    ]
    err, results = clients.raw().multi(ops)
    assert err == jute.OK
    assert results == [(-1, 0, None), (-1, jute.NO_NODE, None), (-1, jute.RUNTIME_INCONSISTENCY, None)]


def test_create2_in_multi_returns_stat(clients, base):
    """3.9+ (ZOOKEEPER-4026): a create2 op inside multi answers with type 15 and a Stat."""
    raw = clients.raw()
    err, results = raw.multi([(jute.OP_CREATE2, jute.create_body(f"{base}/c", b"abc"))])
    assert err == jute.OK
    op_type, op_err, (path, stat) = results[0]
    assert (op_type, op_err, path) == (jute.OP_CREATE2, 0, f"{base}/c")
    assert stat.data_length == 3 and stat.version == 0 and stat.czxid == stat.pzxid


def test_exists_needs_read_on_an_existing_node(zk, clients, base):
    """3.8.4+/3.9.2+ (ZOOKEEPER-2590)."""
    zk.create(f"{base}/n", acl=[make_acl("world", "anyone", write=True)])
    raw = clients.raw()
    assert raw.exists(f"{base}/n", watch=True)[0] == jute.NO_AUTH
    assert raw.check_watches(f"{base}/n", jute.WATCHER_DATA) == jute.NO_WATCHER  # no watch set
    assert raw.exists(f"{base}/n/missing")[0] == jute.NO_NODE


def test_reconfig_is_disabled(clients):
    raw = clients.raw()
    body = jute.encode_string("server.2=127.0.0.1:1:2;3") + jute.encode_string(None)
    body += jute.encode_string(None) + jute.encode_long(-1)
    reply = raw.call(16, body)
    assert reply.err == -123  # ReconfigDisabled
    assert raw.exists("/")[0] == jute.OK
