"""ACLs and authentication through kazoo and raw frames (client-protocol.md §7.17, §12)."""

import pytest
from kazoo.exceptions import AuthFailedError, InvalidACLError, NoAuthError
from kazoo.security import CREATOR_ALL_ACL, make_acl, make_digest_acl

import jute
from zkserver import SUPER_PASSWORD, digest_id, four_letter_word


def test_digest_vectors_match_the_spec():
    assert digest_id("user", "password") == "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="
    assert digest_id("bob", "secret") == "bob:fyVmFCwVbTJYrznoSu1koqYEYF0="


def test_creator_all_acl_expands_to_the_digest_identity(clients, base):
    owner = clients.kazoo()
    owner.add_auth("digest", "alice:pw")
    path = owner.create(f"{base}/mine", b"secret", acl=CREATOR_ALL_ACL)
    acls, _ = owner.get_acls(path)
    assert [(a.perms, a.id.scheme, a.id.id) for a in acls] == [(31, "digest", digest_id("alice", "pw"))]
    assert owner.get(path)[0] == b"secret"

    stranger = clients.kazoo()
    with pytest.raises(NoAuthError):
        stranger.get(path)
    with pytest.raises(NoAuthError):
        stranger.set(path, b"x")

    wrong = clients.kazoo()
    wrong.add_auth("digest", "alice:wrong")
    with pytest.raises(NoAuthError):
        wrong.get(path)

    friend = clients.kazoo(auth_data=[("digest", "alice:pw")])
    assert friend.get(path)[0] == b"secret"
    friend.set(path, b"changed")
    assert owner.get(path)[0] == b"changed"


def test_creator_all_acl_with_two_digest_identities(clients, base):
    raw = clients.raw()
    assert raw.add_auth("digest", b"a:1") == jute.OK
    assert raw.add_auth("digest", b"b:2") == jute.OK
    assert raw.create(f"{base}/n", acl=[jute.Acl(17, "auth", "")])[0] == jute.OK
    acls = raw.get_acl(f"{base}/n")[1]
    assert sorted(acls) == [jute.Acl(17, "digest", digest_id("a", "1")), jute.Acl(17, "digest", digest_id("b", "2"))]


def test_get_acl_masks_digest_ids_without_admin(clients, base):
    owner = clients.kazoo(auth_data=[("digest", "user:password")])
    path = owner.create(
        f"{base}/masked",
        acl=[make_digest_acl("user", "password", all=True), make_acl("world", "anyone", read=True)],
    )
    reader = clients.kazoo()
    acls, _ = reader.get_acls(path)
    assert [(a.perms, a.id.scheme, a.id.id) for a in acls] == [
        (31, "digest", "user:x"),
        (1, "world", "anyone"),
    ]
    acls, _ = owner.get_acls(path)
    assert acls[0].id.id == "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="


def test_get_acl_needs_read_or_admin(clients, base):
    owner = clients.kazoo(auth_data=[("digest", "user:password")])
    path = owner.create(f"{base}/n", acl=[make_digest_acl("user", "password", all=True), make_acl("world", "anyone", write=True)])
    with pytest.raises(NoAuthError):
        clients.kazoo().get_acls(path)
    admin_only = owner.create(f"{base}/a", acl=[make_digest_acl("user", "password", all=True), make_acl("world", "anyone", admin=True)])
    acls, _ = clients.kazoo().get_acls(admin_only)
    assert acls[0].id.id == "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="  # ADMIN sees the real id


def test_ip_acl(zk, base):
    local = zk.create(f"{base}/local", b"l", acl=[make_acl("ip", "127.0.0.1", all=True)])
    assert zk.get(local)[0] == b"l"
    subnet = zk.create(f"{base}/subnet", b"s", acl=[make_acl("ip", "127.0.0.0/8", read=True)])
    assert zk.get(subnet)[0] == b"s"
    with pytest.raises(NoAuthError):
        zk.set(subnet, b"x")
    remote = zk.create(f"{base}/remote", b"r", acl=[make_acl("ip", "10.1.2.3", all=True)])
    with pytest.raises(NoAuthError):
        zk.get(remote)


def test_super_user_sees_and_does_everything(clients, base):
    owner = clients.kazoo(auth_data=[("digest", "user:password")])
    path = owner.create(f"{base}/locked", b"v", acl=[make_digest_acl("user", "password", read=True)])
    owner.create(f"{base}/locked2", b"v", acl=[make_digest_acl("user", "password", read=True)])
    superuser = clients.kazoo(auth_data=[("digest", f"super:{SUPER_PASSWORD}")])
    assert superuser.get(path)[0] == b"v"
    assert superuser.set(path, b"w").version == 1
    acls, _ = superuser.get_acls(path)
    assert acls[0].id.id == digest_id("user", "password")  # unmasked
    superuser.create(f"{path}/child")
    superuser.delete(f"{path}/child")
    superuser.set_acls(f"{base}/locked2", [make_acl("world", "anyone", read=True)])
    assert clients.kazoo().get(f"{base}/locked2")[0] == b"v"
    superuser.delete(path)
    assert superuser.exists(path) is None


