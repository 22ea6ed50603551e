"""Sessions: negotiation, close, expiry, resume (client-protocol.md §4, §7.16, §10).

The module's server uses tickTime 200, so timeouts are clamped to [400, 4000] ms and expiry is quick.
"""

import queue
import time

import pytest
from kazoo.protocol.states import EventType, KazooState

import jute
from conftest import ServerFactory
from zkserver import wait_until

TICK = 200


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    factory = ServerFactory(tmp_path_factory, "session-server")
    try:
        yield factory(tickTime=str(TICK))
    finally:
        factory.stop_all()


@pytest.mark.parametrize(
    "requested, negotiated",
    [(1, 2 * TICK), (100, 2 * TICK), (1000, 1000), (3999, 3999), (4001, 20 * TICK), (100000, 20 * TICK)],
)
def test_timeout_negotiation_clamps_to_2_and_20_ticks(clients, requested, negotiated):
    raw = clients.raw(connect=False)
    assert raw.connect(timeout_ms=requested)[0] == negotiated


def test_conf_reports_the_bounds(server):
    conf = dict(line.split("=", 1) for line in server.flw("conf").splitlines() if "=" in line)
    assert (conf["minSessionTimeout"], conf["maxSessionTimeout"]) == (str(2 * TICK), str(20 * TICK))


def test_session_ids_and_passwords(clients):
    first, second = clients.raw(), clients.raw()
    assert first.session_id != second.session_id
    assert 0 not in (first.session_id, second.session_id)
    assert (first.session_id >> 56) & 0xFF != 0xFF  # would look like a TTL owner
    assert len(first.passwd) == 16 and len(second.passwd) == 16


def test_handshake_without_read_only_byte_gets_40_byte_answer(server):
    raw = jute.RawClient(server.port)
    try:
        body = jute.encode_int(0) + jute.encode_long(0) + jute.encode_int(4000) + jute.encode_long(0)
        raw.send_frame(body + jute.encode_buffer(bytes(16)))
        response = raw.recv_frame()
        assert len(response) == 36
        reader = jute.Reader(response)
        assert (reader.int(), reader.int()) == (0, 4000)
        assert reader.long() != 0
        assert len(reader.buffer()) == 16
    finally:
        raw.close()


def test_read_only_client_gets_read_only_zero(clients):
    raw = clients.raw(connect=False)
    raw.send_frame(
        jute.encode_int(0) + jute.encode_long(0) + jute.encode_int(4000) + jute.encode_long(0)
        + jute.encode_buffer(bytes(16)) + jute.encode_bool(True)
    )
    response = raw.recv_frame()
    assert len(response) == 37
    assert response[-1:] == b"\x00"


def test_ephemerals_vanish_on_close_and_watchers_hear_it(clients):
    owner = clients.kazoo()
    watcher = clients.kazoo()
    owner.ensure_path("/close")
    e1 = owner.create("/close/e", ephemeral=True)
    e2 = owner.create("/close/s-", ephemeral=True, sequence=True)
    events = queue.Queue()
    watcher.exists(e1, watch=events.put)
    watcher.get_children("/close", watch=events.put)
    owner.stop()
    got = {(ev.type, ev.path) for ev in (events.get(timeout=5), events.get(timeout=5))}
    assert got == {(EventType.DELETED, e1), (EventType.CHILD, "/close")}
    assert watcher.exists(e1) is None and watcher.exists(e2) is None
    assert watcher.get_children("/close") == []


def test_close_session_replies_then_closes(clients):
    raw = clients.raw()
    raw.create("/closing-eph", flags=jute.EPHEMERAL)
    xid = raw.send_request(jute.OP_CLOSE_SESSION)
    raw.send_request(jute.OP_CREATE, jute.create_body("/after-close"))  # must be dropped
    reply = raw.wait_reply(xid)
    assert reply.err == jute.OK
    assert raw.wait_closed()
    check = clients.raw()
    assert check.exists("/closing-eph")[0] == jute.NO_NODE
    assert check.exists("/after-close")[0] == jute.NO_NODE
    # The closed session cannot be resumed.
    again = clients.raw(connect=False)
    assert again.connect(session_id=raw.session_id, passwd=raw.passwd) == (0, 0, bytes(16))


