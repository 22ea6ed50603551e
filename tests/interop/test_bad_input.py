"""Malformed input on raw sockets, each on its own connection, while a kazoo client on another
connection keeps working and loses nothing (client-protocol.md §1, §6)."""

import os
import queue
import socket
import struct

import pytest
from kazoo.protocol.states import EventType, KazooState

import jute
from zkserver import wait_until

MAX_BUFFER = 0xFFFFF  # jute.maxbuffer default: 1 048 575


@pytest.fixture
def steady(clients, base):
    """A kazoo client with a data watch and a state log; the test checks it was never disturbed."""
    client = clients.kazoo()
    client.create(f"{base}/steady", b"before")
    states = []
    client.add_listener(states.append)
    events = queue.Queue()
    client.get(f"{base}/steady", watch=events.put)
    session_id = client.client_id[0]
    yield client
    # Nothing was lost: same session, no state change, the watch is still armed and fires once.
    assert client.client_id[0] == session_id
    assert states == []
    assert client.get(f"{base}/steady")[0] == b"before"
    clients.kazoo().set(f"{base}/steady", b"after")
    event = events.get(timeout=5)
    assert (event.type, event.path) == (EventType.CHANGED, f"{base}/steady")
    assert client.state == KazooState.CONNECTED


def test_frame_longer_than_maxbuffer_closes_the_connection(steady, clients):
    raw = clients.raw()
    raw.send_raw(struct.pack(">i", MAX_BUFFER + 1) + b"\x00" * 64)
    assert raw.wait_closed()


def test_oversized_first_frame_closes_without_reply(steady, clients):
    raw = clients.raw(connect=False)
    raw.send_raw(struct.pack(">i", 0x7FFFFFF0))
    assert raw.wait_closed()


def test_negative_frame_length_closes(steady, clients):
    raw = clients.raw()
    raw.send_raw(struct.pack(">i", -5))
    assert raw.wait_closed()


def test_frame_of_exactly_maxbuffer_is_accepted(steady, clients, base):
    raw = clients.raw()
    path = f"{base}/max"
    # header, path, data length, ACL count, ACL (perms, "world", "anyone"), flags
    fixed = 8 + (4 + len(path)) + 4 + 4 + (4 + 4 + 5 + 4 + 6) + 4
    data = b"m" * (MAX_BUFFER - fixed)
    payload = jute.encode_int(1) + jute.encode_int(jute.OP_CREATE) + jute.create_body(path, data)
    assert len(payload) == MAX_BUFFER
    raw.send_frame(payload)
    reply = raw.wait_reply(1)
    assert (reply.err, reply.body.string()) == (jute.OK, path)
    assert raw.exists(path)[1].data_length == len(data)


def test_garbage_connect_request_closes(steady, clients):
    raw = clients.raw(connect=False)
    raw.send_frame(b"hello")
    assert raw.wait_closed()


def test_random_garbage_bytes_close(steady, clients):
    raw = clients.raw(connect=False)
    raw.send_raw(b"\x00\x00\x00\x30" + os.urandom(48))
    assert raw.wait_closed()


def test_garbage_request_body_is_marshalling_error_and_connection_survives(steady, clients, base):
    raw = clients.raw()
    reply = raw.call(jute.OP_GET_DATA, b"\x7f\xff\xff\xff")
    assert reply.err == jute.MARSHALLING_ERROR
    reply = raw.call(jute.OP_SET_DATA, jute.encode_int(-1))  # null path
    assert reply.err == jute.MARSHALLING_ERROR
    assert raw.get_data(f"{base}/steady")[1] == b"before"


def test_short_request_header_closes(steady, clients):
    raw = clients.raw()
    raw.send_frame(b"\x00\x00\x00\x01\x00")
    assert raw.wait_closed()


def test_truncated_frame_then_half_close(steady, clients):
    raw = clients.raw()
    raw.send_raw(struct.pack(">i", 100) + b"\x00\x00\x00\x01\x00\x00\x00\x04")
    raw.sock.shutdown(socket.SHUT_WR)
    assert raw.wait_closed()


