"""Mutual TLS between ensemble members (`sslQuorum`), as ZooKeeper 3.8 configures it: each
member presents the certificate of `ssl.quorum.keyStore.location` and accepts peers whose
certificates chain to `ssl.quorum.trustStore.location`. Certificates: certs/x509."""

import concurrent.futures
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


def handshake(port, certificate="server", version=None, cipher=None):
    """The (version, cipher) a TLS client holding `certificate` (or none) agrees with `port`,
    offering only `version` (an ssl.TLSVersion) and `cipher` (OpenSSL's name) when given; None
    when the handshake fails, or the server's first record is an alert (TLS 1.3 refuses a
    client's certificate so)."""
    context = ssl.create_default_context(cafile=str(CERTS / "ca.pem"))
    if certificate:
        context.load_cert_chain(str(CERTS / f"{certificate}.pem"), str(CERTS / f"{certificate}.key"))
    if version:
        context.minimum_version = context.maximum_version = version
    if cipher:
        context.set_ciphers(cipher)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                agreed = (tls.version(), tls.cipher()[0])
                tls.settimeout(1.0)
                try:
                    tls.recv(1)
                except (TimeoutError, ConnectionError):
                    pass
                return agreed
    except (ssl.SSLError, ConnectionError):
        return None


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
        assert handshake(port, certificate=None) is None, port
        assert handshake(port, certificate="rogue") is None, port
        assert handshake(port) is not None, port


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


def test_members_speak_only_the_configured_versions_and_suites(tmp_path, clients):
    """ssl.quorum.enabledProtocols and ssl.quorum.ciphersuites bound what every peer port
    speaks, and members so configured form an ensemble that replicates."""
    ensemble = tls_members(
        tmp_path,
        "server",
        **{
            "ssl.quorum.enabledProtocols": "TLSv1.2",
            "ssl.quorum.ciphersuites": "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        },
    )
    try:
        ensemble.start()
        writer = clients.kazoo(server=ensemble.followers()[0])
        writer.create("/tls12", b"v")
        reader = clients.kazoo(server=ensemble.leader())
        reader.sync("/")
        assert reader.get("/tls12")[0] == b"v"
        ports = [ensemble.leader().quorum_port] + [m.election_port for m in ensemble.members]
        for port in ports:
            assert handshake(port) == ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384"), port
            assert handshake(port, version=ssl.TLSVersion.TLSv1_3) is None, port
            assert handshake(port, cipher="ECDHE-RSA-AES128-GCM-SHA256") is None, port
    finally:
        ensemble.stop()


def test_a_member_sharing_no_version_with_the_others_is_left_out(tmp_path):
    """Members that speak only TLSv1.3 form a quorum without one that speaks only TLSv1.2,
    which joins them once it speaks TLSv1.3 too."""
    only = lambda version: {"ssl.quorum.protocol": version, "ssl.quorum.enabledProtocols": version}
    # One suite of each version: ZooKeeper 3.8's default suites are all TLSv1.2 ones.
    suites = {"ssl.quorum.ciphersuites": "TLS_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}
    ensemble = tls_members(tmp_path, "server", **only("TLSv1.3"), **suites)
    odd, *others = ensemble.members
    odd.config.update(only("TLSv1.2"))
    try:
        with concurrent.futures.ThreadPoolExecutor(len(others)) as pool:
            for started in [pool.submit(member.start) for member in others]:
                started.result()
        with pytest.raises(RuntimeError):
            odd.start(timeout=8)
        odd.config.update(only("TLSv1.3"))
        odd.start()
        assert sorted(member.mode() for member in ensemble.members) == [
            "follower",
            "follower",
            "leader",
        ]
    finally:
        ensemble.stop()


@pytest.mark.parametrize(
    "client_auth, without, untrusted",
    [("want", True, False), ("none", True, True)],
)
def test_client_auth_decides_what_peer_ports_ask_of_a_dialler(
    tmp_path, client_auth, without, untrusted
):
    """ssl.quorum.clientAuth=want lets in a dialler without a certificate but not one whose
    certificate is untrusted; none asks for none (so an untrusted one is never seen). Members
    still authenticate each other's listeners, and form an ensemble."""
    ensemble = tls_members(tmp_path, "server", **{"ssl.quorum.clientAuth": client_auth})
    try:
        ensemble.start()
        ports = [ensemble.leader().quorum_port] + [m.election_port for m in ensemble.members]
        for port in ports:
            assert (handshake(port, certificate=None) is not None) == without, port
            assert (handshake(port, certificate="rogue") is not None) == untrusted, port
            assert handshake(port) is not None, port
    finally:
        ensemble.stop()