def test_expiry_removes_ephemerals_fires_watches_and_closes_the_connection(clients):
    silent = clients.raw(connect=False)
    assert silent.connect(timeout_ms=2 * TICK)[0] == 2 * TICK
    silent.create("/exp", flags=jute.PERSISTENT)
    assert silent.create("/exp/e", flags=jute.EPHEMERAL)[0] == jute.OK
    watcher = clients.kazoo()
    events = queue.Queue()
    assert watcher.exists("/exp/e", watch=events.put).ephemeralOwner == silent.session_id
    watcher.get_children("/exp", watch=events.put)
    started = time.monotonic()
    # The silent client sends nothing more: no pings, so the session expires.
    got = {(ev.type, ev.path) for ev in (events.get(timeout=5), events.get(timeout=5))}
    assert got == {(EventType.DELETED, "/exp/e"), (EventType.CHILD, "/exp")}
    assert time.monotonic() - started < 4.0  # a 400 ms session, ticks of 200 ms, slack for load
    assert silent.wait_closed(timeout=3)
    assert watcher.exists("/exp/e") is None
    resumed = clients.raw(connect=False)
    assert resumed.connect(session_id=silent.session_id, passwd=silent.passwd) == (0, 0, bytes(16))
    assert resumed.wait_closed()


def test_pings_keep_a_short_session_alive(clients):
    raw = clients.raw(connect=False)
    raw.connect(timeout_ms=2 * TICK)
    raw.create("/pinged", flags=jute.EPHEMERAL)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert raw.ping().err == jute.OK
        time.sleep(0.08)
    assert clients.raw().exists("/pinged")[1].ephemeral_owner == raw.session_id


def test_resume_session_with_kazoo_client_id(clients):
    first = clients.raw()
    first.create("/resume-eph", b"mine", flags=jute.EPHEMERAL)
    resumed = clients.kazoo(client_id=(first.session_id, first.passwd))
    assert resumed.client_id[0] == first.session_id
    assert first.wait_closed()  # the older connection is closed, the session lives on
    assert resumed.get("/resume-eph")[1].ephemeralOwner == first.session_id
    resumed.delete("/resume-eph")
    resumed.create("/resume-eph2", ephemeral=True)
    resumed.stop()
    assert clients.kazoo().exists("/resume-eph2") is None


def test_wrong_password_is_expired_and_kills_the_live_connection(clients):
    live = clients.raw()
    live.create("/wrongpw-eph", flags=jute.EPHEMERAL)
    bad = clients.raw(connect=False)
    wrong = bytes(b ^ 0xFF for b in live.passwd)
    assert bad.connect(session_id=live.session_id, passwd=wrong) == (0, 0, bytes(16))
    assert bad.wait_closed()
    assert live.wait_closed()
    # The session itself is still there: the right password resumes it.
    good = clients.raw(connect=False)
    timeout, session_id, _ = good.connect(session_id=live.session_id, passwd=live.passwd)
    assert (timeout, session_id) == (20 * TICK, live.session_id)
    assert good.exists("/wrongpw-eph")[1].ephemeral_owner == live.session_id


def test_kazoo_with_wrong_password_gets_a_new_session(clients):
    live = clients.raw()
    live.create("/kazoo-wrongpw", flags=jute.EPHEMERAL)
    client = clients.kazoo(client_id=(live.session_id, bytes(16)))
    # kazoo read the zero timeout as SessionExpiredError, dropped the id and started afresh.
    assert client.state == KazooState.CONNECTED
    assert client.client_id[0] not in (0, live.session_id)
    assert live.wait_closed()
    assert client.exists("/kazoo-wrongpw").ephemeralOwner == live.session_id


def test_unknown_session_is_expired(clients):
    raw = clients.raw(connect=False)
    assert raw.connect(session_id=0x0123456789ABCDEF, passwd=bytes(16)) == (0, 0, bytes(16))
    assert raw.wait_closed()


def test_other_sessions_survive_one_expiry(clients):
    steady = clients.kazoo()
    steady.create("/steady-eph", ephemeral=True)
    silent = clients.raw(connect=False)
    silent.connect(timeout_ms=2 * TICK)
    silent.create("/silent-eph", flags=jute.EPHEMERAL)
    wait_until(lambda: steady.exists("/silent-eph") is None, timeout=5, message="expiry")
    assert steady.exists("/steady-eph").ephemeralOwner == steady.client_id[0]


def test_watches_stay_with_the_connection_not_the_session(clients):
    first = clients.raw()
    first.create("/conn-watch", b"0")
    first.get_data("/conn-watch", watch=True)
    second = clients.raw(connect=False)
    assert second.connect(session_id=first.session_id, passwd=first.passwd)[1] == first.session_id
    assert first.wait_closed()
    clients.raw().set_data("/conn-watch", b"1")
    assert second.no_event_within(0.3)
    assert second.check_watches("/conn-watch", jute.WATCHER_DATA) == jute.NO_WATCHER
