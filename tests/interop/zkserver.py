"""Starts and stops a real server process from a zoo.cfg, and talks four-letter words to it.

The binary comes from the environment variable ZK_SERVER_BIN and is started as
`$ZK_SERVER_BIN <dir>/zoo.cfg`, the way ZooKeeper's QuorumPeerMain takes it, so the same suite also
runs against Apache ZooKeeper (peer-suites/kazoo/zk-java-server.sh) to confirm expectations.
"""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import base64
import hashlib

SUPER_PASSWORD = "test"
"""The super user's password: `super:test`, as kazoo's own harness uses."""


def digest_id(user, password):
    """The digest ACL id for user:password (client-protocol.md §12.2)."""
    raw = hashlib.sha1(f"{user}:{password}".encode()).digest()
    return f"{user}:{base64.b64encode(raw).decode()}"


BASE_CONFIG = {
    "tickTime": "500",
    "4lw.commands.whitelist": "*",
    "extendedTypesEnabled": "true",
    "DigestAuthenticationProvider.superDigest": digest_id("super", SUPER_PASSWORD),
    "znode.container.checkIntervalMs": "100",
    "admin.enableServer": "false",
}

RUOK_REFUSED = "ruok is not executed because it is not in the whitelist.\n"


def server_binary():
    binary = os.environ.get("ZK_SERVER_BIN")
    if not binary:
        raise RuntimeError(
            "ZK_SERVER_BIN is not set: point it at the zk-server binary "
            "(cargo xtask interop does this)"
        )
    if not os.access(binary, os.X_OK):
        raise RuntimeError(f"ZK_SERVER_BIN={binary} is not an executable file")
    return binary


def free_port():
    """A loopback port that was free a moment ago (bound as 0, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def four_letter_word(port, word, timeout=5.0):
    """Sends a four-letter word and reads the whole answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(word.encode() if isinstance(word, str) else word)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def wait_until(predicate, timeout=10.0, interval=0.02, message="condition"):
    """Polls `predicate` until it returns a true value, which is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


class ZkServer:
    """One server process on a free loopback port with its own zoo.cfg and dataDir."""

    def __init__(self, workdir, overrides=None, command=None):
        """`command`: the program (a list of arguments) that takes the zoo.cfg path, instead of
        $ZK_SERVER_BIN; it may be changed between a stop and the next start."""
        self.command = command
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.port = free_port()
        self.config = dict(BASE_CONFIG)
        self.config.update(overrides or {})
        self.config.update(
            {
                "dataDir": str(self.data_dir),
                "clientPort": str(self.port),
                "clientPortAddress": "127.0.0.1",
            }
        )
        self.cfg_path = self.workdir / "zoo.cfg"
        self.log_path = self.workdir / "server.log"
        self.process = None

    @property
    def hosts(self):
        return f"127.0.0.1:{self.port}"

    def write_config(self):
        lines = [f"{key}={value}" for key, value in self.config.items() if value is not None]
        self.cfg_path.write_text("\n".join(lines) + "\n")

    def start(self, timeout=30.0, rewrite_config=True):
        """`rewrite_config=False` starts from the files as the server left them (ZooKeeper
        rewrites its own after a reconfig)."""
        if rewrite_config:
            self.write_config()
        # The server reads ZK_* variables as configuration: keep ours (ZK_SERVER_BIN) out of it.
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZK_")}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*(self.command or [server_binary()]), str(self.cfg_path)],
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        try:
            wait_until(self._serving, timeout=timeout, message=f"server on port {self.port}")
        except Exception:
            self.stop()
            raise RuntimeError(f"server did not come up; log:\n{self.log_tail()}") from None

    def _serving(self):
        if self.process.poll() is not None:
            raise RuntimeError(
                f"server exited with {self.process.returncode}; log:\n{self.log_tail()}"
            )
        try:
            # ruok says the process answers (unless a test's whitelist leaves it out); Apache
            # ZooKeeper answers it before it serves, so srvr (always allowed) must agree too.
            if four_letter_word(self.port, "ruok", timeout=1.0) not in ("imok", RUOK_REFUSED):
                return False
            return four_letter_word(self.port, "srvr", timeout=1.0).startswith("Zookeeper version:")
        except OSError:
            return False

    def stop(self, grace=10.0):
        """SIGTERM, then SIGKILL after `grace` seconds; returns the exit code."""
        if self.process is None:
            return None
        process, self.process = self.process, None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def kill(self):
        """SIGKILL: no chance to flush or close anything."""
        if self.process is None:
            return
        process, self.process = self.process, None
        process.kill()
        process.wait()

    def restart(self):
        self.stop()
        self.start()

    def flw(self, word):
        return four_letter_word(self.port, word)

    def log_tail(self, lines=60):
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
