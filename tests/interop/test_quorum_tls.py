"""Mutual TLS between ensemble members (`sslQuorum`), as ZooKeeper 3.8 configures it: each
member presents the certificate of `ssl.quorum.keyStore.location` and accepts peers whose
certificates chain to `ssl.quorum.trustStore.location`. Certificates: certs/x509."""

import socket
import ssl
from pathlib import Path

import pytest

from zkensemble import Ensemble
from zkserver import wait_until

CERTS = Path(__file__).parent / "certs" / "x509"


def tls_members(root, certificate, **extra):
    """Three members speaking TLS with certs/x509's `certificate` as every member's."""
    root.mkdir(parents=True, exist_ok=True)
    key_store = root / "member-keystore.pem"
    key_store.write_text(
        (CERTS / f"{certificate}.key").read_text() + (CERTS / f"{certificate}.pem").read_text()
    )
    overrides = {
        "sslQuorum": "true",
        "ssl.quorum.keyStore.location": str(key_store),
        "ssl.quorum.trustStore.location": str(CERTS / "ca.pem"),
        **extra,
    }
    return Ensemble(root, voters=3, overrides=overrides)


@pytest.fixture(scope="module")
def tls_ensemble(tmp_path_factory):
    ensemble = tls_members(tmp_path_factory.mktemp("quorum-tls"), "server")
    try:
        ensemble.start()
        yield ensemble
    finally:
        ensemble.stop()


def refuses(port, certificate=None):
    """True when a TLS client holding `certificate` (a certs/x509 name, or none) cannot talk to
    `port`: the handshake fails, or the server ends the session before anything else."""
    context = ssl.create_default_context(cafile=str(CERTS / "ca.pem"))
    if certificate:
        context.load_cert_chain(str(CERTS / f"{certificate}.pem"), str(CERTS / f"{certificate}.key"))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                # TLS 1.3 reports a refused client certificate on the first read.
                tls.settimeout(1.0)
                try:
                    return tls.recv(1) == b""
                except TimeoutError:
                    return False
    except (ssl.SSLError, ConnectionError):
        return True


def test_writes_replicate_over_tls(tls_ensemble, clients):
    follower = tls_ensemble.followers()[0]
    writer = clients.kazoo(server=follower)
    writer.create("/over-quorum-tls", b"v")
    for member in tls_ensemble.members:
        reader = clients.kazoo(server=member)
        reader.sync("/")
        assert reader.get("/over-quorum-tls")[0] == b"v"


def test_peer_ports_want_a_trusted_certificate(tls_ensemble):
    leader = tls_ensemble.leader()
    ports = [leader.quorum_port] + [member.election_port for member in tls_ensemble.members]
    for port in ports:
        assert refuses(port), port
        assert refuses(port, "rogue"), port
        assert not refuses(port, "server"), port


def test_a_member_without_tls_is_left_out(tls_ensemble, tmp_path):
    """A member restarted without sslQuorum cannot rejoin; with it again, it does."""
    follower = tls_ensemble.followers()[0]
    follower.stop()
    saved = dict(follower.config)
    try:
        for key in ("sslQuorum", "ssl.quorum.keyStore.location", "ssl.quorum.trustStore.location"):
            follower.config[key] = None
        follower.write_config()
        with pytest.raises(RuntimeError):
            follower.start(timeout=8)
    finally:
        follower.config.clear()
        follower.config.update(saved)
    follower.start()
    wait_until(lambda: follower.mode() == "follower", timeout=30, message="follower rejoined")


def test_hostname_verification_decides_for_a_misnamed_certificate(tmp_path):
    """Members whose (trusted) certificate names another host than their server lines' cannot
    form an ensemble unless ssl.quorum.hostnameVerification is off."""
    checked = tls_members(tmp_path / "checked", "elsewhere")
    try:
        with pytest.raises(RuntimeError):
            checked.start(timeout=10)
    finally:
        checked.stop()
    unchecked = tls_members(
        tmp_path / "unchecked", "elsewhere", **{"ssl.quorum.hostnameVerification": "false"}
    )
    try:
        unchecked.start()
        assert sorted(member.mode() for member in unchecked.members) == [
            "follower",
            "follower",
            "leader",
        ]
    finally:
        unchecked.stop()
