#!/usr/bin/env python3
"""Capture golden wire vectors from a real Apache ZooKeeper driven by kazoo.

Run by scripts/capture-golden.sh, which starts the server and passes its port.
A recording TCP proxy sits between the clients and ZooKeeper; every frame that
crosses it becomes one JSON line (format: crates/zk-proto/tests/golden/README.md).
kazoo drives every opcode it can send; the opcodes kazoo 2.11 lacks are sent as
hand-encoded jute frames over the same proxy, so the replies are ZooKeeper's own.

Every step checks the outcome it expects (reply error code, kazoo exception),
so a vector's "note" is known to describe what the server really answered.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import logging
import os
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field

from kazoo import exceptions as kex
from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState
from kazoo.retry import KazooRetry
from kazoo.security import ACL, CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, Id, make_digest_acl

IO_TIMEOUT = 10.0
WATCH_TIMEOUT = 10.0

NOTIFICATION_XID = -1
PING_XID = -2
AUTH_XID = -4
SET_WATCHES_XID = -8

OP = {
    "create": 1,
    "delete": 2,
    "exists": 3,
    "getData": 4,
    "setData": 5,
    "getACL": 6,
    "setACL": 7,
    "getChildren": 8,
    "sync": 9,
    "ping": 11,
    "getChildren2": 12,
    "check": 13,
    "multi": 14,
    "create2": 15,
    "reconfig": 16,
    "checkWatches": 17,
    "removeWatches": 18,
    "createContainer": 19,
    "deleteContainer": 20,
    "createTTL": 21,
    "multiRead": 22,
    "auth": 100,
    "setWatches": 101,
    "sasl": 102,
    "getEphemerals": 103,
    "getAllChildrenNumber": 104,
    "setWatches2": 105,
    "addWatch": 106,
    "whoAmI": 107,
    "closeSession": -11,
}
OP_NAME = {code: name for name, code in OP.items()}

ERR_NAME = {
    0: "ok",
    -2: "RuntimeInconsistency",
    -5: "MarshallingError",
    -6: "Unimplemented",
    -8: "BadArguments",
    -101: "NoNode",
    -102: "NoAuth",
    -103: "BadVersion",
    -108: "NoChildrenForEphemerals",
    -110: "NodeExists",
    -111: "NotEmpty",
    -112: "SessionExpired",
    -114: "InvalidACL",
    -115: "AuthFailed",
    -121: "NoWatcher",
    -123: "ReconfigDisabled",
}

# A connection whose first 4 bytes are lowercase letters is a four-letter word:
# a ConnectRequest starts with its length, whose top byte is 0.
FOURLW_WORDS = ("ruok", "srvr", "stat", "mntr", "conf", "cons", "envi", "wchs", "dump", "isro")

WORLD_ANYONE_ALL = [(31, "world", "anyone")]

log = logging.getLogger("capture_golden")


# --------------------------------------------------------------------------
# Recording


class Recorder:
    """Collects vector records in arrival order and carries the current note.

    The driver sets the note before each action; the proxy stamps it on the
    frames it sees. Replies take the note of the request they answer.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._note = "start"
        self._seq: dict[tuple[int, str], int] = collections.defaultdict(int)
        self.records: list[dict] = []

    def note(self, text: str) -> None:
        with self._lock:
            self._note = text
        log.info("%s", text)

    def wait_recorded(self, conn: int, op: int) -> None:
        """Waits until the proxy has recorded a request, for sends that get no reply."""
        deadline = time.monotonic() + IO_TIMEOUT
        while True:
            with self._lock:
                if any(r["conn"] == conn and r["op"] == op and r["dir"] == "request" for r in self.records):
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"proxy never saw op {op} on connection {conn}")
            time.sleep(0.01)

    @property
    def current_note(self) -> str:
        with self._lock:
            return self._note

    def add(self, conn: int, direction: str, kind: str, op, xid, err, note: str, frame: bytes) -> None:
        with self._lock:
            seq = self._seq[(conn, direction)]
            self._seq[(conn, direction)] = seq + 1
            self.records.append(
                {
                    "conn": conn,
                    "seq": seq,
                    "dir": direction,
                    "kind": kind,
                    "op": op,
                    "xid": xid,
                    "err": err,
                    "note": note,
                    "hex": frame.hex(),
                }
            )


