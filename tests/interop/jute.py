"""A small raw-socket ZooKeeper client: jute encoding, the session handshake and request frames.

kazoo 2.11 cannot send containers, TTL nodes, addWatch, checkWatches/removeWatches, whoAmI or
getEphemerals, and it never sends malformed frames. This client can, so the tests can check the
server byte for byte (client-protocol.md §2, §3, §4, §5, §17).
"""

import socket
import struct
import time
from collections import namedtuple

# OpCodes (client-protocol.md §6).
OP_CREATE = 1
OP_DELETE = 2
OP_EXISTS = 3
OP_GET_DATA = 4
OP_SET_DATA = 5
OP_GET_ACL = 6
OP_SET_ACL = 7
OP_GET_CHILDREN = 8
OP_SYNC = 9
OP_PING = 11
OP_GET_CHILDREN2 = 12
OP_CHECK = 13
OP_MULTI = 14
OP_CREATE2 = 15
OP_CHECK_WATCHES = 17
OP_REMOVE_WATCHES = 18
OP_CREATE_CONTAINER = 19
OP_CREATE_TTL = 21
OP_MULTI_READ = 22
OP_AUTH = 100
OP_GET_EPHEMERALS = 103
OP_GET_ALL_CHILDREN_NUMBER = 104
OP_ADD_WATCH = 106
OP_WHO_AM_I = 107
OP_CLOSE_SESSION = -11

# Error codes (client-protocol.md §15).
OK = 0
RUNTIME_INCONSISTENCY = -2
MARSHALLING_ERROR = -5
UNIMPLEMENTED = -6
BAD_ARGUMENTS = -8
NO_NODE = -101
NO_AUTH = -102
BAD_VERSION = -103
NO_CHILDREN_FOR_EPHEMERALS = -108
NODE_EXISTS = -110
NOT_EMPTY = -111
INVALID_ACL = -114
AUTH_FAILED = -115
NO_WATCHER = -121
SESSION_CLOSED_REQUIRE_SASL_AUTH = -124

# Event types (client-protocol.md §11.5).
NODE_CREATED = 1
NODE_DELETED = 2
NODE_DATA_CHANGED = 3
NODE_CHILDREN_CHANGED = 4
SYNC_CONNECTED = 3

# Watch modes and watcher types (§7.20, §7.21).
ADD_WATCH_PERSISTENT = 0
ADD_WATCH_PERSISTENT_RECURSIVE = 1
WATCHER_CHILDREN = 1
WATCHER_DATA = 2
WATCHER_ANY = 3
WATCHER_PERSISTENT = 4
WATCHER_PERSISTENT_RECURSIVE = 5

# Create flags (CreateMode, §7.2).
PERSISTENT = 0
EPHEMERAL = 1
PERSISTENT_SEQUENTIAL = 2
EPHEMERAL_SEQUENTIAL = 3
CONTAINER = 4
PERSISTENT_WITH_TTL = 5
PERSISTENT_SEQUENTIAL_WITH_TTL = 6

NOTIFICATION_XID = -1
PING_XID = -2
AUTH_XID = -4

Stat = namedtuple(
    "Stat",
    "czxid mzxid ctime mtime version cversion aversion ephemeral_owner data_length "
    "num_children pzxid",
)
Acl = namedtuple("Acl", "perms scheme id")
Event = namedtuple("Event", "zxid type state path")
Reply = namedtuple("Reply", "xid zxid err body")

OPEN_ACL_UNSAFE = [Acl(31, "world", "anyone")]


class ConnectionClosed(Exception):
    """The server closed the TCP connection (EOF or reset)."""


def encode_int(value):
    return struct.pack(">i", value)


def encode_long(value):
    return struct.pack(">q", value)


def encode_bool(value):
    return b"\x01" if value else b"\x00"


def encode_buffer(value):
    if value is None:
        return encode_int(-1)
    return encode_int(len(value)) + value


def encode_string(value):
    return encode_buffer(None if value is None else value.encode("utf-8"))


def encode_strings(values):
    return encode_int(len(values)) + b"".join(encode_string(v) for v in values)


def _acl_parts(acl):
    """(perms, scheme, id) from our Acl or from kazoo's ACL(perms, Id(scheme, id))."""
    if isinstance(acl, Acl):
        return acl
    return acl.perms, acl.id.scheme, acl.id.id


def encode_acls(acls):
    if acls is None:
        return encode_int(-1)
    out = encode_int(len(acls))
    for perms, scheme, ident in map(_acl_parts, acls):
        out += encode_int(perms) + encode_string(scheme) + encode_string(ident)
    return out