def test_super_identity_in_who_am_i(clients):
    raw = clients.raw()
    assert raw.add_auth("digest", f"super:{SUPER_PASSWORD}".encode()) == jute.OK
    assert raw.who_am_i() == [("digest", "super"), ("ip", "127.0.0.1"), ("super", "")]


def test_wrong_super_password_is_just_a_digest(clients, base):
    owner = clients.kazoo(auth_data=[("digest", "user:password")])
    path = owner.create(f"{base}/n", acl=[make_digest_acl("user", "password", all=True)])
    impostor = clients.kazoo(auth_data=[("digest", "super:nottest")])
    with pytest.raises(NoAuthError):
        impostor.get(path)


def test_auth_with_unknown_scheme_fails_and_closes(clients):
    raw = clients.raw()
    reply = raw.call(
        jute.OP_AUTH,
        jute.encode_int(0) + jute.encode_string("nosuch") + jute.encode_buffer(b"x"),
        jute.AUTH_XID,
    )
    assert (reply.xid, reply.zxid, reply.err) == (jute.AUTH_XID, 0, jute.AUTH_FAILED)
    assert raw.wait_closed()


def test_auth_ok_reply_has_zxid_zero(clients):
    raw = clients.raw()
    raw.create("/auth-zxid-probe", flags=jute.EPHEMERAL)
    reply = raw.call(
        jute.OP_AUTH,
        jute.encode_int(0) + jute.encode_string("digest") + jute.encode_buffer(b"u:p"),
        jute.AUTH_XID,
    )
    assert (reply.xid, reply.zxid, reply.err) == (jute.AUTH_XID, 0, jute.OK)


def test_kazoo_add_auth_unknown_scheme_raises(clients):
    client = clients.kazoo()
    with pytest.raises(AuthFailedError):
        client.add_auth("nosuch", "x")


def test_auth_is_per_connection(clients, base):
    first = clients.raw()
    first.add_auth("digest", b"user:password")
    assert first.create(f"{base}/n", acl=[jute.Acl(31, "auth", "")])[0] == jute.OK
    second = clients.raw()
    assert second.get_data(f"{base}/n")[0] == jute.NO_AUTH
    # Resuming the session on a new connection does not bring the identity along.
    resumed = clients.raw(connect=False)
    resumed.connect(session_id=first.session_id, passwd=first.passwd)
    assert resumed.get_data(f"{base}/n")[0] == jute.NO_AUTH


def test_enforced_authentication_closes_connections_without_it(make_server, clients):
    """enforce.auth.enabled with enforce.auth.schemes=digest, as ZooKeeper's AuthenticationHelper:
    any request (a ping too) before a digest auth is answered SESSIONCLOSEDREQUIRESASLAUTH with
    zxid 0 and the connection closes; once authenticated, requests are served."""
    server = make_server(**{"enforce.auth.enabled": "true", "enforce.auth.schemes": "digest"})
    for opcode, body, xid in (
        (jute.OP_EXISTS, jute.encode_string("/") + jute.encode_bool(False), 1),
        (jute.OP_PING, b"", jute.PING_XID),
    ):
        anonymous = clients.raw(server=server)
        reply = anonymous.call(opcode, body, xid)
        assert (reply.xid, reply.zxid, reply.err) == (xid, 0, jute.SESSION_CLOSED_REQUIRE_SASL_AUTH)
        assert anonymous.wait_closed()

    member = clients.raw(server=server)
    assert member.add_auth("digest", b"alice:pw") == jute.OK
    assert member.exists("/zookeeper")[0] == jute.OK
    friend = clients.kazoo(server=server, auth_data=[("digest", "bob:pw")])
    friend.create("/enforced", b"v")
    assert friend.get("/enforced")[0] == b"v"
    assert four_letter_word(server.port, "ruok") == "imok"


def test_enforcing_an_unavailable_scheme_stops_the_start(make_server):
    with pytest.raises(RuntimeError, match="sasl"):
        make_server(**{"enforce.auth.enabled": "true", "enforce.auth.schemes": "sasl"})


def test_digest_can_be_turned_off(make_server, clients):
    """DigestAuthenticationProvider.enabled=false: the digest scheme does not exist, so a
    digest auth fails and closes the connection, and an ACL naming it is invalid."""
    server = make_server(**{"DigestAuthenticationProvider.enabled": "false"})
    raw = clients.raw(server=server)
    assert raw.add_auth("digest", b"alice:pw") == jute.AUTH_FAILED
    assert raw.wait_closed()
    plain = clients.kazoo(server=server)
    with pytest.raises(InvalidACLError):
        plain.create("/digest-off", b"x", acl=[make_digest_acl("alice", "pw", all=True)])
    assert plain.create("/digest-off", b"x") == "/digest-off"
