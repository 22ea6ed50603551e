"""Fixtures: real server processes, kazoo clients and raw jute clients, all cleaned up at teardown."""

import itertools
import logging

import pytest
from kazoo.client import KazooClient

import jute
from zkensemble import Ensemble
from zkserver import ZkServer, server_binary

# kazoo logs every reconnect at WARNING; the tests check states themselves.
logging.getLogger("kazoo").setLevel(logging.ERROR)


def pytest_configure(config):
    # Fail loudly before any test runs when the binary is missing.
    try:
        server_binary()
    except RuntimeError as error:
        raise pytest.UsageError(str(error)) from None


class ServerFactory:
    """Starts servers with per-test zoo.cfg overrides; stops all of them at teardown."""

    def __init__(self, tmp_path_factory, name):
        self.tmp_path_factory = tmp_path_factory
        self.name = name
        self.servers = []

    def __call__(self, **overrides):
        server = ZkServer(self.tmp_path_factory.mktemp(self.name), overrides)
        self.servers.append(server)
        server.start()
        return server

    def stop_all(self):
        for server in self.servers:
            server.stop()


class ClientFactory:
    """Connected KazooClient and RawClient instances that are closed at teardown."""

    def __init__(self, default_server):
        self.default_server = default_server
        self.kazoo_clients = []
        self.raw_clients = []

    def kazoo(self, server=None, start=True, **kwargs):
        server = server or self.default_server
        kwargs.setdefault("timeout", 10.0)
        client = KazooClient(hosts=server.hosts, **kwargs)
        self.kazoo_clients.append(client)
        if start:
            client.start(timeout=15)
        return client

    def raw(self, server=None, connect=True, timeout_ms=10000, **kwargs):
        server = server or self.default_server
        client = jute.RawClient(server.port)
        self.raw_clients.append(client)
        if connect:
            negotiated, session_id, _ = client.connect(timeout_ms=timeout_ms, **kwargs)
            assert session_id != 0 and negotiated > 0, "handshake refused"
        return client

    def close_all(self):
        for client in self.kazoo_clients:
            try:
                client.stop()
                client.close()
            except Exception:  # a test may have stopped it already, or the server is gone
                pass
        for client in self.raw_clients:
            client.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server per test module, with the suite's standard configuration (tickTime 500)."""
    factory = ServerFactory(tmp_path_factory, "module-server")
    try:
        yield factory()
    finally:
        factory.stop_all()


@pytest.fixture
def make_server(tmp_path_factory):
    """`make_server(**zoo_cfg_overrides)`: a server of the test's own, stopped at teardown.
    A value of None leaves the key out of zoo.cfg."""
    factory = ServerFactory(tmp_path_factory, "test-server")
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def clients(server):
    """Client factory bound to the module's server (pass server=... for another one)."""
    factory = ClientFactory(server)
    try:
        yield factory
    finally:
        factory.close_all()


@pytest.fixture
def zk(clients):
    """A started KazooClient on the module's server."""
    return clients.kazoo()


_counter = itertools.count()


@pytest.fixture
def base(zk, request):
    """A fresh persistent node for this test, so tests sharing a server do not collide."""
    path = f"/t{next(_counter)}_{request.node.name.split('[')[0][:40]}"
    zk.create(path)
    return path


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the tail of each involved server's log to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    servers = []
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, ZkServer):
            servers.append(value)
        elif isinstance(value, ServerFactory):
            servers.extend(value.servers)
        elif isinstance(value, ClientFactory):
            servers.append(value.default_server)
        elif isinstance(value, Ensemble):
            servers.extend(value.members)
    for server in dict.fromkeys(servers):
        report.sections.append((f"server log {server.workdir}", server.log_tail()))
