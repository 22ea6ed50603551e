"""x509 authentication on the TLS client port, as ZooKeeper 3.8 does it: a client certificate
that chains to the trust store authenticates the connection as `x509:<subject DN>` (RFC 2253, as
Java prints it), ACLs may name that identity, `auth` ACLs expand to it, and the configured
superUser's certificate is super. Certificates: certs/x509 (see its generate.sh)."""

import socket
import ssl
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import InvalidACLError, NoAuthError
from kazoo.security import ACL, CREATOR_ALL_ACL, Id

from zkserver import four_letter_word, free_port

CERTS = Path(__file__).parent / "certs" / "x509"
SUPER_USER = "CN=admin,O=zk-server tests"
# What Java's X500Principal.getName() prints for certs/x509/fancy.pem.
FANCY_NAME = (
    "1.2.840.113549.1.9.1=#1612636c69656e74406578616d706c652e636f6d,"
    'CN=\\#1 client\\; \\"x\\",OU=Team+UID=u1,O=Example\\, Inc.,C=US'
)


def cert_chain(tmp_path, *names):
    """A PEM file holding these certificates in order (the client's first)."""
    path = tmp_path / ("-".join(names) + ".pem")
    path.write_text("".join((CERTS / f"{name}.pem").read_text() for name in names))
    return str(path)


@pytest.fixture
def tls_server(make_server, tmp_path):
    """`tls_server(client_auth)`: a server with a TLS port whose trust store is the test CA."""

    def start(client_auth=None, **extra):
        key_store = tmp_path / "server-keystore.pem"
        key_store.write_text((CERTS / "server.key").read_text() + (CERTS / "server.pem").read_text())
        secure_port = free_port()
        overrides = {
            "secureClientPort": str(secure_port),
            "serverCnxnFactory": "org.apache.zookeeper.server.NettyServerCnxnFactory",
            "ssl.keyStore.location": str(key_store),
            "ssl.trustStore.location": str(CERTS / "ca.pem"),
            "X509AuthenticationProvider.superUser": SUPER_USER,
        }
        if client_auth:
            overrides["ssl.clientAuth"] = client_auth
        server = make_server(**overrides, **extra)
        server.secure_port = secure_port
        return server

    return start


@pytest.fixture
def tls_client(tmp_path):
    """`tls_client(server, *chain)`: a started kazoo client over TLS presenting that chain (or
    no certificate); it verifies the server's certificate against the test CA."""
    started = []

    def connect(server, *chain, timeout=15):
        options = {"use_ssl": True, "ca": str(CERTS / "ca.pem"), "verify_certs": True}
        if chain:
            options["certfile"] = cert_chain(tmp_path, *chain)
            options["keyfile"] = str(CERTS / f"{chain[0]}.key")
        client = KazooClient(hosts=f"127.0.0.1:{server.secure_port}", timeout=5.0, **options)
        started.append(client)
        client.start(timeout=timeout)
        return client

    yield connect
    for client in started:
        client.stop()
        client.close()


def creator_identity(client, path):
    """The identities an `auth` ACL expands to for this client, as the server stored them."""
    client.create(path, b"mine", acl=CREATOR_ALL_ACL)
    acls, _ = client.get_acls(path)
    return [(a.id.scheme, a.id.id) for a in acls]


def test_a_trusted_certificate_is_an_x509_identity(tls_server, tls_client, clients):
    server = tls_server()
    client = tls_client(server, "client")  # X.509 v1, issued by the trusted CA
    assert creator_identity(client, "/by-client") == [("x509", "CN=client")]
    assert client.get("/by-client")[0] == b"mine"

    # The name is Java's RFC 2253 form, through an intermediate the client sends along.
    fancy = tls_client(server, "fancy", "intermediate")
    assert creator_identity(fancy, "/by-fancy") == [("x509", FANCY_NAME)]
    with pytest.raises(NoAuthError):
        fancy.get("/by-client")

    # Plain-port clients hold no x509 identity, but may name one in an ACL.
    plain = clients.kazoo(server=server)
    with pytest.raises(NoAuthError):
        plain.get("/by-client")
    plain.create("/for-client", b"x", acl=[ACL(31, Id("x509", "CN=client"))])
    assert client.get("/for-client")[0] == b"x"
    with pytest.raises(InvalidACLError):
        plain.create("/bad-name", b"x", acl=[ACL(31, Id("x509", "client"))])


