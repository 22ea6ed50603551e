"""Container and TTL nodes through raw frames (kazoo 2.11 cannot create them); client-protocol.md §7.2,
§8.5. The suite's servers run the reaper every 100 ms (znode.container.checkIntervalMs)."""

import queue

from kazoo.protocol.states import EventType

import jute
from zkserver import wait_until


def test_container_create_answers_create2_and_hides_the_marker(clients, base):
    raw = clients.raw()
    err, (path, stat), zxid = raw.create(f"{base}/c", b"d", opcode=jute.OP_CREATE_CONTAINER, flags=jute.CONTAINER)
    assert (err, path) == (jute.OK, f"{base}/c")
    assert stat.ephemeral_owner == 0
    assert (stat.czxid, stat.mzxid, stat.pzxid, stat.version, stat.data_length) == (zxid, zxid, zxid, 0, 1)
    assert raw.exists(path)[1] == stat


def test_container_is_reaped_after_its_last_child_goes(zk, clients, base):
    raw = clients.raw()
    container = f"{base}/c"
    raw.create(container, opcode=jute.OP_CREATE_CONTAINER, flags=jute.CONTAINER)
    raw.create(f"{container}/child")
    raw.create(f"{container}/eph", flags=jute.EPHEMERAL)  # ephemeral children are fine
    events = queue.Queue()
    zk.exists(container, watch=events.put)
    raw.delete(f"{container}/child")
    raw.delete(f"{container}/eph")
    event = events.get(timeout=5)
    assert (event.type, event.path) == (EventType.DELETED, container)
    assert zk.exists(container) is None


def test_container_that_never_had_a_child_stays(zk, clients, base):
    raw = clients.raw()
    raw.create(f"{base}/empty", opcode=jute.OP_CREATE_CONTAINER, flags=jute.CONTAINER)
    raw.create(f"{base}/used", opcode=jute.OP_CREATE_CONTAINER, flags=jute.CONTAINER)
    raw.create(f"{base}/used/x")
    raw.delete(f"{base}/used/x")
    wait_until(lambda: zk.exists(f"{base}/used") is None, timeout=5, message="reaping")
    assert zk.exists(f"{base}/empty") is not None


def test_container_opcode_makes_a_container_whatever_the_flags(zk, clients, base):
    raw = clients.raw()
    raw.create(f"{base}/c0", opcode=jute.OP_CREATE_CONTAINER, flags=jute.PERSISTENT)
    raw.create(f"{base}/c0/x")
    raw.delete(f"{base}/c0/x")
    wait_until(lambda: zk.exists(f"{base}/c0") is None, timeout=5, message="reaping")


def test_ttl_node_expires_when_untouched_and_childless(zk, clients, base):
    raw = clients.raw()
    err, (path, stat), _ = raw.create(
        f"{base}/ttl", b"t", flags=jute.PERSISTENT_WITH_TTL, opcode=jute.OP_CREATE_TTL, ttl=300
    )
    assert (err, path, stat.ephemeral_owner) == (jute.OK, f"{base}/ttl", 0)
    wait_until(lambda: zk.exists(path) is None, timeout=5, message="TTL expiry")


def test_ttl_node_with_a_child_survives_until_the_child_goes(zk, clients, base):
    raw = clients.raw()
    path = f"{base}/ttl"
    raw.create(path, flags=jute.PERSISTENT_WITH_TTL, opcode=jute.OP_CREATE_TTL, ttl=200)
    raw.create(f"{path}/child")
    assert raw.no_event_within(0.8)  # several reaper rounds, well past the TTL
    assert zk.exists(path) is not None
    raw.delete(f"{path}/child")
    wait_until(lambda: zk.exists(path) is None, timeout=5, message="TTL expiry")


def test_sequential_ttl(clients, base):
    raw = clients.raw()
    err, (path, _), _ = raw.create(
        f"{base}/s-", flags=jute.PERSISTENT_SEQUENTIAL_WITH_TTL, opcode=jute.OP_CREATE_TTL, ttl=60_000
    )
    assert (err, path) == (jute.OK, f"{base}/s-0000000000")


def test_ttl_argument_checks(clients, base):
    raw = clients.raw()
    ttl_op = dict(opcode=jute.OP_CREATE_TTL)
    assert raw.create(f"{base}/a", flags=jute.PERSISTENT_WITH_TTL, ttl=0, **ttl_op)[0] == jute.BAD_ARGUMENTS
    assert raw.create(f"{base}/a", flags=jute.PERSISTENT_WITH_TTL, ttl=-5, **ttl_op)[0] == jute.BAD_ARGUMENTS
    assert raw.create(f"{base}/a", flags=jute.PERSISTENT_WITH_TTL, ttl=1 << 40, **ttl_op)[0] == jute.BAD_ARGUMENTS
    assert raw.create(f"{base}/a", flags=jute.PERSISTENT, ttl=1000, **ttl_op)[0] == jute.BAD_ARGUMENTS
    assert raw.create(f"{base}/a", flags=jute.PERSISTENT_WITH_TTL, ttl=(1 << 40) - 1, **ttl_op)[0] == jute.OK


def test_ttl_needs_extended_types(make_server, clients):
    server = make_server(extendedTypesEnabled="false")
    raw = clients.raw(server)
    err, _, _ = raw.create("/t", flags=jute.PERSISTENT_WITH_TTL, opcode=jute.OP_CREATE_TTL, ttl=1000)
    assert err == jute.UNIMPLEMENTED
    assert raw.create("/t", flags=jute.PERSISTENT_WITH_TTL)[0] == jute.UNIMPLEMENTED
    assert raw.create("/t")[0] == jute.OK  # the connection is still fine


def test_ephemeral_child_of_container_and_ttl_parent(clients, base):
    raw = clients.raw()
    raw.create(f"{base}/c", opcode=jute.OP_CREATE_CONTAINER, flags=jute.CONTAINER)
    raw.create(f"{base}/t", flags=jute.PERSISTENT_WITH_TTL, opcode=jute.OP_CREATE_TTL, ttl=60_000)
    assert raw.create(f"{base}/c/e", flags=jute.EPHEMERAL)[0] == jute.OK
    assert raw.create(f"{base}/t/e", flags=jute.EPHEMERAL)[0] == jute.OK
    assert raw.get_ephemerals(base) == (jute.OK, [f"{base}/c/e", f"{base}/t/e"])