class Reader:
    """Decodes jute values from a byte string, failing loudly when it runs short."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def _take(self, count):
        if self.pos + count > len(self.data):
            raise ValueError(f"jute: need {count} bytes at {self.pos}, have {len(self.data)}")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def int(self):
        return struct.unpack(">i", self._take(4))[0]

    def long(self):
        return struct.unpack(">q", self._take(8))[0]

    def bool(self):
        return self._take(1) != b"\x00"

    def buffer(self):
        length = self.int()
        return None if length == -1 else self._take(length)

    def string(self):
        raw = self.buffer()
        return None if raw is None else raw.decode("utf-8")

    def strings(self):
        count = self.int()
        return [self.string() for _ in range(count)]

    def stat(self):
        return Stat(*struct.unpack(">qqqqiiiqiiq", self._take(68)))

    def acls(self):
        count = self.int()
        return [Acl(self.int(), self.string(), self.string()) for _ in range(count)]

    def remaining(self):
        return len(self.data) - self.pos


def create_body(path, data=b"", acl=None, flags=PERSISTENT, ttl=None):
    """CreateRequest, or CreateTTLRequest when `ttl` is given."""
    body = encode_string(path) + encode_buffer(data) + encode_acls(
        OPEN_ACL_UNSAFE if acl is None else acl
    )
    body += encode_int(flags)
    if ttl is not None:
        body += encode_long(ttl)
    return body


def multi_body(ops):
    """MultiOperationRecord from (opcode, body) pairs (client-protocol.md §9.1)."""
    out = b""
    for opcode, body in ops:
        out += encode_int(opcode) + encode_bool(False) + encode_int(-1) + body
    return out + encode_int(-1) + encode_bool(True) + encode_int(-1)


def parse_multi_response(reader):
    """MultiResponse as a list of (type, err, reader-positioned-after-body) per op."""
    results = []
    while True:
        op_type = reader.int()
        done = reader.bool()
        err = reader.int()
        if done:
            return results
        if op_type == -1:
            results.append((op_type, reader.int(), None))
        elif op_type == OP_CREATE:
            results.append((op_type, err, reader.string()))
        elif op_type in (OP_CREATE2, OP_CREATE_CONTAINER, OP_CREATE_TTL):
            results.append((op_type, err, (reader.string(), reader.stat())))
        elif op_type == OP_SET_DATA:
            results.append((op_type, err, reader.stat()))
        elif op_type == OP_GET_DATA:
            results.append((op_type, err, (reader.buffer(), reader.stat())))
        elif op_type == OP_GET_CHILDREN:
            results.append((op_type, err, reader.strings()))
        else:
            results.append((op_type, err, None))


class RawClient:
    """One TCP connection speaking the client protocol by hand.

    Notifications that arrive while waiting for a reply are kept in `events`, in arrival order,
    and `log` records every frame received (("event", Event) or ("reply", Reply)) so that tests can
    check ordering between the two.
    """

    def __init__(self, port, host="127.0.0.1", io_timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=io_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.next_xid = 1
        self.events = []
        self.log = []
        self.session_id = 0
        self.passwd = bytes(16)
        self.timeout = 0
        self.last_zxid = 0

    # ----- framing -----

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_frame(self, payload):
        self.sock.sendall(encode_int(len(payload)) + payload)

    def _recv_exact(self, count):
        chunks = []
        while count:
            try:
                chunk = self.sock.recv(count)
            except ConnectionResetError as error:
                raise ConnectionClosed(str(error)) from error
            if not chunk:
                raise ConnectionClosed("EOF")
            chunks.append(chunk)
            count -= len(chunk)
        return b"".join(chunks)

    def recv_frame(self):
        (length,) = struct.unpack(">i", self._recv_exact(4))
        return self._recv_exact(length)

    def wait_closed(self, timeout=5.0):
        """True when the server closes the connection within `timeout` (all data discarded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not chunk:
                return True
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # ----- session -----

    def connect(self, timeout_ms=10000, session_id=0, passwd=None, last_zxid=0, read_only=False):
        """Sends a ConnectRequest and reads the ConnectResponse; returns (timeout, id, passwd)."""
        body = (
            encode_int(0)
            + encode_long(last_zxid)
            + encode_int(timeout_ms)
            + encode_long(session_id)
            + encode_buffer(bytes(16) if passwd is None else passwd)
            + encode_bool(read_only)
        )
        self.send_frame(body)
        reader = Reader(self.recv_frame())
        assert reader.int() == 0, "protocolVersion"
        self.timeout = reader.int()
        self.session_id = reader.long()
        self.passwd = reader.buffer()
        return self.timeout, self.session_id, self.passwd

    # ----- requests -----

    def send_request(self, opcode, body=b"", xid=None):
        if xid is None:
            xid = self.next_xid
            self.next_xid += 1
        self.send_frame(encode_int(xid) + encode_int(opcode) + body)
        return xid

    def read_frame(self):
        """Reads one server frame; a notification is stored and returned as an Event."""
        reader = Reader(self.recv_frame())
        xid, zxid, err = reader.int(), reader.long(), reader.int()
        if xid == NOTIFICATION_XID:
            event = Event(zxid, reader.int(), reader.int(), reader.string())
            self.events.append(event)
            self.log.append(("event", event))
            return event
        reply = Reply(xid, zxid, err, reader)
        if zxid > 0:
            self.last_zxid = max(self.last_zxid, zxid)
        self.log.append(("reply", reply))
        return reply

    def wait_reply(self, xid):
        while True:
            frame = self.read_frame()
            if isinstance(frame, Reply):
                assert frame.xid == xid, f"reply xid {frame.xid}, expected {xid}"
                return frame

    def call(self, opcode, body=b"", xid=None):
        return self.wait_reply(self.send_request(opcode, body, xid))

    def wait_event(self, timeout=5.0):
        """Returns the oldest notification not yet taken, reading frames for up to `timeout`."""
        deadline = time.monotonic() + timeout
        while not self.events:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no notification arrived")
            self.sock.settimeout(remaining)
            try:
                self.read_frame()
            except socket.timeout as error:
                raise TimeoutError("no notification arrived") from error
            finally:
                self.sock.settimeout(10.0)
        return self.events.pop(0)

    def no_event_within(self, seconds):
        """True if no notification arrives within `seconds` (a ping keeps the session alive)."""
        try:
            event = self.wait_event(seconds)
        except TimeoutError:
            return True
        self.events.insert(0, event)
        return False

    # ----- operations -----

    def create(self, path, data=b"", acl=None, flags=PERSISTENT, opcode=OP_CREATE, ttl=None):
        """Returns (err, path or (path, stat), reply zxid)."""
        if opcode == OP_CREATE_TTL and ttl is None:
            raise ValueError("createTTL needs a ttl")
        reply = self.call(opcode, create_body(path, data, acl, flags, ttl))
        if reply.err:
            return reply.err, None, reply.zxid
        if opcode == OP_CREATE:
            return OK, reply.body.string(), reply.zxid
        return OK, (reply.body.string(), reply.body.stat()), reply.zxid

    def delete(self, path, version=-1):
        return self.call(OP_DELETE, encode_string(path) + encode_int(version)).err

    def exists(self, path, watch=False):
        reply = self.call(OP_EXISTS, encode_string(path) + encode_bool(watch))
        return reply.err, (reply.body.stat() if reply.err == OK else None)

    def get_data(self, path, watch=False):
        reply = self.call(OP_GET_DATA, encode_string(path) + encode_bool(watch))
        if reply.err:
            return reply.err, None, None
        return OK, reply.body.buffer(), reply.body.stat()

    def set_data(self, path, data, version=-1):
        reply = self.call(OP_SET_DATA, encode_string(path) + encode_buffer(data) + encode_int(version))
        return reply.err, (reply.body.stat() if reply.err == OK else None)

    def get_children(self, path, watch=False):
        reply = self.call(OP_GET_CHILDREN, encode_string(path) + encode_bool(watch))
        return reply.err, (sorted(reply.body.strings()) if reply.err == OK else None)

    def get_acl(self, path):
        reply = self.call(OP_GET_ACL, encode_string(path))
        if reply.err:
            return reply.err, None, None
        return OK, reply.body.acls(), reply.body.stat()

    def set_acl(self, path, acls, version=-1):
        reply = self.call(OP_SET_ACL, encode_string(path) + encode_acls(acls) + encode_int(version))
        return reply.err, (reply.body.stat() if reply.err == OK else None)

    def add_auth(self, scheme, credential):
        reply = self.call(
            OP_AUTH, encode_int(0) + encode_string(scheme) + encode_buffer(credential), AUTH_XID
        )
        return reply.err

    def add_watch(self, path, mode):
        reply = self.call(OP_ADD_WATCH, encode_string(path) + encode_int(mode))
        if reply.err == OK:
            assert reply.body.int() == 0, "addWatch answers ErrorResponse{0}"
        return reply.err

    def check_watches(self, path, watcher_type):
        return self.call(OP_CHECK_WATCHES, encode_string(path) + encode_int(watcher_type)).err

    def remove_watches(self, path, watcher_type):
        return self.call(OP_REMOVE_WATCHES, encode_string(path) + encode_int(watcher_type)).err

    def multi(self, ops):
        reply = self.call(OP_MULTI, multi_body(ops))
        if reply.err:
            return reply.err, None
        return OK, parse_multi_response(reply.body)

    def get_ephemerals(self, prefix="/"):
        reply = self.call(OP_GET_EPHEMERALS, encode_string(prefix))
        return reply.err, (sorted(reply.body.strings()) if reply.err == OK else None)

    def get_all_children_number(self, path):
        reply = self.call(OP_GET_ALL_CHILDREN_NUMBER, encode_string(path))
        return reply.err, (reply.body.int() if reply.err == OK else None)

    def who_am_i(self):
        reply = self.call(OP_WHO_AM_I)
        count = reply.body.int()
        return sorted((reply.body.string(), reply.body.string()) for _ in range(count))

    def ping(self):
        return self.call(OP_PING, b"", PING_XID)

    def close_session(self):
        reply = self.call(OP_CLOSE_SESSION)
        return reply.err


def connected_client(port, timeout_ms=10000, **kwargs):
    """A RawClient with a new session."""
    client = RawClient(port)
    negotiated, session_id, _ = client.connect(timeout_ms=timeout_ms, **kwargs)
    assert session_id != 0 and negotiated > 0, "handshake refused"
    return client
