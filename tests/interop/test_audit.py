"""The audit log (`audit.enable=true`): ZooKeeper's lines for each change a client made, for
the ephemerals its session took with it, and for the server's start and stop."""

import re

import pytest
from kazoo.exceptions import NoNodeError
from kazoo.security import make_acl

from zkserver import wait_until

# An audit line is tab-separated key=value fields ending in the result, wherever the logger
# puts it on the line (tracing's prefix here, log4j's in ZooKeeper).
AUDIT_LINE = re.compile(r"((?:session|user)=[^\n]*?\tresult=(?:success|failure|invoked))")


def audit_lines(server):
    text = server.log_path.read_text(errors="replace")
    return [dict(field.split("=", 1) for field in m.split("\t")) for m in AUDIT_LINE.findall(text)]


def of_operation(lines, *operations):
    return [line for line in lines if line["operation"] in operations]


def test_changes_ephemerals_and_the_server_lifetime_are_audited(make_server, clients):
    server = make_server(**{"audit.enable": "true"})
    wait_until(lambda: of_operation(audit_lines(server), "serverStart"), message="serverStart line")
    (start,) = of_operation(audit_lines(server), "serverStart")
    assert start["result"] == "success" and start["user"]

    zk = clients.kazoo(server=server)
    zk.add_auth("digest", "alice:pw")
    session = f"0x{zk.client_id[0]:x}"
    zk.create("/audited", b"v0")
    ephemeral = zk.create("/audited/e-", ephemeral=True, sequence=True)
    zk.set("/audited", b"v1")
    with pytest.raises(NoNodeError):
        zk.set("/audited/missing", b"x")
    zk.get("/audited")
    tx = zk.transaction()
    tx.create("/audited/t", b"")
    tx.delete("/audited/t")
    tx.commit()
    failing = zk.transaction()
    failing.create("/audited/u", b"")
    failing.delete("/audited/none")
    assert any(isinstance(r, Exception) for r in failing.commit())
    zk.set_acls("/audited", [make_acl("world", "anyone", read=True, write=True, admin=True)])
    zk.stop()
    zk.close()

    wait_until(
        lambda: of_operation(audit_lines(server), "ephemeralZNodeDeletionOnSessionCloseOrExpire"),
        message="ephemeral deletion line",
    )
    client_lines = [line for line in audit_lines(server) if line.get("ip")]
    assert {line["session"] for line in client_lines} == {session}
    assert {line["user"] for line in client_lines} == {"127.0.0.1,alice"}
    assert {line["ip"] for line in client_lines} == {"127.0.0.1"}
    assert [
        (line["operation"], line.get("znode"), line.get("znode_type"), line.get("acl"), line["result"])
        for line in client_lines
    ] == [
        ("create", "/audited", "persistent", None, "success"),
        ("create", ephemeral, "ephemeral_sequential", None, "success"),
        ("setData", "/audited", None, None, "success"),
        ("setData", "/audited/missing", None, None, "failure"),
        ("create", "/audited/t", "persistent", None, "success"),
        ("delete", "/audited/t", None, None, "success"),
        ("multiOperation", None, None, None, "failure"),
        ("setAcl", "/audited", None, "world:anyone:rwa", "success"),
    ]
    (gone,) = of_operation(audit_lines(server), "ephemeralZNodeDeletionOnSessionCloseOrExpire")
    assert (gone["session"], gone["znode"], gone["result"]) == (session, ephemeral, "success")
    assert "ip" not in gone and gone["user"] == start["user"]

    server.stop()
    (stop,) = of_operation(audit_lines(server), "serverStop")
    assert stop["result"] == "invoked"


def test_nothing_is_audited_unless_enabled(make_server, clients):
    server = make_server()
    zk = clients.kazoo(server=server)
    zk.create("/quiet", b"")
    zk.set("/quiet", b"x")
    zk.delete("/quiet")
    zk.stop()
    server.stop()
    assert audit_lines(server) == []