class FrameSplitter:
    """Splits one direction's byte stream into length-prefixed frames."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        frames = []
        while len(self._buf) >= 4:
            (length,) = struct.unpack(">i", self._buf[:4])
            if length < 0 or len(self._buf) < 4 + length:
                break
            frames.append(bytes(self._buf[: 4 + length]))
            del self._buf[: 4 + length]
        return frames

    @property
    def leftover(self) -> int:
        return len(self._buf)


# --------------------------------------------------------------------------
# Recording proxy


class ProxiedConnection:
    """One client connection: pumps both directions and records every frame."""

    def __init__(self, number: int, client: socket.socket, upstream: socket.socket, rec: Recorder):
        self.number = number
        self.client = client
        self.upstream = upstream
        self.rec = rec
        self.fourlw: bytes | None = None
        self.fourlw_note = ""
        self.pending: dict[int, collections.deque] = collections.defaultdict(collections.deque)
        self.lock = threading.Lock()
        self.leftover = {"request": 0, "reply": 0}
        self.threads = [
            threading.Thread(target=self._pump, args=("request",), daemon=True),
            threading.Thread(target=self._pump, args=("reply",), daemon=True),
        ]
        self._first_client_bytes = bytearray()
        self._fourlw_known = threading.Event()
        self._seen_connect_request = False

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self.threads)

    def sever(self) -> None:
        for s in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def _pump(self, direction: str) -> None:
        src, dst = (self.client, self.upstream) if direction == "request" else (self.upstream, self.client)
        splitter = FrameSplitter()
        raw_reply = bytearray()
        first = True
        forwarding = True
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            if direction == "request":
                self._on_request_bytes(data, splitter)
            else:
                self._fourlw_known.wait(IO_TIMEOUT)
                if self.fourlw is not None:
                    raw_reply += data
                else:
                    for frame in splitter.feed(data):
                        self._on_reply_frame(frame, first)
                        first = False
            if forwarding:
                try:
                    dst.sendall(data)
                except OSError:
                    # kazoo's command() reads one chunk and hangs up; keep reading so the
                    # whole four-letter-word answer is recorded.
                    forwarding = False
        if direction == "reply" and self.fourlw is not None:
            reply = scrub_machine_details(bytes(raw_reply))
            self.rec.add(self.number, "reply", "fourlw", None, None, None, self.fourlw_note, reply)
        self.leftover[direction] = splitter.leftover
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def _on_request_bytes(self, data: bytes, splitter: FrameSplitter) -> None:
        if not self._fourlw_known.is_set():
            self._first_client_bytes += data
            if len(self._first_client_bytes) < 4:
                return
            head = bytes(self._first_client_bytes[:4])
            if head.isalpha() and head.islower():
                self.fourlw = head
                self.fourlw_note = self.rec.current_note
                self.rec.add(self.number, "request", "fourlw", None, None, None, self.fourlw_note, head)
            self._fourlw_known.set()
            data = bytes(self._first_client_bytes)
        if self.fourlw is not None:
            return
        for frame in splitter.feed(data):
            self._on_request_frame(frame)

    def _on_request_frame(self, frame: bytes) -> None:
        note = self.rec.current_note
        if not self._seen_connect_request:
            self._seen_connect_request = True
            self.rec.add(self.number, "request", "connect", None, None, None, note, frame)
            return
        xid, op = struct.unpack(">ii", frame[4:12])
        if xid == PING_XID:
            note = "idle: kazoo ping"
        with self.lock:
            self.pending[xid].append((op, note))
        self.rec.add(self.number, "request", "op", op, xid, None, note, frame)

    def _on_reply_frame(self, frame: bytes, first: bool) -> None:
        if first:
            self.rec.add(self.number, "reply", "connect", None, None, None, self.rec.current_note, frame)
            return
        xid, _zxid, err = struct.unpack(">iqi", frame[4:20])
        if xid == NOTIFICATION_XID:
            self.rec.add(self.number, "reply", "notification", None, xid, err, self.rec.current_note, frame)
            return
        with self.lock:
            queue = self.pending.get(xid)
            op, note = queue.popleft() if queue else (None, "UNMATCHED " + self.rec.current_note)
        self.rec.add(self.number, "reply", "op", op, xid, err, note, frame)


class Proxy:
    """Listens on a free loopback port and forwards each connection to ZooKeeper."""

    def __init__(self, upstream_port: int, rec: Recorder):
        self.upstream_port = upstream_port
        self.rec = rec
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[ProxiedConnection] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=IO_TIMEOUT)
            upstream.settimeout(None)
            with self._lock:
                conn = ProxiedConnection(len(self.connections) + 1, client, upstream, self.rec)
                self.connections.append(conn)
            conn.start()

    def latest(self) -> ProxiedConnection:
        with self._lock:
            return self.connections[-1]

    def close(self, timeout: float) -> list[int]:
        """Stops accepting, waits for connections to end; returns those still open."""
        self.listener.close()
        deadline = time.monotonic() + timeout
        stuck = []
        for conn in list(self.connections):
            if not conn.join(max(0.0, deadline - time.monotonic())):
                stuck.append(conn.number)
                conn.sever()
                conn.join(2.0)
        return stuck


# --------------------------------------------------------------------------
# Hand-written jute encoder (spec §2, §3, §9) for opcodes kazoo cannot send


# Lines of four-letter-word answers that describe the capturing machine (paths, user, host);
# their values are replaced so that the vectors say nothing about where they were made.
MACHINE_KEYS = ("dataDir=", "dataLogDir=", "host.name=", "user.name=", "user.home=", "user.dir=",
                "java.io.tmpdir=", "java.home=", "java.class.path=", "java.library.path=", "os.version=")


def scrub_machine_details(text: bytes) -> bytes:
    lines = text.split(b"\n")
    for i, line in enumerate(lines):
        for key in MACHINE_KEYS:
            if line.startswith(key.encode()):
                lines[i] = key.encode() + b"<scrubbed>"
    return b"\n".join(lines)


def j_int(v: int) -> bytes:
    return struct.pack(">i", v)


def j_long(v: int) -> bytes:
    return struct.pack(">q", v)


def j_bool(v: bool) -> bytes:
    return b"\x01" if v else b"\x00"


def j_buffer(v: bytes | None) -> bytes:
    return j_int(-1) if v is None else j_int(len(v)) + v


def j_string(v: str | None) -> bytes:
    return j_buffer(None if v is None else v.encode("utf-8"))


def j_strings(items: list[str]) -> bytes:
    return j_int(len(items)) + b"".join(j_string(s) for s in items)


def j_acls(acls: list[tuple[int, str, str]]) -> bytes:
    return j_int(len(acls)) + b"".join(j_int(p) + j_string(s) + j_string(i) for p, s, i in acls)


def create_body(
    path: str, data: bytes | None, flags: int, acls=WORLD_ANYONE_ALL, ttl: int | None = None
) -> bytes:
    body = j_string(path) + j_buffer(data) + j_acls(acls) + j_int(flags)
    return body if ttl is None else body + j_long(ttl)


def multi_body(ops: list[tuple[int, bytes]]) -> bytes:
    out = b"".join(j_int(op) + j_bool(False) + j_int(-1) + body for op, body in ops)
    return out + j_int(-1) + j_bool(True) + j_int(-1)


def connect_request(
    session_id: int = 0,
    passwd: bytes = bytes(16),
    last_zxid: int = 0,
    timeout_ms: int = 30000,
    read_only: bool | None = False,
) -> bytes:
    body = j_int(0) + j_long(last_zxid) + j_int(timeout_ms) + j_long(session_id) + j_buffer(passwd)
    if read_only is not None:
        body += j_bool(read_only)
    return j_int(len(body)) + body


def check_encoder_against_spec() -> None:
    """The hand-written encoder must reproduce the worked hex dumps of spec §17."""
    connect = "0000002d" + "00000000" + "00" * 8 + "00007530" + "00" * 8 + "00000010" + "00" * 16 + "00"
    assert connect_request(timeout_ms=30000).hex() == connect
    create = (
        "00000038" + "00000001" + "00000001" + "000000042f617070" + "0000000568656c6c6f"
        "00000001" + "0000001f" + "00000005776f726c64" + "00000006616e796f6e65" + "00000000"
    )
    assert RawSession.frame(1, OP["create"], create_body("/app", b"hello", 0)).hex() == create
    multi = (
        "00000056" + "00000006" + "0000000e" + "0000000100ffffffff" + "000000022f61" + "00000000"
        "00000001" + "0000001f" + "00000005776f726c64" + "00000006616e796f6e65" + "00000000"
        "0000000200ffffffff" + "000000022f62" + "ffffffff" + "ffffffff01ffffffff"
    )
    body = multi_body([(OP["create"], create_body("/a", b"", 0)), (OP["delete"], j_string("/b") + j_int(-1))])
    assert RawSession.frame(6, OP["multi"], body).hex() == multi


@dataclass
class Reply:
    xid: int
    zxid: int
    err: int
    body: bytes


@dataclass
class RawSession:
    """A minimal jute client over the proxy: enough to send any opcode."""

    port: int
    rec: Recorder
    sock: socket.socket = field(init=False)
    session_id: int = 0
    passwd: bytes = bytes(16)
    timeout_ms: int = 0
    last_zxid: int = 0
    xid: int = 0
    notifications: list[Reply] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=IO_TIMEOUT)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_frame(self) -> bytes | None:
        head = self._read_exact(4)
        if head is None:
            return None
        (length,) = struct.unpack(">i", head)
        body = self._read_exact(length)
        if body is None:
            raise ConnectionError("connection closed inside a frame")
        return body

    def _read_exact(self, n: int) -> bytes | None:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                if buf:
                    raise ConnectionError("connection closed inside a frame")
                return None
            buf += chunk
        return bytes(buf)

    def connect(self, note: str, pipelined: bytes = b"", **kwargs) -> None:
        """Sends a ConnectRequest (plus any pipelined frames) and reads the response."""
        self.rec.note(note)
        self.send(connect_request(**kwargs) + pipelined)
        body = self.read_frame()
        if body is None:
            raise ConnectionError("no ConnectResponse")
        _proto, self.timeout_ms, self.session_id = struct.unpack(">iiq", body[:16])
        (plen,) = struct.unpack(">i", body[16:20])
        self.passwd = body[20 : 20 + plen]

    def read_reply(self) -> Reply | None:
        body = self.read_frame()
        if body is None:
            return None
        xid, zxid, err = struct.unpack(">iqi", body[:16])
        if zxid > self.last_zxid:
            self.last_zxid = zxid
        return Reply(xid, zxid, err, body[16:])

    def call(
        self, note: str, op: int, body: bytes = b"", expect_err: int = 0, xid: int | None = None
    ) -> Reply:
        """Sends one request and returns its reply; notifications are kept aside."""
        self.rec.note(note)
        if xid is None:
            self.xid += 1
            xid = self.xid
        self.send(self.frame(xid, op, body))
        return self.expect_reply(note, xid, expect_err)

    @staticmethod
    def frame(xid: int, op: int, body: bytes) -> bytes:
        payload = j_int(xid) + j_int(op) + body
        return j_int(len(payload)) + payload

    def expect_reply(self, note: str, xid: int, expect_err: int) -> Reply:
        while True:
            reply = self.read_reply()
            if reply is None:
                raise ConnectionError(f"{note}: connection closed before the reply")
            if reply.xid == NOTIFICATION_XID:
                self.notifications.append(reply)
                continue
            if reply.xid != xid:
                raise AssertionError(f"{note}: reply xid {reply.xid}, expected {xid}")
            if reply.err != expect_err:
                raise AssertionError(f"{note}: err {reply.err}, expected {expect_err}")
            return reply

    def wait_notifications(self, count: int, note: str) -> list[Reply]:
        """Reads until `count` notifications are queued; returns and clears them."""
        deadline = time.monotonic() + WATCH_TIMEOUT
        while len(self.notifications) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{note}: {len(self.notifications)} of {count} notifications")
            reply = self.read_reply()
            if reply is None:
                raise ConnectionError(f"{note}: closed while waiting for notifications")
            if reply.xid != NOTIFICATION_XID:
                raise AssertionError(f"{note}: unexpected reply xid {reply.xid}")
            self.notifications.append(reply)
        got, self.notifications = self.notifications, []
        return got

    def close_session(self, note: str) -> None:
        self.call(note, OP["closeSession"])
        if self.read_frame() is not None:
            raise AssertionError("server kept the connection after closeSession")
        self.sock.close()

    def expect_closed(self, note: str) -> None:
        if self.read_frame() is not None:
            raise AssertionError(f"{note}: expected the server to close the connection")
        self.sock.close()


def notification_types(replies: list[Reply]) -> list[tuple[int, str]]:
    out = []
    for r in replies:
        etype, _state = struct.unpack(">ii", r.body[:8])
        (plen,) = struct.unpack(">i", r.body[8:12])
        out.append((etype, r.body[12 : 12 + plen].decode()))
    return sorted(out)


# --------------------------------------------------------------------------
# kazoo driver


class Watch:
    """A kazoo watcher that can be waited for."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.fired = None

    def __call__(self, event) -> None:
        self.fired = event
        self.event.set()

    def wait(self, expected_type: str) -> None:
        if not self.event.wait(WATCH_TIMEOUT):
            raise AssertionError(f"watch {expected_type} did not fire")
        if self.fired.type != expected_type:
            raise AssertionError(f"watch fired {self.fired.type}, expected {expected_type}")