def test_the_super_users_certificate_is_super(tls_server, tls_client):
    server = tls_server()
    client = tls_client(server, "client")
    client.create("/private", b"secret", acl=[ACL(31, Id("x509", "CN=client"))])
    admin = tls_client(server, "admin")
    assert admin.get("/private")[0] == b"secret"
    admin.set_acls("/private", [ACL(1, Id("x509", SUPER_USER))])
    with pytest.raises(NoAuthError):
        client.get("/private")
    admin.delete("/private")


@pytest.mark.parametrize(
    "chain",
    [(), ("rogue",), ("forged", "leaf-signer"), ("fancy",)],
    ids=["no-certificate", "other-ca", "signed-by-a-leaf", "missing-intermediate"],
)
def test_an_untrusted_client_is_refused(tls_server, tls_client, clients, chain):
    server = tls_server()
    with pytest.raises(Exception):
        tls_client(server, *chain, timeout=4)
    # Everyone else is served as before.
    assert clients.kazoo(server=server).exists("/zookeeper") is not None
    assert tls_client(server, "client").exists("/zookeeper") is not None
    # mntr counts the failed handshakes and the plain connections, as ZooKeeper's Netty does.
    mntr = dict(line.split("\t", 1) for line in four_letter_word(server.port, "mntr").splitlines())
    assert int(mntr["zk_auth_failed_count"]) >= 1
    assert int(mntr["zk_non_mtls_local_conn_count"]) >= 2  # the kazoo client and this mntr
    assert mntr["zk_non_mtls_remote_conn_count"] == "0"
    assert mntr["zk_outstanding_tls_handshake"] == "0"


def test_wanted_certificates_are_optional(tls_server, tls_client):
    server = tls_server("want")
    anonymous = tls_client(server)
    with pytest.raises(InvalidACLError):
        creator_identity(anonymous, "/anonymous")  # nothing authenticated to expand `auth` to
    client = tls_client(server, "client")
    assert creator_identity(client, "/by-client") == [("x509", "CN=client")]
    with pytest.raises(Exception):
        tls_client(server, "rogue", timeout=4)


def ruok_over_tls(port, name, version=None, ciphers=None):
    """`ruok` over TLS with certs/x509's `name` certificate; returns the answer and the suite."""
    context = ssl.create_default_context(cafile=str(CERTS / "ca.pem"))
    if version:
        context.minimum_version = context.maximum_version = version
    if ciphers:
        context.set_ciphers(ciphers)
    context.load_cert_chain(str(CERTS / f"{name}.pem"), str(CERTS / f"{name}.key"))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"ruok")
            return tls.recv(16), tls.cipher()[0]


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_both_tls_versions_check_the_handshake_signature(tls_server, version):
    """The client proves it holds its certificate's key in TLS 1.2's and 1.3's own way. Both
    versions are offered, as ZooKeeper 3.9 offers them; 3.8 enables TLS 1.2 only, so run
    against ZooKeeper 3.8 the TLS 1.3 case fails with a protocol-version alert."""
    server = tls_server()
    assert ruok_over_tls(server.secure_port, "client", version)[0] == b"imok"
    with pytest.raises((ssl.SSLError, ConnectionError)):
        ruok_over_tls(server.secure_port, "rogue", version)


def test_tls_versions_and_suites_are_as_configured(tls_server):
    """ssl.enabledProtocols and ssl.ciphersuites (Java's names) limit what the port speaks."""
    suite = "ECDHE-RSA-AES256-GCM-SHA384"
    server = tls_server(
        **{
            "ssl.enabledProtocols": "TLSv1.2",
            "ssl.ciphersuites": "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        }
    )
    port = server.secure_port
    assert ruok_over_tls(port, "client", ssl.TLSVersion.TLSv1_2, suite) == (b"imok", suite)
    assert ruok_over_tls(port, "client")[1] == suite
    with pytest.raises((ssl.SSLError, ConnectionError)):
        ruok_over_tls(port, "client", ssl.TLSVersion.TLSv1_3)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        ruok_over_tls(port, "client", ssl.TLSVersion.TLSv1_2, "ECDHE-RSA-AES128-GCM-SHA256")