def test_truncated_connect_request_then_half_close(steady, clients):
    raw = clients.raw(connect=False)
    raw.send_raw(struct.pack(">i", 45) + b"\x00" * 10)
    raw.sock.shutdown(socket.SHUT_WR)
    assert raw.wait_closed()


@pytest.mark.parametrize("opcode", [55, 0, 10, 23, 108, -1])
def test_unknown_opcode_is_unimplemented_then_close(steady, clients, opcode):
    raw = clients.raw()
    raw.send_request(jute.OP_EXISTS, jute.encode_string("/") + jute.encode_bool(False), xid=7)
    raw.send_request(opcode, b"", xid=8)
    # Replies keep the order of the requests.
    assert raw.wait_reply(7).err == jute.OK
    reply = raw.wait_reply(8)
    assert (reply.xid, reply.zxid, reply.err) == (8, -1, jute.UNIMPLEMENTED)
    assert raw.wait_closed()
    # The session itself lives on: it can be resumed.
    again = clients.raw(connect=False)
    assert again.connect(session_id=raw.session_id, passwd=raw.passwd)[1] == raw.session_id


def test_four_letter_word_after_handshake_is_a_bad_frame(steady, clients):
    raw = clients.raw()
    raw.send_raw(b"ruok")
    assert raw.wait_closed()


def test_pipelined_requests_before_connect_response(steady, clients, base):
    """Clients send requests right behind the ConnectRequest; they must be answered in order."""
    raw = clients.raw(connect=False)
    connect = (
        jute.encode_int(0) + jute.encode_long(0) + jute.encode_int(4000) + jute.encode_long(0)
        + jute.encode_buffer(bytes(16)) + jute.encode_bool(False)
    )
    frames = jute.encode_int(len(connect)) + connect
    auth = jute.encode_int(jute.AUTH_XID) + jute.encode_int(jute.OP_AUTH) + jute.encode_int(0)
    auth += jute.encode_string("digest") + jute.encode_buffer(b"pipe:line")
    frames += jute.encode_int(len(auth)) + auth
    for xid in range(1, 21):
        body = jute.encode_int(xid) + jute.encode_int(jute.OP_CREATE) + jute.create_body(f"{base}/p{xid}")
        frames += jute.encode_int(len(body)) + body
    raw.send_raw(frames)
    reader = jute.Reader(raw.recv_frame())
    assert reader.int() == 0 and reader.int() == 4000
    auth_reply = raw.read_frame()
    assert (auth_reply.xid, auth_reply.err) == (jute.AUTH_XID, jute.OK)
    xids = [raw.read_frame().xid for _ in range(20)]
    assert xids == list(range(1, 21))


def test_max_client_cnxns_per_ip(make_server, clients):
    server = make_server(maxClientCnxns="5")
    kept = [clients.raw(server) for _ in range(5)]
    extra = clients.raw(server, connect=False)
    try:
        extra.connect()
        refused = False
    except (jute.ConnectionClosed, ConnectionError):
        refused = True
    assert refused or extra.wait_closed()
    assert all(c.ping().err == jute.OK for c in kept)
    kept[0].close_session()
    assert kept[0].wait_closed()
    # A four-letter word is a connection too: it gets the freed slot once it is free.
    def mntr_answer():
        try:
            return server.flw("mntr")
        except OSError:
            return ""

    text = wait_until(mntr_answer, timeout=5, message="mntr answered")
    mntr = dict(line.split("\t", 1) for line in text.splitlines())
    assert int(mntr["zk_connection_rejected"]) >= 1

    def sixth_accepted():
        candidate = clients.raw(server, connect=False)
        try:
            return candidate.connect()[1] != 0
        except (jute.ConnectionClosed, ConnectionError):
            return False

    wait_until(sixth_accepted, timeout=5, message="a free connection slot")