def expect_raises(exc_type, fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except exc_type:
        return
    raise AssertionError(f"{fn.__name__}{args} did not raise {exc_type.__name__}")


def new_kazoo(port: int, **kwargs) -> KazooClient:
    return KazooClient(
        hosts=f"127.0.0.1:{port}",
        timeout=4.0,
        connection_retry=KazooRetry(max_tries=3, delay=0.2, max_delay=1.0),
        **kwargs,
    )


def wait_connected(zk: KazooClient, conns_before: int, proxy: Proxy) -> None:
    deadline = time.monotonic() + IO_TIMEOUT
    while not (zk.connected and len(proxy.connections) > conns_before):
        if time.monotonic() > deadline:
            raise AssertionError("kazoo did not reconnect")
        time.sleep(0.05)


def drive_kazoo(proxy: Proxy, rec: Recorder) -> None:
    """Every opcode kazoo 2.11 sends (but SASL), with successes and errors."""
    port = proxy.port
    a = new_kazoo(port)
    b = new_kazoo(port)
    rec.note("kazoo A: connect, new session")
    a.start()
    rec.note("kazoo B: connect, new session (second client, causes A's notifications)")
    b.start()

    rec.note("create persistent /golden with data")
    a.create("/golden", b"root")
    rec.note("create persistent with data")
    a.create("/golden/data", b"hello")
    rec.note("create with null data (value=None)")
    a.create("/golden/nulldata", None)
    rec.note("create with empty data")
    a.create("/golden/empty", b"")
    rec.note("create ephemeral")
    a.create("/golden/eph", b"e", ephemeral=True)
    rec.note("create persistent sequential")
    a.create("/golden/seq-", b"s", sequence=True)
    rec.note("create ephemeral sequential")
    a.create("/golden/eseq-", b"es", ephemeral=True, sequence=True)
    rec.note("create2 (include_data=True) persistent")
    a.create("/golden/c2", b"c2", include_data=True)
    rec.note("create2 (include_data=True) ephemeral sequential")
    a.create("/golden/c2eseq-", b"", ephemeral=True, sequence=True, include_data=True)
    rec.note("create existing node -> NodeExists")
    expect_raises(kex.NodeExistsError, a.create, "/golden/data", b"again")
    rec.note("create2 existing node -> NodeExists")
    expect_raises(kex.NodeExistsError, a.create, "/golden/data", b"again", include_data=True)
    rec.note("create with missing parent -> NoNode")
    expect_raises(kex.NoNodeError, a.create, "/golden/missing/child", b"")
    rec.note("create child of ephemeral -> NoChildrenForEphemerals")
    expect_raises(kex.NoChildrenForEphemeralsError, a.create, "/golden/eph/child", b"")
    rec.note("create with CREATOR_ALL_ACL before any auth -> InvalidACL")
    expect_raises(kex.InvalidACLError, a.create, "/golden/badacl", b"", acl=CREATOR_ALL_ACL)
    rec.note("create /zookeeper -> NodeExists")
    expect_raises(kex.NodeExistsError, a.create, "/zookeeper", b"")
    rec.note("create with makepath (exists + creates of missing parents)")
    a.create("/golden/deep/er/node", b"d", makepath=True)

    rec.note("exists on existing node")
    assert a.exists("/golden/data") is not None
    rec.note("exists on missing node -> NoNode")
    assert a.exists("/golden/nothere") is None
    rec.note("exists on the root")
    assert a.exists("/") is not None
    rec.note("get with data")
    assert a.get("/golden/data")[0] == b"hello"
    rec.note("get node holding null data")
    assert a.get("/golden/nulldata")[0] is None
    rec.note("get missing node -> NoNode")
    expect_raises(kex.NoNodeError, a.get, "/golden/nothere")
    rec.note("get /zookeeper/config")
    a.get("/zookeeper/config")
    rec.note("get_children (getChildren, opcode 8)")
    a.get_children("/golden")
    rec.note("get_children include_data=True (getChildren2, opcode 12)")
    a.get_children("/golden", include_data=True)
    rec.note("get_children of a missing node -> NoNode")
    expect_raises(kex.NoNodeError, a.get_children, "/golden/nothere")
    rec.note("get_children include_data of a missing node -> NoNode")
    expect_raises(kex.NoNodeError, a.get_children, "/golden/nothere", include_data=True)

    rec.note("set data, any version")
    a.set("/golden/data", b"world")
    rec.note("set data with matching version 1")
    a.set("/golden/data", b"world2", version=1)
    rec.note("set data with stale version -> BadVersion")
    expect_raises(kex.BadVersionError, a.set, "/golden/data", b"x", version=99)
    rec.note("set data on missing node -> NoNode")
    expect_raises(kex.NoNodeError, a.set, "/golden/nothere", b"x")
    rec.note("set null data (value=None)")
    a.set("/golden/empty", None)

    rec.note("get_acls")
    a.get_acls("/golden/data")
    rec.note("get_acls of a missing node -> NoNode")
    expect_raises(kex.NoNodeError, a.get_acls, "/golden/nothere")
    rec.note("set_acls OPEN_ACL_UNSAFE with version 0")
    a.set_acls("/golden/data", OPEN_ACL_UNSAFE, version=0)
    rec.note("set_acls with stale version -> BadVersion")
    expect_raises(kex.BadVersionError, a.set_acls, "/golden/data", OPEN_ACL_UNSAFE, version=99)
    rec.note("set_acls on missing node -> NoNode")
    expect_raises(kex.NoNodeError, a.set_acls, "/golden/nothere", OPEN_ACL_UNSAFE)
    rec.note("set_acls with an auth ACL and no auth -> InvalidACL")
    expect_raises(kex.InvalidACLError, a.set_acls, "/golden/data", CREATOR_ALL_ACL)
    rec.note("set_acls read-only world ACL on /golden/readonly")
    a.create("/golden/readonly", b"r")
    a.set_acls("/golden/readonly", [ACL(1, Id("world", "anyone"))])
    rec.note("set on a node without WRITE permission -> NoAuth")
    expect_raises(kex.NoAuthError, a.set, "/golden/readonly", b"x")

    rec.note("sync existing path")
    a.sync("/golden")
    rec.note("sync missing path (echoed, no error)")
    a.sync("/whatever")

    # Notifications of every type, caused by the second client.
    w = Watch()
    rec.note("exists with watch on missing node -> NoNode, watch set")
    assert a.exists("/golden/w", watch=w) is None
    rec.note("B creates the watched node -> A gets NodeCreated")
    b.create("/golden/w", b"1")
    w.wait("CREATED")
    w = Watch()
    rec.note("get with watch")
    a.get("/golden/w", watch=w)
    rec.note("B sets the watched node -> A gets NodeDataChanged")
    b.set("/golden/w", b"2")
    w.wait("CHANGED")
    w = Watch()
    rec.note("get_children with watch")
    a.get_children("/golden/w", watch=w)
    rec.note("B creates a child -> A gets NodeChildrenChanged")
    b.create("/golden/w/kid", b"")
    w.wait("CHILD")
    w = Watch()
    rec.note("get_children include_data with watch")
    a.get_children("/golden/w", watch=w, include_data=True)
    rec.note("B deletes the child -> A gets NodeChildrenChanged")
    b.delete("/golden/w/kid")
    w.wait("CHILD")
    w = Watch()
    rec.note("exists with watch on existing node")
    assert a.exists("/golden/w", watch=w) is not None
    rec.note("B deletes the watched node -> A gets NodeDeleted")
    b.delete("/golden/w")
    w.wait("DELETED")

    rec.note("add_auth digest user:password")
    a.add_auth("digest", "user:password")
    rec.note("create with CREATOR_ALL_ACL after auth")
    a.create("/golden/secure", b"s", acl=CREATOR_ALL_ACL)
    rec.note("create with make_digest_acl(user, password, all=True)")
    a.create("/golden/secure2", b"s", acl=[make_digest_acl("user", "password", all=True)])
    rec.note("get_acls of digest node with ADMIN (full digest shown)")
    a.get_acls("/golden/secure")
    rec.note("B without auth: get of digest-protected node -> NoAuth")
    expect_raises(kex.NoAuthError, b.get, "/golden/secure")
    rec.note("B without auth: get_acls of digest-protected node -> NoAuth")
    expect_raises(kex.NoAuthError, b.get_acls, "/golden/secure")
    rec.note("B without auth: set_acls of digest-protected node -> NoAuth")
    expect_raises(kex.NoAuthError, b.set_acls, "/golden/secure", OPEN_ACL_UNSAFE)
    rec.note("B without auth: delete child of digest-protected node -> NoAuth")
    expect_raises(kex.NoAuthError, b.delete, "/golden/secure/x")

    rec.note("transaction: create, set_data, check, create sequential, delete -> success")
    a.create("/golden/todel", b"")
    t = a.transaction()
    t.create("/golden/tx", b"x")
    t.set_data("/golden/tx", b"y")
    t.check("/golden/tx", 1)
    t.create("/golden/tx/s-", b"", sequence=True)
    t.delete("/golden/todel")
    results = t.commit()
    assert not any(isinstance(r, Exception) for r in results), results
    rec.note("transaction: create, delete missing, set_data -> fails with NoNode")
    t = a.transaction()
    t.create("/golden/tx2", b"")
    t.delete("/golden/nothere")
    t.set_data("/golden/tx", b"z")
    results = t.commit()
    assert isinstance(results[1], kex.NoNodeError), results
    rec.note("transaction: check with stale version -> fails with BadVersion")
    t = a.transaction()
    t.check("/golden/tx", 99)
    t.create("/golden/tx3", b"")
    results = t.commit()
    assert isinstance(results[0], kex.BadVersionError), results

    rec.note("delete, any version")
    a.create("/golden/d1", b"")
    a.delete("/golden/d1")
    rec.note("delete with matching version 0")
    a.create("/golden/d2", b"")
    a.delete("/golden/d2", version=0)
    rec.note("delete with stale version -> BadVersion")
    expect_raises(kex.BadVersionError, a.delete, "/golden/data", version=99)
    rec.note("delete missing node -> NoNode")
    expect_raises(kex.NoNodeError, a.delete, "/golden/nothere")
    rec.note("delete node with children -> NotEmpty")
    expect_raises(kex.NotEmptyError, a.delete, "/golden")
    rec.note("delete /zookeeper -> BadArguments")
    expect_raises(kex.BadArgumentsError, a.delete, "/zookeeper")
    rec.note("delete recursive (kazoo: get_children then deletes)")
    a.delete("/golden/deep", recursive=True)

    rec.note("reconfig on standalone server, reconfigEnabled=false -> ReconfigDisabled")
    expect_raises(kex.ZookeeperError, a.reconfig, joining=None, leaving="2", new_members=None)

    rec.note("idle: kazoo pings (session timeout 4000 ms)")
    b.sync("/")
    time.sleep(3.5)

    rec.note(
        "proxy drops A's TCP connection: kazoo reconnects with session id, password, lastZxid; resends auth"
    )
    before = len(proxy.connections)
    a_conn = proxy.connections[0]
    a_conn.sever()
    wait_connected(a, before, proxy)
    rec.note("after reconnect: get of digest-protected node with resent auth")
    a.get("/golden/secure")

    drive_kazoo_auth_failure(proxy, rec)

    for word in FOURLW_WORDS:
        rec.note(f"four-letter word {word} (kazoo command)")
        a.command(word.encode())

    rec.note("kazoo B: close session")
    b.stop()
    b.close()
    rec.note("kazoo A: close session (deletes its ephemerals)")
    a.stop()
    a.close()


def drive_kazoo_auth_failure(proxy: Proxy, rec: Recorder) -> None:
    rec.note("kazoo F: connect, new session")
    f = new_kazoo(proxy.port)
    f.start()
    rec.note("kazoo F: add_auth with unknown scheme -> AuthFailed, server closes the connection")
    expect_raises(kex.AuthFailedError, f.add_auth, "nosuch", "whatever")
    rec.note("kazoo F: stop after auth failure")
    f.stop()
    f.close()


def drive_kazoo_sasl(proxy: Proxy, rec: Recorder) -> None:
    rec.note("kazoo S: connect and SASL DIGEST-MD5 (opcode 102)")
    s = new_kazoo(
        proxy.port,
        sasl_options={"mechanism": "DIGEST-MD5", "username": "golden", "password": "golden-secret"},
    )
    s.start()
    rec.note("kazoo S: exists after SASL")
    s.exists("/golden")
    rec.note("kazoo S: close session")
    s.stop()
    s.close()
    rec.note("kazoo S2: SASL DIGEST-MD5 with a wrong password -> AuthFailed")
    bad = new_kazoo(
        proxy.port, sasl_options={"mechanism": "DIGEST-MD5", "username": "golden", "password": "wrong"}
    )
    lost = threading.Event()
    bad.add_listener(lambda state: lost.set() if state == KazooState.LOST else None)
    try:
        # kazoo reports CONNECTED before the SASL exchange, then AUTH_FAILED (LOST).
        bad.start(timeout=5)
    except Exception as exc:  # noqa: BLE001 - kazoo may also give up with a timeout
        log.info("SASL with a wrong password: start raised %r", exc)
    if not lost.wait(WATCH_TIMEOUT):
        raise AssertionError("SASL with a wrong password did not end the session")
    bad.stop()
    bad.close()


def drive_kazoo_resume(proxy: Proxy, rec: Recorder) -> None:
    """kazoo resumes a session made (and left open) by a raw client."""
    raw = RawSession(proxy.port, rec)
    raw.connect("raw: new session to be resumed by kazoo (timeout 10000)", timeout_ms=10000)
    raw.call(
        "raw: create ephemeral that survives the TCP close",
        OP["create"],
        create_body("/golden/resumed-eph", b"", 1),
    )
    rec.note("raw: TCP close without closeSession")
    raw.sock.close()
    time.sleep(0.3)
    rec.note("kazoo D: connect with client_id=(session id, password) -> resumes session")
    d = new_kazoo(proxy.port, client_id=(raw.session_id, raw.passwd))
    d.start()
    assert d.client_id[0] == raw.session_id, "kazoo did not resume the session"
    rec.note("kazoo D: exists on the resumed session's ephemeral")
    st = d.exists("/golden/resumed-eph")
    assert st is not None and st.ephemeralOwner == raw.session_id
    rec.note("kazoo D: close the resumed session")
    d.stop()
    d.close()

    bad = RawSession(proxy.port, rec)
    bad.connect(
        "raw: reconnect to the closed session -> timeOut 0, session 0, then close",
        session_id=raw.session_id,
        passwd=raw.passwd,
        last_zxid=raw.last_zxid,
    )
    assert bad.timeout_ms == 0 and bad.session_id == 0
    bad.expect_closed("raw: closed after the expired-session ConnectResponse")


# --------------------------------------------------------------------------
# Raw jute driver for what kazoo 2.11 cannot send


def drive_raw(proxy: Proxy, rec: Recorder) -> None:
    port = proxy.port
    r = RawSession(port, rec)
    r.connect("raw R: new session, timeout 30000")
    r.call(
        "raw R: auth digest user:password",
        OP["auth"],
        j_int(0) + j_string("digest") + j_buffer(b"user:password"),
        xid=AUTH_XID,
    )
    r.call("raw R: whoAmI (digest and ip identities)", OP["whoAmI"])

    r.call("raw R: createContainer", OP["createContainer"], create_body("/golden/container", b"c", 4))
    r.call(
        "raw R: createContainer existing -> NodeExists",
        OP["createContainer"],
        create_body("/golden/container", b"c", 4),
        expect_err=-110,
    )
    r.call(
        "raw R: createContainer missing parent -> NoNode",
        OP["createContainer"],
        create_body("/golden/nothere/c", b"", 4),
        expect_err=-101,
    )
    r.call(
        "raw R: createTTL persistent TTL 600000 ms",
        OP["createTTL"],
        create_body("/golden/ttl", b"t", 5, ttl=600000),
    )
    r.call(
        "raw R: createTTL persistent sequential TTL",
        OP["createTTL"],
        create_body("/golden/ttlseq-", b"", 6, ttl=600000),
    )
    r.call(
        "raw R: createTTL with ttl 0 -> BadArguments",
        OP["createTTL"],
        create_body("/golden/ttl0", b"", 5, ttl=0),
        expect_err=-8,
    )
    r.call(
        "raw R: createTTL existing -> NodeExists",
        OP["createTTL"],
        create_body("/golden/ttl", b"", 5, ttl=1000),
        expect_err=-110,
    )
    r.call(
        "raw R: create flags 7 -> BadArguments",
        OP["create"],
        create_body("/golden/flag7", b"", 7),
        expect_err=-8,
    )
    r.call(
        "raw R: create2 with a relative path -> BadArguments",
        OP["create2"],
        create_body("relative", b"", 0),
        expect_err=-8,
    )
    r.call("raw R: create ephemeral", OP["create"], create_body("/golden/raw-eph", b"", 1))
    r.call("raw R: create ephemeral sequential", OP["create"], create_body("/golden/raw-eseq-", b"", 3))

    r.call("raw R: getEphemerals prefix /golden", OP["getEphemerals"], j_string("/golden"))
    r.call("raw R: getEphemerals prefix / (all)", OP["getEphemerals"], j_string("/"))
    r.call(
        "raw R: getEphemerals prefix with no match (empty list)", OP["getEphemerals"], j_string("/nothere")
    )
    r.call("raw R: getAllChildrenNumber /golden", OP["getAllChildrenNumber"], j_string("/golden"))
    r.call("raw R: getAllChildrenNumber /", OP["getAllChildrenNumber"], j_string("/"))
    r.call(
        "raw R: getAllChildrenNumber missing -> NoNode",
        OP["getAllChildrenNumber"],
        j_string("/nothere"),
        expect_err=-101,
    )

    r.call(
        "raw R: multiRead getData ok, getChildren NoNode, getChildren ok",
        OP["multiRead"],
        multi_body(
            [
                (OP["getData"], j_string("/golden/data") + j_bool(False)),
                (OP["getChildren"], j_string("/golden/nothere") + j_bool(False)),
                (OP["getChildren"], j_string("/golden/tx") + j_bool(False)),
            ]
        ),
    )
    r.call(
        "raw R: multiRead getData + getChildren -> both succeed",
        OP["multiRead"],
        multi_body(
            [
                (OP["getData"], j_string("/golden/data") + j_bool(False)),
                (OP["getChildren"], j_string("/golden/tx") + j_bool(False)),
            ]
        ),
    )
    r.call(
        "raw R: multiRead with a create op -> MarshallingError",
        OP["multiRead"],
        multi_body(
            [
                (OP["getData"], j_string("/golden/data") + j_bool(False)),
                (OP["create"], create_body("/golden/mr", b"", 0)),
            ]
        ),
        expect_err=-5,
    )
    r.call(
        "raw R: multi create2 + createContainer + createTTL + check + setData -> success "
        "(3.8.0: create2 gives result type 1, container and TTL type 15)",
        OP["multi"],
        multi_body(
            [
                (OP["create2"], create_body("/golden/m2", b"", 0)),
                (OP["createContainer"], create_body("/golden/mc", b"", 4)),
                (OP["createTTL"], create_body("/golden/mttl", b"", 5, ttl=600000)),
                (OP["check"], j_string("/golden/m2") + j_int(0)),
                (OP["setData"], j_string("/golden/m2") + j_buffer(b"v") + j_int(0)),
            ]
        ),
    )
    r.call("raw R: empty multi (terminator only)", OP["multi"], multi_body([]))
    r.call(
        "raw R: multi mixing getData with a write -> MarshallingError",
        OP["multi"],
        multi_body(
            [
                (OP["getData"], j_string("/golden/data") + j_bool(False)),
                (OP["delete"], j_string("/golden/m2") + j_int(-1)),
            ]
        ),
        expect_err=-5,
    )

    # Persistent watches; the changes are made on this same connection.
    r.call(
        "raw R: addWatch PERSISTENT on missing /golden/pw", OP["addWatch"], j_string("/golden/pw") + j_int(0)
    )
    r.call(
        "raw R: addWatch PERSISTENT_RECURSIVE on /golden/prw",
        OP["addWatch"],
        j_string("/golden/prw") + j_int(1),
    )
    r.call(
        "raw R: addWatch mode 7 -> MarshallingError",
        OP["addWatch"],
        j_string("/golden/pw") + j_int(7),
        expect_err=-5,
    )
    r.call(
        "raw R: create /golden/pw (fires persistent NodeCreated)",
        OP["create"],
        create_body("/golden/pw", b"", 0),
    )
    r.call(
        "raw R: setData /golden/pw (fires persistent NodeDataChanged)",
        OP["setData"],
        j_string("/golden/pw") + j_buffer(b"1") + j_int(-1),
    )
    r.call(
        "raw R: create /golden/pw/kid (fires persistent NodeChildrenChanged)",
        OP["create"],
        create_body("/golden/pw/kid", b"", 0),
    )
    r.call(
        "raw R: create /golden/prw (fires recursive NodeCreated)",
        OP["create"],
        create_body("/golden/prw", b"", 0),
    )
    r.call(
        "raw R: create /golden/prw/a (recursive watch: NodeCreated of the child)",
        OP["create"],
        create_body("/golden/prw/a", b"", 0),
    )
    r.call(
        "raw R: delete /golden/prw/a (recursive watch: NodeDeleted of the child)",
        OP["delete"],
        j_string("/golden/prw/a") + j_int(-1),
    )
    got = notification_types(r.wait_notifications(6, "persistent watch events"))
    expected = sorted(
        [
            (1, "/golden/pw"),
            (3, "/golden/pw"),
            (4, "/golden/pw"),
            (1, "/golden/prw"),
            (1, "/golden/prw/a"),
            (2, "/golden/prw/a"),
        ]
    )
    assert got == expected, got

    r.call(
        "raw R: getData with watch (standard data watch)",
        OP["getData"],
        j_string("/golden/data") + j_bool(True),
    )
    r.call(
        "raw R: getChildren with watch (standard child watch)",
        OP["getChildren"],
        j_string("/golden/data") + j_bool(True),
    )
    r.call(
        "raw R: checkWatches Data on watched path", OP["checkWatches"], j_string("/golden/data") + j_int(2)
    )
    r.call("raw R: checkWatches Any on watched path", OP["checkWatches"], j_string("/golden/data") + j_int(3))
    r.call(
        "raw R: checkWatches on unwatched path -> NoWatcher",
        OP["checkWatches"],
        j_string("/golden/nothere") + j_int(2),
        expect_err=-121,
    )
    r.call(
        "raw R: checkWatches type 5 -> MarshallingError on 3.8",
        OP["checkWatches"],
        j_string("/golden/data") + j_int(5),
        expect_err=-5,
    )
    r.call("raw R: removeWatches Children", OP["removeWatches"], j_string("/golden/data") + j_int(1))
    r.call("raw R: removeWatches Data", OP["removeWatches"], j_string("/golden/data") + j_int(2))
    r.call(
        "raw R: removeWatches Data again -> NoWatcher",
        OP["removeWatches"],
        j_string("/golden/data") + j_int(2),
        expect_err=-121,
    )
    r.call(
        "raw R: removeWatches Any on persistent-watched path",
        OP["removeWatches"],
        j_string("/golden/pw") + j_int(3),
    )

    # 3.8.0 answers BadArguments to any client deleteContainer, whatever the body layout
    # (observed): both the raw-path body and the 3.9 length-prefixed one are recorded.
    r.call(
        "raw R: deleteContainer, 3.8 raw-path body, empty container -> BadArguments on 3.8.0",
        OP["deleteContainer"],
        b"/golden/container",
        expect_err=-8,
    )
    r.call(
        "raw R: deleteContainer, 3.9 length-prefixed body -> BadArguments on 3.8.0",
        OP["deleteContainer"],
        j_string("/golden/container"),
        expect_err=-8,
    )
    r.call(
        "raw R: getData with truncated body -> MarshallingError",
        OP["getData"],
        j_int(40) + b"/gol",
        expect_err=-5,
    )
    r.close_session("raw R: closeSession (deletes its ephemerals)")

    drive_raw_set_watches(proxy, rec)

    old = RawSession(port, rec)
    old.connect(
        "raw O: ConnectRequest without the readOnly byte (old client) -> 40-byte response", read_only=None
    )
    old.close_session("raw O: closeSession")

    u = RawSession(port, rec)
    u.connect("raw U: new session")
    u.call("raw U: unknown opcode 55 -> Unimplemented, then the server closes", 55, expect_err=-6)
    u.expect_closed("raw U: closed after Unimplemented")


def drive_raw_set_watches(proxy: Proxy, rec: Recorder) -> None:
    w = RawSession(proxy.port, rec)
    set_watches = (
        j_long(1)
        + j_strings(["/golden/data", "/golden/gone"])
        + j_strings(["/golden", "/golden/absent"])
        + j_strings(["/golden", "/golden/gone2"])
    )
    w.connect(
        "raw W: ConnectRequest pipelined with setWatches relZxid 1 (fires NodeDataChanged, NodeDeleted, "
        "NodeCreated, "
        "NodeChildrenChanged now; registers exist watch on /golden/absent)",
        pipelined=RawSession.frame(SET_WATCHES_XID, OP["setWatches"], set_watches),
    )
    w.expect_reply("setWatches reply", SET_WATCHES_XID, 0)
    got = notification_types(w.wait_notifications(5, "setWatches events"))
    assert got == sorted(
        [(3, "/golden/data"), (2, "/golden/gone"), (1, "/golden"), (4, "/golden"), (2, "/golden/gone2")]
    ), got
    w.call(
        "raw W: create /golden/absent (fires the registered exist watch)",
        OP["create"],
        create_body("/golden/absent", b"", 0),
    )
    assert notification_types(w.wait_notifications(1, "exist watch")) == [(1, "/golden/absent")]

    zxid = w.last_zxid
    set_watches2 = (
        j_long(zxid)
        + j_strings(["/golden/data"])
        + j_strings([])
        + j_strings(["/golden/tx"])
        + j_strings(["/golden/sw2p"])
        + j_strings(["/golden/sw2r"])
    )
    w.call(
        "raw W: setWatches2 at current zxid (registers data, child, persistent, recursive; nothing fires)",
        OP["setWatches2"],
        set_watches2,
        xid=SET_WATCHES_XID,
    )
    w.call(
        "raw W: setData /golden/data (fires re-registered data watch)",
        OP["setData"],
        j_string("/golden/data") + j_buffer(b"w") + j_int(-1),
    )
    w.call(
        "raw W: create /golden/tx/c (fires re-registered child watch)",
        OP["create"],
        create_body("/golden/tx/c", b"", 0),
    )
    w.call(
        "raw W: create /golden/sw2p (fires persistent watch)",
        OP["create"],
        create_body("/golden/sw2p", b"", 0),
    )
    w.call(
        "raw W: create /golden/sw2r (fires recursive watch)",
        OP["create"],
        create_body("/golden/sw2r", b"", 0),
    )
    got = notification_types(w.wait_notifications(4, "setWatches2 events"))
    assert got == sorted(
        [(3, "/golden/data"), (4, "/golden/tx"), (1, "/golden/sw2p"), (1, "/golden/sw2r")]
    ), got
    w.close_session("raw W: closeSession")


def drive_raw_top_level_check(proxy: Proxy, rec: Recorder) -> None:
    """Top-level check (13) gets no reply on 3.8.0; recorded with a note saying so."""
    c = RawSession(proxy.port, rec)
    c.connect("raw C: new session")
    rec.note("raw C: top-level check (13) outside multi -> 3.8.0 sends NO reply")
    c.xid += 1
    c.send(RawSession.frame(c.xid, OP["check"], j_string("/golden") + j_int(-1)))
    rec.wait_recorded(proxy.latest().number, OP["check"])
    c.call(
        "raw C: exists after the unanswered check (answered normally)",
        OP["exists"],
        j_string("/golden") + j_bool(False),
    )
    c.close_session("raw C: closeSession")


# --------------------------------------------------------------------------
# Validation


NO_REPLY_NOTE = "NO reply"


def validate(records: list[dict]) -> list[str]:
    """Checks framing and request/reply pairing; returns problems found."""
    problems = []
    by_conn: dict[int, list[dict]] = collections.defaultdict(list)
    for r in records:
        by_conn[r["conn"]].append(r)
        frame = bytes.fromhex(r["hex"])
        if r["kind"] != "fourlw":
            (length,) = struct.unpack(">i", frame[:4])
            if length != len(frame) - 4:
                problems.append(
                    f"conn {r['conn']} {r['dir']} seq {r['seq']}: length prefix {length}, frame {len(frame)}"
                )
    for conn, recs in by_conn.items():
        for direction in ("request", "reply"):
            seqs = [r["seq"] for r in recs if r["dir"] == direction]
            if seqs != list(range(len(seqs))):
                problems.append(f"conn {conn} {direction}: seq not 0..n")
        kinds = {r["kind"] for r in recs}
        if "fourlw" in kinds:
            if [r["dir"] for r in recs] != ["request", "reply"]:
                problems.append(f"conn {conn}: four-letter word without exactly one reply")
            continue
        first = [r for r in recs if r["seq"] == 0]
        if sorted(r["kind"] for r in first) != ["connect", "connect"]:
            problems.append(f"conn {conn}: no ConnectRequest/ConnectResponse pair")
        replies = collections.Counter(
            (r["xid"], r["op"]) for r in recs if r["dir"] == "reply" and r["kind"] == "op"
        )
        for r in recs:
            if r["dir"] == "request" and r["kind"] == "op":
                key = (r["xid"], r["op"])
                if replies[key] > 0:
                    replies[key] -= 1
                elif NO_REPLY_NOTE not in r["note"]:
                    problems.append(
                        f"conn {conn}: request xid {r['xid']} op {r['op']} ({r['note']}) has no reply"
                    )
        for key, left in replies.items():
            if left:
                problems.append(f"conn {conn}: {left} reply(s) xid/op {key} without request")
    return problems


def coverage(records: list[dict]) -> dict[int, dict]:
    """Per opcode: number of success replies and the set of error codes seen."""
    cov: dict[int, dict] = {}
    for r in records:
        if r["dir"] != "reply" or r["kind"] != "op" or r["op"] is None:
            continue
        entry = cov.setdefault(r["op"], {"ok": 0, "errors": set(), "inner": set()})
        if r["err"] != 0:
            entry["errors"].add(r["err"])
        elif r["op"] in (OP["multi"], OP["multiRead"]) and multi_errors(bytes.fromhex(r["hex"])[20:]):
            entry["inner"].update(multi_errors(bytes.fromhex(r["hex"])[20:]))
        else:
            entry["ok"] += 1
    return cov


def multi_errors(body: bytes) -> set[int]:
    """Error codes inside a MultiResponse (header err is 0 even when a multi failed)."""

    def skip_buffer(at: int) -> int:
        (n,) = struct.unpack(">i", body[at : at + 4])
        return at + 4 + max(n, 0)

    def skip_strings(at: int) -> int:
        (count,) = struct.unpack(">i", body[at : at + 4])
        at += 4
        for _ in range(max(count, 0)):
            at = skip_buffer(at)
        return at

    stat = 68
    skip = {
        1: skip_buffer,
        2: lambda at: at,
        13: lambda at: at,
        5: lambda at: at + stat,
        15: lambda at: skip_buffer(at) + stat,
        4: lambda at: skip_buffer(at) + stat,
        8: skip_strings,
        -1: lambda at: at + 4,
    }
    errors = set()
    offset = 0
    while offset + 9 <= len(body):
        op_type, done, err = struct.unpack(">i?i", body[offset : offset + 9])
        if done:
            break
        if op_type == -1:
            errors.add(err)
        offset = skip[op_type](offset + 9)
    # 0 marks the ops before the failing one, -2 those after it.
    return errors - {0, -2}


def print_summary(records: list[dict]) -> None:
    conns = len({r["conn"] for r in records})
    kinds = collections.Counter(r["kind"] for r in records)
    print(f"{len(records)} records on {conns} connections: {dict(kinds)}")
    notes = collections.Counter()
    for r in records:
        if r["kind"] == "notification":
            (etype,) = struct.unpack(">i", bytes.fromhex(r["hex"])[20:24])
            notes[etype] += 1
    print(f"notifications by event type: {dict(sorted(notes.items()))}")
    for op, entry in sorted(coverage(records).items()):
        errs = ", ".join(f"{e} {ERR_NAME.get(e, '?')}" for e in sorted(entry["errors"], reverse=True))
        inner = ", ".join(f"{e} {ERR_NAME.get(e, '?')}" for e in sorted(entry["inner"], reverse=True))
        inner = f"  failed inside the multi: {inner}" if inner else ""
        print(f"  op {op:4d} {OP_NAME.get(op, '?'):22s} ok={entry['ok']:3d}  errors: {errs or '-'}{inner}")


# --------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zk-port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--sasl", action="store_true", help="server has a JAAS Server section for user golden"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if not args.verbose:
        logging.getLogger("kazoo").setLevel(logging.CRITICAL)

    check_encoder_against_spec()
    rec = Recorder()
    proxy = Proxy(args.zk_port, rec)
    drive_kazoo(proxy, rec)
    if args.sasl:
        drive_kazoo_sasl(proxy, rec)
    drive_kazoo_resume(proxy, rec)
    drive_raw(proxy, rec)
    drive_raw_top_level_check(proxy, rec)
    stuck = proxy.close(timeout=5.0)
    if stuck:
        print(f"warning: connections still open at the end, severed: {stuck}", file=sys.stderr)

    leftovers = [(c.number, c.leftover) for c in proxy.connections if any(c.leftover.values())]
    problems = validate(rec.records)
    problems += [f"conn {n}: partial frame bytes left {left}" for n, left in leftovers]
    print_summary(rec.records)
    if problems:
        for p in problems:
            print("problem:", p, file=sys.stderr)
        return 1
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        for r in rec.records:
            out.write(json.dumps(r, separators=(", ", ": ")) + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {len(rec.records)} vectors to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
